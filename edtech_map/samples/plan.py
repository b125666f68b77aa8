"""What to generate: the district's inventory, how much each tool is used, and what was planted.

A :class:`DistrictPlan` is the single place where the generator decides anything: the
usage profile of every tool (how many of the students and teachers it serves use it, how
often, and whether its usage shows up as Caliper events or in the usage CSV), the apps that
appear in usage without being in the inventory, and the answer key (:class:`Planted`,
``healthy``). The roster and usage writers only follow the plan.

At size S the plan is the hand-written Riverside Valley district and the hand-declared answer
key below. At M and L the same district grows: generated schools, and generated tools that
each cover learning-task cells no other tool covers (so the planted overlaps and gaps stay
the only ones), a few of them with planted problems of their own.

Examples
--------
>>> plan = riverside_plan()
>>> len(plan.ecosystem.tools), plan.profiles["vocabvault"].is_unused
(70, True)
>>> sorted(plan.planted.teacher_only)
['debatehub', 'labsim', 'storyspark']
"""

from __future__ import annotations

import functools
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from edtech_map.model import (
    Audience,
    Ecosystem,
    GradeLevel,
    LearningTask,
    School,
    SchoolType,
    Subject,
    Tool,
    ToolCategory,
    parse_grades,
)
from edtech_map.samples.manifest import FlowRef, GapCell, OverlapCell, Planted, ScopeGap

__all__ = [
    "RIVERSIDE_YAML",
    "SIZES",
    "DistrictPlan",
    "ShadowApp",
    "SizeSpec",
    "UsageProfile",
    "grown_plan",
    "riverside_plan",
]

Channel = Literal["caliper", "csv", "none"]

RIVERSIDE_YAML = Path(__file__).with_name("riverside.yaml")
"""The hand-written ``ecosystem.yaml`` of the fictional Riverside Valley School District."""


@dataclass(frozen=True)
class UsageProfile:
    """How much a tool is used: shares of the people it serves who use it, and how often.

    Examples
    --------
    >>> UsageProfile(students=0.0, teachers=0.6, channel="caliper").is_unused
    False
    >>> UsageProfile().is_unused
    True
    """

    students: float = 0.0
    teachers: float = 0.0
    administrators: float = 0.0
    sessions_per_week: float = 1.5
    channel: Channel = "none"

    @property
    def is_unused(self) -> bool:
        """True when nobody uses the tool."""
        return self.channel == "none" or not (self.students or self.teachers or self.administrators)


@dataclass(frozen=True)
class ShadowApp:
    """An app people use that is not in the inventory (only its identifier is seen).

    Examples
    --------
    >>> ShadowApp("games.x.example", "domain", "X", ("a",), "K-2", 0.3).grades[-1].label
    '2'
    """

    identifier: str
    kind: Literal["caliper_app_id", "domain"]
    name: str
    schools: tuple[str, ...]
    grade_range: str
    students: float
    teachers: float = 0.0
    sessions_per_week: float = 1.0

    @property
    def grades(self) -> tuple[GradeLevel, ...]:
        """The grades whose students use it."""
        return parse_grades(self.grade_range)


@dataclass(frozen=True)
class SizeSpec:
    """How big a generated district is: extra schools by type, tools and usage intensity.

    Examples
    --------
    >>> SIZES["m"].tools
    300
    """

    elementary: int
    middle: int
    high: int
    tools: int
    intensity: float
    window_days: int = 21


SIZES: dict[str, SizeSpec] = {
    "s": SizeSpec(elementary=0, middle=0, high=0, tools=0, intensity=0.1),
    "m": SizeSpec(elementary=45, middle=12, high=8, tools=300, intensity=0.1),
    "l": SizeSpec(elementary=1000, middle=280, high=180, tools=3000, intensity=0.1),
}


@dataclass
class DistrictPlan:
    """Everything the writers need: the YAML document, its model, usage and the answer key.

    Examples
    --------
    >>> plan = riverside_plan()
    >>> len(plan.ecosystem.tools) >= 60, "mathly" in plan.profiles
    (True, True)
    """

    document: CommentedMap | None
    ecosystem: Ecosystem
    profiles: dict[str, UsageProfile]
    planted: Planted
    healthy: tuple[str, ...]
    shadow_apps: tuple[ShadowApp, ...]
    copied_text: str | None = None


# ----- Riverside: the answer key, declared by hand ---------------------------------------

_RIVERSIDE_USAGE: dict[str, dict[str, float]] = {
    # The platforms carry most of the use.
    "canopy-lms": {"students": 0.97, "teachers": 0.95, "sessions_per_week": 5},
    "classnest": {"students": 0.9, "teachers": 0.9, "sessions_per_week": 3},
    "riverside-idp": {
        "students": 0.95,
        "teachers": 0.95,
        "administrators": 0.8,
        "sessions_per_week": 5,
    },
    "workspace": {"students": 0.9, "teachers": 0.9, "sessions_per_week": 4},
    "pinnacle-sis": {"teachers": 0.95, "administrators": 1.0, "sessions_per_week": 4},
    "mathly": {"students": 0.9, "teachers": 0.8, "sessions_per_week": 3},
    "readwell": {"students": 0.88, "teachers": 0.8, "sessions_per_week": 3},
    "quizforge": {"students": 0.8, "teachers": 0.6, "sessions_per_week": 2},
    # Teacher-only: bought for students, used by teachers.
    "storyspark": {"students": 0.0, "teachers": 0.6, "sessions_per_week": 1},
    "labsim": {"students": 0.0, "teachers": 0.7, "sessions_per_week": 1.5},
    "debatehub": {"students": 0.0, "teachers": 0.5, "sessions_per_week": 1},
    # Never used.
    "vocabvault": {},
    "codecraft": {},
    "geniusgeo": {},
    # Barely used.
    "phonicsfun": {"students": 0.03, "teachers": 0.05, "sessions_per_week": 1},
    # Small programmes: the share of students matches the seats bought.
    "codelab": {"students": 0.19, "teachers": 0.8},
    "readright": {"students": 0.09, "teachers": 0.3, "sessions_per_week": 3},
    "mathbridge": {"students": 0.09, "teachers": 0.3, "sessions_per_week": 3},
    "eldconnect": {"students": 0.07, "teachers": 0.2},
    "clipmaker": {"students": 0.25, "teachers": 0.5},
    "musicstudio": {"students": 0.17, "teachers": 0.5},
    "tutorbot": {"students": 0.1, "teachers": 0.3},
    "wallboard": {"students": 0.3, "teachers": 0.2},
    # Healthy tools: well used.
    "brightbooks": {"students": 0.85, "teachers": 0.7, "sessions_per_week": 2},
    "histopia": {"students": 0.85, "teachers": 0.7},
    "newsleaf": {"students": 0.85, "teachers": 0.7},
    "scienceworld": {"students": 0.8, "teachers": 0.7},
    "selcheckin": {"students": 0.85, "teachers": 0.7, "sessions_per_week": 2},
    "ebooklend": {"students": 0.7, "teachers": 0.5},
    "beatlab": {"students": 0.75, "teachers": 0.7},
    "librarycat": {"students": 0.75, "teachers": 0.6, "administrators": 0.3},
}

# Tools whose usage arrives as Caliper events (the LMSs and the vendors that send Caliper);
# every other tool's use is seen in the web filter's activity export (usage/usage.csv).
_RIVERSIDE_CALIPER = frozenset(
    {
        "canopy-lms",
        "mathly",
        "readwell",
        "quizforge",
        "histopia",
        "labsim",
        "storyspark",
        "debatehub",
        "phonicsfun",
        "vocabvault",
        "codecraft",
        "geniusgeo",
    }
)

_SHADOW_APPS = (
    ShadowApp(
        "https://app.quizblitz.example/",
        "caliper_app_id",
        "QuizBlitz",
        ("cedar-ms", "maple-ms"),
        "6-8",
        students=0.25,
        teachers=0.1,
    ),
    ShadowApp(
        "https://play.wordwhiz.example/",
        "caliper_app_id",
        "WordWhiz",
        ("lincoln-es", "jefferson-es"),
        "2-5",
        students=0.2,
    ),
    ShadowApp(
        "games.brainybear.example",
        "domain",
        "BrainyBear Games",
        ("lincoln-es", "washington-es", "jefferson-es", "roosevelt-es"),
        "K-3",
        students=0.3,
        sessions_per_week=2,
    ),
    ShadowApp(
        "notes.studybuddy.example",
        "domain",
        "StudyBuddy Notes",
        ("riverside-hs",),
        "9-12",
        students=0.35,
        teachers=0.05,
    ),
)

_RIVERSIDE_OVERLAPS = (
    ("lincoln-es", LearningTask.PRACTICE, Subject.MATH, "2-5"),
    ("washington-es", LearningTask.PRACTICE, Subject.MATH, "2-5"),
    ("washington-es", LearningTask.PRACTICE, Subject.ELA, "K-3"),
    ("riverside-hs", LearningTask.ASSESSMENT, Subject.MATH, "9-12"),
)
_RIVERSIDE_GAPS = (
    ("harbor-k8", LearningTask.PRACTICE, Subject.MATH, "6-8"),
    ("maple-ms", LearningTask.STUDENT_CHOICE, Subject.SCIENCE, "6-8"),
)
_RIVERSIDE_SCOPE_GAPS = (("beacon", "readwell", ("assessment",)),)

_RIVERSIDE_PLANTED = {
    "teacher_only": ("storyspark", "labsim", "debatehub"),
    "never_used": ("vocabvault", "codecraft", "geniusgeo"),
    "low_use": ("phonicsfun",),
    "renewals_soon_low_use": ("vocabvault", "phonicsfun", "geniusgeo"),
    "missing_dpa": ("flashcardz", "pollparty", "tutorbot"),
    "expired_dpa": ("quizforge", "mathcheck"),
    "no_owner": ("wallboard",),
    "single_points_of_failure": ("rosterbridge", "riverside-idp", "canopy-lms"),
}
_RIVERSIDE_HEALTHY = (
    "brightbooks",
    "histopia",
    "newsleaf",
    "scienceworld",
    "selcheckin",
    "ebooklend",
    "beatlab",
    "librarycat",
    "codelab",
)


def _default_profile(tool: Tool) -> dict[str, float]:
    if tool.is_for_students:
        return {"students": 0.7, "teachers": 0.6, "sessions_per_week": 1.5}
    staff = {Audience.TEACHERS, Audience.STAFF} & set(tool.audience)
    admins = Audience.ADMINISTRATORS in tool.audience
    return {
        "teachers": 0.6 if staff else 0.0,
        "administrators": 0.7 if admins or not staff else 0.0,
        "sessions_per_week": 2,
    }


def _channel(tool: Tool, caliper: frozenset[str]) -> Channel:
    if tool.id in caliper and tool.identifiers.caliper_app_ids:
        return "caliper"
    return "csv" if tool.identifiers.domains else "none"


def _profiles(
    tools: Iterable[Tool], overrides: Mapping[str, Mapping[str, float]], caliper: frozenset[str]
) -> dict[str, UsageProfile]:
    profiles = {}
    for tool in tools:
        values = overrides[tool.id] if tool.id in overrides else _default_profile(tool)
        channel = _channel(tool, caliper) if values else "none"
        profiles[tool.id] = UsageProfile(channel=channel, **values)
    return profiles


def _cells(eco: Ecosystem) -> dict[tuple[str, LearningTask, Subject, GradeLevel], set[str]]:
    """Which subject-specific tools cover each (school, task, subject, grade)."""
    cells: dict[tuple[str, LearningTask, Subject, GradeLevel], set[str]] = defaultdict(set)
    for tool in eco.tools:
        subjects = [s for s in tool.subjects if s is not Subject.ALL]
        for school in eco.schools_of(tool):
            grades = set(tool.grades or school.grades) & set(school.grades)
            for grade in grades:
                for task in tool.learning_tasks:
                    for subject in subjects:
                        cells[(school.id, task, subject, grade)].add(tool.id)
    return cells


def _answer_key(eco: Ecosystem, profiles: Mapping[str, UsageProfile]) -> Planted:
    cells = _cells(eco)
    overlaps = [
        OverlapCell(
            school=school,
            task=task.value,
            subject=subject.value,
            grade=grade.label,
            tools=tuple(sorted(cells[(school, task, subject, grade)])),
        )
        for school, task, subject, grades in _RIVERSIDE_OVERLAPS
        for grade in parse_grades(grades)
    ]
    gaps = [
        GapCell(school=school, task=task.value, subject=subject.value, grade=grade.label)
        for school, task, subject, grades in _RIVERSIDE_GAPS
        for grade in parse_grades(grades)
    ]
    no_dpa = set(_RIVERSIDE_PLANTED["missing_dpa"]) | set(_RIVERSIDE_PLANTED["expired_dpa"])
    pii = [
        FlowRef(source=flow.source, target=flow.target, key=flow.key)
        for flow in eco.flows
        if flow.target in no_dpa and flow.carries_student_pii
    ]
    scope = [
        ScopeGap(source=flow.source, target=flow.target, key=flow.key, elements=elements)
        for source, target, elements in _RIVERSIDE_SCOPE_GAPS
        for flow in eco.flows
        if (flow.source, flow.target) == (source, target)
    ]
    return Planted(
        overlaps=tuple(overlaps),
        gaps=tuple(gaps),
        pii_without_dpa=tuple(pii),
        dpa_scope_gaps=tuple(scope),
        **_RIVERSIDE_PLANTED,
    )


def _load_document(text: str) -> CommentedMap:
    yaml = YAML()
    yaml.preserve_quotes = True
    document = yaml.load(text)
    if not isinstance(document, CommentedMap):
        raise TypeError("the sample district YAML is not a mapping")
    return document


@functools.cache
def _riverside() -> tuple[str, Ecosystem]:
    """The bundled YAML's text and model (read once: the model is immutable)."""
    text = RIVERSIDE_YAML.read_text(encoding="utf-8")
    return text, Ecosystem.model_validate(YAML(typ="safe").load(text))


def riverside_plan() -> DistrictPlan:
    """The plan of the bundled Riverside Valley district (size S).

    Examples
    --------
    >>> plan = riverside_plan()
    >>> [cell.tools for cell in plan.planted.overlaps if cell.school == "lincoln-es"][1]
    ('factfluency', 'mathly', 'numberquest')
    """
    text, eco = _riverside()
    profiles = _profiles(eco.tools, _RIVERSIDE_USAGE, _RIVERSIDE_CALIPER)
    return DistrictPlan(
        document=None,
        ecosystem=eco,
        profiles=profiles,
        planted=_answer_key(eco, profiles),
        healthy=_RIVERSIDE_HEALTHY,
        shadow_apps=_SHADOW_APPS,
        copied_text=text,
    )


# ----- Growing the district for M and L ------------------------------------------------------

_PLACES = [
    "Alder",
    "Aspen",
    "Birch",
    "Brook",
    "Canyon",
    "Cascade",
    "Cliff",
    "Clover",
    "Cove",
    "Creek",
    "Crest",
    "Dale",
    "Elm",
    "Fairview",
    "Fern",
    "Field",
    "Forest",
    "Glen",
    "Granite",
    "Grove",
    "Harbor",
    "Hawthorn",
    "Heather",
    "Hill",
    "Hollow",
    "Juniper",
    "Lake",
    "Laurel",
    "Linden",
    "Meadow",
    "Mesa",
    "Mill",
    "Oak",
    "Orchard",
    "Park",
    "Pine",
    "Prairie",
    "Quarry",
    "Ridge",
    "Rock",
    "Sage",
    "Shore",
    "Spring",
    "Spruce",
    "Stone",
    "Summit",
    "Sunset",
    "Valley",
    "Willow",
    "Wood",
]
_BRAND_A = [
    "Bright",
    "Clever",
    "Quick",
    "Smart",
    "Bold",
    "Happy",
    "Star",
    "Sky",
    "Sun",
    "Moon",
    "Blue",
    "Green",
    "Red",
    "Gold",
    "Silver",
    "Wise",
    "True",
    "Deep",
    "Swift",
    "Keen",
    "Nova",
    "Prime",
    "Zen",
    "Pixel",
    "Echo",
    "Orbit",
    "Atlas",
    "Summit",
    "Nimble",
    "Vivid",
]
_BRAND_B = [
    "Learn",
    "Path",
    "Spark",
    "Quest",
    "Scholar",
    "Mind",
    "Leaf",
    "Tree",
    "Nest",
    "Hive",
    "Forge",
    "Works",
    "Lab",
    "Loop",
    "Deck",
    "Note",
    "Board",
    "Track",
    "Stack",
    "Wave",
    "Coach",
    "Tutor",
    "Map",
    "Port",
    "Desk",
    "Pad",
    "Lens",
    "Box",
    "Kit",
    "Way",
]
_OWNERS = (
    "Elementary curriculum director",
    "Secondary curriculum director",
    "Director of Digital Learning",
    "Instructional technology coach",
    "Director of Technology",
    "Director of Student Services",
)
_STUDENT_CATEGORIES = (
    ToolCategory.ADAPTIVE_PRACTICE,
    ToolCategory.ASSESSMENT,
    ToolCategory.CONTENT,
    ToolCategory.CREATION,
    ToolCategory.COLLABORATION,
    ToolCategory.INTERVENTION,
    ToolCategory.PORTFOLIO,
    ToolCategory.LIBRARY,
)
_STAFF_CATEGORIES = (
    ToolCategory.COMMUNICATION,
    ToolCategory.PRODUCTIVITY,
    ToolCategory.DATA_ANALYTICS,
    ToolCategory.CLASSROOM_MANAGEMENT,
    ToolCategory.SPECIAL_EDUCATION,
    ToolCategory.SAFETY,
    ToolCategory.OTHER,
)
_BANDS = (parse_grades("K-5"), parse_grades("6-8"), parse_grades("9-12"))
_ROSTER_DATA = ["student_name", "student_id", "enrollment"]


def _brand(rng: random.Random, used: set[str]) -> tuple[str, str]:
    """A made-up product name and its id, unique within the district."""
    while True:
        name = rng.choice(_BRAND_A) + rng.choice(_BRAND_B)
        slug = name.lower()
        if slug in used:
            slug = f"{slug}-{len(used)}"
            name = f"{name} {len(used)}"
        if slug not in used:
            used.add(slug)
            return name, slug


def _flow_map(source: str, target: str, data: list[str]) -> CommentedMap:
    flow = CommentedMap()
    flow.update(source=source, target=target, mechanism="oneroster_api", frequency="nightly")
    flow["data"] = CommentedSeq(data)
    flow["data"].fa.set_flow_style()
    flow.fa.set_flow_style()
    return flow


def _school_map(school: School) -> CommentedMap:
    item = CommentedMap()
    item.update(
        id=school.id,
        name=school.name,
        type=school.type.value,
        grades=f"{school.grades[0].label}-{school.grades[-1].label}",
        enrollment=school.enrollment,
        roster_ids=CommentedSeq(school.roster_ids),
    )
    item["roster_ids"].fa.set_flow_style()
    item.fa.set_flow_style()
    return item


def _flow_seq(values: Iterable[str]) -> CommentedSeq:
    seq = CommentedSeq(values)
    seq.fa.set_flow_style()
    return seq


def _generated_schools(spec: SizeSpec, scale: float, rng: random.Random) -> list[School]:
    schools: list[School] = []
    kinds = (
        ("es", SchoolType.ELEMENTARY, "K-5", spec.elementary, 450, 80, "Elementary"),
        ("ms", SchoolType.MIDDLE, "6-8", spec.middle, 750, 100, "Middle School"),
        ("hs", SchoolType.HIGH, "9-12", spec.high, 1500, 200, "High School"),
    )
    for prefix, kind, grades, count, mean, spread, suffix in kinds:
        for number in range(1, math.ceil(count * scale) + 1 if count else 1):
            place = _PLACES[(number - 1) % len(_PLACES)]
            lap = (number - 1) // len(_PLACES)
            schools.append(
                School(
                    id=f"{prefix}-{number:04d}",
                    name=f"{place} {suffix}" + (f" {lap + 1}" if lap else ""),
                    type=kind,
                    grades=grades,
                    enrollment=mean + rng.randint(-spread, spread),
                    roster_ids=(f"rv-org-{prefix}{number:04d}",),
                )
            )
    return schools


@dataclass
class _CellPool:
    """Free (task, subject, grade) cells, handed out in runs of consecutive grades."""

    free: dict[tuple[LearningTask, Subject, int], list[GradeLevel]]

    @classmethod
    def for_district(cls, eco: Ecosystem) -> _CellPool:
        taken = {(task, subject, grade) for (_, task, subject, grade) in _cells(eco)}
        free: dict[tuple[LearningTask, Subject, int], list[GradeLevel]] = {}
        for band_number, band in enumerate(_BANDS):
            for task in LearningTask:
                for subject in Subject:
                    if subject is Subject.ALL:
                        continue
                    grades = [g for g in band if (task, subject, g) not in taken]
                    if grades:
                        free[(task, subject, band_number)] = grades
        return cls(free)

    def take(self, rng: random.Random) -> tuple[LearningTask, Subject, list[GradeLevel]] | None:
        if not self.free:
            return None
        key = rng.choice(sorted(self.free, key=lambda k: (k[0].value, k[1].value, k[2])))
        grades = self.free[key]
        run = [grades.pop(0)]
        length = rng.choice((1, 2, 3))
        while grades and len(run) < length and grades[0].order == run[-1].order + 1:
            run.append(grades.pop(0))
        if not grades:
            del self.free[key]
        return key[0], key[1], run


def _grade_text(grades: list[GradeLevel]) -> str:
    return grades[0].label if len(grades) == 1 else f"{grades[0].label}-{grades[-1].label}"


def _student_tool(
    name: str,
    slug: str,
    cell: tuple[LearningTask, Subject, list[GradeLevel]],
    schools: list[str],
    problem: str,
    rng: random.Random,
) -> CommentedMap:
    task, subject, grades = cell
    tool = CommentedMap()
    tool.update(
        id=slug,
        name=name,
        vendor=f"{name} Learning",
        category=rng.choice(_STUDENT_CATEGORIES).value,
        audience=_flow_seq(["students", "teachers"]),
        learning_tasks=_flow_seq([task.value]),
        subjects=_flow_seq([subject.value]),
        grades=_grade_text(grades),
        schools=_flow_seq(schools),
    )
    licence = CommentedMap()
    if problem in ("never_used", "low_use"):
        licence.update(
            seats=rng.randrange(200, 2000, 50),
            unit="student",
            cost=rng.randrange(1000, 9000, 100),
            period="annual",
            renewal_date=date(2027, 6, 30),
        )
    else:
        licence.update(
            unit="district",
            cost=rng.randrange(500, 9000, 100),
            period="annual",
            renewal_date=date(2027, 6, 30),
        )
    licence.fa.set_flow_style()
    tool["licence"] = licence
    if problem != "missing_dpa":
        privacy = CommentedMap()
        if problem == "expired_dpa":
            privacy.update(status="expired", signed=date(2023, 7, 1), expires=date(2026, 6, 30))
        else:
            privacy.update(status="signed", signed=date(2025, 7, 1), expires=date(2028, 6, 30))
        privacy["data_elements"] = _flow_seq([*_ROSTER_DATA, "usage"])
        privacy.fa.set_flow_style()
        tool["privacy"] = privacy
    tool.update(
        rostering="oneroster_api", rostered_by="rosterbridge", sso="saml", sso_via="riverside-idp"
    )
    identifiers = CommentedMap()
    identifiers["domains"] = _flow_seq([f"{slug}.example"])
    if rng.random() < 0.6:
        identifiers["caliper_app_ids"] = _flow_seq([f"https://{slug}.example/"])
    identifiers.fa.set_flow_style()
    tool["identifiers"] = identifiers
    tool["owner"] = rng.choice(_OWNERS)
    return tool


def _staff_tool(name: str, slug: str, schools: list[str], rng: random.Random) -> CommentedMap:
    tool = CommentedMap()
    teachers = rng.random() < 0.6
    tool.update(
        id=slug,
        name=name,
        vendor=f"{name} Inc.",
        category=rng.choice(_STAFF_CATEGORIES).value,
        audience=_flow_seq(["teachers"] if teachers else ["staff", "administrators"]),
        learning_tasks=_flow_seq(["planning"] if teachers else []),
        subjects=_flow_seq(["all"]),
        grades="K-12",
        schools=_flow_seq(schools),
    )
    licence = CommentedMap(
        unit="district",
        cost=rng.randrange(500, 9000, 100),
        period="annual",
        renewal_date=date(2027, 6, 30),
    )
    licence.fa.set_flow_style()
    privacy = CommentedMap(status="not_required", notes="Staff data only.")
    privacy.fa.set_flow_style()
    tool.update(licence=licence, privacy=privacy, sso="saml", sso_via="riverside-idp")
    identifiers = CommentedMap(domains=_flow_seq([f"{slug}.example"]))
    identifiers.fa.set_flow_style()
    tool["identifiers"] = identifiers
    tool["owner"] = rng.choice(_OWNERS)
    return tool


_PROBLEMS = (
    ("never_used", 0.04),
    ("teacher_only", 0.04),
    ("missing_dpa", 0.03),
    ("expired_dpa", 0.02),
    ("low_use", 0.02),
)


def _pick_problem(rng: random.Random) -> str:
    roll = rng.random()
    for problem, share in _PROBLEMS:
        if roll < share:
            return problem
        roll -= share
    return ""


_GROUPS = (
    (frozenset({"lincoln-es", "washington-es", "jefferson-es", "roosevelt-es"}), "es"),
    (frozenset({"cedar-ms", "maple-ms"}), "ms"),
    (frozenset({"riverside-hs", "bridgeway-hs"}), "hs"),
)


def _extend_group_tools(document: CommentedMap, eco: Ecosystem, new: list[School]) -> None:
    """Tools bought for every Riverside school of a type reach the new schools of that type."""
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for school in new:
        by_prefix[school.id[:2]].append(school.id)
    for tool, item in zip(eco.tools, document["tools"], strict=True):
        if tool.schools == "all":
            continue
        for group, prefix in _GROUPS:
            if group <= set(tool.schools):
                item["schools"].extend(by_prefix[prefix])


def _eligible(tool: Tool, schools: Iterable[School]) -> float:
    """Roughly how many students a tool serves (enrolment spread evenly over grades)."""
    total = 0.0
    for school in schools:
        grades = set(tool.grades or school.grades) & set(school.grades)
        if school.grades:
            total += (school.enrollment or 0) * len(grades) / len(school.grades)
    return total


def _rescale_seats(document: CommentedMap, before: Ecosystem, after: Ecosystem) -> None:
    """Grow per-seat licences in step with the students the tool now serves."""
    for old, new, item in zip(before.tools, after.tools, document["tools"], strict=False):
        seats = old.licence.seats if old.licence else None
        if seats and seats > 1:
            ratio = _eligible(new, after.schools_of(new)) / max(
                1.0, _eligible(old, before.schools_of(old))
            )
            item["licence"]["seats"] = max(1, round(seats * ratio))


def grown_plan(size: Literal["m", "l"], *, seed: int, scale: float = 1.0) -> DistrictPlan:
    """Riverside grown to size M or L: more schools, generated tools, more planted problems.

    Tools Riverside bought for all its schools of a type reach the new schools of that type;
    seats grow with the students served. Each generated tool is used at one to four new
    schools; student tools cover learning-task cells no other tool covers, so they add no
    overlap, and staff tools have no subject-specific cells at all.
    ``scale`` shrinks (or grows) the number of generated schools and tools and every school's
    enrolment; tests use a small scale to run the M code path in a moment.

    Examples
    --------
    >>> plan = grown_plan("m", seed=7, scale=0.02)
    >>> len(plan.ecosystem.schools), len(plan.ecosystem.tools)
    (12, 75)
    """
    spec = SIZES[size]
    base = riverside_plan()
    rng = random.Random(f"{seed}:grow:{size}")
    document = _load_document(_riverside()[0])
    new_schools = _generated_schools(spec, scale, rng)
    for school in new_schools:
        document["schools"].append(_school_map(school))
    _extend_group_tools(document, base.ecosystem, new_schools)
    if scale != 1.0:
        for item in document["schools"]:
            grade_count = len(parse_grades(item["grades"]))
            item["enrollment"] = max(grade_count, round(item["enrollment"] * scale))
    _rescale_seats(document, base.ecosystem, Ecosystem.model_validate(_plain(document)))

    by_band: list[list[str]] = [
        [s.id for s in new_schools if s.id.startswith(prefix)] for prefix in ("es", "ms", "hs")
    ]
    all_new = [s.id for s in new_schools]
    pool = _CellPool.for_district(base.ecosystem)
    used = {tool.id for tool in base.ecosystem.tools} | {s.id for s in new_schools}
    planted: dict[str, list[str]] = defaultdict(list)
    healthy = list(base.healthy)
    overrides: dict[str, dict[str, float]] = {}
    caliper: set[str] = set()
    extra_tools = max(0, math.ceil((spec.tools - len(base.ecosystem.tools)) * scale))
    for _ in range(extra_tools):
        name, slug = _brand(rng, used)
        cell = pool.take(rng) if rng.random() < 0.8 else None
        if cell is None:
            # A school's own staff tool: used by its staff, not district-wide.
            schools = sorted(rng.sample(all_new, min(len(all_new), rng.randint(1, 4))))
            document["tools"].append(_staff_tool(name, slug, schools, rng))
            continue
        task, subject, grades = cell
        band = by_band[_band_of(grades[0])]
        schools = sorted(rng.sample(band, min(len(band), rng.randint(1, 4))))
        problem = _pick_problem(rng)
        tool = _student_tool(name, slug, (task, subject, grades), schools, problem, rng)
        document["tools"].append(tool)
        document["flows"].append(_flow_map("rosterbridge", slug, list(_ROSTER_DATA)))
        if "caliper_app_ids" in tool["identifiers"] and rng.random() < 0.5:
            caliper.add(slug)
        overrides[slug] = {
            "never_used": {},
            "teacher_only": {"students": 0.0, "teachers": 0.6},
            "low_use": {"students": 0.03, "teachers": 0.1},
        }.get(problem, {"students": round(rng.uniform(0.6, 0.9), 2), "teachers": 0.6})
        if problem:
            planted[problem].append(slug)
        else:
            healthy.append(slug)

    eco = Ecosystem.model_validate(_plain(document))
    new_tools = [tool for tool in eco.tools if tool.id not in base.profiles]
    profiles = {**base.profiles, **_profiles(new_tools, overrides, frozenset(caliper))}
    key = base.planted
    no_dpa = set(planted["missing_dpa"]) | set(planted["expired_dpa"])
    pii = list(key.pii_without_dpa) + [
        FlowRef(source=f.source, target=f.target, key=f.key)
        for f in eco.flows
        if f.target in no_dpa and f.carries_student_pii
    ]
    grown = key.model_copy(
        update={
            name: tuple(getattr(key, name)) + tuple(planted[name])
            for name in ("never_used", "teacher_only", "missing_dpa", "expired_dpa", "low_use")
        }
        | {"pii_without_dpa": tuple(pii)}
    )
    return DistrictPlan(
        document=document,
        ecosystem=eco,
        profiles=profiles,
        planted=grown,
        healthy=tuple(healthy),
        shadow_apps=base.shadow_apps,
    )


def _band_of(grade: GradeLevel) -> int:
    return next(number for number, band in enumerate(_BANDS) if grade in band)


def _plain(document: Any) -> Any:
    """The document as plain dicts and lists (what the safe loader would give)."""
    if isinstance(document, Mapping):
        return {str(k): _plain(v) for k, v in document.items()}
    if isinstance(document, list | tuple):
        return [_plain(v) for v in document]
    return document
