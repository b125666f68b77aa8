"""The ``edtech-map`` command line. Every module in this package adds commands to :data:`app`.

Examples
--------
>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["--help"])
>>> result.exit_code, "validate" in result.output
(0, True)
"""

from __future__ import annotations

import importlib
import pkgutil

from edtech_map.cli.app import app

__all__ = ["app", "main"]

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "app":
        importlib.import_module(f"{__name__}.{_module.name}")


def main() -> None:
    """Run the command line (the ``edtech-map`` console script).

    Examples
    --------
    >>> import sys
    >>> sys.argv = ["edtech-map", "--help"]
    >>> try:
    ...     main()
    ... except SystemExit as stop:
    ...     print(stop.code)
    Usage: ...
    0
    """
    app()
