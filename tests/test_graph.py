"""The ecosystem graph: every kind of node and edge, exact exports, queries on small graphs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from edtech_map.cli import app
from edtech_map.graph import (
    EDGE_KINDS,
    NODE_KINDS,
    build_graph,
    downstream,
    edges_of_kind,
    from_node_link,
    read_graphml,
    school_index,
    schools_of,
    to_node_link,
    tools_at,
    tools_for,
    upstream,
    write_graphml,
)
from edtech_map.inventory import save_ecosystem
from edtech_map.model import Ecosystem
from tests.strategies import ecosystems

SMALL = Ecosystem.model_validate(
    {
        "district": {"id": "riverside", "name": "Riverside USD"},
        "schools": [
            {"id": "lincoln-es", "name": "Lincoln ES", "type": "elementary", "grades": "K-5"},
            {"id": "adams-ms", "name": "Adams MS", "type": "middle", "grades": "6-8"},
        ],
        "tools": [
            {"id": "sis", "name": "SIS", "category": "sis"},
            {"id": "hub", "name": "Hub", "category": "rostering_hub", "rostered_by": "sis"},
            {"id": "idp", "name": "IdP", "category": "sso"},
            {
                "id": "lms",
                "name": "LMS",
                "category": "lms",
                "subjects": ["all"],
                "learning_tasks": ["content_delivery", "assessment"],
                "rostered_by": "hub",
                "sso_via": "idp",
            },
            {
                "id": "mathly",
                "name": "Mathly",
                "category": "adaptive_practice",
                "learning_tasks": ["practice"],
                "subjects": ["math"],
                "grades": "3-5",
                "schools": ["lincoln-es"],
                "launched_from": ["lms"],
                "rostered_by": "hub",
                "privacy": {"status": "signed", "signed": "2024-01-01", "expires": "2025-06-30"},
            },
            {
                "id": "quizzy",
                "name": "Quizzy",
                "category": "assessment",
                "learning_tasks": ["assessment"],
                "subjects": ["math"],
                "grades": "6-8",
                "schools": ["adams-ms"],
                "status": "retired",
            },
        ],
        "flows": [
            {"source": "sis", "target": "hub", "mechanism": "sftp", "data": ["student_name"]},
            {
                "source": "hub",
                "target": "lms",
                "mechanism": "oneroster_api",
                "data": ["student_name", "schedule"],
            },
            {"source": "lms", "target": "mathly", "mechanism": "lti", "data": ["student_id"]},
            {"source": "lms", "target": "mathly", "mechanism": "lti", "data": ["grades"]},
        ],
    }
)


def test_every_kind_of_node_and_edge_appears() -> None:
    G = build_graph(SMALL, as_of=date(2026, 11, 23))
    assert {kind for _, kind in G.nodes(data="kind")} == set(NODE_KINDS)
    assert {kind for _, _, kind in G.edges(data="kind")} == set(EDGE_KINDS)
    # Counted by hand from SMALL: 2 schools part_of; 4 "all" tools, one edge each to the
    # district (not one per school), + 2 tools listed at one school.
    assert len(edges_of_kind(G, "part_of")) == 2
    assert len(edges_of_kind(G, "used_at")) == 4 + 2
    assert {u for u, v, _ in edges_of_kind(G, "used_at") if v == "riverside"} == {
        "sis",
        "hub",
        "idp",
        "lms",
    }
    assert len(edges_of_kind(G, "data_flow")) == 4  # two alike lms->mathly flows both kept
    assert {(u, v) for u, v, _ in edges_of_kind(G, "rosters")} == {
        ("sis", "hub"),
        ("hub", "lms"),
        ("hub", "mathly"),
    }


def test_dpa_status_is_judged_on_the_as_of_day() -> None:
    before = build_graph(SMALL, as_of=date(2025, 1, 1))
    after = build_graph(SMALL, as_of=date(2026, 1, 1))
    assert before.nodes["mathly"]["dpa_in_force"] is True
    assert after.nodes["mathly"]["dpa_in_force"] is False
    assert after.nodes["sis"]["dpa_status"] == "missing"


def test_queries_answer_from_the_graph() -> None:
    G = build_graph(SMALL)
    assert tools_at(G, "adams-ms") == ["hub", "idp", "lms", "quizzy", "sis"]
    assert schools_of(G, "lms") == ["adams-ms", "lincoln-es"]
    assert schools_of(G, "mathly") == ["lincoln-es"]
    assert tools_for(G, task="practice", subject="math", grade=4, school="lincoln-es") == ["mathly"]
    assert tools_for(G, task="practice", subject="math", grade=7) == []
    assert tools_for(G, task="assessment", subject="math", grade=7) == ["lms"]  # quizzy retired
    assert tools_for(G, task="assessment", subject="math", grade=7, include_retired=True) == [
        "lms",
        "quizzy",
    ]
    assert downstream(G, "sis") == {"hub", "lms", "mathly"}
    assert upstream(G, "mathly") == {"sis", "hub", "lms", "idp"}
    with pytest.raises(nx.NodeNotFound, match="nope"):
        downstream(G, "nope")


def _naive_graph(eco: Ecosystem) -> nx.MultiDiGraph[str]:
    """The graph as it was before the compact form: one used_at edge per tool and school."""
    G = build_graph(eco, as_of=date(2026, 11, 23))
    G.remove_edges_from(
        [(u, v, k) for u, v, k, kind in G.edges(keys=True, data="kind") if kind == "used_at"]
    )
    for tool in eco.tools:
        for school in eco.schools_of(tool):
            G.add_edge(tool.id, school.id, key="used_at", kind="used_at")
    return G


def _naive_tools_at(G: nx.MultiDiGraph[str], school: str) -> list[str]:
    return sorted(u for u, _, kind in G.in_edges(school, data="kind") if kind == "used_at")


def _naive_schools_of(G: nx.MultiDiGraph[str], tool: str) -> list[str]:
    return sorted(v for _, v, kind in G.out_edges(tool, data="kind") if kind == "used_at")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ecosystems())
def test_compact_used_at_answers_like_one_edge_per_school(eco: Ecosystem) -> None:
    G, naive = build_graph(eco, as_of=date(2026, 11, 23)), _naive_graph(eco)
    index = school_index(G)
    schools = [school.id for school in eco.schools]
    assert sorted(index.schools) == sorted(schools)
    for school in schools:
        expected = _naive_tools_at(naive, school)
        assert tools_at(G, school) == expected
        assert index.tools_at(school) == expected
    for tool in eco.tools:
        expected = _naive_schools_of(naive, tool.id)
        assert schools_of(G, tool.id) == expected
        assert index.schools_of(tool.id) == expected
    assert index.pairs() == sorted(
        (u, v) for u, v, kind in naive.edges(data="kind") if kind == "used_at"
    )
    # Only `schools: all` is folded into one edge to the district; listed schools stay edges.
    folded = {
        u for u, v, kind in G.edges(data="kind") if kind == "used_at" and v == eco.district.id
    }
    assert folded == {tool.id for tool in eco.tools if tool.schools == "all"}


def _same_attributes(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return dict(a) == dict(b)


def _same_multiedges(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return {k: dict(v) for k, v in a.items()} == {k: dict(v) for k, v in b.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ecosystems())
def test_node_link_round_trip_is_isomorphic_with_the_same_attributes(eco: Ecosystem) -> None:
    G = build_graph(eco, as_of=date(2026, 11, 23))
    data = json.loads(json.dumps(to_node_link(G)))  # through real JSON text
    H = from_node_link(data)
    assert nx.is_isomorphic(G, H, node_match=_same_attributes, edge_match=_same_multiedges)
    assert nx.utils.graphs_equal(G, H)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ecosystems())
def test_graphml_reloads_with_networkx_and_keeps_attributes(
    tmp_path_factory: pytest.TempPathFactory, eco: Ecosystem
) -> None:
    G = build_graph(eco, as_of=date(2026, 11, 23))
    path = write_graphml(G, tmp_path_factory.mktemp("g") / "eco.graphml")
    H = read_graphml(path)
    assert set(H.nodes) == set(G.nodes)
    assert sorted(H.edges(keys=True)) == sorted(G.edges(keys=True))
    for node, attributes in G.nodes(data=True):
        for key, value in attributes.items():
            expected = ";".join(value) if isinstance(value, list) else value
            assert H.nodes[node][key] == expected


def test_graph_command_writes_both_formats(tmp_path: Path) -> None:
    inventory = tmp_path / "ecosystem.yaml"
    save_ecosystem(SMALL, inventory)
    runner = CliRunner()
    out_json = tmp_path / "g.json"
    result = runner.invoke(app, ["graph", "-i", str(inventory), "-o", str(out_json), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["edges"]["data_flow"] == 4
    assert nx.utils.graphs_equal(
        from_node_link(json.loads(out_json.read_text())), build_graph(SMALL)
    )
    out_graphml = tmp_path / "g.graphml"
    result = runner.invoke(
        app, ["graph", "-i", str(inventory), "-f", "graphml", "-o", str(out_graphml)]
    )
    assert result.exit_code == 0, result.output
    assert set(read_graphml(out_graphml).nodes) == set(build_graph(SMALL).nodes)
    bad = runner.invoke(app, ["graph", "-i", str(inventory), "-f", "png"])
    assert bad.exit_code == 2


def test_the_sample_district_has_every_kind_of_node_and_edge(tmp_path: Path) -> None:
    from edtech_map.inventory import load_ecosystem
    from edtech_map.samples import RIVERSIDE_YAML

    G = build_graph(load_ecosystem(RIVERSIDE_YAML))
    assert {kind for _, kind in G.nodes(data="kind")} == set(NODE_KINDS)
    assert {kind for _, _, kind in G.edges(data="kind")} == set(EDGE_KINDS)
    H = read_graphml(write_graphml(G, tmp_path / "riverside.graphml"))
    assert set(H.nodes) == set(G.nodes)
    assert H.number_of_edges() == G.number_of_edges()
