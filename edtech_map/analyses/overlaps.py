"""Overlaps: several tools for the same learning task, subject and grade at one school.

A cell is a school × learning task × subject × grade. Tools serving every subject (an LMS,
an office suite) are left out: they overlap with everything by design. Findings name the
school and the tools, with the cells they share and what the tools cost together.

Examples
--------
>>> G = nx.MultiDiGraph()
>>> G.add_node("es", kind="school", grades=["3", "4"])
>>> for tool in ("a", "b"):
...     G.add_node(tool, kind="tool", label=tool, learning_tasks=["practice"],
...                subjects=["math"], grades=["3", "4", "5"], status="active")
...     _ = G.add_edge(tool, "es", key="used_at", kind="used_at")
>>> [(f.subjects, f.evidence["grades"]) for f in inventory_overlaps(G)]
[(('a', 'b', 'es'), '3,4')]
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx

from edtech_map.analyses.cells import Cell, CellKey, SchoolCells, compute_school_cells
from edtech_map.analyses.engine import label, requires_usage, rule
from edtech_map.analyses.findings import Finding, Severity
from edtech_map.graph import nodes_of_kind
from edtech_map.model import parse_grade

__all__ = ["inventory_overlaps", "overlaps_in_use", "school_cells"]


def _grade_order(grade: str) -> int:
    return parse_grade(grade).order


def school_cells(
    G: nx.MultiDiGraph[str], *, used: dict[str, set[str]] | None = None
) -> dict[Cell, set[str]]:
    """Which subject-specific tools serve each school × task × subject × grade cell.

    ``used`` (school -> tools) limits each school to the tools actually used there. This is
    every cell spelled out; the rules read the compact
    :func:`~edtech_map.analyses.cells.compute_school_cells` instead.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("es", kind="school", grades=["K", "1"])
    >>> G.add_node("a", kind="tool", learning_tasks=["practice"], subjects=["ela", "all"],
    ...            grades=[], status="active")
    >>> _ = G.add_edge("a", "es", key="used_at", kind="used_at")
    >>> sorted(school_cells(G))
    [('es', 'practice', 'ela', '1'), ('es', 'practice', 'ela', 'K')]
    """
    return compute_school_cells(G, used=used).expand()


def _findings(
    G: nx.MultiDiGraph[str], cells: SchoolCells, rule_id: str, severity: Severity, how: str
) -> list[Finding]:
    in_order: dict[frozenset[str], tuple[str, ...]] = {}

    def named(tools: frozenset[str]) -> tuple[str, ...]:
        if tools not in in_order:
            in_order[tools] = tuple(sorted(tools))
        return in_order[tools]

    shared_overlaps = {
        grades: {key: tools for key, tools in shared.items() if len(tools) >= 2}
        for grades, shared in cells.shared.items()
    }
    groups: dict[tuple[str, tuple[str, ...]], list[CellKey]] = defaultdict(list)
    for school in cells.schools:
        own = cells.own.get(school, {})
        for key, serving in shared_overlaps.get(cells.grades[school], {}).items():
            if key not in own:
                groups[(school, named(serving))].append(key)
        for key, serving in own.items():
            if len(serving) >= 2:
                groups[(school, named(serving))].append(key)
    findings = []
    for (school, tools), shared in sorted(groups.items()):
        tasks = sorted({task for task, _, _ in shared})
        subjects = sorted({subject for _, subject, _ in shared})
        grades = sorted({grade for _, _, grade in shared}, key=_grade_order)
        cost = sum(float(G.nodes[t].get("licence_cost") or 0) for t in tools)
        names = ", ".join(label(G, t) for t in tools)
        findings.append(
            Finding(
                rule_id=rule_id,
                severity=severity,
                subjects=(school, *tools),
                message=(
                    f"At {label(G, school)}, {names} {how} for {'/'.join(tasks)} in "
                    f"{'/'.join(subjects)}, grades {','.join(grades)} "
                    f"(together {cost:,.0f} a year)."
                ),
                evidence={
                    "school": school,
                    "tools": ",".join(tools),
                    "tasks": ",".join(tasks),
                    "subjects": ",".join(subjects),
                    "grades": ",".join(grades),
                    "cells": len(shared),
                    "annual_cost": round(cost, 2),
                },
                recommendation=(
                    "Compare the tools' use and results with the teachers involved, and keep "
                    "one per task, subject and grade unless each has a clear purpose."
                ),
            )
        )
    return findings


@rule("EM-OVL-001", severity=Severity.WARNING, title="Overlapping tools (inventory)")
def inventory_overlaps(G: nx.MultiDiGraph[str]) -> list[Finding]:
    """Flag two or more tools the inventory assigns to the same task, subject and grade.

    Overlaps cost twice, split teachers' attention and students' data across vendors, and
    usually come from schools buying on their own. Tools for every subject (``all``) and
    retired tools are left out. One finding per school and set of tools.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("es", kind="school", grades=["3"])
    >>> G.add_node("a", kind="tool", learning_tasks=["practice"], subjects=["math"], grades=[])
    >>> G.add_node("b", kind="tool", learning_tasks=["practice"], subjects=["ela"], grades=[])
    >>> for tool in ("a", "b"):
    ...     _ = G.add_edge(tool, "es", key="used_at", kind="used_at")
    >>> inventory_overlaps(G)
    []
    """
    return _findings(G, compute_school_cells(G), "EM-OVL-001", Severity.WARNING, "are all listed")


@rule("EM-OVL-002", severity=Severity.INFO, title="Overlapping tools (in use)")
@requires_usage
def overlaps_in_use(G: nx.MultiDiGraph[str], *, min_students: int = 5) -> list[Finding]:
    """Flag overlaps where students really use two or more of the tools at the school.

    An inventory overlap where only one tool is used is a licence to drop; one where
    students use several is a choice to make with teachers.

    Parameters
    ----------
    min_students
        A tool counts as used at a school when at least this many students used it there.

    Examples
    --------
    >>> G = nx.MultiDiGraph(usage={"weeks": 3})
    >>> G.add_node("es", kind="school", grades=["3"])
    >>> for tool, n in (("a", 40), ("b", 2)):
    ...     G.add_node(tool, kind="tool", learning_tasks=["practice"], subjects=["math"],
    ...                grades=[], usage_by_school={"es": {"student": {"active_users": n}}})
    ...     _ = G.add_edge(tool, "es", key="used_at", kind="used_at")
    >>> overlaps_in_use(G)
    []
    >>> [f.subjects for f in overlaps_in_use(G, min_students=2)]
    [('a', 'b', 'es')]
    """
    used: dict[str, set[str]] = defaultdict(set)
    for tool in nodes_of_kind(G, "tool"):
        for school, roles in (G.nodes[tool].get("usage_by_school") or {}).items():
            if int(roles.get("student", {}).get("active_users", 0)) >= max(1, min_students):
                used[school].add(tool)
    return _findings(
        G,
        compute_school_cells(G, used=used),
        "EM-OVL-002",
        Severity.INFO,
        "are all used by students",
    )
