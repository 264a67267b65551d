"""Crop geometry and pixels of top-down inference: boxes → centre/scale → affine crops, and back.

The geometry is that of the official HRNet test code (``_xywh2cs``, ``get_affine_transform``,
``transform_preds``), or UDP's with ``udp=True``; see `hrnet_zoo.inference`, which re-exports every name
here. Sizes are ``(H, W)``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.pretrained_cfg import IMAGENET_MEAN, IMAGENET_STD

PIXEL_STD = 200.0  # the official code measures scale in units of 200 px
#: Box coordinates beyond this many pixels are not image pixels (and overflow the affine maths).
MAX_BOX_COORDINATE = 1e7


def box_to_center_scale(boxes, aspect_ratio: float, padding: float = 1.25):
    """Official ``_xywh2cs``, batched: N×4 xywh boxes → (N×2 centres, N×2 scales in units of 200 px).

    The box is grown along one side to the model's aspect ratio (width / height), then by ``padding``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x, y, w, h = boxes.T
    center = np.stack((x + w * 0.5, y + h * 0.5), axis=1)
    w, h = np.where(w > aspect_ratio * h, w, h * aspect_ratio), np.where(w > aspect_ratio * h, w / aspect_ratio, h)
    scale = np.stack((w, h), axis=1) / PIXEL_STD * padding
    return center, scale


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


def box_crop_transforms(boxes, input_size, rotation=0.0, udp: bool = False):
    """Person boxes → (N×2 centres, N×2 scales, N×2×3 crop→image transforms) for crops of ``input_size``
    (H, W): the box grown to the crop's aspect and padded (``box_to_center_scale``), then the inverse
    affine map (``get_affine_transform``) that ``crop_images`` samples with."""
    center, scale = box_to_center_scale(boxes, input_size[1] / input_size[0])
    return center, scale, get_affine_transform(center, scale, rotation, input_size, inv=True, udp=udp)


def image_to_tensor(image) -> torch.Tensor:
    """uint8 H×W×3 numpy / PIL image, or a 3×H×W tensor (uint8, or float in [0, 1]) → float 3×H×W in [0, 1].

    A float image outside [0, 1] (0–255 values, say), a non-finite pixel or an empty image is refused.
    """
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL.Image without importing Pillow
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an H×W×3 RGB image array, got shape {image.shape}"
                             + (" (grayscale: stack it to 3 channels)" if image.ndim == 2 else "")
                             + (" (drop the alpha channel)" if image.ndim == 3 and image.shape[2] == 4 else ""))
        # a read-only array (np.asarray of a PIL image) is copied: torch warns about sharing it
        tensor = torch.from_numpy(np.require(image, requirements=("C", "W"))).permute(2, 0, 1)
    elif isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a 3×H×W RGB image tensor, got shape {tuple(image.shape)}")
        tensor = image
    else:
        raise TypeError(f"image must be a numpy array, PIL image or torch tensor, got {type(image).__name__}")
    if tensor.shape[-1] == 0 or tensor.shape[-2] == 0:
        raise InvalidArgumentError(f"image is empty ({tensor.shape[-2]}×{tensor.shape[-1]} pixels)")
    if tensor.dtype == torch.uint8:
        return tensor.float().div_(255.0)  # in place: one pass less over the image
    if not tensor.is_floating_point():
        raise TypeError(f"image must be uint8 or floating point, got {tensor.dtype}")
    tensor = tensor.float()
    if not bool(torch.isfinite(tensor).all()):
        raise InvalidArgumentError("image has non-finite pixels (NaN or inf)")
    low, high = tensor.min().item(), tensor.max().item()
    if high > 1.0 + 1e-3 or low < -1e-3:
        hint = " (0–255 values: divide by 255, or pass the uint8 image)" if high <= 255.0 + 1e-3 and low >= 0 else ""
        raise InvalidArgumentError(f"a float image must be in [0, 1], got values in [{low:g}, {high:g}]{hint}")
    return tensor


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


def normalize(crops: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
              max_pixel_value: float = 1.0):
    """Normalisation of N×3×H×W RGB crops in [0, 1]: ``(crops · max_pixel_value − mean) / std``
    (ImageNet's by default; ``max_pixel_value`` 255 for models trained on 0–255 pixels)."""
    mean_t = torch.tensor(mean, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    # One new tensor, then in place: a second large allocation costs more than the arithmetic on a CPU.
    result = crops * max_pixel_value if max_pixel_value != 1.0 else crops.clone()
    return result.sub_(mean_t).div_(std_t)
