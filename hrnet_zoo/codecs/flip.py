"""Flip test helpers: mirror heatmaps back and swap left/right channels (official ``flip_back``)."""
from __future__ import annotations

import torch

from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.pose.keypoint_set import flip_indices_from_pairs, keypoint_set_for


def default_flip_pairs(num_keypoints: int):
    """COCO pairs for 17 keypoints, MPII pairs for 16; other counts must pass their own pairs."""
    kset = keypoint_set_for(num_keypoints)
    if kset is None:
        raise InvalidArgumentError(f"no built-in flip pairs for {num_keypoints} keypoints (COCO has 17, MPII 16); "
                         "pass flip_pairs=[(left, right), ...] or flip_test=False")
    return kset.flip_pairs


def flip_back(heatmaps: torch.Tensor, flip_pairs=None, shift: bool = False) -> torch.Tensor:
    """Heatmaps of a horizontally flipped input → heatmaps in the original orientation.

    Mirrors the width axis and swaps each (left, right) channel pair; ``flip_pairs=None`` picks COCO
    or MPII by the channel count. ``shift=True`` moves the result one pixel right
    (``output[..., 1:] = output[..., :-1]``), as the official test does with ``SHIFT_HEATMAP``.

    ``heatmaps``: N×K×H×W → N×K×H×W (a new tensor).
    """
    if heatmaps.ndim != 4:
        raise InvalidArgumentError(f"heatmaps must be N×K×H×W, got shape {tuple(heatmaps.shape)}")
    num_keypoints = heatmaps.shape[1]
    pairs = default_flip_pairs(num_keypoints) if flip_pairs is None else flip_pairs
    order = torch.tensor(flip_indices_from_pairs(pairs, num_keypoints), device=heatmaps.device)
    flipped = heatmaps.flip(-1).index_select(1, order)
    if shift:
        flipped[..., 1:] = flipped[..., :-1].clone()
    return flipped


def flip_keypoints(keypoints: torch.Tensor, width: float, flip_pairs) -> torch.Tensor:
    """Mirror N×K×D keypoints (x, y, …) in an image ``width`` pixels wide: x → width − 1 − x, and swap pairs."""
    order = flip_indices_from_pairs(flip_pairs, keypoints.shape[1])
    flipped = keypoints[:, order].clone()
    flipped[..., 0] = width - 1 - flipped[..., 0]
    return flipped
