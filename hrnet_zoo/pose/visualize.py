"""Pictures people want to look at: skeletons drawn on the image, and a grid of heatmaps.

Both return ``PIL.Image.Image``. Pillow is imported only here, when a picture is asked for, so the
rest of hrnet_zoo works without it (``pip install Pillow``).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from hrnet_zoo.errors import InvalidArgumentError, MissingDependencyError
from hrnet_zoo.pose.preprocess import image_to_tensor
from hrnet_zoo.pose.keypoint_set import keypoint_set_for

# Left limbs warm, right limbs cool, centre green: which side is which is visible at a glance.
_LEFT, _RIGHT, _CENTRE = (255, 128, 0), (51, 153, 255), (0, 200, 80)


def _pillow():
    try:
        from PIL import Image, ImageDraw
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("drawing needs Pillow: pip install Pillow") from error
    return Image, ImageDraw


def _to_uint8_rgb(image) -> np.ndarray:
    return (image_to_tensor(image).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def _side(name: str):
    return _LEFT if name.startswith("left") else _RIGHT if name.startswith("right") else _CENTRE


def draw_keypoints(image, keypoints, skeleton=None, score_threshold: float = 0.3, radius: int | None = None,
                   line_width: int | None = None, keypoint_names=None, keypoint_set=None):
    """Draw keypoints and the skeleton of every person on a copy of the image.

    Args:
        image: uint8 H×W×3 numpy / PIL image, or a 3×H×W tensor.
        keypoints: N×K×3 (x, y, score) as returned by [`predict_keypoints()`][hrnet_zoo.pose.inference.predict_keypoints], or N×K×2 / K×2|3.
        skeleton: (i, j) index pairs to join; by default ``keypoint_set``'s, else COCO's for 17
            keypoints, MPII's for 16.
        score_threshold: keypoints (and limbs touching them) scoring below are not drawn; a warning
            says so when that hides every keypoint.
        radius, line_width: in pixels; by default scaled to the image size.
        keypoint_names: used to colour left/right; by default ``keypoint_set``'s, else the COCO or MPII names.
        keypoint_set: a [`KeypointSet`][hrnet_zoo.pose.keypoint_set.KeypointSet] (e.g. ``model.pretrained_cfg.keypoints``).

    Returns:
        ``PIL.Image.Image`` (RGB).
    """
    Image, ImageDraw = _pillow()
    canvas = Image.fromarray(_to_uint8_rgb(image))
    points = keypoints.detach().cpu().numpy() if isinstance(keypoints, torch.Tensor) else np.asarray(keypoints)
    points = points.astype(np.float64)
    if points.ndim == 2:
        points = points[None]
    if points.ndim != 3 or points.shape[-1] not in (2, 3):
        raise InvalidArgumentError(f"keypoints must be N×K×3 (x, y, score) or N×K×2, got shape {points.shape}")
    num_keypoints = points.shape[1]
    kset = keypoint_set if keypoint_set is not None else keypoint_set_for(num_keypoints)
    if kset is not None and kset.num_keypoints != num_keypoints:
        raise InvalidArgumentError(f"keypoint_set {kset.name!r} has {kset.num_keypoints} keypoints, "
                                   f"the points {num_keypoints}")
    if skeleton is None:
        skeleton = kset.skeleton if kset is not None else ()
    names = keypoint_names or (kset.keypoint_names if kset is not None else [""] * num_keypoints)
    scores = points[..., 2] if points.shape[-1] == 3 else np.ones(points.shape[:2])
    size = min(canvas.size)
    radius = radius or max(2, round(size / 120))
    line_width = line_width or max(1, round(size / 160))
    draw = ImageDraw.Draw(canvas)
    visible = (scores >= score_threshold) & np.isfinite(points[..., :2]).all(-1)
    if points.size and not visible.any():
        warnings.warn(f"draw_keypoints drew nothing: every keypoint scores below score_threshold={score_threshold} "
                      f"(highest {np.nanmax(scores):.3g}); lower the threshold to see them", stacklevel=2)
    for person, shown in zip(points, visible):
        for i, j in skeleton:
            if shown[i] and shown[j]:
                colour = _side(names[i]) if _side(names[i]) == _side(names[j]) else _CENTRE
                draw.line([tuple(person[i, :2]), tuple(person[j, :2])], fill=colour, width=line_width)
        for k in np.nonzero(shown)[0]:
            x, y = person[k, :2]
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=_side(names[k]),
                         outline=(255, 255, 255))
    return canvas


def _colormap(values: np.ndarray) -> np.ndarray:
    """[0, 1] → RGB uint8 with a perceptually ordered dark-blue → teal → yellow ramp (viridis-like)."""
    anchors = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float64)
    position = np.clip(values, 0, 1) * (len(anchors) - 1)
    low = np.floor(position).astype(int).clip(0, len(anchors) - 2)
    frac = (position - low)[..., None]
    return (anchors[low] * (1 - frac) + anchors[low + 1] * frac).round().astype(np.uint8)


def plot_heatmaps(heatmaps, image=None, names=None, columns: int | None = None, cell_size: int = 128,
                  alpha: float = 0.6):
    """A grid image with one tile per heatmap, optionally blended over the (crop) image.

    Args:
        heatmaps: K×H×W (or 1×K×H×W) tensor/array; each tile is scaled to its own [0, max].
        image: optional crop (H×W×3 uint8, PIL, or 3×H×W tensor) shown under every tile.
        names: K labels written on the tiles; by default COCO/MPII names for 17/16 maps.
        columns: tiles per row (default ⌈√K⌉).
        cell_size: tile height in pixels; the width follows the heatmap aspect ratio.

    Returns:
        ``PIL.Image.Image`` (RGB).
    """
    Image, ImageDraw = _pillow()
    maps = heatmaps.detach().float().cpu().numpy() if isinstance(heatmaps, torch.Tensor) else np.asarray(heatmaps, float)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise InvalidArgumentError(f"heatmaps must be K×H×W (or 1×K×H×W), got shape {maps.shape}")
    if not np.isfinite(maps).all():
        raise InvalidArgumentError("heatmaps contain non-finite values")
    num, height, width = maps.shape
    columns = columns or max(1, math.ceil(math.sqrt(num)))
    cell_w = max(1, round(cell_size * width / height))
    grid = Image.new("RGB", (columns * cell_w, math.ceil(num / columns) * cell_size), (0, 0, 0))
    backdrop = None
    if image is not None:
        backdrop = Image.fromarray(_to_uint8_rgb(image)).resize((cell_w, cell_size), Image.BILINEAR)
    kset = keypoint_set_for(num)
    names = names or (kset.keypoint_names if kset is not None else [str(k) for k in range(num)])
    draw = ImageDraw.Draw(grid)
    for k in range(num):
        peak = maps[k].max()
        scaled = np.clip(maps[k], 0, None) / peak if peak > 0 else np.zeros_like(maps[k])
        tile = Image.fromarray(_colormap(scaled)).resize((cell_w, cell_size), Image.BILINEAR)
        if backdrop is not None:
            tile = Image.blend(backdrop, tile, alpha)
        left, top = (k % columns) * cell_w, (k // columns) * cell_size
        grid.paste(tile, (left, top))
        draw.text((left + 3, top + 2), str(names[k]), fill=(255, 255, 255))
    return grid
