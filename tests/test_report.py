"""The HTML report of the sample district: contents, self-containment, accessibility, privacy."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import networkx as nx
import pytest
from typer.testing import CliRunner

from edtech_map.analyses import AuditResult, Finding
from edtech_map.cli import app
from edtech_map.graph import build_graph, nodes_of_kind, schools_of, tools_for
from edtech_map.inventory import load_ecosystem
from edtech_map.render import build_context, render_report, report
from edtech_map.render.html import bar_chart, coverage
from edtech_map.samples import AS_OF, RIVERSIDE_YAML, generate_workspace
from edtech_map.store import Store

URL = re.compile(r"(?:https?:)?//[^\s\"'<>)]+", re.I)
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Page(HTMLParser):
    """Every element with its attributes and own text: enough to check a report's structure."""

    elements: list[Element] = field(default_factory=list)
    stack: list[Element] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag not in {"meta", "br", "img", "input", "link", "path", "polygon", "ellipse"}:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element.text += data

    def find(self, tag: str, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


@dataclass(frozen=True)
class Sample:
    folder: Path
    html: str
    store: Path


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """The sample district (roster thinned to a quarter): roster and usage in a store, then
    ``edtech-map report`` run on it, as a director would."""
    folder = tmp_path_factory.mktemp("riverside")
    generate_workspace(folder, size="s", seed=7, scale=0.25)
    store = folder / ".edtech-map" / "store.duckdb"
    runner = CliRunner()
    imported = runner.invoke(app, ["import-roster", str(folder / "roster"), "--store", str(store)])
    assert imported.exit_code in (0, 1), imported.output
    inventory = folder / "ecosystem.yaml"
    ingest = ["ingest", str(folder / "usage"), "--store", str(store), "--inventory", str(inventory)]
    ingested = runner.invoke(app, ingest)
    assert ingested.exit_code in (0, 1), ingested.output
    target = folder / "report.html"
    args = ["report", "-i", str(inventory), "-o", str(target), "--as-of", AS_OF.isoformat()]
    made = runner.invoke(app, args)
    assert made.exit_code == 0, made.output
    return Sample(folder, target.read_text(encoding="utf-8"), store)


def people(folder: Path, store: Path) -> Iterator[str]:
    """Everything that would identify a person: roster ids, names, e-mails, store keys."""
    with (folder / "roster" / "users.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            yield row["sourcedId"]
            yield row["email"]
            yield row["username"]
            yield f"{row['givenName']} {row['familyName']}"
            if len(row["identifier"]) >= 6:
                yield row["identifier"]
    with Store.open(store, create=False) as opened:
        for table, column in (("usage_events", "user_key"), ("users", "user_key")):
            for row in opened.query_arrow(
                f"SELECT DISTINCT {column} AS k FROM {table}"
            ).to_pylist():
                yield str(row["k"])


def leaks(html: str, secrets: Iterator[str]) -> list[str]:
    found = []
    lowered = html.lower()
    for secret in secrets:
        if secret and secret.strip() and secret.lower() in lowered:
            found.append(secret)
    return found


def test_report_names_no_person(sample: Sample) -> None:
    secrets = list(people(sample.folder, sample.store))
    assert len(secrets) > 1_000
    assert leaks(sample.html, iter(secrets)) == []
    # the scan itself can fail: a name planted in the page is found
    planted = secrets[3]
    assert leaks(sample.html.replace("</main>", f"<p>{planted}</p></main>"), iter(secrets))


def test_report_is_self_contained(sample: Sample) -> None:
    page = parse(sample.html)
    assert not page.find("link")
    assert not [e for e in page.elements if e.tag in {"img", "iframe", "object", "embed"}]
    for element in page.elements:
        for name in ("src", "href", "xlink:href", "action", "srcset"):
            value = element.attrs.get(name, "")
            assert not URL.match(value), f"<{element.tag} {name}={value!r}>"
    urls = set(URL.findall(sample.html)) - NAMESPACES
    assert {u for u in urls if "url(" in u or u.startswith("//")} == set()
    assert "@import" not in sample.html
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", sample.html)
    assert "fetch(" not in sample.html and "XMLHttpRequest" not in sample.html


def test_report_sections_summary_and_findings(sample: Sample) -> None:
    page = parse(sample.html)
    h2 = [e.text.strip() for e in page.find("h2") if not e.attrs.get("id", "").startswith("card-")]
    for heading in ("Summary", "Ecosystem diagram", "Findings", "Licences and renewals"):
        assert heading in h2
    assert "No audit run" not in sample.html and "No usage data" not in sample.html
    eco = load_ecosystem(sample.folder / "ecosystem.yaml")
    findings = page.find("li", class_="finding")
    assert len(findings) > 10
    severities = {f.attrs["data-severity"] for f in findings}
    assert severities <= {"error", "warning", "info"} and "error" in severities
    assert all(f.attrs["data-schools"] for f in findings)
    assert all("Recommendation:" in f.text for f in findings)
    cards = {e.attrs["id"] for e in page.find("section", class_="card")}
    assert cards == {f"card-{tool.id}" for tool in eco.tools}
    nodes = {e.attrs["id"] for e in page.elements if e.attrs.get("id", "").startswith("node-")}
    assert nodes and {n.replace("node-", "card-", 1) for n in nodes} <= cards
    summary = page.find("dl", class_="numbers")[0].text
    assert f"Schools{len(eco.schools)}" in re.sub(r"\s+", "", summary)


def test_finding_schools_follow_its_tools(sample: Sample) -> None:
    G = build_graph(load_ecosystem(sample.folder / "ecosystem.yaml"), as_of=AS_OF)
    page = parse(sample.html)
    checked = 0
    labels = {G.nodes[t]["label"]: t for t in nodes_of_kind(G, "tool")}
    for finding in page.find("li", class_="finding"):
        about = re.search(r"About: (.*?)\n", finding.text)
        assert about, finding.text
        subjects = about.group(1).split(", ")
        named = [labels[x] for x in subjects if x in labels]
        if len(subjects) == 1 and len(named) == 1:
            schools = set(schools_of(G, named[0]))  # every school for `schools: all`
            assert set(finding.attrs["data-schools"].split()) == schools
            checked += 1
    assert checked > 3


def test_small_counts_are_shown_as_less_than_five(sample: Sample) -> None:
    rows = re.findall(r"<tr data-schools=[^>]*><th scope=\"row\">.*?</tr>", sample.html, re.S)
    usage = [r for r in rows if "Weekly active" in r or "no use" in r]
    assert usage
    suppressed = 0
    for row in usage:
        cells = re.findall(r'<td class="num">([^<]*)</td>', row)[:3]  # students, teachers, others
        for cell in cells:
            assert cell in {"0", "&lt;5"} or int(cell) >= 5, row[:200]
            suppressed += cell == "&lt;5"
    assert suppressed > 0, "the thinned sample has small counts: they must show as <5"


def test_tables_are_accessible(sample: Sample) -> None:
    page = parse(sample.html)
    assert page.find("html")[0].attrs["lang"] == "en"
    tables = page.find("table")
    assert len(tables) > 10
    assert len(page.find("caption")) == len(tables)
    headers = page.find("th")
    assert headers and all(h.attrs.get("scope") in {"col", "row"} for h in headers)
    charts = [e for e in page.elements if e.tag == "svg" and "chart" in e.attrs.get("class", "")]
    assert charts and all(
        c.attrs.get("role") == "img" and c.attrs.get("aria-label") for c in charts
    )
    assert "@media print" in sample.html


def test_coverage_cells_count_tools_for(sample: Sample) -> None:
    G = build_graph(load_ecosystem(sample.folder / "ecosystem.yaml"), as_of=AS_OF)
    matrix = coverage(G, "cedar-ms")
    assert matrix["grades"] == ["6", "7", "8"]
    assert {row["subject"] for row in matrix["rows"]} >= {"ela", "math", "science"}
    for row in matrix["rows"]:
        for grade, cell in zip(matrix["grades"], row["cells"], strict=True):
            expected = tools_for(
                G, task=row["task"], subject=row["subject"], grade=grade, school="cedar-ms"
            )
            assert sorted(cell) == sorted(G.nodes[t]["label"] for t in expected)
    assert matrix["gaps"] == sum(1 for row in matrix["rows"] for cell in row["cells"] if not cell)


def test_without_audit_or_usage_the_report_says_so(tmp_path: Path) -> None:
    eco = load_ecosystem(RIVERSIDE_YAML)
    G = build_graph(eco, as_of=AS_OF)
    path = report(eco, G, as_of=AS_OF, output=tmp_path / "bare.html", diagram=False)
    html = path.read_text(encoding="utf-8")
    assert "No audit run" in html and "No usage data" in html and "No diagram" in html
    assert 'class="finding"' not in html


def test_library_api_takes_an_audit_result(tmp_path: Path) -> None:
    eco = load_ecosystem(RIVERSIDE_YAML)
    G = build_graph(eco, as_of=AS_OF)
    finding = Finding(
        rule_id="EM-OWN-001",
        severity="warning",
        subjects=("mathstream",),
        message='MathStream has no owner <script>alert("x")</script>.',
        evidence={"tools": 1},
        recommendation="Name an owner.",
    )
    audit = AuditResult(as_of=AS_OF, findings=(finding,), rules_run=("EM-OWN-001",))
    context = build_context(eco, G, audit=audit, as_of=AS_OF, diagram=False)
    assert context["findings"]["summary"]["warning"] == 1
    html = render_report(eco, G, audit=audit, as_of=AS_OF, diagram=False)
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "findings" not in G.nodes["mathstream"]  # the caller's graph is untouched


def test_bar_chart_hides_small_values() -> None:
    svg = bar_chart("t", ["a", "b", "c"], {"students": [1, 4, 5]}, min_cell_size=5)
    assert svg.count('<rect class="bar') == 1
    assert svg.count("&lt;5") == 2


def test_cli_report_missing_store_exits_2(tmp_path: Path) -> None:
    args = ["report", "-i", str(RIVERSIDE_YAML), "--store", str(tmp_path / "none.duckdb")]
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert "no store" in result.output


def test_cli_report_without_store_runs_the_inventory_audit(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    args = ["report", "-i", str(RIVERSIDE_YAML), "-o", str(target), "--as-of", "2026-11-23"]
    result = CliRunner().invoke(app, [*args, "--no-diagram"])
    assert result.exit_code == 0, result.output
    html = target.read_text(encoding="utf-8")
    assert 'class="finding"' in html and "No usage data" in html
    assert "Rules that could not run" in html


def test_report_graph_arg_is_not_changed() -> None:
    eco = load_ecosystem(RIVERSIDE_YAML)
    G = build_graph(eco, as_of=date(2026, 11, 23))
    before = nx.node_link_data(G, edges="edges")
    render_report(eco, G, as_of=AS_OF, diagram=False)
    assert nx.node_link_data(G, edges="edges") == before


def test_cli_diagram_flags_tools_from_the_store_beside_the_inventory(sample: Sample) -> None:
    inventory = sample.folder / "ecosystem.yaml"
    args = ["diagram", "-i", str(inventory), "-f", "dot", "--as-of", AS_OF.isoformat()]
    with_usage = CliRunner().invoke(app, [*args, "--only-flows"])
    assert with_usage.exit_code == 0, with_usage.output
    assert "[teacher-only]" in with_usage.output or "[unused]" in with_usage.output
    without = CliRunner().invoke(app, ["diagram", "-i", str(RIVERSIDE_YAML), "-f", "dot"])
    assert "[teacher-only]" not in without.output and "[unused]" not in without.output
    missing = CliRunner().invoke(app, [*args, "--store", str(sample.folder / "none.duckdb")])
    assert missing.exit_code == 2 and "no store" in missing.output


def test_too_many_schools_leave_coverage_out_and_say_so(monkeypatch) -> None:
    from edtech_map.render import html as html_module

    eco = load_ecosystem(RIVERSIDE_YAML)
    G = build_graph(eco, as_of=AS_OF)
    monkeypatch.setattr(html_module, "COVERAGE_MAX_SCHOOLS", 3)
    page = render_report(eco, G, as_of=AS_OF, diagram=False)
    assert "Coverage left out." in page and "9 schools" in page
    assert 'class="school-coverage"' not in page
