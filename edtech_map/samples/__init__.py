"""The bundled sample district (Riverside Valley) and a seeded generator of whole workspaces.

:func:`generate_workspace` writes ``ecosystem.yaml``, a OneRoster 1.1 CSV roster, Caliper 1.2
events, a usage CSV and ``manifest.json`` (a :class:`WorkspaceManifest`: exact counts and the
problems planted on purpose). See ``docs/sample-district.md``.

Examples
--------
>>> from edtech_map.inventory import load_ecosystem
>>> eco = load_ecosystem(RIVERSIDE_YAML)
>>> eco.district.name, len(eco.schools) >= 6, len(eco.tools) >= 60
('Riverside Valley School District', True, True)
"""

from __future__ import annotations

from edtech_map.samples.generator import AS_OF, FILES, generate_workspace
from edtech_map.samples.manifest import (
    Counts,
    FlowRef,
    GapCell,
    OverlapCell,
    Planted,
    ScopeGap,
    Uninventoried,
    WorkspaceManifest,
)
from edtech_map.samples.plan import RIVERSIDE_YAML

__all__ = [
    "AS_OF",
    "FILES",
    "RIVERSIDE_YAML",
    "Counts",
    "FlowRef",
    "GapCell",
    "OverlapCell",
    "Planted",
    "ScopeGap",
    "Uninventoried",
    "WorkspaceManifest",
    "generate_workspace",
]
