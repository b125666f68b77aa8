"""Matching usage identifiers to inventory tools: rules, priority, subdomains (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connectors.usage_events import AppIdentifier, IdentifierKind
from edtech_map.matching import Match, MatchRule, ToolMatcher, host_of
from edtech_map.model import Tool

K = IdentifierKind


def tool(tool_id: str, name: str | None = None, **identifiers: list[str]) -> Tool:
    return Tool(id=tool_id, name=name or tool_id.title(), category="other", identifiers=identifiers)


MATCHER = ToolMatcher(
    [
        tool(
            "mathly",
            domains=["mathly.example"],
            caliper_app_ids=["https://app.mathly.example/"],
            lti_client_ids=["10000000000017"],
            aliases=["Mathly Pro"],
        ),
        tool("mathly-reports", domains=["reports.mathly.example"]),
        tool(
            "canopy",
            "Canopy LMS",
            lti_deployment_ids=["dep-1"],
            oauth_client_ids=["canopy.apps.example"],
        ),
    ]
)


def test_each_rule_and_the_identifier_it_keeps() -> None:
    cases = [
        (K.CALIPER_APP, "HTTPS://APP.MATHLY.EXAMPLE", "mathly", MatchRule.CALIPER_APP_ID),
        (K.LTI_CLIENT, "10000000000017", "mathly", MatchRule.LTI_CLIENT_ID),
        (K.LTI_DEPLOYMENT, "dep-1", "canopy", MatchRule.LTI_DEPLOYMENT_ID),
        (K.OAUTH_CLIENT, "canopy.apps.example", "canopy", MatchRule.OAUTH_CLIENT_ID),
        (K.URL, "https://www.mathly.example/x", "mathly", MatchRule.DOMAIN),
        (K.NAME, "mathly pro", "mathly", MatchRule.ALIAS),
        (K.NAME, "Mathly-Reports", "mathly-reports", MatchRule.TOOL_ID),
        (K.NAME, "canopy  LMS", "canopy", MatchRule.NAME),
        (K.NAME, "app.mathly.example", "mathly", MatchRule.DOMAIN),
    ]
    for kind, value, tool_id, rule in cases:
        assert MATCHER.match([AppIdentifier(kind, value)]) == Match(tool_id, value, rule)


def test_an_exact_id_beats_a_domain_even_when_listed_later() -> None:
    apps = [
        AppIdentifier(K.URL, "https://reports.mathly.example"),
        AppIdentifier(K.LTI_DEPLOYMENT, "dep-1"),
    ]
    assert MATCHER.match(apps) == Match("canopy", "dep-1", MatchRule.LTI_DEPLOYMENT_ID)


def test_caliper_app_id_falls_back_to_its_domain() -> None:
    found = MATCHER.match([AppIdentifier(K.CALIPER_APP, "https://x.reports.mathly.example/")])
    assert (found.tool_id, found.rule) == ("mathly-reports", MatchRule.DOMAIN)


def test_unmatched_keeps_the_first_identifier() -> None:
    apps = [AppIdentifier(K.CALIPER_APP, "https://quizzo.example"), AppIdentifier(K.NAME, "Q")]
    assert MATCHER.match(apps) == Match(None, "https://quizzo.example", None)
    assert not MATCHER.match(apps).matched


def test_a_look_alike_domain_does_not_match() -> None:
    assert MATCHER.match([AppIdentifier(K.URL, "https://notmathly.example")]).tool_id is None
    assert MATCHER.match([AppIdentifier(K.URL, "https://mathly.example.evil.test")]).tool_id is None


def test_host_of() -> None:
    assert host_of("https://A.B.example:8443/p?q") == "a.b.example"
    assert host_of("a.b.example/path") == "a.b.example"
    assert host_of("localhost:8080") is None  # no dot: not a public domain
    assert host_of("urn:uuid:0000") is None


labels = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
domains = st.lists(labels, min_size=1, max_size=4).map(lambda parts: ".".join([*parts, "test"]))


@given(
    tool_domains=st.lists(domains, min_size=1, max_size=6, unique=True),
    prefix=st.lists(labels, max_size=3),
    pick=st.integers(min_value=0),
    scheme=st.sampled_from(["https://", "http://", ""]),
    path=st.sampled_from(["", "/", "/a/b?c=1"]),
)
def test_most_specific_domain_wins(
    tool_domains: list[str], prefix: list[str], pick: int, scheme: str, path: str
) -> None:
    tools = [tool(f"t{i}", domains=[d]) for i, d in enumerate(tool_domains)]
    matcher = ToolMatcher(tools)
    host = ".".join([*prefix, tool_domains[pick % len(tool_domains)]])
    # the oracle: every tool domain that covers the host; the longest one wins
    covering = [d for d in tool_domains if host == d or host.endswith("." + d)]
    expected = f"t{tool_domains.index(max(covering, key=len))}"
    found = matcher.match([AppIdentifier(K.URL, f"{scheme}{host}{path}")])
    assert (found.tool_id, found.rule) == (expected, MatchRule.DOMAIN)


lti_ids = st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True)


@given(ids=st.lists(lti_ids, min_size=1, max_size=8, unique=True), pick=st.integers(min_value=0))
def test_lti_ids_map_to_their_tool(ids: list[str], pick: int) -> None:
    tools = [
        tool(f"t{i}", lti_client_ids=[value], lti_deployment_ids=[f"dep-{value}"])
        for i, value in enumerate(ids)
    ]
    matcher = ToolMatcher(tools)
    index = pick % len(ids)
    client = matcher.match([AppIdentifier(K.LTI_CLIENT, ids[index])])
    deployment = matcher.match([AppIdentifier(K.LTI_DEPLOYMENT, f"dep-{ids[index]}")])
    assert client == Match(f"t{index}", ids[index], MatchRule.LTI_CLIENT_ID)
    assert deployment.tool_id == f"t{index}"
    assert matcher.match([AppIdentifier(K.LTI_CLIENT, ids[index] + "x")]).tool_id in (
        None,
        *(f"t{i}" for i, v in enumerate(ids) if v == ids[index] + "x"),
    )
