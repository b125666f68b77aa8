"""``edtech-map audit``: run the rules over the inventory (and the store), report findings.

Formats: a rich table grouped by severity (default), ``json`` (an
:class:`~edtech_map.analyses.engine.AuditReport`, schema in ``docs/audit-schema.json``),
``csv``, ``markdown`` and ``sarif`` (SARIF 2.1.0 with rule metadata, for code-scanning
dashboards). Exit 1 when unwaived findings at or above ``--fail-on`` remain, else 0; 2 for a
bad argument or a missing file.

Examples
--------
>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["audit", "--help"])
>>> result.exit_code, "--fail-on" in result.output
(0, True)
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from edtech_map import __version__
from edtech_map.aggregates import (
    DEFAULT_WINDOW_DAYS,
    compute_aggregates,
    diff_findings,
    last_snapshot,
    save_snapshot,
)
from edtech_map.analyses.engine import (
    AuditDiff,
    AuditReport,
    Rule,
    RuleInfo,
    load_rules,
    rule_info,
    run_audit,
)
from edtech_map.analyses.findings import AuditResult, Finding, Severity
from edtech_map.cli.app import ExitCode, app, console, err_console, fail
from edtech_map.cli.inventory import InventoryOption, load_or_exit
from edtech_map.store import Store, StoreError, default_store_path

__all__ = [
    "OutputFormat",
    "audit_command",
    "render_csv",
    "render_markdown",
    "render_sarif",
]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


class OutputFormat(StrEnum):
    """How ``edtech-map audit`` prints its findings."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"
    SARIF = "sarif"


def _rule_title(rules: dict[str, Rule], rule_id: str) -> str:
    return rules[rule_id].title if rule_id in rules else rule_id


def render_csv(result: AuditResult, rules: dict[str, Rule]) -> str:
    """Findings (and waived findings) as CSV, one row each, for spreadsheets and warehouses.

    Examples
    --------
    >>> f = Finding(rule_id="EM-OWN-001", severity="warning", subjects=("a",), message="m",
    ...             recommendation="r", evidence={"n": 1})
    >>> print(render_csv(AuditResult(as_of=date(2026, 1, 1), findings=(f,)), load_rules()))
    status,severity,rule_id,title,subjects,message,recommendation,evidence
    open,warning,EM-OWN-001,Tool with no owner,a,m,r,"{""n"": 1}"
    <BLANKLINE>
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["status", "severity", "rule_id", "title", "subjects", "message", "recommendation",
         "evidence"]
    )  # fmt: skip
    rows = [("open", f) for f in result.findings] + [("waived", w.finding) for w in result.waived]
    for status, f in rows:
        writer.writerow(
            [
                status,
                f.severity.value,
                f.rule_id,
                _rule_title(rules, f.rule_id),
                ";".join(f.subjects),
                f.message,
                f.recommendation,
                json.dumps(dict(f.evidence), sort_keys=True),
            ]
        )
    return out.getvalue()


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(
    result: AuditResult, rules: dict[str, Rule], diff: AuditDiff | None = None
) -> str:
    """The audit as Markdown: a summary line, a table per severity, waived and skipped rules.

    Examples
    --------
    >>> f = Finding(rule_id="EM-OWN-001", severity="warning", subjects=("a",), message="m",
    ...             recommendation="r")
    >>> print(render_markdown(AuditResult(as_of=date(2026, 1, 1), findings=(f,)), load_rules()))
    # Audit as of 2026-01-01
    <BLANKLINE>
    0 error, 1 warning, 0 info; 0 waived; 0 rules skipped.
    <BLANKLINE>
    ## Warning (1)
    <BLANKLINE>
    | Rule | Subjects | Finding | Next step |
    | --- | --- | --- | --- |
    | [EM-OWN-001](rules/EM-OWN-001.md) Tool with no owner | a | m | r |
    <BLANKLINE>
    """
    lines = [f"# Audit as of {result.as_of.isoformat()}", "", _summary_line(result), ""]
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        group = [f for f in result.findings if f.severity is severity]
        if not group:
            continue
        lines += [f"## {severity.value.title()} ({len(group)})", ""]
        lines += ["| Rule | Subjects | Finding | Next step |", "| --- | --- | --- | --- |"]
        for f in group:
            lines.append(
                f"| [{f.rule_id}](rules/{f.rule_id}.md) {_md(_rule_title(rules, f.rule_id))} | "
                f"{_md(', '.join(f.subjects))} | {_md(f.message)} | {_md(f.recommendation)} |"
            )
        lines.append("")
    if result.waived:
        lines += [
            "## Waived",
            "",
            "| Rule | Subjects | Reason | Until |",
            "| --- | --- | --- | --- |",
        ]
        for w in result.waived:
            lines.append(
                f"| {w.finding.rule_id} | {_md(', '.join(w.finding.subjects))} | "
                f"{_md(w.reason)} | {w.expires.isoformat()} |"
            )
        lines.append("")
    if result.expired_waivers:
        lines += ["## Expired waivers (findings back)", ""]
        lines += [f"- {key}" for key in result.expired_waivers] + [""]
    if result.skipped:
        lines += ["## Rules skipped", ""]
        lines += [f"- {s.rule_id}: {_md(s.reason)}" for s in result.skipped] + [""]
    if diff is not None:
        lines += _diff_lines(diff)
    return "\n".join(lines)


def _diff_lines(diff: AuditDiff) -> list[str]:
    if diff.previous_snapshot is None:
        return ["## Since the last saved audit", "", "No saved audit yet (use --save).", ""]
    lines = [
        f"## Since the last saved audit ({diff.previous_snapshot})",
        "",
        f"{len(diff.new)} new, {len(diff.resolved)} resolved, {len(diff.unchanged)} unchanged.",
        "",
    ]
    lines += [f"- new: {f.rule_id} {', '.join(f.subjects)}: {_md(f.message)}" for f in diff.new]
    lines += [f"- resolved: {f.rule_id} {', '.join(f.subjects)}" for f in diff.resolved]
    return [*lines, ""]


def _line_of(inventory_lines: Sequence[str], subject: str) -> int | None:
    pattern = re.compile(rf"(?:^|[\s{{,])id:\s*['\"]?{re.escape(subject)}['\"]?\s*(?:[,}}#]|$)")
    for number, text in enumerate(inventory_lines, start=1):
        if pattern.search(text):
            return number
    return None


def render_sarif(
    result: AuditResult, rules: dict[str, Rule], *, inventory: Path, inventory_text: str = ""
) -> dict[str, Any]:
    """The audit as a SARIF 2.1.0 log: one run, the rules as its driver's rules, one result
    per finding (waived ones carry a suppression with the waiver's reason). Results point at
    the subject's line in ``ecosystem.yaml`` when it can be found.

    Examples
    --------
    >>> f = Finding(rule_id="EM-OWN-001", severity="warning", subjects=("a",), message="m",
    ...             recommendation="r")
    >>> log = render_sarif(AuditResult(as_of=date(2026, 1, 1), findings=(f,)), load_rules(),
    ...                    inventory=Path("ecosystem.yaml"), inventory_text="tools:\\n  - id: a\\n")
    >>> log["version"], log["runs"][0]["results"][0]["level"]
    ('2.1.0', 'warning')
    >>> log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
    {'startLine': 2}
    """
    lines = inventory_text.splitlines()
    ids = list(rules)
    driver_rules = [
        {
            "id": spec.id,
            "name": re.sub(r"[^A-Za-z0-9]+", "", spec.title.title()),
            "shortDescription": {"text": spec.title},
            "fullDescription": {"text": spec.rationale},
            "helpUri": f"docs/rules/{spec.id}.md",
            "help": {"text": spec.rationale},
            "defaultConfiguration": {"level": _LEVELS[spec.severity]},
            "properties": {
                "thresholds": {k: v for k, v in spec.thresholds.items()},
                "needs": list(spec.needs),
            },
        }
        for spec in rules.values()
    ]

    def sarif_result(finding: Finding, suppression: dict[str, str] | None) -> dict[str, Any]:
        physical: dict[str, Any] = {"artifactLocation": {"uri": inventory.as_posix()}}
        line = next((n for s in finding.subjects if (n := _line_of(lines, s))), None)
        if line is not None:
            physical["region"] = {"startLine": line}
        item: dict[str, Any] = {
            "ruleId": finding.rule_id,
            "level": _LEVELS[finding.severity],
            "message": {"text": f"{finding.message} {finding.recommendation}"},
            "locations": [
                {
                    "physicalLocation": physical,
                    "logicalLocations": [{"name": s} for s in finding.subjects],
                }
            ],
            "partialFingerprints": {"edtechMapFindingKey/v1": finding.key},
            "properties": {
                "subjects": list(finding.subjects),
                "evidence": dict(finding.evidence),
                "recommendation": finding.recommendation,
            },
        }
        if finding.rule_id in ids:
            item["ruleIndex"] = ids.index(finding.rule_id)
        if suppression is not None:
            item["suppressions"] = [suppression]
        return item

    results = [sarif_result(f, None) for f in result.findings] + [
        sarif_result(
            w.finding,
            {"kind": "external", "justification": f"{w.reason} (waived until {w.expires})"},
        )
        for w in result.waived
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "edtech-map",
                        "version": __version__,
                        "informationUri": "https://example.org/edtech-map",
                        "rules": driver_rules,
                    }
                },
                "results": results,
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": [
                            {
                                "level": "note",
                                "message": {"text": f"{s.rule_id} skipped: {s.reason}"},
                            }
                            for s in result.skipped
                        ],
                    }
                ],
                "properties": {"as_of": result.as_of.isoformat()},
            }
        ],
    }


def _summary_line(result: AuditResult) -> str:
    counts = result.summary()
    return (
        f"{counts['error']} error, {counts['warning']} warning, {counts['info']} info; "
        f"{counts['waived']} waived; {counts['skipped_rules']} rules skipped."
    )


def _print_table(
    result: AuditResult, rules: dict[str, Rule], out: Console, diff: AuditDiff | None
) -> None:
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        group = [f for f in result.findings if f.severity is severity]
        if not group:
            continue
        table = Table(
            title=f"{severity.value.upper()} ({len(group)})",
            title_justify="left",
            title_style=_STYLES[severity],
            show_lines=False,
        )
        table.add_column("rule", no_wrap=True)
        table.add_column("subjects")
        table.add_column("finding")
        for f in group:
            table.add_row(f.rule_id, ", ".join(f.subjects), f.message)
        out.print(table)
    if result.waived:
        out.print(f"Waived: {', '.join(w.finding.key for w in result.waived)}", markup=False)
    if result.expired_waivers:
        out.print(
            f"Expired waivers (findings back): {', '.join(result.expired_waivers)}", markup=False
        )
    for skipped in result.skipped:
        out.print(f"Skipped {skipped.rule_id}: {skipped.reason}", markup=False)
    if diff is not None:
        for line in _diff_lines(diff):
            if line:
                out.print(line.removeprefix("## "), markup=False)
    out.print(f"Audit as of {result.as_of}: {_summary_line(result)}", markup=False)


def _print_rules(rules: dict[str, Rule]) -> None:
    table = Table(title="Audit rules (docs/rules/<id>.md)", title_justify="left")
    for column in ("rule", "severity", "title", "needs", "thresholds (defaults)"):
        table.add_column(column)
    for rule_id, spec in rules.items():
        table.add_row(
            rule_id,
            spec.severity.value,
            spec.title,
            ", ".join(spec.needs) or "inventory",
            ", ".join(f"{k}={v!r}" for k, v in spec.thresholds.items()),
        )
    console.print(table)


def _filter(result: AuditResult, *, school: str | None, min_severity: Severity) -> AuditResult:
    def keep(f: Finding) -> bool:
        return f.severity >= min_severity and (school is None or school in f.subjects)

    return result.model_copy(
        update={
            "findings": tuple(f for f in result.findings if keep(f)),
            "waived": tuple(w for w in result.waived if keep(w.finding)),
        }
    )


def _open_store(path: Path | None, inventory: Path, *, needed: bool) -> Store | None:
    store_path = path or default_store_path(inventory)
    if not store_path.exists():
        if path is not None or needed:
            raise fail(
                f"no store at {store_path}; import a roster and usage first (edtech-map "
                f"import-roster, edtech-map ingest) or pass --store"
            )
        err_console.print(
            f"note: no store at {store_path}; usage and roster rules are skipped", markup=False
        )
        return None
    try:
        return Store.open(store_path, create=False)
    except StoreError as error:
        raise fail(str(error)) from None


AUDIT_HELP = (
    "Audit the ecosystem: privacy agreements, data flows, overlaps, coverage gaps, teacher-only "
    "and unused tools, licences, structure. Rules needing usage or a roster read the store and "
    "are listed as skipped without one. Exit 0: nothing at or above --fail-on; 1: findings at "
    "or above it; 2: bad arguments or a missing file."
)


@app.command("audit", help=AUDIT_HELP)
def audit_command(
    inventory: InventoryOption = Path("ecosystem.yaml"),
    store: Annotated[
        Path | None,
        typer.Option("--store", help="The store (default .edtech-map/store.duckdb beside it)."),
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table, json, csv, markdown or sarif.")
    ] = OutputFormat.TABLE,
    rule_ids: Annotated[
        list[str] | None, typer.Option("--rule", help="Run only this rule (repeat for more).")
    ] = None,
    school: Annotated[
        str | None, typer.Option("--school", help="Only findings that name this school id.")
    ] = None,
    min_severity: Annotated[
        Severity, typer.Option("--min-severity", help="Hide findings below this severity.")
    ] = Severity.INFO,
    fail_on: Annotated[
        Severity, typer.Option("--fail-on", help="Exit 1 when findings at or above this remain.")
    ] = Severity.ERROR,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Audit as of this day, YYYY-MM-DD (default today)."),
    ] = None,
    window_days: Annotated[
        int, typer.Option("--window-days", min=1, help="Days of usage to look at, ending --as-of.")
    ] = DEFAULT_WINDOW_DAYS,
    save: Annotated[bool, typer.Option("--save", help="Keep this audit in the store.")] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Show what is new or resolved since the last --save.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    list_rules: Annotated[
        bool, typer.Option("--list-rules", help="List the rules and their thresholds, then exit.")
    ] = False,
) -> None:
    """Run the audit (the ``audit`` command).

    Examples
    --------
    >>> import tempfile
    >>> from typer.testing import CliRunner
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "e.yaml").write_text(
    ...     "district: {id: d, name: D}\\ntools:\\n  - {id: app, name: App, category: content}\\n")
    >>> result = CliRunner().invoke(app, ["audit", "-i", str(folder / "e.yaml"), "-f", "csv",
    ...                                    "--as-of", "2026-11-23", "--fail-on", "warning"])
    >>> result.exit_code, "EM-OWN-001" in result.output
    (1, True)
    """
    if list_rules:
        _print_rules(load_rules())
        return
    try:
        day = date.fromisoformat(as_of) if as_of else date.today()
    except ValueError:
        raise fail(f"--as-of {as_of!r} is not a date; write it as YYYY-MM-DD") from None
    ecosystem = load_or_exit(inventory)
    rules = load_rules()
    if rule_ids:
        unknown = sorted(set(rule_ids) - set(rules))
        if unknown:
            raise fail(f"no rule {', '.join(unknown)}; the rules are listed in docs/rules/")
    if school is not None and school not in {s.id for s in ecosystem.schools}:
        raise fail(f"--school {school!r} is not a school id in {inventory}")
    opened = _open_store(store, inventory, needed=save or diff)
    try:
        aggregates = (
            compute_aggregates(opened, ecosystem, as_of=day, window_days=window_days)
            if opened is not None
            else None
        )
        result = run_audit(ecosystem, aggregates=aggregates, as_of=day, rules=rule_ids or None)
        shown = _filter(result, school=school, min_severity=min_severity)
        changes: AuditDiff | None = None
        if diff and opened is not None:
            previous = last_snapshot(opened)
            if previous is None:
                changes = AuditDiff(previous_snapshot=None)
            else:
                compared = diff_findings(previous[1], result.findings, previous_id=previous[0])
                changes = AuditDiff(
                    previous_snapshot=previous[0],
                    new=compared.new,
                    resolved=compared.resolved,
                    unchanged=tuple(f.key for f in compared.unchanged),
                )
        if save and opened is not None:
            snapshot = save_snapshot(opened, result)
            err_console.print(f"saved audit snapshot {snapshot}", markup=False)
    finally:
        if opened is not None:
            opened.close()
    infos = rule_info(ecosystem, rule_ids or None)
    _emit(shown, rules, output_format, output, inventory, changes, infos)
    failing = _filter(result, school=school, min_severity=fail_on).findings
    if failing:
        raise typer.Exit(int(ExitCode.FINDINGS))


def _emit(
    result: AuditResult,
    rules: dict[str, Rule],
    output_format: OutputFormat,
    output: Path | None,
    inventory: Path,
    diff: AuditDiff | None,
    infos: dict[str, RuleInfo],
) -> None:
    text: str
    if output_format is OutputFormat.TABLE:
        if output is None:
            _print_table(result, rules, console, diff)
            return
        with output.open("w", encoding="utf-8") as handle:
            _print_table(result, rules, Console(file=handle, width=120, highlight=False), diff)
        return
    if output_format is OutputFormat.JSON:
        report = AuditReport(summary=result.summary(), result=result, rules=infos, diff=diff)
        text = report.model_dump_json(indent=2) + "\n"
    elif output_format is OutputFormat.CSV:
        text = render_csv(result, rules)
    elif output_format is OutputFormat.MARKDOWN:
        text = render_markdown(result, rules, diff)
    else:
        inventory_text = inventory.read_text(encoding="utf-8") if inventory.exists() else ""
        log = render_sarif(result, rules, inventory=inventory, inventory_text=inventory_text)
        text = json.dumps(log, indent=2, default=str) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
