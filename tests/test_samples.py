"""The bundled sample district and the seeded workspace generator.

The size-S workspace is generated once per session; the tests read its files back with the
csv and json modules only, so they check what was written, not what the generator meant.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from edtech_map.cli import app
from edtech_map.inventory import load_ecosystem
from edtech_map.model import DpaStatus, Ecosystem, Subject, Tool, ToolCategory, parse_grades
from edtech_map.samples import (
    AS_OF,
    FILES,
    RIVERSIDE_YAML,
    WorkspaceManifest,
    generate_workspace,
)

CALIPER_CONTEXT = "http://purl.imsglobal.org/ctx/caliper/v1p2"
ROSTER_FILES = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")


# ----- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sample-s")
    generate_workspace(folder, size="s", seed=7)
    return folder


@pytest.fixture(scope="session")
def manifest(workspace: Path) -> WorkspaceManifest:
    return WorkspaceManifest.model_validate_json((workspace / "manifest.json").read_text())


@pytest.fixture(scope="session")
def eco(workspace: Path) -> Ecosystem:
    return load_ecosystem(workspace / "ecosystem.yaml")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def caliper_events(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            document = json.loads(line)
            if "data" in document and "sensor" in document:
                yield from document["data"]
            else:
                yield document


def edapp_id(event: dict[str, Any]) -> str:
    ed_app = event["edApp"]
    return str(ed_app["id"] if isinstance(ed_app, dict) else ed_app)


@pytest.fixture(scope="session")
def events(workspace: Path) -> list[dict[str, Any]]:
    return list(caliper_events(workspace / FILES["caliper"]))


@pytest.fixture(scope="session")
def usage_rows(workspace: Path) -> list[dict[str, str]]:
    return read_csv(workspace / FILES["usage_csv"])


@pytest.fixture(scope="session")
def users(workspace: Path) -> dict[str, dict[str, str]]:
    return {row["sourcedId"]: row for row in read_csv(workspace / FILES["users"])}


def tool_of_app(eco: Ecosystem) -> dict[str, str]:
    return {app: tool.id for tool in eco.tools for app in tool.identifiers.caliper_app_ids}


def tool_of_domain(eco: Ecosystem) -> dict[str, str]:
    return {domain: tool.id for tool in eco.tools for domain in tool.identifiers.domains}


def roles_by_tool(
    eco: Ecosystem, events: list[dict[str, Any]], rows: list[dict[str, str]]
) -> dict[str, Counter[str]]:
    """Per tool id, how many events or CSV rows each role had (Learner/Instructor/...)."""
    by_app, by_domain = tool_of_app(eco), tool_of_domain(eco)
    roles: dict[str, Counter[str]] = defaultdict(Counter)
    for event in events:
        tool = by_app.get(edapp_id(event))
        if tool:
            roles[tool][event["membership"]["roles"][0]] += 1
    label = {"Student": "Learner", "Teacher": "Instructor", "Administrator": "Administrator"}
    for row in rows:
        tool = by_domain.get(row["Domain"])
        if tool:
            roles[tool][label[row["Role"]]] += 1
    return roles


# ----- the hand-written district ----------------------------------------------------------


def test_sample_district_validates_and_covers_every_category() -> None:
    eco = Ecosystem.model_validate(YAML(typ="safe").load(RIVERSIDE_YAML))

    assert len(eco.schools) >= 6
    assert {school.type.value for school in eco.schools} >= {"elementary", "middle", "high"}
    assert len(eco.tools) >= 60
    assert {tool.category for tool in eco.tools} == set(ToolCategory)
    assert all(school.roster_ids for school in eco.schools)


def test_sample_district_keeps_its_comments(workspace: Path) -> None:
    text = RIVERSIDE_YAML.read_text(encoding="utf-8")

    assert text.count("\n  # ") >= 20
    assert (workspace / "ecosystem.yaml").read_text(encoding="utf-8") == text


def test_sample_district_uses_only_fictional_domains() -> None:
    eco = load_ecosystem(RIVERSIDE_YAML)
    identifiers = [d for t in eco.tools for d in t.identifiers.domains] + [
        a for t in eco.tools for a in t.identifiers.caliper_app_ids
    ]

    assert identifiers
    assert all(".example" in identifier for identifier in identifiers)


def test_renewals_and_dpa_states_are_varied() -> None:
    eco = load_ecosystem(RIVERSIDE_YAML)
    soon = [
        t.id
        for t in eco.tools
        if t.licence and t.licence.renewal_date
        if AS_OF <= t.licence.renewal_date <= AS_OF + timedelta(days=90)
    ]
    states = Counter(t.privacy.status if t.privacy else None for t in eco.tools)

    assert len(soon) >= 3
    assert states[DpaStatus.SIGNED] > len(eco.tools) / 2
    assert states[None] and states[DpaStatus.NONE] and states[DpaStatus.PENDING]
    assert states[DpaStatus.EXPIRED]


# ----- the answer key agrees with the inventory -------------------------------------------


def literal_cells(eco: Ecosystem) -> dict[tuple[str, str, str, str], set[str]]:
    cells: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for tool in eco.tools:
        for school in eco.schools_of(tool):
            for grade in set(tool.grades or school.grades) & set(school.grades):
                for task in tool.learning_tasks:
                    for subject in tool.subjects:
                        if subject is not Subject.ALL:
                            key = (school.id, task.value, subject.value, grade.label)
                            cells[key].add(tool.id)
    return cells


def test_planted_overlaps_are_every_overlap(manifest: WorkspaceManifest, eco: Ecosystem) -> None:
    found = {key: tools for key, tools in literal_cells(eco).items() if len(tools) > 1}
    planted = {
        (c.school, c.task, c.subject, c.grade): set(c.tools) for c in manifest.planted.overlaps
    }

    assert len({c.school for c in manifest.planted.overlaps}) >= 3
    assert planted == found


def test_planted_gaps_are_every_cell_covered_elsewhere_but_not_here(
    manifest: WorkspaceManifest, eco: Ecosystem
) -> None:
    cells = literal_cells(eco)
    covered = {(task, subject, grade) for (_, task, subject, grade) in cells}
    found = {
        (school.id, task, subject, grade)
        for school in eco.schools
        for (task, subject, grade) in covered
        if grade in {g.label for g in school.grades}
        and (school.id, task, subject, grade) not in cells
    }
    planted = {(g.school, g.task, g.subject, g.grade) for g in manifest.planted.gaps}

    assert len({(g.school, g.task) for g in manifest.planted.gaps}) >= 2
    assert planted == found


def test_planted_privacy_problems_match_the_inventory(
    manifest: WorkspaceManifest, eco: Ecosystem
) -> None:
    planted = manifest.planted
    not_in_force = {
        t.id
        for t in eco.tools
        if not (
            t.privacy and (t.privacy.in_force(AS_OF) or t.privacy.status.value == "not_required")
        )
    }
    missing = {
        t.id
        for t in eco.tools
        if t.privacy is None or t.privacy.status.value in ("none", "pending", "declined")
    }
    pii_flows = {f.key for f in eco.flows if f.carries_student_pii and f.target in not_in_force}
    scope = {
        (f.key, tuple(sorted(e.value for e in set(f.data) - set(t.privacy.data_elements))))
        for f in eco.flows
        for t in [eco.tool(f.target)]
        if t.privacy and t.privacy.in_force(AS_OF) and set(f.data) - set(t.privacy.data_elements)
    }

    assert set(planted.missing_dpa) == missing
    assert set(planted.missing_dpa) | set(planted.expired_dpa) == not_in_force
    assert {f.key for f in planted.pii_without_dpa} == pii_flows
    assert len({f.target for f in planted.pii_without_dpa}) >= 3
    assert {(g.key, g.elements) for g in planted.dpa_scope_gaps} == scope


def test_planted_structure_and_ownership_match_the_inventory(
    manifest: WorkspaceManifest, eco: Ecosystem
) -> None:
    dependents: Counter[str] = Counter()
    for tool in eco.tools:
        for ref in {tool.rostered_by, tool.sso_via, *tool.launched_from} - {None}:
            dependents[str(ref)] += 1
    renewing = {
        t.id
        for t in eco.tools
        if t.licence and t.licence.renewal_date
        if t.licence.renewal_date <= AS_OF + timedelta(days=90)
    }

    assert set(manifest.planted.no_owner) == {t.id for t in eco.tools if not t.owner}
    assert set(manifest.planted.single_points_of_failure) == {
        tool for tool, n in dependents.items() if n >= 10
    }
    assert set(manifest.planted.renewals_soon_low_use) <= renewing
    assert set(manifest.planted.renewals_soon_low_use) <= set(
        manifest.planted.never_used + manifest.planted.low_use
    )


def planted_tool_ids(manifest: WorkspaceManifest) -> set[str]:
    p = manifest.planted
    ids = set(p.teacher_only + p.never_used + p.low_use + p.missing_dpa + p.expired_dpa)
    ids |= set(p.no_owner + p.single_points_of_failure + p.renewals_soon_low_use)
    ids |= {tool for cell in p.overlaps for tool in cell.tools}
    ids |= {f.target for f in p.pii_without_dpa} | {g.target for g in p.dpa_scope_gaps}
    return ids


def test_every_planted_id_exists_and_healthy_tools_are_not_planted(
    manifest: WorkspaceManifest, eco: Ecosystem
) -> None:
    tool_ids = {t.id for t in eco.tools}
    school_ids = {s.id for s in eco.schools}
    planted = planted_tool_ids(manifest)

    assert planted <= tool_ids
    assert {c.school for c in manifest.planted.overlaps + manifest.planted.gaps} <= school_ids
    assert len(manifest.planted.teacher_only) >= 3
    assert len(manifest.planted.never_used) >= 3
    assert manifest.healthy
    assert set(manifest.healthy) <= tool_ids
    assert not set(manifest.healthy) & planted
    for tool in manifest.planted.teacher_only:
        assert eco.tool(tool).is_for_students
    for tool in manifest.planted.never_used:
        assert eco.tool(tool).licence is not None


def test_manifest_records_as_of_and_files(manifest: WorkspaceManifest, workspace: Path) -> None:
    assert manifest.as_of == AS_OF
    assert (manifest.size, manifest.seed, manifest.partial) == ("s", 7, ())
    for relative in manifest.files.values():
        assert (workspace / relative).exists(), relative


# ----- the roster ---------------------------------------------------------------------------


def test_roster_counts_match_the_manifest(manifest: WorkspaceManifest, workspace: Path) -> None:
    roster = workspace / "roster"
    rows = {name: read_csv(roster / f"{name}.csv") for name in ROSTER_FILES}
    roles = Counter(row["role"] for row in rows["users"])
    counts = manifest.counts

    assert len(rows["orgs"]) == counts.orgs == counts.schools + 1
    assert len(rows["academicSessions"]) == counts.academic_sessions
    assert len(rows["courses"]) == counts.courses
    assert len(rows["classes"]) == counts.classes
    assert len(rows["users"]) == counts.users
    assert roles["student"] == counts.students
    assert roles["teacher"] == counts.teachers
    assert roles["administrator"] == counts.administrators
    assert len(rows["enrollments"]) == counts.enrollments
    assert 2_000 <= counts.users <= 5_000


def test_roster_references_resolve(
    workspace: Path, users: dict[str, dict[str, str]], eco: Ecosystem
) -> None:
    roster = workspace / "roster"
    orgs = {row["sourcedId"]: row for row in read_csv(roster / "orgs.csv")}
    sessions = {row["sourcedId"] for row in read_csv(roster / "academicSessions.csv")}
    courses = {row["sourcedId"]: row for row in read_csv(roster / "courses.csv")}
    classes = {row["sourcedId"]: row for row in read_csv(roster / "classes.csv")}
    enrollments = read_csv(roster / "enrollments.csv")

    assert {s.roster_ids[0] for s in eco.schools} == {
        org for org, row in orgs.items() if row["type"] == "school"
    }
    assert all(row["parentSourcedId"] in orgs for row in orgs.values() if row["type"] == "school")
    assert all(
        row["orgSourcedId"] in orgs and row["schoolYearSourcedId"] in sessions
        for row in courses.values()
    )
    assert all(row["subjects"] and row["grades"] for row in courses.values())
    for row in classes.values():
        assert row["courseSourcedId"] in courses
        assert row["schoolSourcedId"] in orgs
        assert set(row["termSourcedIds"].split(",")) <= sessions
    for row in users.values():
        assert set(row["orgSourcedIds"].split(",")) <= set(orgs)
        assert row["password"] == ""
        assert row["givenName"] and row["email"]
    assert len({row["sourcedId"] for row in enrollments}) == len(enrollments)
    for row in enrollments:
        assert row["classSourcedId"] in classes
        assert row["userSourcedId"] in users
        assert row["schoolSourcedId"] == classes[row["classSourcedId"]]["schoolSourcedId"]
        assert row["role"] == users[row["userSourcedId"]]["role"]


def test_every_student_is_enrolled_in_their_grade(
    workspace: Path, users: dict[str, dict[str, str]]
) -> None:
    roster = workspace / "roster"
    classes = {row["sourcedId"]: row for row in read_csv(roster / "classes.csv")}
    enrolled: dict[str, set[str]] = defaultdict(set)
    for row in read_csv(roster / "enrollments.csv"):
        enrolled[row["userSourcedId"]].add(classes[row["classSourcedId"]]["grades"])
    students = [u for u in users.values() if u["role"] == "student"]

    assert all(enrolled[u["sourcedId"]] == {u["grades"]} for u in students)


def test_roster_manifest_is_oneroster_1_1_bulk(workspace: Path) -> None:
    properties = {
        row["propertyName"]: row["value"] for row in read_csv(workspace / "roster/manifest.csv")
    }

    assert properties["oneroster.version"] == "1.1"
    assert properties["manifest.version"] == "1.0"
    assert all(properties[f"file.{name}"] == "bulk" for name in ROSTER_FILES)
    assert properties["file.demographics"] == "absent"


@pytest.mark.fixtures
def test_roster_headers_match_a_real_oneroster_1_1_export(
    workspace: Path, fixtures_dir: Path
) -> None:
    real = fixtures_dir / "oneroster-mocker" / "oneroster-example-csv"
    for name in ROSTER_FILES:
        with (real / f"{name}.csv").open(encoding="utf-8") as expected_file:
            expected = next(csv.reader(expected_file))
        with (workspace / "roster" / f"{name}.csv").open(encoding="utf-8") as written_file:
            written = next(csv.reader(written_file))
        assert written == expected, name
    real_manifest = read_csv(real / "manifest.csv")
    ours = read_csv(workspace / "roster" / "manifest.csv")
    file_keys = {r["propertyName"] for r in real_manifest if r["propertyName"].startswith("file.")}
    assert file_keys == {r["propertyName"] for r in ours if r["propertyName"].startswith("file.")}


# ----- usage ----------------------------------------------------------------------------------


def test_caliper_lines_are_caliper_1_2_events(
    workspace: Path,
    manifest: WorkspaceManifest,
    events: list[dict[str, Any]],
    users: dict[str, dict[str, str]],
) -> None:
    lines = (workspace / FILES["caliper"]).read_text(encoding="utf-8").splitlines()
    envelopes = [json.loads(line) for line in lines if line.startswith('{"sensor"')]
    first_day = datetime.combine(
        AS_OF - timedelta(days=manifest.window_days), datetime.min.time(), UTC
    )
    last_day = datetime.combine(AS_OF + timedelta(days=2), datetime.min.time(), UTC)

    assert len(lines) == manifest.counts.caliper_lines
    assert len(events) == manifest.counts.caliper_events
    assert 20_000 <= len(events) <= 60_000
    assert envelopes and len(envelopes) < len(lines)
    assert all(e["dataVersion"] == CALIPER_CONTEXT and e["sendTime"] for e in envelopes)
    assert len({event["id"] for event in events}) == len(events)
    types = Counter(event["type"] for event in events)
    assert {"SessionEvent", "NavigationEvent", "ToolUseEvent", "AssessmentEvent"} <= set(types)
    for event in events:
        assert event["@context"] == CALIPER_CONTEXT
        assert event["id"].startswith("urn:uuid:")
        assert event["actor"]["type"] == "Person"
        user_id = event["actor"]["id"].rsplit("/users/", 1)[1]
        assert user_id in users
        assert event["action"] and event["object"]
        moment = datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
        assert first_day <= moment < last_day
        assert event["membership"]["roles"][0] in ("Learner", "Instructor", "Administrator")
        role = {"Learner": "student", "Instructor": "teacher", "Administrator": "administrator"}
        assert users[user_id]["role"] == role[event["membership"]["roles"][0]]


def test_every_edapp_is_inventoried_or_planted_as_uninventoried(
    manifest: WorkspaceManifest,
    eco: Ecosystem,
    events: list[dict[str, Any]],
    usage_rows: list[dict[str, str]],
) -> None:
    known_apps = set(tool_of_app(eco))
    known_domains = set(tool_of_domain(eco))
    shadow = {u.identifier: u for u in manifest.planted.uninventoried}
    seen_apps = {edapp_id(event) for event in events}
    seen_domains = {row["Domain"] for row in usage_rows}

    assert seen_apps <= known_apps | set(shadow)
    assert seen_domains <= known_domains | set(shadow)
    assert {i for i, u in shadow.items() if u.kind == "caliper_app_id"} <= seen_apps
    assert {i for i, u in shadow.items() if u.kind == "domain"} <= seen_domains
    assert not set(shadow) & (known_apps | known_domains)
    for identifier, shadow_app in shadow.items():
        students = {
            e["actor"]["id"]
            for e in events
            if edapp_id(e) == identifier and e["membership"]["roles"] == ["Learner"]
        } | {
            r["User ID"] for r in usage_rows if r["Domain"] == identifier and r["Role"] == "Student"
        }
        assert shadow_app.students == len(students) > 0, identifier


def test_usage_csv_has_the_documented_columns(
    workspace: Path,
    manifest: WorkspaceManifest,
    usage_rows: list[dict[str, str]],
    users: dict[str, dict[str, str]],
) -> None:
    with (workspace / FILES["usage_csv"]).open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    orgs = {row["sourcedId"] for row in read_csv(workspace / "roster/orgs.csv")}

    assert header == [
        "Date",
        "User ID",
        "Role",
        "School ID",
        "App",
        "Domain",
        "Minutes",
        "Sessions",
    ]
    assert len(usage_rows) == manifest.counts.csv_usage_rows > 0
    for row in usage_rows:
        assert row["User ID"] in users
        assert row["School ID"] in orgs
        assert int(row["Minutes"]) > 0 and int(row["Sessions"]) > 0
        assert (
            AS_OF - timedelta(days=manifest.window_days)
            < datetime.fromisoformat(row["Date"]).date()
            <= AS_OF
        )


def test_teacher_only_and_never_used_tools_show_it_in_usage(
    manifest: WorkspaceManifest,
    eco: Ecosystem,
    events: list[dict[str, Any]],
    usage_rows: list[dict[str, str]],
) -> None:
    roles = roles_by_tool(eco, events, usage_rows)

    for tool in manifest.planted.teacher_only:
        assert set(roles[tool]) == {"Instructor"}, tool
    for tool in manifest.planted.never_used:
        assert not roles[tool], tool
    unused = {t.id for t in eco.tools if not roles[t.id]}
    assert unused == set(manifest.planted.never_used)


def test_usage_is_skewed_and_mostly_in_school_hours(
    eco: Ecosystem, events: list[dict[str, Any]], usage_rows: list[dict[str, str]]
) -> None:
    roles = roles_by_tool(eco, events, usage_rows)
    volumes = sorted((sum(c.values()) for c in roles.values()), reverse=True)
    top = sum(volumes[: len(volumes) // 5])
    zone = eco.district.timezone

    local = [
        datetime.fromisoformat(e["eventTime"].replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
        for e in events
        if e["action"] == "LoggedIn"
    ]
    in_school = sum(1 for t in local if t.weekday() < 5 and 7 <= t.hour < 16)
    evenings_or_weekends = sum(1 for t in local if t.weekday() >= 5 or t.hour >= 17)

    assert top > sum(volumes) / 2
    assert in_school > 0.7 * len(local)
    assert evenings_or_weekends > 0.02 * len(local)


def test_healthy_tools_are_used_by_students_and_fill_their_seats(
    manifest: WorkspaceManifest,
    eco: Ecosystem,
    events: list[dict[str, Any]],
    usage_rows: list[dict[str, str]],
) -> None:
    by_app, by_domain = tool_of_app(eco), tool_of_domain(eco)
    students: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event["membership"]["roles"] == ["Learner"] and edapp_id(event) in by_app:
            students[by_app[edapp_id(event)]].add(event["actor"]["id"].rsplit("/", 1)[1])
    for row in usage_rows:
        if row["Role"] == "Student" and row["Domain"] in by_domain:
            students[by_domain[row["Domain"]]].add(row["User ID"])

    for tool_id in manifest.healthy:
        tool: Tool = eco.tool(tool_id)
        assert students[tool_id], tool_id
        if tool.licence and tool.licence.seats and tool.licence.seats > 1:
            assert len(students[tool_id]) >= 0.6 * tool.licence.seats, tool_id
    for tool_id in manifest.planted.low_use:
        seats = eco.tool(tool_id).licence.seats  # type: ignore[union-attr]
        assert seats and len(students[tool_id]) < 0.1 * seats


# ----- determinism, other sizes, the command line ----------------------------------------------


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_same_seed_gives_byte_identical_files(workspace: Path, tmp_path: Path) -> None:
    generate_workspace(tmp_path, size="s", seed=7)

    assert file_bytes(tmp_path) == file_bytes(workspace)


def test_another_seed_gives_other_people_and_times(tmp_path: Path) -> None:
    generate_workspace(tmp_path / "a", size="s", seed=7, scale=0.1)
    generate_workspace(tmp_path / "b", size="s", seed=8, scale=0.1)
    a, b = file_bytes(tmp_path / "a"), file_bytes(tmp_path / "b")

    assert a.keys() == b.keys()
    assert a["ecosystem.yaml"] == b["ecosystem.yaml"]
    assert a["roster/users.csv"] != b["roster/users.csv"]
    assert a["usage/caliper.jsonl"] != b["usage/caliper.jsonl"]


def test_medium_size_code_path_writes_a_valid_consistent_workspace(tmp_path: Path) -> None:
    manifest = generate_workspace(tmp_path, size="m", seed=11, scale=0.03)
    eco = load_ecosystem(tmp_path / "ecosystem.yaml")
    users = read_csv(tmp_path / "roster/users.csv")
    enrollments = read_csv(tmp_path / "roster/enrollments.csv")
    user_ids = {row["sourcedId"] for row in users}
    events = list(caliper_events(tmp_path / FILES["caliper"]))
    rows = read_csv(tmp_path / FILES["usage_csv"])
    overlaps = {key for key, tools in literal_cells(eco).items() if len(tools) > 1}
    roles = roles_by_tool(eco, events, rows)

    text = (tmp_path / "ecosystem.yaml").read_text(encoding="utf-8")
    assert text.startswith(RIVERSIDE_YAML.read_text(encoding="utf-8").split("\nschools:")[0])
    assert "\n  - id: mathly\n" in text and "\n  - {id: es-0001," in text
    assert manifest.partial == ("gaps",)
    assert len(eco.schools) > 9 and len(eco.tools) > 70
    assert manifest.counts.schools == len(eco.schools)
    assert manifest.counts.users == len(users)
    assert manifest.counts.enrollments == len(enrollments)
    assert all(row["userSourcedId"] in user_ids for row in enrollments)
    assert manifest.counts.caliper_events == len(events)
    assert manifest.counts.csv_usage_rows == len(rows)
    assert overlaps == {(c.school, c.task, c.subject, c.grade) for c in manifest.planted.overlaps}
    assert planted_tool_ids(manifest) <= {t.id for t in eco.tools}
    assert not set(manifest.healthy) & planted_tool_ids(manifest)
    assert len(manifest.planted.never_used) > 3 or len(manifest.planted.teacher_only) > 3
    for tool in manifest.planted.teacher_only:
        assert set(roles[tool]) == {"Instructor"}, tool
    assert {t.id for t in eco.tools if not roles[t.id]} == set(manifest.planted.never_used)


def test_cli_writes_a_workspace_and_prints_the_manifest(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["sample", "--size", "s", "--out", str(tmp_path), "--json", "--seed", "7"]
    )

    assert result.exit_code == 0, result.output
    printed = WorkspaceManifest.model_validate(json.loads(result.stdout))
    assert printed.size == "s" and printed.counts.tools == 70
    assert printed == WorkspaceManifest.model_validate_json(
        (tmp_path / "manifest.json").read_text()
    )


def test_cli_refuses_a_file_as_the_output_folder(tmp_path: Path) -> None:
    target = tmp_path / "taken.txt"
    target.write_text("x")

    result = CliRunner().invoke(app, ["sample", "--out", str(target)])

    assert result.exit_code == 2
    assert target.read_text() == "x"


def test_size_is_checked() -> None:
    with pytest.raises(ValueError, match="size must be one of"):
        generate_workspace(Path("unused"), size="xl")  # type: ignore[arg-type]


def test_grades_and_ranges_parse_in_the_answer_key(manifest: WorkspaceManifest) -> None:
    grades = {cell.grade for cell in manifest.planted.overlaps + manifest.planted.gaps}
    assert all(parse_grades(grade) for grade in grades)
