"""The shape of espforge.cli: a floor without circles, deferred imports named in one place,
every spec's handler there to load, and a start-up that imports none of them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import get_type_hints

import click
import pytest

import espforge.cli
from espforge.cli import lazy
from espforge.cli.commands import TREE
from espforge.cli.framework import GroupSpec, click_parameter

CLI_FOLDER = Path(espforge.cli.__file__).parent
PACKAGE = "espforge.cli"


def _module_name(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


def _imported_names(path: Path) -> set[str]:
    """Every module an import statement of `path` names, wherever the statement stands."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in CLI_FOLDER.glob("*.py")}
    return {
        name: {other for other in _imported_names(path) if other in modules and other != name}
        for name, path in modules.items()
    }


def test_no_cli_module_imports_one_that_imports_it_back():
    graph = _import_graph()

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        pending = [start]
        while pending:
            for following in graph[pending.pop()] - seen:
                seen.add(following)
                pending.append(following)
        return seen

    circles = sorted(name for name in graph if name in reachable(name))
    assert circles == []


def test_only_lazy_imports_inside_functions():
    deferred = {}
    for path in CLI_FOLDER.glob("*.py"):
        tree = ast.parse(path.read_text())
        functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
        inner = [
            node
            for function in functions
            for node in ast.walk(function)
            if isinstance(node, ast.Import | ast.ImportFrom)
        ]
        if inner:
            deferred[path.stem] = len(inner)
    assert set(deferred) <= {"lazy"}


SPECS = [
    spec
    for entry in TREE
    for spec in (entry.commands if isinstance(entry, GroupSpec) else (entry,))
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_every_spec_names_a_handler_that_loads(spec):
    assert callable(lazy.handler(spec.handler))


@pytest.mark.parametrize("args", [["version"], ["--help"]])
def test_start_up_imports_no_handler_and_no_heavy_library(args):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "espforge", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    heavy = ("cryptography", "rich", "serial", "logging", "espforge.config", "espforge.fileio")
    layers = tuple(f"espforge.{layer}" for layer in ("image", "secure", "efuse", "flash"))
    assert not {name for name in imported if name.startswith(heavy + layers)}
    assert not {name for name in imported if name.endswith(("_handlers", "cli.device"))}


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_every_handler_reads_only_values_its_spec_declares(spec):
    body = lazy.handler(spec.handler).__wrapped__  # the decorated body takes typed options
    options_type = get_type_hints(body)["options"]
    command = click.Command(spec.name, params=[click_parameter(param) for param in spec.params])
    with command.make_context(spec.name, [], resilient_parsing=True) as context:
        options_type.from_arguments(context.params)
