"""Annotated field types shared by the inventory models: sorted, de-duplicated vocab tuples.

Examples
--------
>>> from pydantic import TypeAdapter
>>> TypeAdapter(Grades).validate_python("K-2")
(<GradeLevel.KG: 'KG'>, <GradeLevel.G01: '01'>, <GradeLevel.G02: '02'>)
>>> TypeAdapter(Grades).dump_python(TypeAdapter(Grades).validate_python(["kindergarten", "1st"]))
['K', 1]
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

from edtech_map.model.vocab import (
    Audience,
    DataElement,
    GradeLevel,
    LearningTask,
    Subject,
    expand_grade,
    parse_grades,
)

__all__ = [
    "Audiences",
    "DataElements",
    "Domain",
    "Grades",
    "LearningTasks",
    "Subjects",
    "ordered_unique",
]

E = TypeVar("E", bound=Enum)


def ordered_unique(values: Iterable[E]) -> tuple[E, ...]:
    """Sort enum members in declaration order and drop repeats, so equal sets compare equal.

    Examples
    --------
    >>> ordered_unique([Subject.MATH, Subject.ELA, Subject.MATH])
    (<Subject.ELA: 'ela'>, <Subject.MATH: 'math'>)
    """
    seen = list(dict.fromkeys(values))
    if not seen:
        return ()
    order = {member: i for i, member in enumerate(type(seen[0]))}
    return tuple(sorted(seen, key=order.__getitem__))


def _as_list(value: Any) -> Any:
    """Let a single value or a comma-separated string stand for a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _grades_in(value: Any) -> Any:
    if isinstance(value, list | tuple | set | frozenset):
        try:
            return parse_grades(list(value))
        except ValueError:
            return list(value)  # validated item by item, so the error names the bad item
    return parse_grades(value)


def _grade_item(value: Any) -> GradeLevel:
    return value if isinstance(value, GradeLevel) else expand_grade(value)[0]


def _grade_out(grades: tuple[GradeLevel, ...]) -> list[str | int]:
    return [int(g.label) if g.label.isdigit() else g.label for g in grades]


_GRADES_SCHEMA: dict[str, Any] = {
    "description": "Grade levels: K, 1..12, PK, TK, CEDS codes (KG, 05) or a range such as K-5.",
    "anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
    ],
}

Grades = Annotated[
    tuple[Annotated[GradeLevel, BeforeValidator(_grade_item)], ...],
    BeforeValidator(_grades_in),
    AfterValidator(ordered_unique),
    PlainSerializer(_grade_out),
    WithJsonSchema(_GRADES_SCHEMA, mode="validation"),
]
"""Grade levels, parsed from the spellings people use and kept in school order."""

Subjects = Annotated[tuple[Subject, ...], BeforeValidator(_as_list), AfterValidator(ordered_unique)]
LearningTasks = Annotated[
    tuple[LearningTask, ...], BeforeValidator(_as_list), AfterValidator(ordered_unique)
]
Audiences = Annotated[
    tuple[Audience, ...], BeforeValidator(_as_list), AfterValidator(ordered_unique)
]
DataElements = Annotated[
    tuple[DataElement, ...], BeforeValidator(_as_list), AfterValidator(ordered_unique)
]

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _domain(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text).split("/")[0].split(":")[0]
    text = text.removeprefix("*.").rstrip(".")
    if not _DOMAIN.match(text):
        raise ValueError(f"{value!r} is not a web domain; write it like app.example.com")
    return text


Domain = Annotated[str, BeforeValidator(_domain)]
"""A host name, lower-cased; a pasted URL or ``*.`` wildcard is reduced to the host."""
