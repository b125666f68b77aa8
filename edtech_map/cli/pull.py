"""``edtech-map pull SOURCE``: pull one configured source (OneRoster REST, Clever ...) into the store.

The source's settings come from the inventory's ``sources:`` entry; its secrets from the
environment variables that entry names. The connector is found by ``kind`` in
:data:`connectors.base.REGISTRY`.

Examples
--------
>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["pull", "--help"])
>>> result.exit_code, "--incremental" in result.output
(0, True)
"""

from __future__ import annotations

import logging
import os
import re
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

import typer
from pydantic import BaseModel, SecretStr, ValidationError
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from connectors.base import RowRejectedError, SyncContext, SyncReport, load_connector
from connectors.http import (
    AuthenticationError,
    ConnectorError,
    NotFound,
    PermissionDenied,
    RateLimitExceeded,
    redact_text,
)
from edtech_map.cli.app import ExitCode, app, console, err_console, fail, print_json
from edtech_map.errors import EdtechMapError, InventoryError
from edtech_map.inventory import load_ecosystem
from edtech_map.model.ecosystem import SourceConfig
from edtech_map.store import ShrinkGuardError, Store, StoreError, default_store_path

__all__ = ["connector_options", "pull_command"]

log = logging.getLogger(__name__)

_INVENTORY_OPTION = typer.Option(
    Path("ecosystem.yaml"), "--inventory", help="The inventory that configures the source."
)
_STORE_OPTION = typer.Option(
    None, "--store", help="The store file (default: .edtech-map/store.duckdb beside the inventory)."
)

PULL_HELP = (
    "Pull one source configured under sources: in the inventory (OneRoster REST, Clever ...) "
    "into the store, as one transaction, with its secrets read from the environment variables "
    "the source names. Prints per stream how many records were read, loaded, skipped, rejected "
    "and deleted, and the cursor the next incremental pull starts from. Exit 0: all loaded; "
    "1: records rejected, refused by --strict or the shrink guard, or the source failed "
    "(rate limit, time-out, server error); 2: the source, a secret or a setting is missing or "
    "wrong, or the credentials were refused.\n\nExample: edtech-map pull sis --incremental"
)


def connector_options(
    entry: SourceConfig,
    config_model: type[BaseModel] | None,
    *,
    environ: typing.Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The options a connector's ``sync`` gets from a ``sources:`` entry and the environment.

    ``options`` are passed as they are; ``base_url``, ``path`` and ``streams`` when set and the
    connector's ``Config`` has such a field; each secret from the environment variable it names
    (as ``SecretStr`` where ``Config`` declares one).

    Raises
    ------
    EdtechMapError
        Naming the environment variable that is not set (never a value).

    Examples
    --------
    >>> from connectors.oneroster_rest import Config
    >>> entry = SourceConfig(kind="oneroster_rest", base_url="https://sis.example.org",
    ...     secrets={"client_id": "SIS_ID", "client_secret": "SIS_SECRET"})
    >>> options = connector_options(entry, Config, environ={"SIS_ID": "ck", "SIS_SECRET": "cs"})
    >>> options["base_url"], options["client_id"], options["client_secret"]
    ('https://sis.example.org', 'ck', SecretStr('**********'))
    >>> connector_options(entry, Config, environ={"SIS_ID": "ck"})
    Traceback (most recent call last):
    ...
    edtech_map.errors.EdtechMapError: the environment variable SIS_SECRET (secret client_secret) is not set; export it before pulling
    """
    env = os.environ if environ is None else environ
    fields = config_model.model_fields if config_model is not None else {}
    options: dict[str, Any] = dict(entry.options)
    for name in ("base_url", "path", "streams"):
        value = getattr(entry, name)
        if value and (not fields or name in fields):
            options[name] = list(value) if isinstance(value, tuple) else value
    for name, variable in entry.secrets.items():
        value = env.get(variable)
        if not value:
            raise EdtechMapError(
                f"the environment variable {variable} (secret {name}) is not set; export it "
                f"before pulling"
            )
        field = fields.get(name)
        plain = field is not None and field.annotation is str
        options[name] = value if plain else SecretStr(value)
    return options


class _PullProgress:
    """The progress bar's callback: records per stream, and pages when the connector tells."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}
        self.pages: dict[str, int] = {}

    def _task(self, stream: str) -> TaskID:
        if stream not in self.tasks:
            self.tasks[stream] = self.progress.add_task(stream, total=None, pages=0)
        return self.tasks[stream]

    def __call__(self, stream: str, read: int) -> None:
        self.progress.update(self._task(stream), completed=read)

    def page(self, stream: str, page: int, read: int) -> None:
        self.pages[stream] = page
        self.progress.update(self._task(stream), completed=read, pages=page)


def _progress(quiet: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[pages]} pages"),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=quiet,
    )


def _connector_message(source: str, error: ConnectorError) -> tuple[str, ExitCode]:
    """One line for a typed connector error, and the exit code it deserves."""
    if isinstance(error, RateLimitExceeded):
        where = error.url.split("?", 1)[0]
        page = f" (page {error.page})" if error.page else ""
        retries = re.search(r"after (\d+) retries", str(error))
        after = f" after {retries.group(1)} retries" if retries else ""
        return (
            f"{source}: rate limited by {where}{page}{after}; try later or lower the page size "
            f"(options.page_size)",
            ExitCode.FINDINGS,
        )
    if isinstance(error, AuthenticationError | PermissionDenied | NotFound):
        return f"{source}: {error}", ExitCode.USAGE
    return f"{source}: {error}", ExitCode.FINDINGS


@app.command("pull", help=PULL_HELP)
def pull_command(
    source: str = typer.Argument(..., help="The name of a source under sources: in the inventory."),
    inventory: Path = _INVENTORY_OPTION,
    store: Path | None = _STORE_OPTION,
    full: bool = typer.Option(False, "--full", help="Pull everything, whatever options say."),
    incremental: bool = typer.Option(
        False, "--incremental", help="Pull only what changed since the last complete pull."
    ),
    force: bool = typer.Option(
        False, "--force", help="Accept a full pull that removes half or more of the users."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Stop at the first bad record; load nothing."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Pull one configured source into the store (the ``pull`` command).

    Examples
    --------
    >>> import tempfile
    >>> from typer.testing import CliRunner
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "ecosystem.yaml").write_text("district: {id: d, name: D}\\n")
    >>> result = CliRunner().invoke(app, ["pull", "sis", "--inventory",
    ...                                   str(folder / "ecosystem.yaml")])
    >>> result.exit_code, "no source 'sis'" in result.output
    (2, True)
    """
    if full and incremental:
        raise fail("--full and --incremental exclude each other; give one")
    try:
        ecosystem = load_ecosystem(inventory)
    except FileNotFoundError as error:
        raise fail(str(error)) from None
    except InventoryError as error:
        raise fail(str(error)) from None
    entry = ecosystem.sources.get(source)
    if entry is None:
        configured = ", ".join(sorted(ecosystem.sources)) or "none"
        raise fail(
            f"no source {source!r} in {inventory}; configured sources: {configured}. Add it "
            f"under sources: (see docs/connectors/)"
        )
    try:
        connector = load_connector(entry.kind)
        options = connector_options(entry, _config_model(connector))
    except EdtechMapError as error:
        raise fail(f"source {source!r}: {error}") from None
    fields = _config_fields(connector)
    if full or incremental:
        if "incremental" not in fields:
            if incremental:
                raise fail(f"source {source!r}: {entry.kind} pulls are always full")
        else:
            options["incremental"] = incremental
    store_path = store or default_store_path(inventory)
    try:
        report, progress = _run(connector, store_path, source, options, force, strict, json_output)
        with Store.open(store_path, create=False) as opened:
            cursors = {s["stream"]: s["cursor"] for s in opened.sync_state(source)}
    except (ShrinkGuardError, RowRejectedError) as error:
        raise fail(f"{source}: {error}", ExitCode.FINDINGS) from None
    except ConnectorError as error:
        message, code = _connector_message(source, error)
        raise fail(message, code) from None
    except (StoreError, ValidationError) as error:
        raise fail(f"{source}: {error}") from None
    except EdtechMapError as error:  # the connector's own configuration errors
        raise fail(f"{source}: {error}") from None
    except Exception as error:  # broad on purpose: a CLI prints one line, never a traceback
        log.debug("pull %s failed", source, exc_info=True)
        raise fail(
            f"{source}: unexpected {type(error).__name__}: {redact_text(str(error))[:300]}; this "
            f"is a bug, please report it (run with --debug for the details)",
            ExitCode.FINDINGS,
        ) from None
    if json_output:
        print_json(
            {
                "store": str(store_path),
                **report.as_dict(),
                "pages": dict(progress.pages),
                "cursors": cursors,
            }
        )
    else:
        _print_report(report, store_path, progress.pages, cursors)
    if not report.ok:
        raise typer.Exit(int(ExitCode.FINDINGS))


def _config_model(connector: ModuleType) -> type[BaseModel] | None:
    model = getattr(connector, "Config", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _config_fields(connector: ModuleType) -> set[str]:
    model = _config_model(connector)
    return set(model.model_fields) if model is not None else set()


def _run(
    connector: ModuleType,
    store_path: Path,
    source: str,
    options: dict[str, Any],
    force: bool,
    strict: bool,
    quiet: bool,
) -> tuple[SyncReport, _PullProgress]:
    with Store.open(store_path) as opened, _progress(quiet) as bar:
        progress = _PullProgress(bar)
        ctx = SyncContext(
            store=opened,
            source=source,
            options=options,
            strict=strict,
            force=force,
            progress=progress,
        )
        report: SyncReport = connector.sync(ctx)
    return report, progress


def _print_report(
    report: SyncReport, store_path: Path, pages: dict[str, int], cursors: dict[str, Any]
) -> None:
    version = f", version {report.version}" if report.version else ""
    console.print(f"{report.source} -> {store_path}{version}", markup=False, soft_wrap=True)
    width = max((len(name) for name in report.streams), default=0)
    for stream in report.streams.values():
        pages_read = pages.get(stream.stream)
        cursor = cursors.get(stream.stream)
        console.print(
            f"  {stream.stream:<{width}}  {stream.mode or '':<11}"
            + (f"  {pages_read} pages" if pages_read else "")
            + f"  read {stream.read}  loaded {stream.loaded}  skipped {stream.skipped}"
            f"  rejected {stream.rejected}  deleted {stream.deleted}"
            + (f"  cursor {cursor}" if cursor else ""),
            markup=False,
            soft_wrap=True,
        )
    for stream in report.streams.values():
        for reason in stream.rejections:
            console.print(f"rejected: {reason}", markup=False, soft_wrap=True)
        if stream.rejected > len(stream.rejections):
            more = stream.rejected - len(stream.rejections)
            console.print(f"rejected: ... and {more} more in {stream.stream}", markup=False)
        for reason in stream.skips:
            console.print(f"skipped: {reason}", markup=False, soft_wrap=True)
        if stream.skipped > len(stream.skips):
            more = stream.skipped - len(stream.skips)
            console.print(f"skipped: ... and {more} more in {stream.stream}", markup=False)
    for warning in report.warnings:
        console.print(f"warning: {warning}", markup=False, soft_wrap=True)
