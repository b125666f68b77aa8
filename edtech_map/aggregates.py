"""Aggregates for the audit, computed once from the store, and audit snapshots.

This is the only module that runs SQL for the audit. :func:`compute_aggregates` reads the
store's usage events and roster, groups them (per tool, school, role and ISO week; hour of
week; roster cells per school, grade and subject; classes and teachers reached; app
identifiers no tool claims) and returns an :class:`Aggregates` of plain numbers.
:meth:`Aggregates.attach` puts them on the ecosystem graph, as node attributes and ``G.graph``
entries, so that rules see counts, never per-person rows. No user key leaves this module.

Snapshots: :func:`save_snapshot` keeps an audit's findings in the ``audit_snapshots`` table,
:func:`last_snapshot` reads the latest back, and :func:`diff_findings` says what is new,
resolved and unchanged since then.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from datetime import date
>>> from edtech_map.model import Ecosystem
>>> from edtech_map.store import Store
>>> eco = Ecosystem(district={"id": "d", "name": "D"})
>>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
...     aggregates = compute_aggregates(store, eco, as_of=date(2026, 11, 23))
>>> aggregates.has_usage, aggregates.has_roster
(False, False)
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import networkx as nx
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; see docs/store.md

from edtech_map.analyses.findings import AuditResult, Finding
from edtech_map.model import Ecosystem, Subject, parse_grade
from edtech_map.store import Store, TableSpec
from edtech_map.subject_mapping import map_course

__all__ = [
    "AUDIT_SNAPSHOTS",
    "DEFAULT_WINDOW_DAYS",
    "Aggregates",
    "SnapshotDiff",
    "compute_aggregates",
    "diff_findings",
    "last_snapshot",
    "roster_subject",
    "save_snapshot",
]

logger = logging.getLogger(__name__)

DEFAULT_WINDOW_DAYS = 28
"""Days of usage an audit looks at, ending on its ``as_of`` day (four school weeks)."""

AUDIT_SNAPSHOTS = TableSpec(
    "audit_snapshots",
    {
        "source": "VARCHAR",
        "snapshot_id": "VARCHAR",
        "taken_at": "TIMESTAMPTZ",
        "as_of": "DATE",
        "finding_key": "VARCHAR",
        "rule_id": "VARCHAR",
        "severity": "VARCHAR",
        "subjects": "VARCHAR[]",
        "message": "VARCHAR",
        "evidence": "JSON",
        "recommendation": "VARCHAR",
        "waived": "BOOLEAN",
    },
    primary_key=("source", "snapshot_id", "finding_key"),
    description="Findings of saved audits (edtech-map audit --save), for --diff.",
)
"""One row per finding (or waived finding) of each saved audit."""

_SUBJECT_WORDS: dict[str, Subject] = {
    "english language arts": Subject.ELA,
    "english": Subject.ELA,
    "reading": Subject.ELA,
    "language arts": Subject.ELA,
    "literacy": Subject.ELA,
    "mathematics": Subject.MATH,
    "maths": Subject.MATH,
    "visual arts": Subject.ARTS,
    "art": Subject.ARTS,
    "fine arts": Subject.ARTS,
    "social emotional learning": Subject.SOCIAL_EMOTIONAL,
    "sel": Subject.SOCIAL_EMOTIONAL,
    "career and technical education": Subject.CAREER_TECHNICAL,
    "cte": Subject.CAREER_TECHNICAL,
    "english language development": Subject.ENGLISH_LANGUAGE_DEVELOPMENT,
    "esl": Subject.ENGLISH_LANGUAGE_DEVELOPMENT,
    "advisory": Subject.STUDY_SKILLS,
    "pe": Subject.PHYSICAL_EDUCATION,
}


def roster_subject(text: str) -> Subject | None:
    """The :class:`~edtech_map.model.Subject` a roster's subject name stands for, if any.

    Examples
    --------
    >>> roster_subject("English Language Arts"), roster_subject("Social-Emotional Learning")
    (<Subject.ELA: 'ela'>, <Subject.SOCIAL_EMOTIONAL: 'social_emotional'>)
    >>> roster_subject("Science").value, roster_subject("Underwater basket weaving")
    ('science', None)
    """
    words = re.sub(r"[^a-z]+", " ", text.lower()).strip()
    if words in _SUBJECT_WORDS:
        return _SUBJECT_WORDS[words]
    try:
        return Subject(words.replace(" ", "_"))
    except ValueError:
        return None


def _tail(key: str) -> str:
    """The last path segment of an IRI (``https://sis/orgs/rv-1`` -> ``rv-1``), or the key."""
    return key.rstrip("/").rsplit("/", 1)[-1]


def _school_map(ecosystem: Ecosystem, keys: Iterable[str]) -> dict[str, str]:
    known: dict[str, str] = {}
    for school in ecosystem.schools:
        known[school.id] = school.id
        for roster_id in school.roster_ids:
            known[roster_id] = school.id
    return {
        key: known.get(key) or known.get(_tail(key)) or "unknown" for key in keys if key is not None
    }


def _nested() -> defaultdict[str, Any]:
    return defaultdict(_nested)


def _plain(value: Any) -> Any:
    """Nested defaultdicts as plain dicts, keys sorted (leaf dicts are built sorted)."""
    if isinstance(value, defaultdict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    return value


@dataclass(frozen=True)
class Aggregates:
    """Usage and roster aggregates for one audit window: counts only, never people.

    ``usage`` maps tool -> role -> measures over the window (``active_users``, ``events``,
    ``minutes``, ``active_days``); ``usage_by_school`` adds a school level; ``weekly`` maps
    tool -> school -> ISO week -> role -> measures; ``weekly_by_grade`` tool -> school ->
    grade -> ISO week -> students' measures (grade of the event's class in the roster); ``initiated`` tool -> school ->
    {student, assigned} events; ``hours`` tool -> school -> {school_hours, evening, weekend,
    day_only} events; ``hour_of_week`` tool -> 168 event counts (Monday 00h first, day-only
    events left out); ``reach`` tool -> school -> {classes, teachers}; ``roster_cells`` rows
    of school, grade, subject, classes, students; ``enrolled`` school -> grade -> students;
    ``unmatched`` rows of identifier, students, teachers, users, events, schools.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("mathly", kind="tool")
    >>> aggregates = Aggregates(window_start=date(2026, 11, 1), window_end=date(2026, 11, 28),
    ...     has_usage=True, usage={"mathly": {"student": {"active_users": 9}}})
    >>> aggregates.attach(G)
    >>> G.nodes["mathly"]["usage"]["student"]["active_users"], G.graph["usage"]["weeks"]
    (9, 4.0)
    """

    window_start: date
    window_end: date
    has_usage: bool = False
    has_roster: bool = False
    usage: Mapping[str, Any] = field(default_factory=dict)
    usage_by_school: Mapping[str, Any] = field(default_factory=dict)
    weekly: Mapping[str, Any] = field(default_factory=dict)
    weekly_by_grade: Mapping[str, Any] = field(default_factory=dict)
    initiated: Mapping[str, Any] = field(default_factory=dict)
    hours: Mapping[str, Any] = field(default_factory=dict)
    hour_of_week: Mapping[str, list[int]] = field(default_factory=dict)
    reach: Mapping[str, Any] = field(default_factory=dict)
    roster_cells: Sequence[Mapping[str, Any]] = ()
    enrolled: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    unmatched: Sequence[Mapping[str, Any]] = ()
    observed_start: date | None = None
    observed_end: date | None = None

    @property
    def weeks(self) -> float:
        """Weeks of usage data: from the first to the last day with any event in the window.

        A store holding three weeks of usage is not read as four quiet weeks.
        """
        start = self.observed_start or self.window_start
        end = self.observed_end or self.window_end
        return max(1, (end - start).days + 1) / 7

    def attach(self, G: nx.MultiDiGraph[str]) -> None:
        """Put the aggregates on ``G``: tool node attributes and ``G.graph`` entries.

        Only call this on a graph of your own (``run_audit`` uses a copy): rules never do.
        Without usage, ``G.graph["usage"]`` stays unset and usage rules are skipped.
        """
        window = {
            "start": self.window_start.isoformat(),
            "end": self.window_end.isoformat(),
            "weeks": round(self.weeks, 3),
            "observed_start": (self.observed_start or self.window_start).isoformat(),
            "observed_end": (self.observed_end or self.window_end).isoformat(),
        }
        if self.has_usage:
            G.graph["usage"] = window
            G.graph["unmatched_apps"] = [dict(row) for row in self.unmatched]
            for tool, data in G.nodes(data=True):
                if data.get("kind") != "tool":
                    continue
                data["usage"] = self.usage.get(tool, {})
                data["usage_by_school"] = self.usage_by_school.get(tool, {})
                data["weekly"] = self.weekly.get(tool, {})
                data["weekly_by_grade"] = self.weekly_by_grade.get(tool, {})
                data["initiated"] = self.initiated.get(tool, {})
                data["hours"] = self.hours.get(tool, {})
                data["hour_of_week"] = list(self.hour_of_week.get(tool, []))
                data["reach"] = self.reach.get(tool, {})
        if self.has_roster:
            G.graph["roster"] = {"schools": len(self.enrolled)}
            G.graph["roster_cells"] = [dict(row) for row in self.roster_cells]
            G.graph["enrolled"] = {school: dict(g) for school, g in self.enrolled.items()}


def _table_exists(store: Store, name: str) -> bool:
    found = store.con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    return bool(found[0][0])


def _rows(store: Store, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = store.query_arrow(sql, params).to_pylist()
    return rows


# The window's events are read once. Every name the aggregates group by (tool, school, role,
# user, class, app identifier) is first swapped for a small integer from a dictionary of the
# distinct values, so that the one scan and everything derived from it group on integers.
# The scan keeps two grains in one temp table (GROUPING SETS): per tool, school, role, user,
# day, class (one code per class key's last path segment) and app identifier (events,
# seconds), from which every per-person count is taken with count(DISTINCT) on integers; and
# per tool, school, initiated_by, part of the day and hour of the week (events). Names come
# back from the codes only for the few thousand result rows.
_DICTIONARIES = """
    CREATE OR REPLACE TEMP TABLE _audit_users AS
        SELECT user_key, CAST(row_number() OVER () AS BIGINT) AS uid
        FROM (SELECT DISTINCT user_key FROM usage_events WHERE user_key IS NOT NULL);
    CREATE OR REPLACE TEMP TABLE _audit_tools AS
        SELECT tool_id, CAST(row_number() OVER () - 1 AS INTEGER) AS tid
        FROM (SELECT DISTINCT tool_id FROM usage_events WHERE tool_id IS NOT NULL);
    CREATE OR REPLACE TEMP TABLE _audit_roles AS
        SELECT role, CAST(row_number() OVER () - 1 AS INTEGER) AS rid
        FROM (SELECT DISTINCT role FROM usage_events WHERE role IS NOT NULL);
    CREATE OR REPLACE TEMP TABLE _audit_apps AS
        SELECT app_identifier, CAST(row_number() OVER () - 1 AS INTEGER) AS aid
        FROM (SELECT DISTINCT app_identifier FROM usage_events
              WHERE tool_id IS NULL AND app_identifier IS NOT NULL);
    CREATE OR REPLACE TEMP TABLE _audit_classes AS
        SELECT class_key, tail, CAST(dense_rank() OVER (ORDER BY tail) - 1 AS INTEGER) AS cid
        FROM (SELECT class_key, regexp_extract(class_key, '[^/]+$') AS tail
              FROM (SELECT DISTINCT class_key FROM usage_events WHERE class_key IS NOT NULL));
    CREATE OR REPLACE TEMP TABLE _audit_schools AS
        SELECT school, CAST(row_number() OVER (ORDER BY school) - 1 AS INTEGER) AS sid
        FROM (SELECT DISTINCT school FROM _audit_school_map UNION SELECT 'unknown');
    CREATE OR REPLACE TEMP TABLE _audit_school_codes AS
        SELECT m.school_key, s.sid
        FROM _audit_school_map AS m JOIN _audit_schools AS s ON s.school = m.school;
    CREATE OR REPLACE TEMP TABLE _audit_class_grade AS
        SELECT c.cid, g.grade
        FROM (SELECT DISTINCT cid, tail FROM _audit_classes) AS c
        JOIN _audit_class_grades AS g ON g.class_key = c.tail;
"""

_TEMP_TABLES = (
    "_audit_grain",
    "_audit_class_grade",
    "_audit_school_codes",
    "_audit_schools",
    "_audit_classes",
    "_audit_apps",
    "_audit_roles",
    "_audit_tools",
    "_audit_users",
)

_GRAIN = """
    CREATE OR REPLACE TEMP TABLE _audit_grain AS
    WITH local AS (
        SELECT t.tid, coalesce(sc.sid, {unknown}) AS sid, r.rid, u.uid, c.cid, a.aid,
               e.initiated_by, e.duration_seconds,
               e.event_time AT TIME ZONE '{zone}' AS local_at
        FROM usage_events AS e
        LEFT JOIN _audit_tools AS t ON t.tool_id = e.tool_id
        LEFT JOIN _audit_school_codes AS sc ON sc.school_key = e.school_key
        LEFT JOIN _audit_roles AS r ON r.role = e.role
        LEFT JOIN _audit_users AS u ON u.user_key = e.user_key
        LEFT JOIN _audit_classes AS c ON c.class_key = e.class_key
        LEFT JOIN _audit_apps AS a
          ON a.app_identifier = e.app_identifier AND e.tool_id IS NULL
    ), windowed AS (
        SELECT *, date_diff('day', CAST(? AS DATE), CAST(local_at AS DATE)) AS day,
               CASE WHEN CAST(local_at AS TIME) = TIME '00:00:00' THEN 'day_only'
                    WHEN isodow(local_at) >= 6 THEN 'weekend'
                    WHEN CAST(local_at AS TIME) >= TIME '{start}'
                         AND CAST(local_at AS TIME) < TIME '{end}' THEN 'school_hours'
                    ELSE 'evening' END AS part,
               (isodow(local_at) - 1) * 24 + hour(local_at) AS slot
        FROM local
        WHERE CAST(local_at AS DATE) BETWEEN ? AND ?
    )
    SELECT GROUPING(uid) AS hourly, tid, sid, rid, uid, day, cid, aid, initiated_by, part, slot,
           count(*) AS events, sum(duration_seconds) AS seconds
    FROM windowed
    GROUP BY GROUPING SETS ((tid, sid, rid, uid, day, cid, aid),
                            (tid, sid, initiated_by, part, slot))
"""


def _names(store: Store, table: str, name: str, code: str) -> dict[int, Any]:
    return {
        int(c): n for n, c in store.con.execute(f"SELECT {name}, {code} FROM {table}").fetchall()
    }


def _usage(
    store: Store, zone: str, window: tuple[date, date], day: tuple[str, str]
) -> dict[str, Any]:
    con = store.con
    first, last = window
    try:
        con.execute(_DICTIONARIES)
        found = con.execute("SELECT sid FROM _audit_schools WHERE school = 'unknown'").fetchall()
        unknown = int(found[0][0])
        con.execute(
            _GRAIN.format(zone=zone.replace("'", "''"), unknown=unknown, start=day[0], end=day[1]),
            [first, first, last],
        )
        return _derive(store, window, unknown)
    finally:
        for table in _TEMP_TABLES:
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")


def _derive(store: Store, window: tuple[date, date], unknown: int) -> dict[str, Any]:
    con = store.con
    first, last = window
    tools = _names(store, "_audit_tools", "tool_id", "tid")
    schools = _names(store, "_audit_schools", "school", "sid")
    known_roles = _names(store, "_audit_roles", "role", "rid")
    roles: dict[int | None, Any] = {None: None}
    for code, name in known_roles.items():
        roles[code] = name
    apps = _names(store, "_audit_apps", "app_identifier", "aid")
    codes = {name: code for code, name in roles.items()}
    student, teacher = codes.get("student", -1), codes.get("teacher", -1)
    offset = first.isoweekday() - 1  # day 0 is this many days after its ISO week's Monday

    def week(index: int) -> str:
        year, number, _ = (first + timedelta(days=index * 7 - offset)).isocalendar()
        return f"{year}-W{number:02d}"

    # One number per user and day. count(DISTINCT (user_key, day)) counts the days of events
    # without a user key too: their uid is NULL, so they are user 0 here.
    user_day = f"coalesce(uid, 0) * {(last - first).days + 1} + day"
    measures = f"""sum(events) AS events, count(DISTINCT uid) AS active_users,
                   coalesce(sum(seconds), 0) / 60.0 AS minutes,
                   count(DISTINCT {user_day}) AS active_days"""
    per_user = "WHERE hourly = 0 AND tid IS NOT NULL"
    week_of = f"(day + {offset}) // 7"
    result: dict[str, Any] = {
        "weekly_by_grade": _nested(),
        "initiated": _nested(),
        "hours": _nested(),
        "reach": _nested(),
    }
    # The three big ones group on one packed number per group (much quicker in DuckDB than
    # several columns) and are built as plain dicts in sorted key order.
    n_schools, n_roles = len(schools), len(known_roles) + 1  # rid NULL is n_roles - 1
    packed_roles = {**known_roles, n_roles - 1: None}
    n_weeks = ((last - first).days + offset) // 7 + 1
    role = f"coalesce(rid, {n_roles - 1})"
    school_role = f"(tid * {n_schools} + sid) * {n_roles} + {role}"
    usage: dict[str, dict[str, Any]] = {}
    for key, *m in _sorted_groups(
        con, f"tid * {n_roles} + {role}", measures, per_user, (n_roles,), (tools, packed_roles)
    ):
        t, r = key
        usage.setdefault(t, {})[r] = _measure_tuple(m)
    by_school: dict[str, dict[str, dict[str, Any]]] = {}
    for key, *m in _sorted_groups(
        con, school_role, measures, per_user, (n_schools, n_roles), (tools, schools, packed_roles)
    ):
        t, s, r = key
        by_school.setdefault(t, {}).setdefault(s, {})[r] = _measure_tuple(m)
    week_labels = {w: week(w) for w in range(n_weeks)}
    weekly: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for key, *m in _sorted_groups(
        con,
        f"((tid * {n_schools} + sid) * {n_weeks} + {week_of}) * {n_roles} + {role}",
        measures,
        per_user,
        (n_schools, n_weeks, n_roles),
        (tools, schools, week_labels, packed_roles),
    ):
        t, s, w, r = key
        weekly.setdefault(t, {}).setdefault(s, {}).setdefault(w, {})[r] = _measure_tuple(m)
    for t, s, g, w, *m in con.execute(
        f"""SELECT tid, sid, g.grade, {week_of} AS week, {measures}
            FROM _audit_grain JOIN _audit_class_grade AS g USING (cid)
            {per_user} AND rid = {student}
            GROUP BY ALL"""
    ).fetchall():
        try:
            grade = parse_grade(g).label
        except ValueError:
            continue
        result["weekly_by_grade"][tools[t]][schools[s]][grade][week_labels[w]] = _measure_tuple(m)
    # Classes reached: cid is one code per class key's last path segment. Teachers reached
    # are the school's active teachers, counted above.
    for t, s, classes in con.execute(
        f"SELECT tid, sid, count(DISTINCT cid) AS classes FROM _audit_grain {per_user} GROUP BY ALL"
    ).fetchall():
        tool, school = tools[t], schools[s]
        teachers = by_school[tool][school].get("teacher", {}).get("active_users", 0)
        result["reach"][tool][school] = {"classes": int(classes), "teachers": teachers}
    hourly = "FROM _audit_grain WHERE hourly = 1 AND tid IS NOT NULL"
    for t, s, by, n in con.execute(
        f"SELECT tid, sid, initiated_by, sum(events) {hourly} AND initiated_by IS NOT NULL "
        "GROUP BY ALL"
    ).fetchall():
        result["initiated"][tools[t]][schools[s]][by] = int(n)
    for t, s, part, n in con.execute(
        f"SELECT tid, sid, part, sum(events) {hourly} GROUP BY ALL"
    ).fetchall():
        result["hours"][tools[t]][schools[s]][part] = int(n)
    hour_of_week: dict[str, list[int]] = {}
    for t, slot, n in con.execute(
        f"SELECT tid, slot, sum(events) {hourly} AND part <> 'day_only' GROUP BY ALL"
    ).fetchall():
        hour_of_week.setdefault(tools[t], [0] * 168)[int(slot)] = int(n)
    unmatched = con.execute(
        f"""SELECT aid, count(DISTINCT uid) FILTER (WHERE rid = {student}) AS students,
                   count(DISTINCT uid) FILTER (WHERE rid = {teacher}) AS teachers,
                   count(DISTINCT uid) AS users, sum(events) AS events,
                   count(DISTINCT sid) FILTER (WHERE sid <> {unknown}) AS schools
            FROM _audit_grain WHERE hourly = 0 AND tid IS NULL AND aid IS NOT NULL
            GROUP BY ALL"""
    ).fetchall()
    result["unmatched"] = sorted(
        (
            {
                "identifier": apps[a],
                "students": int(st),
                "teachers": int(te),
                "users": int(us),
                "events": int(ev),
                "schools": int(sc),
            }
            for a, st, te, us, ev, sc in unmatched
        ),
        key=lambda row: (-row["students"], -row["users"], row["identifier"]),
    )
    result["hour_of_week"] = dict(sorted(hour_of_week.items()))
    span = con.execute("SELECT min(day), max(day) FROM _audit_grain WHERE hourly = 0").fetchall()
    low, high = span[0] if span else (None, None)
    result["observed_start"] = None if low is None else first + timedelta(days=int(low))
    result["observed_end"] = None if high is None else first + timedelta(days=int(high))
    plain = {
        key: _plain(value) if isinstance(value, defaultdict) else value
        for key, value in result.items()
    }
    return {"usage": usage, "usage_by_school": by_school, "weekly": weekly, **plain}


def _sorted_groups(
    con: Any,
    packed: str,
    measures: str,
    where: str,
    radices: Sequence[int],
    names: Sequence[Mapping[Any, Any]],
) -> list[tuple[tuple[str, ...], Any, Any, Any, Any]]:
    """Rows of measures grouped by ``packed`` (mixed-radix codes), keyed by names, sorted.

    The names are sorted as strings (``str(None)`` for a missing role), the order in which
    the aggregates have always listed them.
    """
    rows = []
    for packed_code, *m in con.execute(
        f"SELECT {packed} AS code, {measures} FROM _audit_grain {where} GROUP BY code"
    ).fetchall():
        code, digits = int(packed_code), []
        for radix in reversed(radices):
            code, digit = divmod(code, radix)
            digits.append(digit)
        digits.append(code)
        key = tuple(str(table[d]) for table, d in zip(names, reversed(digits), strict=True))
        rows.append((key, *m))
    rows.sort(key=lambda row: row[0])
    return rows


def _measure_tuple(values: Sequence[Any]) -> dict[str, Any]:
    events, users, minutes, days = values
    return {
        "active_days": int(days),
        "active_users": int(users),
        "events": int(events),
        "minutes": round(float(minutes), 1),
    }


@functools.lru_cache(maxsize=4096)
def _cell_subjects(text: str | None, title: str | None) -> tuple[Subject, ...]:
    if text:
        found = roster_subject(text)
        return (found,) if found is not None else tuple(map_course(text).subjects)
    return tuple(map_course(title).subjects) if title else ()


@functools.lru_cache(maxsize=4096)
def _cell_grades(text: str | None, title: str | None) -> tuple[str, ...]:
    if text:
        try:
            return (parse_grade(text).label,)
        except ValueError:
            return ()
    return tuple(g.label for g in map_course(title).grades) if title else ()


def _class_grades(store: Store) -> tuple[list[str], list[str]]:
    """Each class's grade (its first), from the roster, or read from its title: keys, grades."""
    keys: list[str] = []
    grades: list[str] = []
    for key, title, grade in store.con.execute(
        """
        SELECT c.class_key, coalesce(c.title, co.title) AS title,
               CASE WHEN len(coalesce(c.grades, [])) > 0 THEN c.grades[1] ELSE co.grades[1] END
                   AS grade
        FROM classes AS c LEFT JOIN courses AS co ON co.course_key = c.course_key
        """
    ).fetchall():
        found = _cell_grades(grade, title)
        if found:
            keys.append(str(key))
            grades.append(found[0])
    return keys, grades


def _roster(store: Store, schools: Mapping[str, str]) -> dict[str, Any]:
    cells: dict[tuple[str, str, str], dict[str, int]] = {}
    for row in _rows(
        store,
        """
        WITH class_cells AS (
            SELECT c.class_key, c.school_key, coalesce(c.title, co.title) AS title,
                   CASE WHEN len(coalesce(c.grades, [])) > 0 THEN c.grades ELSE co.grades END
                       AS grades,
                   CASE WHEN len(coalesce(c.subjects, [])) > 0 THEN c.subjects ELSE co.subjects END
                       AS subjects
            FROM classes AS c LEFT JOIN courses AS co ON co.course_key = c.course_key
            WHERE coalesce(c.status, 'active') = 'active'
        ), students AS (
            SELECT class_key, count(DISTINCT user_key) AS students
            FROM enrollments
            WHERE role = 'student' AND coalesce(status, 'active') = 'active'
            GROUP BY class_key
        )
        SELECT cc.school_key, grade, subject,
               CASE WHEN grade IS NULL OR subject IS NULL THEN cc.title END AS title,
               count(*) AS classes, coalesce(sum(s.students), 0) AS students
        FROM class_cells AS cc
        CROSS JOIN unnest(CASE WHEN len(coalesce(cc.grades, [])) > 0 THEN cc.grades
                               ELSE [NULL] END) AS g(grade)
        CROSS JOIN unnest(CASE WHEN len(coalesce(cc.subjects, [])) > 0 THEN cc.subjects
                               ELSE [NULL] END) AS t(subject)
        LEFT JOIN students AS s ON s.class_key = cc.class_key
        GROUP BY ALL
        """,
    ):
        school = schools.get(str(row["school_key"]), "unknown")
        # Subjects and grades as the roster writes them; an LMS class without them is read
        # from its title (edtech_map.subject_mapping).
        for subject in _cell_subjects(row["subject"], row["title"]):
            for grade in _cell_grades(row["grade"], row["title"]):
                cell = cells.setdefault(
                    (school, grade, subject.value), {"classes": 0, "students": 0}
                )
                cell["classes"] += int(row["classes"])
                cell["students"] += int(row["students"])
    enrolled: dict[str, dict[str, int]] = defaultdict(dict)
    for row in _rows(
        store,
        """
        SELECT org AS school_key, grade, count(DISTINCT user_key) AS students
        FROM users
        CROSS JOIN unnest(CASE WHEN len(coalesce(org_keys, [])) > 0 THEN org_keys
                               ELSE [primary_org_key] END) AS o(org)
        CROSS JOIN unnest(grades) AS g(grade)
        WHERE (primary_role = 'student' OR list_contains(roles, 'student'))
          AND coalesce(status, 'active') = 'active' AND coalesce(enabled, true)
        GROUP BY ALL
        """,
    ):
        try:
            grade = parse_grade(row["grade"]).label
        except ValueError:
            continue
        school = schools.get(str(row["school_key"]), "unknown")
        enrolled[school][grade] = enrolled[school].get(grade, 0) + int(row["students"])
    return {
        "roster_cells": [
            {"school": s, "grade": g, "subject": sub, **counts}
            for (s, g, sub), counts in sorted(cells.items())
        ],
        "enrolled": {school: dict(sorted(g.items())) for school, g in sorted(enrolled.items())},
    }


def compute_aggregates(
    store: Store,
    ecosystem: Ecosystem,
    *,
    as_of: date,
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> Aggregates:
    """Compute the audit's aggregates from the store, for ``window_days`` ending on ``as_of``.

        Days are the district's (its ``timezone``); school hours are its ``school_day``. Usage
        schools (roster org ids, or IRIs ending in them) are mapped to inventory schools through
        each school's ``roster_ids``; the rest count as ``unknown``. Events stamped at exactly
        local midnight (day-level exports) count as ``day_only``: their hour is not known, so
    they are left out of the school-hours split and the hour-of-week profile.

        Examples
        --------
        >>> import tempfile
    >>> from pathlib import Path
        >>> from edtech_map.store import Store
        >>> eco = Ecosystem(district={"id": "d", "name": "D"})
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     compute_aggregates(store, eco, as_of=date(2026, 11, 23), window_days=7).window_start
        datetime.date(2026, 11, 17)
    """
    start = as_of - timedelta(days=window_days - 1)
    keys: set[str] = set()
    has_usage = _table_exists(store, "usage_events") and bool(
        store.con.execute("SELECT count(*) FROM usage_events").fetchall()[0][0]
    )
    if has_usage:
        keys |= {
            str(r[0])
            for r in store.con.execute(
                "SELECT DISTINCT school_key FROM usage_events WHERE school_key IS NOT NULL"
            ).fetchall()
        }
    for sql in (
        "SELECT DISTINCT org_key FROM orgs",
        "SELECT DISTINCT school_key FROM classes",
        "SELECT DISTINCT unnest(CASE WHEN len(coalesce(org_keys, [])) > 0 THEN org_keys "
        "ELSE [primary_org_key] END) FROM users",
    ):
        keys |= {str(r[0]) for r in store.con.execute(sql).fetchall() if r[0] is not None}
    schools = _school_map(ecosystem, keys)
    has_roster = bool(
        store.con.execute("SELECT count(*) FROM enrollments WHERE role = 'student'").fetchall()[0][
            0
        ]
    )
    usage: dict[str, Any] = {}
    if has_usage:
        # Lookup tables as temp tables from list parameters: building them in pyarrow would
        # import pandas (about half a second) on the way.
        try:
            store.con.execute(
                "CREATE OR REPLACE TEMP TABLE _audit_school_map AS SELECT "
                "unnest(?::VARCHAR[]) AS school_key, unnest(?::VARCHAR[]) AS school",
                [list(schools), list(schools.values())],
            )
            store.con.execute(
                "CREATE OR REPLACE TEMP TABLE _audit_class_grades AS SELECT "
                "unnest(?::VARCHAR[]) AS class_key, unnest(?::VARCHAR[]) AS grade",
                list(_class_grades(store)),
            )
            day = ecosystem.district.school_day
            usage = _usage(
                store,
                ecosystem.district.timezone,
                (start, as_of),
                (day.start.strftime("%H:%M:%S"), day.end.strftime("%H:%M:%S")),
            )
        finally:
            for table in ("_audit_school_map", "_audit_class_grades"):
                store.con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    roster = _roster(store, schools) if has_roster else {}
    logger.info(
        "audit aggregates: usage %s, roster %s, window %s..%s",
        has_usage,
        has_roster,
        start,
        as_of,
    )
    return Aggregates(
        window_start=start,
        window_end=as_of,
        has_usage=has_usage,
        has_roster=has_roster,
        **usage,
        **roster,
    )


# --------------------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class SnapshotDiff:
    """What changed between a saved audit and this one, by finding key (rule + subjects).

    Examples
    --------
    >>> SnapshotDiff(new=(), resolved=(), unchanged=(), previous_id="s1").previous_id
    's1'
    """

    new: tuple[Finding, ...]
    resolved: tuple[Finding, ...]
    unchanged: tuple[Finding, ...]
    previous_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output.

        Examples
        --------
        >>> SnapshotDiff(new=(), resolved=(), unchanged=()).as_dict()["counts"]
        {'new': 0, 'resolved': 0, 'unchanged': 0}
        """
        return {
            "previous_snapshot": self.previous_id,
            "counts": {
                "new": len(self.new),
                "resolved": len(self.resolved),
                "unchanged": len(self.unchanged),
            },
            "new": [f.model_dump(mode="json") for f in self.new],
            "resolved": [f.model_dump(mode="json") for f in self.resolved],
            "unchanged": [f.key for f in self.unchanged],
        }


def diff_findings(
    previous: Sequence[Finding], current: Sequence[Finding], *, previous_id: str | None = None
) -> SnapshotDiff:
    """Compare two audits' findings by key: new, resolved (gone) and unchanged.

    Examples
    --------
    >>> a = Finding(rule_id="EM-OWN-001", severity="warning", subjects=("a",), message="m",
    ...             recommendation="r")
    >>> b = a.model_copy(update={"subjects": ("b",)})
    >>> diff = diff_findings([a], [b])
    >>> [f.key for f in diff.new], [f.key for f in diff.resolved], diff.unchanged
    (['EM-OWN-001:b'], ['EM-OWN-001:a'], ())
    """
    before = {f.key: f for f in previous}
    after = {f.key: f for f in current}
    return SnapshotDiff(
        new=tuple(sorted((f for k, f in after.items() if k not in before), key=Finding.sort_key)),
        resolved=tuple(
            sorted((f for k, f in before.items() if k not in after), key=Finding.sort_key)
        ),
        unchanged=tuple(sorted((f for k, f in after.items() if k in before), key=Finding.sort_key)),
        previous_id=previous_id,
    )


def save_snapshot(store: Store, result: AuditResult, *, snapshot_id: str | None = None) -> str:
    """Keep an audit's findings (and waived findings) in ``audit_snapshots``; returns its id.

        Examples
        --------
        >>> import tempfile
    >>> from pathlib import Path
        >>> from edtech_map.store import Store
        >>> f = Finding(rule_id="EM-OWN-001", severity="warning", subjects=("a",), message="m",
        ...             recommendation="r")
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     _ = save_snapshot(store, AuditResult(as_of=date(2026, 11, 23), findings=(f,)),
        ...                       snapshot_id="first")
        ...     last_snapshot(store)[0], [x.key for x in last_snapshot(store)[1]]
        ('first', ['EM-OWN-001:a'])
    """
    taken = datetime.now(UTC)
    snapshot = snapshot_id or taken.strftime("%Y%m%dT%H%M%S%fZ") + "-" + os.urandom(2).hex()
    rows = [(f, False) for f in result.findings] + [(w.finding, True) for w in result.waived]
    table = pa.table(
        {
            "source": ["audit"] * len(rows),
            "snapshot_id": [snapshot] * len(rows),
            "taken_at": [taken] * len(rows),
            "as_of": [result.as_of] * len(rows),
            "finding_key": [f.key for f, _ in rows],
            "rule_id": [f.rule_id for f, _ in rows],
            "severity": [f.severity.value for f, _ in rows],
            "subjects": [list(f.subjects) for f, _ in rows],
            "message": [f.message for f, _ in rows],
            "evidence": [json.dumps(dict(f.evidence), sort_keys=True) for f, _ in rows],
            "recommendation": [f.recommendation for f, _ in rows],
            "waived": [waived for _, waived in rows],
        },
        schema=AUDIT_SNAPSHOTS.arrow_schema(),
    )
    store.ensure_table(AUDIT_SNAPSHOTS)
    with store.transaction() as tx:
        if rows:
            tx.upsert(AUDIT_SNAPSHOTS, table, run_id=snapshot)
        else:  # an audit with nothing found is still a snapshot: keep a marker row
            marker = pa.table(
                {
                    "source": ["audit"],
                    "snapshot_id": [snapshot],
                    "taken_at": [taken],
                    "as_of": [result.as_of],
                    "finding_key": [""],
                    "rule_id": [None],
                    "severity": [None],
                    "subjects": [[]],
                    "message": [None],
                    "evidence": [None],
                    "recommendation": [None],
                    "waived": [False],
                },
                schema=AUDIT_SNAPSHOTS.arrow_schema(),
            )
            tx.upsert(AUDIT_SNAPSHOTS, marker, run_id=snapshot)
    logger.info("saved audit snapshot %s (%d findings)", snapshot, len(rows))
    return snapshot


def last_snapshot(store: Store) -> tuple[str, list[Finding]] | None:
    """The latest saved audit: its id and its unwaived findings; ``None`` when there is none.

        Examples
        --------
        >>> import tempfile
    >>> from pathlib import Path
        >>> from edtech_map.store import Store
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     last_snapshot(store) is None
        True
    """
    store.ensure_table(AUDIT_SNAPSHOTS)
    latest = store.con.execute(
        "SELECT snapshot_id FROM audit_snapshots ORDER BY taken_at DESC, snapshot_id DESC LIMIT 1"
    ).fetchall()
    if not latest:
        return None
    snapshot = str(latest[0][0])
    findings = [
        Finding(
            rule_id=row["rule_id"],
            severity=row["severity"],
            subjects=tuple(row["subjects"]),
            message=row["message"],
            evidence=json.loads(row["evidence"] or "{}"),
            recommendation=row["recommendation"],
        )
        for row in _rows(
            store,
            "SELECT * FROM audit_snapshots WHERE snapshot_id = ? AND finding_key <> '' "
            "AND NOT waived ORDER BY finding_key",
            [snapshot],
        )
    ]
    return snapshot, findings
