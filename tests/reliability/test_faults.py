"""Fault injection against every REST connector (and the xAPI LRS client), on 127.0.0.1.

Each connector is served its usual test district by the builders of its own test module, on a
threaded pytest-httpserver whose ``dispatch`` is wrapped by :class:`LaterPageFaults`: once armed,
the first request for a *later page* of any collection (a path already answered in this pull,
with another query) gets the fault instead, for ``times`` requests in a row. The faults are
those of ``tests/http_faults.py`` plus :class:`Replay` (the previous page again: a repeated
``next`` link, page token or cursor, or a server ignoring ``offset``).

For every connector and fault, on a store that already holds a clean pull:

* the pull completes (after retries) and the store equals the clean pull, or it fails with an
  :class:`~edtech_map.errors.EdtechMapError` that names the server and holds no secret and no
  personal data from the answer, and the store -- every table, sync state included -- is
  exactly as before;
* a later pull without the fault ends equal to the clean pull.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from connectors import canvas, clever, google_classroom, oneroster_rest, schoology
from connectors.base import SyncContext
from connectors.http import RetryPolicy
from connectors.xapi import lrs_client
from edtech_map.errors import EdtechMapError
from edtech_map.store import Store
from edtech_map.usage import ingest_lrs
from tests.http_faults import (
    ConnectionDrop,
    Fault,
    HtmlErrorPage,
    RateLimited,
    ServerFailure,
    SlowResponse,
    TruncatedJson,
    Unauthorized,
    threaded_server,
)
from tests.test_oneroster_rest import dump

READ_TIMEOUT = 5.0
"""The read timeout of every pull, except the slow-answer fault's (:data:`SLOW_TIMEOUT`)."""
SLOW_TIMEOUT, SLOW_DELAY = 0.3, 0.8
RETRIES = 3
OUTCOMES: dict[tuple[str, str], str] = {}
"""(connector, fault) -> completed / failed: what ``docs/reliability.md`` tabulates."""


# -- faults aimed at a later page ---------------------------------------------------------------


@dataclass(eq=False)
class Replay(Fault):
    """The answer this path gave last time, again: the pager sees the same page twice."""

    previous: dict[str, tuple[int, list[tuple[str, str]], bytes]] = field(default_factory=dict)

    def answer(self, request: Request) -> Response:
        status, headers, body = self.previous[request.path]
        return Response(body, status=status, headers=headers)


class LaterPageFaults:
    """Wraps a server's ``dispatch`` so that an armed fault hits the first later-page request."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.original = server.dispatch
        server.dispatch = self.dispatch  # type: ignore[method-assign]  # the point of the wrapper
        self.lock = threading.Lock()
        self.seen: dict[str, set[bytes]] = {}
        self.previous: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {}
        self.fault: Fault | None = None
        self.remaining = 0
        self.firing = False

    def arm(self, fault: Fault, times: int) -> None:
        with self.lock:
            self.seen.clear()
            self.fault, self.remaining, self.firing = fault, times, False
            if isinstance(fault, Replay):
                fault.previous = self.previous

    def disarm(self) -> None:
        with self.lock:
            self.fault, self.remaining, self.firing = None, 0, False
            self.seen.clear()

    def dispatch(self, request: Request) -> Response:
        with self.lock:
            queries = self.seen.get(request.path, set())
            later = (
                request.method == "GET" and bool(queries) and request.query_string not in queries
            )
            fire = self.fault is not None and self.remaining > 0 and (self.firing or later)
            if fire:
                self.firing = True
                self.remaining -= 1
            fault = self.fault
        if fire and fault is not None:
            return fault.respond(request)
        response: Response = self.original(request)
        if request.method == "GET" and response.status_code == 200:
            with self.lock:
                self.seen.setdefault(request.path, set()).add(request.query_string)
                self.previous[request.path] = (
                    response.status_code,
                    [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"],
                    response.get_data(),
                )
        return response


# -- the connectors -----------------------------------------------------------------------------

Pull = Callable[[Store, HTTPServer, float, int], object]


@dataclass(frozen=True)
class RestSource:
    """How to serve, pull and configure one REST source in these tests."""

    name: str
    install: Callable[[HTTPServer], None]
    pull: Pull  # (store, server, read timeout, retries)
    inventory: Callable[[HTTPServer], dict[str, Any]]  # its sources: entry, for the CLI
    env: dict[str, str]  # secrets, by environment variable
    refreshes_tokens: bool = False  # OAuth 2 client credentials: a 401 gets a new token

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self.env.values())


def _oneroster(version: str) -> RestSource:
    from tests.test_oneroster_rest import CLIENT_ID, CLIENT_SECRET, OneRosterServer, district

    servers: dict[int, OneRosterServer] = {}

    def install(server: HTTPServer) -> None:
        data = district(version=version)
        servers[id(server)] = OneRosterServer(server, data, version=version).install()

    def pull(store: Store, server: HTTPServer, timeout: float, retries: int) -> object:
        options = servers[id(server)].options(retries=retries, timeout=timeout)
        return oneroster_rest.sync(SyncContext(store=store, source="sis", options=options))

    def inventory(server: HTTPServer) -> dict[str, Any]:
        options: dict[str, Any] = {"version": version, "page_size": 5, "retries": 1}
        if version == "1.2":
            options["token_url"] = server.url_for("/oauth/token")
        return {
            "kind": "oneroster_rest",
            "base_url": server.url_for("/"),
            "secrets": {"client_id": "SIS_CLIENT_ID", "client_secret": "SIS_CLIENT_SECRET"},
            "options": {**options, "backoff_factor": 0, "timeout": 2},
        }

    return RestSource(
        f"oneroster_rest_{version.replace('.', 'p')}",
        install,
        pull,
        inventory,
        {"SIS_CLIENT_ID": CLIENT_ID, "SIS_CLIENT_SECRET": CLIENT_SECRET},
        refreshes_tokens=version == "1.2",
    )


def _clever() -> RestSource:
    from tests.test_pull_cli import CLEVER_TOKEN, serve_clever

    def pull(store: Store, server: HTTPServer, timeout: float, retries: int) -> object:
        options = {
            "base_url": server.url_for("/v3.0"),
            "token": SecretStr(CLEVER_TOKEN),
            "page_size": 4,
            "retries": retries,
            "backoff_factor": 0,
            "timeout": timeout,
            "connect_timeout": 2,
        }
        return clever.sync(SyncContext(store=store, source="clever", options=options))

    def inventory(server: HTTPServer) -> dict[str, Any]:
        return {
            "kind": "clever",
            "base_url": server.url_for("/v3.0"),
            "secrets": {"token": "CLEVER_TOKEN"},
            "options": {"page_size": 4, "retries": 1, "backoff_factor": 0},
        }

    return RestSource(
        "clever",
        lambda server: serve_clever(server, students=10),
        pull,
        inventory,
        {"CLEVER_TOKEN": CLEVER_TOKEN},
    )


def _canvas(fixtures_dir: Path) -> RestSource:
    from tests.test_canvas import TOKEN, build_district, serve_canvas

    folder = fixtures_dir / "canvasapi" / "tests" / "fixtures"
    fixtures = {
        name: json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        for name in ("account", "course", "section", "enrollment_term")
    }

    def pull(store: Store, server: HTTPServer, timeout: float, retries: int) -> object:
        options = {
            "base_url": server.url_for("/"),
            "token": TOKEN,
            "account_id": "1",
            "max_retries": retries,
            "backoff_factor": 0,
            "timeout": (2.0, timeout),
        }
        return canvas.sync(SyncContext(store=store, source="canvas", options=options))

    def inventory(server: HTTPServer) -> dict[str, Any]:
        return {
            "kind": "canvas",
            "base_url": server.url_for("/api/v1"),
            "secrets": {"token": "CANVAS_TOKEN"},
            "options": {"account_id": "1", "max_retries": 1, "backoff_factor": 0},
        }

    return RestSource(
        "canvas",
        lambda server: serve_canvas(server, build_district(fixtures)),
        pull,
        inventory,
        {"CANVAS_TOKEN": TOKEN},
    )


def _classroom(fixtures_dir: Path) -> RestSource:
    from tests.test_google_classroom import DISCOVERY, TOKEN, build_classroom, serve_classroom

    document = json.loads((fixtures_dir / DISCOVERY).read_text(encoding="utf-8"))

    def pull(store: Store, server: HTTPServer, timeout: float, retries: int) -> object:
        options = {
            "base_url": server.url_for("/"),
            "token": TOKEN,
            "org_key": "riverside",
            "max_retries": retries,
            "backoff_factor": 0,
            "timeout": (2.0, timeout),
        }
        return google_classroom.sync(SyncContext(store=store, source="classroom", options=options))

    def inventory(server: HTTPServer) -> dict[str, Any]:
        return {
            "kind": "google_classroom",
            "base_url": server.url_for("/v1"),
            "secrets": {"token": "CLASSROOM_TOKEN"},
            "options": {"org_key": "riverside", "max_retries": 1, "backoff_factor": 0},
        }

    return RestSource(
        "google_classroom",
        lambda server: serve_classroom(server, build_classroom(document["schemas"])),
        pull,
        inventory,
        {"CLASSROOM_TOKEN": TOKEN},
    )


def _schoology() -> RestSource:
    from tests.test_schoology import KEY, SECRET, build_school, serve_school

    def pull(store: Store, server: HTTPServer, timeout: float, retries: int) -> object:
        options = {
            "base_url": server.url_for("/"),
            "consumer_key": KEY,
            "consumer_secret": SECRET,
            "max_retries": retries,
            "backoff_factor": 0,
            "timeout": (2.0, timeout),
        }
        return schoology.sync(SyncContext(store=store, source="schoology", options=options))

    def inventory(server: HTTPServer) -> dict[str, Any]:
        return {
            "kind": "schoology",
            "base_url": server.url_for("/"),
            "secrets": {"consumer_key": "SCHOOLOGY_KEY", "consumer_secret": "SCHOOLOGY_SECRET"},
            "options": {"max_retries": 1, "backoff_factor": 0},
        }

    return RestSource(
        "schoology",
        lambda server: serve_school(server, build_school()),
        pull,
        inventory,
        {"SCHOOLOGY_KEY": KEY, "SCHOOLOGY_SECRET": SECRET},
    )


LRS_KEY, LRS_SECRET = "lrs-key-7", "lrs-SECRET-Hq93vK"
LRS_STATEMENTS = [
    {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "actor": {"mbox": f"mailto:stu{n}@lrs.example"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": f"https://app.mathly.example/lessons/{n}"},
        "timestamp": f"2026-02-03T14:{n:02d}:00Z",
        "stored": f"2026-02-03T15:{n:02d}:00Z",
    }
    for n in range(1, 10)
]


def serve_lrs(server: HTTPServer) -> None:
    """Three pages of statements behind basic auth, linked by ``more`` (``since`` ignored)."""
    import base64

    expected = "Basic " + base64.b64encode(f"{LRS_KEY}:{LRS_SECRET}".encode()).decode()

    def handler(request: Request) -> Response:
        if request.headers.get("Authorization") != expected:
            return Response(json.dumps({"error": "bad credentials"}), status=401)
        page = int(request.args.get("more", "p1")[1:])
        more = f"/xapi/statements?more=p{page + 1}" if page < 3 else ""
        body = {"statements": LRS_STATEMENTS[(page - 1) * 3 : page * 3], "more": more}
        return Response(json.dumps(body), mimetype="application/json")

    server.expect_request("/xapi/statements").respond_with_handler(handler)


def _lrs() -> RestSource:
    def pull(store: Store, server: HTTPServer, timeout: float, retries: int) -> object:
        retry = RetryPolicy(total=retries, backoff_factor=0.0, max_retry_time=30.0)
        client = lrs_client(
            server.url_for("/xapi"),
            LRS_KEY,
            SecretStr(LRS_SECRET),
            retry=retry,
            timeout=(2.0, timeout),
        )
        with client:
            return ingest_lrs(store, client)

    def inventory(server: HTTPServer) -> dict[str, Any]:
        return {
            "kind": "xapi",
            "base_url": server.url_for("/xapi"),
            "secrets": {"key": "LRS_KEY", "secret": "LRS_SECRET"},
        }

    return RestSource(
        "xapi_lrs", serve_lrs, pull, inventory, {"LRS_KEY": LRS_KEY, "LRS_SECRET": LRS_SECRET}
    )


NEEDS_FIXTURES = {"canvas", "google_classroom"}
SOURCES = [
    "oneroster_rest_1p1",
    "oneroster_rest_1p2",
    "clever",
    "canvas",
    "google_classroom",
    "schoology",
    "xapi_lrs",
]


def rest_source(name: str, fixtures: Callable[[], Path]) -> RestSource:
    """The :class:`RestSource` called ``name`` (asking for the shared fixtures only if needed)."""
    if name.startswith("oneroster_rest"):
        return _oneroster("1.1" if name.endswith("1p1") else "1.2")
    if name == "canvas":
        return _canvas(fixtures())
    if name == "google_classroom":
        return _classroom(fixtures())
    return {"clever": _clever, "schoology": _schoology, "xapi_lrs": _lrs}[name]()


# -- faults, and what each may do ---------------------------------------------------------------

Expect = Literal["complete", "fail", "either"]


@dataclass(frozen=True)
class FaultCase:
    name: str
    make: Callable[[], Fault]
    times: int
    expect: Expect
    slow: bool = False

    def __repr__(self) -> str:
        return self.name


FAULTS = [
    FaultCase("429_retry_after", lambda: RateLimited(retry_after="0"), 1, "complete"),
    FaultCase("429_no_retry_after", lambda: RateLimited(retry_after=None), 1, "complete"),
    FaultCase("5xx_burst", lambda: ServerFailure(503), 2, "complete"),
    FaultCase("5xx_persistent", lambda: ServerFailure(502), 100, "fail"),
    FaultCase("slow_past_timeout", lambda: SlowResponse(delay=SLOW_DELAY), 100, "fail", slow=True),
    FaultCase("connection_reset", ConnectionDrop, 1, "either"),
    FaultCase("truncated_json", TruncatedJson, 1, "either"),
    FaultCase("repeated_page", Replay, 100, "fail"),
    FaultCase("expired_token", Unauthorized, 1, "either"),  # a new token or signature: goes on
    FaultCase("revoked_token", Unauthorized, 100, "fail"),
    FaultCase("html_page_status_200", HtmlErrorPage, 100, "fail"),
]


@dataclass
class Served:
    """One connector's server (shared by its fault tests) and a store holding a clean pull."""

    source: RestSource
    server: HTTPServer
    faults: LaterPageFaults
    template: Path
    clean: dict[str, set[tuple[Any, ...]]]

    def fresh_store(self, folder: Path) -> Store:
        shutil.copytree(self.template, folder)
        return Store.open(folder / "store.duckdb", create=False)


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Served]]:
    """Start each connector's server once, pull it clean once, and keep both for its tests."""
    cache: dict[str, Served] = {}
    with ExitStack() as stack, pytest.MonkeyPatch.context() as patch:
        patch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the local token URL is http

        def get(name: str) -> Served:
            if name not in cache:
                source = rest_source(name, lambda: request.getfixturevalue("fixtures_dir"))
                server = stack.enter_context(threaded_server())
                source.install(server)
                faults = LaterPageFaults(server)
                template = tmp_path_factory.mktemp(f"clean-{name}")
                with Store.open(template / "store.duckdb") as store:
                    source.pull(store, server, READ_TIMEOUT, RETRIES)
                    clean = rows_only(store)
                assert any(clean.values()), f"{name}: the clean pull loaded nothing"
                cache[name] = Served(source, server, faults, template, clean)
            return cache[name]

        yield get


def rows_only(store: Store) -> dict[str, set[tuple[Any, ...]]]:
    """Every table without what changes from run to run: run ids, times, and the sync state's
    per-run counts (an incremental pull that finds nothing new reads 0), but with its cursors."""
    tables = dump(store, bookkeeping=False)
    tables["sync_state"] = {
        (row["source"], row["stream"], row["cursor"], row["complete"])
        for row in store.query_arrow("SELECT * FROM sync_state").to_pylist()
    }
    return tables


def check_error(error: EdtechMapError, served: Served) -> None:
    """A failure's message names the server and holds no secret and no personal data."""
    text = str(error)
    host = served.server.url_for("/").split("//")[1].rstrip("/")
    assert host in text or served.source.name in text, f"the error names no URL: {text}"
    for secret in served.source.secrets:
        assert secret not in text
    assert "Jordan Rivera" not in text and "jordan.rivera@" not in text  # from the HTML page
    assert "Traceback" not in text


@pytest.mark.parametrize("fault", FAULTS, ids=repr)
@pytest.mark.parametrize("name", SOURCES)
def test_a_fault_mid_pull(
    name: str, fault: FaultCase, served: Callable[[str], Served], tmp_path: Path
) -> None:
    target = served(name)
    injected = fault.make()
    timeout = SLOW_TIMEOUT if fault.slow else READ_TIMEOUT
    retries = 1 if fault.slow else RETRIES
    with target.fresh_store(tmp_path / "ws") as store:
        before = dump(store)
        target.faults.arm(injected, fault.times)
        try:
            target.source.pull(store, target.server, timeout, retries)
        except EdtechMapError as error:
            outcome: EdtechMapError | None = error
        else:
            outcome = None
        finally:
            target.faults.disarm()
            if isinstance(injected, SlowResponse):
                assert injected.settle(timeout=10)
        assert injected.calls >= 1, f"{name}: the fault never fired (no later page?)"
        expect = fault.expect
        if fault.name == "expired_token" and target.source.refreshes_tokens:
            expect = "complete"
        OUTCOMES[name, fault.name] = "completed" if outcome is None else type(outcome).__name__
        if outcome is None:
            assert expect != "fail", f"{name} completed a pull through {fault.name}"
            assert rows_only(store) == target.clean
            return
        else:
            assert expect != "complete", f"{name} failed on {fault.name}: {outcome}"
            check_error(outcome, target)
            assert dump(store) == before, "a failed pull changed the store"
            if isinstance(injected, Replay):
                assert injected.calls <= 3, "the repeated page was followed, not caught"
        target.source.pull(store, target.server, READ_TIMEOUT, RETRIES)
        assert rows_only(store) == target.clean, "the pull after the fault differs from a clean one"


def test_zz_print_the_outcomes() -> None:
    """The table ``docs/reliability.md`` quotes (run with -s to see it)."""
    for (name, fault), outcome in sorted(OUTCOMES.items()):
        print(f"{name:20} {fault:22} {outcome}")
