"""Benchmark: a 1,000-tool district drawn as SVG, next to plain Graphviz on the same DOT file.

Run ``python -m benchmarks.diagram`` (``--tools 1000 --repeat 3``). It builds an ecosystem in
code (1,000 tools over 40 schools, with rostering, SSO, LTI and data flows), then times:

* ``to_dot``: the DOT text, in Python;
* ``render``: edtech-map's SVG (size caps pick the engine; DOT text included);
* ``sfdp -Tsvg`` and ``dot -Tsvg`` run by hand on the same DOT file (the plain baselines);
* the summary (one node per category per school) that bigger graphs fall back to.

Medians of ``--repeat`` runs, in seconds; results also go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx

from edtech_map.graph import build_graph
from edtech_map.model import Ecosystem, ToolCategory
from edtech_map.render.dot import choose_engine, render, to_dot
from edtech_map.render.view import FLOW_KINDS, select, summarise

RESULTS = Path(__file__).resolve().parent / "results"


def district(tools: int, *, schools: int = 40, seed: int = 7) -> Ecosystem:
    """A made-up district with ``tools`` tools: hub-rostered, SSO'd, some LTI, some flows."""
    rng = random.Random(seed)
    categories = [
        c.value for c in ToolCategory if c.value not in {"sis", "rostering_hub", "sso", "lms"}
    ]
    school_ids = [f"school-{i:03d}" for i in range(schools)]
    core = [
        {"id": "sis", "name": "District SIS", "category": "sis"},
        {"id": "hub", "name": "Roster Hub", "category": "rostering_hub"},
        {"id": "idp", "name": "Sign-In", "category": "sso"},
        {"id": "lms", "name": "District LMS", "category": "lms"},
    ]
    items: list[dict[str, Any]] = list(core)
    flows: list[dict[str, Any]] = [
        {"source": "sis", "target": "hub", "mechanism": "sftp", "data": ["student_name"]}
    ]
    for index in range(tools - len(core)):
        tool_id = f"tool-{index:04d}"
        tool: dict[str, Any] = {
            "id": tool_id,
            "name": f"Tool {index:04d} ({rng.choice(['Math', 'Read', 'Sci', 'Art'])})",
            "category": rng.choice(categories),
            "schools": rng.sample(school_ids, rng.choice([1, 1, 1, 2, 3])),
            "rostered_by": "hub" if rng.random() < 0.6 else None,
            "sso_via": "idp" if rng.random() < 0.5 else None,
        }
        if rng.random() < 0.15:
            tool["launched_from"] = ["lms"]
        items.append({k: v for k, v in tool.items() if v is not None})
        if rng.random() < 0.3:
            flows.append(
                {
                    "source": "hub",
                    "target": tool_id,
                    "mechanism": "oneroster_api",
                    "data": ["student_name", "enrollment"] if rng.random() < 0.7 else ["usage"],
                }
            )
    return Ecosystem.model_validate(
        {
            "district": {"id": "bench", "name": "Benchmark USD"},
            "schools": [
                {"id": s, "name": f"School {s[-3:]}", "type": "elementary", "grades": "K-5"}
                for s in school_ids
            ],
            "tools": items,
            "flows": flows,
        }
    )


def timed(action: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def plain(engine: str, path: Path, timeout: float) -> Callable[[], object]:
    def run() -> object:
        return subprocess.run(
            [engine, "-Tsvg", str(path), "-o", "/dev/null"], check=True, timeout=timeout
        )

    return run


def measure(G: nx.MultiDiGraph[str], repeat: int, timeout: float) -> dict[str, Any]:
    engine, summary = choose_engine(G)
    source = to_dot(G, engine=engine)
    folder = Path(tempfile.mkdtemp())
    dot_file = folder / "graph.dot"
    dot_file.write_text(source, encoding="utf-8")
    row: dict[str, Any] = {
        "nodes": G.number_of_nodes(),
        "edges": G.number_of_edges(),
        "engine": engine,
        "summary": summary,
        "to_dot_s": timed(lambda: to_dot(G, engine=engine), repeat),
        "render_svg_s": timed(lambda: render(G, fmt="svg", timeout=timeout), repeat),
        "plain_sfdp_s": timed(plain("sfdp", dot_file, timeout), repeat),
    }
    try:
        row["plain_dot_s"] = timed(plain("dot", dot_file, timeout), 1)
    except subprocess.TimeoutExpired:
        row["plain_dot_s"] = f">{timeout:g} (timed out)"
    summary_graph = summarise(G)
    row["summary_nodes"] = summary_graph.number_of_nodes()
    row["summary_render_s"] = timed(lambda: render(G, summary=True, timeout=timeout), repeat)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tools", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    G = build_graph(district(args.tools))
    results = {"all edges": measure(G, args.repeat, args.timeout)}
    flows = select(G, kinds=FLOW_KINDS)  # what the report draws: tools and their links
    flows.remove_nodes_from([n for n, d in G.nodes(data=True) if d.get("kind") != "tool"])
    results["tools and flows only (as in the report)"] = measure(flows, args.repeat, args.timeout)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "diagram.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for name, row in results.items():
        sys.stdout.write(f"{name}:\n")
        for key, value in row.items():
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            sys.stdout.write(f"  {key:18} {shown}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
