"""Canvas LMS REST API (``/api/v1``) rosters into the store.

Calls, all with ``per_page=100`` and followed through ``Link: rel="next"`` headers:

- ``GET /api/v1/accounts/:id`` and ``/accounts/:id/sub_accounts?recursive=true`` -> ``orgs``
- ``GET /api/v1/accounts/:id/terms`` -> ``academic_sessions``
- ``GET /api/v1/accounts/:id/courses?include[]=term`` -> ``courses``
- ``GET /api/v1/courses/:id/sections`` -> ``classes`` (a Canvas section is a OneRoster class)
- ``GET /api/v1/courses/:id/enrollments?type[]=...`` -> ``enrollments``, and ``users``
  (one row per person seen in an enrollment: role and school, never a name)

SIS ids (``sis_account_id``, ``sis_term_id``, ``sis_course_id``, ``sis_section_id``,
``sis_user_id``) are preferred as keys, so rows join with the district's SIS rosters; a record
without one is keyed ``canvas:<id>``. People are keyed in the ``district`` namespace by their
``sis_user_id``, otherwise in the ``canvas`` namespace by their Canvas user id. Canvas ids may
be numbers or strings (``"12"``, or ``"10000000000012"`` when ``Accept: ...+json;
ids_as_strings`` is used); both read the same. Free-text course names are mapped to a subject
and grade by :mod:`edtech_map.subject_mapping`, with the confidence kept in ``extensions``.

Every stream is a full refresh, written in one transaction with the sync state: a pull that
fails part-way (rate limit, server error, timeout, a repeated page) leaves the store as it was.
Retries, ``Retry-After`` and Canvas's HTTP 403 ``Rate Limit Exceeded`` are handled by the
shared HTTP layer (:mod:`connectors.http`).

Examples
--------
>>> config = Config(base_url="https://riverside.instructure.com", token="tok-1234")
>>> config.api_root, config.token
('https://riverside.instructure.com/api/v1', SecretStr('**********'))
>>> [spec.name for spec in STREAMS]
['orgs', 'academic_sessions', 'courses', 'classes', 'enrollments', 'users']
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connectors.base import (
    FullRefreshLoad,
    Row,
    RowError,
    SkipRow,
    SourceRecord,
    StreamSpec,
    SyncContext,
    SyncReport,
    load_source_config,
    transform_each,
)
from connectors.http import (
    BadResponse,
    BearerAuth,
    HttpClient,
    LinkHeaderPaginator,
    RetryPolicy,
    redact_url,
)
from edtech_map.model import Role
from edtech_map.store import (
    ACADEMIC_SESSIONS,
    CLASSES,
    COURSES,
    ENROLLMENTS,
    ORGS,
    USERS,
    TableSpec,
)
from edtech_map.subject_mapping import map_course

if TYPE_CHECKING:
    from edtech_map.model.ecosystem import SourceConfig
    from edtech_map.store import Transaction

__all__ = [
    "ENROLLMENT_ROLES",
    "SOURCE",
    "STREAMS",
    "Config",
    "get_academic_sessions",
    "get_courses",
    "get_enrollments",
    "get_orgs",
    "get_sections",
    "load_config",
    "sync",
    "transform_academic_session",
    "transform_class",
    "transform_course",
    "transform_enrollment",
    "transform_org",
]

log = logging.getLogger(__name__)

SOURCE = "canvas"
#: Key namespace of people known only by their Canvas user id (no ``sis_user_id``).
USER_NAMESPACE = "canvas"
API_PREFIX = "/api/v1"

#: Canvas enrollment ``type`` -> OneRoster role. ``StudentViewEnrollment`` (the "Test Student"
#: of Student View) is skipped: it is not a person.
ENROLLMENT_ROLES: dict[str, Role] = {
    "StudentEnrollment": Role.STUDENT,
    "TeacherEnrollment": Role.TEACHER,
    "TaEnrollment": Role.AIDE,
    "DesignerEnrollment": Role.TEACHER,
    "ObserverEnrollment": Role.PARENT,
}
_FAKE_STUDENT = "StudentViewEnrollment"
_ENROLLMENT_STATUS = {
    "active": "active",
    "invited": "active",
    "creation_pending": "active",
    "inactive": "inactive",
    "completed": "inactive",
}
_GONE = frozenset({"deleted", "rejected"})
#: Which role a person who holds several is listed under first (staff before students).
_ROLE_ORDER = (Role.TEACHER, Role.AIDE, Role.STUDENT, Role.PARENT)
GUARDED_STREAMS = frozenset({"users", "enrollments"})

STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("orgs", ORGS, "The root account and its sub-accounts."),
    StreamSpec("academic_sessions", ACADEMIC_SESSIONS, "Enrollment terms."),
    StreamSpec("courses", COURSES, "Courses, with a subject and grade read from their names."),
    StreamSpec("classes", CLASSES, "Course sections."),
    StreamSpec("enrollments", ENROLLMENTS, "People in sections, by key, with their role."),
    StreamSpec("users", USERS, "People seen in enrollments: key, roles, schools."),
)
_STREAM_NAMES = tuple(spec.name for spec in STREAMS)


class Config(BaseModel):
    """Settings of one Canvas source (``SyncContext.options``, or :meth:`from_source`).

    ``token`` is a Canvas access token of an account admin (a developer key's token or a
    user-generated one); it is read from the environment variable named in ``sources:``.

    Examples
    --------
    >>> Config(base_url="https://canvas.example.org/api/v1/", token="t").base_url
    'https://canvas.example.org'
    >>> Config(base_url="https://canvas.example.org", token="t", streams=["grades"])
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Config
    streams
      Value error, unknown stream 'grades'; use some of orgs, academic_sessions, ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    base_url: str = Field(description="The Canvas instance, e.g. https://district.instructure.com.")
    token: SecretStr = Field(description="Access token (from the environment, never the YAML).")
    account_id: str = Field("self", description="Root account to read: an id, or `self`.")
    sub_account_type: str = Field("school", description="OneRoster org type of sub-accounts.")
    streams: tuple[str, ...] = Field((), description="Streams to write; none = all.")
    enrollment_types: tuple[str, ...] = Field(
        tuple(ENROLLMENT_ROLES), description="Canvas enrollment types to read (`type[]`)."
    )
    per_page: int = Field(100, ge=1, le=100, description="Records per page (Canvas caps at 100).")
    timeout: tuple[float, float] = Field((10.0, 60.0), description="(connect, read) seconds.")
    max_retries: int = Field(5, ge=0, description="Retries of one request (429, 5xx, 403 limit).")
    backoff_factor: float = Field(1.0, ge=0, description="Exponential back-off factor.")
    max_retry_time: float = Field(300.0, gt=0, description="Cap on retrying one request (s).")
    batch_size: int = Field(5000, ge=1, description="Rows per Arrow batch written to the store.")

    @field_validator("base_url")
    @classmethod
    def _strip_api_prefix(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value.endswith(API_PREFIX):
            value = value[: -len(API_PREFIX)]
        return value

    @field_validator("streams")
    @classmethod
    def _known_streams(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in _STREAM_NAMES:
                raise ValueError(f"unknown stream {name!r}; use some of {', '.join(_STREAM_NAMES)}")
        return value

    @field_validator("enrollment_types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in ENROLLMENT_ROLES:
                raise ValueError(
                    f"unknown enrollment type {name!r}; use some of {', '.join(ENROLLMENT_ROLES)}"
                )
        return value

    @property
    def api_root(self) -> str:
        """``base_url`` + ``/api/v1``."""
        return self.base_url + API_PREFIX

    def wants(self, stream: str) -> bool:
        """Whether ``stream`` is written by this pull.

        Examples
        --------
        >>> Config(base_url="https://canvas.example.org", token="t", streams=["courses"]).wants("users")
        False
        """
        return not self.streams or stream in self.streams

    def client(self) -> HttpClient:
        """The HTTP client for this source: bearer token, retries, timeouts.

        Examples
        --------
        >>> with Config(base_url="https://canvas.example.org", token="t").client() as http:
        ...     http.url_for("/accounts/self")
        'https://canvas.example.org/api/v1/accounts/self'
        """
        return HttpClient(
            self.api_root,
            auth=BearerAuth(self.token),
            timeout=self.timeout,
            retry=RetryPolicy(
                total=self.max_retries,
                backoff_factor=self.backoff_factor,
                max_retry_time=self.max_retry_time,
            ),
        )

    @classmethod
    def from_source(cls, source: SourceConfig, environ: Mapping[str, str] | None = None) -> Config:
        """The config of an inventory ``sources:`` entry; the token comes from the environment.

        Examples
        --------
        >>> from edtech_map.model.ecosystem import SourceConfig
        >>> source = SourceConfig(kind="canvas", base_url="https://canvas.example.org",
        ...                       secrets={"token": "CANVAS_TOKEN"}, options={"account_id": "7"})
        >>> Config.from_source(source, {"CANVAS_TOKEN": "tok-1234"}).account_id
        '7'
        """
        options: dict[str, Any] = dict(source.options)
        if source.base_url is not None:
            options["base_url"] = source.base_url
        if source.streams:
            options["streams"] = source.streams
        options["secrets"] = dict(source.secrets)
        return load_config(options, environ)


def load_config(options: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    """Validate connector options into a :class:`Config`, reading secrets from the environment.

    ``options["secrets"]`` maps ``token`` to the *name* of an environment variable (as
    ``sources:`` does); a ``token`` given directly is used as is. Errors name the field and the
    variable, never a secret's value.

    Raises
    ------
    SourceError
        A setting is missing or invalid, or the named environment variable is not set.

    Examples
    --------
    >>> load_config({"base_url": "https://c.example.org", "secrets": {"token": "CANVAS_TOKEN"}},
    ...             {"CANVAS_TOKEN": "tok-1234"}).token.get_secret_value()
    'tok-1234'
    >>> load_config({"base_url": "https://c.example.org", "secrets": {"token": "NOT_SET"}}, {})
    Traceback (most recent call last):
    ...
    connectors.base.SourceError: canvas: the environment variable NOT_SET (secret 'token') is not set; export it before pulling
    """
    config: Config = load_source_config(
        Config, options, environ, secret_names=("token",), source=SOURCE
    )
    return config


# --------------------------------------------------------------------------------------------
# Reading: raw records, page by page. No retries or reshaping here (the HTTP layer owns those).


def get_orgs(http: HttpClient, config: Config) -> Iterator[SourceRecord]:
    """The root account, then every sub-account (recursively).

    Examples
    --------
    >>> config = Config(base_url="https://canvas.example.org", token="t")
    >>> with config.client() as http:
    ...     type(get_orgs(http, config)).__name__  # nothing is fetched until iterated
    'generator'
    """
    account = _quote(config.account_id)
    response = http.get(f"/accounts/{account}")
    yield SourceRecord(redact_url(response.url), _object(response.json(), response.url))
    yield from _page_records(
        http,
        f"/accounts/{account}/sub_accounts",
        {"recursive": "true", "per_page": config.per_page},
    )


def get_academic_sessions(http: HttpClient, config: Config) -> Iterator[SourceRecord]:
    """Enrollment terms of the root account (``{"enrollment_terms": [...]}``).

    Examples
    --------
    >>> config = Config(base_url="https://canvas.example.org", token="t")
    >>> with config.client() as http:
    ...     type(get_academic_sessions(http, config)).__name__  # nothing is fetched until iterated
    'generator'
    """
    yield from _page_records(
        http,
        f"/accounts/{_quote(config.account_id)}/terms",
        {"per_page": config.per_page},
        items_key="enrollment_terms",
    )


def get_courses(http: HttpClient, config: Config) -> Iterator[SourceRecord]:
    """Courses of the root account and its sub-accounts, each with its term.

    Examples
    --------
    >>> config = Config(base_url="https://canvas.example.org", token="t")
    >>> with config.client() as http:
    ...     type(get_courses(http, config)).__name__  # nothing is fetched until iterated
    'generator'
    """
    yield from _page_records(
        http,
        f"/accounts/{_quote(config.account_id)}/courses",
        {"include[]": "term", "per_page": config.per_page},
    )


def get_sections(http: HttpClient, config: Config, course_id: str) -> Iterator[SourceRecord]:
    """Sections of one course.

    Examples
    --------
    >>> config = Config(base_url="https://canvas.example.org", token="t")
    >>> with config.client() as http:
    ...     type(get_sections(http, config, "7")).__name__  # nothing is fetched until iterated
    'generator'
    """
    yield from _page_records(
        http, f"/courses/{_quote(course_id)}/sections", {"per_page": config.per_page}
    )


def get_enrollments(http: HttpClient, config: Config, course_id: str) -> Iterator[SourceRecord]:
    """Enrollments of one course, of the configured ``type[]`` values.

    Examples
    --------
    >>> config = Config(base_url="https://canvas.example.org", token="t")
    >>> with config.client() as http:
    ...     type(get_enrollments(http, config, "7")).__name__  # nothing is fetched until iterated
    'generator'
    """
    query = urlencode(
        [*(("type[]", kind) for kind in config.enrollment_types), ("per_page", config.per_page)]
    )
    yield from _page_records(http, f"/courses/{_quote(course_id)}/enrollments?{query}", None)


# --------------------------------------------------------------------------------------------
# Transforms: one raw record to one store row. Pure; people become keys here.


def transform_org(
    raw: Mapping[str, Any],
    ctx: SyncContext,
    *,
    account_keys: Mapping[str, str] | None = None,
    sub_account_type: str = "school",
) -> Row:
    """A Canvas account as an ``orgs`` row: the root is the district, sub-accounts schools.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="canvas")
    >>> row = transform_org({"id": 101, "name": "Lincoln High", "parent_account_id": 1,
    ...                      "sis_account_id": "LHS"}, ctx, account_keys={"1": "canvas:1"})
    >>> row["org_key"], row["type"], row["parent_org_key"]
    ('LHS', 'school', 'canvas:1')
    """
    parent = _id_text(raw.get("parent_account_id"))
    return _row(
        ORGS,
        source=ctx.source,
        org_key=canvas_key(raw, "sis_account_id"),
        status="active",
        name=_text(raw.get("name")),
        type="district" if parent is None else sub_account_type,
        identifier=_text(raw.get("sis_account_id")),
        parent_org_key=None
        if parent is None
        else (account_keys or {}).get(parent, f"canvas:{parent}"),
    )


def transform_academic_session(raw: Mapping[str, Any], ctx: SyncContext) -> Row:
    """A Canvas enrollment term as an ``academic_sessions`` row of type ``term``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="canvas")
    >>> row = transform_academic_session({"id": 56, "name": "Fall 2024", "sis_term_id": "F24",
    ...     "start_at": "2024-08-19T06:00:00Z", "end_at": None}, ctx)
    >>> row["session_key"], row["start_date"], row["end_date"]
    ('F24', datetime.date(2024, 8, 19), None)
    """
    if raw.get("workflow_state") in _GONE:
        raise SkipRow("a deleted term")
    return _row(
        ACADEMIC_SESSIONS,
        source=ctx.source,
        session_key=canvas_key(raw, "sis_term_id"),
        status="active",
        title=_text(raw.get("name")),
        type="term",
        start_date=_date(raw, "start_at"),
        end_date=_date(raw, "end_at"),
    )


def transform_course(
    raw: Mapping[str, Any],
    ctx: SyncContext,
    *,
    account_keys: Mapping[str, str] | None = None,
    term_keys: Mapping[str, str] | None = None,
) -> Row:
    """A Canvas course as a ``courses`` row, with a subject and grade read from its name.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="canvas")
    >>> row = transform_course({"id": 7, "sis_course_id": "ALG1-2024", "name": "Algebra I",
    ...     "course_code": "ALG1", "account_id": 101, "enrollment_term_id": 56}, ctx,
    ...     term_keys={"56": "F24"})
    >>> row["course_key"], row["org_key"], row["school_year_key"], row["subjects"]
    ('ALG1-2024', 'canvas:101', 'F24', ['math'])
    """
    state = raw.get("workflow_state")
    if state in _GONE:
        raise SkipRow("a deleted course")
    name, code = _text(raw.get("name")), _text(raw.get("course_code"))
    mapping = map_course(name, code)
    return _row(
        COURSES,
        source=ctx.source,
        course_key=canvas_key(raw, "sis_course_id"),
        status="inactive" if state == "completed" else "active",
        date_last_modified=_when(raw, "updated_at"),
        title=name,
        course_code=code,
        school_year_key=_term_key(raw, term_keys),
        org_key=_lookup(raw.get("account_id"), account_keys),
        grades=[grade.value for grade in mapping.grades],
        subjects=[subject.value for subject in mapping.subjects],
        subject_codes=[],
        extensions=json.dumps({"subject_mapping": mapping.as_dict()}) if mapping.found else None,
    )


def transform_class(
    raw: Mapping[str, Any], ctx: SyncContext, *, course: CourseInfo | None = None
) -> Row:
    """A Canvas section as a ``classes`` row, linked to its course, school and term.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="canvas")
    >>> info = CourseInfo("7", "ALG1-2024", "LHS", "F24", ("math",), ("09",))
    >>> row = transform_class({"id": 70, "name": "Period 3", "course_id": 7,
    ...                        "sis_section_id": "ALG1-P3"}, ctx, course=info)
    >>> row["class_key"], row["course_key"], row["school_key"], row["term_keys"], row["grades"]
    ('ALG1-P3', 'ALG1-2024', 'LHS', ['F24'], ['09'])
    """
    course_key = course.key if course else None
    if course_key is None:
        course_key = _text(raw.get("sis_course_id")) or _canvas_ref(raw.get("course_id"))
    return _row(
        CLASSES,
        source=ctx.source,
        class_key=canvas_key(raw, "sis_section_id"),
        status="active",
        title=_text(raw.get("name")),
        class_type="scheduled",
        course_key=course_key,
        school_key=course.org_key if course else None,
        term_keys=[course.term_key] if course and course.term_key else [],
        grades=list(course.grades) if course else [],
        subjects=list(course.subjects) if course else [],
        subject_codes=[],
        periods=[],
    )


def transform_enrollment(
    raw: Mapping[str, Any],
    ctx: SyncContext,
    *,
    section_keys: Mapping[str, str] | None = None,
    course: CourseInfo | None = None,
) -> Row:
    """A Canvas enrollment as an ``enrollments`` row: the person is a key, never a name.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="canvas")
    >>> row = transform_enrollment({"id": 1, "user_id": 31, "sis_user_id": "S-1",
    ...     "course_section_id": 70, "type": "TaEnrollment", "enrollment_state": "active",
    ...     "user": {"name": "Ada Lovelace"}}, ctx, section_keys={"70": "ALG1-P3"})
    >>> row["class_key"], row["role"], row["user_key"] == ctx.keys.user("S-1")
    ('ALG1-P3', 'aide', True)
    >>> "Ada" in str(row) or "S-1" in str(row)
    False
    """
    kind = raw.get("type")
    if kind == _FAKE_STUDENT:
        raise SkipRow("the Student View test student (not a person)")
    if kind not in ENROLLMENT_ROLES:
        raise RowError(
            "type", kind, f"not a Canvas enrollment type; known: {', '.join(ENROLLMENT_ROLES)}"
        )
    state = raw.get("enrollment_state")
    if state in _GONE:
        raise SkipRow(f"a {state} enrollment")
    status = _ENROLLMENT_STATUS.get(str(state), "active")
    section = _id_text(raw.get("course_section_id"))
    class_key = (section_keys or {}).get(section or "") or _text(raw.get("sis_section_id"))
    if class_key is None:
        if section is None:
            raise RowError("course_section_id", None, "is required and missing")
        class_key = f"canvas:{section}"
    return _row(
        ENROLLMENTS,
        source=ctx.source,
        enrollment_key=ctx.keys.user(_required_id(raw, "id"), namespace=f"{ctx.source}:enrollment"),
        status=status,
        date_last_modified=_when(raw, "updated_at"),
        user_key=canvas_user_key(raw, ctx),
        class_key=class_key,
        school_key=course.org_key if course else None,
        role=ENROLLMENT_ROLES[kind].value,
        begin_date=_date(raw, "start_at"),
        end_date=_date(raw, "end_at"),
    )


def canvas_user_key(raw: Mapping[str, Any], ctx: SyncContext) -> str:
    """The pseudonymous key of an enrollment's person: SIS id first, else the Canvas id.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> keys = KeyMaker(b"k" * 32)
    >>> ctx = SyncContext(store=SimpleNamespace(keys=keys), source="canvas")
    >>> canvas_user_key({"user_id": 31, "user": {"sis_user_id": "S-1"}}, ctx) == keys.user("S-1")
    True
    >>> canvas_user_key({"user_id": "31"}, ctx) == keys.user("31", namespace="canvas")
    True
    """
    user = _mapping(raw.get("user"))
    sis = _text(raw.get("sis_user_id")) or _text(user.get("sis_user_id"))
    if sis is not None:
        return ctx.keys.user(sis)
    user_id = _id_text(raw.get("user_id")) or _id_text(user.get("id"))
    if user_id is None:
        raise RowError("user_id", None, "is required and missing", personal=True)
    return ctx.keys.user(user_id, namespace=USER_NAMESPACE)


def canvas_key(raw: Mapping[str, Any], sis_field: str) -> str:
    """The store key of a Canvas object: its SIS id when it has one, else ``canvas:<id>``.

    Examples
    --------
    >>> canvas_key({"id": 12, "sis_course_id": "BIO-1"}, "sis_course_id")
    'BIO-1'
    >>> canvas_key({"id": "12", "sis_course_id": None}, "sis_course_id")
    'canvas:12'
    >>> canvas_key({"name": "no id"}, "sis_course_id")
    Traceback (most recent call last):
    ...
    connectors.base.RowError: id = None: is required and missing
    """
    return _text(raw.get(sis_field)) or f"canvas:{_required_id(raw, 'id')}"


@dataclass(frozen=True)
class CourseInfo:
    """What sections and enrollments need to know about their course."""

    canvas_id: str
    key: str
    org_key: str | None
    term_key: str | None
    subjects: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# Sync


def sync(ctx: SyncContext) -> SyncReport:
    """Pull one Canvas instance into the store, every stream in one transaction.

    ``ctx.options`` holds the :class:`Config` fields (or ``secrets`` naming the environment
    variable of the token). On any error the store is left exactly as it was.

    Raises
    ------
    SourceError
        The settings are invalid or the token's environment variable is not set.
    connectors.http.ConnectorError
        The API could not be read (the message names the redacted URL, the page and what to do).
    connectors.base.RowRejectedError
        Strict mode, at the first record that cannot be loaded.
    edtech_map.store.ShrinkGuardError
        The pull would delete half or more of the source's users or enrollments.

    Examples
    --------
    A source that cannot be reached fails with a typed error and leaves the store as it was:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from connectors.http import ConnectionFailed
    >>> from edtech_map.store import Store
    >>> options = {"base_url": "http://127.0.0.1:9", "token": "tok-1234", "max_retries": 0}
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     try:
    ...         sync(SyncContext(store=store, source="canvas", options=options))
    ...     except ConnectionFailed as error:
    ...         print(type(error).__name__, store.counts())
    ConnectionFailed []
    """
    config = load_config(ctx.options)
    report = ctx.report
    log.info("pulling Canvas %s as source %r", redact_url(config.base_url), ctx.source)
    if ctx.keep_identities:
        report.warn("Canvas: names and logins are never read, so keep_identities has no effect")
    pull = _Pull(ctx, config)
    with config.client() as http, ctx.store.transaction() as tx:
        before = {name: tx.count(_spec(name).table, source=ctx.source) for name in GUARDED_STREAMS}
        account_keys = pull.orgs(tx, get_orgs(http, config))
        term_keys = pull.write(
            tx,
            "academic_sessions",
            get_academic_sessions(http, config),
            transform_academic_session,
            keyed_by="session_key",
        )
        courses = pull.courses(tx, get_courses(http, config), account_keys, term_keys)
        section_keys: dict[str, str] = {}
        section_rows: list[Row] = []
        enrollment_rows: list[Row] = []
        for course in courses:
            keys = pull.collect(
                "classes",
                get_sections(http, config, course.canvas_id),
                partial(transform_class, course=course),
                section_rows,
                keyed_by="class_key",
            )
            section_keys.update(keys)
            pull.collect(
                "enrollments",
                get_enrollments(http, config, course.canvas_id),
                partial(transform_enrollment, section_keys=section_keys, course=course),
                enrollment_rows,
            )
            if len(section_rows) >= config.batch_size:
                pull.flush(tx, "classes", section_rows)
            if len(enrollment_rows) >= config.batch_size:
                pull.flush(tx, "enrollments", enrollment_rows)
        pull.flush(tx, "classes", section_rows)
        pull.flush(tx, "enrollments", enrollment_rows)
        pull.write_users(tx)
        pull.writer.finish(tx, before)
    report.finished = datetime.now(UTC)
    log.info(
        "pulled Canvas %s: read %d, loaded %d, skipped %d, rejected %d",
        redact_url(config.base_url),
        report.read,
        report.loaded,
        report.skipped,
        report.rejected,
    )
    return report


@dataclass
class _Pull:
    """The state of one sync: which streams were written, the people seen, the dedup sets."""

    ctx: SyncContext
    config: Config
    people: dict[str, _Person] = field(default_factory=dict)
    pages: Counter[str] = field(default_factory=Counter)
    writer: FullRefreshLoad = field(init=False)

    def __post_init__(self) -> None:
        tables = {spec.name: spec.table for spec in STREAMS}
        self.writer = FullRefreshLoad(
            self.ctx, tables, self.config.batch_size, guarded=GUARDED_STREAMS, logger=log
        )

    def tick_page(self, stream: str) -> None:
        """Tell the progress callback a page arrived (``.page(stream, page, read)`` if it has one)."""
        self.pages[stream] += 1
        on_page = getattr(self.ctx.progress, "page", None)
        if callable(on_page):
            on_page(stream, self.pages[stream], self.ctx.report.stream(stream).read)

    def write(
        self,
        tx: Transaction,
        stream: str,
        records: Iterable[SourceRecord],
        transform: Callable[..., Row],
        *,
        keyed_by: str,
    ) -> dict[str, str]:
        """Transform and write one whole stream; return Canvas id -> store key."""
        rows: list[Row] = []
        keys = self.collect(stream, records, transform, rows, keyed_by=keyed_by)
        self.flush(tx, stream, rows)
        return keys

    def collect(
        self,
        stream: str,
        records: Iterable[SourceRecord],
        transform: Callable[..., Row],
        into: list[Row],
        *,
        keyed_by: str | None = None,
    ) -> dict[str, str]:
        """Transform records into ``into``; return Canvas id -> store key of ``keyed_by``."""
        report = self.ctx.report.stream(stream, where=self.config.api_root)
        keys: dict[str, str] = {}
        ids: list[str | None] = []

        def remembered(values: Iterable[SourceRecord]) -> Iterator[SourceRecord]:
            for record in values:
                ids.append(_id_text(record.values.get("id")))
                if record.where.endswith(" record 1"):  # the first record of a page
                    self.tick_page(stream)
                yield record

        for row in transform_each(remembered(records), transform, self.ctx, stream=stream):
            if keyed_by is not None and ids[-1] is not None:
                keys[ids[-1]] = row[keyed_by]
            if stream == "enrollments":
                self._remember_person(row)
            into.append(row)
        if self.config.wants(stream):
            self.writer.mark(stream)
        report.mode = "full"
        return keys

    def flush(self, tx: Transaction, stream: str, rows: list[Row]) -> None:
        """Write ``rows`` (if this pull writes ``stream``), each key once; empty the list."""
        self.writer.flush(tx, stream, rows, write=self.config.wants(stream))

    def orgs(self, tx: Transaction, records: Iterable[SourceRecord]) -> dict[str, str]:
        """Write the accounts, each pointing at its parent's key (a SIS id when it has one)."""
        rows: list[Row] = []
        keys = self.collect(
            "orgs",
            records,
            partial(transform_org, sub_account_type=self.config.sub_account_type),
            rows,
            keyed_by="org_key",
        )
        by_canvas_ref = {f"canvas:{canvas_id}": key for canvas_id, key in keys.items()}
        for row in rows:
            parent = row["parent_org_key"]
            row["parent_org_key"] = by_canvas_ref.get(parent, parent)
        self.flush(tx, "orgs", rows)
        return keys

    def courses(
        self,
        tx: Transaction,
        records: Iterable[SourceRecord],
        account_keys: Mapping[str, str],
        term_keys: Mapping[str, str],
    ) -> list[CourseInfo]:
        """Write the courses and return what their sections and enrollments need."""
        rows: list[Row] = []
        keys = self.collect(
            "courses",
            records,
            partial(transform_course, account_keys=account_keys, term_keys=term_keys),
            rows,
            keyed_by="course_key",
        )
        by_key = {row["course_key"]: row for row in rows}
        infos = [
            CourseInfo(
                canvas_id,
                key,
                by_key[key]["org_key"],
                by_key[key]["school_year_key"],
                tuple(by_key[key]["subjects"]),
                tuple(by_key[key]["grades"]),
            )
            for canvas_id, key in keys.items()
        ]
        self.flush(tx, "courses", rows)
        return infos

    def _remember_person(self, row: Row) -> None:
        person = self.people.setdefault(row["user_key"], _Person())
        person.roles[Role(row["role"])] += 1
        if row["school_key"] is not None:
            person.orgs[row["school_key"]] += 1

    def write_users(self, tx: Transaction) -> None:
        """One ``users`` row per person seen in an enrollment."""
        report = self.ctx.report.stream("users", where=self.config.api_root)
        report.mode = "full"
        rows = [person.row(self.ctx.source, key) for key, person in sorted(self.people.items())]
        report.read += len(rows)
        report.loaded += len(rows)
        if self.config.wants("users"):
            self.writer.mark("users")
        self.flush(tx, "users", rows)


@dataclass
class _Person:
    roles: Counter[Role] = field(default_factory=Counter)
    orgs: Counter[str] = field(default_factory=Counter)

    def row(self, source: str, user_key: str) -> Row:
        roles = [role for role in _ROLE_ORDER if role in self.roles]
        org_keys = sorted(self.orgs)
        primary_org = max(org_keys, key=lambda org: self.orgs[org]) if org_keys else None
        return _row(
            USERS,
            source=source,
            user_key=user_key,
            status="active",
            primary_role=roles[0].value if roles else None,
            roles=sorted(role.value for role in roles),
            primary_org_key=primary_org,
            org_keys=org_keys,
            grades=[],
        )


# --------------------------------------------------------------------------------------------
# Small helpers (the same shape in every REST connector)


def _spec(stream: str) -> StreamSpec:
    return next(spec for spec in STREAMS if spec.name == stream)


def _row(table: TableSpec, **values: Any) -> Row:
    """A row with every column of ``table``: the given values, ``None`` for the rest."""
    row: Row = {column: None for column in table.columns}
    row.update(values)
    return row


def _page_records(
    http: HttpClient,
    path: str,
    params: Mapping[str, Any] | None,
    *,
    items_key: str | None = None,
) -> Iterator[SourceRecord]:
    pages = http.pages(path, params, paginator=LinkHeaderPaginator())
    for page, response in enumerate(pages, start=1):
        body = response.json()
        items = body.get(items_key) if items_key and isinstance(body, dict) else body
        if not isinstance(items, list):
            raise BadResponse(
                url=response.url,
                status=response.status_code,
                page=page,
                detail=f"Expected a list of records{f' at {items_key!r}' if items_key else ''}, "
                f"got {type(items).__name__}",
                fix="Check the base URL: it should be the Canvas instance, e.g. "
                "https://district.instructure.com.",
            )
        where = redact_url(response.url)
        for index, item in enumerate(items, start=1):
            at = f"{where} (page {page}) record {index}"
            if isinstance(item, dict):
                yield SourceRecord(at, item)
            else:
                yield SourceRecord(at, {}, problem="is not a JSON object")


def _object(body: Any, url: str) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise BadResponse(url=url, detail=f"Expected a JSON object, got {type(body).__name__}")
    return body


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _quote(value: str) -> str:
    return quote(str(value), safe=":")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _id_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        return text or None
    return None


def _required_id(raw: Mapping[str, Any], field_name: str) -> str:
    value = _id_text(raw.get(field_name))
    if value is None:
        raise RowError(field_name, raw.get(field_name), "is required and missing")
    return value


def _canvas_ref(value: Any) -> str | None:
    text = _id_text(value)
    return f"canvas:{text}" if text else None


def _lookup(value: Any, keys: Mapping[str, str] | None) -> str | None:
    text = _id_text(value)
    if text is None:
        return None
    return (keys or {}).get(text, f"canvas:{text}")


def _term_key(raw: Mapping[str, Any], term_keys: Mapping[str, str] | None) -> str | None:
    term = _mapping(raw.get("term"))
    term_id = _id_text(raw.get("enrollment_term_id")) or _id_text(term.get("id"))
    if term_id is not None and term_keys and term_id in term_keys:
        return term_keys[term_id]
    return _text(term.get("sis_term_id")) or (f"canvas:{term_id}" if term_id else None)


def _when(raw: Mapping[str, Any], field_name: str) -> datetime | None:
    value = raw.get(field_name)
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise RowError(field_name, value, "not an ISO 8601 date-time") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _date(raw: Mapping[str, Any], field_name: str) -> date | None:
    moment = _when(raw, field_name)
    return moment.date() if moment else None
