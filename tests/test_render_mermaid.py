"""Mermaid text: valid ids, escaped labels, balanced subgraphs, the size limit and summary."""

from __future__ import annotations

import re
from collections import Counter

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edtech_map.graph import build_graph, nodes_of_kind, schools_of
from edtech_map.inventory import load_ecosystem
from edtech_map.render import mermaid as mermaid_module
from edtech_map.render import to_mermaid
from edtech_map.render.mermaid import escape
from edtech_map.samples import AS_OF, RIVERSIDE_YAML

NODE = re.compile(r'^\s+(n\d+)(\[\[|\[\(|\[/|\[\\|\(\(\(|\(\[|\(\(|\{\{|\[|\(|\{|>)"([^"]*)"')
EDGE = re.compile(r'^\s+(n\d+) (-->|==>|--o|-\.->|---)(\|"[^"]*"\|)? (n\d+)$')
ENTITY = re.compile(r"#(\d+);")


@pytest.fixture(scope="module")
def G() -> nx.MultiDiGraph[str]:
    return build_graph(load_ecosystem(RIVERSIDE_YAML), as_of=AS_OF)


def parse(text: str) -> tuple[dict[str, str], Counter[tuple[str, str]]]:
    nodes: dict[str, str] = {}
    edges: Counter[tuple[str, str]] = Counter()
    depth = 0
    for line in text.splitlines()[1:]:
        if line.strip().startswith("subgraph "):
            depth += 1
        elif line.strip() == "end":
            depth -= 1
            assert depth >= 0
        elif match := NODE.match(line):
            assert match.group(1) not in nodes, f"{match.group(1)} declared twice"
            nodes[match.group(1)] = match.group(3)
        elif match := EDGE.match(line):
            edges[match.group(1), match.group(4)] += 1
        else:
            assert re.match(r"^\s+(class |classDef |linkStyle |%%)", line), line
    assert depth == 0
    return nodes, edges


def unescape(label: str) -> str:
    return ENTITY.sub(lambda m: chr(int(m.group(1))), label.replace("<br/>", "\n"))


@pytest.mark.parametrize("by", ["category", "school", "task", "none"])
def test_every_node_and_edge_once_with_its_label(G, by) -> None:
    text = to_mermaid(G, by=by, only_flows=True)
    nodes, edges = parse(text)
    flows = [(u, v) for u, v, k in G.edges(data="kind") if k != "used_at" and k != "part_of"]
    drawn = {n for edge in flows for n in edge}
    assert len(nodes) == len(drawn)
    assert sum(edges.values()) == len(flows)
    labels = {unescape(label).split("\n")[0] for label in nodes.values()}
    assert labels == {G.nodes[n]["label"] for n in drawn}


def test_ids_never_come_from_inventory_ids(G) -> None:
    text = to_mermaid(G, school="cedar-ms")
    assert "cedar-ms" not in text
    assert "canopy-lms" not in text


def test_the_sample_district_fits_whole(G) -> None:
    # Tools used at every school have one edge to the district, not one per school.
    assert G.number_of_edges() <= mermaid_module.MAX_EDGES
    text = to_mermaid(G)
    assert "summary" not in text.splitlines()[1]
    assert len(parse(text)[0]) == G.number_of_nodes()


def test_district_over_the_limit_is_drawn_as_the_summary(G) -> None:
    crowded = G.copy()  # the sample with every district-wide tool also listed at each school
    for tool in nodes_of_kind(G, "tool"):
        for school in schools_of(G, tool):
            crowded.add_edge(tool, school, key="used_at", kind="used_at")
    assert crowded.number_of_edges() > mermaid_module.MAX_EDGES
    text = to_mermaid(crowded)
    nodes, _ = parse(text)
    assert "summary" in text.splitlines()[1]
    assert len(nodes) < 120
    tools = len(nodes_of_kind(crowded, "tool"))
    counted = sum(int(re.search(r": (\d+) tools?", unescape(x)).group(1)) for x in nodes.values())
    assert counted == tools
    full = to_mermaid(crowded, summary=False)
    assert len(parse(full)[0]) == crowded.number_of_nodes()


def test_pii_flows_are_thick_and_labelled(G) -> None:
    text = to_mermaid(G, only_flows=True, by="none")
    pii = sum(1 for *_, d in G.edges(data=True) if d["kind"] == "data_flow" and d["student_pii"])
    assert pii > 0
    assert text.count('==>|"PII"|') == pii


def test_flags_show_as_text_and_class(G) -> None:
    text = to_mermaid(G, only_flows=True)
    assert "#91;no DPA#93;" in text
    assert re.search(r"^  class [n\d,]+ flag_no_dpa$", text, re.M)


@given(st.text(max_size=40))
def test_escape_keeps_labels_inside_the_quotes(label: str) -> None:
    escaped = escape(label)
    bare = ENTITY.sub("", escaped.replace("<br/>", ""))
    assert not set(bare) & set('"[]{}|<>;#`&\n\r\t')
    if not any(c.isspace() and c != " " for c in label):
        assert unescape(escaped.replace("<br/>", "\n")) == label


@st.composite
def small_graphs(draw: st.DrawFn) -> nx.MultiDiGraph[str]:
    G: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    count = draw(st.integers(min_value=1, max_value=8))
    categories = st.sampled_from(["lms", "sis", "content", "assessment", "nonsense"])
    for index in range(count):
        G.add_node(
            f"t{index}",
            kind="tool",
            label=draw(st.text(min_size=1, max_size=20)),
            category=draw(categories),
            learning_tasks=draw(st.lists(st.sampled_from(["practice", "grading"]), max_size=2)),
            dpa_status=draw(st.sampled_from(["signed", "missing"])),
        )
    kinds = st.sampled_from(["data_flow", "rosters", "sso", "lti_launch"])
    for u, v, kind, pii in draw(
        st.lists(
            st.tuples(st.integers(0, count - 1), st.integers(0, count - 1), kinds, st.booleans()),
            max_size=12,
        )
    ):
        G.add_edge(f"t{u}", f"t{v}", kind=kind, student_pii=pii)
    return G


@given(small_graphs(), st.sampled_from(["category", "task", "none"]))
def test_any_graph_gives_well_formed_mermaid(G: nx.MultiDiGraph[str], by: str) -> None:
    nodes, edges = parse(to_mermaid(G, by=by))  # type: ignore[arg-type]
    assert len(nodes) == G.number_of_nodes()
    assert sum(edges.values()) == G.number_of_edges()
    drawn = sorted(" ".join(unescape(x).removesuffix("\n[no DPA]").split()) for x in nodes.values())
    expected = sorted(" ".join(str(G.nodes[n]["label"]).split()) for n in G)
    assert drawn == expected
