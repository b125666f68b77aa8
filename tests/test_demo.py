"""`edtech-map demo` end to end: every step works, the outputs exist and name no student."""

from __future__ import annotations

import json
from pathlib import Path

from edtech_map.cli.demo import demo_steps
from tests.conftest import student_identifiers


def test_demo_runs_every_step_and_writes_what_it_says(demo_run: tuple[Path, str, int]) -> None:
    out, output, code = demo_run
    assert code == 0, output[-3000:]
    assert "FAILED" not in output and "skipped:" not in output
    for step in demo_steps(out):
        for path in step.produces:
            assert path.is_file() and path.stat().st_size > 0, path
            assert str(path) in output  # the demo says where it put it
    audit = json.loads((out / "results" / "audit.json").read_text())
    assert audit["result"]["findings"], "the sample district has planted problems to find"


def test_no_demo_output_names_a_student(demo_run: tuple[Path, str, int]) -> None:
    out, output, _ = demo_run
    identifiers = student_identifiers(out / "roster")
    assert len(identifiers) > 1000  # the scan really has something to look for
    texts = {"console output": output}
    texts |= {str(p): p.read_text(encoding="utf-8") for p in (out / "results").iterdir()}
    for where, text in texts.items():
        leaked = [value for value in identifiers if value in text]
        assert not leaked, f"{where} contains student identifiers, e.g. {leaked[:1]!r}"
