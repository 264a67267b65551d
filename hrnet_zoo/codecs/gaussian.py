"""Gaussian heatmap targets, batched over people and keypoints.

Three encodings, all ``(keypoints N×K×2 in input pixels, visibility N×K)`` → ``(targets N×K×H×W,
weights N×K)``:

* [`msra_targets()`][hrnet_zoo.codecs.gaussian.msra_targets] — the official HRNet ``generate_target``: centre ``int(x / stride + 0.5)``,
  a (6σ+1)² window with peak 1, weight = visibility (clipped to 1, as the COCO loader does), zero
  weight for a Gaussian entirely off the map, and a drawn target only where the weight is > 0.5.
* [`unbiased_targets()`][hrnet_zoo.codecs.gaussian.unbiased_targets] — DARK: a full-map Gaussian at the float location ``x / stride``.
* [`udp_targets()`][hrnet_zoo.codecs.gaussian.udp_targets] — UDP: stride ``(input − 1) / (heatmap − 1)``, the float-centred Gaussian inside
  the integer window around ``int(x + 0.5)``.

``input_size`` and ``heatmap_size`` are ``(H, W)``, as everywhere in hrnet_zoo; keypoints are (x, y).
"""
from __future__ import annotations

import math

import torch

from hrnet_zoo.errors import InvalidArgumentError


def _as_keypoints(keypoints, visibility) -> tuple[torch.Tensor, torch.Tensor]:
    kpts = torch.as_tensor(keypoints, dtype=torch.float64)
    if kpts.ndim != 3 or kpts.shape[-1] < 2:
        raise InvalidArgumentError(f"keypoints must be N×K×2 (x, y), got shape {tuple(kpts.shape)}")
    if visibility is None:
        vis = torch.ones(kpts.shape[:2], dtype=torch.float64, device=kpts.device)
    else:
        vis = torch.as_tensor(visibility, dtype=torch.float64, device=kpts.device)
        if vis.ndim == 3:  # official joints_3d_vis layout N×K×3: the first column counts
            vis = vis[..., 0]
        if vis.shape != kpts.shape[:2]:
            raise InvalidArgumentError(f"visibility must be N×K = {tuple(kpts.shape[:2])}, got {tuple(vis.shape)}")
    return kpts[..., :2], vis


def _xy(size_hw) -> tuple[int, int]:
    """An (H, W) size as (W, H): the order of the (x, y) keypoint columns it scales."""
    height, width = (int(v) for v in size_hw)
    return width, height


def _window_profile(length: int, centre: torch.Tensor, start: torch.Tensor, stop: torch.Tensor,
                    sigma: float) -> torch.Tensor:
    """N×K×length values exp(−(i − centre)² / 2σ²) for start ≤ i < stop, else 0 (float32 like the official)."""
    i = torch.arange(length, dtype=torch.float64, device=centre.device)
    d = i - centre[..., None]
    values = torch.exp((-(d * d) / (2 * sigma**2)).float())
    inside = (i >= start[..., None]) & (i < stop[..., None])
    return values * inside


def _windowed_gaussians(centre: torch.Tensor, first: torch.Tensor, end: torch.Tensor, draw: torch.Tensor,
                        heatmap_size, sigma: float) -> torch.Tensor:
    """Separable product of x and y profiles, each non-zero on [first, end) per axis; N×K×H×W.

    ``heatmap_size`` is (W, H) here, the order of the x, y columns."""
    width, height = heatmap_size
    cols = _window_profile(width, centre[..., 0], first[..., 0], end[..., 0], sigma)
    rows = _window_profile(height, centre[..., 1], first[..., 1], end[..., 1], sigma)
    return rows[..., :, None] * cols[..., None, :] * draw[..., None, None]


def _off_map(first: torch.Tensor, end: torch.Tensor, heatmap_size) -> torch.Tensor:
    size = torch.as_tensor(heatmap_size, dtype=first.dtype, device=first.device)
    return (first >= size).any(-1) | (end < 0).any(-1)


def msra_targets(keypoints, visibility, input_size, heatmap_size, sigma: float = 2.0):
    """Official HRNet targets (``JointsDataset.generate_target``), batched. See the module docstring."""
    kpts, vis = _as_keypoints(keypoints, visibility)
    input_size, heatmap_size = _xy(input_size), _xy(heatmap_size)
    stride = torch.tensor(input_size, dtype=torch.float64) / torch.tensor(heatmap_size, dtype=torch.float64)
    radius = sigma * 3
    mu = torch.trunc(kpts / stride.to(kpts.device) + 0.5)           # python int() truncates toward 0
    upper_left = torch.trunc(mu - radius)
    bottom_right = torch.trunc(mu + radius + 1)
    weights = vis.clamp(max=1.0)
    weights = torch.where(_off_map(upper_left, bottom_right, heatmap_size), 0.0, weights)
    # The official window is g[ul:br] of a (2·radius+1)-long kernel whose peak sits at size // 2.
    centre = upper_left + math.floor((2 * radius + 1) / 2)
    targets = _windowed_gaussians(centre, upper_left, bottom_right, weights > 0.5, heatmap_size, sigma)
    return targets, weights.float()


def unbiased_targets(keypoints, visibility, input_size, heatmap_size, sigma: float = 2.0):
    """DARK targets: a full-map Gaussian at the float heatmap location (mmpose ``unbiased=True``)."""
    kpts, vis = _as_keypoints(keypoints, visibility)
    input_size, heatmap_size = _xy(input_size), _xy(heatmap_size)
    stride = torch.tensor(input_size, dtype=torch.float64) / torch.tensor(heatmap_size, dtype=torch.float64)
    mu = kpts / stride.to(kpts.device)
    radius = sigma * 3
    weights = torch.where(_off_map(mu - radius, mu + radius + 1, heatmap_size), 0.0, vis.clamp(max=1.0))
    everywhere_start = torch.full_like(mu, -math.inf)
    everywhere_stop = torch.full_like(mu, math.inf)
    targets = _windowed_gaussians(mu, everywhere_start, everywhere_stop, weights >= 0.5, heatmap_size, sigma)
    return targets, weights.float()


def udp_targets(keypoints, visibility, input_size, heatmap_size, sigma: float = 2.0):
    """UDP targets (mmpose ``UDPHeatmap``, ``heatmap_type='gaussian'``), batched."""
    kpts, vis = _as_keypoints(keypoints, visibility)
    input_size, heatmap_size = _xy(input_size), _xy(heatmap_size)
    in_size = torch.tensor(input_size, dtype=torch.float64, device=kpts.device)
    hm_size = torch.tensor(heatmap_size, dtype=torch.float64, device=kpts.device)
    mu_float = kpts / ((in_size - 1) / (hm_size - 1))
    radius = sigma * 3
    mu = torch.trunc(mu_float + 0.5)
    left_top = torch.trunc(mu - radius)
    right_bottom = torch.trunc(mu + radius + 1)
    weights = torch.where(_off_map(left_top, right_bottom, heatmap_size), 0.0, vis.clamp(max=1.0))
    # Kernel peak at size // 2 + (x − int(x + 0.5)) inside the window that starts at left_top.
    centre = left_top + math.floor((2 * radius + 1) / 2) + (mu_float - mu)
    targets = _windowed_gaussians(centre, left_top, right_bottom, weights >= 0.5, heatmap_size, sigma)
    return targets, weights.float()


TARGET_ENCODERS = {"gaussian": msra_targets, "unbiased": unbiased_targets, "udp": udp_targets}
