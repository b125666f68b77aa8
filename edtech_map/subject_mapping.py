"""Free-text course and section names to a subject and grade level, with a confidence.

LMS courses (Google Classroom, Canvas, Schoology) have no subject or grade field, only what a
teacher typed: ``"Algebra I - Period 3"``, ``"7th Grade Science"``, ``"AP Bio (Gr 11/12)"``.
:func:`map_course` reads them with a table of rules, so a district can see which subjects and
grades its courses serve without trusting a guess more than it deserves:

- ``high``: the text says it (``7th Grade``, ``Grade 7``, ``Science``).
- ``medium``: a number beside a subject (``English 9``, ``Math 7``), a short form (``ELA``,
  ``Sci``), or more than one subject at once.
- ``low``: the grade is only the one the course is usually taken in (``Algebra I`` -> 9).

Period, block, section and hour numbers (``Period 3``, ``P3``, ``Blk 2``) and school years
(``2024-25``) are never read as grades. Rules are tried most specific first and each consumes
the words it matched, so ``Computer Science`` is not also ``Science`` and ``English Language
Development`` is not also ``English``.

Examples
--------
>>> m = map_course("Algebra I - Period 3")
>>> m.subjects, m.grades, m.confidence
((<Subject.MATH: 'math'>,), (<GradeLevel.G09: '09'>,), <Confidence.LOW: 'low'>)
>>> m = map_course("7th Grade Science")
>>> [s.value for s in m.subjects], [g.value for g in m.grades], m.confidence.value
(['science'], ['07'], 'high')
>>> map_course("Mrs. Rivera's Homeroom 2024-25", "Room 12").subjects
(<Subject.STUDY_SKILLS: 'study_skills'>,)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from edtech_map.model.vocab import GradeLevel, Subject, expand_grade

__all__ = ["RULES", "Confidence", "CourseMapping", "SubjectRule", "map_course"]


class Confidence(StrEnum):
    """How sure a mapping is, from the words that gave it (ordered: none < low < ... < high)."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """Position in order, ``none`` = 0.

        Examples
        --------
        >>> Confidence.LOW.rank < Confidence.HIGH.rank
        True
        """
        return list(Confidence).index(self)


H, M, L = Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW


@dataclass(frozen=True)
class SubjectRule:
    """One row of the table: a pattern, its subject, and the grades a course of it usually has.

    ``grades`` are typical, not stated, so they come with ``grade_confidence`` (low unless the
    pattern itself names the grade).

    Examples
    --------
    >>> rule = SubjectRule("geometry", r"geometry|geom", Subject.MATH, grades=("10",))
    >>> bool(rule.regex.search("Honors GEOMETRY")), bool(rule.regex.search("geometric"))
    (True, False)
    """

    name: str
    pattern: str
    subject: Subject | None
    confidence: Confidence = H
    grades: tuple[str, ...] = ()
    grade_confidence: Confidence = L

    @property
    def regex(self) -> re.Pattern[str]:
        """The compiled, case-insensitive, word-bounded pattern."""
        return _compile(self.pattern)


_ONE = r"(?:1|i)"
_TWO = r"(?:2|ii)"
_THREE = r"(?:3|iii)"

#: The rules, most specific first. Each consumes what it matched.
RULES: tuple[SubjectRule, ...] = (
    # English language development before English
    SubjectRule(
        "eld",
        r"english language development|e\.?l\.?d|e\.?s\.?l|e\.?l\.?l|"
        r"english (?:as a )?second language|newcomers?",
        Subject.ENGLISH_LANGUAGE_DEVELOPMENT,
    ),
    # computer science before science
    SubjectRule(
        "computer science",
        r"(?:ap )?computer science(?: principles| a)?|comp ?sci|"
        r"coding|programming|robotics|cs ?principles",
        Subject.COMPUTER_SCIENCE,
    ),
    SubjectRule(
        "social emotional", r"social[- ]emotional(?: learning)?|sel", Subject.SOCIAL_EMOTIONAL
    ),
    SubjectRule(
        "social studies",
        r"social studies|soc(?:ial)? ?st(?:udies)?|ss",
        Subject.SOCIAL_STUDIES,
        confidence=H,
    ),
    # mathematics courses with a usual grade
    SubjectRule("pre-algebra", r"pre-? ?algebra", Subject.MATH, grades=("08",)),
    SubjectRule("algebra i", rf"algebra {_ONE}|alg\.? ?{_ONE}", Subject.MATH, grades=("09",)),
    SubjectRule("algebra ii", rf"algebra {_TWO}|alg\.? ?{_TWO}", Subject.MATH, grades=("11",)),
    SubjectRule("geometry", r"(?:honors )?geometry|geom", Subject.MATH, grades=("10",)),
    SubjectRule("precalculus", r"pre-? ?calc(?:ulus)?", Subject.MATH, grades=("11",)),
    SubjectRule("calculus", r"(?:ap )?calc(?:ulus)?(?: ab| bc)?", Subject.MATH, grades=("12",)),
    SubjectRule("statistics", r"(?:ap )?statistics|(?:ap )?stats", Subject.MATH, grades=("12",)),
    SubjectRule(
        "integrated math", rf"integrated math(?:ematics)? ?{_ONE}", Subject.MATH, grades=("09",)
    ),
    SubjectRule(
        "integrated math 2", rf"integrated math(?:ematics)? ?{_TWO}", Subject.MATH, grades=("10",)
    ),
    SubjectRule(
        "integrated math 3", rf"integrated math(?:ematics)? ?{_THREE}", Subject.MATH, grades=("11",)
    ),
    SubjectRule("algebra", r"algebra", Subject.MATH),
    SubjectRule("mathematics", r"math(?:ematics|s)?", Subject.MATH),
    # sciences with a usual grade
    SubjectRule("biology", r"(?:ap )?biology|(?:ap )?bio", Subject.SCIENCE, grades=("09",)),
    SubjectRule("chemistry", r"(?:ap )?chemistry|(?:ap )?chem", Subject.SCIENCE, grades=("10",)),
    SubjectRule("physics", r"(?:ap )?physics", Subject.SCIENCE, grades=("11",)),
    SubjectRule("earth science", r"earth (?:and space )?science", Subject.SCIENCE, grades=("08",)),
    SubjectRule("science", r"science|stem|steam", Subject.SCIENCE),
    SubjectRule("science short", r"sci", Subject.SCIENCE, confidence=M),
    # social studies with a usual grade
    SubjectRule(
        "us history",
        r"(?:ap )?(?:u\.?s\.?|united states|american) history|apush",
        Subject.SOCIAL_STUDIES,
        grades=("11",),
    ),
    SubjectRule("world history", r"(?:ap )?world history", Subject.SOCIAL_STUDIES, grades=("10",)),
    SubjectRule(
        "government",
        r"(?:ap )?(?:u\.?s\.? )?government|civics|gov",
        Subject.SOCIAL_STUDIES,
        grades=("12",),
    ),
    SubjectRule(
        "economics",
        r"(?:ap )?(?:micro|macro)?economics|econ",
        Subject.SOCIAL_STUDIES,
        grades=("12",),
    ),
    SubjectRule("history", r"history|geography|hist", Subject.SOCIAL_STUDIES),
    # English language arts
    SubjectRule(
        "english numbered", rf"english {_ONE}", Subject.ELA, grades=("09",), grade_confidence=M
    ),
    SubjectRule("english ii", rf"english {_TWO}", Subject.ELA, grades=("10",), grade_confidence=M),
    SubjectRule(
        "english iii", rf"english {_THREE}", Subject.ELA, grades=("11",), grade_confidence=M
    ),
    SubjectRule(
        "ap english",
        r"ap english(?: language| literature)?(?: and composition)?|"
        r"ap lang|ap lit",
        Subject.ELA,
        grades=("11", "12"),
    ),
    SubjectRule(
        "ela",
        r"english language arts|language arts|english|literature|reading|"
        r"writing|literacy|phonics|e\.?l\.?a",
        Subject.ELA,
    ),
    SubjectRule("ela short", r"l\.?a\.?|eng", Subject.ELA, confidence=M),
    # languages
    SubjectRule(
        "world languages",
        r"spanish|french|german|italian|latin|chinese|mandarin|"
        r"japanese|korean|arabic|russian|portuguese|american sign language|asl|"
        r"world languages?|foreign languages?",
        Subject.WORLD_LANGUAGES,
    ),
    # the rest
    SubjectRule("music", r"music|band|choir|chorus|orchestra|guitar|piano", Subject.MUSIC),
    SubjectRule(
        "arts",
        r"art|arts|visual arts?|drawing|painting|ceramics|sculpture|"
        r"photography|theat(?:er|re)|drama|dance",
        Subject.ARTS,
    ),
    SubjectRule(
        "physical education",
        r"physical education|p\.?e\.?|phys ?ed|gym|"
        r"fitness|athletics",
        Subject.PHYSICAL_EDUCATION,
    ),
    SubjectRule("health", r"health", Subject.HEALTH),
    SubjectRule(
        "career technical",
        r"cte|career(?: and)? technical|welding|culinary|"
        r"automotive|accounting|marketing|business|engineering design|"
        r"agriculture|nursing",
        Subject.CAREER_TECHNICAL,
    ),
    SubjectRule(
        "study skills",
        r"advisory|homeroom|study skills|study hall|avid|"
        r"college and career|seminar",
        Subject.STUDY_SKILLS,
    ),
)

# Grades the text states. Each yields the grade text to read (group "g", or "lo"/"hi").
_ORDINAL = r"(?:st|nd|rd|th)"
_STATED_GRADES: tuple[tuple[re.Pattern[str], Confidence], ...] = (
    (
        re.compile(
            rf"\b(?:grades?|gr\.?|grd\.?)\s*(?P<lo>k|\d{{1,2}}){_ORDINAL}?\s*"
            rf"(?:-|–|to|/|&|and)\s*(?P<hi>\d{{1,2}}){_ORDINAL}?\b",
            re.IGNORECASE,
        ),
        H,
    ),
    (
        re.compile(
            rf"\b(?P<lo>k|\d{{1,2}}){_ORDINAL}?\s*(?:-|–|to|/|&|and)\s*"
            rf"(?P<hi>\d{{1,2}}){_ORDINAL}\s*(?:grades?|gr)\b",
            re.IGNORECASE,
        ),
        H,
    ),
    (re.compile(r"\b(?:grade|gr\.?|grd\.?)\s*(?P<g>k|\d{1,2})\b", re.IGNORECASE), H),
    (re.compile(rf"\b(?P<g>\d{{1,2}}){_ORDINAL}\s*(?:grade|gr)\b", re.IGNORECASE), H),
    (re.compile(rf"\b(?P<g>\d{{1,2}}){_ORDINAL}\b", re.IGNORECASE), M),
    (re.compile(r"\b(?P<g>kindergarten|pre-?k|pre-?kindergarten|tk)\b", re.IGNORECASE), H),
    (
        re.compile(
            r"\b(?P<g>first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|"
            r"eleventh|twelfth)\s+grade\b",
            re.IGNORECASE,
        ),
        H,
    ),
    (re.compile(r"\b(?P<g>junior high)(?: school)?\b", re.IGNORECASE), L),
    (re.compile(r"\b(?P<g>freshman|sophomore|junior|senior)\b", re.IGNORECASE), M),
    (re.compile(r"\b(?P<lo>k|pk|\d{1,2})\s*(?:-|–)\s*(?P<hi>\d{1,2})\b", re.IGNORECASE), M),
    (re.compile(r"\b(?P<g>elementary|middle|high)(?: school)?\b", re.IGNORECASE), L),
)
# A bare number right after a subject word: "Math 7", "English 10", "Science 6".
_NUMBER_AFTER = re.compile(
    r"\s*[-:]?\s*(?P<g>k|\d{1,2})\b(?!\s*(?:st|nd|rd|th|-\d|/\d))", re.IGNORECASE
)
# Numbers that are never grades: periods, blocks, sections, rooms, years, codes.
_NOT_GRADES = re.compile(
    r"\b(?:period|per|pd|p|block|blk|b|section|sec|sect|hour|hr|room|rm|team|group|grp|"
    r"unit|semester|sem|quarter|qtr|q|term|t|day|lab|cohort|class|version|v)\.?\s*#?\s*\d+[a-z]?(?:\s*[-–&/,]\s*\d+[a-z]?)*\b|"
    r"\b\d{1,2}(?:st|nd|rd|th)\s*(?:period|per|pd|block|blk|hour|hr)\b|"
    r"\b(?:19|20)\d\d(?:\s*[-–/]\s*(?:19|20)?\d\d)?\b|#\s*\d+|\b[a-z]*\d{3,}[a-z]*\b",
    re.IGNORECASE,
)
_WORD_GRADES = {
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5", "sixth": "6",
    "seventh": "7", "eighth": "8", "ninth": "9", "tenth": "10", "eleventh": "11",
    "twelfth": "12", "freshman": "9", "sophomore": "10", "junior": "11", "senior": "12",
    "kindergarten": "K", "prek": "PK", "pre-k": "PK", "prekindergarten": "PK",
    "pre-kindergarten": "PK", "tk": "TK", "k": "K",
    "junior high": "7-8", "elementary": "K-5", "middle": "6-8", "high": "9-12",
}  # fmt: skip
#: Subjects whose courses are numbered by grade ("Math 7"); elsewhere a number is a level
#: ("Spanish 2", "Ceramics 2").
_NUMBERED_BY_GRADE = frozenset({Subject.MATH, Subject.ELA, Subject.SCIENCE, Subject.SOCIAL_STUDIES})
_AP = re.compile(r"\b(?:ap|advanced placement|ib)\b", re.IGNORECASE)


@dataclass(frozen=True)
class CourseMapping:
    """What :func:`map_course` found: subjects, grades, their confidences and the rules used.

    ``confidence`` is the weaker of the two confidences found (``none`` when nothing was).

    Examples
    --------
    >>> map_course("Ceramics 2").as_dict()
    {'subjects': ['arts'], 'grades': [], 'confidence': 'high', 'subject_confidence': 'high', \
'grade_confidence': 'none', 'rules': ['arts']}
    """

    subjects: tuple[Subject, ...] = ()
    grades: tuple[GradeLevel, ...] = ()
    subject_confidence: Confidence = Confidence.NONE
    grade_confidence: Confidence = Confidence.NONE
    rules: tuple[str, ...] = field(default=(), compare=False)

    @property
    def found(self) -> bool:
        """Whether a subject or a grade was found."""
        return bool(self.subjects or self.grades)

    @property
    def confidence(self) -> Confidence:
        """The weaker confidence of subject and grade, among those found."""
        found = [
            c
            for c, present in (
                (self.subject_confidence, self.subjects),
                (self.grade_confidence, self.grades),
            )
            if present
        ]
        return min(found, key=lambda c: c.rank) if found else Confidence.NONE

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for a store row's ``extensions`` JSON)."""
        return {
            "subjects": [s.value for s in self.subjects],
            "grades": [g.value for g in self.grades],
            "confidence": self.confidence.value,
            "subject_confidence": self.subject_confidence.value,
            "grade_confidence": self.grade_confidence.value,
            "rules": list(self.rules),
        }


def map_course(*texts: str | None) -> CourseMapping:
    """Read a subject and grade level from free-text course names, sections and headings.

    Texts are read together (``name``, ``section``, ``descriptionHeading``...); ``None`` and
    blanks are ignored. Stated grades win over typical ones; one subject found in several
    places is still one subject.

    Examples
    --------
    >>> m = map_course("English 9", "Period 2")
    >>> [s.value for s in m.subjects], [g.value for g in m.grades], m.confidence.value
    (['ela'], ['09'], 'medium')
    >>> m = map_course("Computer Science Principles")
    >>> [s.value for s in m.subjects], m.grades
    (['computer_science'], ())
    >>> [g.value for g in map_course("Science", "Grades 6-8").grades]
    ['06', '07', '08']
    >>> map_course("Section 4", None, "").found
    False
    """
    text = " ".join(t for t in texts if t and t.strip())
    text = re.sub(r"[_|•·]+", " ", text)
    masked = _NOT_GRADES.sub(_blank, text)
    subjects: dict[Subject, Confidence] = {}
    typical: dict[str, Confidence] = {}
    rules: list[str] = []
    stated_after_subject: dict[str, Confidence] = {}
    working = masked
    for rule in RULES:
        for match in rule.regex.finditer(working):
            if rule.subject is not None:
                best = subjects.get(rule.subject)
                if best is None or rule.confidence.rank > best.rank:
                    subjects[rule.subject] = rule.confidence
            for grade in rule.grades:
                if grade not in typical or rule.grade_confidence.rank > typical[grade].rank:
                    typical[grade] = rule.grade_confidence
            if rule.name not in rules:
                rules.append(rule.name)
            after = _NUMBER_AFTER.match(working, match.end())
            if after and not rule.grades and rule.subject in _NUMBERED_BY_GRADE:
                stated_after_subject[after.group("g")] = M
            working = (
                working[: match.start()]
                + " " * (match.end() - match.start())
                + working[match.end() :]
            )
    stated = _stated_grades(working)
    for value, confidence in stated_after_subject.items():
        for grade in _grades(value):
            stated.setdefault(grade, confidence)
    grades: dict[GradeLevel, Confidence] = {}
    if stated:
        grades = stated
    elif _AP.search(masked) and subjects:
        grades = {GradeLevel.G11: L, GradeLevel.G12: L}
        rules.append("advanced placement")
    else:
        for value, confidence in typical.items():
            for grade in _grades(value):
                grades[grade] = confidence
    subject_confidence = max(subjects.values(), key=lambda c: c.rank, default=Confidence.NONE)
    if len(subjects) > 1:
        subject_confidence = min(subject_confidence, M, key=lambda c: c.rank)
    grade_confidence = min(grades.values(), key=lambda c: c.rank, default=Confidence.NONE)
    return CourseMapping(
        subjects=tuple(sorted(subjects, key=list(Subject).index)),
        grades=tuple(sorted(grades, key=lambda g: g.order)),
        subject_confidence=subject_confidence,
        grade_confidence=grade_confidence,
        rules=tuple(rules),
    )


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group(0))


def _stated_grades(text: str) -> dict[GradeLevel, Confidence]:
    found: dict[GradeLevel, Confidence] = {}
    working = text
    for pattern, confidence in _STATED_GRADES:
        for match in pattern.finditer(working):
            groups = match.groupdict()
            if groups.get("g") is not None:
                values = _grades(groups["g"])
            else:
                values = _grades(f"{groups['lo']}-{groups['hi']}")
            for grade in values:
                if grade not in found or confidence.rank > found[grade].rank:
                    found[grade] = confidence
            working = (
                working[: match.start()]
                + " " * (match.end() - match.start())
                + working[match.end() :]
            )
    return found


def _grades(value: str) -> list[GradeLevel]:
    text = _WORD_GRADES.get(value.strip().lower(), value.strip())
    try:
        grades = expand_grade(text)
    except ValueError:
        return []
    return [g for g in grades if g in _SCHOOL_GRADES]


_SCHOOL_GRADES = frozenset(
    {GradeLevel.PK, GradeLevel.TK, GradeLevel.KG} | {GradeLevel(f"{n:02d}") for n in range(1, 13)}
)


def _compile(pattern: str) -> re.Pattern[str]:
    return _COMPILED.setdefault(
        pattern, re.compile(rf"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])", re.IGNORECASE)
    )


_COMPILED: dict[str, re.Pattern[str]] = {}
