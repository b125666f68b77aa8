"""Audit analyses: pure rules over the ecosystem graph that return findings.

Examples
--------
>>> from edtech_map.analyses import Finding, Severity
>>> Severity("warning") > Severity.INFO
True
"""

from edtech_map.analyses.engine import RULES, AnalysisError, load_rules, run_audit
from edtech_map.analyses.findings import AuditResult, Finding, Severity, SkippedRule, WaivedFinding

__all__ = [
    "RULES",
    "AnalysisError",
    "AuditResult",
    "Finding",
    "Severity",
    "SkippedRule",
    "WaivedFinding",
    "load_rules",
    "run_audit",
]
