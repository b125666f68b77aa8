"""Clever connector against a local Clever Data API v3.0 (pytest-httpserver).

Users and sections are Clever's own demo-district answers (the shared ``clever-go`` fixtures:
2,098 users, 378 sections), served in ``limit`` / ``starting_after`` pages with Clever's
``links: [{rel: next, uri}]`` by :func:`tests.http_faults.serve_pages`. Schools, terms and
courses have no recorded answers, so they are built here from the ids the sections use, in the
shapes of Clever's schema pages. Expected rows are computed here from the fixture files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer

from connectors import clever
from connectors.base import SyncContext, SyncReport
from connectors.http import (
    AuthenticationError,
    ConnectionFailed,
    PaginationLoopError,
    SourceTimeout,
)
from edtech_map.store import ShrinkGuardError, Store
from tests.http_faults import (
    ConnectionDrop,
    RateLimited,
    ServerFailure,
    SlowResponse,
    Unauthorized,
    inject,
    serve_pages,
    threaded_server,
)
from tests.test_oneroster_rest import clean_copy, dump, rows

TOKEN = "clever-TOKEN-5d1e8b"  # recognisable, so a leak is easy to find
PAGE = 500
MOCKS = "clever-go/tests/mocks"


# --------------------------------------------------------------------------------------------
# The demo district


@pytest.fixture(scope="module")
def demo(fixtures_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The fixture users and sections, plus schools, terms and courses built from their ids."""
    folder = fixtures_dir / MOCKS
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing from the shared fixtures")
    users = json.loads((folder / "users.json").read_text())["data"]
    sections = json.loads((folder / "sections.json").read_text())["data"]
    district = sections[0]["data"]["district"]

    def wrap(kind: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"data": data, "uri": f"/v3.0/{kind}/{data['id']}"}

    schools = sorted({s["data"]["school"] for s in sections})
    terms = sorted({s["data"]["term_id"] for s in sections})
    courses = sorted({s["data"]["course"] for s in sections})
    return {
        "schools": [
            wrap(
                "schools",
                {
                    "id": sid,
                    "district": district,
                    "name": f"Demo School {i}",
                    "sis_id": f"{i}",
                    "school_number": f"10{i}",
                    "created": "2017-12-05T02:09:06.567Z",
                    "last_modified": "2021-03-02T22:24:53.347Z",
                    "low_grade": "Kindergarten",
                    "high_grade": "12",
                },
            )
            for i, sid in enumerate(schools, start=1)
        ],
        "terms": [
            wrap(
                "terms",
                {
                    "id": tid,
                    "district": district,
                    "name": f"Term {i}",
                    "start_date": "2020-08-15",
                    "end_date": "2021-06-15",
                },
            )
            for i, tid in enumerate(terms, start=1)
        ],
        "courses": [
            wrap(
                "courses",
                {"id": cid, "district": district, "name": f"Course {i}", "number": f"C{i:03d}"},
            )
            for i, cid in enumerate(courses, start=1)
        ],
        "users": users,
        "sections": sections,
    }


def chunks(records: list[Any], size: int = PAGE) -> list[list[Any]]:
    return [records[i : i + size] for i in range(0, len(records), size)] or [[]]


def serve(
    server: HTTPServer, data: dict[str, list[dict[str, Any]]], **kwargs: Any
) -> dict[str, Any]:
    """Serve every collection in Clever's pages; return each collection's page routes."""
    return {
        kind: serve_pages(
            server,
            f"/v3.0/{kind}",
            chunks(records),
            style="cursor",
            page_size=PAGE,
            headers={"Authorization": f"Bearer {TOKEN}"},
            **kwargs.get(kind, {}),
        )
        for kind, records in data.items()
    }


def pull(store: Store, server: HTTPServer, *, force: bool = False, **options: Any) -> SyncReport:
    settings: dict[str, Any] = {
        "base_url": server.url_for("/v3.0"),
        "token": SecretStr(TOKEN),
        "page_size": PAGE,
        "retries": 2,
        "backoff_factor": 0,
        "timeout": 5,
        "connect_timeout": 2,
        **options,
    }
    ctx = SyncContext(store=store, source="clever", options=settings, force=force)
    return clever.sync(ctx)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        yield opened


def sis_key(store: Store, user: dict[str, Any]) -> str:
    """Computed here: sis_id of the first role that has one (district), else the Clever id."""
    for role in ("student", "teacher", "staff", "district_admin", "contact"):
        sis_id = (user["roles"].get(role) or {}).get("sis_id")
        if sis_id:
            return store.keys.user(sis_id)
    return store.keys.user(user["id"], namespace="clever")


def user_keys(store: Store, data: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Clever id -> key; a user whose sis key an earlier user took is keyed by Clever id."""
    keys: dict[str, str] = {}
    for user in kept_users(data):
        key = sis_key(store, user)
        if key in keys.values():
            key = store.keys.user(user["id"], namespace="clever")
        keys[user["id"]] = key
    return keys


def kept_users(data: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [u["data"] for u in data["users"] if set(u["data"]["roles"]) - {"contact"}]


def expected_enrollments(
    store: Store, data: dict[str, list[dict[str, Any]]]
) -> set[tuple[Any, ...]]:
    keys = user_keys(store, data)
    found = set()
    for section in (s["data"] for s in data["sections"]):
        for role in ("student", "teacher"):
            for member in section[f"{role}s"]:
                found.add((keys[member], section["id"], role))
    return found


def personal_values(data: dict[str, list[dict[str, Any]]]) -> set[str]:
    """Names, e-mails, usernames, birth dates, raw Clever and SIS ids of people."""
    found: set[str] = set()
    for user in (u["data"] for u in data["users"]):
        found.update(v for v in user.get("name", {}).values() if v)
        found.update(v for v in (user.get("email"), user["id"]) if v)
        for role in user["roles"].values():
            for key in ("sis_id", "student_number", "state_id", "teacher_number", "dob", "email"):
                if role.get(key):
                    found.add(role[key])
            found.update(v for v in role.get("credentials", {}).values() if v)
    return {v for v in found if len(v) >= 5}  # "6" or "12" (teacher sis_ids) are also periods


def store_values(store: Store) -> set[str]:
    values: set[str] = set()
    for table in store.tables():
        for row in store.query_arrow(f'SELECT * FROM "{table}"').to_pylist():
            for value in row.values():
                items = value if isinstance(value, list) else [value]
                values.update(str(item) for item in items if item is not None)
    return values


# --------------------------------------------------------------------------------------------
# A clean pull


def test_the_demo_district_loads_with_roles_sections_and_enrollments(
    store: Store, httpserver: HTTPServer, demo: dict[str, list[dict[str, Any]]]
) -> None:
    serve(httpserver, demo)

    report = pull(store, httpserver)

    users = report.streams["users"]
    assert (users.read, users.loaded, users.skipped, users.rejected) == (2098, 1096, 1002, 0)
    assert any("1 user share a sis_id" in w for w in report.warnings)  # 427165340: both roles
    assert users.skips[0].endswith(
        "a contact (parent or guardian); set include_contacts to keep contacts"
    )
    assert len([p for p in httpserver.log if p[0].path == "/v3.0/users"]) == 5
    assert report.ok and all(s.balanced for s in report.streams.values())
    assert rows(store, "SELECT primary_role, count(*) FROM users GROUP BY 1") == {
        ("student", 1004),
        ("teacher", 89),
        ("districtAdministrator", 3),
    }
    keys = user_keys(store, demo)
    assert rows(store, "SELECT user_key, primary_role FROM users") == {
        (
            keys[u["id"]],
            {"student": "student", "teacher": "teacher", "district_admin": "districtAdministrator"}[
                next(iter(u["roles"]))
            ],
        )
        for u in kept_users(demo)
    }
    assert rows(store, "SELECT user_key, class_key, role FROM enrollments") == expected_enrollments(
        store, demo
    )
    assert rows(store, "SELECT count(*) FROM classes") == {(378,)}
    assert rows(store, "SELECT count(*) FROM enrollments WHERE is_primary") == {(378,)}
    assert rows(store, "SELECT DISTINCT type FROM orgs") == {("school",)}
    assert rows(store, "SELECT grades FROM users WHERE primary_role = 'student' GROUP BY 1") >= {
        (("KG",),),
        (("09",),),
    }
    state = {s["stream"]: s for s in store.sync_state("clever")}
    assert set(state) == {"schools", "terms", "courses", "users", "sections", "enrollments"}
    newest = max(u["last_modified"] for u in kept_users(demo))  # contacts were skipped
    assert state["users"]["cursor"] == newest.replace("Z", "000+00:00")
    assert store_values(store) & personal_values(demo) == set()


def test_a_user_without_sis_id_is_keyed_by_clever_id_and_contacts_can_be_kept(
    store: Store, httpserver: HTTPServer, demo: dict[str, list[dict[str, Any]]]
) -> None:
    serve(httpserver, {**demo, "sections": []})

    report = pull(store, httpserver, include_contacts=True)

    admin = next(u for u in kept_users(demo) if "district_admin" in u["roles"])
    assert rows(
        store,
        "SELECT primary_role FROM users WHERE user_key = ?",
        store.keys.user(admin["id"], namespace="clever"),
    ) == {("districtAdministrator",)}
    assert report.streams["users"].loaded == 2098
    assert rows(store, "SELECT count(*) FROM users WHERE primary_role = 'guardian'") == {(1002,)}


# --------------------------------------------------------------------------------------------
# Faults


def test_a_429_with_retry_after_is_waited_out(
    store: Store, httpserver: HTTPServer, demo: dict[str, list[dict[str, Any]]]
) -> None:
    routes = serve(httpserver, demo)
    fault = inject(
        httpserver, "/v3.0/users", RateLimited(retry_after="0"), query=routes["users"][2].query
    )

    report = pull(store, httpserver)

    assert fault.calls == 1
    assert report.streams["users"].read == 2098 and report.ok


def test_a_500_then_success_is_retried(
    store: Store, httpserver: HTTPServer, demo: dict[str, list[dict[str, Any]]]
) -> None:
    routes = serve(httpserver, demo)
    fault = inject(
        httpserver, "/v3.0/sections", ServerFailure(500), query=routes["sections"][0].query
    )

    report = pull(store, httpserver)

    assert fault.calls == 1 and report.streams["sections"].loaded == 378


def test_a_read_timeout_fails_clearly_and_changes_nothing(
    store: Store, demo: dict[str, list[dict[str, Any]]]
) -> None:
    with threaded_server() as server:
        routes = serve(server, demo)
        pull(store, server)
        before = dump(store)
        slow = SlowResponse(delay=0.6)
        inject(server, "/v3.0/users", slow, query=routes["users"][1].query, times=2)
        with pytest.raises(SourceTimeout) as raised:
            pull(store, server, timeout=0.2, retries=1)
        slow.settle()

    assert "Timed out waiting for the answer" in str(raised.value) and "(page 2)" in str(
        raised.value
    )
    assert dump(store) == before


def test_a_cursor_that_does_not_advance_is_a_loop_and_changes_nothing(
    store: Store, httpserver: HTTPServer, demo: dict[str, list[dict[str, Any]]]
) -> None:
    serve(httpserver, demo)
    pull(store, httpserver)
    before = dump(store)
    httpserver.clear()
    serve(httpserver, demo, users={"loop_to": 4})  # the last page's next link is itself

    with pytest.raises(PaginationLoopError) as raised:
        pull(store, httpserver)

    assert "leads back to" in str(raised.value) and "(page 5)" in str(raised.value)
    assert dump(store) == before


def test_an_expired_token_fails_clearly_and_never_shows_the_token(
    store: Store,
    httpserver: HTTPServer,
    demo: dict[str, list[dict[str, Any]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    routes = serve(httpserver, demo)
    pull(store, httpserver)
    before = dump(store)
    inject(httpserver, "/v3.0/users", Unauthorized(), query=routes["users"][2].query)

    with pytest.raises(AuthenticationError) as raised:
        pull(store, httpserver)

    assert "(page 3)" in str(raised.value) and "token was rejected" in str(raised.value)
    assert dump(store) == before
    assert TOKEN not in caplog.text and TOKEN not in str(raised.value)
    assert "Bearer ***" in caplog.text  # the headers were logged, redacted


def test_a_server_that_dies_on_page_3_leaves_the_store_and_the_next_pull_catches_up(
    tmp_path: Path, store: Store, httpserver: HTTPServer, demo: dict[str, list[dict[str, Any]]]
) -> None:
    first = {**demo, "users": demo["users"][:1800]}
    serve(httpserver, first)
    pull(store, httpserver)
    before = dump(store)
    httpserver.clear()
    routes = serve(httpserver, demo)
    drop = inject(
        httpserver, "/v3.0/users", ConnectionDrop(), query=routes["users"][2].query, times=3
    )

    with pytest.raises(ConnectionFailed) as raised:
        pull(store, httpserver)

    assert drop.calls == 3 and "(page 3)" in str(raised.value)
    cursor = demo["users"][2 * PAGE - 1]["data"]["id"]  # page 3 starts after this student
    assert "starting_after=***" in str(raised.value) and cursor not in str(raised.value)
    assert dump(store) == before

    report = pull(store, httpserver)  # the drops are used up: the server is back
    assert report.ok
    with clean_copy(tmp_path, store, "clean") as clean:
        pull(clean, httpserver)
        assert dump(store, bookkeeping=False) == dump(clean, bookkeeping=False)


def test_the_shrink_guard_refuses_a_half_size_roster_and_force_accepts(
    store: Store, httpserver: HTTPServer, demo: dict[str, list[dict[str, Any]]]
) -> None:
    serve(httpserver, demo)
    pull(store, httpserver)
    before = dump(store)
    httpserver.clear()
    students = [u for u in demo["users"] if "student" in u["data"]["roles"]]
    others = [u for u in demo["users"] if "student" not in u["data"]["roles"]]
    half = {**demo, "users": others + students[:400], "sections": []}
    serve(httpserver, half)

    with pytest.raises(ShrinkGuardError) as raised:
        pull(store, httpserver)
    assert "users of source 'clever'" in str(raised.value)
    assert dump(store) == before

    report = pull(store, httpserver, force=True)
    gone = set(user_keys(store, demo).values()) - set(user_keys(store, half).values())
    assert len(gone) == 605  # 604 students, and a teacher whose sis_id is no longer shared
    assert report.streams["users"].deleted == len(gone)
    assert rows(store, "SELECT count(*) FROM enrollments") == {(0,)}


def test_bad_settings_fail_before_any_request(store: Store, httpserver: HTTPServer) -> None:
    with pytest.raises(clever.ConfigError, match="sections stream needs the users stream"):
        pull(store, httpserver, streams=["sections"])
    with pytest.raises(clever.ConfigError, match="token: Field required"):
        clever.sync(SyncContext(store=store, source="clever", options={}))
    assert list(httpserver.log) == []


def test_the_docs_page_names_every_setting_and_stream() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs/connectors/clever.md").read_text("utf-8")
    assert {name for name in clever.Config.model_fields if f"`{name}`" not in page} == set()
    assert {spec.name for spec in clever.STREAMS if f"`{spec.name}`" not in page} == set()
