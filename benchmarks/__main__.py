"""``python -m benchmarks --size s|m|l [--cache DIR] [--cases ...]``: run, print one table, save JSON.

The workspace is generated (once) in this process; each case then runs in a child process of
its own (``--worker CASE``), which prints its result as JSON on its last line of output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE / ".cache"
DEFAULT_RESULTS = HERE / "results"
CASE_NAMES = ("roster", "caliper", "usage_csv", "audit", "history", "graph", "diagram", "rest")
RSS_CASES = ("caliper", "usage_csv")
RSS_SCALING_GOAL = 1.5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="edtech-map next to plain baselines on a generated district.",
    )
    parser.add_argument("--size", choices=("s", "m", "l"), default="s")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="generated data")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="JSON output")
    parser.add_argument("--cases", nargs="+", choices=CASE_NAMES, default=list(CASE_NAMES))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit, both sides")
    parser.add_argument("--worker", choices=CASE_NAMES, help=argparse.SUPPRESS)
    return parser


def _worker(args: argparse.Namespace) -> int:
    from benchmarks.cases import CASES, prepare

    bench, _ = prepare(args.cache, args.size, seed=args.seed)
    bench.memory_limit = args.memory_limit
    result = CASES[args.worker](bench)
    sys.stdout.write("\n" + json.dumps(result.as_dict(), default=str) + "\n")
    return 0


def _machine() -> dict[str, Any]:
    import duckdb

    try:
        memory = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
        ram_gib = round(int(memory) / 1024**2, 1)
    except (OSError, IndexError, ValueError):
        ram_gib = None
    return {
        "cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "platform": platform.platform(),
    }


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _run_case(name: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks",
        "--worker",
        name,
        "--size",
        args.size,
        "--cache",
        str(args.cache),
        "--seed",
        str(args.seed),
        "--memory-limit",
        args.memory_limit,
    ]
    load_before = _load()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        return {"case": name, "error": f"exit {done.returncode}", "load": load_before}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_before"] = load_before
    result["load_after"] = _load()
    result["child_s"] = elapsed
    return result


def _fmt_s(side: dict[str, Any] | None) -> str:
    return "-" if not side else f"{side['wall_s']:.2f}"


def _fmt_rate(row: dict[str, Any]) -> str:
    side = row.get("edtech")
    if not side or not side["wall_s"]:
        return "-"
    rate = row["units"] / side["wall_s"]
    text = f"{rate:,.0f} {row['unit']}/s"
    details = row.get("details") or {}
    if "edtech_mb_per_s" in details:
        text += f" ({details['edtech_mb_per_s']:.1f} MB/s)"
    return text


def _fmt_rss(row: dict[str, Any]) -> str:
    side = row.get("edtech")
    base = row.get("baseline")
    if not side or side.get("peak_rss_mib") is None:
        return "-"
    text = f"{side['peak_rss_mib']:.0f}"
    if base and base.get("peak_rss_mib") is not None:
        text += f" / {base['peak_rss_mib']:.0f}"
    return text + " MiB"


def _table(rows: list[dict[str, Any]]) -> str:
    header = ("case", "edtech-map s", "baseline s", "rows/s (MB/s)", "peak RSS e/b", "ratio",
              "goal", "met?")  # fmt: skip
    lines = [header]
    for row in rows:
        if "error" in row:
            lines.append((row["case"], "error", "", "", "", "", "", row["error"]))
            continue
        ratio = row.get("ratio")
        met = row.get("met")
        lines.append(
            (
                row["case"],
                _fmt_s(row.get("edtech")),
                _fmt_s(row.get("baseline")),
                _fmt_rate(row),
                _fmt_rss(row),
                "-" if ratio is None else f"{ratio:.2f}x",
                row["goal"],
                "-" if met is None else ("yes" if met else "NO"),
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        out.append(
            "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))
        )
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def _rss_scaling(size: str, rows: list[dict[str, Any]], results: Path) -> dict[str, Any]:
    """Peak RSS of the ingest cases at this size next to the latest saved run of each other
    size: the goal is that S and L stay within 1.5x of each other."""
    scaling: dict[str, Any] = {}
    mine = {r["case"]: r for r in rows if r.get("edtech") and r["case"] in RSS_CASES}
    for other in ("s", "m", "l"):
        if other == size:
            continue
        saved = sorted(results.glob(f"{other}-*.json"))
        if not saved:
            continue
        data = json.loads(saved[-1].read_text("utf-8"))
        for row in data.get("cases", []):
            if row.get("case") in mine and row.get("edtech"):
                here = mine[row["case"]]["edtech"]["peak_rss_mib"]
                there = row["edtech"]["peak_rss_mib"]
                big, small = max(here, there), min(here, there)
                scaling[f"{row['case']} {size} vs {other}"] = {
                    "this_mib": here,
                    "other_mib": there,
                    "other_file": saved[-1].name,
                    "ratio": big / small if small else None,
                    "within_goal": bool(small) and big / small <= RSS_SCALING_GOAL,
                }
    return scaling


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.cache = args.cache.resolve()
    if args.worker:
        return _worker(args)
    from benchmarks.cases import prepare

    sys.stdout.write(f"preparing the size-{args.size} workspace in {args.cache} ...\n")
    sys.stdout.flush()
    bench, generated_s = prepare(args.cache, args.size, seed=args.seed)
    counts = bench.manifest.counts
    sys.stdout.write(
        f"workspace: {counts.users:,} users, {counts.enrollments:,} enrollments, "
        f"{counts.caliper_events:,} Caliper events, {counts.csv_usage_rows:,} usage CSV rows"
        + (f" (generated in {generated_s:.0f} s)" if generated_s else " (cached)")
        + "\n"
    )
    rows = []
    for name in args.cases:
        sys.stdout.write(f"  {name} ...")
        sys.stdout.flush()
        row = _run_case(name, args)
        rows.append(row)
        shown = row.get("error") or f"{row.get('child_s', 0):.0f} s, load {row['load_before']}"
        sys.stdout.write(f" {shown}\n")
        sys.stdout.flush()
    machine = _machine()
    load = _load()
    sys.stdout.write(
        f"\nsize {args.size}; {machine['cores']} cores, {machine['ram_gib']} GiB RAM; "
        f"load average now {load} (shared machine: figures are noisy)\n\n"
    )
    sys.stdout.write(_table(rows) + "\n")
    args.results.mkdir(parents=True, exist_ok=True)
    scaling = _rss_scaling(args.size, rows, args.results)
    for name, check in scaling.items():
        sys.stdout.write(
            f"peak RSS {name}: {check['this_mib']:.0f} vs {check['other_mib']:.0f} MiB "
            f"({check['ratio']:.2f}x; goal <= {RSS_SCALING_GOAL}x)\n"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.results / f"{args.size}-{stamp}.json"
    payload = {
        "size": args.size,
        "seed": args.seed,
        "command": "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv),
        "when": stamp,
        "machine": machine,
        "load_after": load,
        "memory_limit": args.memory_limit,
        "generated_s": generated_s,
        "counts": bench.manifest.counts.model_dump(),
        "cases": rows,
        "rss_scaling": scaling,
    }
    out.write_text(json.dumps(payload, indent=2, default=str) + "\n", "utf-8")
    sys.stdout.write(f"\nresults: {out}\n")
    return 0 if all("error" not in row for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
