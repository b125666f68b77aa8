"""Course names to subject and grade: a table of real-looking names, and properties.

The table's expectations are written by hand; the properties check what must hold for any text
(no crash, period numbers never become grades, case does not matter, stated grades win).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edtech_map.model import GradeLevel, Subject
from edtech_map.subject_mapping import RULES, Confidence, map_course

ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", **{n: f"{n}th" for n in range(4, 13)}}
SUBJECT_WORDS = {  # one plain word per subject, each the whole name of its subject
    "Math": Subject.MATH,
    "Science": Subject.SCIENCE,
    "Reading": Subject.ELA,
    "Social Studies": Subject.SOCIAL_STUDIES,
    "Spanish": Subject.WORLD_LANGUAGES,
    "Music": Subject.MUSIC,
    "Art": Subject.ARTS,
    "Health": Subject.HEALTH,
    "Coding": Subject.COMPUTER_SCIENCE,
}


@pytest.mark.parametrize(
    ("texts", "subjects", "grades", "confidence"),
    [
        (("Algebra I - Period 3",), {"math"}, {"09"}, "low"),
        (("7th Grade Science",), {"science"}, {"07"}, "high"),
        (("Grade 5 ELA",), {"ela"}, {"05"}, "high"),
        (("English 9", "Period 2"), {"ela"}, {"09"}, "medium"),
        (("Math 7 P2",), {"math"}, {"07"}, "medium"),
        (("K-2 Reading",), {"ela"}, {"KG", "01", "02"}, "medium"),
        (("Science", "Grades 6-8"), {"science"}, {"06", "07", "08"}, "high"),
        (("AP Biology",), {"science"}, {"11", "12"}, "low"),
        (("Geometry Honors", "Block 4"), {"math"}, {"10"}, "low"),
        (("Computer Science Principles",), {"computer_science"}, set(), "high"),
        (("ESL Newcomers",), {"eld"}, set(), "high"),
        (("English Language Development 3rd grade",), {"eld"}, {"03"}, "high"),
        (("Spanish II",), {"world_languages"}, set(), "high"),
        (("Ceramics 2",), {"arts"}, set(), "high"),
        (("Physical Education 3rd Period",), {"physical_education"}, set(), "high"),
        (("Math Period 1-2",), {"math"}, set(), "high"),
        (("Biology 2024-2025",), {"science"}, {"09"}, "low"),
        (("6th Grade Math & Science",), {"math", "science"}, {"06"}, "medium"),
        (("Kindergarten",), set(), {"KG"}, "high"),
        (("Mrs. Rivera's Homeroom 2024-25", "Room 12"), {"study_skills"}, set(), "high"),
        (("Section 4", None, ""), set(), set(), "none"),
        (("Test Course 1",), set(), set(), "none"),
    ],
)
def test_course_names_map_to_subjects_and_grades(
    texts: tuple[str | None, ...], subjects: set[str], grades: set[str], confidence: str
) -> None:
    mapping = map_course(*texts)
    assert {s.value for s in mapping.subjects} == subjects
    assert {g.value for g in mapping.grades} == grades
    assert mapping.confidence.value == confidence
    assert mapping.found == bool(subjects or grades)


def test_every_rule_compiles_and_every_subject_but_all_has_a_rule() -> None:
    assert all(rule.regex.pattern for rule in RULES)
    assert {rule.subject for rule in RULES} >= set(Subject) - {Subject.ALL}


@given(st.text(max_size=80), st.text(max_size=40))
def test_any_text_maps_without_error_to_known_values(name: str, section: str) -> None:
    mapping = map_course(name, section)
    assert set(mapping.subjects) <= set(Subject)
    assert set(mapping.grades) <= set(GradeLevel)
    assert mapping.confidence in set(Confidence)
    assert mapping.found == (mapping.confidence is not Confidence.NONE)
    assert list(mapping.grades) == sorted(mapping.grades, key=lambda g: g.order)


@given(
    st.sampled_from(sorted(SUBJECT_WORDS)),
    st.integers(1, 12),
    st.sampled_from(["Period", "Per.", "Pd", "P", "Block", "Section", "Hour", "Room"]),
    st.integers(1, 12),
)
def test_a_stated_grade_wins_and_period_numbers_are_never_grades(
    word: str, grade: int, label: str, period: int
) -> None:
    mapping = map_course(f"{ORDINALS[grade]} Grade {word} - {label} {period}")
    assert mapping.subjects == (SUBJECT_WORDS[word],)
    assert mapping.grades == (GradeLevel(f"{grade:02d}"),)
    assert mapping.confidence is Confidence.HIGH


@given(st.sampled_from(sorted(SUBJECT_WORDS)), st.integers(1, 12))
def test_case_does_not_matter(word: str, grade: int) -> None:
    text = f"Grade {grade} {word}"
    assert map_course(text.upper()) == map_course(text.lower()) == map_course(text)


@given(st.sampled_from(sorted(SUBJECT_WORDS)), st.integers(2000, 2040))
def test_school_years_are_never_grades(word: str, year: int) -> None:
    mapping = map_course(f"{word} {year}-{(year + 1) % 100:02d}")
    assert mapping.grades == ()
