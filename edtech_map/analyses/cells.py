"""Coverage cells: which tools serve each school × learning task × subject × grade.

Overlaps (EM-OVL-*) and coverage gaps (EM-GAP-001) both read them. A district where most
tools serve every school would have millions of cells that repeat the same tool sets, so
:class:`SchoolCells` keeps the cells of the tools used everywhere once per distinct grade
list (``shared``), and for each school only the cells its own listed tools change
(``own``). :meth:`SchoolCells.at` gives one school's cells; :meth:`SchoolCells.expand` all of
them, as :func:`edtech_map.analyses.overlaps.school_cells` returns them.

Examples
--------
>>> G = nx.MultiDiGraph()
>>> G.add_node("d", kind="district")
>>> for school in ("a", "b"):
...     G.add_node(school, kind="school", grades=["3"])
>>> G.add_node("lms", kind="tool", learning_tasks=["practice"], subjects=["math"], grades=[])
>>> G.add_node("drill", kind="tool", learning_tasks=["practice"], subjects=["math"], grades=[])
>>> _ = G.add_edge("lms", "d", key="used_at", kind="used_at")
>>> _ = G.add_edge("drill", "a", key="used_at", kind="used_at")
>>> cells = compute_school_cells(G)
>>> sorted(cells.at("a")[("practice", "math", "3")]), sorted(cells.at("b")[("practice", "math", "3")])
(['drill', 'lms'], ['lms'])
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import networkx as nx

from edtech_map.analyses.engine import audit_memo
from edtech_map.graph import SchoolIndex, school_index
from edtech_map.model import Subject

__all__ = ["Cell", "CellKey", "SchoolCells", "compute_school_cells", "indexed_schools"]

Cell = tuple[str, str, str, str]  # school, task, subject, grade
CellKey = tuple[str, str, str]  # task, subject, grade
_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SchoolCells:
    """Every school's coverage cells, stored once per grade list plus each school's own.

    Examples
    --------
    >>> cells = SchoolCells(
    ...     grades={"a": ("3",), "b": ("3",)},
    ...     shared={("3",): {("practice", "math", "3"): frozenset({"lms"})}},
    ...     own={"a": {("practice", "ela", "3"): frozenset({"readly"})}},
    ... )
    >>> sorted(cells.at("a")), sorted(cells.at("b"))
    ([('practice', 'ela', '3'), ('practice', 'math', '3')], [('practice', 'math', '3')])
    """

    grades: Mapping[str, tuple[str, ...]]
    """Each school's grades, in the order its node lists them."""
    shared: Mapping[tuple[str, ...], Mapping[CellKey, frozenset[str]]]
    """Per distinct grade list: the cells of the tools every school of that list uses."""
    own: Mapping[str, Mapping[CellKey, frozenset[str]]]
    """Per school: the cells its own tools serve (with the shared tools of that cell too)."""

    @property
    def schools(self) -> list[str]:
        """The schools, sorted.

        Examples
        --------
        >>> SchoolCells(grades={"b": (), "a": ()}, shared={}, own={}).schools
        ['a', 'b']
        """
        return sorted(self.grades)

    def tools(self, school: str, key: CellKey) -> frozenset[str]:
        """The tools serving one cell of one school (empty: none).

        Examples
        --------
        >>> cells = SchoolCells(grades={"a": ("3",)},
        ...                     shared={("3",): {("practice", "math", "3"): frozenset({"lms"})}},
        ...                     own={})
        >>> cells.tools("a", ("practice", "math", "3")), cells.tools("a", ("x", "y", "3"))
        (frozenset({'lms'}), frozenset())
        """
        own = self.own.get(school)
        if own is not None and key in own:
            return own[key]
        return self.shared.get(self.grades.get(school, ()), {}).get(key, _NONE)

    def at(self, school: str) -> dict[CellKey, frozenset[str]]:
        """One school's cells: ``(task, subject, grade) -> tools``.

        Examples
        --------
        >>> SchoolCells(grades={"a": ()}, shared={}, own={}).at("a")
        {}
        """
        found = dict(self.shared.get(self.grades.get(school, ()), {}))
        found.update(self.own.get(school, {}))
        return found

    def expand(self) -> dict[Cell, set[str]]:
        """Every cell of every school, one entry each: ``(school, task, subject, grade)``.

        Examples
        --------
        >>> SchoolCells(grades={"a": ("3",)},
        ...             shared={("3",): {("practice", "math", "3"): frozenset({"lms"})}},
        ...             own={}).expand()
        {('a', 'practice', 'math', '3'): {'lms'}}
        """
        return {
            (school, *key): set(tools)
            for school in self.schools
            for key, tools in self.at(school).items()
        }


def _tool_cells(
    G: nx.MultiDiGraph[str], tool: str, school_grades: tuple[str, ...]
) -> Iterable[CellKey]:
    data = G.nodes[tool]
    tool_grades = data.get("grades") or school_grades
    grades = [g for g in school_grades if g in tool_grades]
    for task in data.get("learning_tasks", []):
        for subject in data.get("subjects", []):
            if subject == Subject.ALL.value:
                continue
            for grade in grades:
                yield (task, subject, grade)


def _cells_of(
    G: nx.MultiDiGraph[str],
    tools: Iterable[str],
    grades: tuple[str, ...],
    keys: dict[tuple[str, tuple[str, ...]], list[CellKey]] | None = None,
) -> dict[CellKey, set[str]]:
    """Cells of some tools at a grade list; ``keys`` keeps each tool's cells for the next."""
    cells: dict[CellKey, set[str]] = defaultdict(set)
    for tool in tools:
        if keys is None:
            tool_keys: Iterable[CellKey] = _tool_cells(G, tool, grades)
        else:
            if (tool, grades) not in keys:
                keys[(tool, grades)] = list(_tool_cells(G, tool, grades))
            tool_keys = keys[(tool, grades)]
        for key in tool_keys:
            cells[key].add(tool)
    return cells


def indexed_schools(G: nx.MultiDiGraph[str]) -> SchoolIndex:
    """:func:`edtech_map.graph.school_index`, read once per audit.

    Examples
    --------
    >>> indexed_schools(nx.MultiDiGraph()).schools
    ()
    """
    return audit_memo(G, "school_index", lambda: school_index(G))


def compute_school_cells(
    G: nx.MultiDiGraph[str], *, used: Mapping[str, set[str]] | None = None
) -> SchoolCells:
    """The coverage cells of every school, from its tools that are not retired.

    A tool that lists no grades serves all of the school's; subject ``all`` makes no cells
    (those tools serve everything by design). ``used`` (school -> tools) limits each school
    to the tools actually used there. Without ``used``, the result is computed once per audit.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("es", kind="school", grades=["K", "1"])
    >>> G.add_node("a", kind="tool", learning_tasks=["practice"], subjects=["ela", "all"])
    >>> _ = G.add_edge("a", "es", key="used_at", kind="used_at")
    >>> sorted(compute_school_cells(G).at("es"))
    [('practice', 'ela', '1'), ('practice', 'ela', 'K')]
    >>> compute_school_cells(G, used={"es": set()}).at("es")
    {}
    """
    if used is None:
        return audit_memo(G, "school_cells", lambda: _compute(G, None))
    return _compute(G, used)


def _compute(G: nx.MultiDiGraph[str], used: Mapping[str, set[str]] | None) -> SchoolCells:
    index = indexed_schools(G)

    def active(tools: Iterable[str]) -> set[str]:
        return {t for t in tools if t in G and G.nodes[t].get("status") != "retired"}

    schools = set(index.schools)
    grades = {s: tuple(G.nodes[s].get("grades", [])) for s in schools}
    everywhere = active(index.everywhere)
    shared: dict[tuple[str, ...], dict[CellKey, frozenset[str]]] = {}
    own: dict[str, dict[CellKey, frozenset[str]]] = {}
    if used is None:
        for school_grades in set(grades.values()):
            cells = _cells_of(G, everywhere, school_grades)
            shared[school_grades] = {key: frozenset(tools) for key, tools in cells.items()}
        keys: dict[tuple[str, tuple[str, ...]], list[CellKey]] = {}
        for school in sorted(schools):
            listed = active(index.listed.get(school, ())) - everywhere
            if not listed:
                continue
            base = shared[grades[school]]
            local = _cells_of(G, listed, grades[school], keys)
            own[school] = {key: base.get(key, _NONE) | tools for key, tools in local.items()}
    else:
        for school in sorted(schools):
            at_school = (everywhere | index.listed.get(school, frozenset())) & set(
                used.get(school, ())
            )
            local = _cells_of(G, active(at_school), grades[school])
            if local:
                own[school] = {key: frozenset(tools) for key, tools in local.items()}
    return SchoolCells(grades=grades, shared=shared, own=own)
