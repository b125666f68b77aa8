"""OneRoster 1.1 and 1.2 CSV bundles (a folder or a zip) into the store.

Reads ``manifest.csv`` (bulk, delta or absent per file; ``oneroster.version``), then
``orgs``, ``academicSessions``, ``courses``, ``classes``, ``users``, 1.2's ``roles`` and
``userProfiles``, and ``enrollments``, with Python's :mod:`csv` module in bounded batches so
that every problem names its file and physical line. The big files (courses, classes, users,
enrollments) go set-at-a-time in DuckDB instead (:mod:`connectors.oneroster_bulk`), with the
same rows, counts and rejections; a file that path cannot read exactly falls back to this one.
People become pseudonymous keys in the first transform; names, e-mails, usernames and raw user
ids never reach the store unless the caller opts in (``keep_identities``), and a ``password``
column is never read at all.

A bulk file replaces what the store holds for this source (upsert, then delete what the file
no longer has, behind the shrink guard); a delta file upserts its rows and applies its
``tobedeleted`` rows. The whole bundle is one transaction.

Examples
--------
>>> import tempfile
>>> from edtech_map.store import Store
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "orgs.csv").write_text(
...     "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\\n"
...     "org-1,active,2024-08-01,Lincoln Elementary,school,LES,\\n")
>>> with Store.open(folder / "ws" / "store.duckdb") as store:
...     report = sync(SyncContext(store=store, source="sis", options={"path": folder}))
...     store.query_arrow("SELECT org_key, name FROM orgs").to_pylist()
[{'org_key': 'org-1', 'name': 'Lincoln Elementary'}]
>>> report.streams["orgs"].loaded, report.warnings
(1, ['no manifest.csv: applying orgs.csv as bulk (full) files, read as OneRoster 1.1'])
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import re
import zipfile
import zlib
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import IO, Any

import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; see docs/store.md
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.base import (
    Row,
    RowError,
    SourceError,
    SourceRecord,
    StreamReport,
    StreamSpec,
    SyncContext,
    SyncReport,
    delete_orphan_identities,
    delete_unseen,
    log_stream,
    record_stream,
    transform_each,
)
from edtech_map.model import Role, parse_grade
from edtech_map.store import (
    ACADEMIC_SESSIONS,
    CLASSES,
    COURSES,
    ENROLLMENTS,
    IDENTITIES,
    ORGS,
    USER_PROFILES,
    USER_ROLES,
    USERS,
    TableSpec,
    Transaction,
)

__all__ = [
    "SOURCE",
    "STREAMS",
    "Bundle",
    "Config",
    "NotOneRosterError",
    "get_academic_sessions",
    "get_classes",
    "get_courses",
    "get_enrollments",
    "get_orgs",
    "get_user_profiles",
    "get_user_roles",
    "get_users",
    "open_bundle",
    "parse_bool",
    "parse_date",
    "parse_datetime",
    "split_list",
    "sync",
    "transform_academic_session",
    "transform_class",
    "transform_course",
    "transform_enrollment",
    "transform_org",
    "transform_user",
    "transform_user_profile",
    "transform_user_role",
]

log = logging.getLogger(__name__)

SOURCE = "oneroster_csv"
BULK, DELTA, ABSENT = "bulk", "delta", "absent"
TOBEDELETED = "tobedeleted"
STATUSES = frozenset({"active", "inactive", TOBEDELETED})
GUARDED_STREAMS = frozenset({"users", "enrollments"})
EXTENSIONS_KEY = "_extensions"
IDENTITY_KEY = "_identity"


class Config(BaseModel):
    """Settings of one OneRoster CSV import (``SyncContext.options``).

    Examples
    --------
    >>> Config(path="export.zip").batch_size
    5000
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path
    keep_extensions: bool = Field(
        False,
        description="Keep metadata.* and ext_* columns of non-person files in `extensions` (JSON).",
    )
    batch_size: int = Field(5000, ge=1, description="Rows per Arrow batch written to the store.")
    max_total_bytes: int = Field(
        4 * 1024**3, ge=1, description="Largest total uncompressed size of a zip bundle."
    )
    max_ratio: int = Field(
        200, ge=1, description="Largest compression ratio of a zip member over 1 MiB."
    )
    encoding: str = Field(
        "utf-8", description="Text encoding of the files; cp1252 for some Excel exports."
    )
    bulk: bool = Field(
        True,
        description="Read courses, classes, users and enrollments set-at-a-time in DuckDB "
        "(same rows, counts and rejections); false reads every file row by row.",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"{value!r} is not a text encoding Python knows") from None


class NotOneRosterError(SourceError):
    """The path is not a OneRoster CSV bundle; the message says what it looks like instead."""


# --------------------------------------------------------------------------------------------
# Files and their columns


@dataclass(frozen=True)
class FileSpec:
    """A OneRoster CSV file: the stream it feeds, its columns and what must be there."""

    stream: str
    file: str
    columns: tuple[str, ...]
    required: tuple[str, ...] = ("sourcedId",)
    aliases: Mapping[str, str] = field(default_factory=dict)
    personal: bool = False

    @property
    def canonical(self) -> dict[str, str]:
        """Lower-cased column name -> the spelling of the standard."""
        return {name.lower(): name for name in self.columns}


_COMMON = ("sourcedId", "status", "dateLastModified")
_GLOBAL_ALIASES = {
    "datalastmodified": "dateLastModified",
    "datelastmodifed": "dateLastModified",
    "sourceid": "sourcedId",
    "sourced_id": "sourcedId",
}
_USER_PERSONAL = (
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "userMasterIdentifier",
    "preferredGivenName",
    "preferredMiddleName",
    "preferredFamilyName",
    "pronouns",
)
FILES: dict[str, FileSpec] = {
    spec.stream: spec
    for spec in (
        FileSpec(
            "orgs",
            "orgs.csv",
            (*_COMMON, "name", "type", "identifier", "parentSourcedId"),
            aliases={"parentsourceid": "parentSourcedId"},
        ),
        FileSpec(
            "academic_sessions",
            "academicSessions.csv",
            (*_COMMON, "title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear"),
            aliases={"parentsourceid": "parentSourcedId"},
        ),
        FileSpec(
            "courses",
            "courses.csv",
            (
                *_COMMON,
                "schoolYearSourcedId",
                "title",
                "courseCode",
                "grades",
                "orgSourcedId",
                "subjects",
                "subjectCodes",
            ),
            aliases={
                "grade": "grades",
                "subject": "subjects",
                "schoolyearid": "schoolYearSourcedId",
            },
        ),
        FileSpec(
            "classes",
            "classes.csv",
            (
                *_COMMON,
                "title",
                "grades",
                "courseSourcedId",
                "classCode",
                "classType",
                "location",
                "schoolSourcedId",
                "termSourcedIds",
                "subjects",
                "subjectCodes",
                "periods",
            ),
            aliases={
                "termsourcedid": "termSourcedIds",
                "grade": "grades",
                "subject": "subjects",
                "period": "periods",
                "coursesourceid": "courseSourcedId",
                "schoolsourceid": "schoolSourcedId",
            },
        ),
        FileSpec(
            "users",
            "users.csv",
            (
                *_COMMON,
                "enabledUser",
                "orgSourcedIds",
                "role",
                "grades",
                "primaryOrgSourcedId",
                "password",
                *_USER_PERSONAL,
            ),
            aliases={
                "prefferedgivenname": "preferredGivenName",
                "prefferedmiddlename": "preferredMiddleName",
                "prefferedfamilyname": "preferredFamilyName",
                "preferredfirstname": "preferredGivenName",
                "preferredlastname": "preferredFamilyName",
                "orgsourcedid": "orgSourcedIds",
                "userid": "userIds",
                "grade": "grades",
                "enabled": "enabledUser",
                "agentsourcedid": "agentSourcedIds",
            },
            personal=True,
        ),
        FileSpec(
            "user_roles",
            "roles.csv",
            (
                *_COMMON,
                "userSourcedId",
                "roleType",
                "role",
                "beginDate",
                "endDate",
                "orgSourcedId",
                "userProfileSourcedId",
            ),
            required=("sourcedId", "userSourcedId", "role"),
        ),
        FileSpec(
            "user_profiles",
            "userProfiles.csv",
            (
                *_COMMON,
                "userSourcedId",
                "profileType",
                "vendorId",
                "applicationId",
                "description",
                "credentialType",
                "username",
                "password",
            ),
            required=("sourcedId", "userSourcedId"),
            personal=True,
        ),
        FileSpec(
            "enrollments",
            "enrollments.csv",
            (
                *_COMMON,
                "classSourcedId",
                "schoolSourcedId",
                "userSourcedId",
                "role",
                "primary",
                "beginDate",
                "endDate",
            ),
            required=("sourcedId", "classSourcedId", "userSourcedId", "role"),
            aliases={
                "classsourceid": "classSourcedId",
                "usersourceid": "userSourcedId",
                "schoolsourceid": "schoolSourcedId",
                "isprimary": "primary",
            },
        ),
    )
}
_BY_FILE_NAME = {spec.file.lower(): spec for spec in FILES.values()}
#: OneRoster files this connector does not import, and why (each is reported when present).
NOT_IMPORTED = {
    "demographics.csv": "edtech-map does not keep demographic data (birth dates, sex, race)",
    **{
        name.lower(): "gradebook and resource files are outside what edtech-map maps"
        for name in (
            "resources.csv",
            "classResources.csv",
            "courseResources.csv",
            "userResources.csv",
            "categories.csv",
            "lineItems.csv",
            "results.csv",
            "scoreScales.csv",
            "lineItemLearningObjectiveIds.csv",
            "lineItemScoreScales.csv",
            "resultLearningObjectiveIds.csv",
            "resultScoreScales.csv",
        )
    },
}
_MANIFEST_NAMES = {spec.file[:-4].lower(): spec for spec in FILES.values()}

STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("orgs", ORGS, "Districts, schools, departments.", "orgs.csv"),
    StreamSpec("academic_sessions", ACADEMIC_SESSIONS, "Years, terms.", "academicSessions.csv"),
    StreamSpec("courses", COURSES, "Courses.", "courses.csv"),
    StreamSpec("classes", CLASSES, "Classes (sections).", "classes.csv"),
    StreamSpec("users", USERS, "People, by key.", "users.csv"),
    StreamSpec("user_roles", USER_ROLES, "1.2 roles per org.", "roles.csv"),
    StreamSpec("user_profiles", USER_PROFILES, "1.2 app accounts.", "userProfiles.csv"),
    StreamSpec("enrollments", ENROLLMENTS, "Users in classes.", "enrollments.csv"),
)


# --------------------------------------------------------------------------------------------
# Values


_ISO = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?)?$",
    re.IGNORECASE,
)
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
DATE_HINT = (
    "use YYYY-MM-DD, an ISO date-time such as 2024-08-01T12:00:00Z, "
    "'YYYY-MM-DD HH:MM:SS' or D/M/YYYY"
)


@lru_cache(maxsize=8192)  # exports repeat a few timestamps thousands of times
def parse_datetime(value: str | None) -> datetime | None:
    """Read the date and date-time forms OneRoster exports use; naive times are UTC.

    The five forms: ISO date-time with ``Z`` or an offset, a date alone (midnight UTC), a
    space-separated date-time, ``D/M/YYYY`` (day first), and empty (``None``).

    Raises
    ------
    ValueError
        Saying which forms are accepted.

    Examples
    --------
    >>> parse_datetime("2023-05-01T18:25:43.511Z")
    datetime.datetime(2023, 5, 1, 18, 25, 43, 511000, tzinfo=datetime.timezone.utc)
    >>> parse_datetime("2023-05-01 18:25:43") == parse_datetime("2023-05-01T18:25:43Z")
    True
    >>> parse_datetime("15/06/2023").date(), parse_datetime(""), parse_datetime(None)
    (datetime.date(2023, 6, 15), None, None)
    >>> parse_datetime("06/15/2023")
    Traceback (most recent call last):
    ...
    ValueError: not a date: month 15 is out of range (D/M/YYYY is day first)
    """
    text = (value or "").strip()
    if not text:
        return None
    if match := _ISO.match(text):
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        try:
            moment = datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                int((fraction or "0")[:6].ljust(6, "0")),
                tzinfo=_zone(zone),
            )
        except ValueError as error:
            raise ValueError(f"not a date: {error}") from None
        return moment.astimezone(UTC)
    if match := _DMY.match(text):
        day, month, year = (int(part) for part in match.groups())
        if not 1 <= month <= 12:
            raise ValueError(f"not a date: month {month} is out of range (D/M/YYYY is day first)")
        try:
            return datetime(year, month, day, tzinfo=UTC)
        except ValueError as error:
            raise ValueError(f"not a date: {error}") from None
    raise ValueError(f"not a date; {DATE_HINT}")


def _zone(text: str | None) -> timezone:
    if text is None or text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


@lru_cache(maxsize=8192)
def parse_date(value: str | None) -> date | None:
    """A calendar date from any form :func:`parse_datetime` reads (the time is dropped).

    Examples
    --------
    >>> parse_date("2022-03-15"), parse_date("1/05/2023"), parse_date(" ")
    (datetime.date(2022, 3, 15), datetime.date(2023, 5, 1), None)
    """
    text = (value or "").strip()
    if not text:
        return None
    if (match := _ISO.match(text)) and match.group(8) is None:
        # a local date-time without zone: keep its calendar day rather than shift it
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError as error:
            raise ValueError(f"not a date: {error}") from None
    moment = parse_datetime(text)
    return moment.date() if moment else None


_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def parse_bool(value: str | None) -> bool | None:
    """``true``/``false`` in the spellings exports use (any case); empty is ``None``.

    Examples
    --------
    >>> parse_bool("TRUE"), parse_bool("false"), parse_bool(""), parse_bool("1")
    (True, False, None, True)
    >>> parse_bool("maybe")
    Traceback (most recent call last):
    ...
    ValueError: not true or false
    """
    text = (value or "").strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not true or false")


def split_list(value: str | None) -> list[str]:
    """Split a OneRoster multi-value cell on commas, dropping blanks.

    Examples
    --------
    >>> split_list("Science, Physics, Biology"), split_list(""), split_list(None)
    (['Science', 'Physics', 'Biology'], [], [])
    """
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _text(values: Mapping[str, str | None], column: str) -> str | None:
    value = values.get(column)
    return value if value else None


def _required(values: Mapping[str, str | None], column: str, *, personal: bool = False) -> str:
    value = values.get(column)
    if not value:
        raise RowError(column, value or "", "is required and empty", personal=personal)
    return value


def _status(values: Mapping[str, str | None]) -> str:
    text = (values.get("status") or "").strip().lower()
    if not text:
        return "active"
    if text not in STATUSES:
        raise RowError("status", values.get("status"), "not active, inactive or tobedeleted")
    return text


def _when(values: Mapping[str, str | None], column: str) -> datetime | None:
    try:
        return parse_datetime(values.get(column))
    except ValueError as error:
        raise RowError(column, values.get(column), str(error)) from None


def _day(values: Mapping[str, str | None], column: str) -> date | None:
    try:
        return parse_date(values.get(column))
    except ValueError as error:
        raise RowError(column, values.get(column), str(error)) from None


def _flag(values: Mapping[str, str | None], column: str) -> bool | None:
    try:
        return parse_bool(values.get(column))
    except ValueError as error:
        raise RowError(column, values.get(column), str(error)) from None


@lru_cache(maxsize=1024)
def _grade_codes(text: str) -> tuple[str, ...]:
    """CEDS codes of a grades cell, in the order given, without repeats (ValueError if bad)."""
    return tuple(dict.fromkeys(parse_grade(part).value for part in split_list(text)))


def _grades(values: Mapping[str, str | None], column: str = "grades") -> list[str]:
    try:
        return list(_grade_codes(values.get(column) or ""))
    except ValueError as error:
        raise RowError(column, values.get(column), str(error)) from None


_ROLES = {role.value.lower(): role for role in Role}


def _role(values: Mapping[str, str | None], column: str = "role") -> str:
    text = _required(values, column).strip()
    try:
        return _ROLES[text.lower()].value
    except KeyError:
        raise RowError(
            column, text, f"not a OneRoster role; use one of {', '.join(r.value for r in Role)}"
        ) from None


def _lower(values: Mapping[str, str | None], column: str) -> str | None:
    value = _text(values, column)
    return value.lower() if value else None


def _entity(values: Mapping[str, str | None], ctx: SyncContext, key: str, value: str) -> Row:
    """The columns every roster row has; a ``tobedeleted`` row stops here (only its key)."""
    status = _status(values)
    row: Row = {"source": ctx.source, key: value, "status": status}
    if status != TOBEDELETED:
        row["date_last_modified"] = _when(values, "dateLastModified")
        row["extensions"] = values.get(EXTENSIONS_KEY)
    return row


# --------------------------------------------------------------------------------------------
# Transforms: one raw record (column -> text) to one store row. Pure; people become keys here.


def transform_org(values: Mapping[str, str | None], ctx: SyncContext) -> Row:
    """An ``orgs.csv`` record as an ``orgs`` row (orgs are not people: their ids are kept).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> row = transform_org({"sourcedId": "org-1", "name": "Lincoln", "type": "School"}, ctx)
    >>> row["org_key"], row["type"], row["status"]
    ('org-1', 'school', 'active')
    """
    row = _entity(values, ctx, "org_key", _required(values, "sourcedId"))
    if row["status"] == TOBEDELETED:
        return row
    row.update(
        name=_text(values, "name"),
        type=_lower(values, "type"),
        identifier=_text(values, "identifier"),
        parent_org_key=_text(values, "parentSourcedId"),
    )
    return row


def transform_academic_session(values: Mapping[str, str | None], ctx: SyncContext) -> Row:
    """An ``academicSessions.csv`` record as an ``academic_sessions`` row.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> row = transform_academic_session({"sourcedId": "t1", "type": "term",
    ...     "startDate": "2024-08-01", "endDate": "15/12/2024"}, ctx)
    >>> row["start_date"], row["end_date"]
    (datetime.date(2024, 8, 1), datetime.date(2024, 12, 15))
    """
    row = _entity(values, ctx, "session_key", _required(values, "sourcedId"))
    if row["status"] == TOBEDELETED:
        return row
    row.update(
        title=_text(values, "title"),
        type=_lower(values, "type"),
        start_date=_day(values, "startDate"),
        end_date=_day(values, "endDate"),
        parent_session_key=_text(values, "parentSourcedId"),
        school_year=_text(values, "schoolYear"),
    )
    return row


def transform_course(values: Mapping[str, str | None], ctx: SyncContext) -> Row:
    """A ``courses.csv`` record as a ``courses`` row.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> transform_course({"sourcedId": "c1", "grades": "9,10"}, ctx)["grades"]
    ['09', '10']
    """
    row = _entity(values, ctx, "course_key", _required(values, "sourcedId"))
    if row["status"] == TOBEDELETED:
        return row
    row.update(
        title=_text(values, "title"),
        course_code=_text(values, "courseCode"),
        school_year_key=_text(values, "schoolYearSourcedId"),
        org_key=_text(values, "orgSourcedId"),
        grades=_grades(values),
        subjects=split_list(values.get("subjects")),
        subject_codes=split_list(values.get("subjectCodes")),
    )
    return row


def transform_class(values: Mapping[str, str | None], ctx: SyncContext) -> Row:
    """A ``classes.csv`` record as a ``classes`` row.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SyncContext(store=SimpleNamespace(keys=None), source="sis")
    >>> row = transform_class({"sourcedId": "cls-1", "classType": "Scheduled",
    ...                        "termSourcedIds": "t1,t2", "periods": "1,2"}, ctx)
    >>> row["class_type"], row["term_keys"], row["periods"]
    ('scheduled', ['t1', 't2'], ['1', '2'])
    """
    row = _entity(values, ctx, "class_key", _required(values, "sourcedId"))
    if row["status"] == TOBEDELETED:
        return row
    row.update(
        title=_text(values, "title"),
        class_code=_text(values, "classCode"),
        class_type=_lower(values, "classType"),
        location=_text(values, "location"),
        course_key=_text(values, "courseSourcedId"),
        school_key=_text(values, "schoolSourcedId"),
        term_keys=split_list(values.get("termSourcedIds")),
        grades=_grades(values),
        subjects=split_list(values.get("subjects")),
        subject_codes=split_list(values.get("subjectCodes")),
        periods=split_list(values.get("periods")),
    )
    return row


def transform_user(values: Mapping[str, str | None], ctx: SyncContext) -> Row:
    """A ``users.csv`` record as a ``users`` row: a key, roles, orgs and grades, no names.

    With ``ctx.keep_identities`` the row also carries the ``identities`` row (names, e-mail,
    username) under ``_identity``; the loader writes it to its own table.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="sis")
    >>> row = transform_user({"sourcedId": "stu-1", "role": "Student", "givenName": "Ada",
    ...                       "orgSourcedIds": "org-1", "grades": "KG"}, ctx)
    >>> row["user_key"] == ctx.keys.user("stu-1"), row["roles"], row["primary_org_key"]
    (True, ['student'], 'org-1')
    >>> "Ada" in str(row), "stu-1" in str(row)
    (False, False)
    """
    source_id = _required(values, "sourcedId", personal=True)
    user_key = ctx.keys.user(source_id)
    row = _entity(values, ctx, "user_key", user_key)
    if row["status"] == TOBEDELETED:
        return row
    role = _role(values) if values.get("role") else None
    org_keys = split_list(values.get("orgSourcedIds"))
    primary_org = _text(values, "primaryOrgSourcedId") or (org_keys[0] if org_keys else None)
    if primary_org and primary_org not in org_keys:
        org_keys.insert(0, primary_org)
    row.update(
        enabled=_flag(values, "enabledUser"),
        primary_role=role,
        roles=[role] if role else [],
        primary_org_key=primary_org,
        org_keys=org_keys,
        grades=_grades(values),
        extensions=None,  # person files never keep extension columns
    )
    if ctx.keep_identities:
        row[IDENTITY_KEY] = {
            "source": ctx.source,
            "user_key": user_key,
            "given_name": _text(values, "givenName"),
            "family_name": _text(values, "familyName"),
            "middle_name": _text(values, "middleName"),
            "preferred_given_name": _text(values, "preferredGivenName"),
            "preferred_family_name": _text(values, "preferredFamilyName"),
            "email": _text(values, "email"),
            "username": _text(values, "username"),
            "identifier": _text(values, "identifier"),
            "source_id": source_id,
        }
    return row


def _person_key(ctx: SyncContext, kind: str, source_id: str) -> str:
    """Ids of records about one person (enrollments, roles, profiles) are keyed as well."""
    return ctx.keys.user(source_id, namespace=f"{ctx.source}:{kind}")


def transform_user_role(values: Mapping[str, str | None], ctx: SyncContext) -> Row:
    """A 1.2 ``roles.csv`` record as a ``user_roles`` row.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="sis")
    >>> row = transform_user_role({"sourcedId": "r1", "userSourcedId": "t-1",
    ...     "roleType": "Primary", "role": "teacher", "orgSourcedId": "org-1"}, ctx)
    >>> row["role"], row["role_type"], row["user_key"] == ctx.keys.user("t-1")
    ('teacher', 'primary', True)
    """
    row = _entity(values, ctx, "role_key", _person_key(ctx, "role", _required(values, "sourcedId")))
    if row["status"] == TOBEDELETED:
        return row
    role_type = _lower(values, "roleType")
    if role_type not in {None, "primary", "secondary"}:
        raise RowError("roleType", values.get("roleType"), "not primary or secondary")
    row.update(
        user_key=ctx.keys.user(_required(values, "userSourcedId", personal=True)),
        role_type=role_type,
        role=_role(values),
        org_key=_text(values, "orgSourcedId"),
        begin_date=_day(values, "beginDate"),
        end_date=_day(values, "endDate"),
    )
    return row


def transform_user_profile(values: Mapping[str, str | None], ctx: SyncContext) -> Row:
    """A 1.2 ``userProfiles.csv`` record as a ``user_profiles`` row (no username, no password).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="sis")
    >>> row = transform_user_profile({"sourcedId": "p1", "userSourcedId": "s-1",
    ...     "vendorId": "WEI18954", "username": "bwayne"}, ctx)
    >>> row["vendor_id"], "bwayne" in str(row)
    ('WEI18954', False)
    """
    key = _person_key(ctx, "profile", _required(values, "sourcedId"))
    row = _entity(values, ctx, "profile_key", key)
    if row["status"] == TOBEDELETED:
        return row
    row.update(
        user_key=ctx.keys.user(_required(values, "userSourcedId", personal=True)),
        profile_type=_text(values, "profileType"),
        vendor_id=_text(values, "vendorId"),
        application_id=_text(values, "applicationId"),
        credential_type=_text(values, "credentialType"),
        extensions=None,
    )
    return row


def transform_enrollment(values: Mapping[str, str | None], ctx: SyncContext) -> Row:
    """An ``enrollments.csv`` record as an ``enrollments`` row; the user is a key.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from edtech_map.privacy import KeyMaker
    >>> ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"k" * 32)), source="sis")
    >>> row = transform_enrollment({"sourcedId": "e1", "classSourcedId": "cls-1",
    ...     "userSourcedId": "s-1", "role": "student", "primary": "false"}, ctx)
    >>> row["class_key"], row["role"], row["is_primary"], row["user_key"] == ctx.keys.user("s-1")
    ('cls-1', 'student', False, True)
    >>> transform_enrollment({"sourcedId": "e2", "classSourcedId": "c", "userSourcedId": "s",
    ...                       "role": "pupil"}, ctx)
    Traceback (most recent call last):
    ...
    connectors.base.RowError: role = 'pupil': not a OneRoster role; use one of student, ...
    """
    key = _person_key(ctx, "enrollment", _required(values, "sourcedId"))
    row = _entity(values, ctx, "enrollment_key", key)
    if row["status"] == TOBEDELETED:
        return row
    row.update(
        user_key=ctx.keys.user(_required(values, "userSourcedId", personal=True)),
        class_key=_required(values, "classSourcedId"),
        school_key=_text(values, "schoolSourcedId"),
        role=_role(values),
        is_primary=_flag(values, "primary"),
        begin_date=_day(values, "beginDate"),
        end_date=_day(values, "endDate"),
    )
    return row


TRANSFORMS = {
    "orgs": transform_org,
    "academic_sessions": transform_academic_session,
    "courses": transform_course,
    "classes": transform_class,
    "users": transform_user,
    "user_roles": transform_user_role,
    "user_profiles": transform_user_profile,
    "enrollments": transform_enrollment,
}


# --------------------------------------------------------------------------------------------
# The bundle: a folder or a zip, read safely


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle and how the manifest says to apply it."""

    spec: FileSpec
    member: str
    name: str
    mode: str


@dataclass
class Bundle:
    """An open OneRoster bundle: its files, its version and each file's mode.

    Made by :func:`open_bundle`; ``open_lines`` reads a member as UTF-8 lines (BOM removed,
    line endings kept for the csv module).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "Users.CSV").write_bytes(b"\\xef\\xbb\\xbfsourcedId,role\\r\\nu1,student")
    >>> with open_bundle(folder, Config(path=folder), SyncReport("s", "r")) as bundle:
    ...     with bundle.open_lines(bundle.files["users"].member) as lines:
    ...         bundle.version, list(lines)
    ('1.1', ['sourcedId,role\\r\\n', 'u1,student'])
    """

    path: Path
    members: dict[str, str]
    encoding: str = "utf-8"
    version: str = "1.1"
    files: dict[str, BundleFile] = field(default_factory=dict)
    _zip: zipfile.ZipFile | None = None
    _sizes: dict[str, int] = field(default_factory=dict)
    _max_total: int = 0
    _read_total: list[int] = field(default_factory=lambda: [0])

    def display(self, member: str) -> str:
        """How messages name a member: its file name."""
        return PurePosixPath(member).name

    @contextmanager
    def open_binary(self, member: str) -> Iterator[IO[bytes]]:
        """Open ``member`` as bytes (a zip member is read through the size cap)."""
        with ExitStack() as stack:
            if self._zip is None:
                yield stack.enter_context((self.path / member).open("rb"))
            else:
                raw = stack.enter_context(self._zip.open(member))
                yield io.BufferedReader(
                    _CappedReader(raw, self._sizes[member], self._max_total, self._read_total)
                )

    @contextmanager
    def open_lines(self, member: str) -> Iterator[Iterator[str]]:
        """The lines of ``member`` as text for :mod:`csv`, decoded one line at a time.

        Decoding line by line (UTF-8, a leading BOM dropped, line endings kept) is what lets
        an encoding error name its exact line.
        """
        shown = self.display(member)
        with self.open_binary(member) as binary:

            def lines() -> Iterator[str]:
                for number, line in enumerate(_damage_checked(binary, shown), start=1):
                    try:
                        text = line.decode(self.encoding)
                    except UnicodeDecodeError as error:
                        raise SourceError(
                            f"{shown}:{number}: not {self.encoding} text ({error.reason} at "
                            f"byte {error.start + 1} of the line); save the file as UTF-8, or "
                            f"give its encoding (--encoding cp1252 for many Excel exports)"
                        ) from None
                    yield text.removeprefix("\ufeff") if number == 1 else text

            yield lines()


def _damage_checked(binary: IO[bytes], shown: str) -> Iterator[bytes]:
    """The lines of a member; a damaged zip member becomes a :class:`SourceError`."""
    lines = iter(binary)
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise SourceError(
                f"{shown}: the zip member is damaged ({error}); re-create the zip from the "
                f"original files"
            ) from None
        yield line


class _CappedReader(io.RawIOBase):
    """Reads a zip member, stopping when it yields more than it declared (a zip bomb)."""

    def __init__(self, raw: IO[bytes], declared: int, max_total: int, total: list[int]) -> None:
        self.raw, self.declared, self.max_total, self.total = raw, declared, max_total, total
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.count += size
        self.total[0] += size
        if self.count > self.declared or self.total[0] > self.max_total:
            raise SourceError(
                "a zip member holds more data than its header declares (a zip bomb?); "
                "refusing to read on. Re-create the zip from the original files."
            )
        return size


def _safe_member(name: str, zip_path: Path) -> None:
    posix = PurePosixPath(name.replace("\\", "/"))
    if (
        name.startswith(("/", "\\"))
        or re.match(r"^[A-Za-z]:", name)
        or ".." in posix.parts
        or "\\" in name
    ):
        raise SourceError(
            f"{zip_path}: member {name!r} points outside the bundle (path traversal); "
            f"refusing the zip. Re-create it with plain file names."
        )


def _zip_members(path: Path, config: Config) -> tuple[zipfile.ZipFile, dict[str, int]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise SourceError(f"{path}: not a readable zip file ({error})") from None
    try:
        return archive, _checked_sizes(archive, path, config)
    except BaseException:
        archive.close()
        raise


def _checked_sizes(archive: zipfile.ZipFile, path: Path, config: Config) -> dict[str, int]:
    """Member -> declared size, after refusing unsafe names, encryption and zip bombs."""
    sizes: dict[str, int] = {}
    total = 0
    for info in archive.infolist():
        _safe_member(info.filename, path)
        name = PurePosixPath(info.filename)
        if info.is_dir() or name.parts[0] == "__MACOSX" or name.name.startswith("._"):
            continue
        if info.flag_bits & 0x1:
            raise SourceError(f"{path}: {info.filename} is encrypted; unzip it with its password")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024**2 and ratio > config.max_ratio:
            raise SourceError(
                f"{path}: {info.filename} would expand {ratio:.0f}-fold (limit "
                f"{config.max_ratio}); refusing a possible zip bomb. Unzip it yourself and "
                f"import the folder if it is genuine."
            )
        sizes[info.filename] = info.file_size
    if total > config.max_total_bytes:
        raise SourceError(
            f"{path}: the zip holds {total:,} bytes uncompressed, over the limit of "
            f"{config.max_total_bytes:,}; raise max_total_bytes if this is genuine."
        )
    return sizes


def _csv_members(names: list[str], path: Path) -> dict[str, str]:
    """Lower-cased file name -> member, for the CSVs of the bundle's one folder."""
    csvs = [n for n in names if n.lower().endswith(".csv")]
    folders = {str(PurePosixPath(n).parent) for n in csvs}
    if len(folders) > 1:
        top = sorted(folders)[:3]
        raise SourceError(
            f"{path}: CSV files sit in several folders ({', '.join(top)}); a bundle keeps "
            f"its files together. Import one folder at a time."
        )
    return {PurePosixPath(n).name.lower(): n for n in csvs}


@contextmanager
def open_bundle(path: Path, config: Config, report: SyncReport) -> Iterator[Bundle]:
    """Open a bundle folder or zip, read its manifest and plan which files to apply how.

    Raises
    ------
    SourceError
        A missing path, an unsafe or broken zip, a manifest that cannot be followed.
    NotOneRosterError
        CSV files that are not OneRoster: no manifest and no ``sourcedId`` column.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "manifest.csv").write_text("propertyName,value\\noneroster.version,1.2\\n"
    ...                                          "file.orgs,bulk\\n")
    >>> _ = (folder / "orgs.csv").write_text("sourcedId,name\\n")
    >>> with open_bundle(folder, Config(path=folder), SyncReport("s", "r")) as bundle:
    ...     bundle.version, {name: f.mode for name, f in bundle.files.items()}
    ('1.2', {'orgs': 'bulk'})
    """
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder; give a OneRoster folder or zip")
    if path.is_dir():
        names = [p.name for p in sorted(path.iterdir()) if p.is_file()]
        bundle = Bundle(path=path, members=_csv_members(names, path), encoding=config.encoding)
    else:
        archive, sizes = _zip_members(path, config)
        try:
            members = _csv_members(list(sizes), path)
        except SourceError:
            archive.close()
            raise
        bundle = Bundle(
            path=path,
            members=members,
            encoding=config.encoding,
            _zip=archive,
            _sizes=sizes,
            _max_total=config.max_total_bytes,
        )
    try:
        _plan(bundle, report)
        yield bundle
    finally:
        if bundle._zip is not None:
            bundle._zip.close()


def _read_manifest(bundle: Bundle, member: str) -> list[tuple[int, str, str]]:
    entries: list[tuple[int, str, str]] = []
    name = bundle.display(member)
    with bundle.open_lines(member) as lines:
        reader = csv.reader(lines)
        header = next(reader, None)
        if not header or [h.strip().lower() for h in header[:2]] != ["propertyname", "value"]:
            raise SourceError(
                f"{name}:1: the header is {header!r}, not 'propertyName,value'; fix the "
                f"manifest or remove it to import every file present as bulk"
            )
        try:
            for row in reader:
                if row and any(cell.strip() for cell in row):
                    value = row[1].strip() if len(row) > 1 else ""
                    entries.append((reader.line_num, row[0].strip(), value))
        except csv.Error as error:
            raise SourceError(f"{name}:{reader.line_num}: not readable as CSV ({error})") from None
    return entries


def _plan(bundle: Bundle, report: SyncReport) -> None:
    """Decide the version and, for each file, bulk / delta / absent (manifest or presence)."""
    members = bundle.members
    present = {name: member for name, member in members.items() if name in _BY_FILE_NAME}
    manifest = members.get("manifest.csv")
    modes: dict[str, str] = {}
    if manifest is None:
        if not present or not _has_sourced_id(bundle):
            raise NotOneRosterError(_not_oneroster(bundle))
        modes = {_BY_FILE_NAME[name].stream: BULK for name in present}
        bundle.version = "1.2" if "roles.csv" in present else "1.1"
        report.warn(
            f"no manifest.csv: applying {', '.join(sorted(present))} as bulk (full) files, "
            f"read as OneRoster {bundle.version}"
        )
    else:
        version = None
        shown = bundle.display(manifest)
        for line, prop, value in _read_manifest(bundle, manifest):
            key = prop.lower()
            if key == "oneroster.version":
                version = value
            elif key.startswith("file."):
                spec = _MANIFEST_NAMES.get(key[5:])
                mode = value.lower()
                if mode not in {BULK, DELTA, ABSENT}:
                    if mode:
                        raise SourceError(
                            f"{shown}:{line}: {prop} = {value!r}: not bulk, delta or absent; "
                            f"fix the manifest"
                        )
                    report.warn(f"{shown}:{line}: {prop} has no value; treated as absent")
                    mode = ABSENT
                if spec is not None:
                    modes[spec.stream] = mode
                elif mode != ABSENT and f"{key[5:]}.csv" not in NOT_IMPORTED:
                    report.warn(f"{shown}:{line}: {prop} is not a file this importer knows")
        if version is None:
            version = "1.2" if "roles.csv" in present else "1.1"
            report.warn(f"{shown}: no oneroster.version; read as OneRoster {version}")
        elif version not in {"1.0", "1.1", "1.2"}:
            raise SourceError(
                f"{shown}: oneroster.version = {version!r}; this importer reads 1.0, 1.1 and 1.2"
            )
        bundle.version = version
        for stream, mode in modes.items():
            spec = FILES[stream]
            if mode != ABSENT and spec.file.lower() not in present:
                raise SourceError(
                    f"{shown}: file.{spec.file[:-4]} is {mode}, but the bundle has no "
                    f"{spec.file}; add the file or mark it absent"
                )
    for name, member in sorted(present.items()):
        spec = _BY_FILE_NAME[name]
        mode = modes.get(spec.stream, ABSENT)
        shown = bundle.display(member)
        if mode == ABSENT:
            report.warn(
                f"{shown} is present but the manifest does not list it as bulk or delta; "
                f"not imported"
            )
            continue
        if shown != spec.file:
            report.warn(f"{shown} read as {spec.file} (file names are matched ignoring case)")
        bundle.files[spec.stream] = BundleFile(spec=spec, member=member, name=shown, mode=mode)
    for name in sorted(members):
        if name == "manifest.csv" or name in _BY_FILE_NAME:
            continue
        why = NOT_IMPORTED.get(name, "not a OneRoster file name")
        report.warn(f"{bundle.display(members[name])} not imported: {why}")
    report.version = bundle.version


def _header(bundle: Bundle, member: str) -> list[str]:
    with bundle.open_lines(member) as lines:
        try:
            return next(csv.reader(lines), [])
        except (SourceError, csv.Error):
            return []


def _has_sourced_id(bundle: Bundle) -> bool:
    for member in bundle.members.values():
        names = {h.strip().lower() for h in _header(bundle, member)}
        if "sourcedid" in names or names & {
            a for a, c in _GLOBAL_ALIASES.items() if c == "sourcedId"
        }:
            return True
    return False


_CLEVER_FILES = {"students.csv", "teachers.csv", "sections.csv", "schools.csv", "staff.csv"}


def _not_oneroster(bundle: Bundle) -> str:
    names = sorted(bundle.members)
    if not names:
        return (
            f"{bundle.path}: no CSV files; give the folder or zip of a OneRoster CSV export "
            f"(if the files sit in a subfolder, give that folder)"
        )
    shown = ", ".join(bundle.display(bundle.members[n]) for n in names[:6])
    columns = _header(bundle, bundle.members[names[0]])[:5]
    if set(names) & _CLEVER_FILES:
        looks = f"a Clever-style roster export ({shown})"
    elif any(n in _BY_FILE_NAME for n in names):
        looks = f"a OneRoster-like export ({shown}) whose headers use other column names"
    else:
        looks = f"CSV files ({shown})"
    return (
        f"{bundle.path} is not a OneRoster CSV bundle: it looks like {looks}, with columns "
        f"such as {', '.join(columns) or '(none)'}. Missing: manifest.csv, and a sourcedId "
        f"column in any file. Export OneRoster 1.1 or 1.2 CSV from the SIS or rostering hub "
        f"(see docs/connectors/oneroster-csv.md)."
    )


# --------------------------------------------------------------------------------------------
# Reading one file: header matching, then records with their physical line numbers


@dataclass
class _Layout:
    """How the columns of one file map onto the standard's names."""

    names: list[str | None]
    extensions: list[tuple[int, str]]
    width: int
    min_width: int


#: Columns never read at all, per file: passwords always, people's details unless names are kept.
_NEVER_READ = {
    "users": frozenset({"password"}),
    "user_profiles": frozenset({"password", "username"}),
}
_IDENTITY_COLUMNS = frozenset(
    {"givenName", "familyName", "middleName", "preferredGivenName", "preferredFamilyName",
     "email", "username", "identifier"}
)  # fmt: skip


def _unread(spec: FileSpec, keep_identities: bool) -> frozenset[str]:
    """The columns of ``spec`` whose values are dropped as the line is split."""
    unread = _NEVER_READ.get(spec.stream, frozenset())
    if spec.stream == "users":
        personal = frozenset(_USER_PERSONAL)
        unread |= personal - _IDENTITY_COLUMNS if keep_identities else personal
    return unread


def _layout(
    header: list[str],
    bundle_file: BundleFile,
    report: SyncReport,
    keep: bool,
    unread: frozenset[str] = frozenset(),
) -> _Layout:
    spec, shown = bundle_file.spec, bundle_file.name
    canonical = spec.canonical
    aliases = {**_GLOBAL_ALIASES, **spec.aliases}
    names: list[str | None] = []
    seen: set[str] = set()
    extensions: list[tuple[int, str]] = []
    ignored: list[str] = []
    unnamed = 0
    for index, raw in enumerate(header):
        text = raw.strip()
        lowered = text.lower()
        if not text:
            names.append(None)
            unnamed += 1
            continue
        if lowered in canonical:
            name = canonical[lowered]
        elif lowered in aliases and aliases[lowered] in spec.columns:
            name = aliases[lowered]
            report.warn(
                f"{shown}:1: column {text!r} read as {name!r} (a known misspelling or old name)"
            )
        else:
            name = None
            if (lowered.startswith(("metadata.", "ext_", "ext."))) and keep and not spec.personal:
                extensions.append((index, text))
            else:
                ignored.append(text)
        if name == "password":
            report.warn(
                f"{shown}:1: has a plain-text password column; its values are not read. Ask "
                f"the sender to leave passwords out of roster exports"
            )
            name = None
        if name is not None and name in seen:
            raise SourceError(f"{shown}:1: column {name!r} appears twice; remove one")
        if name is not None:
            seen.add(name)
        names.append(None if name in unread else name)
    if unnamed:
        report.warn(
            f"{shown}:1: {unnamed} column{'s' if unnamed > 1 else ''} without a name; ignored"
        )
    if ignored:
        why = (
            "kept out of a file about people"
            if spec.personal and any(i.lower().startswith(("metadata.", "ext")) for i in ignored)
            else "not stored"
        )
        extras = [i for i in ignored if i.lower().startswith(("metadata.", "ext_", "ext."))]
        unknown = [i for i in ignored if i not in extras]
        if extras:
            report.warn(
                f"{shown}:1: {len(extras)} extension column{'s' if len(extras) > 1 else ''} "
                f"({', '.join(extras[:5])}) {why}; keep_extensions keeps them (not for people)"
            )
        if unknown:
            report.warn(
                f"{shown}:1: unknown column{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown[:5])} not stored"
            )
    missing = [c for c in spec.required if c not in seen]
    if spec.stream == "users" and report.version != "1.2" and "role" not in seen:
        missing.append("role")
    if missing:
        found = ", ".join(h for h in header if h.strip()) or "(none)"
        raise SourceError(
            f"{shown}:1: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (found: {found}); this file cannot be read as OneRoster "
            f"{spec.file}. Fix the header and import again."
        )
    trailing = 0
    for raw in reversed(header):
        if raw.strip():
            break
        trailing += 1
    return _Layout(names, extensions, len(header), len(header) - trailing)


def read_records(
    bundle: Bundle, stream: str, ctx: SyncContext, *, keep_extensions: bool
) -> Iterator[SourceRecord]:
    """The records of one stream's file, each with its ``file:line``.

    Blank lines are not records. A row with more fields than the header, or fewer than its
    named columns, is passed on with a ``problem`` (rejected, with file and line).

    Raises
    ------
    SourceError
        When the file is empty, not UTF-8, or not CSV the csv module can read.
    """
    bundle_file = bundle.files[stream]
    shown = bundle_file.name
    report = ctx.report
    with bundle.open_lines(bundle_file.member) as lines:
        reader = csv.reader(lines)
        try:
            header = next(reader, None)
            if header is None:
                raise SourceError(
                    f"{shown}: the file is empty (not even a header line); a OneRoster file "
                    f"always starts with its header"
                )
            unread = _unread(bundle_file.spec, ctx.keep_identities)
            layout = _layout(header, bundle_file, report, keep_extensions, unread)
            line = reader.line_num
            for row in reader:
                start, line = line + 1, reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                where = f"{shown}:{start}"
                if len(row) > layout.width or len(row) < layout.min_width:
                    yield SourceRecord(
                        where,
                        {},
                        problem=(
                            f"has {len(row)} fields but the header has {layout.width}; check "
                            f"for an unquoted comma or a missing field on this line"
                        ),
                    )
                    continue
                values: dict[str, str | None] = {}
                for index, name in enumerate(layout.names):
                    if name is not None and index < len(row):
                        values[name] = row[index].strip()
                if layout.extensions:
                    kept = {n: row[i] for i, n in layout.extensions if i < len(row) and row[i]}
                    values[EXTENSIONS_KEY] = json.dumps(kept, ensure_ascii=False) if kept else None
                yield SourceRecord(where, values)
        except csv.Error as error:
            raise SourceError(f"{shown}:{reader.line_num}: not readable as CSV ({error})") from None


def get_orgs(bundle: Bundle, ctx: SyncContext) -> Iterator[SourceRecord]:
    """Raw ``orgs.csv`` records.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "orgs.csv").write_text("sourcedId,name,type\\norg-1,Lincoln,school\\n")
    >>> ctx = SyncContext(store=None, source="sis")
    >>> with open_bundle(folder, Config(path=folder), ctx.report) as bundle:
    ...     [dict(record.values) for record in get_orgs(bundle, ctx)]
    [{'sourcedId': 'org-1', 'name': 'Lincoln', 'type': 'school'}]
    """
    yield from read_records(bundle, "orgs", ctx, keep_extensions=_keep(ctx))


def get_academic_sessions(bundle: Bundle, ctx: SyncContext) -> Iterator[SourceRecord]:
    """Raw ``academicSessions.csv`` records.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "academicSessions.csv").write_text("sourcedId,type,startDate\\nfall,term,2024-08-19\\n")
    >>> ctx = SyncContext(store=None, source="sis")
    >>> with open_bundle(folder, Config(path=folder), ctx.report) as bundle:
    ...     [dict(record.values) for record in get_academic_sessions(bundle, ctx)]
    [{'sourcedId': 'fall', 'type': 'term', 'startDate': '2024-08-19'}]
    """
    yield from read_records(bundle, "academic_sessions", ctx, keep_extensions=_keep(ctx))


def get_courses(bundle: Bundle, ctx: SyncContext) -> Iterator[SourceRecord]:
    """Raw ``courses.csv`` records.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "courses.csv").write_text('sourcedId,title,grades\\nalg1,Algebra I,"08,09"\\n')
    >>> ctx = SyncContext(store=None, source="sis")
    >>> with open_bundle(folder, Config(path=folder), ctx.report) as bundle:
    ...     [dict(record.values) for record in get_courses(bundle, ctx)]
    [{'sourcedId': 'alg1', 'title': 'Algebra I', 'grades': '08,09'}]
    """
    yield from read_records(bundle, "courses", ctx, keep_extensions=_keep(ctx))


def get_classes(bundle: Bundle, ctx: SyncContext) -> Iterator[SourceRecord]:
    """Raw ``classes.csv`` records.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "classes.csv").write_text("sourcedId,title,courseSourcedId\\nalg1-p1,Algebra I P1,alg1\\n")
    >>> ctx = SyncContext(store=None, source="sis")
    >>> with open_bundle(folder, Config(path=folder), ctx.report) as bundle:
    ...     [dict(record.values) for record in get_classes(bundle, ctx)]
    [{'sourcedId': 'alg1-p1', 'title': 'Algebra I P1', 'courseSourcedId': 'alg1'}]
    """
    yield from read_records(bundle, "classes", ctx, keep_extensions=_keep(ctx))


def get_users(bundle: Bundle, ctx: SyncContext) -> Iterator[SourceRecord]:
    """Raw ``users.csv`` records (the password column is never read).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "users.csv").write_text("sourcedId,role,givenName,password\\nstu-1,student,Ada,secret\\n")
    >>> ctx = SyncContext(store=None, source="sis")
    >>> with open_bundle(folder, Config(path=folder), ctx.report) as bundle:
    ...     [dict(record.values) for record in get_users(bundle, ctx)]
    [{'sourcedId': 'stu-1', 'role': 'student'}]
    """
    yield from read_records(bundle, "users", ctx, keep_extensions=False)


def get_user_roles(bundle: Bundle, ctx: SyncContext) -> Iterator[SourceRecord]:
    """Raw 1.2 ``roles.csv`` records.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "roles.csv").write_text("sourcedId,userSourcedId,roleType,role\\nr1,stu-1,primary,student\\n")
    >>> ctx = SyncContext(store=None, source="sis")
    >>> with open_bundle(folder, Config(path=folder), ctx.report) as bundle:
    ...     [dict(record.values) for record in get_user_roles(bundle, ctx)]
    [{'sourcedId': 'r1', 'userSourcedId': 'stu-1', 'roleType': 'primary', 'role': 'student'}]
    """
    yield from read_records(bundle, "user_roles", ctx, keep_extensions=_keep(ctx))


def get_user_profiles(bundle: Bundle, ctx: SyncContext) -> Iterator[SourceRecord]:
    """Raw 1.2 ``userProfiles.csv`` records (username and password are never read).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "userProfiles.csv").write_text("sourcedId,userSourcedId,vendorId,username\\np1,stu-1,WEI18954,ada\\n")
    >>> ctx = SyncContext(store=None, source="sis")
    >>> with open_bundle(folder, Config(path=folder), ctx.report) as bundle:
    ...     [dict(record.values) for record in get_user_profiles(bundle, ctx)]
    [{'sourcedId': 'p1', 'userSourcedId': 'stu-1', 'vendorId': 'WEI18954'}]
    """
    yield from read_records(bundle, "user_profiles", ctx, keep_extensions=False)


def get_enrollments(bundle: Bundle, ctx: SyncContext) -> Iterator[SourceRecord]:
    """Raw ``enrollments.csv`` records.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "enrollments.csv").write_text("sourcedId,classSourcedId,userSourcedId,role\\ne1,alg1-p1,stu-1,student\\n")
    >>> ctx = SyncContext(store=None, source="sis")
    >>> with open_bundle(folder, Config(path=folder), ctx.report) as bundle:
    ...     [dict(record.values) for record in get_enrollments(bundle, ctx)]
    [{'sourcedId': 'e1', 'classSourcedId': 'alg1-p1', 'userSourcedId': 'stu-1', 'role': 'student'}]
    """
    yield from read_records(bundle, "enrollments", ctx, keep_extensions=_keep(ctx))


def _keep(ctx: SyncContext) -> bool:
    return bool(ctx.options.get("keep_extensions", False))


GETTERS = {
    "orgs": get_orgs,
    "academic_sessions": get_academic_sessions,
    "courses": get_courses,
    "classes": get_classes,
    "users": get_users,
    "user_roles": get_user_roles,
    "user_profiles": get_user_profiles,
    "enrollments": get_enrollments,
}


# --------------------------------------------------------------------------------------------
# Loading


def _load(
    tx: Transaction,
    table: TableSpec,
    rows: Iterator[Row],
    ctx: SyncContext,
    stream_report: StreamReport,
    batch_size: int,
) -> str | None:
    """Write rows in Arrow batches; apply ``tobedeleted`` rows. Returns the newest change."""
    key = list(table.primary_key)
    upserts: list[Row] = []
    identities: list[Row] = []
    tombstones: list[Row] = []
    newest: datetime | None = None

    def flush() -> None:
        if upserts:
            tx.upsert(
                table, pa.Table.from_pylist(upserts, schema=table.arrow_schema()), run_id=ctx.run_id
            )
            upserts.clear()
        if identities:
            tx.upsert(
                IDENTITIES,
                pa.Table.from_pylist(identities, schema=IDENTITIES.arrow_schema()),
                run_id=ctx.run_id,
            )
            identities.clear()
        if tombstones:
            schema = table.arrow_schema()
            key_schema = pa.schema([schema.field(c) for c in key])
            keys = pa.Table.from_pylist(tombstones, schema=key_schema)
            stream_report.deleted += tx.delete_keys(table, keys)
            tombstones.clear()

    for row in rows:
        if row["status"] == TOBEDELETED:
            tombstones.append({c: row[c] for c in key})
            stream_report.deletions += 1
        else:
            identity = row.pop(IDENTITY_KEY, None)
            if identity is not None:
                identities.append(identity)
            changed = row.get("date_last_modified")
            if changed is not None and (newest is None or changed > newest):
                newest = changed
            upserts.append(row)
        if len(upserts) + len(tombstones) >= batch_size:
            flush()
    flush()
    return newest.isoformat() if newest else None


def _key_of(table: TableSpec) -> Callable[[Row], Hashable]:
    columns = table.primary_key

    def key(row: Row) -> Hashable:
        return tuple(row[c] for c in columns)

    return key


_DERIVE_ROLES = """
UPDATE users SET
    roles = r.roles,
    primary_role = coalesce(r.primary_role, users.primary_role),
    org_keys = list_sort(list_distinct(list_concat(users.org_keys, r.org_keys))),
    primary_org_key = coalesce(users.primary_org_key, r.primary_org_key)
FROM (
    SELECT user_key,
           list_sort(list_distinct(list(role))) AS roles,
           min(role) FILTER (WHERE role_type = 'primary') AS primary_role,
           list_sort(list_distinct(list(org_key) FILTER (WHERE org_key IS NOT NULL))) AS org_keys,
           min(org_key) FILTER (WHERE role_type = 'primary') AS primary_org_key
    FROM user_roles WHERE source = ? GROUP BY user_key
) AS r
WHERE users.source = ? AND users.user_key = r.user_key
"""


#: (stream, what, SQL counting rows of the source whose reference finds nothing)
_REFERENCES = (
    (
        "enrollments",
        "enrollments name a user that is not in users",
        "SELECT count(*) FROM enrollments e WHERE e.source = $1 AND NOT EXISTS "
        "(SELECT 1 FROM users u WHERE u.source = $1 AND u.user_key = e.user_key)",
    ),
    (
        "enrollments",
        "enrollments name a class that is not in classes",
        "SELECT count(*) FROM enrollments e WHERE e.source = $1 AND NOT EXISTS "
        "(SELECT 1 FROM classes c WHERE c.source = $1 AND c.class_key = e.class_key)",
    ),
    (
        "classes",
        "classes name a school that is not in orgs",
        "SELECT count(*) FROM classes c WHERE c.source = $1 AND c.school_key IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM orgs o WHERE o.source = $1 AND o.org_key = c.school_key)",
    ),
    (
        "users",
        "users name a primary org that is not in orgs",
        "SELECT count(*) FROM users u WHERE u.source = $1 AND u.primary_org_key IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM orgs o WHERE o.source = $1 "
        "AND o.org_key = u.primary_org_key)",
    ),
)


def _check_references(tx: Transaction, ctx: SyncContext, streams: set[str]) -> None:
    """Warn (with counts only) about rows whose references lead nowhere in the store."""
    for stream, what, sql in _REFERENCES:
        if stream in streams:
            dangling = tx.con.execute(sql, [ctx.source]).fetchall()[0][0]
            if dangling:
                ctx.report.warn(f"{dangling} {what} (for source {ctx.source!r})")


def sync(ctx: SyncContext) -> SyncReport:
    """Import one OneRoster CSV bundle into the store, all files in one transaction.

    ``ctx.options`` holds the :class:`Config` fields (at least ``path``). Bulk files replace
    the source's rows (behind the shrink guard unless ``ctx.force``); delta files upsert and
    apply ``tobedeleted``. On any error the store is left exactly as it was.

    Raises
    ------
    SourceError
        The bundle cannot be read (the message names file and line and what to do).
    NotOneRosterError
        The path holds CSV files that are not OneRoster.
    connectors.base.RowRejectedError
        Strict mode, at the first record that cannot be loaded.
    edtech_map.store.ShrinkGuardError
        A bulk file would delete half or more of the source's users or enrollments.

    Examples
    --------
    >>> import tempfile
    >>> from edtech_map.store import Store
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "users.csv").write_text("sourcedId,role,grades\\nu1,student,5\\nu2,pupil,5\\n")
    >>> with Store.open(folder / "ws" / "s.duckdb") as store:
    ...     report = sync(SyncContext(store=store, source="sis", options={"path": folder}))
    >>> users = report.streams["users"]
    >>> users.read, users.loaded, users.rejected, users.rejections[0][:43]
    (2, 1, 1, "users.csv:3 role = 'pupil': not a OneRoster")
    """
    config = Config.model_validate(dict(ctx.options))
    report = ctx.report
    log.info("importing OneRoster bundle %s as source %r", config.path, ctx.source)
    from connectors import oneroster_bulk  # imports this module: only once sync runs

    with open_bundle(config.path, config, report) as bundle, ExitStack() as cleanup:
        finished: list[tuple[str, str | None]] = []
        staged: dict[str, oneroster_bulk.Staged] = {}
        for name in sorted(oneroster_bulk.BULK_STREAMS & set(bundle.files) if config.bulk else ()):
            if (found := oneroster_bulk.stage(bundle, name, ctx)) is not None:
                staged[name] = found
                cleanup.callback(oneroster_bulk.drop, found, ctx)
        with ctx.store.transaction() as tx:
            before = {
                spec.name: tx.count(spec.table, source=ctx.source)
                for spec in STREAMS
                if spec.name in GUARDED_STREAMS
            }
            for spec in STREAMS:
                bundle_file = bundle.files.get(spec.name)
                if bundle_file is None:
                    continue
                stream_report = report.stream(spec.name, where=bundle_file.name)
                stream_report.mode = bundle_file.mode
                if spec.name in staged:
                    cursor = oneroster_bulk.load(tx, staged[spec.name], ctx)
                else:
                    records = GETTERS[spec.name](bundle, ctx)
                    rows = transform_each(
                        records,
                        TRANSFORMS[spec.name],
                        ctx,
                        stream=spec.name,
                        unique_by=_key_of(spec.table),
                    )
                    cursor = _load(tx, spec.table, rows, ctx, stream_report, config.batch_size)
                if bundle_file.mode == BULK:
                    delete_unseen(
                        tx, ctx, spec.name, spec.table, before=before, guarded=GUARDED_STREAMS
                    )
                    if spec.name == "users" and ctx.keep_identities:
                        tx.delete_stale(IDENTITIES, source=ctx.source, keep_run_id=ctx.run_id)
                finished.append((spec.name, cursor))
                log_stream(log, bundle_file.name, stream_report)
            if bundle.version == "1.2" and {"users", "user_roles"} & set(bundle.files):
                # 1.2 users carry no role: (re)derive it from every role the store holds
                tx.con.execute(_DERIVE_ROLES, [ctx.source, ctx.source]).fetchall()
            _check_references(tx, ctx, set(bundle.files))
            # identities never outlive their user, whether or not this run kept names
            delete_orphan_identities(tx, ctx.source)
            for name, cursor in finished:
                record_stream(tx, ctx, name, cursor=cursor)
    report.finished = datetime.now(UTC)
    log.info(
        "imported %s: read %d, loaded %d, skipped %d, rejected %d",
        config.path,
        report.read,
        report.loaded,
        report.skipped,
        report.rejected,
    )
    return report
