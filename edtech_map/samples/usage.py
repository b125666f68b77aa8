"""Usage of the district's tools: Caliper 1.2 events (JSON Lines) and a vendor usage CSV.

For each tool, the plan's :class:`~edtech_map.samples.plan.UsageProfile` says which share of
the students, teachers and administrators it serves use it, and how often. People are picked
from the roster arithmetic (never read back from the CSV), sessions are spread over the window
with school-hours peaks and some evening and weekend use, and every line is written as soon as
it is made, so a run of twenty million events holds one session in memory at a time.

Tools with a Caliper ``edApp`` id report Caliper events: a ``SessionEvent`` (LoggedIn), one to
three ``NavigationEvent``/``ToolUseEvent``/``AssessmentEvent``, and usually a ``LoggedOut`` with
the session's duration. About a third of sessions arrive in a Sensor API envelope; the rest
are bare events. Tools known only by their web domain appear in the usage CSV instead (the
web filter's activity export), one row per person, app and day:

``Date,User ID,Role,School ID,App,Domain,Minutes,Sessions``

Examples
--------
>>> USAGE_CSV_HEADER
['Date', 'User ID', 'Role', 'School ID', 'App', 'Domain', 'Minutes', 'Sessions']
>>> caliper_time(datetime(2026, 11, 23, 15, 4, 5, tzinfo=UTC))
'2026-11-23T15:04:05.000Z'
"""

from __future__ import annotations

import csv
import json
import logging
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from edtech_map.model import GradeLevel, Subject, Tool, ToolCategory
from edtech_map.samples.plan import DistrictPlan, ShadowApp, UsageProfile
from edtech_map.samples.roster import DistrictRoster, SchoolRoster, person_name

__all__ = [
    "CALIPER_CONTEXT",
    "USAGE_CSV_HEADER",
    "UsageCounts",
    "caliper_time",
    "write_usage",
]

logger = logging.getLogger(__name__)

CALIPER_CONTEXT = "http://purl.imsglobal.org/ctx/caliper/v1p2"
USAGE_CSV_HEADER = ["Date", "User ID", "Role", "School ID", "App", "Domain", "Minutes", "Sessions"]

_ROLE_LABEL = {"Learner": "Student", "Instructor": "Teacher", "Administrator": "Administrator"}
_ENVELOPE_SHARE = 0.3
_LOGGED_OUT_SHARE = 0.9
_NAMED_ACTOR_SHARE = 0.05


def _share(count: int, share: float) -> int:
    """How many of ``count`` people a share picks: at least one when the share is not 0."""
    return min(count, max(1, round(count * share))) if share > 0 and count else 0


def caliper_time(moment: datetime) -> str:
    """A UTC timestamp the way Caliper writes it, with milliseconds and ``Z``.

    Examples
    --------
    >>> caliper_time(datetime(2026, 11, 23, 9, 30, 5, 123456, tzinfo=UTC))
    '2026-11-23T09:30:05.123Z'
    """
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


@dataclass
class UsageCounts:
    """What the usage writers wrote, and who used each uninventoried app.

    Examples
    --------
    >>> UsageCounts(caliper_events=3).caliper_events
    3
    """

    caliper_events: int = 0
    caliper_lines: int = 0
    csv_rows: int = 0
    shadow_students: dict[str, int] = field(default_factory=dict)
    shadow_teachers: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Person:
    user_id: str
    role: str  # Caliper role: Learner, Instructor, Administrator
    org_id: str  # the school's roster org
    class_id: str | None


@dataclass(frozen=True)
class _App:
    """What the writers need of a tool or an uninventoried app."""

    key: str
    name: str
    caliper_id: str | None
    domain: str | None
    category: ToolCategory | None
    profile: UsageProfile
    as_object: bool


class _Clock:
    """Picks session start times: school hours on weekdays, some evenings and weekends."""

    def __init__(self, plan: DistrictPlan, as_of: date, window_days: int) -> None:
        district = plan.ecosystem.district
        self.zone = ZoneInfo(district.timezone)
        self.start = district.school_day.start
        self.end = district.school_day.end
        self.days = [as_of - timedelta(days=offset) for offset in range(window_days - 1, -1, -1)]
        weights = [1.0 if day.weekday() < 5 else 0.12 for day in self.days]
        total, running = sum(weights), 0.0
        self.cumulative = []
        for weight in weights:
            running += weight / total
            self.cumulative.append(running)

    def session_start(self, rng: random.Random, role: str) -> datetime:
        day = rng.choices(self.days, cum_weights=self.cumulative)[0]
        roll = rng.random()
        if day.weekday() >= 5:
            minutes = rng.randint(10 * 60, 20 * 60)
        elif roll < (0.85 if role == "Learner" else 0.7):
            first = self.start.hour * 60 + self.start.minute
            last = self.end.hour * 60 + self.end.minute
            minutes = rng.randint(first, last - 5)
        elif roll < 0.97:
            minutes = rng.randint(17 * 60, 21 * 60)
        else:
            minutes = rng.randint(6 * 60 + 30, 7 * 60 + 30)
        local = datetime.combine(day, time(minutes // 60, minutes % 60, rng.randint(0, 59)))
        return local.replace(tzinfo=self.zone).astimezone(UTC)


class _UsageWriter:
    """Streams sessions to the Caliper file and the usage CSV, counting as it goes."""

    def __init__(
        self,
        plan: DistrictPlan,
        roster: DistrictRoster,
        caliper: IO[str],
        usage_csv: IO[str],
        *,
        seed: int,
        clock: _Clock,
        intensity: float,
        window_days: int,
    ) -> None:
        self.plan, self.roster, self.seed, self.clock = plan, roster, seed, clock
        self.caliper = caliper
        self.csv = csv.writer(usage_csv, lineterminator="\n")
        self.csv.writerow(USAGE_CSV_HEADER)
        self.mean_factor = intensity * window_days / 7
        self.counts = UsageCounts()
        self.base = f"https://sis.{roster.email_domain}"

    # ----- who ---------------------------------------------------------------------------
    def _subject_for(self, grade: GradeLevel, tool: Tool | None) -> Subject:
        taught = SchoolRoster.subjects(grade)
        wanted = [s for s in (tool.subjects if tool else ()) if s in taught]
        return wanted[0] if wanted else taught[0]

    def _people(
        self,
        rng: random.Random,
        tool: Tool | None,
        schools: tuple[SchoolRoster, ...],
        grades: tuple[GradeLevel, ...] | None,
        profile: UsageProfile,
    ) -> Iterator[_Person]:
        for school in schools:
            school_grades = [g for g in school.grades if grades is None or g in grades]
            for grade in school_grades:
                count = school.count(grade)
                active = _share(count, profile.students)
                if not active:
                    continue
                subject = self._subject_for(grade, tool)
                sections = school.sections(grade)
                for index in sorted(rng.sample(range(count), active)):
                    yield _Person(
                        school.student_id(grade, index),
                        "Learner",
                        school.org_id,
                        school.class_id(grade, subject, index % sections),
                    )
            if profile.teachers:
                subjects = set(tool.subjects) if tool else set()
                wanted = set(school_grades)
                eligible = [
                    teacher
                    for teacher in school.teachers
                    if wanted & set(teacher.grades)
                    and (
                        not subjects or Subject.ALL in subjects or subjects & set(teacher.subjects)
                    )
                ]
                if not eligible and wanted:  # subjects nobody teaches: classroom teachers use it
                    eligible = [t for t in school.teachers if wanted & set(t.grades)]
                active = _share(len(eligible), profile.teachers)
                for teacher in rng.sample(eligible, active):
                    yield _Person(
                        teacher.teacher_id, "Instructor", school.org_id, teacher.classes[0]
                    )
            if profile.administrators and rng.random() < profile.administrators:
                yield _Person(school.principal_id(), "Administrator", school.org_id, None)
        if profile.administrators and len(schools) > 1:
            for admin in self.roster.district_admin_ids():
                if rng.random() < profile.administrators:
                    yield _Person(admin, "Administrator", self.roster.org_id, None)

    # ----- when and what -------------------------------------------------------------------
    def _sessions(
        self, rng: random.Random, app: _App, person: _Person
    ) -> list[tuple[datetime, int]]:
        mean = max(1.0, app.profile.sessions_per_week * self.mean_factor)
        if person.role != "Learner":
            mean = max(1.0, mean * 0.6)
        count = max(1, round(rng.expovariate(1 / mean)))
        low, high = (4, 35) if person.role == "Learner" else (2, 25)
        sessions = [
            (
                self.clock.session_start(rng, person.role),
                rng.randint(low, high) * 60 + rng.randint(0, 59),
            )
            for _ in range(count)
        ]
        return sorted(sessions)

    def _event(
        self,
        rng: random.Random,
        app: _App,
        person: _Person,
        kind: tuple[str, str, str],
        moment: datetime,
        session: dict[str, Any],
        obj: dict[str, Any],
    ) -> dict[str, Any]:
        event_type, profile, action = kind
        actor = f"{self.base}/users/{person.user_id}"
        school = f"{self.base}/orgs/{person.org_id}"
        event: dict[str, Any] = {
            "@context": CALIPER_CONTEXT,
            "id": f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            "type": event_type,
            "profile": profile,
            "actor": {"id": actor, "type": "Person"},
            "action": action,
            "object": obj,
            "eventTime": caliper_time(moment),
            "edApp": {"id": app.caliper_id, "type": "SoftwareApplication"}
            if app.as_object
            else app.caliper_id,
        }
        if person.class_id:
            group = f"{self.base}/classes/{person.class_id}"
            event["group"] = {
                "id": group,
                "type": "CourseSection",
                "subOrganizationOf": {"id": school, "type": "Organization"},
            }
        else:
            group = school
            event["group"] = {"id": school, "type": "Organization"}
        event["membership"] = {
            "id": f"{group}/members/{person.user_id}",
            "type": "Membership",
            "member": actor,
            "organization": group,
            "roles": [person.role],
            "status": "Active",
        }
        event["session"] = session
        return event

    def _activity(self, app: _App, step: int) -> tuple[tuple[str, str, str], dict[str, Any]]:
        base = app.caliper_id or ""
        if app.category is ToolCategory.ASSESSMENT:
            kind = ("AssessmentEvent", "AssessmentProfile", "Started" if step == 0 else "Submitted")
            return kind, {"id": f"{base}assessments/{step + 1}", "type": "Assessment"}
        if app.category in (ToolCategory.CONTENT, ToolCategory.LIBRARY, ToolCategory.LMS) or step:
            kind = ("NavigationEvent", "GeneralProfile", "NavigatedTo")
            return kind, {"id": f"{base}pages/{step + 1}", "type": "WebPage"}
        return ("ToolUseEvent", "ToolUseProfile", "Used"), {
            "id": app.caliper_id,
            "type": "SoftwareApplication",
        }

    def _caliper_session(
        self, rng: random.Random, app: _App, person: _Person, start: datetime, seconds: int
    ) -> None:
        actor = f"{self.base}/users/{person.user_id}"
        session_id = f"{app.caliper_id}sessions/{rng.getrandbits(64):016x}"
        session = {"id": session_id, "type": "Session", "startedAtTime": caliper_time(start)}
        application = {"id": app.caliper_id, "type": "SoftwareApplication"}
        login = self._event(
            rng,
            app,
            person,
            ("SessionEvent", "SessionProfile", "LoggedIn"),
            start,
            {**session, "user": actor},
            application,
        )
        if rng.random() < _NAMED_ACTOR_SHARE:
            given, family = person_name(self.roster.seed, person.user_id)
            login["actor"]["name"] = f"{given} {family}"
        if rng.random() < 0.2:
            login["extensions"] = {"deviceType": rng.choice(["Chromebook", "iPad", "Windows"])}
        events = [login]
        steps = rng.randint(1, 2)
        offsets = sorted(rng.randint(1, max(2, seconds - 1)) for _ in range(steps))
        for step, offset in enumerate(offsets):
            kind, obj = self._activity(app, step)
            events.append(
                self._event(rng, app, person, kind, start + timedelta(seconds=offset), session, obj)
            )
        end = start + timedelta(seconds=seconds)
        if rng.random() < _LOGGED_OUT_SHARE:
            ended = {
                **session,
                "user": actor,
                "endedAtTime": caliper_time(end),
                "duration": f"PT{seconds}S",
            }
            events.append(
                self._event(
                    rng,
                    app,
                    person,
                    ("SessionEvent", "SessionProfile", "LoggedOut"),
                    end,
                    ended,
                    application,
                )
            )
        self.counts.caliper_events += len(events)
        if rng.random() < _ENVELOPE_SHARE:
            envelope = {
                "sensor": f"{app.caliper_id}sensors/1",
                "sendTime": caliper_time(end + timedelta(seconds=2)),
                "dataVersion": CALIPER_CONTEXT,
                "data": events,
            }
            self.caliper.write(json.dumps(envelope, separators=(",", ":")) + "\n")
            self.counts.caliper_lines += 1
        else:
            for event in events:
                self.caliper.write(json.dumps(event, separators=(",", ":")) + "\n")
            self.counts.caliper_lines += len(events)

    def _csv_rows(self, app: _App, person: _Person, sessions: list[tuple[datetime, int]]) -> None:
        by_day: dict[date, list[int]] = {}
        for start, seconds in sessions:
            day = start.astimezone(self.clock.zone).date()
            minutes, count = by_day.get(day, [0, 0])
            by_day[day] = [minutes + max(1, round(seconds / 60)), count + 1]
        label = _ROLE_LABEL[person.role]
        for day in sorted(by_day):
            minutes, count = by_day[day]
            self.csv.writerow(
                [
                    day.isoformat(),
                    person.user_id,
                    label,
                    person.org_id,
                    app.name,
                    app.domain,
                    minutes,
                    count,
                ]
            )
        self.counts.csv_rows += len(by_day)

    # ----- one app ----------------------------------------------------------------------
    def write_app(
        self,
        app: _App,
        tool: Tool | None,
        schools: tuple[SchoolRoster, ...],
        grades: tuple[GradeLevel, ...] | None,
    ) -> tuple[int, int]:
        """Write every session of one app; returns (students, teachers) who used it."""
        rng = random.Random(f"{self.seed}:usage:{app.key}")
        students = teachers = 0
        for person in self._people(rng, tool, schools, grades, app.profile):
            students += person.role == "Learner"
            teachers += person.role == "Instructor"
            sessions = self._sessions(rng, app, person)
            if app.profile.channel == "caliper":
                for start, seconds in sessions:
                    self._caliper_session(rng, app, person, start, seconds)
            else:
                self._csv_rows(app, person, sessions)
        return students, teachers


def _tool_app(tool: Tool, profile: UsageProfile) -> _App:
    ids = tool.identifiers
    return _App(
        key=tool.id,
        name=tool.name,
        caliper_id=ids.caliper_app_ids[0] if ids.caliper_app_ids else None,
        domain=ids.domains[0] if ids.domains else None,
        category=tool.category,
        profile=profile,
        as_object=len(tool.id) % 2 == 0,
    )


def _shadow_app(shadow: ShadowApp) -> _App:
    caliper = shadow.kind == "caliper_app_id"
    profile = UsageProfile(
        students=shadow.students,
        teachers=shadow.teachers,
        sessions_per_week=shadow.sessions_per_week,
        channel="caliper" if caliper else "csv",
    )
    return _App(
        key=f"shadow:{shadow.identifier}",
        name=shadow.name,
        caliper_id=shadow.identifier if caliper else None,
        domain=None if caliper else shadow.identifier,
        category=None,
        profile=profile,
        as_object=False,
    )


def write_usage(
    plan: DistrictPlan,
    roster: DistrictRoster,
    caliper_path: Path,
    csv_path: Path,
    *,
    seed: int,
    as_of: date,
    intensity: float,
    window_days: int,
) -> UsageCounts:
    """Write every tool's usage (and the uninventoried apps') as the plan says.

    Examples
    --------
    >>> import tempfile
    >>> from edtech_map.samples.generator import district_roster
    >>> from edtech_map.samples.plan import riverside_plan
    >>> plan = riverside_plan()
    >>> roster = district_roster(plan, seed=7, scale=0.02)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     counts = write_usage(plan, roster, Path(tmp, "c.jsonl"), Path(tmp, "u.csv"),
    ...                          seed=7, as_of=date(2026, 11, 23), intensity=0.01, window_days=7)
    >>> counts.caliper_events > 0 and counts.csv_rows > 0
    True
    """
    clock = _Clock(plan, as_of, window_days)
    eco = plan.ecosystem
    with (
        caliper_path.open("w", encoding="utf-8", newline="\n") as caliper,
        csv_path.open("w", encoding="utf-8", newline="") as usage_csv,
    ):
        writer = _UsageWriter(
            plan,
            roster,
            caliper,
            usage_csv,
            seed=seed,
            clock=clock,
            intensity=intensity,
            window_days=window_days,
        )
        for tool in eco.tools:
            profile = plan.profiles[tool.id]
            if profile.is_unused:
                continue
            schools = tuple(roster.school(s.id) for s in eco.schools_of(tool))
            writer.write_app(_tool_app(tool, profile), tool, schools, tool.grades or None)
        for shadow in plan.shadow_apps:
            schools = tuple(roster.school(s) for s in shadow.schools)
            students, teachers = writer.write_app(_shadow_app(shadow), None, schools, shadow.grades)
            writer.counts.shadow_students[shadow.identifier] = students
            writer.counts.shadow_teachers[shadow.identifier] = teachers
    counts = writer.counts
    logger.info(
        "wrote usage: %d Caliper events on %d lines, %d usage CSV rows",
        counts.caliper_events,
        counts.caliper_lines,
        counts.csv_rows,
    )
    return counts
