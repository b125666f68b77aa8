"""Every public function and class carries a docstring with an example that pytest runs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from enum import Enum

import pytest

import connectors
import edtech_map
from edtech_map.cli import app

PACKAGES = (edtech_map, connectors)


def _modules() -> Iterator[str]:
    for package in PACKAGES:
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            yield info.name


# Typer commands document themselves with `--help` text and an "Example:" command line.
COMMANDS = {info.callback for info in app.registered_commands} | {
    info.callback
    for group in app.registered_groups
    if group.typer_instance
    for info in group.typer_instance.registered_commands
}


def _needs_example(value: object) -> bool:
    if inspect.isclass(value):
        # Exceptions and enums are declarations; their use shows where they are raised or read.
        return not issubclass(value, BaseException | Enum)
    return inspect.isfunction(value) and value not in COMMANDS


def _public_callables() -> Iterator[tuple[str, str]]:
    for module_name in _modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name, None)
            if not _needs_example(value):
                continue
            if getattr(value, "__module__", None) != module_name:
                continue  # re-exported: checked where it is defined
            yield module_name, name


CALLABLES = sorted(set(_public_callables()))


def test_the_check_sees_the_public_api() -> None:
    names = {name for _, name in CALLABLES}
    assert {"load_ecosystem", "build_graph", "Ecosystem", "import_spreadsheet"} <= names


@pytest.mark.parametrize(("module_name", "name"), CALLABLES)
def test_public_callable_has_a_runnable_example(module_name: str, name: str) -> None:
    value = getattr(importlib.import_module(module_name), name)
    doc = inspect.getdoc(value) or ""
    examples = ">>>" in doc
    if inspect.isclass(value) and not examples:
        # A class may show its use in the module docstring instead (pydantic models, enums).
        module_doc = inspect.getdoc(importlib.import_module(module_name)) or ""
        examples = any(name in line for line in module_doc.splitlines() if ">>>" in line)
    assert examples, f"{module_name}.{name} needs a docstring with an `Examples` section (>>>)"
