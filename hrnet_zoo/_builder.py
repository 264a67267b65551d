"""Shared construction path of every registered factory: build, optionally cut to features, load weights."""
from __future__ import annotations

from typing import Callable

from torch import nn


def build_model(model_cls: Callable[..., nn.Module], variant: str, pretrained: bool | str = False,
                features_only: bool = False, feature_builder: Callable[..., nn.Module] | None = None,
                **kwargs) -> nn.Module:
    """Build ``model_cls(**kwargs)`` for the registered name ``variant``.

    Args:
        features_only: return the backbone alone (``feature_builder(**kwargs)``), whose forward
            returns the list of multi-resolution maps and which carries ``feature_info``.
        pretrained: see :func:`hrnet_zoo.create_model`.
    """
    if pretrained:  # weights may carry constructor arguments (saved num_joints, heads without conv bias)
        from hrnet_zoo.weights.pretrained import pretrained_model_kwargs

        kwargs = {**pretrained_model_kwargs(variant, pretrained, model_cls), **kwargs}
    if features_only:
        if feature_builder is None:
            raise ValueError(f"{variant} has no features_only form")
        model = feature_builder(**kwargs)
    else:
        model = model_cls(**kwargs)
    if pretrained:
        from hrnet_zoo.weights.pretrained import load_pretrained

        load_pretrained(model, variant, pretrained)
    return model
