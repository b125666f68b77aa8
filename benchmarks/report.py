"""``python -m benchmarks.report SIZE``: the latest result of every case at one size, as the
Markdown table ``docs/performance.md`` shows.

Runs of single cases (``--cases``) each write their own results file; this takes, for every
case, the newest file that has it, and names the files it used under the table.

Examples
--------
>>> import json, tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> row = {"case": "graph", "edtech": {"wall_s": 1.0, "cpu_s": 0.5, "peak_rss_mib": 300.0},
...        "baseline": {"wall_s": 0.1, "cpu_s": 0.1, "peak_rss_mib": 250.0}, "units": 3000,
...        "unit": "tools", "goal": "< 5 s", "ratio": 10.0, "met": True, "details": {}}
>>> _ = (folder / "l-20260101T000000Z.json").write_text(json.dumps({"cases": [row]}))
>>> print(markdown("l", folder).splitlines()[2])
| graph | 1.00 | 0.10 | 0.50 / 0.10 | 3,000 tools/s | 300 / 250 | 10.00x | 5.00x | < 5 s | yes |
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from benchmarks.__main__ import DEFAULT_RESULTS

__all__ = ["latest_cases", "markdown"]


def latest_cases(size: str, results: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The newest result of each case at ``size``, in the order first seen, and the files.

    Examples
    --------
    >>> import tempfile
    >>> latest_cases("m", Path(tempfile.mkdtemp()))
    ([], [])
    """
    chosen: dict[str, tuple[dict[str, Any], str]] = {}
    order: list[str] = []
    for path in sorted(results.glob(f"{size}-*.json")):  # timestamps sort in time order
        for row in json.loads(path.read_text("utf-8")).get("cases", []):
            if "error" in row or not row.get("edtech"):
                continue
            if row["case"] not in order:
                order.append(row["case"])
            chosen[row["case"]] = (row, path.name)
    rows = [chosen[case][0] for case in order]
    files = sorted({chosen[case][1] for case in order})
    return rows, files


def _number(side: dict[str, Any] | None, key: str) -> float | None:
    value = (side or {}).get(key)
    return None if value is None or math.isnan(value) else float(value)


def _cell(side: dict[str, Any] | None, key: str) -> str:
    value = _number(side, key)
    return "-" if value is None else f"{value:.2f}"


def markdown(size: str, results: Path = DEFAULT_RESULTS) -> str:
    """The table of the latest results at ``size`` (see the module), and the files used."""
    rows, files = latest_cases(size, results)
    lines = [
        "| case | edtech-map s | baseline s | CPU s (e / b) | rate (edtech-map) "
        "| peak RSS MiB (e / b) | ratio (wall) | ratio (CPU) | goal | met? |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        mine, base = row.get("edtech") or {}, row.get("baseline") or {}
        cpu = f"{_cell(mine, 'cpu_s')} / {_cell(base, 'cpu_s')}" if base else _cell(mine, "cpu_s")
        rss = f"{mine.get('peak_rss_mib') or 0:.0f}"
        if base.get("peak_rss_mib"):
            rss += f" / {base['peak_rss_mib']:.0f}"
        rate = (
            f"{row['units'] / mine['wall_s']:,.0f} {row['unit']}/s" if mine.get("wall_s") else "-"
        )
        ratio = row.get("ratio")
        mine_cpu, base_cpu = _number(mine, "cpu_s"), _number(base, "cpu_s")
        cpu_ratio = mine_cpu / base_cpu if mine_cpu and base_cpu else None
        met = row.get("met")
        lines.append(
            f"| {row['case']} | {_cell(mine, 'wall_s')} | {_cell(base, 'wall_s')} | {cpu} "
            f"| {rate} | {rss} | {'-' if ratio is None else f'{ratio:.2f}x'} "
            f"| {'-' if cpu_ratio is None else f'{cpu_ratio:.2f}x'} | {row['goal']} "
            f"| {'-' if met is None else ('yes' if met else 'no')} |"
        )
    if files:
        lines += ["", "Results files: " + ", ".join(f"`{name}`" for name in files) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the table for one size (``python -m benchmarks.report l``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    parser.add_argument("size", choices=("s", "m", "l"))
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args(argv)
    print(markdown(args.size, args.results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
