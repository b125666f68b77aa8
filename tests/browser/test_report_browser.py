"""The sample district's HTML report in headless Chromium: offline, clickable, filterable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from edtech_map.cli import app
from edtech_map.samples import AS_OF, generate_workspace

pytestmark = pytest.mark.browser
BrowserPage = Any  # conftest.BrowserPage: a page with what it logged and requested

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``edtech-map report`` of the sample district with roster, usage and audit."""
    folder = tmp_path_factory.mktemp("riverside-browser")
    generate_workspace(folder, size="s", seed=7, scale=0.25)
    store = folder / ".edtech-map" / "store.duckdb"
    inventory = folder / "ecosystem.yaml"
    runner = CliRunner()
    for args in (
        ["import-roster", str(folder / "roster"), "--store", str(store)],
        ["ingest", str(folder / "usage"), "--store", str(store), "--inventory", str(inventory)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code in (0, 1), result.output
    target = folder / "report.html"
    args = ["report", "-i", str(inventory), "-o", str(target), "--as-of", AS_OF.isoformat()]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return target


def visible_findings(seen: BrowserPage) -> int:
    count: int = seen.page.locator("li.finding:visible").count()
    return count


def test_report_in_chromium(browser_page: BrowserPage, sample_report: Path) -> None:
    page = browser_page.page
    page.goto(sample_report.as_uri())
    page.wait_for_load_state("load")

    diagram = page.locator("#diagram-view svg")
    assert diagram.is_visible()
    box = diagram.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200

    # clicking a tool in the diagram opens its card
    assert page.locator("#card-panel").is_hidden()
    page.locator("#node-canopy-lms").click()
    card = page.locator("#card-canopy-lms")
    assert card.is_visible()
    assert "Canopy LMS" in card.inner_text()
    assert "Connections" in card.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#diagram").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=False)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
    page.keyboard.press("Escape")
    assert page.locator("#card-panel").is_hidden()

    # a tool link in a table opens the same kind of card
    page.locator("#privacy a[data-tool]").first.click()
    assert page.locator("#card-panel .card:visible").count() == 1
    page.locator("#card-panel .card:visible .close").click()
    assert page.locator("#card-panel").is_hidden()

    # zoom changes the viewBox, Fit restores it
    home = diagram.get_attribute("viewBox")
    page.locator("[data-zoom=in]").click()
    assert diagram.get_attribute("viewBox") != home
    page.locator("[data-zoom=reset]").click()
    restored = [float(x) for x in (diagram.get_attribute("viewBox") or "").split()]
    assert restored == pytest.approx([float(x) for x in (home or "").split()], abs=0.01)

    # the school filter changes the findings shown, and the counts with them
    everywhere = visible_findings(browser_page)
    assert everywhere > 10
    page.select_option("#school-filter", "bridgeway-hs")
    at_bridgeway = visible_findings(browser_page)
    assert 0 < at_bridgeway < everywhere
    shown_schools = page.eval_on_selector_all(
        "li.finding:not([hidden])", "items => items.map(i => i.dataset.schools)"
    )
    assert all(s == "*" or "bridgeway-hs" in s.split() for s in shown_schools)
    counted = sum(int(c) for c in page.locator(".count[data-severity]").all_inner_texts())
    assert counted == at_bridgeway
    assert "Bridgeway Academy" in page.locator("#filter-status").inner_text()
    assert page.locator("#diagram-view g.node.dim").count() > 0
    page.select_option("#school-filter", "")
    assert visible_findings(browser_page) == everywhere

    # prints without the controls
    page.emulate_media(media="print")
    assert page.locator("#school-filter").is_hidden()
    assert page.locator("#diagram-view svg").is_visible()

    assert browser_page.console_errors == []
    assert browser_page.page_errors == []
    assert browser_page.network == [], "the report must make no network request"
