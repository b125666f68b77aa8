"""Usage exports as CSV (vendor dashboards, SSO launch logs), read through a column mapping.

Vendors export usage in many shapes. A :class:`ColumnMapping` says which column holds the
user, the time, the app, the role, the school, the class and the minutes or seconds; built-in
:data:`PRESETS` cover common shapes, and a district can declare its own in ``ecosystem.yaml``
(``sources: {kind: usage_csv, options: {mapping: {...}}}``). :func:`read_usage_csv` reads the
file row by row with exact line numbers; :func:`stage_usage_csv` reads it whole with DuckDB
(for ingest in bulk) with the same results, or declines a file it cannot read exactly. The user
column is keyed at once and never kept.

Examples
--------
>>> import tempfile
>>> from edtech_map.privacy import KeyMaker
>>> path = Path(tempfile.mkdtemp()) / "usage.csv"
>>> _ = path.write_text("date,user_id,role,school_id,app,minutes\\n"
...                     "2026-11-02,stu-1,student,lincoln-es,Mathly,12.5\\n")
>>> (event,) = read_usage_csv(path, KeyMaker(b"0" * 32), PRESETS["daily_minutes"])
>>> event.role.value, event.school_id, event.duration_seconds, event.apps[0].value
('student', 'lincoln-es', 750.0, 'Mathly')
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from connectors.usage_events import (
    STAGE_COLUMNS,
    AppIdentifier,
    IdentifierKind,
    InitiatedBy,
    Parsed,
    Rejection,
    UsageEvent,
    content_hash,
    parse_iso_duration,
    role_from_label,
)
from edtech_map.errors import EdtechMapError
from edtech_map.model import Role, StrictModel
from edtech_map.privacy import DISTRICT, KeyMaker

__all__ = [
    "PRESETS",
    "SOURCE",
    "ColumnMapping",
    "UsageCsvError",
    "detect_preset",
    "read_usage_csv",
    "stage_usage_csv",
    "transform_row",
]

logger = logging.getLogger(__name__)

SOURCE = "usage_csv"

_HMS = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
_INITIATED = {
    "student": InitiatedBy.STUDENT,
    "self": InitiatedBy.STUDENT,
    "student-initiated": InitiatedBy.STUDENT,
    "assigned": InitiatedBy.ASSIGNED,
    "teacher": InitiatedBy.ASSIGNED,
    "assignment": InitiatedBy.ASSIGNED,
}


class UsageCsvError(EdtechMapError):
    """A usage CSV cannot be read as a whole (missing columns, not a CSV); says what to do."""


class ColumnMapping(StrictModel):
    """Which column of a usage export holds what. Only ``user`` and ``time`` are required.

    Examples
    --------
    >>> ColumnMapping(user="Student ID", time="Date", minutes="Minutes").required_columns()
    ('Student ID', 'Date', 'Minutes')
    >>> ColumnMapping(user="u", time="t", minutes="m", seconds="s")
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for ColumnMapping
      Value error, give minutes or seconds, not both ...
    """

    user: str = Field(description="Column with the person's id (district/SIS id by default).")
    time: str = Field(description="Column with the time or date of use.")
    app: str | None = Field(default=None, description="Column naming the app or tool.")
    app_kind: IdentifierKind = Field(
        default=IdentifierKind.NAME,
        description="What the app column holds: name (tool id, name, alias or domain), url, "
        "caliper_app_id, lti_client_id, lti_deployment_id or oauth_client_id.",
    )
    app_name: str | None = Field(
        default=None, description="Column with the app's name, tried when `app` matches no tool."
    )
    tool: str | None = Field(
        default=None,
        description="Tool id for every row, for a one-vendor export with no app column.",
    )
    role: str | None = Field(default=None, description="Column with the role (Student, ...).")
    school: str | None = Field(default=None, description="Column with the school id.")
    class_: str | None = Field(default=None, alias="class", description="Column with the class id.")
    minutes: str | None = Field(default=None, description="Column with minutes of use.")
    seconds: str | None = Field(
        default=None, description="Column with seconds of use (or H:MM:SS, or ISO 8601 PT..)."
    )
    event_id: str | None = Field(default=None, description="Column with a unique row id, if any.")
    action: str | None = Field(default=None, description="Column with what was done.")
    initiated_by: str | None = Field(
        default=None, description="Column saying who started it: student or assigned."
    )
    user_namespace: str = Field(
        default=DISTRICT,
        description="Key namespace of the user ids: `district` when they are SIS ids (so they "
        "meet the roster's keys); the vendor's name when they are its own ids.",
    )
    time_format: str | None = Field(
        default=None, description="strptime format when times are not ISO 8601, e.g. %m/%d/%Y."
    )
    timezone: str | None = Field(
        default=None,
        description="IANA zone of times written without an offset (default: the district's, "
        "UTC without an inventory).",
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = Field(
        default="utf-8-sig", description="Text encoding of the export, e.g. cp1252 for Excel."
    )

    model_config = StrictModel.model_config | {"populate_by_name": True}

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone; use e.g. America/Chicago"
            ) from None
        return value

    @model_validator(mode="after")
    def _one_duration(self) -> Self:
        if self.minutes and self.seconds:
            raise ValueError("give minutes or seconds, not both")
        if self.app and self.tool:
            raise ValueError("give an app column or a fixed tool, not both")
        return self

    def required_columns(self) -> tuple[str, ...]:
        """Every column this mapping reads, in the order given."""
        names = (
            self.user,
            self.time,
            self.app,
            self.app_name,
            self.role,
            self.school,
            self.class_,
            self.minutes,
            self.seconds,
            self.event_id,
            self.action,
            self.initiated_by,
        )
        return tuple(name for name in names if name)


PRESETS: Mapping[str, ColumnMapping] = {
    # The sample generator's usage/usage.csv, shaped like a web filter's activity export: one
    # row per person, app and day, the app by its domain and its name.
    "edtech_map_sample": ColumnMapping(
        user="User ID",
        time="Date",
        app="Domain",
        app_kind=IdentifierKind.URL,
        app_name="App",
        role="Role",
        school="School ID",
        minutes="Minutes",
    ),
    # A vendor dashboard's daily roll-up: one row per person, app and day.
    "daily_minutes": ColumnMapping(
        user="user_id",
        time="date",
        app="app",
        role="role",
        school="school_id",
        minutes="minutes",
    ),
    # An SSO launchpad's sign-in log: one row per launch, the app as a URL.
    "launches": ColumnMapping(
        user="User ID",
        time="Timestamp",
        app="App URL",
        app_kind=IdentifierKind.URL,
        role="Role",
        school="School",
    ),
}
"""Built-in column mappings, by name (see ``docs/connectors/usage-csv.md``)."""


def detect_preset(header: Sequence[str]) -> str | None:
    """The name of the first preset whose columns are all in a header, or None.

    Examples
    --------
    >>> detect_preset(["date", "user_id", "role", "school_id", "app", "minutes"])
    'daily_minutes'
    >>> detect_preset(["who", "when"]) is None
    True
    """
    present = {name.strip() for name in header}
    for name, mapping in PRESETS.items():
        if set(mapping.required_columns()) <= present:
            return name
    return None


def _parse_time(text: str, mapping: ColumnMapping) -> datetime:
    value = text.strip()
    if mapping.time_format:
        moment = datetime.strptime(value, mapping.time_format)  # a naive time gets the zone below
    else:
        moment = datetime.fromisoformat(value.replace(" ", "T", 1) if " " in value else value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(mapping.timezone or "UTC"))
    return moment.astimezone(UTC)


def _parse_seconds(text: str, *, minutes: bool) -> float:
    value = text.strip()
    match = _HMS.match(value)
    if match:
        hours, mins, secs = match.groups()
        return int(hours or 0) * 3600 + int(mins) * 60 + float(secs)
    if value.upper().startswith("P"):
        return parse_iso_duration(value.upper())
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r} is not a duration (a number of 0 or more)")
    return number * 60 if minutes else number


def _site(url: str) -> str:
    """The scheme and host of a URL (or a bare host), without path, query or user info."""
    parts = urlsplit(url if "://" in url else f"//{url}")
    if not parts.hostname:
        return url
    return f"{parts.scheme}://{parts.hostname}" if parts.scheme else parts.hostname


def transform_row(
    row: Mapping[str, str | None], keys: KeyMaker, mapping: ColumnMapping, *, line: int
) -> UsageEvent | Rejection:
    """One CSV row as a usage event, or the column and reason it cannot be one.

    Examples
    --------
    >>> from edtech_map.privacy import KeyMaker
    >>> mapping = ColumnMapping(user="user", time="when", minutes="mins")
    >>> transform_row({"user": "stu-1", "when": "2026-11-02", "mins": "-3"}, KeyMaker(b"0" * 32),
    ...               mapping, line=5)
    Rejection(line=5, field='mins', reason="'-3' is not a duration (a number of 0 or more)")
    >>> transform_row({"user": "", "when": "2026-11-02", "mins": "3"}, KeyMaker(b"0" * 32),
    ...               mapping, line=6).reason
    'empty; every row needs the user id'
    """

    def value(column: str | None) -> str | None:
        if column is None:
            return None
        found = row.get(column)
        return found.strip() or None if isinstance(found, str) else None

    user = value(mapping.user)
    if user is None:
        return Rejection(line, mapping.user, "empty; every row needs the user id")
    when = value(mapping.time)
    if when is None:
        return Rejection(line, mapping.time, "empty; every row needs a time or date")
    try:
        event_time = _parse_time(when, mapping)
    except ValueError:
        fmt = mapping.time_format or "ISO 8601 (2026-11-02 or 2026-11-02T08:15:00Z)"
        return Rejection(line, mapping.time, f"{when[:40]!r} is not a time in the format {fmt}")
    duration: float | None = None
    duration_column = mapping.minutes or mapping.seconds
    text = value(duration_column)
    if duration_column and text is not None:
        try:
            duration = _parse_seconds(text, minutes=mapping.minutes is not None)
        except ValueError as error:
            message = str(error) if "duration" in str(error) else f"{text[:40]!r} is not a number"
            return Rejection(line, duration_column, message)
    app_value, app_name = value(mapping.app), value(mapping.app_name)
    apps: tuple[AppIdentifier, ...] = ()
    if app_value is not None:
        if mapping.app_kind is IdentifierKind.URL:
            app_value = _site(app_value)  # a launch URL's path or query may name the person
        apps = (AppIdentifier(mapping.app_kind, app_value),)
    if app_name is not None:
        apps = (*apps, AppIdentifier(IdentifierKind.NAME, app_name))
    if not apps and mapping.tool:
        apps = (AppIdentifier(IdentifierKind.NAME, mapping.tool),)
    role_text = value(mapping.role)
    initiated_text = (value(mapping.initiated_by) or "").lower()
    user_key = keys.user(user, namespace=mapping.user_namespace)
    row_id = value(mapping.event_id)
    if row_id is None:
        # Hash the row with the person's key in place of their id: stable, and not reversible
        # to the id without the workspace secret.
        pseudonymous = {k: v for k, v in row.items() if k != mapping.user}
        row_id = content_hash({**pseudonymous, mapping.user: user_key})
    return UsageEvent(
        event_id=row_id,
        event_time=event_time,
        apps=apps,
        user_key=user_key,
        role=role_from_label(role_text) if role_text else Role.UNKNOWN,
        line=line,
        school_id=value(mapping.school),
        class_id=value(mapping.class_),
        action=value(mapping.action) or "used",
        event_type="csv",
        duration_seconds=duration,
        initiated_by=_INITIATED.get(initiated_text),
    )


def read_usage_csv(
    path: Path, keys: KeyMaker, mapping: ColumnMapping | None = None, *, timezone: str = "UTC"
) -> Iterator[Parsed]:
    """Read a usage CSV row by row (any size); without a mapping, a preset is picked by header.

    ``timezone`` is used for times without an offset when the mapping names no zone (ingest
    passes the district's).

    Raises
    ------
    UsageCsvError
        When the header lacks a mapped column, or no preset fits and no mapping is given.

    Examples
    --------
    >>> import tempfile
    >>> from edtech_map.privacy import KeyMaker
    >>> path = Path(tempfile.mkdtemp()) / "u.csv"
    >>> _ = path.write_text("who,when\\nstu-1,2026-11-02\\n")
    >>> list(read_usage_csv(path, KeyMaker(b"0" * 32)))
    Traceback (most recent call last):
    ...
    connectors.usage_csv.UsageCsvError: ...u.csv: the columns who, when fit no built-in usage CSV preset (edtech_map_sample, daily_minutes, launches); give a column mapping (docs/connectors/usage-csv.md)
    """
    encoding = mapping.encoding if mapping else "utf-8-sig"
    try:
        yield from _read_rows(path, keys, mapping, encoding, timezone)
    except UnicodeDecodeError:
        raise UsageCsvError(
            f"{path}:{_first_undecodable_line(path, encoding)}: not {encoding} text; save the "
            f"file as UTF-8 or set the mapping's encoding (e.g. cp1252 for an Excel export)"
        ) from None
    except csv.Error as error:
        raise UsageCsvError(f"{path}: not readable as CSV ({error})") from None


def _first_undecodable_line(path: Path, encoding: str) -> int:
    """The number of the first line that is not ``encoding`` text (for the error message)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError:
                return number
    return 1


def _resolve_mapping(
    path: Path, header: Sequence[str], mapping: ColumnMapping | None, timezone: str
) -> ColumnMapping:
    """The mapping to read a file with (given, or the preset its header fits), zone filled in.

    Raises :class:`UsageCsvError` when no preset fits or a mapped column is missing.
    """
    if mapping is None:
        preset = detect_preset(header)
        if preset is None:
            raise UsageCsvError(
                f"{path}: the columns {', '.join(header)} fit no built-in usage CSV preset "
                f"({', '.join(PRESETS)}); give a column mapping (docs/connectors/usage-csv.md)"
            )
        mapping = PRESETS[preset]
        logger.info("%s: reading as the %r usage CSV preset", path, preset)
    missing = [name for name in mapping.required_columns() if name not in header]
    if missing:
        raise UsageCsvError(
            f"{path}:1: the header has no column {', '.join(map(repr, missing))} "
            f"(it has {', '.join(header)}); fix the column mapping or the export"
        )
    if mapping.timezone is None:
        mapping = mapping.model_copy(update={"timezone": timezone})
    return mapping


def _read_rows(
    path: Path, keys: KeyMaker, mapping: ColumnMapping | None, encoding: str, timezone: str
) -> Iterator[Parsed]:
    with path.open("r", encoding=encoding, newline="") as handle:
        if mapping is not None:
            delimiter = mapping.delimiter
        else:
            delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return
        header = [name.strip() for name in header]
        mapping = _resolve_mapping(path, header, mapping, timezone)
        start = reader.line_num + 1
        for values in reader:
            line, start = start, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                yield Rejection(
                    line,
                    "(row)",
                    f"has {len(values)} fields, the header has {len(header)}; check quoting",
                )
                continue
            yield transform_row(dict(zip(header, values, strict=True)), keys, mapping, line=line)


# --- The bulk path: the whole file through DuckDB, the same results as transform_row ---------

_CHUNK_BYTES = 1 << 22
_UTF8 = {"utf-8", "utf8", "utf-8-sig", "utf_8", "utf_8_sig"}
# Control characters other than tab, CR and LF: canonical JSON escapes them as \uXXXX, and
# the CSV module refuses NUL; such files take the per-record path.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_QUOTED_LINE = re.compile(rb'^[^\n]*"[^\n]*$', re.MULTILINE)
_BLANK_LINE = re.compile(rb"\n(?=\r?\n)")
_PY_WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
"""What :meth:`str.strip` removes (every white-space code point is below U+3001)."""
_SQL_WHITESPACE = "'" + _PY_WHITESPACE + "'"


def _safe_line(delimiter: str) -> re.Pattern[bytes]:
    """A line that DuckDB's CSV reader and Python's :mod:`csv` split into the same fields.

    Fields are quoted whole (``"a ""b"", c"``) or unquoted and not starting with optional
    white space and a quote; a closing quote must end its field.
    """
    d = re.escape(delimiter.encode())
    quoted = rb'"(?:[^"]|"")*"'
    bare = rb'(?:(?!\s*")[^' + d + rb"\r\n]+)?"
    field = rb"(?:" + quoted + rb"|" + bare + rb")"
    return re.compile(field + rb"(?:" + d + field + rb")*\r?")


@dataclass(frozen=True, slots=True)
class _Scan:
    records: int  # non-blank lines, header included
    trailing_blank: bool


def _scan(path: Path, delimiter: str) -> _Scan | None:
    """Check, in one pass of bytes, that every record of the file is one line DuckDB splits
    as :mod:`csv` does; None when not (the per-record reader is used instead).

    Fails for: text that is not UTF-8, control characters, a lone CR, a blank line before
    the last record, and a line whose quoting could be read two ways (or spans lines).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    safe = _safe_line(delimiter)
    newlines = blanks = 0
    first_blank: int | None = None
    offset, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            chunk += handle.readline()  # whole lines only
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return None
            if _CONTROL.search(chunk) or chunk.count(b"\r") != chunk.count(b"\r\n"):
                return None
            for match in _BLANK_LINE.finditer(last + chunk):
                blanks += 1
                if first_blank is None:
                    first_blank = offset + match.start()
            if b'"' in chunk:
                for match in _QUOTED_LINE.finditer(chunk):
                    if safe.fullmatch(match.group()) is None:
                        return None
            newlines += chunk.count(b"\n")
            offset += len(chunk)
            last = chunk[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    lines = newlines + (last != b"\n")
    if first_blank is not None:
        with path.open("rb") as handle:
            handle.seek(first_blank)
            if handle.read().strip(b"\r\n"):
                return None  # a blank line between records: rows would not map to lines
    return _Scan(records=lines - blanks, trailing_blank=first_blank is not None)


def _sql_strip(text: str) -> str:
    """SQL for Python's ``text.strip() or None``; trim() with a set of characters is slow, so
    only values that start or end with white space go through it."""
    ws = _SQL_WHITESPACE
    return (
        f"nullif(CASE WHEN contains({ws}, left({text}, 1)) OR contains({ws}, right({text}, 1))"
        f" THEN trim({text}, {ws}) ELSE {text} END, '')"
    )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _lookup(con: Any, name: str, columns: dict[str, list[Any]], types: dict[str, Any]) -> None:
    import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; see docs/store.md

    con.register(name, pa.table(columns, schema=pa.schema(list(types.items()))))


def _time_lookup(values: list[str], mapping: ColumnMapping) -> tuple[list[Any], list[Any]]:
    times: list[datetime | None] = []
    reasons: list[str | None] = []
    fmt = mapping.time_format or "ISO 8601 (2026-11-02 or 2026-11-02T08:15:00Z)"
    for raw in values:
        when = raw.strip()
        if not when:
            times.append(None)
            reasons.append("empty; every row needs a time or date")
            continue
        try:
            times.append(_parse_time(when, mapping))
            reasons.append(None)
        except ValueError:
            times.append(None)
            reasons.append(f"{when[:40]!r} is not a time in the format {fmt}")
    return times, reasons


def _duration_lookup(values: list[str], *, minutes: bool) -> tuple[list[Any], list[Any]]:
    seconds: list[float | None] = []
    reasons: list[str | None] = []
    for raw in values:
        text = raw.strip()
        if not text:
            seconds.append(None)
            reasons.append(None)
            continue
        try:
            seconds.append(_parse_seconds(text, minutes=minutes))
            reasons.append(None)
        except ValueError as error:
            seconds.append(None)
            reasons.append(
                str(error) if "duration" in str(error) else f"{text[:40]!r} is not a number"
            )
    return seconds, reasons


def stage_usage_csv(
    con: Any,
    path: Path,
    table: str,
    mapping: ColumnMapping | None = None,
    *,
    timezone: str = "UTC",
) -> bool:
    """Stage a whole usage CSV into the TEMP table ``table`` with DuckDB, one row per record.

    The table has :data:`connectors.usage_events.STAGE_COLUMNS` and the same outcomes, line
    numbers, keys and event ids as :func:`read_usage_csv` gives record by record. DuckDB's
    ``read_csv`` splits the file; times, durations, roles, sites and who-initiated are parsed
    by the same Python functions once per distinct value and joined back; people are keyed by
    the ``edtech_user_key`` SQL macro (:meth:`edtech_map.privacy.KeyMaker.install_sql`).

    Returns False, creating nothing, when the file cannot be staged exactly: not UTF-8 text,
    control characters, a lone CR, blank lines between records, quoting that DuckDB and
    Python's :mod:`csv` could read differently (or a quoted line break), a row with the wrong
    number of fields, a field longer than :func:`csv.field_size_limit`, a repeated column
    name, or an empty file. The caller then reads the
    file with :func:`read_usage_csv`, which reports each of these as it always has.

    Raises
    ------
    UsageCsvError
        When the header lacks a mapped column, or no preset fits and no mapping is given.

    Examples
    --------
    >>> import duckdb, tempfile
    >>> from edtech_map.privacy import KeyMaker
    >>> path = Path(tempfile.mkdtemp()) / "u.csv"
    >>> _ = path.write_text("date,user_id,role,school_id,app,minutes\\n"
    ...                     "2026-11-02,stu-1,Learner,lincoln-es,Mathly,12.5\\n"
    ...                     "2026-11-02,stu-2,Learner,lincoln-es,Mathly,lots\\n")
    >>> con = duckdb.connect()
    >>> KeyMaker(b"0" * 32).install_sql(con)
    >>> stage_usage_csv(con, path, "staged")
    True
    >>> con.execute("SELECT line, outcome, role, duration_seconds, reason FROM staged").fetchall()
    [(2, 'event', 'student', 750.0, None), (3, 'rejected', None, None, "'lots' is not a number")]
    >>> _ = path.write_text('date,user_id,app\\n2026-11-02,stu-1,"Mathly\\nfor schools"\\n')
    >>> stage_usage_csv(con, path, "other", ColumnMapping(user="user_id", time="date"))
    False
    """
    import duckdb

    encoding = mapping.encoding if mapping else "utf-8-sig"
    if codecs.lookup(encoding).name not in _UTF8:
        return False
    delimiter = mapping.delimiter if mapping else ("\t" if path.suffix.lower() == ".tsv" else ",")
    try:
        with path.open("r", encoding=encoding, newline="") as handle:
            raw_header = next(csv.reader(handle, delimiter=delimiter), None)
    except (UnicodeDecodeError, csv.Error):
        return False
    if not raw_header:
        return False
    header = [name.strip() for name in raw_header]
    mapping = _resolve_mapping(path, header, mapping, timezone)
    if len(set(header)) != len(header):
        return False
    scan = _scan(path, delimiter)
    if scan is None:
        return False
    raw = f"{table}__raw"
    # Line numbers come from the raw table's row ids, which follow the file only while DuckDB
    # preserves insertion order (its default; a Caliper stage turns it off for itself).
    con.execute("SET preserve_insertion_order = true")
    names = [f"c{i}" for i in range(len(header))]
    columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
    try:
        con.execute(
            f"CREATE TEMP TABLE {raw} AS SELECT * FROM read_csv({_sql_text(str(path))}, "
            f"header = false, columns = {columns}, delim = {_sql_text(delimiter)}, "
            "quote = '\"', escape = '\"', strict_mode = true, auto_detect = false, "
            "null_padding = false, ignore_errors = true)"  # a skipped row fails the count below
        )
    except duckdb.Error as error:  # an error aborts the transaction: the ingest stops here
        # DuckDB's message quotes the line, which may hold a person's id: name only the kind.
        raise UsageCsvError(
            f"{path}: DuckDB cannot read this file as CSV ({type(error).__name__}); check that "
            "it is readable and not changing while it is ingested"
        ) from None
    lookups: list[str] = []
    try:
        # Row ids follow file order; inside a transaction they start at a large offset.
        longest = ", ".join(f"coalesce(max(length({n})), 0)" for n in names)
        found, base, top, widest = con.execute(
            f"SELECT count(*), min(rowid), max(rowid), greatest({longest}) FROM {raw}"
        ).fetchall()[0]
        if found != scan.records or not found or top - base + 1 != found:
            return False
        if widest > csv.field_size_limit():
            return False  # the csv module refuses the file: let it say so
        first = con.execute(f"SELECT * FROM {raw} WHERE rowid = ?", [base]).fetchall()
        if [v or "" for v in first[0]] != raw_header:
            return False
        _stage_rows(con, raw, table, header, names, mapping, lookups, base=int(base))
        return True
    finally:
        for name in lookups:
            con.unregister(name)
        con.execute(f"DROP TABLE IF EXISTS {raw}")
        con.execute(f"DROP TABLE IF EXISTS {table}__keys")


def _stage_rows(
    con: Any,
    raw: str,
    table: str,
    header: list[str],
    names: list[str],
    mapping: ColumnMapping,
    lookups: list[str],
    *,
    base: int,
) -> None:
    """Transform the raw text rows of ``raw`` into ``table`` (see :func:`transform_row`)."""
    import pyarrow as pa

    column = dict(zip(header, names, strict=True))

    def raw_of(name: str | None, alias: str = "r") -> str:
        return f"coalesce({alias}.{column[name]}, '')" if name else "''"

    def value_of(name: str | None, alias: str = "r") -> str:
        """The stripped value, or NULL when empty (``value`` in :func:`transform_row`)."""
        return f"{alias}.v{column[name][1:]}" if name else "CAST(NULL AS VARCHAR)"

    def stripped(name: str) -> str:
        return f"{_sql_strip(f'coalesce({name}, {chr(39) * 2})')} AS v{name[1:]}"

    def distinct(name: str) -> list[str]:
        rows = con.execute(f"SELECT DISTINCT {raw_of(name)} FROM {raw} AS r").fetchall()
        return [str(v) for (v,) in rows]

    def register(suffix: str, columns: dict[str, list[Any]], types: dict[str, Any]) -> str:
        name = f"{table}__{suffix}"
        _lookup(con, name, columns, types)
        lookups.append(name)
        return name

    joins: list[str] = []
    times = distinct(mapping.time)
    parsed, reasons = _time_lookup(times, mapping)
    joins.append(
        f"JOIN {register('time', {'raw': times, 'at': parsed, 'reason': reasons}, {'raw': pa.string(), 'at': pa.timestamp('us', tz='UTC'), 'reason': pa.string()})} "
        f"AS t ON t.raw = {raw_of(mapping.time)}"
    )
    duration_column = mapping.minutes or mapping.seconds
    if duration_column:
        durations = distinct(duration_column)
        seconds, why = _duration_lookup(durations, minutes=mapping.minutes is not None)
        joins.append(
            f"JOIN {register('duration', {'raw': durations, 'seconds': seconds, 'reason': why}, {'raw': pa.string(), 'seconds': pa.float64(), 'reason': pa.string()})} "
            f"AS d ON d.raw = {raw_of(duration_column)}"
        )
        duration, duration_reason = "d.seconds", "d.reason"
    else:
        duration, duration_reason = "CAST(NULL AS DOUBLE)", "CAST(NULL AS VARCHAR)"
    role = "'unknown'"
    if mapping.role:
        labels = distinct(mapping.role)
        roles = [
            role_from_label(label.strip()).value if label.strip() else Role.UNKNOWN.value
            for label in labels
        ]
        joins.append(
            f"JOIN {register('role', {'raw': labels, 'role': roles}, {'raw': pa.string(), 'role': pa.string()})} "
            f"AS ro ON ro.raw = {raw_of(mapping.role)}"
        )
        role = "ro.role"
    initiated = "CAST(NULL AS VARCHAR)"
    if mapping.initiated_by:
        words = distinct(mapping.initiated_by)
        kinds = [_INITIATED.get(w.strip().lower()) for w in words]
        joins.append(
            f"JOIN {register('initiated', {'raw': words, 'initiated_by': [k.value if k else None for k in kinds]}, {'raw': pa.string(), 'initiated_by': pa.string()})} "
            f"AS ib ON ib.raw = {raw_of(mapping.initiated_by)}"
        )
        initiated = "ib.initiated_by"
    app_value = value_of(mapping.app)
    if mapping.app and mapping.app_kind is IdentifierKind.URL:
        urls = distinct(mapping.app)
        sites = [_site(u.strip()) if u.strip() else None for u in urls]
        joins.append(
            f"JOIN {register('site', {'raw': urls, 'site': sites}, {'raw': pa.string(), 'site': pa.string()})} "
            f"AS si ON si.raw = {raw_of(mapping.app)}"
        )
        app_value = "si.site"
    app_type = "STRUCT(kind VARCHAR, value VARCHAR)[]"
    app_name = value_of(mapping.app_name)
    apps = (
        f"list_concat(CASE WHEN {app_value} IS NULL THEN CAST([] AS {app_type}) "
        f"ELSE [{{'kind': {_sql_text(mapping.app_kind.value)}, 'value': {app_value}}}] END, "
        f"CASE WHEN {app_name} IS NULL THEN CAST([] AS {app_type}) "
        f"ELSE [{{'kind': 'name', 'value': {app_name}}}] END)"
    )
    if mapping.tool:
        tool = f"[{{'kind': 'name', 'value': {_sql_text(mapping.tool)}}}]"
        apps = f"CASE WHEN len({apps}) = 0 THEN CAST({tool} AS {app_type}) ELSE {apps} END"
    user = value_of(mapping.user)
    # One key per distinct user id, not per row: the HMAC is the dearest part of a row.
    namespace, user_raw = _sql_text(mapping.user_namespace), raw_of(mapping.user)
    con.execute(
        f"CREATE TEMP TABLE {table}__keys AS SELECT raw, edtech_user_key({namespace}, "
        f"{_sql_strip('raw')}) AS key FROM (SELECT DISTINCT {user_raw} AS raw FROM {raw} AS r)"
    )
    joins.append(f"JOIN {table}__keys AS k ON k.raw = {user_raw}")
    user_key = "k.key"
    # The id of a row without one: content_hash of the row with the person's key for their id,
    # as canonical JSON (sorted keys, no spaces, non-ASCII as is; control characters other
    # than tab never get here, see _scan).
    # One concat() with escaping only for values that need it: chained || and three
    # replace() calls on every value cost four times the hash itself.
    parts = []
    for index, name in enumerate(sorted(header)):
        text = "s.user_key" if name == mapping.user else raw_of(name, "s")
        escaped = (
            f"CASE WHEN contains({text}, '\\') OR contains({text}, '\"') "
            f"OR contains({text}, chr(9)) THEN replace(replace(replace({text}, '\\', '\\\\'), "
            f"'\"', '\\\"'), chr(9), '\\t') ELSE {text} END"
        )
        lead = "{" if index == 0 else '",'
        parts.append(_sql_text(lead + json.dumps(name, ensure_ascii=False) + ':"'))
        parts.append(escaped)
    parts.append("'\"}'")
    canonical = f"concat({', '.join(parts)})"
    hashed = f"'sha256:' || sha256({canonical})"
    event_id = hashed
    if mapping.event_id:
        event_id = f"coalesce({value_of(mapping.event_id, 's')}, {hashed})"
    blank = " AND ".join(f"{value_of(h)} IS NULL" for h in header)
    outcome = (
        f"CASE WHEN {user} IS NULL THEN 'rejected' WHEN t.reason IS NOT NULL THEN 'rejected' "
        f"WHEN {duration_reason} IS NOT NULL THEN 'rejected' ELSE 'event' END"
    )
    rejected_field = (
        f"CASE WHEN {user} IS NULL THEN {_sql_text(mapping.user)} "
        f"WHEN t.reason IS NOT NULL THEN {_sql_text(mapping.time)} "
        f"WHEN {duration_reason} IS NOT NULL THEN {_sql_text(duration_column or '')} END"
    )
    rejected_reason = (
        f"CASE WHEN {user} IS NULL THEN 'empty; every row needs the user id' "
        f"WHEN t.reason IS NOT NULL THEN t.reason ELSE {duration_reason} END"
    )
    staged = f"""
        SELECT r.rid - {base} + 1 AS line,
               {outcome} AS outcome,
               {rejected_field} AS field,
               {rejected_reason} AS reason,
               t.at AS event_time,
               {user_key} AS user_key,
               {role} AS role,
               {value_of(mapping.school)} AS school_key,
               {value_of(mapping.class_)} AS class_key,
               coalesce({value_of(mapping.action)}, 'used') AS action,
               'csv' AS event_type,
               {duration} AS duration_seconds,
               {initiated} AS initiated_by,
               {apps} AS apps,
               r.*
        FROM (SELECT rowid AS rid, *, {", ".join(stripped(n) for n in names)} FROM {raw}) AS r
        {" ".join(joins)}
        WHERE r.rid > {base} AND NOT ({blank})
    """
    event = "CASE WHEN s.outcome = 'event' THEN {} END"
    ddl = ", ".join(f"{name} {kind}" for name, kind in STAGE_COLUMNS.items())
    con.execute(f"CREATE TEMP TABLE {table} ({ddl})")
    con.execute(
        f"""
        INSERT INTO {table}
        SELECT s.line, s.outcome, s.field, s.reason,
               {event.format(event_id)},
               {event.format("s.event_time")},
               {event.format("s.user_key")},
               {event.format("s.role")},
               {event.format("s.school_key")},
               {event.format("s.class_key")},
               {event.format("s.action")},
               {event.format("s.event_type")},
               {event.format("s.duration_seconds")},
               {event.format("s.initiated_by")},
               {event.format("s.apps")}
        FROM ({staged}) AS s
        -- no ORDER BY: readers of the stage order by line where it matters
        """
    )
