"""Fidelity: how much students use a tool per week, against its recommended dose.

Examples
--------
>>> G = nx.MultiDiGraph(usage={"observed_start": "2026-11-09", "observed_end": "2026-11-15"})
>>> G.add_node("es", kind="school", label="ES")
>>> G.add_node("m", kind="tool", label="M", recommended_minutes=60.0, weekly={"es": {
...     "2026-W46": {"student": {"active_users": 10, "minutes": 150.0, "active_days": 12}}}})
>>> [f.evidence["minutes_per_student_week"] for f in below_recommended_use(G)]
[15.0]
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from edtech_map.analyses.engine import (
    AnalysisError,
    count_value,
    full_weeks,
    label,
    requires_usage,
    rule,
)
from edtech_map.analyses.findings import Finding, Severity
from edtech_map.graph import nodes_of_kind
from edtech_map.model import parse_grade

__all__ = ["below_recommended_use"]


def _per_student_week(rows: list[dict[str, Any]], key: str) -> float:
    active = [(float(r.get(key, 0)), int(r.get("active_users", 0))) for r in rows]
    active = [(value, n) for value, n in active if n]
    return sum(value / n for value, n in active) / len(active) if active else 0.0


def _grades_below(
    by_grade: dict[str, dict[str, Any]], weeks: list[str], minutes: float, sessions: float
) -> list[str]:
    """Grades (from the roster's classes) whose students are below the dose too."""
    below = []
    for grade, by_week in by_grade.items():
        rows = [by_week[w] for w in weeks if w in by_week]
        if not rows:
            continue
        if (minutes and _per_student_week(rows, "minutes") < minutes) or (
            sessions and _per_student_week(rows, "active_days") < sessions
        ):
            below.append(grade)
    return sorted(below, key=lambda g: parse_grade(g).order)


@rule("EM-FID-001", severity=Severity.INFO, title="Use below the recommended dose")
@requires_usage
def below_recommended_use(
    G: nx.MultiDiGraph[str], *, min_share: float = 0.5, min_students: int = 5
) -> list[Finding]:
    """Flag schools where students use a tool far less per week than it is meant to be used.

    Adaptive programmes show results only at their recommended dose (e.g. 60 minutes a week).
    Per school, minutes (and active days, as sessions) per active student per week are
    averaged over the whole weeks of the usage data and compared with ``recommended_use``.
    Where the roster gives the grade of the class an event came from, the evidence lists the
    grades that are below the dose too (``grades_below``).

    Parameters
    ----------
    min_share
        Flag when minutes (or sessions) per active student per week are below this share of
        the recommendation.
    min_students
        Only schools with at least this many active students in an average week.

    Examples
    --------
    >>> G = nx.MultiDiGraph(usage={"observed_start": "2026-11-09", "observed_end": "2026-11-15"})
    >>> G.add_node("m", kind="tool", recommended_minutes=60.0, weekly={"es": {
    ...     "2026-W46": {"student": {"active_users": 10, "minutes": 500.0, "active_days": 30}}}})
    >>> below_recommended_use(G)
    []
    """
    weeks = full_weeks(G)
    if not weeks:
        raise AnalysisError("the usage data spans no whole week; ingest more usage")
    cell = int(G.graph.get("min_cell_size", 5))
    findings = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        minutes_goal = float(data.get("recommended_minutes") or 0)
        sessions_goal = float(data.get("recommended_sessions") or 0)
        if not minutes_goal and not sessions_goal:
            continue
        for school, by_week in sorted((data.get("weekly") or {}).items()):
            if school == "unknown":
                continue
            rows = [by_week.get(w, {}).get("student", {}) for w in weeks]
            students = [int(r.get("active_users", 0)) for r in rows]
            active_weeks = [(r, n) for r, n in zip(rows, students, strict=True) if n]
            if not active_weeks or sum(students) / len(weeks) < max(1, min_students):
                continue
            minutes = sum(float(r.get("minutes", 0)) / n for r, n in active_weeks) / len(
                active_weeks
            )
            sessions = sum(int(r.get("active_days", 0)) / n for r, n in active_weeks) / len(
                active_weeks
            )
            low_minutes = minutes_goal > 0 and minutes < min_share * minutes_goal
            low_sessions = sessions_goal > 0 and sessions < min_share * sessions_goal
            if not (low_minutes or low_sessions):
                continue
            grades_below = _grades_below(
                (data.get("weekly_by_grade") or {}).get(school, {}),
                weeks,
                minutes_goal * min_share,
                sessions_goal * min_share,
            )
            goal = f"{minutes_goal:g} minutes" if minutes_goal else f"{sessions_goal:g} sessions"
            findings.append(
                Finding(
                    rule_id="EM-FID-001",
                    severity=Severity.INFO,
                    subjects=(tool, school),
                    message=(
                        f"At {label(G, school)}, students using {label(G, tool)} averaged "
                        f"{minutes:.0f} minutes on {sessions:.1f} days a week; the "
                        f"recommendation is {goal}."
                    ),
                    evidence={
                        "minutes_per_student_week": round(minutes, 1),
                        "days_per_student_week": round(sessions, 2),
                        "recommended_minutes": minutes_goal or None,
                        "recommended_sessions": sessions_goal or None,
                        "weekly_active_students": count_value(
                            round(sum(students) / len(weeks)), cell
                        ),
                        "weeks": len(weeks),
                        "grades_below": ",".join(grades_below) if grades_below else None,
                    },
                    recommendation=(
                        "Plan the recommended time into the timetable, or drop the dose "
                        "expectation and judge the tool on what it is used for."
                    ),
                )
            )
    return findings
