"""The audit engine: the rule registry, preconditions, and the runner that applies the YAML.

A rule is a pure function ``rule(G, *, thresholds...) -> list[Finding]`` registered with
:func:`rule`. Its keyword-only parameters are its thresholds: their defaults are documented
(``docs/rules/``) and ``audit: thresholds: {RULE-ID: {name: value}}`` overrides them.
Preconditions are decorators: :func:`requires_usage` and :func:`requires_roster` raise
:class:`AnalysisError` when the graph carries no usage or roster aggregates, and
:func:`run_audit` reports the rule as skipped, never as "no problems".

Examples
--------
>>> import networkx as nx
>>> from datetime import date, timedelta
>>> from edtech_map.model import Ecosystem
>>> eco = Ecosystem(district={"id": "d", "name": "D"},
...                 tools=[{"id": "app", "name": "App", "category": "content"}])
>>> result = run_audit(eco, as_of=date(2026, 11, 23), rules=["EM-OWN-001"])
>>> [f.key for f in result.findings]
['EM-OWN-001:app']
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import networkx as nx
from pydantic import Field

from edtech_map.analyses.findings import AuditResult, Finding, Severity, SkippedRule, WaivedFinding
from edtech_map.errors import EdtechMapError
from edtech_map.graph import DEPENDENCY_KINDS, build_graph, edges_by_kind, edges_of_kind
from edtech_map.model import Ecosystem, StrictModel

if TYPE_CHECKING:
    from edtech_map.aggregates import Aggregates

__all__ = [
    "RULES",
    "RULE_MODULES",
    "AnalysisError",
    "AuditDiff",
    "AuditReport",
    "Rule",
    "RuleFunction",
    "RuleInfo",
    "audit_edges",
    "audit_memo",
    "count_text",
    "count_value",
    "full_weeks",
    "label",
    "load_rules",
    "requires_roster",
    "requires_usage",
    "rule",
    "rule_info",
    "run_audit",
]

logger = logging.getLogger(__name__)

RuleFunction = Callable[..., list[Finding]]
P = ParamSpec("P")
R = TypeVar("R")

RULE_MODULES = (
    "edtech_map.analyses.teacher_only",
    "edtech_map.analyses.utilisation",
    "edtech_map.analyses.overlaps",
    "edtech_map.analyses.coverage",
    "edtech_map.analyses.privacy",
    "edtech_map.analyses.discovery",
    "edtech_map.analyses.fidelity",
    "edtech_map.analyses.time_of_use",
    "edtech_map.analyses.consistency",
    "edtech_map.analyses.structure",
)
"""The modules that hold rules; :func:`load_rules` imports them so :data:`RULES` is full."""


class AnalysisError(EdtechMapError):
    """A rule cannot answer on this data (no usage, no roster, a bad threshold); it is skipped."""


@dataclass(frozen=True)
class Rule:
    """A registered rule: id, default severity, title, its function and what it needs.

    ``thresholds`` are the function's keyword-only parameters and their defaults.

    Examples
    --------
    >>> spec = load_rules()["EM-USE-004"]
    >>> spec.severity.value, spec.needs, spec.thresholds
    ('warning', ('roster', 'usage'), {'min_weekly_share': 0.3})
    """

    id: str
    severity: Severity
    title: str
    function: RuleFunction = field(compare=False)
    needs: tuple[str, ...] = ()
    thresholds: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rationale(self) -> str:
        """The docstring's text before its first section (why the rule exists).

        Examples
        --------
        >>> load_rules()["EM-OWN-001"].rationale.split(".")[0]
        'Flag tools that no one is named as owning'
        """
        doc = inspect.getdoc(self.function) or ""
        lines: list[str] = []
        for line in doc.splitlines():
            if line.strip() in {"Parameters", "Examples", "Returns", "Raises", "Notes"}:
                break
            lines.append(line)
        return "\n".join(lines).strip()

    @property
    def threshold_docs(self) -> dict[str, str]:
        """Each threshold's description, from the docstring's ``Parameters`` section."""
        doc = inspect.getdoc(self.function) or ""
        found: dict[str, str] = {}
        current: str | None = None
        in_params = False
        for line in doc.splitlines():
            stripped = line.strip()
            if stripped == "Parameters":
                in_params = True
                continue
            if not in_params:
                continue
            if stripped in {"Examples", "Returns", "Raises", "Notes"}:
                break
            if set(stripped) == {"-"}:
                continue
            if line and not line.startswith(" "):
                current = stripped.split(":")[0].strip()
                found[current] = ""
            elif current is not None and stripped:
                found[current] = (found[current] + " " + stripped).strip()
        return found


class AuditDiff(StrictModel):
    """Findings new, resolved and unchanged since the last saved audit (``--diff``).

    Examples
    --------
    >>> AuditDiff(previous_snapshot=None).new
    ()
    """

    previous_snapshot: str | None = Field(description="Id of the saved audit compared with.")
    new: tuple[Finding, ...] = ()
    resolved: tuple[Finding, ...] = ()
    unchanged: tuple[str, ...] = Field(default=(), description="Keys of unchanged findings.")


class RuleInfo(StrictModel):
    """What a report says about each rule it ran or skipped: title, severity, thresholds.

    Examples
    --------
    >>> RuleInfo(title="T", severity="info", help_uri="rules/EM-X.md").severity.value
    'info'
    """

    title: str
    severity: Severity
    needs: tuple[str, ...] = Field(default=(), description="usage and/or roster, or none.")
    thresholds: dict[str, float | int | str | bool] = Field(
        default_factory=dict, description="The values this run used (defaults + audit:)."
    )
    help_uri: str = Field(description="The rule's page, relative to the docs.")


class AuditReport(StrictModel):
    """What ``edtech-map audit --format json`` prints; ``docs/audit-schema.json`` is its schema.

    Examples
    --------
    >>> report = AuditReport(summary={"error": 0}, result=AuditResult(as_of=date(2026, 1, 1)))
    >>> AuditReport.model_validate_json(report.model_dump_json()) == report
    True
    """

    generator: str = Field(default="edtech-map", description="The program that wrote it.")
    schema_version: int = Field(default=1, description="Bumped when the shape changes.")
    summary: dict[str, int] = Field(description="Counts by severity, waived and skipped rules.")
    result: AuditResult
    rules: dict[str, RuleInfo] = Field(
        default_factory=dict, description="Every rule of this run, by id."
    )
    diff: AuditDiff | None = None


_MEMO: ContextVar[dict[tuple[int, str], Any] | None] = ContextVar("audit_memo", default=None)


def audit_memo(G: nx.MultiDiGraph[str], name: str, compute: Callable[[], R]) -> R:
    """``compute()``, once per graph and name while :func:`run_audit` runs; each call outside.

    Rules never change ``G``, so what one rule derives from it (the school index, the
    coverage cells) holds for the rules after it in the same audit.

    Examples
    --------
    >>> calls = []
    >>> G = nx.MultiDiGraph()
    >>> audit_memo(G, "n", lambda: calls.append(1) or len(calls))
    1
    >>> audit_memo(G, "n", lambda: calls.append(1) or len(calls))  # no audit running
    2
    """
    memo = _MEMO.get()
    if memo is None:
        return compute()
    key = (id(G), name)
    if key not in memo:
        memo[key] = compute()
    value: R = memo[key]
    return value


def audit_edges(G: nx.MultiDiGraph[str], kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    """:func:`~edtech_map.graph.edges_of_kind`, from one pass over the edges per audit.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge("hub", "app", key="rosters", kind="rosters")
    >>> audit_edges(G, "rosters"), audit_edges(G, "sso")
    ([('hub', 'app', {'kind': 'rosters'})], [])
    """
    if kind not in DEPENDENCY_KINDS:  # the rules read these; used_at edges are many
        return edges_of_kind(G, kind)
    return audit_memo(G, "edges", lambda: edges_by_kind(G, DEPENDENCY_KINDS)).get(kind, [])


RULES: dict[str, Rule] = {}
"""Every registered rule by id (filled as rule modules are imported; see :func:`load_rules`)."""


def rule(rule_id: str, *, severity: Severity, title: str) -> Callable[[R], R]:
    """Register a rule function under ``rule_id``; a repeated id is an error at import time.

    Examples
    --------
    >>> @rule("EM-TST-999", severity=Severity.INFO, title="A test rule")
    ... def always(G, *, limit: int = 3):
    ...     return []
    >>> RULES["EM-TST-999"].thresholds
    {'limit': 3}
    >>> rule("EM-TST-999", severity=Severity.INFO, title="again")(always)
    Traceback (most recent call last):
    ...
    ValueError: rule id EM-TST-999 is registered twice (...); give the new rule the next number
    >>> del RULES["EM-TST-999"]
    """

    def register(function: R) -> R:
        if rule_id in RULES:
            where = getattr(RULES[rule_id].function, "__module__", "?")
            raise ValueError(
                f"rule id {rule_id} is registered twice ({where}); give the new rule the next "
                f"number"
            )
        assert callable(function)
        signature = inspect.signature(function)
        thresholds = {
            name: parameter.default
            for name, parameter in signature.parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        }
        RULES[rule_id] = Rule(
            id=rule_id,
            severity=severity,
            title=title,
            function=function,
            needs=tuple(getattr(function, "__requires__", ())),
            thresholds=thresholds,
        )
        return function

    return register


def _requires(what: str, key: str, fix: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            G = args[0] if args else kwargs.get("G")
            if not isinstance(G, nx.Graph) or not G.graph.get(key):
                raise AnalysisError(f"no {what} in this audit; {fix}")
            return function(*args, **kwargs)

        needs = (*getattr(function, "__requires__", ()), what.split(maxsplit=1)[0])
        checked.__requires__ = needs  # type: ignore[attr-defined]
        return checked

    return decorate


requires_usage = _requires(
    "usage data",
    "usage",
    "ingest usage (edtech-map ingest) and audit with the store to run this rule",
)
requires_usage.__doc__ = """Make a rule raise :class:`AnalysisError` when ``G`` has no usage aggregates.

Examples
--------
>>> @requires_usage
... def needs_usage(G):
...     return []
>>> needs_usage(nx.MultiDiGraph())
Traceback (most recent call last):
...
edtech_map.analyses.engine.AnalysisError: no usage data in this audit; ingest usage ...
"""

requires_roster = _requires(
    "roster data",
    "roster",
    "import a roster (edtech-map import-roster) and audit with the store to run this rule",
)
requires_roster.__doc__ = """Make a rule raise :class:`AnalysisError` when ``G`` has no roster aggregates.

Examples
--------
>>> @requires_roster
... def needs_roster(G):
...     return []
>>> needs_roster(nx.MultiDiGraph(roster={"schools": 2}))
[]
>>> needs_roster(nx.MultiDiGraph())
Traceback (most recent call last):
...
edtech_map.analyses.engine.AnalysisError: no roster data in this audit; import a roster ...
"""


def count_text(count: int, min_cell_size: int) -> str:
    """A count of students as people may see it: ``<N`` when below the minimum cell size.

    Examples
    --------
    >>> count_text(3, 5), count_text(12, 5), count_text(0, 5)
    ('<5', '12', '0')
    """
    return f"<{min_cell_size}" if 0 < count < min_cell_size else str(count)


def count_value(count: int, min_cell_size: int) -> int | str:
    """The evidence value of a count of students: the number, or ``"<N"`` when suppressed.

    Examples
    --------
    >>> count_value(3, 5), count_value(40, 5)
    ('<5', 40)
    """
    return f"<{min_cell_size}" if 0 < count < min_cell_size else count


def rule_info(ecosystem: Ecosystem, rule_ids: Iterable[str] | None = None) -> dict[str, RuleInfo]:
    """Title, severity, needs and effective thresholds of rules, for reports.

    Examples
    --------
    >>> eco = Ecosystem(district={"id": "d", "name": "D"},
    ...                 audit={"thresholds": {"EM-DPA-004": {"within_days": 30}}})
    >>> rule_info(eco, ["EM-DPA-004"])["EM-DPA-004"].thresholds
    {'within_days': 30}
    """
    registry = load_rules()
    selected = sorted(set(rule_ids)) if rule_ids is not None else list(registry)
    info = {}
    for rule_id in selected:
        spec = registry[rule_id]
        overrides = ecosystem.audit.thresholds.get(rule_id, {})
        info[rule_id] = RuleInfo(
            title=spec.title,
            severity=spec.severity,
            needs=spec.needs,
            thresholds={**spec.thresholds, **overrides},
            help_uri=f"rules/{rule_id}.md",
        )
    return info


def full_weeks(G: nx.MultiDiGraph[str]) -> list[str]:
    """ISO weeks (``2026-W46``) wholly inside the usage data's observed days.

    Weekly rates use only these, so a window that starts on a Thursday does not read as a
    quiet week. When no week is whole, every week seen counts.

    Examples
    --------
    >>> G = nx.MultiDiGraph(usage={"observed_start": "2026-11-03", "observed_end": "2026-11-23"})
    >>> full_weeks(G)
    ['2026-W46', '2026-W47']
    """
    window = G.graph.get("usage") or {}
    start = date.fromisoformat(str(window.get("observed_start") or window.get("start")))
    end = date.fromisoformat(str(window.get("observed_end") or window.get("end")))
    weeks: list[str] = []
    day = start
    while day <= end:
        year, week, weekday = day.isocalendar()
        monday = day - timedelta(days=weekday - 1)
        if monday >= start and monday + timedelta(days=6) <= end:
            weeks.append(f"{year}-W{week:02d}")
        day += timedelta(days=1)
    weeks = sorted(set(weeks))
    if not weeks:
        seen = {
            week
            for _, data in G.nodes(data=True)
            for by_week in (data.get("weekly") or {}).values()
            for week in by_week
        }
        weeks = sorted(seen)
    return weeks


def label(G: nx.MultiDiGraph[str], node: str) -> str:
    """A node's human label (its ``label`` attribute), or its id.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("mathly", label="Mathly")
    >>> label(G, "mathly"), label(G, "other")
    ('Mathly', 'other')
    """
    if node in G:
        return str(G.nodes[node].get("label", node))
    return node


def load_rules() -> dict[str, Rule]:
    """Import every rule module and return :data:`RULES`, sorted by id.

    Examples
    --------
    >>> "EM-DPA-001" in load_rules()
    True
    """
    for name in RULE_MODULES:
        importlib.import_module(name)
    return dict(sorted(RULES.items()))


def _thresholds(spec: Rule, overrides: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(overrides) - set(spec.thresholds))
    if unknown:
        known = ", ".join(spec.thresholds) or "none"
        raise AnalysisError(
            f"audit.thresholds.{spec.id} sets {', '.join(unknown)}, which this rule does not "
            f"have; its thresholds are: {known}"
        )
    values: dict[str, Any] = {}
    for name, value in overrides.items():
        default = spec.thresholds[name]
        if isinstance(default, bool) or default is None or isinstance(value, type(default)):
            values[name] = value
        elif isinstance(default, float) and isinstance(value, int):
            values[name] = float(value)
        else:
            raise AnalysisError(
                f"audit.thresholds.{spec.id}.{name} = {value!r} should be a "
                f"{type(default).__name__} like the default {default!r}"
            )
    return values


def _waive(
    findings: Iterable[Finding], ecosystem: Ecosystem, as_of: date
) -> tuple[list[Finding], list[WaivedFinding], list[str]]:
    kept: list[Finding] = []
    waived: list[WaivedFinding] = []
    expired: set[str] = set()
    for finding in findings:
        matching = [
            w
            for w in ecosystem.audit.waivers
            if w.rule == finding.rule_id and w.subject in finding.subjects
        ]
        current = [w for w in matching if w.expires >= as_of]
        if current:
            waiver = max(current, key=lambda w: (w.expires, w.reason))
            waived.append(
                WaivedFinding(finding=finding, reason=waiver.reason, expires=waiver.expires)
            )
            continue
        if matching:
            expired.add(finding.key)
        kept.append(finding)
    return kept, waived, sorted(expired)


def _frozen_view(G: nx.MultiDiGraph[str]) -> nx.MultiDiGraph[str]:
    view = nx.graphviews.generic_graph_view(G)  # type: ignore[type-var]  # stub: no multigraphs
    assert isinstance(view, nx.MultiDiGraph)
    return view


def run_audit(
    ecosystem: Ecosystem,
    G: nx.MultiDiGraph[str] | None = None,
    *,
    aggregates: Aggregates | None = None,
    as_of: date,
    rules: Iterable[str] | None = None,
) -> AuditResult:
    """Run the rules over the ecosystem and return findings, waived findings and skips.

    ``G`` defaults to :func:`~edtech_map.graph.build_graph` of the ecosystem; ``aggregates``
    (from :func:`edtech_map.aggregates.compute_aggregates`) are attached to a copy of it, so
    usage and roster rules can run. Without aggregates the rules read ``G`` through a frozen
    view (no copy); either way ``G`` is not changed. Thresholds come from ``audit.thresholds``; a waiver whose
    rule and subject match a finding moves it to ``waived`` until it expires, after which the
    finding is back and its key is listed in ``expired_waivers``. A rule that raises
    :class:`AnalysisError` (or fails in any other way) is listed in ``skipped`` with why.

    Raises
    ------
    KeyError
        When ``rules`` names a rule id that does not exist.

    Examples
    --------
    >>> from edtech_map.model import Ecosystem
    >>> eco = Ecosystem(district={"id": "d", "name": "D"},
    ...                 tools=[{"id": "app", "name": "App", "category": "content"}],
    ...                 audit={"waivers": [{"rule": "EM-OWN-001", "subject": "app",
    ...                                     "reason": "new", "expires": "2026-12-31"}]})
    >>> result = run_audit(eco, as_of=date(2026, 11, 23), rules=["EM-OWN-001", "EM-DPA-006"])
    >>> len(result.findings), len(result.waived), [s.rule_id for s in result.skipped]
    (0, 1, ['EM-DPA-006'])
    >>> run_audit(eco, as_of=date(2027, 1, 1), rules=["EM-OWN-001"]).expired_waivers
    ('EM-OWN-001:app',)
    """
    registry = load_rules()
    selected = sorted(set(rules)) if rules is not None else list(registry)
    for rule_id in selected:
        if rule_id not in registry:
            raise KeyError(f"no rule {rule_id}; see edtech-map audit --list-rules or docs/rules/")
    graph = build_graph(ecosystem, as_of=as_of) if G is None else G
    # Aggregates go on node attributes, so on a copy: the caller's graph stays untouched.
    # Without them, rules (which never change G) read its nodes and edges through a frozen
    # view: a copy of a large district's graph took a fifth of the audit.
    graph = graph.copy() if aggregates is not None else _frozen_view(graph)
    graph.graph = dict(graph.graph)  # settings go on the audit's own graph attributes
    graph.graph["as_of"] = as_of.isoformat()
    graph.graph["min_cell_size"] = ecosystem.audit.min_cell_size
    graph.graph.setdefault("timezone", ecosystem.district.timezone)
    graph.graph.setdefault("school_day", ecosystem.district.school_day.model_dump(mode="json"))
    if aggregates is not None:
        aggregates.attach(graph)
    findings: list[Finding] = []
    skipped: list[SkippedRule] = []
    memo = _MEMO.set({})  # rules share what they derive from the graph (see audit_memo)
    try:
        for rule_id in selected:
            spec = registry[rule_id]
            try:
                overrides = _thresholds(spec, ecosystem.audit.thresholds.get(rule_id, {}))
                found = spec.function(graph, **overrides)
            except AnalysisError as error:
                skipped.append(SkippedRule(rule_id=rule_id, reason=str(error)))
                continue
            except Exception as error:  # one broken rule must not stop the audit (STYLE: runner)
                logger.warning("rule %s failed: %s", rule_id, error, exc_info=True)
                skipped.append(
                    SkippedRule(
                        rule_id=rule_id, reason=f"the rule failed: {type(error).__name__}: {error}"
                    )
                )
                continue
            findings.extend(found)
    finally:
        _MEMO.reset(memo)
    kept, waived, expired = _waive(findings, ecosystem, as_of)
    logger.info(
        "audit: %d rules, %d findings, %d waived, %d skipped",
        len(selected),
        len(kept),
        len(waived),
        len(skipped),
    )
    return AuditResult(
        as_of=as_of,
        findings=tuple(sorted(kept, key=Finding.sort_key)),
        waived=tuple(sorted(waived, key=lambda w: w.finding.sort_key())),
        skipped=tuple(skipped),
        expired_waivers=tuple(expired),
        rules_run=tuple(r for r in selected if r not in {s.rule_id for s in skipped}),
    )
