"""DOT, SVG and PNG diagrams: read back through Graphviz itself, never by string matching alone."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import date
from pathlib import Path

import networkx as nx
import pytest
from typer.testing import CliRunner

from edtech_map.analyses import AuditResult, Finding
from edtech_map.cli import app
from edtech_map.graph import build_graph, nodes_of_kind, read_graphml, tools_at
from edtech_map.inventory import load_ecosystem
from edtech_map.render import dot as dot_module
from edtech_map.render import render_image, to_dot, to_png, to_svg
from edtech_map.render.view import (
    DiagramError,
    node_flags,
    select,
    summarise,
    with_findings,
)
from edtech_map.samples import AS_OF, RIVERSIDE_YAML

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None or shutil.which("sfdp") is None,
    reason="Graphviz binaries (dot, sfdp) not installed: apt-get install graphviz (make setup)",
)
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def G() -> nx.MultiDiGraph[str]:
    return build_graph(load_ecosystem(RIVERSIDE_YAML), as_of=AS_OF)


def parse_dot(text: str) -> tuple[set[str], Counter[tuple[str, str]], list[dict[str, object]]]:
    """Nodes, edges (as a multiset) and subgraphs, as Graphviz itself reads the DOT."""
    done = subprocess.run(
        ["dot", "-Tjson"], input=text.encode(), capture_output=True, check=True, timeout=60
    )
    data = json.loads(done.stdout)
    count = data.get("_subgraph_cnt", 0)
    objects = data.get("objects", [])
    nodes = [obj for obj in objects[count:]]
    names = {str(obj["_gvid"]): str(obj["name"]) for obj in nodes}
    edges = Counter((names[str(e["tail"])], names[str(e["head"])]) for e in data.get("edges", []))
    return set(names.values()), edges, objects[:count]


def graph_edges(G: nx.MultiDiGraph[str]) -> Counter[tuple[str, str]]:
    return Counter((u, v) for u, v in G.edges())


def svg_text(svg: str) -> str:
    root = ET.fromstring(svg.encode())
    return "\n".join("".join(node.itertext()) for node in root.iter(f"{SVG}text"))


@needs_dot
@pytest.mark.parametrize("by", ["category", "school", "task", "none"])
def test_dot_reads_back_with_exactly_the_graphs_nodes_and_edges(G, by) -> None:
    nodes, edges, clusters = parse_dot(to_dot(G, by=by))
    assert nodes == set(G.nodes)
    assert edges == graph_edges(G)
    if by == "none":
        assert clusters == []
    else:
        assert len(clusters) >= 3


@needs_dot
def test_selected_part_reads_back_exactly(G) -> None:
    part = select(G, focus="canopy-lms", depth=1, only_flows=True)
    nodes, edges, _ = parse_dot(to_dot(G, focus="canopy-lms", depth=1, only_flows=True))
    assert nodes == set(part.nodes)
    assert edges == graph_edges(part)
    assert "canopy-lms" in nodes
    assert not {n for n in nodes if G.nodes[n]["kind"] == "school"}


@needs_dot
def test_svg_has_every_tool_label(G) -> None:
    svg = to_svg(G, by="school")
    text = svg_text(svg)
    labels = {G.nodes[t]["label"] for t in nodes_of_kind(G, "tool")}
    assert len(labels) >= 60
    assert {label for label in labels if label not in text} == set()
    assert 'class="node tool' in svg


@needs_dot
def test_osage_packs_clusters_into_a_screen_shaped_svg(G) -> None:
    out = render_image(G, only_flows=True, engine="osage")
    assert out.engine == "osage" and not out.summary
    root = ET.fromstring(out.data)
    width, height = (float(x) for x in root.attrib["viewBox"].split()[2:])
    assert 0.5 < width / height < 4  # dot's ranks make this sample 1:5 tall
    text = svg_text(out.data.decode())
    tools = {G.nodes[t]["label"] for t in select(G, only_flows=True)}
    assert {label for label in tools if label not in text} == set()


@needs_dot
def test_png_is_a_png(G) -> None:
    assert to_png(G, school="bridgeway-hs")[:8] == b"\x89PNG\r\n\x1a\n"


def test_select_school_focus_and_flows(G) -> None:
    at_school = select(G, school="cedar-ms")
    tools = set(at_school.nodes) - {"cedar-ms"}
    expected = set(tools_at(G, "cedar-ms"))  # listed for it, and used at every school
    assert tools == expected
    assert {u for u, v, k in at_school.edges(data="kind") if k == "used_at"} == expected
    assert {u for u, v, k in G.edges(data="kind") if v == "cedar-ms" and k == "used_at"} < tools
    assert {k for *_, k in at_school.edges(data="kind")} <= {
        "used_at",
        "data_flow",
        "rosters",
        "sso",
        "lti_launch",
    }
    flows = select(G, only_flows=True)
    assert {k for *_, k in flows.edges(data="kind")} == {
        "data_flow",
        "rosters",
        "sso",
        "lti_launch",
    }
    assert not [n for n in flows if flows.degree(n) == 0]
    near = select(G, focus="rosterbridge", depth=1, only_flows=True)
    direct = {v for _, v, k in G.out_edges("rosterbridge", data="kind") if k != "used_at"} | {
        u for u, _, k in G.in_edges("rosterbridge", data="kind") if k != "used_at"
    }
    assert set(near.nodes) == direct | {"rosterbridge"}
    assert set(select(G, focus="rosterbridge", depth=0).nodes) == {"rosterbridge"}
    with pytest.raises(DiagramError, match="no school 'atlantis'"):
        select(G, school="atlantis")
    with pytest.raises(DiagramError, match="unknown edge kinds"):
        select(G, kinds=["teleports"])


def test_flags_and_styles_carry_text_as_well_as_colour(G) -> None:
    finding = Finding(
        rule_id="EM-TCH-001",
        severity="warning",
        subjects=("mathly",),
        message="Mathly is for students, but they had 2 of 90 sessions.",
        recommendation="Check rostering.",
    )
    flagged = with_findings(G, AuditResult(as_of=AS_OF, findings=(finding,)))
    assert "teacher_only" in node_flags(flagged.nodes["mathly"])
    assert "findings" not in G.nodes["mathly"]  # G itself is not changed
    text = to_dot(flagged, by="none")
    mathly = next(line for line in text.splitlines() if line.strip().startswith("mathly "))
    assert "[teacher-only]" in mathly and "peripheries=2" in mathly
    no_dpa = [t for t in nodes_of_kind(G, "tool") if "no_dpa" in node_flags(G.nodes[t])]
    assert no_dpa, "the sample plants tools without a DPA"
    for tool in no_dpa:
        line = next(x for x in text.splitlines() if x.strip().startswith(f"{tool} ["))
        assert "[no DPA]" in line
    pii = [line for line in text.splitlines() if "->" in line and "PII" in line]
    assert pii and all('color="#c62828"' in line and "style=bold" in line for line in pii)
    assert "Legend" in text and "data flow WITH student PII" in text


def test_summary_counts_every_tool_once(G) -> None:
    summary = summarise(G)
    assert sum(summary.nodes[n]["tools"] for n in summary) == len(nodes_of_kind(G, "tool"))
    assert {summary.nodes[n]["kind"] for n in summary} == {"group"}
    flows = sum(
        1 for u, v, k in G.edges(data="kind") if k in {"data_flow", "rosters", "sso", "lti_launch"}
    )
    assert sum(d["count"] for *_, d in summary.edges(data=True)) == flows


def big_graph(tools: int, *, schools: int = 40) -> nx.MultiDiGraph[str]:
    G: nx.MultiDiGraph[str] = nx.MultiDiGraph(district="d")
    for s in range(schools):
        G.add_node(f"s{s}", kind="school", label=f"School {s}")
    for t in range(tools):
        G.add_node(f"t{t}", kind="tool", label=f"Tool {t}", category="content")
        G.add_edge(f"t{t}", f"s{t % schools}", key="used_at", kind="used_at")
    return G


def test_size_caps_pick_sfdp_then_the_summary() -> None:
    assert dot_module.choose_engine(big_graph(100)) == ("dot", False)
    assert dot_module.choose_engine(big_graph(1000)) == ("sfdp", False)
    assert dot_module.choose_engine(big_graph(dot_module.SFDP_MAX_NODES + 1)) == ("dot", True)


@needs_dot
def test_graph_over_the_caps_is_drawn_as_the_summary() -> None:
    G = big_graph(dot_module.SFDP_MAX_NODES + 1)
    out = render_image(G)
    assert out.summary and out.engine == "dot"
    assert "too many to draw whole" in out.notes[0]
    assert "content: 126 tools" in svg_text(out.data.decode())


@needs_dot
def test_layout_timeout_falls_back_to_the_summary_with_a_message(G) -> None:
    out = render_image(G, timeout=1e-4)
    assert out.summary
    assert "took longer than 0.0001 s" in out.notes[-1]
    assert "summary" in out.notes[-1]
    assert "Several schools" in svg_text(out.data.decode())


@needs_dot
def test_summary_that_times_out_too_raises_a_clear_error(G) -> None:
    with pytest.raises(DiagramError, match="--school"):
        dot_module.render(G, summary=True, timeout=1e-4)


def test_missing_graphviz_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setattr(dot_module.shutil, "which", lambda name: None)
    with pytest.raises(DiagramError, match="apt-get install graphviz"):
        dot_module.run_graphviz("digraph {}", fmt="svg", engine="dot", timeout=5)


# ------------------------------------------------------------------------------- the CLI


@needs_dot
@pytest.mark.parametrize("fmt", ["dot", "svg", "png", "mermaid", "graphml"])
def test_cli_writes_each_format(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"out.{fmt}"
    args = ["diagram", "-i", str(RIVERSIDE_YAML), "-f", fmt, "--as-of", "2026-11-23"]
    result = CliRunner().invoke(
        app, [*args, "--by", "school", "--school", "bridgeway-hs", "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    data = target.read_bytes()
    starts = {"dot": b"digraph", "svg": b"<?xml", "png": b"\x89PNG", "mermaid": b"flowchart"}
    if fmt == "graphml":
        G = build_graph(load_ecosystem(RIVERSIDE_YAML), as_of=date(2026, 11, 23))
        assert set(read_graphml(target).nodes) == set(select(G, school="bridgeway-hs").nodes)
    else:
        assert data.startswith(starts[fmt])


def test_cli_focus_with_only_flows_to_stdout() -> None:
    args = ["diagram", "-i", str(RIVERSIDE_YAML), "-f", "dot", "--focus", "canopy-lms"]
    result = CliRunner().invoke(app, [*args, "--only-flows", "--depth", "1"])
    assert result.exit_code == 0, result.output
    assert "canopy-lms" in result.output
    assert "lincoln-es" not in result.output  # no schools when only flows are drawn


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "jpeg"], "--format 'jpeg' is not known"),
        (["--by", "colour"], "--by 'colour' is not known"),
        (["--engine", "neato"], "--engine 'neato' is not known"),
        (["--school", "atlantis"], "no school 'atlantis'"),
        (["--focus", "nope"], "no tool 'nope'"),
        (["--as-of", "yesterday"], "not a date"),
    ],
)
def test_cli_usage_errors_exit_2(extra: list[str], message: str) -> None:
    args = ["diagram", "-i", str(RIVERSIDE_YAML), "-f", "dot", *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_missing_inventory_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["diagram", "-i", str(tmp_path / "nope.yaml"), "-f", "dot"])
    assert result.exit_code == 2
