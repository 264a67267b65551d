"""Deconvolution heads: SimpleBaseline's (Xiao et al.) and the multi-scale one of Kang & Cho.

Both sit on any single feature map (a ResNet's last stage, an HRNet branch …): they only need its
channel count.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.heads.heatmap import HeatmapHead
from hrnet_zoo.layers import batch_norm, conv1x1

#: Kernel size → (padding, output_padding) so that a stride-2 transposed conv exactly doubles H and W
#: (the table of the official ``_get_deconv_cfg`` and of mmpose's HeatmapHead).
DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


def deconv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 4, bias: bool = False) -> list[nn.Module]:
    """Stride-2 ConvTranspose2d → BN → ReLU, N×C_in×H×W → N×C_out×2H×2W (as a list of 3 modules)."""
    if kernel_size not in DECONV_PADDING:
        raise InvalidArgumentError(
            f"deconvolution kernel size must be one of {sorted(DECONV_PADDING)}, got {kernel_size}")
    padding, output_padding = DECONV_PADDING[kernel_size]
    return [
        nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=2, padding=padding,
                           output_padding=output_padding, bias=bias),
        batch_norm(out_channels),
        nn.ReLU(inplace=True),
    ]


def _check_deconv_config(num_filters: Sequence[int], kernel_sizes: Sequence[int]) -> None:
    if len(num_filters) != len(kernel_sizes):
        raise InvalidArgumentError(
            f"{len(num_filters)} deconvolution filter counts but {len(kernel_sizes)} kernel sizes")


class DeconvHead(HeatmapHead):
    """SimpleBaseline's head: ``len(num_filters)`` × (deconv/2 → BN → ReLU), then a conv with bias to K maps.

    Keys as in the official pose_resnet.py and mmpose v1: ``deconv_layers.{3i}`` (deconv),
    ``deconv_layers.{3i+1}`` (BN), ``final_layer``.

    ``forward(x: N×in_channels×H×W)`` → N×num_keypoints×(2^d·H)×(2^d·W), d = ``len(num_filters)``.
    """

    def __init__(self, in_channels: int, num_keypoints: int = 17, num_filters: Sequence[int] = (256, 256, 256),
                 kernel_sizes: Sequence[int] = (4, 4, 4), final_conv_kernel: int = 1, deconv_bias: bool = False):
        _check_deconv_config(num_filters, kernel_sizes)
        super().__init__(num_filters[-1] if num_filters else in_channels, num_keypoints, final_conv_kernel)
        layers: list[nn.Module] = []
        for out_channels, kernel_size in zip(num_filters, kernel_sizes):
            layers += deconv_bn_relu(in_channels, out_channels, kernel_size, deconv_bias)
            in_channels = out_channels
        self.deconv_layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(x))


class MultiScaleDeconvHead(nn.Module):
    """Multi-scale deconvolution head (Kang & Cho): every deconvolution stage predicts heatmaps.

    Stage 0 is the input feature, stage i the output of deconvolution i. The last
    ``num_resolutions`` stages each predict K heatmaps with a 1×1 conv; the prediction is
    concatenated to that conv's input (``[features, heatmaps]``) and the next deconvolution keeps the
    concatenated width, so deconvolution i has ``num_filters[i] + K·(predictions so far)`` filters.
    This reading reproduces the paper's 34,450,316 parameters for ResNet-50 with 3 resolutions
    exactly (docs/msdh.md). The final output is the mean of every prediction resized (``upsample_mode``)
    to the finest one's size, i.e. scaled by a power of two.

    Keys: ``deconv_layers.{i}.{0,1}`` (deconv, BN of deconvolution i+1), ``predictors.{j}`` (1×1 convs,
    coarsest first).

    ``forward(x: N×C×H×W)`` → N×K×(2^d·H)×(2^d·W); ``forward_all(x)`` → the ``num_resolutions``
    predictions, coarsest first, each at its own size (for a multi-resolution L2 loss).
    """

    def __init__(self, in_channels: int, num_keypoints: int = 17, num_resolutions: int = 3,
                 num_filters: Sequence[int] = (256, 256, 256), kernel_sizes: Sequence[int] = (4, 4, 4),
                 upsample_mode: str = "bilinear"):
        super().__init__()
        _check_deconv_config(num_filters, kernel_sizes)
        num_stages = len(num_filters) + 1
        if not 1 <= num_resolutions <= num_stages:
            raise InvalidArgumentError(f"num_resolutions must be in 1…{num_stages} for {num_stages - 1} "
                                       "deconvolutions, "
                             f"got {num_resolutions}")
        self.num_keypoints = num_keypoints
        self.num_resolutions = num_resolutions
        self.upsample_mode = upsample_mode
        #: Index of the first stage that predicts (0 = the input feature itself).
        self.first_predicting_stage = num_stages - num_resolutions

        deconvs, predictors = [], []
        channels, num_concatenated = in_channels, 0
        for stage in range(num_stages):
            if stage > 0:
                out_channels = num_filters[stage - 1] + num_keypoints * num_concatenated
                deconvs.append(nn.Sequential(*deconv_bn_relu(channels, out_channels, kernel_sizes[stage - 1])))
                channels = out_channels
            if stage >= self.first_predicting_stage:
                predictors.append(conv1x1(channels, num_keypoints, bias=True))
                if stage < num_stages - 1:  # the last prediction feeds nothing
                    channels += num_keypoints
                    num_concatenated += 1
        self.deconv_layers = nn.ModuleList(deconvs)
        self.predictors = nn.ModuleList(predictors)

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """N×C×H×W → ``num_resolutions`` heatmaps N×K×(2^s·H)×(2^s·W), coarsest stage s first."""
        predictions = []
        predictors = iter(self.predictors)
        for stage in range(len(self.deconv_layers) + 1):
            if stage > 0:
                x = self.deconv_layers[stage - 1](x)
            if stage >= self.first_predicting_stage:
                heatmaps = next(predictors)(x)
                predictions.append(heatmaps)
                if stage < len(self.deconv_layers):
                    x = torch.cat([x, heatmaps], dim=1)
        return predictions

    def resize_to_finest(self, predictions: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each prediction resized (``upsample_mode``) to the last (finest) one's H×W."""
        size = predictions[-1].shape[-2:]
        align = {} if self.upsample_mode == "nearest" else {"align_corners": False}
        return [p if p.shape[-2:] == size else F.interpolate(p, size=size, mode=self.upsample_mode, **align)
                for p in predictions]

    def merge(self, predictions: list[torch.Tensor]) -> torch.Tensor:
        """Mean of the predictions, each resized to the last (finest) one's H×W."""
        return torch.stack(self.resize_to_finest(predictions)).mean(dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.merge(self.forward_all(x))
