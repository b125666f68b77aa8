"""The audit's usage aggregates against the queries they replaced, over Hypothesis-made events.

``compute_aggregates`` reads the window's events once (integer codes, one grouped scan) and
derives every usage aggregate from that. The reference below is the earlier code, kept as it
was: one plain SQL query per aggregate over the events. Both run on the same real DuckDB store
and must agree on every number, including events outside the window, events without a tool,
school, class, user or duration, several roles, duplicate class keys and local midnights.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edtech_map.aggregates import Aggregates, _class_grades, _school_map, compute_aggregates
from edtech_map.model import Ecosystem, parse_grade
from edtech_map.store import CLASSES, Store
from edtech_map.usage import USAGE_EVENTS, ensure_usage_schema

ZONE = "America/Chicago"
ECO = Ecosystem(
    district={
        "id": "d",
        "name": "D",
        "timezone": ZONE,
        "school_day": {"start": "07:45", "end": "15:00"},
    },
    schools=[
        {"id": "ms", "name": "MS", "type": "middle", "grades": "6-8", "roster_ids": ["org-ms"]},
        {"id": "hs", "name": "HS", "type": "high", "grades": "9-12", "roster_ids": ["org-hs"]},
    ],
    tools=[
        {"id": "app", "name": "App", "category": "content"},
        {"id": "other", "name": "Other", "category": "content"},
    ],
)
AS_OF = date(2026, 11, 20)  # a Friday; a 7-day window starts on Saturday the 14th
CLASS_ROWS = [
    {
        "source": "sis",
        "class_key": "c1",
        "school_key": "org-ms",
        "title": "Science",
        "grades": ["07"],
        "subjects": ["Science"],
    },
    # the same class key from another source, with another grade: the grade join doubles it
    {
        "source": "lms",
        "class_key": "c1",
        "school_key": "org-ms",
        "title": "Science 8",
        "grades": ["08"],
        "subjects": [],
    },
    {
        "source": "sis",
        "class_key": "c2",
        "school_key": "org-hs",
        "title": "Math 9",
        "grades": [],
        "subjects": [],
    },
    {
        "source": "sis",
        "class_key": "c3",
        "school_key": "org-hs",
        "title": "Study hall",
        "grades": [],
        "subjects": [],
    },
]


_EVENTS = """
    WITH local AS (
        SELECT e.tool_id, coalesce(m.school, 'unknown') AS school, e.role, e.user_key,
               e.class_key, e.duration_seconds, e.initiated_by,
               e.event_time AT TIME ZONE '{zone}' AS local_at
        FROM usage_events AS e
        LEFT JOIN _audit_school_map AS m ON m.school_key = e.school_key
    )
    SELECT * FROM local WHERE CAST(local_at AS DATE) BETWEEN ? AND ?
"""


def _reference_usage(
    store: Store, zone: str, window: tuple[date, date], day: tuple[str, str]
) -> dict[str, Any]:
    events = _EVENTS.format(zone=zone.replace("'", "''"))
    params = list(window)
    measures = """count(*) AS events,
                  count(DISTINCT user_key) AS active_users,
                  coalesce(sum(duration_seconds), 0) / 60.0 AS minutes,
                  count(DISTINCT (user_key, CAST(local_at AS DATE))) AS active_days"""
    result: dict[str, Any] = {
        "usage": _nested(),
        "usage_by_school": _nested(),
        "weekly": _nested(),
        "weekly_by_grade": _nested(),
        "initiated": _nested(),
        "hours": _nested(),
        "reach": _nested(),
    }
    for row in _rows(
        store,
        f"{events.replace('SELECT * FROM local', f'SELECT tool_id, role, {measures} FROM local')} "
        "AND tool_id IS NOT NULL GROUP BY ALL",
        params,
    ):
        result["usage"][row["tool_id"]][row["role"]] = _reference_measures(row)
    for row in _rows(
        store,
        f"{events.replace('SELECT * FROM local', f'SELECT tool_id, school, role, {measures} FROM local')} "
        "AND tool_id IS NOT NULL GROUP BY ALL",
        params,
    ):
        result["usage_by_school"][row["tool_id"]][row["school"]][row["role"]] = _reference_measures(
            row
        )
    weekly = events.replace(
        "SELECT * FROM local",
        f"SELECT tool_id, school, role, strftime(local_at, '%G-W%V') AS week, {measures} FROM local",
    )
    for row in _rows(store, f"{weekly} AND tool_id IS NOT NULL GROUP BY ALL", params):
        result["weekly"][row["tool_id"]][row["school"]][row["week"]][row["role"]] = (
            _reference_measures(row)
        )
    initiated = events.replace(
        "SELECT * FROM local",
        "SELECT tool_id, school, initiated_by, count(*) AS events FROM local",
    )
    for row in _rows(
        store,
        f"{initiated} AND tool_id IS NOT NULL AND initiated_by IS NOT NULL GROUP BY ALL",
        params,
    ):
        result["initiated"][row["tool_id"]][row["school"]][row["initiated_by"]] = int(row["events"])
    start, end = day
    hours = events.replace(
        "SELECT * FROM local",
        f"""SELECT tool_id, school,
                   CASE WHEN CAST(local_at AS TIME) = TIME '00:00:00' THEN 'day_only'
                        WHEN isodow(local_at) >= 6 THEN 'weekend'
                        WHEN CAST(local_at AS TIME) >= TIME '{start}' AND CAST(local_at AS TIME) < TIME '{end}'
                            THEN 'school_hours'
                        ELSE 'evening' END AS part,
                   count(*) AS events
            FROM local""",
    )
    for row in _rows(store, f"{hours} AND tool_id IS NOT NULL GROUP BY ALL", params):
        result["hours"][row["tool_id"]][row["school"]][row["part"]] = int(row["events"])
    how = events.replace(
        "SELECT * FROM local",
        "SELECT tool_id, (isodow(local_at) - 1) * 24 + hour(local_at) AS slot, count(*) AS events FROM local",
    )
    hour_of_week: dict[str, list[int]] = {}
    for row in _rows(
        store,
        f"{how} AND tool_id IS NOT NULL AND CAST(local_at AS TIME) <> TIME '00:00:00' GROUP BY ALL",
        params,
    ):
        slots = hour_of_week.setdefault(row["tool_id"], [0] * 168)
        slots[int(row["slot"])] = int(row["events"])
    by_grade = events.replace(
        "SELECT * FROM local",
        f"""SELECT tool_id, school, g.grade, strftime(local_at, '%G-W%V') AS week, {measures}
            FROM local
            JOIN _audit_class_grades AS g
              ON g.class_key = regexp_extract(local.class_key, '[^/]+$')""",
    )
    for row in _rows(
        store, f"{by_grade} AND tool_id IS NOT NULL AND role = 'student' GROUP BY ALL", params
    ):
        try:
            grade = parse_grade(row["grade"]).label
        except ValueError:
            continue
        school, week = row["school"], row["week"]
        result["weekly_by_grade"][row["tool_id"]][school][grade][week] = _reference_measures(row)
    reach = events.replace(
        "SELECT * FROM local",
        """SELECT tool_id, school,
                  count(DISTINCT regexp_extract(class_key, '[^/]+$')) AS classes,
                  count(DISTINCT user_key) FILTER (WHERE role = 'teacher') AS teachers
           FROM local""",
    )
    for row in _rows(store, f"{reach} AND tool_id IS NOT NULL GROUP BY ALL", params):
        result["reach"][row["tool_id"]][row["school"]] = {
            "classes": int(row["classes"]),
            "teachers": int(row["teachers"]),
        }
    unmatched = events.replace(
        "SELECT * FROM local",
        """SELECT app_identifier AS identifier,
                  count(DISTINCT user_key) FILTER (WHERE role = 'student') AS students,
                  count(DISTINCT user_key) FILTER (WHERE role = 'teacher') AS teachers,
                  count(DISTINCT user_key) AS users,
                  count(*) AS events,
                  count(DISTINCT school) FILTER (WHERE school <> 'unknown') AS schools
           FROM local""",
    ).replace("e.tool_id,", "e.tool_id, e.app_identifier,")
    result["unmatched"] = [
        {k: (int(v) if isinstance(v, int) else v) for k, v in row.items()}
        for row in _rows(
            store,
            f"{unmatched} AND tool_id IS NULL AND app_identifier IS NOT NULL GROUP BY ALL "
            "ORDER BY students DESC, users DESC, identifier",
            params,
        )
    ]
    result["hour_of_week"] = hour_of_week
    span = _rows(
        store,
        events.replace(
            "SELECT * FROM local",
            "SELECT min(CAST(local_at AS DATE)) AS first, max(CAST(local_at AS DATE)) AS last "
            "FROM local",
        ),
        params,
    )
    result["observed_start"] = span[0]["first"] if span else None
    result["observed_end"] = span[0]["last"] if span else None
    return {
        key: _reference_plain(value) if isinstance(value, defaultdict) else value
        for key, value in result.items()
    }


def _reference_measures(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "events": int(row["events"]),
        "active_users": int(row["active_users"]),
        "minutes": round(float(row["minutes"]), 1),
        "active_days": int(row["active_days"]),
    }


def _nested() -> defaultdict[str, Any]:
    return defaultdict(_nested)


def _reference_plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _reference_plain(v) for k, v in sorted(value.items())}
    return value


def _rows(store: Store, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = store.query_arrow(sql, params).to_pylist()
    return rows


def reference(store: Store, *, as_of: date, window_days: int) -> dict[str, Any]:
    """The usage aggregates as the earlier code computed them (school and grade maps as now)."""
    keys = {
        str(r[0])
        for r in store.con.execute(
            "SELECT DISTINCT school_key FROM usage_events WHERE school_key IS NOT NULL"
        ).fetchall()
    }
    schools = _school_map(ECO, keys)
    mapping = pa.table(
        {"school_key": list(schools), "school": [schools[k] for k in schools]},
        schema=pa.schema([("school_key", pa.string()), ("school", pa.string())]),
    )
    store.con.register("_audit_school_map", mapping)
    class_keys, grades = _class_grades(store)
    store.con.register(
        "_audit_class_grades",
        pa.table(
            {"class_key": class_keys, "grade": grades},
            schema=pa.schema([("class_key", pa.string()), ("grade", pa.string())]),
        ),
    )
    try:
        return _reference_usage(
            store,
            ZONE,
            (as_of - timedelta(days=window_days - 1), as_of),
            ("07:45:00", "15:00:00"),
        )
    finally:
        store.con.unregister("_audit_school_map")
        store.con.unregister("_audit_class_grades")


# Times from three days before the window to two days after it (UTC). 06:00Z is local
# midnight in Chicago in November: a day-level export row, counted as "day_only".
_FIRST = datetime(2026, 11, 11, tzinfo=UTC)
times = st.one_of(
    st.integers(min_value=0, max_value=12 * 24 * 60 - 1).map(
        lambda m: _FIRST + timedelta(minutes=m)
    ),
    st.integers(min_value=0, max_value=11).map(lambda d: _FIRST + timedelta(days=d, hours=6)),
)
events = st.lists(
    st.fixed_dictionaries(
        {
            "event_time": times,
            "tool_id": st.sampled_from(["app", "other", None]),
            "app_identifier": st.sampled_from([None, "games.example", "quiz.example"]),
            "user_key": st.sampled_from(["u1", "u2", "u3", "u4", "u5", None]),
            "role": st.sampled_from(["student", "teacher", "administrator"]),
            "school_key": st.sampled_from(
                [None, "https://sis.example/orgs/org-ms", "org-hs", "https://x.example/orgs/z"]
            ),
            "class_key": st.sampled_from(
                [
                    None,
                    "https://sis.example/classes/c1",
                    "https://lms.example/courses/c1",
                    "c2",
                    "https://sis.example/classes/c3",
                    "https://sis.example/classes/",
                ]
            ),
            # quarters of a second add up exactly in any order, so minutes compare exactly
            "duration_seconds": st.one_of(
                st.none(), st.integers(min_value=0, max_value=14_400).map(lambda q: q / 4)
            ),
            "initiated_by": st.sampled_from([None, "student", "assigned"]),
        }
    ),
    max_size=60,
)

USAGE_FIELDS = (
    "usage",
    "usage_by_school",
    "weekly",
    "weekly_by_grade",
    "initiated",
    "hours",
    "reach",
    "unmatched",
    "hour_of_week",
    "observed_start",
    "observed_end",
)


def _store_with(path: Path, rows: list[dict[str, Any]]) -> Store:
    store = Store.open(path)
    ensure_usage_schema(store, timezone=ZONE)
    schema = USAGE_EVENTS.arrow_schema()
    table = pa.Table.from_pylist(
        [
            {name: ({"source": "t", "event_id": f"e{n}"} | row).get(name) for name in schema.names}
            for n, row in enumerate(rows)
        ],
        schema=schema,
    )
    classes = pa.Table.from_pylist(
        [{name: row.get(name) for name in CLASSES.arrow_schema().names} for row in CLASS_ROWS],
        schema=CLASSES.arrow_schema(),
    )
    with store.transaction() as tx:
        tx.upsert(USAGE_EVENTS, table, run_id="r")
        tx.upsert(CLASSES, classes, run_id="r")
    return store


def _compare(aggregates: Aggregates, expected: Mapping[str, Any]) -> None:
    for name in USAGE_FIELDS:
        assert getattr(aggregates, name) == expected[name], name
    for name in USAGE_FIELDS[:7]:  # same nesting, same (sorted) key order: reports show it
        assert json.dumps(getattr(aggregates, name)) == json.dumps(expected[name]), name


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rows=events, window_days=st.sampled_from([1, 7, 10]))
@example(rows=[], window_days=7)
@example(  # every event outside the window
    rows=[
        {"event_time": _FIRST, "tool_id": "app", "user_key": "u1", "role": "student"},
        {"event_time": _FIRST + timedelta(days=11), "tool_id": "app", "role": "teacher"},
    ],
    window_days=7,
)
def test_aggregates_match_the_plain_queries(rows: list[dict[str, Any]], window_days: int) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        _store_with(Path(folder) / "s.duckdb", rows) as store,
    ):
        expected = reference(store, as_of=AS_OF, window_days=window_days)
        aggregates = compute_aggregates(store, ECO, as_of=AS_OF, window_days=window_days)
        temp = store.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_audit%'"
        ).fetchall()
    assert temp == []  # no temp table or registered view is left behind
    assert aggregates.has_usage == bool(rows)
    if rows:  # without events the usage aggregates are not computed at all
        _compare(aggregates, expected)


def test_a_busy_week_matches_the_plain_queries(tmp_path: Path) -> None:
    """Many events per user, day, class and hour (what the grouped scan folds together)."""
    rows = [
        {
            "event_time": _FIRST + timedelta(minutes=37 * n),
            "tool_id": ("app", "other", None)[n % 3],
            "app_identifier": ("games.example", None)[n % 2],
            "user_key": f"u{n % 7}" if n % 11 else None,
            "role": ("student", "student", "teacher", "administrator")[n % 4],
            "school_key": ("https://sis.example/orgs/org-ms", "org-hs", None)[n % 3],
            "class_key": ("https://sis.example/classes/c1", "c2", None, "c3")[n % 4],
            "duration_seconds": None if n % 5 == 0 else float(n % 600),
            "initiated_by": ("student", "assigned", None)[n % 3],
        }
        for n in range(500)
    ]
    with _store_with(tmp_path / "s.duckdb", rows) as store:
        expected = reference(store, as_of=AS_OF, window_days=7)
        aggregates = compute_aggregates(store, ECO, as_of=AS_OF, window_days=7)
    _compare(aggregates, expected)
    assert aggregates.weekly_by_grade and aggregates.unmatched and aggregates.hour_of_week
