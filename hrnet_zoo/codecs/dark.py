"""DARK refinement (Zhang et al., "Distribution-Aware Coordinate Representation", CVPR 2020), batched.

The public references blur every whole heatmap with OpenCV, one keypoint at a time, then take one
Newton step on the log of the blurred map at the integer maximum. The Taylor step only reads the
blurred map at 13 points within ±2 px of the maximum, so we compute only those 13 blurred values from a (5 + kernel − 1)²
patch around each maximum, for all keypoints at once (one gather, one GEMM). The result equals the whole-map computation (zero
padding by the kernel radius, as the reference pads). One quantity needs the whole map: the reference
rescales the blurred map to the original maximum before clamping and taking the log. The factor cancels
in the step's log-differences unless the clamp bites, so a whole-map blur is run only for the keypoints
whose sampled values could be clamped (flat or noisy maps, e.g. joints the model does not see); see
`log_modulated()`.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from hrnet_zoo.errors import InvalidArgumentError

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
        raise InvalidArgumentError(f"blur kernel size must be a positive odd number, got {size}")
    if size in _OPENCV_SMALL_KERNELS:
        return torch.tensor(_OPENCV_SMALL_KERNELS[size], dtype=dtype, device=device)
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(x * x) / (2 * sigma * sigma))
    return (kernel / kernel.sum()).to(dtype=dtype, device=device)


def blurred_points(flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, height: int, width: int,
                   offsets, kernel_size: int) -> torch.Tensor:
    """Gaussian-blurred heatmap values at a few points around each maximum, without blurring whole maps.

    Args:
        flat: M×(H·W) contiguous heatmaps.
        x, y: M integer (long) positions inside the map.
        offsets: Q (dy, dx) integer offsets from (y, x) to evaluate.
        kernel_size: OpenCV Gaussian kernel size (odd).

    Returns:
        M×Q values of the blurred map at (y + dy, x + dx), the map zero-padded outside (the reference
        pads by the kernel radius before blurring).
    """
    offsets = tuple((int(dy), int(dx)) for dy, dx in offsets)
    taps, reach = _blur_taps(offsets, kernel_size, flat.dtype, flat.device)
    length = 2 * reach + 1
    steps = torch.arange(length, device=flat.device) - reach
    rows = y[:, None] + steps
    patch = _row_windows(flat, rows.clamp(0, height - 1), x - reach, height, width, length)
    # Zero padding outside the map; the windows' wrapped or clamped reads are exactly those zeroed here.
    # Only patches that reach past an edge need it (building the mask for all of them costs more than the GEMM).
    near_edge = ((x < reach) | (x >= width - reach) | (y < reach) | (y >= height - reach)).nonzero().squeeze(1)
    if len(near_edge):
        edge_rows, edge_cols = rows[near_edge], x[near_edge, None] + steps
        inside = (((edge_rows >= 0) & (edge_rows < height))[:, :, None]
                  & ((edge_cols >= 0) & (edge_cols < width))[:, None, :])
        patch[near_edge] = patch[near_edge].masked_fill_(~inside, 0)
    # Every output is a fixed weighting of the patch: one GEMM gives all Q points of all M keypoints.
    return patch.reshape(len(flat), -1) @ taps


@functools.lru_cache(maxsize=32)
def _blur_taps(offsets: tuple, kernel_size: int, dtype: torch.dtype, device: torch.device):
    """(L²×Q weights, reach): blurred value q of an L×L patch centred on the maximum is ``patch @ taps[:, q]``."""
    half = (kernel_size - 1) // 2
    reach = max(max(abs(dy), abs(dx)) for dy, dx in offsets) + half
    length = 2 * reach + 1
    kernel = opencv_gaussian_kernel(kernel_size, dtype=dtype, device=device)
    taps = kernel.new_zeros(len(offsets), length, length)
    for q, (dy, dx) in enumerate(offsets):  # ≤ 13 fixed offsets, not a loop over keypoints
        r, c = reach + dy - half, reach + dx - half
        taps[q, r:r + kernel_size, c:c + kernel_size] = kernel[:, None] * kernel[None, :]
    return taps.reshape(len(offsets), -1).T.contiguous(), reach


def _row_windows(flat: torch.Tensor, rows: torch.Tensor, first_col: torch.Tensor, height: int, width: int,
                 length: int) -> torch.Tensor:
    """M×R×L raw values ``flat[m, rows[m, i]·W + first_col[m] + j]`` for j < L, read as L-long runs.

    Runs that start left of column 0 or end right of the last column continue in the neighbouring
    row (callers mask those columns); only runs that would leave the whole buffer are rebuilt
    element by element.
    """
    num, buffer = len(flat), flat.reshape(-1)
    if buffer.numel() < length:  # tiny maps: unfold needs one whole run; the zeros fall on masked columns
        buffer = F.pad(buffer, (0, length - buffer.numel()))
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


def blurred_maxima(maps: torch.Tensor, height: int, width: int, kernel_size: int) -> torch.Tensor:
    """M×(H·W) maps → M maxima of their zero-padded OpenCV blur (the reference's rescaling denominator)."""
    kernel = opencv_gaussian_kernel(kernel_size, dtype=maps.dtype, device=maps.device)
    half = (kernel_size - 1) // 2
    blurred = F.conv2d(maps.reshape(-1, 1, height, width), kernel.view(1, 1, 1, -1), padding=(0, half))
    blurred = F.conv2d(blurred, kernel.view(1, 1, -1, 1), padding=(half, 0))
    return blurred.flatten(1).amax(1)


def log_modulated(values: torch.Tensor, maxvals: torch.Tensor, flat: torch.Tensor, height: int, width: int,
                  kernel_size: int, floor: float, ceil: float = math.inf) -> torch.Tensor:
    """The reference modulation on M×Q blurred values: rescale by max(original) / max(blurred map), clip, log.

    A blur never exceeds the original maximum, so that factor, and the largest of the Q values we
    have in its place, are both ≥ 1 where the maximum is > 0: with every value ≥ ``floor`` and the
    maximum ≤ ``ceil`` neither clips, and the factor cancels in the log-differences. Only the other
    keypoints (flat or noisy maps) blur their whole map for the exact factor.
    """
    blurred_max = values.amax(1)
    exact = (maxvals > 0) & (((values < floor).any(1)) | (maxvals > ceil))
    if exact.any():
        blurred_max = blurred_max.masked_scatter(exact, blurred_maxima(flat[exact], height, width, kernel_size))
    values = values * (maxvals / blurred_max)[:, None]
    return values.clamp(floor, ceil).log()


# The 13 points of the DARK Taylor step: centre, ±1 and ±2 along each axis, the four diagonals.
_DARK_POINTS = {"c": (0, 0), "x+1": (0, 1), "x-1": (0, -1), "x+2": (0, 2), "x-2": (0, -2), "y+1": (1, 0),
                "y-1": (-1, 0), "y+2": (2, 0), "y-2": (-2, 0), "++": (1, 1), "+-": (1, -1), "-+": (-1, 1),
                "--": (-1, -1)}


def dark_refine(flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, maxvals: torch.Tensor,
                height: int, width: int, kernel_size: int = 11) -> torch.Tensor:
    """M×2 sub-pixel offsets (dx, dy) of the DARK Taylor step at integer maxima ``(x, y)``.

    Offsets are zero where the reference skips the step: maximum ≤ 0, within 2 px of the border
    (``1 < x < W − 2`` and ``1 < y < H − 2`` fails), or a singular Hessian.
    """
    blurred = blurred_points(flat, x, y, height, width, list(_DARK_POINTS.values()), kernel_size)
    log_values = log_modulated(blurred, maxvals, flat, height, width, kernel_size, 1e-10)
    log_map = dict(zip(_DARK_POINTS, log_values.unbind(1)))
    centre = log_map["c"]
    dx = 0.5 * (log_map["x+1"] - log_map["x-1"])
    dy = 0.5 * (log_map["y+1"] - log_map["y-1"])
    dxx = 0.25 * (log_map["x+2"] - 2 * centre + log_map["x-2"])
    dyy = 0.25 * (log_map["y+2"] - 2 * centre + log_map["y-2"])
    dxy = 0.25 * (log_map["++"] - log_map["-+"] - log_map["+-"] + log_map["--"])
    det = dxx * dyy - dxy * dxy
    usable = (det != 0) & (maxvals > 0) & (x > 1) & (x < width - 2) & (y > 1) & (y < height - 2)
    safe_det = torch.where(usable, det, torch.ones_like(det))
    offset = torch.stack((-(dyy * dx - dxy * dy) / safe_det, -(dxx * dy - dxy * dx) / safe_det), dim=-1)
    return torch.where(usable[:, None], offset, torch.zeros_like(offset))
