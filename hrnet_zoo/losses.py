"""Heatmap losses of the official HRNet code (``lib/core/loss.py``), vectorised over joints."""
from __future__ import annotations

import torch
from torch import nn

from hrnet_zoo.errors import InvalidArgumentError


def _weighted_squared_error(output: torch.Tensor, target: torch.Tensor, target_weight, use_target_weight: bool):
    """N×K×H×W prediction/target (+ N×K or N×K×1 weights) → N×K×(H·W) of 0.5·(w·(pred − gt))²."""
    if output.shape != target.shape or output.ndim != 4:
        raise InvalidArgumentError(f"output and target must both be N×K×H×W, got {tuple(output.shape)} and "
                         f"{tuple(target.shape)}")
    n, k = output.shape[:2]
    pred, gt = output.flatten(2), target.flatten(2)  # not reshape(n, k, -1): ambiguous for an empty batch
    if use_target_weight:
        if target_weight is None:
            raise InvalidArgumentError("use_target_weight=True needs target_weight (N×K)")
        weight = target_weight.reshape(n, k, 1).to(pred.dtype)
        pred, gt = pred * weight, gt * weight
    return 0.5 * (pred - gt) ** 2


class JointsMSELoss(nn.Module):
    """0.5 · mean over joints of the (target-weighted) mean squared heatmap error.

    ``forward(output N×K×H×W, target N×K×H×W, target_weight N×K[×1])`` → scalar. Every joint has the
    same number of pixels, so the mean over joints of per-joint means is the overall mean. An empty
    batch gives a zero loss that stays connected to ``output`` (zero gradients, not NaN).
    """

    def __init__(self, use_target_weight: bool = True):
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(self, output: torch.Tensor, target: torch.Tensor, target_weight=None) -> torch.Tensor:
        error = _weighted_squared_error(output, target, target_weight, self.use_target_weight)
        return error.mean() if error.numel() else error.sum()


class JointsOHKMMSELoss(nn.Module):
    """Online hard keypoint mining: per sample, the mean of the ``topk`` largest per-joint losses.

    ``forward(output, target, target_weight)`` → scalar: mean over samples of (sum of the top-k
    per-joint 0.5·MSE values) / k, as ``JointsOHKMMSELoss`` in the official code. ``topk`` must be
    ≥ 1 (0 would divide by zero); an empty batch gives a zero loss connected to ``output``'s graph.
    """

    def __init__(self, use_target_weight: bool = True, topk: int = 8):
        super().__init__()
        if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
            raise InvalidArgumentError(f"topk must be a positive integer (the hardest joints averaged), got {topk!r}")
        self.use_target_weight = use_target_weight
        self.topk = topk

    def forward(self, output: torch.Tensor, target: torch.Tensor, target_weight=None) -> torch.Tensor:
        per_joint = _weighted_squared_error(output, target, target_weight, self.use_target_weight).mean(-1)
        if self.topk > per_joint.shape[1]:
            raise InvalidArgumentError(f"topk={self.topk} exceeds the {per_joint.shape[1]} joints")
        if per_joint.shape[0] == 0:  # an empty batch: zero, still connected to output's graph
            return per_joint.sum()
        hardest = per_joint.topk(self.topk, dim=1, sorted=False).values
        return (hardest.sum(1) / self.topk).mean()
