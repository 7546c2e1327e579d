"""The package's modules form a layered graph: no import cycles (lazy, in-function imports included) and no
private helper (``_name``) imported from another module.

A cycle that only works because one side imports lazily still couples the two modules both ways (each
change must keep both import orders working), so lazy imports count as edges. The graph is read from the
source with ``ast``, so every module is covered, also those no test imports.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "trtbench"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """Absolute name of a (possibly relative) import written in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([target] if target else [])])


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str], int]]:
    """``(imported trtbench module, names taken from it, line)`` for every import statement in the file,
    wherever it is (top level, function body, conditional)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names if alias.name.startswith("trtbench")]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, is_package, node.level, node.module)
            if not source.startswith("trtbench"):
                continue
            names = [alias.name for alias in node.names]
            submodules = [f"{source}.{n}" for n in names if f"{source}.{n}" in modules]
            if submodules:  # `from . import x` imports module x
                found += [(sub, [], node.lineno) for sub in submodules]
            other = [n for n in names if f"{source}.{n}" not in modules]
            if other:
                found.append((source, other, node.lineno))
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {target for target, _, _ in imports_of(name, path, modules) if target in modules and target != name}
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_graph_sees_lazy_imports():
    graph = import_graph()
    # cli.py imports its subcommands' modules inside the command functions only
    assert "trtbench.doctor" in graph["trtbench.cli"]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_no_private_names_imported_across_modules():
    modules = _modules()
    offenders = [f"{path.relative_to(PACKAGE_DIR.parent)}:{line} imports {name} from {source}"
                 for module, path in modules.items()
                 for source, names, line in imports_of(module, path, modules) if source != module
                 for name in names if name.startswith("_") and not name.startswith("__")]
    assert offenders == []


@pytest.mark.parametrize("module", sorted(_modules()))
def test_every_module_imports(module):
    importlib.import_module(module)
