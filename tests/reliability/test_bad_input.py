"""Bad input: every shared fixture and every generated corruption, through every reader.

The oracle is the same for every input. A reader either succeeds, counting every record it
read as loaded, skipped or rejected (the total checked against a count this suite makes
itself, without the reader), or raises an :class:`~edtech_map.errors.EdtechMapError` whose
message names the file. Any other exception is a bug: the test lets it propagate and fails.
Rejections name ``file:line`` and the field.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from connectors import caliper, oneroster_csv, usage_csv, xapi
from connectors.base import SyncContext, SyncReport
from connectors.usage_events import EntityRecord, Parsed, Rejection, Skip, UsageEvent
from edtech_map.cli import app
from edtech_map.errors import EdtechMapError, InventoryError
from edtech_map.inventory import load_ecosystem, loads_ecosystem
from edtech_map.privacy import KeyMaker
from edtech_map.spreadsheet import import_spreadsheet
from edtech_map.store import Store
from edtech_map.usage import ingest, sniff_format
from tests.reliability.corruptions import (
    BASE_BUNDLE,
    INVENTORY_BASE,
    Case,
    bundle_cases,
    csv_records,
    inventory_cases,
    json_line_cases,
    usage_csv_cases,
    zip_cases,
)

KEYS = KeyMaker(b"reliability-suite-key-0123456789")
TRIED: Counter[str] = Counter()
"""Inputs tried, by reader; ``docs/reliability.md`` quotes the totals (see the last test)."""


# -- the oracle ---------------------------------------------------------------------------------


def named_error(error: EdtechMapError, *names: str) -> None:
    """An error must say which file (or bundle) it is about."""
    text = str(error)
    assert text.strip(), "an empty error message"
    assert any(name in text for name in names), f"the error names none of {names}: {text}"
    assert "Traceback" not in text


def write(case: Case, folder: Path) -> Path:
    for name, data in case.files.items():
        (folder / name).write_bytes(data)
    return folder / next(iter(case.files)) if len(case.files) == 1 else folder


def json_records(value: Any, fmt: str) -> int:
    """How many records a parsed JSON value holds, by the formats' own rules (not the reader)."""
    if isinstance(value, list):
        if fmt == "xapi":  # each element is one statement (a Group's counts once per member)
            return sum(json_records(item, fmt) if isinstance(item, dict) else 1 for item in value)
        return len(value)
    if isinstance(value, dict):
        if fmt == "caliper" and isinstance(value.get("data"), list) and "sensor" in value:
            return len(value["data"])
        if fmt == "xapi" and isinstance(value.get("statements"), list):
            return sum(json_records(item, fmt) for item in value["statements"])
        actor = value.get("actor")
        group = actor if isinstance(actor, dict) and actor.get("objectType") == "Group" else {}
        members = group.get("member")
        if fmt == "xapi" and isinstance(members, list) and members:
            return len(members)
    return 1


def expected_json_records(path: Path, fmt: str) -> int | None:
    """Records in a JSON or JSON Lines file; ``None`` when the file is not entirely valid JSON
    (the reader must then reject something rather than a known number of records)."""
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig", errors="replace")
    if path.suffix == ".jsonl":  # lines as a text file has them: \n, \r\n or \r end one
        lines = [line for line in io.StringIO(text, newline=None) if line.strip()]
        total = 0
        for line in lines:
            try:
                total += json_records(json.loads(line), fmt)
            except (json.JSONDecodeError, RecursionError):
                total += 1
        return total
    try:
        return json_records(json.loads(text), fmt) if text.strip() else 0
    except (json.JSONDecodeError, RecursionError):
        return None


def check_usage_outcomes(outcomes: list[Parsed], path: Path, expected: int | None) -> None:
    for outcome in outcomes:
        assert isinstance(outcome, UsageEvent | Rejection | EntityRecord | Skip), outcome
        if isinstance(outcome, Rejection):
            assert outcome.line >= 1 and outcome.field and outcome.reason, outcome
    if expected is None:
        assert any(isinstance(o, Rejection) for o in outcomes), (
            f"{path}: not valid JSON, yet nothing was rejected (a silent drop)"
        )
    else:
        assert len(outcomes) == expected, f"{path}: {len(outcomes)} outcomes for {expected} records"


def read_usage(reader: Callable[[Path], Iterator[Parsed]], path: Path, fmt: str) -> None:
    """Run one usage reader over one file under the oracle."""
    TRIED[f"{fmt} reader"] += 1
    try:
        outcomes = list(reader(path))
    except EdtechMapError as error:
        named_error(error, path.name)
        return
    if fmt == "csv":
        expected: int | None = csv_records(path.read_bytes(), empty_fields_are_blank=True)
    else:
        expected = expected_json_records(path, fmt)
    check_usage_outcomes(outcomes, path, expected)


def sync_bundle(store: Store, path: Path, source: str) -> SyncReport | EdtechMapError:
    """Import a OneRoster bundle under the oracle; on an error the source has no rows."""
    TRIED["oneroster_csv"] += 1
    ctx = SyncContext(store=store, source=source, options={"path": path}, force=True)
    try:
        report = oneroster_csv.sync(ctx)
    except EdtechMapError as error:
        named_error(error, path.name, *BASE_BUNDLE, *(p.name for p in _csvs(path)))
        assert not [c for c in store.counts() if c["source"] == source]
        assert store.sync_state(source) == []
        return error
    for stream in report.streams.values():
        assert stream.balanced, stream
        for reason in stream.rejections + stream.skips:
            assert re.match(r"^\S+:\d+ \S", reason), f"no file:line in {reason!r}"
    return report


def _csvs(path: Path) -> list[Path]:
    return sorted(path.glob("*.csv")) if path.is_dir() else []


def check_counts_against_files(report: SyncReport, files: dict[str, bytes]) -> None:
    """Each stream read as many records as the suite counts in its file."""
    by_name = {name.lower(): data for name, data in files.items()}
    for stream in report.streams.values():
        name = (stream.where or "").rsplit("/", 1)[-1].lower()
        if name in by_name:
            assert stream.read == csv_records(by_name[name]), (stream.where, stream)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store.open(tmp_path_factory.mktemp("bad-input") / "store.duckdb") as opened:
        yield opened


# -- the shared fixtures ------------------------------------------------------------------------


def fixture_files(root: Path, *suffixes: str) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def test_every_shared_json_fixture_through_both_json_readers(fixtures_dir: Path) -> None:
    files = fixture_files(fixtures_dir, ".json")
    assert len(files) > 250
    for path in files:
        read_usage(lambda p: caliper.read_caliper(p, KEYS), path, "caliper")
        read_usage(lambda p: xapi.read_xapi(p, KEYS), path, "xapi")


def test_every_shared_fixture_through_format_sniffing(fixtures_dir: Path) -> None:
    for path in fixture_files(fixtures_dir, ".json", ".csv", ".xml", ".md", ".zip"):
        TRIED["sniff_format"] += 1
        try:
            assert sniff_format(path) in ("caliper", "xapi", "csv")
        except EdtechMapError as error:
            named_error(error, path.name)


def test_every_shared_csv_fixture_as_usage_csv(fixtures_dir: Path) -> None:
    for path in fixture_files(fixtures_dir, ".csv"):
        read_usage(lambda p: usage_csv.read_usage_csv(p, KEYS), path, "csv")


def test_every_shared_csv_folder_and_zip_as_a_oneroster_bundle(
    fixtures_dir: Path, store: Store
) -> None:
    folders = sorted({p.parent for p in fixture_files(fixtures_dir, ".csv")})
    zips = fixture_files(fixtures_dir, ".zip")
    assert len(folders) >= 3 and len(zips) >= 4
    loaded = 0
    for number, path in enumerate(folders + zips):
        outcome = sync_bundle(store, path, f"fixture-{number}")
        if isinstance(outcome, SyncReport):
            loaded += 1
            if path.is_dir():
                check_counts_against_files(outcome, {p.name: p.read_bytes() for p in _csvs(path)})
            else:
                with zipfile.ZipFile(path) as archive:
                    check_counts_against_files(
                        outcome,
                        {
                            Path(n).name: archive.read(n)
                            for n in archive.namelist()
                            if n.lower().endswith(".csv")
                        },
                    )
    assert loaded >= 5, "the real OneRoster bundles must load"


# -- generated corruptions ----------------------------------------------------------------------


@pytest.mark.parametrize("case", bundle_cases() + zip_cases(), ids=repr)
def test_a_corrupted_oneroster_bundle(case: Case, tmp_path: Path, store: Store) -> None:
    path = write(case, tmp_path)
    outcome = sync_bundle(store, path, f"case-{case.name}")
    if case.kind in ("valid", "bom_and_crlf", "in_one_folder", "stored_not_deflated"):
        assert isinstance(outcome, SyncReport), outcome
        assert outcome.rejected == 0 and outcome.loaded == 12
    if case.kind in ("zip_bomb_ratio", "path_traversal", "absolute_path", "windows_path"):
        assert isinstance(outcome, EdtechMapError), "an unsafe zip must be refused"
    if isinstance(outcome, SyncReport) and path.is_dir():
        check_counts_against_files(outcome, case.files)
    if case.kind in ("duplicate_ids", "wrong_types", "ragged_row", "short_row") and isinstance(
        outcome, SyncReport
    ):
        assert outcome.rejected or outcome.warnings, "a bad record passed without a word"
    if case.kind == "dangling_references" and isinstance(outcome, SyncReport):
        assert outcome.warnings, "a dangling reference passed without a warning"


@pytest.mark.parametrize(
    "case", json_line_cases("caliper") + json_line_cases("xapi") + usage_csv_cases(), ids=repr
)
def test_a_corrupted_usage_file_through_its_reader_and_ingest(
    case: Case, tmp_path: Path, store: Store
) -> None:
    path = write(case, tmp_path)
    fmt = "csv" if path.suffix == ".csv" else case.name.split(".")[0]
    readers: dict[str, Callable[[Path], Iterator[Parsed]]] = {
        "caliper": lambda p: caliper.read_caliper(p, KEYS),
        "xapi": lambda p: xapi.read_xapi(p, KEYS),
        "csv": lambda p: usage_csv.read_usage_csv(p, KEYS),
    }
    read_usage(readers[fmt], path, fmt)
    before = store.counts()
    TRIED["ingest"] += 1
    try:
        report = ingest(store, [path], format=fmt)  # type: ignore[arg-type]
    except EdtechMapError as error:
        named_error(error, path.name)
        assert store.counts() == before, "a failed ingest changed the store"
        return
    (file_report,) = report.files
    assert file_report.balanced, file_report
    for reason in file_report.rejections:
        assert re.match(rf"^.*{re.escape(path.name)}:\d+ \S+: ", reason), reason
    if case.kind in ("valid", "bom_and_crlf"):
        assert report.rejected == 0 and report.read > 0


@pytest.mark.parametrize("case", inventory_cases(), ids=repr)
def test_a_corrupted_inventory(case: Case, tmp_path: Path) -> None:
    path = write(case, tmp_path)
    TRIED["validate"] += 1
    commands = [["validate", str(path)], ["validate", str(path), "--json"]]
    for args in commands if path.stat().st_size < 100_000 else []:  # huge ones: loaded below
        result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code in (0, 1), result.output[-2000:]
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output
        if result.exit_code == 1 and "--json" not in args:
            assert path.name in result.output, result.output[-2000:]
    must_load = case.kind in ("valid", "bom_and_crlf", "huge_value")
    try:
        ecosystem = load_ecosystem(path)
    except InventoryError as error:
        assert not must_load, f"{case} must load: {error}"
        named_error(error, str(path))
        assert error.problems
        for problem in error.problems:
            assert problem.message
        return
    except EdtechMapError as error:
        named_error(error, path.name)
        return
    assert must_load, f"{case} was accepted"
    assert {tool.id for tool in ecosystem.tools} == {"mathly", "readly"}


def import_tools(path: Path) -> None:
    """A CSV through the inventory spreadsheet import (lenient), under the oracle."""
    TRIED["import_spreadsheet"] += 1
    try:
        _, report = import_spreadsheet(path, loads_ecosystem(INVENTORY_BASE), skip_invalid=True)
    except EdtechMapError as error:
        named_error(error, path.name)
        return
    outcomes = len(report.added) + len(report.updated) + len(report.unchanged)
    skipped = len({problem.line for problem in report.skipped})
    assert report.rows_read == csv_records(path.read_bytes(), empty_fields_are_blank=True)
    assert outcomes + skipped >= report.rows_read or not report.rows_read, report


def test_every_csv_fixture_and_corruption_as_an_inventory_spreadsheet(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    for path in fixture_files(fixtures_dir, ".csv"):
        import_tools(path)
    for case in bundle_cases() + usage_csv_cases():
        for name, data in case.files.items():
            if name in ("users.csv", "usage.csv") and case.kind != "valid":
                path = tmp_path / f"{case.kind}-{name}"
                path.write_bytes(data)
                import_tools(path)


# -- the 50 MB single line ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fifty_megabyte_line(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 50 MB file that is one line: a JSON string value that never ends in a line break."""
    path = tmp_path_factory.mktemp("huge") / "one-line.jsonl"
    chunk = b"a" * (1024**2)
    with path.open("wb") as handle:
        handle.write(b'{"id": "urn:uuid:1", "actor": "')
        for _ in range(50):
            handle.write(chunk)
        handle.write(b'"}')  # no final newline either
    return path


def test_a_50_megabyte_single_line_is_one_rejected_record(fifty_megabyte_line: Path) -> None:
    TRIED["50 MB line"] += 1
    outcomes = list(caliper.read_caliper(fifty_megabyte_line, KEYS))
    assert len(outcomes) == 1 and isinstance(outcomes[0], Rejection), outcomes[:1]


def test_a_50_megabyte_single_line_csv_is_refused_or_rejected(
    fifty_megabyte_line: Path, tmp_path: Path, store: Store
) -> None:
    TRIED["50 MB line"] += 1
    folder = tmp_path / "bundle"
    folder.mkdir()
    users = folder / "users.csv"
    with users.open("wb") as handle:
        handle.write(b"sourcedId,role\n")
        with fifty_megabyte_line.open("rb") as source:
            while block := source.read(1024**2):
                handle.write(block.replace(b",", b";"))
    outcome = sync_bundle(store, folder, "huge-line")
    if isinstance(outcome, SyncReport):
        assert outcome.loaded == 0 and outcome.rejected == 1


# -- hypothesis: the parsers, fuzzed ------------------------------------------------------------

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
cells = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | cells
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(cells, inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(
    rows=st.lists(st.lists(cells, min_size=0, max_size=9), max_size=6),
    file=st.sampled_from(["users.csv", "enrollments.csv", "classes.csv", "orgs.csv"]),
)
def test_fuzzed_oneroster_rows(
    rows: list[list[str]], file: str, tmp_path: Path, store: Store
) -> None:
    TRIED["fuzz oneroster"] += 1
    folder = tmp_path / f"fuzz-{TRIED['fuzz oneroster']}"
    folder.mkdir()
    header = BASE_BUNDLE[file].splitlines()[0]
    text = header + "\n" + "".join(",".join(json.dumps(c) for c in row) + "\n" for row in rows)
    (folder / file).write_text(text, encoding="utf-8")
    outcome = sync_bundle(store, folder, f"fuzz-{TRIED['fuzz oneroster']}")
    if isinstance(outcome, SyncReport):
        check_counts_against_files(outcome, {file: text.encode()})


@FUZZ
@given(
    lines=st.lists(
        st.one_of(
            json_values.map(json.dumps),
            st.fixed_dictionaries(
                {
                    "id": cells,
                    "actor": json_values,
                    "verb": json_values,
                    "object": json_values,
                    "action": cells,
                    "eventTime": cells,
                    "timestamp": cells,
                    "type": cells,
                }
            ).map(json.dumps),
            cells,
        ),
        max_size=6,
    ),
    fmt=st.sampled_from(["caliper", "xapi"]),
)
def test_fuzzed_json_lines(lines: list[str], fmt: str, tmp_path: Path) -> None:
    TRIED[f"fuzz {fmt}"] += 1
    path = tmp_path / f"fuzz-{TRIED[f'fuzz {fmt}']}.jsonl"
    path.write_text("\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines) + "\n")
    reader = caliper.read_caliper if fmt == "caliper" else xapi.read_xapi
    read_usage(lambda p: reader(p, KEYS), path, fmt)


@FUZZ
@given(
    rows=st.lists(st.lists(cells, min_size=6, max_size=6), max_size=6),
)
def test_fuzzed_usage_csv_rows(rows: list[list[str]], tmp_path: Path) -> None:
    TRIED["fuzz usage csv"] += 1
    path = tmp_path / f"fuzz-{TRIED['fuzz usage csv']}.csv"
    header = "date,user_id,role,school_id,app,minutes\n"
    path.write_text(header + "".join(",".join(json.dumps(c) for c in r) + "\n" for r in rows))
    read_usage(lambda p: usage_csv.read_usage_csv(p, KEYS), path, "csv")


inventory_data = st.fixed_dictionaries(
    {"district": st.one_of(json_values, st.fixed_dictionaries({"id": cells, "name": cells}))},
    optional={
        "version": json_values,
        "tools": st.lists(
            st.fixed_dictionaries(
                {"id": cells, "name": cells},
                optional={"category": cells, "grades": json_values, "audience": json_values},
            ),
            max_size=3,
        ),
        "schools": json_values,
        "flows": json_values,
    },
)


@FUZZ
@given(data=inventory_data | json_values)
def test_fuzzed_inventory_yaml(data: Any) -> None:
    TRIED["fuzz inventory"] += 1
    try:
        loads_ecosystem(json.dumps(data), path=Path("fuzz.yaml"))  # JSON is YAML
    except InventoryError as error:
        named_error(error, "fuzz.yaml")
        assert error.problems


@FUZZ
@given(text=st.text(max_size=200))
def test_fuzzed_inventory_text(text: str) -> None:
    TRIED["fuzz inventory"] += 1
    try:
        loads_ecosystem(text, path=Path("fuzz.yaml"))
    except InventoryError as error:
        named_error(error, "fuzz.yaml")


def test_zz_count_what_was_tried() -> None:
    """Print the figures docs/reliability.md quotes (run with -s to see them)."""
    kinds = {c.kind for c in bundle_cases() + zip_cases() + inventory_cases()}
    kinds |= {c.kind for c in json_line_cases("caliper") + usage_csv_cases()}
    print(f"\nreliability: {sum(TRIED.values())} inputs tried; {len(kinds)} corruption kinds")
    for name, count in sorted(TRIED.items()):
        print(f"  {name}: {count}")
    assert len(kinds) >= 25
