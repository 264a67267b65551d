"""Model registry: ``register_model``, ``create_model``, ``list_models``.

Every architecture variant is one thin factory function decorated with :func:`register_model`;
the registry maps its name to the function and records which modules define it.
"""
from __future__ import annotations

import difflib
import fnmatch
from typing import Callable

import torch.nn as nn

_model_entrypoints: dict[str, Callable[..., nn.Module]] = {}
_model_to_module: dict[str, str] = {}


class UnknownModelError(KeyError):
    """Raised for a model name the registry does not know; the message suggests close names."""

    def __str__(self) -> str:  # KeyError would repr() the message with quotes
        return str(self.args[0]) if self.args else ""


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a factory under its function name. Re-registering a name is an error."""
    name = fn.__name__
    if name in _model_entrypoints:
        raise ValueError(f"model {name!r} is registered twice")
    _model_entrypoints[name] = fn
    _model_to_module[name] = fn.__module__
    return fn


def _ensure_models_imported() -> None:
    # Importing the package registers every family; this guards direct imports of the registry.
    import hrnet_zoo.models  # noqa: F401


def is_model(name: str) -> bool:
    _ensure_models_imported()
    return name in _model_entrypoints


def suggest_models(name: str, n: int = 3) -> list[str]:
    """Registered names closest to ``name`` (for error messages)."""
    _ensure_models_imported()
    return difflib.get_close_matches(name, list(_model_entrypoints), n=n, cutoff=0.5)


def unknown_model_message(name: str, close: list[str] | None = None) -> str:
    """``unknown model 'x'; did you mean …?``, with ``close`` names or :func:`suggest_models`'s."""
    close = suggest_models(name) if close is None else close
    hint = f"; did you mean {', '.join(close)}?" if close else "; `hrnet-zoo list` shows every name."
    return f"unknown model {name!r}{hint}"


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    _ensure_models_imported()
    try:
        return _model_entrypoints[name]
    except KeyError:
        raise UnknownModelError(unknown_model_message(name)) from None


def list_models(pattern: str | list[str] = "*", pretrained: bool = False) -> list[str]:
    """Sorted names matching the fnmatch ``pattern`` (or any of a list of patterns).

    With ``pretrained=True`` only models that have weights in ``weights_manifest.json``.
    """
    _ensure_models_imported()
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    names = {n for n in _model_entrypoints for p in patterns if fnmatch.fnmatchcase(n, p)}
    if pretrained:
        from hrnet_zoo.weights.manifest import models_with_weights

        names &= set(models_with_weights())
    return sorted(names)


def create_model(name: str, pretrained: bool | str = False, **kwargs) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from :func:`list_models`, e.g. ``"hrnet_w32"``.
        pretrained: ``False``; ``True`` for the default weights the manifest names; a manifest tag;
            ``"hf-hub:org/repo[@rev]"`` or a local folder in hrnet_zoo's own format, whose
            ``config.json`` supplies constructor arguments that ``kwargs`` do not set.
        **kwargs: passed to the factory (``num_joints``, ``num_classes``, ``in_chans``,
            ``features_only`` ...).
    """
    return model_entrypoint(name)(pretrained=pretrained, **kwargs)
