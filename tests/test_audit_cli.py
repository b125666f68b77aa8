"""``edtech-map audit`` on a small inventory: formats, exit codes, filters; generated docs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from edtech_map.analyses.docs import write_docs
from edtech_map.analyses.engine import AuditReport, load_rules
from edtech_map.cli import app

INVENTORY = """\
district: {id: d, name: D, timezone: America/Chicago}
schools:
  - {id: es, name: ES, type: elementary, grades: K-5}
  - {id: ms, name: MS, type: middle, grades: 6-8}
tools:
  - id: sis
    name: SIS
    category: sis
    owner: IT
    privacy: {status: signed, signed: 2024-01-01, data_elements: [student_name, student_id]}
  - id: quiz
    name: Quiz
    category: assessment
    owner: Assessment lead
    audience: [students]
    schools: [es]
    privacy: {status: pending}
  - id: notes
    name: Notes
    category: productivity
    schools: [ms]
flows:
  - {source: sis, target: quiz, mechanism: api, data: [student_name]}
"""

DOCS = Path(__file__).resolve().parent.parent / "docs"
runner = CliRunner()


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "ecosystem.yaml"
    path.write_text(INVENTORY, encoding="utf-8")
    return path


def audit(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "--as-of", "2026-11-23", *args])
    return result.exit_code, result.stdout


def test_json_output_round_trips_through_the_published_model(inventory: Path) -> None:
    code, out = audit("-i", str(inventory), "--format", "json")
    report = AuditReport.model_validate_json(out)
    assert code == 1  # EM-DPA-001 and EM-DPA-002 are errors
    assert {f.key for f in report.result.findings} == {
        "EM-DPA-001:quiz,sis->quiz:api",
        "EM-DPA-002:quiz",
        "EM-OWN-001:notes",
        "EM-GAP-002:ms",  # ms lists only Notes, which is not for students
    }
    assert report.summary["error"] == 2 and report.summary["warning"] == 2
    assert set(report.rules) == set(load_rules())
    assert report.rules["EM-DPA-004"].thresholds == {"within_days": 90}
    usage_rules = {r for r, spec in load_rules().items() if "usage" in spec.needs}
    assert usage_rules <= {s.rule_id for s in report.result.skipped}
    # the published schema is what pydantic says it is
    schema = json.loads((DOCS / "audit-schema.json").read_text("utf-8"))
    assert set(schema["required"]) == {"summary", "result"}
    # and the output validates against it, checked by a JSON Schema validator, not by pydantic
    jsonschema.validate(json.loads(out), schema)
    broken = json.loads(out)
    broken["result"]["findings"][0]["severity"] = "catastrophic"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_fail_on_and_min_severity(inventory: Path) -> None:
    assert audit("-i", str(inventory), "--rule", "EM-OWN-001", "-f", "csv")[0] == 0
    assert (
        audit("-i", str(inventory), "--rule", "EM-OWN-001", "-f", "csv", "--fail-on", "warning")[0]
        == 1
    )
    code, out = audit("-i", str(inventory), "-f", "csv", "--min-severity", "error")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["rule_id"] for r in rows} == {"EM-DPA-001", "EM-DPA-002"}
    assert code == 1


def test_school_filter_keeps_findings_that_name_the_school(inventory: Path) -> None:
    code, out = audit("-i", str(inventory), "-f", "json", "--school", "ms", "--rule", "EM-GAP-002")
    report = AuditReport.model_validate_json(out)
    # ms has only Notes (not for students): no student tool reaches it; es has Quiz.
    assert {f.key for f in report.result.findings} == {"EM-GAP-002:ms"}
    assert code == 0


def test_waived_findings_do_not_fail_the_run(inventory: Path) -> None:
    text = INVENTORY + (
        "audit:\n  waivers:\n"
        "    - {rule: EM-DPA-001, subject: quiz, reason: signing, expires: 2027-01-31}\n"
        "    - {rule: EM-DPA-002, subject: quiz, reason: signing, expires: 2027-01-31}\n"
    )
    inventory.write_text(text, encoding="utf-8")
    code, out = audit("-i", str(inventory), "-f", "json")
    report = AuditReport.model_validate_json(out)
    assert code == 0
    assert {w.finding.rule_id for w in report.result.waived} == {"EM-DPA-001", "EM-DPA-002"}


def test_sarif_has_rule_metadata_levels_and_lines(inventory: Path, tmp_path: Path) -> None:
    target = tmp_path / "audit.sarif"
    code, _ = audit("-i", str(inventory), "-f", "sarif", "-o", str(target))
    log = json.loads(target.read_text("utf-8"))
    assert code == 1 and log["version"] == "2.1.0"
    run = log["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rule_ids == sorted(load_rules())
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["EM-DPA-002"]["level"] == "error"
    assert rule_ids[by_rule["EM-OWN-001"]["ruleIndex"]] == "EM-OWN-001"
    # quiz is on line 12 of the inventory ("  - id: quiz")
    region = by_rule["EM-DPA-002"]["locations"][0]["physicalLocation"]["region"]
    assert INVENTORY.splitlines()[region["startLine"] - 1].strip() == "- id: quiz"


def test_markdown_and_table_formats(inventory: Path) -> None:
    code, out = audit("-i", str(inventory), "-f", "markdown")
    assert code == 1 and out.startswith("# Audit as of 2026-11-23")
    assert "[EM-DPA-002](rules/EM-DPA-002.md)" in out
    code, out = audit("-i", str(inventory))
    assert "2 error, 2 warning, 0 info" in out


def test_bad_arguments_exit_2(inventory: Path, tmp_path: Path) -> None:
    assert audit("-i", str(inventory), "--rule", "EM-XXX-001")[0] == 2
    assert audit("-i", str(inventory), "--school", "nowhere")[0] == 2
    assert audit("-i", str(tmp_path / "missing.yaml"))[0] == 2
    assert audit("-i", str(inventory), "--store", str(tmp_path / "none.duckdb"))[0] == 2
    result = runner.invoke(app, ["audit", "-i", str(inventory), "--as-of", "23/11/2026"])
    assert result.exit_code == 2


def test_list_rules_needs_no_inventory(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["audit", "--list-rules", "-i", str(tmp_path / "none.yaml")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0
    assert all(rule_id in result.stdout for rule_id in load_rules())


def test_committed_rule_pages_and_schema_match_the_registry() -> None:
    stale = write_docs(DOCS, check=True)
    assert stale == [], "run: python -m edtech_map.analyses.docs"
