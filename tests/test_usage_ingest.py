"""Usage ingest into a real DuckDB store: dedup, counts, rollback, privacy, aggregates."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from connectors import oneroster_csv
from connectors.base import SyncContext
from edtech_map.cli import app
from edtech_map.inventory import load_ecosystem
from edtech_map.model import Ecosystem
from edtech_map.store import Store
from edtech_map.usage import (
    UsageIngestError,
    ingest,
    sniff_format,
    unmatched_apps,
    usage_by_tool,
)

REPO = Path(__file__).resolve().parents[1]

ECOSYSTEM = Ecosystem(
    district={"id": "riverside", "name": "Riverside", "timezone": "America/Chicago"},
    schools=[
        {
            "id": "lincoln-es",
            "name": "Lincoln ES",
            "type": "elementary",
            "roster_ids": ["https://sis.example.org/orgs/lincoln"],
        }
    ],
    tools=[
        {
            "id": "mathly",
            "name": "Mathly",
            "category": "adaptive_practice",
            "identifiers": {"caliper_app_ids": ["https://app.mathly.example/"]},
        },
        {
            "id": "readwell",
            "name": "ReadWell",
            "category": "content",
            "identifiers": {"domains": ["readwell.example"]},
        },
        {
            "id": "example-lms",
            "name": "Example LMS",
            "category": "lms",
            "identifiers": {"domains": ["example.edu"]},
        },
    ],
)


def fixtures_root() -> Path:
    root = Path(os.environ.get("EDTECH_MAP_FIXTURES", REPO.parent / "shared" / "fixtures"))
    if not root.is_dir():
        pytest.skip(f"third-party fixtures not found at {root}; set EDTECH_MAP_FIXTURES")
    return root


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        yield opened


def count(store: Store, sql: str = "SELECT count(*) AS n FROM usage_events") -> int:
    value: int = store.query_arrow(sql).to_pylist()[0]["n"]
    return value


# --- a generated Caliper feed, checked against an independent DuckDB query --------------------

APPS = [
    "https://app.mathly.example",  # caliper_app_id (inventory has the trailing slash)
    "https://www.readwell.example/reader",  # domain, subdomain rule
    "https://quizzo.example",  # not in the inventory
]


def caliper_feed(path: Path, *, seed: int, events: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    written = []
    with path.open("w", encoding="utf-8") as handle:
        for index in range(events):
            actor = (
                f"https://sis.example.org/users/{rng.choice(['stu', 'tch'])}-{rng.randrange(40)}"
            )
            role = "Learner" if "/stu-" in actor else "Instructor"
            event = {
                "@context": "http://purl.imsglobal.org/ctx/caliper/v1p2",
                "id": f"urn:uuid:00000000-0000-4000-8000-{seed:04d}{index:08d}",
                "type": "ToolUseEvent",
                "actor": rng.choice([actor, {"id": actor, "type": "Person"}]),
                "action": "Used",
                "object": {"id": "https://content.example/x", "type": "DigitalResource"},
                "eventTime": f"2026-11-{rng.randrange(2, 20):02d}T{rng.randrange(24):02d}:00:00Z",
                "edApp": {"id": rng.choice(APPS), "type": "SoftwareApplication"},
                "membership": {
                    "id": "https://sis.example.org/m/1",
                    "type": "Membership",
                    "roles": [role],
                    "organization": {
                        "id": "https://sis.example.org/classes/c1",
                        "type": "CourseSection",
                        "subOrganizationOf": {
                            "id": "https://sis.example.org/orgs/lincoln",
                            "type": "Organization",
                        },
                    },
                },
            }
            written.append(event)
            handle.write(json.dumps(event) + "\n")
            if rng.random() < 0.05:  # an exact repeat, as Sensor retries produce
                handle.write(json.dumps(event) + "\n")
    return written


def test_active_users_per_tool_equal_an_independent_query(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "caliper.jsonl"
    caliper_feed(path, seed=7, events=400)
    report = ingest(store, [path], ECOSYSTEM)
    assert report.rejected == 0 and report.loaded == 400
    assert report.read == report.loaded + report.duplicates

    independent = duckdb.connect()
    expected = independent.sql(
        f"""
        WITH raw AS (
            SELECT DISTINCT id,
                   coalesce(json_extract_string(actor, '$.id'), json_extract_string(actor, '$'))
                       AS actor_id,
                   json_extract_string(edApp, '$.id') AS app,
                   json_extract_string(membership, '$.roles[0]') AS role
            FROM read_json('{path}', format = 'newline_delimited', columns = {{
                id: 'VARCHAR', actor: 'JSON', edApp: 'JSON', membership: 'JSON'}})
        ),
        tools(app, tool) AS (VALUES
            ('https://app.mathly.example', 'mathly'),
            ('https://www.readwell.example/reader', 'readwell'),
            ('https://quizzo.example', 'https://quizzo.example'))
        SELECT tool,
               count(DISTINCT actor_id) FILTER (WHERE role = 'Learner') AS students,
               count(DISTINCT actor_id) FILTER (WHERE role = 'Instructor') AS teachers,
               count(*) AS events
        FROM raw JOIN tools USING (app)
        GROUP BY tool
        """
    ).fetchall()
    got = {
        (r["tool"], r["active_students"], r["active_teachers"], r["events"])
        for r in usage_by_tool(store)
    }
    assert got == set(expected)
    matched = {r["tool"]: r["matched"] for r in usage_by_tool(store)}
    assert matched == {"mathly": True, "readwell": True, "https://quizzo.example": False}
    rules = store.query_arrow(
        "SELECT DISTINCT tool_id, match_rule FROM usage_events ORDER BY ALL"
    ).to_pylist()
    assert rules == [
        {"tool_id": "mathly", "match_rule": "caliper_app_id"},
        {"tool_id": "readwell", "match_rule": "domain"},
        {"tool_id": None, "match_rule": None},
    ]
    # a school filter by inventory id reaches events that carry the school's roster id
    assert usage_by_tool(store, school="lincoln-es", ecosystem=ECOSYSTEM) == usage_by_tool(store)
    assert usage_by_tool(store, school="washington-ms", ecosystem=ECOSYSTEM) == []


def test_reingest_adds_nothing_and_small_batches_count_the_same(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "caliper.jsonl"
    caliper_feed(path, seed=3, events=50)
    first = ingest(store, [path], ECOSYSTEM, batch_size=7)
    rows = count(store)
    again = ingest(store, [path], ECOSYSTEM, batch_size=7)
    assert rows == first.loaded == 50
    assert count(store) == rows
    assert (again.loaded, again.duplicates) == (0, again.read)
    assert first.read == again.read and first.duplicates == first.read - 50


def test_daily_view_and_unmatched_apps(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "caliper.jsonl"
    written = caliper_feed(path, seed=11, events=120)
    ingest(store, [path], ECOSYSTEM)
    assert count(store, "SELECT sum(events) AS n FROM usage_daily") == count(store)
    (unmatched,) = unmatched_apps(store)
    quizzo = [e for e in written if e["edApp"]["id"] == "https://quizzo.example"]
    assert unmatched["app_identifier"] == "https://quizzo.example"
    assert unmatched["events"] == len(quizzo)
    assert unmatched["first_seen"].isoformat().startswith(min(e["eventTime"] for e in quizzo)[:13])
    assert unmatched["students"] + unmatched["teachers"] == unmatched["users"]


def test_strict_mode_and_a_bad_file_leave_the_store_unchanged(store: Store, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    caliper_feed(good, seed=5, events=10)
    ingest(store, [good], ECOSYSTEM)
    before = store.query_arrow("SELECT * FROM usage_events ORDER BY event_id").to_pylist()
    more = tmp_path / "more" / "a.jsonl"
    more.parent.mkdir()
    caliper_feed(more, seed=6, events=10)
    with more.open("a", encoding="utf-8") as handle:
        handle.write('{"type": "ViewEvent", "action": "Viewed"}\n')
    with pytest.raises(UsageIngestError, match=r"a\.jsonl:\d+ actor: missing.*strict mode"):
        ingest(store, [more], ECOSYSTEM, strict=True)
    bad_csv = tmp_path / "more" / "b.csv"
    bad_csv.write_text("who,when\nx,2026-01-01\n", encoding="utf-8")
    with pytest.raises(UsageIngestError, match="fit no built-in usage CSV preset"):
        ingest(store, [more, bad_csv], ECOSYSTEM, format="csv")
    with pytest.raises(UsageIngestError, match=r"cannot be read|fit no built-in"):
        ingest(store, [more.parent], ECOSYSTEM)  # a.jsonl is read first, then b.csv fails
    assert store.query_arrow("SELECT * FROM usage_events ORDER BY event_id").to_pylist() == before
    lenient = ingest(store, [more], ECOSYSTEM)
    assert (lenient.loaded, lenient.rejected) == (10, 1)
    assert lenient.rejections[0].endswith(
        "actor: missing; every event needs an actor (a Person id)"
    )


@pytest.mark.fixtures
def test_all_caliper_fixtures_ingest_with_balanced_counts(store: Store) -> None:
    folder = fixtures_root() / "caliper-common-fixtures" / "fixtures" / "v1p2"
    ids: list[str] = []
    for path in sorted(folder.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        records = document.get("data", [document])
        ids += [r["id"] for r in records if "action" in r]
    report = ingest(store, [folder], ECOSYSTEM)
    assert report.read == len(ids) + 1  # + the endpoint config payload, rejected
    assert (report.loaded, report.duplicates) == (len(set(ids)), len(ids) - len(set(ids)))
    assert report.entities == 82 and report.rejected == 1
    assert all(f.balanced for f in report.files)
    assert count(store) == len(set(ids))
    assert sniff_format(folder / "caliperEventViewViewed.json") == "caliper"


@pytest.mark.fixtures
def test_no_raw_identifier_from_the_fixtures_reaches_the_store(
    store: Store, tmp_path: Path
) -> None:
    root = fixtures_root()
    caliper_dir = root / "caliper-common-fixtures" / "fixtures" / "v1p2"
    xapi_dir = root / "xapi-datasim" / "dev-resources" / "xapi" / "statements"
    csv_path = tmp_path / "usage.csv"
    csv_path.write_text(
        "date,user_id,role,school_id,app,minutes\n2026-11-02,stu-secret-77,Student,x,Mathly,4\n",
        encoding="utf-8",
    )
    report = ingest(store, [caliper_dir, xapi_dir, csv_path], ECOSYSTEM)
    assert report.loaded > 2800
    personal = {"stu-secret-77"}
    for path in caliper_dir.glob("*.json"):
        document = json.loads(path.read_text(encoding="utf-8"))
        for record in document.get("data", [document]):
            actor = record.get("actor")
            if isinstance(actor, str) or (
                isinstance(actor, dict) and actor.get("type") == "Person"
            ):
                personal.add(actor if isinstance(actor, str) else actor["id"])
    for path in xapi_dir.rglob("*.json"):
        statements = json.loads(path.read_text(encoding="utf-8"))
        for statement in statements if isinstance(statements, list) else [statements]:
            for agent in [statement["actor"], *statement["actor"].get("member", [])]:
                for key in ("mbox", "mbox_sha1sum", "openid", "name"):
                    if key in agent:
                        personal.add(agent[key])
                        personal.add(agent[key].removeprefix("mailto:"))
                if "account" in agent:
                    personal.add(agent["account"]["name"])
    assert len(personal) > 10
    columns = store.con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE data_type = 'VARCHAR' AND table_schema = 'main'"
    ).fetchall()
    scanned = 0
    for table, column in columns:
        values = store.con.execute(f'SELECT DISTINCT "{column}" FROM "{table}"').fetchall()
        for (value,) in values:
            scanned += 1
            assert not any(p in (value or "") for p in personal), (table, column)
    assert scanned > 100


# --- the command line ------------------------------------------------------------------------


def test_cli_exit_codes_json_and_csv(tmp_path: Path) -> None:
    runner = CliRunner()
    feed = tmp_path / "feed.jsonl"
    caliper_feed(feed, seed=9, events=20)
    inventory = tmp_path / "none.yaml"
    args = ["--store", str(tmp_path / "s.duckdb"), "--inventory", str(inventory)]
    result = runner.invoke(app, ["ingest", str(feed), *args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["loaded"] == 20
    with feed.open("a", encoding="utf-8") as handle:
        handle.write("not json\n")
    assert runner.invoke(app, ["ingest", str(feed), *args, "--strict"]).exit_code == 1
    lenient = runner.invoke(app, ["ingest", str(feed), *args, "--json"])
    assert lenient.exit_code == 1
    assert json.loads(lenient.stdout)["duplicates"] == 20
    assert runner.invoke(app, ["ingest", str(tmp_path / "missing.jsonl"), *args]).exit_code == 2
    assert runner.invoke(app, ["ingest", str(feed), "--format", "xml", *args]).exit_code == 2
    listed = runner.invoke(app, ["usage", "--json", *args])
    assert listed.exit_code == 0
    assert {row["tool"] for row in json.loads(listed.stdout)} == {
        "https://app.mathly.example",
        "https://www.readwell.example/reader",
        "https://quizzo.example",
    }  # no inventory: nothing matched, identifiers kept
    table = runner.invoke(app, ["usage", "--csv", *args]).stdout.splitlines()
    assert table[0].startswith("tool,matched,active_students,active_teachers")
    assert len(table) == 4
    unknown = runner.invoke(app, ["usage", "--unmatched", "--json", *args])
    assert {row["app_identifier"] for row in json.loads(unknown.stdout)} == {
        row["tool"] for row in json.loads(listed.stdout)
    }


# --- the sample generator's workspace: the manifest is an independent answer key ------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A small generated workspace (read only; each test ingests into its own store)."""
    generator = pytest.importorskip("edtech_map.samples.generator")
    out = tmp_path_factory.mktemp("workspace")
    return out, generator.generate_workspace(out, size="s", scale=0.05)


def test_generated_workspace_usage_matches_its_manifest(tmp_path: Path) -> None:
    generator = pytest.importorskip("edtech_map.samples.generator")

    out = tmp_path / "workspace"
    manifest = generator.generate_workspace(out, size="s", scale=0.05)
    ecosystem = load_ecosystem(out / manifest.files["ecosystem"])
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        report = ingest(opened, [out / "usage"], ecosystem)
        by_tool = {row["tool"]: row for row in usage_by_tool(opened)}
        unmatched = {row["app_identifier"]: row for row in unmatched_apps(opened)}
        lincoln = usage_by_tool(opened, school="lincoln-es", ecosystem=ecosystem)
    assert report.rejected == 0 and report.duplicates == 0
    by_format = {f.format: f.loaded for f in report.files}
    assert by_format == {
        "caliper": manifest.counts.caliper_events,
        "csv": manifest.counts.csv_usage_rows,
    }
    for shadow in manifest.planted.uninventoried:
        found = unmatched[shadow.identifier]
        assert (found["students"], found["teachers"]) == (shadow.students, shadow.teachers)
    for tool_id in manifest.planted.teacher_only:
        assert by_tool[tool_id]["active_students"] == 0 < by_tool[tool_id]["active_teachers"]
    for tool_id in manifest.planted.never_used:
        assert tool_id not in by_tool
    assert lincoln and all(
        row["active_users"] <= by_tool[row["tool"]]["active_users"] for row in lincoln
    )


def test_tools_added_later_pick_up_their_past_usage(store: Store, tmp_path: Path) -> None:
    feed = tmp_path / "caliper.jsonl"
    written = caliper_feed(feed, seed=13, events=60)
    ingest(store, [feed], ECOSYSTEM)
    quizzo = sum(e["edApp"]["id"] == "https://quizzo.example" for e in written)
    grown = ECOSYSTEM.model_copy(
        update={
            "tools": (
                *ECOSYSTEM.tools,
                ECOSYSTEM.tools[0].model_copy(
                    update={
                        "id": "quizzo",
                        "name": "Quizzo",
                        "identifiers": ECOSYSTEM.tools[0].identifiers.model_copy(
                            update={"caliper_app_ids": (), "domains": ("quizzo.example",)}
                        ),
                    }
                ),
            )
        }
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    report = ingest(store, [empty], grown)
    assert report.rematched == quizzo > 0
    assert unmatched_apps(store) == []
    assert count(store, "SELECT count(*) AS n FROM usage_events WHERE tool_id = 'quizzo'") == quizzo


def test_cli_pulls_from_a_configured_lrs(
    httpserver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statement = {
        "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
        "actor": {"account": {"homePage": "https://sis.riverside.k12.us", "name": "stu-17"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://www.readwell.example/books/1"},
        "stored": "2026-02-03T14:05:07Z",
    }
    httpserver.expect_request("/xapi/statements").respond_with_json(
        {"statements": [statement], "more": ""}
    )
    inventory = tmp_path / "ecosystem.yaml"
    inventory.write_text(
        "district: {id: riverside, name: Riverside}\n"
        "tools:\n"
        "  - {id: readwell, name: ReadWell, category: content,\n"
        "     identifiers: {domains: [readwell.example]}}\n"
        "sources:\n"
        "  moodle-lrs:\n"
        "    kind: xapi\n"
        f"    base_url: {httpserver.url_for('/xapi')}\n"
        "    secrets: {key: TEST_LRS_KEY, secret: TEST_LRS_SECRET}\n"
        "    options: {district_account_homepages: ['https://sis.riverside.k12.us']}\n",
        encoding="utf-8",
    )
    args = ["--inventory", str(inventory), "--store", str(tmp_path / "s.duckdb")]
    runner = CliRunner()
    missing = runner.invoke(app, ["ingest", "--lrs", "moodle-lrs", *args])
    assert missing.exit_code == 2 and "TEST_LRS_KEY" in missing.output
    monkeypatch.setenv("TEST_LRS_KEY", "key")
    monkeypatch.setenv("TEST_LRS_SECRET", "secret-9f8e")
    result = runner.invoke(app, ["ingest", "--lrs", "moodle-lrs", *args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matched"] == 1
    assert "secret-9f8e" not in result.output
    with Store.open(tmp_path / "s.duckdb") as opened:
        keys = opened.query_arrow("SELECT user_key, tool_id FROM usage_events").to_pylist()
        assert keys == [{"user_key": opened.keys.user("stu-17"), "tool_id": "readwell"}]
    assert runner.invoke(app, ["ingest", "--lrs", "nope", *args]).exit_code == 2


def test_generated_caliper_feed_counts_equal_an_independent_query(
    sample: tuple[Path, Any], tmp_path: Path
) -> None:
    out, manifest = sample
    ecosystem = load_ecosystem(out / manifest.files["ecosystem"])
    feed = out / manifest.files["caliper"]
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        ingest(opened, [feed], ecosystem)
        got = {
            (r["tool"], r["active_students"], r["active_teachers"], r["events"])
            for r in usage_by_tool(opened)
        }
    apps = [
        (app_id.rstrip("/"), tool.id)
        for tool in ecosystem.tools
        for app_id in tool.identifiers.caliper_app_ids
    ]
    independent = duckdb.connect()
    independent.execute("CREATE TABLE apps (app VARCHAR, tool VARCHAR)")
    independent.executemany("INSERT INTO apps VALUES (?, ?)", apps)
    expected = independent.sql(
        f"""
        WITH lines AS (SELECT json FROM read_json_objects('{feed}')),
        events AS (
            SELECT unnest(CASE WHEN json_type(json, '$.data') = 'ARRAY'
                               THEN json_extract(json, '$.data[*]') ELSE [json] END) AS e
            FROM lines
        ),
        flat AS (
            SELECT json_extract_string(e, '$.id') AS id,
                   coalesce(json_extract_string(e, '$.actor.id'),
                            json_extract_string(e, '$.actor')) AS actor,
                   CASE WHEN json_type(e, '$.edApp') = 'OBJECT'
                        THEN json_extract_string(e, '$.edApp.id')
                        ELSE json_extract_string(e, '$.edApp') END AS ed_app,
                   json_extract_string(e, '$.membership.roles[0]') AS role
            FROM events
        )
        SELECT coalesce(apps.tool, flat.ed_app) AS tool,
               count(DISTINCT actor) FILTER (WHERE role = 'Learner'),
               count(DISTINCT actor) FILTER (WHERE role = 'Instructor'),
               count(DISTINCT id)
        FROM flat LEFT JOIN apps ON rtrim(flat.ed_app, '/') = apps.app
        GROUP BY ALL
        """
    ).fetchall()
    assert got == set(expected)
    assert sum(row[3] for row in expected) == manifest.counts.caliper_events


def test_usage_keys_meet_the_roster_keys_of_the_same_people(
    sample: tuple[Path, Any], tmp_path: Path
) -> None:
    out, manifest = sample
    ecosystem = load_ecosystem(out / manifest.files["ecosystem"])
    sis_ids = {"caliper": {"sis_id_pattern": r"/users/(?P<id>[^/]+)$"}}
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        oneroster_csv.sync(
            SyncContext(store=opened, source="sis", options={"path": out / "roster"})
        )
        ingest(opened, [out / "usage"], ecosystem, options=sis_ids)
        joined = opened.query_arrow(
            """
            SELECT e.source,
                   count(*) AS events,
                   count(u.user_key) AS in_roster,
                   count(*) FILTER (WHERE u.primary_role <> e.role) AS other_role
            FROM usage_events AS e LEFT JOIN users AS u USING (user_key)
            GROUP BY e.source ORDER BY e.source
            """
        ).to_pylist()
    assert [(r["source"], r["events"] == r["in_roster"], r["other_role"]) for r in joined] == [
        ("caliper", True, 0),
        ("usage_csv", True, 0),
    ]


def test_daily_view_counts_days_in_the_district_time_zone(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(
        "User ID,Timestamp,App URL,Role,School\n"
        "stu-1,2026-11-02T03:00:00Z,https://www.readwell.example/a,Student,lincoln-es\n"
        "stu-1,2026-11-02T15:00:00Z,https://www.readwell.example/b,Student,lincoln-es\n",
        encoding="utf-8",
    )
    ingest(store, [path], ECOSYSTEM)  # the district is in America/Chicago
    days = store.query_arrow(
        "SELECT CAST(day AS VARCHAR) AS day, tool_id, events, active_users FROM usage_daily "
        "ORDER BY day"
    ).to_pylist()
    assert days == [
        {"day": "2026-11-01", "tool_id": "readwell", "events": 1, "active_users": 1},
        {"day": "2026-11-02", "tool_id": "readwell", "events": 1, "active_users": 1},
    ]
