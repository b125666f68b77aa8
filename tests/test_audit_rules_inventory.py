"""Inventory-only rules (privacy, structure, coverage) on small hand-built ecosystems.

Each expected set is worked out by hand from the ecosystem in the test; the coverage rules
are checked against the per-school expansion they replaced, on generated ecosystems.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edtech_map.analyses import coverage, overlaps, privacy, structure
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


# ----------------------------------------- compact coverage cells against one edge per school

_TASKS = ["practice", "assessment", "feedback"]
_SUBJECTS = ["math", "ela", "science", "all"]
_GRADES = ["K", "1", "2", "3", "6", "7"]


@st.composite
def coverage_ecosystems(draw: st.DrawFn) -> Ecosystem:
    """Up to 6 schools and 10 tools: `schools: all` or a list, retired or not, overlapping."""
    school_ids = [f"s{i}" for i in range(draw(st.integers(min_value=1, max_value=6)))]
    schools = [
        {
            "id": s,
            "name": s,
            "type": "k8",
            "grades": draw(st.lists(st.sampled_from(_GRADES), unique=True)),
        }
        for s in school_ids
    ]
    tools = []
    for i in range(draw(st.integers(min_value=0, max_value=10))):
        places = draw(st.just("all") | st.lists(st.sampled_from(school_ids), unique=True))
        tools.append(
            tool(
                f"t{i}",
                schools=places,
                learning_tasks=draw(st.lists(st.sampled_from(_TASKS), unique=True, max_size=2)),
                subjects=draw(st.lists(st.sampled_from(_SUBJECTS), unique=True, max_size=2)),
                grades=draw(st.lists(st.sampled_from(_GRADES), unique=True, max_size=4)),
                status=draw(st.sampled_from(["active", "active", "retired"])),
            )
        )
    return Ecosystem(district={"id": "d", "name": "D"}, schools=schools, tools=tools)


def _one_edge_per_school(eco: Ecosystem) -> nx.MultiDiGraph[str]:
    G = build_graph(eco, as_of=AS_OF)
    G.remove_edges_from(
        [(u, v, k) for u, v, k, kind in G.edges(keys=True, data="kind") if kind == "used_at"]
    )
    for t in eco.tools:
        for school in eco.schools_of(t):
            G.add_edge(t.id, school.id, key="used_at", kind="used_at")
    return G


def _naive_cells(G: nx.MultiDiGraph[str]) -> dict[tuple[str, str, str, str], set[str]]:
    """school_cells as it was written before the compact form, over per-school edges."""
    cells: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for school in sorted(n for n, kind in G.nodes(data="kind") if kind == "school"):
        school_grades = list(G.nodes[school].get("grades", []))
        at = sorted(u for u, _, k in G.in_edges(school, data="kind") if k == "used_at")
        for t in at:
            data = G.nodes[t]
            if data.get("status") == "retired":
                continue
            tool_grades = data.get("grades") or school_grades
            for task in data.get("learning_tasks", []):
                for subject in data.get("subjects", []):
                    if subject == "all":
                        continue
                    for grade in (g for g in school_grades if g in tool_grades):
                        cells[(school, task, subject, grade)].add(t)
    return cells


def _naive_gap_cells(
    G: nx.MultiDiGraph[str], min_peer_schools: int, core: list[str]
) -> set[tuple[str, str, str, str]]:
    """EM-GAP-001's cells as the rule found them before (no roster)."""
    covered = _naive_cells(G)
    offered: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for school, task, subject, grade in covered:
        offered[(task, subject, grade)].add(school)
    subjects_by_grade: dict[str, set[str]] = defaultdict(set)
    for _, _, subject, grade in covered:
        subjects_by_grade[grade].add(subject)
    gaps = set()
    for school in (n for n, kind in G.nodes(data="kind") if kind == "school"):
        for grade in G.nodes[school].get("grades", []):
            expected = {
                (task, subject)
                for (task, subject, g), schools in offered.items()
                if g == grade and len(schools - {school}) >= min_peer_schools
            }
            expected |= {(task, s) for task in core for s in subjects_by_grade[grade]}
            gaps |= {
                (school, t, s, grade) for t, s in expected if (school, t, s, grade) not in covered
            }
    return gaps


def _gap_cells(findings: Sequence[Any]) -> set[tuple[str, str, str, str]]:
    found = set()
    for f in findings:
        for part in str(f.evidence["gaps"]).split(";"):
            subject, grades = part.split(":")
            found |= {
                (f.evidence["school"], f.evidence["task"], subject, g) for g in grades.split(",")
            }
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    coverage_ecosystems(), st.integers(min_value=0, max_value=3), st.sampled_from(["", "practice"])
)
def test_compact_cells_overlaps_and_gaps_match_one_edge_per_school(
    eco: Ecosystem, min_peers: int, core: str
) -> None:
    G, naive = build_graph(eco, as_of=AS_OF), _one_edge_per_school(eco)
    assert overlaps.school_cells(G) == _naive_cells(naive)
    assert overlaps.inventory_overlaps(G) == overlaps.inventory_overlaps(naive)
    gaps = coverage.coverage_gaps(G, min_peer_schools=min_peers, core_tasks=core)
    assert gaps == coverage.coverage_gaps(naive, min_peer_schools=min_peers, core_tasks=core)
    assert _gap_cells(gaps) == _naive_gap_cells(naive, min_peers, [core] if core else [])
    for f in gaps:  # peers: other schools covering at least one of the finding's cells
        cells = {(t, s, g) for _, t, s, g in _gap_cells([f])}
        peers = {school for school, *cell in _naive_cells(naive) if tuple(cell) in cells}
        assert f.evidence["peer_schools"] == len(peers - {f.evidence["school"]})
    assert coverage.schools_without_student_tools(G) == coverage.schools_without_student_tools(
        naive
    )
