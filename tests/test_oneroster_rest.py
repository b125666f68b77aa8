"""OneRoster REST connector against a real local OneRoster server (pytest-httpserver).

The server below speaks the OneRoster 1.1 / 1.2 REST binding as the specification shows it:
collections under ``/ims/oneroster/v1p1`` or ``/ims/oneroster/rostering/v1p2``, ``limit`` /
``offset`` paging with ``X-Total-Count``, ``filter=dateLastModified>=...``, references as
``{"href", "sourcedId", "type"}``, 1.1 users with ``role`` and 1.2 users with ``roles[]``. It
checks every OAuth 1.0a signature itself (recomputed with oauthlib) or the OAuth 2 bearer token,
and injects faults per page: 429, 500, slow answers, answers cut off, expired tokens, pages that
repeat. Expected rows are computed here from the records the server holds, not by the connector.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oauthlib.oauth1.rfc5849 import signature as oauth1_signature
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from connectors import oneroster_csv, oneroster_rest
from connectors.base import RowRejectedError, SyncContext, SyncReport
from connectors.http import (
    AuthenticationError,
    ConnectionFailed,
    PaginationLoopError,
    RateLimitExceeded,
    ServerError,
    SourceTimeout,
)
from edtech_map.privacy import KeyMaker
from edtech_map.store import ShrinkGuardError, Store

CLIENT_ID = "ck-riverside"
CLIENT_SECRET = "cs-SECRET-7f3a9c"  # recognisable, so a leak is easy to find
V1P1 = "/ims/oneroster/v1p1"
V1P2 = "/ims/oneroster/rostering/v1p2"
TOKEN_PATH = "/oauth/token"
COLLECTIONS = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
BASE_TIME = datetime(2024, 8, 1, 12, 0, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# The district the server holds, in the specification's JSON shapes


def ref(kind: str, sourced_id: str, root: str = V1P1) -> dict[str, str]:
    return {"href": f"{root}/{kind}s/{sourced_id}", "sourcedId": sourced_id, "type": kind}


def stamp(minutes: int) -> str:
    return (BASE_TIME + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def district(*, students: int = 20, version: str = "1.1") -> dict[str, list[dict[str, Any]]]:
    """A small district: 3 orgs, 3 sessions, 4 courses, 6 classes, users and enrollments."""
    root = V1P1 if version == "1.1" else V1P2
    common = {"status": "active", "dateLastModified": stamp(0)}
    orgs: list[dict[str, Any]] = [
        {**common, "sourcedId": "d1", "name": "Riverside USD", "type": "district"},
        *(
            {
                **common,
                "sourcedId": f"s{i}",
                "name": f"School {i}",
                "type": "school",
                "identifier": f"SCH{i}",
                "parent": ref("org", "d1", root),
            }
            for i in (1, 2)
        ),
    ]
    sessions: list[dict[str, Any]] = [
        {
            **common,
            "sourcedId": "y2025",
            "title": "2024-25",
            "type": "schoolYear",
            "startDate": "2024-08-01",
            "endDate": "2025-06-30",
            "schoolYear": "2025",
        },
        *(
            {
                **common,
                "sourcedId": f"t{i}",
                "title": f"Term {i}",
                "type": "term",
                "startDate": "2024-08-01" if i == 1 else "2025-01-06",
                "endDate": "2024-12-20" if i == 1 else "2025-06-30",
                "parent": ref("academicSession", "y2025", root),
                "schoolYear": "2025",
            }
            for i in (1, 2)
        ),
    ]
    courses = [
        {
            **common,
            "sourcedId": f"crs{i}",
            "title": f"Course {i}",
            "courseCode": f"C{i}",
            "grades": ["09", "10"],
            "subjects": ["Arts, Music"] if i == 1 else ["Math"],
            "org": ref("org", f"s{1 + i % 2}", root),
            "schoolYear": ref("academicSession", "y2025", root),
        }
        for i in range(1, 5)
    ]
    classes = [
        {
            **common,
            "sourcedId": f"cls{i}",
            "title": f"Class {i}",
            "classCode": f"K{i}",
            "classType": "scheduled",
            "location": f"Room {i}",
            "grades": ["09"],
            "subjects": ["Math"],
            "course": ref("course", f"crs{1 + i % 4}", root),
            "school": ref("org", f"s{1 + i % 2}", root),
            "terms": [ref("academicSession", "t1", root)],
            "periods": ["1"],
        }
        for i in range(1, 7)
    ]
    users: list[dict[str, Any]] = []
    for i in range(1, students + 4):
        teacher = i > students
        sourced_id = f"tch-{i}" if teacher else f"stu-{i:04d}"
        user: dict[str, Any] = {
            **common,
            "sourcedId": sourced_id,
            "username": f"user{i}.riverside",
            "enabledUser": "true" if version == "1.1" else True,
            "givenName": f"Given{i}x",
            "familyName": f"Family{i}x",
            "email": f"person{i}@riverside.example",
            "identifier": f"ID{i:06d}",
            "grades": [] if teacher else ["09"],
        }
        school = f"s{1 + i % 2}"
        if version == "1.1":
            user.update(role="teacher" if teacher else "student", orgs=[ref("org", school, root)])
        else:
            user["roles"] = [
                {
                    "roleType": "primary",
                    "role": "teacher" if teacher else "student",
                    "org": ref("org", school, root),
                }
            ]
            if teacher:
                user["roles"].append(
                    {"roleType": "secondary", "role": "aide", "org": ref("org", "d1", root)}
                )
        users.append(user)
    enrollments = []
    for user in users:
        teacher = user["sourcedId"].startswith("tch")
        number = int(user["sourcedId"].split("-")[1])
        for c in ((number % 6) + 1, ((number + 2) % 6) + 1):
            enrollments.append(
                {
                    **common,
                    "sourcedId": f"enr-{user['sourcedId']}-cls{c}",
                    "user": ref("user", user["sourcedId"], root),
                    "class": ref("class", f"cls{c}", root),
                    "school": ref("org", "s1", root),
                    "role": "teacher" if teacher else "student",
                    "primary": "false" if version == "1.1" else False,
                }
            )
    return {
        "orgs": orgs,
        "academicSessions": sessions,
        "courses": courses,
        "classes": classes,
        "users": users,
        "enrollments": enrollments,
    }


# --------------------------------------------------------------------------------------------
# The server


@dataclass
class Fault:
    """What the server does instead of answering one page normally."""

    kind: str  # status | slow | cut | repeat | expire_token
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class OneRosterServer:
    """A OneRoster REST provider on a pytest-httpserver, with per-page fault injection."""

    httpserver: HTTPServer
    data: dict[str, list[dict[str, Any]]]
    version: str = "1.1"
    faults: dict[tuple[str, int], list[Fault]] = field(default_factory=dict)
    sticky: dict[tuple[str, int], Fault] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    tokens_issued: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    bad_signatures: int = 0

    @property
    def root(self) -> str:
        return V1P1 if self.version == "1.1" else V1P2

    def install(self) -> OneRosterServer:
        self.httpserver.expect_request(TOKEN_PATH, method="POST").respond_with_handler(self.token)
        pattern = re.compile("^" + re.escape(self.root) + r"/(\w+)$")
        self.httpserver.expect_request(pattern).respond_with_handler(self.handle)
        return self

    def fail(self, collection: str, page: int, *faults: Fault) -> None:
        self.faults.setdefault((collection, page), []).extend(faults)

    def options(self, **extra: Any) -> dict[str, Any]:
        options: dict[str, Any] = {
            "base_url": self.httpserver.url_for("/"),
            "version": self.version,
            "client_id": CLIENT_ID,
            "client_secret": SecretStr(CLIENT_SECRET),
            "page_size": 5,
            "retries": 2,
            "backoff_factor": 0,
            "timeout": 2,
            "connect_timeout": 2,
        }
        if self.version == "1.2":
            options["token_url"] = self.httpserver.url_for(TOKEN_PATH)
        options.update(extra)
        return options

    def pages_of(self, collection: str) -> list[int]:
        return [page for name, _, page in self.requests if name == collection]

    # -- handlers ----------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        form = request.form
        basic = request.authorization
        client_id = basic.username if basic else form.get("client_id")
        secret = basic.password if basic else form.get("client_secret")
        if (client_id, secret) != (CLIENT_ID, CLIENT_SECRET):
            return Response(
                json.dumps({"error": "invalid_client"}), 401, content_type="application/json"
            )
        self.tokens_issued += 1
        token = f"tok-{self.tokens_issued}"
        self.valid_tokens.add(token)
        body = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": 3600,
            "scope": form.get("scope", ""),
        }
        return Response(json.dumps(body), content_type="application/json")

    def authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.version == "1.2":
            return header.startswith("Bearer ") and header[7:] in self.valid_tokens
        return self.signature_ok(request)

    def signature_ok(self, request: Request) -> bool:
        """Recompute the OAuth 1.0a HMAC-SHA1 signature over the method, URL and every param."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("OAuth "):
            return False
        oauth = dict(
            oauth1_signature.collect_parameters(
                headers={"Authorization": header}, exclude_oauth_signature=False
            )
        )
        if oauth.get("oauth_consumer_key") != CLIENT_ID:
            return False
        query = request.query_string.decode("ascii")  # as sent, not as werkzeug re-quotes it
        params = oauth1_signature.collect_parameters(
            uri_query=query, headers={"Authorization": header}, exclude_oauth_signature=True
        )
        base = oauth1_signature.signature_base_string(
            "GET",
            oauth1_signature.base_string_uri(request.base_url),
            oauth1_signature.normalize_parameters(params),  # type: ignore[arg-type]  # stubs say dict; it takes the list collect_parameters gives
        )
        expected = oauth1_signature.sign_hmac_sha1_with_client(
            base, SimpleNamespace(client_secret=CLIENT_SECRET, resource_owner_secret="")
        )
        good = request.method == "GET" and expected == oauth["oauth_signature"]
        self.bad_signatures += not good
        return bool(good)

    def handle(self, request: Request) -> Response:
        collection = request.path.rsplit("/", 1)[1]
        args = dict(parse_qsl(request.query_string.decode("ascii")))
        limit, offset = int(args.get("limit", "100")), int(args.get("offset", "0"))
        page = offset // limit + 1
        self.requests.append((collection, args, page))
        fault = self.sticky.get((collection, page))
        queued = self.faults.get((collection, page))
        if fault is None and queued:
            fault = queued.pop(0)
        if fault is not None and fault.kind == "expire_token":
            self.valid_tokens.clear()
        if not self.authorized(request):
            return Response(
                json.dumps({"imsx_codeMajor": "failure", "imsx_description": "unauthorized"}),
                401,
                content_type="application/json",
            )
        if fault is not None and fault.kind == "status":
            return Response(
                json.dumps({"imsx_codeMajor": "failure", "imsx_severity": "error"}),
                fault.status,
                headers=fault.headers,
                content_type="application/json",
            )
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        if collection not in self.data:
            return Response("{}", 404, content_type="application/json")
        records = self.data[collection]
        if "filter" in args:
            match = re.fullmatch(r"dateLastModified>='([^']+)'", args["filter"])
            assert match, args["filter"]
            since = match.group(1)
            records = [r for r in records if r["dateLastModified"] >= since]
        if fault is not None and fault.kind == "repeat":
            offset = 0  # a server that ignores offset: every page is page 1
        chosen = records[offset : offset + limit]
        body = json.dumps({collection: chosen}).encode()
        headers = {"X-Total-Count": str(len(records))}
        if fault is not None and fault.kind == "cut":
            response = Response(
                body[: len(body) // 2], headers=headers, content_type="application/json"
            )
            response.headers["Content-Length"] = str(len(body))
            return response
        return Response(body, headers=headers, content_type="application/json")


# --------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        yield opened


@pytest.fixture
def server(httpserver: HTTPServer) -> OneRosterServer:
    return OneRosterServer(httpserver, district()).install()


@pytest.fixture
def server_1p2(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> OneRosterServer:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the local token URL is http
    return OneRosterServer(httpserver, district(version="1.2"), version="1.2").install()


def pull(
    store: Store,
    server: OneRosterServer,
    *,
    source: str = "sis",
    force: bool = False,
    strict: bool = False,
    **options: Any,
) -> SyncReport:
    ctx = SyncContext(
        store=store, source=source, options=server.options(**options), force=force, strict=strict
    )
    return oneroster_rest.sync(ctx)


def dump(store: Store, *, bookkeeping: bool = True) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of every table (sync state included), as sets of tuples."""
    tables: dict[str, set[tuple[Any, ...]]] = {}
    for table in store.tables():
        columns = [
            str(c[0])
            for c in store.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position",
                [table],
            ).fetchall()
        ]
        if not bookkeeping:
            columns = [
                c for c in columns if c not in {"run_id", "last_seen", "started", "finished"}
            ]
        text = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns)
        found = store.con.execute(f'SELECT {text} FROM "{table}"').fetchall()
        tables[table] = {tuple("\x00" if v is None else str(v) for v in row) for row in found}
    return tables


def rows(store: Store, sql: str, *params: Any) -> set[tuple[Any, ...]]:
    """Query results as a set; list values become tuples so that they can be compared."""
    return {
        tuple(tuple(v) if isinstance(v, list) else v for v in r.values())
        for r in store.query_arrow(sql, params).to_pylist()
    }


def expected_users(store: Store, data: dict[str, list[dict[str, Any]]]) -> set[tuple[Any, ...]]:
    found = set()
    for user in data["users"]:
        if user["status"] == "tobedeleted":
            continue
        role = user.get("role") or user["roles"][0]["role"]
        found.add((store.keys.user(user["sourcedId"]), role))
    return found


def expected_enrollments(
    store: Store, data: dict[str, list[dict[str, Any]]]
) -> set[tuple[Any, ...]]:
    return {
        (store.keys.user(e["user"]["sourcedId"]), e["class"]["sourcedId"], e["role"])
        for e in data["enrollments"]
        if e["status"] != "tobedeleted"
    }


def without_sync_state(store: Store) -> dict[str, set[tuple[Any, ...]]]:
    """The roster rows alone: an incremental and a bulk pull count their reads differently."""
    return {k: v for k, v in dump(store, bookkeeping=False).items() if k != "sync_state"}


def clean_copy(tmp_path: Path, store: Store, name: str) -> Store:
    """A new, empty store that shares ``store``'s secret, so the same people get the same keys."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "secret.key").write_bytes((store.path.parent / "secret.key").read_bytes())
    return Store.open(folder / "store.duckdb")


PERSONAL = re.compile(
    r"stu-\d{4}|tch-\d+|Given\d+x|Family\d+x|person\d+@|user\d+\.riverside|ID\d{6}"
)


def personal_leaks(store: Store) -> set[str]:
    found: set[str] = set()
    for table, table_rows in dump(store).items():
        for row in table_rows:
            for value in row:
                found.update(f"{table}: {m}" for m in PERSONAL.findall(value))
    return found


# --------------------------------------------------------------------------------------------
# Bulk pulls


def test_a_1_1_pull_signs_every_page_and_loads_every_stream(
    store: Store, server: OneRosterServer
) -> None:
    report = pull(store, server)

    data = server.data
    assert server.bad_signatures == 0
    assert len(server.pages_of("users")) == 5  # 23 users, 5 per page, stopped by X-Total-Count
    assert len(server.pages_of("enrollments")) == 10
    assert {name: s.loaded for name, s in report.streams.items()} == {
        "orgs": 3,
        "academic_sessions": 3,
        "courses": 4,
        "classes": 6,
        "users": 23,
        "enrollments": 46,
    }
    assert report.ok and all(s.balanced and s.mode == "bulk" for s in report.streams.values())
    assert rows(store, "SELECT user_key, primary_role FROM users") == expected_users(store, data)
    assert rows(store, "SELECT user_key, class_key, role FROM enrollments") == expected_enrollments(
        store, data
    )
    assert rows(store, "SELECT org_key, type, parent_org_key FROM orgs") == {
        ("d1", "district", None),
        ("s1", "school", "d1"),
        ("s2", "school", "d1"),
    }
    assert rows(store, "SELECT course_key, subjects FROM courses WHERE course_key = 'crs1'") == {
        ("crs1", ("Arts, Music",))
    }
    assert rows(
        store, "SELECT class_key, term_keys, course_key FROM classes WHERE class_key = 'cls1'"
    ) == {("cls1", ("t1",), "crs2")}
    assert rows(store, "SELECT session_key, parent_session_key FROM academic_sessions") == {
        ("y2025", None),
        ("t1", "y2025"),
        ("t2", "y2025"),
    }
    state = {s["stream"]: s for s in store.sync_state("sis")}
    assert set(state) == set(report.streams)
    assert state["users"]["cursor"] == BASE_TIME.isoformat() and state["users"]["complete"]
    assert personal_leaks(store) == set()


def test_the_same_people_get_the_same_keys_as_from_the_csv_connector(
    store: Store, server: OneRosterServer
) -> None:
    pull(store, server)
    student = server.data["users"][0]
    assert rows(
        store,
        "SELECT user_key FROM users WHERE user_key = ?",
        store.keys.user(student["sourcedId"], namespace="district"),
    ) == {(store.keys.user(student["sourcedId"]),)}


def test_the_token_request_can_carry_the_credentials_in_its_form(
    store: Store, server_1p2: OneRosterServer
) -> None:
    report = pull(store, server_1p2, credentials_in_body=True, streams=["orgs"])

    token_requests = [r for r, _ in server_1p2.httpserver.log if r.path == TOKEN_PATH]
    assert [r.form.get("client_id") for r in token_requests] == [CLIENT_ID]
    assert report.streams["orgs"].loaded == 3


def test_a_1_2_pull_fetches_a_token_and_keeps_every_role(
    store: Store, server_1p2: OneRosterServer
) -> None:
    report = pull(store, server_1p2)

    assert server_1p2.tokens_issued == 1
    assert report.ok and report.loaded == 85
    teacher = store.keys.user("tch-21")
    assert rows(
        store, "SELECT primary_role, roles, org_keys FROM users WHERE user_key = ?", teacher
    ) == {("teacher", ("aide", "teacher"), ("s2", "d1"))}
    assert rows(store, "SELECT user_key, primary_role FROM users") == expected_users(
        store, server_1p2.data
    )
    assert rows(store, "SELECT DISTINCT is_primary FROM enrollments") == {(False,)}


# --------------------------------------------------------------------------------------------
# Faults


def test_a_429_with_retry_after_is_waited_out(store: Store, server: OneRosterServer) -> None:
    server.fail("users", 2, Fault("status", 429, {"Retry-After": "0"}))

    report = pull(store, server)

    assert server.pages_of("users") == [1, 2, 2, 3, 4, 5]
    assert report.streams["users"].loaded == 23
    assert rows(store, "SELECT user_key, primary_role FROM users") == expected_users(
        store, server.data
    )


def test_a_429_that_never_ends_fails_clearly_and_changes_nothing(
    store: Store, server: OneRosterServer
) -> None:
    pull(store, server)
    before = dump(store)
    server.sticky[("users", 3)] = Fault("status", 429, {"Retry-After": "0"})

    with pytest.raises(RateLimitExceeded) as raised:
        pull(store, server)

    assert "(page 3)" in str(raised.value) and "429" in str(raised.value)
    assert dump(store) == before


def test_a_500_then_success_is_retried(store: Store, server: OneRosterServer) -> None:
    server.fail("classes", 1, Fault("status", 500))

    report = pull(store, server)

    assert server.pages_of("classes") == [1, 1, 2]
    assert report.streams["classes"].loaded == 6


def test_a_read_timeout_fails_clearly_and_changes_nothing(
    store: Store, server: OneRosterServer
) -> None:
    pull(store, server)
    before = dump(store)
    server.sticky[("courses", 1)] = Fault("slow", seconds=0.6)

    with pytest.raises(SourceTimeout) as raised:
        pull(store, server, timeout=0.2, retries=1)

    assert "Timed out waiting for the answer" in str(raised.value)
    assert "/courses" in str(raised.value) and "(page 1)" in str(raised.value)
    assert dump(store) == before


def test_a_page_that_repeats_is_a_loop_and_changes_nothing(
    store: Store, server: OneRosterServer
) -> None:
    pull(store, server)
    before = dump(store)
    server.sticky[("users", 2)] = Fault("repeat")  # offset ignored: page 2 is page 1 again

    with pytest.raises(PaginationLoopError) as raised:
        pull(store, server)

    assert "same content as page 1" in str(raised.value)
    assert dump(store) == before


def test_an_expired_oauth2_token_is_refreshed_once_and_the_pull_goes_on(
    store: Store, server_1p2: OneRosterServer
) -> None:
    server_1p2.fail("users", 3, Fault("expire_token"))

    report = pull(store, server_1p2)

    assert server_1p2.tokens_issued == 2
    assert server_1p2.pages_of("users") == [1, 2, 3, 3, 4, 5]
    assert report.streams["users"].loaded == 23


def test_a_rejected_oauth1_signature_fails_clearly_and_changes_nothing(
    store: Store, server: OneRosterServer
) -> None:
    pull(store, server)
    before = dump(store)

    with pytest.raises(AuthenticationError) as raised:
        pull(store, server, client_secret=SecretStr("cs-WRONG-0000"))

    assert "rejected twice" in str(raised.value) and "consumer key and secret" in str(raised.value)
    assert server.bad_signatures == 2  # the first request, and the one re-signed retry
    assert dump(store) == before


def test_oauth1_credentials_revoked_mid_pull_fail_clearly_and_change_nothing(
    store: Store, server: OneRosterServer
) -> None:
    pull(store, server)
    before = dump(store)
    server.requests.clear()
    server.sticky[("users", 3)] = Fault("status", 401)  # the consumer key is revoked mid-pull

    with pytest.raises(AuthenticationError) as raised:
        pull(store, server)

    assert server.pages_of("users") == [1, 2, 3, 3]  # one re-signed retry, then it stops
    assert "(page 3)" in str(raised.value) and "rejected twice" in str(raised.value)
    assert dump(store) == before


def test_a_server_that_dies_on_page_3_leaves_the_store_and_the_next_pull_catches_up(
    tmp_path: Path, store: Store, server: OneRosterServer
) -> None:
    pull(store, server)
    for user in server.data["users"][:4]:
        user.update(dateLastModified=stamp(30), grades=["10"])
    server.data["users"][5].update(status="tobedeleted", dateLastModified=stamp(31))
    server.data["enrollments"] = server.data["enrollments"][:-6]  # gone without a tombstone
    before = dump(store)
    server.sticky[("enrollments", 3)] = Fault("cut")

    with pytest.raises(ConnectionFailed) as raised:
        pull(store, server)

    assert "ended early" in str(raised.value) and "(page 3)" in str(raised.value)
    assert dump(store) == before

    del server.sticky[("enrollments", 3)]
    pull(store, server)
    with clean_copy(tmp_path, store, "clean") as clean:
        pull(clean, server)
        assert dump(store, bookkeeping=False) == dump(clean, bookkeeping=False)
    assert rows(store, "SELECT count(*) FROM users") == {(22,)}


def test_a_pull_that_reads_ahead_loads_the_same_rows_and_fails_at_the_same_page(
    tmp_path: Path, store: Store, server: OneRosterServer
) -> None:
    report = pull(store, server, read_ahead=2)
    with clean_copy(tmp_path, store, "plain") as plain:
        pull(plain, server, read_ahead=0)
        assert dump(store, bookkeeping=False) == dump(plain, bookkeeping=False)
    before = dump(store)
    server.sticky[("users", 2)] = Fault("cut")

    with pytest.raises(ConnectionFailed) as raised:
        pull(store, server, read_ahead=2)

    assert report.rejected == 0
    assert "(page 2)" in str(raised.value) and "/users" in str(raised.value)
    assert dump(store) == before


def test_an_incremental_pull_that_dies_resumes_from_the_committed_cursor(
    tmp_path: Path, store: Store, server: OneRosterServer
) -> None:
    pull(store, server, incremental=True)
    cursor = {s["stream"]: s["cursor"] for s in store.sync_state("sis")}
    server.data["users"][0].update(dateLastModified=stamp(45), grades=["11"])
    server.data["users"][1].update(status="tobedeleted", dateLastModified=stamp(46))
    for enrollment in server.data["enrollments"][:2]:
        enrollment.update(status="tobedeleted", dateLastModified=stamp(47))
    before = dump(store)
    server.sticky[("users", 1)] = Fault("status", 503)

    with pytest.raises(ServerError):
        pull(store, server, incremental=True)
    assert dump(store) == before

    server.requests.clear()
    del server.sticky[("users", 1)]
    report = pull(store, server, incremental=True)

    filters = {name: args.get("filter") for name, args, _ in server.requests}
    assert filters["users"] == f"dateLastModified>='{stamp(0)}'"  # the committed cursor
    assert cursor["users"] == BASE_TIME.isoformat()
    assert report.streams["users"].mode == "incremental"
    assert report.streams["users"].deletions == 1 and report.streams["users"].deleted == 1
    assert report.streams["enrollments"].deleted == 2
    new_cursor = {s["stream"]: s["cursor"] for s in store.sync_state("sis")}
    assert new_cursor["users"] == (BASE_TIME + timedelta(minutes=46)).isoformat()
    assert new_cursor["orgs"] == cursor["orgs"]  # nothing newer: the cursor stays
    with clean_copy(tmp_path, store, "clean") as clean:
        pull(clean, server)
        assert without_sync_state(store) == without_sync_state(clean)


def test_an_incremental_pull_asks_for_changes_and_deletes_only_tombstones(
    store: Store, server: OneRosterServer
) -> None:
    for minutes, user in enumerate(server.data["users"]):
        user["dateLastModified"] = stamp(minutes)
    pull(store, server)
    server.data["users"][0].update(dateLastModified=stamp(30), grades=["12"])
    server.requests.clear()

    report = pull(store, server, incremental=True)

    users = report.streams["users"]
    assert {args.get("filter") for name, args, _ in server.requests if name == "users"} == {
        f"dateLastModified>='{stamp(22)}'"
    }
    assert (users.mode, users.read, users.deleted) == ("incremental", 2, 0)  # 22 and the change
    assert rows(store, "SELECT count(*) FROM users") == {(23,)}
    assert rows(
        store, "SELECT grades FROM users WHERE user_key = ?", store.keys.user("stu-0001")
    ) == {(("12",),)}
    assert {s["stream"]: s["cursor"] for s in store.sync_state("sis")}["users"] == (
        BASE_TIME + timedelta(minutes=30)
    ).isoformat()


def test_incremental_without_a_cursor_pulls_in_bulk_and_says_so(
    store: Store, server: OneRosterServer
) -> None:
    report = pull(store, server, incremental=True)

    assert {s.mode for s in report.streams.values()} == {"bulk"}
    assert all("filter" not in args for _, args, _ in server.requests)
    assert any("no cursor" in w for w in report.warnings)


# --------------------------------------------------------------------------------------------
# Guards, strictness, secrets


def test_the_shrink_guard_refuses_a_half_size_roster_and_force_accepts(
    store: Store, server: OneRosterServer
) -> None:
    pull(store, server)
    before = dump(store)
    server.data["users"] = server.data["users"][:11]

    with pytest.raises(ShrinkGuardError) as raised:
        pull(store, server)
    assert "12 of 23" in str(raised.value)
    assert dump(store) == before

    report = pull(store, server, force=True)
    assert report.streams["users"].deleted == 12
    assert rows(store, "SELECT count(*) FROM users") == {(11,)}


def test_a_bad_record_is_rejected_with_its_position_or_stops_a_strict_pull(
    store: Store, server: OneRosterServer
) -> None:
    server.data["users"][6]["role"] = "pupil"

    report = pull(store, server)
    users = report.streams["users"]
    assert (users.read, users.loaded, users.rejected) == (23, 22, 1)
    assert users.rejections == [
        "users record 7 (page 2) role = 'pupil': not a OneRoster role; use one of student, "
        "teacher, aide, administrator, parent, guardian, relative, proctor, "
        "districtAdministrator, siteAdministrator, systemAdministrator, principal, counselor, "
        "external, unknown"
    ]
    before = dump(store)
    with pytest.raises(RowRejectedError):
        pull(store, server, strict=True)
    assert dump(store) == before


def test_secrets_never_reach_logs_errors_or_reprs(
    store: Store, server: OneRosterServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.fail("users", 1, Fault("status", 429, {"Retry-After": "0"}))
    pull(store, server)
    server.sticky[("orgs", 1)] = Fault("status", 500)
    with pytest.raises(ServerError) as raised:
        pull(store, server)
    config = oneroster_rest.Config.model_validate(server.options())

    texts = [caplog.text, str(raised.value), repr(config), repr(oneroster_rest.make_client(config))]
    assert "'Authorization': 'OAuth ***'" in caplog.text  # headers were logged, redacted
    assert [text for text in texts if CLIENT_SECRET in text] == []
    assert [text for text in texts if re.search(r"oauth_signature=\"?[A-Za-z0-9%]", text)] == []


def test_bad_settings_fail_before_any_request(store: Store, server: OneRosterServer) -> None:
    with pytest.raises(oneroster_rest.ConfigError) as raised:
        pull(store, server, version="1.2", token_url=None)
    assert "token_url is required" in str(raised.value)
    assert CLIENT_SECRET not in str(raised.value)
    with pytest.raises(oneroster_rest.ConfigError, match="unknown streams"):
        pull(store, server, streams=["terms"])
    assert server.requests == []


def test_streams_can_be_chosen_by_endpoint_name(store: Store, server: OneRosterServer) -> None:
    report = pull(store, server, streams=["academicSessions", "orgs"])
    assert set(report.streams) == {"orgs", "academic_sessions"}
    assert {name for name, _, _ in server.requests} == {"orgs", "academicSessions"}


def test_the_docs_page_names_every_setting_and_stream() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs/connectors/oneroster-rest.md").read_text(
        "utf-8"
    )
    assert {name for name in oneroster_rest.Config.model_fields if f"`{name}`" not in page} == set()
    assert {spec.name for spec in oneroster_rest.STREAMS if f"`{spec.name}`" not in page} == set()


# --------------------------------------------------------------------------------------------
# Parity with the CSV connector

_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,11}", fullmatch=True)
_grades = st.lists(st.sampled_from(["KG", "01", "05", "09", "12", "PK"]), unique=True, max_size=3)


@settings(max_examples=60, deadline=None)
@given(
    sourced_id=_ids,
    role=st.sampled_from(["student", "teacher", "aide", "administrator"]),
    orgs=st.lists(_ids, unique=True, max_size=3),
    grades=_grades,
    enabled=st.sampled_from(["true", "false", None]),
    stamp_minutes=st.integers(0, 10_000),
)
def test_a_rest_user_becomes_the_same_row_as_the_csv_user(
    sourced_id: str,
    role: str,
    orgs: list[str],
    grades: list[str],
    enabled: str | None,
    stamp_minutes: int,
) -> None:
    ctx = SyncContext(store=SimpleNamespace(keys=KeyMaker(b"p" * 32)), source="sis")  # type: ignore[arg-type]
    rest = {
        "sourcedId": sourced_id,
        "status": "active",
        "dateLastModified": stamp(stamp_minutes),
        "role": role,
        "orgs": [ref("org", o) for o in orgs],
        "grades": grades,
        "enabledUser": enabled,
        "givenName": "Ada",
    }
    csv_values = {
        "sourcedId": sourced_id,
        "status": "active",
        "dateLastModified": stamp(stamp_minutes),
        "role": role,
        "orgSourcedIds": ",".join(orgs),
        "grades": ",".join(grades),
        "enabledUser": enabled or "",
        "givenName": "Ada",
    }

    assert oneroster_rest.transform_user(rest, ctx) == oneroster_csv.transform_user(csv_values, ctx)


# --------------------------------------------------------------------------------------------
# The users fast path (columns, keys in SQL) against the per-record transform

_ids_any = st.sampled_from(["u1", "u2", " u1", "u2 ", "u,3", "", None, 7, "  "])
_org_ids = st.sampled_from(["s1", "s2", " s2", "a,b", "", None, 5])
_texts = st.one_of(st.none(), st.sampled_from(["", "Ada", "x@y.example"]), st.integers(0, 9))
_anything_odd = st.sampled_from([{"x": 1}, ["a"], 2.5, True])
_user_fields = {
    "sourcedId": _ids_any,
    "status": st.sampled_from(
        [None, "", "active", "inactive", "tobedeleted", "Active", " inactive ", "bogus", 5]
    ),
    "dateLastModified": st.sampled_from(
        [
            None,
            "",
            "2024-08-01T12:00:00.000Z",
            "2024-08-01",
            "2024-08-02 10:00:00",
            "2024-13-45",
            "15/06/2024",
            20240801,
        ]
    ),
    "enabledUser": st.sampled_from(
        [None, "", True, False, "true", "false", "TRUE", "yes", "maybe", 1, 1.0, 0]
    ),
    "role": st.sampled_from(
        [
            None,
            "",
            "student",
            "teacher",
            "districtAdministrator",
            "Student",
            " aide ",
            "pupil",
            3,
            {"x": 1},
        ]
    ),
    "orgs": st.one_of(
        st.none(),
        st.just(""),
        st.lists(
            st.one_of(_org_ids.map(lambda o: {"sourcedId": o, "type": "org"}), _org_ids), max_size=3
        ),
        st.just({"sourcedId": "s1"}),
        st.just("s1"),
    ),
    "primaryOrg": st.one_of(st.none(), st.just(ref("org", "s2")), st.just("s1")),
    "roles": st.one_of(
        st.none(),
        st.just([]),
        st.just("teacher"),
        st.just([{"roleType": "primary", "role": "teacher", "org": {"sourcedId": "s1"}}]),
        st.just([{"roleType": "secondary", "role": "pupil"}]),
    ),
    "grades": st.one_of(
        st.none(),
        st.sampled_from(["", "09,10"]),
        st.lists(st.sampled_from(["09", "9", " 10 ", "KG", "13th", ""]), max_size=3),
        st.just([9]),
        st.just([["x"]]),
    ),
    **{key: st.one_of(_texts, _anything_odd) for key in ("givenName", "email", "username")},
}
_user_records = st.one_of(
    st.fixed_dictionaries({}, optional=_user_fields),
    st.fixed_dictionaries(
        {"sourcedId": st.sampled_from(["u1", "u2", "u4", "u5"])},
        optional={k: v for k, v in _user_fields.items() if k != "sourcedId"},
    ),
    st.sampled_from([["not", "an", "object"], "u1", 3, None]),
)


def _load_users_both_ways(
    tmp: Path, pages: list[list[Any]], batch_size: int, strict: bool
) -> list[tuple[list[dict[str, Any]], dict[str, Any], Any, str | None]]:
    """Load the same pages through load_users and through the per-record path, two sources."""
    seed = [{"sourcedId": i, "role": "student"} for i in ("u1", "u2", "u4")]
    outcomes = []
    with Store.open(tmp / "store.duckdb") as store:
        for source, fast in (("fast", True), ("slow", False)):
            for run_pages, is_seed in (([seed], True), (pages, False)):
                ctx = SyncContext(store=store, source=source, strict=strict and not is_seed)
                report = ctx.report.stream("users")
                error: str | None = None
                newest = None
                try:
                    with store.transaction() as tx:
                        newest = oneroster_rest._load_stream(
                            tx,
                            ctx,
                            oneroster_rest.ENDPOINTS["users"],
                            iter(enumerate(run_pages, start=1)),
                            report,
                            batch_size,
                            fast=fast and not is_seed,
                        )
                except RowRejectedError as rejected:
                    error = str(rejected)
            rows = store.query_arrow(
                "SELECT * EXCLUDE (source, run_id, last_seen) FROM users WHERE source = ? "
                "ORDER BY user_key",
                [source],
            ).to_pylist()
            counts = {k: v for k, v in report.as_dict().items() if k != "stream"}
            outcomes.append((rows, counts, newest, error))
    return outcomes


@settings(max_examples=80, deadline=None)
@given(
    pages=st.lists(st.lists(_user_records, max_size=6), min_size=1, max_size=3),
    batch_size=st.sampled_from([1, 2, 5000]),
    strict=st.booleans(),
)
def test_the_users_fast_path_loads_what_the_per_record_transform_loads(
    tmp_path_factory: pytest.TempPathFactory,
    pages: list[list[Any]],
    batch_size: int,
    strict: bool,
) -> None:
    fast, slow = _load_users_both_ways(tmp_path_factory.mktemp("users"), pages, batch_size, strict)

    assert fast == slow


def test_the_users_fast_path_takes_the_usual_record_and_gives_the_transforms_row() -> None:
    keys = KeyMaker(b"p" * 32)
    ctx = SyncContext(store=SimpleNamespace(keys=keys), source="sis")  # type: ignore[arg-type]
    raw = {
        "sourcedId": "stu-1",
        "status": "active",
        "dateLastModified": stamp(5),
        "role": "student",
        "enabledUser": "true",
        "orgs": [ref("org", "s1"), ref("org", "s2")],
        "grades": ["09"],
        "givenName": "Ada",
    }
    values = oneroster_rest._FastUsers().values(raw)
    assert values is not None
    row = oneroster_rest._fast_users_table([values], "sis", keys).to_pylist()[0]

    assert row == oneroster_rest.transform_user(raw, ctx)
    assert oneroster_rest._FastUsers().values({**raw, "status": "tobedeleted"}) is None
    assert oneroster_rest._FastUsers().values({**raw, "givenName": {"x": 1}}) is None
