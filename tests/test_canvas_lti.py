"""Canvas LTI external tools against a real local HTTP server, from canvasapi's fixtures.

Accounts and courses come from the Canvas connector's test district (``tests/test_canvas.py``);
the external tools from canvasapi's ``account.json``/``course.json`` ``get_external_tools``
pages, with LTI 1.3 fields (``developer_key_id``, ``deployment_id``) added to some, as Canvas
answers for 1.3 tools.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from connectors import canvas_lti
from connectors.http import AuthenticationError
from connectors.usage_events import Rejection, Skip, UsageEvent
from edtech_map.discovery import propose_tools
from edtech_map.model import Ecosystem
from edtech_map.store import Store
from edtech_map.usage import ingest_pull, unmatched_apps
from tests.http_faults import RateLimited, ServerFailure, Unauthorized, inject
from tests.test_canvas import API, TOKEN, build_district, canvas_fixtures, serve_paged

__all__ = ["canvas_fixtures"]  # the district fixture, shared with the Canvas roster tests

MATHLY_KEY = "170000000000017"
MATHLY_DEPLOYMENT = "12:8865aa05b4b79b64a91a86042e43af5ea8ae79eb"

ECOSYSTEM = Ecosystem(
    district={"id": "riverside", "name": "Riverside", "timezone": "UTC"},
    tools=[
        {
            "id": "mathly",
            "name": "Mathly",
            "category": "adaptive_practice",
            "identifiers": {"lti_client_ids": [MATHLY_KEY]},
        }
    ],
)


@pytest.fixture(scope="module")
def tool_pages(fixtures_dir: Path) -> dict[str, list[list[Any]]]:
    folder = fixtures_dir / "canvasapi" / "tests" / "fixtures"
    if not folder.is_dir():
        pytest.skip(f"canvasapi fixtures not found at {folder}")
    pages: dict[str, list[list[Any]]] = {}
    for context in ("account", "course"):
        data = json.loads((folder / f"{context}.json").read_text(encoding="utf-8"))
        pages[context] = [
            copy.deepcopy(data["get_external_tools"]["data"]),
            copy.deepcopy(data["get_external_tools_p2"]["data"]),
        ]
    # Tool #2 of the root account is an LTI 1.3 tool of Mathly; #4 of course 1 is unknown.
    pages["account"][0][1].update(
        developer_key_id=int(MATHLY_KEY),
        deployment_id=MATHLY_DEPLOYMENT,
        url="https://lti.mathly.example/launch",
        name="Mathly",
    )
    pages["course"][1][1].update(domain="quizzr.example", name="Quizzr")
    return pages


def serve(server: HTTPServer, district: dict[str, Any], tools: dict[str, list[list[Any]]]) -> None:
    server.expect_request(f"{API}/accounts/1").respond_with_json(district["root"])
    serve_paged(server, f"{API}/accounts/1/sub_accounts", district["sub_accounts"])
    serve_paged(server, f"{API}/accounts/1/courses", district["courses"])
    serve_paged(server, f"{API}/accounts/1/external_tools", tools["account"])
    serve_paged(server, f"{API}/courses/1/external_tools", tools["course"])
    for account in (101, 102, 103, 104):
        serve_paged(server, f"{API}/accounts/{account}/external_tools", [[]])
    for course in (2, 3, 4):
        serve_paged(server, f"{API}/courses/{course}/external_tools", [[]])


@pytest.fixture
def served(
    httpserver: HTTPServer,
    canvas_fixtures: dict[str, Any],
    tool_pages: dict[str, list[list[Any]]],
) -> HTTPServer:
    serve(httpserver, build_district(canvas_fixtures), tool_pages)
    return httpserver


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        yield opened


def config(server: HTTPServer, **extra: Any) -> canvas_lti.Config:
    return canvas_lti.load_config(
        {
            "base_url": server.url_for("/"),
            "token": TOKEN,
            "account_id": "1",
            "max_retries": 3,
            "backoff_factor": 0,
            "timeout": (2.0, 2.0),
            **extra,
        }
    )


def pull(store: Store, server: HTTPServer, **extra: Any) -> Any:
    cfg = config(server, **extra)
    with cfg.client() as http:
        return ingest_pull(
            store,
            lambda since: canvas_lti.read_installations(http, cfg),
            ECOSYSTEM,
            source=canvas_lti.SOURCE,
            label="external_tools",
            resume=False,
        )


def events(store: Store) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = store.query_arrow(
        "SELECT * FROM usage_events ORDER BY event_id"
    ).to_pylist()
    return rows


# --------------------------------------------------------------------------------------------


def test_a_tool_becomes_an_installation_event() -> None:
    raw = {"id": 3, "name": "External Tool #3", "domain": "example.com", "client_id": "k1",
           "created_at": "2015-01-01T01:01:01Z"}  # fmt: skip
    event = canvas_lti.transform_tool(raw, context="account", context_id="7", line=2)
    assert isinstance(event, UsageEvent)
    assert [(a.kind.value, a.value) for a in event.apps] == [
        ("url", "https://example.com"),
        ("lti_client_id", "k1"),
        ("name", "External Tool #3"),
    ]
    assert (event.user_key, event.role.value, event.action) == (
        "installation",
        "unknown",
        "installed",
    )
    assert isinstance(
        canvas_lti.transform_tool({"id": 1, "workflow_state": "deleted"}, context="course",
                                  context_id="1", line=1),
        Skip,
    )  # fmt: skip
    assert isinstance(
        canvas_lti.transform_tool({"id": 1}, context="course", context_id="1", line=1), Rejection
    )


def test_a_pull_reads_every_page_and_matches_by_lti_client_id(
    store: Store, served: HTTPServer
) -> None:
    report = pull(store, served)
    assert (report.read, report.loaded, report.rejected) == (8, 8, 0)
    rows = events(store)
    assert {(r["event_id"], r["tool_id"], r["match_rule"]) for r in rows if r["tool_id"]} == {
        ("canvas_lti:account:1:2", "mathly", "lti_client_id")
    }
    assert {r["user_key"] for r in rows} == {"installation"}
    assert {r["school_key"] for r in rows if r["event_id"].startswith("canvas_lti:account")} == {
        "canvas:1"
    }
    assert {r["class_key"] for r in rows if ":course:" in r["event_id"]} == {"ALG1-2024"}
    tool_pages = [req for req, _ in served.log if req.path.endswith("/external_tools")]
    assert sum(1 for req in tool_pages if req.args.get("page") == "2") == 2


def test_uninventoried_tools_are_listed_and_proposed(store: Store, served: HTTPServer) -> None:
    pull(store, served)
    unmatched = {row["app_identifier"] for row in unmatched_apps(store)}
    assert unmatched == {
        "http://www.example.com/ims/lti",
        "https://example.com",
        "https://quizzr.example",
    }
    proposals = propose_tools(ECOSYSTEM, unmatched_apps(store))
    assert "quizzr.example" in {d for p in proposals for d in p.tool.identifiers.domains}


def test_pulling_again_adds_nothing(store: Store, served: HTTPServer) -> None:
    pull(store, served)
    before = events(store)
    again = pull(store, served)
    assert (again.loaded, again.duplicates) == (0, 8)
    assert events(store) == before


def test_a_429_and_a_500_are_retried(store: Store, served: HTTPServer) -> None:
    limited = inject(served, f"{API}/accounts/1/external_tools", RateLimited(retry_after="0"))
    failed = inject(served, f"{API}/courses/1/external_tools", ServerFailure(500))
    report = pull(store, served)
    assert (limited.calls, failed.calls, report.loaded) == (1, 1, 8)


def test_a_rejected_token_raises_and_leaves_the_store_unchanged(
    store: Store, served: HTTPServer
) -> None:
    pull(store, served)
    before = events(store)
    inject(served, f"{API}/courses/1/external_tools", Unauthorized(), times=2)
    with pytest.raises(AuthenticationError) as raised:
        pull(store, served, max_retries=0)
    assert TOKEN not in str(raised.value)
    assert events(store) == before


def test_only_the_root_account_when_asked(store: Store, served: HTTPServer) -> None:
    report = pull(store, served, include_sub_accounts=False, include_courses=False)
    assert report.loaded == 4
    assert not [req for req, _ in served.log if "/courses" in req.path]


def test_no_token_in_the_store_or_the_debug_log(
    store: Store, served: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    inject(served, f"{API}/accounts/1/external_tools", ServerFailure(500))
    pull(store, served)
    stored = []
    for table, column in store.con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR'"
    ).fetchall():
        stored += [
            str(v) for (v,) in store.con.execute(f'SELECT "{column}" FROM "{table}"').fetchall()
        ]
    assert "canvas_lti" in stored
    assert not [value for value in stored if TOKEN in value]
    assert TOKEN not in caplog.text


def test_config_from_an_inventory_source_reads_the_token_from_the_environment() -> None:
    from connectors.base import SourceError
    from edtech_map.model.ecosystem import SourceConfig

    source = SourceConfig(
        kind="canvas_lti",
        base_url="https://canvas.example.org/api/v1",
        secrets={"token": "CANVAS_TOKEN"},
        options={"include_courses": False},
    )
    config = canvas_lti.Config.from_source(source, {"CANVAS_TOKEN": TOKEN})
    assert (config.base_url, config.include_courses) == ("https://canvas.example.org", False)
    with pytest.raises(SourceError, match="CANVAS_TOKEN") as raised:
        canvas_lti.Config.from_source(source, {})
    assert TOKEN not in str(raised.value)
