"""xAPI reader: DATASIM statements, the ADL conformance templates, actor forms, bad input."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.http import ConnectorError
from connectors.usage_events import Rejection, Skip, UsageEvent
from connectors.xapi import Config, lrs_client, mbox_sha1sum, read_xapi, transform_statement
from edtech_map.model import Role
from edtech_map.privacy import KeyMaker
from edtech_map.store import Store
from edtech_map.usage import ingest_lrs, lrs_cursor

KEYS = KeyMaker(b"xapi-test-secret-0123456789abcdef")
REPO = Path(__file__).resolve().parents[1]
STORED = "2024-03-04T05:06:07.000Z"


def fixtures_root() -> Path:
    root = Path(os.environ.get("EDTECH_MAP_FIXTURES", REPO.parent / "shared" / "fixtures"))
    if not root.is_dir():
        pytest.skip(f"third-party fixtures not found at {root}; set EDTECH_MAP_FIXTURES")
    return root


@pytest.fixture(scope="module")
def datasim() -> Path:
    folder = fixtures_root() / "xapi-datasim" / "dev-resources" / "xapi" / "statements"
    if not folder.is_dir():
        pytest.skip(f"DATASIM statements not found at {folder}")
    return folder


@pytest.fixture(scope="module")
def templates() -> Path:
    folder = fixtures_root() / "xapi-lrs-conformance" / "test" / "v1_0_3" / "templates"
    if not folder.is_dir():
        pytest.skip(f"xAPI conformance templates not found at {folder}")
    return folder


@pytest.mark.fixtures
def test_all_2814_datasim_statements_load(datasim: Path) -> None:
    path = datasim / "array" / "tccc_dev.json"
    with path.open(encoding="utf-8") as handle:
        raw = json.load(handle)
    assert len(raw) == 2814
    parsed = list(read_xapi(path, KEYS))
    assert all(isinstance(p, UsageEvent) for p in parsed)
    events = [p for p in parsed if isinstance(p, UsageEvent)]
    assert [e.event_id for e in events] == [s["id"] for s in raw]
    assert [e.action for e in events] == [s["verb"]["id"] for s in raw]
    assert [e.event_time for e in events] == [datetime.fromisoformat(s["timestamp"]) for s in raw]
    # one key per distinct mbox, and keys follow the actors statement by statement
    assert Counter(e.user_key for e in events).most_common() == [
        (KEYS.user(mbox_sha1sum(mbox), namespace="xapi-mbox-sha1"), n)
        for mbox, n in Counter(s["actor"]["mbox"] for s in raw).most_common()
    ]
    assert sum("display" not in s["verb"] for s in raw) == 1305  # the reader does not need it


@pytest.mark.fixtures
def test_simple_and_long_statements(datasim: Path) -> None:
    (simple,) = read_xapi(datasim / "simple.json", KEYS)
    assert isinstance(simple, UsageEvent)
    assert simple.event_time == datetime(2015, 11, 18, 12, 17, tzinfo=UTC)
    members = list(read_xapi(datasim / "long.json", KEYS))
    # The actor is a Group of three (account, openid, mbox_sha1sum): one event per member.
    assert len(members) == 3 and all(isinstance(m, UsageEvent) for m in members)
    assert len({m.user_key for m in members if isinstance(m, UsageEvent)}) == 3
    assert {m.duration_seconds for m in members if isinstance(m, UsageEvent)} == {3600.0}


# --- the ADL LRS conformance templates -----------------------------------------------------

# Fragments the xAPI 1.0.3 spec forbids, by category (the README and file names say which are
# deliberately invalid; each reason is checked against the spec section it breaks).
INVALID: dict[str, set[str]] = {
    "statements": {
        "actor",  # Agent with no identifier (4.1.2.1)
        "authority",  # same, in authority
        "multiple_actor",  # one key twice
        "no_actor",
        "no_object",
        "no_verb",
        "object_activity",  # Activity without id
        "object_actor",  # Agent object with no identifier
        "object_statementref_no_id",
        "object_substatement",  # empty SubStatement
        "verb",  # verb without id
    },
    "agents": {"account_no_homepage", "account_no_name"},
    "groups": {
        "anonymous_no_member",
        "identified_account_no_homepage",
        "identified_account_no_name",
    },
    "verbs": {"no_id", "voided"},  # voided needs a StatementRef object, not the default Activity
    "activities": {
        "description_invalid",
        "name_invalid",
        "interaction_type_invalid_iri",
        "interaction_type_invalid_numeric",
        "interaction_type_invalid_object",
        "interaction_type_invalid_string",
        "no_id",
        "numeric_description",
        "numeric_name",
        "string_description",
        "string_name",
    },
    "contexts": {"instructor", "team", "invalid_activity"},
    "results": set(),
    "substatements": {
        "activity",  # Activity without id
        "agent",  # Agent object without an identifier
        "activity_definition_description_invalid",
        "activity_definition_name_invalid",
        "actor",
        "context_invalid_language_map",
        "group",
        "interaction_component_invalid_language_map",
        "no_actor",
        "no_object",
        "no_verb",
        "statementref_no_id",
        "verb",
        "verb_invalid",
    },
}
SLOT = {
    "agents": "actor",
    "groups": "actor",
    "verbs": "verb",
    "activities": "object",
    "contexts": "context",
    "results": "result",
    "substatements": "object",
}


def read_template(templates: Path, category: str, name: str, tmp_path: Path) -> list[Any]:
    """Read a template as a whole statement, with the `stored` time an LRS would add."""
    text = (templates / category / f"{name}.json").read_text(encoding="utf-8")
    if category == "statements":  # insert textually, so a repeated key stays repeated
        statement_text = text.replace("{", '{"stored": "' + STORED + '",', 1)
    else:
        default = json.loads((templates / "statements" / "default.json").read_text("utf-8"))
        statement_text = json.dumps({**default, SLOT[category]: json.loads(text), "stored": STORED})
    path = tmp_path / f"{category}-{name}.json"
    path.write_text(statement_text, encoding="utf-8")
    return list(read_xapi(path, KEYS))


@pytest.mark.fixtures
@pytest.mark.parametrize("category", sorted(INVALID))
def test_conformance_templates_valid_load_invalid_are_rejected(
    templates: Path, category: str, tmp_path: Path
) -> None:
    names = sorted(p.stem for p in (templates / category).glob("*.json"))
    assert INVALID[category] <= set(names)
    for name in names:
        outcomes = read_template(templates, category, name, tmp_path)
        if name in INVALID[category]:
            assert len(outcomes) == 1 and isinstance(outcomes[0], Rejection), (name, outcomes)
            message = outcomes[0].render("x.json")
            assert "@" not in message and "cd9b00a5611f" not in message, message
        elif name == "voiding":
            assert outcomes == [Skip(1, outcomes[0].reason)] and "voiding" in outcomes[0].reason
        else:
            assert outcomes and all(isinstance(o, UsageEvent) for o in outcomes), (name, outcomes)


@pytest.mark.fixtures
def test_template_counts_match_the_readme(templates: Path) -> None:
    counts = {c: len(list((templates / c).glob("*.json"))) for c in INVALID}
    assert counts == {
        "statements": 22,
        "activities": 32,
        "agents": 7,
        "groups": 15,
        "contexts": 12,
        "substatements": 25,
        "results": 2,
        "verbs": 4,
    }


@pytest.mark.fixtures
def test_rejections_name_the_field(templates: Path, tmp_path: Path) -> None:
    def field(category: str, name: str) -> str:
        (outcome,) = read_template(templates, category, name, tmp_path)
        assert isinstance(outcome, Rejection)
        return outcome.field

    assert field("statements", "no_actor") == "actor"
    assert field("statements", "multiple_actor") == "(statement)"
    assert field("agents", "account_no_homepage") == "actor.account"
    assert field("groups", "anonymous_no_member") == "actor.member"
    assert field("activities", "name_invalid") == "object.definition.name"
    assert field("substatements", "verb_invalid") == "object.verb.display"
    assert field("contexts", "team").startswith("context.team")


# --- actors and times -----------------------------------------------------------------------

BASE: dict[str, Any] = {
    "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
    "actor": {"mbox": "mailto:stu17@riverside.k12.us"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
    "object": {"id": "https://app.mathly.com/lessons/3"},
    "timestamp": "2026-02-03T14:05:06Z",
}


def one(statement: dict[str, Any], config: Config | None = None) -> UsageEvent:
    outcome = transform_statement(statement, KEYS, line=1, config=config)
    assert isinstance(outcome, list) and len(outcome) == 1, outcome
    return outcome[0]


def test_mbox_and_its_sha1sum_get_the_same_key_other_forms_differ() -> None:
    by_mbox = one(BASE).user_key
    sha1 = hashlib.sha1(b"mailto:stu17@riverside.k12.us").hexdigest()
    assert one({**BASE, "actor": {"mbox_sha1sum": sha1}}).user_key == by_mbox
    assert one({**BASE, "actor": {"mbox_sha1sum": sha1.upper()}}).user_key == by_mbox
    openid = one({**BASE, "actor": {"openid": "http://openid.example.org/stu17"}}).user_key
    account = {"account": {"homePage": "https://sis.riverside.k12.us", "name": "stu17"}}
    foreign = one({**BASE, "actor": account}).user_key
    district = one(
        {**BASE, "actor": account},
        Config(district_account_homepages=("https://sis.riverside.k12.us/",)),
    ).user_key
    assert district == KEYS.user("stu17")  # the key a OneRoster user stu17 gets
    assert len({by_mbox, openid, foreign, district}) == 4


def test_stored_stands_in_for_a_missing_timestamp_and_neither_is_rejected() -> None:
    no_time = {k: v for k, v in BASE.items() if k != "timestamp"}
    assert one({**no_time, "stored": "2026-02-03T14:05:07Z"}).event_time.second == 7
    rejected = transform_statement(no_time, KEYS, line=9)
    assert isinstance(rejected, Rejection) and (rejected.line, rejected.field) == (9, "timestamp")
    bad = transform_statement({**BASE, "timestamp": "03/02/2026"}, KEYS, line=2)
    assert isinstance(bad, Rejection) and bad.field == "timestamp"


def test_missing_id_gets_a_stable_content_hash_and_bad_ids_are_rejected() -> None:
    no_id = {k: v for k, v in BASE.items() if k != "id"}
    assert one(no_id).event_id == one(dict(reversed(no_id.items()))).event_id
    assert one(no_id).event_id.startswith("sha256:")
    bad = transform_statement({**BASE, "id": "not-a-uuid"}, KEYS, line=1)
    assert isinstance(bad, Rejection) and bad.field == "id"


def test_role_school_class_and_duration_from_context_and_result() -> None:
    statement = {
        **BASE,
        "result": {"duration": "PT12M30S"},
        "context": {
            "platform": "Mathly",
            "extensions": {
                "https://w3id.org/xapi/edtech-map/role": "Learner",
                "https://example.org/ext/school_id": "lincoln-es",
                "https://example.org/ext/initiated_by": "student",
            },
            "contextActivities": {
                "grouping": [
                    {
                        "id": "https://sis.example.org/classes/alg-1",
                        "definition": {"type": "http://adlnet.gov/expapi/activities/course"},
                    }
                ]
            },
        },
    }
    event = one(statement)
    assert event.role is Role.STUDENT
    assert (event.school_id, event.class_id) == (
        "lincoln-es",
        "https://sis.example.org/classes/alg-1",
    )
    assert event.duration_seconds == 750.0
    assert event.initiated_by is not None and event.initiated_by.value == "student"
    assert event.apps[0].value == "Mathly"
    teacher = one({**BASE, "context": {"instructor": BASE["actor"]}})
    assert teacher.role is Role.TEACHER


def test_lrs_statement_result_and_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"statements": [BASE, {**BASE, "verb": {}}], "more": ""}))
    outcomes = list(read_xapi(path, KEYS))
    assert isinstance(outcomes[0], UsageEvent)
    assert isinstance(outcomes[1], Rejection) and outcomes[1].field == "statements[1].verb.id"
    broken = tmp_path / "broken.json"
    broken.write_text('[\n {"a": 1},\n {"b": \n')
    last = list(read_xapi(broken, KEYS))[-1]
    assert isinstance(last, Rejection) and "rest of the file was not read" in last.reason


# --- hypothesis -----------------------------------------------------------------------------

emails = st.emails().map(lambda e: f"mailto:{e}")


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mbox=emails,
    form=st.sampled_from(["mbox", "sha1", "SHA1", "group"]),
    display=st.booleans(),
    stamp=st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.just(UTC)),
    use_stored=st.booleans(),
)
def test_statement_variants_keep_the_person_and_the_time(
    mbox: str, form: str, display: bool, stamp: datetime, use_stored: bool
) -> None:
    sha1 = mbox_sha1sum(mbox)
    actors: dict[str, dict[str, Any]] = {
        "mbox": {"mbox": mbox},
        "sha1": {"mbox_sha1sum": sha1},
        "SHA1": {"objectType": "Agent", "mbox_sha1sum": sha1.upper()},
        "group": {"objectType": "Group", "member": [{"mbox": mbox}]},
    }
    actor = actors[form]
    statement: dict[str, Any] = {**BASE, "actor": actor}
    statement.pop("timestamp")
    statement["stored" if use_stored else "timestamp"] = stamp.isoformat()
    if display:
        statement["verb"] = {**BASE["verb"], "display": {"en-US": "completed"}}
    event = one(statement)
    assert event.user_key == KEYS.user(sha1, namespace="xapi-mbox-sha1")
    assert event.event_time == stamp
    assert mbox not in repr(event) and sha1 not in repr(event)


# --- pulling from an LRS (a real local HTTP server) ----------------------------------------


def test_pull_from_an_lrs_follows_more_and_resumes_from_the_cursor(
    httpserver: Any, tmp_path: Path
) -> None:
    first = {**BASE, "stored": "2026-02-03T14:05:07Z"}
    later = {
        **BASE,
        "id": "7690e6c9-3ef0-4ed3-8b37-7f3964730bee",
        "stored": "2026-02-04T09:00:00Z",
    }
    bad = {**BASE, "id": "8690e6c9-3ef0-4ed3-8b37-7f3964730bee", "verb": {}}
    path = "/xapi/statements"
    page_1 = {"limit": "500", "ascending": "true"}
    httpserver.expect_oneshot_request(
        path, query_string=page_1, headers={"X-Experience-API-Version": "1.0.3"}
    ).respond_with_json({"statements": [first, bad], "more": "/xapi/statements?more=p2"})
    httpserver.expect_oneshot_request(path, query_string={"more": "p2"}).respond_with_json(
        {"statements": [later], "more": ""}
    )
    httpserver.expect_oneshot_request(
        path, query_string={**page_1, "since": later["stored"]}
    ).respond_with_json({"statements": [], "more": ""})
    client = lrs_client(httpserver.url_for("/xapi"), "lrs-key", SecretStr("lrs-secret-42"))
    with Store.open(tmp_path / "ws" / "store.duckdb") as store, client:
        report = ingest_lrs(store, client)
        assert report.summary() == "read 3, loaded 2, duplicates 0, rejected 1"
        assert report.rejections == [
            f"{httpserver.url_for(path)}:2 verb.id: missing; a verb needs an id IRI"
        ]
        assert lrs_cursor(store, client) == later["stored"]
        again = ingest_lrs(store, client)
        assert (again.read, again.loaded) == (0, 0)
    assert all(
        request.headers["Authorization"].startswith("Basic ") for request, _ in httpserver.log
    )
    assert "lrs-secret-42" not in json.dumps(report.as_dict())
    httpserver.check_assertions()


def test_an_lrs_that_refuses_leaves_the_store_unchanged(httpserver: Any, tmp_path: Path) -> None:
    path = "/xapi/statements"
    httpserver.expect_request(path, query_string={"more": "p2"}).respond_with_json(
        {"error": "bad key"}, status=401
    )
    httpserver.expect_request(path).respond_with_json(
        {
            "statements": [{**BASE, "stored": "2026-02-03T14:05:07Z"}],
            "more": "/xapi/statements?more=p2",
        }
    )
    client = lrs_client(httpserver.url_for("/xapi"), "lrs-key", SecretStr("lrs-secret-42"))
    with Store.open(tmp_path / "ws" / "store.duckdb") as store, client:
        with pytest.raises(ConnectorError) as raised:
            ingest_lrs(store, client)
        assert "lrs-secret-42" not in str(raised.value)
        rows = store.query_arrow("SELECT count(*) AS n FROM usage_events").to_pylist()
        assert rows == [{"n": 0}]
