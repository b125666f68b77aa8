"""The bundled sample district and the seeded workspace generator."""

from __future__ import annotations

from ruamel.yaml import YAML

from edtech_map.model import Ecosystem, ToolCategory
from edtech_map.samples import RIVERSIDE_YAML


def test_sample_district_validates_and_covers_every_category() -> None:
    eco = Ecosystem.model_validate(YAML(typ="safe").load(RIVERSIDE_YAML))

    assert len(eco.schools) >= 6
    assert len(eco.tools) >= 60
    assert {tool.category for tool in eco.tools} == set(ToolCategory)
    assert all(school.roster_ids for school in eco.schools)


def test_sample_district_keeps_its_comments() -> None:
    text = RIVERSIDE_YAML.read_text(encoding="utf-8")

    assert text.count("\n  # ") >= 20
