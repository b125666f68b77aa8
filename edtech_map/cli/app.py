"""The typer application and what every command shares: console, exit codes, JSON output.

Command modules in this package register themselves on :data:`app` with ``@app.command()``;
:mod:`edtech_map.cli` imports every module in the package, so a new command is a new file.

Exit codes scripts can trust:

* 0 -- success, nothing to report
* 1 -- findings or validation errors (the command ran and found problems)
* 2 -- usage error: bad arguments, a missing file, a source that is not configured

Examples
--------
>>> ExitCode.FINDINGS.value
1
"""

from __future__ import annotations

import json
import logging
from enum import IntEnum
from typing import Any

import typer
from rich.console import Console
from rich.logging import RichHandler

__all__ = ["ExitCode", "app", "console", "err_console", "fail", "print_json"]

app = typer.Typer(
    name="edtech-map",
    help=(
        "See a K-12 district's learning-technology ecosystem whole: inventory, rosters, "
        "usage, audit findings and diagrams.\n\nStart with: edtech-map init && edtech-map validate"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,  # locals may hold secrets or student data
)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class ExitCode(IntEnum):
    """Process exit codes."""

    OK = 0
    FINDINGS = 1
    USAGE = 2


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> typer.Exit:
    """Print an error to stderr and return the ``typer.Exit`` to raise.

    Examples
    --------
    >>> isinstance(fail("no such file"), typer.Exit)
    True
    """
    err_console.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    return typer.Exit(int(code))


def print_json(data: Any) -> None:
    """Write JSON to stdout, plain (no colour), for scripts.

    Examples
    --------
    >>> print_json({"ok": True})
    {
      "ok": true
    }
    """
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress (INFO)."),
    debug: bool = typer.Option(False, "--debug", help="Log everything (DEBUG)."),
) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
        force=True,
    )
