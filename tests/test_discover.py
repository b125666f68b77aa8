"""`edtech-map discover` lists the sample's planted uninventoried apps and adds them on request."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from edtech_map.cli import app
from edtech_map.inventory import load_ecosystem
from edtech_map.samples import WorkspaceManifest


def _workspace_copy(demo_run: tuple[Path, str, int], tmp_path: Path) -> Path:
    out, _, code = demo_run
    assert code == 0
    target = tmp_path / "ws"
    target.mkdir()
    shutil.copy(out / "ecosystem.yaml", target / "ecosystem.yaml")
    shutil.copytree(out / ".edtech-map", target / ".edtech-map")
    return target


def test_discover_lists_exactly_the_planted_uninventoried_apps(
    demo_run: tuple[Path, str, int], tmp_path: Path
) -> None:
    manifest = WorkspaceManifest.model_validate_json((demo_run[0] / "manifest.json").read_text())
    planted = {app.identifier for app in manifest.planted.uninventoried}
    assert planted  # the sample plants some, or this test proves nothing
    ws = _workspace_copy(demo_run, tmp_path)
    inventory = str(ws / "ecosystem.yaml")
    result = CliRunner().invoke(app, ["discover", "-i", inventory, "--json"])
    assert result.exit_code == 0, result.output
    proposals = json.loads(result.output)
    assert {p["identifier"] for p in proposals} == planted
    by_identifier = {p["identifier"]: p for p in proposals}
    for app_seen in manifest.planted.uninventoried:
        students = by_identifier[app_seen.identifier]["students"]
        expected = app_seen.students if app_seen.students >= 5 else f"<{5}"
        assert students == expected or (students == 0 and app_seen.students == 0)


def test_discover_write_adds_them_keeping_comments_and_then_finds_nothing(
    demo_run: tuple[Path, str, int], tmp_path: Path
) -> None:
    ws = _workspace_copy(demo_run, tmp_path)
    inventory = ws / "ecosystem.yaml"
    comments = [
        line.strip() for line in inventory.read_text().splitlines() if line.strip().startswith("#")
    ]
    before = {t.id for t in load_ecosystem(inventory).tools}
    runner = CliRunner()
    written = runner.invoke(app, ["discover", "-i", str(inventory), "--write"])
    assert written.exit_code == 0, written.output
    after = load_ecosystem(inventory)
    added = [t for t in after.tools if t.id not in before]
    assert added and all(t.status.value == "under_review" for t in added)
    text = inventory.read_text()
    assert all(comment in text for comment in comments)
    again = runner.invoke(app, ["discover", "-i", str(inventory), "--json"])
    assert again.exit_code == 0 and json.loads(again.output) == []
