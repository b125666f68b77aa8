"""Time of use: how much of a tool's use falls in school hours, evenings and weekends.

Examples
--------
>>> G = nx.MultiDiGraph(usage={"weeks": 3})
>>> G.add_node("hw", kind="tool", label="HW", hours={"es": {"school_hours": 20, "evening": 70,
...            "weekend": 10}})
>>> [f.evidence["outside_share"] for f in out_of_school_use(G)]
[0.8]
"""

from __future__ import annotations

import networkx as nx

from edtech_map.analyses.engine import label, requires_usage, rule
from edtech_map.analyses.findings import Finding, Severity
from edtech_map.graph import nodes_of_kind

__all__ = ["out_of_school_use"]


@rule("EM-TIM-001", severity=Severity.INFO, title="Used mostly outside school hours")
@requires_usage
def out_of_school_use(
    G: nx.MultiDiGraph[str], *, max_outside_share: float = 0.5, min_events: int = 50
) -> list[Finding]:
    """Flag tools whose use at a school falls mostly on evenings and weekends.

    School hours are the district's ``school_day`` on weekdays, in its time zone. A classroom
    tool used mostly at home is homework, which assumes a device and internet at home; a tool
    with heavy late-night use may need a look at its content. Events known only by their day
    (day-level exports, stamped at midnight) are left out: their hour is not known.

    Parameters
    ----------
    max_outside_share
        Flag when evening and weekend events exceed this share of events with a known time.
    min_events
        Only with at least this many events with a known time at the school.

    Examples
    --------
    >>> G = nx.MultiDiGraph(usage={"weeks": 3})
    >>> G.add_node("c", kind="tool", hours={"es": {"school_hours": 80, "evening": 15,
    ...            "weekend": 5, "day_only": 400}})
    >>> out_of_school_use(G)
    []
    """
    findings = []
    for tool in nodes_of_kind(G, "tool"):
        for school, parts in sorted((G.nodes[tool].get("hours") or {}).items()):
            if school == "unknown":
                continue
            inside = int(parts.get("school_hours", 0))
            outside = int(parts.get("evening", 0)) + int(parts.get("weekend", 0))
            known = inside + outside
            if known < min_events or outside / known <= max_outside_share:
                continue
            findings.append(
                Finding(
                    rule_id="EM-TIM-001",
                    severity=Severity.INFO,
                    subjects=(tool, school),
                    message=(
                        f"At {label(G, school)}, {outside / known:.0%} of {label(G, tool)}'s "
                        f"use is on evenings and weekends."
                    ),
                    evidence={
                        "school_hours_events": inside,
                        "evening_events": int(parts.get("evening", 0)),
                        "weekend_events": int(parts.get("weekend", 0)),
                        "outside_share": round(outside / known, 3),
                    },
                    recommendation=(
                        "Check with teachers whether it is assigned as homework, and that "
                        "students without a device or internet at home are not left out."
                    ),
                )
            )
    return findings
