"""Heatmaps → keypoints: ``argmax``, ``quarter`` (official HRNet), ``dark`` and ``udp``; batched torch.

``decode_heatmaps(heatmaps: N×K×H×W, decoder)`` → ``(coords N×K×2 (x, y) in heatmap pixels, scores N×K)``.
Scores are the heatmap maxima. As the official ``get_max_preds`` does, coordinates are zero where
the maximum is ≤ 0, for every method. Works on any device; no Python loop over keypoints.
"""
from __future__ import annotations

import numpy as np
import torch

from hrnet_zoo._renamed import renamed_value
from hrnet_zoo.codecs.dark import dark_refine
from hrnet_zoo.codecs.udp import udp_refine
from hrnet_zoo.errors import ArgumentTypeError, InvalidArgumentError
from hrnet_zoo.pretrained_cfg import DEFAULT_DECODER

DECODE_METHODS = ("argmax", "quarter", "dark", "udp")


def check_heatmaps(heatmaps) -> torch.Tensor:
    """Validate and return a floating N×K×H×W tensor (numpy arrays are wrapped, not copied)."""
    if isinstance(heatmaps, np.ndarray):
        heatmaps = torch.from_numpy(heatmaps)
    if not isinstance(heatmaps, torch.Tensor):
        raise ArgumentTypeError(f"heatmaps must be a torch.Tensor or numpy array, got {type(heatmaps).__name__}")
    if heatmaps.ndim != 4:
        raise InvalidArgumentError(f"heatmaps must be N×K×H×W, got shape {tuple(heatmaps.shape)}")
    if not heatmaps.is_floating_point():
        raise ArgumentTypeError(f"heatmaps must be floating point, got {heatmaps.dtype}")
    if min(heatmaps.shape[2:]) < 1:
        raise InvalidArgumentError(f"heatmaps have an empty spatial size {tuple(heatmaps.shape[2:])}")
    return heatmaps


def _raise_if_non_finite(flat: torch.Tensor, maxvals: torch.Tensor) -> None:
    # NaN and +inf show in the maxima for free; one sum catches −inf (an overflowing sum of finite
    # values is re-checked exactly so huge-but-finite maps are not rejected).
    if torch.isfinite(maxvals).all() and torch.isfinite(flat.sum()):
        return
    bad = ~torch.isfinite(flat)
    if bad.any():
        raise InvalidArgumentError(f"heatmaps contain {int(bad.sum())} non-finite values (NaN or ±inf); "
                         "check the model output")


def _maxima(flat: torch.Tensor):
    """First-in-raster-order argmax and the maximum of each row (NaN counts as the maximum)."""
    if flat.device.type == "cpu" and not flat.requires_grad:
        # numpy's SIMD argmax is several times faster than torch's CPU arg-reduction; same first-index rule.
        array = flat.numpy()
        index = array.argmax(axis=1)
        return torch.from_numpy(array[np.arange(len(array)), index]), torch.from_numpy(index)
    maxvals, index = flat.max(dim=1)
    return maxvals, index


def heatmap_maxima(heatmaps: torch.Tensor):
    """Official ``get_max_preds``: integer argmax (first maximum), maxima, coords zeroed where max ≤ 0.

    Returns ``(flat M×(H·W), x M, y M, maxvals M)`` with M = N·K; x, y are long.
    """
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n * k, h * w).contiguous()
    maxvals, index = _maxima(flat)
    _raise_if_non_finite(flat, maxvals)
    positive = maxvals > 0
    x = torch.where(positive, index % w, 0)
    y = torch.where(positive, index // w, 0)
    return flat, x, y, maxvals


def quarter_offsets(flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, height: int, width: int):
    """The official post-processing: 0.25 px toward the larger neighbour, only when
    1 < x < W − 1 and 1 < y < H − 1 (both), per axis by the sign of the neighbour difference."""
    inside = (x > 1) & (x < width - 1) & (y > 1) & (y < height - 1)
    index = y * width + x
    neighbours = torch.stack((index + 1, index - 1, index + width, index - width), dim=1)
    values = torch.gather(flat, 1, neighbours.clamp(0, height * width - 1))
    diff = torch.stack((values[:, 0] - values[:, 1], values[:, 2] - values[:, 3]), dim=1)
    return torch.sign(diff) * 0.25 * inside[:, None]


def decode_heatmaps(heatmaps, decoder: str = DEFAULT_DECODER, blur_kernel_size: int = 11, *,
                    method: str | None = None):
    """Decode N×K×H×W heatmaps into keypoints.

    Args:
        heatmaps: N×K×H×W torch tensor (any device) or numpy array.
        decoder: ``"argmax"``, ``"quarter"`` (official HRNet rule), ``"dark"`` or ``"udp"``; by default
            ``hrnet_zoo.pretrained_cfg.DEFAULT_DECODER`` (``dark``), as `HeatmapCodec`.
        blur_kernel_size: OpenCV Gaussian kernel size for ``dark``/``udp`` modulation: 11 for σ = 2
            targets (64×48 heatmaps), 17 for σ = 3 (96×72).
        method: ``decoder``'s deprecated name (0.2; removed in 0.4).

    Returns:
        ``(coords, scores)``: N×K×2 (x, y) in heatmap pixels and N×K maxima, float32 (float64 for
        float64 input), on the input's device; numpy arrays if the input was numpy.
    """
    decoder = renamed_value(decoder, method, "method", "decoder", "decode_heatmaps", DEFAULT_DECODER)
    if decoder not in DECODE_METHODS:
        raise InvalidArgumentError(f"unknown decode method {decoder!r}; choose one of {', '.join(DECODE_METHODS)}")
    from_numpy = isinstance(heatmaps, np.ndarray)
    heatmaps = check_heatmaps(heatmaps)
    if heatmaps.dtype != torch.float64:
        heatmaps = heatmaps.float()
    n, k, h, w = heatmaps.shape
    if n * k == 0:
        coords, scores = heatmaps.new_zeros(n, k, 2), heatmaps.new_zeros(n, k)
    else:
        flat, x, y, scores = heatmap_maxima(heatmaps)
        coords = torch.stack((x, y), dim=1).to(heatmaps.dtype)
        if decoder == "quarter":
            coords = coords + quarter_offsets(flat, x, y, h, w)
        elif decoder == "dark":
            coords = coords + dark_refine(flat, x, y, scores, h, w, blur_kernel_size)
        elif decoder == "udp":
            coords = coords + udp_refine(flat, x, y, scores, h, w, blur_kernel_size)
        coords, scores = coords.reshape(n, k, 2), scores.reshape(n, k)
    if from_numpy:
        return coords.numpy(), scores.numpy()
    return coords, scores
