"""The bulk Caliper reader (`stage_caliper`, DuckDB SQL) gives every record the outcome that
`read_caliper` (Python, record by record) gives it: line, outcome, field, reason, and every
event field, user key and app identifiers included."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.caliper import Config, read_caliper, stage_caliper
from connectors.usage_events import STAGE_COLUMNS, EntityRecord, Rejection, Skip, UsageEvent
from edtech_map.privacy import KeyMaker

REPO = Path(__file__).resolve().parents[1]
SECRET = b"bulk-caliper-test-secret-0123456"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Row = tuple[Any, ...]


def _micros(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def expected_rows(path: Path, config: Config) -> list[Row]:
    """``read_caliper``'s outcomes as staged rows (event times in microseconds since 1970)."""
    rows: list[Row] = []
    for parsed in read_caliper(path, KeyMaker(SECRET), config=config):
        empty: Row = (None,) * 11
        if isinstance(parsed, UsageEvent):
            rows.append(
                (
                    parsed.line,
                    "event",
                    None,
                    None,
                    parsed.event_id,
                    _micros(parsed.event_time),
                    parsed.user_key,
                    parsed.role.value,
                    parsed.school_id,
                    parsed.class_id,
                    parsed.action,
                    parsed.event_type,
                    parsed.duration_seconds,
                    parsed.initiated_by.value if parsed.initiated_by else None,
                    [(app.kind.value, app.value) for app in parsed.apps],
                )
            )
        elif isinstance(parsed, Rejection):
            rows.append((parsed.line, "rejected", parsed.field, parsed.reason, *empty))
        elif isinstance(parsed, EntityRecord):
            rows.append((parsed.line, "entity", None, None, *empty[:7], parsed.type, *empty[8:]))
        else:
            assert isinstance(parsed, Skip)
            rows.append((parsed.line, "skip", None, parsed.reason, *empty))
    return rows


def staged_rows(path: Path, config: Config) -> list[Row] | None:
    """``stage_caliper``'s rows, or None when it declines the file."""
    with duckdb.connect() as con:
        KeyMaker(SECRET).install_sql(con)
        if not stage_caliper(con, path, "staged", config=config):
            assert not con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE temporary"
            ).fetchall()[0][0]
            return None
        columns = [
            "epoch_us(event_time)" if name == "event_time" else name for name in STAGE_COLUMNS
        ]
        assert [row[0] for row in con.execute("DESCRIBE staged").fetchall()] == list(STAGE_COLUMNS)
        rows = con.execute(f"SELECT {', '.join(columns)} FROM staged").fetchall()
        leftovers = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name <> 'staged'"
        ).fetchall()
        assert leftovers == []
    return [
        (*row[:14], None if row[14] is None else [(a["kind"], a["value"]) for a in row[14]])
        for row in rows
    ]


def assert_same(path: Path, config: Config | None = None) -> list[Row]:
    config = config or Config()
    staged = staged_rows(path, config)
    assert staged is not None, f"{path.name}: the bulk reader declined a JSON Lines file"
    # Staged rows come in any order (STAGE_COLUMNS): compare both sides sorted by line, and
    # within a line by the whole row.
    staged = sorted(staged, key=lambda row: (row[0], repr(row)))
    expected = sorted(expected_rows(path, config), key=lambda row: (row[0], repr(row)))
    for got, want in itertools.zip_longest(staged, expected):
        assert got == want, f"{path.name}:{(got or want)[0]}"
    return staged


# --- Hypothesis: generated Caliper JSON Lines files --------------------------------------------

ids = st.sampled_from(
    [
        "urn:uuid:a438f8ac-1da3-4d48-8c86-94a1b387e0f6",
        "URN:UUID:A438F8AC-1DA3-4D48-8C86-94A1B387E0F7",
        "urn:uuid:not-a-uuid",
        "urn:uuid:{a438f8ac1da34d488c8694a1b387e0f6}",
        "https://example.edu/events/1",
        "has space",
        "tab\there",
        "",
        "  ",
        "x" * 600,
        "é-1",
    ]
)
iris = st.sampled_from(
    [
        "https://example.edu/users/554433",
        " https://Example.EDU:8443/users/7 ",
        "http://sis.example/users/stu-1",
        "urn:person:1",
        "stu-1",
        "",
        " ",
        "HTTPS://app.example",
        "https://a@b.example/x",
        "http:/broken",
        "https://[::1]/x",
        "ftp://files.example/x",
        "\x00https://x.example",
    ]
)
types = st.sampled_from(
    [
        "ViewEvent",
        "NavigationEvent",
        "SessionEvent",
        "ToolUseEvent",
        "AssessmentEvent",
        "Event",
        "viewevent",
        "http://purl.imsglobal.org/caliper/v1/SessionEvent",
        "NoSuchEvent",
        "it's",
        "",
        "Person",
        "SoftwareApplication",
        "CourseSection",
        "Organization",
        "AssignableDigitalResource",
        "WebPage",
        "Group",
        "Membership",
        "BooKmark",
    ]
)
actions = st.sampled_from(
    [
        "Viewed",
        "NavigatedTo",
        "LoggedIn",
        "LoggedOut",
        "TimedOut",
        " Used ",
        "http://purl.imsglobal.org/vocab/caliper/v1/action#LoggedOut",
        "",
        " ",
    ]
)
times = st.sampled_from(
    [
        "2026-11-11T14:13:14.000Z",
        "2026-11-11T14:13:14Z",
        "2026-11-11T14:13:14",
        "2026-11-11T14:13:14.5+05:30",
        "2026-11-11T14:13:14-08:00",
        " 2026-11-11T14:13:14Z ",
        "2026-11-11 14:13:14Z",
        "2026-02-30T00:00:00Z",
        "2026-11-11",
        "yesterday",
        "2026-11-11T24:00:00Z",
    ]
)
durations = st.sampled_from(
    ["PT3000S", "PT1H0M0S", "P1DT2H", "P1W", "PT0.5S", "P1Y", "PT", "P1DT", "3000", " PT5M "]
)
roles = st.sampled_from(
    [
        "Learner",
        "Instructor",
        "Instructor#TeachingAssistant",
        "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
        "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant",
        "Mentor",
        "Parent",
        "districtAdministrator",
        "Guardian",
        "",
        "STUDENT",
    ]
)
good_ids = st.sampled_from(
    [
        "urn:uuid:a438f8ac-1da3-4d48-8c86-94a1b387e0f6",
        "URN:UUID:A438F8AC-1DA3-4D48-8C86-94A1B387E0F7",
        "https://example.edu/events/1",
    ]
)
event_types = st.sampled_from(
    ["ViewEvent", "SessionEvent", "toolUseEvent", "http://purl.imsglobal.org/caliper/v1/Event"]
)
actors = st.sampled_from(
    [
        "https://example.edu/users/554433",
        {"id": "https://example.edu/users/554433", "type": "Person"},
        {"@id": " http://sis.example/users/stu-1 ", "@type": "Person"},
        {"id": "stu-2", "type": "Person", "extensions": {"x": 1}},
    ]
)
good_actions = st.sampled_from(["Viewed", "LoggedOut", "TimedOut", "Used", " LoggedIn "])
good_times = st.sampled_from(
    ["2026-11-11T14:13:14.000Z", "2026-11-11T14:13:14", "2026-11-11T14:13:14.5+05:30"]
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.just(1.5))


def maybe(strategy: st.SearchStrategy[Any], p_missing: float = 0.3) -> st.SearchStrategy[Any]:
    """A value, or (about ``p_missing`` of the time) the marker that the key is left out."""
    return mostly(strategy, st.just(MISSING), p_missing)


def mostly(
    good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], p_bad: float = 0.15
) -> st.SearchStrategy[Any]:
    """``good`` most of the time, so that most generated events are valid and read by SQL."""
    return st.integers(0, 99).flatmap(lambda n: bad if n < p_bad * 100 else good)


MISSING = object()


@st.composite
def nodes(draw: st.DrawFn, depth: int = 0) -> Any:
    """An entity: a bare IRI, or an object with (@)id/(@)type and maybe a parent org."""
    good_iris = st.sampled_from(
        ["https://example.edu/sections/1", "https://App.example:8443/x?y#z", "urn:org:7"]
    )
    if draw(st.integers(0, 4)) == 0:
        return draw(mostly(good_iris, st.one_of(iris, scalars), 0.4))
    old = draw(st.integers(0, 5)) == 0
    node: dict[str, Any] = {}
    node_id, node_type = draw(maybe(mostly(good_iris, iris, 0.4))), draw(maybe(types))
    if node_id is not MISSING:
        node["@id" if old else "id"] = node_id
    if node_type is not MISSING:
        node["@type" if old else "type"] = node_type
    if depth < 4 and draw(st.booleans()):
        node["subOrganizationOf"] = draw(nodes(depth + 1))
    return node


@st.composite
def events(draw: st.DrawFn) -> Any:
    """A Caliper event (1.0, 1.1 or 1.2 shaped), often with something missing or wrong."""
    old = draw(st.integers(0, 5)) == 0
    event: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value is not MISSING:
            event[key] = value

    if draw(st.booleans()):
        put("@context", "http://purl.imsglobal.org/ctx/caliper/v1p2")
    bad = st.one_of(st.just(MISSING), scalars)
    put("@id" if old else "id", draw(mostly(good_ids, st.one_of(ids, bad), 0.3)))
    put("@type" if old else "type", draw(mostly(event_types, st.one_of(types, bad))))
    put("actor", draw(mostly(actors, st.one_of(nodes(), bad))))
    put("action", draw(mostly(good_actions, st.one_of(actions, bad))))
    put("object", draw(maybe(nodes(), 0.1)))
    put("eventTime", draw(mostly(good_times, st.one_of(times, bad))))
    put("edApp", draw(maybe(nodes())))
    put("group", draw(maybe(nodes())))
    if draw(st.booleans()):
        membership: dict[str, Any] = {"type": "Membership"}
        put_roles = draw(
            maybe(st.one_of(st.lists(roles, max_size=3), roles, scalars, st.just([["Learner"]])))
        )
        if put_roles is not MISSING:
            membership["roles"] = put_roles
        if draw(st.booleans()):
            membership["organization"] = draw(nodes())
        event["membership"] = membership
    if draw(st.booleans()):
        session: dict[str, Any] = {"id": "https://example.edu/sessions/1", "type": "Session"}
        session_duration = draw(maybe(st.one_of(durations, scalars)))
        if session_duration is not MISSING:
            session["duration"] = session_duration
        event["session"] = session
    put("duration", draw(maybe(st.one_of(durations, scalars), 0.8)))
    if draw(st.integers(0, 4)) == 0:
        key = draw(
            st.sampled_from(
                ["deviceType", "userRole", "initiated_by", "http://x.example/ext#launchType"]
            )
        )
        event["extensions"] = {key: draw(st.one_of(roles, st.just("Self"), scalars))}
    if isinstance(event.get("object"), dict) and draw(st.integers(0, 3)) == 0:
        event["object"]["isPartOf"] = draw(nodes())
    if draw(st.integers(0, 19)) == 0:
        event["federatedSession"] = {
            "messageParameters": {"aud": ["c1"], "azp": "c1", "deployment_id": "d"}
        }
    return event


entities = st.fixed_dictionaries({"id": iris, "type": types})
records = st.one_of(events(), events(), events(), events(), entities, scalars, st.just({"a": 1}))


@st.composite
def lines(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 19))
    if kind < 14:
        return json.dumps(draw(records), separators=(",", ":") if kind % 2 else None)
    if kind < 16:  # an envelope on one line
        return json.dumps(
            {
                "sensor": "https://example.edu/sensor",
                "sendTime": "2026-11-11T14:13:14.000Z",
                "data": draw(st.lists(records, max_size=3)),
            }
        )
    return draw(
        st.sampled_from(
            [
                "",
                "   ",
                "{oops",
                '{"type": "ViewEvent", "type": "Person", "id": "x"}',
                '{"actor": {"id": "a", "id": "b"}, "action": "Viewed"}',
                "[1, 2]",
                "[]",
                '"just a string"',
                "null",
                '{"a": NaN}',
                '{"s": "\\ud800"}',
                "\x0b",
                '{"type": "Person"} trailing',
                # DuckDB's JSON reader takes these; Python's does not (not valid JSON)
                '{"type":"Person","id":"x",}',
                '{"type":"Person","id":"x","a":[1, ]}',
                '{"type":"Person","id":"x","score":nan}',
                '{"type":"Person","id":"x","score":-Inf}',
                '{"type":"Person","id":"x","score":NaN}',
            ]
        )
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.lists(lines(), min_size=1, max_size=12), crlf=st.booleans(), end=st.booleans())
def test_staged_rows_are_read_calipers_outcomes(
    tmp_path_factory: pytest.TempPathFactory, body: list[str], crlf: bool, end: bool
) -> None:
    path = tmp_path_factory.mktemp("bulk") / "events.jsonl"
    newline = "\r\n" if crlf else "\n"
    path.write_bytes((newline.join(body) + (newline if end else "")).encode())
    assert_same(path)


@settings(max_examples=50, deadline=None)
@given(body=st.lists(events(), min_size=1, max_size=8))
def test_sis_id_pattern_gives_the_same_keys(
    tmp_path_factory: pytest.TempPathFactory, body: list[Any]
) -> None:
    path = tmp_path_factory.mktemp("bulk") / "events.jsonl"
    path.write_text("\n".join(json.dumps(event) for event in body) + "\n")
    assert_same(path, Config(sis_id_pattern=r"/users/(?P<id>[^/]+)$"))


# --- Real files -------------------------------------------------------------------------------


def _caliper_fixtures(fixtures_dir: Path) -> list[Path]:
    files = sorted((fixtures_dir / "caliper-common-fixtures" / "fixtures").rglob("*.json"))
    if not files:
        pytest.skip(f"no Caliper fixtures under {fixtures_dir / 'caliper-common-fixtures'}")
    return files


def test_fixture_files_are_not_json_lines_so_the_bulk_reader_declines_them(
    fixtures_dir: Path,
) -> None:
    # The IMS fixtures are pretty-printed documents (events, entities, envelopes): none is
    # JSON Lines, so every one is left to read_caliper.
    for path in _caliper_fixtures(fixtures_dir):
        assert staged_rows(path, Config()) is None, path.name


def test_every_fixture_as_a_line_of_a_json_lines_file(fixtures_dir: Path, tmp_path: Path) -> None:
    # The same documents, one per line: events, thinned events, entities, envelopes, the
    # endpoint configuration payload (rejected), each with the outcome read_caliper gives it.
    documents = [json.loads(p.read_text()) for p in _caliper_fixtures(fixtures_dir)]
    path = tmp_path / "fixtures.jsonl"
    path.write_text("".join(json.dumps(document) + "\n" for document in documents))
    staged = assert_same(path)
    assert {row[1] for row in staged} == {"event", "entity", "rejected"}


@pytest.mark.parametrize("size", ["s", "m"])
def test_the_benchmark_file_head(size: str, tmp_path: Path) -> None:
    source = REPO / "benchmarks" / ".cache" / size / "usage" / "caliper.jsonl"
    if not source.exists():
        pytest.skip(f"{source} not generated (python -m benchmarks --size {size})")
    path = tmp_path / "head.jsonl"
    with source.open() as lines, path.open("w") as head:
        head.writelines(itertools.islice(lines, 3000))
    staged = assert_same(path, Config(sis_id_pattern=r"/users/(?P<id>[^/]+)$"))
    assert len(staged) >= 3000


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("event.json", '{\n  "type": "ViewEvent",\n  "action": "Viewed"\n}\n'),
        ("events.json", '[{"type": "Person", "id": "x"},\n {"type": "Person", "id": "y"}]\n'),
        ("envelope.json", '{\n "sensor": "s", "sendTime": "t", "data": []\n}\n'),
        ("empty.json", ""),
    ],
)
def test_files_that_are_not_json_lines_are_declined(name: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert staged_rows(path, Config()) is None


def test_a_bare_carriage_return_or_bad_utf8_is_declined(tmp_path: Path) -> None:
    cr = tmp_path / "cr.jsonl"
    cr.write_bytes(b'{"type": "Person", "id": "x"}\r{"type": "Person", "id": "y"}\n')
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"type": "Person", "id": "caf\xe9"}\n')
    assert staged_rows(cr, Config()) is None
    assert staged_rows(latin, Config()) is None


def test_lines_numbers_count_blank_lines_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    event = {
        "id": "urn:uuid:a438f8ac-1da3-4d48-8c86-94a1b387e0f6",
        "type": "ViewEvent",
        "actor": "https://example.edu/users/1",
        "action": "Viewed",
        "eventTime": "2020-01-01T10:00:00Z",
    }
    path.write_text("\ufeff" + json.dumps(event) + "\n\n  \n{oops\n" + json.dumps(event))
    staged = assert_same(path)
    assert [(row[0], row[1]) for row in staged] == [(1, "event"), (4, "rejected"), (5, "event")]


def test_a_broken_last_line_ending_in_a_carriage_return_is_declined(tmp_path: Path) -> None:
    # Python reads the lone \r as a line end; DuckDB's line scanner would not, so the line
    # numbers could differ: the bulk reader leaves the file to read_caliper.
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"type": "Person", "id": "x"}\r\n{"a":\r')
    assert staged_rows(path, Config()) is None
