"""Resolve ``pretrained=`` for a registered model (manifest, Hub, local folders)."""
from __future__ import annotations

from torch import nn


class PretrainedWeightsError(RuntimeError):
    """No usable weights: unknown tag, offline without a cache, checksum mismatch ..."""


def load_pretrained(model: nn.Module, variant: str, pretrained: bool | str) -> nn.Module:
    raise PretrainedWeightsError(
        f"no pretrained weights are available for {variant!r} in this version; build it with "
        "pretrained=False and load a checkpoint with hrnet_zoo.load_checkpoint(model, path)"
    )
