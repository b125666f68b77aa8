"""Coverage gaps: learning tasks, subjects and grades a school has no tool for.

A gap is a school × learning task × subject × grade cell with no tool. Which cells should
have one? By default, the cells the district covers at other schools serving the same grade
("peer gaps"): if every other middle school has a practice tool for grade 7 maths, the one
that does not is missing something. ``core_tasks`` adds tasks every taught subject and grade
must have, peers or not. With a roster, only subjects the school teaches at that grade count.

Examples
--------
>>> G = nx.MultiDiGraph()
>>> for school in ("a", "b"):
...     G.add_node(school, kind="school", grades=["7"])
>>> G.add_node("drill", kind="tool", learning_tasks=["practice"], subjects=["math"], grades=[])
>>> _ = G.add_edge("drill", "a", key="used_at", kind="used_at")
>>> [(f.subjects, f.evidence["gaps"]) for f in coverage_gaps(G)]
[(('b', 'practice'), 'math:7')]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import cache

import networkx as nx

from edtech_map.analyses.cells import CellKey, compute_school_cells, indexed_schools
from edtech_map.analyses.engine import AnalysisError, label, rule
from edtech_map.analyses.findings import Finding, Severity
from edtech_map.model import LearningTask, parse_grade

__all__ = ["coverage_gaps", "schools_without_student_tools"]

_SHOWN_SUBJECTS = 4
"""Subjects a gap's message names; the evidence lists them all."""

_Rendered = tuple[int, int, str, str, str]  # covering schools, cells, shown, subjects, gaps
_Piece = tuple[str, int, int]  # one subject's grades: "3,4", how many, covering schools


@cache
def _grade_order(grade: str) -> int:
    return parse_grade(grade).order


def _taught(G: nx.MultiDiGraph[str]) -> dict[str, set[tuple[str, str]]] | None:
    cells = G.graph.get("roster_cells")
    if not G.graph.get("roster") or cells is None:
        return None
    taught: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in cells:
        if int(row.get("students", 0)) > 0 or int(row.get("classes", 0)) > 0:
            taught[str(row["school"])].add((str(row["subject"]), str(row["grade"])))
    return taught


@rule("EM-GAP-001", severity=Severity.WARNING, title="Coverage gap")
def coverage_gaps(
    G: nx.MultiDiGraph[str], *, min_peer_schools: int = 1, core_tasks: str = ""
) -> list[Finding]:
    """Flag learning task × subject × grade cells a school has no tool for.

    A gap is only a problem where the district meant to cover the cell, so by default a cell
    counts when other schools serving that grade have a tool for it. Districts that commit to
    a core set (for example practice and student choice in every subject) list those tasks in
    ``core_tasks``. With a roster, a school's grades and subjects are those its classes
    have; without, the inventory's grades. One finding per school and learning task: the
    subjects and grades it lacks are its evidence (``gaps``, e.g. ``math:3,4;science:6``), so a
    district of a thousand schools gets a list it can read, not one line per cell. Its
    subjects are the school and the task: a waiver names either.

    Parameters
    ----------
    min_peer_schools
        A cell is expected at a school when at least this many other schools serving the
        grade have a tool for it.
    core_tasks
        Comma-separated learning tasks every subject and grade a school teaches must have a
        tool for (roster subjects when present, else the subjects of the district's tools),
        e.g. ``practice,student_choice``. Empty: peer gaps only.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> for school in ("a", "b"):
    ...     G.add_node(school, kind="school", grades=["7"])
    >>> G.add_node("drill", kind="tool", learning_tasks=["practice"], subjects=["math"],
    ...            grades=[])
    >>> _ = G.add_edge("drill", "a", key="used_at", kind="used_at")
    >>> coverage_gaps(G, min_peer_schools=2)
    []
    >>> (gap,) = coverage_gaps(G, min_peer_schools=2, core_tasks="practice")
    >>> gap.subjects, gap.evidence["gaps"], gap.evidence["peer_schools"]
    (('b', 'practice'), 'math:7', 1)
    >>> gap.message
    'b has no tool for practice in 1 subject and grade cell(s) that 1 other school(s) cover: math (grade 7).'
    """
    core = [task.strip() for task in core_tasks.split(",") if task.strip()]
    for task in core:
        try:
            LearningTask(task)
        except ValueError:
            raise AnalysisError(
                f"core_tasks: {task!r} is not a learning task; use e.g. practice, assessment"
            ) from None
    cells = compute_school_cells(G)
    taught = _taught(G)
    schools = cells.schools
    bit = {school: 1 << position for position, school in enumerate(schools)}
    # Who covers each cell, as a bitmask of schools: cells of the tools used everywhere
    # are stored once per grade list, so they are set for all of that list's schools at once.
    with_grades: dict[tuple[str, ...], int] = defaultdict(int)
    for school in schools:
        with_grades[cells.grades[school]] |= bit[school]
    offered: dict[CellKey, int] = defaultdict(int)
    for grade_list, shared in cells.shared.items():
        for key in shared:
            offered[key] |= with_grades[grade_list]
    for school, own in cells.own.items():
        for key in own:
            offered[key] |= bit[school]
    subjects_by_grade: dict[str, set[str]] = defaultdict(set)
    expected_by_grade: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for (task, subject, grade), covering in offered.items():
        subjects_by_grade[grade].add(subject)
        # A school lacking the cell is not among those covering it: all of them are peers.
        if covering.bit_count() >= min_peer_schools:
            expected_by_grade[grade].add((task, subject))
    missing: dict[tuple[tuple[str, ...], str], list[tuple[str, str]]] = {}

    def missing_everywhere(grades: tuple[str, ...], grade: str) -> list[tuple[str, str]]:
        """Expected cells of a grade that the shared tools of a grade list do not cover."""
        if (grades, grade) not in missing:
            expected = set(expected_by_grade.get(grade, ()))
            if taught is None:
                expected |= {(t, s) for t in core for s in subjects_by_grade.get(grade, ())}
            shared = cells.shared.get(grades, {})
            missing[(grades, grade)] = sorted(
                (t, s) for t, s in expected if (t, s, grade) not in shared
            )
        return missing[(grades, grade)]

    def piece(task: str, subject: str, grades: Iterable[str]) -> _Piece:
        """One subject's grades as text, how many, and the schools covering any of them."""
        ordered = sorted(grades, key=_grade_order)
        covering = 0
        for grade in ordered:
            covering |= offered.get((task, subject, grade), 0)
        return ",".join(ordered), len(ordered), covering

    def render(parts: Mapping[str, _Piece]) -> _Rendered:
        subjects = sorted(parts)
        covering = 0
        for _, _, mask in parts.values():
            covering |= mask
        shown = "; ".join(
            f"{s} (grade{'s' if parts[s][1] > 1 else ''} {parts[s][0]})"
            for s in subjects[:_SHOWN_SUBJECTS]
        )
        if len(subjects) > _SHOWN_SUBJECTS:
            shown += f"; and {len(subjects) - _SHOWN_SUBJECTS} more subjects"
        count = sum(n for _, n, _ in parts.values())
        gaps = ";".join(f"{s}:{parts[s][0]}" for s in subjects)
        return covering, count, shown, ",".join(subjects), gaps

    found: list[tuple[str, str, _Rendered]] = []
    if taught is None:
        # Schools with the same grades lack the same cells, less those their own tools
        # cover: work each grade list out once, and again only for the subjects a school's
        # own tools touch.
        by_grade_list: dict[tuple[str, ...], dict[str, dict[str, set[str]]]] = {}
        common_parts: dict[tuple[tuple[str, ...], str], dict[str, _Piece]] = {}
        rendered: dict[tuple[tuple[str, ...], str], _Rendered] = {}
        for school in schools:
            grade_list = cells.grades[school]
            if grade_list not in by_grade_list:
                common: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
                for grade in grade_list:
                    for task, subject in missing_everywhere(grade_list, grade):
                        common[task][subject].add(grade)
                by_grade_list[grade_list] = common
                for task, by_subject in common.items():
                    parts = {subject: piece(task, subject, g) for subject, g in by_subject.items()}
                    common_parts[(grade_list, task)] = parts
                    rendered[(grade_list, task)] = render(parts)
            own_by_task: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
            for task, subject, grade in cells.own.get(school, {}):
                own_by_task[task][subject].add(grade)
            for task, by_subject in by_grade_list[grade_list].items():
                mine = own_by_task.get(task)
                if not mine or not mine.keys() & by_subject.keys():
                    found.append((school, task, rendered[(grade_list, task)]))
                    continue
                parts = dict(common_parts[(grade_list, task)])
                for subject, covered in mine.items():
                    if subject in by_subject:
                        left = by_subject[subject] - covered
                        if left:
                            parts[subject] = piece(task, subject, left)
                        else:
                            del parts[subject]
                if parts:
                    found.append((school, task, render(parts)))
    else:
        gaps: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for school in schools:
            grades = list(cells.grades[school])
            school_taught = taught.get(school, set())
            if school_taught:  # the roster's grades, when it has any
                grades = sorted({g for _, g in school_taught}, key=_grade_order)
            for grade in grades:
                core_subjects = {s for s, g in school_taught if g == grade}
                candidates = [
                    *missing_everywhere(cells.grades[school], grade),
                    *((t, s) for t in core for s in core_subjects),
                ]
                for task, subject in candidates:
                    if (subject, grade) not in school_taught:
                        continue
                    if cells.tools(school, (task, subject, grade)):
                        continue
                    gaps[(school, task)][subject].add(grade)
        found = [
            (school, task, render({s: piece(task, s, g) for s, g in by.items()}))
            for (school, task), by in gaps.items()
        ]
    findings = []
    for school, task, (covering, count, shown, subjects, gap_cells) in sorted(
        found, key=lambda gap: (gap[0], gap[1])
    ):
        peers = (covering & ~bit[school]).bit_count()
        findings.append(
            Finding(
                rule_id="EM-GAP-001",
                severity=Severity.WARNING,
                subjects=(school, task),
                message=(
                    f"{label(G, school)} has no tool for {task} in {count} subject and grade "
                    f"cell(s) that {peers} other school(s) cover: {shown}."
                ),
                evidence={
                    "school": school,
                    "task": task,
                    "subjects": subjects,
                    "gaps": gap_cells,
                    "cells": count,
                    "peer_schools": peers,
                },
                recommendation=(
                    "Ask the school how it covers this now; extend a tool the other schools "
                    "use rather than buying another."
                ),
            )
        )
    return findings


@rule("EM-GAP-002", severity=Severity.WARNING, title="School no student tool reaches")
def schools_without_student_tools(G: nx.MultiDiGraph[str]) -> list[Finding]:
    """Flag schools that no active tool for students is listed at.

    Either the inventory misses the school's tools (often: a school that buys its own) or
    its students really have none.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("a", kind="school", label="A")
    >>> G.add_node("b", kind="school", label="B")
    >>> G.add_node("app", kind="tool", audience=["students"], status="active")
    >>> _ = G.add_edge("app", "a", key="used_at", kind="used_at")
    >>> [f.subjects for f in schools_without_student_tools(G)]
    [('b',)]
    """
    index = indexed_schools(G)

    def for_students(tools: Iterable[str]) -> bool:
        return any(
            "students" in G.nodes[t].get("audience", []) and G.nodes[t].get("status") != "retired"
            for t in tools
        )

    everywhere = for_students(index.everywhere)
    findings = []
    for school in index.schools:
        if everywhere or for_students(index.listed.get(school, ())):
            continue
        findings.append(
            Finding(
                rule_id="EM-GAP-002",
                severity=Severity.WARNING,
                subjects=(school,),
                message=f"No tool for students is listed at {label(G, school)}.",
                evidence={"student_tools": 0},
                recommendation=(
                    "Add the school's tools to the inventory (usage discovery helps), or find "
                    "out why its students have none."
                ),
            )
        )
    return findings
