"""Hypothesis strategies for valid inventories, shared by the round-trip tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from edtech_map.model import (
    Audience,
    DataElement,
    DpaStatus,
    Ecosystem,
    FlowMechanism,
    GradeLevel,
    LearningTask,
    LicenceUnit,
    SchoolType,
    Subject,
    ToolCategory,
)

ids = st.from_regex(r"[a-z]([a-z0-9-]{0,18}[a-z0-9])?", fullmatch=True)
# Printable names, including YAML-hostile ones (colons, quotes, '#', leading dashes, digits).
names = (
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)
dates = st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31))
money = st.decimals(min_value=0, max_value=10_000_000, places=2, allow_nan=False).map(
    lambda d: Decimal(str(d))
)


def _subset(enum: Any, max_size: int = 4) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.sampled_from(list(enum)), max_size=max_size, unique=True)


@st.composite
def privacy(draw: st.DrawFn) -> dict[str, Any]:
    status = draw(st.sampled_from(list(DpaStatus)))
    data: dict[str, Any] = {"status": status}
    if status is DpaStatus.SIGNED or draw(st.booleans()):
        signed = draw(dates)
        data["signed"] = signed
        if draw(st.booleans()):
            data["expires"] = draw(st.dates(min_value=signed, max_value=date(2040, 1, 1)))
    data["data_elements"] = draw(_subset(DataElement))
    return data


@st.composite
def ecosystems(draw: st.DrawFn) -> Ecosystem:
    """A valid ecosystem with cross-references that resolve."""
    all_ids = draw(st.lists(ids, min_size=1, max_size=12, unique=True))
    split = draw(st.integers(min_value=0, max_value=min(3, len(all_ids) - 1)))
    school_ids, tool_ids = all_ids[1 : split + 1], all_ids[split + 1 :]
    district_id = all_ids[0]
    schools = [
        {
            "id": sid,
            "name": draw(names),
            "type": draw(st.sampled_from(list(SchoolType))),
            "grades": draw(_subset(GradeLevel, 6)),
            "enrollment": draw(st.none() | st.integers(min_value=0, max_value=5000)),
        }
        for sid in school_ids
    ]
    tools: list[dict[str, Any]] = []
    for tid in tool_ids:
        tool: dict[str, Any] = {
            "id": tid,
            "name": draw(names),
            "category": draw(st.sampled_from(list(ToolCategory))),
            "audience": draw(_subset(Audience)),
            "learning_tasks": draw(_subset(LearningTask)),
            "subjects": draw(_subset(Subject)),
            "grades": draw(_subset(GradeLevel, 6)),
        }
        if school_ids and draw(st.booleans()):
            tool["schools"] = draw(st.lists(st.sampled_from(school_ids), unique=True))
        if draw(st.booleans()):
            tool["licence"] = {
                "seats": draw(st.none() | st.integers(min_value=0, max_value=10**6)),
                "unit": draw(st.sampled_from(list(LicenceUnit))),
                "cost": draw(st.none() | money),
                "renewal_date": draw(st.none() | dates),
            }
        if draw(st.booleans()):
            tool["privacy"] = draw(privacy())
        if len(tool_ids) > 1 and draw(st.booleans()):
            tool["rostered_by"] = draw(st.sampled_from([t for t in tool_ids if t != tid]))
        if draw(st.booleans()):
            tool["identifiers"] = {"aliases": [f"{tid} alias"], "domains": [f"{tid}.example"]}
        if draw(st.booleans()):
            tool["notes"] = draw(names)
        tools.append(tool)
    flows = []
    if len(tool_ids) > 1:
        for _ in range(draw(st.integers(min_value=0, max_value=4))):
            source, target = draw(
                st.lists(st.sampled_from(tool_ids), min_size=2, max_size=2, unique=True)
            )
            flows.append(
                {
                    "source": source,
                    "target": target,
                    "mechanism": draw(st.sampled_from(list(FlowMechanism))),
                    "data": draw(_subset(DataElement)),
                    "student_pii": draw(st.none() | st.booleans()),
                }
            )
    return Ecosystem.model_validate(
        {
            "district": {"id": district_id, "name": draw(names)},
            "schools": schools,
            "tools": tools,
            "flows": flows,
        }
    )
