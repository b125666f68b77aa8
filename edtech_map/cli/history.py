"""``edtech-map store compact``, ``store export-parquet`` and ``aggregate``: keeping history.

``store export-parquet`` writes each ingest run's usage events once as month-partitioned zstd
Parquet; ``store compact`` rewrites the store file to give back freed space; ``aggregate``
runs the shared year aggregation SQL (:func:`edtech_map.history.aggregate_sql`) with DuckDB
over many districts' exports. ``aggregate --sql`` prints that SQL for Spark.

Examples
--------
>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["aggregate", "--help"])
>>> result.exit_code, "--min-cell-size" in result.output
(0, True)
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from edtech_map.cli.app import ExitCode, app, console, fail, print_json
from edtech_map.cli.roster import store_app
from edtech_map.errors import EdtechMapError
from edtech_map.history import (
    AggregateLevel,
    HistoryError,
    aggregate,
    aggregate_sql,
    compact,
    export_parquet,
)
from edtech_map.inventory import load_ecosystem
from edtech_map.store import Store, StoreError, default_store_path

__all__ = ["aggregate_command", "compact_command", "export_parquet_command"]

_STORE_OPTION = typer.Option(
    None, "--store", help="The store file (default: .edtech-map/store.duckdb beside the inventory)."
)
_INVENTORY_OPTION = typer.Option(
    Path("ecosystem.yaml"),
    "--inventory",
    envvar="EDTECH_MAP_INVENTORY",
    help="The inventory the store sits beside (its district id names the export).",
)
_JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")
_OUT_ARGUMENT = typer.Argument(..., help="Folder of this district's Parquet history.")
_FOLDERS_ARGUMENT = typer.Argument(..., help="Districts' export-parquet folders, one each.")

COMPACT_HELP = (
    "Checkpoint the store and rewrite it into a fresh file, giving back the space that "
    "deleted and updated rows left.\n\nExample: edtech-map store compact --json"
)
EXPORT_HELP = (
    "Write the usage events of every ingest run not exported yet to OUT as zstd Parquet, "
    "partitioned by month (OUT/usage_events/year=YYYY/month=M/). Each event is written once; "
    "run it after every ingest.\n\nExample: edtech-map store export-parquet /data/history"
)
AGGREGATE_HELP = (
    "Aggregate a year of usage over many districts' Parquet exports (one folder each): "
    "events, active users and minutes per tool and role, per district (--level district) or "
    "summed over the state. The SQL is the one Spark SQL runs too (--sql prints it).\n\n"
    "Example: edtech-map aggregate exports/* --year 2026 --json"
)


def _open(store: Path | None, inventory: Path) -> Store:
    path = store or default_store_path(inventory)
    try:
        return Store.open(path, create=False)
    except StoreError as error:
        raise fail(str(error)) from None


@store_app.command("compact", help=COMPACT_HELP)
def compact_command(
    store: Path | None = _STORE_OPTION,
    inventory: Path = _INVENTORY_OPTION,
    json_output: bool = _JSON_OPTION,
) -> None:
    """Rewrite the store to give back space (the ``store compact`` command).

    Examples
    --------
    >>> import tempfile
    >>> from typer.testing import CliRunner
    >>> path = Path(tempfile.mkdtemp()) / "s.duckdb"
    >>> Store.open(path).close()
    >>> result = CliRunner().invoke(app, ["store", "compact", "--store", str(path), "--json"])
    >>> result.exit_code, '"bytes_after"' in result.output
    (0, True)
    """
    with _open(store, inventory) as opened:
        try:
            report = compact(opened)
        except (HistoryError, StoreError) as error:
            raise fail(str(error)) from None
    if json_output:
        print_json(report.as_dict())
        return
    console.print(
        f"{report.path}: {report.bytes_before:,} -> {report.bytes_after:,} bytes "
        f"({report.saved:,} given back)",
        markup=False,
    )


@store_app.command("export-parquet", help=EXPORT_HELP)
def export_parquet_command(
    out: Path = _OUT_ARGUMENT,
    store: Path | None = _STORE_OPTION,
    inventory: Path = _INVENTORY_OPTION,
    district: str | None = typer.Option(
        None, "--district", help="District id written into every row (default: the inventory's)."
    ),
    json_output: bool = _JSON_OPTION,
) -> None:
    """Write new usage events as Parquet (the ``store export-parquet`` command).

    Examples
    --------
    >>> import tempfile
    >>> from typer.testing import CliRunner
    >>> folder = Path(tempfile.mkdtemp())
    >>> Store.open(folder / "s.duckdb").close()
    >>> result = CliRunner().invoke(app, ["store", "export-parquet", str(folder / "h"),
    ...     "--store", str(folder / "s.duckdb"), "--district", "d1", "--json"])
    >>> result.exit_code, '"events": 0' in result.output
    (0, True)
    """
    if district is None:
        if not inventory.exists():
            raise fail(f"{inventory} not found; give --district or --inventory")
        try:
            district = load_ecosystem(inventory).district.id
        except EdtechMapError as error:
            raise fail(str(error)) from None
    with _open(store, inventory) as opened:
        try:
            report = export_parquet(opened, out, district_id=district)
        except (HistoryError, StoreError) as error:
            raise fail(str(error)) from None
    if json_output:
        print_json(report.as_dict())
        return
    console.print(
        f"{report.out}: wrote {report.events:,} events of {report.runs} ingest run(s); the "
        f"history holds {report.files} files, {report.bytes:,} bytes",
        markup=False,
    )


@app.command("aggregate", help=AGGREGATE_HELP)
def aggregate_command(
    folders: list[Path] = _FOLDERS_ARGUMENT,
    year: int = typer.Option(date.today().year, "--year", help="Calendar year (UTC) to sum."),
    level: str = typer.Option("state", "--level", help="state or district."),
    min_cell_size: int = typer.Option(
        5, "--min-cell-size", min=0, help="Leave out rows with fewer active users than this."
    ),
    sql: bool = typer.Option(False, "--sql", help="Print the SQL (for Spark) and stop."),
    json_output: bool = _JSON_OPTION,
) -> None:
    """Aggregate many districts' usage history (the ``aggregate`` command).

    Examples
    --------
    >>> import tempfile
    >>> from typer.testing import CliRunner
    >>> result = CliRunner().invoke(app, ["aggregate", tempfile.mkdtemp(), "--year", "2026"])
    >>> result.exit_code
    2
    >>> result = CliRunner().invoke(app, ["aggregate", ".", "--year", "2026", "--sql"])
    >>> result.exit_code, "FROM usage_history" in result.output
    (0, True)
    """
    if level not in ("state", "district"):
        raise fail(f"--level must be state or district, not {level!r}")
    chosen: AggregateLevel = "state" if level == "state" else "district"
    if sql:
        typer.echo(aggregate_sql(chosen, year=year, min_cell_size=min_cell_size))
        return
    try:
        table = aggregate(
            folders,
            year=year,
            level=chosen,
            min_cell_size=min_cell_size,
        )
    except HistoryError as error:
        raise fail(str(error)) from None
    rows = table.to_pylist()
    if json_output:
        print_json({"year": year, "level": level, "districts": len(folders), "rows": rows})
        return
    if not rows:
        console.print(f"no usage in {year} with {min_cell_size} or more users per row")
        raise typer.Exit(int(ExitCode.OK))
    shown = Table(title=f"usage in {year}, {level} level", title_justify="left")
    for column in table.column_names:
        shown.add_column(
            column, justify="left" if column in {"district_id", "tool_id", "role"} else "right"
        )
    for row in rows:
        shown.add_row(*(f"{v:,.1f}" if isinstance(v, float) else str(v) for v in row.values()))
    console.print(shown)
