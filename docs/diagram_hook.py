"""mkdocs hook: draw the sample district's diagrams from the code at build time.

The SVG files are added to the site as ``assets/riverside-flows.svg`` and
``assets/riverside-schools.svg`` (generated files: nothing is written into ``docs/``, so
``mkdocs serve`` does not rebuild in a loop). A page asks for one with the marker
``<!-- diagram-asset: riverside-flows -->``, which becomes the image (or a link, for the large
one); without this hook the marker stays an invisible comment. Graphviz must be installed
(``make setup``); without it the build stops and says so.
"""

from __future__ import annotations

import re
from typing import Any

from mkdocs.structure.files import File, Files

from edtech_map.graph import build_graph
from edtech_map.inventory import load_ecosystem
from edtech_map.render import to_svg
from edtech_map.samples import AS_OF, RIVERSIDE_YAML

_MARKER = re.compile(r"<!--\s*diagram-asset:\s*([a-z-]+)\s*-->")
ASSETS = {
    "riverside-flows": (
        "![Riverside Valley: every tool with its data flows, rostering, SSO and LTI links]"
        "(assets/riverside-flows.svg)"
    ),
    "riverside-schools": (
        "The whole district clustered by school, with schools and their tools: "
        "[riverside-schools.svg](assets/riverside-schools.svg)."
    ),
}


def on_files(files: Files, config: Any, **_: Any) -> Files:
    """Add the generated SVG diagrams of the sample district to the site's files."""
    G = build_graph(load_ecosystem(RIVERSIDE_YAML), as_of=AS_OF)
    diagrams = {
        "riverside-flows": to_svg(G, only_flows=True, by="category"),
        "riverside-schools": to_svg(G, by="school", timeout=60),
    }
    for name, svg in diagrams.items():
        files.append(File.generated(config, f"assets/{name}.svg", content=svg))
    return files


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace each ``diagram-asset`` marker with its image or link (unknown names fail)."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ASSETS:
            raise KeyError(f"docs marker names unknown diagram {name!r}; known: {sorted(ASSETS)}")
        return ASSETS[name]

    return _MARKER.sub(fill, markdown)
