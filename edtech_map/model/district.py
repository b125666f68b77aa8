"""The district and its schools.

Examples
--------
>>> school = School(id="lincoln-es", name="Lincoln Elementary", type="elementary", grades="K-5")
>>> [g.label for g in school.grades]
['K', '1', '2', '3', '4', '5']
>>> District(id="riverside", name="Riverside USD", timezone="America/Chicago").timezone
'America/Chicago'
"""

from __future__ import annotations

from datetime import time
from functools import cache
from typing import Annotated, Self
from zoneinfo import available_timezones

from pydantic import Field, PlainSerializer, field_validator, model_validator

from edtech_map.model.base import Identifier, StrictModel
from edtech_map.model.fields import Grades
from edtech_map.model.vocab import SchoolType

__all__ = ["District", "School", "SchoolDay"]

ClockTime = Annotated[time, PlainSerializer(lambda t: t.strftime("%H:%M"))]


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the tz database: once per process


class SchoolDay(StrictModel):
    """When instruction happens, for time-of-use findings (local time of the district).

    Examples
    --------
    >>> SchoolDay(start="08:00", end="15:30").end
    datetime.time(15, 30)
    """

    start: ClockTime = Field(default=time(8, 0), description="First bell, HH:MM.")
    end: ClockTime = Field(default=time(15, 30), description="Last bell, HH:MM.")

    @model_validator(mode="after")
    def _start_before_end(self) -> Self:
        if self.start >= self.end:
            raise ValueError(f"the school day starts ({self.start}) after it ends ({self.end})")
        return self


class District(StrictModel):
    """The district (local education agency) the inventory describes."""

    id: Identifier = Field(description="Short id, e.g. `riverside`.")
    name: str = Field(min_length=1, description="Full name as families know it.")
    state: str | None = Field(
        default=None, pattern=r"^[A-Z]{2}$", description="Two-letter state code."
    )
    nces_id: str | None = Field(
        default=None, pattern=r"^\d{7}$", description="NCES LEA id (7 digits)."
    )
    timezone: str = Field(
        default="America/New_York", description="IANA time zone, for time-of-use analysis."
    )
    school_day: SchoolDay = Field(default_factory=SchoolDay, description="Instructional hours.")
    website: str | None = None
    notes: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value not in _timezones():
            raise ValueError(f"{value!r} is not an IANA time zone; use e.g. America/Chicago")
        return value


class School(StrictModel):
    """A school (site) of the district."""

    id: Identifier = Field(description="Short id, e.g. `lincoln-es`; used in tool `schools`.")
    name: str = Field(min_length=1)
    type: SchoolType = Field(description="Elementary, middle, high, ...")
    grades: Grades = Field(default=(), description="Grades served, e.g. `K-5`.")
    enrollment: int | None = Field(default=None, ge=0, description="Number of students.")
    nces_id: str | None = Field(default=None, pattern=r"^\d{12}$", description="NCES school id.")
    roster_ids: tuple[str, ...] = Field(
        default=(),
        description="This school's ids in rosters (OneRoster org sourcedId, Clever school id).",
    )
    notes: str | None = None
