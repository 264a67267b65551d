"""UDP decoding (Huang et al., "The Devil is in the Details: Unbiased Data Processing", CVPR 2020).

As mmpose's ``refine_keypoints_dark_udp``: blur (OpenCV kernel), rescale to the original maximum,
clip to [1e-3, 50], log, pad the map by one pixel replicating its edge, then one Newton step with
±1 px central differences and the Hessian regularised by float32 eps. Batched; only a 3×3 blurred
patch around each maximum is computed, plus whole-map blurs where the clip could bite (see
`hrnet_zoo.codecs.dark` for why that is exact).
"""
from __future__ import annotations

import torch

from hrnet_zoo.codecs.dark import blurred_points, log_modulated

_EPS = torch.finfo(torch.float32).eps


def udp_refine(flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, maxvals: torch.Tensor,
               height: int, width: int, kernel_size: int = 11) -> torch.Tensor:
    """M×2 offsets (dx, dy) of the UDP Newton step at integer maxima; zero where the maximum ≤ 0."""
    # Edge padding of the whole map: a neighbour outside it reads the nearest pixel on the map, so the
    # nine blurred values are taken at clamped positions (offsets relative to the maximum).
    steps = torch.arange(-1, 2, device=flat.device)
    col_off = (x[:, None] + steps).clamp(0, width - 1) - x[:, None]             # M×3 in {-1, 0, 1}
    row_off = (y[:, None] + steps).clamp(0, height - 1) - y[:, None]
    grid = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    values = blurred_points(flat, x, y, height, width, grid, kernel_size)        # M×9, row-major 3×3
    pick = (row_off[:, :, None] + 1) * 3 + (col_off[:, None, :] + 1)            # M×3×3 into the nine
    edge_padded = torch.gather(values, 1, pick.reshape(-1, 9))
    log_map = log_modulated(edge_padded, maxvals, flat, height, width, kernel_size, 1e-3, 50.0).reshape(-1, 3, 3)
    i, ix1, ix1_ = log_map[:, 1, 1], log_map[:, 1, 2], log_map[:, 1, 0]
    iy1, iy1_ = log_map[:, 2, 1], log_map[:, 0, 1]
    dx = 0.5 * (ix1 - ix1_)
    dy = 0.5 * (iy1 - iy1_)
    dxx = ix1 - 2 * i + ix1_
    dyy = iy1 - 2 * i + iy1_
    dxy = 0.5 * (log_map[:, 2, 2] - ix1 - iy1 + 2 * i - ix1_ - iy1_ + log_map[:, 0, 0])
    a, d = dxx + _EPS, dyy + _EPS
    det = a * d - dxy * dxy
    offset = torch.stack((-(d * dx - dxy * dy) / det, -(a * dy - dxy * dx) / det), dim=-1)
    usable = (maxvals > 0)[:, None] & torch.isfinite(offset)
    return torch.where(usable, offset, torch.zeros_like(offset))
