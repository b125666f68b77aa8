"""Controlled vocabularies for the inventory, each value with a documented meaning.

The values come from the standards districts already use where one exists: OneRoster roles,
CEDS grade levels (``000126``), the SDPC/1EdTech data-element categories. Each enum keeps a
``DESCRIPTIONS`` mapping that the docs page is generated from, so the reference never drifts.

Examples
--------
>>> ToolCategory("lms").description
'Learning management system: courses, assignments, grades (Canvas, Schoology, Google Classroom).'
>>> parse_grade("Kindergarten"), parse_grade("1st"), parse_grade(3)
(<GradeLevel.KG: 'KG'>, <GradeLevel.G01: '01'>, <GradeLevel.G03: '03'>)
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import ClassVar

__all__ = [
    "Audience",
    "DataElement",
    "DescribedEnum",
    "DpaStatus",
    "FlowMechanism",
    "GradeLevel",
    "LearningTask",
    "LicencePeriod",
    "LicenceUnit",
    "Role",
    "RosteringMethod",
    "SchoolType",
    "SsoMethod",
    "Subject",
    "ToolCategory",
    "ToolStatus",
    "expand_grade",
    "parse_grade",
    "parse_grades",
]


class DescribedEnum(StrEnum):
    """A string enum whose members each carry a one-line description for the docs.

    Examples
    --------
    >>> Audience.STUDENTS.description
    'Students use it directly.'
    """

    __descriptions__: ClassVar[dict[str, str]] = {}

    @property
    def description(self) -> str:
        """The documented meaning of this value."""
        table: dict[str, str] = getattr(type(self), "__descriptions__", {})
        return table.get(str(self.value), "")


class ToolCategory(DescribedEnum):
    """What kind of system a tool is: the first thing a director sorts by."""

    LMS = "lms"
    SIS = "sis"
    ROSTERING_HUB = "rostering_hub"
    SSO = "sso"
    ADAPTIVE_PRACTICE = "adaptive_practice"
    ASSESSMENT = "assessment"
    CONTENT = "content"
    COMMUNICATION = "communication"
    PRODUCTIVITY = "productivity"
    PORTFOLIO = "portfolio"
    CREATION = "creation"
    COLLABORATION = "collaboration"
    INTERVENTION = "intervention"
    DATA_ANALYTICS = "data_analytics"
    CLASSROOM_MANAGEMENT = "classroom_management"
    SPECIAL_EDUCATION = "special_education"
    LIBRARY = "library"
    SAFETY = "safety"
    OTHER = "other"

    __descriptions__: ClassVar[dict[str, str]] = {
        "lms": (
            "Learning management system: courses, assignments, grades "
            "(Canvas, Schoology, Google Classroom)."
        ),
        "sis": "Student information system: the system of record for enrolment and schedules.",
        "rostering_hub": "Passes rosters from the SIS to tools (Clever, ClassLink, OneRoster hub).",
        "sso": "Single sign-on identity provider or launchpad.",
        "adaptive_practice": "Practice that adapts to the learner (skills practice, tutoring).",
        "assessment": "Quizzes, benchmarks, screeners, state-test preparation.",
        "content": "Curriculum, videos, e-books, simulations: material to learn from.",
        "communication": "Messages and newsletters between school, students and families.",
        "productivity": "Documents, slides, spreadsheets, e-mail.",
        "portfolio": "Student work collected over time, often shared with families.",
        "creation": "Students make things: video, audio, code, design.",
        "collaboration": "Discussion, whiteboards, shared spaces.",
        "intervention": "Targeted support programmes (MTSS/RTI tiers 2 and 3).",
        "data_analytics": "Dashboards and data warehouses for staff.",
        "classroom_management": "Device monitoring, behaviour, classroom routines.",
        "special_education": "IEP management and accessibility tools.",
        "library": "Library catalogue and digital lending.",
        "safety": "Content filtering, student safety monitoring.",
        "other": "Anything that fits none of the above; say what in `notes`.",
    }


class LearningTask(DescribedEnum):
    """Teaching and learning tasks a tool takes on; overlaps and gaps are counted on these."""

    CONTENT_DELIVERY = "content_delivery"
    PRACTICE = "practice"
    ASSESSMENT = "assessment"
    FEEDBACK = "feedback"
    COLLABORATION = "collaboration"
    CREATION = "creation"
    STUDENT_CHOICE = "student_choice"
    GOAL_SETTING = "goal_setting"
    FAMILY_COMMUNICATION = "family_communication"
    CLASSROOM_COMMUNICATION = "classroom_communication"
    PLANNING = "planning"
    GRADING = "grading"
    INTERVENTION = "intervention"
    ACCESSIBILITY = "accessibility"
    RECORD_KEEPING = "record_keeping"

    __descriptions__: ClassVar[dict[str, str]] = {
        "content_delivery": "Presenting new material: lessons, videos, readings.",
        "practice": "Students rehearse skills, with or without adaptivity.",
        "assessment": "Measuring what students know: formative or summative.",
        "feedback": "Comments on student work, from teachers, peers or software.",
        "collaboration": "Students working together on shared work.",
        "creation": "Students making artefacts that show what they learned.",
        "student_choice": "Student voice and choice: students pick path, pace, topic or medium.",
        "goal_setting": "Goal setting, reflection and learner profiles.",
        "family_communication": "Reaching families: messages, progress, translation.",
        "classroom_communication": "Announcements and messages between teachers and students.",
        "planning": "Lesson and curriculum planning for staff.",
        "grading": "Gradebook and reporting of marks.",
        "intervention": "Targeted support for students who need more.",
        "accessibility": "Text-to-speech, translation, supports for disabilities.",
        "record_keeping": "Keeping official records: attendance, enrolment, IEPs.",
    }


class Audience(DescribedEnum):
    """Who a tool is for; teacher-only findings compare this with who really uses it."""

    STUDENTS = "students"
    TEACHERS = "teachers"
    STAFF = "staff"
    FAMILIES = "families"
    ADMINISTRATORS = "administrators"

    __descriptions__: ClassVar[dict[str, str]] = {
        "students": "Students use it directly.",
        "teachers": "Teachers use it (planning, grading, presenting).",
        "staff": "Other school staff: counsellors, aides, office.",
        "families": "Parents and guardians.",
        "administrators": "School and district leaders, IT.",
    }


class Role(DescribedEnum):
    """OneRoster 1.1/1.2 roles, as they appear in rosters and usage."""

    STUDENT = "student"
    TEACHER = "teacher"
    AIDE = "aide"
    ADMINISTRATOR = "administrator"
    PARENT = "parent"
    GUARDIAN = "guardian"
    RELATIVE = "relative"
    PROCTOR = "proctor"
    DISTRICT_ADMINISTRATOR = "districtAdministrator"
    SITE_ADMINISTRATOR = "siteAdministrator"
    SYSTEM_ADMINISTRATOR = "systemAdministrator"
    PRINCIPAL = "principal"
    COUNSELOR = "counselor"
    EXTERNAL = "external"
    UNKNOWN = "unknown"

    __descriptions__: ClassVar[dict[str, str]] = {
        "student": "A learner.",
        "teacher": "Teaches classes.",
        "aide": "Supports a teacher in class.",
        "administrator": "OneRoster 1.1 administrator (school or district).",
        "parent": "Parent of a student.",
        "guardian": "Legal guardian of a student.",
        "relative": "Other relative of a student.",
        "proctor": "Supervises tests.",
        "districtAdministrator": "OneRoster 1.2 district administrator.",
        "siteAdministrator": "OneRoster 1.2 school administrator.",
        "systemAdministrator": "OneRoster 1.2 system administrator.",
        "principal": "OneRoster 1.2 principal.",
        "counselor": "OneRoster 1.2 counselor.",
        "external": "Someone outside the district.",
        "unknown": "The source did not say.",
    }


class GradeLevel(DescribedEnum):
    """CEDS Entry Grade Level codes (element 000126), in school order."""

    IT = "IT"
    PR = "PR"
    PK = "PK"
    TK = "TK"
    KG = "KG"
    G01 = "01"
    G02 = "02"
    G03 = "03"
    G04 = "04"
    G05 = "05"
    G06 = "06"
    G07 = "07"
    G08 = "08"
    G09 = "09"
    G10 = "10"
    G11 = "11"
    G12 = "12"
    G13 = "13"
    PS = "PS"
    UG = "UG"
    OTHER = "Other"

    __descriptions__: ClassVar[dict[str, str]] = {
        "IT": "Infant/toddler.",
        "PR": "Preschool.",
        "PK": "Prekindergarten.",
        "TK": "Transitional kindergarten.",
        "KG": "Kindergarten.",
        **{f"{n:02d}": f"Grade {n}." for n in range(1, 13)},
        "13": "Grade 13.",
        "PS": "Postsecondary.",
        "UG": "Ungraded.",
        "Other": "Other.",
    }

    @property
    def order(self) -> int:
        """Position in school order (infant/toddler first).

        Examples
        --------
        >>> GradeLevel.KG.order < GradeLevel.G01.order < GradeLevel.G12.order
        True
        """
        return list(GradeLevel).index(self)

    @property
    def label(self) -> str:
        """A short human label: ``K``, ``1`` … ``12``, ``PK``.

        Examples
        --------
        >>> GradeLevel.KG.label, GradeLevel.G07.label
        ('K', '7')
        """
        if self is GradeLevel.KG:
            return "K"
        return str(int(self.value)) if self.value.isdigit() else self.value


_GRADE_WORDS: dict[str, GradeLevel] = {
    "k": GradeLevel.KG,
    "kg": GradeLevel.KG,
    "kindergarten": GradeLevel.KG,
    "kinder": GradeLevel.KG,
    "pk": GradeLevel.PK,
    "prek": GradeLevel.PK,
    "pre-k": GradeLevel.PK,
    "prekindergarten": GradeLevel.PK,
    "pre-kindergarten": GradeLevel.PK,
    "tk": GradeLevel.TK,
    "transitional kindergarten": GradeLevel.TK,
    "preschool": GradeLevel.PR,
    "pr": GradeLevel.PR,
    "it": GradeLevel.IT,
    "ps": GradeLevel.PS,
    "postsecondary": GradeLevel.PS,
    "ug": GradeLevel.UG,
    "ungraded": GradeLevel.UG,
    "other": GradeLevel.OTHER,
}
_ORDINAL = re.compile(r"^(?:grade\s*|gr\.?\s*)?(\d{1,2})(?:st|nd|rd|th)?(?:\s*grade)?$")

GRADE_HINT = "use K, 1..12, PK, TK, a CEDS code such as KG or 05, or a range such as K-5"


def parse_grade(value: object) -> GradeLevel:
    """Read one grade level from the spellings people and rosters use.

    Accepts CEDS codes (``KG``, ``05``), numbers (``5``, ``"5"``), ordinals (``"5th"``,
    ``"5th grade"``, ``"Grade 5"``) and words (``"Kindergarten"``, ``"Pre-K"``).

    Raises
    ------
    ValueError
        With a message that says what is allowed.

    Examples
    --------
    >>> parse_grade("K").value, parse_grade("grade 10").value, parse_grade("02").value
    ('KG', '10', '02')
    >>> parse_grade("grade 14")
    Traceback (most recent call last):
    ...
    ValueError: 'grade 14' is not a grade level; use K, 1..12, PK, TK, a CEDS code such as KG or 05, or a range such as K-5
    """
    if isinstance(value, GradeLevel):
        return value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is not a grade level; {GRADE_HINT}")
    text = str(value).strip()
    try:
        return GradeLevel(text)
    except ValueError:
        pass
    lowered = text.lower()
    if lowered in _GRADE_WORDS:
        return _GRADE_WORDS[lowered]
    match = _ORDINAL.match(lowered)
    if match and 1 <= int(match.group(1)) <= 12:
        return GradeLevel(f"{int(match.group(1)):02d}")
    raise ValueError(f"{value!r} is not a grade level; {GRADE_HINT}")


_RANGE = re.compile(r"\s*([^-\s]+(?:\s[^-\s]+)?)\s*-\s*([^-\s]+(?:\s[^-\s]+)?)\s*")


def expand_grade(item: object) -> list[GradeLevel]:
    """One grade, or the grades of a range such as ``K-5`` or ``6th - 8th``.

    Examples
    --------
    >>> [g.label for g in expand_grade("Pre-K")], [g.label for g in expand_grade("K-2")]
    (['PK'], ['K', '1', '2'])
    >>> expand_grade("5-K")
    Traceback (most recent call last):
    ...
    ValueError: '5-K' is a backwards range; write the lower grade first
    """
    try:
        return [parse_grade(item)]
    except ValueError:
        match = _RANGE.fullmatch(item) if isinstance(item, str) else None
        if match is None:
            raise
    low, high = parse_grade(match.group(1)), parse_grade(match.group(2))
    if low.order > high.order:
        raise ValueError(f"{item!r} is a backwards range; write the lower grade first")
    return [g for g in GradeLevel if low.order <= g.order <= high.order]


def parse_grades(value: object) -> tuple[GradeLevel, ...]:
    """Read a list or range of grades, sorted in school order without repeats.

    Examples
    --------
    >>> [g.label for g in parse_grades("K-3")]
    ['K', '1', '2', '3']
    >>> [g.label for g in parse_grades(["9", "10th", "Grade 9"])]
    ['9', '10']
    >>> [g.label for g in parse_grades("6, 7, 8")]
    ['6', '7', '8']
    """
    items: list[object]
    if isinstance(value, str):
        items = [part for part in re.split(r"[,;]", value) if part.strip()]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        items = [value]
    grades: set[GradeLevel] = set()
    for item in items:
        grades.update(expand_grade(item))
    return tuple(sorted(grades, key=lambda g: g.order))


class Subject(DescribedEnum):
    """Subject areas, coarse enough to compare tools across schools (after SCED's areas)."""

    ELA = "ela"
    MATH = "math"
    SCIENCE = "science"
    SOCIAL_STUDIES = "social_studies"
    WORLD_LANGUAGES = "world_languages"
    ENGLISH_LANGUAGE_DEVELOPMENT = "eld"
    ARTS = "arts"
    MUSIC = "music"
    PHYSICAL_EDUCATION = "physical_education"
    HEALTH = "health"
    COMPUTER_SCIENCE = "computer_science"
    CAREER_TECHNICAL = "career_technical"
    SOCIAL_EMOTIONAL = "social_emotional"
    STUDY_SKILLS = "study_skills"
    ALL = "all"

    __descriptions__: ClassVar[dict[str, str]] = {
        "ela": "English language arts: reading, writing, literacy.",
        "math": "Mathematics.",
        "science": "Science, including engineering.",
        "social_studies": "History, civics, geography, economics.",
        "world_languages": "Languages other than English.",
        "eld": "English language development for multilingual learners.",
        "arts": "Visual and performing arts.",
        "music": "Music.",
        "physical_education": "Physical education.",
        "health": "Health.",
        "computer_science": "Computer science and coding.",
        "career_technical": "Career and technical education.",
        "social_emotional": "Social-emotional learning.",
        "study_skills": "Study skills, advisory, college and career readiness.",
        "all": "Every subject (general-purpose tools such as an LMS).",
    }


class SchoolType(DescribedEnum):
    """The kind of school, by the grades it serves."""

    ELEMENTARY = "elementary"
    MIDDLE = "middle"
    HIGH = "high"
    K8 = "k8"
    K12 = "k12"
    EARLY_CHILDHOOD = "early_childhood"
    ALTERNATIVE = "alternative"
    VIRTUAL = "virtual"
    OTHER = "other"

    __descriptions__: ClassVar[dict[str, str]] = {
        "elementary": "Elementary school (typically PK/K to 5).",
        "middle": "Middle school (typically 6 to 8).",
        "high": "High school (typically 9 to 12).",
        "k8": "K-8 school.",
        "k12": "K-12 school.",
        "early_childhood": "Early childhood centre.",
        "alternative": "Alternative programme.",
        "virtual": "Virtual or online school.",
        "other": "Other.",
    }


class ToolStatus(DescribedEnum):
    """Where a tool is in its life at the district."""

    ACTIVE = "active"
    PILOT = "pilot"
    RETIRING = "retiring"
    RETIRED = "retired"
    UNDER_REVIEW = "under_review"

    __descriptions__: ClassVar[dict[str, str]] = {
        "active": "In use and supported.",
        "pilot": "Being tried at some schools.",
        "retiring": "Being phased out; do not expand.",
        "retired": "No longer in use; kept for the record.",
        "under_review": "Requested or discovered; not yet approved.",
    }


class LicenceUnit(DescribedEnum):
    """What one licensed seat covers."""

    STUDENT = "student"
    TEACHER = "teacher"
    USER = "user"
    CLASSROOM = "classroom"
    SCHOOL = "school"
    DISTRICT = "district"
    FREE = "free"

    __descriptions__: ClassVar[dict[str, str]] = {
        "student": "Per student.",
        "teacher": "Per teacher.",
        "user": "Per named user of any role.",
        "classroom": "Per classroom or section.",
        "school": "A site licence per school.",
        "district": "One district-wide licence.",
        "free": "No cost.",
    }


class LicencePeriod(DescribedEnum):
    """How long one payment of `cost` covers."""

    ANNUAL = "annual"
    MONTHLY = "monthly"
    MULTI_YEAR = "multi_year"
    PERPETUAL = "perpetual"

    __descriptions__: ClassVar[dict[str, str]] = {
        "annual": "One school or fiscal year.",
        "monthly": "One month.",
        "multi_year": "Several years, from `start` to `renewal_date`.",
        "perpetual": "Paid once.",
    }


class DpaStatus(DescribedEnum):
    """State of the data privacy agreement (DPA) with the vendor."""

    SIGNED = "signed"
    PENDING = "pending"
    EXPIRED = "expired"
    DECLINED = "declined"
    NONE = "none"
    NOT_REQUIRED = "not_required"

    __descriptions__: ClassVar[dict[str, str]] = {
        "signed": "Signed by both parties; check `expires`.",
        "pending": "Sent, not yet signed.",
        "expired": "Was signed, has lapsed.",
        "declined": "The vendor refused to sign.",
        "none": "No agreement exists.",
        "not_required": "The tool receives no student data (say why in `notes`).",
    }


class DataElement(DescribedEnum):
    """Data-element categories after the SDPC National DPA Exhibit B."""

    STUDENT_NAME = "student_name"
    STUDENT_ID = "student_id"
    CONTACT = "contact"
    DEMOGRAPHICS = "demographics"
    ENROLLMENT = "enrollment"
    SCHEDULE = "schedule"
    ASSESSMENT = "assessment"
    GRADES = "grades"
    ATTENDANCE = "attendance"
    CONDUCT = "conduct"
    SPECIAL_INDICATORS = "special_indicators"
    HEALTH = "health"
    STUDENT_WORK = "student_work"
    USAGE = "usage"
    DEVICE = "device"
    PARENT_CONTACT = "parent_contact"
    STAFF_DATA = "staff_data"
    CREDENTIALS = "credentials"
    OTHER = "other"

    __descriptions__: ClassVar[dict[str, str]] = {
        "student_name": "Student first, last or preferred names.",
        "student_id": "Local, state or vendor student identifiers.",
        "contact": "Student address, e-mail, phone.",
        "demographics": "Birth date, gender, ethnicity, language.",
        "enrollment": "School, grade, homeroom, programme membership.",
        "schedule": "Courses, sections and teachers.",
        "assessment": "Test scores and results.",
        "grades": "Course grades and transcripts.",
        "attendance": "Attendance records.",
        "conduct": "Discipline and behaviour.",
        "special_indicators": "IEP, 504, ELL, low-income, other programme flags.",
        "health": "Medical and health records.",
        "student_work": "Essays, projects, recordings and other work.",
        "usage": "Application use, logins, clickstream.",
        "device": "IP addresses, device identifiers, location.",
        "parent_contact": "Parent or guardian names and contact details.",
        "staff_data": "Teacher and staff information.",
        "credentials": "Usernames and passwords.",
        "other": "Anything else; describe in the flow's `description`.",
    }

    @property
    def is_student_pii(self) -> bool:
        """True when the element identifies or describes a student.

        Examples
        --------
        >>> DataElement.STUDENT_NAME.is_student_pii, DataElement.STAFF_DATA.is_student_pii
        (True, False)
        """
        return self not in {DataElement.STAFF_DATA, DataElement.OTHER}


class RosteringMethod(DescribedEnum):
    """How a tool learns who its users and classes are."""

    NONE = "none"
    MANUAL = "manual"
    CSV_UPLOAD = "csv_upload"
    ONEROSTER_CSV = "oneroster_csv"
    ONEROSTER_API = "oneroster_api"
    CLEVER = "clever"
    CLASSLINK = "classlink"
    GOOGLE_CLASSROOM = "google_classroom"
    LTI = "lti"
    SIS_INTEGRATION = "sis_integration"

    __descriptions__: ClassVar[dict[str, str]] = {
        "none": "No rostering: anonymous or self-sign-up.",
        "manual": "Teachers or staff type users in.",
        "csv_upload": "A vendor-specific CSV upload.",
        "oneroster_csv": "OneRoster CSV bundles (SFTP or upload).",
        "oneroster_api": "OneRoster REST API.",
        "clever": "Clever Secure Sync.",
        "classlink": "ClassLink Roster Server.",
        "google_classroom": "Imported from Google Classroom.",
        "lti": "Created on first LTI launch (LTI Advantage NRPS).",
        "sis_integration": "A direct, vendor-built SIS integration.",
    }


class SsoMethod(DescribedEnum):
    """How users sign in to a tool."""

    NONE = "none"
    PASSWORD = "password"
    GOOGLE = "google"
    MICROSOFT = "microsoft"
    CLEVER = "clever"
    CLASSLINK = "classlink"
    SAML = "saml"
    OIDC = "oidc"
    LTI = "lti"

    __descriptions__: ClassVar[dict[str, str]] = {
        "none": "No sign-in.",
        "password": "A separate username and password for this tool.",
        "google": "Sign in with Google.",
        "microsoft": "Sign in with Microsoft.",
        "clever": "Clever Instant Login.",
        "classlink": "ClassLink LaunchPad.",
        "saml": "SAML 2.0 with the district's identity provider.",
        "oidc": "OpenID Connect with the district's identity provider.",
        "lti": "Launched from the LMS with LTI.",
    }


class FlowMechanism(DescribedEnum):
    """How data moves along a data flow."""

    API = "api"
    ONEROSTER_CSV = "oneroster_csv"
    ONEROSTER_API = "oneroster_api"
    SFTP = "sftp"
    CSV_EXPORT = "csv_export"
    LTI = "lti"
    SSO = "sso"
    WEBHOOK = "webhook"
    MANUAL = "manual"
    OTHER = "other"

    __descriptions__: ClassVar[dict[str, str]] = {
        "api": "A vendor API call.",
        "oneroster_csv": "OneRoster CSV bundle.",
        "oneroster_api": "OneRoster REST API.",
        "sftp": "Files over SFTP.",
        "csv_export": "A CSV export moved by a person or a script.",
        "lti": "LTI launch or LTI Advantage services (grades, rosters).",
        "sso": "Identity attributes passed at sign-in (SAML/OIDC claims).",
        "webhook": "Event push from one system to another.",
        "manual": "A person re-types or uploads the data.",
        "other": "Anything else; describe it.",
    }
