"""Teacher-only and teacher-directed use of tools bought for students.

Examples
--------
>>> G = nx.MultiDiGraph(usage={"weeks": 3})
>>> G.add_node("es", kind="school", label="ES")
>>> G.add_node("spark", kind="tool", label="Spark", audience=["students"],
...            usage_by_school={"es": {"teacher": {"active_users": 9}}})
>>> [f.subjects for f in teacher_only_usage(G)]
[('es', 'spark')]
"""

from __future__ import annotations

import networkx as nx

from edtech_map.analyses.engine import (
    AnalysisError,
    count_text,
    count_value,
    label,
    requires_usage,
    rule,
)
from edtech_map.analyses.findings import Finding, Severity
from edtech_map.graph import nodes_of_kind

__all__ = ["student_initiated_share", "teacher_only_usage"]


def _student_tools(G: nx.MultiDiGraph[str]) -> list[str]:
    return [
        t
        for t in nodes_of_kind(G, "tool")
        if "students" in G.nodes[t].get("audience", []) and G.nodes[t].get("status") != "retired"
    ]


@rule("EM-TCH-001", severity=Severity.WARNING, title="Student tool used almost only by teachers")
@requires_usage
def teacher_only_usage(
    G: nx.MultiDiGraph[str], *, max_student_share: float = 0.05, min_teachers: int = 3
) -> list[Finding]:
    """Flag student tools whose active users at a school are (almost) all teachers.

    A tool bought for students that only teachers open is used for projecting or planning,
    or students cannot sign in. Either way students do not get what it was bought for.
    Checked per school, over the audit window.

    Parameters
    ----------
    max_student_share
        Flag when students are at most this share of the tool's active users at the school.
    min_teachers
        Only when at least this many teachers used it there (fewer is too little to judge).

    Examples
    --------
    >>> G = nx.MultiDiGraph(usage={"weeks": 3})
    >>> G.add_node("spark", kind="tool", audience=["students"], usage_by_school={
    ...     "es": {"teacher": {"active_users": 9}, "student": {"active_users": 200}}})
    >>> teacher_only_usage(G)
    []
    """
    cell = int(G.graph.get("min_cell_size", 5))
    findings = []
    for tool in _student_tools(G):
        for school, roles in sorted((G.nodes[tool].get("usage_by_school") or {}).items()):
            if school == "unknown":
                continue
            students = int(roles.get("student", {}).get("active_users", 0))
            teachers = int(roles.get("teacher", {}).get("active_users", 0))
            if teachers < min_teachers or students / (students + teachers) > max_student_share:
                continue
            findings.append(
                Finding(
                    rule_id="EM-TCH-001",
                    severity=Severity.WARNING,
                    subjects=(tool, school),
                    message=(
                        f"{label(G, tool)} is for students, but at {label(G, school)} "
                        f"{count_text(students, cell)} students and {teachers} teachers used it."
                    ),
                    evidence={
                        "active_students": count_value(students, cell),
                        "active_teachers": teachers,
                        "student_share": round(students / (students + teachers), 3),
                    },
                    recommendation=(
                        "Ask the teachers how they use it; check that students are rostered "
                        "and can sign in, or stop paying for student seats."
                    ),
                )
            )
    return findings


@rule("EM-TCH-002", severity=Severity.INFO, title="Student tool used mostly as assigned work")
@requires_usage
def student_initiated_share(
    G: nx.MultiDiGraph[str], *, min_student_share: float = 0.1, min_events: int = 50
) -> list[Finding]:
    """Flag student tools where students almost never start activity themselves.

    Where the usage data says who started an activity (``initiated_by``: the student, or an
    assignment), a tool meant for student choice that is only ever used when assigned gives
    students no voice. Skipped when no usage record says who started it.

    Parameters
    ----------
    min_student_share
        Flag when student-initiated events are below this share of those with a starter.
    min_events
        Only with at least this many events that say who started them, at the school.

    Examples
    --------
    >>> G = nx.MultiDiGraph(usage={"weeks": 3})
    >>> G.add_node("q", kind="tool", audience=["students"],
    ...            initiated={"es": {"assigned": 95, "student": 5}})
    >>> [f.evidence["student_initiated_share"] for f in student_initiated_share(G)]
    [0.05]
    """
    tools = _student_tools(G)
    if not any(G.nodes[t].get("initiated") for t in tools):
        raise AnalysisError(
            "no usage event says who started it (initiated_by); this rule needs a source "
            "that records student-initiated vs assigned activity"
        )
    findings = []
    for tool in tools:
        for school, counts in sorted((G.nodes[tool].get("initiated") or {}).items()):
            student = int(counts.get("student", 0))
            total = student + int(counts.get("assigned", 0))
            if total < min_events or student / total >= min_student_share:
                continue
            findings.append(
                Finding(
                    rule_id="EM-TCH-002",
                    severity=Severity.INFO,
                    subjects=(tool, school),
                    message=(
                        f"At {label(G, school)}, {student} of {total} {label(G, tool)} "
                        f"activities were started by students; the rest were assigned."
                    ),
                    evidence={
                        "student_initiated": student,
                        "assigned": total - student,
                        "student_initiated_share": round(student / total, 3),
                    },
                    recommendation=(
                        "If the tool is meant for student choice, show students how to use it "
                        "on their own; otherwise note that it is teacher-directed."
                    ),
                )
            )
    return findings
