"""Exceptions edtech-map raises. Each message says where, what, and what to do.

Examples
--------
>>> from pathlib import Path
>>> error = InventoryError(
...     [Problem(loc=("tools", 1, "category"), value="adaptve",
...              message="'adaptve' is not a known category", line=7, column=15)],
...     path=Path("ecosystem.yaml"))
>>> print(error)
ecosystem.yaml: 1 problem
  ecosystem.yaml:7:15 tools[1].category: 'adaptve' is not a known category
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EdtechMapError", "InventoryError", "Problem", "format_loc"]


class EdtechMapError(Exception):
    """Base class for every error edtech-map raises on purpose."""


def format_loc(loc: Sequence[str | int]) -> str:
    """Write a field path the way people read it: ``tools[12].grades[2]``.

    Examples
    --------
    >>> format_loc(("tools", 12, "grades", 2))
    'tools[12].grades[2]'
    >>> format_loc(())
    '(top level)'
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an inventory, with where it is when that is known.

    Examples
    --------
    >>> Problem(loc=("schools", 0, "id"), value="A B", message="bad id").where("x.yaml")
    'x.yaml schools[0].id'
    """

    loc: tuple[str | int, ...]
    value: object
    message: str
    line: int | None = None
    column: int | None = None

    def where(self, path: str | Path | None = None) -> str:
        """``file:line:col field`` for this problem, with whatever parts are known."""
        parts = [str(path)] if path is not None else []
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        position = ":".join(parts)
        field = format_loc(self.loc)
        return f"{position} {field}".strip()

    def render(self, path: str | Path | None = None) -> str:
        """One line: where, then what is wrong and what to do."""
        return f"{self.where(path)}: {self.message}"


class InventoryError(EdtechMapError):
    """An ``ecosystem.yaml`` (or spreadsheet) is invalid; every problem is listed at once."""

    def __init__(self, problems: Sequence[Problem], *, path: Path | None = None) -> None:
        self.problems = tuple(problems)
        self.path = path
        name = str(path) if path is not None else "inventory"
        count = len(self.problems)
        lines = [f"{name}: {count} problem{'s' if count != 1 else ''}"]
        lines += [f"  {p.render(path)}" for p in self.problems]
        super().__init__("\n".join(lines))
