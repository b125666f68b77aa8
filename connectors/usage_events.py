"""The normalized usage event every usage reader (Caliper, xAPI, CSV) yields, and its parts.

A reader turns each record of a file into one of four outcomes, so that nothing is dropped
silently: a :class:`UsageEvent` (pseudonymous, ready for the store), a :class:`Rejection`
(file, line, field and reason, never the personal value), an :class:`EntityRecord` (Caliper
entities that describe things rather than events) or a :class:`Skip` (a valid record that is
not usage, such as an xAPI voiding statement). This module also holds what the readers share:
reading JSON documents with line numbers, ISO 8601 times and durations, and role labels.

Examples
--------
>>> parse_iso_duration("PT1H30M"), role_from_label("Learner").value
(5400.0, 'student')
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from edtech_map.model import Role

__all__ = [
    "STAGE_COLUMNS",
    "AppIdentifier",
    "EntityRecord",
    "IdentifierKind",
    "InitiatedBy",
    "JsonDocument",
    "Outcome",
    "Parsed",
    "Rejection",
    "Skip",
    "UsageEvent",
    "content_hash",
    "iri_tail",
    "parse_iso_duration",
    "parse_timestamp",
    "read_json_documents",
    "role_from_label",
]

_CHUNK = 1 << 20


class IdentifierKind(StrEnum):
    """What an app identifier found in usage data is, which decides how it is matched."""

    CALIPER_APP = "caliper_app_id"
    LTI_DEPLOYMENT = "lti_deployment_id"
    LTI_CLIENT = "lti_client_id"
    OAUTH_CLIENT = "oauth_client_id"
    URL = "url"
    NAME = "name"


class InitiatedBy(StrEnum):
    """Who started the activity, where the data says: the student, or a teacher's assignment."""

    STUDENT = "student"
    ASSIGNED = "assigned"


@dataclass(frozen=True, slots=True)
class AppIdentifier:
    """One way a usage record names the application it came from.

    Examples
    --------
    >>> AppIdentifier(IdentifierKind.URL, "https://app.mathly.com/x").kind.value
    'url'
    """

    kind: IdentifierKind
    value: str


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One usage event, pseudonymised: ``user_key`` is a :class:`~edtech_map.privacy.KeyMaker` key.

    ``apps`` lists every identifier of the application the record carries, most telling first;
    matching picks the one that names an inventory tool. ``line`` is where the record starts.
    ``object_id`` (the resource acted on, never a person) is kept for checks, not stored.

    Examples
    --------
    >>> event = UsageEvent(event_id="urn:uuid:1", event_time=datetime(2026, 1, 5, tzinfo=UTC),
    ...                    apps=(), user_key="k", role=Role.STUDENT, line=3)
    >>> event.role.value, event.duration_seconds
    ('student', None)
    """

    event_id: str
    event_time: datetime
    apps: tuple[AppIdentifier, ...]
    user_key: str
    role: Role
    line: int
    school_id: str | None = None
    class_id: str | None = None
    action: str | None = None
    event_type: str | None = None
    duration_seconds: float | None = None
    initiated_by: InitiatedBy | None = None
    object_id: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that could not be read as usage: where it is, which field, and why.

    The reason never holds a personal value (actor id, e-mail, name); it names the field.

    Examples
    --------
    >>> Rejection(line=4, field="actor", reason="missing; every event needs an actor").render(
    ...     "events.jsonl")
    'events.jsonl:4 actor: missing; every event needs an actor'
    """

    line: int
    field: str
    reason: str

    def render(self, path: str | Path) -> str:
        """``file:line field: reason`` on one line."""
        return f"{path}:{self.line} {self.field}: {self.reason}"


@dataclass(frozen=True, slots=True)
class EntityRecord:
    """A Caliper entity (a thing, not an event), counted but not stored as usage.

    Examples
    --------
    >>> EntityRecord(line=1, type="Person").type
    'Person'
    """

    line: int
    type: str | None


@dataclass(frozen=True, slots=True)
class Skip:
    """A valid record that is not usage (for example an xAPI voiding statement), with why.

    Examples
    --------
    >>> Skip(line=2, reason="voiding statement").reason
    'voiding statement'
    """

    line: int
    reason: str


Parsed = UsageEvent | Rejection | EntityRecord | Skip
"""What a usage reader yields for each record."""


class Outcome(StrEnum):
    """What a bulk reader's staged row is: the four outcomes of :data:`Parsed`, as SQL text."""

    EVENT = "event"
    REJECTED = "rejected"
    ENTITY = "entity"
    SKIP = "skip"


STAGE_COLUMNS: dict[str, str] = {
    "line": "BIGINT",
    "outcome": "VARCHAR",
    "field": "VARCHAR",
    "reason": "VARCHAR",
    "event_id": "VARCHAR",
    "event_time": "TIMESTAMPTZ",
    "user_key": "VARCHAR",
    "role": "VARCHAR",
    "school_key": "VARCHAR",
    "class_key": "VARCHAR",
    "action": "VARCHAR",
    "event_type": "VARCHAR",
    "duration_seconds": "DOUBLE",
    "initiated_by": "VARCHAR",
    "apps": "STRUCT(kind VARCHAR, value VARCHAR)[]",
}
"""The columns (and DuckDB types) of the table a bulk usage reader stages a file into.

A bulk reader (``stage_*`` in a usage connector) reads a whole file with DuckDB and writes one
row per record, in any order (sorting a million rows costs more than it gives; whoever needs
file order sorts by ``line``), with the same meaning as the per-record reader's
:data:`Parsed` outcome: ``line`` where the record starts (1-based); ``outcome`` one of
:class:`Outcome`; for ``rejected`` rows ``field`` and ``reason`` (never a personal value),
for ``skip`` rows ``reason``, for ``entity`` rows ``event_type`` (the entity's type); for
``event`` rows the :class:`UsageEvent` fields, with ``user_key`` made by the SQL macro
``edtech_user_key(namespace, id)`` (:meth:`edtech_map.privacy.KeyMaker.install_sql`),
``role`` and ``initiated_by`` as their enum values, and ``apps`` the identifiers in
:attr:`UsageEvent.apps` order as ``{kind, value}`` structs (``kind`` an
:class:`IdentifierKind` value).

Examples
--------
>>> ", ".join(list(STAGE_COLUMNS)[:4])
'line, outcome, field, reason'
"""


@dataclass(slots=True)
class JsonDocument:
    """One top-level JSON value read from a file, or the reason it could not be read.

    ``duplicate_keys`` lists keys that appeared twice in one object (JSON allows it, xAPI
    does not); ``error`` is set, and ``value`` is None, when the text is not JSON.

    Examples
    --------
    >>> JsonDocument(3, error="not valid JSON").value is None
    True
    """

    line: int
    value: Any = None
    error: str | None = None
    duplicate_keys: list[str] = field(default_factory=list)


def _decoder(duplicates: list[str]) -> json.JSONDecoder:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                duplicates.append(key)
            result[key] = value
        return result

    return json.JSONDecoder(object_pairs_hook=pairs)


_LINE_SUFFIXES = {".jsonl", ".ndjson", ".jsonlines"}
_TOO_DEEP = "not readable JSON (nested deeper than Python can decode)"


def _is_json_lines(path: Path) -> bool:
    """JSON Lines by name, or when the first line is a whole JSON object, or when a broken
    first line is followed by one (so one bad line does not hide a JSON Lines file)."""
    if path.suffix.lower() in _LINE_SUFFIXES:
        return True
    lines: list[str] = []
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        for text in handle:
            if text.strip():
                lines.append(text.strip())
                if len(lines) == 2:
                    break
    if not lines or lines[0] in ("[", "{"):
        return False  # empty, or a pretty-printed document
    for index, text in enumerate(lines):
        try:
            return isinstance(json.loads(text), dict)
        except (json.JSONDecodeError, RecursionError):
            if index == 0 and text.startswith("["):
                return False  # a minified array wrapped over lines
    return False


def read_json_documents(path: Path, *, chunk_size: int = _CHUNK) -> Iterator[JsonDocument]:
    """Yield the JSON values of a file one at a time, each with the line it starts on.

    A ``.jsonl``/``.ndjson`` file, or one whose first or second line is a whole JSON object,
    is read as JSON Lines: each line is parsed alone, so one bad line is reported and the rest
    are still read. Any other file is
    one value, several values in a row, or a top-level array, whose elements are yielded one
    by one while the file is read in chunks (a large array never sits in memory whole); there
    a syntax error ends the file, and the error says that the rest was not read.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.jsonl").write_text('{"a": 1}\\nnot json\\n{"a": 2, "a": 3}\\n')
    >>> [(d.line, d.value, d.error is not None, d.duplicate_keys)
    ...  for d in read_json_documents(folder / "a.jsonl")]
    [(1, {'a': 1}, False, []), (2, None, True, []), (3, {'a': 3}, False, ['a'])]
    >>> _ = (folder / "b.json").write_text('[\\n  {"a": 1},\\n  {"a": 2}\\n]\\n')
    >>> [(d.line, d.value) for d in read_json_documents(folder / "b.json")]
    [(2, {'a': 1}), (3, {'a': 2})]
    """
    if _is_json_lines(path):
        yield from _read_json_lines(path)
    else:
        yield from _read_json_stream(path, chunk_size)


def _read_json_lines(path: Path) -> Iterator[JsonDocument]:
    duplicates: list[str] = []
    decoder = _decoder(duplicates)
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                value = decoder.decode(text)
            except json.JSONDecodeError as error:
                yield JsonDocument(
                    number, error=f"not valid JSON ({error.msg}, column {error.colno})"
                )
                continue
            except RecursionError:
                yield JsonDocument(number, error=_TOO_DEEP)
                continue
            yield JsonDocument(number, value, duplicate_keys=list(duplicates))
            duplicates.clear()


def _read_json_stream(path: Path, chunk_size: int) -> Iterator[JsonDocument]:
    duplicates: list[str] = []
    decoder = _decoder(duplicates)
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        buffer, line, eof, in_array, started = "", 1, False, False, False
        pos = 0
        while True:
            # Skip white space and, inside a top-level array, the commas between elements.
            while True:
                while pos < len(buffer) and buffer[pos] in " \t\r\n,":
                    if buffer[pos] == "," and not in_array:
                        break
                    if buffer[pos] == "\n":
                        line += 1
                    pos += 1
                if pos < len(buffer) or eof:
                    break
                chunk = handle.read(chunk_size)
                buffer, pos, eof = buffer[pos:] + chunk, 0, not chunk
            if pos >= len(buffer):
                if in_array:
                    yield JsonDocument(line, error="the top-level array is not closed with ]")
                return
            if not started:
                started = True
                if buffer[pos] == "[":
                    in_array, pos = True, pos + 1
                    continue
            if in_array and buffer[pos] == "]":
                return
            try:
                value, end = decoder.raw_decode(buffer, pos)
            except RecursionError:
                yield JsonDocument(line, error=f"{_TOO_DEEP}; the rest of the file was not read")
                return
            except json.JSONDecodeError as error:
                if not eof:
                    chunk = handle.read(chunk_size)
                    buffer, pos, eof = buffer[pos:] + chunk, 0, not chunk
                    continue
                where = line + buffer.count("\n", pos, error.pos)
                yield JsonDocument(
                    where,
                    error=f"not valid JSON ({error.msg}); the rest of the file was not read",
                )
                return
            if end == len(buffer) and not eof and not isinstance(value, dict | list):
                # A number or literal may go on in the next chunk: read more and decode again.
                chunk = handle.read(chunk_size)
                buffer, pos, eof = buffer[pos:] + chunk, 0, not chunk
                duplicates.clear()
                continue
            yield JsonDocument(line, value, duplicate_keys=list(duplicates))
            duplicates.clear()
            line += buffer.count("\n", pos, end)
            pos = end


_DURATION = re.compile(
    r"^P(?:(?P<y>\d+(?:\.\d+)?)Y)?(?:(?P<mo>\d+(?:\.\d+)?)M)?(?:(?P<w>\d+(?:\.\d+)?)W)?"
    r"(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<mi>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "mi": 60.0, "s": 1.0}


def parse_iso_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration (``PT3000S``, ``PT1H0M0S``, ``P1DT2H``).

    Years and months have no fixed length, so a duration using them is refused.

    Raises
    ------
    ValueError
        When the text is not an ISO 8601 duration, or uses years or months.

    Examples
    --------
    >>> parse_iso_duration("PT3000S"), parse_iso_duration("PT1H0M0S"), parse_iso_duration("P1DT0.5S")
    (3000.0, 3600.0, 86400.5)
    >>> parse_iso_duration("3000")
    Traceback (most recent call last):
    ...
    ValueError: '3000' is not an ISO 8601 duration such as PT45M or PT1H30M
    """
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None or text.strip() in {"P", "PT"} or text.strip().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as PT45M or PT1H30M")
    parts = match.groupdict()
    if parts["y"] or parts["mo"]:
        raise ValueError(f"{text!r} uses years or months, which have no fixed length")
    return sum(float(parts[key]) * factor for key, factor in _SECONDS.items() if parts[key])


def parse_timestamp(text: object) -> datetime:
    """An ISO 8601 time as an aware UTC datetime; a time without an offset is taken as UTC.

    Raises
    ------
    ValueError
        When the value is not an ISO 8601 date-time.

    Examples
    --------
    >>> parse_timestamp("2016-11-15T10:15:00.000Z")
    datetime.datetime(2016, 11, 15, 10, 15, tzinfo=datetime.timezone.utc)
    >>> parse_timestamp("2016-11-15T05:15:00-05:00").hour
    10
    """
    if not isinstance(text, str):
        raise ValueError(f"{type(text).__name__} is not an ISO 8601 date-time string")
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def content_hash(value: Any) -> str:
    """A stable id for a record that has none: SHA-256 of its canonical JSON.

    Key order and white space do not change it.

    Examples
    --------
    >>> content_hash({"b": 1, "a": [1, 2]}) == content_hash({"a": [1, 2], "b": 1})
    True
    >>> content_hash({"a": 1})[:7]
    'sha256:'
    """
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def iri_tail(value: str) -> str:
    """The last part of an IRI, after ``#`` or ``/``; a short name is returned as is.

    Caliper 1.0 wrote types and actions as IRIs; 1.1 and 1.2 use the short names.

    Examples
    --------
    >>> iri_tail("http://purl.imsglobal.org/vocab/caliper/v1/action#NavigatedTo")
    'NavigatedTo'
    >>> iri_tail("http://purl.imsglobal.org/caliper/v1/SessionEvent"), iri_tail("Viewed")
    ('SessionEvent', 'Viewed')
    """
    if "://" not in value and not value.startswith("urn:"):
        return value
    return re.split(r"[#/]", value.rstrip("/#"))[-1]


_ROLE_WORDS: Mapping[str, Role] = {
    # 1EdTech LIS / LTI / Caliper membership roles
    "learner": Role.STUDENT,
    "student": Role.STUDENT,
    "instructor": Role.TEACHER,
    "teacher": Role.TEACHER,
    "faculty": Role.TEACHER,
    "teachingassistant": Role.AIDE,
    "aide": Role.AIDE,
    "mentor": Role.UNKNOWN,
    "administrator": Role.ADMINISTRATOR,
    "admin": Role.ADMINISTRATOR,
    "manager": Role.ADMINISTRATOR,
    "staff": Role.ADMINISTRATOR,
    "parent": Role.PARENT,
    "guardian": Role.GUARDIAN,
    "relative": Role.RELATIVE,
    "proctor": Role.PROCTOR,
    "districtadministrator": Role.DISTRICT_ADMINISTRATOR,
    "siteadministrator": Role.SITE_ADMINISTRATOR,
    "systemadministrator": Role.SYSTEM_ADMINISTRATOR,
    "principal": Role.PRINCIPAL,
    "counselor": Role.COUNSELOR,
    "external": Role.EXTERNAL,
    "unknown": Role.UNKNOWN,
}
_LIS_SUBROLE_FIRST = {"teachingassistant"}
# When one person holds several roles in one membership, the one that teaches wins.
_ROLE_RANK = [Role.TEACHER, Role.AIDE, Role.ADMINISTRATOR, Role.STUDENT]


def role_from_label(label: object) -> Role:
    """The OneRoster role for a role label as it appears in usage data.

    Reads 1EdTech LIS/Caliper names (``Learner``, ``Instructor``, ``Instructor#TeachingAssistant``,
    full ``.../membership#Learner`` IRIs), OneRoster values and common export words
    (``Student``, ``Teacher``); a list picks the teaching role first; anything else is
    ``unknown``.

    Examples
    --------
    >>> [role_from_label(x).value for x in ("Learner", "Instructor#TeachingAssistant",
    ...     "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor", "STUDENT", "Mentor")]
    ['student', 'aide', 'teacher', 'student', 'unknown']
    >>> role_from_label(["Learner", "Instructor"]).value
    'teacher'
    """
    if isinstance(label, list | tuple):
        roles = {role_from_label(item) for item in label}
        for role in _ROLE_RANK:
            if role in roles:
                return role
        known = sorted(r.value for r in roles if r is not Role.UNKNOWN)
        return Role(known[0]) if known else Role.UNKNOWN
    if not isinstance(label, str) or not label.strip():
        return Role.UNKNOWN
    text = label.strip()
    if "/membership#" in text or "/person#" in text or "/institution/person#" in text:
        text = text.rsplit("#", 1)[1]
    elif "://" in text:
        text = iri_tail(text)
    head, _, sub = text.partition("#")
    words = [re.sub(r"[^a-z]", "", part.lower()) for part in (head, sub)]
    if words[1] in _LIS_SUBROLE_FIRST:
        return _ROLE_WORDS[words[1]]
    return _ROLE_WORDS.get(words[0], Role.UNKNOWN)
