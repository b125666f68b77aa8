"""Canvas connector against a real local HTTP server built from canvasapi's recorded fixtures.

The server answers ``/api/v1`` the way Canvas does: ``per_page`` pages with ``Link:
rel="next"`` headers, ``{"enrollment_terms": [...]}`` for terms, and ``type[]`` filters on
enrollments. Records are canvasapi's (``../shared/fixtures/canvasapi/tests/fixtures``), read in
place, with the fields their recordings leave out (SIS ids, ``course_section_id``,
``enrollment_state``, the ``user`` object) added as the Canvas REST documentation gives them.
Expected rows are computed here from the served data, not by the connector's own code.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from connectors import canvas
from connectors.base import (
    RowError,
    RowRejectedError,
    SkipRow,
    SourceError,
    SyncContext,
    SyncReport,
)
from connectors.http import (
    ConnectionFailed,
    PaginationLoopError,
    RateLimitExceeded,
    SourceTimeout,
)
from edtech_map.model.ecosystem import SourceConfig
from edtech_map.privacy import KeyMaker
from edtech_map.store import ShrinkGuardError, Store
from tests.http_faults import (
    CanvasRateLimited,
    ConnectionDrop,
    RateLimited,
    ServerFailure,
    SlowResponse,
    inject,
    threaded_server,
)

TOKEN = "canvas-TEST-token-7f3Kq9xZ"
API = "/api/v1"
ROLE_OF_TYPE = {  # written out here, independently of the connector's table
    "StudentEnrollment": "student",
    "TeacherEnrollment": "teacher",
    "TaEnrollment": "aide",
    "DesignerEnrollment": "teacher",
    "ObserverEnrollment": "parent",
}
STUDENT_NAMES = ("Zelda Quintero", "Quintero, Zelda", "zelda.quintero@riverside.example.org")


# --------------------------------------------------------------------------------------------
# The district, from canvasapi's fixtures


@pytest.fixture(scope="module")
def canvas_fixtures(fixtures_dir: Path) -> dict[str, Any]:
    folder = fixtures_dir / "canvasapi" / "tests" / "fixtures"
    if not folder.is_dir():
        pytest.skip(f"canvasapi fixtures not found at {folder}")
    return {
        name: json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        for name in ("account", "course", "section", "enrollment_term")
    }


def _data(fixtures: dict[str, Any], file: str, key: str) -> Any:
    return copy.deepcopy(fixtures[file][key]["data"])


def _person(user_id: int, n: int, sis: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": user_id,
        "name": f"{STUDENT_NAMES[0]} {n}",
        "sortable_name": f"{STUDENT_NAMES[1]} {n}",
        "short_name": "Zelda",
        "login_id": STUDENT_NAMES[2],
    }
    if sis:
        user["sis_user_id"] = sis
    return user


def build_district(fixtures: dict[str, Any]) -> dict[str, Any]:
    """Root account, sub-accounts, terms, courses, sections and enrollments, page by page."""
    root = _data(fixtures, "account", "get_by_id")
    sub_pages = [
        _data(fixtures, "account", "subaccounts"),
        _data(fixtures, "account", "subaccounts_page_2"),
    ]
    for page in sub_pages:
        for account in page:
            account["parent_account_id"] = root["id"]
    sub_pages[0][0]["sis_account_id"] = "LHS"  # 101
    sub_pages[1][1]["parent_account_id"] = 101  # 104 sits under Lincoln High (101)
    terms = _data(fixtures, "account", "get_enrollment_terms")
    terms["enrollment_terms"][0].update(
        sis_term_id="2024-FALL", start_at="2024-08-19T06:00:00Z", end_at="2024-12-20T06:00:00Z"
    )
    course_pages = [
        _data(fixtures, "account", "get_courses"),
        _data(fixtures, "account", "get_courses_page_2"),
    ]
    c1, c2 = course_pages[0]
    c3, c4 = course_pages[1]
    c1.update(name="Algebra I - Period 3", sis_course_id="ALG1-2024", account_id=101)
    c2["id"] = "2"  # ids may come as strings
    c3.update(name="7th Grade Science", account_id=102, enrollment_term_id=2)
    c4.update(workflow_state="completed", account_id=104)
    for page in course_pages:
        for course in page:
            course["term"] = {"id": course["enrollment_term_id"], "name": "Term"}
    sections = {
        "1": [
            _data(fixtures, "course", "get_sections"),
            _data(fixtures, "course", "get_sections_p2"),
        ],
        "2": [[{**_data(fixtures, "section", "get_by_id"), "id": 5, "course_id": 2}]],
        "3": [[{**_data(fixtures, "section", "get_by_sis_id"), "id": 6, "course_id": 3}]],
        "4": [[{"id": 7, "name": "Section 7", "course_id": 4}]],
    }
    sections["1"][0][0]["sis_section_id"] = "ALG1-P3"
    first = _data(fixtures, "course", "list_enrollments")
    second = _data(fixtures, "course", "list_enrollments_2")
    for n, enrollment in enumerate([*first, *second], start=1):
        sis = f"SIS-STU-{48210 + n}" if n % 2 else None
        enrollment.update(
            course_section_id=1 if n <= 2 else 3,
            enrollment_state="active",
            user=_person(enrollment["user_id"], n, sis),
            updated_at="2024-09-01T12:00:00Z",
        )
        if sis:
            enrollment["sis_user_id"] = sis
    course3 = [
        {
            "id": 20,
            "course_id": 3,
            "course_section_id": 6,
            "user_id": 30,
            "type": kind,
            "enrollment_state": state,
            "user": _person(30 + i, 20 + i, None),
        }
        for i, (kind, state) in enumerate(
            [
                ("TaEnrollment", "active"),
                ("ObserverEnrollment", "invited"),
                ("DesignerEnrollment", "active"),
                ("StudentViewEnrollment", "active"),
            ]
        )
    ]
    for i, enrollment in enumerate(course3):
        enrollment["id"] = 20 + i
        enrollment["user_id"] = 30 + i
    enrollments = {
        "1": [first, second],
        "2": [[]],
        "3": [course3],
        "4": [[{"id": 40, "course_id": 4, "course_section_id": 7, "user_id": 8,
                "type": "StudentEnrollment", "enrollment_state": "completed",
                "user": _person(8, 40, None)}]],
    }  # fmt: skip
    return {
        "root": root,
        "sub_accounts": sub_pages,
        "terms": terms,
        "courses": course_pages,
        "sections": sections,
        "enrollments": enrollments,
    }


# --------------------------------------------------------------------------------------------
# The server


def serve_canvas(server: HTTPServer, district: dict[str, Any], *, account: str = "1") -> None:
    """Answer every Canvas call of a pull from ``district``, paged by ``page``."""
    server.expect_request(f"{API}/accounts/{account}").respond_with_json(district["root"])
    serve_paged(server, f"{API}/accounts/{account}/sub_accounts", district["sub_accounts"])
    serve_paged(server, f"{API}/accounts/{account}/terms", [district["terms"]])
    serve_paged(server, f"{API}/accounts/{account}/courses", district["courses"])
    for course, pages in district["sections"].items():
        serve_paged(server, f"{API}/courses/{course}/sections", pages)
    for course, pages in district["enrollments"].items():
        serve_paged(server, f"{API}/courses/{course}/enrollments", pages)


def serve_paged(
    server: HTTPServer, path: str, pages: list[Any], *, next_of: dict[int, int] | None = None
) -> None:
    """Serve ``pages`` at ``path``: ``page=n`` picks one, a ``Link`` header names the next.

    ``next_of`` overrides which page a page links to (a loop); requests without
    ``per_page=100`` are refused, as a test of what the connector sends.
    """

    def handler(request: Request) -> Response:
        if request.args.get("per_page") != "100":
            return Response("per_page must be 100 in these tests", status=400)
        if path.endswith("/enrollments") and not request.args.getlist("type[]"):
            return Response("type[] missing", status=400)
        number = int(request.args.get("page", "1"))
        following = (next_of or {}).get(number, number + 1 if number < len(pages) else None)
        headers = {}
        if following is not None:
            args = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
            query = urlencode([*args, ("page", str(following))])
            headers["Link"] = (
                f'<{server.url_for(path)}?{query}>; rel="next", '
                f'<{server.url_for(path)}?{query}>; rel="last"'
            )
        return Response(json.dumps(pages[number - 1]), headers=headers, mimetype="application/json")

    server.expect_request(path).respond_with_handler(handler)


def page_query(path: str, page: int) -> dict[str, str]:
    """The exact query of page ``page`` of ``path`` (for aiming a fault at it)."""
    query = {"per_page": "100"}
    if path.endswith("/courses"):
        query["include[]"] = "term"
    if path.endswith("/sub_accounts"):
        query["recursive"] = "true"
    if path.endswith("/enrollments"):
        query["type[]"] = "StudentEnrollment"  # the first value is what a dict matcher compares
    if page > 1:
        query["page"] = str(page)
    return query


# --------------------------------------------------------------------------------------------
# Store helpers


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        yield opened


def options(server: HTTPServer, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "base_url": server.url_for("/"),
        "token": TOKEN,
        "account_id": "1",
        "max_retries": 3,
        "backoff_factor": 0,
        "timeout": (2.0, 2.0),
    }
    values.update(extra)
    return values


def pull(store: Store, server: HTTPServer, **extra: Any) -> SyncReport:
    return canvas.sync(SyncContext(store=store, source="canvas", options=options(server, **extra)))


def rows(store: Store, sql: str) -> set[tuple[Any, ...]]:
    return {
        tuple(tuple(v) if isinstance(v, list) else v for v in row.values())
        for row in store.query_arrow(sql).to_pylist()
    }


def dump(store: Store, *, bookkeeping: bool = True) -> dict[str, set[tuple[Any, ...]]]:
    drop = set() if bookkeeping else {"run_id", "last_seen", "started", "finished"}
    result: dict[str, set[tuple[Any, ...]]] = {}
    for table in store.tables():
        result[table] = {
            tuple(
                (k, tuple(v) if isinstance(v, list) else v)
                for k, v in sorted(row.items())
                if k not in drop
            )
            for row in store.query_arrow(f'SELECT * FROM "{table}"').to_pylist()
        }
    return result


def expected_enrollments(district: dict[str, Any], keys: KeyMaker) -> set[tuple[Any, ...]]:
    """(user key, class key, role, status) of every enrollment a pull should keep."""
    section_key = {}
    for pages in district["sections"].values():
        for page in pages:
            for section in page:
                section_key[section["id"]] = (
                    section.get("sis_section_id") or f"canvas:{section['id']}"
                )
    expected = set()
    for pages in district["enrollments"].values():
        for page in pages:
            for e in page:
                if e["type"] not in ROLE_OF_TYPE:
                    continue
                sis = e.get("sis_user_id")
                user = keys.user(sis) if sis else keys.user(str(e["user_id"]), namespace="canvas")
                status = "inactive" if e["enrollment_state"] == "completed" else "active"
                expected.add(
                    (user, section_key[e["course_section_id"]], ROLE_OF_TYPE[e["type"]], status)
                )
    return expected


# --------------------------------------------------------------------------------------------
# Transforms


@pytest.fixture
def ctx() -> SyncContext:
    from types import SimpleNamespace

    return SyncContext(store=SimpleNamespace(keys=KeyMaker(b"t" * 32)), source="canvas")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "role"),
    [
        ("StudentEnrollment", "student"),
        ("TeacherEnrollment", "teacher"),
        ("TaEnrollment", "aide"),
        ("ObserverEnrollment", "parent"),
        ("DesignerEnrollment", "teacher"),
    ],
)
def test_enrollment_types_become_oneroster_roles(ctx: SyncContext, kind: str, role: str) -> None:
    raw = {"id": 1, "user_id": 2, "course_section_id": 3, "type": kind}
    assert canvas.transform_enrollment(raw, ctx)["role"] == role


def test_the_student_view_test_student_and_deleted_enrollments_are_skipped(
    ctx: SyncContext,
) -> None:
    base = {"id": 1, "user_id": 2, "course_section_id": 3, "type": "StudentEnrollment"}
    with pytest.raises(SkipRow, match="Student View"):
        canvas.transform_enrollment({**base, "type": "StudentViewEnrollment"}, ctx)
    with pytest.raises(SkipRow, match="deleted"):
        canvas.transform_enrollment({**base, "enrollment_state": "deleted"}, ctx)
    with pytest.raises(RowError, match="type = 'GuestEnrollment'"):
        canvas.transform_enrollment({**base, "type": "GuestEnrollment"}, ctx)


def test_ids_as_numbers_or_strings_give_the_same_keys(ctx: SyncContext) -> None:
    as_int = {"id": 12, "user_id": 34, "course_section_id": 56, "type": "StudentEnrollment"}
    as_str = {"id": "12", "user_id": "34", "course_section_id": "56", "type": "StudentEnrollment"}
    assert canvas.transform_enrollment(as_int, ctx) == canvas.transform_enrollment(as_str, ctx)
    assert canvas.canvas_key({"id": 7}, "sis_course_id") == canvas.canvas_key(
        {"id": "7"}, "sis_course_id"
    )


def test_sis_user_ids_are_keyed_in_the_district_namespace(ctx: SyncContext) -> None:
    raw = {"id": 1, "user_id": 2, "sis_user_id": "S-9", "course_section_id": 3,
           "type": "StudentEnrollment"}  # fmt: skip
    row = canvas.transform_enrollment(raw, ctx)
    assert row["user_key"] == ctx.keys.user("S-9")
    assert row["user_key"] != ctx.keys.user("2", namespace="canvas")
    without_sis = canvas.transform_enrollment({**raw, "sis_user_id": None}, ctx)
    assert without_sis["user_key"] == ctx.keys.user("2", namespace="canvas")


def test_a_course_gets_its_subject_and_grade_with_the_confidence(ctx: SyncContext) -> None:
    row = canvas.transform_course({"id": 1, "name": "Algebra I - Period 3"}, ctx)
    assert (row["subjects"], row["grades"]) == (["math"], ["09"])
    assert json.loads(row["extensions"])["subject_mapping"]["confidence"] == "low"
    plain = canvas.transform_course({"id": 2, "name": "Test Course 2"}, ctx)
    assert (plain["subjects"], plain["grades"], plain["extensions"]) == ([], [], None)


# --------------------------------------------------------------------------------------------
# Pulls


def test_a_pull_follows_every_page_and_keys_everything(
    httpserver: HTTPServer, store: Store, canvas_fixtures: dict[str, Any]
) -> None:
    district = build_district(canvas_fixtures)
    serve_canvas(httpserver, district)

    report = pull(store, httpserver)

    assert rows(store, "SELECT org_key, type, parent_org_key FROM orgs") == {
        ("canvas:1", "district", None),
        ("LHS", "school", "canvas:1"),
        ("canvas:102", "school", "canvas:1"),
        ("canvas:103", "school", "canvas:1"),
        ("canvas:104", "school", "LHS"),
    }
    assert rows(store, "SELECT session_key, start_date::VARCHAR FROM academic_sessions") == {
        ("2024-FALL", "2024-08-19"),
        ("canvas:2", None),
    }
    assert rows(store, "SELECT course_key, org_key, school_year_key, status, subjects, grades "
                       "FROM courses") == {
        ("ALG1-2024", "LHS", "2024-FALL", "active", ("math",), ("09",)),
        ("canvas:2", "canvas:1", "2024-FALL", "active", (), ()),
        ("canvas:3", "canvas:102", "canvas:2", "active", ("science",), ("07",)),
        ("canvas:4", "canvas:104", "2024-FALL", "inactive", (), ()),
    }  # fmt: skip
    sections = {s["id"] for pages in district["sections"].values() for p in pages for s in p}
    assert len(rows(store, "SELECT class_key FROM classes")) == len(sections) == 7
    assert rows(store, "SELECT class_key, course_key, school_key FROM classes "
                       "WHERE class_key = 'ALG1-P3'") == {("ALG1-P3", "ALG1-2024", "LHS")}  # fmt: skip
    assert rows(store, "SELECT user_key, class_key, role, status FROM enrollments") == (
        expected_enrollments(district, store.keys)
    )
    users = rows(store, "SELECT user_key, primary_role FROM users")
    assert {u for u, _ in users} == {e[0] for e in expected_enrollments(district, store.keys)}
    assert report.streams["enrollments"].skipped == 1  # the Student View test student
    assert report.ok and all(s.balanced for s in report.streams.values())
    paths = [request.path for request, _ in httpserver.log]
    assert paths.count(f"{API}/accounts/1/courses") == 2
    assert paths.count(f"{API}/courses/1/enrollments") == 2
    assert all(
        request.headers["Authorization"] == f"Bearer {TOKEN}" for request, _ in httpserver.log
    )


def test_a_429_and_the_canvas_403_rate_limit_are_waited_out(
    httpserver: HTTPServer, store: Store, canvas_fixtures: dict[str, Any]
) -> None:
    district = build_district(canvas_fixtures)
    courses = f"{API}/accounts/1/courses"
    enrollments = f"{API}/courses/1/enrollments"
    limited = inject(
        httpserver, courses, RateLimited(retry_after="0"), query=page_query(courses, 2)
    )
    throttled = inject(
        httpserver,
        enrollments,
        CanvasRateLimited(retry_after="0"),
        query=page_query(enrollments, 2),
        times=2,
    )
    serve_canvas(httpserver, district)

    pull(store, httpserver)

    assert (limited.calls, throttled.calls) == (1, 2)
    statuses = [(request.path, response.status_code) for request, response in httpserver.log]
    assert (courses, 429) in statuses and statuses.count((enrollments, 403)) == 2
    assert rows(store, "SELECT user_key, class_key, role, status FROM enrollments") == (
        expected_enrollments(district, store.keys)
    )


def test_the_403_rate_limit_that_never_ends_fails_and_changes_nothing(
    httpserver: HTTPServer, store: Store, canvas_fixtures: dict[str, Any]
) -> None:
    district = build_district(canvas_fixtures)
    serve_canvas(httpserver, district)
    pull(store, httpserver)
    before = dump(store)
    sections = f"{API}/courses/3/sections"
    inject(httpserver, sections, CanvasRateLimited(retry_after="0"), times=4)

    with pytest.raises(RateLimitExceeded, match="403"):
        pull(store, httpserver)

    assert dump(store) == before


def test_a_500_then_success(
    httpserver: HTTPServer, store: Store, canvas_fixtures: dict[str, Any]
) -> None:
    district = build_district(canvas_fixtures)
    sub_accounts = f"{API}/accounts/1/sub_accounts"
    failure = inject(
        httpserver, sub_accounts, ServerFailure(500), query=page_query(sub_accounts, 2)
    )
    serve_canvas(httpserver, district)

    pull(store, httpserver)

    assert failure.calls == 1
    assert len(rows(store, "SELECT org_key FROM orgs")) == 5


def test_a_timeout_fails_the_pull_and_changes_nothing(
    store: Store, canvas_fixtures: dict[str, Any]
) -> None:
    district = build_district(canvas_fixtures)
    with threaded_server() as server:
        serve_canvas(server, district)
        pull(store, server)
        before = dump(store)
        slow = SlowResponse(delay=0.6, body=[])
        inject(server, f"{API}/courses/2/enrollments", slow, times=2)

        with pytest.raises(SourceTimeout, match="Timed out"):
            pull(store, server, timeout=(0.2, 0.2), max_retries=1)
        assert slow.settle()

    assert slow.calls == 2
    assert dump(store) == before


@pytest.mark.parametrize("loop", ["same link", "same content"])
def test_a_repeated_page_is_caught_and_changes_nothing(
    httpserver: HTTPServer, store: Store, canvas_fixtures: dict[str, Any], loop: str
) -> None:
    district = build_district(canvas_fixtures)
    serve_canvas(httpserver, district)
    pull(store, httpserver)
    before = dump(store)
    httpserver.clear()
    courses = copy.deepcopy(district["courses"])
    if loop == "same link":
        next_of = {2: 2}  # page 2 says its next page is page 2
    else:
        courses.append(courses[1])  # page 3 repeats page 2
        next_of = None
    serve_paged(httpserver, f"{API}/accounts/1/courses", courses, next_of=next_of)
    serve_canvas(httpserver, district)

    with pytest.raises(PaginationLoopError, match="Pagination loop"):
        pull(store, httpserver)

    assert dump(store) == before


def test_a_server_that_dies_mid_pull_changes_nothing(
    httpserver: HTTPServer, store: Store, canvas_fixtures: dict[str, Any]
) -> None:
    district = build_district(canvas_fixtures)
    serve_canvas(httpserver, district)
    pull(store, httpserver)
    before = dump(store)
    enrollments = f"{API}/courses/4/enrollments"
    drop = inject(httpserver, enrollments, ConnectionDrop(), times=4)  # every try of the last call

    with pytest.raises(ConnectionFailed):
        pull(store, httpserver)

    assert dump(store) == before
    assert drop.calls == 4


def test_pulling_again_changes_nothing_but_the_run(
    httpserver: HTTPServer, store: Store, canvas_fixtures: dict[str, Any]
) -> None:
    serve_canvas(httpserver, build_district(canvas_fixtures))
    first = pull(store, httpserver)
    once = dump(store, bookkeeping=False)

    second = pull(store, httpserver)

    assert dump(store, bookkeeping=False) == once
    assert first.as_dict()["streams"] == second.as_dict()["streams"]
    assert {s.deleted for s in second.streams.values()} == {0}


def test_what_a_later_pull_no_longer_sees_is_removed(
    httpserver: HTTPServer, store: Store, canvas_fixtures: dict[str, Any]
) -> None:
    district = build_district(canvas_fixtures)
    serve_canvas(httpserver, district)
    pull(store, httpserver)
    httpserver.clear()
    district["enrollments"]["3"] = [[]]
    serve_canvas(httpserver, district)

    report = pull(store, httpserver)

    assert report.streams["enrollments"].deleted == 3
    assert rows(store, "SELECT user_key, class_key, role, status FROM enrollments") == (
        expected_enrollments(district, store.keys)
    )


def test_a_pull_that_would_drop_most_enrollments_is_refused_unless_forced(
    httpserver: HTTPServer, store: Store, canvas_fixtures: dict[str, Any]
) -> None:
    district = build_district(canvas_fixtures)
    serve_canvas(httpserver, district)
    pull(store, httpserver)
    before = dump(store)
    httpserver.clear()
    district["enrollments"]["1"] = [[]]  # 4 of 8 enrollments gone: a half-empty answer
    serve_canvas(httpserver, district)

    with pytest.raises(ShrinkGuardError, match="enrollments"):
        pull(store, httpserver)
    assert dump(store) == before

    forced = canvas.sync(
        SyncContext(store=store, source="canvas", options=options(httpserver), force=True)
    )
    assert forced.streams["enrollments"].deleted == 4


def test_keep_names_is_said_to_have_no_effect(
    httpserver: HTTPServer, store: Store, canvas_fixtures: dict[str, Any]
) -> None:
    serve_canvas(httpserver, build_district(canvas_fixtures))
    context = SyncContext(
        store=store, source="canvas", options=options(httpserver), keep_identities=True
    )

    report = canvas.sync(context)

    assert any("keep_identities" in warning for warning in report.warnings)
    assert rows(store, "SELECT count(*) FROM identities") == {(0,)}


def test_no_secret_or_student_detail_in_logs_errors_or_the_store(
    httpserver: HTTPServer,
    store: Store,
    canvas_fixtures: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    district = build_district(canvas_fixtures)
    inject(httpserver, f"{API}/courses/1/sections", RateLimited(retry_after="0"))
    serve_canvas(httpserver, district)
    pull(store, httpserver)
    inject(httpserver, f"{API}/accounts/1/terms", ServerFailure(503), times=4)
    with pytest.raises(Exception) as failed:
        pull(store, httpserver)

    sis_ids = {
        e["sis_user_id"]
        for pages in district["enrollments"].values()
        for page in pages
        for e in page
        if e.get("sis_user_id")
    }
    forbidden = {TOKEN, *STUDENT_NAMES, *sis_ids}
    stored = json.dumps([sorted(map(str, t)) for t in dump(store).values()])
    for text in (caplog.text, str(failed.value), repr(failed.value), stored):
        assert {word for word in forbidden if word in text} == set()
    assert "GET" in caplog.text and "Bearer ***" in caplog.text  # the debug lines were there


def test_strict_mode_stops_at_the_first_bad_record_and_changes_nothing(
    httpserver: HTTPServer, store: Store, canvas_fixtures: dict[str, Any]
) -> None:
    district = build_district(canvas_fixtures)
    serve_canvas(httpserver, district)
    pull(store, httpserver)
    before = dump(store)
    httpserver.clear()
    district["enrollments"]["2"] = [[{"id": 99, "course_section_id": 5, "user_id": 9,
                                      "type": "GuestEnrollment"}]]  # fmt: skip
    serve_canvas(httpserver, district)

    with pytest.raises(RowRejectedError, match="GuestEnrollment"):
        canvas.sync(
            SyncContext(store=store, source="canvas", options=options(httpserver), strict=True)
        )
    assert dump(store) == before

    lenient = pull(store, httpserver)
    assert lenient.streams["enrollments"].rejected == 1 and not lenient.ok


def test_only_the_streams_asked_for_are_written(
    httpserver: HTTPServer, store: Store, canvas_fixtures: dict[str, Any]
) -> None:
    serve_canvas(httpserver, build_district(canvas_fixtures))

    pull(store, httpserver, streams=["courses", "classes"])

    counts = {(c["table"], c["rows"]) for c in store.counts()}
    assert {table for table, _ in counts} == {"courses", "classes"}
    assert {s["stream"] for s in store.sync_state("canvas")} == {"courses", "classes"}


# --------------------------------------------------------------------------------------------
# Settings


def test_config_from_an_inventory_source_reads_the_token_from_the_environment() -> None:
    source = SourceConfig(
        kind="canvas",
        base_url="https://riverside.instructure.com/api/v1",
        streams=("courses",),
        secrets={"token": "CANVAS_TOKEN"},
        options={"account_id": "7", "enrollment_types": ["StudentEnrollment"]},
    )
    config = canvas.Config.from_source(source, {"CANVAS_TOKEN": TOKEN})
    assert config.token.get_secret_value() == TOKEN
    assert (config.api_root, config.account_id, config.streams) == (
        "https://riverside.instructure.com/api/v1",
        "7",
        ("courses",),
    )
    assert TOKEN not in repr(config) and TOKEN not in str(config.model_dump())


def test_bad_settings_are_named_without_the_secret() -> None:
    with pytest.raises(SourceError, match="CANVAS_TOKEN") as missing:
        canvas.load_config({"base_url": "https://c.example.org",
                            "secrets": {"token": "CANVAS_TOKEN"}}, {})  # fmt: skip
    with pytest.raises(SourceError, match="per_page") as invalid:
        canvas.load_config({"token": TOKEN, "per_page": 500})
    for error in (missing.value, invalid.value):
        assert TOKEN not in str(error) and TOKEN not in repr(error)
    assert "base_url" in str(invalid.value)  # missing too, said in the same message


def test_edtech_map_pull_runs_the_connector_from_the_inventory(
    httpserver: HTTPServer,
    canvas_fixtures: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from connectors.base import REGISTRY, load_connector
    from edtech_map.cli import app

    assert REGISTRY["canvas"] == "connectors.canvas" and load_connector("canvas").SOURCE == "canvas"
    monkeypatch.setenv("CANVAS_TOKEN", TOKEN)
    district = build_district(canvas_fixtures)
    serve_canvas(httpserver, district)
    inventory = tmp_path / "ecosystem.yaml"
    inventory.write_text(
        "district: {id: riverside, name: Riverside USD}\n"
        "sources:\n"
        "  lms:\n"
        "    kind: canvas\n"
        f"    base_url: {httpserver.url_for('/api/v1')}\n"
        "    secrets: {token: CANVAS_TOKEN}\n"
        "    options: {account_id: '1', max_retries: 1, backoff_factor: 0}\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(app, ["pull", "lms", "--inventory", str(inventory)])

    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    with Store.open(tmp_path / ".edtech-map" / "store.duckdb", create=False) as pulled:
        assert {s["stream"] for s in pulled.sync_state("lms")} == {
            spec.name for spec in canvas.STREAMS
        }
        assert rows(pulled, "SELECT user_key, class_key, role, status FROM enrollments") == (
            expected_enrollments(district, pulled.keys)
        )


def test_the_docs_page_names_every_setting_and_stream() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs/connectors/canvas.md").read_text("utf-8")
    assert {name for name in canvas.Config.model_fields if f"`{name}`" not in page} == set()
    assert {spec.name for spec in canvas.STREAMS if f"`{spec.name}`" not in page} == set()


def test_the_progress_callback_hears_of_every_page(
    httpserver: HTTPServer, store: Store, canvas_fixtures: dict[str, Any]
) -> None:
    district = build_district(canvas_fixtures)
    serve_canvas(httpserver, district)
    heard: dict[str, int] = {}

    class Progress:
        def __call__(self, stream: str, read: int) -> None:
            pass

        def page(self, stream: str, page: int, read: int) -> None:
            heard[stream] = page

    context = SyncContext(
        store=store, source="canvas", options=options(httpserver), progress=Progress()
    )
    canvas.sync(context)

    pages_with_records = sum(1 for pages in district["enrollments"].values() for p in pages if p)
    assert heard["enrollments"] == pages_with_records == 4
    assert heard["courses"] == len(district["courses"]) == 2
