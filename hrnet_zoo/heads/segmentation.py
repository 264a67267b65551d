"""The HRNetV2 segmentation head of HRNet-Semantic-Segmentation (``last_layer``)."""
from __future__ import annotations

import torch
from torch import nn

from hrnet_zoo.layers import batch_norm


class SegmentationHead(nn.Module):
    """1×1 conv (bias) → BN → ReLU → conv to ``num_classes``, on the concatenated V2 representation.

    ``forward(x: N×C×H×W)`` → N×num_classes×H×W logits.
    """

    def __init__(self, in_channels: int, num_classes: int, final_conv_kernel: int = 1):
        super().__init__()
        self.last_layer = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, kernel_size=1),
            batch_norm(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, num_classes, final_conv_kernel, 1, 1 if final_conv_kernel == 3 else 0),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_layer(x)
