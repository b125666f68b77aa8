"""Graphviz diagrams: DOT text through the ``graphviz`` package; SVG and PNG through its binaries.

:func:`to_dot` writes every node and edge of the graph it is given (choose the part with
:func:`edtech_map.render.view.select`), clustered by school, category or learning task, with a
legend in the graph's label (so the legend adds no nodes). :func:`render` runs ``dot`` or
``sfdp`` with a timeout and size caps:

* up to :data:`DOT_MAX_NODES` nodes and :data:`DOT_MAX_EDGES` edges: ``dot`` (layered, clustered);
* up to :data:`SFDP_MAX_NODES` / :data:`SFDP_MAX_EDGES`: ``sfdp`` (force-directed, straight
  edges), which stays fast on thousands of nodes;
* beyond that, or when a layout times out: the summary (one node per category per school, with
  counts; :func:`edtech_map.render.view.summarise`), and a note saying so.

Examples
--------
>>> import networkx as nx
>>> G = nx.MultiDiGraph()
>>> G.add_node("sis", kind="tool", label="Pinnacle SIS", category="sis", dpa_status="signed",
...            dpa_in_force=True)
>>> G.add_node("mathly", kind="tool", label="Mathly", category="adaptive_practice")
>>> _ = G.add_edge("sis", "mathly", key="f1", kind="data_flow", student_pii=True)
>>> text = to_dot(G, by="none", legend=False)
>>> 'shape=cylinder' in text, '[no DPA]' in text, 'color="#c62828"' in text
(True, True, True)
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import networkx as nx

from edtech_map.render.view import (
    CATEGORY_STYLES,
    DISTRICT_STYLE,
    EDGE_STYLES,
    FLAGS,
    GROUP_STYLE,
    SCHOOL_STYLE,
    CategoryStyle,
    ClusterBy,
    DiagramError,
    cluster_of,
    edge_style,
    node_flags,
    summarise,
)

__all__ = [
    "DOT_MAX_EDGES",
    "DOT_MAX_NODES",
    "ENGINES",
    "SFDP_MAX_EDGES",
    "SFDP_MAX_NODES",
    "Engine",
    "ImageFormat",
    "Rendered",
    "choose_engine",
    "render",
    "run_graphviz",
    "to_dot",
]

logger = logging.getLogger(__name__)

Engine = Literal["dot", "sfdp", "osage"]
ENGINES: tuple[Engine, ...] = ("dot", "sfdp", "osage")
"""Layouts: ``dot`` layered, ``sfdp`` force-directed (big graphs), ``osage`` packed clusters."""
ImageFormat = Literal["svg", "png"]

DOT_MAX_NODES = 400
"""Above this many nodes, ``dot``'s layered layout gets slow: use ``sfdp``."""
DOT_MAX_EDGES = 1_500
"""Above this many edges, use ``sfdp``."""
SFDP_MAX_NODES = 5_000
"""Above this many nodes, draw the summary instead (one node per category per school)."""
SFDP_MAX_EDGES = 20_000
"""Above this many edges, draw the summary instead."""
DEFAULT_TIMEOUT = 30.0
"""Seconds a layout may take before :func:`render` falls back to the summary."""


@dataclass(frozen=True)
class Rendered:
    """An image and how it was made: the engine, whether it is the summary, and why.

    Examples
    --------
    >>> Rendered(b"<svg/>", "svg", "dot", summary=False).notes
    ()
    """

    data: bytes
    format: ImageFormat
    engine: Engine
    summary: bool
    notes: tuple[str, ...] = ()


def _html(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _node_style(data: Mapping[str, Any]) -> CategoryStyle:
    kind = data.get("kind")
    if kind == "school":
        return SCHOOL_STYLE
    if kind == "district":
        return DISTRICT_STYLE
    if kind == "group":
        return CATEGORY_STYLES.get(str(data.get("category")), GROUP_STYLE)
    return CATEGORY_STYLES.get(str(data.get("category", "other")), CATEGORY_STYLES["other"])


def _node_attributes(node: str, data: Mapping[str, Any]) -> dict[str, str]:
    style = _node_style(data)
    flags = node_flags(data)
    label = str(data.get("label", node))
    lines = [label]
    if data.get("kind") == "tool" and flags:
        lines.append(" ".join(FLAGS[flag].marker for flag in flags))
    styles = ["filled"]
    if style.shape == "box":
        styles.append("rounded")
    attributes = {
        "label": "\\n".join(line.replace("\\", "\\\\") for line in lines),
        "shape": style.shape,
        "fillcolor": style.fill,
        "id": f"node-{node}",
        "class": " ".join([str(data.get("kind", "node")), *(f"flag-{f}" for f in flags)]),
        "tooltip": f"{label} ({data.get('category', data.get('kind', ''))!s})",
    }
    if flags:
        first = FLAGS[flags[0]]
        attributes["color"] = first.color
        attributes["penwidth"] = "3" if first.style == "bold" else "2"
        styles.append(first.style)
    if "teacher_only" in flags:
        attributes["peripheries"] = "2"
    if data.get("kind") == "group":
        attributes["label"] = f"{data.get('school_label', '')}\\n{label}"
    attributes["style"] = ",".join(styles)
    return attributes


def _edge_attributes(data: Mapping[str, Any]) -> dict[str, str]:
    style = edge_style(data)
    attributes = {
        "color": style.color,
        "style": style.style,
        "penwidth": f"{style.penwidth:g}",
        "arrowhead": style.arrowhead,
        "class": f"edge-{data.get('kind', 'edge')}",
    }
    labels = []
    if data.get("kind") == "data_flow" and data.get("student_pii"):
        labels.append("PII")
    if data.get("count"):
        labels.append(f"x{data['count']}")
    if labels:
        attributes["label"] = " ".join(labels)
        attributes["fontcolor"] = style.color
    return attributes


def _legend(G: nx.MultiDiGraph[str]) -> str:
    """An HTML-like table for the graph label: shapes and fills, flags, line patterns."""
    categories = sorted(
        {str(d.get("category")) for _, d in G.nodes(data=True) if d.get("category")}
    )
    rows = ['<TR><TD COLSPAN="2"><B>Legend</B></TD></TR>']
    for category in categories:
        style = CATEGORY_STYLES.get(category, CATEGORY_STYLES["other"])
        rows.append(
            f'<TR><TD BGCOLOR="{style.fill}">{_html(style.shape)}</TD>'
            f'<TD ALIGN="LEFT">{_html(category.replace("_", " "))}</TD></TR>'
        )
    flags = {flag for _, d in G.nodes(data=True) for flag in node_flags(d)}
    for name, flag in FLAGS.items():
        if name in flags:
            rows.append(
                f'<TR><TD><FONT COLOR="{flag.color}">{_html(flag.marker)}</FONT></TD>'
                f'<TD ALIGN="LEFT">{_html(flag.meaning)} ({flag.style} border)</TD></TR>'
            )
    kinds = set()
    for _, _, d in G.edges(data=True):
        kinds.add(
            "pii_flow" if d.get("kind") == "data_flow" and d.get("student_pii") else d.get("kind")
        )
    patterns = {"solid": "--&gt;", "bold": "==&gt;", "dotted": "..&gt;", "dashed": "- -&gt;"}
    for kind, line in EDGE_STYLES.items():
        if kind in kinds:
            arrow = patterns.get(line.style, "---")
            rows.append(
                f'<TR><TD><FONT COLOR="{line.color}"><B>{arrow}</B></FONT></TD>'
                f'<TD ALIGN="LEFT">{_html(line.legend)}</TD></TR>'
            )
    return f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">{"".join(rows)}</TABLE>>'


def to_dot(
    G: nx.MultiDiGraph[str],
    *,
    by: ClusterBy = "category",
    legend: bool = True,
    title: str | None = None,
    engine: Engine = "dot",
) -> str:
    """DOT text with every node and edge of ``G``, clustered ``by`` school, category or task.

    Node shape and fill follow the tool category, a coloured bold or dashed border and a text
    marker (``[no DPA]``, ``[teacher-only]``, ``[unused]``) show flags; edge colour, line
    pattern and arrowhead follow the edge kind, and flows carrying student PII are bold red and
    labelled ``PII``. Node ids are the graph's ids, so the DOT can be read back.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("lms", kind="tool", label='Canopy "LMS"', category="lms", dpa_status="signed")
    >>> G.add_node("quiz", kind="tool", label="Quizzy", category="assessment",
    ...            dpa_status="not_required")
    >>> _ = G.add_edge("lms", "quiz", key="lti_launch", kind="lti_launch")
    >>> text = to_dot(G, legend=False)
    >>> "subgraph cluster_category_lms" in text, 'Canopy \\\\"LMS\\\\"' in text, "style=dashed" in text
    (True, True, True)
    """
    import graphviz

    dot = graphviz.Digraph(name=str(G.graph.get("district", "ecosystem")), engine=engine)
    dot.attr(rankdir="LR", fontname="Helvetica", fontsize="11", compound="true")
    if engine == "sfdp":
        # scale (not prism) removes overlaps 2-3x faster on 1,000 nodes: benchmarks/diagram.py
        dot.attr(splines="false", overlap="scale", outputorder="edgesfirst")
    elif engine == "osage":
        # clusters packed in a grid: a screen-shaped overview, where dot's ranks run long
        dot.attr(pack="30", outputorder="edgesfirst")
    dot.attr("node", fontname="Helvetica", fontsize="10")
    dot.attr("edge", fontname="Helvetica", fontsize="9")
    if legend:
        dot.attr(label=_legend(G), labelloc="b", labeljust="l")
    if title:
        dot.attr(tooltip=title)
    clusters: dict[tuple[str, str], list[str]] = defaultdict(list)
    loose: list[str] = []
    for node in sorted(G.nodes):
        cluster = cluster_of(G, node, by) if G.nodes[node].get("kind") != "group" else None
        if G.nodes[node].get("kind") == "group" and by != "none":
            school = str(G.nodes[node].get("school"))
            cluster = (f"school_{school}", str(G.nodes[node].get("school_label", school)))
        (clusters[cluster] if cluster else loose).append(node)
    for node in loose:
        dot.node(node, **_node_attributes(node, G.nodes[node]))
    for (cluster_id, cluster_label), nodes in sorted(clusters.items()):
        with dot.subgraph(name=f"cluster_{cluster_id}") as sub:
            sub.attr(label=cluster_label, style="rounded,dashed", color="#9e9e9e")
            sub.attr(id=f"cluster-{cluster_id}")
            for node in nodes:
                sub.node(node, **_node_attributes(node, G.nodes[node]))
    for u, v, _key, data in sorted(
        G.edges(keys=True, data=True), key=lambda e: (e[0], e[1], str(e[2]))
    ):
        dot.edge(u, v, **_edge_attributes(data))
    return str(dot.source)


def choose_engine(G: nx.MultiDiGraph[str]) -> tuple[Engine, bool]:
    """The layout engine for a graph of this size, and whether to draw the summary instead.

    Examples
    --------
    >>> choose_engine(nx.MultiDiGraph())
    ('dot', False)
    >>> G = nx.MultiDiGraph(); G.add_nodes_from(range(DOT_MAX_NODES + 1))
    >>> choose_engine(G)
    ('sfdp', False)
    """
    nodes, edges = G.number_of_nodes(), G.number_of_edges()
    if nodes <= DOT_MAX_NODES and edges <= DOT_MAX_EDGES:
        return "dot", False
    if nodes <= SFDP_MAX_NODES and edges <= SFDP_MAX_EDGES:
        return "sfdp", False
    return "dot", True


def run_graphviz(source: str, *, fmt: ImageFormat, engine: Engine, timeout: float) -> bytes:
    """Lay out and draw DOT text with a Graphviz binary; raise on a missing binary or error.

    ``subprocess.TimeoutExpired`` is raised as is when the layout takes longer than
    ``timeout`` seconds (the process is killed).

    Examples
    --------
    >>> run_graphviz("digraph { a -> b }", fmt="svg", engine="dot", timeout=10)[:5]
    b'<?xml'
    """
    binary = shutil.which(engine)
    if binary is None:
        raise DiagramError(
            f"Graphviz's {engine!r} program is not installed: install Graphviz (Debian: apt-get "
            "install graphviz), or ask for --format dot or mermaid, which need no Graphviz"
        )
    done = subprocess.run(
        [binary, f"-T{fmt}"],
        input=source.encode("utf-8"),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise DiagramError(f"Graphviz {engine} failed (exit {done.returncode}): {message}")
    return done.stdout


def render(
    G: nx.MultiDiGraph[str],
    *,
    fmt: ImageFormat = "svg",
    by: ClusterBy = "category",
    engine: Engine | None = None,
    summary: bool | None = None,
    legend: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    fallback_timeout: float = DEFAULT_TIMEOUT,
) -> Rendered:
    """Draw ``G`` as SVG or PNG, choosing the engine by size, falling back on a timeout.

    ``engine`` and ``summary`` override the size caps. When the layout takes longer than
    ``timeout`` seconds, the summary is drawn instead (with ``dot``, or ``sfdp`` when even the
    summary is large), allowed ``fallback_timeout`` seconds, and :attr:`Rendered.notes` says
    what happened.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("lms", kind="tool", label="Canopy LMS", category="lms")
    >>> out = render(G)
    >>> out.engine, out.summary, b"Canopy LMS" in out.data
    ('dot', False, True)
    >>> render(G, timeout=1e-6).notes[0]
    'the dot layout of 1 nodes and 0 edges took longer than 1e-06 s; drew the summary (one node per category per school) instead'
    """
    chosen, summarised = choose_engine(G)
    notes: list[str] = []
    if engine is not None:
        chosen = engine
    if summary is not None:
        summarised = summary
    elif summarised:
        notes.append(
            f"{G.number_of_nodes()} nodes and {G.number_of_edges()} edges are too many to draw "
            "whole; drew the summary (one node per category per school) instead"
        )
    drawn = summarise(G) if summarised else G
    if summarised:
        chosen = engine or choose_engine(drawn)[0]
    logger.info("drawing %d nodes with %s as %s", drawn.number_of_nodes(), chosen, fmt)
    source = to_dot(drawn, by=by if not summarised else "school", legend=legend, engine=chosen)
    try:
        data = run_graphviz(source, fmt=fmt, engine=chosen, timeout=timeout)
    except subprocess.TimeoutExpired:
        if summarised:
            raise DiagramError(
                f"the {chosen} layout of the summary took longer than {timeout:g} s; give a "
                "longer timeout, or draw one school (--school) or one tool (--focus)"
            ) from None
        note = (
            f"the {chosen} layout of {G.number_of_nodes()} nodes and {G.number_of_edges()} edges "
            f"took longer than {timeout:g} s; drew the summary (one node per category per "
            "school) instead"
        )
        logger.warning("%s", note)
        fallback = render(G, fmt=fmt, summary=True, legend=legend, timeout=fallback_timeout)
        return Rendered(fallback.data, fmt, fallback.engine, True, (*notes, note))
    return Rendered(data, fmt, chosen, summarised, tuple(notes))
