"""Usage CSV ingest in bulk (DuckDB ``read_csv`` and SQL) against the per-record path.

The property: for any usage CSV (bad rows, odd white space, quoting, presets and mappings),
ingesting it in bulk stores the same rows and reports the same counts and reasons as
ingesting it record by record. Both run against real DuckDB stores with the same secret.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from connectors.usage_csv import PRESETS, ColumnMapping, stage_usage_csv
from connectors.usage_events import STAGE_COLUMNS, IdentifierKind
from edtech_map import usage
from edtech_map.model import Ecosystem
from edtech_map.privacy import KeyMaker
from edtech_map.store import Store
from edtech_map.usage import IngestReport, UsageIngestError, ingest

SECRET = b"bulk-usage-test-secret-0123456789abcdef"

ECOSYSTEM = Ecosystem(
    district={"id": "riverside", "name": "Riverside", "timezone": "America/Chicago"},
    schools=[{"id": "lincoln-es", "name": "Lincoln ES", "type": "elementary"}],
    tools=[
        {"id": "mathly", "name": "Mathly", "category": "adaptive_practice"},
        {
            "id": "readwell",
            "name": "ReadWell",
            "category": "content",
            "identifiers": {"domains": ["readwell.example"]},
        },
    ],
)

CUSTOM = ColumnMapping(
    user="Student Number",
    time="Day",
    tool="readwell",
    seconds="Time on task",
    event_id="Row",
    action="Did",
    initiated_by="Who",
    time_format="%m/%d/%Y %H:%M",
    timezone="America/Chicago",
    user_namespace="readwell",
    delimiter=";",
)
MAPPINGS: dict[str, ColumnMapping | None] = {
    "detected": None,  # the header picks the preset
    "daily_minutes": PRESETS["daily_minutes"],
    "edtech_map_sample": PRESETS["edtech_map_sample"],
    "launches": PRESETS["launches"],
    "custom": CUSTOM,
}

PAD = st.sampled_from(["", "", "", " ", "  ", "\t", "\u00a0", "\u3000"])
TIMES = st.sampled_from(
    [
        "2026-11-02",
        "2026-11-02T08:15:00Z",
        "2026-11-02 08:15:00",
        "2026-11-02T08:15:00-05:00",
        "11/02/2026 08:00",
        "2026-13-40",
        "someday",
        "",
    ]
)
DURATIONS = st.sampled_from(["12.5", "3", "0", "-1", "lots", "PT5M", "P1Y", "0:12:30", "inf", ""])
ROLES = st.sampled_from(["Student", "Learner", "TEACHER", "Instructor#TeachingAssistant", "x", ""])
APPS = st.sampled_from(
    [
        "Mathly",
        "mathly",
        "https://readwell.example/path?u=stu-1",
        "readwell.example",
        "Some, App",
        'Say "hi"',
        "né app",
        "back\\slash",
        "",
    ]
)
USERS = st.sampled_from(["stu-1", "stu-2", " stu-3 ", "tch-9", "", "  "])
FREE = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=6)
ANY = st.one_of(TIMES, DURATIONS, ROLES, APPS, USERS, FREE)


def _field(draw: Any, column: str, mapping: ColumnMapping | None) -> str:
    chosen = mapping or PRESETS["daily_minutes"]
    pick: st.SearchStrategy[str] = ANY
    if column == chosen.user:
        pick = USERS
    elif column == chosen.time:
        pick = TIMES
    elif column in (chosen.minutes, chosen.seconds):
        pick = DURATIONS
    elif column == chosen.role:
        pick = ROLES
    elif column in (chosen.app, chosen.app_name):
        pick = APPS
    if draw(st.integers(0, 9)) == 0:
        pick = ANY  # now and then, anything in any column
    text: str = draw(PAD) + draw(pick) + draw(PAD)
    return text


def _quoted(draw: Any, value: str, delimiter: str) -> str:
    needs = any(c in value for c in (delimiter, '"', "\n", "\r")) or value[:1] == '"'
    if needs or draw(st.integers(0, 4)) == 0:
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def usage_files(draw: Any) -> tuple[str, ColumnMapping | None, str]:
    """A usage CSV as text, with the mapping to read it and a name for the case."""
    name = draw(st.sampled_from(sorted(MAPPINGS)))
    mapping = MAPPINGS[name]
    chosen = mapping or PRESETS["daily_minutes"]
    delimiter = chosen.delimiter
    header = list(chosen.required_columns())
    header += draw(st.lists(st.sampled_from(["Notes", "Sessions", "Extra"]), unique=True))
    header = draw(st.permutations(header))
    newline = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    lines = [delimiter.join(_quoted(draw, h, delimiter) for h in header)]
    rows = draw(st.lists(st.integers(0, 99), max_size=12))
    previous: str | None = None
    for kind in rows:
        if kind < 3 and previous is not None:
            lines.append(previous)  # a repeated row: the same content hash
            continue
        values = [_field(draw, column, mapping) for column in header]
        if kind == 3:
            values.append("extra")  # a ragged row
        elif kind == 4:
            values = [""] * len(header)  # a row of empty fields
        elif kind == 5:
            lines.append("")  # a blank line between records
        elif kind == 6:
            values[0] = 'a "b" c'  # a quote inside an unquoted field
        elif kind == 7:
            values[-1] = "two\nlines"  # a quoted line break
        line = delimiter.join(_quoted(draw, v, delimiter) for v in values)
        if kind == 8:
            line = line.replace(delimiter, delimiter + ' "x"', 1)  # a space before a quote
        lines.append(line)
        previous = line
    trailing = draw(st.sampled_from(["", newline, newline + newline]))
    text = newline.join(lines) + (newline if rows else "") + trailing
    return text, mapping, name


@contextmanager
def _store(folder: Path) -> Iterator[Store]:
    folder.mkdir(parents=True)
    (folder / "secret.key").write_text(SECRET.hex(), encoding="ascii")
    with Store.open(folder / "store.duckdb") as store:
        yield store


def _ingest(store: Store, path: Path, mapping: ColumnMapping | None, **kwargs: Any) -> Any:
    options = {"csv": {"mapping": mapping.model_dump(by_alias=True)}} if mapping else None
    return ingest(store, [path], ECOSYSTEM, format="csv", options=options, **kwargs)


def _per_record(
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
    path: Path,
    mapping: ColumnMapping | None,
    **kwargs: Any,
) -> Any:
    with monkeypatch.context() as patch:
        patch.setattr(usage, "_STAGERS", {})  # no bulk reader: every file record by record
        return _ingest(store, path, mapping, **kwargs)


def _stored(store: Store) -> set[tuple[Any, ...]]:
    columns = ", ".join(c for c in usage.USAGE_EVENTS.columns if c != "file")
    rows = store.query_arrow(f"SELECT {columns} FROM usage_events").to_pylist()
    return {tuple(row.values()) for row in rows}


def _outcome(run: Any) -> Any:
    if isinstance(run, UsageIngestError):
        return ("error", str(run))
    assert isinstance(run, IngestReport)
    return [
        {k: v for k, v in f.as_dict().items() if k not in ("file",)} for f in run.files
    ], run.summary()


def _run(action: Any) -> Any:
    try:
        return action()
    except UsageIngestError as error:
        return error


@settings(
    max_examples=60,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=usage_files(), strict=st.booleans())
def test_bulk_and_per_record_ingest_store_and_report_the_same(
    case: tuple[str, ColumnMapping | None, str], strict: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, mapping, _ = case
    folder = Path(tempfile.mkdtemp())
    path = folder / "usage.csv"
    path.write_bytes(text.encode("utf-8"))
    with _store(folder / "bulk") as bulk, _store(folder / "slow") as slow:
        with monkeypatch.context() as patch:
            taken = _spy(patch)
            fast_run = _run(lambda: _ingest(bulk, path, mapping, strict=strict))
        event(f"read in bulk: {taken}")
        slow_run = _run(lambda: _per_record(monkeypatch, slow, path, mapping, strict=strict))
        if not strict:
            assert _outcome(fast_run) == _outcome(slow_run)
        else:
            assert type(fast_run) is type(slow_run)
            if isinstance(slow_run, UsageIngestError):
                assert str(fast_run) == str(slow_run)
        assert _stored(bulk) == _stored(slow)
        # A second ingest of the same file adds nothing, whichever path stored the first.
        again = _run(lambda: _ingest(slow, path, mapping))
        if isinstance(slow_run, IngestReport) and isinstance(again, IngestReport):
            assert again.loaded == 0
            assert again.read == again.duplicates + again.rejected


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    taken: list[bool] = []
    real = usage._STAGERS["csv"]

    def recording(*args: Any, **kwargs: Any) -> bool:
        taken.append(real(*args, **kwargs))
        return taken[-1]

    monkeypatch.setitem(usage._STAGERS, "csv", recording)
    return taken


DAILY = (
    "date,user_id,role,school_id,app,minutes\n"
    "2026-11-02,stu-1,Student,lincoln-es,Mathly,12.5\n"
    '2026-11-02, stu-2 ,Learner,lincoln-es,"Mathly, for schools",3\n'
    "2026-11-03,,Student,lincoln-es,Mathly,5\n"
    "2026-11-03,stu-4,Student,lincoln-es,Mathly,-1\n"
    "2026-11-02,stu-1,Student,lincoln-es,Mathly,12.5\n"
    "2026-11-04,tch-9,Teacher,lincoln-es,ReadWell,PT5M\n"
    ",,,,,\n"
)


def test_a_clean_file_is_ingested_in_bulk_with_exact_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = _spy(monkeypatch)
    path = tmp_path / "usage.csv"
    path.write_text(DAILY + "\n\n", encoding="utf-8")
    with _store(tmp_path / "ws") as store:
        report = ingest(store, [path], ECOSYSTEM)
        again = ingest(store, [path], ECOSYSTEM)
    assert taken == [True, True]
    (file,) = report.files
    assert (file.read, file.loaded, file.duplicates, file.rejected) == (6, 3, 1, 2)
    assert file.matched == 2 and file.balanced  # Mathly and ReadWell by name
    assert file.rejections == [
        f"{path}:4 user_id: empty; every row needs the user id",
        f"{path}:5 minutes: '-1' is not a duration (a number of 0 or more)",
    ]
    assert (again.loaded, again.duplicates, again.rejected) == (0, 4, 2)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (DAILY.replace("ReadWell,PT5M", '"Read\nWell",PT5M'), "a quoted line break"),
        (DAILY.replace("\n2026-11-03,,", "\n\n2026-11-03,,"), "a blank line between records"),
        (DAILY.replace("ReadWell,PT5M", "ReadWell,PT5M,x"), "a ragged row"),
        (DAILY.replace(",Mathly,12.5", ', "Mathly",12.5'), "a space before a quote"),
        (DAILY.replace("\n", "\r"), "lone carriage returns"),
        (DAILY.replace("Mathly,5", "Ma\x01thly,5"), "a control character"),
        (DAILY.replace("Mathly,5", "M" + "a" * 131_072 + ",5"), "a field csv refuses"),
    ],
)
def test_files_bulk_cannot_read_exactly_fall_back_and_match_per_record(
    text: str, why: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "usage.csv"
    path.write_bytes(text.encode("utf-8"))
    with _store(tmp_path / "slow") as slow:
        expected = _run(lambda: _per_record(monkeypatch, slow, path, None))
        rows = _stored(slow)
    taken = _spy(monkeypatch)
    with _store(tmp_path / "bulk") as bulk:
        got = _run(lambda: ingest(bulk, [path], ECOSYSTEM))
        assert _stored(bulk) == rows, why
    assert taken == [False], why
    assert _outcome(got) == _outcome(expected), why


def test_text_that_is_not_utf8_gives_the_located_error(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_bytes(DAILY.replace("Mathly,12.5", "Math\xe9ly,12.5").encode("cp1252"))
    with _store(tmp_path / "ws") as store:
        with pytest.raises(UsageIngestError, match=r"usage\.csv:2: not utf-8-sig text"):
            ingest(store, [path], ECOSYSTEM)
        assert store.con.execute("SELECT count(*) FROM usage_events").fetchall() == [(0,)]


def test_strict_mode_names_the_first_rejected_record_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = _spy(monkeypatch)
    path = tmp_path / "usage.csv"
    path.write_text(DAILY, encoding="utf-8")
    with _store(tmp_path / "ws") as store:
        with pytest.raises(UsageIngestError, match=r"usage\.csv:4 user_id: empty.*strict mode"):
            ingest(store, [path], ECOSYSTEM, strict=True)
        assert store.con.execute("SELECT count(*) FROM usage_events").fetchall() == [(0,)]
        assert store.sync_state() == []
    assert taken == [True]


def test_events_stored_record_by_record_are_duplicates_in_bulk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(DAILY, encoding="utf-8")
    with _store(tmp_path / "ws") as store:
        first = _per_record(monkeypatch, store, path, None)
        taken = _spy(monkeypatch)
        second = ingest(store, [path], ECOSYSTEM)
    assert taken == [True]
    assert first.loaded == 3 and (second.loaded, second.duplicates) == (0, 4)


def test_many_rejections_keep_ten_reasons_and_count_all(tmp_path: Path) -> None:
    rows = "".join(f"2026-11-02,stu-{i},Student,x,Mathly,bad{i}\n" for i in range(25))
    path = tmp_path / "usage.csv"
    path.write_text("date,user_id,role,school_id,app,minutes\n" + rows, encoding="utf-8")
    with _store(tmp_path / "ws") as store:
        report = ingest(store, [path])
    (file,) = report.files
    assert file.rejected == 25 and len(file.rejections) == usage.MAX_REASONS
    assert file.rejections[0] == f"{path}:2 minutes: 'bad0' is not a number"
    assert all("stu-" not in reason for reason in file.rejections)


def test_the_staged_table_has_the_stage_columns(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(DAILY, encoding="utf-8")
    con = duckdb.connect()
    keys = KeyMaker(SECRET)
    keys.install_sql(con)
    assert stage_usage_csv(con, path, "staged")
    con.execute(f"CREATE TABLE wanted ({', '.join(f'{n} {t}' for n, t in STAGE_COLUMNS.items())})")
    assert con.execute("DESCRIBE staged").fetchall() == con.execute("DESCRIBE wanted").fetchall()
    rows = con.execute("SELECT line, outcome, user_key, apps FROM staged ORDER BY line").fetchall()
    assert [line for line, *_ in rows] == [2, 3, 4, 5, 6, 7]
    assert rows[1][2] == keys.user("stu-2")
    assert rows[1][3] == [{"kind": IdentifierKind.NAME.value, "value": "Mathly, for schools"}]
