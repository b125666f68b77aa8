"""The bulk (DuckDB) path for users.csv and enrollments.csv against the per-row path.

The property: for any bundle, good rows and bad ones of every kind, the two paths leave the
same store tables and give the same counts, rejections and warnings (or the same error).
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import oneroster_bulk, oneroster_csv
from connectors.base import SyncContext
from edtech_map.errors import EdtechMapError
from edtech_map.store import Store

TABLES = ("users", "enrollments", "identities", "orgs", "classes", "courses")
SPACE = ["", " ", "\t", "\u00a0", "\u3000 "]

USER_IDS = ["u1", "u2", "u3", " u1", "u4 ", "", "  ", "stu-\u00e9", "u,5"]
ROLES = ["student", "Teacher", " STUDENT ", "pupil", "", "administrator", "aide"]
STATUSES = ["", "active", "Inactive", "tobedeleted", "TOBEDELETED ", "gone"]
DATETIMES = ["", "2024-08-01", "2024-08-01T12:00:00Z", "2024-08-01 12:00:00", "15/06/2023",
             "06/15/2023", "2024-13-01", "not a date", "2024-08-01T12:00:00.5+02:00"]  # fmt: skip
DATES = ["", "2024-08-01", "1/05/2023", "2024-02-30", "31/12/2024", "x", "2024-08-01T23:00:00"]
BOOLS = ["", "true", "FALSE", "1", "n", "maybe", " yes "]
GRADES = ["", "5", "KG", "9,10", "09, 10, 9", "13th", "PK,KG", " 12 "]
ORGS = ["", "org-1", "org-1,org-2", " org-2 , ,org-1", "org-3"]
CLASSES = ["cls-1", "cls-2", "", " cls-1 "]
NAMES = ["", "Ada", "Zoë", " Bo "]

USER_HEADER = ["sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds",
               "role", "grades", "primaryOrgSourcedId", "givenName", "email", "password"]  # fmt: skip
ENROLLMENT_HEADER = ["sourcedId", "status", "dateLastModified", "classSourcedId",
                     "schoolSourcedId", "userSourcedId", "role", "primary", "beginDate",
                     "endDate"]  # fmt: skip


def padded(values: list[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda left, value, right: left + value + right,
        st.sampled_from(SPACE),
        st.sampled_from(values),
        st.sampled_from(SPACE),
    )


def cell(text: str, quote: bool) -> str:
    if quote or any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


user_rows = st.tuples(
    padded(["e", "u1", "u2", "u3", "u4"]) | st.sampled_from(USER_IDS),
    st.sampled_from(STATUSES),
    st.sampled_from(DATETIMES),
    st.sampled_from(BOOLS),
    st.sampled_from(ORGS),
    padded(ROLES),
    st.sampled_from(GRADES),
    st.sampled_from(["", "org-2", "org-9"]),
    st.sampled_from(NAMES),
    st.sampled_from(["", "a@x.example"]),
    st.sampled_from(["", "secret"]),
)
enrollment_rows = st.tuples(
    st.sampled_from(["e1", "e2", "e3", " e1", "", "e4"]),
    st.sampled_from(STATUSES),
    st.sampled_from(DATETIMES),
    st.sampled_from(CLASSES),
    st.sampled_from(["", "org-1"]),
    st.sampled_from(USER_IDS),
    padded(ROLES),
    st.sampled_from(BOOLS),
    st.sampled_from(DATES),
    st.sampled_from(DATES),
)
class_rows = st.tuples(
    padded(["cls-1", "cls-2", "cls-3", ""]),
    st.sampled_from(STATUSES),
    st.sampled_from(DATETIMES),
    st.sampled_from(["", "Algebra", " Art  I "]),
    st.sampled_from(GRADES),
    st.sampled_from(["", "crs-1"]),
    st.sampled_from(["", "Scheduled", "HOMEROOM", "\u0130ndependent"]),
    st.sampled_from(["", "org-1", "org-9"]),
    st.sampled_from(["", "t1", "t1,t2", " t2 , , t1"]),
    st.sampled_from(["", "Math", "Science, Physics"]),
    st.sampled_from(["", "1", "1,2", " 3 ,"]),
    st.sampled_from(["", "meta"]),
)
course_rows = st.tuples(
    padded(["crs-1", "crs-2", ""]),
    st.sampled_from(STATUSES),
    st.sampled_from(DATETIMES),
    st.sampled_from(["", "Algebra I"]),
    st.sampled_from(["", "ALG-1"]),
    st.sampled_from(GRADES),
    st.sampled_from(["", "org-1"]),
    st.sampled_from(["", "Math", "Math, ,Science"]),
    st.sampled_from(["", "01234", "a,b"]),
)
CLASS_HEADER = ["sourcedId", "status", "dateLastModified", "title", "grades", "courseSourcedId",
                "classType", "schoolSourcedId", "termSourcedIds", "subjects", "periods",
                "metadata.note"]  # fmt: skip
COURSE_HEADER = ["sourcedId", "status", "dateLastModified", "title", "courseCode", "grades",
                 "orgSourcedId", "subjects", "subjectCodes"]  # fmt: skip
#: How one line of a file is written: plain, quoted, odd (ragged, blank, broken quoting).
line_styles = st.sampled_from(
    [
        "plain",
        "plain",
        "plain",
        "quoted",
        "ragged",
        "short",
        "blank",
        "spaces",
        "crlf",
        "stray_quote",
        "newline_in_quotes",
        "quoted_blank",
    ]
)


def render(header: list[str], rows: list[tuple[tuple[str, ...], str]], bom: bool) -> str:
    lines = [("\ufeff" if bom else "") + ",".join(header) + "\n"]
    for values, style in rows:
        fields = [cell(v, style == "quoted") for v in values]
        if style == "ragged":
            fields.append("extra")
        elif style == "short":
            fields = fields[:3]
        elif style == "stray_quote":
            fields[0] = fields[0] + 'x"y'
        elif style == "newline_in_quotes":
            fields[-1] = '"two\nlines"'
        text = ",".join(fields)
        if style == "blank":
            text = ""
        elif style == "spaces":
            text = "   "
        elif style == "quoted_blank":
            text = '"  "'
        lines.append(text + ("\r\n" if style == "crlf" else "\n"))
    return "".join(lines)


bundles = st.fixed_dictionaries(
    {
        "users": st.lists(st.tuples(user_rows, line_styles), max_size=12),
        "enrollments": st.lists(st.tuples(enrollment_rows, line_styles), max_size=12),
        "classes": st.lists(st.tuples(class_rows, line_styles), max_size=8),
        "courses": st.lists(st.tuples(course_rows, line_styles), max_size=8),
        "keep_extensions": st.booleans(),
        "mode": st.sampled_from(["bulk", "delta", None]),
        "version": st.sampled_from(["1.1", "1.2"]),
        "drop_role_column": st.booleans(),
        "bom": st.booleans(),
        "no_trailing_newline": st.booleans(),
        "strict": st.booleans(),
        "keep_identities": st.booleans(),
        "zip": st.booleans(),
    }
)

BASE = {
    "orgs.csv": "sourcedId,name,type\norg-1,Lincoln,school\norg-2,Adams,school\n",
    "classes.csv": "sourcedId,title,schoolSourcedId\ncls-1,Algebra,org-1\n",
    "users.csv": "sourcedId,role\nu1,student\nu2,teacher\nu3,student\n",
    "enrollments.csv": "sourcedId,classSourcedId,userSourcedId,role\n"
    "e1,cls-1,u1,student\ne2,cls-1,u2,teacher\n",
}


def write_folder(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8", newline="")
    return folder


def bundle_files(spec: dict[str, Any]) -> dict[str, str]:
    user_header = list(USER_HEADER)
    users = spec["users"]
    if spec["drop_role_column"]:
        index = user_header.index("role")
        user_header.pop(index)
        users = [(tuple(v for i, v in enumerate(row) if i != index), s) for row, s in users]
    files = {
        "users.csv": render(user_header, users, spec["bom"]),
        "enrollments.csv": render(ENROLLMENT_HEADER, spec["enrollments"], False),
        "classes.csv": render(CLASS_HEADER, spec["classes"], False),
        "courses.csv": render(COURSE_HEADER, spec["courses"], spec["bom"]),
    }
    if spec["mode"] is not None:
        files["orgs.csv"] = BASE["orgs.csv"]
    if spec["no_trailing_newline"]:
        files = {name: text.rstrip("\n") for name, text in files.items()}
    if spec["mode"] is not None:
        files["manifest.csv"] = (
            f"propertyName,value\noneroster.version,{spec['version']}\n"
            f"file.users,{spec['mode']}\nfile.enrollments,{spec['mode']}\n"
            f"file.classes,{spec['mode']}\nfile.courses,{spec['mode']}\nfile.orgs,bulk\n"
        )
    return files


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    tables = set(store.tables())
    found: dict[str, list[tuple[Any, ...]]] = {}
    for table in TABLES:
        if table in tables:
            rows = store.con.execute(
                f"SELECT COLUMNS(* EXCLUDE (run_id, last_seen))::VARCHAR FROM {table}"
            )
            found[table] = sorted(rows.fetchall(), key=repr)
    if "sync_state" in tables:
        found["sync_state"] = sorted(
            store.con.execute(
                "SELECT source, stream, cursor, rows_read, rows_loaded, rows_skipped, complete "
                "FROM sync_state"
            ).fetchall()
        )
    return found


def outcome(store: Store, path: Path, spec: dict[str, Any], bulk: bool) -> dict[str, Any]:
    ctx = SyncContext(
        store=store,
        source="sis",
        options={"path": path, "bulk": bulk, "keep_extensions": spec["keep_extensions"]},
        strict=spec["strict"],
        keep_identities=spec["keep_identities"],
    )
    try:
        report = oneroster_csv.sync(ctx)
    except EdtechMapError as error:
        return {"error": f"{type(error).__name__}: {error}", "store": snapshot(store)}
    streams = {
        name: (
            s.read,
            s.loaded,
            s.skipped,
            s.rejected,
            s.deleted,
            s.deletions,
            s.rejections,
            s.mode,
        )
        for name, s in report.streams.items()
    }
    for s in report.streams.values():
        assert s.balanced, s
    return {"streams": streams, "warnings": report.warnings, "store": snapshot(store)}


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store, Path]]:
    """Two stores with the same secret (so the same keys), each holding the base bundle."""
    base = write_folder(tmp_path / "base", BASE)
    with Store.open(tmp_path / "bulk" / "store.duckdb") as bulk:
        (tmp_path / "rows").mkdir()
        shutil.copy(tmp_path / "bulk" / "secret.key", tmp_path / "rows" / "secret.key")
        with Store.open(tmp_path / "rows" / "store.duckdb") as rows:
            for store in (bulk, rows):
                oneroster_csv.sync(SyncContext(store=store, source="sis", options={"path": base}))
            yield bulk, rows, tmp_path


counter = iter(range(10**9))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=bundles)
def test_bulk_and_per_row_paths_agree(
    stores: tuple[Store, Store, Path], spec: dict[str, Any]
) -> None:
    bulk_store, rows_store, tmp_path = stores
    files = bundle_files(spec)
    folder = write_folder(tmp_path / f"bundle-{next(counter)}", files)
    path: Path = folder
    if spec["zip"]:
        path = Path(shutil.make_archive(str(folder), "zip", folder))
    before = snapshot(bulk_store)
    assert before == snapshot(rows_store)
    by_rows = outcome(rows_store, path, spec, bulk=False)
    by_bulk = outcome(bulk_store, path, spec, bulk=True)
    assert by_bulk.keys() == by_rows.keys()
    for part in ("error", "warnings"):
        assert by_bulk.get(part) == by_rows.get(part), part
    for name, stream in by_rows.get("streams", {}).items():
        assert by_bulk["streams"][name] == stream, name
    for table, rows in by_rows["store"].items():
        assert by_bulk["store"][table] == rows, table
    assert by_bulk == by_rows
    # put both stores back where they started for the next example
    if "error" not in by_rows:
        base = tmp_path / "base"
        for store in (bulk_store, rows_store):
            oneroster_csv.sync(
                SyncContext(store=store, source="sis", options={"path": base}, force=True)
            )


def test_a_big_regular_file_goes_the_bulk_way(tmp_path: Path) -> None:
    users = "sourcedId,role,grades\n" + "".join(f"u{i},student,{i % 12 + 1}\n" for i in range(3000))
    folder = write_folder(tmp_path / "big", {"users.csv": users})
    with Store.open(tmp_path / "ws" / "store.duckdb") as store:
        ctx = SyncContext(store=store, source="sis")
        with oneroster_csv.open_bundle(folder, oneroster_csv.Config(path=folder), ctx.report) as b:
            staged = oneroster_bulk.stage(b, "users", ctx)
            assert staged is not None
            oneroster_bulk.drop(staged, ctx)
        report = oneroster_csv.sync(
            SyncContext(store=store, source="sis", options={"path": folder})
        )
        assert report.streams["users"].loaded == 3000
        assert store.query_arrow("SELECT count(*) AS n FROM users").to_pylist() == [{"n": 3000}]
        leftovers = store.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_oneroster_bulk%'"
        ).fetchall()
        assert leftovers == [(0,)]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('sourcedId,role\n"u\n1",student\n', "a line break inside quotes"),
        ('sourcedId,role\nu"1,student\n', "a stray quote"),
        ("sourcedId,role\nu1\r,student\n", "a carriage return inside a line"),
        ('sourcedId,role,"ext\nra"\nu1,student,x\n', "a header over two lines"),
    ],
)
def test_what_the_bulk_path_leaves_to_the_per_row_path(tmp_path: Path, text: str, why: str) -> None:
    folder = write_folder(tmp_path / "odd", {"users.csv": text})
    with Store.open(tmp_path / "ws" / "store.duckdb") as store:
        ctx = SyncContext(store=store, source="sis")
        with oneroster_csv.open_bundle(folder, oneroster_csv.Config(path=folder), ctx.report) as b:
            assert oneroster_bulk.stage(b, "users", ctx) is None, why


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.text(alphabet=' ,"ab\u00a0\t', max_size=5), min_size=1, max_size=5),
        min_size=1,
        max_size=10,
    ),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_the_sql_split_of_a_regular_line_is_the_csv_modules(
    rows: list[list[str]], quoting: int
) -> None:
    import duckdb

    lines = []
    for row in rows:
        out = io.StringIO()
        csv.writer(out, quoting=quoting, lineterminator="").writerow(row)
        lines.append(out.getvalue())
    regular = [
        duckdb.sql(
            "SELECT regexp_full_match(?, ?)", params=[line, oneroster_bulk._REGULAR]
        ).fetchall()[0][0]
        for line in lines
    ]
    assert all(regular), lines  # what csv.writer writes is always regular
    for line in lines:
        split = duckdb.sql(
            "SELECT list_transform(regexp_extract_all(',' || ?, ?, 1), lambda f: CASE WHEN "
            "starts_with(f, '\"') THEN replace(substr(f, 2, length(f) - 2), '\"\"', '\"') "
            "ELSE f END)",
            params=[line, oneroster_bulk._FIELD],
        ).fetchall()[0][0]
        assert split == next(csv.reader([line])), line
