"""Heatmap heads: map a backbone feature to K keypoint heatmaps."""
from __future__ import annotations

import torch
from torch import nn


#: Standard deviation of the official initialisation of a fresh prediction layer (HRNet's and
#: SimpleBaseline's ``init_weights``: ``normal_(std=0.001)``, bias 0).
PREDICTION_INIT_STD = 0.001


def init_prediction_layer(layer: nn.Module) -> None:
    """Give every conv / transposed conv / linear inside ``layer`` weights N(0, 0.001²) and zero biases.

    PyTorch's default initialisation makes a new 1×1 layer output heatmaps of about ±1, far above the
    targets (peak 1 on a background of 0), and the first hundreds of steps would only shrink them.
    """
    for module in layer.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(module.weight, std=PREDICTION_INIT_STD)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


class HeatmapHead(nn.Module):
    """The HRNet pose head: one convolution with bias, ``final_layer`` as in the official code.

    ``forward(x: N×C×H×W)`` → N×K×H×W heatmaps.
    """

    def __init__(self, in_channels: int, num_keypoints: int = 17, kernel_size: int = 1):
        super().__init__()
        self.num_keypoints = num_keypoints
        self.final_layer = nn.Conv2d(in_channels, num_keypoints, kernel_size, 1, kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(x)
