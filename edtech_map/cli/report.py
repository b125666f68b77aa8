"""``edtech-map report``: one self-contained HTML file with the diagram, findings and usage.

Examples
--------
>>> from typer.testing import CliRunner
>>> from edtech_map.cli import app
>>> result = CliRunner().invoke(app, ["report", "--help"])
>>> result.exit_code, "--store" in result.output
(0, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edtech_map.analyses.engine import run_audit
from edtech_map.analyses.findings import AuditResult
from edtech_map.cli.app import app, err_console
from edtech_map.cli.diagram import AsOfOption, StoreOption, load_aggregates, parse_as_of
from edtech_map.cli.inventory import InventoryOption, load_or_exit
from edtech_map.graph import build_graph
from edtech_map.render import report

__all__ = ["report_command"]


@app.command("report")
def report_command(
    inventory: InventoryOption = Path("ecosystem.yaml"),
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    store: StoreOption = None,
    as_of: AsOfOption = None,
    audit: Annotated[
        bool, typer.Option("--audit/--no-audit", help="Run the audit and list its findings.")
    ] = True,
    diagram: Annotated[
        bool, typer.Option("--diagram/--no-diagram", help="Include the diagram (needs Graphviz).")
    ] = True,
) -> None:
    """Write one self-contained HTML report a director can e-mail: summary, diagram, findings,
    coverage, usage, licences and privacy, with a school filter. It needs no network to view.

    Example: edtech-map report -i ecosystem.yaml --store .edtech-map/store.duckdb -o report.html
    """
    day = parse_as_of(as_of)
    ecosystem = load_or_exit(inventory)
    aggregates = load_aggregates(ecosystem, store, inventory, day)
    G = build_graph(ecosystem, as_of=day)
    result: AuditResult | None = None
    if audit:
        result = run_audit(ecosystem, G, aggregates=aggregates, as_of=day)
    usage = aggregates
    if aggregates is None or not aggregates.has_usage:
        err_console.print(
            "note: no usage in the report (no store, or no usage ingested)", markup=False
        )
    path = report(
        ecosystem, G, audit=result, usage=usage, as_of=day, output=output, diagram=diagram
    )
    err_console.print(f"wrote {path}", markup=False)
