"""The per-family features classes that the generic [`BackboneFeatures`][hrnet_zoo.models._features.BackboneFeatures] replaced
(0.3): kept for one minor version so that code naming them and folders saved with them
(``config.json`` ``architecture: "HRNetFeatures"``) still work, with a DeprecationWarning."""
from __future__ import annotations

import warnings
from typing import Literal

from hrnet_zoo.backbones.hrnet import FUSE_MODES, HRNET_CONFIGS
from hrnet_zoo.backbones.resnet import RESNET_CONFIGS
from hrnet_zoo.models._features import BackboneFeatures

#: Deprecated name → what replaces it (for the module ``__getattr__`` of ``hrnet_zoo`` and ``hrnet_zoo.models``).
REPLACED = {
    "HRNetFeatures": "create_model('hrnet_…', features_only=True), a hrnet_zoo.models.BackboneFeatures",
    "ResNetFeatures": "create_model('simplebaseline_…', features_only=True), a hrnet_zoo.models.BackboneFeatures",
}


def warn_deprecated(name: str, stacklevel: int = 3) -> None:
    warnings.warn(f"{name} is deprecated and will be removed in 0.4; use {REPLACED[name]}",
                  DeprecationWarning, stacklevel=stacklevel)


def deprecated_attributes(module: str, *names: str):
    """A module ``__getattr__`` that gives the deprecated ``names`` (with the warning) and nothing else."""
    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warn_deprecated(name)
        return globals()[name]
    return __getattr__


class HRNetFeatures(BackboneFeatures):
    """Deprecated: the four HRNet branches; ``BackboneFeatures("hrnet", {...}, out_indices)``."""

    def __init__(self, width: Literal[tuple(HRNET_CONFIGS)] = "w32", in_chans: int = 3,
                 fuse_mode: Literal[tuple(FUSE_MODES)] = "nearest", out_indices: tuple[int, ...] = (0, 1, 2, 3)):
        warn_deprecated("HRNetFeatures")
        super().__init__("hrnet", {"width": width, "in_chans": in_chans, "fuse_mode": fuse_mode}, out_indices)


class ResNetFeatures(BackboneFeatures):
    """Deprecated: the four ResNet stages; ``BackboneFeatures("resnet", {...}, out_indices)``."""

    def __init__(self, depth: Literal[tuple(RESNET_CONFIGS)] = 50, in_chans: int = 3,
                 out_indices: tuple[int, ...] = (0, 1, 2, 3)):
        warn_deprecated("ResNetFeatures")
        super().__init__("resnet", {"depth": depth, "in_chans": in_chans}, out_indices)
