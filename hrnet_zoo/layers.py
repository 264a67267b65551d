"""Building blocks shared by every family: written once, named like the official code.

Attribute names (``conv1``, ``bn1``, ``downsample`` ...) follow the official repositories so their
state dicts map onto ours by prefix alone.
"""
from __future__ import annotations

import torch
from torch import nn

#: BatchNorm momentum of every official HRNet / SimpleBaseline release.
BN_MOMENTUM = 0.1


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    """3×3 convolution with padding 1."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=bias)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    """1×1 convolution."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, padding=0, bias=bias)


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


def conv_bn(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
            relu: bool = True, bias: bool = False) -> nn.Sequential:
    """Conv → BN (→ ReLU) as an indexed ``nn.Sequential`` (keys ``0.weight``, ``1.running_mean`` ...)."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=bias),
        batch_norm(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN with an identity (or projected) shortcut. N×C_in×H×W → N×C×H/s×W/s."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = batch_norm(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = batch_norm(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1×1 → 3×3 (carries the stride) → 1×1 to ``4·planes``. N×C_in×H×W → N×4C×H/s×W/s."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = batch_norm(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = batch_norm(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = batch_norm(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


def make_layer(block: type[BasicBlock] | type[Bottleneck], inplanes: int, planes: int,
               num_blocks: int, stride: int = 1) -> nn.Sequential:
    """``num_blocks`` residual blocks; the first projects the shortcut when stride or width change.

    Same construction as ``_make_layer`` in the official HRNet, SimpleBaseline and torchvision ResNet
    code, so keys read ``0.conv1.weight``, ``0.downsample.0.weight`` ...
    """
    downsample = None
    if stride != 1 or inplanes != planes * block.expansion:
        downsample = nn.Sequential(conv1x1(inplanes, planes * block.expansion, stride),
                                   batch_norm(planes * block.expansion))
    layers = [block(inplanes, planes, stride, downsample)]
    layers += [block(planes * block.expansion, planes) for _ in range(1, num_blocks)]
    return nn.Sequential(*layers)
