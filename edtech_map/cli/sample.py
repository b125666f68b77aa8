"""The ``sample`` command: write a seeded sample workspace (inventory, roster, usage, answer key).

Examples
--------
>>> from typer.testing import CliRunner
>>> from edtech_map.cli import app
>>> result = CliRunner().invoke(app, ["sample", "--help"])
>>> result.exit_code, "--size" in result.output
(0, True)
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edtech_map.cli.app import ExitCode, app, console, fail, print_json
from edtech_map.samples import generate_workspace

__all__ = ["SampleSize", "sample"]


class SampleSize(enum.StrEnum):
    """How big a sample to write."""

    S = "s"
    M = "m"
    L = "l"


@app.command()
def sample(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the workspace into.")
    ] = Path("sample-workspace"),
    size: Annotated[
        SampleSize,
        typer.Option(
            "--size",
            case_sensitive=False,
            help="s: Riverside Valley (9 schools, 70 tools, ~4,500 users); m: ~75 schools, "
            "300 tools, ~50,000 users; l: ~1,500 schools, 3,000 tools, ~1M users (slow, large).",
        ),
    ] = SampleSize.S,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same files.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Write a sample district workspace: ecosystem.yaml, roster/, usage/ and manifest.json.

    The people in it are made up; manifest.json lists the problems planted on purpose.
    """
    if out.exists() and not out.is_dir():
        raise fail(f"{out} is a file; give a folder for --out", ExitCode.USAGE)
    try:
        manifest = generate_workspace(out, size=size.value, seed=seed)
    except OSError as error:
        raise fail(f"could not write {out}: {error.strerror or error}", ExitCode.USAGE) from None
    if as_json:
        print_json(manifest.model_dump(mode="json"))
        return
    counts = manifest.counts
    table = Table(title=f"Sample workspace in {out} (size {manifest.size}, seed {manifest.seed})")
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in (
        ("schools", counts.schools),
        ("tools", counts.tools),
        ("users", counts.users),
        ("enrollments", counts.enrollments),
        ("Caliper events", counts.caliper_events),
        ("usage CSV rows", counts.csv_usage_rows),
    ):
        table.add_row(label, f"{value:,}")
    console.print(table)
    console.print(f"Next: edtech-map validate -i {out / 'ecosystem.yaml'}")
