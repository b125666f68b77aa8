"""What a generated workspace holds and what was planted in it: ``manifest.json``.

The manifest is the answer key. ``counts`` are exact (counted while the files were written),
``planted`` lists every problem put in on purpose, and ``healthy`` lists tools that no audit
rule should flag. Audit tests compare their findings to it.

Examples
--------
>>> manifest = WorkspaceManifest(size="s", seed=7, as_of="2026-11-23")
>>> manifest.planted.teacher_only, manifest.counts.users
((), 0)
>>> WorkspaceManifest.model_validate_json(manifest.model_dump_json()) == manifest
True
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from edtech_map.model import StrictModel

__all__ = [
    "Counts",
    "FlowRef",
    "GapCell",
    "OverlapCell",
    "Planted",
    "ScopeGap",
    "Uninventoried",
    "WorkspaceManifest",
]

Size = Literal["s", "m", "l"]


class Counts(StrictModel):
    """Exact numbers of things written, counted while writing.

    Examples
    --------
    >>> Counts(users=3, students=2, teachers=1).users
    3
    """

    schools: int = 0
    tools: int = 0
    flows: int = 0
    orgs: int = 0
    academic_sessions: int = 0
    courses: int = 0
    classes: int = 0
    users: int = 0
    students: int = 0
    teachers: int = 0
    administrators: int = 0
    enrollments: int = 0
    caliper_events: int = 0
    caliper_lines: int = 0
    csv_usage_rows: int = 0


class OverlapCell(StrictModel):
    """Two or more tools for the same learning task, subject and grade at one school.

    Examples
    --------
    >>> OverlapCell(school="a", task="practice", subject="math", grade="3", tools=("x", "y")).grade
    '3'
    """

    school: str
    task: str = Field(description="A LearningTask value.")
    subject: str = Field(description="A Subject value.")
    grade: str = Field(description="Grade label: K, 1 ... 12.")
    tools: tuple[str, ...]


class GapCell(StrictModel):
    """A learning task, subject and grade that a school serves but no tool covers there.

    Examples
    --------
    >>> GapCell(school="a", task="student_choice", subject="science", grade="7").task
    'student_choice'
    """

    school: str
    task: str
    subject: str
    grade: str


class FlowRef(StrictModel):
    """A data flow, by its ends and its key (``source->target:mechanism``).

    Examples
    --------
    >>> FlowRef(source="a", target="b", key="a->b:lti").key
    'a->b:lti'
    """

    source: str
    target: str
    key: str


class ScopeGap(StrictModel):
    """A flow sending data elements that the target's signed DPA does not list.

    Examples
    --------
    >>> ScopeGap(source="a", target="b", key="a->b:api", elements=("assessment",)).elements
    ('assessment',)
    """

    source: str
    target: str
    key: str
    elements: tuple[str, ...]


class Uninventoried(StrictModel):
    """An app seen in usage that no inventory tool claims, and how many students used it.

    Examples
    --------
    >>> Uninventoried(identifier="https://x.example/", kind="caliper_app_id", students=4).kind
    'caliper_app_id'
    """

    identifier: str
    kind: Literal["caliper_app_id", "domain"]
    name: str = Field(default="", description="The name the app goes by (for the docs).")
    students: int = Field(default=0, description="Distinct students seen using it.")
    teachers: int = Field(default=0, description="Distinct teachers seen using it.")


class Planted(StrictModel):
    """The problems put into the workspace on purpose, by kind.

    Examples
    --------
    >>> Planted(never_used=("vocabvault",)).never_used
    ('vocabvault',)
    """

    teacher_only: tuple[str, ...] = Field(
        default=(), description="Student-audience tools whose usage is by teachers only."
    )
    never_used: tuple[str, ...] = Field(
        default=(), description="Licensed tools with no usage at all in the window."
    )
    low_use: tuple[str, ...] = Field(
        default=(), description="Licensed tools with a small share of their seats in use."
    )
    overlaps: tuple[OverlapCell, ...] = ()
    gaps: tuple[GapCell, ...] = ()
    missing_dpa: tuple[str, ...] = Field(
        default=(), description="Tools with no privacy record, or status none/pending/declined."
    )
    expired_dpa: tuple[str, ...] = Field(
        default=(), description="Tools whose DPA lapsed before `as_of`."
    )
    pii_without_dpa: tuple[FlowRef, ...] = Field(
        default=(), description="Flows of student PII to a tool with no DPA in force."
    )
    dpa_scope_gaps: tuple[ScopeGap, ...] = Field(
        default=(), description="Flows sending more than the target's signed DPA allows."
    )
    uninventoried: tuple[Uninventoried, ...] = ()
    no_owner: tuple[str, ...] = ()
    single_points_of_failure: tuple[str, ...] = Field(
        default=(),
        description="Tools that ten or more tools depend on for rosters, sign-in or launch.",
    )
    renewals_soon_low_use: tuple[str, ...] = Field(
        default=(), description="Licences renewing within 90 days of `as_of`, barely used."
    )


class WorkspaceManifest(StrictModel):
    """``manifest.json`` of a generated workspace."""

    size: Size
    seed: int
    as_of: date
    scale: float = Field(default=1.0, description="Multiplier on the size's populations.")
    window_days: int = Field(default=21, description="Days of usage, ending on `as_of`.")
    counts: Counts = Field(default_factory=Counts)
    files: dict[str, str] = Field(default_factory=dict, description="Name -> relative path.")
    planted: Planted = Field(default_factory=Planted)
    partial: tuple[str, ...] = Field(
        default=(),
        description="Names of `planted` lists that are lower bounds: a rule may rightly find "
        "more (at M and L, `gaps`: generated tools are bought school by school).",
    )
    healthy: tuple[str, ...] = Field(default=(), description="Tools no audit rule should flag.")
