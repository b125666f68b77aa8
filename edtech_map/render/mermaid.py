"""Mermaid flowcharts that render in GitHub and GitLab Markdown.

Node ids are generated (``n0``, ``n1`` ...), so no inventory id can clash with Mermaid's
keywords or syntax; labels are always quoted, with every character that could end or change a
label written as a Mermaid entity code (``#34;`` for a double quote). Clusters become
``subgraph`` blocks. Graphs larger than :data:`MAX_NODES` nodes or :data:`MAX_EDGES` edges are
drawn as the summary (one node per category per school), because GitHub refuses diagrams past
a text or edge limit.

Examples
--------
>>> import networkx as nx
>>> G = nx.MultiDiGraph()
>>> G.add_node("end", kind="tool", label='Say "hi" [beta]', category="lms")
>>> print(to_mermaid(G, by="none", legend=False))
flowchart LR
  n0[["Say #34;hi#34; #91;beta#93;<br/>#91;no DPA#93;"]]
  class n0 cat_lms
  class n0 flag_no_dpa
  classDef cat_lms fill:#fbe7c6,stroke:#333,color:#000
  classDef flag_no_dpa stroke:#c62828,stroke-width:3px
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import networkx as nx

from edtech_map.render.view import (
    CATEGORY_STYLES,
    DISTRICT_STYLE,
    FLAGS,
    GROUP_STYLE,
    SCHOOL_STYLE,
    CategoryStyle,
    ClusterBy,
    cluster_of,
    edge_style,
    node_flags,
    summarise,
)

__all__ = ["MAX_EDGES", "MAX_NODES", "MAX_TEXT", "escape", "to_mermaid"]

MAX_NODES = 200
"""More nodes than this: draw the summary instead."""
MAX_EDGES = 450
"""More edges than this: draw the summary (GitHub's Mermaid stops at 500 edges)."""
MAX_TEXT = 45_000
"""More characters than this: draw the summary (GitHub's Mermaid stops at 50,000)."""

_SAFE = frozenset(" .,:-_()/'+*!?=@%$")


def escape(text: str) -> str:
    """A label safe inside Mermaid's double quotes: anything but letters, digits and plain
    punctuation becomes an entity code (``#34;``); letters of any script stay as they are.

    Examples
    --------
    >>> escape('Ärzte "A&B" <x> [1]; #2 {c} |d| `e`')
    'Ärzte #34;A#38;B#34; #60;x#62; #91;1#93;#59; #35;2 #123;c#125; #124;d#124; #96;e#96;'
    >>> escape("two\\nlines")
    'two<br/>lines'
    """
    out = []
    for char in text:
        if char == "\n":
            out.append("<br/>")
        elif char.isalnum() or char in _SAFE:
            out.append(char)
        elif char.isspace():
            out.append(" ")
        else:
            out.append(f"#{ord(char)};")
    return "".join(out)


def _style(data: dict[str, Any]) -> tuple[CategoryStyle, str]:
    kind = data.get("kind")
    if kind == "school":
        return SCHOOL_STYLE, "kind_school"
    if kind == "district":
        return DISTRICT_STYLE, "kind_district"
    category = str(data.get("category", "other"))
    default = GROUP_STYLE if kind == "group" else CATEGORY_STYLES["other"]
    return CATEGORY_STYLES.get(category, default), f"cat_{category}"


def _label(node: str, data: dict[str, Any]) -> str:
    label = str(data.get("label", node))
    if data.get("kind") == "group":
        return f"{data.get('school_label', '')}\n{label}"
    flags = node_flags(data)
    if flags:
        return f"{label}\n{' '.join(FLAGS[flag].marker for flag in flags)}"
    return label


def _too_big(G: nx.MultiDiGraph[str]) -> bool:
    return G.number_of_nodes() > MAX_NODES or G.number_of_edges() > MAX_EDGES


def to_mermaid(
    G: nx.MultiDiGraph[str],
    *,
    by: ClusterBy = "category",
    legend: bool = True,
    summary: bool | None = None,
    direction: str = "LR",
) -> str:
    """Mermaid ``flowchart`` text for ``G``: shapes by category, line patterns by edge kind.

    Flows carrying student PII are thick (``==>``) and labelled ``PII``, SSO and LTI links
    dotted, rostering links end in a circle; flagged tools carry a text marker and a class
    (``flag_no_dpa`` ...) with a coloured border. ``summary`` forces (``True``) or forbids
    (``False``) the summary; by default it is drawn when the graph is over the size limits.
    ``legend`` adds ``%%`` comment lines saying what each line pattern means.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("sis", kind="tool", label="SIS", category="sis", dpa_status="signed")
    >>> G.add_node("app", kind="tool", label="App", category="content", dpa_status="signed")
    >>> _ = G.add_edge("sis", "app", key="f", kind="data_flow", student_pii=True)
    >>> lines = to_mermaid(G, by="none", legend=False).splitlines()
    >>> lines[1:4]
    ['  n0["App"]', '  n1[("SIS")]', '  n1 ==>|"PII"| n0']
    """
    drawn = summarise(G) if (summary if summary is not None else _too_big(G)) else G
    if drawn.graph.get("summary"):
        by = "school"
    ids = {node: f"n{index}" for index, node in enumerate(sorted(drawn.nodes))}
    lines = [f"flowchart {direction}"]
    if drawn.graph.get("summary") and drawn is not G:
        lines.append(f"  %% summary: {G.number_of_nodes()} nodes, one per tool category per school")
    clusters: dict[tuple[str, str], list[str]] = defaultdict(list)
    loose: list[str] = []
    classes: dict[str, list[str]] = defaultdict(list)
    declared: dict[str, CategoryStyle] = {}
    for node in sorted(drawn.nodes):
        data = dict(drawn.nodes[node])
        cluster: tuple[str, str] | None = cluster_of(drawn, node, by)
        if data.get("kind") == "group":
            school = str(data.get("school"))
            cluster = (f"school_{school}", str(data.get("school_label", school)))
        (clusters[cluster] if cluster else loose).append(node)
        node_style, css = _style(data)
        declared[css] = node_style
        classes[css].append(ids[node])
        for flag in node_flags(data):
            classes[f"flag_{flag}"].append(ids[node])

    def declare(node: str, indent: str) -> str:
        data = dict(drawn.nodes[node])
        opening, closing = _style(data)[0].mermaid
        return f'{indent}{ids[node]}{opening}"{escape(_label(node, data))}"{closing}'

    lines.extend(declare(node, "  ") for node in loose)
    for index, ((_, label), nodes) in enumerate(sorted(clusters.items())):
        lines.append(f'  subgraph c{index}["{escape(label)}"]')
        lines.extend(declare(node, "    ") for node in nodes)
        lines.append("  end")
    link_styles: dict[str, list[int]] = defaultdict(list)
    edges = sorted(drawn.edges(keys=True, data=True), key=lambda e: (e[0], e[1], str(e[2])))
    for index, (u, v, _key, data) in enumerate(edges):
        line = edge_style(data)
        text = []
        if data.get("kind") == "data_flow" and data.get("student_pii"):
            text.append("PII")
        if data.get("count"):
            text.append(f"x{data['count']}")
        label = f'|"{escape(" ".join(text))}"|' if text else ""
        lines.append(f"  {ids[u]} {line.mermaid}{label} {ids[v]}")
        link_styles[f"stroke:{line.color},stroke-width:{line.penwidth:g}px"].append(index)
    for css, members in sorted(classes.items()):
        lines.append(f"  class {','.join(members)} {css}")
    for css, fill in sorted((css, style.fill) for css, style in declared.items()):
        lines.append(f"  classDef {css} fill:{fill},stroke:#333,color:#000")
    for name, spec in FLAGS.items():
        if f"flag_{name}" in classes:
            dash = ",stroke-dasharray:5 3" if spec.style == "dashed" else ""
            lines.append(f"  classDef flag_{name} stroke:{spec.color},stroke-width:3px{dash}")
    for css, indexes in sorted(link_styles.items()):
        lines.append(f"  linkStyle {','.join(map(str, indexes))} {css}")
    if legend:
        lines.append("  %% legend: shape and fill = tool category; text marker = flag")
        used = {edge_style(data).legend: edge_style(data).mermaid for *_, data in edges}
        lines.extend(f"  %% {arrow} {meaning}" for meaning, arrow in sorted(used.items()))
    return "\n".join(lines)
