"""DARK refinement (Zhang et al., "Distribution-Aware Coordinate Representation", CVPR 2020), batched.

The public references blur every whole heatmap with OpenCV, one keypoint at a time, then take one
Newton step on the log of the blurred map at the integer maximum. The Taylor step only reads the
blurred map at 13 points within ±2 px of the maximum, so we blur only a (5 + kernel − 1)² patch
around each maximum, for all keypoints at once. The result equals the whole-map computation (zero
padding by the kernel radius, as the reference pads) except for one quantity that needs the whole map:
the reference rescales the blurred map to the original maximum before clamping at 1e-10 and taking
the log. That factor only matters through the clamp; we take the blurred maximum over the patch,
which is the global one for any peaked heatmap.
"""
from __future__ import annotations

import math

import torch

# cv2.getGaussianKernel(ksize, sigma <= 0) uses fixed tables for these sizes.
_OPENCV_SMALL_KERNELS = {
    1: (1.0,),
    3: (0.25, 0.5, 0.25),
    5: (0.0625, 0.25, 0.375, 0.25, 0.0625),
    7: (0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125),
}


def opencv_gaussian_kernel(size: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """The 1-D kernel of ``cv2.GaussianBlur(img, (size, size), 0)``: σ = 0.3·((size − 1)/2 − 1) + 0.8.

    size 11 gives σ = 2 (targets with σ = 2, 64×48 heatmaps); size 17 gives σ = 2.9 (σ = 3 targets).
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"blur kernel size must be a positive odd number, got {size}")
    if size in _OPENCV_SMALL_KERNELS:
        return torch.tensor(_OPENCV_SMALL_KERNELS[size], dtype=dtype, device=device)
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(x * x) / (2 * sigma * sigma))
    return (kernel / kernel.sum()).to(dtype=dtype, device=device)


def _band(kernel: torch.Tensor, size: int) -> torch.Tensor:
    """(size + len(kernel) − 1)×size matrix with ``band[p, j] = kernel[p − j]``: a 'valid' 1-D blur."""
    band = kernel.new_zeros(size + len(kernel) - 1, size)
    for j in range(size):  # ≤ 5 output offsets, not a loop over keypoints
        band[j:j + len(kernel), j] = kernel
    return band


def blurred_patches(flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, height: int, width: int,
                    radius: int, kernel_size: int) -> torch.Tensor:
    """Gaussian-blurred heatmap values around given points, without blurring whole maps.

    Args:
        flat: M×(H·W) contiguous heatmaps.
        x, y: M integer (long) positions inside the map.
        radius: half-size r of the returned patch.
        kernel_size: OpenCV Gaussian kernel size (odd).

    Returns:
        M×(2r+1)×(2r+1) values of the blurred map at rows y−r…y+r, columns x−r…x+r, with the map
        zero-padded outside (the reference pads by the kernel radius before blurring).
    """
    num, length = len(flat), 2 * (radius + (kernel_size - 1) // 2) + 1
    offsets = torch.arange(length, device=flat.device) - length // 2
    rows, cols = y[:, None] + offsets, x[:, None] + offsets
    patch = _row_windows(flat, rows.clamp(0, height - 1), x - length // 2, height, width, length)
    # Zero padding outside the map; the windows' wrapped or clamped reads are exactly those zeroed here.
    row_ok = ((rows >= 0) & (rows < height)).to(flat.dtype)
    col_ok = ((cols >= 0) & (cols < width)).to(flat.dtype)
    patch = patch * col_ok[:, None, :] * row_ok[:, :, None]
    # Separable blur restricted to the (2r+1)² outputs: two GEMMs over all keypoints at once, laid out
    # (small × large) because that is the shape BLAS handles fast.
    size = 2 * radius + 1
    band_t = _band(opencv_gaussian_kernel(kernel_size, dtype=flat.dtype, device=flat.device), size).T
    across = band_t @ patch.reshape(-1, length).T                             # (2r+1)_col × (M·P_row)
    across = across.reshape(size, num, length).permute(2, 0, 1).reshape(length, -1)
    blurred = band_t @ across                                                  # (2r+1)_row × (2r+1)_col·M
    return blurred.reshape(size, size, num).permute(2, 0, 1)


def _row_windows(flat: torch.Tensor, rows: torch.Tensor, first_col: torch.Tensor, height: int, width: int,
                 length: int) -> torch.Tensor:
    """M×R×L raw values ``flat[m, rows[m, i]·W + first_col[m] + j]`` for j < L, read as L-long runs.

    Runs that start left of column 0 or end right of the last column continue in the neighbouring
    row (callers mask those columns); only runs that would leave the whole buffer are rebuilt
    element by element.
    """
    num, buffer = len(flat), flat.reshape(-1)
    starts = (torch.arange(num, device=flat.device) * (height * width))[:, None] + rows * width + first_col[:, None]
    windows = buffer.unfold(0, length, 1)                                       # overlapping view, no copy
    last = windows.shape[0] - 1
    out = windows.index_select(0, starts.reshape(-1).clamp(0, last)).reshape(num, -1, length)
    outside = (starts < 0) | (starts > last)
    if outside.any():  # only the first map's top-left or the last map's bottom-right corner
        positions = starts[outside][:, None] + torch.arange(length, device=flat.device)
        values = buffer[positions.clamp(0, buffer.numel() - 1)]
        out[outside] = torch.where((positions >= 0) & (positions < buffer.numel()), values, 0)
    return out


def log_modulated(patch: torch.Tensor, maxvals: torch.Tensor, floor: float, ceil: float = math.inf):
    """The reference modulation on a patch: rescale to the original maximum, clip, log."""
    blurred_max = patch.flatten(1).amax(1)
    patch = patch * (maxvals / blurred_max)[:, None, None]
    return patch.clamp(floor, ceil).log()


def dark_refine(flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, maxvals: torch.Tensor,
                height: int, width: int, kernel_size: int = 11) -> torch.Tensor:
    """M×2 sub-pixel offsets (dx, dy) of the DARK Taylor step at integer maxima ``(x, y)``.

    Offsets are zero where the reference skips the step: maximum ≤ 0, within 2 px of the border
    (``1 < x < W − 2`` and ``1 < y < H − 2`` fails), or a singular Hessian.
    """
    log_map = log_modulated(blurred_patches(flat, x, y, height, width, 2, kernel_size), maxvals, 1e-10)
    centre = log_map[:, 2, 2]
    dx = 0.5 * (log_map[:, 2, 3] - log_map[:, 2, 1])
    dy = 0.5 * (log_map[:, 3, 2] - log_map[:, 1, 2])
    dxx = 0.25 * (log_map[:, 2, 4] - 2 * centre + log_map[:, 2, 0])
    dyy = 0.25 * (log_map[:, 4, 2] - 2 * centre + log_map[:, 0, 2])
    dxy = 0.25 * (log_map[:, 3, 3] - log_map[:, 1, 3] - log_map[:, 3, 1] + log_map[:, 1, 1])
    det = dxx * dyy - dxy * dxy
    usable = (det != 0) & (maxvals > 0) & (x > 1) & (x < width - 2) & (y > 1) & (y < height - 2)
    safe_det = torch.where(usable, det, torch.ones_like(det))
    offset = torch.stack((-(dyy * dx - dxy * dy) / safe_det, -(dxx * dy - dxy * dx) / safe_det), dim=-1)
    return torch.where(usable[:, None], offset, torch.zeros_like(offset))
