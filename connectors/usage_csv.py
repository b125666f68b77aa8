"""Usage exports as CSV (vendor dashboards, SSO launch logs), read through a column mapping.

Vendors export usage in many shapes. A :class:`ColumnMapping` says which column holds the
user, the time, the app, the role, the school, the class and the minutes or seconds; built-in
:data:`PRESETS` cover common shapes, and a district can declare its own in ``ecosystem.yaml``
(``sources: {kind: usage_csv, options: {mapping: {...}}}``). The file is read row by row with
exact line numbers; the user column is keyed at once and never kept.

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

import csv
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from connectors.usage_events import (
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
