"""Usage, overlap and coverage rules on small hand-built graphs: one positive, one negative.

Graphs carry aggregates the way :meth:`edtech_map.aggregates.Aggregates.attach` puts them;
expected findings are worked out by hand from the numbers in each test.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest

from edtech_map.analyses import (
    consistency,
    coverage,
    discovery,
    fidelity,
    overlaps,
    privacy,
    teacher_only,
    time_of_use,
    utilisation,
)
from edtech_map.analyses.engine import AnalysisError
from edtech_map.analyses.findings import Finding

WINDOW = {"observed_start": "2026-11-02", "observed_end": "2026-11-15", "weeks": 2.0}


def usage_graph(**graph: Any) -> nx.MultiDiGraph[str]:
    G: nx.MultiDiGraph[str] = nx.MultiDiGraph(
        usage=WINDOW, as_of="2026-11-23", min_cell_size=5, **graph
    )
    for school, grades in (("es", ["3", "4"]), ("es2", ["3", "4"]), ("ms", ["7"])):
        G.add_node(school, kind="school", label=school.upper(), grades=grades)
    return G


def add_tool(G: nx.MultiDiGraph[str], tool: str, schools: list[str], **data: Any) -> None:
    G.add_node(tool, **{"kind": "tool", "label": tool.title(), "status": "active", **data})
    for school in schools:
        G.add_edge(tool, school, key="used_at", kind="used_at")


def keys(findings: list[Finding]) -> set[str]:
    return {f.key for f in findings}


def role(n: int, **more: Any) -> dict[str, Any]:
    return {"active_users": n, "events": n * 3, "minutes": n * 10.0, "active_days": n, **more}


def test_teacher_only_per_school_and_small_student_counts_are_suppressed() -> None:
    G = usage_graph()
    add_tool(
        G,
        "spark",
        ["es", "es2"],
        audience=["students"],
        usage_by_school={
            "es": {"teacher": role(10), "student": role(0)},
            "es2": {"teacher": role(10), "student": role(40)},
        },
    )
    add_tool(G, "plan", ["es"], audience=["teachers"], usage_by_school={"es": {"teacher": role(9)}})
    add_tool(
        G,
        "few",
        ["es"],
        audience=["students"],
        usage_by_school={"es": {"teacher": role(60), "student": role(2)}},
    )
    found = teacher_only.teacher_only_usage(G)
    # spark at es: 0 of 10 (share 0); at es2: 40 of 50. few at es: 2 of 62 = 0.032 <= 0.05.
    assert keys(found) == {"EM-TCH-001:es,spark", "EM-TCH-001:es,few"}
    few = next(f for f in found if "few" in f.subjects)
    assert few.evidence["active_students"] == "<5" and "<5 students" in few.message
    assert keys(teacher_only.teacher_only_usage(G, min_teachers=11)) == {"EM-TCH-001:es,few"}


def test_student_initiated_share_is_skipped_without_initiated_data() -> None:
    G = usage_graph()
    add_tool(G, "q", ["es"], audience=["students"])
    with pytest.raises(AnalysisError, match="initiated_by"):
        teacher_only.student_initiated_share(G)
    G.nodes["q"]["initiated"] = {
        "es": {"student": 4, "assigned": 96},
        "es2": {"student": 30, "assigned": 70},
    }
    assert keys(teacher_only.student_initiated_share(G)) == {"EM-TCH-002:es,q"}


def test_never_used_only_paid_identifiable_tools() -> None:
    G = usage_graph()
    add_tool(G, "idle", [], licence_unit="student", licence_seats=100, licence_cost=900.0)
    add_tool(G, "free", [], licence_unit="free")
    add_tool(G, "blind", [], licence_unit="district", licence_cost=50.0, has_identifiers=False)
    add_tool(G, "busy", [], licence_unit="district", licence_cost=50.0, usage={"teacher": role(1)})
    assert keys(utilisation.never_used(G)) == {"EM-USE-001:idle"}


def test_licence_utilisation_by_seat_role() -> None:
    G = usage_graph()
    add_tool(
        G,
        "stud",
        [],
        licence_unit="student",
        licence_seats=100,
        licence_cost=1000.0,
        usage={"student": role(19), "teacher": role(50)},
    )  # 19% of student seats
    add_tool(
        G,
        "teach",
        [],
        licence_unit="teacher",
        licence_seats=10,
        licence_cost=100.0,
        usage={"teacher": role(2), "student": role(500)},
    )  # 20%: not below 0.2
    add_tool(
        G,
        "users",
        [],
        licence_unit="user",
        licence_seats=100,
        licence_cost=100.0,
        usage={"teacher": role(10), "student": role(9)},
    )  # 19%
    found = utilisation.licence_utilisation(G)
    assert keys(found) == {"EM-USE-002:stud", "EM-USE-002:users"}
    stud = next(f for f in found if f.subjects == ("stud",))
    assert stud.evidence["cost_per_active_student"] == round(1000 / 19, 2)


def test_renewal_with_low_use_within_the_window_only() -> None:
    G = usage_graph()
    add_tool(
        G,
        "soon",
        [],
        licence_unit="student",
        licence_seats=100,
        licence_cost=10.0,
        renewal_date="2027-01-01",
        usage={"student": role(49)},
    )
    add_tool(
        G,
        "used",
        [],
        licence_unit="student",
        licence_seats=100,
        licence_cost=10.0,
        renewal_date="2027-01-01",
        usage={"student": role(50)},
    )
    add_tool(
        G,
        "later",
        [],
        licence_unit="student",
        licence_seats=100,
        licence_cost=10.0,
        renewal_date="2027-06-30",
        usage={},
    )
    assert keys(utilisation.renewal_low_use(G)) == {"EM-USE-003:soon"}


def test_lms_binder_on_a_shelf_uses_whole_weeks_and_roster_enrolment() -> None:
    G = usage_graph(roster={"schools": 2}, enrolled={"es": {"3": 50, "4": 50}, "ms": {"7": 80}})
    weekly = {"es": {"2026-W45": {"student": role(20)}, "2026-W46": {"student": role(30)}}}
    add_tool(G, "lms", ["es"], category="lms", grades=[], weekly=weekly)  # 25 of 100 a week
    add_tool(
        G,
        "lms2",
        ["ms"],
        category="lms",
        grades=["7"],
        weekly={"ms": {"2026-W45": {"student": role(70)}, "2026-W46": {"student": role(70)}}},
    )
    assert keys(utilisation.lms_binder_on_a_shelf(G)) == {"EM-USE-004:lms"}
    del G.graph["roster"]
    with pytest.raises(AnalysisError, match="roster"):
        utilisation.lms_binder_on_a_shelf(G)


def test_overlaps_by_inventory_and_in_use() -> None:
    G = usage_graph()
    for tool, students in (("a", 30), ("b", 3), ("c", 30)):
        add_tool(
            G,
            tool,
            ["es"],
            learning_tasks=["practice"],
            subjects=["math"],
            grades=["3"],
            licence_cost=100.0,
            usage_by_school={"es": {"student": role(students)}},
        )
    add_tool(G, "lms", ["es"], learning_tasks=["practice"], subjects=["all"], grades=[])
    add_tool(G, "other", ["es2"], learning_tasks=["practice"], subjects=["math"], grades=["3"])
    found = overlaps.inventory_overlaps(G)
    assert keys(found) == {"EM-OVL-001:a,b,c,es"}
    assert found[0].evidence["annual_cost"] == 300.0
    assert keys(overlaps.overlaps_in_use(G)) == {"EM-OVL-002:a,c,es"}


def test_peer_gaps_and_core_tasks() -> None:
    G = usage_graph()
    add_tool(G, "drill", ["es"], learning_tasks=["practice"], subjects=["math"], grades=["3", "4"])
    add_tool(
        G,
        "quiz",
        ["es", "es2"],
        learning_tasks=["assessment"],
        subjects=["math"],
        grades=["3", "4", "7"],
    )
    # es2 lacks practice/math 3-4, which es has; ms (grade 7) has no peer with grade 7.
    # One finding per school and task; the subjects and grades are its evidence.
    (gap,) = coverage.coverage_gaps(G)
    assert gap.key == "EM-GAP-001:es2,practice"
    assert (gap.evidence["gaps"], gap.evidence["cells"], gap.evidence["peer_schools"]) == (
        "math:3,4",
        2,
        1,
    )
    with_core = coverage.coverage_gaps(G, core_tasks="assessment")
    assert keys(with_core) == {"EM-GAP-001:es2,practice"}  # ms has no math tool at all
    G.graph.update(
        roster={"schools": 3},
        roster_cells=[
            {"school": "es", "grade": "3", "subject": "math", "classes": 2, "students": 40},
            {"school": "ms", "grade": "7", "subject": "math", "classes": 2, "students": 40},
        ],
    )
    assert keys(coverage.coverage_gaps(G, core_tasks="assessment")) == {"EM-GAP-001:assessment,ms"}
    # With es2 in the roster teaching only grade 3 maths, its gap narrows to grade 3.
    G.graph["roster_cells"].append(
        {"school": "es2", "grade": "3", "subject": "math", "classes": 1, "students": 20}
    )
    (gap,) = [f for f in coverage.coverage_gaps(G) if "es2" in f.subjects]
    assert gap.evidence["gaps"] == "math:3"
    with pytest.raises(AnalysisError, match="learning task"):
        coverage.coverage_gaps(G, core_tasks="homework")


def test_schools_without_student_tools() -> None:
    G = usage_graph()
    add_tool(G, "app", ["es", "es2"], audience=["students"])
    add_tool(G, "old", ["ms"], audience=["students"], status="retired")
    assert keys(coverage.schools_without_student_tools(G)) == {"EM-GAP-002:ms"}


def test_unknown_tools_are_ranked_by_students() -> None:
    G = usage_graph(
        unmatched_apps=[
            {
                "identifier": "b.example",
                "students": 3,
                "teachers": 0,
                "users": 3,
                "events": 9,
                "schools": 1,
            },
            {
                "identifier": "a.example",
                "students": 30,
                "teachers": 1,
                "users": 31,
                "events": 90,
                "schools": 2,
            },
            {
                "identifier": "staff.example",
                "students": 0,
                "teachers": 0,
                "users": 0,
                "events": 1,
                "schools": 0,
            },
        ]
    )
    found = discovery.unknown_tools(G)
    assert {f.subjects[0]: f.evidence["rank"] for f in found} == {"a.example": 1, "b.example": 2}
    assert next(f for f in found if f.subjects == ("b.example",)).evidence["students"] == "<5"


def test_fidelity_against_recommended_minutes() -> None:
    G = usage_graph()
    week = {"student": {"active_users": 10, "minutes": 200.0, "active_days": 10}}  # 20 min/wk
    add_tool(
        G,
        "m",
        ["es"],
        recommended_minutes=60.0,
        weekly={"es": {"2026-W45": week, "2026-W46": week}},
    )
    add_tool(
        G,
        "n",
        ["es"],
        recommended_minutes=30.0,
        weekly={"es": {"2026-W45": week, "2026-W46": week}},
    )
    assert keys(fidelity.below_recommended_use(G)) == {"EM-FID-001:es,m"}
    assert fidelity.below_recommended_use(G, min_students=11) == []
    # grade 3: 6 students, 120 min (20 a week); grade 4: 4 students, 160 min (40 a week)
    G.nodes["m"]["weekly_by_grade"] = {
        "es": {
            "3": {"2026-W45": {"active_users": 6, "minutes": 120.0, "active_days": 6}},
            "4": {"2026-W45": {"active_users": 4, "minutes": 160.0, "active_days": 4}},
        }
    }
    (finding,) = fidelity.below_recommended_use(G)
    assert finding.evidence["grades_below"] == "3"


def test_time_of_use_leaves_day_only_events_out() -> None:
    G = usage_graph()
    add_tool(G, "home", ["es"], hours={"es": {"school_hours": 40, "evening": 50, "weekend": 10}})
    add_tool(G, "csv", ["es"], hours={"es": {"day_only": 900, "school_hours": 10, "weekend": 5}})
    assert keys(time_of_use.out_of_school_use(G)) == {"EM-TIM-001:es,home"}


def test_uneven_adoption_counts_only_schools_serving_the_grades() -> None:
    G = usage_graph()
    used = {"es": {"student": role(20)}}
    add_tool(
        G,
        "wide",
        ["es", "es2", "ms"],
        audience=["students"],
        grades=["3", "4", "7"],
        usage_by_school=used,
    )  # 1 of 3
    add_tool(
        G,
        "elem",
        ["es", "es2", "ms"],
        audience=["students"],
        grades=["3"],
        usage_by_school={**used, "es2": {"teacher": role(1)}},
    )  # 2 of 2 (ms has no grade 3)
    assert keys(consistency.uneven_adoption(G)) == {"EM-CON-001:wide"}


def test_students_using_a_tool_without_privacy_record() -> None:
    G = usage_graph()
    add_tool(G, "x", [], dpa_status="missing", usage={"student": role(3)})
    add_tool(G, "y", [], dpa_status="signed", usage={"student": role(300)})
    add_tool(G, "z", [], dpa_status="missing", usage={"teacher": role(3)})
    found = privacy.student_use_without_privacy_record(G)
    assert keys(found) == {"EM-DPA-006:x"}
    assert found[0].evidence["active_students"] == "<5"


@pytest.mark.parametrize(
    "function",
    [
        teacher_only.teacher_only_usage,
        utilisation.never_used,
        utilisation.licence_utilisation,
        utilisation.renewal_low_use,
        overlaps.overlaps_in_use,
        discovery.unknown_tools,
        fidelity.below_recommended_use,
        time_of_use.out_of_school_use,
        consistency.uneven_adoption,
        privacy.student_use_without_privacy_record,
    ],
)
def test_usage_rules_refuse_a_graph_without_usage(function: Any) -> None:
    with pytest.raises(AnalysisError, match="no usage data"):
        function(nx.MultiDiGraph())
