"""Discovery: turn apps seen in usage but claimed by no inventory tool into proposed entries.

Each proposal is a :class:`~edtech_map.model.Tool` with ``status: under_review``, the
identifier it was seen under (so usage matches it once it is added), the audience the usage
suggests, and the evidence in its ``notes``. Counts of people below the audit's minimum cell
size are written as ``<N``. Nothing is written to ``ecosystem.yaml`` unless asked
(``edtech-map discover --write``), and then with every comment kept.

Examples
--------
>>> from datetime import datetime, UTC
>>> from edtech_map.model import Ecosystem
>>> eco = Ecosystem(district={"id": "d", "name": "D"})
>>> seen = [{"app_identifier": "https://games.brainybear.example/", "events": 900,
...          "students": 322, "teachers": 0, "users": 322,
...          "first_seen": datetime(2026, 11, 2, tzinfo=UTC),
...          "last_seen": datetime(2026, 11, 20, tzinfo=UTC)}]
>>> (proposal,) = propose_tools(eco, seen)
>>> proposal.tool.id, proposal.tool.identifiers.domains, [a.value for a in proposal.tool.audience]
('brainybear', ('games.brainybear.example',), ['students'])
>>> proposal.tool.notes
'Discovered in usage 2026-11-02 to 2026-11-20: 322 students, 0 teachers, 900 events. Review its category, audience, licence and privacy agreement before approving.'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from edtech_map.model import Audience, Ecosystem, Tool, ToolCategory, ToolStatus

__all__ = ["Proposal", "add_proposals", "propose_tools"]

_GENERIC_LABELS = {"www", "app", "apps", "games", "learn", "my", "api", "login", "portal", "m"}
_PUBLIC_SUFFIXES = {"example", "com", "org", "net", "edu", "io", "co", "us", "uk", "app", "k12"}


@dataclass(frozen=True)
class Proposal:
    """A proposed inventory entry and the usage behind it.

    Examples
    --------
    >>> tool = Tool(id="x", name="X", category="other")
    >>> Proposal(tool=tool, identifier="x.example", students="<5", teachers=0, events=3).events
    3
    """

    tool: Tool
    identifier: str
    students: int | str
    teachers: int | str
    events: int


def _host(identifier: str) -> str | None:
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", identifier.strip().lower())
    host = text.split("/")[0].split(":")[0].rstrip(".")
    return host if re.fullmatch(r"([a-z0-9-]+\.)+[a-z]{2,63}", host) else None


def _name_label(identifier: str) -> str:
    host = _host(identifier)
    if host is None:
        return identifier.strip()
    labels = [p for p in host.split(".") if p not in _GENERIC_LABELS]
    meaningful = [p for p in labels if p not in _PUBLIC_SUFFIXES]
    return meaningful[-1] if meaningful else host


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "discovered-app"


def _count(value: Any, min_cell: int) -> int | str:
    number = int(value or 0)
    return f"<{min_cell}" if 0 < number < min_cell else number


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10] if value else "?"


def propose_tools(
    ecosystem: Ecosystem, unmatched: Iterable[Mapping[str, Any]], *, min_users: int = 1
) -> list[Proposal]:
    """Proposed inventory entries for unmatched app identifiers, most students first.

    ``unmatched`` rows are :func:`edtech_map.usage.unmatched_apps` rows (``app_identifier``,
    ``events``, ``students``, ``teachers``, ``users``, ``first_seen``, ``last_seen``). Ids
    never collide with the inventory's or each other; identifiers whose host a proposal
    already claims are folded into it.

    Examples
    --------
    >>> from edtech_map.model import Ecosystem
    >>> eco = Ecosystem(district={"id": "d", "name": "D"},
    ...                 tools=[{"id": "quizblitz", "name": "Q", "category": "assessment"}])
    >>> rows = [{"app_identifier": "https://app.quizblitz.example/", "events": 5, "students": 2,
    ...          "teachers": 3, "users": 5, "first_seen": None, "last_seen": None}]
    >>> [p.tool.id for p in propose_tools(eco, rows)], propose_tools(eco, rows)[0].students
    (['quizblitz-2'], '<5')
    """
    min_cell = ecosystem.audit.min_cell_size
    taken = {ecosystem.district.id} | {s.id for s in ecosystem.schools}
    taken |= {t.id for t in ecosystem.tools}
    hosts_done: set[str] = set()
    proposals: list[Proposal] = []
    ordered = sorted(
        unmatched,
        key=lambda r: (
            -int(r.get("students") or 0),
            -int(r.get("users") or 0),
            str(r["app_identifier"]),
        ),
    )
    for row in ordered:
        identifier = str(row["app_identifier"])
        if int(row.get("users") or 0) < min_users:
            continue
        host = _host(identifier)
        if host is not None and host in hosts_done:
            continue
        label = _name_label(identifier)
        base = _slug(label)
        tool_id, copy = base, 1
        while tool_id in taken:
            copy += 1
            tool_id = f"{base}-{copy}"
        taken.add(tool_id)
        students = _count(row.get("students"), min_cell)
        teachers = _count(row.get("teachers"), min_cell)
        audience: list[Audience] = []
        if int(row.get("students") or 0):
            audience.append(Audience.STUDENTS)
        if int(row.get("teachers") or 0):
            audience.append(Audience.TEACHERS)
        identifiers: dict[str, list[str]] = {}
        if host is not None:
            identifiers["domains"] = [host]
            hosts_done.add(host)
            if "://" in identifier:
                identifiers["caliper_app_ids"] = [identifier]
        else:
            identifiers["aliases"] = [identifier]
        events = int(row.get("events") or 0)
        notes = (
            f"Discovered in usage {_day(row.get('first_seen'))} to {_day(row.get('last_seen'))}: "
            f"{students} students, {teachers} teachers, {events} events. Review its category, "
            "audience, licence and privacy agreement before approving."
        )
        tool = Tool(
            id=tool_id,
            name=label.replace("-", " ").title() if host else label,
            category=ToolCategory.OTHER,
            status=ToolStatus.UNDER_REVIEW,
            audience=audience,
            identifiers=identifiers,
            notes=notes,
        )
        proposals.append(Proposal(tool, identifier, students, teachers, events))
    return proposals


def add_proposals(ecosystem: Ecosystem, proposals: Iterable[Proposal]) -> Ecosystem:
    """The ecosystem with the proposed tools appended (validated, references checked).

    Examples
    --------
    >>> from edtech_map.model import Ecosystem
    >>> eco = Ecosystem(district={"id": "d", "name": "D"})
    >>> tool = Tool(id="x", name="X", category="other")
    >>> [t.id for t in add_proposals(eco, [Proposal(tool, "x.example", 1, 0, 1)]).tools]
    ['x']
    """
    tools = (*ecosystem.tools, *(proposal.tool for proposal in proposals))
    grown = ecosystem.model_copy(update={"tools": tools})  # keeps what each tool set, for saving
    Ecosystem.model_validate(grown.model_dump())  # ids and identifiers still unique
    return grown
