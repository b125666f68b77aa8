"""The one base class every inventory model inherits.

Examples
--------
>>> class Thing(StrictModel):
...     name: str
>>> Thing(name="x").name
'x'
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

__all__ = ["ID_PATTERN", "Identifier", "StrictModel"]

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_ID = re.compile(ID_PATTERN)

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""An id in the inventory: lower-case letters, digits, ``-``, ``_`` and ``.``; up to 64."""


class StrictModel(BaseModel):
    """Frozen, no unknown fields, enums kept as enums: a typo is an error, never ignored."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        str_strip_whitespace=True,
        validate_default=True,
        use_enum_values=False,
    )
