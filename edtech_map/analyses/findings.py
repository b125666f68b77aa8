"""What an audit produces: findings, like a linter's messages, and the result that holds them.

A finding names tools, schools or flows (graph node ids or flow keys), never people, and
carries the numbers behind it as evidence.

Examples
--------
>>> finding = Finding(rule_id="EM-TCH-001", severity="warning", subjects=("mathly", "lincoln-es"),
...                   message="Mathly is for students, but they had 2 of 90 sessions.",
...                   evidence={"sessions": 90, "student_sessions": 2},
...                   recommendation="Check that students are rostered and can sign in.")
>>> finding.subjects, finding.severity >= Severity.INFO
(('lincoln-es', 'mathly'), True)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from edtech_map.model import StrictModel

__all__ = ["AuditResult", "Finding", "Severity", "SkippedRule", "WaivedFinding"]


class Severity(StrEnum):
    """How urgent a finding is; ordered, so ``--min-severity`` can filter."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for error.

        Examples
        --------
        >>> Severity.ERROR.rank > Severity.WARNING.rank
        True
        """
        return list(Severity).index(self)

    def __ge__(self, other: object) -> bool:
        if isinstance(other, Severity):
            return self.rank >= other.rank
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, Severity):
            return self.rank > other.rank
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, Severity):
            return self.rank <= other.rank
        return NotImplemented

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Severity):
            return self.rank < other.rank
        return NotImplemented


class Finding(StrictModel):
    """One thing an audit wants a person to look at. Subjects are tools/schools/flows, never people."""

    rule_id: str = Field(pattern=r"^EM-[A-Z]{3}-\d{3}$", description="e.g. EM-TCH-001")
    severity: Severity
    subjects: tuple[str, ...] = Field(min_length=1, description="Node ids or flow keys, sorted.")
    message: str = Field(min_length=1, description="One sentence, with the numbers in it.")
    evidence: Mapping[str, int | float | str | bool | None] = Field(default_factory=dict)
    recommendation: str = Field(min_length=1, description="What a director can do next.")

    @field_validator("subjects")
    @classmethod
    def _sorted(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(value)))

    @property
    def key(self) -> str:
        """Stable identity across runs (for waivers and snapshot diffs): rule + subjects.

        Examples
        --------
        >>> Finding(rule_id="EM-DPA-001", severity="error", subjects=("b", "a"), message="m",
        ...         recommendation="r").key
        'EM-DPA-001:a,b'
        """
        return f"{self.rule_id}:{','.join(self.subjects)}"

    def sort_key(self) -> tuple[int, str, tuple[str, ...], str]:
        """Most severe first, then rule id, subjects and message: a deterministic order."""
        return (-self.severity.rank, self.rule_id, self.subjects, self.message)


class WaivedFinding(StrictModel):
    """A finding a waiver in ``audit: waivers`` set aside, with the waiver's reason.

    Examples
    --------
    >>> f = Finding(rule_id="EM-OWN-001", severity="info", subjects=("x",), message="m",
    ...             recommendation="r")
    >>> WaivedFinding(finding=f, reason="pilot", expires=date(2027, 1, 1)).finding.key
    'EM-OWN-001:x'
    """

    finding: Finding
    reason: str
    expires: date


class SkippedRule(StrictModel):
    """A rule that could not run, and why (e.g. no usage ingested): never 'no problems'.

    Examples
    --------
    >>> SkippedRule(rule_id="EM-TCH-001", reason="no usage ingested").reason
    'no usage ingested'
    """

    rule_id: str
    reason: str


class AuditResult(StrictModel):
    """Everything one audit run found, waived, skipped, and the waivers that expired.

    Examples
    --------
    >>> AuditResult(as_of=date(2026, 11, 23)).findings
    ()
    """

    as_of: date
    findings: tuple[Finding, ...] = ()
    waived: tuple[WaivedFinding, ...] = ()
    skipped: tuple[SkippedRule, ...] = ()
    expired_waivers: tuple[str, ...] = Field(
        default=(), description="Keys of findings whose waiver has expired (they are back)."
    )
    rules_run: tuple[str, ...] = ()

    def at_least(self, severity: Severity) -> tuple[Finding, ...]:
        """Findings at or above a severity.

        Examples
        --------
        >>> f = Finding(rule_id="EM-OWN-001", severity="info", subjects=("x",), message="m",
        ...             recommendation="r")
        >>> AuditResult(as_of=date(2026, 1, 1), findings=(f,)).at_least(Severity.WARNING)
        ()
        """
        return tuple(f for f in self.findings if f.severity >= severity)

    def summary(self) -> dict[str, Any]:
        """Counts by severity, plus waived and skipped, for a one-line summary.

        Examples
        --------
        >>> AuditResult(as_of=date(2026, 1, 1)).summary()["error"]
        0
        """
        counts: dict[str, Any] = {s.value: 0 for s in Severity}
        for finding in self.findings:
            counts[finding.severity.value] += 1
        counts["waived"] = len(self.waived)
        counts["skipped_rules"] = len(self.skipped)
        return counts
