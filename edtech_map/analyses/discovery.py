"""Unknown tools: apps seen in usage that no inventory tool claims, by student reach.

Examples
--------
>>> G = nx.MultiDiGraph(usage={"weeks": 3}, unmatched_apps=[
...     {"identifier": "games.example", "students": 40, "teachers": 0, "users": 40,
...      "events": 90, "schools": 2}])
>>> [f.subjects for f in unknown_tools(G)]
[('games.example',)]
"""

from __future__ import annotations

import networkx as nx

from edtech_map.analyses.engine import count_text, count_value, requires_usage, rule
from edtech_map.analyses.findings import Finding, Severity

__all__ = ["unknown_tools"]


@rule("EM-DSC-001", severity=Severity.WARNING, title="Tool in use but not in the inventory")
@requires_usage
def unknown_tools(
    G: nx.MultiDiGraph[str], *, min_students: int = 1, min_users: int = 1
) -> list[Finding]:
    """Flag apps students and staff use that are not in the inventory, most students first.

    Such an app has no owner, no contract and no DPA on record, yet students' data reaches
    it. The finding names the identifier usage saw (Caliper app id, domain or name); the
    evidence ranks them by students reached.

    Parameters
    ----------
    min_students
        Flag apps used by at least this many distinct students ...
    min_users
        ... or by at least this many distinct users of any role.

    Examples
    --------
    >>> G = nx.MultiDiGraph(usage={"weeks": 3}, unmatched_apps=[
    ...     {"identifier": "staff.example", "students": 0, "teachers": 2, "users": 2,
    ...      "events": 5, "schools": 1}])
    >>> unknown_tools(G, min_users=3)
    []
    """
    cell = int(G.graph.get("min_cell_size", 5))
    apps = sorted(
        G.graph.get("unmatched_apps", []),
        key=lambda a: (-int(a.get("students", 0)), -int(a.get("users", 0)), str(a["identifier"])),
    )
    findings = []
    rank = 0
    for app in apps:
        students, users = int(app.get("students", 0)), int(app.get("users", 0))
        if students < max(1, min_students) and users < max(1, min_users):
            continue
        rank += 1
        identifier = str(app["identifier"])
        findings.append(
            Finding(
                rule_id="EM-DSC-001",
                severity=Severity.WARNING,
                subjects=(identifier,),
                message=(
                    f"{identifier} is not in the inventory, but {count_text(students, cell)} "
                    f"students and {int(app.get('teachers', 0))} teachers at "
                    f"{int(app.get('schools', 0))} school(s) used it."
                ),
                evidence={
                    "rank": rank,
                    "students": count_value(students, cell),
                    "teachers": int(app.get("teachers", 0)),
                    "users": count_value(users, cell),
                    "events": int(app.get("events", 0)),
                    "schools": int(app.get("schools", 0)),
                },
                recommendation=(
                    "Find out who uses it and why; add it to the inventory with an owner and a "
                    "DPA, or block it."
                ),
            )
        )
    return findings
