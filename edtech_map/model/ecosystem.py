"""The whole inventory: district, schools, tools, data flows, sources and audit settings.

Cross-reference checks (unknown ids, duplicates, flows to nowhere, identifiers claimed by two
tools) run on the raw mapping in :func:`reference_problems`, so the inventory loader can report
them together with field errors, each with its line; constructing an :class:`Ecosystem` in code
runs the same checks.

Examples
--------
>>> eco = Ecosystem(
...     district={"id": "riverside", "name": "Riverside USD"},
...     schools=[{"id": "lincoln-es", "name": "Lincoln ES", "type": "elementary"}],
...     tools=[{"id": "canvas", "name": "Canvas", "category": "lms"},
...            {"id": "mathly", "name": "Mathly", "category": "adaptive_practice",
...             "launched_from": ["canvas"]}],
...     flows=[{"source": "canvas", "target": "mathly", "mechanism": "lti",
...             "data": ["student_name"]}])
>>> eco.tool("mathly").name, len(eco.tools)
('Mathly', 2)
>>> Ecosystem(district={"id": "d", "name": "D"},
...           flows=[{"source": "sis", "target": "lms", "mechanism": "api"}])
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for Ecosystem
  Value error, flows[0].source: 'sis' is not a tool id in this inventory; ...
"""

from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from functools import cached_property
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, JsonValue, ValidationInfo, model_validator

from edtech_map.errors import Problem
from edtech_map.model.base import Identifier, StrictModel
from edtech_map.model.district import District, School
from edtech_map.model.flow import DataFlow
from edtech_map.model.tool import Tool

__all__ = ["AuditConfig", "Ecosystem", "SourceConfig", "Waiver", "reference_problems"]

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _env_name_only(value: str) -> str:
    if not _ENV_NAME.match(value):
        # Never echo the value: it may be the secret itself.
        raise ValueError(
            "must name an environment variable (like CLEVER_TOKEN), not hold the secret "
            "itself; put the secret in the environment and its name here"
        )
    return value


EnvVarName = Annotated[str, AfterValidator(_env_name_only)]
"""The name of an environment variable: upper-case letters, digits and ``_``."""


class Waiver(StrictModel):
    """A finding the district has accepted, with a reason and a date to look again.

    Examples
    --------
    >>> Waiver(rule="EM-TCH-001", subject="mathly", reason="pilot", expires="2027-01-31").rule
    'EM-TCH-001'
    """

    rule: str = Field(pattern=r"^EM-[A-Z]{3}-\d{3}$", description="Rule id, e.g. EM-TCH-001.")
    subject: str = Field(min_length=1, description="Tool, school or flow id the finding names.")
    reason: str = Field(min_length=1, description="Why it is accepted.")
    expires: date = Field(description="After this day the finding comes back.")


class AuditConfig(StrictModel):
    """The `audit:` section: thresholds per rule, minimum cell size and waivers.

    Examples
    --------
    >>> AuditConfig(thresholds={"EM-TCH-001": {"max_student_share": 0.1}}).min_cell_size
    5
    """

    min_cell_size: int = Field(
        default=5, ge=1, description="Counts of students below this are shown as `<N`."
    )
    thresholds: dict[str, dict[str, float | int | str | bool]] = Field(
        default_factory=dict, description="Per rule id, keyword overrides of its defaults."
    )
    waivers: tuple[Waiver, ...] = ()


class SourceConfig(StrictModel):
    """One entry of `sources:`: a system to pull rosters or usage from.

    Secrets are never written here: `secrets` maps a credential's name to the *name of an
    environment variable* that holds it.

    Examples
    --------
    >>> SourceConfig(kind="clever", secrets={"token": "CLEVER_TOKEN"}).secrets
    {'token': 'CLEVER_TOKEN'}
    >>> SourceConfig(kind="clever", secrets={"token": "sk_live_abc123"})
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for SourceConfig
    secrets.token
      Value error, must name an environment variable (like CLEVER_TOKEN), not hold the secret ...
    """

    kind: str = Field(min_length=1, description="Connector, e.g. oneroster_rest, clever, canvas.")
    base_url: str | None = Field(default=None, description="API root, e.g. https://api.clever.com.")
    path: str | None = Field(default=None, description="File or folder, for file sources.")
    streams: tuple[str, ...] = Field(default=(), description="Streams to pull; none = all.")
    secrets: dict[str, EnvVarName] = Field(
        default_factory=dict, description="Credential name -> environment variable name."
    )
    options: dict[str, JsonValue] = Field(
        default_factory=dict, description="Connector-specific settings."
    )

    # A secret pasted here by mistake must not be echoed back in an error message.
    model_config = StrictModel.model_config | {"hide_input_in_errors": True}


class Ecosystem(StrictModel):
    """The district's learning-technology ecosystem, as kept in ``ecosystem.yaml``."""

    model_config = StrictModel.model_config | {"hide_input_in_errors": True}

    version: Literal[1] = Field(default=1, description="File format version.")
    district: District
    schools: tuple[School, ...] = ()
    tools: tuple[Tool, ...] = ()
    flows: tuple[DataFlow, ...] = ()
    sources: dict[Identifier, SourceConfig] = Field(default_factory=dict)
    audit: AuditConfig = Field(default_factory=AuditConfig)

    @model_validator(mode="after")
    def _references_resolve(self, info: ValidationInfo) -> Self:
        # The inventory loader checks references itself (on the raw file, with line numbers).
        if isinstance(info.context, Mapping) and info.context.get("skip_references"):
            return self
        problems = reference_problems(self.model_dump(mode="json"))
        if problems:
            raise ValueError("; ".join(p.render() for p in problems))
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with ``update`` applied; the id lookups are rebuilt for the copy.

        Examples
        --------
        >>> eco = Ecosystem(district={"id": "d", "name": "D"},
        ...                 tools=[{"id": "lms", "name": "Old", "category": "lms"}])
        >>> eco.tool("lms").name
        'Old'
        >>> renamed = eco.tools[0].model_copy(update={"name": "New"})
        >>> eco.model_copy(update={"tools": (renamed,)}).tool("lms").name
        'New'
        """
        copied = super().model_copy(update=update, deep=deep)
        for cached in ("_tools_by_id", "_schools_by_id"):
            copied.__dict__.pop(cached, None)  # cached_property values are not fields
        return copied

    @cached_property
    def _tools_by_id(self) -> dict[str, Tool]:
        return {tool.id: tool for tool in self.tools}

    @cached_property
    def _schools_by_id(self) -> dict[str, School]:
        return {school.id: school for school in self.schools}

    def tool(self, tool_id: str) -> Tool:
        """The tool with this id.

        Raises
        ------
        KeyError
            When there is none; the message names the id.
        """
        try:
            return self._tools_by_id[tool_id]
        except KeyError:
            raise KeyError(f"no tool with id {tool_id!r} in the inventory") from None

    def school(self, school_id: str) -> School:
        """The school with this id (``KeyError`` naming the id when there is none)."""
        try:
            return self._schools_by_id[school_id]
        except KeyError:
            raise KeyError(f"no school with id {school_id!r} in the inventory") from None

    def schools_of(self, tool: Tool) -> tuple[School, ...]:
        """The schools a tool is in use at (every school for `schools: all`)."""
        if tool.schools == "all":
            return self.schools
        return tuple(self.school(school_id) for school_id in tool.schools)

    def _repr_html_(self) -> str:
        """A small summary table for Jupyter."""
        rows = [
            ("District", self.district.name),
            ("Schools", str(len(self.schools))),
            ("Tools", str(len(self.tools))),
            ("Data flows", str(len(self.flows))),
            ("Flows with student PII", str(sum(f.carries_student_pii for f in self.flows))),
        ]
        body = "".join(
            f"<tr><th scope='row'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        return f"<table><caption>edtech-map ecosystem</caption>{body}</table>"


def _items(data: Mapping[str, Any], key: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    value = data.get(key)
    if isinstance(value, Sequence) and not isinstance(value, str):
        for index, item in enumerate(value):
            if isinstance(item, Mapping):
                yield index, item


def _id_list(value: Any) -> list[tuple[int | None, str]]:
    if isinstance(value, str):
        return [(None, value)]
    if isinstance(value, Sequence):
        return [(i, v) for i, v in enumerate(value) if isinstance(v, str)]
    return []


def reference_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Check that every id an inventory mentions exists once, on a raw (parsed YAML) mapping.

    Works on partly invalid data (it skips what it cannot read), so a loader can report these
    problems alongside field errors.

    Examples
    --------
    >>> data = {"schools": [{"id": "a"}], "tools": [{"id": "a", "schools": ["b"]}],
    ...         "flows": [{"source": "a", "target": "x"}]}
    >>> for p in reference_problems(data):
    ...     print(p.render())
    tools[0].id: 'a' is already the id of schools[0]; ids must be unique across schools and tools
    tools[0].schools[0]: 'b' is not a school id in this inventory; add the school or fix the id
    flows[0].target: 'x' is not a tool id in this inventory; add the tool or fix the id
    """
    problems: list[Problem] = []
    first_seen: dict[str, str] = {}
    district = data.get("district")
    if isinstance(district, Mapping) and isinstance(district.get("id"), str):
        first_seen[district["id"]] = "district"
    for section in ("schools", "tools"):
        for index, item in _items(data, section):
            item_id = item.get("id")
            if not isinstance(item_id, str):
                continue
            if item_id in first_seen:
                problems.append(
                    Problem(
                        (section, index, "id"),
                        item_id,
                        f"{item_id!r} is already the id of {first_seen[item_id]}; "
                        "ids must be unique across schools and tools",
                    )
                )
            else:
                first_seen[item_id] = f"{section}[{index}]"
    school_ids = {i.get("id") for _, i in _items(data, "schools")}
    tool_ids = {i.get("id") for _, i in _items(data, "tools")}

    def unknown(loc: tuple[str | int, ...], value: str, kind: str) -> Problem:
        return Problem(
            loc,
            value,
            f"{value!r} is not a {kind} id in this inventory; add the {kind} or fix the id",
        )

    claimed: dict[tuple[str, str], str] = {}
    for index, tool in _items(data, "tools"):
        schools = tool.get("schools")
        if not (isinstance(schools, str) and schools.strip().lower() == "all"):
            for pos, school_id in _id_list(schools):
                if school_id not in school_ids:
                    loc = ("tools", index, "schools") + ((pos,) if pos is not None else ())
                    problems.append(unknown(loc, school_id, "school"))
        for field in ("rostered_by", "sso_via"):
            ref = tool.get(field)
            if isinstance(ref, str) and ref not in tool_ids:
                problems.append(unknown(("tools", index, field), ref, "tool"))
        for pos, ref in _id_list(tool.get("launched_from")):
            if ref not in tool_ids:
                problems.append(unknown(("tools", index, "launched_from", pos or 0), ref, "tool"))
        identifiers = tool.get("identifiers")
        if isinstance(identifiers, Mapping):
            for kind, values in identifiers.items():
                for pos, raw in _id_list(values):
                    ident = raw.strip().lower()
                    owner = claimed.setdefault((str(kind), ident), f"tools[{index}]")
                    if owner != f"tools[{index}]":
                        problems.append(
                            Problem(
                                ("tools", index, "identifiers", str(kind), pos or 0),
                                raw,
                                f"{raw!r} is already claimed by {owner}; an identifier can "
                                "belong to one tool only, so usage can be matched",
                            )
                        )
    for index, flow in _items(data, "flows"):
        for end in ("source", "target"):
            ref = flow.get(end)
            if isinstance(ref, str) and ref not in tool_ids:
                problems.append(unknown(("flows", index, end), ref, "tool"))
        if isinstance(flow.get("source"), str) and flow.get("source") == flow.get("target"):
            problems.append(
                Problem(("flows", index, "target"), flow["target"], "a flow cannot go to itself")
            )
    flow_ids = Counter(flow.get("id") for _, flow in _items(data, "flows") if flow.get("id"))
    seen_flow: defaultdict[str, int] = defaultdict(int)
    for index, flow in _items(data, "flows"):
        flow_id = flow.get("id")
        if isinstance(flow_id, str) and flow_ids[flow_id] > 1:
            seen_flow[flow_id] += 1
            if seen_flow[flow_id] > 1:
                problems.append(
                    Problem(("flows", index, "id"), flow_id, f"flow id {flow_id!r} is used twice")
                )
    return problems
