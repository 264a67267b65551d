"""``features_only=True`` for any family: one generic wrapper around a registered multi-scale backbone.

A family whose backbone returns a list of maps (and lists them in ``feature_info``: ``num_chs``,
``reduction``, ``module``) registers a *builder* of that backbone with
[`register_features_backbone()`][hrnet_zoo.models._features.register_features_backbone] and names it in its factories'
``build_model(..., features=...)``. [`BackboneFeatures`][hrnet_zoo.models._features.BackboneFeatures] then gives
``out_indices``, ``feature_info`` (``.channels()``, ``.reduction()``, ``.module_name()``),
``save_pretrained``/``from_pretrained`` and partial loading of full models' checkpoints, for every family.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from torch import nn

from hrnet_zoo.errors import ArgumentTypeError, InvalidArgumentError, RegistryError
from hrnet_zoo.models.base import FeaturesModel
from hrnet_zoo.weights.config import (Bounds, InvalidConfigError, Rule, integer, one_of, optional, rules_from_signature,
                                      sequence_of, validate_model_config)

#: ``out_indices`` in a config.json: up to 64 indices (negative ones count from the end).
_OUT_INDICES: Rule = optional(sequence_of(integer(-64, 63), 64))


@dataclass(frozen=True)
class FeaturesBackbone:
    """A registered backbone builder: ``builder(**args)`` → an ``nn.Module`` whose forward returns a list
    of maps N×C_i×H_i×W_i and whose ``feature_info`` lists them; ``rules`` check ``args`` from a config.json."""

    name: str
    builder: Callable[..., nn.Module]
    bounds: Mapping[str, Bounds] = field(default_factory=dict)

    def rules(self) -> dict[str, Rule]:
        return rules_from_signature(self.builder, self.bounds, owner=f"features backbone {self.name!r}")

    def check_arguments(self, args: Mapping[str, Any]) -> None:
        """ArgumentTypeError (a TypeError) naming any of ``args`` the builder does not take."""
        parameters = inspect.signature(self.builder).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return
        unknown = sorted(set(args) - set(parameters))
        if unknown:
            raise ArgumentTypeError(f"features_only models of backbone {self.name!r} take no {', '.join(unknown)} "
                                    f"(they take {', '.join([*parameters, 'out_indices'])})")


_backbones: dict[str, FeaturesBackbone] = {}


def register_features_backbone(name: str, builder: Callable[..., nn.Module],
                               bounds: Mapping[str, Bounds | tuple] | None = None) -> FeaturesBackbone:
    """Register ``builder`` (annotated like a model constructor; its arguments are what ``features_only``
    models of the family take besides ``out_indices``) under ``name``."""
    if name in _backbones:
        raise RegistryError(f"features backbone {name!r} is registered twice")
    spec = FeaturesBackbone(name, builder, {k: Bounds(*v) for k, v in (bounds or {}).items()})
    spec.rules()  # an argument without a usable annotation is the family module's mistake: say so now
    _backbones[name] = spec
    return spec


def features_backbone(name: str) -> FeaturesBackbone:
    if name not in _backbones:
        raise InvalidArgumentError(f"no features backbone {name!r} is registered (known: {', '.join(sorted(_backbones))})")
    return _backbones[name]


def unregister_features_backbone(name: str) -> None:
    """Forget a backbone (tests that add a temporary family)."""
    _backbones.pop(name, None)


class BackboneFeatures(FeaturesModel):
    """The backbone of any family alone (``features_only=True``): ``forward`` → the maps at ``out_indices``.

    Args:
        backbone: a name registered with `register_features_backbone` (``"hrnet"``, ``"resnet"`` …).
        backbone_args: the builder's arguments (``width``, ``depth``, ``in_chans`` …).
        out_indices: which maps, in the backbone's order (None: all); negative indices count from the end.

    ``forward(x: N×in_chans×H×W)`` → list of N×``feature_info.channels(i)``×H/r_i×W/r_i,
    r_i = ``feature_info.reduction(i)``. Keys are ``backbone.*``, as in the full models.
    """

    def __init__(self, backbone: str, backbone_args: Optional[dict] = None, out_indices: Optional[tuple[int, ...]] = None):
        super().__init__()
        self.backbone_name = backbone
        spec = features_backbone(backbone)
        spec.check_arguments(dict(backbone_args or {}))
        self.backbone = spec.builder(**dict(backbone_args or {}))
        self._select_features(range(len(self.backbone.feature_info)) if out_indices is None else out_indices)

    @classmethod
    def config_rules(cls) -> dict[str, Rule]:
        """The wrapper's own arguments; ``backbone_args`` are checked by `check_config` against the
        builder that ``backbone`` names. Subclasses with their own constructor use its signature."""
        if _has_own_constructor(cls):
            return super().config_rules()
        return {"backbone": one_of(*_backbones), "backbone_args": _is_object, "out_indices": _OUT_INDICES}

    @classmethod
    def check_config(cls, config: dict, source: str) -> dict:
        """Check ``backbone`` against the registered names, ``backbone_args`` against that builder's
        signature, and ``out_indices``."""
        if _has_own_constructor(cls):
            return super().check_config(config, source)
        validate_model_config({**config, "architecture": cls.__name__}, cls.config_rules(), source)
        if "backbone" not in config:
            raise InvalidConfigError(f"config.json of {source}: {cls.__name__} needs 'backbone'")
        args = config.get("backbone_args") or {}
        validate_model_config({**args, "architecture": f"features backbone {config['backbone']!r}"},
                              _backbones[config["backbone"]].rules(), source)
        return config


def _is_object(value: Any) -> str | None:
    return None if value is None or isinstance(value, dict) else "must be a JSON object of the backbone's arguments"


def _has_own_constructor(cls: type) -> bool:
    return cls is not BackboneFeatures and any("__init__" in vars(c) for c in cls.__mro__[:cls.__mro__.index(BackboneFeatures)])
