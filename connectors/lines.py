"""Numbered lines of a text file as a DuckDB relation, streamed, for the bulk readers.

The bulk readers (:func:`connectors.caliper.stage_caliper`, :mod:`connectors.oneroster_bulk`)
need every line of a file with its exact line number, so that a rejection says
``file:line``. Reading the whole file as one string (``read_text``) and splitting it caps a
file at DuckDB's 4 GB string limit and holds it in memory twice; this reads it with DuckDB's
parallel CSV scanner as one text column (no quoting, a delimiter that text files do not
hold), numbered ``WITH ORDINALITY``, so a 15 GB Caliper file streams in bounded memory.

The scanner treats ``\\n`` and ``\\r\\n`` alike, though not both in one file (a line never
ends in ``\\r``), gives a blank line as NULL, and strips a UTF-8 byte order mark. It quietly drops a line it cannot read (a
line longer than :data:`MAX_LINE_BYTES`, invalid UTF-8, the delimiter byte), after which
the numbers are off by one. So :func:`count_lines` counts the lines first (one fast pass over
the bytes) and the reader checks the count afterwards: a mismatch means "read this file
another way", never a wrong line number.

Examples
--------
>>> import duckdb, tempfile
>>> path = Path(tempfile.mkdtemp()) / "events.jsonl"
>>> _ = path.write_bytes(b'{"a": 1}\\r\\n\\r\\n{"a": 2}\\r\\n')
>>> count_lines(path)
3
>>> duckdb.sql(numbered_lines_sql(path)).fetchall()
[(1, '{"a": 1}'), (2, None), (3, '{"a": 2}')]
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MAX_LINE_BYTES", "count_lines", "numbered_lines_sql"]

MAX_LINE_BYTES = 16 * 1024 * 1024
"""The longest line the scanner reads (16 MiB); a file with a longer one is read another way."""
_CHUNK = 16 * 1024 * 1024


def count_lines(path: Path) -> int | None:
    """How many lines :func:`numbered_lines_sql` must give for ``path``, or None when the
    numbers could not match a line reader's: a carriage return not followed by a line feed
    (the scanner would end a line there), CRLF and LF endings mixed in one file, or a
    ``\\x01`` byte (the scanner's delimiter). With those excluded the scanner can only drop
    lines, never add one, so an equal count means every number is right.

    A last line without a line feed counts; an empty file has no lines.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "x.txt"
    >>> counts = []
    >>> for data in (b"x\\ny", b"", b"x\\ry\\n"):
    ...     _ = path.write_bytes(data)
    ...     counts.append(count_lines(path))
    >>> counts
    [2, 0, None]
    """
    lines = carriage = crlf = 0
    last = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if b"\x01" in chunk:
                return None
            lines += chunk.count(b"\n")
            carriage += chunk.count(b"\r")
            crlf += chunk.count(b"\r\n") + (last == b"\r" and chunk[:1] == b"\n")
            last = chunk[-1:]
    if carriage != crlf or crlf not in (0, lines):
        return None  # a lone CR, or CRLF and LF mixed: the scanner could split differently
    return lines + (last not in (b"", b"\n"))


def numbered_lines_sql(path: Path) -> str:
    """A SELECT of ``(line, text)`` for every line of ``path``, streamed (see the module).

    ``line`` is 1-based; ``text`` is NULL for a blank line and never ends in a line break.
    Check ``count(*)`` against :func:`count_lines` before trusting the numbers.

    Examples
    --------
    >>> import duckdb, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = path.write_text(chr(10).join(['id,"name, full"', '1,"a, b"', ""]))
    >>> duckdb.sql(numbered_lines_sql(path)).fetchall()
    [(1, 'id,"name, full"'), (2, '1,"a, b"')]
    """
    quoted = "'" + str(path).replace("'", "''") + "'"
    return (
        f"SELECT ordinality AS line, text FROM read_csv({quoted}, "
        "columns = {'text': 'VARCHAR'}, header = false, auto_detect = false, "
        "delim = chr(1), quote = '', escape = '', ignore_errors = true, strict_mode = false, "
        f"max_line_size = {MAX_LINE_BYTES}) WITH ORDINALITY"
    )
