"""Every deliberate error of the library is an HRNetZooError that keeps its builtin base, and all of
them live in hrnet_zoo/errors.py."""
from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path

import pytest

import hrnet_zoo
from hrnet_zoo import errors

PACKAGE = Path(hrnet_zoo.__file__).parent
#: Builtin exception classes by name (ValueError, TypeError, RuntimeError, KeyError, OSError …).
BUILTIN_EXCEPTIONS = {name for name, obj in vars(builtins).items()
                      if isinstance(obj, type) and issubclass(obj, BaseException)}
#: The one builtin raise Python's protocol demands: a module ``__getattr__`` must raise AttributeError.
PROTOCOL_RAISES = {("__getattr__", "AttributeError")}
#: The CLI's own exceptions (exit statuses), which are not library errors.
CLI_EXCEPTIONS = {"CommandError", "UsageError"}


def _raised_name(node: ast.Raise) -> str | None:
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    if isinstance(exc, ast.Name):
        return exc.id
    if isinstance(exc, ast.Attribute):
        return exc.attr
    return None


def _caught_builtins(handler: ast.ExceptHandler) -> set[str]:
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return {t.id for t in types if isinstance(t, ast.Name) and t.id in BUILTIN_EXCEPTIONS}


def _builtin_raises(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of each ``raise`` of a builtin exception: constructed (``raise ValueError(...)``),
    named (``raise ValueError``) or a caught builtin re-raised by name (``except KeyError as e: raise e``)."""
    found = []

    def visit(node: ast.AST, function: str | None, caught: dict[str, set[str]]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if isinstance(node, ast.ExceptHandler) and node.name:
            caught = {**caught, node.name: _caught_builtins(node)}
        if isinstance(node, ast.Raise) and node.exc is not None:
            name = _raised_name(node)
            if name in BUILTIN_EXCEPTIONS and (function, name) not in PROTOCOL_RAISES:
                found.append((node.lineno, name))
            elif isinstance(node.exc, ast.Name) and caught.get(node.exc.id):
                found.append((node.lineno, f"{node.exc.id} (a caught {'/'.join(sorted(caught[node.exc.id]))})"))
        for child in ast.iter_child_nodes(node):
            visit(child, function, caught)

    visit(tree, None, {})
    return found


def test_the_scan_finds_builtin_raises():
    source = ("def f(x):\n    raise ValueError('bad')\n"
              "def g():\n    try:\n        pass\n    except KeyError as e:\n        raise e\n"
              "def __getattr__(name):\n    raise AttributeError(name)\n"
              "def h():\n    raise errors.InvalidArgumentError('fine')\n")
    assert _builtin_raises(ast.parse(source)) == [(2, "ValueError"), (7, "e (a caught KeyError)")]


def test_no_bare_builtin_raise_in_the_library():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, name in _builtin_raises(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: raise {name}")
    assert not offenders, "raise an hrnet_zoo.errors class (keeping the builtin base) instead:\n" + "\n".join(offenders)


def test_every_exception_class_is_defined_in_errors_py():
    elsewhere = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Exception")) \
                    and node.name not in CLI_EXCEPTIONS:
                elsewhere.append(f"{path.relative_to(PACKAGE.parent)}: {node.name}")
    assert not elsewhere


def test_errors_py_imports_nothing_of_the_package():
    tree = ast.parse(Path(errors.__file__).read_text(encoding="utf-8"))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + \
               [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith("hrnet_zoo")]


ERROR_CLASSES = [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if obj.__module__ == errors.__name__]


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_class_in_errors_py_is_an_hrnet_zoo_error(cls):
    assert issubclass(cls, errors.HRNetZooError)


@pytest.mark.parametrize(("name", "bases"), [
    ("UnknownModelError", (KeyError,)),
    ("UnknownWeightsError", (errors.PretrainedWeightsError, KeyError, RuntimeError)),
    ("CheckpointError", (RuntimeError,)),
    ("PretrainedWeightsError", (RuntimeError,)),
    ("ChecksumError", (errors.PretrainedWeightsError, RuntimeError)),
    ("OfflineError", (errors.PretrainedWeightsError, RuntimeError)),
    ("CorruptCacheError", (errors.PretrainedWeightsError, RuntimeError)),
    ("InvalidConfigError", (errors.PretrainedWeightsError, ValueError)),
    ("InvalidArgumentError", (ValueError,)),
    ("ArgumentTypeError", (TypeError,)),
    ("BackendUnavailableError", (ImportError,)),
    ("MissingDependencyError", (ImportError,)),
    ("UnsupportedPrecisionError", (ValueError,)),
    ("AccuracyCheckError", (RuntimeError,)),
    ("WeightsEntryError", (ValueError,)),
    ("DatasetError", (ValueError,)),
    ("TrainingError", (ValueError,)),
    ("RegistryError", (ValueError,)),
    ("DetectorError", (RuntimeError,)),
    ("VideoError", (RuntimeError,)),
    ("OutputWriteError", (OSError,)),
    ("NonFiniteOutputError", (FloatingPointError,)),
])
def test_each_error_keeps_its_builtin_base(name, bases):
    cls = getattr(errors, name)
    assert issubclass(cls, errors.HRNetZooError)
    for base in bases:
        assert issubclass(cls, base), f"{name} is no longer a {base.__name__}"


@pytest.mark.parametrize(("module", "names"), [
    ("hrnet_zoo._factory", ["UnknownModelError"]),
    ("hrnet_zoo.weights.hub", ["PretrainedWeightsError", "ChecksumError", "OfflineError"]),
    ("hrnet_zoo.weights.cache", ["CorruptCacheError"]),
    ("hrnet_zoo.weights.convert", ["CheckpointError"]),
    ("hrnet_zoo.weights.manifest", ["UnknownWeightsError"]),
    ("hrnet_zoo.weights.config", ["InvalidConfigError"]),
    ("hrnet_zoo.runtime.runner", ["BackendUnavailableError", "UnsupportedPrecisionError"]),
])
def test_old_homes_still_export_the_same_classes(module, names):
    import importlib

    old = importlib.import_module(module)
    for name in names:
        assert getattr(old, name) is getattr(errors, name)


def test_key_errors_print_their_message_without_quotes():
    assert str(errors.UnknownModelError("unknown model 'x'")) == "unknown model 'x'"
    assert str(errors.UnknownWeightsError("no weights 'x:y'")) == "no weights 'x:y'"


def test_a_wrong_argument_still_caught_by_its_builtin_base():
    with pytest.raises(TypeError) as info:
        hrnet_zoo.create_model("hrnet_w18_small_v1", features_only=True, num_joints=5)
    assert isinstance(info.value, errors.ArgumentTypeError)
    from hrnet_zoo.codecs import decode_heatmaps
    with pytest.raises(errors.ArgumentTypeError):
        decode_heatmaps([[1.0]])
    with pytest.raises(ValueError) as info:
        hrnet_zoo.create_model("hrnet_w18_small_v1", features_only=True, fuse_mode="bicubic")
    assert isinstance(info.value, errors.InvalidArgumentError)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_the_cli_turns_every_library_error_into_one_line(cls, capsys, monkeypatch):
    import hrnet_zoo.cli.models as models_cli
    from hrnet_zoo.cli import main

    def failing(pattern, pretrained=False):
        raise cls("model.json: cannot be used\n  (choose another)")

    monkeypatch.setattr(models_cli, "match_models", failing)
    assert main(["list"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "hrnet-zoo: error: model.json: cannot be used (choose another)\n"
