"""Parquet usage history: written once per ingest run, month partitions, compaction, and the
shared year aggregation over many districts (DuckDB here; the same SQL text runs on Spark)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; see docs/store.md
import pytest
from typer.testing import CliRunner

from edtech_map.cli import app
from edtech_map.history import (
    HISTORY_COLUMNS,
    HistoryError,
    aggregate,
    aggregate_sql,
    compact,
    export_parquet,
    history_files,
)
from edtech_map.store import Store
from edtech_map.usage import USAGE_EVENTS, ensure_usage_schema

YEAR = 2026


def _events(prefix: str, n: int, *, tool: str = "mathly", month: int = 10) -> pa.Table:
    """``n`` events of ``n`` distinct users; every third in the next month."""
    schema = USAGE_EVENTS.arrow_schema()
    data = {
        "source": ["caliper"] * n,
        "event_id": [f"{prefix}-e{i}" for i in range(n)],
        "event_time": [
            datetime(YEAR, month + (1 if i % 3 == 0 else 0), 5, 14, 30, tzinfo=UTC)
            for i in range(n)
        ],
        "tool_id": [tool] * n,
        "user_key": [f"{prefix}-u{i}" for i in range(n)],
        "role": ["student" if i % 4 else "teacher" for i in range(n)],
        "duration_seconds": [120.0] * n,
    }
    columns = {
        name: pa.array(data[name], type=schema.field(name).type)
        if name in data
        else pa.nulls(n, schema.field(name).type)
        for name in schema.names
    }
    return pa.table(columns, schema=schema)


def _load(store: Store, rows: pa.Table, run_id: str) -> None:
    ensure_usage_schema(store)
    with store.transaction() as tx:
        tx.upsert(USAGE_EVENTS, rows, run_id=run_id)


def _parquet_rows(folder: Path, sql: str = "SELECT * FROM h") -> list[tuple[object, ...]]:
    with duckdb.connect() as con:
        pattern = str(folder / "usage_events" / "*" / "*" / "*.parquet").replace("'", "''")
        con.execute(
            f"CREATE VIEW h AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)"
        )
        return con.execute(sql).fetchall()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        yield opened


def test_every_event_is_written_once_in_the_month_of_its_utc_time(
    store: Store, tmp_path: Path
) -> None:
    _load(store, _events("a", 30), "run-1")
    out = tmp_path / "history"

    first = export_parquet(store, out, district_id="riverside")
    second = export_parquet(store, out, district_id="riverside")

    assert (first.events, first.runs, second.events, second.runs) == (30, 1, 0, 0)
    stored = {r[0] for r in store.con.execute("SELECT event_id FROM usage_events").fetchall()}
    written = _parquet_rows(
        out, "SELECT event_id, year, month, timezone('UTC', event_time) AS utc FROM h"
    )
    assert len(written) == 30 and {r[0] for r in written} == stored
    for _, year, month, utc in written:
        assert isinstance(utc, datetime)
        assert (year, month) == (utc.year, utc.month)
    folders = {p.parent.relative_to(out).as_posix() for p in history_files(out)}
    assert folders == {"usage_events/year=2026/month=10", "usage_events/year=2026/month=11"}


def test_files_are_zstd_parquet_with_the_history_columns_and_no_names(
    store: Store, tmp_path: Path
) -> None:
    _load(store, _events("a", 12), "run-1")
    export_parquet(store, tmp_path / "h", district_id="riverside")
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    for path in history_files(tmp_path / "h"):
        meta = pq.ParquetFile(path).metadata
        assert meta.row_group(0).column(0).compression == "ZSTD"
        assert tuple(pq.read_schema(path).names) == HISTORY_COLUMNS
    districts = _parquet_rows(tmp_path / "h", "SELECT DISTINCT district_id FROM h")
    assert districts == [("riverside",)]


def test_a_later_ingest_run_exports_only_its_own_events(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "history"
    _load(store, _events("a", 10), "run-1")
    export_parquet(store, out, district_id="d1")
    _load(store, _events("b", 7), "run-2")

    report = export_parquet(store, out, district_id="d1")

    assert (report.events, report.runs) == (7, 1)
    assert _parquet_rows(out, "SELECT run_id, count(*) FROM h GROUP BY 1 ORDER BY 1") == [
        ("run-1", 10),
        ("run-2", 7),
    ]


def test_an_export_repeated_after_a_crash_overwrites_its_own_files(
    store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "history"
    _load(store, _events("a", 20), "run-1")
    export_parquet(store, out, district_id="d1")
    files = history_files(out)
    # as if the process died after writing the files but before recording the run
    store.con.execute("DELETE FROM history_exports")

    again = export_parquet(store, out, district_id="d1")

    assert again.events == 20
    assert history_files(out) == files
    assert _parquet_rows(out, "SELECT count(*), count(DISTINCT event_id) FROM h") == [(20, 20)]


def test_a_district_id_that_could_break_the_sql_is_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="district id"):
        export_parquet(store, tmp_path / "h", district_id="x'); DROP TABLE usage_events; --")


def test_compact_gives_back_the_space_of_deleted_rows_and_keeps_the_rest(
    store: Store,
) -> None:
    _load(store, _events("a", 60_000), "run-1")
    store.con.execute("CHECKPOINT")
    store.con.execute("DELETE FROM usage_events WHERE event_id NOT LIKE 'a-e1%'")
    kept = store.con.execute("SELECT count(*) FROM usage_events").fetchall()[0][0]

    report = compact(store)

    assert report.bytes_after < report.bytes_before
    assert store.path.stat().st_size == report.bytes_after
    assert store.con.execute("SELECT count(*) FROM usage_events").fetchall()[0][0] == kept
    _load(store, _events("b", 5), "run-2")  # the store still works, transactions included
    assert store.con.execute("SELECT count(*) FROM usage_events").fetchall()[0][0] == kept + 5
    assert not store.path.with_name(store.path.name + ".compacting").exists()


def test_compact_keeps_the_memory_limit(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.duckdb", memory_limit="512MB") as store:
        compact(store)
        limit = store.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert str(limit).startswith(("488", "512"))  # DuckDB shows MiB


def _district(tmp_path: Path, name: str, users: int, tool: str = "mathly") -> Path:
    with Store.open(tmp_path / name / "store.duckdb") as store:
        _load(store, _events(name, users, tool=tool), f"{name}-run")
        export_parquet(store, tmp_path / name / "history", district_id=name)
    return tmp_path / name / "history"


def test_state_aggregate_sums_districts_and_leaves_out_small_cells(tmp_path: Path) -> None:
    north = _district(tmp_path, "north", 40)
    south = _district(tmp_path, "south", 20)
    tiny = _district(tmp_path, "tiny", 4, tool="rarebook")

    rows = aggregate([north, south, tiny], year=YEAR, level="state", min_cell_size=5)

    found = {(r["tool_id"], r["role"]): r for r in rows.to_pylist()}
    assert set(found) == {("mathly", "student"), ("mathly", "teacher")}
    students = found["mathly", "student"]
    assert students["districts"] == 2
    assert students["active_users"] == 30 + 15  # 3 in 4 of each district's users
    assert students["events"] == 45
    assert students["minutes"] == pytest.approx(45 * 2.0)


def test_district_aggregate_matches_a_direct_group_by_on_the_store(tmp_path: Path) -> None:
    north = _district(tmp_path, "north", 40)
    rows = aggregate([north], year=YEAR, level="district", min_cell_size=0).to_pylist()
    with duckdb.connect(str(tmp_path / "north" / "store.duckdb"), read_only=True) as con:
        direct = con.execute(
            "SELECT tool_id, role, count(*), count(DISTINCT user_key), "
            "count(DISTINCT month(timezone('UTC', event_time))) FROM usage_events GROUP BY ALL"
        ).fetchall()
    assert {
        (r["tool_id"], r["role"], r["events"], r["active_users"], r["active_months"]) for r in rows
    } == set(direct)


def test_other_years_are_not_counted(tmp_path: Path) -> None:
    north = _district(tmp_path, "north", 40)
    assert aggregate([north], year=YEAR - 1, min_cell_size=0).num_rows == 0


def test_the_aggregation_sql_uses_no_duckdb_only_syntax() -> None:
    """Spark SQL has none of these; the text must run there unchanged."""
    for level in ("district", "state"):
        sql = aggregate_sql(level, year=YEAR)
        assert "FROM usage_history" in sql
        for duckdb_only in ("GROUP BY ALL", "::", "FILTER (", "EXCLUDE", "QUALIFY", "read_parquet"):
            assert duckdb_only not in sql, duckdb_only
        assert not re.search(r"\$\d|\?", sql)  # no bind parameters either


def test_cli_exports_compacts_and_aggregates(tmp_path: Path) -> None:
    runner = CliRunner()
    for name, users in (("north", 12), ("south", 9)):
        with Store.open(tmp_path / name / "store.duckdb") as store:
            _load(store, _events(name, users), f"{name}-run")
        result = runner.invoke(
            app,
            [
                "store",
                "export-parquet",
                str(tmp_path / name / "history"),
                "--store",
                str(tmp_path / name / "store.duckdb"),
                "--district",
                name,
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["events"] == users
        compacted = runner.invoke(
            app, ["store", "compact", "--store", str(tmp_path / name / "store.duckdb"), "--json"]
        )
        assert compacted.exit_code == 0, compacted.output

    result = runner.invoke(
        app,
        [
            "aggregate",
            str(tmp_path / "north" / "history"),
            str(tmp_path / "south" / "history"),
            "--year",
            str(YEAR),
            "--min-cell-size",
            "1",
            "--json",
        ],
    )

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    students = [r for r in data["rows"] if r["role"] == "student"]
    assert data["districts"] == 2 and students[0]["active_users"] == 9 + 6
    assert "-u" not in result.output  # no user key leaves the Parquet files


def test_cli_aggregate_of_a_folder_without_history_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["aggregate", str(tmp_path), "--year", str(YEAR)])
    assert result.exit_code == 2
    assert "export-parquet" in result.output
