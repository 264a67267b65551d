"""The package's import graph, read from the source (imports inside functions count): no cycle, and
the layers point one way — the registry imports nothing of the package but its errors, ``weights/`` never reaches ``models/``."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hrnet_zoo"


def _module_files() -> dict[str, Path]:
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path
    return files


def _imported_names(module: str, path: Path) -> set[str]:
    """Every hrnet_zoo module named by an import anywhere in the file; ``from a import b`` names
    ``a.b`` when that is a module, else ``a``."""
    names = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names.update(f"{base}.{alias.name}" for alias in node.names)
            names.add(base)
    return names


def import_graph() -> dict[str, set[str]]:
    files = _module_files()
    graph = {}
    for module, path in files.items():
        deps = set()
        for name in _imported_names(module, path):
            while name and name not in files:
                name = name.rpartition(".")[0]
            if name and name != module:
                deps.add(name)
        graph[module] = deps
    return graph


def _cycle_from(graph, start):
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for dep in graph[node]:
            if dep == start:
                return path + [start]
            if dep not in seen:
                seen.add(dep)
                stack.append((dep, path + [dep]))
    return None


def _reachable(graph, start):
    seen, stack = set(), [start]
    while stack:
        for dep in graph[stack.pop()]:
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return seen


GRAPH = import_graph()


def test_the_graph_sees_imports_inside_functions():
    # complexity.measure_model imports the factory inside a function: the scan must see it.
    assert "hrnet_zoo._factory" in GRAPH["hrnet_zoo.complexity"]


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m != "hrnet_zoo"))
def test_no_import_cycle(module):
    cycle = _cycle_from(GRAPH, module)
    assert cycle is None, " → ".join(cycle)


def test_the_registry_imports_nothing_of_the_package_but_its_errors():
    assert GRAPH["hrnet_zoo._registry"] == {"hrnet_zoo.errors"}
    assert GRAPH["hrnet_zoo.errors"] == set()


def test_weights_never_reach_models():
    for module in (m for m in GRAPH if m.startswith("hrnet_zoo.weights")):
        reached = _reachable(GRAPH, module)
        assert not {m for m in reached if m.startswith("hrnet_zoo.models")}, module


def test_a_cycle_is_detected():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert _cycle_from(graph, "a") == ["a", "b", "c", "a"]
