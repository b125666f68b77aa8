"""Utilisation: licences nobody uses, seats left on the shelf, renewals of little-used tools.

Examples
--------
>>> G = nx.MultiDiGraph(usage={"weeks": 3}, as_of="2026-11-23")
>>> G.add_node("vault", kind="tool", label="Vault", licence_seats=500, licence_unit="student",
...            licence_cost=6000.0, usage={})
>>> [f.subjects for f in never_used(G)]
[('vault',)]
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import networkx as nx

from edtech_map.analyses.engine import (
    AnalysisError,
    count_text,
    count_value,
    full_weeks,
    label,
    requires_roster,
    requires_usage,
    rule,
)
from edtech_map.analyses.findings import Finding, Severity
from edtech_map.graph import nodes_of_kind, schools_of

__all__ = ["licence_utilisation", "lms_binder_on_a_shelf", "never_used", "renewal_low_use"]

_SEAT_ROLES = {"student": ("student",), "teacher": ("teacher",), "user": None}


def _licensed(data: dict[str, Any]) -> bool:
    unit = data.get("licence_unit")
    if unit is None or unit == "free" or data.get("status") == "retired":
        return False
    return bool(data.get("licence_cost")) or bool(data.get("licence_seats"))


def _active(data: dict[str, Any], roles: tuple[str, ...] | None) -> int:
    usage = data.get("usage") or {}
    return sum(
        int(measures.get("active_users", 0))
        for role, measures in usage.items()
        if roles is None or role in roles
    )


def _eligible_students(G: nx.MultiDiGraph[str], tool: str) -> int | None:
    enrolled = G.graph.get("enrolled")
    if not G.graph.get("roster") or enrolled is None:
        return None
    grades = set(G.nodes[tool].get("grades") or [])
    total = 0
    for school in schools_of_tool(G, tool):
        for grade, count in (enrolled.get(school) or {}).items():
            if not grades or grade in grades:
                total += int(count)
    return total


def schools_of_tool(G: nx.MultiDiGraph[str], tool: str) -> list[str]:
    """Schools a tool is listed at (its ``used_at`` edges; every school for ``schools: all``).

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge("app", "es", key="used_at", kind="used_at")
    >>> schools_of_tool(G, "app")
    ['es']
    """
    return schools_of(G, tool)


def _utilisation(G: nx.MultiDiGraph[str], tool: str) -> tuple[float, int, int, str] | None:
    """(utilisation, active, capacity, what) for seat licences, or eligible students."""
    data = G.nodes[tool]
    unit, seats = data.get("licence_unit"), data.get("licence_seats")
    if unit in _SEAT_ROLES and seats and int(seats) > 1:
        active = _active(data, _SEAT_ROLES[str(unit)])
        return active / int(seats), active, int(seats), f"{unit} seats"
    if data.get("licence_unit") in {"district", "school", "classroom", "student", "user"}:
        eligible = _eligible_students(G, tool)
        if eligible:
            active = _active(data, ("student",))
            return active / eligible, active, eligible, "enrolled students it serves"
    return None


@rule("EM-USE-001", severity=Severity.WARNING, title="Licensed tool never used")
@requires_usage
def never_used(G: nx.MultiDiGraph[str]) -> list[Finding]:
    """Flag paid or seat-licensed tools with no active user at all in the audit window.

    Tools the usage data cannot recognise (no identifiers in the inventory) are left out:
    their silence says nothing. Free and retired tools are left out too.

    Examples
    --------
    >>> G = nx.MultiDiGraph(usage={"weeks": 3})
    >>> G.add_node("x", kind="tool", licence_unit="district", licence_cost=100.0,
    ...            usage={"teacher": {"active_users": 1}})
    >>> G.add_node("y", kind="tool", licence_unit="district", licence_cost=100.0,
    ...            has_identifiers=False)
    >>> never_used(G)
    []
    """
    findings = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        if not _licensed(data) or data.get("has_identifiers") is False:
            continue
        if _active(data, None):
            continue
        cost = float(data.get("licence_cost") or 0)
        seats = data.get("licence_seats")
        findings.append(
            Finding(
                rule_id="EM-USE-001",
                severity=Severity.WARNING,
                subjects=(tool,),
                message=(
                    f"Nobody used {label(G, tool)} in the audit window"
                    + (f", though it costs {cost:,.0f} a year." if cost else ".")
                ),
                evidence={
                    "active_users": 0,
                    "licence_cost": cost,
                    "licence_seats": int(seats) if seats else None,
                    "weeks": float(G.graph["usage"].get("weeks", 0)),
                },
                recommendation=(
                    f"Ask {data.get('owner') or 'the schools'} whether {label(G, tool)} is still "
                    f"needed, and check that usage data from it reaches the store."
                ),
            )
        )
    return findings


@rule("EM-USE-002", severity=Severity.WARNING, title="Licence seats mostly unused")
@requires_usage
def licence_utilisation(G: nx.MultiDiGraph[str], *, min_utilisation: float = 0.2) -> list[Finding]:
    """Flag per-seat licences where few of the seats bought have an active user.

    Active users of the seat's role (students for student seats, teachers for teacher
    seats, anyone for user seats) are compared with the seats bought; the evidence adds the
    cost per active student. Tools with no use at all are EM-USE-001's.

    Parameters
    ----------
    min_utilisation
        Flag when active users are below this share of the seats.

    Examples
    --------
    >>> G = nx.MultiDiGraph(usage={"weeks": 3})
    >>> G.add_node("p", kind="tool", licence_seats=400, licence_unit="student",
    ...            licence_cost=3200.0, usage={"student": {"active_users": 27}})
    >>> [f.evidence["utilisation"] for f in licence_utilisation(G)]
    [0.068]
    """
    cell = int(G.graph.get("min_cell_size", 5))
    findings = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        unit, seats = data.get("licence_unit"), data.get("licence_seats")
        if not _licensed(data) or unit not in _SEAT_ROLES or not seats or int(seats) <= 1:
            continue
        active = _active(data, _SEAT_ROLES[str(unit)])
        share = active / int(seats)
        if active == 0 or share >= min_utilisation:
            continue
        cost = float(data.get("licence_cost") or 0)
        students = _active(data, ("student",))
        findings.append(
            Finding(
                rule_id="EM-USE-002",
                severity=Severity.WARNING,
                subjects=(tool,),
                message=(
                    f"{label(G, tool)}: {count_text(active, cell)} of {seats} {unit} seats "
                    f"({share:.0%}) were used in the audit window."
                ),
                evidence={
                    "seats": int(seats),
                    "seat_unit": str(unit),
                    "active_seat_users": count_value(active, cell),
                    "utilisation": round(share, 3),
                    "licence_cost": cost,
                    "cost_per_active_student": round(cost / students, 2)
                    if students >= cell
                    else None,
                },
                recommendation=(
                    f"Buy fewer seats of {label(G, tool)} at renewal, or find out why the "
                    f"students it was bought for do not use it."
                ),
            )
        )
    return findings


@rule("EM-USE-003", severity=Severity.WARNING, title="Renewal soon for a little-used tool")
@requires_usage
def renewal_low_use(
    G: nx.MultiDiGraph[str], *, within_days: int = 90, min_utilisation: float = 0.5
) -> list[Finding]:
    """Flag licences renewing soon whose seats (or eligible students) are mostly unused.

    The weeks before a renewal are when a district can still decide. Utilisation is active
    users over seats for per-seat licences, and active students over the enrolled students of
    the tool's schools and grades for site and district licences (needs a roster).

    Parameters
    ----------
    within_days
        Look at renewals within this many days after the audit date.
    min_utilisation
        Flag when utilisation is below this share.

    Examples
    --------
    >>> G = nx.MultiDiGraph(usage={"weeks": 3}, as_of="2026-11-23")
    >>> G.add_node("v", kind="tool", licence_seats=500, licence_unit="student",
    ...            licence_cost=6000.0, renewal_date="2027-01-15", usage={})
    >>> [f.evidence["days_to_renewal"] for f in renewal_low_use(G)]
    [53]
    >>> renewal_low_use(G, within_days=30)
    []
    """
    as_of = date.fromisoformat(str(G.graph.get("as_of") or date.today().isoformat()))
    cell = int(G.graph.get("min_cell_size", 5))
    findings = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        renewal = data.get("renewal_date")
        if not _licensed(data) or not isinstance(renewal, str):
            continue
        if data.get("has_identifiers") is False:
            continue
        when = date.fromisoformat(renewal)
        if not as_of <= when <= as_of + timedelta(days=within_days):
            continue
        measured = _utilisation(G, tool)
        if measured is None:
            continue
        share, active, capacity, what = measured
        if share >= min_utilisation:
            continue
        cost = float(data.get("licence_cost") or 0)
        findings.append(
            Finding(
                rule_id="EM-USE-003",
                severity=Severity.WARNING,
                subjects=(tool,),
                message=(
                    f"{label(G, tool)} renews on {renewal} ({(when - as_of).days} days) for "
                    f"{cost:,.0f}, but only {share:.0%} of its {what} are in use "
                    f"({count_text(active, cell)} of {capacity})."
                ),
                evidence={
                    "renewal_date": renewal,
                    "days_to_renewal": (when - as_of).days,
                    "utilisation": round(share, 3),
                    "active": count_value(active, cell),
                    "capacity": capacity,
                    "measured_against": what,
                    "licence_cost": cost,
                },
                recommendation=(
                    f"Decide before {renewal}: renew {label(G, tool)} with fewer seats, or "
                    f"let it lapse."
                ),
            )
        )
    return findings


@rule("EM-USE-004", severity=Severity.WARNING, title="LMS far less used than enrolment")
@requires_usage
@requires_roster
def lms_binder_on_a_shelf(
    G: nx.MultiDiGraph[str], *, min_weekly_share: float = 0.3
) -> list[Finding]:
    """Flag an LMS whose weekly active students are far below the students it serves.

    A learning management system is the district's daily platform; when most enrolled
    students do not open it in a typical week, it is a binder on a shelf. Weekly active
    students are averaged over the whole weeks of the usage data; enrolled students are the
    roster's, at the LMS's schools and grades.

    Parameters
    ----------
    min_weekly_share
        Flag when average weekly active students are below this share of enrolled students.

    Examples
    --------
    >>> G = nx.MultiDiGraph(usage={"observed_start": "2026-11-09", "observed_end": "2026-11-15"},
    ...                     roster={"schools": 1}, enrolled={"es": {"3": 100}})
    >>> G.add_node("lms", kind="tool", category="lms", grades=["3"],
    ...            weekly={"es": {"2026-W46": {"student": {"active_users": 12}}}})
    >>> _ = G.add_edge("lms", "es", key="used_at", kind="used_at")
    >>> [f.evidence["weekly_share"] for f in lms_binder_on_a_shelf(G)]
    [0.12]
    """
    weeks = full_weeks(G)
    if not weeks:
        raise AnalysisError("the usage data spans no whole week; ingest more usage")
    cell = int(G.graph.get("min_cell_size", 5))
    findings = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        if data.get("category") != "lms" or data.get("status") == "retired":
            continue
        enrolled = _eligible_students(G, tool) or 0
        if not enrolled:
            continue
        weekly = data.get("weekly") or {}
        per_week = [
            sum(
                int(by_week.get(week, {}).get("student", {}).get("active_users", 0))
                for by_week in weekly.values()
            )
            for week in weeks
        ]
        average = sum(per_week) / len(per_week)
        share = average / enrolled
        if share >= min_weekly_share:
            continue
        findings.append(
            Finding(
                rule_id="EM-USE-004",
                severity=Severity.WARNING,
                subjects=(tool,),
                message=(
                    f"In a typical week {count_text(round(average), cell)} of the {enrolled} "
                    f"students {label(G, tool)} serves used it ({share:.0%})."
                ),
                evidence={
                    "weekly_active_students": count_value(round(average), cell),
                    "enrolled_students": enrolled,
                    "weekly_share": round(share, 3),
                    "weeks": len(weeks),
                },
                recommendation=(
                    "Find the schools and grades where it is not used and ask what they use "
                    "instead; plan training or consolidation."
                ),
            )
        )
    return findings
