"""A district's roster worked out from arithmetic, written as a OneRoster 1.1 CSV bundle.

Nobody is held in memory: student ``i`` of grade ``g`` at a school, their sections, classes
and teachers all follow from the school's size, so the writer streams a million users and the
usage generator can pick people from the same arithmetic without reading the files back.

Students sit in sections of at most 25; a student is in section ``i % sections`` of every
subject of their grade. Elementary homeroom teachers teach the core subjects of their section;
specialists (and every secondary teacher) teach one subject across several sections.

Examples
--------
>>> from edtech_map.model import GradeLevel, SchoolType, Subject
>>> school = SchoolRoster(school_id="lincoln-es", org_id="rv-org-101", type=SchoolType.ELEMENTARY,
...                       grades=(GradeLevel.G03,), students=(30,))
>>> school.sections(GradeLevel.G03), school.student_id(GradeLevel.G03, 7)
(2, 'stu-rv-org-101-03-00007')
>>> school.class_id(GradeLevel.G03, Subject.MATH, 1)
'cls-rv-org-101-03-math-02'
>>> school.teacher_of(GradeLevel.G03, Subject.MATH, 1), school.teacher_of(GradeLevel.G03, Subject.MUSIC, 1)
('tch-rv-org-101-03-02', 'tch-rv-org-101-music-01')
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import IO, Any

from edtech_map.model import GradeLevel, School, SchoolType, Subject

__all__ = [
    "ACADEMIC_SESSIONS_HEADER",
    "CLASSES_HEADER",
    "COURSES_HEADER",
    "ENROLLMENTS_HEADER",
    "ORGS_HEADER",
    "USERS_HEADER",
    "DistrictRoster",
    "RosterCounts",
    "SchoolRoster",
    "person_name",
    "split_enrollment",
    "write_oneroster_csv",
]

logger = logging.getLogger(__name__)

# Column order of the OneRoster 1.1 CSV binding, as in real exports (orgs keeps the common
# `metadata.*` extension columns).
ORGS_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "name",
    "type",
    "identifier",
    "parentSourcedId",
    "metadata.address1",
    "metadata.address2",
    "metadata.city",
    "metadata.postCode",
    "metadata.state",
]
ACADEMIC_SESSIONS_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "title",
    "type",
    "startDate",
    "endDate",
    "parentSourcedId",
    "schoolYear",
]
COURSES_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "schoolYearSourcedId",
    "title",
    "courseCode",
    "grades",
    "orgSourcedId",
    "subjects",
    "subjectCodes",
]
CLASSES_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "title",
    "grades",
    "courseSourcedId",
    "classCode",
    "classType",
    "location",
    "schoolSourcedId",
    "termSourcedIds",
    "subjects",
    "subjectCodes",
    "periods",
]
USERS_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "orgSourcedIds",
    "role",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "grades",
    "password",
]
ENROLLMENTS_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "classSourcedId",
    "schoolSourcedId",
    "userSourcedId",
    "role",
    "primary",
    "beginDate",
    "endDate",
]

_FILES = ("academicSessions", "orgs", "courses", "classes", "users", "enrollments")
_ABSENT = (
    "demographics",
    "resources",
    "classResources",
    "courseResources",
    "categories",
    "lineItems",
    "results",
)

CLASS_SIZE = 25
_SECONDARY_SECTIONS_PER_TEACHER = 5
_SPECIALIST_SECTIONS_PER_TEACHER = 12
_CHUNK = 5_000

_ELEMENTARY_SUBJECTS = (
    Subject.ELA,
    Subject.MATH,
    Subject.SCIENCE,
    Subject.SOCIAL_STUDIES,
    Subject.SOCIAL_EMOTIONAL,
    Subject.ARTS,
    Subject.MUSIC,
    Subject.PHYSICAL_EDUCATION,
)
_HOMEROOM_SUBJECTS = frozenset(_ELEMENTARY_SUBJECTS[:5])
_MIDDLE_SUBJECTS = (
    Subject.ELA,
    Subject.MATH,
    Subject.SCIENCE,
    Subject.SOCIAL_STUDIES,
    Subject.WORLD_LANGUAGES,
    Subject.ARTS,
    Subject.PHYSICAL_EDUCATION,
    Subject.HEALTH,
    Subject.STUDY_SKILLS,
)
_HIGH_SUBJECTS = (
    Subject.ELA,
    Subject.MATH,
    Subject.SCIENCE,
    Subject.SOCIAL_STUDIES,
    Subject.WORLD_LANGUAGES,
    Subject.CAREER_TECHNICAL,
    Subject.ARTS,
    Subject.PHYSICAL_EDUCATION,
    Subject.STUDY_SKILLS,
)
SUBJECT_NAMES: dict[Subject, str] = {
    Subject.ELA: "English Language Arts",
    Subject.MATH: "Mathematics",
    Subject.SCIENCE: "Science",
    Subject.SOCIAL_STUDIES: "Social Studies",
    Subject.WORLD_LANGUAGES: "World Languages",
    Subject.ENGLISH_LANGUAGE_DEVELOPMENT: "English Language Development",
    Subject.ARTS: "Visual Arts",
    Subject.MUSIC: "Music",
    Subject.PHYSICAL_EDUCATION: "Physical Education",
    Subject.HEALTH: "Health",
    Subject.COMPUTER_SCIENCE: "Computer Science",
    Subject.CAREER_TECHNICAL: "Career and Technical Education",
    Subject.SOCIAL_EMOTIONAL: "Social-Emotional Learning",
    Subject.STUDY_SKILLS: "Advisory",
}

_GIVEN = [
    "Ava",
    "Liam",
    "Olivia",
    "Noah",
    "Emma",
    "Mateo",
    "Sophia",
    "Elijah",
    "Isabella",
    "Lucas",
    "Mia",
    "Amir",
    "Amelia",
    "Ethan",
    "Harper",
    "Mason",
    "Evelyn",
    "Logan",
    "Abigail",
    "James",
    "Emily",
    "Aiden",
    "Ella",
    "Jackson",
    "Aaliyah",
    "Sebastian",
    "Camila",
    "Henry",
    "Luna",
    "Owen",
    "Zoe",
    "Daniel",
    "Nora",
    "Leo",
    "Maya",
    "Samuel",
    "Layla",
    "Wyatt",
    "Riley",
    "Jayden",
    "Aria",
    "Gabriel",
    "Chloe",
    "Julian",
    "Grace",
    "Isaac",
    "Priya",
    "Hiroshi",
    "Fatima",
    "Kwame",
    "Ines",
    "Dmitri",
    "Leilani",
    "Santiago",
    "Yuna",
    "Omar",
    "Anika",
    "Tariq",
]
_FAMILY = [
    "Smith",
    "Johnson",
    "Garcia",
    "Nguyen",
    "Patel",
    "Kim",
    "Brown",
    "Lopez",
    "Martinez",
    "Davis",
    "Rodriguez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Okafor",
    "Haddad",
    "Kowalski",
    "Yamamoto",
    "Silva",
    "Novak",
    "Mensah",
    "Olsen",
    "Castillo",
    "Ibrahim",
    "Lindqvist",
    "Tran",
    "Begay",
]


def person_name(seed: int, user_id: str) -> tuple[str, str]:
    """A made-up (given, family) name for a user id, the same every time for the same seed.

    Examples
    --------
    >>> person_name(7, "stu-1") == person_name(7, "stu-1"), person_name(7, "stu-1")[0] in _GIVEN
    (True, True)
    """
    digest = hashlib.blake2b(f"{seed}:{user_id}".encode(), digest_size=8).digest()
    number = int.from_bytes(digest, "big")
    return _GIVEN[number % len(_GIVEN)], _FAMILY[(number // len(_GIVEN)) % len(_FAMILY)]


def split_enrollment(total: int, grades: int) -> tuple[int, ...]:
    """Spread a school's enrolment over its grades as evenly as whole students allow.

    Examples
    --------
    >>> split_enrollment(20, 6)
    (4, 4, 3, 3, 3, 3)
    """
    if grades <= 0:
        return ()
    base, extra = divmod(total, grades)
    return tuple(base + (1 if index < extra else 0) for index in range(grades))


def _band(grade: GradeLevel) -> str:
    if grade.order <= GradeLevel.G05.order:
        return "elementary"
    if grade.order <= GradeLevel.G08.order:
        return "middle"
    return "high"


@dataclass(frozen=True)
class TeacherRecord:
    """A teacher, the grades and subjects they teach and one class of theirs."""

    teacher_id: str
    grades: tuple[GradeLevel, ...]
    subjects: tuple[Subject, ...]
    classes: tuple[str, ...]


@dataclass(frozen=True)
class SchoolRoster:
    """One school's roster, worked out from its grades and students per grade."""

    school_id: str
    org_id: str
    type: SchoolType
    grades: tuple[GradeLevel, ...]
    students: tuple[int, ...]
    name: str = ""

    @classmethod
    def from_school(cls, school: School, *, scale: float = 1.0) -> SchoolRoster:
        """The roster of an inventory school (its first roster id is the org sourcedId).

        Examples
        --------
        >>> school = School(id="a", name="A", type="elementary", grades="K-1", enrollment=41,
        ...                 roster_ids=["org-a"])
        >>> SchoolRoster.from_school(school).students
        (21, 20)
        """
        total = max(len(school.grades), round((school.enrollment or 0) * scale))
        return cls(
            school_id=school.id,
            org_id=school.roster_ids[0] if school.roster_ids else school.id,
            type=school.type,
            grades=school.grades,
            students=split_enrollment(total, len(school.grades)),
            name=school.name,
        )

    def count(self, grade: GradeLevel) -> int:
        """Students in a grade (0 when the school does not serve it)."""
        return self.students[self.grades.index(grade)] if grade in self.grades else 0

    def sections(self, grade: GradeLevel) -> int:
        """Sections of a grade: classes of at most 25."""
        return max(1, -(-self.count(grade) // CLASS_SIZE)) if grade in self.grades else 0

    @staticmethod
    def subjects(grade: GradeLevel) -> tuple[Subject, ...]:
        """Subjects every student of the grade takes.

        Examples
        --------
        >>> len(SchoolRoster.subjects(GradeLevel.KG)), len(SchoolRoster.subjects(GradeLevel.G10))
        (8, 9)
        """
        band = _band(grade)
        if band == "elementary":
            return _ELEMENTARY_SUBJECTS
        return _MIDDLE_SUBJECTS if band == "middle" else _HIGH_SUBJECTS

    def student_id(self, grade: GradeLevel, index: int) -> str:
        """The sourcedId of student ``index`` of a grade."""
        return f"stu-{self.org_id}-{grade.value}-{index:05d}"

    def course_id(self, grade: GradeLevel, subject: Subject) -> str:
        """The sourcedId of a grade's course in a subject."""
        return f"crs-{self.org_id}-{grade.value}-{subject.value}"

    def class_id(self, grade: GradeLevel, subject: Subject, section: int) -> str:
        """The sourcedId of one section (numbered from 0) of a grade's course."""
        return f"cls-{self.org_id}-{grade.value}-{subject.value}-{section + 1:02d}"

    @cached_property
    def _offsets(self) -> dict[tuple[GradeLevel, Subject], int]:
        """Running section number of each (grade, subject) among the subject's sections."""
        offsets: dict[tuple[GradeLevel, Subject], int] = {}
        running: dict[tuple[str, Subject], int] = {}
        for grade in self.grades:
            for subject in self.subjects(grade):
                key = (_band(grade), subject)
                offsets[(grade, subject)] = running.get(key, 0)
                running[key] = running.get(key, 0) + self.sections(grade)
        return offsets

    def teacher_of(self, grade: GradeLevel, subject: Subject, section: int) -> str:
        """The sourcedId of the teacher of a section."""
        if _band(grade) == "elementary" and subject in _HOMEROOM_SUBJECTS:
            return f"tch-{self.org_id}-{grade.value}-{section + 1:02d}"
        per_teacher = (
            _SPECIALIST_SECTIONS_PER_TEACHER
            if _band(grade) == "elementary"
            else _SECONDARY_SECTIONS_PER_TEACHER
        )
        number = (self._offsets[(grade, subject)] + section) // per_teacher + 1
        band = (
            ""
            if self.type in (SchoolType.ELEMENTARY, SchoolType.MIDDLE, SchoolType.HIGH)
            else (_band(grade)[0] + "-")
        )
        return f"tch-{self.org_id}-{band}{subject.value}-{number:02d}"

    def principal_id(self) -> str:
        """The sourcedId of the school's principal (an administrator)."""
        return f"adm-{self.org_id}-01"

    def classes(self) -> Iterator[tuple[GradeLevel, Subject, int]]:
        """Every (grade, subject, section) taught, in order."""
        for grade in self.grades:
            for subject in self.subjects(grade):
                for section in range(self.sections(grade)):
                    yield grade, subject, section

    @cached_property
    def teachers(self) -> tuple[TeacherRecord, ...]:
        """Every teacher, with what they teach, in the order they are first needed."""
        found: dict[str, tuple[dict[GradeLevel, None], dict[Subject, None], list[str]]] = {}
        for grade, subject, section in self.classes():
            teacher = self.teacher_of(grade, subject, section)
            grades, subjects, classes = found.setdefault(teacher, ({}, {}, []))
            grades[grade] = None
            subjects[subject] = None
            classes.append(self.class_id(grade, subject, section))
        return tuple(
            TeacherRecord(teacher_id, tuple(g), tuple(s), tuple(c))
            for teacher_id, (g, s, c) in found.items()
        )


@dataclass
class RosterCounts:
    """Rows written per file.

    Examples
    --------
    >>> RosterCounts(orgs=10, users=4467).users
    4467
    """

    orgs: int = 0
    academic_sessions: int = 0
    courses: int = 0
    classes: int = 0
    users: int = 0
    students: int = 0
    teachers: int = 0
    administrators: int = 0
    enrollments: int = 0


@dataclass(frozen=True)
class DistrictRoster:
    """The district org, its school year and every school's roster.

    Examples
    --------
    >>> from edtech_map.samples.generator import district_roster
    >>> from edtech_map.samples.plan import riverside_plan
    >>> roster = district_roster(riverside_plan(), seed=7)
    >>> roster.org_id, len(roster.schools)
    ('rv-org-000', 9)
    """

    district_id: str
    district_name: str
    org_id: str
    schools: tuple[SchoolRoster, ...]
    school_year: int
    year_start: date
    year_end: date
    email_domain: str
    seed: int
    state: str = ""
    district_admins: int = 3
    _by_school: dict[str, SchoolRoster] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_school.update({school.school_id: school for school in self.schools})

    def school(self, school_id: str) -> SchoolRoster:
        """The roster of a school by its inventory id."""
        return self._by_school[school_id]

    @property
    def year_id(self) -> str:
        """The sourcedId of the school year."""
        return f"{self.district_id}-sy-{self.school_year}"

    @property
    def term_ids(self) -> tuple[str, str]:
        """The sourcedIds of the two semesters."""
        return (
            f"{self.district_id}-s1-{self.school_year}",
            f"{self.district_id}-s2-{self.school_year}",
        )

    def district_admin_ids(self) -> list[str]:
        """The sourcedIds of the district office administrators."""
        return [f"adm-{self.org_id}-{n:02d}" for n in range(1, self.district_admins + 1)]


def _writer(handle: IO[str]) -> Any:
    return csv.writer(handle, lineterminator="\n")


def _chunked(writer: Any, rows: Iterable[Sequence[str]]) -> int:
    """Write rows in chunks; returns how many were written."""
    written, chunk = 0, []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            writer.writerows(chunk)
            written += len(chunk)
            chunk.clear()
    writer.writerows(chunk)
    return written + len(chunk)


def _orgs(roster: DistrictRoster) -> Iterator[list[str]]:
    yield [
        roster.org_id,
        "",
        "",
        roster.district_name,
        "district",
        "",
        "",
        "",
        "",
        "",
        "",
        roster.state,
    ]
    for number, school in enumerate(roster.schools, start=1):
        yield [
            school.org_id,
            "",
            "",
            school.name or school.school_id,
            "school",
            f"{number:04d}",
            roster.org_id,
            f"{100 + number} School Street",
            "",
            "Riverside",
            f"{54000 + number % 1000:05d}",
            roster.state,
        ]


def _sessions(roster: DistrictRoster) -> Iterator[list[str]]:
    year, (fall, spring) = roster.school_year, roster.term_ids
    mid = date(year, 1, 15)
    yield [
        roster.year_id,
        "",
        "",
        f"{year - 1}-{year} School Year",
        "schoolYear",
        roster.year_start.isoformat(),
        roster.year_end.isoformat(),
        "",
        str(year),
    ]
    yield [
        fall,
        "",
        "",
        f"Fall {year - 1}",
        "semester",
        roster.year_start.isoformat(),
        mid.isoformat(),
        roster.year_id,
        str(year),
    ]
    yield [
        spring,
        "",
        "",
        f"Spring {year}",
        "semester",
        date(year, 1, 19).isoformat(),
        roster.year_end.isoformat(),
        roster.year_id,
        str(year),
    ]


def _grade_title(grade: GradeLevel) -> str:
    return "Kindergarten" if grade is GradeLevel.KG else f"Grade {grade.label}"


def _courses(roster: DistrictRoster) -> Iterator[list[str]]:
    for school in roster.schools:
        for grade in school.grades:
            for subject in school.subjects(grade):
                code = f"{subject.value[:4].upper()}-{grade.value}"
                yield [
                    school.course_id(grade, subject),
                    "",
                    "",
                    roster.year_id,
                    f"{_grade_title(grade)} {SUBJECT_NAMES[subject]}",
                    code,
                    grade.value,
                    school.org_id,
                    SUBJECT_NAMES[subject],
                    "",
                ]


def _classes(roster: DistrictRoster) -> Iterator[list[str]]:
    terms = ",".join(roster.term_ids)
    for school in roster.schools:
        for grade, subject, section in school.classes():
            subjects = school.subjects(grade)
            period = "" if _band(grade) == "elementary" else str(subjects.index(subject) + 1)
            homeroom = _band(grade) == "elementary" and subject is Subject.SOCIAL_EMOTIONAL
            yield [
                school.class_id(grade, subject, section),
                "",
                "",
                f"{_grade_title(grade)} {SUBJECT_NAMES[subject]} - Section {section + 1}",
                grade.value,
                school.course_id(grade, subject),
                f"{subject.value[:4].upper()}-{grade.value}-{section + 1:02d}",
                "homeroom" if homeroom else "scheduled",
                f"Room {100 * (grade.order % 10) + section + 1}",
                school.org_id,
                terms,
                SUBJECT_NAMES[subject],
                "",
                period,
            ]


def _user(
    roster: DistrictRoster,
    user_id: str,
    org_ids: str,
    role: str,
    grades: str,
    identifier: str,
    mail_host: str,
) -> list[str]:
    given, family = person_name(roster.seed, user_id)
    local = f"{given}.{family}.{identifier}".lower()
    return [
        user_id,
        "",
        "",
        "true",
        org_ids,
        role,
        local,
        "",
        given,
        family,
        "",
        identifier,
        f"{local}@{mail_host}.{roster.email_domain}",
        "",
        "",
        "",
        grades,
        "",
    ]


def _users(roster: DistrictRoster, counts: RosterCounts) -> Iterator[list[str]]:
    for number, admin in enumerate(roster.district_admin_ids(), start=1):
        counts.administrators += 1
        yield _user(roster, admin, roster.org_id, "administrator", "", f"d{number:03d}", "staff")
    for number, school in enumerate(roster.schools, start=1):
        counts.administrators += 1
        yield _user(
            roster,
            school.principal_id(),
            school.org_id,
            "administrator",
            "",
            f"p{number:04d}",
            "staff",
        )
        for teacher_number, teacher in enumerate(school.teachers, start=1):
            counts.teachers += 1
            yield _user(
                roster,
                teacher.teacher_id,
                school.org_id,
                "teacher",
                ",".join(g.value for g in teacher.grades),
                f"t{number:04d}{teacher_number:03d}",
                "staff",
            )
        for grade in school.grades:
            for index in range(school.count(grade)):
                counts.students += 1
                yield _user(
                    roster,
                    school.student_id(grade, index),
                    school.org_id,
                    "student",
                    grade.value,
                    f"{number:04d}{grade.value}{index:05d}",
                    "students",
                )


def _enrollments(roster: DistrictRoster) -> Iterator[list[str]]:
    begin, end = roster.year_start.isoformat(), roster.year_end.isoformat()
    serial = 0
    for school in roster.schools:
        org = school.org_id
        for grade, subject, section in school.classes():
            class_id = school.class_id(grade, subject, section)
            serial += 1
            yield [
                f"enr-{serial:08d}",
                "",
                "",
                class_id,
                org,
                school.teacher_of(grade, subject, section),
                "teacher",
                "true",
                begin,
                end,
            ]
            sections = school.sections(grade)
            for index in range(section, school.count(grade), sections):
                serial += 1
                yield [
                    f"enr-{serial:08d}",
                    "",
                    "",
                    class_id,
                    org,
                    school.student_id(grade, index),
                    "student",
                    "false",
                    begin,
                    end,
                ]


def _manifest_rows(source: str) -> list[tuple[str, str]]:
    rows = [
        ("manifest.version", "1.0"),
        ("oneroster.version", "1.1"),
        ("source.systemName", source),
        ("source.systemCode", "edtech-map-sample"),
    ]
    rows += [(f"file.{name}", "bulk") for name in _FILES]
    rows += [(f"file.{name}", "absent") for name in _ABSENT]
    return rows


def write_oneroster_csv(roster: DistrictRoster, folder: Path) -> RosterCounts:
    """Write the roster as a OneRoster 1.1 bulk CSV bundle, streaming rows in chunks.

    Examples
    --------
    >>> import tempfile
    >>> school = SchoolRoster(school_id="a", org_id="org-a", type=SchoolType.ELEMENTARY,
    ...                       grades=(GradeLevel.G01,), students=(30,), name="A")
    >>> district = DistrictRoster(district_id="d", district_name="D", org_id="org-d",
    ...     schools=(school,), school_year=2027, year_start=date(2026, 8, 24),
    ...     year_end=date(2027, 6, 4), email_domain="d.example", seed=1)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     counts = write_oneroster_csv(district, Path(tmp))
    ...     files = sorted(p.name for p in Path(tmp).iterdir())
    >>> counts.students, counts.classes, counts.enrollments, len(files)
    (30, 16, 256, 7)
    """
    folder.mkdir(parents=True, exist_ok=True)
    counts = RosterCounts()
    with (folder / "manifest.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(["propertyName", "value"])
        writer.writerows(_manifest_rows(f"{roster.district_name} SIS"))
    parts: list[tuple[str, list[str], Iterable[list[str]], str]] = [
        ("orgs.csv", ORGS_HEADER, _orgs(roster), "orgs"),
        ("academicSessions.csv", ACADEMIC_SESSIONS_HEADER, _sessions(roster), "academic_sessions"),
        ("courses.csv", COURSES_HEADER, _courses(roster), "courses"),
        ("classes.csv", CLASSES_HEADER, _classes(roster), "classes"),
        ("users.csv", USERS_HEADER, _users(roster, counts), "users"),
        ("enrollments.csv", ENROLLMENTS_HEADER, _enrollments(roster), "enrollments"),
    ]
    for file_name, header, rows, count_name in parts:
        with (folder / file_name).open("w", encoding="utf-8", newline="") as handle:
            writer = _writer(handle)
            writer.writerow(header)
            setattr(counts, count_name, _chunked(writer, rows))
        logger.info("wrote %s: %d rows", file_name, getattr(counts, count_name))
    return counts
