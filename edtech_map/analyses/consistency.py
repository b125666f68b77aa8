"""Consistency: tools adopted across the district but used at only a few of its schools.

Examples
--------
>>> G = nx.MultiDiGraph(usage={"weeks": 3})
>>> for school in ("a", "b", "c", "d"):
...     G.add_node(school, kind="school", label=school.upper(), grades=["5"])
...     _ = G.add_edge("app", school, key="used_at", kind="used_at")
>>> G.nodes["app"].update(kind="tool", label="App", grades=["5"], audience=["students"],
...                       usage_by_school={"a": {"student": {"active_users": 50}}})
>>> [f.evidence["schools_using"] for f in uneven_adoption(G)]
[1]
"""

from __future__ import annotations

import networkx as nx

from edtech_map.analyses.engine import label, requires_usage, rule
from edtech_map.analyses.findings import Finding, Severity
from edtech_map.graph import nodes_of_kind, schools_of

__all__ = ["uneven_adoption"]


@rule("EM-CON-001", severity=Severity.INFO, title="Adopted widely, used in few schools")
@requires_usage
def uneven_adoption(
    G: nx.MultiDiGraph[str],
    *,
    min_schools: int = 3,
    min_share: float = 0.5,
    min_active_users: int = 1,
) -> list[Finding]:
    """Flag tools listed at many schools but used at fewer than half of them.

    A tool adopted for every school whose use stays in a few shows uneven roll-out: training,
    rostering or devices may be missing at the others. Only schools serving the tool's grades
    count, and only tools for students or teachers; the evidence adds the classes and
    teachers it reached.

    Parameters
    ----------
    min_schools
        Only tools listed at this many schools (that serve its grades) or more.
    min_share
        Flag when the tool is used at fewer than this share of those schools.
    min_active_users
        A school counts as using the tool with at least this many active users of any role.

    Examples
    --------
    >>> G = nx.MultiDiGraph(usage={"weeks": 3})
    >>> for school in ("a", "b", "c"):
    ...     G.add_node(school, kind="school", grades=["5"])
    ...     _ = G.add_edge("app", school, key="used_at", kind="used_at")
    >>> G.nodes["app"].update(kind="tool", grades=["5"], audience=["teachers"], usage_by_school={
    ...     s: {"teacher": {"active_users": 2}} for s in ("a", "b")})
    >>> uneven_adoption(G)
    []
    """
    findings = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        if data.get("status") in {"retired", "pilot"}:
            continue
        if not {"students", "teachers"} & set(data.get("audience") or []):
            continue  # classroom roll-out is about students and teachers, not back-office tools
        grades = set(data.get("grades") or [])
        listed = [
            school
            for school in schools_of(G, tool)
            if not grades or grades & set(G.nodes[school].get("grades") or grades)
        ]
        if len(listed) < min_schools:
            continue
        by_school = data.get("usage_by_school") or {}
        using = [
            s
            for s in listed
            if sum(int(m.get("active_users", 0)) for m in (by_school.get(s) or {}).values())
            >= max(1, min_active_users)
        ]
        if not using or len(using) / len(listed) >= min_share:
            continue  # used nowhere is EM-USE-001's
        reach = data.get("reach") or {}
        findings.append(
            Finding(
                rule_id="EM-CON-001",
                severity=Severity.INFO,
                subjects=(tool,),
                message=(
                    f"{label(G, tool)} is listed at {len(listed)} schools but used at "
                    f"{len(using)}: {', '.join(label(G, s) for s in using)}."
                ),
                evidence={
                    "schools_listed": len(listed),
                    "schools_using": len(using),
                    "classes_reached": sum(int(r.get("classes", 0)) for r in reach.values()),
                    "teachers_reached": sum(int(r.get("teachers", 0)) for r in reach.values()),
                },
                recommendation=(
                    "Ask the schools that do not use it whether they need it; train, roster, "
                    "or take them off the licence."
                ),
            )
        )
    return findings
