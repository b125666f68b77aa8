"""No output of the sample pipeline names a student: every format, every command, at ``--debug``.

``tests/test_demo.py`` runs ``edtech-map demo`` and scans the files in ``results/`` and the
console. This module reuses that run (its ``demo_run`` fixture and its list of the sample
district's student names, e-mails, usernames and sourcedIds) and scans what the demo does not
write: every audit format (JSON, CSV, Markdown, SARIF), ``usage --json/--csv/--unmatched``,
``store info --json``, the diagram and graph formats, and the DEBUG logs of a roster import and
an ingest of real sample usage -- the places a person's id is most likely to slip into a
warning. Zero hits allowed.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from itertools import islice, pairwise
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edtech_map.cli import app
from tests.conftest import student_identifiers

Outputs = dict[str, str]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--debug", *args], env={"COLUMNS": "200"})
    assert "Traceback" not in result.output, result.output[-2000:]
    return result.exit_code, result.stdout + "\n" + result.stderr


def head(source: Path, target: Path, lines: int) -> None:
    with source.open(encoding="utf-8") as read, target.open("w", encoding="utf-8") as write:
        write.writelines(islice(read, lines))


@pytest.fixture(scope="module")
def outputs(
    demo_run: tuple[Path, str, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Outputs]:
    """Every extra output, by a name saying which command wrote it."""
    out, _, code = demo_run
    assert code == 0
    inventory, store = str(out / "ecosystem.yaml"), out / ".edtech-map" / "store.duckdb"
    scratch = tmp_path_factory.mktemp("privacy")
    texts: Outputs = {}
    commands: dict[str, tuple[str, ...]] = {
        f"audit --format {fmt}": ("audit", "-i", inventory, "--store", str(store), "-f", fmt)
        for fmt in ("table", "json", "csv", "markdown", "sarif")
    }
    commands |= {
        "usage --json": ("usage", "--store", str(store), "--inventory", inventory, "--json"),
        "usage --csv": ("usage", "--store", str(store), "--inventory", inventory, "--csv"),
        "usage --unmatched --json": (
            "usage", "--store", str(store), "--inventory", inventory, "--unmatched", "--json",
        ),
        "store info --json": ("store", "info", "--store", str(store), "--json"),
        "graph -f node-link": (
            "graph", "-i", inventory, "-f", "node-link", "-o", str(scratch / "graph.json"),
        ),
        "graph -f graphml": (
            "graph", "-i", inventory, "-f", "graphml", "-o", str(scratch / "graph.graphml"),
        ),
        "diagram -f mermaid": ("diagram", "-i", inventory, "-f", "mermaid"),
        "diagram -f dot": ("diagram", "-i", inventory, "-f", "dot"),
    }  # fmt: skip
    for name, args in commands.items():
        code, text = run(*args)
        assert code in (0, 1), f"{name}: exit {code}\n{text[-2000:]}"
        texts[name] = text
    for name in ("graph.json", "graph.graphml"):  # the files the graph commands wrote
        texts[f"graph file {name}"] = (scratch / name).read_text(encoding="utf-8")
    # The DEBUG logs of an import and an ingest of real sample data, into a copy of the store
    copy = scratch / "store.duckdb"
    shutil.copy(store, copy)
    shutil.copy(store.parent / "secret.key", scratch / "secret.key")
    usage = scratch / "usage"
    usage.mkdir()
    for path in (out / "usage").iterdir():
        head(path, usage / path.name, 400)
    code, texts["import-roster --debug"] = run(
        "import-roster", str(out / "roster"), "--store", str(copy)
    )
    assert code in (0, 1)
    code, texts["ingest --debug"] = run(
        "ingest", str(usage), "--store", str(copy), "--inventory", inventory, "--json"
    )
    assert code in (0, 1)
    code, text = run("report", "-i", inventory, "--store", str(copy), "-o", str(scratch / "r.html"))
    assert code == 0
    texts["report (from the copy)"] = text + (scratch / "r.html").read_text(encoding="utf-8")
    yield texts


def test_no_extra_output_names_a_student(
    outputs: Outputs,
    demo_run: tuple[Path, str, int],
) -> None:
    identifiers = student_identifiers(demo_run[0] / "roster")
    assert len(identifiers) > 1000  # the scan really has something to look for
    assert len(outputs) >= 15
    for where, text in outputs.items():
        assert len(text) > 20, f"{where} wrote nothing to scan"
        leaked = sorted(identifiers & words_and_pairs(text))
        assert not leaked, f"{where} contains student identifiers, e.g. {leaked[:1]!r}"


def words_and_pairs(text: str) -> set[str]:
    """Every word-like token of ``text`` (ids, e-mails, usernames), and every two in a row
    joined by a space (full names), whatever white space or markup stood between them.

    Examples
    --------
    >>> sorted(words_and_pairs("<td>Zora\\n  Quist</td> zq1@s.example."))
    ['Quist', 'Quist td', 'Zora', 'Zora Quist', 'td', 'td Zora', 'td zq1@s.example', 'zq1@s.example']
    """
    words = [w.strip(".-'") for w in re.findall(r"[\w.@+'-]+", text)]
    words = [w for w in words if w]
    return set(words) | {f"{a} {b}" for a, b in pairwise(words)}


def test_the_debug_logs_really_are_debug(outputs: Outputs) -> None:
    """The scan is only worth something if the logs it scanned were written at DEBUG."""
    assert "DEBUG" in outputs["ingest --debug"] or "DEBUG" in outputs["import-roster --debug"]
