"""The HTML report: one self-contained file a director can e-mail, open offline and print.

Everything is inline (CSS, a small script, the diagram as SVG, charts drawn here as SVG), so
the page makes no network request when it is viewed. It shows what the inputs hold and says
what is missing: without an :class:`~edtech_map.analyses.AuditResult` there is a "no audit
run" notice, without usage aggregates a "no usage" notice. It carries counts only: tools,
schools and flows by their inventory names, people never; counts of people under the
district's ``audit.min_cell_size`` are shown as ``<5``.

:func:`build_context` returns the plain data the template renders (handy in a notebook);
:func:`render_report` the HTML text; :func:`report` writes the file.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from edtech_map.graph import build_graph
>>> from edtech_map.inventory import load_ecosystem
>>> from edtech_map.samples import AS_OF, RIVERSIDE_YAML
>>> eco = load_ecosystem(RIVERSIDE_YAML)
>>> G = build_graph(eco, as_of=AS_OF)
>>> path = report(eco, G, as_of=AS_OF, output=Path(tempfile.mkdtemp()) / "report.html")
>>> text = path.read_text(encoding="utf-8")
>>> "No audit run" in text, "No usage data" in text, "<svg" in text
(True, True, True)
"""

from __future__ import annotations

import json
import logging
import os
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import networkx as nx
from markupsafe import Markup, escape

from edtech_map.analyses.engine import count_text
from edtech_map.analyses.findings import AuditResult, Finding, Severity
from edtech_map.graph import nodes_of_kind, schools_of, tools_at, tools_for
from edtech_map.model import Ecosystem, LearningTask, Subject
from edtech_map.render.dot import choose_engine
from edtech_map.render.dot import render as render_svg
from edtech_map.render.view import (
    FLAGS,
    FLOW_KINDS,
    DiagramError,
    node_flags,
    select,
    with_findings,
)

if TYPE_CHECKING:
    from edtech_map.aggregates import Aggregates

__all__ = [
    "CORE_SUBJECTS",
    "COVERAGE_MAX_SCHOOLS",
    "RENEWAL_SOON_DAYS",
    "bar_chart",
    "build_context",
    "coverage",
    "diagram_svg",
    "render_report",
    "report",
]

logger = logging.getLogger(__name__)

RENEWAL_SOON_DAYS = 90
"""Renewals within this many days of ``as_of`` are marked "due soon"."""
COVERAGE_MAX_SCHOOLS = 200
"""Above this many schools the report leaves the coverage matrices out (and says so)."""
CORE_SUBJECTS = ("ela", "math", "science", "social_studies")
"""Subjects every coverage matrix shows; others appear when some tool names them."""
_SEVERITIES = (Severity.ERROR, Severity.WARNING, Severity.INFO)
_PEOPLE_ROLES = ("student", "teacher")


# ------------------------------------------------------------------------------ charts


def _esc(text: object) -> str:
    return str(escape(str(text)))


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[int]],
    *,
    min_cell_size: int = 5,
    width: int = 260,
    height: int = 90,
) -> Markup:
    """A small grouped bar chart as inline SVG, with a title, text labels and hatching.

    Each series gets its own fill *pattern* (solid, hatched) as well as colour, and a
    legend in words. Values from 1 to ``min_cell_size - 1`` are not drawn: a ``<5`` mark
    stands in their place, as in the tables.

    Examples
    --------
    >>> svg = bar_chart("Weekly active", ["W45", "W46"], {"students": [40, 3], "teachers": [6, 0]})
    >>> svg.count("<rect class=\\"bar"), "&lt;5" in svg, 'role="img"' in svg
    (2, True, True)
    """
    groups = max(1, len(labels))
    names = list(series)
    peak = max([v for values in series.values() for v in values if v >= min_cell_size] or [1])
    top, bottom = 14, 16
    plot = height - top - bottom
    slot = width / groups
    hatch = f"hatch-{zlib.crc32(title.encode('utf-8')):08x}"  # ids stay unique in one page
    bar = max(1.0, (slot - 4) / max(1, len(names)))
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" aria-label="{_esc(title)}"><title>{_esc(title)}</title>',
        f'<defs><pattern id="{hatch}" width="4" height="4" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="4" height="4" fill="#fff"/>'
        '<line x1="0" y1="0" x2="0" y2="4" stroke="#b3541e" stroke-width="2"/></pattern></defs>',
    ]
    fills = ["#1f5fa8", f"url(#{hatch})", "#6a1b9a"]
    for group, label in enumerate(labels):
        x0 = group * slot + 2
        for index, name in enumerate(names):
            value = int(series[name][group]) if group < len(series[name]) else 0
            x = x0 + index * bar
            shown = count_text(value, min_cell_size)
            if value >= min_cell_size:
                h = max(1.0, plot * value / peak)
                parts.append(
                    f'<rect class="bar s{index}" x="{x:.1f}" y="{top + plot - h:.1f}" '
                    f'width="{bar - 1:.1f}" height="{h:.1f}" fill="{fills[index % 3]}" '
                    f'stroke="#333" stroke-width="0.3"><title>{_esc(label)}, {_esc(name)}: '
                    f"{shown}</title></rect>"
                )
            elif value > 0:
                parts.append(
                    f'<text x="{x + bar / 2:.1f}" y="{top + plot - 2}" font-size="7" '
                    f'text-anchor="middle">{_esc(shown)}</text>'
                )
        if groups <= 12 or group % max(1, groups // 8) == 0:
            parts.append(
                f'<text x="{x0 + slot / 2 - 2:.1f}" y="{height - 4}" font-size="8" '
                f'text-anchor="middle">{_esc(label)}</text>'
            )
    legend_x = 2.0
    for index, name in enumerate(names):
        parts.append(
            f'<rect x="{legend_x:.0f}" y="2" width="8" height="8" fill="{fills[index % 3]}" '
            f'stroke="#333" stroke-width="0.3"/><text x="{legend_x + 11:.0f}" y="9" '
            f'font-size="8">{_esc(name)}</text>'
        )
        legend_x += 14 + 5.5 * len(name)
    parts.append(f'<text x="{width - 2}" y="9" font-size="8" text-anchor="end">max {peak}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


# ----------------------------------------------------------------------------- diagram


def diagram_svg(G: nx.MultiDiGraph[str], *, timeout: float = 30.0) -> tuple[str | None, str]:
    """The report's diagram: every tool, with data-flow, rostering, SSO and LTI edges.

    Laid out with ``osage`` (category clusters packed into a screen-shaped grid) where
    ``dot`` would be chosen, else as :func:`edtech_map.render.dot.render` decides by size.

    Returns the inline SVG (no XML prolog or DOCTYPE) and a note, or ``None`` and the reason
    when Graphviz is missing or fails.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("lms", kind="tool", label="Canopy LMS", category="lms")
    >>> svg, note = diagram_svg(G)
    >>> svg.startswith("<svg"), note
    (True, '')
    """
    part = select(G, kinds=FLOW_KINDS)
    part.remove_nodes_from([n for n, d in G.nodes(data=True) if d.get("kind") != "tool"])
    engine, summary = choose_engine(part)
    try:
        rendered = render_svg(
            part,
            fmt="svg",
            by="category",
            engine="osage" if (engine, summary) == ("dot", False) else None,
            timeout=timeout,
        )
    except DiagramError as error:
        logger.warning("no diagram in the report: %s", error)
        return None, str(error)
    text = rendered.data.decode("utf-8")
    text = text[text.index("<svg") :]
    text = re.sub(r'<svg width="[^"]*" height="[^"]*"', "<svg", text, count=1)
    return text, "; ".join(rendered.notes)


# ----------------------------------------------------------------------------- views


def _label(G: nx.MultiDiGraph[str], node: str) -> str:
    return str(G.nodes[node].get("label", node)) if node in G else node


def _schools_of(G: nx.MultiDiGraph[str], subject: str) -> set[str]:
    """Schools a finding subject concerns: a school, a tool's schools, a flow's two ends."""
    if subject in G:
        kind = G.nodes[subject].get("kind")
        if kind == "school":
            return {subject}
        if kind == "tool":
            return set(tools_of_school_edges(G, subject))
        return set()
    ends = re.split(r"->|:", subject)
    return set().union(*(_schools_of(G, end) for end in ends[:2] if end in G)) if ends else set()


def _school_attr(schools: Iterable[str]) -> str:
    found = sorted(set(schools))
    return " ".join(found) if found else "*"


def _finding_view(G: nx.MultiDiGraph[str], finding: Finding) -> dict[str, Any]:
    schools: set[str] = set()
    for subject in finding.subjects:
        schools |= _schools_of(G, subject)
    return {
        "rule_id": finding.rule_id,
        "severity": finding.severity.value,
        "message": finding.message,
        "recommendation": finding.recommendation,
        "subjects": [
            {"id": s, "label": _label(G, s), "tool": G.nodes[s].get("kind") == "tool"}
            if s in G
            else {"id": s, "label": s, "tool": False}
            for s in finding.subjects
        ],
        "evidence": [(k, v) for k, v in finding.evidence.items()],
        "schools": _school_attr(schools),
    }


def _findings(G: nx.MultiDiGraph[str], audit: AuditResult | None) -> dict[str, Any] | None:
    if audit is None:
        return None
    grouped = {s.value: [] for s in _SEVERITIES}  # type: dict[str, list[dict[str, Any]]]
    for finding in sorted(audit.findings, key=Finding.sort_key):
        grouped[finding.severity.value].append(_finding_view(G, finding))
    return {
        "as_of": audit.as_of.isoformat(),
        "groups": [(s.value, grouped[s.value]) for s in _SEVERITIES],
        "summary": audit.summary(),
        "waived": [
            {"key": w.finding.key, "reason": w.reason, "expires": w.expires.isoformat()}
            for w in audit.waived
        ],
        "skipped": [{"rule_id": s.rule_id, "reason": s.reason} for s in audit.skipped],
        "rules_run": len(audit.rules_run),
    }


def coverage(
    G: nx.MultiDiGraph[str], school: str, *, subjects: Sequence[str] | None = None
) -> dict[str, Any]:
    """One school's coverage matrix: rows task × subject, columns the school's grades.

    Each cell lists the tools (from :func:`edtech_map.graph.tools_for`) that serve that
    learning task, subject and grade at the school; an empty cell is a gap.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_node("s", kind="school", label="Lincoln", grades=["3", "4"])
    >>> G.add_node("m", kind="tool", label="Mathly", learning_tasks=["practice"],
    ...            subjects=["math"], grades=["3"], status="active")
    >>> _ = G.add_edge("m", "s", key="used_at", kind="used_at")
    >>> matrix = coverage(G, "s", subjects=["math"])
    >>> matrix["grades"], matrix["rows"][0]["cells"]
    (['3', '4'], [['Mathly'], []])
    """
    grades = [str(g) for g in G.nodes[school].get("grades", [])]
    at_school = tools_at(G, school)
    tasks = sorted({t for tool in at_school for t in G.nodes[tool].get("learning_tasks", [])})
    tasks = [t for t in (task.value for task in LearningTask) if t in tasks]
    if subjects is None:
        named = {s for tool in at_school for s in G.nodes[tool].get("subjects", [])}
        named.discard(Subject.ALL.value)
        subjects = [s.value for s in Subject if s.value in CORE_SUBJECTS or s.value in named]
    rows = []
    for task in tasks:
        for subject in subjects:
            serving = tools_for(G, task=task, subject=subject, school=school)
            cells = []
            for grade in grades:
                cells.append(
                    sorted(
                        _label(G, tool)
                        for tool in serving
                        if not G.nodes[tool].get("grades") or grade in G.nodes[tool]["grades"]
                    )
                )
            rows.append({"task": task, "subject": subject, "cells": cells})
    gaps = sum(1 for row in rows for cell in row["cells"] if not cell)
    return {
        "school": school,
        "label": _label(G, school),
        "grades": grades,
        "rows": rows,
        "gaps": gaps,
    }


def _weeks(weekly: Mapping[str, Any]) -> list[str]:
    return sorted({week for by_week in weekly.values() for week in by_week})


def _usage(G: nx.MultiDiGraph[str], min_cell: int) -> dict[str, Any] | None:
    window = G.graph.get("usage")
    if not window:
        return None
    rows: list[dict[str, Any]] = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        usage = data.get("usage") or {}
        active = {role: int((usage.get(role) or {}).get("active_users", 0)) for role in usage}
        other = sum(v for role, v in active.items() if role not in _PEOPLE_ROLES)
        weekly = data.get("weekly") or {}
        weeks = _weeks(weekly)
        series = {
            f"{role}s": [
                sum(
                    int(((weekly[s].get(week) or {}).get(role) or {}).get("active_users", 0))
                    for s in weekly
                )
                for week in weeks
            ]
            for role in _PEOPLE_ROLES
        }
        hours = [0] * 24
        for slot, events in enumerate(data.get("hour_of_week") or []):
            hours[slot % 24] += int(events)
        rows.append(
            {
                "tool": tool,
                "label": _label(G, tool),
                "students": count_text(active.get("student", 0), min_cell),
                "teachers": count_text(active.get("teacher", 0), min_cell),
                "others": count_text(other, min_cell),
                "sort": active.get("student", 0) + active.get("teacher", 0) + other,
                "minutes": round(sum(float((usage.get(r) or {}).get("minutes", 0)) for r in usage)),
                "weekly": bar_chart(
                    f"Weekly active students and teachers, {_label(G, tool)}",
                    [w.split("-")[-1] for w in weeks],
                    series,
                    min_cell_size=min_cell,
                )
                if weeks
                else None,
                "hours": bar_chart(
                    f"Events by hour of day, {_label(G, tool)}",
                    [f"{h:02d}" if h % 6 == 0 else "" for h in range(24)],
                    {"events": hours},
                    min_cell_size=1,
                )
                if any(hours)
                else None,
                "flags": [
                    FLAGS[f].marker for f in node_flags(data) if f in {"unused", "teacher_only"}
                ],
                "schools": _school_attr(tools_of_school_edges(G, tool)),
            }
        )
    rows.sort(key=lambda row: (-int(row["sort"]), str(row["label"])))
    unmatched = [
        {
            "identifier": str(row.get("identifier", "")),
            "students": count_text(int(row.get("students", 0) or 0), min_cell),
            "teachers": count_text(int(row.get("teachers", 0) or 0), min_cell),
            "events": int(row.get("events", 0) or 0),
        }
        for row in G.graph.get("unmatched_apps", [])
    ]
    return {"window": window, "rows": rows, "unmatched": unmatched}


def tools_of_school_edges(G: nx.MultiDiGraph[str], tool: str) -> list[str]:
    """Schools a tool is used at, sorted: every school for a tool used district-wide.

    The same as :func:`edtech_map.graph.schools_of`.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge("app", "s2", key="used_at", kind="used_at")
    >>> _ = G.add_edge("app", "s1", key="used_at", kind="used_at")
    >>> tools_of_school_edges(G, "app")
    ['s1', 's2']
    """
    return schools_of(G, tool)


def _licences(G: nx.MultiDiGraph[str], as_of: date, min_cell: int) -> list[dict[str, Any]]:
    rows = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        if not data.get("licence_unit") and not data.get("renewal_date"):
            continue
        renewal = data.get("renewal_date")
        days = (date.fromisoformat(renewal) - as_of).days if renewal else None
        usage = data.get("usage")
        active = None
        if isinstance(usage, Mapping):
            active = sum(int((m or {}).get("active_users", 0)) for m in usage.values())
        seats = data.get("licence_seats")
        per_person = data.get("licence_unit") in {"student", "teacher", "user"}
        rows.append(
            {
                "tool": tool,
                "label": _label(G, tool),
                "unit": data.get("licence_unit", ""),
                "seats": seats,
                "cost": data.get("licence_cost"),
                "renewal": renewal or "",
                "days": days,
                "soon": days is not None and 0 <= days <= RENEWAL_SOON_DAYS,
                "lapsed": days is not None and days < 0,
                "active": count_text(active, min_cell) if active is not None else None,
                "utilisation": f"{active / seats:.0%}"
                if active is not None and seats and per_person and active >= min_cell
                else None,
                "owner": data.get("owner", ""),
                "schools": _school_attr(tools_of_school_edges(G, tool)),
            }
        )
    rows.sort(key=lambda row: (row["renewal"] or "9999", str(row["label"])))
    return rows


def _privacy(G: nx.MultiDiGraph[str]) -> list[dict[str, Any]]:
    pii_in: Counter[str] = Counter()
    for _, v, data in G.edges(data=True):
        if data.get("kind") == "data_flow" and data.get("student_pii"):
            pii_in[v] += 1
    rows = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        flags = node_flags(data)
        rows.append(
            {
                "tool": tool,
                "label": _label(G, tool),
                "status": str(data.get("dpa_status", "missing")).replace("_", " "),
                "in_force": bool(data.get("dpa_in_force")),
                "ok": "no_dpa" not in flags,
                "expires": data.get("dpa_expires", ""),
                "elements": ", ".join(data.get("dpa_data_elements", [])),
                "pii_in": pii_in[tool],
                "audience": ", ".join(data.get("audience", [])),
                "schools": _school_attr(tools_of_school_edges(G, tool)),
            }
        )
    rows.sort(key=lambda row: (row["ok"], -row["pii_in"], str(row["label"])))
    return rows


def _cards(G: nx.MultiDiGraph[str], audit: AuditResult | None) -> list[dict[str, Any]]:
    by_tool: dict[str, list[str]] = defaultdict(list)
    for finding in audit.findings if audit else ():
        for subject in finding.subjects:
            by_tool[subject].append(f"{finding.severity.value}: {finding.message}")
    cards = []
    for tool in nodes_of_kind(G, "tool"):
        data = G.nodes[tool]
        links = []
        for _, v, d in sorted(G.edges(tool, data=True), key=lambda e: (e[1], str(e[2]))):
            if d.get("kind") in FLOW_KINDS:
                pii = " (student PII)" if d.get("student_pii") else ""
                links.append(f"{str(d['kind']).replace('_', ' ')} to {_label(G, v)}{pii}")
        for u, _, d in sorted(G.in_edges(tool, data=True), key=lambda e: (e[0], str(e[2]))):
            if d.get("kind") in FLOW_KINDS:
                pii = " (student PII)" if d.get("student_pii") else ""
                links.append(f"{str(d['kind']).replace('_', ' ')} from {_label(G, u)}{pii}")
        schools = tools_of_school_edges(G, tool)
        facts = [
            ("Category", str(data.get("category", "")).replace("_", " ")),
            ("Vendor", data.get("vendor", "")),
            ("Status", data.get("status", "")),
            ("Audience", ", ".join(data.get("audience", []))),
            (
                "Learning tasks",
                ", ".join(t.replace("_", " ") for t in data.get("learning_tasks", [])),
            ),
            ("Subjects", ", ".join(data.get("subjects", []))),
            ("Grades", ", ".join(data.get("grades", []))),
            ("Schools", ", ".join(_label(G, s) for s in schools)),
            (
                "DPA",
                f"{data.get('dpa_status', 'missing')}"
                + (", in force" if data.get("dpa_in_force") else ", not in force"),
            ),
            ("Licence", f"{data.get('licence_seats', '')} {data.get('licence_unit', '')}".strip()),
            ("Renewal", data.get("renewal_date", "")),
            ("Owner", data.get("owner", "")),
        ]
        cards.append(
            {
                "tool": tool,
                "label": _label(G, tool),
                "facts": [(k, v) for k, v in facts if v not in ("", None)],
                "flags": [FLAGS[f].marker + " " + FLAGS[f].meaning for f in node_flags(data)],
                "links": links,
                "findings": by_tool.get(tool, []),
                "schools": _school_attr(schools),
            }
        )
    return cards


def _summary(
    eco: Ecosystem, G: nx.MultiDiGraph[str], audit: AuditResult | None, as_of: date
) -> list[tuple[str, str]]:
    tools = nodes_of_kind(G, "tool")
    status = Counter(str(G.nodes[t].get("status", "active")) for t in tools)
    flows = [d for *_, d in G.edges(data=True) if d.get("kind") == "data_flow"]
    no_dpa = sum(1 for t in tools if "no_dpa" in node_flags(G.nodes[t]))
    spend = sum(float(G.nodes[t].get("licence_cost") or 0) for t in tools)
    soon = 0
    for t in tools:
        renewal = G.nodes[t].get("renewal_date")
        if renewal and 0 <= (date.fromisoformat(renewal) - as_of).days <= RENEWAL_SOON_DAYS:
            soon += 1
    numbers = [
        ("Schools", str(len(eco.schools))),
        ("Tools", f"{len(tools)} ({', '.join(f'{n} {s}' for s, n in sorted(status.items()))})"),
        (
            "Data flows",
            f"{len(flows)} ({sum(1 for d in flows if d.get('student_pii'))} with student PII)",
        ),
        ("Tools without a DPA in force", str(no_dpa)),
        ("Licence spend (listed)", f"{spend:,.0f}"),
        (f"Renewals in the next {RENEWAL_SOON_DAYS} days", str(soon)),
    ]
    if audit is not None:
        counts = audit.summary()
        numbers.append(("Findings", ", ".join(f"{counts[s.value]} {s.value}" for s in _SEVERITIES)))
    return numbers


def build_context(
    ecosystem: Ecosystem,
    G: nx.MultiDiGraph[str],
    *,
    audit: AuditResult | None = None,
    usage: Aggregates | None = None,
    as_of: date,
    diagram: bool = True,
) -> dict[str, Any]:
    """The plain data the report template renders (a notebook can show parts of it).

    ``usage`` (from :func:`edtech_map.aggregates.compute_aggregates`) is attached to a copy
    of ``G``; a ``G`` that already carries aggregates needs none. ``G`` is not changed.

    Examples
    --------
    >>> from edtech_map.graph import build_graph
    >>> from edtech_map.inventory import load_ecosystem
    >>> from edtech_map.samples import AS_OF, RIVERSIDE_YAML
    >>> eco = load_ecosystem(RIVERSIDE_YAML)
    >>> context = build_context(eco, build_graph(eco, as_of=AS_OF), as_of=AS_OF, diagram=False)
    >>> context["findings"] is None, context["usage"] is None, len(context["coverage"])
    (True, True, 9)
    """
    H = with_findings(G, audit)
    if usage is not None:
        usage.attach(H)
    min_cell = ecosystem.audit.min_cell_size
    svg, note = diagram_svg(H) if diagram else (None, "diagram left out (diagram=False)")
    schools = [(s.id, s.name) for s in ecosystem.schools]
    tool_schools = {t: tools_of_school_edges(H, t) for t in nodes_of_kind(H, "tool")}
    return {
        "district": ecosystem.district.name,
        "as_of": as_of.isoformat(),
        "min_cell": min_cell,
        "summary": _summary(ecosystem, H, audit, as_of),
        "schools": schools,
        "diagram": Markup(svg) if svg else None,
        "diagram_note": note,
        "findings": _findings(H, audit),
        "coverage": [coverage(H, school) for school, _ in schools]
        if len(schools) <= COVERAGE_MAX_SCHOOLS
        else [],
        "coverage_note": ""
        if len(schools) <= COVERAGE_MAX_SCHOOLS
        else (
            f"{len(schools)} schools are more than one page can hold (the limit is "
            f"{COVERAGE_MAX_SCHOOLS}): the coverage matrices are left out. The audit's coverage "
            "rule (EM-GAP-001) lists the gaps."
        ),
        "usage": _usage(H, min_cell),
        "licences": _licences(H, as_of, min_cell),
        "privacy": _privacy(H),
        "cards": _cards(H, audit),
        "tool_schools": Markup(json.dumps(tool_schools, sort_keys=True).replace("</", "<\\/")),
    }


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("edtech_map.render", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    static = resources.files("edtech_map.render") / "static"
    env.globals["inline_css"] = Markup(static.joinpath("report.css").read_text("utf-8"))
    env.globals["inline_js"] = Markup(static.joinpath("report.js").read_text("utf-8"))
    return env


def render_report(
    ecosystem: Ecosystem,
    G: nx.MultiDiGraph[str],
    *,
    audit: AuditResult | None = None,
    usage: Aggregates | None = None,
    as_of: date,
    diagram: bool = True,
) -> str:
    """The report as one HTML string (see :func:`report`).

    Examples
    --------
    >>> from edtech_map.model import Ecosystem
    >>> eco = Ecosystem(district={"id": "d", "name": "Tiny USD"})
    >>> from edtech_map.graph import build_graph
    >>> html = render_report(eco, build_graph(eco), as_of=date(2026, 11, 23), diagram=False)
    >>> html.startswith("<!doctype html>"), "Tiny USD" in html
    (True, True)
    """
    context = build_context(ecosystem, G, audit=audit, usage=usage, as_of=as_of, diagram=diagram)
    return _environment().get_template("report.html.j2").render(**context)


def report(
    ecosystem: Ecosystem,
    G: nx.MultiDiGraph[str],
    *,
    audit: AuditResult | None = None,
    usage: Aggregates | None = None,
    as_of: date,
    output: str | os.PathLike[str],
    diagram: bool = True,
) -> Path:
    """Write the self-contained HTML report to ``output`` and return its path.

    Examples
    --------
    >>> import tempfile
    >>> from edtech_map.model import Ecosystem
    >>> from edtech_map.graph import build_graph
    >>> eco = Ecosystem(district={"id": "d", "name": "Tiny USD"})
    >>> target = Path(tempfile.mkdtemp()) / "r.html"
    >>> report(eco, build_graph(eco), as_of=date(2026, 11, 23), output=target).name
    'r.html'
    """
    target = Path(output)
    logger.info("writing the HTML report to %s", target)
    text = render_report(ecosystem, G, audit=audit, usage=usage, as_of=as_of, diagram=diagram)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
