"""Schoology REST API v1 rosters into the store (two-legged OAuth 1.0a, PLAINTEXT).

Calls, all with ``start=0&limit=200`` (Schoology's maximum) and followed through the body's
``links.next``:

- ``GET /v1/roles`` (to read each user's ``role_id``)
- ``GET /v1/users`` -> ``users`` (role and building, never a name, e-mail or username)
- ``GET /v1/courses`` -> ``courses``
- ``GET /v1/courses/{id}/sections`` -> ``classes``
- ``GET /v1/sections/{id}/enrollments`` -> ``enrollments``

People are keyed by ``school_uid`` (the district's SIS id) in the ``district`` namespace when
they have one, otherwise by their Schoology ``uid`` in the ``schoology`` namespace. Courses and
sections are keyed ``schoology:<id>``; their codes are kept in ``course_code``/``class_code``.
A course's ``subject_area`` and ``grade_level_range_start``/``_end`` are used when set
(confidence ``high``); otherwise its title, department and code are read by
:mod:`edtech_map.subject_mapping`.

Every stream is a full refresh, written in one transaction with the sync state: a pull that
fails part-way leaves the store as it was.

Examples
--------
>>> config = Config(consumer_key="ck", consumer_secret="cs-1234")
>>> config.base_url, config.limit, config.consumer_secret
('https://api.schoology.com', 200, SecretStr('**********'))
>>> [spec.name for spec in STREAMS]
['users', 'courses', 'classes', 'enrollments']
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

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
    BodyLinkPaginator,
    HttpClient,
    OAuth1Auth,
    RetryPolicy,
    redact_url,
)
from edtech_map.model import GradeLevel, Role, Subject
from edtech_map.store import CLASSES, COURSES, ENROLLMENTS, USERS, TableSpec
from edtech_map.subject_mapping import Confidence, CourseMapping, map_course

if TYPE_CHECKING:
    from edtech_map.model.ecosystem import SourceConfig
    from edtech_map.store import Transaction

__all__ = [
    "GRADE_LEVELS",
    "SOURCE",
    "STREAMS",
    "SUBJECT_AREAS",
    "Config",
    "get_courses",
    "get_enrollments",
    "get_roles",
    "get_sections",
    "get_users",
    "load_config",
    "role_of",
    "sync",
    "transform_class",
    "transform_course",
    "transform_enrollment",
    "transform_user",
]

log = logging.getLogger(__name__)

SOURCE = "schoology"
#: Key namespace of people known only by their Schoology ``uid``.
USER_NAMESPACE = "schoology"
DEFAULT_BASE_URL = "https://api.schoology.com"
MAX_LIMIT = 200
#: Schoology ``grade_level_range_*`` values (1 = Pre-K ... 14 = grade 12; 0 none, 15 higher-ed).
GRADE_LEVELS: dict[int, GradeLevel] = {
    1: GradeLevel.PK,
    2: GradeLevel.KG,
    **{n + 2: GradeLevel(f"{n:02d}") for n in range(1, 13)},
}
#: Schoology ``subject_area`` values (0 other, 4 professional development, 7 special education:
#: no subject).
SUBJECT_AREAS: dict[int, tuple[Subject, ...]] = {
    1: (Subject.HEALTH, Subject.PHYSICAL_EDUCATION),
    2: (Subject.ELA,),
    3: (Subject.MATH,),
    5: (Subject.SCIENCE,),
    6: (Subject.SOCIAL_STUDIES,),
    8: (Subject.COMPUTER_SCIENCE,),
    9: (Subject.ARTS,),
}
#: Enrollment ``status``: 1 active, 2 expired, 5 archived; 3 and 4 (invite or request
#: pending) are not members yet and are skipped.
ENROLLMENT_STATUS = {"1": "active", "2": "inactive", "5": "inactive"}
GUARDED_STREAMS = frozenset({"users", "enrollments"})
_ROLE_ORDER = (Role.ADMINISTRATOR, Role.TEACHER, Role.AIDE, Role.STUDENT, Role.PARENT)

STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("users", USERS, "People, by key: role and building."),
    StreamSpec("courses", COURSES, "Courses, with subject area and grade range."),
    StreamSpec("classes", CLASSES, "Course sections."),
    StreamSpec("enrollments", ENROLLMENTS, "Members of sections: teacher (admin) or student."),
)
_STREAM_NAMES = tuple(spec.name for spec in STREAMS)


class Config(BaseModel):
    """Settings of one Schoology source (``SyncContext.options``, or :meth:`from_source`).

    ``consumer_key`` and ``consumer_secret`` are a **system-level** API key pair of a
    Schoology system administrator; both come from environment variables named in
    ``sources:``.

    Examples
    --------
    >>> Config(consumer_key="ck", consumer_secret="cs", limit=500)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Config
    limit
      Input should be less than or equal to 200 ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    base_url: str = Field(DEFAULT_BASE_URL, description="API root (without /v1).")
    consumer_key: str = Field(min_length=1, description="OAuth consumer key.")
    consumer_secret: SecretStr = Field(description="OAuth consumer secret (from the environment).")
    streams: tuple[str, ...] = Field((), description="Streams to write; none = all.")
    limit: int = Field(MAX_LIMIT, ge=1, le=MAX_LIMIT, description="Records per page (max 200).")
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
        >>> Config(consumer_key="ck", consumer_secret="cs", streams=["courses"]).wants("users")
        False
        """
        return not self.streams or stream in self.streams

    def client(self) -> HttpClient:
        """The HTTP client: two-legged OAuth 1.0a PLAINTEXT signing, retries, timeouts.

        Examples
        --------
        >>> with Config(consumer_key="ck", consumer_secret="cs").client() as http:
        ...     http.url_for("/v1/users"), http.auth.signature_method
        ('https://api.schoology.com/v1/users', 'PLAINTEXT')
        """
        return HttpClient(
            self.base_url,
            auth=OAuth1Auth(
                self.consumer_key,
                self.consumer_secret,
                signature_method="PLAINTEXT",
                realm="Schoology API",
            ),
            timeout=self.timeout,
            retry=RetryPolicy(
                total=self.max_retries,
                backoff_factor=self.backoff_factor,
                max_retry_time=self.max_retry_time,
            ),
        )

    @classmethod
    def from_source(cls, source: SourceConfig, environ: Mapping[str, str] | None = None) -> Config:
        """The config of an inventory ``sources:`` entry; the key pair comes from the environment.

        Examples
        --------
        >>> from edtech_map.model.ecosystem import SourceConfig
        >>> source = SourceConfig(kind="schoology", secrets={"consumer_key": "SGY_KEY",
        ...                                                  "consumer_secret": "SGY_SECRET"})
        >>> Config.from_source(source, {"SGY_KEY": "ck", "SGY_SECRET": "cs"}).consumer_key
        'ck'
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
        A setting is missing or invalid, or a named environment variable is not set; the
        message names the field or variable, never a secret's value.

    Examples
    --------
    >>> load_config({"secrets": {"consumer_key": "K", "consumer_secret": "S"}}, {"K": "ck"})
    Traceback (most recent call last):
    ...
    connectors.base.SourceError: schoology: the environment variable S (secret 'consumer_secret') is not set; export it before pulling
    """
    config: Config = load_source_config(
        Config, options, environ, secret_names=("consumer_secret",), source=SOURCE
    )
    return config


# --------------------------------------------------------------------------------------------
# Reading: raw records, page by page. No retries or reshaping here (the HTTP layer owns those).


def get_roles(http: HttpClient, config: Config) -> Iterator[SourceRecord]:
    """The school's roles (``{"role": [...]}``), to read users' ``role_id``.

    Examples
    --------
    >>> config = Config(consumer_key="ck", consumer_secret="cs")
    >>> with config.client() as http:
    ...     type(get_roles(http, config)).__name__  # nothing is fetched until iterated
    'generator'
    """
    yield from _page_records(http, "/v1/roles", "role", config)


def get_users(http: HttpClient, config: Config) -> Iterator[SourceRecord]:
    """Active users (``{"user": [...], "total": ..., "links": {"next": ...}}``).

    Examples
    --------
    >>> config = Config(consumer_key="ck", consumer_secret="cs")
    >>> with config.client() as http:
    ...     type(get_users(http, config)).__name__  # nothing is fetched until iterated
    'generator'
    """
    yield from _page_records(http, "/v1/users", "user", config)


def get_courses(http: HttpClient, config: Config) -> Iterator[SourceRecord]:
    """Courses (``{"course": [...]}``).

    Examples
    --------
    >>> config = Config(consumer_key="ck", consumer_secret="cs")
    >>> with config.client() as http:
    ...     type(get_courses(http, config)).__name__  # nothing is fetched until iterated
    'generator'
    """
    yield from _page_records(http, "/v1/courses", "course", config)


def get_sections(http: HttpClient, config: Config, course_id: str) -> Iterator[SourceRecord]:
    """Sections of one course (``{"section": [...]}``).

    Examples
    --------
    >>> config = Config(consumer_key="ck", consumer_secret="cs")
    >>> with config.client() as http:
    ...     type(get_sections(http, config, "1001")).__name__  # nothing is fetched until iterated
    'generator'
    """
    path = f"/v1/courses/{quote(course_id, safe='')}/sections"
    yield from _page_records(http, path, "section", config)


def get_enrollments(http: HttpClient, config: Config, section_id: str) -> Iterator[SourceRecord]:
    """Members of one section (``{"enrollment": [...]}``).

    Examples
    --------
    >>> config = Config(consumer_key="ck", consumer_secret="cs")
    >>> with config.client() as http:
    ...     type(get_enrollments(http, config, "2001")).__name__  # nothing is fetched until iterated
    'generator'
    """
    path = f"/v1/sections/{quote(section_id, safe='')}/enrollments"
    yield from _page_records(http, path, "enrollment", config)


# --------------------------------------------------------------------------------------------
# Transforms: one raw record to one store row. Pure; people become keys here.


def role_of(role: Mapping[str, Any]) -> Role:
    """The OneRoster role of a Schoology role, read from its title (and ``faculty`` flag).

    Examples
    --------
    >>> role_of({"id": "1", "title": "Student", "faculty": "0"}), role_of({"title": "Parent"})
    (<Role.STUDENT: 'student'>, <Role.PARENT: 'parent'>)
    >>> role_of({"title": "School Admin"}), role_of({"title": "Coach", "faculty": 1})
    (<Role.ADMINISTRATOR: 'administrator'>, <Role.TEACHER: 'teacher'>)
    """
    title = str(role.get("title") or "").lower()
    for words, found in (
        (("student", "learner"), Role.STUDENT),
        (("parent", "guardian"), Role.PARENT),
        (("admin",), Role.ADMINISTRATOR),
        (("aide", "para"), Role.AIDE),
        (("teacher", "instructor", "faculty"), Role.TEACHER),
    ):
        if any(word in title for word in words):
            return found
    if str(role.get("faculty")) == "1":
        return Role.TEACHER
    return Role.UNKNOWN


def user_key(raw: Mapping[str, Any], ctx: SyncContext, *, uid_field: str = "uid") -> str:
    """The pseudonymous key of a person: ``school_uid`` (SIS id) first, else the Schoology uid.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> keys = KeyMaker(b"k" * 32)
    >>> ctx = SyncContext(store=SimpleNamespace(keys=keys), source="schoology")
    >>> user_key({"uid": 48289, "school_uid": "S-1"}, ctx) == keys.user("S-1")
    True
    >>> user_key({"uid": "48289", "school_uid": ""}, ctx) == keys.user("48289", namespace="schoology")
    True
    """
    sis = _text(raw.get("school_uid"))
    if sis is not None:
        return ctx.keys.user(sis)
    uid = _text(raw.get(uid_field))
    if uid is None:
        raise RowError(uid_field, None, "is required and missing", personal=True)
    return ctx.keys.user(uid, namespace=USER_NAMESPACE)


def transform_user(
    raw: Mapping[str, Any], ctx: SyncContext, *, roles: Mapping[str, Role] | None = None
) -> Row:
    """A Schoology user as a ``users`` row: key, role and building; no name, e-mail, username.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="schoology")
    >>> row = transform_user({"uid": "48289", "school_uid": "S-1", "role_id": "7",
    ...     "building_id": "344232", "name_first": "James", "primary_email": "j@x.org"},
    ...     ctx, roles={"7": Role.STUDENT})
    >>> row["primary_role"], row["primary_org_key"], "James" in str(row) or "j@x" in str(row)
    ('student', 'schoology:344232', False)
    """
    role_id = _text(raw.get("role_id"))
    role = (roles or {}).get(role_id or "", Role.UNKNOWN)
    building = _text(raw.get("building_id")) or _text(raw.get("school_id"))
    org = f"schoology:{building}" if building else None
    return _row(
        USERS,
        source=ctx.source,
        user_key=user_key(raw, ctx),
        status="active",
        enabled=True,
        primary_role=role.value,
        roles=[role.value],
        primary_org_key=org,
        org_keys=[org] if org else [],
        grades=[],
    )


def course_mapping(raw: Mapping[str, Any]) -> CourseMapping:
    """Subject and grade of a course: Schoology's own fields first, else its text.

    Examples
    --------
    >>> course_mapping({"subject_area": "3", "grade_level_range_start": "9",
    ...                 "grade_level_range_end": "10", "title": "Algebra I"}).as_dict()
    {'subjects': ['math'], 'grades': ['07', '08'], 'confidence': 'high', \
'subject_confidence': 'high', 'grade_confidence': 'high', 'rules': ['subject_area', \
'grade_level_range']}
    >>> course_mapping({"subject_area": "0", "title": "Chemistry"}).rules
    ('chemistry',)
    """
    text = map_course(
        _text(raw.get("title")) or _text(raw.get("course_title")),
        _text(raw.get("department")),
        _text(raw.get("course_code")),
    )
    subjects = SUBJECT_AREAS.get(_int(raw.get("subject_area")) or 0, ())
    start = _int(raw.get("grade_level_range_start")) or 0
    end = _int(raw.get("grade_level_range_end")) or start
    grades = tuple(GRADE_LEVELS[n] for n in range(start, max(start, end) + 1) if n in GRADE_LEVELS)
    rules = (("subject_area",) if subjects else ()) + (("grade_level_range",) if grades else ())
    if not rules:
        return text
    high = Confidence.HIGH
    return CourseMapping(
        subjects=subjects or text.subjects,
        grades=grades or text.grades,
        subject_confidence=high if subjects else text.subject_confidence,
        grade_confidence=high if grades else text.grade_confidence,
        rules=rules + tuple(r for r in text.rules if not (subjects and grades)),
    )


def transform_course(raw: Mapping[str, Any], ctx: SyncContext) -> Row:
    """A Schoology course as a ``courses`` row, with its subject and grades.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="schoology")
    >>> row = transform_course({"id": "1001", "title": "7th Grade Science",
    ...     "course_code": "SCI7", "building_id": "344232"}, ctx)
    >>> row["course_key"], row["course_code"], row["subjects"], row["grades"], row["org_key"]
    ('schoology:1001', 'SCI7', ['science'], ['07'], 'schoology:344232')
    """
    mapping = course_mapping(raw)
    building = _text(raw.get("building_id"))
    return _row(
        COURSES,
        source=ctx.source,
        course_key=f"schoology:{_required(raw, 'id')}",
        status="active",
        title=_text(raw.get("title")),
        course_code=_text(raw.get("course_code")),
        org_key=f"schoology:{building}" if building else None,
        grades=[grade.value for grade in mapping.grades],
        subjects=[subject.value for subject in mapping.subjects],
        subject_codes=[str(raw["subject_area"])] if _int(raw.get("subject_area")) else [],
        extensions=json.dumps({"subject_mapping": mapping.as_dict()}) if mapping.found else None,
    )


def transform_class(raw: Mapping[str, Any], ctx: SyncContext, *, course: Row | None = None) -> Row:
    """A Schoology section as a ``classes`` row, linked to its course.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="schoology")
    >>> row = transform_class({"id": "2001", "course_id": "1001", "section_title": "Period 3",
    ...     "section_school_code": "SCI7-3", "active": "1", "location": "Room 12"}, ctx)
    >>> row["class_key"], row["course_key"], row["class_code"], row["status"]
    ('schoology:2001', 'schoology:1001', 'SCI7-3', 'active')
    """
    course_id = _text(raw.get("course_id"))
    active = _text(raw.get("active"))
    return _row(
        CLASSES,
        source=ctx.source,
        class_key=f"schoology:{_required(raw, 'id')}",
        status="inactive" if active == "0" else "active",
        title=_text(raw.get("section_title")) or _text(raw.get("title")),
        class_code=_text(raw.get("section_school_code")) or _text(raw.get("section_code")),
        class_type="scheduled",
        location=_text(raw.get("location")),
        course_key=course["course_key"]
        if course
        else (f"schoology:{course_id}" if course_id else None),
        school_key=course["org_key"] if course else None,
        term_keys=[],
        grades=list(course["grades"]) if course else [],
        subjects=list(course["subjects"]) if course else [],
        subject_codes=[],
        periods=[],
    )


def transform_enrollment(
    raw: Mapping[str, Any],
    ctx: SyncContext,
    *,
    section_id: str,
    school_key: str | None = None,
    uid_keys: Mapping[str, str] | None = None,
) -> Row:
    """A section member as an ``enrollments`` row: ``admin`` 1 is a teacher, 0 a student.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="schoology")
    >>> row = transform_enrollment({"id": "44783136", "uid": "48289", "school_uid": "s1",
    ...     "name_first": "James", "admin": 0, "status": 1}, ctx, section_id="2001")
    >>> row["class_key"], row["role"], row["status"], row["user_key"] == ctx.keys.user("s1")
    ('schoology:2001', 'student', 'active', True)
    """
    status = ENROLLMENT_STATUS.get(_text(raw.get("status")) or "1")
    if status is None:
        raise SkipRow("an invitation or request still pending (status 3 or 4)")
    uid = _text(raw.get("uid"))
    if _text(raw.get("school_uid")) is None and uid is not None and uid_keys and uid in uid_keys:
        key = uid_keys[uid]
    else:
        key = user_key(raw, ctx)
    admin = _text(raw.get("admin"))
    if admin not in {"0", "1", None}:
        raise RowError("admin", raw.get("admin"), "not 0 or 1")
    return _row(
        ENROLLMENTS,
        source=ctx.source,
        enrollment_key=ctx.keys.user(
            f"{section_id}\x1f{_required(raw, 'id')}", namespace=f"{ctx.source}:enrollment"
        ),
        status=status,
        user_key=key,
        class_key=f"schoology:{section_id}",
        school_key=school_key,
        role=(Role.TEACHER if admin == "1" else Role.STUDENT).value,
    )


# --------------------------------------------------------------------------------------------
# Sync


def sync(ctx: SyncContext) -> SyncReport:
    """Pull one Schoology school or district into the store, every stream in one transaction.

    ``ctx.options`` holds the :class:`Config` fields (or ``secrets`` naming the environment
    variables of the key pair). On any error the store is left exactly as it was.

    Raises
    ------
    SourceError
        The settings are invalid or an environment variable is not set.
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
    >>> options = {"base_url": "http://127.0.0.1:9", "consumer_key": "ck",
    ...            "consumer_secret": "cs", "max_retries": 0}
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     try:
    ...         sync(SyncContext(store=store, source="schoology", options=options))
    ...     except ConnectionFailed as error:
    ...         print(type(error).__name__, store.counts())
    ConnectionFailed []
    """
    config = load_config(ctx.options)
    report = ctx.report
    log.info("pulling Schoology %s as source %r", redact_url(config.base_url), ctx.source)
    if ctx.keep_identities:
        report.warn(
            "Schoology: names and e-mail addresses are never read, so keep_identities has no effect"
        )
    load = _Load(ctx, config)
    with config.client() as http, ctx.store.transaction() as tx:
        before = {name: tx.count(_spec(name).table, source=ctx.source) for name in GUARDED_STREAMS}
        roles = {
            rid: role_of(record.values)
            for record in get_roles(http, config)
            if (rid := _text(record.values.get("id"))) is not None
        }
        users: list[Row] = []
        uids = load.collect("users", get_users(http, config), partial(transform_user, roles=roles),
                            users, id_field="uid")  # fmt: skip
        uid_keys = {uid: row["user_key"] for uid, row in zip(uids, users, strict=True)}
        courses: list[Row] = []
        course_ids = load.collect("courses", get_courses(http, config), transform_course, courses)
        by_id = dict(zip(course_ids, courses, strict=True))
        load.flush(tx, "courses", courses)
        sections: list[Row] = []
        enrollments: list[Row] = []
        for course_id, course in by_id.items():
            start = len(sections)
            section_ids = load.collect(
                "classes",
                get_sections(http, config, course_id),
                partial(transform_class, course=course),
                sections,
            )
            for section_id, section in zip(section_ids, sections[start:], strict=True):
                load.collect(
                    "enrollments",
                    get_enrollments(http, config, section_id),
                    partial(
                        transform_enrollment,
                        section_id=section_id,
                        school_key=section["school_key"],
                        uid_keys=uid_keys,
                    ),
                    enrollments,
                )
            if len(enrollments) >= config.batch_size:
                load.flush(tx, "classes", sections)
                load.flush(tx, "enrollments", enrollments)
        load.flush(tx, "classes", sections)
        load.flush(tx, "enrollments", enrollments)
        load.add_enrollment_roles(users)
        load.flush(tx, "users", users)
        load.writer.finish(tx, before)
    report.finished = datetime.now(UTC)
    log.info(
        "pulled Schoology: read %d, loaded %d, skipped %d, rejected %d",
        report.read,
        report.loaded,
        report.skipped,
        report.rejected,
    )
    return report


@dataclass
class _Load:
    """The state of one sync: streams written, roles seen in sections, keys already written."""

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

    def collect(
        self,
        stream: str,
        records: Iterable[SourceRecord],
        transform: Callable[..., Row],
        into: list[Row],
        *,
        id_field: str = "id",
    ) -> list[str]:
        """Transform records into ``into``; return the source ids of the rows kept, in order."""
        self.ctx.report.stream(stream, where=self.config.base_url).mode = "full"
        if self.config.wants(stream):
            self.writer.mark(stream)
        ids: list[str] = []

        def remembered(values: Iterable[SourceRecord]) -> Iterator[SourceRecord]:
            for record in values:
                ids.append(_text(record.values.get(id_field)) or "")
                if record.where.endswith(" record 1"):  # the first record of a page
                    self.tick_page(stream)
                yield record

        kept: list[str] = []
        for row in transform_each(remembered(records), transform, self.ctx, stream=stream):
            kept.append(ids[-1])
            if stream == "enrollments":
                self.people.setdefault(row["user_key"], Counter())[Role(row["role"])] += 1
            into.append(row)
        return kept

    def add_enrollment_roles(self, users: list[Row]) -> None:
        """Add the roles people hold in sections to their account role."""
        for row in users:
            held = set(row["roles"]) | {role.value for role in self.people.get(row["user_key"], ())}
            if len(held) > 1:
                held.discard(Role.UNKNOWN.value)
            row["roles"] = sorted(held)
            if row["primary_role"] == Role.UNKNOWN.value:
                ordered = [r for r in _ROLE_ORDER if r.value in held]
                row["primary_role"] = ordered[0].value if ordered else Role.UNKNOWN.value

    def flush(self, tx: Transaction, stream: str, rows: list[Row]) -> None:
        """Write ``rows`` (if this pull writes ``stream``), each key once; empty the list."""
        self.writer.flush(tx, stream, rows, write=self.config.wants(stream))


# --------------------------------------------------------------------------------------------
# Small helpers (the same shape in every REST connector)


def _spec(stream: str) -> StreamSpec:
    return next(spec for spec in STREAMS if spec.name == stream)


def _row(table: TableSpec, **values: Any) -> Row:
    row: Row = {column: None for column in table.columns}
    row.update(values)
    return row


def _page_records(
    http: HttpClient, path: str, items_key: str, config: Config
) -> Iterator[SourceRecord]:
    params = {"start": 0, "limit": config.limit}
    pages = http.pages(path, params, paginator=BodyLinkPaginator("links.next"))
    for page, response in enumerate(pages, start=1):
        body = response.json()
        if not isinstance(body, dict):
            raise BadResponse(
                url=response.url,
                status=response.status_code,
                page=page,
                detail=f"Expected a JSON object with {items_key!r}, got {type(body).__name__}",
            )
        items = body.get(items_key) or []
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


def _int(value: Any) -> int | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _required(raw: Mapping[str, Any], name: str) -> str:
    value = _text(raw.get(name))
    if value is None:
        raise RowError(name, raw.get(name), "is required and missing")
    return value
