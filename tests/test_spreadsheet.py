"""Spreadsheet import: CSV and XLSX rows merged into ecosystem.yaml without losing anything."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from typer.testing import CliRunner

from edtech_map.cli import app
from edtech_map.errors import InventoryError
from edtech_map.inventory import load_ecosystem, loads_ecosystem, save_ecosystem, starter_yaml
from edtech_map.model import GradeLevel, Subject, ToolCategory
from edtech_map.spreadsheet import import_spreadsheet

BASE = loads_ecosystem(starter_yaml())
HEADERS = [
    "Tool Name",
    "Vendor",
    "Type",
    "Grade Levels",
    "Subject Area",
    "Licenses",
    "Annual Cost",
    "Renewal",
    "DPA Status",
    "DPA Signed",
    "Domain",
    "Favourite colour",
]


def _csv(path: Path, rows: list[list[object]], headers: list[str] = HEADERS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def test_xlsx_rows_become_tools_with_typed_fields(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Apps"
    sheet.append(HEADERS)
    sheet.append(
        [
            "Mathly",
            "Mathly Inc",
            "Adaptive Practice",
            "K-2",
            "Math; ELA",
            450,
            2250.5,
            date(2027, 6, 30),
            "Signed",
            date(2025, 7, 1),
            "https://app.mathly.example/x",
            "red",
        ]
    )
    path = tmp_path / "apps.xlsx"
    workbook.save(path)
    merged, report = import_spreadsheet(path, BASE, sheet="Apps")
    tool = merged.tool("mathly")
    assert tool.category is ToolCategory.ADAPTIVE_PRACTICE
    assert tool.grades == (GradeLevel.KG, GradeLevel.G01, GradeLevel.G02)
    assert tool.subjects == (Subject.ELA, Subject.MATH)
    assert tool.licence is not None and tool.licence.seats == 450
    assert str(tool.licence.cost) == "2250.5"
    assert tool.licence.renewal_date == date(2027, 6, 30)
    assert tool.privacy is not None and tool.privacy.signed == date(2025, 7, 1)
    assert tool.identifiers.domains == ("app.mathly.example",)
    assert report.added == ["mathly"] and report.ignored_columns == ["Favourite colour"]
    with pytest.raises(InventoryError, match="no sheet named 'Tools'"):
        import_spreadsheet(path, BASE, sheet="Tools")


def test_every_bad_row_is_reported_with_row_column_and_value(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "apps.csv",
        [
            ["Mathly", "", "adaptive practice", "3-5", "math", "", "", "", "", "", "", ""],
            ["Quizzy", "", "assesment", "6-8", "math", "", "", "", "", "", "", ""],
            ["Readly", "", "content", "grade 14", "ela", "ten", "", "", "", "", "", ""],
        ],
    )
    with pytest.raises(InventoryError) as caught:
        import_spreadsheet(path, BASE)
    where = {(p.line, p.column, p.loc[0]) for p in caught.value.problems}
    assert where == {(3, 3, "Type"), (4, 4, "Grade Levels"), (4, 6, "Licenses")}
    text = str(caught.value)
    assert "'assesment'" in text and "'grade 14'" in text and "'ten'" in text


def test_skip_invalid_imports_good_rows_and_counts_the_bad(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "apps.csv",
        [
            ["Mathly", "", "adaptive practice", "3-5", "math", "", "", "", "", "", "", ""],
            ["Quizzy", "", "assesment", "6-8", "math", "", "", "", "", "", "", ""],
        ],
    )
    merged, report = import_spreadsheet(path, BASE, skip_invalid=True)
    assert report.rows_read == 2
    assert report.added == ["mathly"] and len(report.skipped) == 1
    assert {t.id for t in merged.tools} == {"sis", "lms", "mathly"}


def test_a_row_updates_only_the_cells_it_fills(tmp_path: Path) -> None:
    path = _csv(tmp_path / "apps.csv", [["id", "Licenses"], ["lms", "1200"]], headers=["note", "x"])
    path = _csv(tmp_path / "apps.csv", [["lms", "1200"]], headers=["id", "Licenses"])
    merged, report = import_spreadsheet(path, BASE)
    lms = merged.tool("lms")
    assert lms.licence is not None and lms.licence.seats == 1200
    assert lms.name == BASE.tool("lms").name and lms.grades == BASE.tool("lms").grades
    assert report.updated == ["lms"] and report.added == []


def test_duplicate_rows_and_unknown_schools_are_errors(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "apps.csv",
        [["Mathly", "lms", "all"], ["Mathly", "lms", "nowhere-es"]],
        headers=["Name", "Category", "Schools"],
    )
    with pytest.raises(InventoryError) as caught:
        import_spreadsheet(path, BASE)
    messages = [p.render(path) for p in caught.value.problems]
    assert any(":3" in m and "also in row 2" in m for m in messages), messages


def test_import_command_merges_into_yaml_keeping_comments(tmp_path: Path) -> None:
    inventory = tmp_path / "ecosystem.yaml"
    inventory.write_text(starter_yaml())
    path = _csv(
        tmp_path / "apps.csv",
        [["Mathly", "", "adaptive practice", "3-5", "math", "", "", "", "", "", "", ""]],
    )
    runner = CliRunner()
    dry = runner.invoke(app, ["import", str(path), "-i", str(inventory), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "mathly" not in inventory.read_text()
    result = runner.invoke(app, ["import", str(path), "-i", str(inventory), "--json"])
    assert result.exit_code == 0, result.output
    text = inventory.read_text()
    assert "# One entry per tool or system." in text and "id: mathly" in text
    assert load_ecosystem(inventory).tool("mathly").category is ToolCategory.ADAPTIVE_PRACTICE
    bad = _csv(
        tmp_path / "bad.csv", [["Quizzy", "", "assesment", "", "", "", "", "", "", "", "", ""]]
    )
    before = inventory.read_text()
    failed = runner.invoke(app, ["import", str(bad), "-i", str(inventory)])
    assert failed.exit_code == 1 and "Nothing was imported" in failed.output
    assert inventory.read_text() == before


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Z][a-z]{2,12}( [A-Z][a-z]{2,8})?", fullmatch=True),
            st.sampled_from(list(ToolCategory)),
            st.lists(st.sampled_from(list(GradeLevel)[4:17]), max_size=5, unique=True),
        ),
        max_size=6,
        unique_by=lambda row: row[0].lower(),
    )
)
def test_a_written_spreadsheet_imports_back_to_the_same_tools(
    tmp_path: Path, rows: list[tuple[str, ToolCategory, list[GradeLevel]]]
) -> None:
    path = _csv(
        tmp_path / "round.csv",
        [
            [name, category.value.replace("_", " ").title(), ", ".join(g.label for g in grades)]
            for name, category, grades in rows
        ],
        headers=["Tool", "Category", "Grades"],
    )
    merged, report = import_spreadsheet(path, BASE)
    assert len(report.added) == len(rows)
    for name, category, grades in rows:
        tool = next(t for t in merged.tools if t.name == name)
        assert tool.category is category
        assert set(tool.grades) == set(grades)
    save_ecosystem(merged, tmp_path / "eco.yaml")
    assert load_ecosystem(tmp_path / "eco.yaml") == merged


def test_import_is_refused_while_another_run_holds_the_workspace(tmp_path: Path) -> None:
    import subprocess
    import sys

    inventory = tmp_path / "ecosystem.yaml"
    inventory.write_text(starter_yaml())
    path = _csv(
        tmp_path / "apps.csv", [["Mathly", "", "content", "", "", "", "", "", "", "", "", ""]]
    )
    holder = subprocess.Popen(  # another process holds the workspace lock
        [sys.executable, "-c",
         "import sys, time; from edtech_map.workspace_lock import WorkspaceLock; "
         f"WorkspaceLock({str(tmp_path / '.edtech-map')!r}).acquire(); print('held', flush=True); "
         "time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        before = inventory.read_text()
        result = CliRunner().invoke(app, ["import", str(path), "-i", str(inventory)])
        assert result.exit_code == 2
        assert f"pid {holder.pid}" in result.output
        assert inventory.read_text() == before
    finally:
        holder.kill()
        holder.wait()
    assert CliRunner().invoke(app, ["import", str(path), "-i", str(inventory)]).exit_code == 0
