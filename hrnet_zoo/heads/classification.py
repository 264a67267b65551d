"""The ImageNet head of HRNet-Image-Classification (also timm's layout)."""
from __future__ import annotations

import torch
from torch import nn

from hrnet_zoo.layers import Bottleneck, batch_norm, make_layer

#: Bottleneck widths of the incre modules: outputs 128, 256, 512, 1024 channels.
HEAD_CHANNELS = (32, 64, 128, 256)


class HRNetClassificationHead(nn.Module):
    """Incre modules → strided merge from high to low resolution → 1×1 conv to 2048 → pool → linear.

    ``forward(list of 4 maps N×C_i×H_i×W_i)`` → N×num_classes logits
    (``forward_features`` stops before pooling: N×2048×H/32×W/32).
    """

    num_features = 2048

    def __init__(self, in_channels: list[int], num_classes: int = 1000, conv_bias: bool = True):
        super().__init__()
        self.incre_modules = nn.ModuleList(
            make_layer(Bottleneck, c, HEAD_CHANNELS[i], 1) for i, c in enumerate(in_channels)
        )
        expanded = [c * Bottleneck.expansion for c in HEAD_CHANNELS]
        self.downsamp_modules = nn.ModuleList(
            nn.Sequential(nn.Conv2d(expanded[i], expanded[i + 1], 3, 2, 1, bias=conv_bias),
                          batch_norm(expanded[i + 1]), nn.ReLU(inplace=True))
            for i in range(len(in_channels) - 1)
        )
        self.final_layer = nn.Sequential(
            nn.Conv2d(expanded[len(in_channels) - 1], self.num_features, 1, 1, 0, bias=conv_bias),
            batch_norm(self.num_features), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, features: list[torch.Tensor]) -> torch.Tensor:
        y = self.incre_modules[0](features[0])
        for i, down in enumerate(self.downsamp_modules):
            y = self.incre_modules[i + 1](features[i + 1]) + down(y)
        return self.final_layer(y)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        y = self.forward_features(features)
        return self.classifier(y.mean(dim=(2, 3)))
