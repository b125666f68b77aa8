"""``edtech-map ingest`` and ``edtech-map usage``: usage files into the store, and who uses what.

Examples
--------
>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["ingest", "--help"])
>>> result.exit_code, "--strict" in result.output
(0, True)
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import typer
from pydantic import SecretStr
from rich.table import Table

from connectors import canvas_lti, google_workspace
from connectors.http import HttpClient
from connectors.xapi import lrs_client
from edtech_map.cli.app import ExitCode, app, console, err_console, fail, print_json
from edtech_map.errors import EdtechMapError, InventoryError
from edtech_map.inventory import load_ecosystem
from edtech_map.model import Ecosystem
from edtech_map.store import Store, StoreError, default_store_path
from edtech_map.usage import (
    FORMATS,
    IngestReport,
    ingest,
    ingest_lrs,
    ingest_pull,
    unmatched_apps,
    usage_by_tool,
)

__all__ = ["ingest_command", "usage_command"]

_KINDS = {"caliper": "caliper", "xapi": "xapi", "usage_csv": "csv"}
_INVENTORY_OPTION = typer.Option(
    Path("ecosystem.yaml"),
    "--inventory",
    help="The inventory whose tools usage is matched to (skipped with a warning if absent).",
)
_PATHS_ARGUMENT = typer.Argument(None, help="Usage files or folders of them.")
_STORE_OPTION = typer.Option(
    None, "--store", help="The store file (default: .edtech-map/store.duckdb beside the inventory)."
)

INGEST_HELP = (
    "Read Caliper (1.0-1.2), xAPI or CSV usage files (or folders of them) into the store, as "
    "one transaction, matching each event to an inventory tool. Events already in the store "
    "are counted as duplicates, not added again. Exit 0: all loaded; 1: records rejected, or "
    "refused by --strict; 2: a missing path, an unknown format or a bad inventory."
)


def _load_inventory(path: Path, *, warn: bool = True) -> Ecosystem | None:
    if not path.exists():
        if warn:
            err_console.print(
                f"warning: {path} not found; usage is stored unmatched (give --inventory to "
                "match it to tools)",
                markup=False,
            )
        return None
    try:
        return load_ecosystem(path)
    except InventoryError as error:
        raise fail(str(error)) from None


def _source_options(ecosystem: Ecosystem | None) -> dict[str, dict[str, Any]]:
    """Reader options from the inventory's ``sources:`` (first source of each usage kind)."""
    options: dict[str, dict[str, Any]] = {}
    if ecosystem is None:
        return options
    for source in ecosystem.sources.values():
        fmt = _KINDS.get(source.kind)
        if fmt is not None and fmt not in options:
            options[fmt] = dict(source.options)
    return options


@app.command("ingest", help=INGEST_HELP)
def ingest_command(
    paths: list[Path] | None = _PATHS_ARGUMENT,
    format: str | None = typer.Option(  # the option is called --format
        None, "--format", help="caliper, xapi or csv (default: told from each file)."
    ),
    store: Path | None = _STORE_OPTION,
    inventory: Path = _INVENTORY_OPTION,
    strict: bool = typer.Option(
        False, "--strict", help="Stop at the first bad record; ingest nothing."
    ),
    lrs: str | None = typer.Option(
        None,
        "--lrs",
        help="Also pull statements from the LRS configured as sources.<NAME> (kind xapi, "
        "base_url, secrets: key and secret as environment variable names), from where the "
        "last pull stopped.",
    ),
    source: str | None = typer.Option(
        None,
        "--source",
        help="Also pull usage from sources.<NAME> of kind google_workspace (OAuth token "
        "grants) or canvas_lti (installed LTI tools).",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Ingest usage files (the ``ingest`` command).

    Examples
    --------
    >>> import tempfile
    >>> from typer.testing import CliRunner
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "u.csv").write_text(
    ...     "date,user_id,role,school_id,app,minutes\\n2026-11-02,stu-1,student,x,Mathly,5\\n")
    >>> result = CliRunner().invoke(app, ["ingest", str(folder / "u.csv"), "--store",
    ...     str(folder / "s.duckdb"), "--inventory", str(folder / "none.yaml"), "--json"])
    >>> result.exit_code, '"loaded": 1' in result.output
    (0, True)
    """
    if format is not None and format not in FORMATS:
        raise fail(f"--format {format!r}: use one of {', '.join(FORMATS)}")
    if not paths and lrs is None and source is None:
        raise fail("give usage files or folders, --lrs NAME or --source NAME")
    ecosystem = _load_inventory(inventory, warn=lrs is None and source is None)
    if source is not None and ecosystem is None:
        raise fail(f"--source {source}: sources are configured in {inventory}, not found")
    if lrs is not None and ecosystem is None:
        raise fail(
            f"--lrs {lrs}: the LRS is configured in the inventory's sources; {inventory} "
            "was not found (give --inventory)"
        )
    store_path = store or default_store_path(inventory)
    options = _source_options(ecosystem)
    # Check the LRS settings before anything is read, so a typo cannot follow a file ingest.
    client = _lrs_client(ecosystem, lrs) if lrs is not None and ecosystem is not None else None
    reports: list[IngestReport] = []
    try:
        pull_source = (
            _source_puller(ecosystem, source) if source is not None and ecosystem else None
        )
        with Store.open(store_path) as opened, client or nullcontext():
            if paths:
                reports.append(ingest(opened, paths, ecosystem, format, strict, options=options))
            if client is not None and lrs is not None and ecosystem is not None:
                reports.append(
                    ingest_lrs(
                        opened,
                        client,
                        ecosystem,
                        strict=strict,
                        options=dict(ecosystem.sources[lrs].options),
                    )
                )
            if pull_source is not None:
                reports.append(pull_source(opened, strict))
    except StoreError as error:
        raise fail(str(error)) from None
    except EdtechMapError as error:
        strict_refusal = strict and "strict mode" in str(error)
        raise fail(str(error), ExitCode.FINDINGS if strict_refusal else ExitCode.USAGE) from None
    report = IngestReport(
        run_id=reports[0].run_id,
        files=[f for r in reports for f in r.files],
        rematched=sum(r.rematched for r in reports),
    )
    if json_output:
        print_json({"store": str(store_path), **report.as_dict()})
    else:
        _print_report(report, store_path)
    if not report.ok:
        raise typer.Exit(int(ExitCode.FINDINGS))


def _lrs_client(ecosystem: Ecosystem, name: str) -> HttpClient:
    """The HTTP client for the LRS named in ``sources:``; the secret comes from the environment."""
    source = ecosystem.sources.get(name)
    if source is None or source.kind != "xapi":
        known = [k for k, v in ecosystem.sources.items() if v.kind == "xapi"]
        raise fail(
            f"--lrs {name}: no xapi source of that name in sources: (xapi sources: "
            f"{', '.join(known) or 'none'})"
        )
    if not source.base_url:
        raise fail(
            f"sources.{name}.base_url: give the LRS's xAPI root, e.g. https://lrs.example.org/xapi"
        )
    values: dict[str, str] = {}
    for credential in ("key", "secret"):
        variable = source.secrets.get(credential)
        value = os.environ.get(variable) if variable else None
        if not value:
            where = (
                f"the environment variable {variable}"
                if variable
                else (f"sources.{name}.secrets.{credential} (the name of an environment variable)")
            )
            raise fail(f"--lrs {name}: the LRS {credential} is missing: set {where}")
        values[credential] = value
    return lrs_client(source.base_url, values["key"], SecretStr(values["secret"]))


def _source_puller(ecosystem: Ecosystem, name: str) -> Callable[[Store, bool], IngestReport]:
    """A pull of ``sources.<name>`` (google_workspace or canvas_lti), its settings checked now."""
    source = ecosystem.sources.get(name)
    kinds = ("google_workspace", "canvas_lti")
    if source is None or source.kind not in kinds:
        known = [k for k, v in ecosystem.sources.items() if v.kind in kinds]
        raise fail(
            f"--source {name}: no {' or '.join(kinds)} source of that name in sources: "
            f"(those sources: {', '.join(known) or 'none'})"
        )
    if source.kind == "google_workspace":
        gws = google_workspace.Config.from_source(source)

        def pull_tokens(store: Store, strict: bool) -> IngestReport:
            with gws.client() as http:
                return ingest_pull(
                    store,
                    lambda since: google_workspace.read_tokens(http, gws, store.keys, since=since),
                    ecosystem,
                    source=google_workspace.SOURCE,
                    label=name,
                    strict=strict,
                )

        return pull_tokens
    lti = canvas_lti.Config.from_source(source)

    def pull_tools(store: Store, strict: bool) -> IngestReport:
        with lti.client() as http:
            return ingest_pull(
                store,
                lambda since: canvas_lti.read_installations(http, lti),
                ecosystem,
                source=canvas_lti.SOURCE,
                label=name,
                resume=False,
                strict=strict,
            )

    return pull_tools


def _print_report(report: IngestReport, store_path: Path) -> None:
    table = Table(title=f"usage -> {store_path} (run {report.run_id})", title_justify="left")
    columns = ("file", "format", "read", "loaded", "duplicates", "rejected", "entities", "matched")
    for column in columns:
        table.add_column(column, justify="left" if column in {"file", "format"} else "right")
    for file in report.files:
        table.add_row(
            file.path,
            file.format,
            *(str(getattr(file, c)) for c in columns[2:]),
        )
    console.print(table)
    console.print(report.summary(), markup=False)
    for reason in report.rejections:
        console.print(f"rejected: {reason}", markup=False, soft_wrap=True)
    if report.rejected > len(report.rejections):
        console.print(
            f"rejected: ... and {report.rejected - len(report.rejections)} more", markup=False
        )
    for file in report.files:
        for reason in file.skips[:3]:
            console.print(f"skipped: {reason}", markup=False, soft_wrap=True)


USAGE_HELP = (
    "Tools by active students, active teachers and minutes, from the usage in the store "
    "(apps no inventory tool claims are listed by identifier, matched = false)."
)


@app.command("usage", help=USAGE_HELP)
def usage_command(
    school: str | None = typer.Option(
        None, "--school", help="Only this school (inventory id, or an org id as in the usage)."
    ),
    store: Path | None = _STORE_OPTION,
    inventory: Path = _INVENTORY_OPTION,
    unmatched: bool = typer.Option(
        False,
        "--unmatched",
        help="List the app identifiers no inventory tool claims instead (candidates to add).",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    csv_output: bool = typer.Option(False, "--csv", help="Print CSV."),
) -> None:
    """Show usage per tool (the ``usage`` command).

    Examples
    --------
    >>> import tempfile
    >>> from typer.testing import CliRunner
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "u.csv").write_text(
    ...     "date,user_id,role,school_id,app,minutes\\n2026-11-02,stu-1,student,x,Mathly,5\\n")
    >>> args = ["--store", str(folder / "s.duckdb"), "--inventory", str(folder / "none.yaml")]
    >>> _ = CliRunner().invoke(app, ["ingest", str(folder / "u.csv"), *args])
    >>> print(CliRunner().invoke(app, ["usage", "--csv", *args]).output.strip())
    tool,matched,active_students,active_teachers,active_users,events,minutes,first_seen,last_seen
    Mathly,False,1,0,1,1,5.0,2026-11-02 00:00:00+00:00,2026-11-02 00:00:00+00:00
    """
    if json_output and csv_output:
        raise fail("give --json or --csv, not both")
    ecosystem = _load_inventory(inventory, warn=False)
    store_path = store or default_store_path(inventory)
    try:
        with Store.open(store_path, create=False) as opened:
            if unmatched:
                rows = unmatched_apps(opened)
            else:
                rows = usage_by_tool(opened, school=school, ecosystem=ecosystem)
    except StoreError as error:
        raise fail(str(error)) from None
    if json_output:
        print_json(rows)
    elif csv_output:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        names = list(rows[0]) if rows else ["tool"]
        writer.writerow(names)
        writer.writerows([[row[name] for name in names] for row in rows])
    elif unmatched:
        _print_unmatched(rows)
    else:
        _print_usage(rows, school)


def _print_usage(rows: list[dict[str, Any]], school: str | None) -> None:
    title = "usage by tool" + (f" at {school}" if school else "")
    table = Table(title=title, title_justify="left")
    columns = ("tool", "matched", "active_students", "active_teachers", "minutes", "events")
    for column in columns:
        table.add_column(column.replace("_", " "), justify="left" if column == "tool" else "right")
    for row in rows:
        table.add_row(
            *(str(row[c]) if c != "matched" else ("yes" if row[c] else "no") for c in columns)
        )
    console.print(table)
    if not rows:
        console.print("no usage in the store yet: run edtech-map ingest PATH", markup=False)


def _print_unmatched(rows: list[dict[str, Any]]) -> None:
    table = Table(title="apps in usage that no inventory tool claims", title_justify="left")
    columns = ("app_identifier", "students", "teachers", "other_users", "events", "last_seen")
    for column in columns:
        table.add_column(
            column.replace("_", " "), justify="left" if column == "app_identifier" else "right"
        )
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    console.print(table)
    if rows:
        console.print(
            "add them to ecosystem.yaml (identifiers: domains, caliper_app_ids, ...); the next "
            "ingest matches their past usage",
            markup=False,
        )
