"""The set-at-a-time path for the big OneRoster CSV files (courses, classes, users, enrollments).

:func:`connectors.oneroster_csv.sync` reads these files here, in DuckDB, instead of one
Python call per row, with the same rows, counts and rejections as the per-row path:

1. :func:`stage` (before the pull's transaction) streams the file's physical lines with
   their numbers through DuckDB's parallel CSV scanner (:mod:`connectors.lines`), so line
   numbers are exact and a file of any size is read in bounded memory. A file it cannot reproduce
   exactly falls back to the per-row path (``None``): a non-UTF-8 encoding, text that is not
   valid UTF-8, a header over several lines, a quoted field with a line break, a stray quote,
   a carriage return inside a line, a NUL, a line longer than the csv module's field limit,
   extension columns to keep, a damaged zip member. Zip members are first copied (through
   the size cap) to a file beside the store.
2. Fields are split in SQL; every check that depends only on one value (status, dates, booleans,
   grades, roles, class types) is made once per *distinct* value by the per-row parsers and
   joined back.
   People's ids become keys with the ``edtech_user_key`` SQL macro (exactly ``KeyMaker.user``).
3. :func:`load` (inside the transaction) hands every row SQL does not find clean to the
   per-row transform, so each rejection has the per-row message; repeated keys are rejected in
   line order; then rows are upserted and ``tobedeleted`` rows applied in bulk.

Examples
--------
>>> import tempfile
>>> from connectors.base import SyncContext
>>> from connectors.oneroster_csv import Config, open_bundle
>>> from edtech_map.store import Store
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "users.csv").write_text("sourcedId,role\\nu1,student\\nu2,pupil\\n")
>>> with Store.open(folder / "ws" / "s.duckdb") as store:
...     ctx = SyncContext(store=store, source="sis")
...     with open_bundle(folder, Config(path=folder), ctx.report) as bundle:
...         staged = stage(bundle, "users", ctx)
...         with store.transaction() as tx:
...             _ = load(tx, staged, ctx)
...         drop(staged, ctx)
>>> users = ctx.report.streams["users"]
>>> users.read, users.loaded, users.rejections[0][:43]
(2, 1, "users.csv:3 role = 'pupil': not a OneRoster")
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; see docs/store.md

from connectors.base import (
    Row,
    RowError,
    RowRejectedError,
    SourceError,
    SourceRecord,
    SyncContext,
    SyncReport,
)
from connectors.lines import count_lines, numbered_lines_sql
from connectors.oneroster_csv import (
    IDENTITY_KEY,
    TOBEDELETED,
    TRANSFORMS,
    Bundle,
    _grade_codes,
    _keep,
    _Layout,
    _layout,
    _role,
    _status,
    _unread,
    parse_bool,
    parse_date,
    parse_datetime,
)
from edtech_map.store import (
    CLASSES,
    COURSES,
    ENROLLMENTS,
    IDENTITIES,
    USERS,
    TableSpec,
    Transaction,
)

__all__ = ["BULK_STREAMS", "Staged", "drop", "load", "stage"]

log = logging.getLogger(__name__)

#: The streams read set-at-a-time; the other files are small and go row by row.
BULK_STREAMS = frozenset({"courses", "classes", "users", "enrollments"})
#: What Python's ``str.strip()`` removes (every character ``str.isspace()`` is true for).
_STRIP = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_STRIP_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _STRIP) + "]"
#: ``str.strip()`` in SQL (a regular expression: ten times quicker than trim with a set).
_STRIP_SQL = f"regexp_replace(s, '^{_STRIP_CLASS}+|{_STRIP_CLASS}+$', '', 'g')"
#: A line the csv module and this SQL split the same way: plain or fully quoted fields.
_REGULAR = r'^(?:"(?:[^"]|"")*"|[^",]*)(?:,(?:"(?:[^"]|"")*"|[^",]*))*$'
#: A line with a field that starts or ends with white space (and some lines without).
_PADDED = f'(?:^|,)"?{_STRIP_CLASS}|{_STRIP_CLASS}"?(?:,|$)'
#: One field after its comma (a comma is put before the line: no match is ever empty).
_FIELD = r',("(?:[^"]|"")*"|[^,"]*)'
_names = count(1)


@dataclass
class Staged:
    """One file read into temporary tables of the store connection, ready for :func:`load`.

    ``columns`` maps each standard column the per-row path would read to its position.

    Examples
    --------
    >>> staged = Staged("users", "users.csv", None, [], "_demo", {"sourcedId": 0})
    >>> staged.columns["sourcedId"], staged.tables
    (0, [])
    """

    stream: str
    shown: str
    layout: _Layout
    warnings: list[str]
    prefix: str
    columns: dict[str, int]
    temp_file: Path | None = None
    tables: list[str] = field(default_factory=list)


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def stage(bundle: Bundle, stream: str, ctx: SyncContext) -> Staged | None:
    """Read ``stream``'s file into temporary tables, or ``None`` when it must go row by row.

    Run it before the pull's transaction: a file DuckDB cannot read is a reason to fall back,
    and a failed query inside the transaction would abort it. Nothing here raises for a bad
    file; the per-row path reports such files with their exact line.

    Examples
    --------
    >>> import tempfile
    >>> from connectors.oneroster_csv import Config, open_bundle
    >>> from edtech_map.store import Store
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "users.csv").write_text('sourcedId,role\\n"u\\n1",student\\n')
    >>> with Store.open(folder / "ws" / "s.duckdb") as store:
    ...     ctx = SyncContext(store=store, source="sis")
    ...     with open_bundle(folder, Config(path=folder), ctx.report) as bundle:
    ...         stage(bundle, "users", ctx) is None  # a line break inside quotes
    True
    """
    bundle_file = bundle.files.get(stream)
    if stream not in BULK_STREAMS or bundle_file is None or bundle.encoding != "utf-8":
        return None
    scratch = SyncReport(source=ctx.source, run_id=ctx.run_id)
    scratch.version = ctx.report.version
    try:
        with bundle.open_lines(bundle_file.member) as lines:
            reader = csv.reader(lines)
            header = next(reader, None)
            if header is None or reader.line_num != 1:
                return None
        keep = False if bundle_file.spec.personal else _keep(ctx)
        layout = _layout(
            header, bundle_file, scratch, keep, _unread(bundle_file.spec, ctx.keep_identities)
        )
    except (SourceError, csv.Error):
        return None
    if layout.extensions:
        return None  # kept extension columns are JSON made by json.dumps, row by row
    staged = Staged(
        stream=stream,
        shown=bundle_file.name,
        layout=layout,
        warnings=scratch.warnings,
        prefix=f"_oneroster_bulk_{next(_names)}",
        columns={name: i for i, name in enumerate(layout.names) if name is not None},
    )
    try:
        path = _local_path(bundle, bundle_file.member, staged, ctx.store.path.parent)
        if path is None or not _read_lines(ctx.store.con, path, staged):
            drop(staged, ctx)
            return None
    except (duckdb.Error, SourceError, OSError) as error:
        log.info("%s read row by row: %s", staged.shown, type(error).__name__)
        drop(staged, ctx)
        return None
    return staged


def _local_path(bundle: Bundle, member: str, staged: Staged, workspace: Path) -> Path | None:
    """A file DuckDB can read: the folder's own file, or the zip member copied through the cap.

    The copy (mode 0600) goes beside the store, which already holds the roster, never to a
    shared temporary folder; it is deleted when the pull ends.
    """
    if bundle._zip is None:
        path = bundle.path / member
    else:
        workspace.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(suffix=".csv", prefix=".oneroster-", dir=workspace)
        staged.temp_file = path = Path(name)
        try:
            with os.fdopen(handle, "wb") as out, bundle.open_binary(member) as binary:
                shutil.copyfileobj(binary, out, 1024 * 1024)
        except (zipfile.BadZipFile, zlib.error, EOFError):
            return None
    # read_csv takes glob patterns: a path that could be one is read row by row instead
    return None if any(c in str(path) for c in "*?[]{}'") else path


def _read_lines(con: duckdb.DuckDBPyConnection, path: Path, staged: Staged) -> bool:
    """Records of lines 2.. into ``{prefix}_lines``; False when a line is not regular.

    Only the fields of columns the per-row path reads are kept (``c<index>``, stripped), with
    the field count ``n``: passwords and unkept names never reach a table.
    """
    lines = f"{staged.prefix}_lines"
    staged.tables.append(lines)
    con.execute(f"CREATE OR REPLACE TEMP MACRO _oneroster_strip(s) AS {_STRIP_SQL}").fetchall()
    kept = "".join(
        f", CASE WHEN padded THEN _oneroster_strip(fields[{i + 1}]) ELSE fields[{i + 1}] END "
        f"AS c{i}"
        for i in sorted(staged.columns.values())
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {lines} AS
        WITH bare AS (
            SELECT line, coalesce(text, '') AS t
            FROM ({numbered_lines_sql(path)}) WHERE line > 1
        ), split AS (
            SELECT line,
                   contains(t, chr(13)) OR contains(t, chr(0))
                       OR length(t) > {csv.field_size_limit()}
                       OR (contains(t, '"') AND NOT regexp_full_match(t, {_q(_REGULAR)})) AS odd,
                   CASE WHEN contains(t, '"') THEN list_transform(
                            regexp_extract_all(',' || t, {_q(_FIELD)}, 1),
                            lambda f: CASE WHEN starts_with(f, '"')
                                 THEN replace(substr(f, 2, length(f) - 2), '""', '"') ELSE f END)
                        ELSE string_split(t, ',') END AS fields,
                   regexp_matches(t, {_q(_PADDED)}) AS padded
            FROM bare
        )
        SELECT line::BIGINT AS line, odd, len(fields) AS n{kept}
        FROM split
        WHERE odd OR NOT (len(fields) = 1 AND _oneroster_strip(fields[1]) = '')
        """
    ).fetchall()
    odd = con.execute(f"SELECT count(*) FILTER (WHERE odd) FROM {lines}").fetchall()[0][0]
    if odd:
        return False
    # The scanner drops a line it cannot read (invalid UTF-8, too long): numbers are exact
    # only when it read as many lines as the file has (see connectors.lines).
    expected = count_lines(path)
    scanned = con.execute(f"SELECT count(*) FROM ({numbered_lines_sql(path)})").fetchall()[0][0]
    return expected is not None and scanned == expected


# --------------------------------------------------------------------------------------------
# Checks made once per distinct value, by the per-row parsers


Mapper = Callable[[str], Any]


def _map_status(raw: str) -> Any:
    return _status({"status": raw})


def _map_user_role(raw: str) -> Any:
    return _role({"role": raw}) if raw else None


def _map_role(raw: str) -> Any:
    return _role({"role": raw})


def _map_grades(raw: str) -> Any:
    return list(_grade_codes(raw))


def _map_lower(raw: str) -> Any:
    return raw.lower() if raw else None


_TYPES: dict[str, tuple[Mapper, pa.DataType]] = {
    "status": (_map_status, pa.string()),
    "datetime": (parse_datetime, pa.timestamp("us", tz="UTC")),
    "date": (parse_date, pa.date32()),
    "bool": (parse_bool, pa.bool_()),
    "user_role": (_map_user_role, pa.string()),
    "role": (_map_role, pa.string()),
    "grades": (_map_grades, pa.list_(pa.string())),
    "lower": (_map_lower, pa.string()),
}
#: stream -> (OneRoster column, kind of check) for the columns checked per distinct value.
_CHECKED = {
    "courses": (("status", "status"), ("dateLastModified", "datetime"), ("grades", "grades")),
    "classes": (
        ("status", "status"),
        ("dateLastModified", "datetime"),
        ("grades", "grades"),
        ("classType", "lower"),
    ),
    "users": (
        ("status", "status"),
        ("dateLastModified", "datetime"),
        ("role", "user_role"),
        ("enabledUser", "bool"),
        ("grades", "grades"),
    ),
    "enrollments": (
        ("status", "status"),
        ("dateLastModified", "datetime"),
        ("role", "role"),
        ("primary", "bool"),
        ("beginDate", "date"),
        ("endDate", "date"),
    ),
}


def _value(staged: Staged, column: str) -> str:
    """SQL for a column's stripped text ('' when the file has no such column)."""
    index = staged.columns.get(column)
    if index is None:
        return "''"
    return f"coalesce(c{index}, '')"


def _checked_values(con: duckdb.DuckDBPyConnection, staged: Staged) -> list[tuple[str, str]]:
    """Make ``{prefix}_check_<n>`` (raw, ok, value) tables; returns (column, table) pairs."""
    lines = f"{staged.prefix}_lines"
    made: list[tuple[str, str]] = []
    for n, (column, kind) in enumerate(_CHECKED[staged.stream]):
        mapper, arrow_type = _TYPES[kind]
        distinct = con.execute(f"SELECT DISTINCT {_value(staged, column)} FROM {lines}").fetchall()
        raws, oks, values = [], [], []
        for (raw,) in distinct:
            try:
                value, ok = mapper(raw), True
            except (ValueError, RowError):
                value, ok = None, False
            raws.append(raw)
            oks.append(ok)
            values.append(value)
        table = f"{staged.prefix}_check_{n}"
        checks = pa.table(
            {"raw": pa.array(raws, pa.string()), "ok": oks, "value": pa.array(values, arrow_type)}
        )
        view = f"{table}_arrow"
        con.register(view, checks)
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM {view}").fetchall()
        finally:
            con.unregister(view)
        staged.tables.append(table)
        made.append((column, table))
    return made


# --------------------------------------------------------------------------------------------
# Rows in SQL


_IDENTITY_SQL = {
    "given_name": "givenName",
    "family_name": "familyName",
    "middle_name": "middleName",
    "preferred_given_name": "preferredGivenName",
    "preferred_family_name": "preferredFamilyName",
    "email": "email",
    "username": "username",
    "identifier": "identifier",
}


#: stream -> store column -> OneRoster column, for the plain texts ('' is NULL) and the lists.
_TEXTS = {
    "courses": {
        "title": "title",
        "course_code": "courseCode",
        "school_year_key": "schoolYearSourcedId",
        "org_key": "orgSourcedId",
    },
    "classes": {
        "title": "title",
        "class_code": "classCode",
        "location": "location",
        "course_key": "courseSourcedId",
        "school_key": "schoolSourcedId",
    },
}
_LISTS = {
    "courses": {"subjects": "subjects", "subject_codes": "subjectCodes"},
    "classes": {
        "term_keys": "termSourcedIds",
        "subjects": "subjects",
        "subject_codes": "subjectCodes",
        "periods": "periods",
    },
}


def _split_list(text: str) -> str:
    """SQL of :func:`connectors.oneroster_csv.split_list` of a text."""
    return (
        f"list_filter(list_transform(string_split({text}, ','), "
        f"lambda x: _oneroster_strip(x)), lambda x: x <> '')"
    )


def _catalogue_sql(staged: Staged, ctx: SyncContext, m: dict[str, str], joins: str) -> str:
    """SELECT of the rows of ``courses`` and ``classes`` (not people: their ids are kept)."""
    stream, table = staged.stream, _table_of(staged.stream)
    sid = _value(staged, "sourcedId")
    tomb = f"coalesce({m['status']}.value = '{TOBEDELETED}', false)"
    others = " AND ".join(f"{alias}.ok" for column, alias in m.items() if column != "status")
    layout = staged.layout
    computed = {
        "source": _q(ctx.source),
        table.primary_key[1]: sid,
        "status": f"{m['status']}.value",
        "date_last_modified": f"{m['dateLastModified']}.value",
        "grades": f"{m['grades']}.value",
        "extensions": "NULL::JSON",
        **{name: f"nullif({_value(staged, c)}, '')" for name, c in _TEXTS[stream].items()},
        **{name: _split_list(_value(staged, c)) for name, c in _LISTS[stream].items()},
    }
    if "classType" in m:
        computed["class_type"] = f"{m['classType']}.value"
    return f"""
        SELECT line,
               n BETWEEN {layout.min_width} AND {layout.width} AND {sid} <> ''
                   AND {m["status"]}.ok AND ({tomb} OR ({others})) AS clean,
               {tomb} AS tomb,
               {", ".join(f"{computed[c]} AS {c}" for c in table.columns)}
        FROM {staged.prefix}_lines {joins}
    """


def _rows_sql(staged: Staged, ctx: SyncContext, checks: list[tuple[str, str]]) -> str:
    """SELECT of the rows table: line, clean, tomb, the store columns (and identity ones)."""
    joins = " ".join(
        f"LEFT JOIN {table} AS m{n} ON m{n}.raw = {_value(staged, column)}"
        for n, (column, table) in enumerate(checks)
    )
    m = {column: f"m{n}" for n, (column, _table) in enumerate(checks)}
    if staged.stream in _TEXTS:
        return _catalogue_sql(staged, ctx, m, joins)
    width, min_width = staged.layout.width, staged.layout.min_width
    shape = f"n BETWEEN {min_width} AND {width}"
    sid = _value(staged, "sourcedId")
    tomb = f"coalesce({m['status']}.value = '{TOBEDELETED}', false)"
    source = _q(ctx.source)
    if staged.stream == "users":
        others = " AND ".join(f"{m[c]}.ok" for c, _ in checks if c != "status")
        org_list = _split_list(_value(staged, "orgSourcedIds"))
        identity = ", ".join(
            f"nullif({_value(staged, column)}, '') AS {name}"
            for name, column in _IDENTITY_SQL.items()
        )
        return f"""
        SELECT line, clean, tomb, source, user_key, status, date_last_modified, enabled,
               primary_role, roles, primary_org AS primary_org_key,
               CASE WHEN primary_org IS NOT NULL AND NOT list_contains(orgs, primary_org)
                    THEN list_prepend(primary_org, orgs) ELSE orgs END AS org_keys,
               grades, NULL::JSON AS extensions, {", ".join(_IDENTITY_SQL)}, source_id
        FROM (
            SELECT line,
                   {shape} AND {sid} <> '' AND {m["status"]}.ok
                       AND ({tomb} OR ({others})) AS clean,
                   {tomb} AS tomb,
                   {source} AS source,
                   edtech_user_key('district', {sid}) AS user_key,
                   {m["status"]}.value AS status,
                   {m["dateLastModified"]}.value AS date_last_modified,
                   {m["enabledUser"]}.value AS enabled,
                   {m["role"]}.value AS primary_role,
                   CASE WHEN {m["role"]}.value IS NULL THEN []::VARCHAR[]
                        ELSE [{m["role"]}.value] END AS roles,
                   {org_list} AS orgs,
                   coalesce(nullif({_value(staged, "primaryOrgSourcedId")}, ''),
                            ({org_list})[1]) AS primary_org,
                   {m["grades"]}.value AS grades,
                   {identity},
                   {sid} AS source_id
            FROM {staged.prefix}_lines {joins}
        )
        """
    others = " AND ".join(f"{m[c]}.ok" for c, _ in checks if c != "status")
    user = _value(staged, "userSourcedId")
    klass = _value(staged, "classSourcedId")
    return f"""
        SELECT line,
               {shape} AND {sid} <> '' AND {m["status"]}.ok
                   AND ({tomb} OR ({user} <> '' AND {klass} <> '' AND {others})) AS clean,
               {tomb} AS tomb,
               {source} AS source,
               edtech_user_key({_q(f"{ctx.source}:enrollment")}, {sid}) AS enrollment_key,
               {m["status"]}.value AS status,
               {m["dateLastModified"]}.value AS date_last_modified,
               keyed.user_key,
               {klass} AS class_key,
               nullif({_value(staged, "schoolSourcedId")}, '') AS school_key,
               {m["role"]}.value AS role,
               {m["primary"]}.value AS is_primary,
               {m["beginDate"]}.value AS begin_date,
               {m["endDate"]}.value AS end_date,
               NULL::JSON AS extensions
        FROM {staged.prefix}_lines
        LEFT JOIN (
            SELECT id, edtech_user_key('district', id) AS user_key
            FROM (SELECT DISTINCT {user} AS id FROM {staged.prefix}_lines)
        ) AS keyed ON keyed.id = {user}
        {joins}
    """


def _table_of(stream: str) -> TableSpec:
    return {"courses": COURSES, "classes": CLASSES, "users": USERS, "enrollments": ENROLLMENTS}[
        stream
    ]


def _python_rows(
    con: duckdb.DuckDBPyConnection, staged: Staged, ctx: SyncContext, rows: str
) -> list[tuple[int, str]]:
    """Run the per-row transform on the rows SQL did not find clean; returns the rejections.

    Their loadable rows replace them in the ``rows`` table, so every row has its per-row result.
    """
    layout = staged.layout
    indexes = sorted(staged.columns.values())
    kept = "".join(f", l.c{i}" for i in indexes)
    dirty = con.execute(
        f"SELECT r.line, l.n{kept} FROM {rows} r JOIN {staged.prefix}_lines l USING (line) "
        f"WHERE NOT r.clean ORDER BY r.line"
    ).fetchall()
    if not dirty:
        return []
    transform = TRANSFORMS[staged.stream]
    table = _table_of(staged.stream)
    rejections: list[tuple[int, str]] = []
    loadable: list[Row] = []
    for line, width, *fields in dirty:
        where = f"{staged.shown}:{line}"
        record = _record(where, width, dict(zip(indexes, fields, strict=True)), layout)
        if record.problem is not None:
            rejections.append((line, f"{where} {record.problem}"))
            continue
        try:
            row = transform(record.values, ctx)
        except RowError as error:
            rejections.append((line, f"{where} {error}"))
            continue
        identity = row.pop(IDENTITY_KEY, None) or {}
        full = {column: row.get(column) for column in table.columns}
        full.update({name: identity.get(name) for name in (*_IDENTITY_SQL, "source_id")})
        full.update(line=line, clean=True, tomb=row["status"] == TOBEDELETED)
        loadable.append(full)
    con.execute(f"DELETE FROM {rows} WHERE NOT clean").fetchall()
    if loadable:
        names = con.sql(f"SELECT * FROM {rows} LIMIT 0").to_arrow_table().schema
        fixed = pa.Table.from_pylist(
            [{n: row.get(n) for n in names.names} for row in loadable], schema=names
        )
        view = f"{rows}_python"
        con.register(view, fixed)
        try:
            con.execute(f"INSERT INTO {rows} BY NAME SELECT * FROM {view}").fetchall()
        finally:
            con.unregister(view)
    return rejections


def _record(where: str, width: int, fields: dict[int, str | None], layout: _Layout) -> SourceRecord:
    """The record :func:`connectors.oneroster_csv.read_records` makes of a line's fields."""
    if width > layout.width or width < layout.min_width:
        return SourceRecord(
            where,
            {},
            problem=(
                f"has {width} fields but the header has {layout.width}; check "
                f"for an unquoted comma or a missing field on this line"
            ),
        )
    values: dict[str, str | None] = {}
    for index, name in enumerate(layout.names):
        value = fields.get(index)
        if name is not None and value is not None:
            values[name] = value.strip()
    return SourceRecord(where, values)


def load(tx: Transaction, staged: Staged, ctx: SyncContext) -> str | None:
    """Validate, key and write a staged file in the pull's transaction; returns the cursor.

    The stream report gets the counts and rejections the per-row path gives (in line order,
    the first few reasons kept); strict mode raises at the first rejection.

    Raises
    ------
    connectors.base.RowRejectedError
        Strict mode, naming the first record (by line) that cannot be loaded.

    Examples
    --------
    >>> import tempfile
    >>> from connectors.oneroster_csv import Config, open_bundle
    >>> from edtech_map.store import Store
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "users.csv").write_text("sourcedId,role\\nu1,student\\nu1,teacher\\n")
    >>> with Store.open(folder / "ws" / "s.duckdb") as store:
    ...     ctx = SyncContext(store=store, source="sis")
    ...     with open_bundle(folder, Config(path=folder), ctx.report) as bundle:
    ...         staged = stage(bundle, "users", ctx)
    ...         with store.transaction() as tx:
    ...             _ = load(tx, staged, ctx)
    ...         drop(staged, ctx)
    ...     store.query_arrow("SELECT primary_role FROM users").to_pylist()
    [{'primary_role': 'student'}]
    >>> ctx.report.streams["users"].rejections[0][:40]
    'users.csv:3 repeats the key of line 2; e'
    """
    con = tx.con
    report = ctx.report
    for warning in staged.warnings:
        report.warn(warning)
    stream_report = report.stream(staged.stream)
    table = _table_of(staged.stream)
    key = table.primary_key[1]
    checks = _checked_values(con, staged)
    rows, ranked = f"{staged.prefix}_rows", f"{staged.prefix}_ranked"
    staged.tables += [rows, ranked]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {rows} AS {_rows_sql(staged, ctx, checks)}")
    read = con.execute(f"SELECT count(*) FROM {staged.prefix}_lines").fetchall()[0][0]
    rejections = _python_rows(con, staged, ctx, rows)
    repeats: list[tuple[int, int]] = []
    kept = f"{rows} WHERE true"
    if con.execute(f"SELECT count(*) - count(DISTINCT {key}) FROM {rows}").fetchall()[0][0]:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {ranked} AS SELECT *, "
            f"row_number() OVER (PARTITION BY {key} ORDER BY line) AS rank, "
            f"min(line) OVER (PARTITION BY {key}) AS first FROM {rows}"
        ).fetchall()
        repeats = con.execute(
            f"SELECT line, first FROM {ranked} WHERE rank > 1 ORDER BY line"
        ).fetchall()
        kept = f"{ranked} WHERE rank = 1"
    rejections += [
        (
            line,
            f"{staged.shown}:{line} repeats the key of line {first}; each record must have "
            f"its own sourcedId (the first one was kept)",
        )
        for line, first in repeats
    ]
    rejections.sort()
    stream_report.read += read
    if rejections and ctx.strict:
        raise RowRejectedError(rejections[0][1])
    for _line, reason in rejections:
        stream_report.reject(reason)
        log.warning("rejected %s", reason)
    stream_report.loaded += read - len(rejections)
    ctx.tick(staged.stream, stream_report.read)
    columns = ", ".join(table.columns)
    # Straight from the staged tables into the store: no Arrow copy of millions of rows.
    tx.upsert_select(table, f"SELECT {columns} FROM {kept} AND NOT tomb", run_id=ctx.run_id)
    if staged.stream == "users" and ctx.keep_identities:
        tx.upsert_select(
            IDENTITIES,
            f"SELECT {', '.join(IDENTITIES.columns)} FROM {kept} AND NOT tomb",
            run_id=ctx.run_id,
        )
    tombstones = con.sql(f"SELECT source, {key} FROM {kept} AND tomb").to_arrow_table()
    stream_report.deletions += tombstones.num_rows
    stream_report.deleted += tx.delete_keys(table, tombstones)
    newest = con.execute(
        f"SELECT epoch_us(max(date_last_modified)) FROM {kept} AND NOT tomb"
    ).fetchall()[0][0]
    if newest is None:
        return None
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=newest)).isoformat()


def drop(staged: Staged, ctx: SyncContext) -> None:
    """Drop a staged file's temporary tables and file (safe to call twice).

    Examples
    --------
    >>> import tempfile
    >>> from edtech_map.store import Store
    >>> staged = Staged("users", "users.csv", None, [], "_demo", {})
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     drop(staged, SyncContext(store=store, source="sis"))
    """
    for table in staged.tables:
        try:
            ctx.store.con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()
        except duckdb.Error:  # the connection is gone: so are its temporary tables
            break
    staged.tables.clear()
    if staged.temp_file is not None:
        staged.temp_file.unlink(missing_ok=True)
        staged.temp_file = None
