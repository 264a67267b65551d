"""Representation heads of the HRNet family: how the four branches become one output.

* V1 (pose): the stride-4 branch alone (no module needed).
* V2: every branch upsampled bilinearly to stride 4 and concatenated (`concat_branches()`).
* V2p: the V2 representation reduced to 256 channels and pooled into a 5-level pyramid (`HRFPN`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def concat_branches(features: list[torch.Tensor], align_corners: bool = False) -> torch.Tensor:
    """Upsample every branch bilinearly to the size of the first and concatenate.

    ``[N×C×H×W, N×2C×H/2×W/2, ...]`` → N×(C+2C+4C+8C)×H×W.
    """
    size = features[0].shape[-2:]
    ups = [features[0]] + [F.interpolate(f, size=size, mode="bilinear", align_corners=align_corners)
                           for f in features[1:]]
    return torch.cat(ups, dim=1)


def _pool(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Average-pool by ``factor`` (floor, as the official neck); a side shorter than ``factor`` pools
    to one pixel instead of failing, so small inputs still give 5 levels."""
    kernel = (min(factor, x.shape[-2]), min(factor, x.shape[-1]))
    return F.avg_pool2d(x, kernel_size=kernel, stride=kernel)


class HRFPN(nn.Module):
    """The HRNetV2p neck of HRNet-Object-Detection (``neck.reduction_conv``, ``neck.fpn_conv``).

    Concatenate the upsampled branches, reduce with a 1×1 conv (bias, no BN) to ``out_channels``,
    average-pool by 2, 4, 8, 16 and apply one 3×3 conv per level.

    ``forward(list of 4 maps)`` → list of ``num_outs`` maps N×out_channels×H/2^k×W/2^k
    (strides 4 … 64 relative to the input image).
    """

    def __init__(self, in_channels: list[int], out_channels: int = 256, num_outs: int = 5):
        super().__init__()
        self.num_outs = num_outs
        self.reduction_conv = nn.Sequential(nn.Conv2d(sum(in_channels), out_channels, kernel_size=1))
        self.fpn_conv = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1) for _ in range(num_outs)
        )

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        out = self.reduction_conv(concat_branches(features))
        levels = [out] + [_pool(out, 2**i) for i in range(1, self.num_outs)]
        return [conv(level) for conv, level in zip(self.fpn_conv, levels)]
