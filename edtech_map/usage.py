"""Usage events in the store: the ``usage_events`` table, daily aggregates, and ingest.

:func:`ingest` reads Caliper, xAPI and CSV usage files (format sniffed, or given), matches each
event's app to an inventory tool (:mod:`edtech_map.matching`), and writes the events to the
store inside one transaction: a failed ingest leaves the store as it was. A format with a bulk
reader (:class:`Stager`; CSV and Caliper JSON Lines) is staged whole by DuckDB and then counted, matched (once
per distinct list of app identifiers), deduplicated and inserted in SQL; other files, and
files a bulk reader cannot read exactly, are read record by record and written in batches of
10,000. Both paths store the same rows and report the same counts.
Events are deduplicated by ``event_id``, so ingesting a file twice adds nothing. Every record
is accounted for: ``read == loaded + duplicates + rejected``; Caliper entities and xAPI
voiding statements are counted apart.

Views (always current, plain SQL): ``usage_daily`` (events, active users and minutes per day,
tool or unmatched identifier, school and role), ``usage_unmatched`` (identifiers no tool
claims: counts, first and last seen, distinct users by role).

Examples
--------
>>> import json, tempfile
>>> from edtech_map.store import Store
>>> folder = Path(tempfile.mkdtemp())
>>> event = {"id": "urn:uuid:3a648e68-f00d-4c08-aa59-8738e1884f2c", "type": "ViewEvent",
...          "actor": "https://sis.example.org/users/stu-1", "action": "Viewed",
...          "object": "https://app.mathly.example/b/9", "eventTime": "2026-11-02T14:05:06Z",
...          "edApp": "https://app.mathly.example/", "membership": {"roles": ["Learner"]}}
>>> _ = (folder / "events.jsonl").write_text(json.dumps(event) + "\\n")
>>> with Store.open(folder / "ws" / "store.duckdb") as store:
...     report = ingest(store, [folder / "events.jsonl"])
...     again = ingest(store, [folder / "events.jsonl"])
...     usage_by_tool(store)[0]["active_students"]
1
>>> report.summary(), again.summary()
('read 1, loaded 1, duplicates 0, rejected 0', 'read 1, loaded 0, duplicates 1, rejected 0')
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; see docs/store.md
from pydantic import BaseModel, ValidationError

from connectors import caliper, usage_csv, xapi
from connectors.http import HttpClient
from connectors.usage_events import (
    AppIdentifier,
    EntityRecord,
    IdentifierKind,
    Outcome,
    Parsed,
    Rejection,
    Skip,
    UsageEvent,
    parse_timestamp,
    read_json_documents,
)
from edtech_map.errors import EdtechMapError
from edtech_map.matching import Match, ToolMatcher
from edtech_map.model import Ecosystem, Role
from edtech_map.store import Store, TableSpec, Transaction

__all__ = [
    "BATCH_SIZE",
    "FORMATS",
    "MAX_REASONS",
    "USAGE_EVENTS",
    "FileReport",
    "Format",
    "IngestReport",
    "Stager",
    "UsageIngestError",
    "ensure_usage_schema",
    "expand_paths",
    "ingest",
    "ingest_lrs",
    "ingest_pull",
    "lrs_cursor",
    "pull_cursor",
    "rematch",
    "sniff_format",
    "unmatched_apps",
    "usage_by_tool",
]

logger = logging.getLogger(__name__)

Format = Literal["caliper", "xapi", "csv"]
FORMATS: tuple[Format, ...] = ("caliper", "xapi", "csv")
BATCH_SIZE = 10_000
MAX_REASONS = 10
_SOURCES: Mapping[Format, str] = {
    "caliper": caliper.SOURCE,
    "xapi": xapi.SOURCE,
    "csv": usage_csv.SOURCE,
}
_SUFFIXES = {".json", ".jsonl", ".ndjson", ".jsonld", ".csv", ".tsv", ".txt"}

USAGE_EVENTS = TableSpec(
    "usage_events",
    {
        "source": "VARCHAR",
        "event_id": "VARCHAR",
        "event_time": "TIMESTAMPTZ",
        "tool_id": "VARCHAR",
        "app_identifier": "VARCHAR",
        "match_rule": "VARCHAR",
        "user_key": "VARCHAR",
        "role": "VARCHAR",
        "school_key": "VARCHAR",
        "class_key": "VARCHAR",
        "action": "VARCHAR",
        "event_type": "VARCHAR",
        "duration_seconds": "DOUBLE",
        "initiated_by": "VARCHAR",
        "file": "VARCHAR",
    },
    primary_key=("event_id",),
    description="One row per usage event (Caliper, xAPI, CSV); people by key only.",
    indexed=False,  # tens of millions of rows: ingest dedups with an anti-join instead
)
"""The usage events table: one row per event, deduplicated by ``event_id``."""


class UsageIngestError(EdtechMapError):
    """An ingest that cannot go on (unknown format, unreadable file, strict mode); nothing
    was written."""


@dataclass
class FileReport:
    """What happened to one file. ``read == loaded + duplicates + rejected``.

    Examples
    --------
    >>> report = FileReport("events.jsonl", "caliper", read=3, loaded=1, duplicates=1)
    >>> report.reject("events.jsonl:3 actor: missing")
    >>> report.balanced, report.rejections
    (True, ['events.jsonl:3 actor: missing'])
    """

    path: str
    format: str
    read: int = 0
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    entities: int = 0
    skipped: int = 0
    matched: int = 0
    rejections: list[str] = field(default_factory=list)
    skips: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        """Count a rejected record, keeping the first :data:`MAX_REASONS` reasons."""
        self.rejected += 1
        if len(self.rejections) < MAX_REASONS:
            self.rejections.append(reason)

    def skip(self, reason: str) -> None:
        """Count a record that is valid but not usage, keeping the first reasons."""
        self.skipped += 1
        if len(self.skips) < MAX_REASONS:
            self.skips.append(reason)

    @property
    def balanced(self) -> bool:
        """True when every event read was loaded, a duplicate, or rejected."""
        return self.read == self.loaded + self.duplicates + self.rejected

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "file": self.path,
            "format": self.format,
            "read": self.read,
            "loaded": self.loaded,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "entities": self.entities,
            "skipped": self.skipped,
            "matched": self.matched,
            "reject_reasons": list(self.rejections),
            "skip_reasons": list(self.skips),
        }


@dataclass
class IngestReport:
    """What one :func:`ingest` did, file by file.

    Examples
    --------
    >>> report = IngestReport(run_id="r1", files=[FileReport("a.csv", "csv", read=2, loaded=2)])
    >>> report.summary(), report.ok
    ('read 2, loaded 2, duplicates 0, rejected 0', True)
    """

    run_id: str
    files: list[FileReport] = field(default_factory=list)
    rematched: int = 0

    def _total(self, name: str) -> int:
        return sum(int(getattr(f, name)) for f in self.files)

    @property
    def read(self) -> int:
        """Events read (records after expanding xAPI groups), all files."""
        return self._total("read")

    @property
    def loaded(self) -> int:
        """Events newly written to the store."""
        return self._total("loaded")

    @property
    def duplicates(self) -> int:
        """Events whose id the store (or this ingest) already had."""
        return self._total("duplicates")

    @property
    def rejected(self) -> int:
        """Records that could not be read as usage."""
        return self._total("rejected")

    @property
    def entities(self) -> int:
        """Caliper entities (descriptions of things, not events)."""
        return self._total("entities")

    @property
    def skipped(self) -> int:
        """Valid records that are not usage (xAPI voiding statements)."""
        return self._total("skipped")

    @property
    def matched(self) -> int:
        """Loaded events matched to an inventory tool."""
        return self._total("matched")

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return self.rejected == 0

    @property
    def rejections(self) -> list[str]:
        """The first :data:`MAX_REASONS` rejection reasons, over all files."""
        return [r for f in self.files for r in f.rejections][:MAX_REASONS]

    def summary(self) -> str:
        """``read N, loaded M, duplicates D, rejected R`` (plus entities and skips, if any)."""
        text = (
            f"read {self.read}, loaded {self.loaded}, duplicates {self.duplicates}, "
            f"rejected {self.rejected}"
        )
        if self.entities:
            text += f", entities {self.entities}"
        if self.skipped:
            text += f", skipped {self.skipped}"
        if self.rematched:
            text += f"; {self.rematched} earlier events now matched to tools"
        return text

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "run_id": self.run_id,
            "read": self.read,
            "loaded": self.loaded,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "entities": self.entities,
            "skipped": self.skipped,
            "matched": self.matched,
            "rematched": self.rematched,
            "files": [f.as_dict() for f in self.files],
        }


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files to ingest: each file as given, and the usage files inside each folder, sorted.

    Raises
    ------
    UsageIngestError
        When a path does not exist.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("b.jsonl", "a.csv", "notes.md"):
    ...     _ = (folder / name).write_text("")
    >>> [p.name for p in expand_paths([folder])]
    ['a.csv', 'b.jsonl']
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES
            )
        elif path.is_file():
            found.append(path)
        else:
            raise UsageIngestError(f"{path}: no such file or folder; check the path")
    return found


def sniff_format(path: Path) -> Format:
    """Tell a usage file's format from its name and its first record.

    Raises
    ------
    UsageIngestError
        When the first record is neither Caliper nor xAPI, naming the file and the fix.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "s.json").write_text('[{"actor": {"mbox": "mailto:a@b.c"}, "verb": {}}]')
    >>> _ = (folder / "e.jsonl").write_text('{"sensor": "s", "data": []}\\n')
    >>> sniff_format(folder / "s.json"), sniff_format(folder / "e.jsonl")
    ('xapi', 'caliper')
    """
    if path.suffix.lower() in (".csv", ".tsv"):
        return "csv"
    first = next(iter(read_json_documents(path)), None)
    if first is None:
        return "caliper"  # an empty file: nothing to read, in any format
    value = first.value
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, Mapping):
        if caliper.is_envelope(value) or caliper.is_event(value) or "@context" in value:
            return "caliper"
        if "verb" in value or "statements" in value:
            return "xapi"
        if "type" in value or "@type" in value or any(str(k).startswith("caliper_") for k in value):
            return "caliper"  # an entity, or a Caliper endpoint's configuration
    raise UsageIngestError(
        f"{path}:{first.line}: cannot tell whether this is Caliper, xAPI or CSV usage from the "
        f"first record; pass --format caliper, xapi or csv"
    )


def ensure_usage_schema(store: Store, *, timezone: str = "UTC") -> None:
    """Create the ``usage_events`` table and the ``usage_daily`` and ``usage_unmatched`` views.

    ``timezone`` (the district's) decides which day an event falls on.

    Examples
    --------
    >>> import tempfile
    >>> from edtech_map.store import Store
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     ensure_usage_schema(store, timezone="America/Chicago")
    ...     store.query_arrow("SELECT count(*) AS n FROM usage_daily").to_pylist()
    [{'n': 0}]
    """
    ZoneInfo(timezone)  # raises for an unknown zone before it reaches SQL
    zone = timezone.replace("'", "''")
    store.ensure_table(USAGE_EVENTS)
    store.con.execute(
        f"""
        CREATE OR REPLACE VIEW usage_daily AS
        SELECT CAST(event_time AT TIME ZONE '{zone}' AS DATE) AS day,
               tool_id,
               CASE WHEN tool_id IS NULL THEN app_identifier END AS app_identifier,
               school_key,
               role,
               count(*) AS events,
               count(DISTINCT user_key) AS active_users,
               coalesce(sum(duration_seconds), 0) / 60.0 AS minutes
        FROM usage_events
        GROUP BY ALL
        """
    )
    store.con.execute(
        """
        CREATE OR REPLACE VIEW usage_unmatched AS
        SELECT app_identifier,
               count(*) AS events,
               min(event_time) AS first_seen,
               max(event_time) AS last_seen,
               count(DISTINCT user_key) FILTER (WHERE role = 'student') AS students,
               count(DISTINCT user_key) FILTER (WHERE role = 'teacher') AS teachers,
               count(DISTINCT user_key) FILTER (WHERE role NOT IN ('student', 'teacher'))
                   AS other_users,
               count(DISTINCT user_key) AS users
        FROM usage_events
        WHERE tool_id IS NULL
        GROUP BY app_identifier
        """
    )


Reader = Callable[[Path], Iterator[Parsed]]
_Model = TypeVar("_Model", bound=BaseModel)


def _config(model: type[_Model], options: object, what: str) -> _Model:
    try:
        return model.model_validate(options)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(options)'}: {e['msg']}" for e in error.errors()
        )
        raise UsageIngestError(f"{what} options: {problems}") from None


def _reader(fmt: Format, store: Store, options: Mapping[str, Any], timezone: str) -> Reader:
    keys = store.keys
    if fmt == "caliper":
        caliper_config = _config(caliper.Config, options, fmt)
        return lambda path: caliper.read_caliper(path, keys, config=caliper_config)
    if fmt == "xapi":
        xapi_config = _config(xapi.Config, options, fmt)
        return lambda path: xapi.read_xapi(path, keys, config=xapi_config)
    mapping = _csv_mapping(options, timezone)
    return lambda path: usage_csv.read_usage_csv(path, keys, mapping, timezone=timezone)


def _csv_mapping(options: Mapping[str, Any], timezone: str) -> usage_csv.ColumnMapping | None:
    """The CSV column mapping the options give (a mapping, or a preset by name), if any."""
    mapping: usage_csv.ColumnMapping | None = None
    if "mapping" in options:
        mapping = _config(usage_csv.ColumnMapping, options["mapping"], "csv mapping")
    elif "preset" in options:
        try:
            mapping = usage_csv.PRESETS[str(options["preset"])]
        except KeyError:
            names = ", ".join(usage_csv.PRESETS)
            raise UsageIngestError(
                f"no usage CSV preset {options['preset']!r}; use one of {names}"
            ) from None
    if mapping is not None and mapping.timezone is None:
        mapping = mapping.model_copy(update={"timezone": timezone})
    return mapping


class Stager(Protocol):
    """A bulk reader: stages a whole file into a TEMP table of ``STAGE_COLUMNS`` with DuckDB.

    Returns False, creating nothing, when it cannot read this file in bulk exactly as the
    per-record reader would; :func:`ingest` then uses the per-record reader. ``options`` are
    the format's reader options as :func:`ingest` was given them, ``timezone`` the district's.

    Examples
    --------
    >>> import tempfile
    >>> from edtech_map.store import Store
    >>> path = Path(tempfile.mkdtemp()) / "usage.csv"
    >>> _ = path.write_text("date,user_id,role,school_id,app,minutes\\n"
    ...                     "2026-11-02,stu-1,student,x,Mathly,5\\n")
    >>> with Store.open(path.parent / "ws" / "s.duckdb") as store:
    ...     _STAGERS["csv"](store.con, path, "staged", options={}, timezone="UTC")
    ...     store.con.execute("SELECT line, outcome, role FROM staged").fetchall()
    True
    [(2, 'event', 'student')]
    """

    def __call__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        table: str,
        *,
        options: Mapping[str, Any],
        timezone: str,
    ) -> bool: ...


def _stage_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    *,
    options: Mapping[str, Any],
    timezone: str,
) -> bool:
    mapping = _csv_mapping(options, timezone)
    return usage_csv.stage_usage_csv(con, path, table, mapping, timezone=timezone)


def _stage_caliper(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    *,
    options: Mapping[str, Any],
    timezone: str,
) -> bool:
    del timezone  # Caliper times carry their offset (or are UTC)
    config = _config(caliper.Config, options, "caliper")
    # Staged rows may come in any order (their numbers come from WITH ORDINALITY, not from the
    # order rows are written): without this DuckDB buffers a 15 GB file's rows to keep their
    # order and runs out of memory before it can spill.
    con.execute("SET preserve_insertion_order = false")
    try:
        return caliper.stage_caliper(con, path, table, config=config)
    finally:
        with contextlib.suppress(duckdb.Error):  # an aborted transaction refuses even this
            con.execute("RESET preserve_insertion_order")


_STAGERS: dict[Format, Stager] = {"csv": _stage_csv, "caliper": _stage_caliper}
"""Bulk readers by format (see :class:`Stager`); a format without one is read per record.

A connector's ``stage_*(con, path, table, *, config)`` is registered through a small adapter
such as :func:`_stage_csv` or :func:`_stage_caliper` that turns ``options`` into its config.
"""
_STAGE_TABLE = "_usage_stage"
_APPS_TYPE = pa.list_(pa.struct([("kind", pa.string()), ("value", pa.string())]))


@dataclass(frozen=True, slots=True)
class _Pending:
    """An event waiting in a batch, with the file (report) and source it came from."""

    event: UsageEvent
    match: Match
    report: FileReport
    source: str


def _rows(entries: Sequence[_Pending]) -> pa.Table:
    events = [p.event for p in entries]
    matches = [p.match for p in entries]
    columns: dict[str, list[Any]] = {
        "source": [p.source for p in entries],
        "event_id": [e.event_id for e in events],
        "event_time": [e.event_time for e in events],
        "tool_id": [m.tool_id for m in matches],
        "app_identifier": [m.app_identifier for m in matches],
        "match_rule": [m.rule.value if m.rule else None for m in matches],
        "user_key": [e.user_key for e in events],
        "role": [e.role.value for e in events],
        "school_key": [e.school_id for e in events],
        "class_key": [e.class_id for e in events],
        "action": [e.action for e in events],
        "event_type": [e.event_type for e in events],
        "duration_seconds": [e.duration_seconds for e in events],
        "initiated_by": [e.initiated_by.value if e.initiated_by else None for e in events],
        "file": [p.report.path for p in entries],
    }
    return pa.table(columns, schema=USAGE_EVENTS.arrow_schema())


def _write_batch(tx: Transaction, batch: list[_Pending], *, run_id: str) -> None:
    """Write the events whose ids the store does not have yet; count the rest per file.

    A batch may span files, so that a folder of many small files costs few writes.
    """
    unique: dict[str, _Pending] = {}
    for pending in batch:
        if pending.event.event_id in unique:
            pending.report.duplicates += 1
        else:
            unique[pending.event.event_id] = pending
    rows = _rows(list(unique.values()))
    view = "_usage_incoming"
    tx.con.register(view, rows)
    try:
        new = tx.con.sql(
            f"SELECT i.* FROM {view} AS i WHERE NOT EXISTS "
            "(SELECT 1 FROM usage_events AS u WHERE u.event_id = i.event_id)"
        ).to_arrow_table()
    finally:
        tx.con.unregister(view)
    new_ids = set(new.column("event_id").to_pylist())
    for event_id, pending in unique.items():
        if event_id in new_ids:
            pending.report.loaded += 1
            pending.report.matched += pending.match.tool_id is not None
        else:
            pending.report.duplicates += 1
    if new.num_rows:
        tx.insert_new(USAGE_EVENTS, new, run_id=run_id)


def _new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + os.urandom(4).hex()


def ingest(
    store: Store,
    paths: Iterable[str | Path],
    ecosystem: Ecosystem | None = None,
    format: Format | None = None,  # the CLI's --format
    strict: bool = False,
    *,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    run_id: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> IngestReport:
    """Read usage files into the store as one transaction; returns what happened, per file.

    ``format`` is sniffed per file when not given. ``options`` holds each format's reader
    settings: ``{"caliper": {"sis_id_pattern": ...}, "xapi": {"district_account_homepages":
    [...]}, "csv": {"preset": ...} or {"mapping": {...}}}``.
    Without an ``ecosystem`` no event is matched to a tool (identifiers are still kept).

    Raises
    ------
    UsageIngestError
        For a missing path or a file whose format cannot be told (before anything is read),
        for a CSV whose header does not fit, and in strict mode for the first rejected record;
        the store is left unchanged.

    Examples
    --------
    >>> import tempfile
    >>> from edtech_map.store import Store
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "usage.csv").write_text(
    ...     "date,user_id,role,school_id,app,minutes\\n2026-11-02,stu-1,student,x,Mathly,5\\n"
    ...     "2026-11-02,,student,x,Mathly,5\\n")
    >>> store = Store.open(folder / "ws" / "s.duckdb")
    >>> ingest(store, [folder]).files[0].rejections
    ['...usage.csv:3 user_id: empty; every row needs the user id']
    >>> ingest(store, [folder / "usage.csv"], strict=True)
    Traceback (most recent call last):
    ...
    edtech_map.usage.UsageIngestError: ...usage.csv:3 user_id: empty; every row needs the user id; nothing was ingested (strict mode). ...
    >>> store.close()
    """
    files = expand_paths(paths)
    formats = [format or sniff_format(path) for path in files]
    timezone = ecosystem.district.timezone if ecosystem is not None else "UTC"
    ensure_usage_schema(store, timezone=timezone)
    matcher = ToolMatcher.from_ecosystem(ecosystem) if ecosystem else ToolMatcher([])
    report = IngestReport(run_id=run_id or _new_run_id())
    readers = {
        fmt: _reader(fmt, store, (options or {}).get(fmt, {}), timezone) for fmt in set(formats)
    }
    logger.info("ingesting %d usage file(s), run %s", len(files), report.run_id)
    with store.transaction() as tx:
        batch: list[_Pending] = []
        started: list[datetime] = []
        for path, fmt in zip(files, formats, strict=True):
            started.append(datetime.now(UTC))
            file_report = FileReport(str(path), fmt)
            report.files.append(file_report)
            try:
                stager = _STAGERS.get(fmt)
                fmt_options = (options or {}).get(fmt, {})
                if stager is not None and stager(
                    tx.con, path, _STAGE_TABLE, options=fmt_options, timezone=timezone
                ):
                    logger.info("%s: read in bulk", path)
                    if batch:  # earlier files' events first, so that the anti-join sees them
                        _write_batch(tx, batch, run_id=report.run_id)
                        batch.clear()
                    try:
                        _load_staged(
                            tx,
                            _STAGE_TABLE,
                            file_report,
                            matcher=matcher,
                            source=_SOURCES[fmt],
                            run_id=report.run_id,
                            strict=strict,
                        )
                    finally:
                        with contextlib.suppress(duckdb.Error):  # not over the real error
                            tx.con.execute(f"DROP TABLE IF EXISTS {_STAGE_TABLE}")
                    continue
                _load(
                    tx,
                    readers[fmt](path),
                    file_report,
                    batch,
                    matcher=matcher,
                    source=_SOURCES[fmt],
                    run_id=report.run_id,
                    strict=strict,
                    batch_size=batch_size,
                )
            except usage_csv.UsageCsvError as error:
                raise UsageIngestError(str(error)) from error
            except (OSError, UnicodeDecodeError) as error:
                raise UsageIngestError(
                    f"{path}: cannot be read ({error}); nothing was ingested"
                ) from error
            except duckdb.OutOfMemoryException as error:
                raise UsageIngestError(
                    f"{path}: DuckDB ran out of memory reading this file; nothing was ingested. "
                    "Give it more memory or a folder to spill to (Store.open(memory_limit=..., "
                    "temp_directory=...)), or ingest the file in parts."
                ) from error
        if batch:
            _write_batch(tx, batch, run_id=report.run_id)
        for file_report, fmt, began in zip(report.files, formats, started, strict=True):
            _record(
                tx,
                file_report,
                _SOURCES[fmt],
                f"usage_events:{file_report.path}",
                run_id=report.run_id,
                started=began,
                cursor=None,
            )
            logger.info("%s: %s", file_report.path, _file_summary(file_report))
        if ecosystem is not None:
            report.rematched = rematch(tx, matcher)
    logger.info("usage ingest done: %s", report.summary())
    return report


def _load(
    tx: Transaction,
    outcomes: Iterable[Parsed],
    report: FileReport,
    batch: list[_Pending],
    *,
    matcher: ToolMatcher,
    source: str,
    run_id: str,
    strict: bool,
    batch_size: int,
) -> None:
    """Match a reader's events into ``batch`` (written when full), counting every other outcome.

    The caller writes what is left in ``batch`` at the end.
    """
    for outcome in outcomes:
        if isinstance(outcome, UsageEvent):
            report.read += 1
            batch.append(_Pending(outcome, matcher.match(outcome.apps), report, source))
            if len(batch) >= batch_size:
                _write_batch(tx, batch, run_id=run_id)
                batch.clear()
        elif isinstance(outcome, Rejection):
            report.read += 1
            reason = outcome.render(report.path)
            if strict:
                raise UsageIngestError(
                    f"{reason}; nothing was ingested (strict mode). Fix the record, "
                    "or ingest without --strict to skip it and see every problem."
                )
            if report.rejected < MAX_REASONS:
                logger.warning("rejected %s", reason)
            report.reject(reason)
        elif isinstance(outcome, EntityRecord):
            report.entities += 1
        elif isinstance(outcome, Skip):
            report.skip(f"{report.path}:{outcome.line}: {outcome.reason}")


def _load_staged(
    tx: Transaction,
    table: str,
    report: FileReport,
    *,
    matcher: ToolMatcher,
    source: str,
    run_id: str,
    strict: bool,
) -> None:
    """Count, match, deduplicate and insert a staged file (see :class:`Stager`), all in SQL.

    Apps are matched once per distinct list of identifiers; within the file the first line
    of an event id wins, and ids the store already has are duplicates.
    """
    con = tx.con
    counts = dict(con.execute(f"SELECT outcome, count(*) FROM {table} GROUP BY outcome").fetchall())
    rejected = int(counts.get(Outcome.REJECTED.value, 0))
    if rejected:
        first = con.execute(
            f"SELECT line, field, reason FROM {table} WHERE outcome = ? ORDER BY line LIMIT ?",
            [Outcome.REJECTED.value, 1 if strict else MAX_REASONS],
        ).fetchall()
        reasons = [Rejection(int(line), str(f), str(r)).render(report.path) for line, f, r in first]
        if strict:
            raise UsageIngestError(
                f"{reasons[0]}; nothing was ingested (strict mode). Fix the record, "
                "or ingest without --strict to skip it and see every problem."
            )
        for reason in reasons:
            logger.warning("rejected %s", reason)
        report.rejections += reasons[: MAX_REASONS - len(report.rejections)]
        report.rejected += rejected
    skipped = int(counts.get(Outcome.SKIP.value, 0))
    if skipped:
        first = con.execute(
            f"SELECT line, reason FROM {table} WHERE outcome = ? ORDER BY line LIMIT ?",
            [Outcome.SKIP.value, MAX_REASONS],
        ).fetchall()
        reasons = [f"{report.path}:{line}: {reason}" for line, reason in first]
        report.skips += reasons[: MAX_REASONS - len(report.skips)]
        report.skipped += skipped
    report.entities += int(counts.get(Outcome.ENTITY.value, 0))
    events = int(counts.get(Outcome.EVENT.value, 0))
    report.read += events + rejected
    if not events:
        return
    _stage_matches(con, table, matcher)
    columns = ", ".join(USAGE_EVENTS.columns)
    # Each check costs a pass over a million rows, so it runs only when it can find something:
    # a repeated id within the file (the first line wins), or a store that has events already.
    # Distinct 64-bit hashes of the ids prove the ids distinct, at a fraction of the cost of
    # counting distinct strings; an equal hash (a repeat, or a collision) takes the exact path.
    repeats = con.execute(
        f"SELECT count(*) - count(DISTINCT hash(event_id)) FROM {table} WHERE outcome = 'event'"
    ).fetchall()[0][0]
    first_line = (
        "QUALIFY row_number() OVER (PARTITION BY s.event_id ORDER BY s.line) = 1" if repeats else ""
    )
    stored = con.execute("SELECT EXISTS (SELECT 1 FROM usage_events)").fetchall()[0][0]
    not_stored = (
        "AND NOT EXISTS (SELECT 1 FROM usage_events AS u WHERE u.event_id = s.event_id)"
        if stored
        else ""
    )
    mine = "SELECT count(*), count(tool_id) FROM usage_events WHERE run_id = ? AND file = ?"
    before = con.execute(mine, [run_id, report.path]).fetchall()[0]  # the same file twice
    try:
        con.execute(
            f"""
            INSERT INTO usage_events ({columns}, run_id, last_seen)
            SELECT ? AS source, s.event_id, s.event_time, m.tool_id, m.app_identifier,
                   m.match_rule, s.user_key, s.role, s.school_key, s.class_key, s.action,
                   s.event_type, s.duration_seconds, s.initiated_by, ? AS file,
                   ? AS run_id, current_timestamp AS last_seen
            FROM {table} AS s
            JOIN {table}_matches AS m ON m.apps_key = {_APPS_KEY.format(apps="s.apps")}
            WHERE s.outcome = 'event' {not_stored}
            {first_line}
            """,
            [source, report.path, run_id],
        ).fetchall()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}_matches")
    # What this file added: its rows of this run (the newest rows, so zone maps skip the rest).
    after = con.execute(mine, [run_id, report.path]).fetchall()[0]
    loaded, matched = after[0] - before[0], after[1] - before[1]
    report.loaded += int(loaded)
    report.matched += int(matched)
    report.duplicates += events - int(loaded)


_APPS_KEY = "hash(coalesce({apps}, []))"
"""The join key of a staged apps list: DuckDB's 64-bit hash of it, checked to be unique among
the distinct lists of each file (:func:`_stage_matches`), so the join is exact."""


def _stage_matches(con: duckdb.DuckDBPyConnection, table: str, matcher: ToolMatcher) -> None:
    """Register ``<table>_matches``: the tool match of each distinct apps list in ``table``."""
    distinct = con.execute(
        f"SELECT apps, {_APPS_KEY.format(apps='apps')} AS apps_key FROM "
        f"(SELECT DISTINCT coalesce(apps, []) AS apps FROM {table} WHERE outcome = 'event')"
    ).fetchall()
    if len({key for _, key in distinct}) != len(distinct):  # pragma: no cover - 2**-64 odds
        raise UsageIngestError(
            "two different app identifier lists hash alike in this file; nothing was ingested. "
            "Please report this (it is a one in 2**64 event) and ingest with --format and "
            "smaller files meanwhile."
        )
    found = [
        matcher.match(tuple(AppIdentifier(IdentifierKind(a["kind"]), a["value"]) for a in apps))
        for apps, _ in distinct
    ]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table}_matches (apps_key UBIGINT, tool_id VARCHAR, "
        "app_identifier VARCHAR, match_rule VARCHAR)"
    )
    con.executemany(
        f"INSERT INTO {table}_matches VALUES (?, ?, ?, ?)",
        [
            [key, m.tool_id, m.app_identifier, m.rule.value if m.rule else None]
            for (_, key), m in zip(distinct, found, strict=True)
        ],
    )


def ingest_lrs(
    store: Store,
    client: HttpClient,
    ecosystem: Ecosystem | None = None,
    *,
    since: str | None = None,
    resume: bool = True,
    strict: bool = False,
    options: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> IngestReport:
    """Pull statements from an xAPI LRS into the store, as one transaction.

    With ``resume`` (and no ``since``), asks only for statements stored after the latest one
    the previous pull from this LRS saw (its cursor in the sync state); the new cursor commits
    with the rows. ``options`` are the xAPI reader's (``district_account_homepages``).
    Rejections are numbered by the statement's position in the pull.

    Raises
    ------
    UsageIngestError
        In strict mode, for the first rejected statement (nothing is written).
    connectors.http.ConnectorError
        When the LRS cannot be reached or refuses; nothing is written.

    Examples
    --------
    >>> import tempfile
    >>> from pydantic import SecretStr
    >>> from connectors.xapi import lrs_client
    >>> client = lrs_client("https://lrs.example.org/xapi", "k", SecretStr("s"))
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     lrs_cursor(store, client) is None
    True
    >>> client.close()
    """
    timezone = ecosystem.district.timezone if ecosystem is not None else "UTC"
    ensure_usage_schema(store, timezone=timezone)
    matcher = ToolMatcher.from_ecosystem(ecosystem) if ecosystem else ToolMatcher([])
    config = _config(xapi.Config, options or {}, "xapi")
    report = IngestReport(run_id=run_id or _new_run_id())
    label = xapi.lrs_label(client)
    if since is None and resume:
        since = lrs_cursor(store, client)
    cursor = xapi.LrsCursor(latest=since)
    started = datetime.now(UTC)
    logger.info("pulling statements from %s since %s, run %s", label, since, report.run_id)
    with store.transaction() as tx:
        file_report = FileReport(label, "xapi")
        report.files.append(file_report)
        outcomes = xapi.read_lrs(client, store.keys, since=since, config=config, cursor=cursor)
        batch: list[_Pending] = []
        _load(
            tx,
            outcomes,
            file_report,
            batch,
            matcher=matcher,
            source=xapi.SOURCE,
            run_id=report.run_id,
            strict=strict,
            batch_size=batch_size,
        )
        if batch:
            _write_batch(tx, batch, run_id=report.run_id)
        _record(
            tx,
            file_report,
            xapi.SOURCE,
            f"lrs:{label}",
            run_id=report.run_id,
            started=started,
            cursor=cursor.latest,
        )
        if ecosystem is not None:
            report.rematched = rematch(tx, matcher)
    logger.info("%s: %s (%d pages)", label, _file_summary(file_report), cursor.pages)
    return report


def lrs_cursor(store: Store, client: HttpClient) -> str | None:
    """The ``stored`` time of the latest statement the last pull from this LRS saw, if any.

    Examples
    --------
    >>> import tempfile
    >>> from pydantic import SecretStr
    >>> from connectors.xapi import lrs_client
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     lrs_cursor(store, lrs_client("https://lrs.example.org/xapi", "k", SecretStr("s")))
    """
    stream = f"lrs:{xapi.lrs_label(client)}"
    for state in store.sync_state(xapi.SOURCE):
        if state["stream"] == stream:
            cursor = state["cursor"]
            return str(cursor) if cursor else None
    return None


def ingest_pull(
    store: Store,
    read: Callable[[str | None], Iterable[Parsed]],
    ecosystem: Ecosystem | None = None,
    *,
    source: str,
    label: str,
    since: str | None = None,
    resume: bool = True,
    strict: bool = False,
    run_id: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> IngestReport:
    """Pull usage from a REST source (``read(since)`` yields outcomes) as one transaction.

    Like :func:`ingest_lrs`, for any connector: with ``resume`` (and no ``since``), ``read``
    is given the latest event time the previous pull of ``source``/``label`` stored; the new
    cursor (the latest event time seen) commits with the rows. Events are deduplicated by id.

    Raises
    ------
    UsageIngestError
        In strict mode, for the first rejected record (nothing is written).
    connectors.http.ConnectorError
        When the source cannot be reached or refuses; nothing is written.

    Examples
    --------
    >>> import tempfile
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     ingest_pull(store, lambda since: [], source="demo", label="x").summary()
    'read 0, loaded 0, duplicates 0, rejected 0'
    """
    timezone = ecosystem.district.timezone if ecosystem is not None else "UTC"
    ensure_usage_schema(store, timezone=timezone)
    matcher = ToolMatcher.from_ecosystem(ecosystem) if ecosystem else ToolMatcher([])
    report = IngestReport(run_id=run_id or _new_run_id())
    if since is None and resume:
        since = pull_cursor(store, source, label)
    latest: list[datetime] = [parse_timestamp(since)] if since else []

    def tracked() -> Iterator[Parsed]:
        for outcome in read(since):
            if isinstance(outcome, UsageEvent) and (not latest or outcome.event_time > latest[0]):
                latest[:] = [outcome.event_time]
            yield outcome

    started = datetime.now(UTC)
    with store.transaction() as tx:
        file_report = FileReport(label, source)
        report.files.append(file_report)
        batch: list[_Pending] = []
        _load(
            tx,
            tracked(),
            file_report,
            batch,
            matcher=matcher,
            source=source,
            run_id=report.run_id,
            strict=strict,
            batch_size=batch_size,
        )
        if batch:
            _write_batch(tx, batch, run_id=report.run_id)
        cursor = latest[0].isoformat() if latest else None
        _record(
            tx,
            file_report,
            source,
            f"pull:{label}",
            run_id=report.run_id,
            started=started,
            cursor=cursor,
        )
        if ecosystem is not None:
            report.rematched = rematch(tx, matcher)
    logger.info("%s: %s", label, _file_summary(file_report))
    return report


def pull_cursor(store: Store, source: str, label: str) -> str | None:
    """The latest event time the last :func:`ingest_pull` of ``source``/``label`` saw, if any.

    Examples
    --------
    >>> import tempfile
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     pull_cursor(store, "google_workspace", "token") is None
    True
    """
    for state in store.sync_state(source):
        if state["stream"] == f"pull:{label}":
            cursor = state["cursor"]
            return str(cursor) if cursor else None
    return None


def rematch(tx: Transaction, matcher: ToolMatcher) -> int:
    """Match stored events no tool claimed to the tools the inventory has now; returns how
    many events changed.

    Runs inside an ingest's transaction, so tools added to the inventory since earlier
    ingests pick up their past usage.

    Examples
    --------
    >>> import tempfile
    >>> from edtech_map.store import Store
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     ensure_usage_schema(store)
    ...     with store.transaction() as tx:
    ...         rematch(tx, ToolMatcher([]))
    0
    """
    identifiers = tx.con.execute(
        "SELECT DISTINCT app_identifier FROM usage_events "
        "WHERE tool_id IS NULL AND app_identifier IS NOT NULL"
    ).fetchall()
    changed = 0
    for (identifier,) in identifiers:
        found = matcher.match_stored(str(identifier))
        if found.tool_id is None or found.rule is None:
            continue
        rows = tx.con.execute(
            "UPDATE usage_events SET tool_id = ?, match_rule = ? "
            "WHERE tool_id IS NULL AND app_identifier = ?",
            [found.tool_id, found.rule.value, identifier],
        ).fetchall()
        changed += int(rows[0][0]) if rows else 0
    return changed


def _record(
    tx: Transaction,
    report: FileReport,
    source: str,
    stream: str,
    *,
    run_id: str,
    started: datetime,
    cursor: str | None,
) -> None:
    tx.record_sync(
        source,
        stream,
        run_id=run_id,
        cursor=cursor,
        rows_read=report.read,
        rows_loaded=report.loaded,
        rows_skipped=report.rejected + report.duplicates,
        started=started,
        complete=True,
    )


def _file_summary(report: FileReport) -> str:
    return (
        f"read {report.read}, loaded {report.loaded}, duplicates {report.duplicates}, "
        f"rejected {report.rejected}, entities {report.entities}, skipped {report.skipped}"
    )


def _school_keys(ecosystem: Ecosystem | None, school: str) -> list[str]:
    if ecosystem is None:
        return [school]
    try:
        found = ecosystem.school(school)
    except KeyError:
        return [school]
    return [found.id, *found.roster_ids]


def usage_by_tool(
    store: Store, *, school: str | None = None, ecosystem: Ecosystem | None = None
) -> list[dict[str, Any]]:
    """Per tool (or unmatched identifier): active students, active teachers, users, minutes.

    ``school`` is an inventory school id (its ``roster_ids`` count too, given the
    ``ecosystem``) or an org id as it appears in usage, alone or at the end of an IRI
    (``https://sis.example.org/orgs/<id>``). Sorted by active students, most first.

    Examples
    --------
    >>> import tempfile
    >>> from edtech_map.store import Store
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     usage_by_tool(store)
    []
    """
    ensure_usage_schema_if_missing(store)
    where, params = "", []
    if school is not None:
        keys = _school_keys(ecosystem, school)
        # An org id as given, or at the end of an IRI (https://sis.example.org/orgs/<id>).
        where = "WHERE " + " OR ".join("school_key = ? OR suffix(school_key, ?)" for _ in keys)
        params = [value for key in keys for value in (key, f"/{key}")]
    sql = f"""
        SELECT coalesce(tool_id, app_identifier) AS tool,
               tool_id IS NOT NULL AS matched,
               count(DISTINCT user_key) FILTER (WHERE role = '{Role.STUDENT.value}')
                   AS active_students,
               count(DISTINCT user_key) FILTER (WHERE role = '{Role.TEACHER.value}')
                   AS active_teachers,
               count(DISTINCT user_key) AS active_users,
               count(*) AS events,
               round(coalesce(sum(duration_seconds), 0) / 60.0, 1) AS minutes,
               min(event_time) AS first_seen,
               max(event_time) AS last_seen
        FROM usage_events {where}
        GROUP BY ALL
        ORDER BY active_students DESC, active_users DESC, tool
    """
    rows: list[dict[str, Any]] = store.query_arrow(sql, params).to_pylist()
    return rows


def unmatched_apps(store: Store) -> list[dict[str, Any]]:
    """App identifiers seen in usage that no inventory tool claims, most users first.

    Examples
    --------
    >>> import tempfile
    >>> from edtech_map.store import Store
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     unmatched_apps(store)
    []
    """
    ensure_usage_schema_if_missing(store)
    rows: list[dict[str, Any]] = store.query_arrow(
        "SELECT * FROM usage_unmatched ORDER BY users DESC, events DESC, app_identifier"
    ).to_pylist()
    return rows


def ensure_usage_schema_if_missing(store: Store) -> None:
    """Create the usage table and views (in UTC days) unless the store already has them."""
    found = store.con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'usage_daily'"
    ).fetchall()
    if not found[0][0]:
        ensure_usage_schema(store)
    else:
        store.ensure_table(USAGE_EVENTS)
