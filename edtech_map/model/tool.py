"""A tool (or system) in the district's ecosystem, with its contract, DPA and identifiers.

Examples
--------
>>> tool = Tool(id="mathly", name="Mathly", category="adaptive_practice",
...             audience=["students"], learning_tasks="practice, feedback",
...             subjects=["math"], grades="3-5",
...             identifiers={"domains": ["https://app.mathly.com/login"]})
>>> tool.identifiers.domains
('app.mathly.com',)
>>> tool.is_for_students, tool.schools
(True, 'all')
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from edtech_map.model.base import Identifier, StrictModel
from edtech_map.model.fields import Audiences, DataElements, Domain, Grades, LearningTasks, Subjects
from edtech_map.model.vocab import (
    Audience,
    DpaStatus,
    LicencePeriod,
    LicenceUnit,
    RosteringMethod,
    SsoMethod,
    ToolCategory,
    ToolStatus,
)

__all__ = ["Identifiers", "Licence", "PrivacyAgreement", "RecommendedUse", "Tool"]


class Licence(StrictModel):
    """The contract: seats, what a seat is, cost and renewal.

    Examples
    --------
    >>> Licence(seats=500, unit="student", cost=2500, renewal_date="2027-06-30").cost_per_seat
    Decimal('5')
    """

    seats: int | None = Field(default=None, ge=0, description="Seats bought; none = unlimited.")
    unit: LicenceUnit = Field(default=LicenceUnit.STUDENT, description="What one seat covers.")
    cost: Decimal | None = Field(default=None, ge=0, description="Cost per period.")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    period: LicencePeriod = Field(default=LicencePeriod.ANNUAL)
    start: date | None = Field(default=None, description="Contract start.")
    renewal_date: date | None = Field(default=None, description="Next renewal or end date.")
    funding: str | None = Field(default=None, description="Budget line, grant (e.g. Title IV).")

    @property
    def cost_per_seat(self) -> Decimal | None:
        """Cost divided by seats, when both are known."""
        if self.cost is None or not self.seats:
            return None
        return self.cost / self.seats

    @model_validator(mode="after")
    def _start_before_renewal(self) -> Self:
        if self.start and self.renewal_date and self.renewal_date < self.start:
            raise ValueError(
                f"renewal_date {self.renewal_date} is before start {self.start}; swap them"
            )
        return self


class PrivacyAgreement(StrictModel):
    """The data privacy agreement with the vendor (e.g. SDPC National DPA).

    Examples
    --------
    >>> dpa = PrivacyAgreement(status="signed", signed="2024-07-01", expires="2027-06-30",
    ...                        data_elements=["student_name", "usage"])
    >>> dpa.in_force(date(2026, 1, 1)), dpa.in_force(date(2028, 1, 1))
    (True, False)
    """

    status: DpaStatus = Field(description="Signed, pending, expired, none, ...")
    signed: date | None = Field(default=None, description="Date signed.")
    expires: date | None = Field(default=None, description="Date it lapses; none = no end.")
    data_elements: DataElements = Field(
        default=(), description="Data elements the agreement allows the vendor to receive."
    )
    agreement_url: str | None = Field(default=None, description="Where the signed copy lives.")
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.signed and self.expires and self.expires < self.signed:
            raise ValueError(f"expires {self.expires} is before signed {self.signed}")
        if self.status is DpaStatus.SIGNED and self.signed is None:
            raise ValueError("status is 'signed' but no `signed` date is given; add the date")
        return self

    def in_force(self, on: date) -> bool:
        """True when the agreement is signed and not expired on the given day."""
        if self.status is not DpaStatus.SIGNED:
            return False
        return self.expires is None or on <= self.expires


class RecommendedUse(StrictModel):
    """The vendor's or district's recommended dose per student per week, for fidelity.

    Examples
    --------
    >>> RecommendedUse(minutes_per_week=60).minutes_per_week
    60.0
    """

    minutes_per_week: float | None = Field(default=None, gt=0)
    sessions_per_week: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_given(self) -> Self:
        if self.minutes_per_week is None and self.sessions_per_week is None:
            raise ValueError("give minutes_per_week, sessions_per_week or both")
        return self


class Identifiers(StrictModel):
    """How to recognise the tool in usage, grants and launches. No two tools may share one.

    Examples
    --------
    >>> Identifiers(domains=["*.Mathly.com"], aliases=["Mathly Pro"]).domains
    ('mathly.com',)
    """

    domains: tuple[Domain, ...] = Field(
        default=(), description="Web domains; a domain also matches its subdomains."
    )
    lti_client_ids: tuple[str, ...] = Field(default=(), description="LTI 1.3 client ids.")
    lti_deployment_ids: tuple[str, ...] = Field(default=(), description="LTI deployment ids.")
    caliper_app_ids: tuple[str, ...] = Field(default=(), description="Caliper `edApp` ids (IRIs).")
    oauth_client_ids: tuple[str, ...] = Field(
        default=(), description="OAuth client ids (Google Workspace token grants)."
    )
    aliases: tuple[str, ...] = Field(
        default=(), description="Other names the tool appears under in exports."
    )

    def is_empty(self) -> bool:
        """True when no identifier of any kind is given."""
        return not any(getattr(self, name) for name in type(self).model_fields)


class Tool(StrictModel):
    """A tool or system: one node of the ecosystem graph."""

    id: Identifier = Field(description="Short id, e.g. `mathly`; used in flows and findings.")
    name: str = Field(min_length=1, description="Name as people say it.")
    vendor: str | None = None
    category: ToolCategory = Field(description="What kind of system it is.")
    status: ToolStatus = Field(default=ToolStatus.ACTIVE)
    audience: Audiences = Field(default=(), description="Who it is for.")
    learning_tasks: LearningTasks = Field(default=(), description="Tasks it takes on.")
    subjects: Subjects = Field(default=(), description="Subjects it serves; `all` for any.")
    grades: Grades = Field(default=(), description="Grades it serves, e.g. `K-5`.")
    schools: Literal["all"] | tuple[Identifier, ...] = Field(
        default="all", description="School ids where it is in use, or `all`."
    )
    licence: Licence | None = Field(default=None, description="Contract; none = not recorded.")
    privacy: PrivacyAgreement | None = Field(
        default=None, description="Data privacy agreement; none = no record."
    )
    rostering: RosteringMethod | None = Field(default=None, description="How it gets rosters.")
    rostered_by: Identifier | None = Field(
        default=None, description="Tool id of the hub or SIS that rosters it."
    )
    sso: SsoMethod | None = Field(default=None, description="How users sign in.")
    sso_via: Identifier | None = Field(
        default=None, description="Tool id of the identity provider."
    )
    launched_from: tuple[Identifier, ...] = Field(
        default=(), description="Tool ids of LMSs that launch it with LTI."
    )
    recommended_use: RecommendedUse | None = Field(
        default=None, description="Recommended dose per student per week."
    )
    identifiers: Identifiers = Field(default_factory=Identifiers)
    owner: str | None = Field(
        default=None, description="Role that owns it, e.g. `Math coordinator`."
    )
    champions: tuple[str, ...] = Field(default=(), description="Roles that champion it.")
    website: str | None = None
    notes: str | None = None

    @field_validator("schools", mode="before")
    @classmethod
    def _schools_list(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() != "all":
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def is_for_students(self) -> bool:
        """True when students are among the tool's intended audience."""
        return Audience.STUDENTS in self.audience
