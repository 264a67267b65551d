"""ResNet (He et al.) as used by SimpleBaseline: torchvision-style, stride on the 3×3 conv.

Module names follow the official pose_resnet.py and torchvision (``conv1``, ``bn1``, ``layer1`` …
``layer4``), so ImageNet and SimpleBaseline state dicts map onto ours by prefix alone (an ImageNet
file loads into the backbone with ``strict=False``, reporting its ``fc.*`` classifier as unexpected).
"""
from __future__ import annotations

import torch
from torch import nn

from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.layers import BasicBlock, Bottleneck, batch_norm, make_layer

#: depth → (block, blocks per stage), as in the ResNet paper.
RESNET_CONFIGS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ResNetBackbone(nn.Module):
    """7×7/2 conv-BN-ReLU, 3×3/2 max-pool, four residual stages; no biases, BN momentum 0.1.

    Args:
        depth: 18, 34, 50, 101 or 152.
        in_chans: input channels.

    ``forward(x: N×in_chans×H×W)`` returns the four stage outputs
    N×(64·e·2^i)×⌈H/2^(i+2)⌉×⌈W/2^(i+2)⌉, i = 0…3 (e = 4 for Bottleneck depths, else 1):
    strides 4, 8, 16, 32 and, for ResNet-50, channels 256, 512, 1024, 2048.
    """

    def __init__(self, depth: int = 50, in_chans: int = 3):
        super().__init__()
        if depth not in RESNET_CONFIGS:
            raise InvalidArgumentError(f"unknown ResNet depth {depth!r}; "
                                       f"choose one of {', '.join(map(str, RESNET_CONFIGS))}")
        block, blocks = RESNET_CONFIGS[depth]
        self.depth = depth
        self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = batch_norm(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = 64
        self.out_channels = []
        for i, num_blocks in enumerate(blocks):
            planes = 64 * 2**i
            setattr(self, f"layer{i + 1}", make_layer(block, inplanes, planes, num_blocks, stride=1 if i == 0 else 2))
            inplanes = planes * block.expansion
            self.out_channels.append(inplanes)
        self.feature_info = [
            dict(num_chs=c, reduction=4 * 2**i, module=f"layer{i + 1}") for i, c in enumerate(self.out_channels)
        ]

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """N×in_chans×H×W → N×64×⌈H/4⌉×⌈W/4⌉."""
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.forward_stem(x)
        features = []
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            features.append(x)
        return features
