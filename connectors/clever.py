"""Clever Data API v3.0 rostering into the store, with a district bearer token.

Calls ``GET /v3.0/schools``, ``/terms``, ``/courses``, ``/users`` and ``/sections`` on
``https://api.clever.com``, following each answer's ``links: [{rel: "next", uri}]`` (Clever's
``starting_after`` cursor). Every list answer is ``{"data": [{"data": {...}, "uri": ...}],
"links": [...]}``. Schools become ``orgs``, terms ``academic_sessions``, courses ``courses``,
users ``users`` (their roles from ``roles.{student,teacher,staff,district_admin}``), sections
``classes``, and each section's ``students`` and ``teachers`` become ``enrollments``.

People become keys in the first transform: the key is made from the user's ``sis_id`` in the
``district`` namespace when Clever has one (the same key a OneRoster feed of the same SIS gives),
else from the Clever id in the ``clever`` namespace. Schools, terms, courses and sections keep
their Clever ids (they are not people). Names, e-mails, usernames, birth dates and demographics
are never read into a row.

Clever has no change feed in this API (its Events API is separate), so every pull is a full
pull: upsert everything, delete what the pull no longer saw, behind the shrink guard, all in one
transaction with the sync state.

Examples
--------
>>> from types import SimpleNamespace
>>> from edtech_map.privacy import KeyMaker
>>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="clever")
>>> teacher = {"id": "603e", "roles": {"teacher": {"sis_id": "47", "school": "s1"}}}
>>> user_key(teacher, ctx) == ctx.keys.user("47")
True
>>> user_key({"id": "603f", "roles": {"district_admin": {}}}, ctx) == ctx.keys.user(
...     "603f", namespace="clever")
True
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; see docs/store.md
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from connectors.base import (
    Row,
    RowError,
    SkipRow,
    SourceRecord,
    StreamReport,
    StreamSpec,
    SyncContext,
    SyncReport,
    delete_unseen,
    log_stream,
    record_stream,
    transform_each,
)
from connectors.http import (
    BadResponse,
    BearerAuth,
    ConnectorError,
    CursorPaginator,
    HttpClient,
    RetryPolicy,
)
from connectors.oneroster_csv import parse_date, parse_datetime
from edtech_map.errors import EdtechMapError
from edtech_map.model import GradeLevel, parse_grade
from edtech_map.store import (
    ACADEMIC_SESSIONS,
    CLASSES,
    COURSES,
    ENROLLMENTS,
    ORGS,
    USERS,
    TableSpec,
    Transaction,
)

__all__ = [
    "BASE_URL",
    "SOURCE",
    "STREAMS",
    "Config",
    "ConfigError",
    "get_courses",
    "get_schools",
    "get_sections",
    "get_terms",
    "get_users",
    "make_client",
    "section_members",
    "sync",
    "transform_course",
    "transform_enrollment",
    "transform_school",
    "transform_section",
    "transform_term",
    "transform_user",
    "user_key",
]

log = logging.getLogger(__name__)

SOURCE = "clever"
BASE_URL = "https://api.clever.com/v3.0"
CLEVER_NAMESPACE = "clever"
GUARDED_STREAMS = frozenset({"users", "enrollments"})
MEMBERS_KEY = "_members"
CONTACT_SKIP = "a contact (parent or guardian); set include_contacts to keep contacts"
#: Clever role -> OneRoster role, in the order that picks a user's primary role.
ROLE_MAP = {
    "student": "student",
    "teacher": "teacher",
    "staff": "administrator",
    "district_admin": "districtAdministrator",
    "contact": "guardian",
}
_CLEVER_GRADES = {
    "transitionalkindergarten": GradeLevel.TK,
    "infanttoddler": GradeLevel.IT,
    "postgraduate": GradeLevel.PS,
}


class ConfigError(EdtechMapError):
    """The Clever source's settings cannot work (a missing token, an unknown stream)."""


class Config(BaseModel):
    """Settings of one Clever source (``SyncContext.options``).

    ``token`` comes from the environment variable named in ``sources.<name>.secrets.token``.

    Examples
    --------
    >>> Config(token=SecretStr("t")).api_root
    'https://api.clever.com/v3.0'
    >>> Config(token=SecretStr("t"), base_url="https://api.clever.com").api_root
    'https://api.clever.com/v3.0'
    >>> Config(token=SecretStr("t"), streams=["sections"])
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Config
    ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    token: SecretStr = Field(description="The district bearer token (Secure Sync).")
    base_url: str = Field(BASE_URL, description="API root (https://api.clever.com/v3.0).")
    streams: tuple[str, ...] = Field((), description="Streams to pull; none = all.")
    include_contacts: bool = Field(
        False, description="Also keep contacts (parents, guardians) as users with role guardian."
    )
    page_size: int = Field(1000, ge=1, le=10_000, description="limit per page (Clever max 10000).")
    timeout: float = Field(60.0, gt=0, description="Read timeout, seconds.")
    connect_timeout: float = Field(10.0, gt=0, description="Connect timeout, seconds.")
    retries: int = Field(5, ge=0, description="Retries of one request (429, 5xx, timeouts).")
    backoff_factor: float = Field(1.0, ge=0, description="Exponential back-off factor.")
    max_retry_time: float = Field(300.0, gt=0, description="Cap on retrying one request, s.")
    batch_size: int = Field(5000, ge=1, description="Rows per Arrow batch written to the store.")

    @model_validator(mode="after")
    def _streams_known(self) -> Config:
        unknown = [s for s in self.streams if s not in ENDPOINTS]
        if unknown:
            raise ValueError(
                f"unknown streams {unknown}; use some of {', '.join(ENDPOINTS)} (or none for all)"
            )
        if "sections" in self.streams and "users" not in self.streams:
            raise ValueError(
                "the sections stream needs the users stream: section members are Clever ids, "
                "keyed through the users read in the same pull"
            )
        return self

    @property
    def api_root(self) -> str:
        """The base URL, with ``/v3.0`` added when it has no version path."""
        root = self.base_url.rstrip("/")
        return root if "/v3" in urlsplit(root).path else root + "/v3.0"

    @property
    def selected(self) -> tuple[str, ...]:
        """The streams to pull, in load order."""
        return tuple(name for name in ENDPOINTS if not self.streams or name in self.streams)


# --------------------------------------------------------------------------------------------
# Values


def _text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value).strip() or None
    raise RowError(key, type(value).__name__, "expected text")


def _required(raw: Mapping[str, Any], key: str) -> str:
    value = _text(raw, key)
    if value is None:
        raise RowError(key, raw.get(key, ""), "is required and missing")
    return value


def _moment(raw: Mapping[str, Any], key: str) -> datetime | None:
    try:
        return parse_datetime(_text(raw, key))
    except ValueError as error:
        raise RowError(key, raw.get(key), str(error)) from None


def _day(raw: Mapping[str, Any], key: str) -> date | None:
    try:
        return parse_date(_text(raw, key))
    except ValueError as error:
        raise RowError(key, raw.get(key), str(error)) from None


def _grade(value: str | None, field: str) -> list[str]:
    if not value:
        return []
    known = _CLEVER_GRADES.get(value.strip().lower())
    if known is not None:
        return [known.value]
    try:
        return [parse_grade(value).value]
    except ValueError as error:
        raise RowError(field, value, str(error)) from None


def _ids(raw: Mapping[str, Any], key: str) -> list[str]:
    value = raw.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v for v in value if v]
    raise RowError(key, type(value).__name__, "expected a list of Clever ids")


def _roles(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    roles = raw.get("roles")
    if not isinstance(roles, Mapping):
        raise RowError("roles", type(roles).__name__, "expected an object of role data")
    return roles


# --------------------------------------------------------------------------------------------
# Transforms: one Clever record (its inner ``data``) to one store row. Pure.


def user_key(raw: Mapping[str, Any], ctx: SyncContext) -> str:
    """The key of a Clever user: from its ``sis_id`` (district namespace), else its Clever id.

    The ``sis_id`` of the first role that has one counts, in the order student, teacher, staff,
    district_admin, contact.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="clever")
    >>> raw = {"id": "5a25", "roles": {"student": {"sis_id": "100095233"}}}
    >>> user_key(raw, ctx) == ctx.keys.user("100095233", namespace="district")
    True
    """
    roles = raw.get("roles")
    if isinstance(roles, Mapping):
        for role in ROLE_MAP:
            data = roles.get(role)
            if isinstance(data, Mapping) and (sis_id := _text(data, "sis_id")):
                return ctx.keys.user(sis_id)
    clever_id = raw.get("id")
    if not isinstance(clever_id, str) or not clever_id:
        raise RowError("id", "", "is required and missing")
    return ctx.keys.user(clever_id, namespace=CLEVER_NAMESPACE)


def transform_school(raw: Mapping[str, Any], ctx: SyncContext) -> Row:
    """A Clever school as an ``orgs`` row (type ``school``, parent the district's Clever id).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="clever")
    >>> row = transform_school({"id": "s1", "district": "d1", "name": "Lincoln High",
    ...                         "school_number": "02", "last_modified": "2021-03-02T22:24:53.347Z"}, ctx)
    >>> row["org_key"], row["type"], row["identifier"], row["parent_org_key"]
    ('s1', 'school', '02', 'd1')
    """
    return {
        "source": ctx.source,
        "org_key": _required(raw, "id"),
        "status": "active",
        "date_last_modified": _moment(raw, "last_modified"),
        "name": _text(raw, "name"),
        "type": "school",
        "identifier": _text(raw, "school_number") or _text(raw, "sis_id"),
        "parent_org_key": _text(raw, "district"),
        "extensions": None,
    }


def transform_term(raw: Mapping[str, Any], ctx: SyncContext) -> Row:
    """A Clever term as an ``academic_sessions`` row (type ``term``).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="clever")
    >>> row = transform_term({"id": "t1", "name": "Fall", "start_date": "2024-08-15",
    ...                       "end_date": "2024-12-20"}, ctx)
    >>> row["session_key"], row["type"], row["end_date"].isoformat()
    ('t1', 'term', '2024-12-20')
    """
    return {
        "source": ctx.source,
        "session_key": _required(raw, "id"),
        "status": "active",
        "date_last_modified": _moment(raw, "last_modified"),
        "title": _text(raw, "name"),
        "type": "term",
        "start_date": _day(raw, "start_date"),
        "end_date": _day(raw, "end_date"),
        "parent_session_key": None,
        "school_year": None,
        "extensions": None,
    }


def transform_course(raw: Mapping[str, Any], ctx: SyncContext) -> Row:
    """A Clever course as a ``courses`` row (``number`` is the course code).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="clever")
    >>> row = transform_course({"id": "c1", "name": "Algebra I", "number": "MA101"}, ctx)
    >>> row["course_key"], row["title"], row["course_code"]
    ('c1', 'Algebra I', 'MA101')
    """
    return {
        "source": ctx.source,
        "course_key": _required(raw, "id"),
        "status": "active",
        "date_last_modified": _moment(raw, "last_modified"),
        "title": _text(raw, "name"),
        "course_code": _text(raw, "number"),
        "school_year_key": None,
        "org_key": None,
        "grades": [],
        "subjects": [],
        "subject_codes": [],
        "extensions": None,
    }


def transform_user(raw: Mapping[str, Any], ctx: SyncContext, *, contacts: bool = False) -> Row:
    """A Clever user as a ``users`` row: a key, OneRoster roles, schools and grade; no names.

    Roles map as student -> ``student``, teacher -> ``teacher``, staff -> ``administrator``,
    district_admin -> ``districtAdministrator`` (and contact -> ``guardian`` when ``contacts``;
    otherwise a contact-only user is skipped). The primary role is the first of those that the
    user has; the primary school is that role's ``school``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="clever")
    >>> row = transform_user({"id": "5a25", "name": {"first": "Steve"}, "email": "s@x.net",
    ...     "last_modified": "2021-03-02T22:24:53.347Z",
    ...     "roles": {"student": {"sis_id": "100095233", "grade": "Kindergarten",
    ...                           "school": "s5", "schools": ["s5"], "dob": "2/11/2007"}}}, ctx)
    >>> row["primary_role"], row["grades"], row["org_keys"], "Steve" in str(row)
    ('student', ['KG'], ['s5'], False)
    >>> transform_user({"id": "6a", "roles": {"contact": {}}}, ctx)
    Traceback (most recent call last):
    ...
    connectors.base.SkipRow: a contact (parent or guardian); set include_contacts to keep contacts
    """
    roles = _roles(raw)
    held = [role for role in ROLE_MAP if isinstance(roles.get(role), Mapping)]
    if not contacts:
        held = [role for role in held if role != "contact"]
    if not held:
        if "contact" in roles:
            raise SkipRow(CONTACT_SKIP)
        raise RowError("roles", sorted(roles), "no student, teacher, staff or district_admin role")
    primary = roles[held[0]]
    org_keys: list[str] = []
    primary_org = _text(primary, "school")
    if primary_org:
        org_keys.append(primary_org)
    for role in held:
        data = roles[role]
        for school in [_text(data, "school"), *_ids(data, "schools")]:
            if school and school not in org_keys:
                org_keys.append(school)
    student = roles.get("student")
    grades = (
        _grade(_text(student, "grade"), "roles.student.grade")
        if isinstance(student, Mapping)
        else []
    )
    return {
        "source": ctx.source,
        "user_key": user_key(raw, ctx),
        "status": "active",
        "date_last_modified": _moment(raw, "last_modified"),
        "enabled": None,
        "primary_role": ROLE_MAP[held[0]],
        "roles": sorted({ROLE_MAP[role] for role in held}),
        "primary_org_key": primary_org or (org_keys[0] if org_keys else None),
        "org_keys": org_keys,
        "grades": grades,
        "extensions": None,
    }


def transform_section(raw: Mapping[str, Any], ctx: SyncContext) -> Row:
    """A Clever section as a ``classes`` row (its members become enrollments separately).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="clever")
    >>> row = transform_section({"id": "sec1", "name": "Algebra - 2", "course": "c1",
    ...     "school": "s1", "term_id": "t1", "grade": "9", "subject": "math", "period": "2",
    ...     "section_number": "", "students": ["u1"], "teachers": ["u2"]}, ctx)
    >>> row["class_key"], row["term_keys"], row["grades"], row["subjects"], row["class_code"]
    ('sec1', ['t1'], ['09'], ['math'], None)
    """
    term = _text(raw, "term_id")
    subject = _text(raw, "subject")
    period = _text(raw, "period")
    return {
        "source": ctx.source,
        "class_key": _required(raw, "id"),
        "status": "active",
        "date_last_modified": _moment(raw, "last_modified"),
        "title": _text(raw, "name"),
        "class_code": _text(raw, "section_number"),
        "class_type": "scheduled",
        "location": None,
        "course_key": _text(raw, "course"),
        "school_key": _text(raw, "school"),
        "term_keys": [term] if term else [],
        "grades": _grade(_text(raw, "grade"), "grade"),
        "subjects": [subject] if subject else [],
        "subject_codes": [],
        "periods": [period] if period else [],
        "extensions": None,
    }


def section_members(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The enrollments a section holds: each student, and each teacher (``teacher`` is primary).

    Examples
    --------
    >>> members = section_members({"id": "sec1", "school": "s1", "teacher": "t2",
    ...     "students": ["u1"], "teachers": ["t2", "t3"]})
    >>> [(m["user"], m["role"], m["primary"]) for m in members]
    [('u1', 'student', None), ('t2', 'teacher', True), ('t3', 'teacher', False)]
    """
    section, school = raw.get("id"), raw.get("school")
    primary = raw.get("teacher")
    members: list[dict[str, Any]] = []
    for role, key in (("student", "students"), ("teacher", "teachers")):
        listed = raw.get(key)
        for user in listed if isinstance(listed, list) else []:
            members.append(
                {
                    "section": section,
                    "school": school,
                    "user": user,
                    "role": role,
                    "primary": (user == primary) if role == "teacher" else None,
                    "last_modified": raw.get("last_modified"),
                }
            )
    return members


def transform_enrollment(
    member: Mapping[str, Any], ctx: SyncContext, *, keys: Mapping[str, str]
) -> Row:
    """One section member as an ``enrollments`` row, keyed through the users of this pull.

    ``keys`` maps Clever user ids to user keys (:func:`user_key` of each user read).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="clever")
    >>> member = {"section": "sec1", "school": "s1", "user": "u1", "role": "student",
    ...           "primary": None}
    >>> row = transform_enrollment(member, ctx, keys={"u1": "key-of-u1"})
    >>> row["user_key"], row["class_key"], row["role"], "u1" in row["enrollment_key"]
    ('key-of-u1', 'sec1', 'student', False)
    >>> transform_enrollment(member, ctx, keys={})
    Traceback (most recent call last):
    ...
    connectors.base.RowError: students = <personal value withheld>: not one of the users this pull read
    """
    user = member.get("user")
    field = f"{member.get('role')}s"
    if not isinstance(user, str) or user not in keys:
        raise RowError(field, user, "not one of the users this pull read", personal=True)
    section = member.get("section")
    if not isinstance(section, str) or not section:
        raise RowError("id", section, "the section has no id")
    key = keys[user]
    return {
        "source": ctx.source,
        "enrollment_key": ctx.keys.user(
            f"{section}\x1f{key}\x1f{member['role']}", namespace=f"{ctx.source}:enrollment"
        ),
        "status": "active",
        "date_last_modified": _moment(member, "last_modified"),
        "user_key": key,
        "class_key": section,
        "school_key": member.get("school") or None,
        "role": member["role"],
        "is_primary": member.get("primary"),
        "begin_date": None,
        "end_date": None,
        "extensions": None,
    }


# --------------------------------------------------------------------------------------------
# Endpoints


@dataclass(frozen=True)
class Endpoint:
    """One Clever collection: the stream, its path and the table it fills.

    Examples
    --------
    >>> ENDPOINTS["sections"].table.name
    'classes'
    """

    stream: str
    path: str
    table: TableSpec


ENDPOINTS: dict[str, Endpoint] = {
    e.stream: e
    for e in (
        Endpoint("schools", "schools", ORGS),
        Endpoint("terms", "terms", ACADEMIC_SESSIONS),
        Endpoint("courses", "courses", COURSES),
        Endpoint("users", "users", USERS),
        Endpoint("sections", "sections", CLASSES),
    )
}

STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("schools", ORGS, "Schools, as orgs. GET /v3.0/schools"),
    StreamSpec("terms", ACADEMIC_SESSIONS, "Terms, as academic sessions. GET /v3.0/terms"),
    StreamSpec("courses", COURSES, "Courses. GET /v3.0/courses"),
    StreamSpec(
        "users", USERS, "Students, teachers, staff, district admins, by key. GET /v3.0/users"
    ),
    StreamSpec("sections", CLASSES, "Sections, as classes. GET /v3.0/sections"),
    StreamSpec("enrollments", ENROLLMENTS, "Section students and teachers (from /sections)."),
)


def make_client(config: Config) -> HttpClient:
    """The HTTP client for ``config``: bearer token, retries, timeouts.

    Examples
    --------
    >>> with make_client(Config(token=SecretStr("tok-1234"))) as client:
    ...     client
    HttpClient('https://api.clever.com/v3.0', auth=BearerAuth(token=SecretStr('**********')), \
timeout=(10.0, 60.0))
    """
    return HttpClient(
        config.api_root,
        auth=BearerAuth(config.token),
        timeout=(config.connect_timeout, config.timeout),
        retry=RetryPolicy(
            total=config.retries,
            backoff_factor=config.backoff_factor,
            max_retry_time=config.max_retry_time,
        ),
    )


def _paged(
    client: HttpClient, stream: str, ctx: SyncContext, page_size: int
) -> Iterator[tuple[int, Any]]:
    """Each record's inner ``data`` with the number of the page it came on."""
    read = 0
    pages = client.pages(
        ENDPOINTS[stream].path, {"limit": page_size}, paginator=CursorPaginator(items_path="data")
    )
    for number, response in enumerate(pages, start=1):
        body = response.json()
        items = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise BadResponse(
                url=response.url,
                page=number,
                detail="The answer has no 'data' list",
                fix="Check that the base URL is the Clever Data API v3.0.",
            )
        for item in items:
            yield number, item.get("data") if isinstance(item, Mapping) else None
        read += len(items)
        on_page = getattr(ctx.progress, "page", None)
        if callable(on_page):
            on_page(stream, number, read)
        ctx.tick(stream, read)


def get_schools(client: HttpClient, ctx: SyncContext, *, page_size: int = 1000) -> Iterator[Any]:
    """Raw schools (each record's inner ``data``), page by page (``GET /schools``).

    Nothing is fetched until the caller iterates.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="clever")
    >>> with make_client(Config(token=SecretStr("tok"))) as client:
    ...     type(get_schools(client, ctx, page_size=100)).__name__
    'generator'
    """
    for _, item in _paged(client, "schools", ctx, page_size):
        yield item


def get_terms(client: HttpClient, ctx: SyncContext, *, page_size: int = 1000) -> Iterator[Any]:
    """Raw terms, page by page (``GET /terms``).

    Nothing is fetched until the caller iterates.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="clever")
    >>> with make_client(Config(token=SecretStr("tok"))) as client:
    ...     type(get_terms(client, ctx, page_size=100)).__name__
    'generator'
    """
    for _, item in _paged(client, "terms", ctx, page_size):
        yield item


def get_courses(client: HttpClient, ctx: SyncContext, *, page_size: int = 1000) -> Iterator[Any]:
    """Raw courses, page by page (``GET /courses``).

    Nothing is fetched until the caller iterates.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="clever")
    >>> with make_client(Config(token=SecretStr("tok"))) as client:
    ...     type(get_courses(client, ctx, page_size=100)).__name__
    'generator'
    """
    for _, item in _paged(client, "courses", ctx, page_size):
        yield item


def get_users(client: HttpClient, ctx: SyncContext, *, page_size: int = 1000) -> Iterator[Any]:
    """Raw users, page by page (``GET /users``).

    Nothing is fetched until the caller iterates.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="clever")
    >>> with make_client(Config(token=SecretStr("tok"))) as client:
    ...     type(get_users(client, ctx, page_size=100)).__name__
    'generator'
    """
    for _, item in _paged(client, "users", ctx, page_size):
        yield item


def get_sections(client: HttpClient, ctx: SyncContext, *, page_size: int = 1000) -> Iterator[Any]:
    """Raw sections with their ``students`` and ``teachers``, page by page (``GET /sections``).

    Nothing is fetched until the caller iterates.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="clever")
    >>> with make_client(Config(token=SecretStr("tok"))) as client:
    ...     type(get_sections(client, ctx, page_size=100)).__name__
    'generator'
    """
    for _, item in _paged(client, "sections", ctx, page_size):
        yield item


# --------------------------------------------------------------------------------------------
# Loading


def _records(
    paged: Iterator[tuple[int, Any]], stream: str, report: StreamReport, contacts: bool
) -> Iterator[SourceRecord]:
    """Records with their position; contact-only users are counted as skipped here, unless
    ``contacts``, so that a district's thousands of parents do not log a warning each."""
    for index, (page, raw) in enumerate(paged, start=1):
        where = f"{stream} record {index} (page {page})"
        if not isinstance(raw, Mapping):
            yield SourceRecord(where, {}, problem="is not a {data: {...}, uri} record")
        elif stream == "users" and not contacts and _contact_only(raw):
            report.read += 1
            report.skip(f"{where} {CONTACT_SKIP}")
        else:
            yield SourceRecord(where, raw)


def _contact_only(raw: Mapping[str, Any]) -> bool:
    roles = raw.get("roles")
    return isinstance(roles, Mapping) and set(roles) == {"contact"}


class _Batches:
    """Rows for one table, written in Arrow batches within the transaction."""

    def __init__(self, tx: Transaction, table: TableSpec, run_id: str, size: int) -> None:
        self.tx, self.table, self.run_id, self.size = tx, table, run_id, size
        self.rows: list[Row] = []
        self.newest: datetime | None = None

    def add(self, row: Row) -> None:
        changed = row.get("date_last_modified")
        if changed is not None and (self.newest is None or changed > self.newest):
            self.newest = changed
        self.rows.append(row)
        if len(self.rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            schema = self.table.arrow_schema()
            self.tx.upsert(
                self.table, pa.Table.from_pylist(self.rows, schema=schema), run_id=self.run_id
            )
            self.rows.clear()


def _key_of(table: TableSpec) -> Callable[[Row], Hashable]:
    columns = table.primary_key

    def key(row: Row) -> Hashable:
        return tuple(row[c] for c in columns)

    return key


def _transform_for(
    stream: str, config: Config, keys: dict[str, str], shared: list[str]
) -> Callable[[Mapping[str, Any], SyncContext], Row]:
    if stream == "users":
        owners: dict[str, str] = {}

        def user(raw: Mapping[str, Any], ctx: SyncContext) -> Row:
            row = transform_user(raw, ctx, contacts=config.include_contacts)
            clever_id = str(raw.get("id"))
            owner = owners.setdefault(row["user_key"], clever_id)
            if owner != clever_id:
                # sis_ids are unique per role in Clever, not across roles: a student and a
                # teacher may share one. The later user (Clever returns users by id) is keyed
                # by its Clever id, so two people never share a key.
                row["user_key"] = ctx.keys.user(clever_id, namespace=CLEVER_NAMESPACE)
                owners[row["user_key"]] = clever_id
                shared.append(clever_id)
            keys[clever_id] = row["user_key"]
            return row

        return user
    if stream == "sections":
        return lambda raw, ctx: {**transform_section(raw, ctx), MEMBERS_KEY: section_members(raw)}
    return {
        "schools": transform_school,
        "terms": transform_term,
        "courses": transform_course,
    }[stream]


def _member_rows(
    members: list[dict[str, Any]], ctx: SyncContext, keys: Mapping[str, str], seen: set[str]
) -> Iterator[Row]:
    def transform(member: Mapping[str, Any], ctx: SyncContext) -> Row:
        row = transform_enrollment(member, ctx, keys=keys)
        if row["enrollment_key"] in seen:
            field = f"{member.get('role')}s"
            raise RowError(field, None, "listed twice in the section", personal=True)
        seen.add(row["enrollment_key"])
        return row

    records = (
        SourceRecord(f"section {m.get('section')} {m.get('role')} {i + 1}", m)
        for i, m in enumerate(members)
    )
    yield from transform_each(records, transform, ctx, stream="enrollments")


def _config(ctx: SyncContext) -> Config:
    try:
        return Config.model_validate(dict(ctx.options))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}"
            for e in error.errors(include_input=False)
        )
        raise ConfigError(
            f"source {ctx.source!r} ({SOURCE}): {problems}. Fix sources.{ctx.source} in "
            f"ecosystem.yaml (see docs/connectors/clever.md)."
        ) from None


def sync(ctx: SyncContext) -> SyncReport:
    """Pull the Clever streams into the store: a full pull, all streams in one transaction.

    ``ctx.options`` holds the :class:`Config` fields (at least ``token``). Rows the pull no
    longer sees are deleted, behind the shrink guard for users and enrollments unless
    ``ctx.force``. On any error the store is left as it was.

    Raises
    ------
    connectors.http.ConnectorError
        The source could not be read (the message names the URL, page and what to do).
    connectors.base.RowRejectedError
        Strict mode, at the first record that cannot be loaded.
    edtech_map.store.ShrinkGuardError
        The pull would delete half or more of the source's users or enrollments.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> sync(SyncContext(store=SimpleNamespace(keys=None), source="clever", options={}))
    Traceback (most recent call last):
    ...
    connectors.clever.ConfigError: source 'clever' (clever): token: Field required. ...
    """
    config = _config(ctx)
    report = ctx.report
    report.version = "v3.0"
    log.info("pulling Clever from %s as source %r", config.api_root, ctx.source)
    try:
        _pull(ctx, config)
    except ConnectorError as error:
        _hide_cursor_ids(error)
        raise
    report.finished = datetime.now(UTC)
    return report


def _pull(ctx: SyncContext, config: Config) -> None:
    report = ctx.report
    keys: dict[str, str] = {}
    shared: list[str] = []
    with make_client(config) as client, ctx.store.transaction() as tx:
        before = {
            name: tx.count(USERS if name == "users" else ENROLLMENTS, source=ctx.source)
            for name in GUARDED_STREAMS
        }
        finished: list[str] = []
        newest: dict[str, datetime | None] = {}
        for name in config.selected:
            endpoint = ENDPOINTS[name]
            stream_report = report.stream(name, where=client.url_for(endpoint.path))
            stream_report.mode = "bulk"
            paged = _paged(client, name, ctx, config.page_size)
            rows = transform_each(
                _records(paged, name, stream_report, config.include_contacts),
                _transform_for(name, config, keys, shared),
                ctx,
                stream=name,
                unique_by=_key_of(endpoint.table),
            )
            batches = _Batches(tx, endpoint.table, ctx.run_id, config.batch_size)
            if name == "sections":
                enrollments = report.stream("enrollments", where=stream_report.where)
                enrollments.mode = "bulk"
                members = _Batches(tx, ENROLLMENTS, ctx.run_id, config.batch_size)
                seen: set[str] = set()
                for row in rows:
                    section_members_ = row.pop(MEMBERS_KEY)
                    batches.add(row)
                    for member in _member_rows(section_members_, ctx, keys, seen):
                        members.add(member)
                members.flush()
                newest["enrollments"] = members.newest
            else:
                for row in rows:
                    batches.add(row)
            batches.flush()
            newest[name] = batches.newest
            if name == "users" and shared:
                report.warn(
                    f"users: {len(shared)} user{'s' if len(shared) > 1 else ''} share a sis_id "
                    f"with an earlier user (a student and a teacher, say); keyed by Clever id "
                    f"instead, so they will not match other sources by SIS id"
                )
            finished.append(name)
            if name == "sections":
                finished.append("enrollments")
        for name in finished:
            table = ENROLLMENTS if name == "enrollments" else ENDPOINTS[name].table
            delete_unseen(tx, ctx, name, table, before=before, guarded=GUARDED_STREAMS)
            log_stream(log, name, report.streams[name])
            moment = newest.get(name)
            record_stream(tx, ctx, name, cursor=moment.isoformat() if moment else None)


_CURSOR_ID = re.compile(r"\b((?:starting_after|ending_before)=)[^&\s)\]]+")


def _hide_cursor_ids(error: ConnectorError) -> None:
    """Mask the record id in a ``starting_after`` cursor: on ``/users`` it is a person's id.

    The error is changed in place (its URL and message) so that it can be re-raised as it is.
    """
    error.url = _CURSOR_ID.sub(r"\1***", error.url)
    error.args = tuple(_CURSOR_ID.sub(r"\1***", a) if isinstance(a, str) else a for a in error.args)
