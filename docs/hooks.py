"""mkdocs hook: fill ``<!-- generated: NAME -->`` markers from :mod:`edtech_map.docgen`.

Reference pages (inventory fields, vocabularies, CLI) are generated from the code at build
time, so they cannot drift from it.
"""

from __future__ import annotations

import re
from typing import Any

from edtech_map.docgen import GENERATORS

_MARKER = re.compile(r"<!--\s*generated:\s*([a-z_-]+)\s*-->")


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace each marker with the generated Markdown (unknown names fail the build)."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise KeyError(
                f"docs marker names unknown generator {name!r}; known: {sorted(GENERATORS)}"
            )
        return GENERATORS[name]()

    return _MARKER.sub(fill, markdown)
