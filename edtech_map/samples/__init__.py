"""The bundled sample district (Riverside Valley) and a seeded generator of whole workspaces.

Examples
--------
>>> from edtech_map.inventory import load_ecosystem
>>> eco = load_ecosystem(RIVERSIDE_YAML)
>>> eco.district.name, len(eco.schools) >= 6, len(eco.tools) >= 60
('Riverside Valley School District', True, True)
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RIVERSIDE_YAML"]

RIVERSIDE_YAML = Path(__file__).with_name("riverside.yaml")
"""The hand-written ``ecosystem.yaml`` of the fictional Riverside Valley School District."""
