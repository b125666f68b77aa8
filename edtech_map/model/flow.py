"""A data flow: data moving from one system to another.

Examples
--------
>>> flow = DataFlow(source="sis", target="clever", data=["student_name", "schedule"],
...                 mechanism="sftp")
>>> flow.carries_student_pii, flow.key
(True, 'sis->clever:sftp')
>>> DataFlow(source="lms", target="analytics", data=["staff_data"], mechanism="api").carries_student_pii
False
"""

from __future__ import annotations

from pydantic import Field

from edtech_map.model.base import Identifier, StrictModel
from edtech_map.model.fields import DataElements
from edtech_map.model.vocab import FlowMechanism

__all__ = ["DataFlow"]


class DataFlow(StrictModel):
    """Data moving from `source` to `target` (tool ids) by a `mechanism`.

    `student_pii` is worked out from `data` when it is not given; say it explicitly when the
    flow carries personal data of a kind the list does not show (or none despite the list).
    """

    id: Identifier | None = Field(
        default=None, description="Optional id; default `source->target`."
    )
    source: Identifier = Field(description="Tool id the data leaves.")
    target: Identifier = Field(description="Tool id the data reaches.")
    data: DataElements = Field(default=(), description="Data elements carried.")
    mechanism: FlowMechanism = Field(description="How the data moves.")
    student_pii: bool | None = Field(
        default=None,
        description="Carries student personal data; when left out, worked out from `data`.",
    )
    frequency: str | None = Field(default=None, description="e.g. nightly, real time.")
    description: str | None = None

    @property
    def key(self) -> str:
        """A stable id for findings: the `id`, or ``source->target:mechanism``."""
        return self.id or f"{self.source}->{self.target}:{self.mechanism.value}"

    @property
    def carries_student_pii(self) -> bool:
        """`student_pii` when given, else whether any data element is student PII."""
        if self.student_pii is not None:
            return self.student_pii
        return any(element.is_student_pii for element in self.data)
