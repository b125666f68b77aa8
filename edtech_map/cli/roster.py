"""``edtech-map import-roster`` and ``edtech-map store info``: rosters into the store, and a look inside.

Examples
--------
>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["import-roster", "--help"])
>>> result.exit_code, "--keep-names" in result.output
(0, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from connectors import oneroster_csv
from connectors.base import RowRejectedError, SourceError, SyncContext, SyncReport
from edtech_map.cli.app import ExitCode, app, console, err_console, fail, print_json
from edtech_map.store import ShrinkGuardError, Store, StoreError, default_store_path

__all__ = ["import_roster", "store_info"]


store_app = typer.Typer(
    name="store", help="Look inside the workspace store (DuckDB).", no_args_is_help=True
)
app.add_typer(store_app, name="store")

_PATH_ARGUMENT = typer.Argument(..., help="A OneRoster 1.1/1.2 CSV bundle: a folder or a zip.")
_STORE_OPTION = typer.Option(
    None, "--store", help="The store file (default: .edtech-map/store.duckdb beside the inventory)."
)
_INVENTORY_OPTION = typer.Option(
    Path("ecosystem.yaml"),
    "--inventory",
    envvar="EDTECH_MAP_INVENTORY",
    help="The inventory the store sits beside (only used to find the default store).",
)


IMPORT_HELP = (
    "Import a OneRoster 1.1/1.2 CSV roster (folder or zip) into the store, as one transaction; "
    "people are kept as pseudonymous keys unless --keep-names.\n\n"
    "Prints per file how many records were read, loaded, skipped and rejected. Exit code 0: "
    "all loaded; 1: records rejected, or refused by --strict or the shrink guard (nothing "
    "imported); 2: not a OneRoster bundle, or a missing path.\n\n"
    "Example: edtech-map import-roster exports/oneroster.zip --source sis"
)
INFO_HELP = (
    "Show what the store holds: rows per source and table, and each stream's last pull and "
    "cursor.\n\nExample: edtech-map store info --json"
)


@app.command("import-roster", help=IMPORT_HELP)
def import_roster(
    path: Path = _PATH_ARGUMENT,
    store: Path | None = _STORE_OPTION,
    inventory: Path = _INVENTORY_OPTION,
    source: str = typer.Option(
        oneroster_csv.SOURCE, "--source", help="Name the rows carry (one name per roster feed)."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Stop at the first bad record; import nothing."
    ),
    force: bool = typer.Option(
        False, "--force", help="Accept a full import that removes half or more of the users."
    ),
    keep_names: bool = typer.Option(
        False,
        "--keep-names",
        help="Also keep names, e-mails and usernames (in the separate identities table).",
    ),
    keep_extensions: bool = typer.Option(
        False, "--keep-extensions", help="Keep metadata.* and ext_* columns (not for people)."
    ),
    encoding: str = typer.Option(
        "utf-8", "--encoding", help="Text encoding of the files (cp1252 for some Excel exports)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Import a OneRoster CSV roster into the store (the ``import-roster`` command).

    Examples
    --------
    >>> import tempfile
    >>> from typer.testing import CliRunner
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "orgs.csv").write_text("sourcedId,name,type\\norg-1,Lincoln,school\\n")
    >>> result = CliRunner().invoke(
    ...     app, ["import-roster", str(folder), "--store", str(folder / "s.duckdb"), "--json"])
    >>> result.exit_code, '"loaded": 1' in result.output
    (0, True)
    """
    if not path.exists():
        raise fail(f"{path}: no such file or folder; give a OneRoster CSV folder or zip")
    store_path = store or default_store_path(inventory)
    options = {"path": path, "keep_extensions": keep_extensions, "encoding": encoding}
    try:
        config = oneroster_csv.Config.model_validate(options)
        # look at the bundle before touching the store: a wrong path creates no store
        with oneroster_csv.open_bundle(path, config, SyncReport(source=source, run_id="check")):
            pass
    except ValidationError as error:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())
        raise fail(f"invalid option: {problems}") from None
    except SourceError as error:
        raise fail(str(error)) from None
    try:
        with Store.open(store_path) as opened, _progress(json_output) as progress:
            tasks: dict[str, TaskID] = {}

            def advance(stream: str, read: int) -> None:
                if stream not in tasks:
                    tasks[stream] = progress.add_task(stream, total=None)
                progress.update(tasks[stream], completed=read)

            ctx = SyncContext(
                store=opened,
                source=source,
                options=options,
                strict=strict,
                force=force,
                keep_identities=keep_names,
                progress=advance,
            )
            report = oneroster_csv.sync(ctx)
    except (ShrinkGuardError, RowRejectedError) as error:
        raise fail(str(error), ExitCode.FINDINGS) from None
    except (SourceError, StoreError) as error:
        raise fail(str(error), ExitCode.USAGE) from None
    if json_output:
        print_json({"store": str(store_path), **report.as_dict()})
    else:
        _print_report(report, path, store_path)
    if not report.ok:
        raise typer.Exit(int(ExitCode.FINDINGS))


def _progress(quiet: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=quiet,
    )


def _print_report(report: SyncReport, path: Path, store_path: Path) -> None:
    table = Table(
        title=f"{path} -> {store_path} (source {report.source}, OneRoster {report.version})",
        title_justify="left",
    )
    for column in ("file", "mode", "read", "loaded", "skipped", "rejected", "deleted"):
        table.add_column(column, justify="left" if column in {"file", "mode"} else "right")
    for stream in report.streams.values():
        table.add_row(
            stream.where or stream.stream,
            stream.mode or "",
            str(stream.read),
            str(stream.loaded),
            str(stream.skipped),
            str(stream.rejected),
            str(stream.deleted),
        )
    console.print(table)
    for stream in report.streams.values():
        for reason in stream.rejections:
            console.print(f"rejected: {reason}", markup=False, soft_wrap=True)
        if stream.rejected > len(stream.rejections):
            more = stream.rejected - len(stream.rejections)
            console.print(f"rejected: ... and {more} more in {stream.where}", markup=False)
        for reason in stream.skips:
            console.print(f"skipped: {reason}", markup=False, soft_wrap=True)
    for warning in report.warnings:
        console.print(f"warning: {warning}", markup=False, soft_wrap=True)


@store_app.command("info", help=INFO_HELP)
def store_info(
    store: Path | None = _STORE_OPTION,
    inventory: Path = _INVENTORY_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show what the store holds (the ``store info`` command).

    Examples
    --------
    >>> import tempfile
    >>> from typer.testing import CliRunner
    >>> missing = Path(tempfile.mkdtemp()) / "none.duckdb"
    >>> CliRunner().invoke(app, ["store", "info", "--store", str(missing)]).exit_code
    2
    """
    store_path = store or default_store_path(inventory)
    try:
        with Store.open(store_path, create=False) as opened:
            counts = opened.counts()
            state = opened.sync_state()
    except StoreError as error:
        raise fail(str(error)) from None
    if json_output:
        print_json({"store": str(store_path), "counts": counts, "sync_state": state})
        return
    _print_info(store_path, counts, state)


def _print_info(
    store_path: Path, counts: list[dict[str, Any]], state: list[dict[str, Any]]
) -> None:
    rows = Table(title=f"{store_path}: rows", title_justify="left")
    for column in ("source", "table", "rows"):
        rows.add_column(column, justify="right" if column == "rows" else "left")
    for count in counts:
        rows.add_row(str(count["source"]), str(count["table"]), str(count["rows"]))
    console.print(rows if counts else f"{store_path}: empty (no rows yet)")
    if not state:
        return
    pulls = Table(title="last pull per stream", title_justify="left")
    for column in ("source", "stream", "finished", "read", "loaded", "skipped", "cursor"):
        pulls.add_column(column)
    for entry in state:
        finished = entry["finished"]
        pulls.add_row(
            str(entry["source"]),
            str(entry["stream"]),
            finished.isoformat(timespec="seconds") if finished else "",
            str(entry["rows_read"]),
            str(entry["rows_loaded"]),
            str(entry["rows_skipped"]),
            str(entry["cursor"] or ""),
        )
    console.print(pulls)
