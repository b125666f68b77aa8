"""Aggregates from a small, hand-filled store: every number worked out from the rows below."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import networkx as nx
import pyarrow as pa  # type: ignore[import-untyped]

from edtech_map.aggregates import compute_aggregates
from edtech_map.model import Ecosystem
from edtech_map.store import CLASSES, ENROLLMENTS, USERS, Store
from edtech_map.usage import USAGE_EVENTS, ensure_usage_schema

ECO = Ecosystem(
    district={
        "id": "d",
        "name": "D",
        "timezone": "America/Chicago",
        "school_day": {"start": "08:00", "end": "15:00"},
    },
    schools=[
        {"id": "ms", "name": "MS", "type": "middle", "grades": "6-8", "roster_ids": ["org-ms"]}
    ],
    tools=[{"id": "app", "name": "App", "category": "content"}],
)
AS_OF = date(2026, 11, 20)  # a Friday


def _table(spec: Any, rows: list[dict[str, Any]]) -> pa.Table:
    schema = spec.arrow_schema()
    return pa.Table.from_pylist(
        [{name: row.get(name) for name in schema.names} for row in rows], schema=schema
    )


def _event(n: int, when: datetime, user: str, role: str, **more: Any) -> dict[str, Any]:
    return {
        "source": "t",
        "event_id": f"e{n}",
        "event_time": when,
        "tool_id": "app",
        "user_key": user,
        "role": role,
        "school_key": "https://sis.example/orgs/org-ms",
        "class_key": "https://sis.example/classes/c1",
        **more,
    }


def test_aggregates_count_people_per_role_school_week_and_hour(tmp_path: Path) -> None:
    # Chicago is UTC-6 in November: 14:00Z = 08:00 local (school hours), 02:00Z = 20:00 local
    # the day before (evening), 06:00Z = midnight local (a day-level export row).
    events = [
        _event(
            1, datetime(2026, 11, 17, 14, 0, tzinfo=UTC), "s1", "student", duration_seconds=600.0
        ),
        _event(2, datetime(2026, 11, 17, 15, 0, tzinfo=UTC), "s1", "student"),
        _event(
            3,
            datetime(2026, 11, 18, 2, 0, tzinfo=UTC),
            "s2",
            "student",
            duration_seconds=300.0,
            initiated_by="student",
        ),
        _event(
            4,
            datetime(2026, 11, 18, 6, 0, tzinfo=UTC),
            "t1",
            "teacher",
            duration_seconds=120.0,
            initiated_by="assigned",
        ),
        _event(5, datetime(2026, 10, 1, 14, 0, tzinfo=UTC), "s3", "student"),  # before window
        {
            **_event(6, datetime(2026, 11, 17, 14, 0, tzinfo=UTC), "s1", "student"),
            "tool_id": None,
            "app_identifier": "games.example",
        },
    ]
    with Store.open(tmp_path / "s.duckdb") as store:
        ensure_usage_schema(store, timezone="America/Chicago")
        with store.transaction() as tx:
            tx.upsert(USAGE_EVENTS, _table(USAGE_EVENTS, events), run_id="r")
            tx.upsert(
                CLASSES,
                _table(
                    CLASSES,
                    [
                        {
                            "source": "t",
                            "class_key": "c1",
                            "school_key": "org-ms",
                            "title": "7th Grade Science",
                            "grades": [],
                            "subjects": [],
                        },
                        {
                            "source": "t",
                            "class_key": "c2",
                            "school_key": "org-ms",
                            "title": "Math 8",
                            "grades": ["08"],
                            "subjects": ["Mathematics"],
                        },
                    ],
                ),
                run_id="r",
            )
            tx.upsert(
                ENROLLMENTS,
                _table(
                    ENROLLMENTS,
                    [
                        {
                            "source": "t",
                            "enrollment_key": f"e{u}",
                            "user_key": u,
                            "class_key": c,
                            "role": "student",
                        }
                        for u, c in (("s1", "c1"), ("s2", "c1"), ("s3", "c2"))
                    ],
                ),
                run_id="r",
            )
            tx.upsert(
                USERS,
                _table(
                    USERS,
                    [
                        {
                            "source": "t",
                            "user_key": u,
                            "primary_role": "student",
                            "roles": ["student"],
                            "org_keys": ["org-ms"],
                            "grades": [g],
                        }
                        for u, g in (("s1", "07"), ("s2", "07"), ("s3", "08"))
                    ],
                ),
                run_id="r",
            )
        aggregates = compute_aggregates(store, ECO, as_of=AS_OF, window_days=7)

    assert aggregates.has_usage and aggregates.has_roster
    assert aggregates.usage["app"]["student"] == {
        "events": 3,
        "active_users": 2,
        "minutes": 15.0,
        "active_days": 2,
    }
    assert aggregates.usage["app"]["teacher"]["minutes"] == 2.0
    assert set(aggregates.usage_by_school["app"]) == {"ms"}
    assert set(aggregates.weekly["app"]["ms"]) == {"2026-W47"}
    assert aggregates.hours["app"]["ms"] == {"school_hours": 2, "evening": 1, "day_only": 1}
    assert sum(aggregates.hour_of_week["app"]) == 3
    assert aggregates.initiated["app"]["ms"] == {"student": 1, "assigned": 1}
    assert aggregates.reach["app"]["ms"] == {"classes": 1, "teachers": 1}
    assert aggregates.weekly_by_grade["app"]["ms"]["7"]["2026-W47"]["active_users"] == 2
    assert aggregates.unmatched == [
        {
            "identifier": "games.example",
            "students": 1,
            "teachers": 0,
            "users": 1,
            "events": 1,
            "schools": 1,
        }
    ]
    assert {
        (c["school"], c["grade"], c["subject"], c["students"]) for c in aggregates.roster_cells
    } == {("ms", "7", "science", 2), ("ms", "8", "math", 1)}
    assert aggregates.enrolled == {"ms": {"7": 2, "8": 1}}
    assert (aggregates.observed_start, aggregates.observed_end) == (
        date(2026, 11, 17),
        date(2026, 11, 18),  # the teacher's day-level row is local midnight of the 18th
    )

    G: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    G.add_node("app", kind="tool")
    aggregates.attach(G)
    text = repr(G.graph) + repr(list(G.nodes(data=True)))
    assert not [key for key in ("s1", "s2", "s3", "t1") if f"'{key}'" in text]
    assert G.nodes["app"]["usage"]["student"]["active_users"] == 2
    assert G.graph["roster"] and G.graph["usage"]["observed_end"] == "2026-11-18"
