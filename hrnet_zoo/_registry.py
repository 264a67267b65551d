"""Model registry: the registered factories and the families that declare them.

Every architecture variant is one thin factory function decorated with [`register_model()`][hrnet_zoo._registry.register_model].
A *family* is the module that holds such factories; it describes itself once with
[`register_family()`][hrnet_zoo._registry.register_family] (CLI aliases, docs sections, defaults of its weights entries, the
fvcore ops its layers need), so that adding a family is one new module plus its lines in ``hrnet_zoo/models/factories.py``.
This module imports nothing of the package but its errors, so any layer
(``weights/``, ``complexity``, the CLI, the docs script) may read it.
"""
from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from hrnet_zoo.errors import RegistryError

_model_entrypoints: dict[str, Callable] = {}
_families: dict[str, "Family"] = {}  # module name → Family, in registration order


@dataclass(frozen=True)
class Family:
    """What the rest of the package needs to know about one family module.

    Attributes:
        name: short name (``"hrnet"``), shown in docs and ``hrnet-zoo info``.
        module: the ``__name__`` of the module whose factories belong to the family.
        title: one line for the docs.
        alias_prefixes: prefixes the CLI tries in front of a short name (``"hrnet_"``: ``w32`` → ``hrnet_w32``).
        docs_sections: model class name → section title of ``docs/zoo.md``, in page order.
        default_input_help: the default input in words, for ``hrnet-zoo flops --help`` (``"256x192 pose"``).
        zero_cost_ops: fvcore op names that cost nothing in both FLOP conventions (see `hrnet_zoo.complexity`).
        averaging_ops: fvcore op names counted like average pooling (one flop per input element).
        weights_defaults: fields every weights entry of the family's models has unless it says otherwise
            (``license``, ``training_data``, ``normalization`` …), filled in by ``register_weights``.
    """

    name: str
    module: str
    title: str = ""
    alias_prefixes: tuple[str, ...] = ()
    docs_sections: tuple[tuple[str, str], ...] = ()
    default_input_help: tuple[str, ...] = ()
    zero_cost_ops: tuple[str, ...] = ()
    averaging_ops: tuple[str, ...] = ()
    weights_defaults: Mapping[str, Any] = field(default_factory=dict)

    def models(self) -> list[str]:
        """The registered names whose factory lives in this family's module, sorted."""
        return sorted(n for n, fn in _model_entrypoints.items() if fn.__module__ == self.module)


def register_model(fn: Callable) -> Callable:
    """Register a factory under its function name. Re-registering a name is an error."""
    name = fn.__name__
    if name in _model_entrypoints:
        raise RegistryError(f"model {name!r} is registered twice")
    _model_entrypoints[name] = fn
    return fn


def register_family(name: str, module: str, *, title: str = "", alias_prefixes=(), docs_sections=(),
                    default_input_help=(), zero_cost_ops=(), averaging_ops=(),
                    weights_defaults: Mapping[str, Any] | None = None) -> Family:
    """Describe the family module ``module`` (pass ``__name__``); see [`Family`][hrnet_zoo._registry.Family] for the fields.

    ``docs_sections`` may be a dict (class name → title). Describing a module or a name twice is an error.
    """
    if module in _families or any(f.name == name for f in _families.values()):
        raise RegistryError(f"model family {name!r} ({module}) is registered twice")
    sections = tuple(dict(docs_sections).items())
    family = Family(name, module, title, tuple(alias_prefixes), sections, tuple(default_input_help),
                    tuple(zero_cost_ops), tuple(averaging_ops), dict(weights_defaults or {}))
    _families[module] = family
    return family


def list_families() -> list[Family]:
    """Every described family, in registration (import) order."""
    return list(_families.values())


def family_of(model_name: str) -> Family | None:
    """The family whose module registered ``model_name`` (None for a name without a described family)."""
    fn = _model_entrypoints.get(model_name)
    return None if fn is None else _families.get(fn.__module__)


def unregister_module(module: str) -> None:
    """Forget every factory of ``module`` and its family (tests that add a temporary family)."""
    for name in [n for n, fn in _model_entrypoints.items() if fn.__module__ == module]:
        del _model_entrypoints[name]
    _families.pop(module, None)


def alias_prefixes() -> tuple[str, ...]:
    """``""`` and every family's alias prefixes, in registration order, each once."""
    return tuple(dict.fromkeys(("",) + tuple(p for f in _families.values() for p in f.alias_prefixes)))


def is_model(name: str) -> bool:
    return name in _model_entrypoints


def get_model_entrypoint(name: str) -> Callable | None:
    """The factory registered as ``name``, or None."""
    return _model_entrypoints.get(name)


def suggest_models(name: str, n: int = 3) -> list[str]:
    """Registered names closest to ``name`` (for error messages)."""
    return difflib.get_close_matches(name, list(_model_entrypoints), n=n, cutoff=0.5)


def match_models(pattern: str | list[str] = "*") -> list[str]:
    """Sorted registered names matching the fnmatch ``pattern`` (or any of a list of patterns)."""
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    return sorted({n for n in _model_entrypoints for p in patterns if fnmatch.fnmatchcase(n, p)})
