"""What every connector shares: streams, the sync context, the report, and counted transforms.

A connector module (``connectors/<source>.py``) exposes ``SOURCE``, ``STREAMS``, ``Config``,
``get_<stream>``, ``transform_<stream>`` and ``sync(ctx) -> SyncReport``. Its transforms raise
:class:`RowError` for a record that cannot be loaded and :class:`SkipRow` for one that is
deliberately left out; :func:`transform_each` counts both, keeps the first few reasons (each
naming file:line, field and value) and, in strict mode, stops the sync at the first rejected
record so that the transaction rolls back.

This module imports nothing heavy: connectors are found through :data:`REGISTRY` and imported
only when used (:func:`load_connector`).

Examples
--------
>>> from types import SimpleNamespace
>>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="demo")
>>> records = [SourceRecord("t.csv:2", {"n": "1"}), SourceRecord("t.csv:3", {"n": "x"})]
>>> def transform_number(values, ctx):
...     try:
...         return {"n": int(values["n"])}
...     except ValueError:
...         raise RowError("n", values["n"], "not a whole number") from None
>>> list(transform_each(records, transform_number, ctx, stream="numbers"))
[{'n': 1}]
>>> report = ctx.report.streams["numbers"]
>>> (report.read, report.loaded, report.skipped, report.rejected), report.rejections
((2, 1, 0, 1), ["t.csv:3 n = 'x': not a whole number"])
"""

from __future__ import annotations

import importlib
import logging
import os
import uuid
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; see docs/store.md
from pydantic import BaseModel, SecretStr, ValidationError

from edtech_map.errors import EdtechMapError
from edtech_map.store import DEFAULT_MAX_SHRINK, TableSpec, shrink_guard

if TYPE_CHECKING:
    from edtech_map.privacy import KeyMaker
    from edtech_map.store import Store, Transaction

__all__ = [
    "MAX_REASONS",
    "REGISTRY",
    "FullRefreshLoad",
    "Row",
    "RowError",
    "RowRejectedError",
    "SkipRow",
    "SourceError",
    "SourceRecord",
    "StreamReport",
    "StreamSpec",
    "SyncContext",
    "SyncReport",
    "delete_orphan_identities",
    "delete_unseen",
    "load_connector",
    "load_source_config",
    "log_stream",
    "new_run_id",
    "record_stream",
    "reject_record",
    "repeat_reason",
    "transform_each",
    "transform_record",
]

log = logging.getLogger(__name__)

#: How many skip and rejection reasons a stream report keeps (the counts are always complete).
MAX_REASONS = 5
#: How often (in records) :func:`transform_each` calls the progress callback.
PROGRESS_EVERY = 1000

#: Connector name -> module path. Modules are imported on first use by :func:`load_connector`.
REGISTRY: dict[str, str] = {
    "canvas": "connectors.canvas",
    "clever": "connectors.clever",
    "google_classroom": "connectors.google_classroom",
    "oneroster_csv": "connectors.oneroster_csv",
    "oneroster_rest": "connectors.oneroster_rest",
    "schoology": "connectors.schoology",
}

Row = dict[str, Any]


class SourceError(EdtechMapError):
    """The source as a whole cannot be read (not a bundle, a broken file, an unsafe zip)."""


class RowError(ValueError):
    """One record cannot be loaded: which field, which value, and what is wrong with it.

    ``personal=True`` keeps the value out of the message (names, e-mails, people's ids).

    Examples
    --------
    >>> str(RowError("grades", "13th", "not a grade level"))
    "grades = '13th': not a grade level"
    >>> str(RowError("userSourcedId", "stu-1", "unknown user", personal=True))
    'userSourcedId = <personal value withheld>: unknown user'
    """

    def __init__(self, field: str, value: object, problem: str, *, personal: bool = False) -> None:
        self.field, self.value, self.problem, self.personal = field, value, problem, personal
        shown = "<personal value withheld>" if personal else repr(value)
        super().__init__(f"{field} = {shown}: {problem}")


class SkipRow(Exception):  # noqa: N818 -- a signal, not an error: the record is left out on purpose
    """A record deliberately left out (counted as skipped, with this reason).

    Examples
    --------
    >>> str(SkipRow("a guest account"))
    'a guest account'
    """


class RowRejectedError(EdtechMapError):
    """Strict mode: the first rejected record stops the sync (and rolls the store back).

    Examples
    --------
    >>> str(RowRejectedError("users.csv:7 role = 'pupil': not a OneRoster role"))
    "users.csv:7 role = 'pupil': not a OneRoster role; nothing was imported (strict mode). Fix the record, or import without --strict to skip it and see every problem."
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"{reason}; nothing was imported (strict mode). Fix the record, or import without "
            f"--strict to skip it and see every problem."
        )


@dataclass(frozen=True)
class SourceRecord:
    """One raw record and where it came from (``file:line`` or a redacted URL and position).

    ``problem`` is set by a reader that could not make sense of the record at all (a ragged
    CSV row); :func:`transform_each` rejects such records without calling the transform.
    """

    where: str
    values: Mapping[str, str | None]
    problem: str | None = None


@dataclass(frozen=True)
class StreamSpec:
    """One stream of a connector: its name, the store table it fills, what it is.

    Examples
    --------
    >>> from edtech_map.store import USERS
    >>> StreamSpec("users", USERS, file_name="users.csv").table.primary_key
    ('source', 'user_key')
    """

    name: str
    table: TableSpec
    description: str = ""
    file_name: str | None = None


@dataclass
class StreamReport:
    """Counts for one stream (one file) of one sync. ``loaded + skipped + rejected == read``.

    ``deletions`` counts the loaded records that asked for a deletion (OneRoster
    ``status=tobedeleted``). ``deleted`` counts rows removed from the store (those deletions
    that matched a row, and rows a full pull no longer saw); it is not part of the sum.

    Examples
    --------
    >>> report = StreamReport("users", where="users.csv")
    >>> report.reject("users.csv:3 role = 'x': not a role")
    >>> report.read, report.rejected, report.balanced
    (0, 1, False)
    """

    stream: str
    where: str | None = None
    mode: str | None = None
    read: int = 0
    loaded: int = 0
    skipped: int = 0
    rejected: int = 0
    deleted: int = 0
    deletions: int = 0
    skips: list[str] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        """Count one skipped record, keeping the first :data:`MAX_REASONS` reasons."""
        self.skipped += 1
        if len(self.skips) < MAX_REASONS:
            self.skips.append(reason)

    def reject(self, reason: str) -> None:
        """Count one rejected record, keeping the first :data:`MAX_REASONS` reasons."""
        self.rejected += 1
        if len(self.rejections) < MAX_REASONS:
            self.rejections.append(reason)

    @property
    def balanced(self) -> bool:
        """True when every record read was loaded, skipped or rejected."""
        return self.loaded + self.skipped + self.rejected == self.read

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` output.

        Examples
        --------
        >>> StreamReport("orgs", where="orgs.csv", mode="bulk").as_dict()["mode"]
        'bulk'
        """
        return {
            "stream": self.stream,
            "file": self.where,
            "mode": self.mode,
            "read": self.read,
            "loaded": self.loaded,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "deletions": self.deletions,
            "deleted": self.deleted,
            "skip_reasons": list(self.skips),
            "reject_reasons": list(self.rejections),
        }


@dataclass
class SyncReport:
    """What one sync did, stream by stream, plus warnings about the source as a whole.

    Examples
    --------
    >>> report = SyncReport(source="sis", run_id="r1")
    >>> report.stream("users", where="users.csv").read += 2
    >>> report.stream("users").loaded += 2
    >>> report.read, report.loaded, report.ok
    (2, 2, True)
    """

    source: str
    run_id: str
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None
    version: str | None = None
    streams: dict[str, StreamReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def stream(self, name: str, *, where: str | None = None) -> StreamReport:
        """The report of stream ``name``, created on first use."""
        if name not in self.streams:
            self.streams[name] = StreamReport(name, where=where)
        elif where is not None:
            self.streams[name].where = where
        return self.streams[name]

    def warn(self, message: str) -> None:
        """Record a warning about the source (logged at INFO: the report is where it is shown)."""
        log.info("%s", message)
        self.warnings.append(message)

    @property
    def read(self) -> int:
        """Records read, all streams."""
        return sum(s.read for s in self.streams.values())

    @property
    def loaded(self) -> int:
        """Records loaded (written or applied), all streams."""
        return sum(s.loaded for s in self.streams.values())

    @property
    def skipped(self) -> int:
        """Records deliberately left out, all streams."""
        return sum(s.skipped for s in self.streams.values())

    @property
    def rejected(self) -> int:
        """Records that could not be loaded, all streams."""
        return sum(s.rejected for s in self.streams.values())

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return self.rejected == 0

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` output.

        Examples
        --------
        >>> sorted(SyncReport(source="sis", run_id="r1").as_dict())[:4]
        ['finished', 'loaded', 'read', 'rejected']
        """
        return {
            "source": self.source,
            "run_id": self.run_id,
            "version": self.version,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "read": self.read,
            "loaded": self.loaded,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "streams": [s.as_dict() for s in self.streams.values()],
            "warnings": list(self.warnings),
        }


class ProgressCallback(Protocol):
    """Called as records are read: ``(stream, records read so far)``. The CLI draws a bar."""

    def __call__(self, stream: str, read: int) -> None: ...  # pragma: no cover


def new_run_id() -> str:
    """A new, sortable run id: UTC time plus a random suffix.

    Examples
    --------
    >>> a, b = new_run_id(), new_run_id()
    >>> a != b and len(a) == len(b) == 25
    True
    """
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


@dataclass
class SyncContext:
    """Everything a connector's ``sync`` needs: the store, who the source is, and the options.

    ``options`` are the connector's settings (validated into its ``Config``); ``strict`` stops
    at the first rejected record; ``force`` overrides the shrink guard; ``keep_identities`` is
    the opt-in for names and e-mails (``--keep-names``).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys="k"), source="sis", run_id="r1")
    >>> ctx.keys, ctx.report.source, ctx.report.run_id
    ('k', 'sis', 'r1')
    """

    store: Store
    source: str
    run_id: str = field(default_factory=new_run_id)
    options: Mapping[str, Any] = field(default_factory=dict)
    strict: bool = False
    force: bool = False
    keep_identities: bool = False
    max_shrink: float = DEFAULT_MAX_SHRINK
    progress: ProgressCallback | None = None
    report: SyncReport = field(init=False)

    def __post_init__(self) -> None:
        self.report = SyncReport(source=self.source, run_id=self.run_id)

    @property
    def keys(self) -> KeyMaker:
        """The store's key maker (pseudonymous person keys)."""
        return self.store.keys

    def tick(self, stream: str, read: int) -> None:
        """Tell the progress callback, if any, how far ``stream`` has got."""
        if self.progress is not None:
            self.progress(stream, read)


def transform_each(
    records: Iterable[SourceRecord],
    transform: Callable[[Mapping[str, str | None], SyncContext], Row],
    ctx: SyncContext,
    *,
    stream: str,
    unique_by: Callable[[Row], Hashable] | None = None,
) -> Iterator[Row]:
    """Transform records one by one, counting what is loaded, skipped and rejected.

    A record the reader flagged (``problem``), a :class:`RowError` from the transform and a
    repeated ``unique_by`` key are rejections; :class:`SkipRow` is a skip. Every other
    exception is a bug and propagates. In strict mode the first rejection raises
    :class:`RowRejectedError`. Rows are counted as loaded when they are yielded, so the caller
    must write every row it receives.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="demo", strict=True)
    >>> records = [SourceRecord("t.csv:2", {"k": "a"}), SourceRecord("t.csv:3", {"k": "a"})]
    >>> list(transform_each(records, lambda v, c: dict(v), ctx, stream="t",
    ...                     unique_by=lambda row: row["k"]))
    Traceback (most recent call last):
    ...
    connectors.base.RowRejectedError: t.csv:3 repeats the key of line 2; ...
    """
    report = ctx.report.stream(stream)
    seen: dict[Hashable, str] = {}
    for record in records:
        report.read += 1
        if report.read % PROGRESS_EVERY == 0:
            ctx.tick(stream, report.read)
        row = transform_record(record, transform, ctx, report)
        if row is None:
            continue
        if unique_by is not None:
            key = unique_by(row)
            if key in seen:
                reject_record(ctx, report, repeat_reason(record.where, seen[key]))
                continue
            seen[key] = record.where
        report.loaded += 1
        yield row
    ctx.tick(stream, report.read)


def transform_record(
    record: SourceRecord,
    transform: Callable[[Mapping[str, str | None], SyncContext], Row],
    ctx: SyncContext,
    report: StreamReport,
) -> Row | None:
    """One step of :func:`transform_each`: the row, or ``None`` for a skip or a rejection.

    A skip or a rejection is counted in ``report`` (and a rejection raises in strict mode);
    the caller counts ``read`` and ``loaded``, and checks repeated keys.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="demo")
    >>> report = ctx.report.stream("t")
    >>> def number(values, ctx):
    ...     if not values["n"].isdigit():
    ...         raise RowError("n", values["n"], "not a whole number")
    ...     return {"n": int(values["n"])}
    >>> transform_record(SourceRecord("t.csv:2", {"n": "7"}), number, ctx, report)
    {'n': 7}
    >>> transform_record(SourceRecord("t.csv:3", {"n": "x"}), number, ctx, report) is None
    True
    >>> report.rejections
    ["t.csv:3 n = 'x': not a whole number"]
    """
    if record.problem is not None:
        reject_record(ctx, report, f"{record.where} {record.problem}")
        return None
    try:
        return transform(record.values, ctx)
    except SkipRow as skip:
        report.skip(f"{record.where} {skip}")
        log.warning("skipped %s: %s", record.where, skip)
    except RowError as error:
        reject_record(ctx, report, f"{record.where} {error}")
    return None


def reject_record(ctx: SyncContext, report: StreamReport, reason: str) -> None:
    """Count and log one rejected record; in strict mode raise :class:`RowRejectedError`.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="demo")
    >>> report = ctx.report.stream("t")
    >>> reject_record(ctx, report, "t.csv:4 role = 'x': not a OneRoster role")
    >>> report.rejected
    1
    """
    if ctx.strict:
        raise RowRejectedError(reason)
    report.reject(reason)
    log.warning("rejected %s", reason)


def repeat_reason(where: str, first_where: str) -> str:
    """The rejection reason of a record whose key an earlier record (at ``first_where``) had.

    Examples
    --------
    >>> repeat_reason("users.csv:9", "users.csv:4")
    'users.csv:9 repeats the key of line 4; each record must have its own sourcedId (the first one was kept)'
    """
    first = first_where.rsplit(":", 1)[-1]
    return (
        f"{where} repeats the key of line {first}; each record must have its own sourcedId "
        f"(the first one was kept)"
    )


def delete_unseen(
    tx: Transaction,
    ctx: SyncContext,
    stream: str,
    table: TableSpec,
    *,
    before: Mapping[str, int],
    guarded: Collection[str],
) -> None:
    """Delete the rows of ``stream`` this run did not see; refuse a big shrink of a guarded one.

    The count goes to the stream's ``deleted``; for a stream in ``guarded``,
    :func:`edtech_map.store.shrink_guard` compares it with ``before[stream]`` (the rows the source
    had when the transaction began) and raises, rolling the pull back, when too many would go.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from edtech_map.store import ShrinkGuardError, Store
    >>> table = TableSpec("things", {"source": "VARCHAR", "k": "VARCHAR"}, ("source", "k"))
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     store.ensure_table(table)
    ...     with store.transaction() as tx:  # an earlier run saw a, b, c, d
    ...         _ = tx.upsert(table, pa.table({"source": ["demo"] * 4, "k": list("abcd")}), run_id="r1")
    ...     ctx = SyncContext(store=store, source="demo", run_id="r2")
    ...     try:
    ...         with store.transaction() as tx:  # this run sees only a
    ...             _ = tx.upsert(table, pa.table({"source": ["demo"], "k": ["a"]}), run_id="r2")
    ...             delete_unseen(tx, ctx, "things", table, before={"things": 4}, guarded={"things"})
    ...     except ShrinkGuardError:
    ...         print("refused; rows kept:", store.counts()[0]["rows"])
    refused; rows kept: 4
    """
    report = ctx.report.stream(stream)
    report.deleted += tx.delete_stale(table, source=ctx.source, keep_run_id=ctx.run_id)
    if stream in guarded:
        shrink_guard(
            stream,
            source=ctx.source,
            before=before[stream],
            deleted=report.deleted,
            max_shrink=ctx.max_shrink,
            force=ctx.force,
        )


def record_stream(tx: Transaction, ctx: SyncContext, stream: str, *, cursor: str | None) -> None:
    """Record a complete sync of ``stream`` with its report's counts (skipped counts rejections).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from edtech_map.store import Store
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     ctx = SyncContext(store=store, source="demo")
    ...     ctx.report.stream("users").read = 3
    ...     with store.transaction() as tx:
    ...         record_stream(tx, ctx, "users", cursor="2026-11-23")
    ...     [(s["stream"], s["cursor"], s["rows_read"]) for s in store.sync_state("demo")]
    [('users', '2026-11-23', 3)]
    """
    report = ctx.report.stream(stream)
    tx.record_sync(
        ctx.source,
        stream,
        run_id=ctx.run_id,
        cursor=cursor,
        rows_read=report.read,
        rows_loaded=report.loaded,
        rows_skipped=report.skipped + report.rejected,
        started=ctx.report.started,
        complete=True,
    )


def log_stream(logger: logging.Logger, label: str, report: StreamReport) -> None:
    """Log the counts of one finished stream at INFO, under ``label`` (a stream or file name).

    Examples
    --------
    >>> from logging.handlers import BufferingHandler
    >>> logger, lines = logging.getLogger("demo.log_stream"), BufferingHandler(capacity=10)
    >>> logger.addHandler(lines)
    >>> logger.setLevel(logging.INFO)
    >>> log_stream(logger, "users.csv", StreamReport("users", read=3, loaded=2, rejected=1))
    >>> [line.getMessage() for line in lines.buffer]
    ['users.csv: read 3, loaded 2, skipped 0, rejected 1, deleted 0']
    """
    logger.info(
        "%s: read %d, loaded %d, skipped %d, rejected %d, deleted %d",
        label,
        report.read,
        report.loaded,
        report.skipped,
        report.rejected,
        report.deleted,
    )


def delete_orphan_identities(tx: Transaction, source: str) -> None:
    """Delete ``source``'s identities (names, e-mails) whose user is no longer in the store.

    Identities never outlive their user: call it after the ``users`` stream is cleaned up.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from edtech_map.store import IDENTITIES, Store
    >>> names = pa.Table.from_pylist(
    ...     [{"source": "sis", "user_key": "u-1"}], schema=IDENTITIES.arrow_schema()
    ... )
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     with store.transaction() as tx:
    ...         _ = tx.upsert(IDENTITIES, names, run_id="r1")
    ...         before = tx.count(IDENTITIES, source="sis")
    ...         delete_orphan_identities(tx, "sis")
    ...         before, tx.count(IDENTITIES, source="sis")
    (1, 0)
    """
    tx.con.execute(
        "DELETE FROM identities WHERE source = ? AND user_key NOT IN "
        "(SELECT user_key FROM users WHERE source = ?)",
        [source, source],
    ).fetchall()


@dataclass
class FullRefreshLoad:
    """The writes of one full-refresh sync: each key once, in batches, then stale rows out.

    :meth:`flush` upserts rows in Arrow batches of ``batch_size``, dropping (and counting as
    skipped) a key already written by this run, as when a page shifts mid-pull. :meth:`finish`
    deletes what the run did not see from every stream written (behind the shrink guard for
    ``guarded`` ones), then records the sync state and logs each stream's counts through
    ``logger``. Call both inside the one transaction of the sync.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from edtech_map.store import Store
    >>> table = TableSpec("things", {"source": "VARCHAR", "k": "VARCHAR"}, ("source", "k"))
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     ctx = SyncContext(store=store, source="demo")
    ...     load = FullRefreshLoad(ctx, {"things": table}, batch_size=2)
    ...     ctx.report.stream("things").loaded = 3
    ...     with store.transaction() as tx:
    ...         load.flush(tx, "things", [{"source": "demo", "k": k} for k in "aba"])
    ...         load.finish(tx, before={})
    ...     report = ctx.report.streams["things"]
    ...     report.loaded, report.skipped, store.counts()
    (2, 1, [{'source': 'demo', 'table': 'things', 'rows': 2}])
    """

    ctx: SyncContext
    tables: Mapping[str, TableSpec]
    batch_size: int
    guarded: Collection[str] = frozenset()
    logger: logging.Logger = log
    #: The streams written, in the order they were first flushed (or marked).
    written: list[str] = field(default_factory=list)
    _seen: dict[str, set[tuple[Any, ...]]] = field(default_factory=dict)

    def mark(self, stream: str) -> None:
        """Note that this run writes ``stream``, so :meth:`finish` cleans it up and records it."""
        if stream not in self.written:
            self.written.append(stream)

    def flush(self, tx: Transaction, stream: str, rows: list[Row], *, write: bool = True) -> None:
        """Upsert ``rows`` (unless ``write`` is false), each key once, and empty the list."""
        if not rows:
            return
        table = self.tables[stream]
        if write:
            unique = self._unique(stream, table, rows)
            for start in range(0, len(unique), self.batch_size):
                tx.upsert(
                    table,
                    pa.Table.from_pylist(
                        unique[start : start + self.batch_size], schema=table.arrow_schema()
                    ),
                    run_id=self.ctx.run_id,
                )
        rows.clear()

    def _unique(self, stream: str, table: TableSpec, rows: list[Row]) -> list[Row]:
        seen = self._seen.setdefault(stream, set())
        unique: list[Row] = []
        for row in rows:
            key = tuple(row[column] for column in table.primary_key)
            if key in seen:
                report = self.ctx.report.stream(stream)
                report.loaded -= 1
                report.skip(f"{stream}: a record came twice (a page shifted mid-pull); kept once")
                continue
            seen.add(key)
            unique.append(row)
        return unique

    def finish(self, tx: Transaction, before: Mapping[str, int]) -> None:
        """Delete what this run no longer saw (behind the shrink guard); record sync state.

        ``before`` holds the row count of each guarded stream when the transaction began.
        Every stream is cleaned up and guarded before any sync state is recorded or logged.
        """
        for stream in self.written:
            delete_unseen(
                tx, self.ctx, stream, self.tables[stream], before=before, guarded=self.guarded
            )
        for stream in self.written:
            record_stream(tx, self.ctx, stream, cursor=None)
            log_stream(self.logger, stream, self.ctx.report.stream(stream))


def load_connector(name: str) -> ModuleType:
    """Import the connector registered as ``name``.

    Raises
    ------
    EdtechMapError
        Naming the known connectors when ``name`` is not one of them.

    Examples
    --------
    >>> load_connector("oneroster_csv").SOURCE
    'oneroster_csv'
    >>> load_connector("clevr")
    Traceback (most recent call last):
    ...
    edtech_map.errors.EdtechMapError: no connector called 'clevr'; known: canvas, clever, google_classroom, oneroster_csv, oneroster_rest, schoology
    """
    try:
        module_path = REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise EdtechMapError(f"no connector called {name!r}; known: {known}") from None
    return importlib.import_module(module_path)


ConfigT = TypeVar("ConfigT", bound=BaseModel)


def load_source_config(
    model: type[ConfigT],
    options: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    secret_names: tuple[str, ...],
    source: str,
) -> ConfigT:
    """Validate a ``sources:`` entry's options into a connector's ``Config``.

    ``options["secrets"]`` maps a credential to the *name* of an environment variable; a
    credential given directly is used as is. The named ``secret_names`` become ``SecretStr``.
    Errors name the field or the variable and the docs page, never a secret's value.

    Raises
    ------
    SourceError
        A named variable is unset, or a setting is missing or invalid.

    Examples
    --------
    >>> class Demo(BaseModel):
    ...     token: SecretStr
    ...     page_size: int = 100
    >>> load_source_config(Demo, {"secrets": {"token": "DEMO_TOKEN"}}, {"DEMO_TOKEN": "t-1"},
    ...                    secret_names=("token",), source="demo").token
    SecretStr('**********')
    >>> load_source_config(Demo, {"secrets": {"token": "UNSET"}}, {},
    ...                    secret_names=("token",), source="demo")
    Traceback (most recent call last):
    ...
    connectors.base.SourceError: demo: the environment variable UNSET (secret 'token') is not set; export it before pulling
    >>> load_source_config(Demo, {"token": "t-1", "page_size": "many"}, {},
    ...                    secret_names=("token",), source="google_classroom")
    Traceback (most recent call last):
    ...
    connectors.base.SourceError: google_classroom: invalid settings (page_size: Input should be a valid integer, unable to parse string as an integer); see docs/connectors/google-classroom.md
    """
    env = os.environ if environ is None else environ
    values = dict(options)
    for name, variable in dict(values.pop("secrets", None) or {}).items():
        if name in values:
            continue
        if not env.get(variable):
            raise SourceError(
                f"{source}: the environment variable {variable} (secret {name!r}) is not set; "
                f"export it before pulling"
            )
        values[name] = env[variable]
    for name in secret_names:
        if isinstance(values.get(name), str):
            values[name] = SecretStr(values[name])
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '(options)'}: {problem['msg']}"
            for problem in error.errors(include_input=False, include_url=False)
        )
        page = source.replace("_", "-")
        raise SourceError(
            f"{source}: invalid settings ({problems}); see docs/connectors/{page}.md"
        ) from None
