"""Building blocks of Newell et al.'s Stacked Hourglass, with the semantics of the original Lua release.

Every convolution has a bias (Torch7's ``SpatialConvolution``), BatchNorm uses momentum 0.1. Names
follow Newell's code (``up1``, ``low1``, ``low2``, ``low3``), which princeton-vl's PyTorch port kept.

Input sizes: max-pools use ``ceil_mode`` and the upsampled lower branch is resized to the exact size
of the skip branch, so any size works; at sizes divisible by 2^depth this is exactly Newell's
"pool 2×2, nearest ×2" (the only sizes where the original runs at all).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hrnet_zoo.layers import batch_norm, conv1x1, conv3x3


def _max_pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)


class PreActResidual(nn.Module):
    """Newell's residual module: BN-ReLU-1×1 (to half), BN-ReLU-3×3, BN-ReLU-1×1 (to ``out_channels``).

    The shortcut is the identity when ``in_channels == out_channels`` and a 1×1 conv (``skip``)
    otherwise. ``forward(x: N×C_in×H×W)`` → N×C_out×H×W.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        mid = out_channels // 2
        self.bn1 = batch_norm(in_channels)
        self.conv1 = conv1x1(in_channels, mid, bias=True)
        self.bn2 = batch_norm(mid)
        self.conv2 = conv3x3(mid, mid, bias=True)
        self.bn3 = batch_norm(mid)
        self.conv3 = conv1x1(mid, out_channels, bias=True)
        self.relu = nn.ReLU()  # not in-place: the pre-activation input is also the identity shortcut
        self.skip = conv1x1(in_channels, out_channels, bias=True) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.skip is None else self.skip(x)
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + shortcut


class Hourglass(nn.Module):
    """Recursive hourglass of ``depth`` levels, one residual per unit, constant width.

    ``up1`` keeps the resolution; the lower branch max-pools, applies ``low1``, a hourglass of
    ``depth - 1`` levels (a residual at the bottom), ``low3``, and is upsampled (nearest) onto ``up1``.
    ``forward(x: N×C×H×W)`` → N×C×H×W.
    """

    def __init__(self, depth: int, channels: int):
        super().__init__()
        self.up1 = PreActResidual(channels, channels)
        self.pool = _max_pool()
        self.low1 = PreActResidual(channels, channels)
        self.low2 = Hourglass(depth - 1, channels) if depth > 1 else PreActResidual(channels, channels)
        self.low3 = PreActResidual(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up1 = self.up1(x)
        low = self.low3(self.low2(self.low1(self.pool(x))))
        return up1 + F.interpolate(low, size=up1.shape[-2:], mode="nearest")


class HourglassStem(nn.Module):
    """7×7/2 conv-BN-ReLU → residual to 128 → 2×2 max-pool → residual → residual to ``channels``.

    ``forward(x: N×in_chans×H×W)`` → N×channels×⌈⌈H/2⌉/2⌉×⌈⌈W/2⌉/2⌉ (= H/4×W/4 at multiples of 4).
    """

    def __init__(self, in_chans: int = 3, channels: int = 256):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=True)
        self.bn1 = batch_norm(64)
        self.relu = nn.ReLU(inplace=True)
        self.res1 = PreActResidual(64, 128)
        self.pool = _max_pool()
        self.res2 = PreActResidual(128, 128)
        self.res3 = PreActResidual(128, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.res1(self.relu(self.bn1(self.conv1(x))))
        return self.res3(self.res2(self.pool(x)))
