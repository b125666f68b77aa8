"""The audit engine: registry, thresholds, waivers, skips and determinism."""

from __future__ import annotations

from datetime import date
from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edtech_map.analyses.engine import (
    RULES,
    AnalysisError,
    load_rules,
    requires_usage,
    rule,
    run_audit,
)
from edtech_map.analyses.findings import Finding, Severity
from edtech_map.model import Ecosystem

AS_OF = date(2026, 11, 23)


def ecosystem(**audit: Any) -> Ecosystem:
    return Ecosystem(
        district={"id": "d", "name": "D"},
        tools=[
            {"id": "orphan", "name": "Orphan", "category": "content"},
            {"id": "owned", "name": "Owned", "category": "content", "owner": "Lead"},
            {
                "id": "quiz",
                "name": "Quiz",
                "category": "assessment",
                "owner": "Lead",
                "audience": ["students"],
                "privacy": {"status": "pending"},
            },
        ],
        audit=audit,
    )


def test_every_rule_has_an_id_title_rationale_and_documented_thresholds() -> None:
    rules = load_rules()
    assert len(rules) >= 5
    for rule_id, spec in rules.items():
        assert spec.id == rule_id
        assert spec.title and spec.rationale
        assert set(spec.threshold_docs) == set(spec.thresholds), rule_id


def test_a_repeated_rule_id_is_rejected_at_registration() -> None:
    load_rules()
    with pytest.raises(ValueError, match="registered twice"):
        rule("EM-OWN-001", severity=Severity.INFO, title="again")(lambda G: [])


def test_findings_come_back_sorted_and_waived_ones_move_to_waived() -> None:
    eco = ecosystem(
        waivers=[
            {"rule": "EM-DPA-002", "subject": "quiz", "reason": "pilot", "expires": "2027-01-31"}
        ]
    )
    result = run_audit(eco, as_of=AS_OF, rules=["EM-OWN-001", "EM-DPA-002"])
    assert {f.key for f in result.findings} == {"EM-OWN-001:orphan"}
    assert [w.finding.key for w in result.waived] == ["EM-DPA-002:quiz"]
    assert result.waived[0].reason == "pilot"
    assert result.expired_waivers == ()


def test_an_expired_waiver_lets_the_finding_back_and_lists_it() -> None:
    eco = ecosystem(
        waivers=[
            {"rule": "EM-DPA-002", "subject": "quiz", "reason": "pilot", "expires": "2026-11-01"}
        ]
    )
    result = run_audit(eco, as_of=AS_OF, rules=["EM-DPA-002"])
    assert {f.key for f in result.findings} == {"EM-DPA-002:quiz"}
    assert result.waived == ()
    assert result.expired_waivers == ("EM-DPA-002:quiz",)


def test_a_waiver_for_another_subject_waives_nothing() -> None:
    eco = ecosystem(
        waivers=[{"rule": "EM-OWN-001", "subject": "owned", "reason": "x", "expires": "2027-01-31"}]
    )
    result = run_audit(eco, as_of=AS_OF, rules=["EM-OWN-001"])
    assert {f.key for f in result.findings} == {"EM-OWN-001:orphan"}


def test_thresholds_from_the_yaml_reach_the_rule() -> None:
    eco = Ecosystem(
        district={"id": "d", "name": "D"},
        tools=[
            {
                "id": "app",
                "name": "App",
                "category": "content",
                "owner": "x",
                "privacy": {"status": "signed", "signed": "2024-01-01", "expires": "2027-03-01"},
            }
        ],
        audit={"thresholds": {"EM-DPA-004": {"within_days": 120}}},
    )
    assert {f.key for f in run_audit(eco, as_of=AS_OF, rules=["EM-DPA-004"]).findings} == {
        "EM-DPA-004:app"
    }
    default = eco.model_copy(update={"audit": eco.audit.model_copy(update={"thresholds": {}})})
    assert run_audit(default, as_of=AS_OF, rules=["EM-DPA-004"]).findings == ()


def test_an_unknown_threshold_skips_the_rule_and_says_which() -> None:
    eco = ecosystem(thresholds={"EM-OWN-001": {"limit": 3}})
    result = run_audit(eco, as_of=AS_OF, rules=["EM-OWN-001"])
    assert result.findings == ()
    assert [s.rule_id for s in result.skipped] == ["EM-OWN-001"]
    assert "limit" in result.skipped[0].reason


def test_usage_rules_without_usage_are_skipped_with_a_reason_not_clean() -> None:
    result = run_audit(ecosystem(), as_of=AS_OF)
    usage_rules = {rid for rid, spec in load_rules().items() if "usage" in spec.needs}
    assert usage_rules
    skipped = {s.rule_id: s.reason for s in result.skipped}
    assert usage_rules <= set(skipped)
    assert all("ingest" in skipped[rid] for rid in usage_rules)
    assert not usage_rules & set(result.rules_run)


def test_a_rule_that_crashes_is_skipped_and_the_rest_still_run() -> None:
    @rule("EM-TST-900", severity=Severity.INFO, title="Broken")
    def broken(G: nx.MultiDiGraph[str]) -> list[Finding]:
        raise ZeroDivisionError("boom")

    try:
        result = run_audit(ecosystem(), as_of=AS_OF, rules=["EM-TST-900", "EM-OWN-001"])
    finally:
        del RULES["EM-TST-900"]
    assert [s.rule_id for s in result.skipped] == ["EM-TST-900"]
    assert "ZeroDivisionError" in result.skipped[0].reason
    assert {f.rule_id for f in result.findings} == {"EM-OWN-001"}


def test_requires_usage_raises_analysis_error() -> None:
    @requires_usage
    def needs(G: nx.MultiDiGraph[str]) -> list[Finding]:
        return []

    with pytest.raises(AnalysisError):
        needs(nx.MultiDiGraph())
    assert needs(nx.MultiDiGraph(usage={"weeks": 3})) == []


def test_the_callers_graph_is_not_changed() -> None:
    from edtech_map.graph import build_graph

    eco = ecosystem()
    G = build_graph(eco, as_of=AS_OF)
    before = (dict(G.graph), {n: dict(d) for n, d in G.nodes(data=True)}, list(G.edges))
    run_audit(eco, G, as_of=AS_OF)
    assert (dict(G.graph), {n: dict(d) for n, d in G.nodes(data=True)}, list(G.edges)) == before


def test_an_unknown_rule_id_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="EM-XXX-001"):
        run_audit(ecosystem(), as_of=AS_OF, rules=["EM-XXX-001"])


_tools = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True),
            "name": st.just("T"),
            "category": st.sampled_from(["content", "lms", "assessment", "rostering_hub"]),
            "audience": st.lists(st.sampled_from(["students", "teachers"]), max_size=2),
            "learning_tasks": st.lists(st.sampled_from(["practice", "assessment"]), max_size=2),
            "subjects": st.lists(st.sampled_from(["math", "ela"]), max_size=2),
            "owner": st.sampled_from([None, "Lead"]),
            "privacy": st.sampled_from(
                [
                    None,
                    {"status": "pending"},
                    {"status": "expired"},
                    {"status": "signed", "signed": "2024-01-01", "expires": "2026-12-01"},
                ]
            ),
        }
    ),
    max_size=6,
    unique_by=lambda t: str(t["id"]),
)


@settings(max_examples=25, deadline=None)
@given(_tools, st.data())
def test_same_input_same_output_in_the_same_order(
    tools: list[dict[str, Any]], data: st.DataObject
) -> None:
    ids = [t["id"] for t in tools]
    flows = []
    if len(ids) >= 2:
        pairs = data.draw(
            st.lists(
                st.sampled_from([(a, b) for a in ids for b in ids if a != b]),
                max_size=4,
                unique=True,
            )
        )
        flows = [
            {"source": a, "target": b, "mechanism": "api", "data": ["student_name"]}
            for a, b in pairs
        ]
    eco = Ecosystem(
        district={"id": "dist", "name": "D"},
        schools=[
            {"id": "s1", "name": "S1", "type": "elementary", "grades": "K-5"},
            {"id": "s2", "name": "S2", "type": "middle", "grades": "6-8"},
        ],
        tools=tools,
        flows=flows,
    )
    first = run_audit(eco, as_of=AS_OF)
    second = run_audit(eco, as_of=AS_OF)
    assert first == second
    shuffled = eco.model_copy(
        update={"tools": tuple(reversed(eco.tools)), "flows": tuple(reversed(eco.flows))}
    )
    assert run_audit(shuffled, as_of=AS_OF) == first  # inventory order does not matter
    assert list(first.findings) == sorted(first.findings, key=Finding.sort_key)
