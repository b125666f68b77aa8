"""``edtech-map diagram``: the ecosystem as DOT, SVG, PNG, Mermaid or GraphML.

Examples
--------
>>> from typer.testing import CliRunner
>>> from edtech_map.cli import app
>>> result = CliRunner().invoke(app, ["diagram", "--help"])
>>> result.exit_code, "--only-flows" in result.output
(0, True)
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated

import networkx as nx
import typer

from edtech_map.aggregates import Aggregates, compute_aggregates
from edtech_map.cli.app import app, err_console, fail
from edtech_map.cli.inventory import InventoryOption, load_or_exit
from edtech_map.graph import build_graph
from edtech_map.model import Ecosystem
from edtech_map.render import (
    CLUSTER_BY,
    DiagramError,
    diagram_graph,
    render_image,
    to_dot,
    to_graphml,
    to_mermaid,
)
from edtech_map.render.dot import DEFAULT_TIMEOUT, ENGINES, Engine, ImageFormat
from edtech_map.render.view import ClusterBy
from edtech_map.store import Store, StoreError, default_store_path

__all__ = ["FORMATS", "diagram_command", "load_aggregates", "load_graph", "parse_as_of"]

FORMATS = ("dot", "svg", "png", "mermaid", "graphml")
"""The formats ``edtech-map diagram --format`` writes."""

_CLUSTERS: dict[str, ClusterBy] = {name: name for name in CLUSTER_BY}
_ENGINES: dict[str, Engine] = {name: name for name in ENGINES}

StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="The store with usage and rosters (default: .edtech-map/store.duckdb beside "
        "the inventory, when it exists).",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="The day DPAs and renewals are judged on (YYYY-MM-DD; today)."),
]


def parse_as_of(value: str | None) -> date:
    """The ``--as-of`` day, or today; a bad date exits 2 with the expected form.

    Examples
    --------
    >>> parse_as_of("2026-11-23")
    datetime.date(2026, 11, 23)
    """
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"--as-of {value!r} is not a date; use YYYY-MM-DD") from None


def load_aggregates(
    ecosystem: Ecosystem, store: Path | None, inventory: Path, as_of: date
) -> Aggregates | None:
    """Usage and roster aggregates from the store, or ``None`` when there is no store.

    A ``--store`` given by name must exist (exit 2); the default store beside the inventory
    is used only when it is there.

    Examples
    --------
    >>> from edtech_map.samples import RIVERSIDE_YAML
    >>> from edtech_map.inventory import load_ecosystem
    >>> eco = load_ecosystem(RIVERSIDE_YAML)
    >>> load_aggregates(eco, None, Path("/nowhere/e.yaml"), date(2026, 11, 23)) is None
    True
    """
    path = store or default_store_path(inventory)
    if store is None and not path.exists():
        return None
    try:
        with Store.open(path, create=False) as opened:
            return compute_aggregates(opened, ecosystem, as_of=as_of)
    except StoreError as error:
        raise fail(str(error)) from None


def load_graph(inventory: Path, as_of: date) -> nx.MultiDiGraph[str]:
    """Load the inventory (or exit 1/2 with its problems) and build the ecosystem graph.

    Examples
    --------
    >>> from edtech_map.samples import AS_OF, RIVERSIDE_YAML
    >>> load_graph(RIVERSIDE_YAML, AS_OF).graph["district"]
    'riverside'
    """
    return build_graph(load_or_exit(inventory), as_of=as_of)


def _write(data: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    err_console.print(f"wrote {output}", markup=False)


@app.command("diagram")
def diagram_command(
    inventory: InventoryOption = Path("ecosystem.yaml"),
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="dot, svg, png, mermaid or graphml.")
    ] = "svg",
    by: Annotated[
        str, typer.Option("--by", help="Cluster by school, category, task, or none.")
    ] = "category",
    school: Annotated[
        str | None, typer.Option("--school", help="Only this school and its tools.")
    ] = None,
    focus: Annotated[
        str | None, typer.Option("--focus", help="Only this tool and its neighbours.")
    ] = None,
    depth: Annotated[int, typer.Option("--depth", help="Neighbour distance for --focus.")] = 1,
    only_flows: Annotated[
        bool,
        typer.Option("--only-flows", help="Only data flows, rostering, SSO and LTI links."),
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    as_of: AsOfOption = None,
    store: StoreOption = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds a layout may take before the summary.")
    ] = DEFAULT_TIMEOUT,
    engine: Annotated[
        str,
        typer.Option(
            "--engine", help="SVG/PNG layout: auto (by size), dot, sfdp or osage (packed)."
        ),
    ] = "auto",
) -> None:
    """Draw the ecosystem: tools shaped by category, flagged problems, edges styled by kind.

    With a store (--store, or the one beside the inventory), tools without users or used only
    by teachers are flagged. SVG and PNG need Graphviz; big graphs are laid out with sfdp or drawn as a summary (one
    node per category per school), and a layout that runs past --timeout falls back to the
    summary with a message. Example: edtech-map diagram -f mermaid --only-flows -o flows.mmd
    """
    if fmt not in FORMATS:
        raise fail(f"--format {fmt!r} is not known; use one of {', '.join(FORMATS)}")
    if by not in CLUSTER_BY:
        raise fail(f"--by {by!r} is not known; use one of {', '.join(CLUSTER_BY)}")
    if fmt == "png" and output is None and sys.stdout.isatty():
        raise fail("PNG is binary: give -o FILE.png (or redirect stdout)")
    if engine != "auto" and engine not in _ENGINES:
        raise fail(f"--engine {engine!r} is not known; use auto, {', '.join(ENGINES)}")
    day = parse_as_of(as_of)
    ecosystem = load_or_exit(inventory)
    G = build_graph(ecosystem, as_of=day)
    aggregates = load_aggregates(ecosystem, store, inventory, day)
    if aggregates is not None:
        aggregates.attach(G)  # usage flags tools unused or teacher-only
    cluster = _CLUSTERS[by]
    try:
        part = diagram_graph(G, school=school, focus=focus, depth=depth, only_flows=only_flows)
        if fmt == "dot":
            data = to_dot(part, by=cluster).encode()
        elif fmt == "mermaid":
            data = to_mermaid(part, by=cluster).encode()
        elif fmt == "graphml":
            with tempfile.TemporaryDirectory() as tmp:
                data = to_graphml(part, Path(tmp) / "g.graphml").read_bytes()
        else:
            image: ImageFormat = "svg" if fmt == "svg" else "png"
            rendered = render_image(
                part, fmt=image, by=cluster, timeout=timeout, engine=_ENGINES.get(engine)
            )
            for note in rendered.notes:
                err_console.print(f"note: {note}", markup=False)
            data = rendered.data
    except DiagramError as error:
        raise fail(str(error)) from None
    _write(data if data.endswith(b"\n") or fmt == "png" else data + b"\n", output)
