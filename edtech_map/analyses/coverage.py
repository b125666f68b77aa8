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
>>> [f.subjects for f in coverage_gaps(G)]
[('b', 'practice/math')]
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx

from edtech_map.analyses.engine import AnalysisError, label, rule
from edtech_map.analyses.findings import Finding, Severity
from edtech_map.analyses.overlaps import school_cells
from edtech_map.graph import nodes_of_kind, tools_at
from edtech_map.model import LearningTask, parse_grade

__all__ = ["coverage_gaps", "schools_without_student_tools"]


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
    have; without, the inventory's grades. One finding per school, task and subject.

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
    >>> [f.subjects for f in coverage_gaps(G, min_peer_schools=2, core_tasks="practice")]
    [('b', 'practice/math')]
    """
    core = [task.strip() for task in core_tasks.split(",") if task.strip()]
    for task in core:
        try:
            LearningTask(task)
        except ValueError:
            raise AnalysisError(
                f"core_tasks: {task!r} is not a learning task; use e.g. practice, assessment"
            ) from None
    covered = school_cells(G)
    taught = _taught(G)
    offered: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for school, task, subject, grade in covered:
        offered[(task, subject, grade)].add(school)
    subjects_by_grade: dict[str, set[str]] = defaultdict(set)
    for _, _, subject, grade in covered:
        subjects_by_grade[grade].add(subject)
    gaps: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for school in nodes_of_kind(G, "school"):
        grades = list(G.nodes[school].get("grades", []))
        if taught is not None and taught.get(school):  # the roster's grades, when it has any
            grades = sorted({g for _, g in taught[school]}, key=lambda g: parse_grade(g).order)
        for grade in grades:
            expected: set[tuple[str, str]] = set()
            for (task, subject, cell_grade), schools in offered.items():
                if cell_grade == grade and len(schools - {school}) >= min_peer_schools:
                    expected.add((task, subject))
            core_subjects = (
                {s for s, g in taught.get(school, set()) if g == grade}
                if taught is not None
                else subjects_by_grade[grade]
            )
            expected |= {(task, subject) for task in core for subject in core_subjects}
            for task, subject in expected:
                if (school, task, subject, grade) in covered:
                    continue
                if taught is not None and (subject, grade) not in taught.get(school, set()):
                    continue
                gaps[(school, task, subject)].append(grade)
    findings = []
    for (school, task, subject), grades in sorted(gaps.items()):
        ordered = sorted(grades, key=lambda g: parse_grade(g).order)
        peers = sorted(
            {s for g in ordered for s in offered.get((task, subject, g), set())} - {school}
        )
        findings.append(
            Finding(
                rule_id="EM-GAP-001",
                severity=Severity.WARNING,
                subjects=(school, f"{task}/{subject}"),
                message=(
                    f"{label(G, school)} has no tool for {task} in {subject}, grades "
                    f"{','.join(ordered)}, which {len(peers)} other school(s) have."
                ),
                evidence={
                    "school": school,
                    "task": task,
                    "subject": subject,
                    "grades": ",".join(ordered),
                    "peer_schools": len(peers),
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
    findings = []
    for school in nodes_of_kind(G, "school"):
        student_tools = [
            t
            for t in tools_at(G, school)
            if "students" in G.nodes[t].get("audience", [])
            and G.nodes[t].get("status") != "retired"
        ]
        if student_tools:
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
