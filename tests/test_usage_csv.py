"""Usage CSV exports: presets, custom mappings, exact line numbers, bad rows (hypothesis)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.usage_csv import (
    PRESETS,
    ColumnMapping,
    UsageCsvError,
    detect_preset,
    read_usage_csv,
)
from connectors.usage_events import IdentifierKind, Rejection, UsageEvent
from edtech_map.model import Role
from edtech_map.privacy import KeyMaker

KEYS = KeyMaker(b"usage-csv-test-secret-0123456789")


def write(tmp_path: Path, text: str, name: str = "usage.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_each_preset_is_detected_from_its_own_header() -> None:
    for name, mapping in PRESETS.items():
        assert detect_preset(list(mapping.required_columns())) == name


def test_daily_minutes_preset(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "date,user_id,role,school_id,app,minutes\n"
        "2026-11-02,stu-1,Student,lincoln-es,Mathly,12.5\n"
        "2026-11-02,tch-9,Teacher,lincoln-es,mathly,3\n",
    )
    first, second = read_usage_csv(path, KEYS)
    assert isinstance(first, UsageEvent) and isinstance(second, UsageEvent)
    assert (first.line, second.line) == (2, 3)
    assert first.user_key == KEYS.user("stu-1")  # district namespace: meets the roster key
    assert (first.role, second.role) == (Role.STUDENT, Role.TEACHER)
    assert first.event_time == datetime(2026, 11, 2, tzinfo=UTC)
    assert (first.duration_seconds, second.duration_seconds) == (750.0, 180.0)
    assert first.event_id != second.event_id and first.event_id.startswith("sha256:")


def test_launch_log_preset_reads_urls(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "User ID,Timestamp,App URL,Role,School\n"
        "stu-1,2026-11-02T08:15:00-05:00,https://app.mathly.example/home?u=stu-1,Learner,lincoln-es\n",
    )
    (event,) = read_usage_csv(path, KEYS)
    assert isinstance(event, UsageEvent)
    assert event.apps[0].kind is IdentifierKind.URL
    assert event.apps[0].value == "https://app.mathly.example"  # no path or query kept
    assert event.event_time == datetime(2026, 11, 2, 13, 15, tzinfo=UTC)
    assert event.duration_seconds is None


def test_custom_mapping_with_local_times_and_a_fixed_tool(tmp_path: Path) -> None:
    mapping = ColumnMapping(
        user="Student Number",
        time="Day",
        tool="readwell",
        seconds="Time on task",
        time_format="%m/%d/%Y %H:%M",
        timezone="America/Chicago",
        user_namespace="readwell",
        delimiter=";",
    )
    path = write(tmp_path, "Student Number;Day;Time on task\n1234;11/02/2026 08:00;0:12:30\n")
    (event,) = read_usage_csv(path, KEYS, mapping)
    assert isinstance(event, UsageEvent)
    assert event.event_time == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    assert event.duration_seconds == 750.0
    assert event.user_key == KEYS.user("1234", namespace="readwell")
    assert event.apps[0].value == "readwell"


def test_bad_rows_are_rejected_with_exact_lines_and_no_user_ids(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "date,user_id,role,school_id,app,minutes\n"
        '2026-11-02,stu-1,student,lincoln-es,"Mathly\nfor Schools",5\n'  # a quoted newline
        ",stu-2,student,lincoln-es,Mathly,5\n"
        "2026-11-03,,student,lincoln-es,Mathly,5\n"
        "2026-11-03,stu-4,student,lincoln-es,Mathly,lots\n"
        "2026-11-03,stu-5,student,lincoln-es\n"
        "\n"
        "2026-11-03,stu-6,student,lincoln-es,Mathly,-1\n"
        "2026-11-04,stu-7,student,lincoln-es,Mathly,PT5M\n",
    )
    outcomes = list(read_usage_csv(path, KEYS))
    summary = [(o.line, o.field if isinstance(o, Rejection) else "ok") for o in outcomes]
    assert summary == [
        (2, "ok"),
        (4, "date"),
        (5, "user_id"),
        (6, "minutes"),
        (7, "(row)"),
        (9, "minutes"),
        (10, "ok"),
    ]
    for outcome in outcomes:
        if isinstance(outcome, Rejection):
            assert "stu-" not in outcome.render(path)


def test_missing_columns_and_unknown_shapes_say_what_to_do(tmp_path: Path) -> None:
    mapping = ColumnMapping(user="user", time="when", minutes="mins")
    with pytest.raises(UsageCsvError, match=r"usage.csv:1: the header has no column 'mins'"):
        list(read_usage_csv(write(tmp_path, "user,when\nstu-1,2026-01-01\n"), KEYS, mapping))
    with pytest.raises(UsageCsvError, match="fit no built-in usage CSV preset"):
        list(read_usage_csv(write(tmp_path, "a,b\n1,2\n", "other.csv"), KEYS))


def test_the_row_hash_is_stable_and_ignores_the_raw_user_id(tmp_path: Path) -> None:
    text = "date,user_id,role,school_id,app,minutes\n2026-11-02,stu-1,student,x,Mathly,1\n"
    (one,) = read_usage_csv(write(tmp_path, text, "a.csv"), KEYS)
    (two,) = read_usage_csv(write(tmp_path, text, "b.csv"), KEYS)
    (other,) = read_usage_csv(
        write(tmp_path, text, "c.csv"), KeyMaker(b"another-secret-0123456789abcdef")
    )
    assert isinstance(one, UsageEvent) and isinstance(two, UsageEvent)
    assert isinstance(other, UsageEvent)
    assert one.event_id == two.event_id != other.event_id


names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]) | st.just("\n"),
    min_size=1,
    max_size=12,
).filter(lambda s: s.strip() != "")
rows = st.lists(
    st.tuples(
        st.from_regex(r"stu-[0-9]{1,4}", fullmatch=True),
        st.dates(),
        names,
        st.integers(min_value=0, max_value=600),
        st.sampled_from(["Student", "Teacher", "Learner", ""]),
    ),
    max_size=15,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
def test_written_rows_read_back_with_exact_line_numbers(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[str, object, str, int, str]],
    quoting: Literal[0, 1],
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=quoting, lineterminator="\n")
    writer.writerow(["date", "user_id", "role", "school_id", "app", "minutes"])
    expected_lines, line = [], 2
    for user, day, app, minutes, role in rows:
        writer.writerow([day, user, role, "lincoln-es", app, minutes])
        expected_lines.append(line)
        line += 1 + app.count("\n")
    path = tmp_path_factory.mktemp("csv") / "usage.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    events = list(read_usage_csv(path, KEYS))
    assert all(isinstance(e, UsageEvent) for e in events)
    assert [e.line for e in events] == expected_lines
    assert [e.apps[0].value for e in events if isinstance(e, UsageEvent)] == [
        r[2].strip() for r in rows
    ]
    assert [e.user_key for e in events if isinstance(e, UsageEvent)] == [
        KEYS.user(r[0]) for r in rows
    ]
    assert [e.duration_seconds for e in events if isinstance(e, UsageEvent)] == [
        r[3] * 60.0 for r in rows
    ]


def test_tab_separated_and_windows_encoded_exports(tmp_path: Path) -> None:
    tsv = tmp_path / "usage.tsv"
    tsv.write_text(
        "date\tuser_id\trole\tschool_id\tapp\tminutes\n2026-11-02\tstu-1\tStudent\tx\tMathly\t3\n",
        encoding="utf-8",
    )
    (event,) = read_usage_csv(tsv, KEYS)
    assert isinstance(event, UsageEvent) and event.duration_seconds == 180.0
    latin = tmp_path / "latin.csv"
    latin.write_bytes("user,when,app\nstu-1,2026-11-02,Matemáticas\n".encode("cp1252"))
    mapping = ColumnMapping(user="user", time="when", app="app", encoding="cp1252")
    (event,) = read_usage_csv(latin, KEYS, mapping)
    assert isinstance(event, UsageEvent) and event.apps[0].value == "Matemáticas"
