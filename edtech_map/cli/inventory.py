"""Inventory commands: ``init``, ``validate``, ``schema``, ``import``, ``graph``.

Examples
--------
>>> from typer.testing import CliRunner
>>> from edtech_map.cli import app
>>> result = CliRunner().invoke(app, ["validate", "--help"])
>>> result.exit_code, "file:line:col" in result.output
(0, True)
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edtech_map.cli.app import ExitCode, app, console, err_console, fail, print_json
from edtech_map.errors import InventoryError
from edtech_map.graph import EDGE_KINDS, NODE_KINDS, build_graph, write_graphml, write_node_link
from edtech_map.inventory import (
    SCHEMA_FILENAME,
    atomic_write_text,
    ecosystem_json_schema,
    iter_json_lines,
    load_ecosystem,
    save_ecosystem,
    starter_yaml,
)
from edtech_map.model import Ecosystem
from edtech_map.spreadsheet import import_spreadsheet
from edtech_map.store import default_store_path
from edtech_map.workspace_lock import WorkspaceLock, WorkspaceLockedError

__all__ = ["InventoryOption", "load_or_exit"]

DEFAULT_INVENTORY = Path("ecosystem.yaml")

InventoryOption = Annotated[
    Path,
    typer.Option(
        "--inventory",
        "-i",
        envvar="EDTECH_MAP_INVENTORY",
        help="The inventory file (default ./ecosystem.yaml; env EDTECH_MAP_INVENTORY).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def load_or_exit(path: Path) -> Ecosystem:
    """Load the inventory, or print its problems and exit (1 invalid, 2 missing).

    Examples
    --------
    >>> try:
    ...     load_or_exit(Path("/nonexistent/ecosystem.yaml"))
    ... except typer.Exit as stop:
    ...     print(stop.exit_code)
    2
    """
    try:
        return load_ecosystem(path)
    except FileNotFoundError as error:
        raise fail(str(error)) from None
    except InventoryError as error:
        err_console.print(str(error), markup=False, soft_wrap=True)
        raise typer.Exit(int(ExitCode.FINDINGS)) from None


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the inventory.")] = DEFAULT_INVENTORY,
    district_id: Annotated[str, typer.Option(help="Short id of the district.")] = "my-district",
    district_name: Annotated[str, typer.Option(help="Name of the district.")] = "My District",
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter ecosystem.yaml and its JSON Schema beside it.

    Example: edtech-map init --district-id riverside --district-name "Riverside USD"
    """
    if path.exists() and not force:
        raise fail(f"{path} already exists; edit it, or pass --force to start over")
    text = starter_yaml(district_id=district_id, district_name=district_name)
    atomic_write_text(path, text)
    schema_path = path.parent / SCHEMA_FILENAME
    atomic_write_text(schema_path, json.dumps(ecosystem_json_schema(), indent=2) + "\n")
    console.print(f"Wrote {path} and {schema_path}. Next: edit it, then `edtech-map validate`.")


@app.command()
def validate(
    path: Annotated[
        Path, typer.Argument(help="The inventory to check.", envvar="EDTECH_MAP_INVENTORY")
    ] = DEFAULT_INVENTORY,
    as_json: JsonOption = False,
) -> None:
    """Check an inventory; list every problem as file:line:col field: message.

    Exit code 0 when valid, 1 when there are problems, 2 when the file is missing.

    Example: edtech-map validate ecosystem.yaml
    """
    try:
        ecosystem = load_ecosystem(path)
    except FileNotFoundError as error:
        raise fail(str(error)) from None
    except InventoryError as error:
        if as_json:
            print_json([json.loads(line) for line in iter_json_lines(error.problems, path)])
        else:
            err_console.print(str(error), markup=False, soft_wrap=True)
        raise typer.Exit(int(ExitCode.FINDINGS)) from None
    if as_json:
        print_json([])
        return
    console.print(
        f"{path}: valid: {len(ecosystem.schools)} schools, {len(ecosystem.tools)} tools, "
        f"{len(ecosystem.flows)} data flows"
    )


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
) -> None:
    """Print (or write) the JSON Schema of ecosystem.yaml for editors and CI.

    Example: edtech-map schema -o ecosystem.schema.json
    """
    text = json.dumps(ecosystem_json_schema(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        console.print(f"Wrote {output}")


@app.command("import")
def import_command(
    spreadsheet: Annotated[Path, typer.Argument(help="A .csv or .xlsx file, one tool per row.")],
    inventory: InventoryOption = DEFAULT_INVENTORY,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet (default: first).")] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import good rows; report and skip bad ones.")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Report what would change; write nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Merge a spreadsheet of tools into ecosystem.yaml, keeping its comments.

    Filled cells replace fields; empty cells keep what the YAML had. A bad row stops the
    import (exit 1) unless --skip-invalid. Column names: docs/inventory-import.md.

    Example: edtech-map import "App inventory 2026.xlsx" --inventory ecosystem.yaml
    """
    if not spreadsheet.is_file():
        raise fail(f"{spreadsheet}: no such file")
    # The same workspace lock as the store's: one run at a time reads-then-writes the YAML.
    try:
        lock = WorkspaceLock(default_store_path(inventory).parent).acquire()
    except WorkspaceLockedError as error:
        raise fail(str(error)) from None
    try:
        ecosystem = load_or_exit(inventory)
        try:
            merged, report = import_spreadsheet(
                spreadsheet, ecosystem, sheet=sheet, skip_invalid=skip_invalid
            )
        except InventoryError as error:
            err_console.print(str(error), markup=False, soft_wrap=True)
            err_console.print("Nothing was imported. Fix the rows, or pass --skip-invalid.")
            raise typer.Exit(int(ExitCode.FINDINGS)) from None
        if not dry_run and (report.added or report.updated):
            save_ecosystem(merged, inventory)
    finally:
        lock.release()
    if as_json:
        print_json(
            {
                "rows_read": report.rows_read,
                "added": report.added,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "skipped": [p.render(spreadsheet) for p in report.skipped],
                "ignored_columns": report.ignored_columns,
                "written": not dry_run and bool(report.added or report.updated),
            }
        )
    else:
        console.print(report.summary())
        for column in report.ignored_columns:
            err_console.print(f"warning: column {column!r} is not a known field; it was ignored")
        for problem in report.skipped:
            err_console.print(f"skipped {problem.render(spreadsheet)}", markup=False)
        if dry_run:
            console.print("Dry run: nothing written.")
    if report.skipped:
        raise typer.Exit(int(ExitCode.FINDINGS))


@app.command()
def graph(
    inventory: InventoryOption = DEFAULT_INVENTORY,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="node-link (JSON) or graphml (Gephi, yEd).")
    ] = "node-link",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Export the ecosystem graph (tools, schools, data flows, rostering, SSO, LTI).

    Example: edtech-map graph --format graphml -o ecosystem.graphml
    """
    if fmt not in ("node-link", "graphml"):
        raise fail(f"--format {fmt!r} is not known; use node-link or graphml")
    ecosystem = load_or_exit(inventory)
    G = build_graph(ecosystem)
    suffix = ".json" if fmt == "node-link" else ".graphml"
    target = output or Path(f"ecosystem-graph{suffix}")
    if fmt == "node-link":
        write_node_link(G, target)
    else:
        write_graphml(G, target)
    node_counts = Counter(data["kind"] for _, data in G.nodes(data=True))
    edge_counts = Counter(data["kind"] for _, _, data in G.edges(data=True))
    if as_json:
        print_json(
            {"output": os.fspath(target), "nodes": dict(node_counts), "edges": dict(edge_counts)}
        )
        return
    table = Table(title=f"Ecosystem graph -> {target}")
    table.add_column("kind")
    table.add_column("count", justify="right")
    for kind in NODE_KINDS:
        table.add_row(f"node: {kind}", str(node_counts.get(kind, 0)))
    for kind in EDGE_KINDS:
        table.add_row(f"edge: {kind}", str(edge_counts.get(kind, 0)))
    console.print(table)
