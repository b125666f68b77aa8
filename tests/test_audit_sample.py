"""The audit on the generator's S workspace (roster imported, usage ingested) vs its manifest."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from connectors import oneroster_csv
from connectors.base import SyncContext
from edtech_map.aggregates import (
    Aggregates,
    compute_aggregates,
    diff_findings,
    last_snapshot,
    save_snapshot,
)
from edtech_map.analyses.engine import run_audit
from edtech_map.analyses.findings import AuditResult, Finding
from edtech_map.inventory import load_ecosystem
from edtech_map.model import Ecosystem
from edtech_map.samples import WorkspaceManifest, generate_workspace
from edtech_map.store import Store
from edtech_map.usage import ingest

_KINDS = {"caliper": "caliper", "xapi": "xapi", "usage_csv": "csv"}


@dataclass(frozen=True)
class Workspace:
    folder: Path
    store_path: Path
    ecosystem: Ecosystem
    manifest: WorkspaceManifest
    aggregates: Aggregates
    result: AuditResult


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    folder = tmp_path_factory.mktemp("s-workspace")
    manifest = generate_workspace(folder, size="s", seed=7)
    eco = load_ecosystem(folder / "ecosystem.yaml")
    options: dict[str, dict[str, object]] = {}
    for source in eco.sources.values():
        if source.kind in _KINDS:
            options.setdefault(_KINDS[source.kind], dict(source.options))
    store_path = folder / ".edtech-map" / "store.duckdb"
    with Store.open(store_path) as store:
        oneroster_csv.sync(
            SyncContext(store=store, source="oneroster_csv", options={"path": folder / "roster"})
        )
        ingest(store, [folder / "usage"], eco, options=options)
        aggregates = compute_aggregates(store, eco, as_of=manifest.as_of)
    result = run_audit(eco, aggregates=aggregates, as_of=manifest.as_of)
    yield Workspace(folder, store_path, eco, manifest, aggregates, result)


def _subjects(result: AuditResult, rule_id: str) -> set[tuple[str, ...]]:
    return {f.subjects for f in result.findings if f.rule_id == rule_id}


def _tools(result: AuditResult, rule_id: str, ecosystem: Ecosystem) -> set[str]:
    ids = {t.id for t in ecosystem.tools}
    return {s for subjects in _subjects(result, rule_id) for s in subjects if s in ids}


def test_every_rule_ran_except_those_the_data_cannot_answer(workspace: Workspace) -> None:
    skipped = {s.rule_id: s.reason for s in workspace.result.skipped}
    # The sample's usage never says who started an activity, so only EM-TCH-002 is skipped.
    assert set(skipped) == {"EM-TCH-002"}
    assert "initiated_by" in skipped["EM-TCH-002"]


def test_no_finding_names_a_healthy_tool(workspace: Workspace) -> None:
    healthy = set(workspace.manifest.healthy)
    assert healthy
    flagged = {
        (f.rule_id, s) for f in workspace.result.findings for s in f.subjects if s in healthy
    }
    assert flagged == set()


def test_teacher_only_tools_are_found(workspace: Workspace) -> None:
    planted = set(workspace.manifest.planted.teacher_only)
    assert planted
    assert planted <= _tools(workspace.result, "EM-TCH-001", workspace.ecosystem)


def test_never_used_and_low_use_and_renewals(workspace: Workspace) -> None:
    planted = workspace.manifest.planted
    eco = workspace.ecosystem
    assert set(planted.never_used) == _tools(workspace.result, "EM-USE-001", eco)
    assert set(planted.low_use) <= _tools(workspace.result, "EM-USE-002", eco)
    assert set(planted.renewals_soon_low_use) == _tools(workspace.result, "EM-USE-003", eco)


def test_every_planted_overlap_cell_is_in_a_finding_with_exactly_its_tools(
    workspace: Workspace,
) -> None:
    findings = [f for f in workspace.result.findings if f.rule_id == "EM-OVL-001"]
    for cell in workspace.manifest.planted.overlaps:
        matching = [
            f
            for f in findings
            if f.subjects == tuple(sorted((cell.school, *cell.tools)))
            and cell.task in str(f.evidence["tasks"]).split(",")
            and cell.subject in str(f.evidence["subjects"]).split(",")
            and cell.grade in str(f.evidence["grades"]).split(",")
        ]
        assert matching, cell


def test_gaps_are_exactly_the_planted_cells(workspace: Workspace) -> None:
    found = set()
    for f in workspace.result.findings:
        if f.rule_id == "EM-GAP-001":  # one per school and task: "math:3,4;science:6"
            for subject_grades in str(f.evidence["gaps"]).split(";"):
                subject, grades = subject_grades.split(":")
                for grade in grades.split(","):
                    found.add((f.evidence["school"], f.evidence["task"], subject, grade))
    planted = {(g.school, g.task, g.subject, g.grade) for g in workspace.manifest.planted.gaps}
    assert planted <= found
    if "gaps" not in workspace.manifest.partial:  # at S the planted gaps are all there are
        assert found == planted


def test_privacy_problems_are_found(workspace: Workspace) -> None:
    planted, result, eco = workspace.manifest.planted, workspace.result, workspace.ecosystem
    assert set(planted.missing_dpa) == _tools(result, "EM-DPA-002", eco)
    assert set(planted.expired_dpa) == _tools(result, "EM-DPA-003", eco)
    pii = {s for subjects in _subjects(result, "EM-DPA-001") for s in subjects if "->" in s}
    assert pii == {flow.key for flow in planted.pii_without_dpa}
    scope = {s for subjects in _subjects(result, "EM-DPA-005") for s in subjects if "->" in s}
    assert scope == {gap.key for gap in planted.dpa_scope_gaps}


def test_uninventoried_apps_are_found_ranked_by_students(workspace: Workspace) -> None:
    findings = sorted(
        (f for f in workspace.result.findings if f.rule_id == "EM-DSC-001"),
        key=lambda f: str(f.evidence["rank"]).zfill(6),
    )
    planted = workspace.manifest.planted.uninventoried
    assert {f.subjects[0] for f in findings} == {app.identifier for app in planted}
    by_students = sorted(planted, key=lambda app: (-app.students, app.identifier))
    assert [f.subjects[0] for f in findings] == [app.identifier for app in by_students]


def test_structure_problems_are_found(workspace: Workspace) -> None:
    planted, result, eco = workspace.manifest.planted, workspace.result, workspace.ecosystem
    assert set(planted.no_owner) == _tools(result, "EM-OWN-001", eco)
    assert set(planted.single_points_of_failure) == _tools(result, "EM-STR-001", eco)


def test_no_student_key_from_the_store_appears_in_any_finding(workspace: Workspace) -> None:
    with Store.open(workspace.store_path, create=False) as store:
        keys = {
            row[0]
            for sql in ("SELECT user_key FROM users", "SELECT DISTINCT user_key FROM usage_events")
            for row in store.con.execute(sql).fetchall()
        }
    assert len(keys) > 1000
    text = workspace.result.model_dump_json()
    assert not [key for key in keys if key in text]


def test_snapshot_diff_shows_exactly_what_the_inventory_change_changed(
    workspace: Workspace, tmp_path: Path
) -> None:
    eco = workspace.ecosystem
    # Give WallBoard an owner: exactly one finding (EM-OWN-001) should go, nothing else.
    tools = tuple(
        t.model_copy(update={"owner": "Secondary ELA coordinator"}) if t.id == "wallboard" else t
        for t in eco.tools
    )
    changed = eco.model_copy(update={"tools": tools})
    store_path = tmp_path / "store.duckdb"
    with Store.open(store_path) as store:
        save_snapshot(store, workspace.result, snapshot_id="before")
        after = run_audit(changed, aggregates=workspace.aggregates, as_of=workspace.manifest.as_of)
        previous = last_snapshot(store)
    assert previous is not None and previous[0] == "before"
    diff = diff_findings(previous[1], after.findings, previous_id=previous[0])
    assert diff.new == ()
    assert {f.key for f in diff.resolved} == {"EM-OWN-001:wallboard"}
    assert len(diff.unchanged) == len(workspace.result.findings) - 1


def test_the_audit_is_deterministic(workspace: Workspace) -> None:
    again = run_audit(
        workspace.ecosystem, aggregates=workspace.aggregates, as_of=workspace.manifest.as_of
    )
    assert again == workspace.result
    assert list(again.findings) == sorted(again.findings, key=Finding.sort_key)


def test_snapshot_round_trips_findings(workspace: Workspace, tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.duckdb") as store:
        save_snapshot(store, workspace.result)
        found = last_snapshot(store)
    assert found is not None

    def as_json(findings: Iterable[Finding]) -> set[str]:
        return {json.dumps(f.model_dump(mode="json"), sort_keys=True) for f in findings}

    assert as_json(found[1]) == as_json(workspace.result.findings)
    assert json.loads(workspace.result.model_dump_json())["as_of"] == "2026-11-23"
    assert workspace.manifest.as_of == date(2026, 11, 23)


def test_cli_save_then_diff_after_an_inventory_change(workspace: Workspace, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from edtech_map.analyses.engine import AuditReport
    from edtech_map.cli import app

    inventory = tmp_path / "ecosystem.yaml"
    text = (workspace.folder / "ecosystem.yaml").read_text("utf-8")
    inventory.write_text(text, encoding="utf-8")
    store = tmp_path / "store.duckdb"
    store.write_bytes(workspace.store_path.read_bytes())
    (tmp_path / "secret.key").write_bytes((workspace.store_path.parent / "secret.key").read_bytes())
    base = ["audit", "-i", str(inventory), "--store", str(store), "--as-of", "2026-11-23"]
    runner = CliRunner()

    first = runner.invoke(app, [*base, "--save", "-f", "json"])
    assert first.exit_code == 1  # the sample has privacy errors
    saved = AuditReport.model_validate_json(first.stdout)
    assert {f.key for f in saved.result.findings} == {f.key for f in workspace.result.findings}

    # WallBoard gets an owner; a new tool with no owner (and nothing else to flag) is added.
    assert "    name: WallBoard\n" in text
    changed = text.replace(
        "    name: WallBoard\n", "    name: WallBoard\n    owner: Secondary ELA coordinator\n"
    ).replace(
        "\nflows:\n",
        "\n  - {id: notepad, name: Notepad, category: productivity}\n\nflows:\n",
        1,
    )
    inventory.write_text(changed, encoding="utf-8")
    second = runner.invoke(app, [*base, "--diff", "-f", "json"])
    diff = AuditReport.model_validate_json(second.stdout).diff
    assert diff is not None and diff.previous_snapshot is not None
    assert {f.key for f in diff.resolved} == {"EM-OWN-001:wallboard"}
    assert {f.key for f in diff.new} == {"EM-OWN-001:notepad"}
    assert len(diff.unchanged) == len(workspace.result.findings) - 1
