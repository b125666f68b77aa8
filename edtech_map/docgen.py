"""Reference pages generated from the code, so the docs never drift from it.

The mkdocs hook (``docs/hooks.py``) replaces ``<!-- generated: NAME -->`` markers in the docs
with these functions' output at build time.

Examples
--------
>>> "| `category` |" in inventory_reference()
True
>>> "## edtech-map validate" in cli_reference()
True
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable
from enum import Enum
from types import NoneType, UnionType
from typing import Any

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from typer.testing import CliRunner

from edtech_map.cli import app
from edtech_map.graph import EDGE_KINDS, NODE_KINDS
from edtech_map.model import (
    AuditConfig,
    DataFlow,
    District,
    Ecosystem,
    Identifiers,
    Licence,
    PrivacyAgreement,
    RecommendedUse,
    School,
    SchoolDay,
    SourceConfig,
    Tool,
    Waiver,
    vocab,
)
from edtech_map.model.vocab import DescribedEnum
from edtech_map.spreadsheet import column_reference

__all__ = [
    "GENERATORS",
    "cli_reference",
    "graph_kinds_reference",
    "import_columns_reference",
    "inventory_reference",
    "vocabulary_reference",
]

_MODELS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("Top level", Ecosystem),
    ("district", District),
    ("district.school_day", SchoolDay),
    ("schools[]", School),
    ("tools[]", Tool),
    ("tools[].licence", Licence),
    ("tools[].privacy", PrivacyAgreement),
    ("tools[].recommended_use", RecommendedUse),
    ("tools[].identifiers", Identifiers),
    ("flows[]", DataFlow),
    ("sources.NAME", SourceConfig),
    ("audit", AuditConfig),
    ("audit.waivers[]", Waiver),
)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not NoneType]
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " or ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin in (tuple, list):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {_type_name(args[0])} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    return getattr(annotation, "__name__", str(annotation)).replace("Decimal", "number")


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        return "(empty)"
    value = info.default
    if value is None or value is PydanticUndefined:
        return ""
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if value == ():
        return ""
    return f"`{value}`"


def _field_rows(model: type[BaseModel]) -> Iterable[str]:
    for name, info in model.model_fields.items():
        description = (info.description or "").replace("|", "\\|")
        yield f"| `{name}` | {_type_name(info.annotation)} | {_default(info)} | {description} |"


def _enums() -> list[type[DescribedEnum]]:
    found = [
        value
        for value in vars(vocab).values()
        if isinstance(value, type)
        and issubclass(value, DescribedEnum)
        and value is not DescribedEnum
    ]
    return sorted(found, key=lambda e: e.__name__)


def vocabulary_reference() -> str:
    """Every controlled vocabulary with each value's meaning, as Markdown.

    Examples
    --------
    >>> "`adaptive_practice`" in vocabulary_reference()
    True
    """
    parts = []
    for enum in _enums():
        doc = (enum.__doc__ or "").strip().splitlines()[0]
        parts.append(f"### {enum.__name__}\n\n{doc}\n\n| value | meaning |\n| --- | --- |")
        parts.extend(f"| `{member.value}` | {member.description} |" for member in enum)
        parts.append("")
    return "\n".join(parts)


def inventory_reference() -> str:
    """Every section and field of ``ecosystem.yaml``, then the vocabularies, as Markdown.

    Examples
    --------
    >>> "## tools[]" in inventory_reference()
    True
    """
    parts = []
    for title, model in _MODELS:
        doc = (model.__doc__ or "").strip().splitlines()[0]
        parts.append(f"## {title}\n\n{doc}\n\n| field | type | default | meaning |")
        parts.append("| --- | --- | --- | --- |")
        parts.extend(_field_rows(model))
        parts.append("")
    parts.append("## Vocabularies\n")
    parts.append(vocabulary_reference())
    return "\n".join(parts)


def _help_text(args: list[str]) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "100", "NO_COLOR": "1"})
    return "\n".join(line.rstrip() for line in result.output.strip().splitlines())


def _command_paths() -> list[list[str]]:
    root: Any = typer.main.get_command(app)
    paths: list[list[str]] = []
    context = root.make_context("edtech-map", [], resilient_parsing=True)
    for name in sorted(root.list_commands(context)):
        command = root.get_command(context, name)
        if hasattr(command, "list_commands"):
            sub_context = command.make_context(name, [], parent=context, resilient_parsing=True)
            paths.extend([name, sub] for sub in sorted(command.list_commands(sub_context)))
        else:
            paths.append([name])
    return paths


def cli_reference() -> str:
    """Every ``edtech-map`` command with its ``--help`` text, as Markdown.

    Examples
    --------
    >>> "--json" in cli_reference()
    True
    """
    parts = []
    for path in _command_paths():
        parts += [f"## edtech-map {' '.join(path)}", "", "```text", _help_text(path), "```", ""]
    return "\n".join(parts)


def import_columns_reference() -> str:
    """The spreadsheet columns ``edtech-map import`` understands, as a Markdown table.

    Examples
    --------
    >>> "| `seats` | `licence.seats` |" in import_columns_reference()
    True
    """
    rows = ["| column | field | also accepted |", "| --- | --- | --- |"]
    for column, dotted, aliases in column_reference():
        also = ", ".join(f"`{a}`" for a in aliases)
        rows.append(f"| `{column}` | `{dotted}` | {also} |")
    return "\n".join(rows)


def graph_kinds_reference() -> str:
    """Node and edge kinds of the ecosystem graph, as Markdown tables.

    Examples
    --------
    >>> "| `rosters` | rosters | is rostered by |" in graph_kinds_reference()
    True
    """
    rows = ["| node kind | meaning |", "| --- | --- |"]
    rows += [f"| `{kind}` | {meaning} |" for kind, meaning in NODE_KINDS.items()]
    rows += [
        "",
        "| edge kind | read forwards | read backwards | from |",
        "| --- | --- | --- | --- |",
    ]
    rows += [
        f"| `{kind}` | {edge.forward} | {edge.backward} | {edge.meaning} |"
        for kind, edge in EDGE_KINDS.items()
    ]
    return "\n".join(rows)


GENERATORS: dict[str, Callable[[], str]] = {
    "inventory": inventory_reference,
    "vocabularies": vocabulary_reference,
    "cli": cli_reference,
    "import-columns": import_columns_reference,
    "graph-kinds": graph_kinds_reference,
}
