"""The package's import graph, read from the source (imports inside functions count): no cycle, and
the layers point one way — the registry imports nothing of the package but its errors, ``weights/`` never
reaches ``models/``, ``pose/`` never reaches the data pipeline, training, evaluation or the CLI."""
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


# --------------------------------------------------------------------------------------------- evaluation
#: What evaluation may use but what may never use evaluation: data, the pose layer (keypoints, OKS,
#: crops, inference, scoring; hrnet_zoo.pose once it exists), codecs, models and weights.
BELOW_EVALUATION = ("hrnet_zoo.data", "hrnet_zoo.pose", "hrnet_zoo.pose_estimator",
                    "hrnet_zoo.inference", "hrnet_zoo.crops", "hrnet_zoo.keypoints", "hrnet_zoo.keypoint_presets",
                    "hrnet_zoo.keypoint_names", "hrnet_zoo.keypoint_categories", "hrnet_zoo.oks", "hrnet_zoo.codecs",
                    "hrnet_zoo.models", "hrnet_zoo.weights")
#: The evaluation package and the old module paths that re-export parts of it.
EVALUATION = ("hrnet_zoo.evaluation", "hrnet_zoo.metrics", "hrnet_zoo.result_files")


def _in(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_nothing_below_evaluation_imports_it():
    below = [m for m in GRAPH if _in(m, BELOW_EVALUATION)]
    assert {"hrnet_zoo.data", "hrnet_zoo.inference", "hrnet_zoo.pose_estimator"} <= set(below)
    for module in below:
        reached = sorted(m for m in _reachable(GRAPH, module) if _in(m, EVALUATION) or m == "hrnet_zoo")
        assert not reached, f"{module} reaches {reached}"


def test_the_evaluation_package_holds_its_modules():
    for name in ("functional", "coco", "metrics", "files", "run"):
        assert f"hrnet_zoo.evaluation.{name}" in GRAPH
    assert "hrnet_zoo.evaluation.coco" not in _reachable(GRAPH, "hrnet_zoo.evaluation.functional")


def test_oks_is_computed_in_one_module():
    # COCO's OKS divides by (area + np.spacing(1)); a second copy of the formula would carry it too
    oks_modules = {"hrnet_zoo.oks", "hrnet_zoo.pose.oks"}
    with_formula = {m for m, path in _module_files().items() if "spacing(1)" in path.read_text(encoding="utf-8")}
    assert with_formula and with_formula <= oks_modules, sorted(with_formula - oks_modules)


@pytest.mark.parametrize("module", ["hrnet_zoo.evaluation.functional", "hrnet_zoo.evaluation.metrics",
                                    "hrnet_zoo.video.tracking"])
def test_oks_users_import_the_one_oks(module):
    tree = ast.parse(_module_files()[module].read_text(encoding="utf-8"))
    sources = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and any(alias.name == "oks" for alias in node.names)}
    assert sources and sources <= {"hrnet_zoo.pose", "hrnet_zoo.pose.oks"}


#: What ``pose/`` (keypoint sets, geometry, preprocessing, inference, drawing) must never reach: the data
#: pipeline, training, evaluation and the command line all sit above it.
POSE_NEVER_REACHES = ("hrnet_zoo.data", "hrnet_zoo.training", "hrnet_zoo.train_loop", "hrnet_zoo.evaluation",
                      "hrnet_zoo.cli")


def test_pose_package_exists_and_is_scanned():
    assert {"hrnet_zoo.pose.geometry", "hrnet_zoo.pose.preprocess", "hrnet_zoo.pose.inference"} <= set(GRAPH)


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m == "hrnet_zoo.pose" or m.startswith("hrnet_zoo.pose.")))
def test_pose_never_reaches_data_training_evaluation_or_cli(module):
    reached = _reachable(GRAPH, module)
    bad = sorted(m for m in reached if m.startswith(POSE_NEVER_REACHES))
    assert not bad, f"{module} reaches {bad}"


#: The modules kept only so that 0.2 import paths work until 0.4; each warns when imported.
DEPRECATED_SHIMS = ("hrnet_zoo.crops", "hrnet_zoo.inference", "hrnet_zoo.keypoint_categories", "hrnet_zoo.keypoint_names",
                    "hrnet_zoo.keypoint_presets", "hrnet_zoo.keypoints", "hrnet_zoo.metrics", "hrnet_zoo.oks",
                    "hrnet_zoo.pose_estimator", "hrnet_zoo.result_files", "hrnet_zoo.run_folder",
                    "hrnet_zoo.train_loop", "hrnet_zoo.training_state", "hrnet_zoo.visualize")


def _warns_deprecated_on_import(path: Path) -> bool:
    """Whether the module's top level calls ``warnings.warn(..., DeprecationWarning, ...)``."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        call = node.value if isinstance(node, ast.Expr) else None
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "warn" \
                and any(isinstance(a, ast.Name) and a.id == "DeprecationWarning" for a in call.args):
            return True
    return False


def test_the_deprecated_shims_are_the_modules_that_warn_on_import():
    warning = sorted(m for m, path in _module_files().items() if _warns_deprecated_on_import(path))
    assert warning == sorted(DEPRECATED_SHIMS)


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m not in DEPRECATED_SHIMS))
def test_no_module_imports_a_deprecated_shim(module):
    assert not GRAPH[module] & set(DEPRECATED_SHIMS), f"{module} imports {sorted(GRAPH[module] & set(DEPRECATED_SHIMS))}"
