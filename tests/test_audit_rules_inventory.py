"""Inventory-only rules (privacy, structure) on small hand-built ecosystems.

Each expected set is worked out by hand from the ecosystem in the test.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import networkx as nx

from edtech_map.analyses import privacy, structure
from edtech_map.graph import build_graph
from edtech_map.model import Ecosystem

AS_OF = date(2026, 11, 23)
SIGNED = {
    "status": "signed",
    "signed": "2024-07-01",
    "expires": "2028-06-30",
    "data_elements": ["student_name", "student_id"],
}


def graph(
    tools: list[dict[str, Any]], flows: Sequence[dict[str, Any]] = ()
) -> nx.MultiDiGraph[str]:
    eco = Ecosystem(district={"id": "d", "name": "D"}, tools=tools, flows=list(flows))
    return build_graph(eco, as_of=AS_OF)


def tool(tool_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": tool_id,
        "name": tool_id.title(),
        "category": "content",
        "owner": "Lead",
        **fields,
    }


def keys(findings: list[Any]) -> set[str]:
    return {f.key for f in findings}


def test_pii_flow_to_a_tool_without_a_dpa_in_force() -> None:
    G = graph(
        [
            tool("sis", privacy=SIGNED),
            tool("signed", privacy=SIGNED),
            tool("nodpa"),
            tool("lapsed", privacy={**SIGNED, "expires": "2026-08-31"}),
        ],
        [
            {"source": "sis", "target": "signed", "mechanism": "api", "data": ["student_name"]},
            {"source": "sis", "target": "nodpa", "mechanism": "api", "data": ["student_id"]},
            {"source": "sis", "target": "lapsed", "mechanism": "sftp", "data": ["student_id"]},
            {"source": "sis", "target": "nodpa", "mechanism": "sftp", "data": ["staff_data"]},
        ],
    )
    assert keys(privacy.pii_without_dpa(G)) == {
        "EM-DPA-001:nodpa,sis->nodpa:api",
        "EM-DPA-001:lapsed,sis->lapsed:sftp",
    }


def test_student_tools_without_an_agreement_but_not_staff_tools_or_lapsed_ones() -> None:
    G = graph(
        [
            tool("none", audience=["students"], privacy={"status": "none"}),
            tool("missing", audience=["students", "teachers"]),
            tool("pending", audience=["students"], privacy={"status": "pending"}),
            tool("staff", audience=["teachers"]),
            tool("lapsed", audience=["students"], privacy={"status": "expired"}),
            tool("ok", audience=["students"], privacy=SIGNED),
            tool("gone", audience=["students"], status="retired"),
        ]
    )
    assert keys(privacy.student_tool_without_dpa(G)) == {
        "EM-DPA-002:none",
        "EM-DPA-002:missing",
        "EM-DPA-002:pending",
    }


def test_lapsed_agreements() -> None:
    G = graph(
        [
            tool("expired", privacy={"status": "expired"}),
            tool("ended", privacy={**SIGNED, "expires": "2026-11-22"}),
            tool("today", privacy={**SIGNED, "expires": "2026-11-23"}),
            tool("fine", privacy=SIGNED),
        ]
    )
    assert keys(privacy.dpa_expired(G)) == {"EM-DPA-003:expired", "EM-DPA-003:ended"}


def test_agreements_expiring_within_the_threshold() -> None:
    G = graph(
        [
            tool("soon", privacy={**SIGNED, "expires": "2027-02-21"}),  # 90 days
            tool("later", privacy={**SIGNED, "expires": "2027-02-22"}),  # 91 days
            tool("past", privacy={**SIGNED, "expires": "2026-11-01"}),
        ]
    )
    assert keys(privacy.dpa_expiring(G)) == {"EM-DPA-004:soon"}
    assert keys(privacy.dpa_expiring(G, within_days=91)) == {"EM-DPA-004:soon", "EM-DPA-004:later"}


def test_flows_beyond_the_dpa_only_for_agreements_in_force() -> None:
    G = graph(
        [
            tool("sis", privacy=SIGNED),
            tool("app", privacy=SIGNED),
            tool("old", privacy={**SIGNED, "expires": "2026-01-01"}),
        ],
        [
            {
                "source": "sis",
                "target": "app",
                "mechanism": "api",
                "data": ["student_id", "assessment", "grades"],
            },
            {"source": "sis", "target": "app", "mechanism": "sftp", "data": ["student_id"]},
            {"source": "sis", "target": "old", "mechanism": "api", "data": ["assessment"]},
        ],
    )
    findings = privacy.data_beyond_dpa(G)
    assert keys(findings) == {"EM-DPA-005:app,sis->app:api"}
    assert findings[0].evidence["beyond_dpa"] == "assessment,grades"


def test_single_points_of_failure_count_distinct_direct_dependents() -> None:
    apps = [tool(f"app{i}", rostered_by="hub", sso_via="idp") for i in range(3)]
    G = graph([tool("hub"), tool("idp"), tool("lms"), *apps, tool("ext", launched_from=["lms"])])
    assert keys(structure.single_points_of_failure(G, min_dependents=3)) == {
        "EM-STR-001:hub",
        "EM-STR-001:idp",
    }
    assert keys(structure.single_points_of_failure(G, min_dependents=4)) == set()


def test_tools_without_owner_skip_retired_ones() -> None:
    G = graph(
        [
            {"id": "a", "name": "A", "category": "content"},
            {"id": "b", "name": "B", "category": "content", "status": "retired"},
            tool("c"),
        ]
    )
    assert keys(structure.tools_without_owner(G)) == {"EM-OWN-001:a"}


def test_flows_touching_retired_tools() -> None:
    G = graph(
        [tool("sis"), tool("old", status="retired"), tool("new")],
        [
            {"source": "sis", "target": "old", "mechanism": "sftp", "data": ["student_id"]},
            {"source": "sis", "target": "new", "mechanism": "sftp", "data": ["student_id"]},
        ],
    )
    assert keys(structure.flows_with_retired_tools(G)) == {"EM-STR-002:old,sis->old:sftp"}


def test_rules_do_not_change_the_graph() -> None:
    G = graph(
        [tool("a", audience=["students"]), tool("b")],
        [{"source": "b", "target": "a", "mechanism": "api", "data": ["student_id"]}],
    )
    before = (dict(G.graph), {n: dict(d) for n, d in G.nodes(data=True)})
    for function in (
        privacy.pii_without_dpa,
        privacy.student_tool_without_dpa,
        structure.tools_without_owner,
        structure.single_points_of_failure,
    ):
        function(G)
    assert (dict(G.graph), {n: dict(d) for n, d in G.nodes(data=True)}) == before
