"""OneRoster CSV connector and the roster commands, against real bundles and generated ones.

Expected counts are computed here, independently, with the csv module; the shared fixtures
(`../shared/fixtures`) are read in place and copied only into tmp_path when a test alters them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from connectors import oneroster_csv
from connectors.base import (
    REGISTRY,
    RowRejectedError,
    SourceError,
    SyncContext,
    SyncReport,
    load_connector,
)
from connectors.oneroster_csv import (
    NotOneRosterError,
    parse_bool,
    parse_date,
    parse_datetime,
    split_list,
)
from edtech_map.cli import app
from edtech_map.store import ShrinkGuardError, Store

MOODLE = "oneroster-moodle-enrol/tests/fixtures/csv_data"
MOODLE_ZIPS = (
    "Test_full_data_set.zip",
    "Test_minimal_data_set.zip",
    "oneroster_test_data.zip",
    "v1p2_full_dataset.zip",
)
STREAM_OF_FILE = {
    "orgs.csv": "orgs",
    "academicsessions.csv": "academic_sessions",
    "courses.csv": "courses",
    "classes.csv": "classes",
    "users.csv": "users",
    "roles.csv": "user_roles",
    "userprofiles.csv": "user_profiles",
    "enrollments.csv": "enrollments",
}
PERSONAL_USER_COLUMNS = (
    "sourcedid",
    "username",
    "givenname",
    "familyname",
    "middlename",
    "identifier",
    "email",
    "password",
    "prefferedgivenname",
    "prefferedmiddlename",
    "prefferedfamilyname",
    "preferredgivenname",
    "preferredmiddlename",
    "preferredfamilyname",
    "usermasteridentifier",
)


# --------------------------------------------------------------------------------------------
# Independent readers and store dumps


def records(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and data rows of one CSV file, read with the csv module (blank lines dropped)."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    rows = [r for r in rows if r and not (len(r) == 1 and not r[0].strip())]
    return rows[0], rows[1:]


def bundle_bytes(path: Path) -> dict[str, bytes]:
    """Lower-cased file name -> bytes, for a folder or a zip."""
    if path.is_dir():
        return {p.name.lower(): p.read_bytes() for p in path.iterdir() if p.is_file()}
    with zipfile.ZipFile(path) as archive:
        return {
            Path(name).name.lower(): archive.read(name)
            for name in archive.namelist()
            if not name.endswith("/")
        }


def column(header: list[str], rows: list[list[str]], name: str) -> list[str]:
    index = [h.strip().lower() for h in header].index(name.lower())
    return [row[index] if index < len(row) else "" for row in rows]


def unzip_to(path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in bundle_bytes(path).items():
        (folder / name).write_bytes(data)
    return folder


def dump(store: Store, *, bookkeeping: bool = True) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of every table as a set of tuples; optionally without run ids and times."""
    drop = set() if bookkeeping else {"run_id", "last_seen", "started", "finished"}
    tables = store.query_arrow(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).column(0)
    result: dict[str, set[tuple[Any, ...]]] = {}
    for table in tables.to_pylist():
        rows = store.query_arrow(f'SELECT * FROM "{table}"').to_pylist()
        result[table] = {
            tuple(
                (k, tuple(v) if isinstance(v, list) else v)
                for k, v in sorted(row.items())
                if k not in drop
            )
            for row in rows
        }
    return result


def text_values(store: Store, *, skip: tuple[str, ...] = ("identities",)) -> list[str]:
    """Every value of every VARCHAR, VARCHAR[] and JSON column outside ``skip``."""
    found = store.query_arrow(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND data_type IN ('VARCHAR', 'VARCHAR[]', 'JSON')"
    ).to_pylist()
    values: list[str] = []
    for col in found:
        if col["table_name"] in skip:
            continue
        data = store.query_arrow(
            f'SELECT "{col["column_name"]}" AS v FROM "{col["table_name"]}"'
        ).column(0)
        for value in data.to_pylist():
            if isinstance(value, list):
                values.extend(str(v) for v in value)
            elif value is not None:
                values.append(str(value))
    return values


def personal_values(files: dict[str, bytes]) -> set[str]:
    """Names, e-mails, usernames, ids and passwords of the people in a bundle."""
    values: set[str] = set()
    for name in ("users.csv", "userprofiles.csv"):
        if name not in files:
            continue
        header, rows = records(files[name])
        lowered = [h.strip().lower() for h in header]
        for wanted in (*PERSONAL_USER_COLUMNS, "usersourcedid"):
            if wanted in lowered and not (name == "userprofiles.csv" and wanted == "sourcedid"):
                values.update(v.strip() for v in column(header, rows, wanted) if v.strip())
    return values


def leaks(haystack: list[str] | str, needles: set[str]) -> set[str]:
    text = ("\n".join(haystack) if isinstance(haystack, list) else haystack).lower()
    candidates = {needle for needle in needles if needle.lower() in text}  # fast filter first
    return {
        needle
        for needle in candidates
        if re.search(rf"(?<![\w.@-]){re.escape(needle.lower())}(?![\w.@-])", text)
    }


def run(store: Store, path: Path, *, source: str = "sis", **options: Any) -> SyncReport:
    flags = {k: options.pop(k) for k in ("strict", "force", "keep_identities") if k in options}
    ctx = SyncContext(store=store, source=source, options={"path": path, **options}, **flags)
    return oneroster_csv.sync(ctx)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        yield opened


@pytest.fixture
def moodle(fixtures_dir: Path) -> Path:
    folder = fixtures_dir / MOODLE
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing from the shared fixtures")
    return folder


@pytest.fixture
def mocker_dir(fixtures_dir: Path) -> Path:
    folder = fixtures_dir / "oneroster-mocker"
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing from the shared fixtures")
    return folder


def write_bundle(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8", newline="")
    return folder


def table_rows(store: Store, sql: str) -> set[tuple[Any, ...]]:
    return {
        tuple(tuple(v) if isinstance(v, list) else v for v in row.values())
        for row in store.query_arrow(sql).to_pylist()
    }


# --------------------------------------------------------------------------------------------
# The shared bundles, one by one, with counts computed here


def assert_counts_match_files(report: SyncReport, files: dict[str, bytes], store: Store) -> None:
    """read == data rows; loaded + skipped + rejected == read; store rows == live rows."""
    for name, stream_name in STREAM_OF_FILE.items():
        if stream_name not in report.streams:
            continue
        header, rows = records(files[name])
        statuses = [s.strip().lower() for s in column(header, rows, "status")]
        tombstones = statuses.count("tobedeleted")
        stream = report.streams[stream_name]
        assert stream.read == len(rows), name
        assert stream.balanced, name
        assert (stream.loaded, stream.deletions) == (len(rows), tombstones), name
        table = stream_name
        stored = store.query_arrow(f"SELECT count(*) AS n FROM {table}").to_pylist()[0]["n"]
        assert stored == len(rows) - tombstones, name


def test_the_header_only_classlink_bundle_loads_nothing_and_says_why(
    store: Store, mocker_dir: Path
) -> None:
    path = mocker_dir / "oneroster-example-csv"
    files = bundle_bytes(path)
    report = run(store, path)
    expected = {STREAM_OF_FILE[n] for n in files if n in STREAM_OF_FILE}
    assert (
        set(report.streams)
        == expected
        == {
            "orgs",
            "academic_sessions",
            "courses",
            "classes",
            "users",
            "enrollments",
        }
    )
    assert all(records(files[n])[1] == [] for n in files if n != "manifest.csv")
    assert (report.read, report.loaded, report.rejected) == (0, 0, 0)
    assert report.version == "1.1"
    assert store.counts() == []
    warnings = "\n".join(report.warnings)
    assert "demographics.csv not imported" in warnings
    assert "5 extension columns (metadata.address1" in warnings
    assert "users.csv:1: has a plain-text password column" in warnings


def test_the_generated_mocker_roster_without_manifest_loads_as_bulk(
    store: Store, mocker_dir: Path
) -> None:
    path = mocker_dir / "outputs"
    files = bundle_bytes(path)
    report = run(store, path)
    assert set(report.streams) == {"orgs", "users"}
    assert_counts_match_files(report, files, store)
    assert any(
        w.startswith("no manifest.csv: applying orgs.csv, users.csv") for w in report.warnings
    )
    assert "test-csv.csv not imported: not a OneRoster file name" in report.warnings
    header, rows = records(files["users.csv"])
    assert Counter(
        r["primary_role"] for r in store.query_arrow("SELECT primary_role FROM users").to_pylist()
    ) == Counter(column(header, rows, "role"))
    assert leaks(text_values(store), personal_values(files)) == set()


def test_two_thousand_generated_users_load_with_nothing_personal_kept(
    store: Store, mocker_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "users.csv").write_bytes((mocker_dir / "outputs" / "test-csv.csv").read_bytes())
    (folder / "orgs.csv").write_bytes((mocker_dir / "outputs" / "orgs.csv").read_bytes())
    files = bundle_bytes(folder)
    report = run(store, folder, batch_size=500)
    assert_counts_match_files(report, files, store)
    assert report.streams["users"].loaded == 1999
    # the generated schools are named after people too ("Fredy VonRueden Academy"): org names
    # are not personal data, so the words in them are not searched for
    org_words = set(re.findall(r"[\w']+", files["orgs.csv"].decode()))
    secrets = personal_values(files) - org_words
    assert len(secrets) > 5000
    assert leaks(text_values(store), secrets) == set()
    assert leaks(caplog.text + json.dumps(report.as_dict()), secrets) == set()


@pytest.mark.parametrize("name", ["Test_full_data_set.zip", "Test_minimal_data_set.zip"])
def test_the_moodle_1_1_bulk_bundles_load_every_row(
    store: Store, moodle: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    files = bundle_bytes(moodle / name)
    report = run(store, moodle / name)
    assert report.version == "1.1"
    assert {s.mode for s in report.streams.values()} == {"bulk"}
    assert set(report.streams) == {"orgs", "academic_sessions", "classes", "users", "enrollments"}
    assert_counts_match_files(report, files, store)
    header, rows = records(files["enrollments.csv"])
    expected = Counter(
        (store.keys.user(user), cls, role)
        for user, cls, role in zip(
            column(header, rows, "userSourcedId"),
            column(header, rows, "classSourcedId"),
            column(header, rows, "role"),
            strict=True,
        )
    )
    assert (
        Counter(table_rows(store, "SELECT user_key, class_key, role FROM enrollments")) == expected
    )
    secrets = personal_values(files)
    assert leaks(text_values(store), secrets) == set()
    assert leaks(caplog.text, secrets) == set()


def test_the_full_1_1_bundle_keeps_its_values(store: Store, moodle: Path) -> None:
    run(store, moodle / "Test_full_data_set.zip")
    (cls,) = store.query_arrow(
        "SELECT class_key, grades, subjects, periods, term_keys, class_type FROM classes"
    ).to_pylist()
    assert cls == {
        "class_key": "cls-222-123456",
        "grades": ["09", "10", "11"],
        "subjects": ["Science", "Physics", "Biology"],
        "periods": ["1"],
        "term_keys": ["as-trm-222-1234"],
        "class_type": "scheduled",
    }
    user = store.query_arrow(
        "SELECT status, enabled, roles, primary_org_key, grades, date_last_modified FROM users "
        "WHERE user_key = ?",
        [store.keys.user("usr-222-567891")],
    ).to_pylist()
    assert user == [
        {
            "status": "active",
            "enabled": True,
            "roles": ["student"],
            "primary_org_key": "org-sch-222-456",
            "grades": ["11"],
            "date_last_modified": datetime(2023, 6, 15, tzinfo=UTC),
        }
    ]
    inactive = store.query_arrow(
        "SELECT session_key FROM academic_sessions WHERE status = 'inactive'"
    ).to_pylist()
    assert inactive == [{"session_key": "as-grp-222-2345"}]


def test_the_1_2_delta_bundle_takes_roles_and_profiles(
    store: Store, moodle: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    files = bundle_bytes(moodle / "oneroster_test_data.zip")
    report = run(store, moodle / "oneroster_test_data.zip")
    assert report.version == "1.2"
    assert {s.mode for s in report.streams.values()} == {"delta"}
    assert set(report.streams) == {
        "orgs",
        "academic_sessions",
        "courses",
        "classes",
        "users",
        "user_roles",
        "user_profiles",
        "enrollments",
    }
    assert_counts_match_files(report, files, store)
    assert any(w.startswith("demographics.csv not imported") for w in report.warnings)
    assert store.query_arrow("SELECT * FROM users").to_pylist()[0]["roles"] == ["student"]
    assert table_rows(store, "SELECT user_key, vendor_id FROM user_profiles") == {
        (store.keys.user("USER_0"), "WEI18954")
    }
    secrets = personal_values(files) | {"Batman.Ru1ez", "brucewayne"}
    assert leaks(text_values(store), secrets) == set()
    assert leaks(caplog.text, secrets) == set()


def test_the_1_2_bulk_bundle_with_misspelt_headers(store: Store, moodle: Path) -> None:
    files = bundle_bytes(moodle / "v1p2_full_dataset.zip")
    report = run(store, moodle / "v1p2_full_dataset.zip")
    assert report.version == "1.2"
    assert set(report.streams) == {
        "orgs",
        "academic_sessions",
        "classes",
        "users",
        "user_roles",
        "enrollments",
    }
    assert_counts_match_files(report, files, store)
    warnings = "\n".join(report.warnings)
    for expected in (
        "users.csv:1: column 'prefferedGivenName' read as 'preferredGivenName'",
        "roles.csv:1: column 'dataLastModified' read as 'dateLastModified'",
        "roles.csv:1: 2 columns without a name; ignored",
        "manifest.csv:22: file.userProfiles has no value; treated as absent",
        "userprofiles.csv is present but the manifest does not list it",
    ):
        assert expected in warnings
    teacher = store.query_arrow(
        "SELECT primary_role, roles, date_last_modified FROM users WHERE user_key = ?",
        [store.keys.user("usr-222-123456")],
    ).to_pylist()
    assert teacher == [
        {
            "primary_role": "teacher",
            "roles": ["guardian", "teacher"],
            "date_last_modified": datetime(2023, 5, 1, tzinfo=UTC),
        }
    ]
    header, rows = records(files["roles.csv"])
    assert Counter(
        r["role"] for r in store.query_arrow("SELECT role FROM user_roles").to_pylist()
    ) == (Counter(column(header, rows, "role")))
    assert leaks(text_values(store), personal_values(files)) == set()


def test_every_moodle_bundle_is_handled(store: Store, moodle: Path) -> None:
    assert sorted(p.name for p in moodle.glob("*.zip")) == sorted(MOODLE_ZIPS)
    for number, name in enumerate(MOODLE_ZIPS):
        report = run(store, moodle / name, source=f"s{number}")
        assert report.ok and all(s.balanced for s in report.streams.values())
    assert {c["source"] for c in store.counts()} == {"s0", "s1", "s2", "s3"}


# --------------------------------------------------------------------------------------------
# Keeping identities, re-import, rollback, shrink guard, sources kept apart


def test_keep_identities_puts_names_only_in_the_identities_table(
    store: Store, moodle: Path
) -> None:
    files = bundle_bytes(moodle / "Test_full_data_set.zip")
    run(store, moodle / "Test_full_data_set.zip", keep_identities=True)
    names = table_rows(store, "SELECT user_key, given_name, email FROM identities")
    assert (store.keys.user("usr-222-123456"), "John", "john.doe@myschool.com") in names
    assert len(names) == 6
    assert "Password1-" not in "\n".join(text_values(store, skip=()))
    assert leaks(text_values(store), personal_values(files)) == set()


def test_reimport_is_idempotent(store: Store, moodle: Path) -> None:
    run(store, moodle / "v1p2_full_dataset.zip")
    first = dump(store, bookkeeping=False)
    again = run(store, moodle / "v1p2_full_dataset.zip")
    assert dump(store, bookkeeping=False) == first
    assert sum(s.deleted for s in again.streams.values()) == 0
    runs = store.query_arrow("SELECT DISTINCT run_id FROM users").to_pylist()
    assert runs == [{"run_id": again.run_id}]


def test_a_bad_file_in_the_middle_leaves_the_store_as_it_was(
    store: Store, moodle: Path, tmp_path: Path
) -> None:
    run(store, moodle / "Test_minimal_data_set.zip")
    before = dump(store)
    folder = unzip_to(moodle / "Test_full_data_set.zip", tmp_path / "bad")
    classes = (folder / "classes.csv").read_bytes()
    (folder / "classes.csv").write_bytes(classes.replace(b"Introduction", b"Intro\xffduction"))
    with pytest.raises(SourceError, match=r"classes\.csv:2: not utf-8 text \(invalid start byte"):
        run(store, folder)
    assert dump(store) == before


def test_a_bad_row_in_strict_mode_leaves_the_store_as_it_was(
    store: Store, moodle: Path, tmp_path: Path
) -> None:
    run(store, moodle / "Test_minimal_data_set.zip")
    before = dump(store)
    folder = unzip_to(moodle / "Test_full_data_set.zip", tmp_path / "strict")
    text = (folder / "enrollments.csv").read_text()
    (folder / "enrollments.csv").write_text(text.replace(",student,", ",pupil,", 1))
    with pytest.raises(RowRejectedError, match=r"enrollments\.csv:3 role = 'pupil'"):
        run(store, folder, strict=True)
    assert dump(store) == before
    lenient = run(store, folder)
    assert (lenient.streams["enrollments"].loaded, lenient.streams["enrollments"].rejected) == (
        5,
        1,
    )


def halve_users(source: Path, folder: Path) -> Path:
    unzip_to(source, folder)
    header, rows = records((folder / "users.csv").read_bytes())
    with (folder / "users.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows[: len(rows) // 2]])
    return folder


def test_the_shrink_guard_refuses_a_half_size_roster_unless_forced(
    store: Store, moodle: Path, tmp_path: Path
) -> None:
    run(store, moodle / "Test_full_data_set.zip")
    before = dump(store)
    half = halve_users(moodle / "Test_full_data_set.zip", tmp_path / "half")
    with pytest.raises(ShrinkGuardError, match=r"delete 3 of 6 rows \(6 -> 3\).*--force"):
        run(store, half)
    assert dump(store) == before
    report = run(store, half, force=True)
    assert report.streams["users"].deleted == 3
    assert store.query_arrow("SELECT count(*) AS n FROM users").to_pylist() == [{"n": 3}]


def test_stale_rows_of_another_source_are_never_touched(
    store: Store, moodle: Path, tmp_path: Path
) -> None:
    run(store, moodle / "Test_full_data_set.zip", source="north")
    run(store, moodle / "Test_full_data_set.zip", source="south")
    south = {t: rows for t, rows in dump(store).items() if t != "sync_state"}
    south = {t: {r for r in rows if ("source", "south") in r} for t, rows in south.items()}
    run(
        store,
        halve_users(moodle / "Test_full_data_set.zip", tmp_path / "h"),
        source="north",
        force=True,
    )
    after = {t: {r for r in rows if ("source", "south") in r} for t, rows in dump(store).items()}
    assert {t: after[t] for t in south} == south
    counts = {(c["source"], c["table"]): c["rows"] for c in store.counts()}
    assert (counts[("north", "users")], counts[("south", "users")]) == (3, 6)


def test_delta_files_apply_deletions_and_leave_the_rest(store: Store, tmp_path: Path) -> None:
    users = "sourcedId,status,role\nu1,,student\nu2,,student\nu3,,teacher\n"
    bulk = write_bundle(
        tmp_path / "bulk",
        {"manifest.csv": "propertyName,value\nfile.users,bulk\n", "users.csv": users},
    )
    delta = write_bundle(
        tmp_path / "delta",
        {
            "manifest.csv": "propertyName,value\noneroster.version,1.1\nfile.users,delta\n",
            "users.csv": "sourcedId,status,role\nu2,tobedeleted,\nu4,active,aide\n",
        },
    )
    run(store, bulk)
    report = run(store, delta)
    stream = report.streams["users"]
    assert (stream.read, stream.loaded, stream.deletions, stream.deleted) == (2, 2, 1, 1)
    keys = {store.keys.user(u): u for u in ("u1", "u2", "u3", "u4")}
    stored = {keys[k] for (k,) in table_rows(store, "SELECT user_key FROM users")}
    assert stored == {"u1", "u3", "u4"}


# --------------------------------------------------------------------------------------------
# Bundles that are broken, unsafe or not OneRoster


def test_a_clever_style_export_is_refused_with_what_it_looks_like(
    store: Store, tmp_path: Path
) -> None:
    folder = write_bundle(
        tmp_path / "clever",
        {
            "students.csv": "School_id,Student_id,First_name,Last_name\n1,2,Ada,Lovelace\n",
            "sections.csv": "School_id,Section_id,Teacher_id\n1,3,4\n",
        },
    )
    with pytest.raises(NotOneRosterError) as caught:
        run(store, folder)
    message = str(caught.value)
    assert "Clever-style roster export" in message
    assert "Missing: manifest.csv, and a sourcedId column" in message
    assert "Ada" not in message
    assert store.counts() == []


def test_an_empty_folder_is_not_a_bundle(store: Store, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotOneRosterError, match="no CSV files"):
        run(store, tmp_path / "empty")


def test_ragged_rows_are_rejected_with_file_and_line(store: Store, tmp_path: Path) -> None:
    folder = write_bundle(
        tmp_path / "ragged",
        {
            "orgs.csv": (
                'sourcedId,name,type\norg-1,"Lincoln,\nElementary",school\n'
                "org-2,Adams,school,extra\norg-3,Clark\norg-4,Davis,school\n"
            )
        },
    )
    report = run(store, folder)
    orgs = report.streams["orgs"]
    assert (orgs.read, orgs.loaded, orgs.rejected) == (4, 2, 2)
    assert orgs.rejections[0].startswith("orgs.csv:4 has 4 fields but the header has 3")
    assert orgs.rejections[1].startswith("orgs.csv:5 has 2 fields")
    assert table_rows(store, "SELECT org_key, name FROM orgs") == {
        ("org-1", "Lincoln,\nElementary"),
        ("org-4", "Davis"),
    }


def test_repeated_ids_are_rejected_and_the_first_kept(store: Store, tmp_path: Path) -> None:
    folder = write_bundle(
        tmp_path / "dup", {"orgs.csv": "sourcedId,name\norg-1,First\norg-1,Second\n"}
    )
    report = run(store, folder)
    assert report.streams["orgs"].rejections == [
        "orgs.csv:3 repeats the key of line 2; each record must have its own sourcedId "
        "(the first one was kept)"
    ]
    assert table_rows(store, "SELECT name FROM orgs") == {("First",)}


def test_a_missing_required_column_names_the_file(store: Store, tmp_path: Path) -> None:
    folder = write_bundle(
        tmp_path / "cols",
        {
            "manifest.csv": "propertyName,value\nfile.enrollments,bulk\n",
            "enrollments.csv": "sourcedId,classSourcedId,role\ne1,c1,student\n",
        },
    )
    with pytest.raises(SourceError, match=r"enrollments\.csv:1: missing column userSourcedId"):
        run(store, folder)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("file.orgs,full\n", r"manifest\.csv:2: file\.orgs = 'full': not bulk, delta or absent"),
        ("file.users,bulk\n", r"file\.users is bulk, but the bundle has no users\.csv"),
        ("oneroster.version,2.0\n", r"oneroster\.version = '2\.0'"),
    ],
)
def test_a_manifest_that_cannot_be_followed_is_refused(
    store: Store, tmp_path: Path, manifest: str, message: str
) -> None:
    folder = write_bundle(
        tmp_path / "m",
        {"manifest.csv": "propertyName,value\n" + manifest, "orgs.csv": "sourcedId\no1\n"},
    )
    with pytest.raises(SourceError, match=message):
        run(store, folder)


def test_a_zip_in_one_folder_loads_like_the_flat_one(
    store: Store, moodle: Path, tmp_path: Path
) -> None:
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as archive:
        for name, data in bundle_bytes(moodle / "Test_full_data_set.zip").items():
            archive.writestr(f"export-2024/{name}", data)
    assert run(store, nested).loaded == run(store, moodle / "Test_full_data_set.zip").loaded == 20


def test_zip_path_traversal_is_refused(store: Store, tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("orgs.csv", "sourcedId\no1\n")
        archive.writestr("../../etc/users.csv", "sourcedId\nu1\n")
    with pytest.raises(SourceError, match="points outside the bundle"):
        run(store, evil)
    assert store.counts() == []


def test_zip_bombs_are_refused(store: Store, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("orgs.csv", "sourcedId\n" + "\n" * (20 * 1024**2))
    with pytest.raises(SourceError, match="possible zip bomb"):
        run(store, bomb)
    small = tmp_path / "small.zip"
    with zipfile.ZipFile(small, "w") as archive:
        archive.writestr("orgs.csv", "sourcedId\no1\n" * 100)
    with pytest.raises(SourceError, match="over the limit of 100"):
        run(store, small, max_total_bytes=100)


def test_an_excel_cp1252_export_reads_with_its_encoding(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "excel"
    folder.mkdir()
    (folder / "orgs.csv").write_bytes(
        "sourcedId,name\r\no1,Escuela José Martí\r\n".encode("cp1252")
    )
    with pytest.raises(SourceError, match=r"orgs\.csv:2: not utf-8 text.*--encoding cp1252"):
        run(store, folder)
    run(store, folder, encoding="cp1252")
    assert table_rows(store, "SELECT name FROM orgs") == {("Escuela José Martí",)}


def test_names_are_not_even_read_unless_kept(store: Store, tmp_path: Path) -> None:
    folder = write_bundle(
        tmp_path / "names", {"users.csv": "sourcedId,role,givenName,email\nu1,student,Ada,a@x\n"}
    )
    seen: list[dict[str, Any]] = []
    original = oneroster_csv.TRANSFORMS["users"]

    def spy(values: Any, ctx: SyncContext) -> dict[str, Any]:
        seen.append(dict(values))
        return original(values, ctx)

    oneroster_csv.TRANSFORMS["users"] = spy
    try:
        run(store, folder, bulk=False)
        run(store, folder, keep_identities=True, bulk=False)
    finally:
        oneroster_csv.TRANSFORMS["users"] = original
    assert seen[0] == {"sourcedId": "u1", "role": "student"}
    assert seen[1] == {"sourcedId": "u1", "role": "student", "givenName": "Ada", "email": "a@x"}


@pytest.mark.parametrize("keep", [False, True])
def test_the_bulk_path_stages_no_unkept_names_and_no_passwords(
    store: Store, tmp_path: Path, keep: bool
) -> None:
    from connectors import oneroster_bulk

    folder = write_bundle(
        tmp_path / "names",
        {"users.csv": "sourcedId,role,givenName,email,password\nu1,student,Ada,a@x,pw\n"},
    )
    ctx = SyncContext(store=store, source="sis", keep_identities=keep)
    config = oneroster_csv.Config(path=folder)
    with oneroster_csv.open_bundle(folder, config, ctx.report) as bundle:
        staged = oneroster_bulk.stage(bundle, "users", ctx)
        assert staged is not None
        try:
            staged_text = str(store.con.execute(f"SELECT * FROM {staged.tables[0]}").fetchall())
        finally:
            oneroster_bulk.drop(staged, ctx)
    assert "pw" not in staged_text
    assert ("Ada" in staged_text) is keep and ("a@x" in staged_text) is keep


def test_a_damaged_zip_member_is_refused_by_name(store: Store, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.zip"
    text = "sourcedId,name\n" + "".join(f"org-{i},School {i}\n" for i in range(2000))
    with zipfile.ZipFile(damaged, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("orgs.csv", text)
    data = bytearray(damaged.read_bytes())
    middle = len(data) // 3
    data[middle : middle + 8] = bytes(8)  # inside the deflated stream of orgs.csv
    damaged.write_bytes(bytes(data))
    with pytest.raises(SourceError, match=r"orgs\.csv: the zip member is damaged"):
        run(store, damaged)
    assert store.counts() == []


def test_a_file_that_is_not_a_zip_is_refused(store: Store, tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("sourcedId\n")
    with pytest.raises(SourceError, match="not a readable zip file"):
        run(store, tmp_path / "users.csv")


def test_extension_columns_are_kept_on_request_but_never_for_people(
    store: Store, tmp_path: Path
) -> None:
    folder = write_bundle(
        tmp_path / "ext",
        {
            "orgs.csv": "sourcedId,name,metadata.city,ext_vendor\no1,Adams,Springfield,\n",
            "users.csv": "sourcedId,role,metadata.nickname\nu1,student,Ace\n",
        },
    )
    report = run(store, folder, keep_extensions=True)
    assert table_rows(store, "SELECT extensions FROM orgs") == {
        ('{"metadata.city": "Springfield"}',)
    }
    assert table_rows(store, "SELECT extensions FROM users") == {(None,)}
    assert any("users.csv:1: 1 extension column (metadata.nickname)" in w for w in report.warnings)


def test_progress_is_reported_per_stream(store: Store, tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "p", {"orgs.csv": "sourcedId\n" + "o\n".join("123") + "o\n"})
    seen: list[tuple[str, int]] = []
    ctx = SyncContext(
        store=store,
        source="sis",
        options={"path": folder},
        progress=lambda stream, read: seen.append((stream, read)),
    )
    oneroster_csv.sync(ctx)
    assert seen[-1] == ("orgs", 3)


def test_a_1_2_delta_of_users_alone_keeps_their_roles(
    store: Store, moodle: Path, tmp_path: Path
) -> None:
    run(store, moodle / "v1p2_full_dataset.zip")
    delta = write_bundle(
        tmp_path / "delta12",
        {
            "manifest.csv": "propertyName,value\noneroster.version,1.2\nfile.users,delta\n",
            "users.csv": "sourcedId,status,enabledUser,primaryOrgSourcedId\n"
            "usr-222-123456,active,false,org-sch-222-456\n",
        },
    )
    run(store, delta)
    teacher = store.query_arrow(
        "SELECT enabled, primary_role, roles FROM users WHERE user_key = ?",
        [store.keys.user("usr-222-123456")],
    ).to_pylist()
    assert teacher == [
        {"enabled": False, "primary_role": "teacher", "roles": ["guardian", "teacher"]}
    ]


def test_references_that_lead_nowhere_are_counted(store: Store, tmp_path: Path) -> None:
    folder = write_bundle(
        tmp_path / "refs",
        {
            "orgs.csv": "sourcedId,name\nlincoln,Lincoln\n",
            "classes.csv": "sourcedId,schoolSourcedId\nc1,lincoln\nc2,adams\n",
            "users.csv": "sourcedId,role,orgSourcedIds\nu1,student,lincoln\n",
            "enrollments.csv": (
                "sourcedId,classSourcedId,userSourcedId,role\n"
                "e1,c1,u1,student\ne2,c3,u1,student\ne3,c1,u9,student\ne4,c9,u9,student\n"
            ),
        },
    )
    report = run(store, folder)
    assert report.ok
    assert {w for w in report.warnings if "name a" in w} == {
        "2 enrollments name a user that is not in users (for source 'sis')",
        "2 enrollments name a class that is not in classes (for source 'sis')",
        "1 classes name a school that is not in orgs (for source 'sis')",
    }


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_connector_has_the_shape(name: str) -> None:
    import inspect

    from pydantic import BaseModel

    from connectors.base import StreamSpec

    module = load_connector(name)
    assert name == module.SOURCE
    assert module.STREAMS and all(isinstance(s, StreamSpec) for s in module.STREAMS)
    assert all("source" in s.table.columns for s in module.STREAMS)
    assert issubclass(module.Config, BaseModel)
    assert list(inspect.signature(module.sync).parameters) == ["ctx"]


def test_the_registry_finds_the_connector() -> None:
    assert REGISTRY["oneroster_csv"] == "connectors.oneroster_csv"
    assert load_connector("oneroster_csv") is oneroster_csv
    assert oneroster_csv.SOURCE == "oneroster_csv"
    assert next(s.name for s in oneroster_csv.STREAMS) == "orgs"


# --------------------------------------------------------------------------------------------
# Parsers: properties


dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31))
times = st.times().map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))


@given(dates, times)
def test_the_date_time_forms_agree(day: date, moment: Any) -> None:
    when = datetime.combine(day, moment, tzinfo=UTC)
    millis = f"{when.microsecond // 1000:03d}"
    forms = [
        when.strftime("%Y-%m-%dT%H:%M:%S.") + millis + "Z",
        when.strftime("%Y-%m-%d %H:%M:%S.") + millis,
        when.strftime("%Y-%m-%dT%H:%M:%S.") + millis + "+00:00",
        (when + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.") + millis + "+02:00",
    ]
    assert {parse_datetime(form) for form in forms} == {when}


@given(dates)
def test_the_date_forms_agree(day: date) -> None:
    forms = [
        day.isoformat(),
        f"{day.day}/{day.month}/{day.year}",
        f"{day.day:02d}/{day.month:02d}/{day.year}",
        f"{day.isoformat()}T00:00:00Z",
        f"{day.isoformat()} 00:00:00",
        f"{day.isoformat()}T09:30:00.000Z",
    ]
    assert {parse_date(form) for form in forms} == {day}
    assert parse_datetime(f"{day.day}/{day.month}/{day.year}") == datetime.combine(
        day, datetime.min.time(), tzinfo=UTC
    )


@given(st.text(max_size=12))
def test_date_parsing_fails_only_with_a_value_error(text: str) -> None:
    try:
        parse_datetime(text)
        parse_date(text)
    except ValueError as error:
        assert str(error).startswith("not a date")


@given(
    st.lists(
        st.text("abc09 -", min_size=1).map(str.strip).filter(bool).filter(lambda s: "," not in s)
    )
)
def test_split_list_round_trips(parts: list[str]) -> None:
    assert split_list(", ".join(parts)) == parts
    assert split_list(",".join(parts) + ",") == parts


@given(st.booleans(), st.sampled_from(["upper", "lower", "title"]))
def test_parse_bool_reads_every_case(value: bool, case: str) -> None:
    text = getattr(str(value).lower(), case)()
    assert parse_bool(text) is value
    assert parse_bool(" ") is None


# --------------------------------------------------------------------------------------------
# Hypothesis: a bundle with quirks loads exactly like its clean version

ROLES = ["student", "teacher", "aide", "administrator"]
GRADES = ["KG", "01", "05", "09", "12"]


@st.composite
def rosters(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    org_count = draw(st.integers(1, 3))
    orgs: list[dict[str, Any]] = [
        {"sourcedId": f"org-{i}", "name": draw(st.sampled_from(["Adams", "Lincoln H.S."])),
         "type": "school", "dateLastModified": None}
        for i in range(org_count)
    ]  # fmt: skip
    stamps = st.one_of(
        st.none(),
        st.datetimes(
            min_value=datetime(2000, 1, 1),
            max_value=datetime(2040, 1, 1),
        ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, tzinfo=UTC)),
        dates.map(lambda d: datetime.combine(d, datetime.min.time(), tzinfo=UTC)),
    )
    for org in orgs:
        org["dateLastModified"] = draw(stamps)
    sessions = [
        {"sourcedId": f"term-{i}", "title": "Term", "type": "term",
         "startDate": draw(st.one_of(st.none(), dates)), "endDate": draw(dates),
         "dateLastModified": draw(stamps)}
        for i in range(draw(st.integers(1, 2)))
    ]  # fmt: skip
    users = [
        {"sourcedId": f"stu-{i}", "role": draw(st.sampled_from(ROLES)),
         "enabledUser": draw(st.sampled_from(["true", "false", ""])),
         "orgSourcedIds": f"org-{draw(st.integers(0, org_count - 1))}",
         "grades": ",".join(draw(st.lists(st.sampled_from(GRADES), max_size=2, unique=True))),
         "givenName": draw(st.sampled_from(["Ada", "Grace"])), "dateLastModified": draw(stamps)}
        for i in range(draw(st.integers(1, 5)))
    ]  # fmt: skip
    enrollments = [
        {"sourcedId": f"enr-{i}", "classSourcedId": "cls-1", "userSourcedId": user["sourcedId"],
         "role": user["role"] if user["role"] in {"student", "teacher", "aide"} else "teacher",
         "beginDate": draw(st.one_of(st.none(), dates)), "dateLastModified": draw(stamps)}
        for i, user in enumerate(users)
    ]  # fmt: skip
    return {
        "orgs.csv": orgs,
        "academicSessions.csv": sessions,
        "users.csv": users,
        "enrollments.csv": enrollments,
    }


def clean_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def quirky_cell(value: Any, form: int) -> str:
    if isinstance(value, datetime):
        midnight = value.time() == datetime.min.time()
        stamp = value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
        forms = [clean_cell(value), stamp, clean_cell(value)[:-1] + "+00:00"]
        if midnight:
            forms += [value.date().isoformat(), f"{value.day}/{value.month}/{value.year}"]
        return forms[form % len(forms)]
    if isinstance(value, date):
        forms = [
            value.isoformat(),
            f"{value.day}/{value.month}/{value.year}",
            f"{value.isoformat()}T00:00:00Z",
            f"{value.isoformat()} 00:00:00",
        ]
        return forms[form % len(forms)]
    return clean_cell(value)


def write_csv(rows: list[dict[str, Any]], *, quirks: dict[str, Any] | None = None) -> bytes:
    header = list(rows[0])
    if quirks is None:
        lines = [header, *([clean_cell(row[c]) for c in header] for row in rows)]
        newline, bom, final = "\n", False, True
    else:
        cases = quirks["cases"]
        shown = [
            [str.upper, str.lower, str.swapcase, str][cases[i % len(cases)]](name)
            for i, name in enumerate(header)
        ]
        forms = quirks["forms"]
        lines = [shown]
        for r, row in enumerate(rows):
            lines.append(
                [quirky_cell(row[c], forms[(r + i) % len(forms)]) for i, c in enumerate(header)]
            )
        newline, bom, final = quirks["newline"], quirks["bom"], quirks["final"]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=newline).writerows(lines)
    text = buffer.getvalue()
    if not final:
        text = text[: -len(newline)]
    return ("\ufeff" if bom else "").encode() + text.encode()


quirk_sets = st.fixed_dictionaries(
    {
        "cases": st.lists(st.integers(0, 3), min_size=1, max_size=4),
        "forms": st.lists(st.integers(0, 4), min_size=1, max_size=4),
        "newline": st.sampled_from(["\n", "\r\n"]),
        "bom": st.booleans(),
        "final": st.booleans(),
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rosters(), st.lists(quirk_sets, min_size=4, max_size=4), st.booleans())
def test_a_quirky_bundle_loads_like_its_clean_version(
    tmp_path_factory: pytest.TempPathFactory,
    roster: dict[str, list[dict[str, Any]]],
    quirks: list[dict[str, Any]],
    with_manifest: bool,
) -> None:
    workspace = tmp_path_factory.mktemp("quirks")
    clean, quirky = workspace / "clean", workspace / "quirky"
    clean.mkdir()
    quirky.mkdir()
    for (name, rows), quirk in zip(roster.items(), quirks, strict=True):
        (clean / name).write_bytes(write_csv(rows))
        (quirky / name).write_bytes(write_csv(rows, quirks=quirk))
    if with_manifest:
        manifest = "propertyName,value\r\noneroster.version,1.1\r\n" + "".join(
            f"file.{name[:-4]},bulk\r\n" for name in roster
        )
        (quirky / "manifest.csv").write_text(manifest, newline="")
    # one store: the quirky bundle, imported in full over the clean one, must change nothing
    with Store.open(workspace / "ws" / "store.duckdb") as opened:
        loads = []
        for folder in (clean, quirky):
            report = run(opened, folder)
            assert report.rejected == 0, report.as_dict()
            assert sum(s.deleted for s in report.streams.values()) == 0
            loads.append(dump(opened, bookkeeping=False))
    assert loads[0] == loads[1]
    assert len(loads[0]["users"]) == len(roster["users.csv"])


# --------------------------------------------------------------------------------------------
# The command line


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_cli_import_prints_counts_that_match_the_files(moodle: Path, tmp_path: Path) -> None:
    path = moodle / "Test_full_data_set.zip"
    files = bundle_bytes(path)
    result = invoke("import-roster", str(path), "--store", str(tmp_path / "s.duckdb"), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for stream in report["streams"]:
        _, rows = records(files[stream["file"].lower()])
        assert stream["read"] == stream["loaded"] == len(rows)
        assert stream["skipped"] == stream["rejected"] == 0
    table = invoke("import-roster", str(path), "--store", str(tmp_path / "s.duckdb"))
    assert table.exit_code == 0
    assert re.search(r"enrollments\.csv\s*│\s*bulk\s*│\s*6\s*│\s*6\s*│\s*0\s*│\s*0", table.stdout)


def test_cli_store_info_shows_counts_and_last_pull(moodle: Path, tmp_path: Path) -> None:
    store_path = str(tmp_path / "s.duckdb")
    invoke("import-roster", str(moodle / "Test_full_data_set.zip"), "--store", store_path,
           "--source", "sis")  # fmt: skip
    result = invoke("store", "info", "--store", store_path, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    counts = {(c["source"], c["table"]): c["rows"] for c in info["counts"]}
    assert counts[("sis", "users")] == 6 and counts[("sis", "enrollments")] == 6
    users = next(s for s in info["sync_state"] if s["stream"] == "users")
    assert users["cursor"].startswith("2023-06-15") and users["complete"] is True
    text = invoke("store", "info", "--store", store_path)
    assert text.exit_code == 0 and "last pull per stream" in text.stdout


def test_cli_exit_codes(moodle: Path, tmp_path: Path) -> None:
    store_path = str(tmp_path / "s.duckdb")
    missing = invoke("import-roster", str(tmp_path / "nowhere"), "--store", store_path)
    assert missing.exit_code == 2 and "no such file or folder" in missing.stderr
    write_bundle(tmp_path / "clever", {"students.csv": "School_id,Student_id\n1,2\n"})
    clever = invoke("import-roster", str(tmp_path / "clever"), "--store", store_path)
    assert clever.exit_code == 2 and "not a OneRoster CSV bundle" in clever.stderr
    assert not Path(store_path).exists()  # nothing was created for a bundle that is not one
    write_bundle(tmp_path / "bad", {"users.csv": "sourcedId,role\nu1,student\nu2,pupil\n"})
    rejected = invoke("import-roster", str(tmp_path / "bad"), "--store", store_path)
    assert rejected.exit_code == 1
    assert "users.csv:3 role = 'pupil'" in rejected.stdout
    strict = invoke("import-roster", str(tmp_path / "bad"), "--store", str(tmp_path / "t.duckdb"),
                    "--strict")  # fmt: skip
    assert strict.exit_code == 1 and "strict mode" in strict.stderr
    nothing = invoke("store", "info", "--store", str(tmp_path / "t.duckdb"), "--json")
    assert json.loads(nothing.stdout)["counts"] == []
    assert invoke("store", "info", "--store", str(tmp_path / "none.duckdb")).exit_code == 2


def test_cli_shrink_guard_and_force(moodle: Path, tmp_path: Path) -> None:
    store_path = str(tmp_path / "s.duckdb")
    invoke("import-roster", str(moodle / "Test_full_data_set.zip"), "--store", store_path)
    half = halve_users(moodle / "Test_full_data_set.zip", tmp_path / "half")
    refused = invoke("import-roster", str(half), "--store", store_path)
    assert refused.exit_code == 1 and "use --force" in refused.stderr
    forced = invoke("import-roster", str(half), "--store", store_path, "--force", "--json")
    assert forced.exit_code == 0
    users = next(s for s in json.loads(forced.stdout)["streams"] if s["stream"] == "users")
    assert users["deleted"] == 3


def test_cli_keep_names(moodle: Path, tmp_path: Path) -> None:
    store_path = tmp_path / "s.duckdb"
    result = invoke(
        "import-roster", str(moodle / "Test_full_data_set.zip"), "--store", str(store_path),
        "--keep-names",
    )  # fmt: skip
    assert result.exit_code == 0
    with Store.open(store_path) as opened:
        names = table_rows(opened, "SELECT given_name FROM identities")
    assert ("Anna",) in names and len(names) == 6


def test_the_docs_map_every_column_the_connector_knows() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs/connectors/oneroster-csv.md").read_text()
    for spec in oneroster_csv.FILES.values():
        assert f"`{spec.file}`" in page, spec.file
        for name in spec.columns:
            assert f"`{name}`" in page, f"{spec.file} {name}"
    for stream in oneroster_csv.STREAMS:
        for column in stream.table.columns:
            if column != "source":
                assert f"`{column}`" in page, f"{stream.table.name}.{column}"


def test_the_generated_sample_roster_imports_cleanly(store: Store, tmp_path: Path) -> None:
    from edtech_map.samples import generate_workspace  # the sample generator's own bundle

    generate_workspace(tmp_path / "sample", size="s", scale=0.05)
    roster = tmp_path / "sample" / "roster"
    files = bundle_bytes(roster)
    report = run(store, roster)
    assert report.ok and report.read > 0, report.as_dict()
    assert_counts_match_files(report, files, store)
    assert leaks(text_values(store), personal_values(files)) == set()


def test_cli_finds_the_store_beside_the_inventory(moodle: Path, tmp_path: Path) -> None:
    inventory = tmp_path / "district" / "ecosystem.yaml"
    result = CliRunner().invoke(
        app,
        ["import-roster", str(moodle / "Test_minimal_data_set.zip"), "--json"],
        env={"EDTECH_MAP_INVENTORY": str(inventory)},
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "district" / ".edtech-map" / "store.duckdb").exists()
    info = invoke("store", "info", "--inventory", str(inventory), "--json")
    assert {c["rows"] for c in json.loads(info.stdout)["counts"] if c["table"] == "users"} == {6}
