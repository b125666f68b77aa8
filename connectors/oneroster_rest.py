"""OneRoster 1.1 and 1.2 REST rostering into the store.

Calls ``GET {base}/orgs``, ``/academicSessions``, ``/courses``, ``/classes``, ``/users`` and
``/enrollments`` under ``/ims/oneroster/v1p1`` (1.1, OAuth 1.0a request signing) or
``/ims/oneroster/rostering/v1p2`` (1.2, OAuth 2 client credentials), page by page with
``limit``/``offset`` (stopping at ``X-Total-Count``). Each JSON record is adapted to the
column shape of the CSV binding and goes through the same transforms as
:mod:`connectors.oneroster_csv`, so a roster pulled over REST and one imported from CSV give the
same rows and the same pseudonymous keys.

A *bulk* pull replaces the source's rows (upsert, then delete what the pull no longer saw,
behind the shrink guard). An *incremental* pull (``incremental: true`` and a cursor from the
last complete pull) asks only for ``dateLastModified>='cursor'``, upserts what comes and applies
``status=tobedeleted``; it never deletes anything else. The cursor of each stream (the newest
``dateLastModified`` seen) commits in the same transaction as the rows, and the whole pull is one
transaction: a pull that fails leaves the store as it was, and the next one starts again from the
last committed cursor.

Examples
--------
>>> config = Config(base_url="https://sis.example.org", client_id="ck",
...                 client_secret=SecretStr("cs-1234"))
>>> config.api_root, config.auth_kind
('https://sis.example.org/ims/oneroster/v1p1', 'oauth1')
>>> flatten_record("classes", {"sourcedId": "cls-1", "course": {"sourcedId": "crs-1"},
...                            "terms": [{"sourcedId": "t1"}, {"sourcedId": "t2"}]})["termSourcedIds"]
't1,t2'
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; see docs/store.md
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from connectors import oneroster_csv
from connectors.base import (
    PROGRESS_EVERY,
    Row,
    RowError,
    SourceRecord,
    StreamReport,
    StreamSpec,
    SyncContext,
    SyncReport,
    delete_orphan_identities,
    delete_unseen,
    record_stream,
    reject_record,
    repeat_reason,
    transform_each,
    transform_record,
)
from connectors.http import (
    BadResponse,
    HttpClient,
    OAuth1Auth,
    OAuth2ClientCredentials,
    OffsetPaginator,
    RetryPolicy,
)
from edtech_map.errors import EdtechMapError
from edtech_map.model import Role, parse_grade
from edtech_map.privacy import ID_WHITESPACE, KeyMaker
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
    "SOURCE",
    "STREAMS",
    "Config",
    "ConfigError",
    "Endpoint",
    "filter_since",
    "flatten_record",
    "get_academic_sessions",
    "get_classes",
    "get_courses",
    "get_enrollments",
    "get_orgs",
    "get_users",
    "load_rows",
    "load_users",
    "make_client",
    "sync",
    "transform_academic_session",
    "transform_class",
    "transform_course",
    "transform_enrollment",
    "transform_org",
    "transform_user",
]

log = logging.getLogger(__name__)

SOURCE = "oneroster_rest"
V1P1_PATH = "/ims/oneroster/v1p1"
V1P2_PATH = "/ims/oneroster/rostering/v1p2"
V1P2_SCOPE = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly"
BULK, INCREMENTAL = "bulk", "incremental"
TOBEDELETED = "tobedeleted"
GUARDED_STREAMS = frozenset({"users", "enrollments"})
CHANGED_KEY = "_changed"


class ConfigError(EdtechMapError):
    """The source's settings cannot work (a missing secret, an unknown stream)."""


class Config(BaseModel):
    """Settings of one OneRoster REST source (``SyncContext.options``).

    ``client_id`` and ``client_secret`` come from the environment variables named in the
    inventory's ``sources.<name>.secrets``; everything else from ``base_url``, ``streams`` and
    ``options``.

    Examples
    --------
    >>> config = Config(base_url="https://sis.example.org/", version="1.2", client_id="c",
    ...                 client_secret=SecretStr("s"), token_url="https://sis.example.org/token")
    >>> config.api_root, config.auth_kind
    ('https://sis.example.org/ims/oneroster/rostering/v1p2', 'oauth2')
    >>> Config(base_url="https://sis.example.org", version="1.2", client_id="c",
    ...        client_secret=SecretStr("s"))
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Config
    ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    base_url: str = Field(description="Server root, or the full API root ending in v1p1/v1p2.")
    version: Literal["1.1", "1.2"] = Field("1.1", description="OneRoster version of the API.")
    client_id: str = Field(min_length=1, description="OAuth consumer key / client id.")
    client_secret: SecretStr = Field(description="OAuth consumer secret / client secret.")
    auth: Literal["oauth1", "oauth2"] | None = Field(
        None, description="oauth1 (1.1 default) or oauth2 client credentials (1.2 default)."
    )
    signature_method: Literal["HMAC-SHA1", "HMAC-SHA256"] = Field(
        "HMAC-SHA1", description="OAuth 1.0a signature method."
    )
    token_url: str | None = Field(None, description="OAuth 2 token endpoint (needed for oauth2).")
    scope: list[str] | None = Field(None, description="OAuth 2 scopes (1.2: roster-core.readonly).")
    credentials_in_body: bool = Field(
        False, description="OAuth 2: send client id and secret in the form, not HTTP basic."
    )
    streams: tuple[str, ...] = Field((), description="Streams to pull; none = all.")
    incremental: bool = Field(False, description="Pull only what changed since the last cursor.")
    page_size: int = Field(100, ge=1, le=10_000, description="limit per page.")
    timeout: float = Field(60.0, gt=0, description="Read timeout, seconds.")
    connect_timeout: float = Field(10.0, gt=0, description="Connect timeout, seconds.")
    retries: int = Field(5, ge=0, description="Retries of one request (429, 5xx, timeouts).")
    backoff_factor: float = Field(1.0, ge=0, description="Exponential back-off factor.")
    max_retry_time: float = Field(300.0, gt=0, description="Cap on retrying one request, s.")
    batch_size: int = Field(20_000, ge=1, description="Rows per Arrow batch written to the store.")
    read_ahead: int = Field(
        0, ge=0, le=8, description="Pages fetched ahead while the last one is loaded (0: none)."
    )

    @model_validator(mode="after")
    def _oauth2_needs_a_token_url(self) -> Config:
        if self.auth_kind == "oauth2" and not self.token_url:
            raise ValueError(
                "token_url is required for OAuth 2 client credentials (OneRoster 1.2); set "
                "options.token_url to the SIS's token endpoint"
            )
        unknown = [s for s in self.streams if _stream_name(s) not in ENDPOINTS]
        if unknown:
            raise ValueError(
                f"unknown streams {unknown}; use some of {', '.join(ENDPOINTS)} (or none for all)"
            )
        return self

    @property
    def auth_kind(self) -> str:
        """``oauth1`` or ``oauth2``: as set, or the version's usual one."""
        return self.auth or ("oauth1" if self.version == "1.1" else "oauth2")

    @property
    def api_root(self) -> str:
        """The base URL with the version's path, unless it already has one."""
        root = self.base_url.rstrip("/")
        if "/ims/oneroster" in urlsplit(root).path:
            return root
        return root + (V1P1_PATH if self.version == "1.1" else V1P2_PATH)

    @property
    def selected(self) -> tuple[str, ...]:
        """The stream names to pull, in load order (orgs first, enrollments last)."""
        wanted = {_stream_name(s) for s in self.streams}
        return tuple(name for name in ENDPOINTS if not wanted or name in wanted)


# --------------------------------------------------------------------------------------------
# Adapting JSON records to the CSV binding's column shape


def _text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise RowError(key, type(value).__name__, "expected text, got a JSON object or list")


def _ref(raw: Mapping[str, Any], key: str) -> str | None:
    """``{"sourcedId": ..., "href": ..., "type": ...}`` (or a bare id) -> the sourcedId."""
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        inner = value.get("sourcedId")
        return str(inner) if inner not in (None, "") else None
    if isinstance(value, str):
        return value
    raise RowError(key, type(value).__name__, "expected a reference {sourcedId, href, type}")


def _refs(raw: Mapping[str, Any], key: str) -> list[str]:
    value = raw.get(key)
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    found: list[str] = []
    for item in items:
        if isinstance(item, Mapping):
            inner = item.get("sourcedId")
            if inner not in (None, ""):
                found.append(str(inner))
        elif isinstance(item, str) and item:
            found.append(item)
        else:
            raise RowError(key, type(item).__name__, "expected a list of references")
    return found


def _strings(raw: Mapping[str, Any], key: str) -> list[str]:
    """A JSON list of strings (or one string, as some servers send) -> a list, blanks dropped."""
    value = raw.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return oneroster_csv.split_list(value)
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return [str(v).strip() for v in value if str(v).strip()]
    raise RowError(key, type(value).__name__, "expected a list of strings")


def _joined(values: list[str]) -> str | None:
    return ",".join(values) or None


_COMMON = ("sourcedId", "status", "dateLastModified")
_PERSONAL_TEXT = ("username", "givenName", "familyName", "middleName", "identifier", "email")
_PERSONAL_TEXT_12 = ("preferredFirstName", "preferredLastName")


def flatten_record(stream: str, raw: Mapping[str, Any]) -> dict[str, str | None]:
    """One OneRoster REST JSON record as the CSV binding's columns (text, lists comma-joined).

    References (``{"sourcedId": ...}``) become their sourcedIds; ``enabledUser`` and ``primary``
    may be JSON booleans (1.2) or strings (1.1). A 1.2 user's ``roles`` list gives ``role``
    (the primary one, else the first) and ``_roles`` (all of them). Names and e-mails are copied
    too, so that the CSV transform can put them in ``identities`` when the caller opts in.

    Raises
    ------
    RowError
        When a field has the wrong JSON type (an object where text belongs).

    Examples
    --------
    >>> flatten_record("enrollments", {"sourcedId": "e1", "user": {"sourcedId": "u1"},
    ...     "class": {"sourcedId": "c1"}, "role": "student", "primary": False})["primary"]
    'false'
    >>> values = flatten_record("users", {"sourcedId": "u1", "roles": [
    ...     {"roleType": "secondary", "role": "aide", "org": {"sourcedId": "o2"}},
    ...     {"roleType": "primary", "role": "teacher", "org": {"sourcedId": "o1"}}]})
    >>> values["role"], values["_roles"], values["orgSourcedIds"]
    ('teacher', 'teacher,aide', 'o1,o2')
    """
    values: dict[str, str | None] = {key: _text(raw, key) for key in _COMMON}
    if stream == "orgs":
        values.update(
            name=_text(raw, "name"),
            type=_text(raw, "type"),
            identifier=_text(raw, "identifier"),
            parentSourcedId=_ref(raw, "parent"),
        )
    elif stream == "academic_sessions":
        values.update(
            title=_text(raw, "title"),
            type=_text(raw, "type"),
            startDate=_text(raw, "startDate"),
            endDate=_text(raw, "endDate"),
            parentSourcedId=_ref(raw, "parent"),
            schoolYear=_text(raw, "schoolYear"),
        )
    elif stream == "courses":
        values.update(
            title=_text(raw, "title"),
            courseCode=_text(raw, "courseCode"),
            schoolYearSourcedId=_ref(raw, "schoolYear"),
            orgSourcedId=_ref(raw, "org"),
            grades=_joined(_strings(raw, "grades")),
        )
    elif stream == "classes":
        values.update(
            title=_text(raw, "title"),
            classCode=_text(raw, "classCode"),
            classType=_text(raw, "classType"),
            location=_text(raw, "location"),
            courseSourcedId=_ref(raw, "course"),
            schoolSourcedId=_ref(raw, "school"),
            termSourcedIds=_joined(_refs(raw, "terms")),
            grades=_joined(_strings(raw, "grades")),
        )
    elif stream == "users":
        values.update(_flatten_user(raw))
    elif stream == "enrollments":
        values.update(
            classSourcedId=_ref(raw, "class"),
            schoolSourcedId=_ref(raw, "school"),
            userSourcedId=_ref(raw, "user"),
            role=_text(raw, "role"),
            primary=_text(raw, "primary"),
            beginDate=_text(raw, "beginDate"),
            endDate=_text(raw, "endDate"),
        )
    else:
        raise ValueError(f"no such stream: {stream!r}")
    return values


def _flatten_user(raw: Mapping[str, Any]) -> dict[str, str | None]:
    orgs = _refs(raw, "orgs")
    role = _text(raw, "role")
    roles: list[str] = [role] if role else []
    primary_org = _ref(raw, "primaryOrg")
    listed = raw.get("roles")
    if isinstance(listed, list) and listed:  # OneRoster 1.2: [{roleType, role, org, ...}]
        ordered = sorted(
            (r for r in listed if isinstance(r, Mapping)),
            key=lambda r: 0 if str(r.get("roleType", "")).lower() == "primary" else 1,
        )
        roles = list(dict.fromkeys(t for r in ordered if (t := _text(r, "role"))))
        role = roles[0] if roles else role
        for entry in ordered:
            org = _ref(entry, "org")
            if org and org not in orgs:
                orgs.append(org)
        if primary_org is None and ordered and _ref(ordered[0], "org"):
            primary_org = _ref(ordered[0], "org")
    if primary_org and primary_org in orgs:
        orgs.remove(primary_org)
        orgs.insert(0, primary_org)
    values: dict[str, str | None] = {
        "enabledUser": _text(raw, "enabledUser"),
        "orgSourcedIds": _joined(orgs),
        "primaryOrgSourcedId": primary_org,
        "role": role,
        "_roles": _joined(roles),
        "grades": _joined(_strings(raw, "grades")),
    }
    for key in _PERSONAL_TEXT:
        values[key] = _text(raw, key)
    values["preferredGivenName"] = _text(raw, "preferredFirstName")
    values["preferredFamilyName"] = _text(raw, "preferredLastName")
    return values


# --------------------------------------------------------------------------------------------
# Transforms: the CSV binding's, on adapted input, plus the lists JSON keeps whole


def _stamped(row: Row, raw: Mapping[str, Any]) -> Row:
    """A ``tobedeleted`` row keeps its ``dateLastModified`` (as ``_changed``) for the cursor."""
    if row["status"] == TOBEDELETED:
        try:
            row[CHANGED_KEY] = oneroster_csv.parse_datetime(_text(raw, "dateLastModified"))
        except ValueError as error:
            raise RowError("dateLastModified", raw.get("dateLastModified"), str(error)) from None
    return row


def transform_org(raw: Mapping[str, Any], ctx: SyncContext) -> Row:
    """A REST ``org`` as an ``orgs`` row (:func:`connectors.oneroster_csv.transform_org`).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> row = transform_org({"sourcedId": "s1", "name": "Lincoln", "type": "school",
    ...                      "parent": {"sourcedId": "d1", "type": "org"}}, ctx)
    >>> row["org_key"], row["type"], row["parent_org_key"]
    ('s1', 'school', 'd1')
    """
    return _stamped(oneroster_csv.transform_org(flatten_record("orgs", raw), ctx), raw)


def transform_academic_session(raw: Mapping[str, Any], ctx: SyncContext) -> Row:
    """A REST ``academicSession`` as an ``academic_sessions`` row.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> row = transform_academic_session({"sourcedId": "t1", "type": "term",
    ...     "startDate": "2024-08-01", "endDate": "2024-12-20", "schoolYear": "2025"}, ctx)
    >>> row["start_date"].isoformat(), row["school_year"]
    ('2024-08-01', '2025')
    """
    return _stamped(
        oneroster_csv.transform_academic_session(flatten_record("academic_sessions", raw), ctx), raw
    )


def transform_course(raw: Mapping[str, Any], ctx: SyncContext) -> Row:
    """A REST ``course`` as a ``courses`` row; ``subjects`` are kept as the JSON list.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> row = transform_course({"sourcedId": "c1", "grades": ["09", "10"],
    ...     "subjects": ["Arts, Music"], "org": {"sourcedId": "s1"}}, ctx)
    >>> row["grades"], row["subjects"], row["org_key"]
    (['09', '10'], ['Arts, Music'], 's1')
    """
    row = _stamped(oneroster_csv.transform_course(flatten_record("courses", raw), ctx), raw)
    if row["status"] != TOBEDELETED:
        row.update(subjects=_strings(raw, "subjects"), subject_codes=_strings(raw, "subjectCodes"))
    return row


def transform_class(raw: Mapping[str, Any], ctx: SyncContext) -> Row:
    """A REST ``class`` as a ``classes`` row; subjects and periods are kept as JSON lists.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> row = transform_class({"sourcedId": "cls-1", "classType": "scheduled",
    ...     "course": {"sourcedId": "crs-1"}, "school": {"sourcedId": "s1"},
    ...     "terms": [{"sourcedId": "t1"}], "periods": ["1", "2"]}, ctx)
    >>> row["course_key"], row["term_keys"], row["periods"]
    ('crs-1', ['t1'], ['1', '2'])
    """
    row = _stamped(oneroster_csv.transform_class(flatten_record("classes", raw), ctx), raw)
    if row["status"] != TOBEDELETED:
        row.update(
            subjects=_strings(raw, "subjects"),
            subject_codes=_strings(raw, "subjectCodes"),
            periods=_strings(raw, "periods"),
        )
    return row


_ROLES = {role.value.lower(): role.value for role in Role}


def transform_user(raw: Mapping[str, Any], ctx: SyncContext) -> Row:
    """A REST ``user`` as a ``users`` row: a key (district namespace), roles, orgs, grades.

    The key is the same as the CSV connector's for the same ``sourcedId``. A 1.2 user keeps
    every role of its ``roles`` list; its primary role is ``primary_role``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="sis")
    >>> row = transform_user({"sourcedId": "u1", "givenName": "Ada", "enabledUser": True,
    ...     "roles": [{"roleType": "primary", "role": "teacher", "org": {"sourcedId": "s1"}},
    ...               {"roleType": "secondary", "role": "aide", "org": {"sourcedId": "s2"}}]},
    ...     ctx)
    >>> row["user_key"] == ctx.keys.user("u1"), row["primary_role"], sorted(row["roles"])
    (True, 'teacher', ['aide', 'teacher'])
    >>> row["enabled"], row["org_keys"], "Ada" in str(row)
    (True, ['s1', 's2'], False)
    """
    values = flatten_record("users", raw)
    row = _stamped(oneroster_csv.transform_user(values, ctx), raw)
    if row["status"] != TOBEDELETED:
        roles: list[str] = []
        for name in oneroster_csv.split_list(values.get("_roles")):
            if name.lower() not in _ROLES:
                raise RowError(
                    "roles.role", name, f"not a OneRoster role; use one of {', '.join(_ROLES)}"
                )
            roles.append(_ROLES[name.lower()])
        if roles:
            row["roles"] = sorted(set(roles))
    return row


def transform_enrollment(raw: Mapping[str, Any], ctx: SyncContext) -> Row:
    """A REST ``enrollment`` as an ``enrollments`` row; the user becomes its key.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="sis")
    >>> row = transform_enrollment({"sourcedId": "e1", "role": "student", "primary": "false",
    ...     "user": {"sourcedId": "u1"}, "class": {"sourcedId": "c1"},
    ...     "school": {"sourcedId": "s1"}}, ctx)
    >>> row["class_key"], row["is_primary"], row["user_key"] == ctx.keys.user("u1")
    ('c1', False, True)
    """
    return _stamped(
        oneroster_csv.transform_enrollment(flatten_record("enrollments", raw), ctx), raw
    )


# --------------------------------------------------------------------------------------------
# Endpoints and the raw records of each


@dataclass(frozen=True)
class Endpoint:
    """One OneRoster collection: the stream, its path and JSON key, table and transform.

    Examples
    --------
    >>> ENDPOINTS["academic_sessions"].path, ENDPOINTS["academic_sessions"].table.name
    ('academicSessions', 'academic_sessions')
    """

    stream: str
    path: str
    collection: str
    table: TableSpec
    transform: Callable[[Mapping[str, Any], SyncContext], Row]


ENDPOINTS: dict[str, Endpoint] = {
    e.stream: e
    for e in (
        Endpoint("orgs", "orgs", "orgs", ORGS, transform_org),
        Endpoint(
            "academic_sessions",
            "academicSessions",
            "academicSessions",
            ACADEMIC_SESSIONS,
            transform_academic_session,
        ),
        Endpoint("courses", "courses", "courses", COURSES, transform_course),
        Endpoint("classes", "classes", "classes", CLASSES, transform_class),
        Endpoint("users", "users", "users", USERS, transform_user),
        Endpoint("enrollments", "enrollments", "enrollments", ENROLLMENTS, transform_enrollment),
    )
}
_ALIASES = {e.path.lower(): e.stream for e in ENDPOINTS.values()}

STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("orgs", ORGS, "Districts, schools, departments. GET /orgs"),
    StreamSpec("academic_sessions", ACADEMIC_SESSIONS, "Years, terms. GET /academicSessions"),
    StreamSpec("courses", COURSES, "Courses. GET /courses"),
    StreamSpec("classes", CLASSES, "Classes (sections). GET /classes"),
    StreamSpec("users", USERS, "People, by key. GET /users"),
    StreamSpec("enrollments", ENROLLMENTS, "Users in classes. GET /enrollments"),
)


def _stream_name(name: str) -> str:
    return _ALIASES.get(name.lower(), name)


def filter_since(cursor: str) -> str:
    """The OneRoster ``filter`` asking for records changed at or after ``cursor``.

    ``>=`` rather than ``>``: a record stamped in the same millisecond as the cursor but
    committed after the last pull is not missed; re-reading the boundary records is harmless,
    since loads are upserts.

    Examples
    --------
    >>> filter_since("2024-05-01T12:00:00.5+00:00")
    "dateLastModified>='2024-05-01T12:00:00.500Z'"
    """
    moment = datetime.fromisoformat(cursor).astimezone(UTC)
    return f"dateLastModified>='{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{moment.microsecond // 1000:03d}Z'"


def make_client(config: Config) -> HttpClient:
    """The HTTP client for ``config``: its API root, signed or token auth, retries, timeouts.

    Examples
    --------
    >>> config = Config(base_url="https://sis.example.org", client_id="ck",
    ...                 client_secret=SecretStr("cs-1234"))
    >>> with make_client(config) as client:
    ...     client.auth
    OAuth1Auth(consumer_key='ck', consumer_secret=SecretStr('**********'), \
signature_method='HMAC-SHA1')
    """
    auth: OAuth1Auth | OAuth2ClientCredentials
    if config.auth_kind == "oauth1":
        auth = OAuth1Auth(
            config.client_id, config.client_secret, signature_method=config.signature_method
        )
    else:
        assert config.token_url is not None  # the validator makes sure
        auth = OAuth2ClientCredentials(
            config.token_url,
            config.client_id,
            config.client_secret,
            scope=config.scope or ([V1P2_SCOPE] if config.version == "1.2" else None),
            credentials_in_body=config.credentials_in_body,
        )
    return HttpClient(
        config.api_root,
        auth=auth,
        timeout=(config.connect_timeout, config.timeout),
        retry=RetryPolicy(
            total=config.retries,
            backoff_factor=config.backoff_factor,
            max_retry_time=config.max_retry_time,
        ),
    )


def _pages(
    client: HttpClient,
    endpoint: Endpoint,
    ctx: SyncContext,
    filter_: str | None,
    page_size: int,
    ahead: int = 0,
) -> Iterator[tuple[int, list[Any]]]:
    """Each page of a collection: its number and its list of records (the body, parsed once)."""
    params = {"filter": filter_} if filter_ else None
    paginator = OffsetPaginator(items_path=endpoint.collection, page_size=page_size)
    read = 0
    for page in client.json_pages(endpoint.path, params, paginator=paginator, ahead=ahead):
        number, body = page.number, page.body
        items = body.get(endpoint.collection) if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise BadResponse(
                url=page.response.url,
                page=number,
                detail=f"The answer has no {endpoint.collection!r} list",
                fix="Check that the base URL points at a OneRoster rostering API.",
            )
        yield number, items
        read += len(items)
        _tick_page(ctx, endpoint.stream, number, read)


def _paged(
    client: HttpClient, endpoint: Endpoint, ctx: SyncContext, filter_: str | None, page_size: int
) -> Iterator[tuple[int, Any]]:
    """Each record of a collection with the number of the page it came on."""
    for number, items in _pages(client, endpoint, ctx, filter_, page_size):
        for item in items:
            yield number, item


def _tick_page(ctx: SyncContext, stream: str, page: int, read: int) -> None:
    """Tell the progress callback a page arrived (``.page(stream, page, read)`` if it has one)."""
    on_page = getattr(ctx.progress, "page", None)
    if callable(on_page):
        on_page(stream, page, read)
    ctx.tick(stream, read)


def get_orgs(
    client: HttpClient, ctx: SyncContext, *, filter_: str | None = None, page_size: int = 100
) -> Iterator[Any]:
    """Raw ``orgs`` records, page by page (``GET /orgs``).

    Nothing is fetched until the caller iterates; each page is one ``GET /orgs``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> config = Config(base_url="https://sis.example.org", client_id="ck",
    ...                 client_secret=SecretStr("cs"))
    >>> with make_client(config) as client:
    ...     type(get_orgs(client, ctx, page_size=500)).__name__
    'generator'
    """
    for _, item in _paged(client, ENDPOINTS["orgs"], ctx, filter_, page_size):
        yield item


def get_academic_sessions(
    client: HttpClient, ctx: SyncContext, *, filter_: str | None = None, page_size: int = 100
) -> Iterator[Any]:
    """Raw ``academicSessions`` records, page by page (``GET /academicSessions``).

    Nothing is fetched until the caller iterates; each page is one ``GET /academicSessions``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> config = Config(base_url="https://sis.example.org", client_id="ck",
    ...                 client_secret=SecretStr("cs"))
    >>> with make_client(config) as client:
    ...     type(get_academic_sessions(client, ctx, page_size=500)).__name__
    'generator'
    """
    for _, item in _paged(client, ENDPOINTS["academic_sessions"], ctx, filter_, page_size):
        yield item


def get_courses(
    client: HttpClient, ctx: SyncContext, *, filter_: str | None = None, page_size: int = 100
) -> Iterator[Any]:
    """Raw ``courses`` records, page by page (``GET /courses``).

    Nothing is fetched until the caller iterates; each page is one ``GET /courses``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> config = Config(base_url="https://sis.example.org", client_id="ck",
    ...                 client_secret=SecretStr("cs"))
    >>> with make_client(config) as client:
    ...     type(get_courses(client, ctx, page_size=500)).__name__
    'generator'
    """
    for _, item in _paged(client, ENDPOINTS["courses"], ctx, filter_, page_size):
        yield item


def get_classes(
    client: HttpClient, ctx: SyncContext, *, filter_: str | None = None, page_size: int = 100
) -> Iterator[Any]:
    """Raw ``classes`` records, page by page (``GET /classes``).

    Nothing is fetched until the caller iterates; each page is one ``GET /classes``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> config = Config(base_url="https://sis.example.org", client_id="ck",
    ...                 client_secret=SecretStr("cs"))
    >>> with make_client(config) as client:
    ...     type(get_classes(client, ctx, page_size=500)).__name__
    'generator'
    """
    for _, item in _paged(client, ENDPOINTS["classes"], ctx, filter_, page_size):
        yield item


def get_users(
    client: HttpClient, ctx: SyncContext, *, filter_: str | None = None, page_size: int = 100
) -> Iterator[Any]:
    """Raw ``users`` records, page by page (``GET /users``).

    Nothing is fetched until the caller iterates; each page is one ``GET /users``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> config = Config(base_url="https://sis.example.org", client_id="ck",
    ...                 client_secret=SecretStr("cs"))
    >>> with make_client(config) as client:
    ...     type(get_users(client, ctx, page_size=500)).__name__
    'generator'
    """
    for _, item in _paged(client, ENDPOINTS["users"], ctx, filter_, page_size):
        yield item


def get_enrollments(
    client: HttpClient, ctx: SyncContext, *, filter_: str | None = None, page_size: int = 100
) -> Iterator[Any]:
    """Raw ``enrollments`` records, page by page (``GET /enrollments``).

    Nothing is fetched until the caller iterates; each page is one ``GET /enrollments``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> config = Config(base_url="https://sis.example.org", client_id="ck",
    ...                 client_secret=SecretStr("cs"))
    >>> with make_client(config) as client:
    ...     type(get_enrollments(client, ctx, page_size=500)).__name__
    'generator'
    """
    for _, item in _paged(client, ENDPOINTS["enrollments"], ctx, filter_, page_size):
        yield item


def _records(paged: Iterator[tuple[int, Any]], endpoint: Endpoint) -> Iterator[SourceRecord]:
    for index, (page, raw) in enumerate(paged, start=1):
        yield _record(endpoint, index, page, raw)


def _where(endpoint: Endpoint, index: int, page: int) -> str:
    """Where a record came from: the path, its place in the pull and its page (no values)."""
    return f"{endpoint.path} record {index} (page {page})"


def _record(endpoint: Endpoint, index: int, page: int, raw: Any) -> SourceRecord:
    where = _where(endpoint, index, page)
    if isinstance(raw, Mapping):
        return SourceRecord(where, raw)
    return SourceRecord(where, {}, problem=f"is a JSON {type(raw).__name__}, not an object")


# --------------------------------------------------------------------------------------------
# Loading


def load_rows(
    tx: Transaction,
    table: TableSpec,
    rows: Iterator[Row],
    *,
    run_id: str,
    report: StreamReport,
    batch_size: int = 5000,
) -> datetime | None:
    """Upsert rows in Arrow batches and apply ``tobedeleted`` rows; return the newest change.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from edtech_map.store import Store
    >>> rows = [{"source": "sis", "org_key": "o1", "status": "active", "name": "A",
    ...          "date_last_modified": datetime(2024, 5, 1, tzinfo=UTC), "type": None,
    ...          "identifier": None, "parent_org_key": None, "extensions": None},
    ...         {"source": "sis", "org_key": "o2", "status": "tobedeleted"}]
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     with store.transaction() as tx:
    ...         newest = load_rows(tx, ORGS, iter(rows), run_id="r1",
    ...                            report=StreamReport("orgs"))
    ...     store.query_arrow("SELECT org_key FROM orgs").to_pylist(), newest.year
    ([{'org_key': 'o1'}], 2024)
    """
    key = list(table.primary_key)
    schema = table.arrow_schema()
    key_schema = pa.schema([schema.field(c) for c in key])
    upserts: list[Row] = []
    tombstones: list[Row] = []
    newest: datetime | None = None

    def flush() -> None:
        if upserts:
            tx.upsert(table, pa.Table.from_pylist(upserts, schema=schema), run_id=run_id)
            upserts.clear()
        if tombstones:
            keys = pa.Table.from_pylist(tombstones, schema=key_schema)
            report.deleted += tx.delete_keys(table, keys)
            tombstones.clear()

    for row in rows:
        if row["status"] == TOBEDELETED:
            tombstones.append({c: row[c] for c in key})
            report.deletions += 1
            changed = row.get(CHANGED_KEY)
        else:
            row.pop(oneroster_csv.IDENTITY_KEY, None)
            changed = row.get("date_last_modified")
            upserts.append(row)
        if changed is not None and (newest is None or changed > newest):
            newest = changed
        if len(upserts) + len(tombstones) >= batch_size:
            flush()
    flush()
    return newest


# --------------------------------------------------------------------------------------------
# Users, fast: the usual record checked and gathered in columns, keyed once per batch

_NONE = type(None)
_TEXT_TYPES = frozenset({str, _NONE})
_FLAG_TYPES = frozenset({str, bool, _NONE})
_CONTAINER_TYPES = frozenset({dict, list})
_FAST_STATUS: dict[str | None, str] = {
    None: "active",
    "": "active",
    "active": "active",
    "inactive": "inactive",
}
_FAST_ENABLED: dict[str | bool | None, bool | None] = {
    None: None,
    "": None,
    True: True,
    False: False,
    "true": True,
    "false": False,
}
_FAST_ROLE: dict[str | None, str | None] = {None: None, "": None} | {
    role.value: role.value for role in Role
}
_UNSET = object()
_CHECKED_TEXT = (*_PERSONAL_TEXT, *_PERSONAL_TEXT_12)
_CACHE_LIMIT = 4096

_FastUser = tuple[str, str, int | None, bool | None, str | None, list[str], list[str]]
"""(sourcedId, status, dateLastModified in µs since 1970 UTC, enabled, role, org keys, grades)."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    """An aware date-time as whole microseconds since 1970-01-01 UTC (Arrow's timestamp[us])."""
    return (moment - _EPOCH) // _MICROSECOND


def _moment(micros: int) -> datetime:
    """The inverse of :func:`_micros`, in UTC (as ``parse_datetime`` gives)."""
    return _EPOCH + timedelta(microseconds=micros)


class _FastUsers:
    """Reads the usual OneRoster 1.1 user record without the per-record transform.

    :meth:`values` takes a record only when :func:`transform_user` would surely accept it and
    gives the same row for it: a JSON object whose ``sourcedId`` is text, ``status`` active or
    inactive (or none), ``enabledUser`` true/false, ``role`` a OneRoster role spelled as the
    standard spells it, ``orgs`` references with plain ids, ``grades`` text, no 1.2 ``roles``
    list, no ``primaryOrg``, and no object where text belongs. Anything else (and every
    ``tobedeleted`` record) returns ``None`` and goes through :func:`transform_user`, which
    says exactly what is wrong. Dates and grade lists are parsed once per distinct value.
    """

    def __init__(self) -> None:
        self._dates: dict[str, int | None] = {}
        self._grades: dict[tuple[str, ...], list[str] | None] = {}

    def values(self, raw: Any) -> _FastUser | None:
        if type(raw) is not dict:
            return None
        source_id = raw.get("sourcedId")
        status = raw.get("status")
        changed = raw.get("dateLastModified")
        enabled = raw.get("enabledUser")
        role = raw.get("role")
        if (
            type(source_id) is not str
            or not source_id
            or type(status) not in _TEXT_TYPES
            or type(changed) not in _TEXT_TYPES
            or type(enabled) not in _FLAG_TYPES
            or type(role) not in _TEXT_TYPES
            or raw.get("primaryOrg") is not None
            or raw.get("roles", _UNSET) not in (_UNSET, None, [])
        ):
            return None
        fast_status = _FAST_STATUS.get(status)
        fast_enabled = _FAST_ENABLED.get(enabled, _UNSET)
        fast_role = _FAST_ROLE.get(role, _UNSET)
        if fast_status is None or fast_enabled is _UNSET or fast_role is _UNSET:
            return None
        for key in _CHECKED_TEXT:
            if type(raw.get(key)) in _CONTAINER_TYPES:
                return None
        when = self._date(changed) if changed else None
        orgs = self._orgs(raw.get("orgs"))
        grades = self._grade_list(raw.get("grades"))
        if when is _UNSET or orgs is None or grades is None:
            return None
        return (
            source_id,
            fast_status,
            when,  # type: ignore[return-value]  # _UNSET is ruled out above
            fast_enabled,
            fast_role,
            orgs,
            grades,
        )

    def _date(self, text: str) -> int | object | None:
        found = self._dates.get(text, _UNSET)
        if found is _UNSET:
            try:
                moment = oneroster_csv.parse_datetime(text)
            except ValueError:
                return _UNSET
            found = None if moment is None else _micros(moment)
            if len(self._dates) >= _CACHE_LIMIT:
                self._dates.clear()
            self._dates[text] = found
        return found

    @staticmethod
    def _orgs(value: Any) -> list[str] | None:
        if value is None:
            return []
        if type(value) is not list:
            return None
        orgs: list[str] = []
        for item in value:
            inner = item.get("sourcedId") if type(item) is dict else None
            if type(inner) is not str or not inner or "," in inner or inner != inner.strip():
                return None
            orgs.append(inner)
        return orgs

    def _grade_list(self, value: Any) -> list[str] | None:
        if value is None:
            return []
        if type(value) is not list or not all(type(v) is str for v in value):
            return None
        key = tuple(value)
        found = self._grades.get(key, _UNSET)
        if found is _UNSET:
            text = ",".join(part for v in key if (part := v.strip()))
            try:
                found = list(
                    dict.fromkeys(
                        parse_grade(part).value for part in oneroster_csv.split_list(text)
                    )
                )
            except ValueError:
                found = None
            if len(self._grades) >= _CACHE_LIMIT:
                self._grades.clear()
            self._grades[key] = found
        return found  # type: ignore[return-value]


def _fast_users_table(users: list[_FastUser], source: str, keys: KeyMaker) -> pa.Table:
    """The gathered users as Arrow columns of ``users`` rows, keyed with ``keys``."""
    schema = USERS.arrow_schema()
    count = len(users)
    roles = [u[4] for u in users]
    orgs = [u[5] for u in users]

    def column(name: str, values: list[Any]) -> pa.Array:
        return pa.array(values, type=schema.field(name).type)

    return pa.table(
        {
            "source": pa.repeat(pa.scalar(source, pa.string()), count),
            "user_key": column("user_key", [keys.user(u[0]) for u in users]),
            "status": column("status", [u[1] for u in users]),
            "date_last_modified": pa.array([u[2] for u in users], type=pa.int64()).cast(
                schema.field("date_last_modified").type
            ),
            "enabled": column("enabled", [u[3] for u in users]),
            "primary_role": column("primary_role", roles),
            "roles": column("roles", [[r] if r else [] for r in roles]),
            "primary_org_key": column("primary_org_key", [o[0] if o else None for o in orgs]),
            "org_keys": column("org_keys", orgs),
            "grades": column("grades", [u[6] for u in users]),
            "extensions": pa.nulls(count, schema.field("extensions").type),
        }
    )


def load_users(
    tx: Transaction,
    ctx: SyncContext,
    pages: Iterator[tuple[int, list[Any]]],
    *,
    report: StreamReport,
    batch_size: int = 20_000,
) -> datetime | None:
    """Transform and load pages of REST users, in Arrow batches; return the newest change.

    The same rows, counts and rejections as :func:`transform_each` over :func:`transform_user`
    followed by :func:`load_rows`, but the usual record skips the per-record transform: its
    fields are checked in place and gathered, and the batch becomes Arrow columns (keys by
    ``ctx.keys.user``, dates and grade lists parsed once per distinct value) when written. Any
    other record (a ``tobedeleted`` one, a 1.2 ``roles`` list, a value to reject) goes through
    :func:`transform_user`. With ``ctx.keep_identities`` every record does.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from edtech_map.store import Store
    >>> page = [{"sourcedId": "u1", "role": "student", "orgs": [{"sourcedId": "s1"}]},
    ...         {"sourcedId": "u2", "role": "pupil"}]
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     ctx = SyncContext(store=store, source="sis")
    ...     report = ctx.report.stream("users")
    ...     with store.transaction() as tx:
    ...         _ = load_users(tx, ctx, iter([(1, page)]), report=report)
    ...     rows = store.query_arrow("SELECT user_key, org_keys FROM users").to_pylist()
    ...     rows == [{"user_key": store.keys.user("u1"), "org_keys": ["s1"]}]
    True
    >>> report.loaded, report.rejections
    (1, ["users record 2 (page 1) role = 'pupil': not a OneRoster role; use one of ..."])
    """
    endpoint = ENDPOINTS["users"]
    fast = _FastUsers()
    use_fast = not ctx.keep_identities
    seen: dict[str, tuple[int, int]] = {}
    gathered: list[_FastUser] = []
    slow: list[Row] = []
    newest: datetime | None = None
    index = 0

    def flush() -> None:
        nonlocal newest
        if gathered:
            changed = [u[2] for u in gathered if u[2] is not None]
            if changed and (newest is None or _moment(max(changed)) > newest):
                newest = _moment(max(changed))
            tx.upsert(USERS, _fast_users_table(gathered, ctx.source, ctx.keys), run_id=ctx.run_id)
            gathered.clear()
        if slow:
            written = StreamReport("users")  # deletions were counted as the rows came
            changed_slow = load_rows(
                tx, USERS, iter(slow), run_id=ctx.run_id, report=written, batch_size=batch_size
            )
            report.deleted += written.deleted
            if changed_slow is not None and (newest is None or changed_slow > newest):
                newest = changed_slow
            slow.clear()

    for number, items in pages:
        for raw in items:
            index += 1
            report.read += 1
            if report.read % PROGRESS_EVERY == 0:
                ctx.tick("users", report.read)
            values = fast.values(raw) if use_fast else None
            row: Row | None = None
            if values is not None:
                source_id = values[0]
            else:
                row = transform_record(
                    _record(endpoint, index, number, raw), transform_user, ctx, report
                )
                if row is None:
                    continue
                source_id = str(_text(raw, "sourcedId"))
            key = source_id.strip(ID_WHITESPACE)
            first = seen.get(key)
            if first is not None:
                reason = repeat_reason(_where(endpoint, index, number), _where(endpoint, *first))
                reject_record(ctx, report, reason)
                continue
            seen[key] = (index, number)
            report.loaded += 1
            if values is not None:
                gathered.append(values)
            elif row is not None:
                if row["status"] == TOBEDELETED:
                    report.deletions += 1
                slow.append(row)
            if len(gathered) + len(slow) >= batch_size:
                flush()
    flush()
    ctx.tick("users", report.read)
    return newest


def _key_of(table: TableSpec) -> Callable[[Row], Hashable]:
    columns = table.primary_key

    def key(row: Row) -> Hashable:
        return tuple(row[c] for c in columns)

    return key


def _previous_cursors(ctx: SyncContext) -> dict[str, str]:
    return {
        str(state["stream"]): str(state["cursor"])
        for state in ctx.store.sync_state(ctx.source)
        if state["complete"] and state["cursor"]
    }


def _later(old: str | None, new: datetime | None) -> str | None:
    if new is None:
        return old
    if old is not None and datetime.fromisoformat(old) >= new:
        return old
    return new.isoformat()


def _load_stream(
    tx: Transaction,
    ctx: SyncContext,
    endpoint: Endpoint,
    pages: Iterator[tuple[int, list[Any]]],
    report: StreamReport,
    batch_size: int,
    *,
    fast: bool = True,
) -> datetime | None:
    """Transform and load one stream's pages; users take :func:`load_users` unless not ``fast``."""
    if fast and endpoint.stream == "users":
        return load_users(tx, ctx, pages, report=report, batch_size=batch_size)
    rows = transform_each(
        _records(
            ((number, item) for number, items in pages for item in items),
            endpoint,
        ),
        endpoint.transform,
        ctx,
        stream=endpoint.stream,
        unique_by=_key_of(endpoint.table),
    )
    return load_rows(
        tx, endpoint.table, rows, run_id=ctx.run_id, report=report, batch_size=batch_size
    )


def sync(ctx: SyncContext) -> SyncReport:
    """Pull the OneRoster REST streams into the store, all streams in one transaction.

    ``ctx.options`` holds the :class:`Config` fields. Bulk streams replace the source's rows
    (behind the shrink guard unless ``ctx.force``); incremental streams upsert what changed and
    apply ``tobedeleted``. On any error the store is left as it was.

    Raises
    ------
    connectors.http.ConnectorError
        The source could not be read (the message names the URL, page and what to do).
    connectors.base.RowRejectedError
        Strict mode, at the first record that cannot be loaded.
    edtech_map.store.ShrinkGuardError
        A bulk pull would delete half or more of the source's users or enrollments.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis",
    ...                   options={"base_url": "https://sis.example.org", "client_id": "ck",
    ...                            "streams": ["terms"], "client_secret": SecretStr("x")})
    >>> sync(ctx)
    Traceback (most recent call last):
    ...
    connectors.oneroster_rest.ConfigError: source 'sis' (oneroster_rest): ...unknown streams...
    """
    config = _config(ctx)
    report = ctx.report
    report.version = config.version
    cursors = _previous_cursors(ctx) if config.incremental else {}
    log.info(
        "pulling OneRoster %s REST from %s as source %r (%s)",
        config.version,
        config.api_root,
        ctx.source,
        "incremental" if config.incremental else "bulk",
    )
    with make_client(config) as client, ctx.store.transaction() as tx:
        before = {
            name: tx.count(ENDPOINTS[name].table, source=ctx.source) for name in GUARDED_STREAMS
        }
        finished: list[tuple[str, str | None]] = []
        for name in config.selected:
            endpoint = ENDPOINTS[name]
            since = cursors.get(name)
            mode = INCREMENTAL if since else BULK
            if config.incremental and since is None:
                report.warn(f"{name}: no cursor from a complete earlier pull; pulling in bulk")
            stream_report = report.stream(name, where=f"{client.url_for(endpoint.path)}")
            stream_report.mode = mode
            pages = _pages(
                client,
                endpoint,
                ctx,
                filter_since(since) if since else None,
                config.page_size,
                config.read_ahead,
            )
            newest = _load_stream(tx, ctx, endpoint, pages, stream_report, config.batch_size)
            if mode == BULK:
                delete_unseen(tx, ctx, name, endpoint.table, before=before, guarded=GUARDED_STREAMS)
            finished.append((name, _later(since, newest)))
            log.info(
                "%s: read %d, loaded %d, skipped %d, rejected %d, deleted %d (%s)",
                name,
                stream_report.read,
                stream_report.loaded,
                stream_report.skipped,
                stream_report.rejected,
                stream_report.deleted,
                mode,
            )
        if "users" in config.selected:
            delete_orphan_identities(tx, ctx.source)  # identities never outlive their user
        for name, cursor in finished:
            record_stream(tx, ctx, name, cursor=cursor)
    report.finished = datetime.now(UTC)
    log.info(
        "pulled %s: read %d, loaded %d, skipped %d, rejected %d",
        ctx.source,
        report.read,
        report.loaded,
        report.skipped,
        report.rejected,
    )
    return report


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
            f"ecosystem.yaml (see docs/connectors/oneroster-rest.md)."
        ) from None
