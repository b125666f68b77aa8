"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
