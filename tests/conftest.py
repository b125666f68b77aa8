"""Shared pytest fixtures."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edtech_map.cli import app

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The shared third-party fixtures: ``$EDTECH_MAP_FIXTURES`` or ``<repo>/../shared/fixtures``.

    They are real files from other projects (kept outside the repo for their licences), so a
    test that needs them is skipped, with the reason, where they are not present.
    """
    configured = os.environ.get("EDTECH_MAP_FIXTURES")
    folder = Path(configured) if configured else REPO.parent / "shared" / "fixtures"
    if not folder.is_dir():
        how = "EDTECH_MAP_FIXTURES" if configured else "the default location"
        pytest.skip(
            f"shared fixtures not found at {folder} ({how}); set EDTECH_MAP_FIXTURES to the "
            f"folder holding oneroster-mocker/, oneroster-moodle-enrol/ ... to run this test"
        )
    return folder


@pytest.fixture(scope="session")
def demo_run(  # the demo is slow: it runs once per test session
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, str, int]:
    out = tmp_path_factory.mktemp("demo") / "workspace"
    result = CliRunner().invoke(app, ["demo", "--out", str(out)], env={"COLUMNS": "160"})
    return out, result.output, result.exit_code


def student_identifiers(roster: Path) -> set[str]:
    """Every student sourcedId, e-mail, username and full name in a OneRoster ``users.csv``."""
    found: set[str] = set()
    with (roster / "users.csv").open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            if row["role"] != "student":
                continue
            found |= {row["sourcedId"], row["email"], row["username"]}
            found.add(f"{row['givenName']} {row['familyName']}")
    return {value for value in found if value and len(value) >= 6}
