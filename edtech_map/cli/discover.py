"""``edtech-map discover``: apps in use that the inventory does not know, as proposed entries.

Examples
--------
>>> from typer.testing import CliRunner
>>> from edtech_map.cli import app
>>> "--write" in CliRunner().invoke(app, ["discover", "--help"]).output
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edtech_map.cli.app import app, console, fail, print_json
from edtech_map.cli.inventory import DEFAULT_INVENTORY, InventoryOption, load_or_exit
from edtech_map.discovery import add_proposals, propose_tools
from edtech_map.inventory import save_ecosystem
from edtech_map.matching import ToolMatcher
from edtech_map.store import Store, StoreError, default_store_path
from edtech_map.usage import rematch, unmatched_apps

__all__: list[str] = []


@app.command()
def discover(
    inventory: InventoryOption = DEFAULT_INVENTORY,
    store: Annotated[
        Path | None, typer.Option(help="The store (default: .edtech-map/store.duckdb beside it).")
    ] = None,
    min_users: Annotated[int, typer.Option(help="Only apps with at least this many users.")] = 1,
    write: Annotated[
        bool, typer.Option(help="Add the proposals to the inventory (comments are kept).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List apps seen in usage that no inventory tool claims, as proposed inventory entries.

    Each proposal has status under_review, the identifier it was seen under and its evidence
    (students, teachers, events, first and last seen; small counts shown as <5). With --write
    they are added to ecosystem.yaml and the store's past usage is matched to them.

    Example: edtech-map discover --min-users 5 --write
    """
    ecosystem = load_or_exit(inventory)
    path = store or default_store_path(inventory)
    matched = 0
    if not path.exists():
        raise fail(f"no store at {path}; ingest usage first (edtech-map ingest) or pass --store")
    try:
        with Store.open(path) as opened:
            proposals = propose_tools(ecosystem, unmatched_apps(opened), min_users=min_users)
            if write and proposals:
                grown = add_proposals(ecosystem, proposals)
                save_ecosystem(grown, inventory)
                with opened.transaction() as tx:
                    matched = rematch(tx, ToolMatcher.from_ecosystem(grown))
    except StoreError as error:
        raise fail(str(error)) from None
    if as_json:
        print_json(
            [
                {
                    "id": p.tool.id,
                    "identifier": p.identifier,
                    "students": p.students,
                    "teachers": p.teachers,
                    "events": p.events,
                    "written": write,
                }
                for p in proposals
            ]
        )
        return
    if not proposals:
        console.print("Every app seen in usage is in the inventory.")
        return
    table = Table(title="Apps in use that the inventory does not know")
    for column in ("proposed id", "seen as", "students", "teachers", "events"):
        table.add_column(
            column, justify="right" if column in {"students", "teachers", "events"} else "left"
        )
    for p in proposals:
        table.add_row(p.tool.id, p.identifier, str(p.students), str(p.teachers), str(p.events))
    console.print(table)
    if write:
        console.print(
            f"Added {len(proposals)} tools to {inventory} (status under_review); "
            f"{matched} past events now match them."
        )
    else:
        console.print("Add them to the inventory with --write, then review each entry.")
