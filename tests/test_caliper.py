"""Caliper reader: every official 1.2 fixture, shape variants, old versions and bad input."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.caliper import Config, read_caliper, transform_event
from connectors.usage_events import (
    EntityRecord,
    IdentifierKind,
    Rejection,
    UsageEvent,
    read_json_documents,
)
from edtech_map.model import Role
from edtech_map.privacy import KeyMaker

KEYS = KeyMaker(b"caliper-test-secret-0123456789ab")
REPO = Path(__file__).resolve().parents[1]


def fixtures_root() -> Path:
    root = Path(os.environ.get("EDTECH_MAP_FIXTURES", REPO.parent / "shared" / "fixtures"))
    if not root.is_dir():
        pytest.skip(f"third-party fixtures not found at {root}; set EDTECH_MAP_FIXTURES")
    return root


@pytest.fixture(scope="module")
def v1p2() -> list[Path]:
    folder = fixtures_root() / "caliper-common-fixtures" / "fixtures" / "v1p2"
    if not folder.is_dir():
        pytest.skip(f"Caliper fixtures not found at {folder}")
    return sorted(folder.glob("*.json"))


def node_id(value: Any) -> str | None:
    return value if isinstance(value, str) else (value or {}).get("id")


def raw_records(path: Path) -> list[dict[str, Any]]:
    """The records of a fixture, read independently of the reader under test."""
    with path.open(encoding="utf-8") as handle:
        document = json.load(handle)
    records: list[dict[str, Any]] = document.get("data", [document])
    return records


@pytest.mark.fixtures
def test_every_v1p2_fixture_is_read_and_classified(v1p2: list[Path]) -> None:
    assert len(v1p2) == 129
    totals: Counter[str] = Counter()
    for path in v1p2:
        parsed = list(read_caliper(path, KEYS))
        raw = raw_records(path)
        assert len(parsed) == len(raw), path.name
        for record, outcome in zip(raw, parsed, strict=True):
            totals[type(outcome).__name__] += 1
            if "action" in record:
                assert isinstance(outcome, UsageEvent), (path.name, outcome)
            elif "type" in record:
                assert isinstance(outcome, EntityRecord), (path.name, outcome)
                assert outcome.type == record["type"]
            else:
                assert path.name == "caliperEndpointConfigPayload.json"
                assert isinstance(outcome, Rejection)
                assert "not a Caliper event or entity" in outcome.reason
    # 46 single events + 10 in envelopes; 73 single entities + 9 in envelopes; 1 config payload
    assert totals == {"UsageEvent": 56, "EntityRecord": 82, "Rejection": 1}


@pytest.mark.fixtures
def test_event_fixtures_keep_actor_action_object_and_edapp(v1p2: list[Path]) -> None:
    checked = 0
    for path in v1p2:
        for record, outcome in zip(raw_records(path), read_caliper(path, KEYS), strict=True):
            if "action" not in record:
                continue
            assert isinstance(outcome, UsageEvent)
            assert outcome.user_key == KEYS.user(node_id(record["actor"]) or "")
            assert outcome.action == record["action"]
            assert outcome.object_id == node_id(record["object"])
            assert outcome.event_id == record["id"]
            assert outcome.event_time == datetime.fromisoformat(record["eventTime"])
            assert outcome.event_type == record["type"]
            ed_apps = [a.value for a in outcome.apps if a.kind is IdentifierKind.CALIPER_APP]
            if "edApp" in record:
                assert ed_apps[0] == node_id(record["edApp"])
            else:
                assert ed_apps == []
            checked += 1
    assert checked == 56


@pytest.mark.fixtures
def test_fixture_roles_sessions_and_lti_claims(v1p2: list[Path]) -> None:
    folder = v1p2[0].parent

    def only(name: str) -> UsageEvent:
        (event,) = read_caliper(folder / name, KEYS)
        assert isinstance(event, UsageEvent)
        return event

    assert only("caliperEventViewViewed.json").role is Role.STUDENT
    assert only("caliperEventAssignableActivated.json").role is Role.TEACHER
    assert only("caliperEventSessionLoggedIn.json").role is Role.UNKNOWN  # no membership
    # A thinned membership is a bare IRI: no roles to read.
    assert only("caliperEventNavigationNavigatedToThinned.json").role is Role.UNKNOWN
    assert only("caliperEventSessionLoggedOut.json").duration_seconds == 3000.0
    assert only("caliperEventSessionLoggedIn.json").duration_seconds is None
    launched = only("caliperEventToolLaunchLaunched.json")
    kinds = {a.kind for a in launched.apps}
    assert {IdentifierKind.LTI_DEPLOYMENT, IdentifierKind.LTI_CLIENT} <= kinds
    assert only("caliperEventViewViewed.json").class_id == (
        "https://example.edu/terms/201601/courses/7/sections/1"
    )


@pytest.mark.fixtures
def test_no_actor_id_leaks_into_a_parsed_event(v1p2: list[Path]) -> None:
    for path in v1p2:
        for record, outcome in zip(raw_records(path), read_caliper(path, KEYS), strict=True):
            if not isinstance(outcome, UsageEvent):
                continue
            if isinstance(record["actor"], dict) and record["actor"].get("type") != "Person":
                continue  # a SoftwareApplication acting (GradeEvent) is not a person
            actor = node_id(record["actor"]) or ""
            stored = [
                outcome.user_key,
                outcome.school_id,
                outcome.class_id,
                *(a.value for a in outcome.apps),
            ]
            assert all(actor not in (value or "") for value in stored)


# --- hand-written cases ---------------------------------------------------------------------

BASE: dict[str, Any] = {
    "@context": "http://purl.imsglobal.org/ctx/caliper/v1p2",
    "id": "urn:uuid:3a648e68-f00d-4c08-aa59-8738e1884f2c",
    "type": "ViewEvent",
    "actor": {"id": "https://sis.example.org/users/stu-17", "type": "Person"},
    "action": "Viewed",
    "object": {"id": "https://reader.example.com/books/9", "type": "Document"},
    "eventTime": "2026-02-03T14:05:06.000Z",
    "edApp": {"id": "https://reader.example.com", "type": "SoftwareApplication"},
}


def write_lines(tmp_path: Path, *records: object, name: str = "events.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"actor": None}, "actor", "missing"),
        ({"eventTime": None}, "eventTime", "missing"),
        ({"eventTime": "yesterday"}, "eventTime", "not an ISO 8601"),
        ({"type": "WatchedEvent"}, "type", "not a Caliper event type"),
        ({"id": "urn:uuid:not-a-uuid"}, "id", "not a valid urn:uuid"),
        ({"id": "has spaces in it"}, "id", "not an IRI"),
        ({"id": 42}, "id", "non-empty string"),
        ({"action": None}, "action", "missing"),
    ],
)
def test_bad_events_are_rejected_with_line_field_and_reason(
    tmp_path: Path, change: dict[str, Any], field: str, words: str
) -> None:
    bad = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    path = write_lines(tmp_path, BASE, bad)
    first, second = read_caliper(path, KEYS)
    assert isinstance(first, UsageEvent)
    assert isinstance(second, Rejection)
    assert (second.line, second.field) == (2, field)
    assert words in second.reason
    assert "stu-17" not in second.render(path)


def test_a_line_that_is_not_json_is_rejected_and_the_next_is_read(tmp_path: Path) -> None:
    path = write_lines(tmp_path, BASE, "{not json", {**BASE, "id": "urn:uuid:" + "1" * 32})
    outcomes = list(read_caliper(path, KEYS))
    assert [type(o).__name__ for o in outcomes] == ["UsageEvent", "Rejection", "UsageEvent"]
    assert isinstance(outcomes[1], Rejection) and outcomes[1].line == 2
    assert "not valid JSON" in outcomes[1].reason


def test_a_broken_first_line_does_not_hide_the_rest(tmp_path: Path) -> None:
    for name in ("events.jsonl", "events.json"):
        path = write_lines(tmp_path, '{"id": "urn:uuid:', BASE, name=name)
        outcomes = list(read_caliper(path, KEYS))
        assert [type(o).__name__ for o in outcomes] == ["Rejection", "UsageEvent"], name


def test_a_bad_event_inside_an_envelope_names_its_data_index(tmp_path: Path) -> None:
    envelope = {
        "sensor": "s",
        "sendTime": "2026-02-03T14:05:07Z",
        "dataVersion": "v1p2",
        "data": [BASE, {k: v for k, v in BASE.items() if k != "actor"}],
    }
    path = write_lines(tmp_path, envelope)
    _, rejected = read_caliper(path, KEYS)
    assert isinstance(rejected, Rejection)
    assert (rejected.line, rejected.field) == (1, "data[1].actor")


def test_caliper_1_0_json_ld_names_and_iri_actions(tmp_path: Path) -> None:
    old = {
        "@context": "http://purl.imsglobal.org/ctx/caliper/v1/Context",
        "@type": "http://purl.imsglobal.org/caliper/v1/SessionEvent",
        "actor": {"@id": "https://sis.example.org/users/stu-17", "@type": "Person"},
        "action": "http://purl.imsglobal.org/vocab/caliper/v1/action#LoggedOut",
        "object": {"@id": "https://reader.example.com", "@type": "SoftwareApplication"},
        "eventTime": "2015-09-15T10:15:00.000Z",
        "duration": "PT1H",
        "edApp": {"@id": "https://reader.example.com"},
    }
    (event,) = read_caliper(write_lines(tmp_path, old), KEYS)
    assert isinstance(event, UsageEvent)
    assert (event.event_type, event.action, event.duration_seconds) == (
        "SessionEvent",
        "LoggedOut",
        3600.0,
    )
    assert event.user_key == KEYS.user("https://sis.example.org/users/stu-17")
    assert event.event_id.startswith("sha256:")  # 1.0 events have no id
    again = list(read_caliper(write_lines(tmp_path, old, name="again.jsonl"), KEYS))
    assert again == [event]  # the content hash is stable


def test_real_world_deviations_webpage_and_extension_is_part_of(tmp_path: Path) -> None:
    event = {
        **BASE,
        "type": "NavigationEvent",
        "action": "NavigatedTo",
        "object": {
            "id": "https://reader.example.com/p/1",
            "type": "Webpage",
            "extensions": {
                "isPartOf": {
                    "id": "https://sis.example.org/classes/alg-1",
                    "type": "CourseSection",
                    "subOrganizationOf": {
                        "id": "https://sis.example.org/orgs/lhs",
                        "type": "Organization",
                    },
                }
            },
        },
        "extensions": {"userRole": "student", "initiatedBy": "assigned"},
    }
    (parsed,) = read_caliper(write_lines(tmp_path, event), KEYS)
    assert isinstance(parsed, UsageEvent)
    assert parsed.class_id == "https://sis.example.org/classes/alg-1"
    assert parsed.school_id == "https://sis.example.org/orgs/lhs"
    assert parsed.role is Role.STUDENT
    assert parsed.initiated_by is not None and parsed.initiated_by.value == "assigned"


def test_entity_only_files_are_counted_as_entities(tmp_path: Path) -> None:
    person = {"id": "https://sis.example.org/users/stu-17", "type": "Person"}
    envelope = {"sensor": "s", "sendTime": "2026-01-01T00:00:00Z", "data": [person, person]}
    path = tmp_path / "entities.json"
    path.write_text(json.dumps(envelope, indent=2), encoding="utf-8")
    assert list(read_caliper(path, KEYS)) == [EntityRecord(1, "Person")] * 2


def test_sis_id_pattern_gives_the_oneroster_key() -> None:
    event = transform_event(
        BASE, KEYS, line=1, config=Config(sis_id_pattern=r"/users/(?P<id>[^/]+)$")
    )
    assert isinstance(event, UsageEvent) and event.user_key == KEYS.user("stu-17")


# --- hypothesis: shape variants parse to the same row ---------------------------------------

ids = st.uuids().map(lambda u: f"urn:uuid:{u}")
iris = st.from_regex(r"https://[a-z]{1,8}\.example\.(org|com)/[a-z0-9]{1,8}", fullmatch=True)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
roles = st.sampled_from(["Learner", "Instructor", "Instructor#TeachingAssistant", "Mentor"])


@st.composite
def canonical_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {
        "@context": "http://purl.imsglobal.org/ctx/caliper/v1p2",
        "id": draw(ids),
        "type": draw(st.sampled_from(["ViewEvent", "NavigationEvent", "ToolUseEvent"])),
        "actor": {"id": draw(iris), "type": "Person"},
        "action": draw(st.sampled_from(["Viewed", "NavigatedTo", "Used"])),
        "object": {"id": draw(iris), "type": "DigitalResource"},
        "eventTime": draw(times).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "edApp": {"id": draw(iris), "type": "SoftwareApplication"},
        "group": {"id": draw(iris), "type": "CourseSection"},
    }
    if draw(st.booleans()):
        event["membership"] = {"id": draw(iris), "type": "Membership", "roles": [draw(roles)]}
    return event


@st.composite
def variants(draw: st.DrawFn, event: dict[str, Any]) -> dict[str, Any]:
    variant = dict(event)
    for name in ("actor", "object", "edApp", "group"):
        if draw(st.booleans()):
            variant[name] = variant[name]["id"]  # thinned: a bare IRI
    context = draw(st.sampled_from(["string", "array", "absent"]))
    if context == "array":
        variant["@context"] = [{"query": "http://schema.org/query"}, event["@context"]]
    elif context == "absent":
        del variant["@context"]
    if draw(st.booleans()):
        variant["eventTime"] = event["eventTime"].replace("Z", "+00:00")
    return dict(draw(st.permutations(list(variant.items()))))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), events=st.lists(canonical_events(), min_size=1, max_size=4))
def test_shape_variants_parse_to_the_canonical_row(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, events: list[dict[str, Any]]
) -> None:
    folder = tmp_path_factory.mktemp("variants")
    canonical = [transform_event(e, KEYS, line=1) for e in events]
    shaped = [data.draw(variants(e)) for e in events]
    layout = data.draw(st.sampled_from(["lines", "envelope", "pretty-envelope", "array"]))
    if layout == "lines":
        text = "".join(json.dumps(e) + "\n" for e in shaped)
    else:
        envelope = {
            "sensor": "https://example.edu/sensors/1",
            "sendTime": "2026-01-01T00:00:00.000Z",
            "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p2",
            "data": shaped,
        }
        text = {
            "envelope": json.dumps(envelope),
            "pretty-envelope": json.dumps(envelope, indent=2),
            "array": json.dumps(shaped, indent=1),
        }[layout]
    path = folder / "events.json"
    path.write_text(text, encoding="utf-8")
    parsed = list(read_caliper(path, KEYS))
    assert all(isinstance(p, UsageEvent) for p in parsed)

    def comparable(e: object) -> tuple[object, ...]:
        assert isinstance(e, UsageEvent)
        # Thinned membership carries no roles; the rest of the row must not change.
        return (
            e.event_id,
            e.event_time,
            e.user_key,
            e.action,
            e.event_type,
            e.class_id,
            e.object_id,
            [a for a in e.apps if a.kind is IdentifierKind.CALIPER_APP][:1],
        )

    assert [comparable(p) for p in parsed] == [comparable(c) for c in canonical]
    assert [p.role for p in parsed if isinstance(p, UsageEvent)] == [
        c.role for c in canonical if isinstance(c, UsageEvent)
    ]


@settings(max_examples=60)
@given(
    values=st.lists(
        st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=20), max_size=4),
        max_size=12,
    ),
    chunk=st.integers(min_value=1, max_value=64),
    indent=st.sampled_from([None, 1, 2]),
)
def test_streaming_a_json_array_in_chunks_equals_json_load(
    tmp_path_factory: pytest.TempPathFactory,
    values: list[dict[str, Any]],
    chunk: int,
    indent: int | None,
) -> None:
    path = tmp_path_factory.mktemp("stream") / "array.json"
    path.write_text("\n" + json.dumps(values, indent=indent or 1), encoding="utf-8")
    read = list(read_json_documents(path, chunk_size=chunk))
    assert [d.value for d in read] == values
    assert all(d.error is None for d in read)
    lines = path.read_text(encoding="utf-8").splitlines()
    for document in read:  # each element starts on the line the reader says
        assert lines[document.line - 1].strip().startswith("{")


junk = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc"]), max_size=40),
    st.dictionaries(
        st.sampled_from(["type", "actor", "action", "eventTime", "id", "data"]),
        st.none() | st.integers() | st.text(max_size=10) | st.lists(st.integers()),
        max_size=5,
    ).map(json.dumps),
)


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(junk, st.just(json.dumps(BASE))), max_size=12))
def test_any_line_is_accounted_for_and_nothing_crashes(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    path = tmp_path_factory.mktemp("junk") / "events.jsonl"
    kept = [line for line in lines if line.strip()]
    path.write_text("".join(line.replace("\n", " ") + "\n" for line in kept), encoding="utf-8")
    outcomes = list(read_caliper(path, KEYS))
    expected = 0
    for line in kept:  # one outcome per line; a line holding an array, one per element
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            value = None
        expected += len(value) if isinstance(value, list) else 1
    assert len(outcomes) == expected
    assert {o.line for o in outcomes} <= set(range(1, len(kept) + 1))
    good = sum(line == json.dumps(BASE) for line in kept)
    assert sum(isinstance(o, UsageEvent) for o in outcomes) == good
