"""Read and write ``ecosystem.yaml``, keeping a director's comments and key order.

Loading reports *every* problem at once, each with ``file:line:column``, the field path, the
value and what is allowed. Saving merges the ecosystem into the existing file (comments, key
order and untouched formatting survive) and replaces the file atomically.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "ecosystem.yaml"
>>> _ = path.write_text('''# Riverside's tools
... district: {id: riverside, name: Riverside USD}
... tools:
...   - id: canvas   # our LMS since 2019
...     name: Canvas
...     category: lms
... ''')
>>> eco = load_ecosystem(path)
>>> eco.tool("canvas").name
'Canvas'
>>> renamed = eco.model_copy(update={"tools": (eco.tools[0].model_copy(update={"name": "Canvas LMS"}),)})
>>> save_ecosystem(renamed, path)
>>> print(path.read_text())
# Riverside's tools
district: {id: riverside, name: Riverside USD}
tools:
  - id: canvas   # our LMS since 2019
    name: Canvas LMS
    category: lms
<BLANKLINE>
"""

from __future__ import annotations

import contextlib
import difflib
import io
import json
import logging
import os
import tempfile
import typing
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, MarkedYAMLError, YAMLError
from ruamel.yaml.tokens import CommentToken

from edtech_map.errors import InventoryError, Problem, format_loc
from edtech_map.model import Ecosystem, parse_grades, reference_problems

__all__ = [
    "SCHEMA_FILENAME",
    "atomic_write_text",
    "describe_error",
    "dumps_ecosystem",
    "ecosystem_json_schema",
    "iter_json_lines",
    "load_ecosystem",
    "loads_ecosystem",
    "save_ecosystem",
    "starter_yaml",
    "to_yaml_data",
    "validate_file",
]

log = logging.getLogger(__name__)

SCHEMA_FILENAME = "ecosystem.schema.json"
_HIDDEN = "<hidden>"


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: keeps comments, key order, flow style and quotes
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never re-wrap the lines a person wrote
    yaml.preserve_quotes = True
    return yaml


# --------------------------------------------------------------------------- loading


def _parse_yaml(text: str, path: Path | None) -> Any:
    try:
        return _yaml().load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = f"{error.problem or error.context or 'invalid YAML'}"
        if error.context and error.problem:
            message = f"{error.problem} ({error.context})"
        hint = "fix the YAML syntax there (indentation, a missing ':' or an unclosed quote)"
        if "duplicate key" in message or "found duplicate key" in str(error):
            hint = "each key may appear once per mapping; remove or rename one of them"
        problem = Problem(
            (),
            None,
            f"{message.strip()}; {hint}",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        )
        raise InventoryError([problem], path=path) from None
    except YAMLError as error:
        problem = Problem((), None, f"not readable as YAML ({error}); save it as UTF-8 text")
        raise InventoryError([problem], path=path) from None


def _position(data: Any, loc: Sequence[str | int], *, key: bool = False) -> tuple[int, int] | None:
    """1-based (line, column) of the node at ``loc``, or of its nearest existing parent."""
    node = data
    found: tuple[int, int] | None = None
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, CommentedMap) and isinstance(part, str) and part in node:
            line, col = node.lc.key(part) if (key and last) else node.lc.value(part)
            found = (line + 1, col + 1)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line, col = node.lc.item(part)
            found = (line + 1, col + 1)
            node = node[part]
        else:
            if isinstance(node, CommentedMap | CommentedSeq) and found is None:
                found = (node.lc.line + 1, node.lc.col + 1)
            break
    return found


def _clean_loc(data: Any, loc: Sequence[str | int]) -> tuple[tuple[str | int, ...], bool]:
    """Drop pydantic's union/validator tags, which are not keys in the data."""
    node = data
    cleaned: list[str | int] = []
    tagged = False
    for part in loc:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
            cleaned.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            cleaned.append(part)
        elif isinstance(node, Mapping) and isinstance(part, str) and "[" not in part:
            cleaned.append(part)  # a missing key: the field's name
            node = None
        else:
            tagged = True  # a union or validator tag such as "tuple[...]"
    return tuple(cleaned), tagged


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model whose fields live at ``loc`` (for 'did you mean' suggestions)."""
    model: type[BaseModel] | None = Ecosystem
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None  # e.g. a name under `sources:`, whose values are all SourceConfig
        model = _first_model(field.annotation)
    return model


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _suggest(value: object, options: Sequence[str]) -> str:
    """``did you mean 'x'? `` for a near miss, matching whole values or their first word."""
    candidates: dict[str, str] = {}
    for option in options:
        candidates.setdefault(option, option)
        candidates.setdefault(option.split("_")[0], option)
    close = difflib.get_close_matches(str(value).lower(), list(candidates), n=1, cutoff=0.6)
    return f"did you mean {candidates[close[0]]!r}? " if close else ""


def describe_error(error: ErrorDetails, loc: tuple[str | int, ...]) -> str:
    """One pydantic error as a sentence that names the value and says what is allowed.

    Examples
    --------
    >>> from pydantic import ValidationError
    >>> from edtech_map.model import Tool
    >>> try:
    ...     Tool(id="x", name="X", category="lsm")
    ... except ValidationError as error:
    ...     print(describe_error(error.errors()[0], ("category",)))
    'lsm' is not an allowed category; did you mean 'lms'? use one of: ...
    """
    kind = error["type"]
    value = error.get("input")
    name = next((p for p in reversed(loc) if isinstance(p, str)), "value")
    ctx = error.get("ctx") or {}
    if "secrets" in loc:
        value = _HIDDEN
    if kind == "missing":
        return f"required field `{name}` is missing; add it"
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = sorted(parent.model_fields) if parent else []
        hint = _suggest(name, allowed)
        listing = f"allowed here: {', '.join(allowed)}" if allowed else "remove it"
        return f"unknown field {name!r}; {hint}{listing}"
    if kind == "enum":
        expected = str(ctx.get("expected", ""))
        options = [o.strip(" '") for o in expected.replace(" or ", ", ").split(",")]
        hint = _suggest(value, options)
        return f"{value!r} is not an allowed {name}; {hint}use one of: {expected}"
    if kind == "string_pattern_mismatch" and name in {"id", "source", "target"} | {
        "schools",
        "rostered_by",
        "sso_via",
        "launched_from",
    }:
        return (
            f"{value!r} is not a valid id; use lower-case letters, digits, '-', '_' or '.', "
            "starting with a letter or digit (e.g. lincoln-es)"
        )
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind.startswith("value_error") or kind == "assertion_error":
        return message
    shown = "" if value is None or isinstance(value, Mapping | list) else f"{value!r}: "
    return f"{shown}{message}"


def _problems_from_validation(error: ValidationError, data: Any) -> list[Problem]:
    entries: list[tuple[tuple[str | int, ...], bool, ErrorDetails]] = []
    for detail in error.errors(include_url=False):
        loc, tagged = _clean_loc(data, detail["loc"])
        entries.append((loc, tagged, detail))
    problems: list[Problem] = []
    seen: set[tuple[tuple[str | int, ...], str]] = set()
    for loc, tagged, detail in entries:
        if tagged and any(
            other_tagged and len(other) > len(loc) and other[: len(loc)] == loc
            for other, other_tagged, _ in entries
        ):
            continue  # a union branch that failed less specifically than its sibling
        message = describe_error(detail, loc)
        if (loc, message) in seen:
            continue
        seen.add((loc, message))
        position = _position(data, loc, key=detail["type"] == "extra_forbidden")
        value = _HIDDEN if "secrets" in loc else detail.get("input")
        problems.append(
            Problem(
                loc,
                value,
                message,
                line=position[0] if position else None,
                column=position[1] if position else None,
            )
        )
    return problems


def _with_position(problem: Problem, data: Any) -> Problem:
    position = _position(data, problem.loc)
    if position is None:
        return problem
    return Problem(problem.loc, problem.value, problem.message, position[0], position[1])


def loads_ecosystem(text: str, *, path: Path | None = None) -> Ecosystem:
    """Parse and validate an inventory from YAML text; every problem is reported at once.

    Raises
    ------
    InventoryError
        Listing each problem as ``file:line:col field: message``.

    Examples
    --------
    >>> eco = loads_ecosystem("district: {id: d1, name: Demo}\\ntools: []\\n")
    >>> eco.district.name
    'Demo'
    >>> loads_ecosystem("district: {id: d1, name: Demo}\\ntools:\\n  - {id: x, name: X, category: lsm}\\n")
    Traceback (most recent call last):
    ...
    edtech_map.errors.InventoryError: inventory: 1 problem
      3:32 tools[0].category: 'lsm' is not an allowed category; did you mean 'lms'? use one of: ...
    """
    data = _parse_yaml(text, path)
    if data is None:
        raise InventoryError(
            [Problem((), None, "the file is empty; run `edtech-map init` for a starter file")],
            path=path,
        )
    if not isinstance(data, Mapping):
        raise InventoryError(
            [
                Problem(
                    (),
                    type(data).__name__,
                    "the top level must be a mapping with `district:`, `schools:`, `tools:` …",
                    line=1,
                    column=1,
                )
            ],
            path=path,
        )
    problems: list[Problem] = []
    ecosystem: Ecosystem | None = None
    try:
        ecosystem = Ecosystem.model_validate(data, context={"skip_references": True})
    except ValidationError as error:
        problems.extend(_problems_from_validation(error, data))
    problems.extend(_with_position(p, data) for p in reference_problems(data))
    if problems or ecosystem is None:
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise InventoryError(problems, path=path)
    return ecosystem


def load_ecosystem(path: str | os.PathLike[str]) -> Ecosystem:
    """Load ``ecosystem.yaml`` (or any inventory file) and validate it.

    Raises
    ------
    InventoryError
        Every problem with ``file:line:col``, field, value and what is allowed.
    FileNotFoundError
        When the file does not exist (the message says how to create one).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "ecosystem.yaml"
    >>> _ = path.write_text(starter_yaml())
    >>> [tool.id for tool in load_ecosystem(path).tools]
    ['sis', 'lms']
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(
            f"{file}: no such inventory file; create one with `edtech-map init` "
            "or pass the path with --inventory"
        )
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InventoryError(
            [Problem((), None, f"not UTF-8 text (byte {error.start}); save the file as UTF-8")],
            path=file,
        ) from None
    return loads_ecosystem(text, path=file)


def validate_file(path: str | os.PathLike[str]) -> list[Problem]:
    """Every problem in an inventory file, or ``[]`` when it is valid (never raises for them).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "ecosystem.yaml"
    >>> _ = path.write_text("district: {id: d1, name: Demo}\\nschools: [{id: X}]\\n")
    >>> for problem in validate_file(path):
    ...     print(problem.render())
    2:11 schools[0].name: required field `name` is missing; add it
    2:11 schools[0].type: required field `type` is missing; add it
    2:16 schools[0].id: 'X' is not a valid id; use lower-case letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. lincoln-es)
    """
    try:
        load_ecosystem(path)
    except InventoryError as error:
        return list(error.problems)
    return []


# --------------------------------------------------------------------------- saving


def to_yaml_data(value: Any) -> Any:
    """Turn a ``model_dump(mode="python")`` result into plain YAML-ready data.

    Enums become their values, tuples lists, whole-number decimals ints, other decimals
    floats; dates stay dates (YAML has them).

    Examples
    --------
    >>> from edtech_map.model import ToolCategory
    >>> to_yaml_data({"c": ToolCategory.LMS, "g": ("K", 1), "cost": Decimal("2500")})
    {'c': 'lms', 'g': ['K', 1], 'cost': 2500}
    """
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_yaml_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_yaml_data(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return value


def _dump_data(ecosystem: Ecosystem) -> dict[str, Any]:
    data = to_yaml_data(ecosystem.model_dump(mode="python", exclude_unset=True))
    assert isinstance(data, dict)
    ordered = {key: data[key] for key in Ecosystem.model_fields if key in data}
    return ordered


def _same(old: Any, new: Any, key: str | None = None) -> bool:
    """Whether the file's value already says what the model says (then keep its spelling)."""
    if key == "grades" and isinstance(new, list):
        try:
            return parse_grades(old) == parse_grades(new)  # "K-5" and [K, 1, 2, 3, 4, 5]
        except ValueError:
            return False
    if isinstance(old, list) and isinstance(new, list):
        if all(not isinstance(v, Mapping | list) for v in [*old, *new]):
            return len(old) == len(new) and all(
                _same(a, b) for a, b in zip(sorted(old, key=str), sorted(new, key=str), strict=True)
            )
        return False
    if isinstance(old, date) and not isinstance(old, datetime) and isinstance(new, date):
        return old == new
    if isinstance(old, bool) or isinstance(new, bool):
        return old is new
    if isinstance(old, int | float) and isinstance(new, int | float):
        return bool(old == new)
    if isinstance(old, str) and isinstance(new, str):
        return str(old) == new  # ruamel's quoted-string subclasses count as the same text
    return type(old) is type(new) and old == new  # "1" must not stay where 1 belongs


def _merge(old: Any, new: Any, key: str | None = None) -> Any:
    """Merge ``new`` into the round-trip node ``old`` in place when shapes allow."""
    if _same(old, new, key):
        return old  # keep its spelling, order, quoting and comments
    if isinstance(old, CommentedMap) and isinstance(new, Mapping):
        for name in [k for k in old if k not in new]:
            del old[name]
        for position, (name, value) in enumerate(new.items()):
            if name in old:
                merged = _merge(old[name], value, name)
                if merged is not old[name]:
                    _replace_value(old, name, merged)
            else:
                old.insert(min(position, len(old)), name, _fresh(value))
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        if not new:
            return _fresh(new)  # comments of removed items go with them
        if all(isinstance(v, Mapping) and "id" in v for v in new) and all(
            isinstance(o, CommentedMap) and "id" in o for o in old
        ):
            by_id = {o["id"]: o for o in old}
            if _grows_in_place(old, new):
                # Same order, some removed, new ones at the end: edit the sequence where it
                # is, so the comments and blank lines between items stay where they were.
                wanted = {v["id"] for v in new}
                for index in reversed(range(len(old))):
                    if old[index]["id"] not in wanted:
                        del old[index]
                tail = _take_trailing_comment(old[-1]) if old and len(new) > len(old) else None
                for value in new:
                    if value["id"] in by_id:
                        _merge(by_id[value["id"]], value)
                    else:
                        old.append(_fresh(value))
                if tail is not None:  # what followed the list (e.g. the next section's header)
                    _put_trailing_comment(old[-1], tail)
                return old
            items = [_merge(by_id[v["id"]], v) if v["id"] in by_id else _fresh(v) for v in new]
        elif len(old) == len(new):
            items = [_merge(o, n) for o, n in zip(old, new, strict=True)]
        else:
            return _fresh(new)
        if [id(i) for i in items] != [id(o) for o in old]:
            old[:] = items
        return old
    return _fresh(new)


def _last_scalar_holder(node: Any) -> tuple[CommentedMap | CommentedSeq, Any] | None:
    """The mapping (or sequence) and key whose value ends ``node``: where ruamel keeps the
    comments and blank lines that follow it."""
    while True:
        if isinstance(node, CommentedMap) and node:
            key = list(node.keys())[-1]
            if isinstance(node[key], CommentedMap | CommentedSeq) and node[key]:
                node = node[key]
                continue
            return node, key
        if isinstance(node, CommentedSeq) and node:
            index = len(node) - 1
            if isinstance(node[index], CommentedMap | CommentedSeq) and node[index]:
                node = node[index]
                continue
            return node, index
        return None


def _take_trailing_comment(node: Any) -> str | None:
    """Remove and return the lines after ``node``'s own line end (comments, blank lines)."""
    holder = _last_scalar_holder(node)
    if holder is None:
        return None
    parent, key = holder
    entry = parent.ca.items.get(key)
    if not entry or len(entry) < 3 or entry[2] is None:
        return None
    value: str = entry[2].value
    first, newline, rest = value.partition("\n")
    if not newline or not rest:
        return None
    entry[2].value = first + "\n"
    return rest


def _put_trailing_comment(node: Any, text: str) -> None:
    """Attach ``text`` (from :func:`_take_trailing_comment`) after ``node``."""
    holder = _last_scalar_holder(node)
    if holder is None:
        return
    parent, key = holder
    entry = parent.ca.items.setdefault(key, [None, None, None, None])
    while len(entry) < 3:
        entry.append(None)
    if entry[2] is None:
        entry[2] = CommentToken("\n" + text, CommentMark(0), None)
    else:
        entry[2].value = entry[2].value.rstrip("\n") + "\n" + text


def _grows_in_place(old: CommentedSeq, new: list[Any]) -> bool:
    """Whether ``new`` keeps the order of the items it shares with ``old`` and only adds at the end."""
    old_ids = [o["id"] for o in old]
    new_ids = [v["id"] for v in new]
    kept = [i for i in new_ids if i in set(old_ids)]
    if kept != [i for i in old_ids if i in set(new_ids)]:
        return False
    return new_ids[: len(kept)] == kept


def _replace_value(parent: CommentedMap, key: str, value: Any) -> None:
    """Set ``parent[key]``, moving comments that sat between key and old value above the key.

    ruamel keeps such comments on the key; left there, they would be written between the key
    and a new flow-style or scalar value and break the file.
    """
    entry = parent.ca.items.get(key)
    moved = entry[3] if entry and len(entry) > 3 else None
    if moved:
        entry[3] = None  # the end-of-line comment (entry[2]) stays with the key
    parent[key] = value
    lines = [
        line.strip().removeprefix("#").strip()
        for token in moved or []
        for line in token.value.splitlines()
        if line.strip()
    ]
    if lines:
        column = parent.lc.col if parent.lc.col is not None else 0
        parent.yaml_set_comment_before_after_key(key, before="\n".join(lines), indent=column)


def _fresh(value: Any) -> Any:
    if isinstance(value, Mapping):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = _fresh(item)
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_fresh(v) for v in value)
        if all(not isinstance(v, Mapping | list) for v in value) and len(value) <= 12:
            seq.fa.set_flow_style()
        return seq
    return value


def dumps_ecosystem(ecosystem: Ecosystem, *, into: str | None = None) -> str:
    """Write an ecosystem as YAML text, merged into existing YAML text when given.

    Examples
    --------
    >>> eco = loads_ecosystem("district: {id: d1, name: Demo}\\n")
    >>> print(dumps_ecosystem(eco))
    version: 1
    district:
      id: d1
      name: Demo
    <BLANKLINE>
    >>> print(dumps_ecosystem(eco, into="# keep me\\ndistrict: {id: d1, name: Old}\\n"))
    # keep me
    district: {id: d1, name: Demo}
    <BLANKLINE>
    """
    new = _dump_data(ecosystem)
    yaml = _yaml()
    document: Any
    if into is not None and (existing := yaml.load(into)) is not None:
        document = _merge(existing, new)
    else:
        document = _fresh({"version": 1, **new})
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically: readers see the old or the new file, whole.

    Examples
    --------
    >>> target = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write_text(target, "hello\\n")
    >>> target.read_text()
    'hello\\n'
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def save_ecosystem(ecosystem: Ecosystem, path: str | os.PathLike[str]) -> None:
    """Save an ecosystem to ``path``, merging into the existing file so comments survive.

    Keys the ecosystem no longer has are removed; everything else keeps its comments, order
    and formatting. The write is atomic.

    Examples
    --------
    >>> target = Path(tempfile.mkdtemp()) / "ecosystem.yaml"
    >>> save_ecosystem(loads_ecosystem("district: {id: d1, name: Demo}\\n"), target)
    >>> load_ecosystem(target).district.id
    'd1'
    """
    file = Path(path)
    # model_copy(update=...) does not validate; never write a file that would not load.
    Ecosystem.model_validate(ecosystem.model_dump())
    existing = file.read_text(encoding="utf-8-sig") if file.exists() else None
    text = dumps_ecosystem(ecosystem, into=existing)
    atomic_write_text(file, text)
    log.info("saved %s (%d tools, %d schools)", file, len(ecosystem.tools), len(ecosystem.schools))


# --------------------------------------------------------------------------- schema


def ecosystem_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``ecosystem.yaml``, for editors (YAML language server) and CI.

    Examples
    --------
    >>> schema = ecosystem_json_schema()
    >>> schema["title"], "tools" in schema["properties"]
    ('Ecosystem', True)
    """
    schema = Ecosystem.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def starter_yaml(*, district_id: str = "my-district", district_name: str = "My District") -> str:
    """A commented starter ``ecosystem.yaml`` that validates as it is.

    Examples
    --------
    >>> eco = loads_ecosystem(starter_yaml(district_id="riverside", district_name="Riverside"))
    >>> eco.district.id, [t.id for t in eco.tools]
    ('riverside', ['sis', 'lms'])
    """
    template = (Path(__file__).parent / "samples" / "starter.yaml").read_text(encoding="utf-8")
    return template.replace("my-district", district_id).replace("My District", district_name)


def iter_json_lines(problems: Sequence[Problem], path: Path | None) -> Iterator[str]:
    """Problems as JSON lines (used by ``validate --json``).

    Examples
    --------
    >>> list(iter_json_lines([Problem(("tools", 0, "id"), "X", "bad id", 3, 7)], None))
    ['{"file": null, "line": 3, "column": 7, "field": "tools[0].id", "value": "X", "message": "bad id"}']
    """
    for problem in problems:
        value = problem.value if isinstance(problem.value, str | int | float | bool) else None
        yield json.dumps(
            {
                "file": str(path) if path else None,
                "line": problem.line,
                "column": problem.column,
                "field": format_loc(problem.loc),
                "value": value,
                "message": problem.message,
            }
        )
