"""What a diagram shows: the part of the graph to draw, its clusters, flags and styles.

DOT, Mermaid and the HTML report draw the same picture, so they share this module: which
nodes and edges to keep (:func:`select`), the one-node-per-category-per-school summary for
graphs too large to draw whole (:func:`summarise`), which cluster a node goes in
(:func:`cluster_of`), what is wrong with a tool (:func:`node_flags`), and how each category,
flag and edge kind looks. Colour is never the only signal: every category has a shape, every
flag a text marker, every edge kind a line pattern.

Examples
--------
>>> import networkx as nx
>>> G = nx.MultiDiGraph()
>>> G.add_node("quizzy", kind="tool", label="Quizzy", category="assessment", dpa_status="missing")
>>> node_flags(G.nodes["quizzy"])
('no_dpa',)
>>> CATEGORY_STYLES["assessment"].shape, FLAGS["no_dpa"].marker
('diamond', '[no DPA]')
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import networkx as nx

from edtech_map.analyses.findings import AuditResult
from edtech_map.errors import EdtechMapError
from edtech_map.graph import EDGE_KINDS, tools_at

__all__ = [
    "CATEGORY_STYLES",
    "CLUSTER_BY",
    "EDGE_STYLES",
    "FLAGS",
    "FLOW_KINDS",
    "CategoryStyle",
    "ClusterBy",
    "DiagramError",
    "EdgeStyle",
    "Flag",
    "cluster_of",
    "edge_style",
    "node_flags",
    "select",
    "summarise",
    "with_findings",
]

ClusterBy = Literal["school", "category", "task", "none"]
CLUSTER_BY: tuple[ClusterBy, ...] = ("school", "category", "task", "none")
FLOW_KINDS = ("data_flow", "rosters", "sso", "lti_launch")
"""Edge kinds that carry data or access (what ``--only-flows`` keeps)."""


class DiagramError(EdtechMapError):
    """A diagram cannot be drawn as asked (unknown school or tool, bad option, layout failed)."""


@dataclass(frozen=True)
class CategoryStyle:
    """How a tool category looks: Graphviz shape, Mermaid shape, fill colour.

    Examples
    --------
    >>> CATEGORY_STYLES["sis"]
    CategoryStyle(shape='cylinder', mermaid=('[(', ')]'), fill='#d9e7f5')
    """

    shape: str
    mermaid: tuple[str, str]
    fill: str


@dataclass(frozen=True)
class EdgeStyle:
    """How an edge kind looks: colour, line pattern, width, arrowhead, Mermaid arrow, legend.

    Examples
    --------
    >>> EDGE_STYLES["lti_launch"].style, EDGE_STYLES["lti_launch"].mermaid
    ('dashed', '-.->')
    """

    color: str
    style: str
    penwidth: float
    arrowhead: str
    mermaid: str
    legend: str


@dataclass(frozen=True)
class Flag:
    """A problem shown on a tool node: a text marker, a border colour and pattern.

    Examples
    --------
    >>> FLAGS["unused"].marker, FLAGS["unused"].style
    ('[unused]', 'dashed')
    """

    marker: str
    color: str
    style: str
    meaning: str


_BOX = ("[", "]")
CATEGORY_STYLES: Mapping[str, CategoryStyle] = {
    "sis": CategoryStyle("cylinder", ("[(", ")]"), "#d9e7f5"),
    "rostering_hub": CategoryStyle("hexagon", ("{{", "}}"), "#dcecdc"),
    "sso": CategoryStyle("invhouse", ("[/", "\\]"), "#e8e0f2"),
    "lms": CategoryStyle("box3d", ("[[", "]]"), "#fbe7c6"),
    "adaptive_practice": CategoryStyle("ellipse", ("([", "])"), "#e6f2d9"),
    "assessment": CategoryStyle("diamond", ("{", "}"), "#fde2d8"),
    "content": CategoryStyle("tab", _BOX, "#fff4bf"),
    "communication": CategoryStyle("cds", (">", "]"), "#d8eff2"),
    "productivity": CategoryStyle("folder", _BOX, "#eceff1"),
    "portfolio": CategoryStyle("note", _BOX, "#f6e1ee"),
    "creation": CategoryStyle("octagon", ("{{", "}}"), "#e1f0fb"),
    "collaboration": CategoryStyle("parallelogram", ("[/", "/]"), "#e0f2ea"),
    "intervention": CategoryStyle("trapezium", ("[/", "\\]"), "#f3e5d0"),
    "data_analytics": CategoryStyle("component", _BOX, "#e3e3f7"),
    "classroom_management": CategoryStyle("pentagon", ("[\\", "\\]"), "#efe6dc"),
    "special_education": CategoryStyle("doubleoctagon", ("(((", ")))"), "#f2e0e0"),
    "library": CategoryStyle("box", ("(", ")"), "#e9f0dc"),
    "safety": CategoryStyle("septagon", ("((", "))"), "#f7dede"),
    "other": CategoryStyle("box", _BOX, "#f2f2f2"),
}
"""Per tool category: a distinct shape first, then a pale fill (black text stays readable)."""

SCHOOL_STYLE = CategoryStyle("house", ("[\\", "/]"), "#ffffff")
DISTRICT_STYLE = CategoryStyle("doublecircle", ("((", "))"), "#ffffff")
GROUP_STYLE = CategoryStyle("box", _BOX, "#f7f7f7")

EDGE_STYLES: Mapping[str, EdgeStyle] = {
    "data_flow": EdgeStyle("#333333", "solid", 1.2, "normal", "-->", "data flow (no student PII)"),
    "pii_flow": EdgeStyle(
        "#c62828", "bold", 3.0, "normal", "==>", "data flow WITH student PII (bold, labelled PII)"
    ),
    "rosters": EdgeStyle("#1f5fa8", "solid", 1.6, "odiamond", "--o", "rosters (diamond head)"),
    "sso": EdgeStyle("#2e7d32", "dotted", 1.6, "onormal", "-.->", "single sign-on (dotted)"),
    "lti_launch": EdgeStyle("#6a1b9a", "dashed", 1.6, "vee", "-.->", "LTI launch (dashed)"),
    "used_at": EdgeStyle(
        "#9e9e9e",
        "solid",
        0.6,
        "none",
        "---",
        "used at school; to the district: at all (thin grey)",
    ),
    "part_of": EdgeStyle("#9e9e9e", "tapered", 0.8, "none", "---", "school of the district"),
}
"""Per edge kind (and ``pii_flow`` for data flows carrying student PII)."""

FLAGS: Mapping[str, Flag] = {
    "no_dpa": Flag("[no DPA]", "#c62828", "bold", "no data-privacy agreement in force"),
    "teacher_only": Flag(
        "[teacher-only]", "#e65100", "bold", "a student tool used almost only by teachers"
    ),
    "unused": Flag("[unused]", "#757575", "dashed", "no active users in the usage window"),
    "retired": Flag("[retired]", "#757575", "dashed", "retired or being retired"),
}
"""Problems shown on a tool node, in the order they are listed on it."""

_OK_DPA = {"signed", "not_required"}
_FLAG_RULES = {
    "EM-TCH-001": "teacher_only",
    "EM-USE-001": "unused",
    "EM-DPA-002": "no_dpa",
    "EM-DPA-003": "no_dpa",
    "EM-DPA-006": "no_dpa",
}
"""Audit rules whose finding on a tool sets a flag (see ``docs/rules/``)."""


def _active(usage: Mapping[str, Any], role: str) -> int:
    measures = usage.get(role)
    return int(measures.get("active_users", 0)) if isinstance(measures, Mapping) else 0


def node_flags(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The :data:`FLAGS` that apply to a tool node, read from its attributes.

    ``no_dpa`` and ``retired`` come from the inventory (``dpa_status``, ``dpa_in_force``,
    ``status``); the others from what the audit and the usage aggregates attach: rule ids in
    ``findings`` (:func:`with_findings`; EM-TCH-001 teacher-only, EM-USE-001 unused), or the
    ``usage`` mapping of :meth:`edtech_map.aggregates.Aggregates.attach` (role -> measures):
    no active users at all is unused; a student tool with teachers but no students is
    teacher-only. A node without a ``usage`` attribute (no usage ingested) is never unused.

    Examples
    --------
    >>> node_flags({"kind": "tool", "dpa_status": "signed", "dpa_in_force": True,
    ...             "audience": ["students"], "findings": ["EM-TCH-001"]})
    ('teacher_only',)
    >>> node_flags({"kind": "tool", "dpa_status": "signed", "dpa_in_force": True,
    ...             "usage": {}, "status": "retiring"})
    ('unused', 'retired')
    >>> node_flags({"kind": "tool", "dpa_status": "not_required", "audience": ["students"],
    ...             "usage": {"teacher": {"active_users": 4}}})
    ('teacher_only',)
    >>> node_flags({"kind": "school"})
    ()
    """
    if data.get("kind") != "tool":
        return ()
    found: set[str] = {str(flag) for flag in data.get("flags", ()) if str(flag) in FLAGS}
    status = data.get("dpa_status", "missing")
    if status not in _OK_DPA or (status == "signed" and data.get("dpa_in_force") is False):
        found.add("no_dpa")
    found.update(_FLAG_RULES[rule] for rule in data.get("findings", ()) if rule in _FLAG_RULES)
    usage = data.get("usage")
    if isinstance(usage, Mapping):
        total = sum(_active(usage, role) for role in usage)
        if total == 0:
            found.add("unused")
        students, teachers = _active(usage, "student"), _active(usage, "teacher")
        if "students" in data.get("audience", ()) and students == 0 and teachers > 0:
            found.add("teacher_only")
    if data.get("status") in {"retired", "retiring"}:
        found.add("retired")
    return tuple(flag for flag in FLAGS if flag in found)


def edge_style(data: Mapping[str, Any]) -> EdgeStyle:
    """The :data:`EDGE_STYLES` entry for an edge (data flows with PII get ``pii_flow``).

    Examples
    --------
    >>> edge_style({"kind": "data_flow", "student_pii": True}).style
    'bold'
    >>> edge_style({"kind": "lti_launch"}).style
    'dashed'
    """
    kind = str(data.get("kind", "data_flow"))
    if kind == "data_flow" and data.get("student_pii"):
        return EDGE_STYLES["pii_flow"]
    return EDGE_STYLES.get(kind, EDGE_STYLES["data_flow"])


def with_findings(G: nx.MultiDiGraph[str], audit: AuditResult | None) -> nx.MultiDiGraph[str]:
    """A copy of ``G`` whose subject nodes list the rule ids of the audit's findings.

    Examples
    --------
    >>> from datetime import date
    >>> from edtech_map.analyses import AuditResult, Finding
    >>> G = nx.MultiDiGraph(); G.add_node("mathly", kind="tool")
    >>> f = Finding(rule_id="EM-TCH-001", severity="warning", subjects=("mathly",),
    ...             message="m", recommendation="r")
    >>> with_findings(G, AuditResult(as_of=date(2026, 1, 1), findings=(f,))).nodes["mathly"]
    {'kind': 'tool', 'findings': ['EM-TCH-001']}
    """
    H = G.copy()
    if audit is None:
        return H
    for finding in audit.findings:
        for subject in finding.subjects:
            if subject in H:
                rules = list(H.nodes[subject].get("findings", []))
                if finding.rule_id not in rules:
                    H.nodes[subject]["findings"] = [*rules, finding.rule_id]
    return H


def _check_node(G: nx.MultiDiGraph[str], node: str, what: str) -> None:
    if node not in G:
        known = sorted(n for n, data in G.nodes(data=True) if data.get("kind") == what)
        shown = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "")
        raise DiagramError(f"no {what} {node!r} in the ecosystem graph; known: {shown}")


def select(
    G: nx.MultiDiGraph[str],
    *,
    school: str | None = None,
    focus: str | None = None,
    depth: int = 1,
    only_flows: bool = False,
    kinds: Iterable[str] | None = None,
) -> nx.MultiDiGraph[str]:
    """The part of ``G`` a diagram draws (a new graph; ``G`` is not changed).

    Parameters
    ----------
    school
        Keep that school and the tools used at it (district and other schools are dropped).
        A tool used at every school (one ``used_at`` edge to the district) gets a ``used_at``
        edge to that school here, so the drawing shows every tool the school uses.
    focus, depth
        Keep the tool ``focus`` and everything within ``depth`` edges of it, either way.
    only_flows
        Keep only data-flow, rostering, SSO and LTI edges, and the tools they touch.
    kinds
        Edge kinds to keep (default: all of them).

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("s", kind="school"); G.add_node("a", kind="tool"); G.add_node("b", kind="tool")
    >>> _ = G.add_edge("a", "s", key="used_at", kind="used_at")
    >>> _ = G.add_edge("a", "b", key="f", kind="data_flow")
    >>> sorted(select(G, only_flows=True).nodes), sorted(select(G, school="s").nodes)
    (['a', 'b'], ['a', 's'])
    >>> G.add_node("d", kind="district")
    >>> _ = G.add_edge("b", "d", key="used_at", kind="used_at")  # b: used at every school
    >>> sorted(select(G, school="s").edges(data="kind"))
    [('a', 'b', 'data_flow'), ('a', 's', 'used_at'), ('b', 's', 'used_at')]
    >>> select(G, focus="nope")
    Traceback (most recent call last):
    ...
    edtech_map.render.view.DiagramError: no tool 'nope' in the ecosystem graph; known: a, b
    """
    allowed = set(kinds) if kinds is not None else set(EDGE_KINDS)
    if only_flows:
        allowed &= set(FLOW_KINDS)
    unknown = allowed - set(EDGE_KINDS)
    if unknown:
        raise DiagramError(f"unknown edge kinds {sorted(unknown)}; known: {sorted(EDGE_KINDS)}")
    keep = set(G.nodes)
    everywhere: set[str] = set()
    if school is not None:
        _check_node(G, school, "school")
        listed = {u for u, _, d in G.in_edges(school, data=True) if d.get("kind") == "used_at"}
        users = set(tools_at(G, school))
        everywhere = users - listed
        keep = {school} | users
    if focus is not None:
        _check_node(G, focus, "tool")
        if depth < 0:
            raise DiagramError(f"depth must be 0 or more, not {depth}")
        undirected: nx.Graph[str] = nx.Graph()
        undirected.add_nodes_from(G.nodes)
        undirected.add_edges_from(
            (u, v) for u, v, d in G.edges(data=True) if d.get("kind") in allowed
        )
        near = nx.single_source_shortest_path_length(undirected, focus, cutoff=depth)
        keep &= set(near)
    H: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    H.graph.update(G.graph)
    H.add_nodes_from((n, G.nodes[n]) for n in G.nodes if n in keep)
    for u, v, key, data in G.edges(keys=True, data=True):
        if u in keep and v in keep and data.get("kind") in allowed:
            H.add_edge(u, v, key=key, **data)
    if school is not None and "used_at" in allowed:
        for tool in sorted(everywhere & keep):
            H.add_edge(tool, school, key="used_at", kind="used_at")
    if only_flows:
        H.remove_nodes_from([n for n in list(H.nodes) if H.degree(n) == 0 and n != focus])
    return H


def _school_of(G: nx.MultiDiGraph[str], node: str) -> tuple[str, str]:
    schools = sorted(v for _, v, d in G.out_edges(node, data=True) if d.get("kind") == "used_at")
    if any(G.nodes[v].get("kind") == "district" for v in schools):
        return "district", "District-wide"  # `schools: all`: one edge to the district
    if len(schools) == 1:
        return schools[0], str(G.nodes[schools[0]].get("label", schools[0]))
    if not schools:
        return "district", "District-wide"
    return "several", "Several schools"


def cluster_of(G: nx.MultiDiGraph[str], node: str, by: ClusterBy) -> tuple[str, str] | None:
    """The cluster ``(id, label)`` a node is drawn in, or ``None`` for no cluster.

    Tools used at one school go in that school's cluster, tools used at several in
    "Several schools", tools used at every school (``schools: all``) or listed at none in
    "District-wide"; by task, a tool goes in the cluster of its first learning task.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("lms", kind="tool", category="lms", learning_tasks=["grading", "planning"])
    >>> cluster_of(G, "lms", "category"), cluster_of(G, "lms", "task")
    (('category_lms', 'lms'), ('task_grading', 'grading'))
    >>> cluster_of(G, "lms", "school")
    ('school_district', 'District-wide')
    """
    data = G.nodes[node]
    kind = data.get("kind")
    if by == "none" or kind == "district":
        return None
    if by == "school":
        if kind == "school":
            return f"school_{node}", str(data.get("label", node))
        school, label = _school_of(G, node) if kind == "tool" else ("district", "District-wide")
        return f"school_{school}", label
    if kind != "tool":
        return "schools", "Schools"
    if by == "category":
        category = str(data.get("category", "other"))
        return f"category_{category}", category.replace("_", " ")
    tasks = data.get("learning_tasks") or ["(no learning task)"]
    task = str(tasks[0])
    return f"task_{task}", task.replace("_", " ")


def summarise(G: nx.MultiDiGraph[str]) -> nx.MultiDiGraph[str]:
    """One node per tool category per school (with counts); edges summed by kind between them.

    Tools used at several schools are grouped as "Several schools"; those used at every
    school (``schools: all``), or listed at none, as "District-wide". The summary is what a graph too large to draw whole becomes.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("s", kind="school", label="Lincoln")
    >>> for t in ("a", "b"):
    ...     G.add_node(t, kind="tool", category="content", dpa_status="missing")
    ...     _ = G.add_edge(t, "s", key="used_at", kind="used_at")
    >>> S = summarise(G)
    >>> dict(S.nodes["s/content"])
    {'kind': 'group', 'label': 'content: 2 tools [2 no DPA]', 'category': 'content', 'school': 's', 'school_label': 'Lincoln', 'tools': 2}
    """
    groups: dict[str, str] = {}
    members: dict[str, list[str]] = defaultdict(list)
    school_labels: dict[str, str] = {}
    for node, data in G.nodes(data=True):
        if data.get("kind") != "tool":
            continue
        school, label = _school_of(G, node)
        group = f"{school}/{data.get('category', 'other')}"
        groups[node] = group
        members[group].append(node)
        school_labels[school] = label
    S: nx.MultiDiGraph[str] = nx.MultiDiGraph()  # noqa: N806 - a graph, named like G
    S.graph.update(G.graph)
    S.graph["summary"] = True
    for group, tools in sorted(members.items()):
        school, category = group.split("/", 1)
        flags = Counter(flag for tool in tools for flag in node_flags(G.nodes[tool]))
        marks = "".join(f" [{flags[f]} {FLAGS[f].marker.strip('[]')}]" for f in FLAGS if flags[f])
        noun = "tool" if len(tools) == 1 else "tools"
        S.add_node(
            group,
            kind="group",
            label=f"{category.replace('_', ' ')}: {len(tools)} {noun}{marks}",
            category=category,
            school=school,
            school_label=school_labels[school],
            tools=len(tools),
        )
    counts: Counter[tuple[str, str, str]] = Counter()
    for u, v, data in G.edges(data=True):
        if u in groups and v in groups and data.get("kind") in FLOW_KINDS:
            kind = str(data["kind"])
            if kind == "data_flow" and data.get("student_pii"):
                kind = "pii_flow"
            counts[groups[u], groups[v], kind] += 1
    for (u, v, kind), count in sorted(counts.items()):
        S.add_edge(
            u,
            v,
            key=kind,
            kind="data_flow" if kind == "pii_flow" else kind,
            student_pii=kind == "pii_flow",
            count=count,
        )
    return S
