"""Audit analyses: pure rules over the ecosystem graph that return findings.

Examples
--------
>>> from edtech_map.analyses import Finding, Severity
>>> Severity("warning") > Severity.INFO
True
"""

from edtech_map.analyses.findings import AuditResult, Finding, Severity, SkippedRule, WaivedFinding

__all__ = ["AuditResult", "Finding", "Severity", "SkippedRule", "WaivedFinding"]
