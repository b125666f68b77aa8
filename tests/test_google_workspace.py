"""Google Workspace Reports (token activities) against a real local HTTP server.

The fake answers ``activities.list`` in the documented shape: ``items[]`` newest first, each
with ``id.time``/``id.uniqueQualifier``, ``actor.email``/``profileId`` and ``events[]`` whose
``parameters`` hold ``client_id``, ``app_name`` and ``scope``; ``nextPageToken`` pages; the
``startTime`` and ``orgUnitID`` filters are honoured.
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

from connectors import google_workspace as gws
from connectors.base import SourceError
from connectors.http import AuthenticationError
from connectors.usage_events import Rejection, Skip, UsageEvent
from edtech_map.model import Ecosystem, Role
from edtech_map.privacy import KeyMaker
from edtech_map.store import Store
from edtech_map.usage import ingest_pull, pull_cursor, unmatched_apps
from tests.http_faults import RateLimited, ServerFailure, Unauthorized, inject

TOKEN = "ya29.TEST-google-token-Qx81"
TOKEN_PATH = gws.activity_path("token")
LOGIN_PATH = gws.activity_path("login")
MATHLY_CLIENT = "1061234567890-mathly.apps.googleusercontent.com"
STUDENTS_OU = "03ph8a2z1stud"
EMAILS = [f"person{n}@riverside.example.org" for n in range(7)]
STUDENT_EMAILS = set(EMAILS[:3])

ECOSYSTEM = Ecosystem(
    district={"id": "riverside", "name": "Riverside", "timezone": "UTC"},
    tools=[
        {
            "id": "mathly",
            "name": "Mathly",
            "category": "adaptive_practice",
            "identifiers": {"oauth_client_ids": [MATHLY_CLIENT]},
        }
    ],
)


def activity(n: int, email: str, client_id: str, app: str, name: str = "authorize") -> Any:
    return {
        "kind": "admin#reports#activity",
        "id": {
            "time": f"2026-11-{1 + n // 4:02d}T{8 + n % 4:02d}:00:00.000Z",
            "uniqueQualifier": str(-4_000_000_000 - n),
            "applicationName": "token",
            "customerId": "C03az79cb",
        },
        "actor": {"callerType": "USER", "email": email, "profileId": str(100_000 + n)},
        "ipAddress": "203.0.113.9",
        "events": [
            {
                "type": "auth",
                "name": name,
                "parameters": [
                    {"name": "client_id", "value": client_id},
                    {"name": "app_name", "value": app},
                    {"name": "client_type", "value": "WEB"},
                    {"name": "scope", "multiValue": ["openid", "email"]},
                ],
            }
        ],
    }


def activities() -> list[Any]:
    items = [
        activity(n, EMAILS[n % 7], MATHLY_CLIENT if n % 2 else "999-unknown.apps", app)
        for n, app in enumerate(["Mathly" if n % 2 else "Quizzr" for n in range(10)])
    ]
    items.append(activity(10, EMAILS[1], MATHLY_CLIENT, "Mathly", name="revoke"))
    return sorted(items, key=lambda a: a["id"]["time"], reverse=True)  # newest first


def serve_reports(server: HTTPServer, items: list[Any], *, page_size: int = 4) -> None:
    """activities.list for token (and login), honouring startTime, orgUnitID and pageToken."""

    def handler(request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Response(json.dumps({"error": {"code": 401}}), status=401)
        chosen = items
        if request.args.get("startTime"):
            chosen = [a for a in chosen if a["id"]["time"] >= request.args["startTime"]]
        if request.args.get("orgUnitID") == STUDENTS_OU:
            chosen = [a for a in chosen if a["actor"]["email"] in STUDENT_EMAILS]
        elif request.args.get("orgUnitID"):
            chosen = []
        start = int(request.args.get("pageToken") or 0)
        body: dict[str, Any] = {"kind": "admin#reports#activities"}
        if chosen[start : start + page_size]:
            body["items"] = chosen[start : start + page_size]
        if start + page_size < len(chosen):
            body["nextPageToken"] = str(start + page_size)
        return Response(json.dumps(body), mimetype="application/json")

    server.expect_request(TOKEN_PATH).respond_with_handler(handler)
    server.expect_request(LOGIN_PATH).respond_with_json(
        {
            "items": [
                {**activity(n, EMAILS[n], "", ""), "events": [{"name": "login_success"}]}
                for n in range(3)
            ]
        }
    )


def config(server: HTTPServer, **extra: Any) -> gws.Config:
    return gws.load_config(
        {
            "base_url": server.url_for("/"),
            "token": TOKEN,
            "max_retries": 3,
            "backoff_factor": 0,
            "timeout": (2.0, 2.0),
            **extra,
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        yield opened


def pull(store: Store, server: HTTPServer, **extra: Any) -> Any:
    cfg = config(server, **extra)
    with cfg.client() as http:
        return ingest_pull(
            store,
            lambda since: gws.read_tokens(http, cfg, store.keys, since=since),
            ECOSYSTEM,
            source=gws.SOURCE,
            label="token",
        )


def events(store: Store) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = store.query_arrow(
        "SELECT * FROM usage_events WHERE source = 'google_workspace' ORDER BY event_id"
    ).to_pylist()
    return rows


def varchar_values(store: Store) -> str:
    text = []
    for table, column in store.con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR'"
    ).fetchall():
        for (value,) in store.con.execute(f'SELECT DISTINCT "{column}" FROM "{table}"').fetchall():
            text.append(str(value))
    return "\n".join(text)


# --------------------------------------------------------------------------------------------


def test_transform_keys_the_actor_and_names_the_app() -> None:
    keys = KeyMaker(b"1" * 32)
    raw = activity(1, "Ana@Riverside.example.org", MATHLY_CLIENT, "Mathly")
    outcome = gws.transform_activity(raw, keys, line=3, role=Role.STUDENT)
    assert isinstance(outcome, list)
    (event,) = outcome
    assert isinstance(event, UsageEvent)
    assert event.user_key == keys.user("ana@riverside.example.org", namespace="google")
    assert [a.value for a in event.apps] == [MATHLY_CLIENT, "Mathly"]
    assert (event.action, event.role, event.line) == ("authorize", Role.STUDENT, 3)
    assert event.event_id == f"google_workspace:token:{raw['id']['uniqueQualifier']}:" + str(
        raw["id"]["time"]
    )


def test_other_events_are_skipped_and_broken_ones_rejected() -> None:
    keys = KeyMaker(b"1" * 32)
    raw = activity(1, EMAILS[0], MATHLY_CLIENT, "Mathly", name="activity")
    assert isinstance(gws.transform_activity(raw, keys, line=1)[0], Skip)  # type: ignore[index]
    no_actor = {**raw, "actor": {"callerType": "USER"}}
    rejection = gws.transform_activity(no_actor, keys, line=2)
    assert isinstance(rejection, Rejection) and rejection.field == "actor"
    no_app = activity(1, EMAILS[0], "", "")
    assert isinstance(gws.transform_activity(no_app, keys, line=4), Rejection)


def test_a_pull_pages_matches_by_client_id_and_lists_the_rest(
    store: Store, httpserver: HTTPServer
) -> None:
    serve_reports(httpserver, activities())
    report = pull(store, httpserver)
    assert (report.read, report.loaded, report.rejected) == (11, 11, 0)
    rows = events(store)
    assert {r["tool_id"] for r in rows if r["app_identifier"] == MATHLY_CLIENT} == {"mathly"}
    assert {r["match_rule"] for r in rows if r["tool_id"]} == {"oauth_client_id"}
    assert {r["action"] for r in rows} == {"authorize", "revoke"}
    assert {r["role"] for r in rows} == {"unknown"}
    assert [a["app_identifier"] for a in unmatched_apps(store)] == ["999-unknown.apps"]
    pages = [req for req, _ in httpserver.log if req.path == TOKEN_PATH]
    assert len(pages) == 3 and pages[1].args["pageToken"] == "4"


def test_org_unit_roles_give_roles_and_others_stay_unknown(
    store: Store, httpserver: HTTPServer
) -> None:
    serve_reports(httpserver, activities())
    report = pull(store, httpserver, org_unit_roles={STUDENTS_OU: "student"})
    keys = {store.keys.user(e, namespace="google"): e for e in EMAILS}
    roles = {(keys[r["user_key"]], r["role"]) for r in events(store)}
    assert {email for email, role in roles if role == "student"} == STUDENT_EMAILS
    assert {email for email, role in roles if role == "unknown"} == set(EMAILS) - STUDENT_EMAILS
    assert report.loaded == 11


def test_a_re_pull_adds_nothing_and_resumes_from_the_latest_event(
    store: Store, httpserver: HTTPServer
) -> None:
    serve_reports(httpserver, activities())
    pull(store, httpserver)
    before = events(store)
    cursor = pull_cursor(store, gws.SOURCE, "token")
    assert cursor is not None and cursor.startswith("2026-11-03T10:00:00")
    again = pull(store, httpserver)
    assert again.loaded == 0 and again.duplicates == again.read == 1
    assert events(store) == before
    last = [req for req, _ in httpserver.log if req.path == TOKEN_PATH][-1]
    assert last.args["startTime"] == "2026-11-03T10:00:00.000Z"


def test_a_429_and_a_500_are_retried(store: Store, httpserver: HTTPServer) -> None:
    serve_reports(httpserver, activities())
    limited = inject(httpserver, TOKEN_PATH, RateLimited(retry_after="0"))
    failed = inject(httpserver, TOKEN_PATH, ServerFailure(500))
    report = pull(store, httpserver)
    assert (limited.calls, failed.calls, report.loaded) == (1, 1, 11)


def test_a_rejected_token_raises_and_leaves_the_store_unchanged(
    store: Store, httpserver: HTTPServer
) -> None:
    serve_reports(httpserver, activities())
    pull(store, httpserver)
    before = events(store)
    inject(httpserver, TOKEN_PATH, Unauthorized(), times=2)
    with pytest.raises(AuthenticationError) as raised:
        pull(store, httpserver, max_retries=0)
    assert TOKEN not in str(raised.value)
    assert events(store) == before


def test_a_failure_on_a_later_page_writes_nothing(store: Store, httpserver: HTTPServer) -> None:
    serve_reports(httpserver, activities())
    inject(httpserver, TOKEN_PATH, Unauthorized(), query={"maxResults": "1000", "pageToken": "4"})
    with pytest.raises(AuthenticationError):
        pull(store, httpserver, max_retries=0)
    assert events(store) == []


def test_logins_are_counted_not_stored(store: Store, httpserver: HTTPServer) -> None:
    serve_reports(httpserver, activities())
    cfg = config(httpserver, include_logins=True)
    stats = gws.PullStats()
    with cfg.client() as http:
        outcomes = list(gws.read_tokens(http, cfg, store.keys, stats=stats))
    assert stats.logins == 3 and len(outcomes) == 11 and stats.pages == 3


def test_no_email_or_token_in_the_store_or_the_debug_log(
    store: Store, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    serve_reports(httpserver, activities())
    inject(httpserver, TOKEN_PATH, ServerFailure(500))
    pull(store, httpserver, org_unit_roles={STUDENTS_OU: "student"}, include_logins=True)
    stored = varchar_values(store)
    assert "google_workspace" in stored  # the scan sees the rows
    for secret in [TOKEN, *EMAILS, "riverside.example.org", "100001"]:
        assert secret not in stored
        assert secret not in caplog.text


def test_the_token_comes_from_the_environment_and_is_never_echoed() -> None:
    from edtech_map.model.ecosystem import SourceConfig

    source = SourceConfig(kind="google_workspace", secrets={"token": "GWS_TOKEN"})
    assert gws.Config.from_source(source, {"GWS_TOKEN": TOKEN}).token.get_secret_value() == TOKEN
    with pytest.raises(SourceError, match="GWS_TOKEN"):
        gws.Config.from_source(source, {})
    with pytest.raises(SourceError) as raised:
        gws.load_config({"token": TOKEN, "max_results": 5000})
    assert TOKEN not in str(raised.value)


def test_the_cli_pulls_a_configured_source(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from edtech_map.cli import app

    serve_reports(httpserver, activities())
    inventory = tmp_path / "ecosystem.yaml"
    inventory.write_text(
        "district: {id: riverside, name: Riverside}\n"
        "tools:\n"
        "  - {id: mathly, name: Mathly, category: adaptive_practice,\n"
        f"     identifiers: {{oauth_client_ids: ['{MATHLY_CLIENT}']}}}}\n"
        "sources:\n"
        "  workspace:\n"
        "    kind: google_workspace\n"
        f"    base_url: {httpserver.url_for('/')}\n"
        "    secrets: {token: TEST_GWS_TOKEN}\n"
        "    options: {max_retries: 1, backoff_factor: 0}\n",
        encoding="utf-8",
    )
    args = ["ingest", "--inventory", str(inventory), "--store", str(tmp_path / "s.duckdb")]
    runner = CliRunner()
    missing = runner.invoke(app, [*args, "--source", "workspace"])
    assert missing.exit_code == 2 and "TEST_GWS_TOKEN" in missing.output
    assert runner.invoke(app, [*args, "--source", "nope"]).exit_code == 2
    monkeypatch.setenv("TEST_GWS_TOKEN", TOKEN)
    result = runner.invoke(app, [*args, "--source", "workspace", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["loaded"] == 11 and TOKEN not in result.output
    again = runner.invoke(app, [*args, "--source", "workspace", "--json"])
    assert json.loads(again.stdout)["loaded"] == 0
