"""Google Classroom connector against a real local HTTP server shaped by the v1 discovery document.

Every record the server sends is built by :func:`make`, which only accepts the property names
(and enum values) of that schema in the Classroom v1 discovery document
(``../shared/fixtures/google-classroom/googleapiclient/discovery_cache/documents/classroom.v1.json``),
so the answers have the real field names: ``courses``/``teachers``/``students`` lists and
``nextPageToken``. Errors have Google's shape (``{"error": {"code", "message", "status"}}``).
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

from connectors import google_classroom as gc
from connectors.base import SkipRow, SourceError, SyncContext, SyncReport
from connectors.http import ConnectionFailed, PaginationLoopError, SourceTimeout
from edtech_map.model import Role
from edtech_map.model.ecosystem import SourceConfig
from edtech_map.privacy import KeyMaker
from edtech_map.store import Store
from tests.http_faults import (
    ConnectionDrop,
    Fault,
    ServerFailure,
    SlowResponse,
    inject,
    threaded_server,
)

TOKEN = "ya29.TEST-google-token-Qm4v8"
DISCOVERY = "google-classroom/googleapiclient/discovery_cache/documents/classroom.v1.json"
STUDENT = {"givenName": "Zelda", "familyName": "Quintero", "fullName": "Zelda Quintero"}
STUDENT_EMAIL = "zelda.quintero@students.riverside.example.org"


@pytest.fixture(scope="module")
def schemas(fixtures_dir: Path) -> dict[str, Any]:
    path = fixtures_dir / DISCOVERY
    if not path.is_file():
        pytest.skip(f"Classroom discovery document not found at {path}")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["rootUrl"] == "https://classroom.googleapis.com/"
    schemas: dict[str, Any] = document["schemas"]
    return schemas


def make(schemas: dict[str, Any], schema: str, /, **values: Any) -> dict[str, Any]:
    """A record of ``schema``: only its properties, enum values checked."""
    properties = schemas[schema]["properties"]
    unknown = set(values) - set(properties)
    assert not unknown, f"{schema} has no properties {unknown} in the discovery document"
    for key, value in values.items():
        if "enum" in properties[key]:
            assert value in properties[key]["enum"], (schema, key, value)
    return values


def person(schemas: dict[str, Any], kind: str, course: str, user: str) -> dict[str, Any]:
    profile = make(
        schemas,
        "UserProfile",
        id=user,
        name=make(schemas, "Name", **STUDENT),
        emailAddress=STUDENT_EMAIL,
        photoUrl="//lh3.googleusercontent.com/a/default-user",
    )
    return make(schemas, kind, courseId=course, userId=user, profile=profile)


def build_classroom(schemas: dict[str, Any]) -> dict[str, Any]:
    """Courses page by page, and each course's teachers and students page by page."""

    def course(course_id: str, **values: Any) -> dict[str, Any]:
        return make(
            schemas,
            "Course",
            id=course_id,
            ownerId="100000000000000000001",
            courseState="ACTIVE",
            updateTime="2024-09-03T15:04:05.123456789Z",
            enrollmentCode="abc123",
            alternateLink=f"https://classroom.google.com/c/{course_id}",
            **values,
        )

    courses = [
        [
            course("5151", name="Biology", section="Period 2",
                   descriptionHeading="Welcome to 10th Grade Biology", room="301"),
            course("5152", name="Algebra I", section="Period 3"),
        ],
        [course("5153", name="Mr. Kim's class", subject="Music", levels="Middle school")],
    ]  # fmt: skip
    teachers = {c: [[person(schemas, "Teacher", c, "100000000000000000001")]] for c in
                ("5151", "5152", "5153")}  # fmt: skip
    students = {
        "5151": [
            [person(schemas, "Student", "5151", f"2000000000000000000{n}") for n in (1, 2)],
            [person(schemas, "Student", "5151", f"2000000000000000000{n}") for n in (3, 4)],
        ],
        "5152": [[person(schemas, "Student", "5152", "20000000000000000001")]],
        "5153": [[]],  # no students: Google leaves the list out
    }
    return {"courses": courses, "teachers": teachers, "students": students}


# --------------------------------------------------------------------------------------------
# The server


class QuotaExceeded(Fault):
    """Google's 429: ``RESOURCE_EXHAUSTED`` with ``Retry-After: 0``."""

    def answer(self, request: Request) -> Response:
        body = {"error": {"code": 429, "message": "Quota exceeded for quota metric 'Requests'",
                          "status": "RESOURCE_EXHAUSTED"}}  # fmt: skip
        return Response(
            json.dumps(body), status=429, headers={"Retry-After": "0"}, mimetype="application/json"
        )


def serve_classroom(server: HTTPServer, data: dict[str, Any]) -> None:
    serve_tokens(server, "/v1/courses", "courses", data["courses"])
    for course, pages in data["teachers"].items():
        serve_tokens(server, f"/v1/courses/{course}/teachers", "teachers", pages)
    for course, pages in data["students"].items():
        serve_tokens(server, f"/v1/courses/{course}/students", "students", pages)


def serve_tokens(
    server: HTTPServer,
    path: str,
    key: str,
    pages: list[list[dict[str, Any]]],
    *,
    next_of: dict[int, int] | None = None,
) -> None:
    """Serve ``pages`` at ``path``: page n is asked for with ``pageToken=token-n``."""

    def handler(request: Request) -> Response:
        if request.args.get("pageSize") != "100":
            return error(400, "pageSize must be 100 in these tests", "INVALID_ARGUMENT")
        if path == "/v1/courses" and request.args.getlist("courseStates") != ["ACTIVE"]:
            return error(400, "courseStates must be ACTIVE in these tests", "INVALID_ARGUMENT")
        token = request.args.get("pageToken")
        number = int(token.removeprefix("token-")) if token else 1
        body: dict[str, Any] = {key: pages[number - 1]} if pages[number - 1] else {}
        following = (next_of or {}).get(number, number + 1 if number < len(pages) else None)
        if following is not None:
            body["nextPageToken"] = f"token-{following}"
        return Response(json.dumps(body), mimetype="application/json")

    server.expect_request(path).respond_with_handler(handler)


def error(code: int, message: str, status: str) -> Response:
    body = {"error": {"code": code, "message": message, "status": status}}
    return Response(json.dumps(body), status=code, mimetype="application/json")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        yield opened


def options(server: HTTPServer, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "base_url": server.url_for("/"),
        "token": TOKEN,
        "org_key": "riverside",
        "max_retries": 3,
        "backoff_factor": 0,
        "timeout": (2.0, 2.0),
    }
    values.update(extra)
    return values


def pull(store: Store, server: HTTPServer, **extra: Any) -> SyncReport:
    return gc.sync(SyncContext(store=store, source="classroom", options=options(server, **extra)))


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


def expected_enrollments(data: dict[str, Any], keys: KeyMaker) -> set[tuple[str, str, str]]:
    expected = set()
    for kind, role in (("teachers", "teacher"), ("students", "student")):
        for course, pages in data[kind].items():
            for page in pages:
                for member in page:
                    user = keys.user(member["userId"], namespace="google")
                    expected.add((user, f"google:{course}", role))
    return expected


# --------------------------------------------------------------------------------------------
# Transforms


@pytest.fixture
def ctx() -> SyncContext:
    from types import SimpleNamespace

    return SyncContext(store=SimpleNamespace(keys=KeyMaker(b"g" * 32)), source="classroom")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "status"),
    [("ACTIVE", "active"), ("ARCHIVED", "inactive"), ("PROVISIONED", "inactive")],
)
def test_course_states_become_statuses(ctx: SyncContext, state: str, status: str) -> None:
    assert gc.transform_course({"id": "1", "courseState": state}, ctx)["status"] == status


@pytest.mark.parametrize("state", ["DECLINED", "SUSPENDED", None])
def test_declined_suspended_and_stateless_courses_are_skipped(
    ctx: SyncContext, state: str | None
) -> None:
    with pytest.raises(SkipRow):
        gc.transform_course({"id": "1", "courseState": state}, ctx)


def test_levels_and_headings_give_subject_and_grade_with_confidence(ctx: SyncContext) -> None:
    row = gc.transform_course(
        {"id": "1", "courseState": "ACTIVE", "name": "Room 12", "levels": "9th grade",
         "subject": "Chemistry"}, ctx)  # fmt: skip
    assert (row["subjects"], row["grades"]) == (["science"], ["09"])
    assert json.loads(row["extensions"])["subject_mapping"]["confidence"] == "high"
    guessed = gc.transform_course({"id": "2", "courseState": "ACTIVE", "name": "Algebra I"}, ctx)
    assert json.loads(guessed["extensions"])["subject_mapping"]["confidence"] == "low"


def test_users_are_keyed_by_user_id_in_the_google_namespace(ctx: SyncContext) -> None:
    raw = {"courseId": "1", "userId": "42", "profile": {"emailAddress": STUDENT_EMAIL}}
    row = gc.transform_enrollment(raw, ctx, role=Role.TEACHER, course_id="1")
    assert row["user_key"] == ctx.keys.user("42", namespace="google") != ctx.keys.user("42")
    assert STUDENT_EMAIL not in json.dumps(row, default=str)


# --------------------------------------------------------------------------------------------
# Pulls


def test_a_pull_follows_page_tokens_and_keys_everyone(
    httpserver: HTTPServer, store: Store, schemas: dict[str, Any]
) -> None:
    data = build_classroom(schemas)
    serve_classroom(httpserver, data)

    report = pull(store, httpserver)

    assert rows(store, "SELECT course_key, org_key, subjects, grades, "
                       "extensions->>'$.subject_mapping.confidence' FROM courses") == {
        ("google:5151", "riverside", ("science",), ("10",), "high"),
        ("google:5152", "riverside", ("math",), ("09",), "low"),
        ("google:5153", "riverside", ("music",), ("06", "07", "08"), "low"),
    }  # fmt: skip
    assert rows(store, "SELECT class_key, course_key FROM classes") == {
        (f"google:{c}", f"google:{c}") for c in ("5151", "5152", "5153")
    }
    assert rows(store, "SELECT user_key, class_key, role FROM enrollments") == (
        expected_enrollments(data, store.keys)
    )
    teacher = store.keys.user("100000000000000000001", namespace="google")
    assert rows(store, f"SELECT roles FROM users WHERE user_key = '{teacher}'") == {(("teacher",),)}
    assert len(rows(store, "SELECT user_key FROM users")) == 5
    assert report.ok and all(s.balanced for s in report.streams.values())
    tokens = {r.args.get("pageToken") for r, _ in httpserver.log if r.path == "/v1/courses"}
    assert tokens == {None, "token-2"}
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r, _ in httpserver.log)


def test_a_429_with_retry_after_and_a_500_are_retried(
    httpserver: HTTPServer, store: Store, schemas: dict[str, Any]
) -> None:
    data = build_classroom(schemas)
    quota = inject(httpserver, "/v1/courses", QuotaExceeded(),
                   query={"courseStates": "ACTIVE", "pageSize": "100", "pageToken": "token-2"})  # fmt: skip
    failure = inject(httpserver, "/v1/courses/5151/students", ServerFailure(500),
                     query={"pageSize": "100", "pageToken": "token-2"})  # fmt: skip
    serve_classroom(httpserver, data)

    pull(store, httpserver)

    assert (quota.calls, failure.calls) == (1, 1)
    assert [s for _, s in ((r, x.status_code) for r, x in httpserver.log) if s != 200] == [429, 500]
    assert rows(store, "SELECT user_key, class_key, role FROM enrollments") == (
        expected_enrollments(data, store.keys)
    )


def test_a_timeout_fails_the_pull_and_changes_nothing(
    store: Store, schemas: dict[str, Any]
) -> None:
    data = build_classroom(schemas)
    with threaded_server() as server:
        serve_classroom(server, data)
        pull(store, server)
        before = dump(store)
        slow = SlowResponse(delay=0.6, body={})
        inject(server, "/v1/courses/5153/teachers", slow, times=2)

        with pytest.raises(SourceTimeout):
            pull(store, server, timeout=(0.2, 0.2), max_retries=1)
        assert slow.settle()

    assert slow.calls == 2 and dump(store) == before


def test_a_repeated_page_token_is_caught_and_changes_nothing(
    httpserver: HTTPServer, store: Store, schemas: dict[str, Any]
) -> None:
    data = build_classroom(schemas)
    serve_classroom(httpserver, data)
    pull(store, httpserver)
    before = dump(store)
    httpserver.clear()
    serve_tokens(httpserver, "/v1/courses/5151/students", "students",
                 data["students"]["5151"], next_of={2: 2})  # fmt: skip
    serve_classroom(httpserver, data)

    with pytest.raises(PaginationLoopError, match="page token"):
        pull(store, httpserver)

    assert dump(store) == before


def test_a_server_that_dies_mid_pull_changes_nothing(
    httpserver: HTTPServer, store: Store, schemas: dict[str, Any]
) -> None:
    data = build_classroom(schemas)
    serve_classroom(httpserver, data)
    pull(store, httpserver)
    before = dump(store)
    drop = inject(httpserver, "/v1/courses/5152/students", ConnectionDrop(), times=4)

    with pytest.raises(ConnectionFailed):
        pull(store, httpserver)

    assert drop.calls == 4 and dump(store) == before


def test_pulling_again_changes_nothing_but_the_run(
    httpserver: HTTPServer, store: Store, schemas: dict[str, Any]
) -> None:
    serve_classroom(httpserver, build_classroom(schemas))
    first = pull(store, httpserver)
    once = dump(store, bookkeeping=False)

    second = pull(store, httpserver)

    assert dump(store, bookkeeping=False) == once
    assert first.as_dict()["streams"] == second.as_dict()["streams"]


def test_a_student_who_left_is_removed_by_the_next_pull(
    httpserver: HTTPServer, store: Store, schemas: dict[str, Any]
) -> None:
    data = build_classroom(schemas)
    serve_classroom(httpserver, data)
    pull(store, httpserver)
    httpserver.clear()
    data["students"]["5151"][1] = data["students"]["5151"][1][:1]
    serve_classroom(httpserver, data)

    report = pull(store, httpserver)

    assert report.streams["enrollments"].deleted == 1
    assert report.streams["users"].deleted == 1
    assert rows(store, "SELECT user_key, class_key, role FROM enrollments") == (
        expected_enrollments(data, store.keys)
    )


def test_no_secret_or_student_detail_in_logs_errors_or_the_store(
    httpserver: HTTPServer,
    store: Store,
    schemas: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    data = build_classroom(schemas)
    inject(httpserver, "/v1/courses/5151/teachers", QuotaExceeded())
    serve_classroom(httpserver, data)
    pull(store, httpserver)
    inject(httpserver, "/v1/courses/5151/students", ServerFailure(503), times=4)
    with pytest.raises(Exception) as failed:
        pull(store, httpserver)

    user_ids = {m["userId"] for kind in ("teachers", "students") for course in data[kind].values()
                for page in course for m in page}  # fmt: skip
    forbidden = {TOKEN, STUDENT_EMAIL, *STUDENT.values(), *user_ids}
    stored = json.dumps([sorted(map(str, t)) for t in dump(store).values()])
    for text in (caplog.text, str(failed.value), repr(failed.value), stored):
        assert {word for word in forbidden if word in text} == set()
    assert "Bearer ***" in caplog.text


# --------------------------------------------------------------------------------------------
# Settings


def test_config_from_an_inventory_source_reads_the_token_from_the_environment() -> None:
    source = SourceConfig(
        kind="google_classroom",
        secrets={"token": "CLASSROOM_TOKEN"},
        options={"course_states": ["ACTIVE", "ARCHIVED"], "org_key": "riverside"},
    )
    config = gc.Config.from_source(source, {"CLASSROOM_TOKEN": TOKEN})
    assert config.token.get_secret_value() == TOKEN
    assert config.course_states == ("ACTIVE", "ARCHIVED")
    assert TOKEN not in repr(config)
    with pytest.raises(SourceError, match="CLASSROOM_TOKEN") as missing:
        gc.Config.from_source(source, {})
    with pytest.raises(SourceError, match="page_size") as invalid:
        gc.load_config({"token": TOKEN, "page_size": 0})
    for problem in (missing.value, invalid.value):
        assert TOKEN not in str(problem)


def test_edtech_map_pull_runs_the_connector_from_the_inventory(
    httpserver: HTTPServer,
    schemas: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from connectors.base import REGISTRY, load_connector
    from edtech_map.cli import app

    assert (
        REGISTRY["google_classroom"] == "connectors.google_classroom"
        and load_connector("google_classroom").SOURCE == "google_classroom"
    )
    monkeypatch.setenv("CLASSROOM_TOKEN", TOKEN)
    data = build_classroom(schemas)
    serve_classroom(httpserver, data)
    inventory = tmp_path / "ecosystem.yaml"
    inventory.write_text(
        "district: {id: riverside, name: Riverside USD}\n"
        "sources:\n"
        "  classroom:\n"
        "    kind: google_classroom\n"
        f"    base_url: {httpserver.url_for('/v1')}\n"
        "    secrets: {token: CLASSROOM_TOKEN}\n"
        "    options: {org_key: riverside, max_retries: 1, backoff_factor: 0}\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(app, ["pull", "classroom", "--inventory", str(inventory)])

    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    with Store.open(tmp_path / ".edtech-map" / "store.duckdb", create=False) as pulled:
        assert {s["stream"] for s in pulled.sync_state("classroom")} == {s.name for s in gc.STREAMS}
        assert rows(pulled, "SELECT user_key, class_key, role FROM enrollments") == (
            expected_enrollments(data, pulled.keys)
        )


def test_the_docs_page_names_every_setting_and_stream() -> None:
    page = (
        Path(__file__).resolve().parent.parent / "docs/connectors/google-classroom.md"
    ).read_text("utf-8")
    assert {name for name in gc.Config.model_fields if f"`{name}`" not in page} == set()
    assert {spec.name for spec in gc.STREAMS if f"`{spec.name}`" not in page} == set()


def test_strict_mode_stops_at_a_course_in_an_unknown_state_and_changes_nothing(
    httpserver: HTTPServer, store: Store, schemas: dict[str, Any]
) -> None:
    from connectors.base import RowRejectedError

    data = build_classroom(schemas)
    serve_classroom(httpserver, data)
    pull(store, httpserver)
    before = dump(store)
    httpserver.clear()
    data["courses"][1].append({"id": "5154", "name": "Art", "courseState": "PAUSED"})  # not v1
    data["teachers"]["5154"] = [[]]
    data["students"]["5154"] = [[]]
    serve_classroom(httpserver, data)

    with pytest.raises(RowRejectedError, match="courseState = 'PAUSED'"):
        gc.sync(
            SyncContext(store=store, source="classroom", options=options(httpserver), strict=True)
        )
    assert dump(store) == before

    lenient = pull(store, httpserver)
    assert (lenient.streams["courses"].rejected, lenient.ok) == (1, False)
    assert "google:5154" not in {key for (key,) in rows(store, "SELECT course_key FROM courses")}
