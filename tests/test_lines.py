"""Numbered lines from DuckDB's scanner: exact whenever the count matches, and never an error."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.lines import count_lines, numbered_lines_sql

PIECES = [
    b"a",
    b"xyz",
    b'{"k": 1}',
    b" ",
    b'"',
    b",",
    b"\n",
    b"\r\n",
    b"\r",
    b"\x01",
    b"\xff",
    b"\x00",
    b"\xc3\xa9",
    b"\xef\xbb\xbf",
    b"\t",
]


def python_lines(data: bytes) -> list[tuple[int, str | None]]:
    """What a line reader makes of the file: split on LF, CR before LF dropped, blank -> None."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data:
        return []
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    out: list[tuple[int, str | None]] = []
    for number, part in enumerate(parts, 1):
        text = part.removesuffix(b"\r").decode("utf-8")
        out.append((number, text or None))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_numbers_are_exact_when_the_count_matches(
    tmp_path_factory: pytest.TempPathFactory, pieces: list[bytes]
) -> None:
    data = b"".join(pieces)
    path = tmp_path_factory.mktemp("lines") / "f.txt"
    path.write_bytes(data)
    expected = count_lines(path)
    rows = duckdb.sql(numbered_lines_sql(path)).fetchall()  # never raises
    if expected is None or len(rows) != expected:
        return  # the reader must read this file another way
    assert rows == python_lines(data)


def test_a_line_too_long_is_caught_by_the_count(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_bytes(b'{"a": 1}\n' + b"x" * (17 * 1024 * 1024) + b'\n{"a": 2}\n')
    rows = duckdb.sql(numbered_lines_sql(path)).fetchall()
    assert count_lines(path) == 3
    assert len(rows) == 2  # dropped: the count says so, so the reader falls back


def test_mixed_endings_and_lone_cr_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    for data in (b"a\r\nb\nc\n", b"a\rb\n", b"a\x01b\n"):
        path.write_bytes(data)
        assert count_lines(path) is None, data
    path.write_bytes(b"a\r\nb\r\n")
    assert count_lines(path) == 2
