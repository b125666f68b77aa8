"""Usage history as Parquet, store compaction, and year aggregates that DuckDB and Spark share.

A district keeps its raw usage events for years without its store growing for ever:
:func:`export_parquet` writes each ingest run's events **once** as zstd Parquet, partitioned
by month (``<out>/usage_events/year=YYYY/month=M/run-<run id>-<n>.parquet``, year and month
of the event's UTC time), and records the run in the store's ``history_exports`` table so the
next export writes only newer runs. File names come from the run id, so an export cut short
and run again overwrites its own files instead of adding duplicates. :func:`compact` rewrites
the DuckDB file (``CHECKPOINT``, then a copy into a fresh file) to give back the space that
deletes and updates leave behind.

The year aggregates live in one place, :func:`aggregate_sql`: plain SQL (``COUNT(DISTINCT)``,
``COALESCE``, ``CASE``, a CTE) over a view named ``usage_history`` with the Parquet columns and
the ``year``/``month`` partition columns. :func:`aggregate` runs it with DuckDB over any
number of districts' exports; Spark SQL runs the same text over the same folders
(``docs/state-scale.md``). Only pseudonymous keys are in the files; the aggregates carry
counts, and groups with fewer than ``min_cell_size`` users are left out.

Examples
--------
>>> import tempfile
>>> from datetime import UTC, datetime
>>> import pyarrow as pa
>>> from edtech_map.store import Store
>>> from edtech_map.usage import USAGE_EVENTS, ensure_usage_schema
>>> folder = Path(tempfile.mkdtemp())
>>> with Store.open(folder / "ws" / "store.duckdb") as store:
...     ensure_usage_schema(store)
...     events = pa.table({"source": ["caliper"] * 6, "event_id": [f"e{i}" for i in range(6)],
...         "event_time": [datetime(2026, 10 + i % 2, 5, 14, tzinfo=UTC) for i in range(6)],
...         "tool_id": ["mathly"] * 6, "user_key": [f"u{i}" for i in range(6)],
...         "role": ["student"] * 6, "duration_seconds": [60.0] * 6},
...         schema=pa.schema([USAGE_EVENTS.arrow_schema().field(c) for c in (
...             "source", "event_id", "event_time", "tool_id", "user_key", "role",
...             "duration_seconds")]))
...     with store.transaction() as tx:
...         _ = tx.upsert(USAGE_EVENTS, _with_all_columns(events), run_id="run-1")
...     first = export_parquet(store, folder / "history", district_id="riverside")
...     again = export_parquet(store, folder / "history", district_id="riverside")
>>> first.events, first.runs, again.events
(6, 1, 0)
>>> rows = aggregate([folder / "history"], year=2026, level="district", min_cell_size=1)
>>> rows.to_pylist()[0]["active_users"], rows.to_pylist()[0]["active_months"]
(6, 2)
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; see docs/store.md

from edtech_map.errors import EdtechMapError
from edtech_map.store import Store, TableSpec
from edtech_map.usage import USAGE_EVENTS, ensure_usage_schema_if_missing

__all__ = [
    "HISTORY_COLUMNS",
    "HISTORY_EXPORTS",
    "HISTORY_VIEW",
    "AggregateLevel",
    "CompactReport",
    "ExportReport",
    "HistoryError",
    "aggregate",
    "aggregate_sql",
    "compact",
    "export_parquet",
    "history_files",
]

logger = logging.getLogger(__name__)

AggregateLevel = Literal["district", "state"]
HISTORY_VIEW = "usage_history"
"""The name the aggregation SQL reads from: a view (DuckDB) or temp view (Spark) over Parquet."""

HISTORY_COLUMNS: tuple[str, ...] = (
    "district_id",
    "event_id",
    "event_time",
    "tool_id",
    "app_identifier",
    "match_rule",
    "user_key",
    "role",
    "school_key",
    "class_key",
    "action",
    "event_type",
    "duration_seconds",
    "initiated_by",
    "source",
    "run_id",
)
"""Columns of each Parquet file; ``year`` and ``month`` are in the folder names (hive style)."""

HISTORY_EXPORTS = TableSpec(
    "history_exports",
    {
        "source": "VARCHAR",
        "usage_run_id": "VARCHAR",
        "district_id": "VARCHAR",
        "events": "BIGINT",
        "exported_at": "TIMESTAMPTZ",
    },
    primary_key=("source", "usage_run_id"),
    description="Which ingest runs' events were written to which Parquet folder (source).",
)
"""One row per ingest run written to a Parquet folder (``source`` is the folder)."""

_DISTRICT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_-]")


class HistoryError(EdtechMapError):
    """A history export, compaction or aggregation cannot go on; the message says what to do."""


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_parquet` wrote: events, ingest runs, files and bytes.

    Examples
    --------
    >>> ExportReport(Path("h"), events=10, runs=1, files=2, bytes=2048).as_dict()["events"]
    10
    """

    out: Path
    events: int
    runs: int
    files: int
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "out": str(self.out),
            "events": self.events,
            "runs": self.runs,
            "files": self.files,
            "bytes": self.bytes,
        }


@dataclass(frozen=True)
class CompactReport:
    """The store file's size before and after :func:`compact`.

    Examples
    --------
    >>> CompactReport(Path("s.duckdb"), 4096, 1024).saved
    3072
    """

    path: Path
    bytes_before: int
    bytes_after: int

    @property
    def saved(self) -> int:
        """Bytes given back."""
        return self.bytes_before - self.bytes_after

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "store": str(self.path),
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "saved": self.saved,
        }


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def history_files(folder: Path) -> list[Path]:
    """The Parquet files of one district's export folder, sorted.

    Examples
    --------
    >>> import tempfile
    >>> history_files(Path(tempfile.mkdtemp()))
    []
    """
    return sorted((folder / "usage_events").glob("year=*/month=*/*.parquet"))


def _with_all_columns(rows: pa.Table) -> pa.Table:
    """``rows`` with every ``usage_events`` column (missing ones null), for examples and tests."""
    schema = USAGE_EVENTS.arrow_schema()
    columns = {
        name: rows.column(name)
        if name in rows.column_names
        else pa.nulls(rows.num_rows, schema.field(name).type)
        for name in schema.names
    }
    return pa.table(columns, schema=schema)


def export_parquet(store: Store, out: Path, *, district_id: str) -> ExportReport:
    """Write the usage events of every ingest run not yet exported to ``out`` as Parquet.

    One ``COPY`` per run, partitioned by the UTC year and month of each event, zstd-compressed;
    each run's files are named after it, so repeating an interrupted export rewrites the same
    files. The runs are recorded in ``history_exports`` once their files are written.

    Raises
    ------
    HistoryError
        When ``district_id`` is not a plain id (letters, digits, ``_ . -``).

    Examples
    --------
    >>> import tempfile
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     export_parquet(store, Path(tempfile.mkdtemp()), district_id="riverside").events
    0
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     export_parquet(store, Path(tempfile.mkdtemp()), district_id="a b")
    Traceback (most recent call last):
    ...
    edtech_map.history.HistoryError: district id 'a b': use letters, digits, '_', '.' or '-' ...
    """
    if not _DISTRICT_ID.match(district_id):
        raise HistoryError(
            f"district id {district_id!r}: use letters, digits, '_', '.' or '-' (the "
            f"inventory's district.id is a good choice)"
        )
    ensure_usage_schema_if_missing(store)
    store.ensure_table(HISTORY_EXPORTS)
    out = Path(out).resolve()
    target = out / "usage_events"
    target.mkdir(parents=True, exist_ok=True)
    destination = str(out)
    pending = store.con.execute(
        "SELECT run_id, count(*) FROM usage_events WHERE run_id NOT IN "
        "(SELECT usage_run_id FROM history_exports WHERE source = ?) GROUP BY run_id "
        "ORDER BY run_id",
        [destination],
    ).fetchall()
    columns = ", ".join(
        _literal(district_id) + " AS district_id" if c == "district_id" else f'"{c}"'
        for c in HISTORY_COLUMNS
    )
    events = 0
    for run_id, count in pending:
        name = _UNSAFE_IN_NAME.sub("_", str(run_id))
        logger.info("exporting %d events of run %s to %s", count, run_id, target)
        store.con.execute(
            f"COPY (SELECT {columns}, "
            "CAST(year(timezone('UTC', event_time)) AS INTEGER) AS year, "
            "CAST(month(timezone('UTC', event_time)) AS INTEGER) AS month "
            f"FROM usage_events WHERE run_id = {_literal(str(run_id))}) "
            f"TO {_literal(str(target))} (FORMAT parquet, COMPRESSION zstd, "
            f"PARTITION_BY (year, month), FILENAME_PATTERN {_literal(f'run-{name}-{{i}}')}, "
            "OVERWRITE_OR_IGNORE true)"
        )
        with store.transaction() as tx:
            tx.con.execute(
                "INSERT INTO history_exports (source, usage_run_id, district_id, events, "
                "exported_at, run_id, last_seen) VALUES (?, ?, ?, ?, current_timestamp, ?, "
                "current_timestamp) ON CONFLICT DO NOTHING",
                [destination, run_id, district_id, count, run_id],
            )
        events += int(count)
    files = history_files(out)
    report = ExportReport(
        out=out,
        events=events,
        runs=len(pending),
        files=len(files),
        bytes=sum(f.stat().st_size for f in files),
    )
    logger.info("history export: %d events of %d runs to %s", events, len(pending), out)
    return report


def compact(store: Store) -> CompactReport:
    """Checkpoint the store and rewrite it into a fresh file, giving back freed space.

    The store stays open on the new file (same path, same memory limit and spill folder).
    Views registered on the old connection are gone; the usage views are recreated on demand.

    Raises
    ------
    HistoryError
        Inside an open transaction.

    Examples
    --------
    >>> import tempfile
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     report = compact(store)
    ...     report.bytes_after > 0, store.counts()
    (True, [])
    """
    if store._in_transaction:
        raise HistoryError("compact cannot run inside a store transaction; finish it first")
    path = store.path
    settings = {
        name: str(store.con.execute(f"SELECT current_setting('{name}')").fetchall()[0][0])
        for name in ("memory_limit", "temp_directory")
    }
    store.con.execute("CHECKPOINT")
    before = path.stat().st_size
    fresh = path.with_name(path.name + ".compacting")
    fresh.unlink(missing_ok=True)
    database = str(store.con.execute("SELECT current_database()").fetchall()[0][0])
    store.con.execute(f"ATTACH {_literal(str(fresh))} AS _compacted")
    try:
        store.con.execute(f'COPY FROM DATABASE "{database}" TO _compacted')
    finally:
        store.con.execute("DETACH _compacted")
    store.con.close()
    os.replace(fresh, path)
    config: dict[str, str | bool | int | float | list[str]] = {
        k: v for k, v in settings.items() if v
    }
    store.con = duckdb.connect(str(path), config=config)
    after = path.stat().st_size
    logger.info("compacted %s: %d -> %d bytes", path, before, after)
    return CompactReport(path, before, after)


_DISTRICT_SQL = """
SELECT district_id,
       year,
       tool_id,
       role,
       COUNT(*) AS events,
       COUNT(DISTINCT user_key) AS active_users,
       COUNT(DISTINCT month) AS active_months,
       SUM(COALESCE(duration_seconds, 0)) / 60.0 AS minutes
FROM usage_history
WHERE year = {year} AND tool_id IS NOT NULL
GROUP BY district_id, year, tool_id, role
"""

_STATE_SQL = """
WITH per_district AS ({district})
SELECT year,
       tool_id,
       role,
       COUNT(*) AS districts,
       CAST(SUM(events) AS BIGINT) AS events,
       CAST(SUM(active_users) AS BIGINT) AS active_users,
       SUM(minutes) AS minutes
FROM per_district
WHERE active_users >= {min_cell_size}
GROUP BY year, tool_id, role
ORDER BY active_users DESC, tool_id, role
"""


def aggregate_sql(level: AggregateLevel, *, year: int, min_cell_size: int = 5) -> str:
    """The year aggregation as SQL text that DuckDB and Spark SQL both run unchanged.

    Reads the view ``usage_history`` (Parquet columns plus ``year`` and ``month``).
    ``district``: one row per district, tool and role (events, active users, active months,
    minutes); ``state``: the same summed over districts, with how many districts use each
    tool. A person's key is different in every district, so users are counted distinct within
    a district and summed across them. Rows of fewer than ``min_cell_size`` users are left out.

    Raises
    ------
    HistoryError
        When ``level`` is unknown or the numbers are not whole.

    Examples
    --------
    >>> print(aggregate_sql("state", year=2026).splitlines()[1])
    WITH per_district AS (
    >>> "year = 2026" in aggregate_sql("district", year=2026)
    True
    """
    if not isinstance(year, int) or not isinstance(min_cell_size, int) or min_cell_size < 0:
        raise HistoryError("year and min_cell_size must be whole numbers (min_cell_size >= 0)")
    district = _DISTRICT_SQL.format(year=year)
    if level == "district":
        return (
            f"SELECT * FROM ({district}) AS per_district "
            f"WHERE active_users >= {min_cell_size}\n"
            "ORDER BY district_id, active_users DESC, tool_id, role\n"
        )
    if level == "state":
        return _STATE_SQL.format(district=district, min_cell_size=min_cell_size)
    raise HistoryError(f"level must be 'district' or 'state', not {level!r}")


def aggregate(
    folders: Sequence[Path],
    *,
    year: int,
    level: AggregateLevel = "state",
    min_cell_size: int = 5,
    memory_limit: str | None = None,
) -> pa.Table:
    """Run :func:`aggregate_sql` with DuckDB over the Parquet exports of many districts.

    Each folder is one district's ``export_parquet`` output. The result is an Arrow table.

    Raises
    ------
    HistoryError
        When a folder holds no exported usage.

    Examples
    --------
    >>> import tempfile
    >>> aggregate([Path(tempfile.mkdtemp())], year=2026)
    Traceback (most recent call last):
    ...
    edtech_map.history.HistoryError: .../usage_events: no Parquet usage history here; run edtech-map store export-parquet first
    """
    patterns = []
    for folder in folders:
        if not history_files(Path(folder)):
            raise HistoryError(
                f"{Path(folder) / 'usage_events'}: no Parquet usage history here; run "
                "edtech-map store export-parquet first"
            )
        patterns.append(_literal(str(Path(folder) / "usage_events" / "*" / "*" / "*.parquet")))
    config: dict[str, str | bool | int | float | list[str]] = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    with duckdb.connect(config=config) as con:
        con.execute(
            f"CREATE VIEW {HISTORY_VIEW} AS SELECT * FROM read_parquet([{', '.join(patterns)}], "
            "hive_partitioning = true, union_by_name = true)"
        )
        table: pa.Table = con.sql(
            aggregate_sql(level, year=year, min_cell_size=min_cell_size)
        ).to_arrow_table()
    logger.info("aggregated %d district folder(s): %d rows", len(folders), table.num_rows)
    return table
