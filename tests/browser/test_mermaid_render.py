"""Mermaid text rendered by the real Mermaid library (npm ``mermaid``) in headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from edtech_map.graph import build_graph
from edtech_map.inventory import load_ecosystem
from edtech_map.render import to_mermaid
from edtech_map.samples import AS_OF, RIVERSIDE_YAML

MERMAID_JS = (
    Path(__file__).resolve().parent / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
)
BrowserPage = Any  # conftest.BrowserPage: a page with what it logged and requested

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not MERMAID_JS.exists(),
        reason=f"{MERMAID_JS} not found: run `npm install --prefix tests/browser` (make setup)",
    ),
]

RENDER = """async (text) => {
  mermaid.initialize({startOnLoad: false, securityLevel: "strict", maxEdges: 2000});
  await mermaid.parse(text);
  const {svg} = await mermaid.render("diagram" + Math.floor(Math.random() * 1e9), text);
  return svg;
}"""


@pytest.fixture
def mermaid_page(browser_page: BrowserPage, tmp_path: Path) -> BrowserPage:
    page = tmp_path / "mermaid.html"
    page.write_text(
        f'<!doctype html><meta charset="utf-8"><script src="{MERMAID_JS.as_uri()}"></script>',
        encoding="utf-8",
    )
    browser_page.page.goto(page.as_uri())
    assert browser_page.page.evaluate("typeof mermaid") == "object"
    return browser_page


def render(seen: BrowserPage, text: str) -> str:
    svg: Any = seen.page.evaluate(RENDER, text)
    assert isinstance(svg, str) and svg.startswith("<svg")
    assert not seen.page_errors and not seen.network
    return svg


@pytest.fixture(scope="module")
def G() -> nx.MultiDiGraph[str]:
    return build_graph(load_ecosystem(RIVERSIDE_YAML), as_of=AS_OF)


@pytest.mark.parametrize(
    "options",
    [
        {"only_flows": True},
        {"only_flows": True, "by": "school"},
        {"only_flows": True, "by": "task"},
        {"school": "cedar-ms", "by": "none"},
        {"focus": "rosterbridge", "depth": 1},
        {},  # the whole district: it fits (schools: all is one edge to the district)
        {"summary": True},
    ],
    ids=repr,
)
def test_sample_district_renders(mermaid_page: BrowserPage, G, options: dict[str, Any]) -> None:
    text = to_mermaid(G, **options)
    svg = render(mermaid_page, text)
    if options == {}:
        assert "summary" not in text.splitlines()[1]
        assert "Riverside Valley School District" in svg
    if options.get("summary"):
        assert "summary" in text.splitlines()[1]
        assert "Several schools" in svg
    if options.get("focus"):
        assert "RosterBridge" in svg


def test_hostile_labels_render(mermaid_page: BrowserPage) -> None:
    G: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    labels = {
        "end": 'Say "hi" [beta]',
        "graph": "A&B <script>alert(1)</script>",
        "click": "Ünïcødé — 数学 ✓",
        "subgraph": "pipes | braces {x} ; semi # hash `tick`",
        "style": "(parens) ((double)) >arrow] --> -.-> ==>",
    }
    for node, label in labels.items():
        G.add_node(node, kind="tool", label=label, category="assessment", dpa_status="signed")
    G.add_edge("end", "graph", key="f", kind="data_flow", student_pii=True)
    G.add_edge("click", "subgraph", key="sso", kind="sso")
    G.add_edge("style", "end", key="rosters", kind="rosters")
    svg = render(mermaid_page, to_mermaid(G, by="category"))
    assert "<script>" not in svg
    assert "Ünïcødé" in svg and "数学" in svg
