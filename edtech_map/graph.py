"""The ecosystem as a ``networkx.MultiDiGraph``, at the level people reason about.

Nodes are the district, its schools and its tools; people never become nodes. Every node has
a ``kind`` (see :data:`NODE_KINDS`) and every edge a ``kind`` (see :data:`EDGE_KINDS`), with
the relation read forwards (``source --rosters--> target``) and backwards (``rostered by``).
Attribute values are plain JSON values (strings, numbers, booleans, lists of strings), so
node-link JSON round-trips exactly; GraphML (which has no lists) joins lists with ``;``.

Query helpers take the graph first (called ``G``) and return plain data.

Examples
--------
>>> from edtech_map.model import Ecosystem
>>> eco = Ecosystem(
...     district={"id": "riverside", "name": "Riverside USD"},
...     schools=[{"id": "lincoln-es", "name": "Lincoln ES", "type": "elementary", "grades": "K-5"}],
...     tools=[{"id": "sis", "name": "PowerSchool", "category": "sis"},
...            {"id": "clever", "name": "Clever", "category": "rostering_hub"},
...            {"id": "mathly", "name": "Mathly", "category": "adaptive_practice",
...             "audience": ["students"], "learning_tasks": ["practice"], "subjects": ["math"],
...             "grades": "3-5", "rostered_by": "clever", "schools": ["lincoln-es"]}],
...     flows=[{"source": "sis", "target": "clever", "mechanism": "sftp",
...             "data": ["student_name", "schedule"]}])
>>> G = build_graph(eco)
>>> sorted(kind for _, _, kind in G.edges(data="kind"))
['data_flow', 'part_of', 'rosters', 'used_at', 'used_at', 'used_at']
>>> tools_for(G, task="practice", subject="math", grade="4", school="lincoln-es")
['mathly']
>>> sorted(downstream(G, "sis"))
['clever', 'mathly']
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import networkx as nx

from edtech_map.model import (
    DataFlow,
    Ecosystem,
    GradeLevel,
    School,
    Subject,
    Tool,
    parse_grade,
)

__all__ = [
    "EDGE_KINDS",
    "NODE_KINDS",
    "EdgeKind",
    "SchoolIndex",
    "build_graph",
    "downstream",
    "edges_by_kind",
    "edges_of_kind",
    "from_node_link",
    "nodes_of_kind",
    "read_graphml",
    "school_index",
    "schools_of",
    "to_node_link",
    "tools_at",
    "tools_for",
    "upstream",
    "write_graphml",
    "write_node_link",
]

NODE_KINDS: Mapping[str, str] = {
    "district": "The district (one node); schools are `part_of` it.",
    "school": "A school of the district.",
    "tool": "A tool or system from the inventory (LMS, SIS, apps, hubs ...).",
}


@dataclass(frozen=True)
class EdgeKind:
    """One kind of edge: how to read it forwards and backwards, and what it means.

    Examples
    --------
    >>> EDGE_KINDS["rosters"].backward
    'is rostered by'
    """

    forward: str
    backward: str
    meaning: str


EDGE_KINDS: Mapping[str, EdgeKind] = {
    "part_of": EdgeKind("is part of", "has school", "school -> district"),
    "used_at": EdgeKind(
        "is used at",
        "uses",
        "tool -> school, from the tool's `schools`; tool -> district for `schools: all` "
        "(one edge for every school)",
    ),
    "data_flow": EdgeKind(
        "sends data to", "receives data from", "source tool -> target tool, from `flows`"
    ),
    "rosters": EdgeKind(
        "rosters", "is rostered by", "hub or SIS -> tool, from the tool's `rostered_by`"
    ),
    "sso": EdgeKind(
        "signs users in to", "signs in via", "identity provider -> tool, from `sso_via`"
    ),
    "lti_launch": EdgeKind("launches", "is launched from", "LMS -> tool, from `launched_from`"),
}

#: Edge kinds along which data or access travels (used by upstream/downstream).
DEPENDENCY_KINDS = ("data_flow", "rosters", "sso", "lti_launch")


def _labels(values: Iterable[Any]) -> list[str]:
    return [getattr(v, "value", str(v)) for v in values]


def _grade_labels(grades: Iterable[GradeLevel]) -> list[str]:
    return [g.label for g in grades]


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _tool_attributes(tool: Tool, as_of: date) -> dict[str, Any]:
    privacy = tool.privacy
    licence = tool.licence
    attributes: dict[str, Any] = {
        "kind": "tool",
        "label": tool.name,
        "vendor": tool.vendor,
        "category": tool.category.value,
        "status": tool.status.value,
        "audience": _labels(tool.audience),
        "learning_tasks": _labels(tool.learning_tasks),
        "subjects": _labels(tool.subjects),
        "grades": _grade_labels(tool.grades),
        "dpa_status": privacy.status.value if privacy else "missing",
        "dpa_in_force": privacy.in_force(as_of) if privacy else False,
        "dpa_expires": _iso(privacy.expires) if privacy else None,
        "dpa_data_elements": _labels(privacy.data_elements) if privacy else [],
        "licence_seats": licence.seats if licence else None,
        "licence_unit": licence.unit.value if licence else None,
        "licence_cost": float(licence.cost) if licence and licence.cost is not None else None,
        "renewal_date": _iso(licence.renewal_date) if licence else None,
        "rostering": tool.rostering.value if tool.rostering else None,
        "sso": tool.sso.value if tool.sso else None,
        "owner": tool.owner,
        "recommended_minutes": tool.recommended_use.minutes_per_week
        if tool.recommended_use
        else None,
        "recommended_sessions": tool.recommended_use.sessions_per_week
        if tool.recommended_use
        else None,
        "has_identifiers": not tool.identifiers.is_empty(),
    }
    return {key: value for key, value in attributes.items() if value is not None}


def _school_attributes(school: School) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "kind": "school",
        "label": school.name,
        "school_type": school.type.value,
        "grades": _grade_labels(school.grades),
        "enrollment": school.enrollment,
    }
    return {key: value for key, value in attributes.items() if value is not None}


def _flow_attributes(flow: DataFlow) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "kind": "data_flow",
        "flow": flow.key,
        "data": _labels(flow.data),
        "mechanism": flow.mechanism.value,
        "student_pii": flow.carries_student_pii,
        "frequency": flow.frequency,
    }
    return {key: value for key, value in attributes.items() if value is not None}


def build_graph(ecosystem: Ecosystem, *, as_of: date | None = None) -> nx.MultiDiGraph[str]:
    """Build the ecosystem graph: district, schools and tools, with typed edges.

    Edge keys are the edge kind, except data flows, keyed by the flow's key so two flows
    between the same tools stay distinct. A tool with ``schools: all`` gets one ``used_at``
    edge to the district node (used at every school); a tool that lists its schools gets one
    per school. :func:`tools_at` and :func:`schools_of` answer per school either way.
    ``as_of`` (default today) decides whether each DPA is in force.

    Examples
    --------
    >>> from edtech_map.model import Ecosystem
    >>> eco = Ecosystem(district={"id": "d", "name": "D"},
    ...                 tools=[{"id": "lms", "name": "LMS", "category": "lms"}])
    >>> G = build_graph(eco)
    >>> G.nodes["lms"]["kind"], G.nodes["lms"]["dpa_status"], G.graph["district"]
    ('tool', 'missing', 'd')
    >>> list(G.edges("lms", data="kind"))
    [('lms', 'd', 'used_at')]
    """
    today = as_of or date.today()
    G: nx.MultiDiGraph[str] = nx.MultiDiGraph(
        district=ecosystem.district.id, name=ecosystem.district.name
    )
    G.graph["as_of"] = today.isoformat()
    G.add_node(ecosystem.district.id, kind="district", label=ecosystem.district.name)
    for school in ecosystem.schools:
        G.add_node(school.id, **_school_attributes(school))
        G.add_edge(school.id, ecosystem.district.id, key="part_of", kind="part_of")
    for tool in ecosystem.tools:
        G.add_node(tool.id, **_tool_attributes(tool, today))
    for tool in ecosystem.tools:
        # `schools: all` is one edge to the district, not one per school: 1,500 schools
        # times 1,600 such tools would be 2.4 M edges that say the same thing.
        places = [ecosystem.district.id] if tool.schools == "all" else tool.schools
        for place in places:
            G.add_edge(tool.id, place, key="used_at", kind="used_at")
        if tool.rostered_by:
            G.add_edge(tool.rostered_by, tool.id, key="rosters", kind="rosters")
        if tool.sso_via:
            G.add_edge(tool.sso_via, tool.id, key="sso", kind="sso")
        for lms in tool.launched_from:
            G.add_edge(lms, tool.id, key="lti_launch", kind="lti_launch")
    for flow in ecosystem.flows:
        key, copy = flow.key, 1
        while G.has_edge(flow.source, flow.target, key):  # two flows alike: keep both
            copy += 1
            key = f"{flow.key}#{copy}"
        G.add_edge(flow.source, flow.target, key=key, **_flow_attributes(flow))
    return G


# --------------------------------------------------------------------------- queries


def nodes_of_kind(G: nx.MultiDiGraph[str], kind: str) -> list[str]:
    """Ids of the nodes of one kind, sorted.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("b", kind="tool"); G.add_node("a", kind="tool"); G.add_node("s", kind="school")
    >>> nodes_of_kind(G, "tool")
    ['a', 'b']
    """
    return sorted(node for node, data in G.nodes(data=True) if data.get("kind") == kind)


def _by_ends(edge: tuple[str, str, dict[str, Any]]) -> tuple[str, str, str]:
    return (edge[0], edge[1], str(edge[2].get("flow", "")))


def edges_of_kind(G: nx.MultiDiGraph[str], kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Edges of one kind as ``(source, target, attributes)``, sorted by ends.

    Each call reads every edge; :func:`edges_by_kind` reads them once for all kinds.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge("hub", "app", key="rosters", kind="rosters")
    >>> edges_of_kind(G, "rosters")
    [('hub', 'app', {'kind': 'rosters'})]
    """
    found = [(u, v, dict(data)) for u, v, data in G.edges(data=True) if data.get("kind") == kind]
    return sorted(found, key=_by_ends)


def edges_by_kind(
    G: nx.MultiDiGraph[str], kinds: Iterable[str] | None = None
) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    """Edges by kind (all kinds, or those in ``kinds``), each list as :func:`edges_of_kind`
    gives it, in one pass.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge("hub", "app", key="rosters", kind="rosters")
    >>> _ = G.add_edge("idp", "app", key="sso", kind="sso")
    >>> sorted(edges_by_kind(G)), edges_by_kind(G, ["sso"])
    (['rosters', 'sso'], {'sso': [('idp', 'app', {'kind': 'sso'})]})
    """
    wanted = set(kinds) if kinds is not None else None
    found: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for u, v, data in G.edges(data=True):
        kind = str(data.get("kind"))
        if wanted is None or kind in wanted:
            found.setdefault(kind, []).append((u, v, dict(data)))
    for edges in found.values():
        edges.sort(key=_by_ends)
    return found


@dataclass(frozen=True)
class SchoolIndex:
    """Which tools are used at which school, read once from the ``used_at`` edges.

    ``everywhere`` are the tools used at every school (a ``used_at`` edge to the district);
    ``listed`` maps each school to the tools listed for it alone. Build it with
    :func:`school_index` when asking about many schools: :func:`tools_at` reads the edges
    on each call.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("d", kind="district"); G.add_node("a", kind="school")
    >>> G.add_node("b", kind="school")
    >>> _ = G.add_edge("lms", "d", key="used_at", kind="used_at")
    >>> _ = G.add_edge("mathly", "a", key="used_at", kind="used_at")
    >>> index = school_index(G)
    >>> index.tools_at("a"), index.tools_at("b"), index.schools_of("lms")
    (['lms', 'mathly'], ['lms'], ['a', 'b'])
    """

    schools: tuple[str, ...]
    everywhere: frozenset[str]
    listed: Mapping[str, frozenset[str]]

    def tools_at(self, school: str) -> list[str]:
        """Tools used at ``school``, sorted (see :func:`tools_at`).

        Examples
        --------
        >>> SchoolIndex(("a",), frozenset({"lms"}), {"a": frozenset({"app"})}).tools_at("a")
        ['app', 'lms']
        """
        if school not in self.listed and school not in self.schools:
            return []
        return sorted(self.everywhere | self.listed.get(school, frozenset()))

    def schools_of(self, tool: str) -> list[str]:
        """Schools ``tool`` is used at, sorted (see :func:`schools_of`).

        Examples
        --------
        >>> SchoolIndex(("a", "b"), frozenset(), {"a": frozenset({"app"})}).schools_of("app")
        ['a']
        """
        if tool in self.everywhere:
            return list(self.schools)
        return [school for school in self.schools if tool in self.listed.get(school, ())]

    def pairs(self) -> list[tuple[str, str]]:
        """Every ``(tool, school)`` pair, expanded: what one edge per pair would have been.

        Examples
        --------
        >>> SchoolIndex(("a", "b"), frozenset({"lms"}), {"a": frozenset({"app"})}).pairs()
        [('app', 'a'), ('lms', 'a'), ('lms', 'b')]
        """
        return sorted(
            (tool, school)
            for school in self.schools
            for tool in self.everywhere | self.listed.get(school, frozenset())
        )


def _used_at_targets(G: nx.MultiDiGraph[str]) -> tuple[set[str], dict[str, set[str]]]:
    everywhere: set[str] = set()
    listed: dict[str, set[str]] = {}
    for tool, place, data in G.edges(data=True):
        if data.get("kind") != "used_at":
            continue
        if G.nodes[place].get("kind") == "district":
            everywhere.add(tool)
        else:
            listed.setdefault(place, set()).add(tool)
    return everywhere, listed


def school_index(G: nx.MultiDiGraph[str]) -> SchoolIndex:
    """Read the ``used_at`` edges once into a :class:`SchoolIndex` (school <-> tools).

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("d", kind="district"); G.add_node("a", kind="school")
    >>> _ = G.add_edge("lms", "d", key="used_at", kind="used_at")
    >>> school_index(G).tools_at("a")
    ['lms']
    """
    everywhere, listed = _used_at_targets(G)
    schools = tuple(nodes_of_kind(G, "school"))
    return SchoolIndex(
        schools=schools,
        everywhere=frozenset(everywhere),
        listed={school: frozenset(tools) for school, tools in listed.items()},
    )


def _districts(G: nx.MultiDiGraph[str]) -> list[str]:
    district = str(G.graph.get("district", ""))
    if district in G and G.nodes[district].get("kind") == "district":
        return [district]
    return nodes_of_kind(G, "district")


def tools_at(G: nx.MultiDiGraph[str], school: str) -> list[str]:
    """Tools in use at a school, sorted: those listed for it and those used at every school.

    A tool used at every school has one ``used_at`` edge to the district (see
    :func:`build_graph`); it is in use at each school. To ask about many schools, build a
    :func:`school_index` once.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("d", kind="district"); G.add_node("lincoln-es", kind="school")
    >>> _ = G.add_edge("mathly", "lincoln-es", key="used_at", kind="used_at")
    >>> _ = G.add_edge("lms", "d", key="used_at", kind="used_at")
    >>> tools_at(G, "lincoln-es")
    ['lms', 'mathly']
    """
    if school not in G:
        return []
    found = {u for u, _, d in G.in_edges(school, data=True) if d.get("kind") == "used_at"}
    if G.nodes[school].get("kind") == "school":
        for district in _districts(G):
            found.update(
                u for u, _, d in G.in_edges(district, data=True) if d.get("kind") == "used_at"
            )
    return sorted(found)


def schools_of(G: nx.MultiDiGraph[str], tool: str) -> list[str]:
    """Schools a tool is in use at, sorted: every school for a tool used district-wide.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("d", kind="district")
    >>> G.add_node("a", kind="school"); G.add_node("b", kind="school")
    >>> _ = G.add_edge("mathly", "b", key="used_at", kind="used_at")
    >>> _ = G.add_edge("lms", "d", key="used_at", kind="used_at")
    >>> schools_of(G, "mathly"), schools_of(G, "lms"), schools_of(G, "nope")
    (['b'], ['a', 'b'], [])
    """
    if tool not in G:
        return []
    places = {v for _, v, d in G.out_edges(tool, data=True) if d.get("kind") == "used_at"}
    if any(G.nodes[place].get("kind") == "district" for place in places):
        return nodes_of_kind(G, "school")
    return sorted(places)


def tools_for(
    G: nx.MultiDiGraph[str],
    *,
    task: str | None = None,
    subject: str | None = None,
    grade: str | int | None = None,
    school: str | None = None,
    include_retired: bool = False,
) -> list[str]:
    """Tools that serve a learning task × subject × grade at a school (any that is ``None``).

    A tool with subject ``all`` serves every subject; a tool that lists no grades is taken to
    serve every grade. Retired tools are left out unless asked for.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("lms", kind="tool", learning_tasks=["assessment"], subjects=["all"],
    ...            grades=[], status="active")
    >>> G.add_node("quizzy", kind="tool", learning_tasks=["assessment"], subjects=["math"],
    ...            grades=["6", "7", "8"], status="active")
    >>> tools_for(G, task="assessment", subject="math", grade=7)
    ['lms', 'quizzy']
    >>> tools_for(G, task="assessment", subject="ela", grade="K")
    ['lms']
    """
    grade_label = parse_grade(grade).label if grade is not None else None
    at_school = set(tools_at(G, school)) if school is not None else None
    found = []
    for node, data in G.nodes(data=True):
        if data.get("kind") != "tool":
            continue
        if not include_retired and data.get("status") == "retired":
            continue
        if at_school is not None and node not in at_school:
            continue
        if task is not None and task not in data.get("learning_tasks", []):
            continue
        subjects = data.get("subjects", [])
        if subject is not None and subject not in subjects and Subject.ALL.value not in subjects:
            continue
        grades = data.get("grades", [])
        if grade_label is not None and grades and grade_label not in grades:
            continue
        found.append(node)
    return sorted(found)


def _reach(G: nx.MultiDiGraph[str], node: str, kinds: Iterable[str], *, forwards: bool) -> set[str]:
    allowed = set(kinds)
    view = nx.subgraph_view(G, filter_edge=lambda u, v, k: G.edges[u, v, k]["kind"] in allowed)
    if node not in view:
        raise nx.NodeNotFound(f"{node!r} is not in the ecosystem graph")
    return set(nx.descendants(view, node) if forwards else nx.ancestors(view, node))


def downstream(
    G: nx.MultiDiGraph[str], node: str, *, kinds: Iterable[str] = DEPENDENCY_KINDS
) -> set[str]:
    """Everything that depends on ``node``: reachable along data flows, rostering, SSO, LTI.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge("sis", "hub", key="x", kind="data_flow")
    >>> _ = G.add_edge("hub", "app", key="rosters", kind="rosters")
    >>> sorted(downstream(G, "sis")), sorted(downstream(G, "sis", kinds=["data_flow"]))
    (['app', 'hub'], ['hub'])
    """
    return _reach(G, node, kinds, forwards=True)


def upstream(
    G: nx.MultiDiGraph[str], node: str, *, kinds: Iterable[str] = DEPENDENCY_KINDS
) -> set[str]:
    """Everything ``node`` depends on: its ancestors along data flows, rostering, SSO, LTI.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge("sis", "hub", key="x", kind="data_flow")
    >>> _ = G.add_edge("hub", "app", key="rosters", kind="rosters")
    >>> sorted(upstream(G, "app"))
    ['hub', 'sis']
    """
    return _reach(G, node, kinds, forwards=False)


# --------------------------------------------------------------------------- export


def to_node_link(G: nx.MultiDiGraph[str]) -> dict[str, Any]:
    """The graph as node-link data (JSON-ready), edges under ``"edges"``.

    Examples
    --------
    >>> G = nx.MultiDiGraph(district="d")
    >>> _ = G.add_edge("a", "b", key="rosters", kind="rosters")
    >>> data = to_node_link(G)
    >>> data["edges"]
    [{'kind': 'rosters', 'source': 'a', 'target': 'b', 'key': 'rosters'}]
    """
    data: dict[str, Any] = nx.node_link_data(G, edges="edges")
    return data


def from_node_link(data: Mapping[str, Any]) -> nx.MultiDiGraph[str]:
    """Rebuild the graph from :func:`to_node_link` output.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge("a", "b", key="rosters", kind="rosters")
    >>> nx.utils.graphs_equal(from_node_link(to_node_link(G)), G)
    True
    """
    graph = nx.node_link_graph(dict(data), directed=True, multigraph=True, edges="edges")
    assert isinstance(graph, nx.MultiDiGraph)
    return graph


def write_node_link(G: nx.MultiDiGraph[str], path: str | os.PathLike[str]) -> Path:
    """Write node-link JSON to ``path`` and return the path.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "g.json"
    >>> write_node_link(nx.MultiDiGraph(), target).name
    'g.json'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(to_node_link(G), indent=2, sort_keys=True) + "\n")
    return target


def _graphml_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value


def write_graphml(G: nx.MultiDiGraph[str], path: str | os.PathLike[str]) -> Path:
    """Write GraphML for Gephi or yEd; list attributes are joined with ``;``.

    Examples
    --------
    >>> import tempfile
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("lms", kind="tool", subjects=["ela", "math"])
    >>> target = write_graphml(G, Path(tempfile.mkdtemp()) / "g.graphml")
    >>> read_graphml(target).nodes["lms"]["subjects"]
    'ela;math'
    """
    H: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    H.graph.update({k: _graphml_value(v) for k, v in G.graph.items()})
    for node, data in G.nodes(data=True):
        H.add_node(node, **{k: _graphml_value(v) for k, v in data.items()})
    for u, v, key, data in G.edges(keys=True, data=True):
        H.add_edge(u, v, key=key, **{k: _graphml_value(val) for k, val in data.items()})
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    nx.write_graphml(H, target, named_key_ids=True)
    return target


def read_graphml(path: str | os.PathLike[str]) -> nx.MultiDiGraph[str]:
    """Read GraphML written by :func:`write_graphml` (lists stay ``;``-joined strings).

    Examples
    --------
    >>> import tempfile
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge("a", "b", key="sso", kind="sso")
    >>> target = write_graphml(G, Path(tempfile.mkdtemp()) / "g.graphml")
    >>> list(read_graphml(target).edges(keys=True, data="kind"))
    [('a', 'b', 'sso', 'sso')]
    """
    graph = nx.read_graphml(Path(path), force_multigraph=True)
    assert isinstance(graph, nx.MultiDiGraph)
    return graph
