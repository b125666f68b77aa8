"""``edtech-map pull`` end to end: a temporary ecosystem.yaml whose sources: point at local servers.

Secrets come from environment variables set with monkeypatch; each test checks the exit code,
the one-line error, and that no secret reaches the output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from edtech_map.cli import app
from edtech_map.store import Store
from tests.http_faults import serve_pages
from tests.test_oneroster_rest import CLIENT_ID, CLIENT_SECRET, Fault, OneRosterServer, district

CLEVER_TOKEN = "clever-CLI-TOKEN-91ab"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIS_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SIS_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("CLEVER_TOKEN", CLEVER_TOKEN)


def inventory(folder: Path, sources: dict[str, Any]) -> Path:
    path = folder / "ecosystem.yaml"
    path.write_text(
        "district: {id: riverside, name: Riverside USD}\nsources: "
        + json.dumps(sources)  # JSON is YAML
        + "\n",
        encoding="utf-8",
    )
    return path


def sis_source(server: HTTPServer, **options: Any) -> dict[str, Any]:
    return {
        "kind": "oneroster_rest",
        "base_url": server.url_for("/"),
        "secrets": {"client_id": "SIS_CLIENT_ID", "client_secret": "SIS_CLIENT_SECRET"},
        "options": {"page_size": 5, "retries": 2, "backoff_factor": 0, "timeout": 2, **options},
    }


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def assert_no_secret(output: str) -> None:
    for secret in (CLIENT_SECRET, CLEVER_TOKEN):
        assert secret not in output
    assert "Traceback" not in output


# --------------------------------------------------------------------------------------------
# OneRoster REST through the CLI


def test_pull_loads_a_oneroster_source_and_prints_counts_and_cursors(
    tmp_path: Path, httpserver: HTTPServer, secrets: None
) -> None:
    server = OneRosterServer(httpserver, district()).install()
    path = inventory(tmp_path, {"sis": sis_source(httpserver)})
    store = tmp_path / "store.duckdb"

    result = run("pull", "sis", "--inventory", str(path), "--store", str(store), "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    loaded = {s["stream"]: s["loaded"] for s in report["streams"]}
    assert loaded == {
        "orgs": 3,
        "academic_sessions": 3,
        "courses": 4,
        "classes": 6,
        "users": 23,
        "enrollments": 46,
    }
    assert report["pages"]["users"] == 5 and report["pages"]["enrollments"] == 10
    assert report["cursors"]["users"] == "2024-08-01T12:00:00+00:00"
    assert server.bad_signatures == 0
    assert_no_secret(result.output)
    with Store.open(store) as opened:
        assert opened.counts()[0]["source"] == "sis"

    again = run(
        "--debug", "pull", "sis", "--inventory", str(path), "--store", str(store), "--incremental"
    )
    assert again.exit_code == 0, again.output
    assert "incremental" in again.stdout and "2024-08-01T12:00:00+00:00" in again.stdout
    assert "OAuth ***" in again.output  # the debug log shows headers, redacted
    assert_no_secret(again.output)


def test_full_overrides_incremental_options(
    tmp_path: Path, httpserver: HTTPServer, secrets: None
) -> None:
    server = OneRosterServer(httpserver, district()).install()
    path = inventory(tmp_path, {"sis": sis_source(httpserver, incremental=True)})
    store = str(tmp_path / "store.duckdb")
    assert run("pull", "sis", "--inventory", str(path), "--store", store).exit_code == 0
    server.requests.clear()

    result = run("pull", "sis", "--inventory", str(path), "--store", store, "--full", "--json")

    assert result.exit_code == 0, result.output
    assert {s["mode"] for s in json.loads(result.stdout)["streams"]} == {"bulk"}
    assert all("filter" not in args for _, args, _ in server.requests)
    both = run("pull", "sis", "--inventory", str(path), "--full", "--incremental")
    assert both.exit_code == 2 and "exclude each other" in both.output


def test_an_unknown_source_lists_the_configured_ones(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    path = inventory(tmp_path, {"sis": sis_source(httpserver), "lms": sis_source(httpserver)})

    result = run("pull", "clever", "--inventory", str(path))

    assert result.exit_code == 2
    assert "no source 'clever'" in result.output and "configured sources: lms, sis" in result.output


def test_a_missing_secret_names_the_variable_and_nothing_else(
    tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIS_CLIENT_ID", CLIENT_ID)
    monkeypatch.delenv("SIS_CLIENT_SECRET", raising=False)
    path = inventory(tmp_path, {"sis": sis_source(httpserver)})

    result = run("pull", "sis", "--inventory", str(path), "--store", str(tmp_path / "s.duckdb"))

    assert result.exit_code == 2
    assert "SIS_CLIENT_SECRET" in result.output and "not set" in result.output
    assert list(httpserver.log) == []


def test_a_bad_setting_is_a_usage_error(
    tmp_path: Path, httpserver: HTTPServer, secrets: None
) -> None:
    path = inventory(tmp_path, {"sis": sis_source(httpserver, version="1.2")})

    result = run("pull", "sis", "--inventory", str(path), "--store", str(tmp_path / "s.duckdb"))

    assert result.exit_code == 2 and "token_url is required" in result.output
    assert_no_secret(result.output)


def test_rejected_rows_exit_1_and_are_listed(
    tmp_path: Path, httpserver: HTTPServer, secrets: None
) -> None:
    data = district()
    data["users"][2]["role"] = "pupil"
    OneRosterServer(httpserver, data).install()
    path = inventory(tmp_path, {"sis": sis_source(httpserver)})

    result = run("pull", "sis", "--inventory", str(path), "--store", str(tmp_path / "s.duckdb"))

    assert result.exit_code == 1
    assert "rejected: users record 3 (page 1) role = 'pupil'" in result.output


def test_a_rate_limit_that_never_ends_is_one_clear_line(
    tmp_path: Path, httpserver: HTTPServer, secrets: None
) -> None:
    server = OneRosterServer(httpserver, district()).install()
    server.sticky[("users", 3)] = Fault("status", 429, {"Retry-After": "0"})
    path = inventory(tmp_path, {"sis": sis_source(httpserver)})
    store = tmp_path / "s.duckdb"

    result = run("pull", "sis", "--inventory", str(path), "--store", str(store))

    assert result.exit_code == 1
    users = httpserver.url_for("/ims/oneroster/v1p1/users")
    assert (
        f"sis: rate limited by {users} (page 3) after 2 retries; try later or lower the page size"
        in result.output.replace("\n", "")
    )
    assert_no_secret(result.output)
    with Store.open(store) as opened:
        assert opened.counts() == [] and opened.sync_state() == []


def test_refused_credentials_are_a_usage_error(
    tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, secrets: None
) -> None:
    OneRosterServer(httpserver, district()).install()
    monkeypatch.setenv("SIS_CLIENT_SECRET", "cs-WRONG-SECRET-000")
    path = inventory(tmp_path, {"sis": sis_source(httpserver)})

    result = run("pull", "sis", "--inventory", str(path), "--store", str(tmp_path / "s.duckdb"))

    assert result.exit_code == 2
    assert "rejected twice" in result.output and "cs-WRONG-SECRET-000" not in result.output


# --------------------------------------------------------------------------------------------
# Clever through the CLI


def clever_user(number: int, role: str) -> dict[str, Any]:
    data = {
        "id": f"{number:024x}",
        "name": {"first": f"First{number}", "last": f"Last{number}"},
        "email": f"p{number}@demo.example",
        "last_modified": "2021-03-02T22:24:53.347Z",
        "roles": {
            role: {
                "sis_id": f"SIS{number}",
                "school": "sch1",
                "schools": ["sch1"],
                **({"grade": "5"} if role == "student" else {}),
            }
        },
    }
    return {"data": data, "uri": f"/v3.0/users/{data['id']}"}


def serve_clever(server: HTTPServer, students: int) -> None:
    users = [clever_user(n, "student") for n in range(1, students + 1)]
    users.append(clever_user(999, "teacher"))
    section = {
        "id": "sec1",
        "name": "Grade 5",
        "school": "sch1",
        "course": "crs1",
        "term_id": "term1",
        "grade": "5",
        "subject": "math",
        "period": "1",
        "teacher": users[-1]["data"]["id"],
        "teachers": [users[-1]["data"]["id"]],
        "students": [u["data"]["id"] for u in users[:-1]],
    }
    collections: dict[str, list[Any]] = {
        "schools": [{"data": {"id": "sch1", "name": "Demo Elementary", "district": "d1"}}],
        "terms": [{"data": {"id": "term1", "name": "2020-21"}}],
        "courses": [{"data": {"id": "crs1", "name": "Math 5", "number": "M5"}}],
        "users": users,
        "sections": [{"data": section, "uri": "/v3.0/sections/sec1"}],
    }
    for kind, records in collections.items():
        pages = [records[i : i + 4] for i in range(0, len(records), 4)]
        serve_pages(
            server,
            f"/v3.0/{kind}",
            pages,
            style="cursor",
            page_size=4,
            headers={"Authorization": f"Bearer {CLEVER_TOKEN}"},
        )


def clever_source(server: HTTPServer) -> dict[str, Any]:
    return {
        "kind": "clever",
        "base_url": server.url_for("/v3.0"),
        "secrets": {"token": "CLEVER_TOKEN"},
        "options": {"page_size": 4, "retries": 1, "backoff_factor": 0},
    }


def test_a_clever_pull_and_the_shrink_guard_through_the_cli(
    tmp_path: Path, httpserver: HTTPServer, secrets: None
) -> None:
    serve_clever(httpserver, students=10)
    path = inventory(tmp_path, {"clever": clever_source(httpserver)})
    store = str(tmp_path / "s.duckdb")

    first = run("pull", "clever", "--inventory", str(path), "--store", store)
    assert first.exit_code == 0, first.output
    for stream in ("schools", "users", "sections", "enrollments"):
        assert stream in first.stdout
    assert_no_secret(first.output)
    assert "First1" not in first.output

    httpserver.clear()
    serve_clever(httpserver, students=4)
    refused = run("pull", "clever", "--inventory", str(path), "--store", store)
    assert refused.exit_code == 1
    assert "would delete 6 of 11 rows" in refused.output.replace("\n", " ")
    assert "Traceback" not in refused.output

    forced = run("pull", "clever", "--inventory", str(path), "--store", store, "--force", "--json")
    assert forced.exit_code == 0, forced.output
    users = next(s for s in json.loads(forced.stdout)["streams"] if s["stream"] == "users")
    assert (users["loaded"], users["deleted"]) == (5, 6)

    incremental = run("pull", "clever", "--inventory", str(path), "--incremental")
    assert incremental.exit_code == 2 and "always full" in incremental.output
