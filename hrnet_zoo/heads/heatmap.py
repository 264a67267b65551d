"""Heatmap heads: map a backbone feature to K keypoint heatmaps."""
from __future__ import annotations

import torch
from torch import nn


class HeatmapHead(nn.Module):
    """The HRNet pose head: one convolution with bias, ``final_layer`` as in the official code.

    ``forward(x: N×C×H×W)`` → N×K×H×W heatmaps.
    """

    def __init__(self, in_channels: int, num_joints: int = 17, kernel_size: int = 1):
        super().__init__()
        self.num_joints = num_joints
        self.final_layer = nn.Conv2d(in_channels, num_joints, kernel_size, 1, kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(x)
