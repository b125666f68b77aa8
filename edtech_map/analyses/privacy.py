"""Privacy and data flows: student data reaching vendors without a data privacy agreement.

Examples
--------
>>> G = nx.MultiDiGraph(as_of="2026-11-23")
>>> G.add_node("sis", kind="tool", label="SIS", dpa_status="signed", dpa_in_force=True)
>>> G.add_node("app", kind="tool", label="App", dpa_status="missing", dpa_in_force=False)
>>> _ = G.add_edge("sis", "app", key="sis->app:api", kind="data_flow", flow="sis->app:api",
...                student_pii=True, data=["student_name"])
>>> [f.subjects for f in pii_without_dpa(G)]
[('app', 'sis->app:api')]
"""

from __future__ import annotations

from datetime import date, timedelta

import networkx as nx

from edtech_map.analyses.engine import audit_edges, count_text, count_value, requires_usage, rule
from edtech_map.analyses.findings import Finding, Severity
from edtech_map.graph import nodes_of_kind

__all__ = [
    "data_beyond_dpa",
    "dpa_expired",
    "dpa_expiring",
    "pii_without_dpa",
    "student_tool_without_dpa",
    "student_use_without_privacy_record",
]

_NO_AGREEMENT = {"missing", "none", "pending", "declined"}


def _as_of(G: nx.MultiDiGraph[str]) -> date:
    return date.fromisoformat(str(G.graph.get("as_of") or date.today().isoformat()))


def _label(G: nx.MultiDiGraph[str], node: str) -> str:
    return str(G.nodes[node].get("label", node))


def _lapsed(data: dict[str, object], as_of: date) -> bool:
    if data.get("dpa_status") == "expired":
        return True
    expires = data.get("dpa_expires")
    return (
        data.get("dpa_status") == "signed"
        and isinstance(expires, str)
        and date.fromisoformat(expires) < as_of
    )


@rule("EM-DPA-001", severity=Severity.ERROR, title="Student data sent to a tool without a DPA")
def pii_without_dpa(G: nx.MultiDiGraph[str]) -> list[Finding]:
    """Flag data flows that carry student personal data to a tool with no DPA in force.

    A flow of names, ids, grades or work to a vendor without a signed, unexpired data privacy
    agreement is the most serious gap an inventory can show: the district has no contract
    saying what the vendor may do with the data, and most state student-privacy laws require
    one.

    Examples
    --------
    >>> G = nx.MultiDiGraph(as_of="2026-11-23")
    >>> G.add_node("sis", kind="tool", dpa_in_force=True)
    >>> G.add_node("ok", kind="tool", dpa_status="signed", dpa_in_force=True)
    >>> _ = G.add_edge("sis", "ok", key="sis->ok:api", kind="data_flow", flow="sis->ok:api",
    ...                student_pii=True)
    >>> pii_without_dpa(G)
    []
    """
    findings = []
    for source, target, data in audit_edges(G, "data_flow"):
        if not data.get("student_pii") or G.nodes[target].get("dpa_in_force"):
            continue
        status = str(G.nodes[target].get("dpa_status", "missing"))
        if status == "signed":
            status = "expired"  # signed but not in force: past its end date
        flow = str(data.get("flow", f"{source}->{target}"))
        elements = [str(e) for e in data.get("data", [])]
        findings.append(
            Finding(
                rule_id="EM-DPA-001",
                severity=Severity.ERROR,
                subjects=(target, flow),
                message=(
                    f"{_label(G, source)} sends student data ({', '.join(elements) or 'PII'}) to "
                    f"{_label(G, target)}, which has no DPA in force ({status})."
                ),
                evidence={
                    "source": source,
                    "target": target,
                    "dpa_status": status,
                    "data_elements": ",".join(elements),
                },
                recommendation=(
                    f"Sign a DPA with {_label(G, target)}'s vendor (e.g. the SDPC National DPA) "
                    f"or stop the flow until one is signed."
                ),
            )
        )
    return findings


@rule("EM-DPA-002", severity=Severity.ERROR, title="Student tool with no privacy agreement")
def student_tool_without_dpa(G: nx.MultiDiGraph[str]) -> list[Finding]:
    """Flag tools meant for students that have no signed DPA: none recorded, pending, declined.

    Students sign in to these tools, so the vendor receives at least their names and usage.
    A lapsed agreement is reported by EM-DPA-003 instead. Retired tools are left out.

    Examples
    --------
    >>> G = nx.MultiDiGraph(as_of="2026-11-23")
    >>> G.add_node("quiz", kind="tool", audience=["students"], dpa_status="pending")
    >>> G.add_node("plan", kind="tool", audience=["teachers"], dpa_status="missing")
    >>> [(f.subjects, f.evidence["dpa_status"]) for f in student_tool_without_dpa(G)]
    [(('quiz',), 'pending')]
    """
    findings = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        status = str(data.get("dpa_status", "missing"))
        if "students" not in data.get("audience", []) or status not in _NO_AGREEMENT:
            continue
        if data.get("status") == "retired":
            continue
        record = "no privacy record" if status == "missing" else f"a DPA that is {status}"
        findings.append(
            Finding(
                rule_id="EM-DPA-002",
                severity=Severity.ERROR,
                subjects=(tool,),
                message=f"{_label(G, tool)} is for students but has {record}.",
                evidence={"dpa_status": status},
                recommendation=(
                    f"Get a DPA signed with {_label(G, tool)}'s vendor, or stop students using "
                    f"it; record the agreement under `privacy:`."
                ),
            )
        )
    return findings


@rule("EM-DPA-003", severity=Severity.ERROR, title="Privacy agreement has lapsed")
def dpa_expired(G: nx.MultiDiGraph[str]) -> list[Finding]:
    """Flag tools whose DPA has expired (status ``expired``, or signed with a past end date).

    The tool may still be in daily use, but the contract that governed the data no longer
    does. Retired tools are left out.

    Examples
    --------
    >>> G = nx.MultiDiGraph(as_of="2026-11-23")
    >>> G.add_node("a", kind="tool", dpa_status="signed", dpa_expires="2026-08-31")
    >>> G.add_node("b", kind="tool", dpa_status="signed", dpa_expires="2027-08-31")
    >>> [f.subjects for f in dpa_expired(G)]
    [('a',)]
    """
    as_of = _as_of(G)
    findings = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        if data.get("status") == "retired" or not _lapsed(data, as_of):
            continue
        expires = data.get("dpa_expires")
        when = f" on {expires}" if expires else ""
        findings.append(
            Finding(
                rule_id="EM-DPA-003",
                severity=Severity.ERROR,
                subjects=(tool,),
                message=f"The DPA with {_label(G, tool)}'s vendor lapsed{when}.",
                evidence={"dpa_status": str(data.get("dpa_status")), "dpa_expires": expires},
                recommendation=f"Renew the DPA for {_label(G, tool)} or retire the tool.",
            )
        )
    return findings


@rule("EM-DPA-004", severity=Severity.WARNING, title="Privacy agreement expires soon")
def dpa_expiring(G: nx.MultiDiGraph[str], *, within_days: int = 90) -> list[Finding]:
    """Flag signed DPAs that end within the next few months, while there is time to renew.

    Parameters
    ----------
    within_days
        Flag agreements ending within this many days after the audit date.

    Examples
    --------
    >>> G = nx.MultiDiGraph(as_of="2026-11-23")
    >>> G.add_node("a", kind="tool", dpa_status="signed", dpa_expires="2027-01-15")
    >>> [f.evidence["days_left"] for f in dpa_expiring(G)]
    [53]
    >>> dpa_expiring(G, within_days=30)
    []
    """
    as_of = _as_of(G)
    findings = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        expires = data.get("dpa_expires")
        if data.get("dpa_status") != "signed" or not isinstance(expires, str):
            continue
        if data.get("status") == "retired":
            continue
        end = date.fromisoformat(expires)
        if not as_of <= end <= as_of + timedelta(days=within_days):
            continue
        days = (end - as_of).days
        findings.append(
            Finding(
                rule_id="EM-DPA-004",
                severity=Severity.WARNING,
                subjects=(tool,),
                message=f"The DPA with {_label(G, tool)}'s vendor ends on {expires}, in {days} days.",
                evidence={"dpa_expires": expires, "days_left": days},
                recommendation=f"Start renewing the DPA for {_label(G, tool)} now.",
            )
        )
    return findings


@rule("EM-DPA-005", severity=Severity.WARNING, title="Flow sends more than the DPA allows")
def data_beyond_dpa(G: nx.MultiDiGraph[str]) -> list[Finding]:
    """Flag flows that send data elements the target's signed DPA does not list.

    A DPA lists the data elements the vendor may receive (SDPC Exhibit B). A flow sending
    more, such as assessment scores to a practice app whose DPA covers only names and ids,
    is outside the agreement even though one is signed. Only agreements in force that list
    their elements are checked; flows to tools with none are EM-DPA-001's.

    Examples
    --------
    >>> G = nx.MultiDiGraph(as_of="2026-11-23")
    >>> G.add_node("a", kind="tool")
    >>> G.add_node("b", kind="tool", dpa_in_force=True, dpa_data_elements=["student_id"])
    >>> _ = G.add_edge("a", "b", key="a->b:api", kind="data_flow", flow="a->b:api",
    ...                data=["student_id", "assessment"], student_pii=True)
    >>> [f.evidence["beyond_dpa"] for f in data_beyond_dpa(G)]
    ['assessment']
    """
    findings = []
    for source, target, data in audit_edges(G, "data_flow"):
        node = G.nodes[target]
        allowed = set(node.get("dpa_data_elements", []))
        if not node.get("dpa_in_force") or not allowed:
            continue
        extra = [str(e) for e in data.get("data", []) if e not in allowed]
        if not extra:
            continue
        flow = str(data.get("flow", f"{source}->{target}"))
        findings.append(
            Finding(
                rule_id="EM-DPA-005",
                severity=Severity.WARNING,
                subjects=(target, flow),
                message=(
                    f"{_label(G, source)} sends {', '.join(extra)} to {_label(G, target)}, "
                    f"which its DPA does not list."
                ),
                evidence={"source": source, "target": target, "beyond_dpa": ",".join(extra)},
                recommendation=(
                    "Stop sending those elements, or amend the DPA's data elements to cover them."
                ),
            )
        )
    return findings


@rule("EM-DPA-006", severity=Severity.ERROR, title="Students use a tool with no privacy record")
@requires_usage
def student_use_without_privacy_record(
    G: nx.MultiDiGraph[str], *, min_students: int = 1
) -> list[Finding]:
    """Flag inventoried tools that students are seen using but that have no ``privacy:`` block.

    Usage proves that student data reaches the vendor, whatever the inventory's audience
    says. Apps in usage that are not inventoried at all are EM-DSC-001's.

    Parameters
    ----------
    min_students
        Flag when at least this many distinct students used the tool in the window.

    Examples
    --------
    >>> G = nx.MultiDiGraph(usage={"window_days": 28})
    >>> G.add_node("x", kind="tool", label="X", dpa_status="missing",
    ...            usage={"student": {"active_users": 40, "events": 90, "minutes": 300.0}})
    >>> [f.evidence["active_students"] for f in student_use_without_privacy_record(G)]
    [40]
    """
    cell = int(G.graph.get("min_cell_size", 5))
    findings = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        students = int(data.get("usage", {}).get("student", {}).get("active_users", 0))
        if data.get("dpa_status") != "missing" or students < max(1, min_students):
            continue
        findings.append(
            Finding(
                rule_id="EM-DPA-006",
                severity=Severity.ERROR,
                subjects=(tool,),
                message=(
                    f"{count_text(students, cell)} students used {_label(G, tool)}, which has "
                    f"no privacy record."
                ),
                evidence={"active_students": count_value(students, cell)},
                recommendation=(
                    f"Find out what data {_label(G, tool)} collects and get a DPA signed, or "
                    f"block it."
                ),
            )
        )
    return findings
