"""Top-down crop geometry, the one copy used by data, inference, evaluation and quantisation.

Boxes → centre/scale (`box_to_center_scale()`), the affine maps image ↔ crop (`get_affine_transform()`,
`crop_transforms()` with the training flip folded in), points through them (`affine_points()`), and the
bilinear crop sampling (`crop_images()`). The geometry is that of the official HRNet code (``_xywh2cs``,
``get_affine_transform``, ``transform_preds``), or UDP's with ``udp=True``. Pixel values are
`hrnet_zoo.pose.preprocess`'s business. Sizes are ``(H, W)``; points ``(x, y)``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

PIXEL_STD = 200.0  # the official code measures scale in units of 200 px
#: Box coordinates beyond this many pixels are not image pixels (and overflow the affine maths).
MAX_BOX_COORDINATE = 1e7


def size_to_scale(width, height, aspect_ratio: float, padding: float) -> np.ndarray:
    """N widths and heights (pixels) → N×2 scales (units of 200 px): grown along one side to
    ``aspect_ratio`` (width / height), then by ``padding`` (the official ``_xywh2cs`` and half-body rule)."""
    w, h = np.asarray(width, dtype=np.float64), np.asarray(height, dtype=np.float64)
    wider = w > aspect_ratio * h
    w, h = np.where(wider, w, h * aspect_ratio), np.where(wider, w / aspect_ratio, h)
    return np.stack((w, h), axis=-1) / PIXEL_STD * padding


def box_to_center_scale(boxes, aspect_ratio: float, padding: float = 1.25):
    """Official ``_xywh2cs``, batched: N×4 xywh boxes → (N×2 centres, N×2 scales in units of 200 px).

    The box is grown along one side to the model's aspect ratio (width / height), then by ``padding``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x, y, w, h = boxes.T
    center = np.stack((x + w * 0.5, y + h * 0.5), axis=1)
    return center, size_to_scale(w, h, aspect_ratio, padding)


def get_affine_transform(center, scale, rotation, output_size, inv: bool = False, udp: bool = False):
    """Batched N×2×3 affine matrices taking image pixels to crop pixels (or back with ``inv=True``).

    Args:
        center: N×2 box centres (image pixels).
        scale: N×2 box sizes in units of 200 px (``box_to_center_scale``).
        rotation: N angles in degrees (or a scalar); sign convention of the official
            ``get_affine_transform``.
        output_size: crop ``(H, W)`` in pixels.
        udp: UDP's transform — centre ↦ ((W − 1)/2, (H − 1)/2) and box size ↦ size − 1 on each axis.
            Otherwise the official one: centre ↦ (W/2, H/2), box width ↦ W, the same factor for y.
    """
    center = np.asarray(center, dtype=np.float64).reshape(-1, 2)
    size = np.asarray(scale, dtype=np.float64).reshape(-1, 2) * PIXEL_STD
    theta = np.deg2rad(np.broadcast_to(np.asarray(rotation, dtype=np.float64), (len(center),)))
    out_h, out_w = float(output_size[0]), float(output_size[1])
    if udp:
        factor = np.stack(((out_w - 1) / size[:, 0], (out_h - 1) / size[:, 1]), axis=1)
        target = np.array([(out_w - 1) / 2, (out_h - 1) / 2])
    else:
        factor = np.repeat((out_w / size[:, 0])[:, None], 2, axis=1)
        target = np.array([out_w / 2, out_h / 2])
    cos, sin = np.cos(theta), np.sin(theta)
    # Linear part: per-axis factor × rotation by −θ (the official maps R(θ)·(0, −w/2) onto (0, −W/2)).
    linear = np.stack((np.stack((cos, sin), 1), np.stack((-sin, cos), 1)), axis=1) * factor[:, :, None]
    if inv:
        inverse = np.linalg.inv(linear)
        return np.concatenate((inverse, (center - np.einsum("nij,j->ni", inverse, target))[:, :, None]), axis=2)
    shift = target - np.einsum("nij,nj->ni", linear, center)
    return np.concatenate((linear, shift[:, :, None]), axis=2)


def affine_points(points, transforms) -> np.ndarray:
    """Apply N×2×3 transforms to N×K×2 points (float64)."""
    points = np.asarray(points, dtype=np.float64)
    transforms = np.asarray(transforms, dtype=np.float64)
    return np.einsum("nij,nkj->nki", transforms[:, :, :2], points) + transforms[:, None, :, 2]


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """N×2×3 matrices of ``outer ∘ inner`` (apply ``inner`` first)."""
    outer, inner = np.asarray(outer, dtype=np.float64), np.asarray(inner, dtype=np.float64)
    linear = np.einsum("nij,njk->nik", outer[:, :, :2], inner[:, :, :2])
    shift = np.einsum("nij,nj->ni", outer[:, :, :2], inner[:, :, 2]) + outer[:, :, 2]
    return np.concatenate((linear, shift[:, :, None]), axis=2)


def mirror_matrix(width: float, count: int = 1) -> np.ndarray:
    """N×2×3 horizontal mirror of an image ``width`` pixels wide, x → width − 1 − x (its own inverse)."""
    mirror = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0]])
    return np.broadcast_to(mirror, (count, 2, 3)).copy()


def crop_transforms(center, scale, rotation, output_size, flip_width=None, udp: bool = False):
    """Forward (image → crop) and inverse (crop → image) N×2×3 maps of an affine crop, optionally of
    the image mirrored first (the training flip, folded into the one warp).

    Args:
        center, scale, rotation: as `get_affine_transform()`, in the coordinates of the (mirrored, if
            flipped) image — the official order.
        output_size: crop ``(H, W)``.
        flip_width: the image width when the image is mirrored before cropping, else None.
    """
    forward = get_affine_transform(center, scale, rotation, output_size, udp=udp)
    inverse = get_affine_transform(center, scale, rotation, output_size, inv=True, udp=udp)
    if flip_width is not None:
        mirror = mirror_matrix(flip_width, len(forward))
        forward, inverse = compose_affine(forward, mirror), compose_affine(mirror, inverse)
    return forward, inverse


def box_crop_transforms(boxes, input_size, rotation=0.0, udp: bool = False):
    """Person boxes → (N×2 centres, N×2 scales, N×2×3 crop→image transforms) for crops of ``input_size``
    (H, W): the box grown to the crop's aspect and padded (``box_to_center_scale``), then the inverse
    affine map (``get_affine_transform``) that ``crop_images`` samples with."""
    center, scale = box_to_center_scale(boxes, input_size[1] / input_size[0])
    return center, scale, get_affine_transform(center, scale, rotation, input_size, inv=True, udp=udp)


def crop_images(image: torch.Tensor, inverse_transforms, output_size) -> torch.Tensor:
    """Bilinear affine crops of a 3×H×W image: N×2×3 crop→image transforms → N×3×h×w, ``output_size`` (h, w).

    Outside the image the crop is 0 (``cv2.warpAffine``'s constant border in the official code).
    """
    out_h, out_w = int(output_size[0]), int(output_size[1])
    height, width = image.shape[-2:]
    # Pixel centres at integer coordinates ↔ align_corners=False normalisation (2x + 1)/size − 1, folded
    # into the transforms so the grid is three broadcast multiply-adds (float64, as the geometry).
    size = np.array([width, height], dtype=np.float64)
    to_grid = np.asarray(inverse_transforms, dtype=np.float64).reshape(-1, 2, 3) * (2 / size)[None, :, None]
    to_grid[:, :, 2] += 1 / size - 1
    xs = np.arange(out_w, dtype=np.float64)[None, None, :, None]
    ys = np.arange(out_h, dtype=np.float64)[None, :, None, None]
    grid = np.empty((len(to_grid), out_h, out_w, 2), dtype=np.float32)  # N×h×w×2 (x, y), summed in float64
    np.add(to_grid[:, None, None, :, 0] * xs + to_grid[:, None, None, :, 2], to_grid[:, None, None, :, 1] * ys,
           out=grid, casting="same_kind")
    grid = torch.from_numpy(grid).to(image.device)
    batch = image[None].expand(len(grid), -1, -1, -1)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
