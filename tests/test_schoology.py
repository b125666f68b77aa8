"""Schoology connector against a real local HTTP server shaped after the Schoology API v1 docs.

No recorded Schoology answers are in the shared fixtures, so the records follow the field
tables and examples of the Schoology REST API v1 documentation (developers.schoology.com:
User, Course, Course Section, Enrollment; lists as ``{"<object>": [...], "total": "n",
"links": {"self": ..., "next": ...}}``; ``start``/``limit`` paging, ``limit`` at most 200).
Every request must carry a valid two-legged OAuth 1.0a PLAINTEXT signature, checked the way a
server does (:func:`tests.http_faults.require_oauth1`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from connectors import schoology
from connectors.base import SkipRow, SourceError, SyncContext, SyncReport
from connectors.http import (
    AuthenticationError,
    ConnectionFailed,
    PaginationLoopError,
    SourceTimeout,
)
from edtech_map.model import Role
from edtech_map.model.ecosystem import SourceConfig
from edtech_map.privacy import KeyMaker
from edtech_map.store import Store
from tests.http_faults import (
    ConnectionDrop,
    RateLimited,
    ServerFailure,
    SlowResponse,
    inject,
    require_oauth1,
    threaded_server,
)

KEY = "sgy-consumer-key-1"
SECRET = "sgy-TEST-secret-Vb82nQ"
STUDENT_NAME = ("Zelda", "Quintero")
STUDENT_EMAIL = "zquintero@students.riverside.example.org"
ROLES = [
    {"id": "180001", "title": "Student", "faculty": "0", "role_type": "1"},
    {"id": "180002", "title": "Teacher", "faculty": "1", "role_type": "1"},
    {"id": "180003", "title": "Parent", "faculty": "0", "role_type": "1"},
]


def user(uid: str, role_id: str, school_uid: str = "") -> dict[str, Any]:
    """A user as the User docs show one (names and e-mail included, as Schoology sends them)."""
    return {
        "uid": uid,
        "id": uid,
        "school_id": "344232",
        "building_id": "344233",
        "school_uid": school_uid,
        "name_title": "",
        "name_title_show": "0",
        "name_first": STUDENT_NAME[0],
        "name_first_preferred": "",
        "name_middle": "",
        "name_middle_show": "0",
        "name_last": STUDENT_NAME[1],
        "name_display": " ".join(STUDENT_NAME),
        "username": "zquintero",
        "primary_email": STUDENT_EMAIL,
        "picture_url": "https://asset-cdn.schoology.com/sites/all/themes/user-default.gif",
        "gender": "",
        "position": "",
        "grad_year": "2030",
        "password": "",
        "role_id": role_id,
        "tz_offset": "-5",
        "tz_name": "America/New_York",
    }


def course(course_id: str, title: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": course_id,
        "building_id": "344233",
        "title": title,
        "course_code": code,
        "department": "",
        "description": "",
        "credits": "0",
        "synced": "1",
        "grade_level_range_start": extra.pop("start", "0"),
        "grade_level_range_end": extra.pop("end", "0"),
        "subject_area": extra.pop("subject_area", "0"),
        **extra,
    }


def section(section_id: str, course_id: str, title: str, code: str) -> dict[str, Any]:
    return {
        "id": section_id,
        "course_title": "(from the course)",
        "course_code": "(from the course)",
        "course_id": course_id,
        "school_id": "344232",
        "building_id": "344233",
        "access_code": "XXXX-XXXX-XXXXX",
        "section_title": title,
        "section_code": code,
        "section_school_code": code,
        "synced": "1",
        "active": 1,
        "description": "",
        "location": "Room 12",
        "grading_periods": [318211],
        "profile_url": "",
    }


def enrollment(
    eid: str, uid: str, admin: int, status: int = 1, school_uid: str = ""
) -> dict[str, Any]:
    """An enrollment as the Enrollment docs' example (names included, as Schoology sends them)."""
    return {
        "id": eid,
        "uid": uid,
        "school_uid": school_uid,
        "name_title": "",
        "name_title_show": "0",
        "name_first": STUDENT_NAME[0],
        "name_first_preferred": "",
        "name_middle": "",
        "name_middle_show": "0",
        "name_last": STUDENT_NAME[1],
        "name_display": " ".join(STUDENT_NAME),
        "admin": admin,
        "status": status,
        "picture_url": "https://asset-cdn.schoology.com/sites/all/themes/user-default.gif",
        "links": {"self": f"https://api.schoology.com/v1/sections/x/enrollments/{eid}"},
    }


def build_school() -> dict[str, Any]:
    users = [
        [user("48289", "180002", "T-100"), user("48290", "180001", "S-200")],
        [user("48291", "180001"), user("48292", "180003", "P-300")],
    ]
    courses = [
        [
            course("1001", "7th Grade Science", "SCI7"),
            course("1002", "Algebra I", "ALG1", subject_area="3", start="11", end="11"),
        ]
    ]
    sections = {
        "1001": [[section("2001", "1001", "Period 1", "SCI7-1")],
                 [section("2002", "1001", "Period 2", "SCI7-2")]],
        "1002": [[section("2003", "1002", "Period 3", "ALG1-3")]],
    }  # fmt: skip
    enrollments = {
        "2001": [[enrollment("9001", "48289", 1, school_uid="T-100"),
                  enrollment("9002", "48290", 0, school_uid="S-200")],
                 [enrollment("9003", "48291", 0)]],
        "2002": [[enrollment("9004", "48289", 1, school_uid="T-100"),
                  enrollment("9005", "48291", 0, status=3)]],  # invite pending: skipped
        "2003": [[enrollment("9006", "48291", 0, status=5)]],  # archived: inactive
    }  # fmt: skip
    return {"users": users, "courses": courses, "sections": sections, "enrollments": enrollments}


# --------------------------------------------------------------------------------------------
# The server


def serve_school(server: HTTPServer, school: dict[str, Any]) -> None:
    serve_list(server, "/v1/roles", "role", [ROLES])
    serve_list(server, "/v1/users", "user", school["users"])
    serve_list(server, "/v1/courses", "course", school["courses"])
    for course_id, pages in school["sections"].items():
        serve_list(server, f"/v1/courses/{course_id}/sections", "section", pages)
    for section_id, pages in school["enrollments"].items():
        serve_list(server, f"/v1/sections/{section_id}/enrollments", "enrollment", pages)


def serve_list(
    server: HTTPServer,
    path: str,
    key: str,
    pages: list[list[dict[str, Any]]],
    *,
    next_of: dict[int, int] | None = None,
) -> None:
    """Serve ``pages`` at ``path`` with ``start``/``limit`` (page n starts at 200 * (n - 1))."""
    total = sum(len(page) for page in pages)

    def handler(request: Request) -> Response:
        if request.args.get("limit") != "200":
            return Response(json.dumps({"error": "limit must be 200 here"}), status=400)
        number = int(request.args.get("start", "0")) // 200 + 1
        following = (next_of or {}).get(number, number + 1 if number < len(pages) else None)
        links = {"self": f"{server.url_for(path)}?start={200 * (number - 1)}&limit=200"}
        if following is not None:
            links["next"] = f"{server.url_for(path)}?start={200 * (following - 1)}&limit=200"
        body = {key: pages[number - 1], "total": str(total), "links": links}
        return Response(json.dumps(body), mimetype="application/json")

    server.expect_request(path).respond_with_handler(require_oauth1(SECRET, handler))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        yield opened


def options(server: HTTPServer, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "base_url": server.url_for("/"),
        "consumer_key": KEY,
        "consumer_secret": SECRET,
        "max_retries": 3,
        "backoff_factor": 0,
        "timeout": (2.0, 2.0),
    }
    values.update(extra)
    return values


def pull(store: Store, server: HTTPServer, **extra: Any) -> SyncReport:
    context = SyncContext(store=store, source="schoology", options=options(server, **extra))
    return schoology.sync(context)


def rows(store: Store, sql: str) -> set[tuple[Any, ...]]:
    return {
        tuple(tuple(v) if isinstance(v, list) else v for v in row.values())
        for row in store.query_arrow(sql).to_pylist()
    }


def dump(store: Store, *, bookkeeping: bool = True) -> dict[str, set[tuple[Any, ...]]]:
    drop = set() if bookkeeping else {"run_id", "last_seen", "started", "finished"}
    return {
        table: {
            tuple(
                (k, tuple(v) if isinstance(v, list) else v)
                for k, v in sorted(row.items())
                if k not in drop
            )
            for row in store.query_arrow(f'SELECT * FROM "{table}"').to_pylist()
        }
        for table in store.tables()
    }


def key_of(keys: KeyMaker, uid: str, school_uid: str) -> str:
    return keys.user(school_uid) if school_uid else keys.user(uid, namespace="schoology")


def expected_enrollments(school: dict[str, Any], keys: KeyMaker) -> set[tuple[str, str, str, str]]:
    status = {1: "active", 2: "inactive", 5: "inactive"}
    return {
        (key_of(keys, e["uid"], e["school_uid"]), f"schoology:{sid}",
         "teacher" if e["admin"] == 1 else "student", status[e["status"]])
        for sid, pages in school["enrollments"].items()
        for page in pages
        for e in page
        if e["status"] in status
    }  # fmt: skip


# --------------------------------------------------------------------------------------------
# Transforms


@pytest.fixture
def ctx() -> SyncContext:
    from types import SimpleNamespace

    return SyncContext(store=SimpleNamespace(keys=KeyMaker(b"s" * 32)), source="schoology")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "expected"), [(1, "active"), (2, "inactive"), (5, "inactive"), ("1", "active")]
)
def test_enrollment_statuses(ctx: SyncContext, status: int | str, expected: str) -> None:
    row = schoology.transform_enrollment(enrollment("1", "2", 0, status), ctx, section_id="9")  # type: ignore[arg-type]
    assert row["status"] == expected


@pytest.mark.parametrize("status", [3, 4])
def test_pending_invitations_and_requests_are_skipped(ctx: SyncContext, status: int) -> None:
    with pytest.raises(SkipRow, match="pending"):
        schoology.transform_enrollment(enrollment("1", "2", 0, status), ctx, section_id="9")


def test_admin_members_are_teachers_and_the_rest_students(ctx: SyncContext) -> None:
    roles = {
        schoology.transform_enrollment(enrollment(str(a), "2", a), ctx, section_id="9")["role"]
        for a in (0, 1)
    }
    assert roles == {"teacher", "student"}


def test_subject_area_and_grade_range_win_over_the_title(ctx: SyncContext) -> None:
    row = schoology.transform_course(
        course("1", "Algebra I", "ALG1", subject_area="5", start="3", end="7"), ctx
    )
    assert (row["subjects"], row["grades"]) == (["science"], ["01", "02", "03", "04", "05"])
    assert json.loads(row["extensions"])["subject_mapping"]["confidence"] == "high"
    guessed = schoology.transform_course(course("2", "Algebra I", "ALG1"), ctx)
    assert (guessed["subjects"], guessed["grades"]) == (["math"], ["09"])


def test_users_keep_no_name_email_or_username(ctx: SyncContext) -> None:
    row = schoology.transform_user(
        user("48289", "180001", "S-1"), ctx, roles={"180001": Role.STUDENT}
    )
    text = json.dumps(row, default=str)
    assert {
        w for w in (*STUDENT_NAME, STUDENT_EMAIL, "zquintero", "S-1", "48289") if w in text
    } == set()


# --------------------------------------------------------------------------------------------
# Pulls


def test_a_pull_follows_next_links_signs_every_request_and_keys_everyone(
    httpserver: HTTPServer, store: Store
) -> None:
    school = build_school()
    serve_school(httpserver, school)

    report = pull(store, httpserver)

    keys = store.keys
    assert rows(store, "SELECT user_key, primary_role, roles, primary_org_key FROM users") == {
        (keys.user("T-100"), "teacher", ("teacher",), "schoology:344233"),
        (keys.user("S-200"), "student", ("student",), "schoology:344233"),
        (keys.user("48291", namespace="schoology"), "student", ("student",), "schoology:344233"),
        (keys.user("P-300"), "parent", ("parent",), "schoology:344233"),
    }
    assert rows(store, "SELECT course_key, course_code, subjects, grades FROM courses") == {
        ("schoology:1001", "SCI7", ("science",), ("07",)),
        ("schoology:1002", "ALG1", ("math",), ("09",)),
    }
    assert rows(store, "SELECT class_key, course_key, class_code FROM classes") == {
        ("schoology:2001", "schoology:1001", "SCI7-1"),
        ("schoology:2002", "schoology:1001", "SCI7-2"),
        ("schoology:2003", "schoology:1002", "ALG1-3"),
    }
    assert rows(store, "SELECT user_key, class_key, role, status FROM enrollments") == (
        expected_enrollments(school, keys)
    )
    assert report.streams["enrollments"].skipped == 1
    assert report.ok and all(s.balanced for s in report.streams.values())
    assert {r.args.get("start") for r, _ in httpserver.log if r.path == "/v1/users"} == {"0", "200"}
    assert all(response.status_code == 200 for _, response in httpserver.log)
    assert all('oauth_signature_method="PLAINTEXT"' in r.headers["Authorization"]
               for r, _ in httpserver.log)  # fmt: skip


def test_a_wrong_secret_is_an_authentication_error_without_the_secret(
    httpserver: HTTPServer, store: Store
) -> None:
    serve_school(httpserver, build_school())

    with pytest.raises(AuthenticationError) as failed:
        pull(store, httpserver, consumer_secret="not-the-secret-XQ1")

    assert "not-the-secret-XQ1" not in str(failed.value)
    assert store.counts() == []


def test_a_429_with_retry_after_and_a_500_are_retried(httpserver: HTTPServer, store: Store) -> None:
    school = build_school()
    limited = inject(httpserver, "/v1/users", RateLimited(retry_after="0"),
                     query={"start": "200", "limit": "200"})  # fmt: skip
    failure = inject(httpserver, "/v1/sections/2001/enrollments", ServerFailure(500),
                     query={"start": "200", "limit": "200"})  # fmt: skip
    serve_school(httpserver, school)

    pull(store, httpserver)

    assert (limited.calls, failure.calls) == (1, 1)
    assert sorted(x.status_code for _, x in httpserver.log if x.status_code != 200) == [429, 500]
    assert rows(store, "SELECT user_key, class_key, role, status FROM enrollments") == (
        expected_enrollments(school, store.keys)
    )


def test_a_timeout_fails_the_pull_and_changes_nothing(store: Store) -> None:
    school = build_school()
    with threaded_server() as server:
        serve_school(server, school)
        pull(store, server)
        before = dump(store)
        slow = SlowResponse(delay=0.6, body={"enrollment": []})
        inject(server, "/v1/sections/2003/enrollments", slow, times=2)

        with pytest.raises(SourceTimeout):
            pull(store, server, timeout=(0.2, 0.2), max_retries=1)
        assert slow.settle()

    assert slow.calls == 2 and dump(store) == before


def test_a_next_link_that_repeats_is_caught_and_changes_nothing(
    httpserver: HTTPServer, store: Store
) -> None:
    school = build_school()
    serve_school(httpserver, school)
    pull(store, httpserver)
    before = dump(store)
    httpserver.clear()
    serve_list(httpserver, "/v1/users", "user", school["users"], next_of={2: 2})
    serve_school(httpserver, school)

    with pytest.raises(PaginationLoopError, match="next link"):
        pull(store, httpserver)

    assert dump(store) == before


def test_a_server_that_dies_mid_pull_changes_nothing(httpserver: HTTPServer, store: Store) -> None:
    school = build_school()
    serve_school(httpserver, school)
    pull(store, httpserver)
    before = dump(store)
    drop = inject(httpserver, "/v1/sections/2003/enrollments", ConnectionDrop(), times=4)

    with pytest.raises(ConnectionFailed):
        pull(store, httpserver)

    assert drop.calls == 4 and dump(store) == before


def test_pulling_again_changes_nothing_but_the_run(httpserver: HTTPServer, store: Store) -> None:
    serve_school(httpserver, build_school())
    first = pull(store, httpserver)
    once = dump(store, bookkeeping=False)

    second = pull(store, httpserver)

    assert dump(store, bookkeeping=False) == once
    assert first.as_dict()["streams"] == second.as_dict()["streams"]


def test_no_secret_or_student_detail_in_logs_errors_or_the_store(
    httpserver: HTTPServer, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    school = build_school()
    inject(httpserver, "/v1/courses", RateLimited(retry_after="0"))
    serve_school(httpserver, school)
    pull(store, httpserver)
    inject(httpserver, "/v1/sections/2002/enrollments", ServerFailure(503), times=4)
    with pytest.raises(Exception) as failed:
        pull(store, httpserver)

    personal = {*STUDENT_NAME, STUDENT_EMAIL, "zquintero", "T-100", "S-200", "P-300", "48291"}
    stored = json.dumps([sorted(map(str, t)) for t in dump(store).values()])
    for text in (caplog.text, str(failed.value), repr(failed.value), stored):
        assert {word for word in {SECRET, *personal} if word in text} == set()
    assert "oauth_signature" in caplog.text  # the signed headers were logged, masked


# --------------------------------------------------------------------------------------------
# Settings


def test_config_from_an_inventory_source_reads_the_key_pair_from_the_environment() -> None:
    source = SourceConfig(
        kind="schoology",
        secrets={"consumer_key": "SCHOOLOGY_KEY", "consumer_secret": "SCHOOLOGY_SECRET"},
        options={"limit": 100},
    )
    config = schoology.Config.from_source(
        source, {"SCHOOLOGY_KEY": KEY, "SCHOOLOGY_SECRET": SECRET}
    )
    assert (config.consumer_key, config.consumer_secret.get_secret_value(), config.limit) == (
        KEY,
        SECRET,
        100,
    )
    assert SECRET not in repr(config)
    with pytest.raises(SourceError, match="SCHOOLOGY_SECRET") as missing:
        schoology.Config.from_source(source, {"SCHOOLOGY_KEY": KEY})
    with pytest.raises(SourceError, match="limit") as invalid:
        schoology.load_config({"consumer_key": KEY, "consumer_secret": SECRET, "limit": 201})
    for problem in (missing.value, invalid.value):
        assert SECRET not in str(problem)


def test_edtech_map_pull_runs_the_connector_from_the_inventory(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from connectors.base import REGISTRY, load_connector
    from edtech_map.cli import app

    assert (
        REGISTRY["schoology"] == "connectors.schoology"
        and load_connector("schoology").SOURCE == "schoology"
    )
    monkeypatch.setenv("SCHOOLOGY_KEY", KEY)
    monkeypatch.setenv("SCHOOLOGY_SECRET", SECRET)
    school = build_school()
    serve_school(httpserver, school)
    inventory = tmp_path / "ecosystem.yaml"
    inventory.write_text(
        "district: {id: riverside, name: Riverside USD}\n"
        "sources:\n"
        "  schoology:\n"
        "    kind: schoology\n"
        f"    base_url: {httpserver.url_for('/')}\n"
        "    secrets: {consumer_key: SCHOOLOGY_KEY, consumer_secret: SCHOOLOGY_SECRET}\n"
        "    options: {max_retries: 1, backoff_factor: 0}\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(app, ["pull", "schoology", "--inventory", str(inventory)])

    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    with Store.open(tmp_path / ".edtech-map" / "store.duckdb", create=False) as pulled:
        assert rows(pulled, "SELECT user_key, class_key, role, status FROM enrollments") == (
            expected_enrollments(school, pulled.keys)
        )


def test_the_docs_page_names_every_setting_and_stream() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs/connectors/schoology.md").read_text(
        "utf-8"
    )
    assert {name for name in schoology.Config.model_fields if f"`{name}`" not in page} == set()
    assert {spec.name for spec in schoology.STREAMS if f"`{spec.name}`" not in page} == set()


def test_a_member_who_left_is_removed_by_the_next_pull(
    httpserver: HTTPServer, store: Store
) -> None:
    school = build_school()
    serve_school(httpserver, school)
    pull(store, httpserver)
    httpserver.clear()
    school["enrollments"]["2001"][1] = []  # 48291 left Period 1
    serve_school(httpserver, school)

    report = pull(store, httpserver)

    assert report.streams["enrollments"].deleted == 1
    assert rows(store, "SELECT user_key, class_key, role, status FROM enrollments") == (
        expected_enrollments(school, store.keys)
    )


def test_only_the_streams_asked_for_are_written(httpserver: HTTPServer, store: Store) -> None:
    serve_school(httpserver, build_school())

    pull(store, httpserver, streams=["courses", "classes"])

    assert {c["table"] for c in store.counts()} == {"courses", "classes"}
    assert {s["stream"] for s in store.sync_state("schoology")} == {"courses", "classes"}
