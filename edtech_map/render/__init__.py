"""Diagrams and the HTML report: DOT, SVG, PNG, Mermaid, GraphML and one self-contained page.

Each diagram function takes the ecosystem graph (``G``, from
:func:`edtech_map.graph.build_graph`) and the same options: which part to draw (``school``,
``focus`` and ``depth``, ``only_flows``), how to cluster it (``by``), and the audit whose
findings flag tools. ``G`` is never changed. :func:`report` writes the HTML report.

Examples
--------
>>> from edtech_map.graph import build_graph
>>> from edtech_map.inventory import load_ecosystem
>>> from edtech_map.samples import AS_OF, RIVERSIDE_YAML
>>> G = build_graph(load_ecosystem(RIVERSIDE_YAML), as_of=AS_OF)
>>> to_mermaid(G, focus="canopy-lms", depth=1, only_flows=True).splitlines()[0]
'flowchart LR'
>>> "Canopy LMS" in to_svg(G, school="cedar-ms", by="category")
True
"""

from __future__ import annotations

import os
from pathlib import Path

import networkx as nx

from edtech_map.analyses.findings import AuditResult
from edtech_map.graph import write_graphml
from edtech_map.render import dot as _dot
from edtech_map.render import mermaid as _mermaid
from edtech_map.render.dot import Rendered
from edtech_map.render.html import build_context, render_report, report
from edtech_map.render.view import CLUSTER_BY, ClusterBy, DiagramError, select, with_findings

__all__ = [
    "CLUSTER_BY",
    "ClusterBy",
    "DiagramError",
    "Rendered",
    "build_context",
    "diagram_graph",
    "render_image",
    "render_report",
    "report",
    "to_dot",
    "to_graphml",
    "to_mermaid",
    "to_png",
    "to_svg",
]


def diagram_graph(
    G: nx.MultiDiGraph[str],
    *,
    school: str | None = None,
    focus: str | None = None,
    depth: int = 1,
    only_flows: bool = False,
    audit: AuditResult | None = None,
) -> nx.MultiDiGraph[str]:
    """The graph a diagram draws: the selected part of ``G``, with the audit's rule ids on nodes.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge("sis", "app", key="f", kind="data_flow")
    >>> G.add_node("other", kind="tool")
    >>> sorted(diagram_graph(G, focus="sis").nodes)
    ['app', 'sis']
    """
    part = select(G, school=school, focus=focus, depth=depth, only_flows=only_flows)
    return with_findings(part, audit)


def to_dot(
    G: nx.MultiDiGraph[str],
    *,
    by: ClusterBy = "category",
    school: str | None = None,
    focus: str | None = None,
    depth: int = 1,
    only_flows: bool = False,
    audit: AuditResult | None = None,
    legend: bool = True,
) -> str:
    """Graphviz DOT text (see :func:`edtech_map.render.dot.to_dot`).

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("lms", kind="tool", label="Canopy LMS", category="lms")
    >>> to_dot(G).startswith("digraph")
    True
    """
    part = diagram_graph(
        G, school=school, focus=focus, depth=depth, only_flows=only_flows, audit=audit
    )
    return _dot.to_dot(part, by=by, legend=legend)


def render_image(
    G: nx.MultiDiGraph[str],
    *,
    fmt: _dot.ImageFormat = "svg",
    by: ClusterBy = "category",
    school: str | None = None,
    focus: str | None = None,
    depth: int = 1,
    only_flows: bool = False,
    audit: AuditResult | None = None,
    timeout: float = _dot.DEFAULT_TIMEOUT,
    engine: _dot.Engine | None = None,
) -> Rendered:
    """SVG or PNG bytes with the engine used and any fallback notes (see :func:`.dot.render`).

    ``engine`` (``dot``, ``sfdp`` or ``osage``) overrides the choice by size.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("lms", kind="tool", label="Canopy LMS", category="lms")
    >>> render_image(G, fmt="png").data[:4]
    b'\\x89PNG'
    """
    part = diagram_graph(
        G, school=school, focus=focus, depth=depth, only_flows=only_flows, audit=audit
    )
    return _dot.render(part, fmt=fmt, by=by, timeout=timeout, engine=engine)


def to_svg(
    G: nx.MultiDiGraph[str],
    *,
    by: ClusterBy = "category",
    school: str | None = None,
    focus: str | None = None,
    depth: int = 1,
    only_flows: bool = False,
    audit: AuditResult | None = None,
    timeout: float = _dot.DEFAULT_TIMEOUT,
) -> str:
    """An SVG document (needs Graphviz's binaries); large graphs use ``sfdp`` or the summary.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("lms", kind="tool", label="Canopy LMS", category="lms")
    >>> "<svg" in to_svg(G)
    True
    """
    rendered = render_image(
        G,
        fmt="svg",
        by=by,
        school=school,
        focus=focus,
        depth=depth,
        only_flows=only_flows,
        audit=audit,
        timeout=timeout,
    )
    return rendered.data.decode("utf-8")


def to_png(
    G: nx.MultiDiGraph[str],
    *,
    by: ClusterBy = "category",
    school: str | None = None,
    focus: str | None = None,
    depth: int = 1,
    only_flows: bool = False,
    audit: AuditResult | None = None,
    timeout: float = _dot.DEFAULT_TIMEOUT,
) -> bytes:
    """A PNG image (needs Graphviz's binaries).

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("lms", kind="tool", label="Canopy LMS", category="lms")
    >>> to_png(G)[1:4]
    b'PNG'
    """
    return render_image(
        G,
        fmt="png",
        by=by,
        school=school,
        focus=focus,
        depth=depth,
        only_flows=only_flows,
        audit=audit,
        timeout=timeout,
    ).data


def to_mermaid(
    G: nx.MultiDiGraph[str],
    *,
    by: ClusterBy = "category",
    school: str | None = None,
    focus: str | None = None,
    depth: int = 1,
    only_flows: bool = False,
    audit: AuditResult | None = None,
    summary: bool | None = None,
) -> str:
    """Mermaid flowchart text (see :func:`edtech_map.render.mermaid.to_mermaid`).

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("lms", kind="tool", label="Canopy LMS", category="lms", dpa_status="signed")
    >>> to_mermaid(G).splitlines()[:3]
    ['flowchart LR', '  subgraph c0["lms"]', '    n0[["Canopy LMS"]]']
    """
    part = diagram_graph(
        G, school=school, focus=focus, depth=depth, only_flows=only_flows, audit=audit
    )
    return _mermaid.to_mermaid(part, by=by, summary=summary)


def to_graphml(G: nx.MultiDiGraph[str], path: str | os.PathLike[str]) -> Path:
    """GraphML for Gephi or yEd (:func:`edtech_map.graph.write_graphml`).

    Examples
    --------
    >>> import tempfile
    >>> to_graphml(nx.MultiDiGraph(), Path(tempfile.mkdtemp()) / "g.graphml").suffix
    '.graphml'
    """
    return write_graphml(G, path)
