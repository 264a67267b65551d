"""Model registry: the names of the registered factories, and nothing else.

Every architecture variant is one thin factory function decorated with [`register_model()`][hrnet_zoo._registry.register_model]. This
module imports nothing of the package, so any layer may use it; building models (``create_model``)
and their weights live above it in `hrnet_zoo._factory`.
"""
from __future__ import annotations

import difflib
import fnmatch
from typing import Callable

_model_entrypoints: dict[str, Callable] = {}


def register_model(fn: Callable) -> Callable:
    """Register a factory under its function name. Re-registering a name is an error."""
    name = fn.__name__
    if name in _model_entrypoints:
        raise ValueError(f"model {name!r} is registered twice")
    _model_entrypoints[name] = fn
    return fn


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
