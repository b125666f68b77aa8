"""``edtech-map demo``: the whole pipeline on the bundled sample district, end to end.

Each step runs the same command a user would type, in this process, so the demo shows (and
exercises) the real command line. Steps whose command is not installed are reported as
skipped, never silently left out.

Examples
--------
>>> [step.title for step in demo_steps(Path("out"))][:2]
['Generate the sample workspace', 'Validate the inventory']
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.rule import Rule
from rich.table import Table

from edtech_map.cli.app import ExitCode, app, console, fail

__all__ = ["DemoStep", "demo_steps"]


@dataclass(frozen=True)
class DemoStep:
    """One command of the demo, what it shows, and the exit codes that count as success.

    Examples
    --------
    >>> DemoStep("Validate", ("validate", "ecosystem.yaml")).ok_codes
    frozenset({0})
    """

    title: str
    args: tuple[str, ...]
    ok_codes: frozenset[int] = frozenset({0})
    produces: tuple[Path, ...] = ()


def demo_steps(out: Path) -> list[DemoStep]:
    """The demo's commands for a workspace written to ``out``.

    Examples
    --------
    >>> steps = demo_steps(Path("w"))
    >>> steps[1].args
    ('validate', 'w/ecosystem.yaml')
    """
    inventory = out / "ecosystem.yaml"
    store = out / ".edtech-map" / "store.duckdb"
    results = out / "results"
    found = frozenset({0, 1})  # 1 means "problems found": expected on the sample district
    return [
        DemoStep("Generate the sample workspace", ("sample", "--size", "s", "--out", str(out))),
        DemoStep("Validate the inventory", ("validate", str(inventory))),
        DemoStep(
            "Export the ecosystem graph (node-link JSON)",
            (
                "graph",
                "-i",
                str(inventory),
                "-f",
                "node-link",
                "-o",
                str(results / "ecosystem-graph.json"),
            ),
            produces=(results / "ecosystem-graph.json",),
        ),
        DemoStep(
            "Export the ecosystem graph (GraphML for Gephi/yEd)",
            (
                "graph",
                "-i",
                str(inventory),
                "-f",
                "graphml",
                "-o",
                str(results / "ecosystem.graphml"),
            ),
            produces=(results / "ecosystem.graphml",),
        ),
        DemoStep(
            "Import the roster (OneRoster 1.1 CSV)",
            ("import-roster", str(out / "roster"), "--store", str(store)),
            ok_codes=found,
        ),
        DemoStep(
            "Ingest usage (Caliper 1.2 JSONL and a vendor CSV)",
            (
                "ingest",
                str(out / "usage"),
                "--store",
                str(store),
                "--inventory",
                str(inventory),
            ),
            ok_codes=found,
        ),
        DemoStep(
            "Usage by tool",
            ("usage", "--store", str(store), "--inventory", str(inventory)),
        ),
        DemoStep("What the store holds", ("store", "info", "--store", str(store))),
        DemoStep(
            "Apps in use that the inventory does not know",
            ("discover", "-i", str(inventory), "--store", str(store)),
        ),
        DemoStep(
            "Audit",
            ("audit", "--inventory", str(inventory), "--store", str(store), "--save"),
            ok_codes=found,
        ),
        DemoStep(
            "Audit findings as JSON",
            (
                "audit",
                "--inventory",
                str(inventory),
                "--store",
                str(store),
                "--format",
                "json",
                "--output",
                str(results / "audit.json"),
            ),
            ok_codes=found,
            produces=(results / "audit.json",),
        ),
        DemoStep(
            "Diagram (SVG)",
            (
                "diagram",
                "--inventory",
                str(inventory),
                "--format",
                "svg",
                "-o",
                str(results / "ecosystem.svg"),
            ),
            produces=(results / "ecosystem.svg",),
        ),
        DemoStep(
            "HTML report",
            (
                "report",
                "--inventory",
                str(inventory),
                "--store",
                str(store),
                "-o",
                str(results / "report.html"),
            ),
            produces=(results / "report.html",),
        ),
    ]


def _installed_commands() -> set[str]:
    root: Any = typer.main.get_command(app)
    context = root.make_context("edtech-map", [], resilient_parsing=True)
    return set(root.list_commands(context))


def _run(args: tuple[str, ...]) -> int:
    root: Any = typer.main.get_command(app)
    try:
        result = root.main(list(args), prog_name="edtech-map", standalone_mode=False)
    except typer.Exit as stop:
        return int(stop.exit_code)
    except SystemExit as stop:  # click may still exit on usage errors
        return int(stop.code or 0)
    except Exception:  # broad on purpose: the demo reports a failed step and stops cleanly
        console.print_exception(show_locals=False, max_frames=4)
        return 70
    return int(result) if isinstance(result, int) else 0


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo workspace.")] = Path(
        "demo-output"
    ),
    keep: Annotated[
        bool, typer.Option(help="Reuse an existing folder instead of starting clean.")
    ] = False,
) -> None:
    """Run the whole pipeline on the bundled sample district and say what it produced.

    Generates the sample workspace, validates it, exports the graph, imports the roster,
    ingests usage, audits, and draws the diagram and the report: whatever this installation
    has. Exit code 0 when every step worked.

    Example: edtech-map demo --out demo-output
    """
    if out.exists() and not keep:
        if any(out.iterdir()) and not (out / "manifest.json").exists():
            raise fail(f"{out} exists and is not a demo workspace; choose another --out")
        shutil.rmtree(out)
    installed = _installed_commands()
    summary = Table(title="edtech-map demo")
    summary.add_column("step")
    summary.add_column("result")
    summary.add_column("seconds", justify="right")
    failed = False
    for step in demo_steps(out):
        command = step.args[0]
        if command not in installed:
            summary.add_row(step.title, f"skipped: `{command}` is not in this version", "")
            continue
        console.print(Rule(f"{step.title}: edtech-map {' '.join(step.args)}"))
        started = time.perf_counter()
        code = _run(step.args)
        seconds = f"{time.perf_counter() - started:.1f}"
        missing = [p for p in step.produces if not p.exists()]
        if code not in step.ok_codes or missing:
            failed = True
            problem = f"exit {code}" + (f", did not write {missing[0]}" if missing else "")
            summary.add_row(step.title, f"[red]FAILED ({problem})[/]", seconds)
            break
        summary.add_row(step.title, "ok" if code == 0 else "ok (problems found)", seconds)
    console.print(Rule())
    console.print(summary)
    produced = sorted(p for step in demo_steps(out) for p in step.produces if p.exists())
    if produced:
        console.print("Produced:")
        for path in produced:
            console.print(f"  {path}")
    console.print(f"Workspace: {out}/ (ecosystem.yaml, roster/, usage/, manifest.json)")
    if failed:
        raise typer.Exit(int(ExitCode.FINDINGS))
