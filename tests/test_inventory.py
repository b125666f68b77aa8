"""ecosystem.yaml: every problem reported with its place, comments kept, exact round trips."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from edtech_map.cli import app
from edtech_map.errors import InventoryError
from edtech_map.inventory import (
    atomic_write_text,
    dumps_ecosystem,
    ecosystem_json_schema,
    load_ecosystem,
    loads_ecosystem,
    save_ecosystem,
    starter_yaml,
)
from edtech_map.model import Ecosystem, Tool
from tests.strategies import ecosystems

FIVE_ERRORS = textwrap.dedent(
    """\
    district:
      id: riverside
      name: Riverside USD
    schools:
      - id: lincoln-es
        name: Lincoln Elementary
        type: elementary
        grades: K-5
    tools:
      - id: canvas
        name: Canvas
        category: lms
      - id: mathly
        name: Mathly
        category: adaptve
        grades: [3, 4, grade 13]
        schools: [lincoln-es, washington-ms]
      - id: quizzy
        name: Quizzy
        category: assessment
        colour: blue
    flows:
      - source: sis
        target: canvas
        mechanism: api
    """
)


def _write(tmp_path: Path, text: str, name: str = "ecosystem.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_five_different_errors_are_all_reported_with_line_column_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, FIVE_ERRORS)
    with pytest.raises(InventoryError) as caught:
        load_ecosystem(path)
    rendered = [p.render(path) for p in caught.value.problems]
    lines = FIVE_ERRORS.splitlines()
    expected = {
        # (field, the text at line:col, a phrase of the message)
        ("tools[1].category", "adaptve", "did you mean 'adaptive_practice'"),
        ("tools[1].grades[2]", "grade 13", "is not a grade level"),
        ("tools[1].schools[1]", "washington-ms", "is not a school id"),
        ("tools[2].colour", "colour", "unknown field"),
        ("flows[0].source", "sis", "is not a tool id"),
    }
    assert len(caught.value.problems) == 5, rendered
    seen = set()
    for problem in caught.value.problems:
        assert problem.line is not None and problem.column is not None
        text_there = lines[problem.line - 1][problem.column - 1 :]
        field = problem.where().split(" ", 1)[1]
        match = next(e for e in expected if e[0] == field)
        assert text_there.startswith(match[1]), (problem, text_there)
        assert match[2] in problem.message
        seen.add(match)
    assert seen == expected
    assert all(line.startswith(f"{path}:") for line in rendered)


def test_validate_command_lists_all_problems_and_exits_1(tmp_path: Path) -> None:
    path = _write(tmp_path, FIVE_ERRORS)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.output.count(f"{path}:") == 6  # the heading and five problems
    json_result = CliRunner().invoke(app, ["validate", str(path), "--json"])
    assert json_result.exit_code == 1
    assert "tools[1].grades[2]" in json_result.output


def test_validate_exit_codes_for_valid_and_missing_files(tmp_path: Path) -> None:
    valid = _write(tmp_path, starter_yaml())
    assert CliRunner().invoke(app, ["validate", str(valid)]).exit_code == 0
    missing = CliRunner().invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2
    assert "edtech-map init" in missing.output


@pytest.mark.parametrize(
    ("text", "line", "phrase"),
    [
        ("district: {id: d, name: D}\ndistrict: {id: e, name: E}\n", 2, "duplicate key"),
        ("district:\n  id: d\n  name: 'D\ntools: []\n", None, "YAML"),
        ("- just\n- a list\n", 1, "top level must be a mapping"),
        ("", None, "empty"),
    ],
)
def test_broken_yaml_is_reported_with_its_place(
    tmp_path: Path, text: str, line: int | None, phrase: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InventoryError) as caught:
        load_ecosystem(path)
    (problem,) = caught.value.problems
    assert phrase.lower() in str(caught.value).lower()
    if line is not None:
        assert problem.line == line
    assert str(path) in str(caught.value)


def test_a_secret_pasted_into_sources_is_never_echoed(tmp_path: Path) -> None:
    secret = "sk_live_5up3r53cr3t"
    path = _write(
        tmp_path,
        "district: {id: d, name: D}\nsources:\n  clever:\n    kind: clever\n"
        f"    secrets: {{token: {secret}}}\n",
    )
    with pytest.raises(InventoryError) as caught:
        load_ecosystem(path)
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value.problems)
    assert "environment variable" in str(caught.value)
    result = CliRunner().invoke(app, ["validate", str(path), "--json"])
    assert secret not in result.output


def test_load_edit_save_keeps_comments_order_and_formatting(tmp_path: Path) -> None:
    original = textwrap.dedent(
        """\
        # Riverside USD technology inventory. Owner: Office of Digital Learning.
        version: 1
        district:
          id: riverside   # the NCES name is longer
          name: Riverside USD
        tools:
          # --- core systems ---
          - id: sis
            name: PowerSchool   # renewal negotiated in 2025
            category: sis
          - id: mathly
            name: Mathly
            category: adaptive_practice
            grades: [3, 4, 5]
            notes: "Pilot: grade 3 only"  # quoted on purpose
        flows: []
        """
    )
    path = _write(tmp_path, original)
    ecosystem = load_ecosystem(path)
    mathly = ecosystem.tool("mathly").model_copy(update={"name": "Mathly Pro"})
    added = Tool(id="quizzy", name="Quizzy", category="assessment")
    edited = ecosystem.model_copy(update={"tools": (ecosystem.tools[0], mathly, added)})
    save_ecosystem(edited, path)
    saved = path.read_text()
    for comment in (
        "# Riverside USD technology inventory. Owner: Office of Digital Learning.",
        "# the NCES name is longer",
        "# --- core systems ---",
        "# renewal negotiated in 2025",
        "# quoted on purpose",
    ):
        assert comment in saved
    assert 'notes: "Pilot: grade 3 only"' in saved
    assert "name: Mathly Pro" in saved
    assert saved.index("id: sis") < saved.index("id: mathly") < saved.index("id: quizzy")
    assert load_ecosystem(path) == Ecosystem.model_validate(edited.model_dump())


def test_removing_a_tool_removes_only_that_tool(tmp_path: Path) -> None:
    path = _write(tmp_path, starter_yaml())
    ecosystem = load_ecosystem(path)
    without_lms = ecosystem.model_copy(update={"tools": ecosystem.tools[:1], "flows": ()})
    save_ecosystem(without_lms, path)
    reloaded = load_ecosystem(path)
    assert [t.id for t in reloaded.tools] == ["sis"]
    assert "# Systems edtech-map pulls rosters" in path.read_text()


def test_save_refuses_an_invalid_ecosystem_and_leaves_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, starter_yaml())
    before = path.read_text()
    ecosystem = load_ecosystem(path)
    broken = ecosystem.model_copy(update={"tools": ecosystem.tools[1:]})  # flow from 'sis' dangles
    with pytest.raises(ValueError, match="sis"):
        save_ecosystem(broken, path)
    assert path.read_text() == before


def test_atomic_write_leaves_the_old_file_when_the_replace_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "old\n")

    def fail_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ecosystem.yaml"]  # no temp file left


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ecosystems())
def test_any_valid_ecosystem_survives_a_yaml_round_trip(ecosystem: Ecosystem) -> None:
    text = dumps_ecosystem(ecosystem)
    assert loads_ecosystem(text) == ecosystem


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ecosystems())
def test_merging_into_the_same_file_is_stable(ecosystem: Ecosystem) -> None:
    text = dumps_ecosystem(ecosystem)
    assert dumps_ecosystem(loads_ecosystem(text), into=text) == text


def test_json_schema_names_every_section_and_vocabulary() -> None:
    schema = ecosystem_json_schema()
    assert set(schema["properties"]) == set(Ecosystem.model_fields)
    definitions = schema["$defs"]
    assert "adaptive_practice" in definitions["ToolCategory"]["enum"]
    assert "student_choice" in definitions["LearningTask"]["enum"]


def test_init_writes_a_valid_commented_file_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "ecosystem.yaml"
    result = runner.invoke(
        app, ["init", str(target), "--district-id", "oak", "--district-name", "Oak"]
    )
    assert result.exit_code == 0, result.output
    assert load_ecosystem(target).district.id == "oak"
    assert (tmp_path / "ecosystem.schema.json").is_file()
    again = runner.invoke(app, ["init", str(target)])
    assert again.exit_code == 2
    assert "--force" in again.output


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ecosystems())
def test_adding_a_tool_keeps_every_comment(ecosystem: Ecosystem) -> None:
    lines = dumps_ecosystem(ecosystem).splitlines()
    commented = []
    for number, line in enumerate(lines):
        # An end-of-line comment on every line that ends a plain scalar value.
        is_scalar = ": " in line and not line.rstrip().endswith((":", "|", ">", "'", '"'))
        commented.append(f"{line}  # note {number}" if is_scalar and "#" not in line else line)
        if line.startswith(("tools:", "schools:")):
            commented.append(f"  # section note {number}")
    text = "\n".join(commented) + "\n"
    comments = [c.split("# ", 1)[1] for c in commented if "# note" in c or "# section" in c]
    loaded = loads_ecosystem(text)
    new_id = "zz-added-tool"
    grown = loaded.model_copy(
        update={"tools": (*loaded.tools, Tool(id=new_id, name="Added", category="content"))}
    )
    saved = dumps_ecosystem(grown, into=text)
    assert all(f"# {comment}" in saved for comment in comments)
    assert loads_ecosystem(saved).tool(new_id).name == "Added"


def test_appending_tools_keeps_comments_between_items_and_the_next_sections_header(
    tmp_path: Path,
) -> None:
    original = textwrap.dedent(
        """\
        district: {id: d, name: D}
        tools:
          # --- core ---
          - id: sis
            name: SIS
            category: sis

          # Mathly: bought for grade 3 intervention, 2025.
          - id: mathly
            name: Mathly
            category: adaptive_practice   # adaptive

        # ===== Data flows =====
        # Rosters go SIS -> tools.
        flows: []
        """
    )
    path = _write(tmp_path, original)
    eco = load_ecosystem(path)
    added = Tool(id="quizzy", name="Quizzy", category="assessment")
    save_ecosystem(eco.model_copy(update={"tools": (*eco.tools, added)}), path)
    saved = path.read_text()
    assert saved.startswith(original.split("\n# ===== Data flows")[0])  # untouched up to there
    assert "# Mathly: bought for grade 3 intervention, 2025." in saved
    assert "category: adaptive_practice   # adaptive" in saved
    # the new tool sits in the list; the next section's header still heads the next section
    assert saved.index("id: quizzy") < saved.index("# ===== Data flows =====")
    assert saved.rstrip().endswith(
        "# ===== Data flows =====\n# Rosters go SIS -> tools.\nflows: []"
    )
    assert load_ecosystem(path).tool("quizzy").name == "Quizzy"
