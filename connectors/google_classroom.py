"""Google Classroom API v1 rosters into the store.

Calls, all followed through ``nextPageToken`` -> ``pageToken``:

- ``GET /v1/courses?courseStates=...`` -> ``courses`` and ``classes`` (a Classroom course is
  both: a catalogue entry with a subject and grade, and the class people are in)
- ``GET /v1/courses/{courseId}/teachers`` and ``/students`` -> ``enrollments``, and ``users``
  (one row per person seen: role, never a name or an e-mail address)

People are keyed by their Google ``userId`` in the ``google`` namespace. Classroom courses have
no subject or grade field a district can rely on, so the free text (``subject``, ``levels``,
``name``, ``section``, ``descriptionHeading``) is read by :mod:`edtech_map.subject_mapping`,
with the confidence kept in ``extensions``.

Every stream is a full refresh, written in one transaction with the sync state: a pull that
fails part-way leaves the store as it was. Retries and ``Retry-After`` are the shared HTTP
layer's; a repeated ``pageToken`` stops the pull (:class:`connectors.http.PaginationLoopError`).

Examples
--------
>>> config = Config(token="ya29.example")
>>> config.base_url, config.course_states, config.token
('https://classroom.googleapis.com', ('ACTIVE',), SecretStr('**********'))
>>> [spec.name for spec in STREAMS]
['courses', 'classes', 'enrollments', 'users']
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Literal
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
    PageTokenPaginator,
    RetryPolicy,
    redact_url,
)
from edtech_map.model import Role
from edtech_map.store import CLASSES, COURSES, ENROLLMENTS, USERS, TableSpec
from edtech_map.subject_mapping import map_course

if TYPE_CHECKING:
    from edtech_map.model.ecosystem import SourceConfig
    from edtech_map.store import Transaction

__all__ = [
    "COURSE_STATES",
    "SOURCE",
    "STREAMS",
    "Config",
    "get_courses",
    "get_students",
    "get_teachers",
    "load_config",
    "sync",
    "transform_class",
    "transform_course",
    "transform_enrollment",
]

log = logging.getLogger(__name__)

SOURCE = "google_classroom"
#: Key namespace of Google user ids.
USER_NAMESPACE = "google"
DEFAULT_BASE_URL = "https://classroom.googleapis.com"
#: Classroom ``courseState`` -> store ``status``; ``DECLINED`` and ``SUSPENDED`` are skipped.
COURSE_STATES = {"ACTIVE": "active", "ARCHIVED": "inactive", "PROVISIONED": "inactive"}
_LEFT_OUT = frozenset({"DECLINED", "SUSPENDED", "COURSE_STATE_UNSPECIFIED"})
CourseState = Literal["ACTIVE", "ARCHIVED", "PROVISIONED", "DECLINED", "SUSPENDED"]
GUARDED_STREAMS = frozenset({"users", "enrollments"})
_ROLE_ORDER = (Role.TEACHER, Role.STUDENT)

STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("courses", COURSES, "Courses, with a subject and grade read from their text."),
    StreamSpec("classes", CLASSES, "The same courses as the classes people are in."),
    StreamSpec("enrollments", ENROLLMENTS, "Teachers and students in courses, by key."),
    StreamSpec("users", USERS, "People seen in courses: key and roles."),
)
_STREAM_NAMES = tuple(spec.name for spec in STREAMS)


class Config(BaseModel):
    """Settings of one Google Classroom source (``SyncContext.options``, or :meth:`from_source`).

    ``token`` is an OAuth 2 access token with the read-only Classroom scopes (from a service
    account with domain-wide delegation, impersonating an admin); it comes from the
    environment variable named in ``sources:``.

    Examples
    --------
    >>> Config(token="t", course_states=["ACTIVE", "ARCHIVED"]).course_states
    ('ACTIVE', 'ARCHIVED')
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    base_url: str = Field(DEFAULT_BASE_URL, description="API root (without /v1).")
    token: SecretStr = Field(description="OAuth 2 access token (from the environment).")
    course_states: tuple[CourseState, ...] = Field(
        ("ACTIVE",), description="courseStates to list (ACTIVE, ARCHIVED, PROVISIONED...)."
    )
    org_key: str | None = Field(None, description="Org (school or district) the courses are in.")
    streams: tuple[str, ...] = Field((), description="Streams to write; none = all.")
    page_size: int = Field(100, ge=1, le=1000, description="pageSize sent with every list call.")
    timeout: tuple[float, float] = Field((10.0, 60.0), description="(connect, read) seconds.")
    max_retries: int = Field(5, ge=0, description="Retries of one request (429, 5xx).")
    backoff_factor: float = Field(1.0, ge=0, description="Exponential back-off factor.")
    max_retry_time: float = Field(300.0, gt=0, description="Cap on retrying one request (s).")
    batch_size: int = Field(5000, ge=1, description="Rows per Arrow batch written to the store.")

    @field_validator("base_url")
    @classmethod
    def _strip_version(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        return value[: -len("/v1")] if value.endswith("/v1") else value

    @field_validator("streams")
    @classmethod
    def _known_streams(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in _STREAM_NAMES:
                raise ValueError(f"unknown stream {name!r}; use some of {', '.join(_STREAM_NAMES)}")
        return value

    def wants(self, stream: str) -> bool:
        """Whether ``stream`` is written by this pull.

        Examples
        --------
        >>> Config(token="t", streams=["courses"]).wants("users")
        False
        """
        return not self.streams or stream in self.streams

    def client(self) -> HttpClient:
        """The HTTP client: bearer token, retries, timeouts.

        Examples
        --------
        >>> with Config(token="t").client() as http:
        ...     http.url_for("/v1/courses")
        'https://classroom.googleapis.com/v1/courses'
        """
        return HttpClient(
            self.base_url,
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
        >>> source = SourceConfig(kind="google_classroom", secrets={"token": "GC_TOKEN"})
        >>> Config.from_source(source, {"GC_TOKEN": "ya29.x"}).base_url
        'https://classroom.googleapis.com'
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

    Raises
    ------
    SourceError
        A setting is missing or invalid, or the named environment variable is not set; the
        message names the field or variable, never a secret's value.

    Examples
    --------
    >>> load_config({"secrets": {"token": "GC_TOKEN"}}, {"GC_TOKEN": "ya29.x"}).page_size
    100
    >>> load_config({"token": "ya29.x", "course_states": ["OPEN"]})
    Traceback (most recent call last):
    ...
    connectors.base.SourceError: google_classroom: invalid settings (course_states.0: Input should be 'ACTIVE', 'ARCHIVED', 'PROVISIONED', 'DECLINED' or 'SUSPENDED'); see docs/connectors/google-classroom.md
    """
    config: Config = load_source_config(
        Config, options, environ, secret_names=("token",), source=SOURCE
    )
    return config


# --------------------------------------------------------------------------------------------
# Reading: raw records, page by page. No retries or reshaping here (the HTTP layer owns those).


def get_courses(http: HttpClient, config: Config) -> Iterator[SourceRecord]:
    """Courses in the configured states (``{"courses": [...], "nextPageToken": ...}``).

    Examples
    --------
    >>> config = Config(token="t")
    >>> with config.client() as http:
    ...     type(get_courses(http, config)).__name__  # nothing is fetched until iterated
    'generator'
    """
    query = urlencode(
        [
            *(("courseStates", state) for state in config.course_states),
            ("pageSize", config.page_size),
        ]
    )
    yield from _page_records(http, f"/v1/courses?{query}", "courses")


def get_teachers(http: HttpClient, config: Config, course_id: str) -> Iterator[SourceRecord]:
    """Teachers of one course (``{"teachers": [...]}``).

    Examples
    --------
    >>> config = Config(token="t")
    >>> with config.client() as http:
    ...     type(get_teachers(http, config, "5151")).__name__  # nothing is fetched until iterated
    'generator'
    """
    path = f"/v1/courses/{quote(course_id, safe='')}/teachers"
    yield from _page_records(http, f"{path}?pageSize={config.page_size}", "teachers")


def get_students(http: HttpClient, config: Config, course_id: str) -> Iterator[SourceRecord]:
    """Students of one course (``{"students": [...]}``).

    Examples
    --------
    >>> config = Config(token="t")
    >>> with config.client() as http:
    ...     type(get_students(http, config, "5151")).__name__  # nothing is fetched until iterated
    'generator'
    """
    path = f"/v1/courses/{quote(course_id, safe='')}/students"
    yield from _page_records(http, f"{path}?pageSize={config.page_size}", "students")


# --------------------------------------------------------------------------------------------
# Transforms: one raw record to one store row. Pure; people become keys here.


def course_key(course_id: str) -> str:
    """The store key of a Classroom course (also its class key).

    Examples
    --------
    >>> course_key("123456")
    'google:123456'
    """
    return f"google:{course_id}"


def transform_course(
    raw: Mapping[str, Any], ctx: SyncContext, *, org_key: str | None = None
) -> Row:
    """A Classroom course as a ``courses`` row, with a subject and grade read from its text.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="classroom")
    >>> row = transform_course({"id": "5151", "name": "Biology", "section": "Period 2",
    ...     "descriptionHeading": "Welcome to 10th Grade Biology", "courseState": "ACTIVE"}, ctx)
    >>> row["course_key"], row["subjects"], row["grades"], row["status"]
    ('google:5151', ['science'], ['10'], 'active')
    >>> json.loads(row["extensions"])["subject_mapping"]["confidence"]
    'high'
    """
    state = str(raw.get("courseState") or "COURSE_STATE_UNSPECIFIED")
    if state in _LEFT_OUT:
        raise SkipRow(f"a {state} course")
    if state not in COURSE_STATES:
        raise RowError("courseState", raw.get("courseState"), "not a Classroom course state")
    name = _text(raw.get("name"))
    mapping = map_course(
        _text(raw.get("subject")),
        _text(raw.get("levels")),
        name,
        _text(raw.get("section")),
        _text(raw.get("descriptionHeading")),
    )
    return _row(
        COURSES,
        source=ctx.source,
        course_key=course_key(_required(raw, "id")),
        status=COURSE_STATES[state],
        date_last_modified=_when(raw, "updateTime"),
        title=name,
        org_key=org_key,
        grades=[grade.value for grade in mapping.grades],
        subjects=[subject.value for subject in mapping.subjects],
        subject_codes=[],
        extensions=json.dumps({"subject_mapping": mapping.as_dict()}) if mapping.found else None,
    )


def transform_class(course: Row) -> Row:
    """The ``classes`` row of a course row: same key, the course's subjects and grades.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="classroom")
    >>> course = transform_course({"id": "1", "name": "Math 7", "courseState": "ACTIVE",
    ...                            "section": "Period 1", "room": "301"}, ctx)
    >>> row = transform_class(course)
    >>> row["class_key"], row["course_key"], row["grades"]
    ('google:1', 'google:1', ['07'])
    """
    return _row(
        CLASSES,
        source=course["source"],
        class_key=course["course_key"],
        status=course["status"],
        date_last_modified=course["date_last_modified"],
        title=course["title"],
        class_type="scheduled",
        course_key=course["course_key"],
        school_key=course["org_key"],
        term_keys=[],
        grades=course["grades"],
        subjects=course["subjects"],
        subject_codes=[],
        periods=[],
    )


def transform_enrollment(
    raw: Mapping[str, Any],
    ctx: SyncContext,
    *,
    role: Role,
    course_id: str,
    org_key: str | None = None,
) -> Row:
    """A Classroom teacher or student record as an ``enrollments`` row; the person is a key.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="classroom")
    >>> row = transform_enrollment({"courseId": "5151", "userId": "10987",
    ...     "profile": {"name": {"fullName": "Ada Lovelace"}}}, ctx, role=Role.STUDENT,
    ...     course_id="5151")
    >>> row["class_key"], row["role"], row["user_key"] == ctx.keys.user("10987", namespace="google")
    ('google:5151', 'student', True)
    >>> "Ada" in str(row) or "10987" in str(row)
    False
    """
    profile = raw.get("profile") if isinstance(raw.get("profile"), Mapping) else None
    user_id = _text(raw.get("userId")) or _text(profile.get("id") if profile else None)
    if user_id is None:
        raise RowError("userId", None, "is required and missing", personal=True)
    user_key = ctx.keys.user(user_id, namespace=USER_NAMESPACE)
    return _row(
        ENROLLMENTS,
        source=ctx.source,
        enrollment_key=ctx.keys.user(
            f"{course_id}\x1f{role.value}\x1f{user_id}", namespace=f"{ctx.source}:enrollment"
        ),
        status="active",
        user_key=user_key,
        class_key=course_key(course_id),
        school_key=org_key,
        role=role.value,
    )


# --------------------------------------------------------------------------------------------
# Sync


def sync(ctx: SyncContext) -> SyncReport:
    """Pull Google Classroom into the store, every stream in one transaction.

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
    >>> options = {"base_url": "http://127.0.0.1:9", "token": "ya29.x", "max_retries": 0}
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     try:
    ...         sync(SyncContext(store=store, source="classroom", options=options))
    ...     except ConnectionFailed as error:
    ...         print(type(error).__name__, store.counts())
    ConnectionFailed []
    """
    config = load_config(ctx.options)
    report = ctx.report
    log.info("pulling Google Classroom %s as source %r", redact_url(config.base_url), ctx.source)
    if ctx.keep_identities:
        report.warn(
            "Google Classroom: names and e-mail addresses are never read, so keep_identities has no effect"
        )
    load = _Load(ctx, config)
    with config.client() as http, ctx.store.transaction() as tx:
        before = {name: tx.count(_spec(name).table, source=ctx.source) for name in GUARDED_STREAMS}
        courses: list[Row] = []
        course_ids = load.collect(
            "courses",
            get_courses(http, config),
            partial(transform_course, org_key=config.org_key),
            courses,
        )
        classes = [transform_class(row) for row in courses]
        report.stream("classes", where=config.base_url).read += len(classes)
        report.stream("classes").loaded += len(classes)
        load.mark("classes")
        load.flush(tx, "courses", courses)
        load.flush(tx, "classes", classes)
        enrollments: list[Row] = []
        for course_id in course_ids:
            for role, getter in ((Role.TEACHER, get_teachers), (Role.STUDENT, get_students)):
                load.collect(
                    "enrollments",
                    getter(http, config, course_id),
                    partial(
                        transform_enrollment, role=role, course_id=course_id, org_key=config.org_key
                    ),
                    enrollments,
                )
            if len(enrollments) >= config.batch_size:
                load.flush(tx, "enrollments", enrollments)
        load.flush(tx, "enrollments", enrollments)
        load.write_users(tx, config.org_key)
        load.writer.finish(tx, before)
    report.finished = datetime.now(UTC)
    log.info(
        "pulled Google Classroom: read %d, loaded %d, skipped %d, rejected %d",
        report.read,
        report.loaded,
        report.skipped,
        report.rejected,
    )
    return report


@dataclass
class _Load:
    """The state of one sync: streams written, people seen, keys already written."""

    ctx: SyncContext
    config: Config
    people: dict[str, Counter[Role]] = field(default_factory=dict)
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

    def mark(self, stream: str) -> None:
        self.ctx.report.stream(stream, where=self.config.base_url).mode = "full"
        if self.config.wants(stream):
            self.writer.mark(stream)

    def collect(
        self,
        stream: str,
        records: Iterable[SourceRecord],
        transform: Callable[..., Row],
        into: list[Row],
    ) -> list[str]:
        """Transform records into ``into``; return the source ids of the rows kept."""
        self.mark(stream)
        ids: list[str | None] = []

        def remembered(values: Iterable[SourceRecord]) -> Iterator[SourceRecord]:
            for record in values:
                ids.append(_text(record.values.get("id")))
                if record.where.endswith(" record 1"):  # the first record of a page
                    self.tick_page(stream)
                yield record

        kept: list[str] = []
        for row in transform_each(remembered(records), transform, self.ctx, stream=stream):
            if ids[-1] is not None:
                kept.append(ids[-1])
            if stream == "enrollments":
                self.people.setdefault(row["user_key"], Counter())[Role(row["role"])] += 1
            into.append(row)
        return kept

    def flush(self, tx: Transaction, stream: str, rows: list[Row]) -> None:
        """Write ``rows`` (if this pull writes ``stream``), each key once; empty the list."""
        self.writer.flush(tx, stream, rows, write=self.config.wants(stream))

    def write_users(self, tx: Transaction, org_key: str | None) -> None:
        """One ``users`` row per person seen in a course."""
        self.mark("users")
        rows = []
        for user_key, roles in sorted(self.people.items()):
            ordered = [role for role in _ROLE_ORDER if role in roles]
            rows.append(
                _row(
                    USERS,
                    source=self.ctx.source,
                    user_key=user_key,
                    status="active",
                    primary_role=ordered[0].value,
                    roles=sorted(role.value for role in ordered),
                    primary_org_key=org_key,
                    org_keys=[org_key] if org_key else [],
                    grades=[],
                )
            )
        report = self.ctx.report.stream("users")
        report.read += len(rows)
        report.loaded += len(rows)
        self.flush(tx, "users", rows)


# --------------------------------------------------------------------------------------------
# Small helpers (the same shape in every REST connector)


def _spec(stream: str) -> StreamSpec:
    return next(spec for spec in STREAMS if spec.name == stream)


def _row(table: TableSpec, **values: Any) -> Row:
    row: Row = {column: None for column in table.columns}
    row.update(values)
    return row


def _page_records(http: HttpClient, path: str, items_key: str) -> Iterator[SourceRecord]:
    pages = http.pages(path, None, paginator=PageTokenPaginator())
    for page, response in enumerate(pages, start=1):
        body = response.json()
        if not isinstance(body, dict):
            raise BadResponse(
                url=response.url,
                status=response.status_code,
                page=page,
                detail=f"Expected a JSON object with {items_key!r}, got {type(body).__name__}",
            )
        items = body.get(items_key, [])  # Google leaves the list out when it is empty
        if not isinstance(items, list):
            raise BadResponse(
                url=response.url,
                status=response.status_code,
                page=page,
                detail=f"Expected a list at {items_key!r}, got {type(items).__name__}",
            )
        where = redact_url(response.url)
        for index, item in enumerate(items, start=1):
            at = f"{where} (page {page}) record {index}"
            if isinstance(item, dict):
                yield SourceRecord(at, item)
            else:
                yield SourceRecord(at, {}, problem="is not a JSON object")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


def _required(raw: Mapping[str, Any], name: str) -> str:
    value = _text(raw.get(name))
    if value is None:
        raise RowError(name, raw.get(name), "is required and missing")
    return value


def _when(raw: Mapping[str, Any], name: str) -> datetime | None:
    value = raw.get(name)
    if value in (None, ""):
        return None
    text = str(value).replace("Z", "+00:00")
    if "." in text:  # Google sends nanoseconds; Python reads up to microseconds
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        text = f"{head}.{digits[:6]}{tail[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RowError(name, value, "not an RFC 3339 time") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
