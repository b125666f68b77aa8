"""Structural risks: single points of failure, tools nobody owns, flows touching retired tools.

Examples
--------
>>> G = nx.MultiDiGraph()
>>> G.add_node("hub", kind="tool", label="Hub", owner="IT", status="active")
>>> for app in ("a", "b", "c"):
...     G.add_node(app, kind="tool", label=app, owner="IT", status="active")
...     _ = G.add_edge("hub", app, key="rosters", kind="rosters")
>>> [f.subjects for f in single_points_of_failure(G, min_dependents=3)]
[('hub',)]
"""

from __future__ import annotations

import networkx as nx

from edtech_map.analyses.engine import audit_edges, rule
from edtech_map.analyses.findings import Finding, Severity
from edtech_map.graph import nodes_of_kind

__all__ = ["flows_with_retired_tools", "single_points_of_failure", "tools_without_owner"]

_ACCESS_KINDS = ("rosters", "sso", "lti_launch")
_ACCESS_WORDS = {"rosters": "rostering", "sso": "sign-in", "lti_launch": "LTI launch"}


@rule("EM-STR-001", severity=Severity.WARNING, title="Single point of failure")
def single_points_of_failure(G: nx.MultiDiGraph[str], *, min_dependents: int = 10) -> list[Finding]:
    """Flag a hub, identity provider or LMS that many tools depend on for access.

    When a rostering hub's nightly sync fails, or the identity provider is down, every tool
    behind it stops working for new students at once. Counting the tools that depend on one
    system directly (rostered by it, signing in through it, launched from it) shows where a
    fallback plan, monitoring and a named owner matter most.

    Parameters
    ----------
    min_dependents
        Flag a tool that this many other tools depend on directly for rostering, sign-in
        or LTI launch (distinct tools).

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("idp", kind="tool", label="IdP")
    >>> for app in ("a", "b"):
    ...     _ = G.add_edge("idp", app, key="sso", kind="sso")
    >>> [f.evidence["dependents"] for f in single_points_of_failure(G, min_dependents=2)]
    [2]
    >>> single_points_of_failure(G, min_dependents=3)
    []
    """
    findings = []
    for tool in nodes_of_kind(G, "tool"):
        by_kind: dict[str, set[str]] = {name: set() for name in _ACCESS_KINDS}
        for _, target, data in G.out_edges(tool, data=True):
            edge_kind = str(data.get("kind"))
            if edge_kind in by_kind and target != tool:
                by_kind[edge_kind].add(target)
        dependents: set[str] = set().union(*by_kind.values())
        if len(dependents) < min_dependents:
            continue
        how = ", ".join(
            f"{len(by_kind[kind])} by {_ACCESS_WORDS[kind]}"
            for kind in _ACCESS_KINDS
            if by_kind[kind]
        )
        label = G.nodes[tool].get("label", tool)
        findings.append(
            Finding(
                rule_id="EM-STR-001",
                severity=Severity.WARNING,
                subjects=(tool,),
                message=f"{len(dependents)} tools depend on {label} directly ({how}).",
                evidence={
                    "dependents": len(dependents),
                    **{f"by_{kind}": len(by_kind[kind]) for kind in _ACCESS_KINDS},
                },
                recommendation=(
                    f"Monitor {label}, write down what schools do when it is down, and make "
                    f"sure it has a named owner and a tested fallback (e.g. manual rosters)."
                ),
            )
        )
    return findings


@rule("EM-OWN-001", severity=Severity.WARNING, title="Tool with no owner")
def tools_without_owner(G: nx.MultiDiGraph[str]) -> list[Finding]:
    """Flag tools that no one is named as owning. Nobody then renews, reviews or retires them.

    A tool without an owner is renewed by default, its DPA lapses unnoticed, and nobody
    answers when a school asks whether to keep it. Retired tools are left out.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("orphan", kind="tool", label="Orphan", status="active")
    >>> G.add_node("owned", kind="tool", label="Owned", status="active", owner="Math lead")
    >>> [f.subjects for f in tools_without_owner(G)]
    [('orphan',)]
    """
    findings = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        if data.get("owner") or data.get("status") == "retired":
            continue
        label = data.get("label", tool)
        findings.append(
            Finding(
                rule_id="EM-OWN-001",
                severity=Severity.WARNING,
                subjects=(tool,),
                message=f"{label} has no owner in the inventory.",
                evidence={"status": str(data.get("status", "active"))},
                recommendation=(
                    f"Name the role that owns {label} (`owner:` in ecosystem.yaml): who renews "
                    f"it, reviews its DPA and decides whether to keep it."
                ),
            )
        )
    return findings


@rule("EM-STR-002", severity=Severity.WARNING, title="Data flow or access path to a retired tool")
def flows_with_retired_tools(G: nx.MultiDiGraph[str]) -> list[Finding]:
    """Flag data flows, rostering, sign-in or launches that still touch a retired tool.

    A retired tool that still receives a nightly roster keeps students' data with a vendor
    the district has stopped using; one that still sends data feeds stale numbers into the
    tools downstream.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("sis", kind="tool", label="SIS", status="active")
    >>> G.add_node("old", kind="tool", label="Old", status="retired")
    >>> _ = G.add_edge("sis", "old", key="sis->old:sftp", kind="data_flow", flow="sis->old:sftp",
    ...                student_pii=True)
    >>> [f.subjects for f in flows_with_retired_tools(G)]
    [('old', 'sis->old:sftp')]
    """
    findings = []
    for kind in ("data_flow", *_ACCESS_KINDS):
        for source, target, data in audit_edges(G, kind):
            retired = [end for end in (source, target) if G.nodes[end].get("status") == "retired"]
            if not retired:
                continue
            name = str(data.get("flow") or f"{source}->{target}:{kind}")
            what = "data flow" if kind == "data_flow" else _ACCESS_WORDS[kind]
            findings.append(
                Finding(
                    rule_id="EM-STR-002",
                    severity=Severity.WARNING,
                    subjects=(name, *retired),
                    message=(
                        f"The {what} {source} -> {target} still runs, but "
                        f"{' and '.join(retired)} {'is' if len(retired) == 1 else 'are'} retired."
                    ),
                    evidence={
                        "kind": kind,
                        "source": source,
                        "target": target,
                        "student_pii": bool(data.get("student_pii", False)),
                    },
                    recommendation=(
                        "Stop the flow (and ask the vendor to delete the district's data), or "
                        "set the tool's status back if it is still in use."
                    ),
                )
            )
    return findings
