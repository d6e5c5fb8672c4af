"""The package's layering, checked from its source: who may import whom, no import circles,
no dialect branches in flash/, and no oversized modules.

Every `import` counts, also those inside functions and under TYPE_CHECKING: a lazy import
still makes the importing layer depend on the imported one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SOURCE / "espforge"

# The top-level modules every layer may use: the version, errors, logging, file helpers and
# settings.
UTILITIES = {"espforge", "errors", "logs", "fileio", "config"}
# What each layer may import besides itself and the utilities (README, "Architecture").
ALLOWED = {
    "chips": set(),
    "link": {"chips"},
    "image": {"chips"},
    "secure": {"chips", "image"},
    "efuse": {"chips", "image", "secure"},
    "protocol": {"chips", "link", "image"},
    "flash": {"chips", "link", "protocol", "image", "secure", "efuse"},
    "virtual": {"chips", "link", "protocol", "image", "secure", "efuse"},
    "cli": {"chips", "link", "protocol", "flash", "image", "secure", "efuse", "virtual", "demo"},
    "demo": {"chips", "protocol", "flash", "image", "virtual"},
}
# Files allowed past the size limit because they are data, not logic.
LINE_LIMIT = 500
DATA_MODULES: set[str] = set()


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imported(path: Path) -> Iterator[str]:
    """The espforge modules `path` imports (a `from package import name` counts the package
    and, where `name` is a module, that module)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        yield from (name for name in candidates if name in MODULES)


GRAPH = {name: set(_imported(path)) - {name} for name, path in MODULES.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "espforge"


def test_every_layer_is_known() -> None:
    layers = {_layer(module) for module in MODULES} - UTILITIES - {"__main__"}
    assert layers == set(ALLOWED)


def test_layers_import_only_below_or_beside_themselves() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _layer(module) in ALLOWED
        and _layer(target) not in ALLOWED[_layer(module)] | UTILITIES | {_layer(module)}
    )
    assert wrong == []


def test_utilities_import_no_layer() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _layer(module) in UTILITIES
        for target in targets
        if _layer(target) not in UTILITIES
    )
    assert wrong == []


def _cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(GRAPH[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return groups


def test_no_import_circles() -> None:
    assert _cycles() == []


def test_flash_never_asks_which_dialect_runs() -> None:
    """flash/ calls loader methods that suit the dialect; it does not branch on a stub."""
    offenders = [
        name
        for name, path in MODULES.items()
        if _layer(name) == "flash" and "stub_running" in path.read_text()
    ]
    assert offenders == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module: str) -> None:
    if module in DATA_MODULES:
        return
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= LINE_LIMIT, f"{module} has {lines} lines: split it along its meaning"
