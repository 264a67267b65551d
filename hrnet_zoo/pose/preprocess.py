"""Pixels of top-down crops, built from a model's ``pretrained_cfg``: the one preprocessing used by the
dataset, inference and int8 calibration.

An image becomes a float 3×H×W tensor in [0, 1] (`image_to_tensor()`); crops cut from it by
`hrnet_zoo.pose.geometry.crop_images()` are normalised as the weights expect (`normalize()`):
``(crop · max_pixel_value − mean) / std``, where ``max_pixel_value`` is 255 for a cfg with
``scale="0-255"``. `Preprocess.from_cfg()` bundles the cfg's input size, mean, std and scale, so
training and inference cannot disagree about them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from hrnet_zoo.errors import ArgumentTypeError, InvalidArgumentError
from hrnet_zoo.pose.geometry import crop_images
from hrnet_zoo.pretrained_cfg import IMAGENET_MEAN, IMAGENET_STD, PretrainedCfg, check_size


@dataclass(frozen=True)
class Preprocess:
    """Crop size and normalisation of one model (`from_cfg()` reads them from its ``pretrained_cfg``).

    Attributes:
        input_size: crop ``(H, W)``.
        mean, std: per-channel normalisation, applied to pixels in ``[0, max_pixel_value]``.
        max_pixel_value: 1.0 for a cfg with ``scale="0-1"``, 255.0 for ``"0-255"``.
    """

    input_size: tuple[int, int]
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    max_pixel_value: float = 1.0

    @classmethod
    def from_cfg(cls, cfg: PretrainedCfg | None = None, input_size=None, *, mean=None, std=None) -> "Preprocess":
        """The preprocessing of ``cfg`` (``PretrainedCfg()``'s defaults for None); ``input_size``, ``mean``
        and ``std`` override the cfg's when given."""
        cfg = cfg if cfg is not None else PretrainedCfg()
        size = cfg.input_size if input_size is None else check_size(input_size, "input_size")
        return cls(size, tuple(cfg.mean if mean is None else mean), tuple(cfg.std if std is None else std),
                   cfg.max_pixel_value)

    def normalize(self, crops: torch.Tensor) -> torch.Tensor:
        """N×3×H×W crops in [0, 1] → the network's N×3×H×W input."""
        return normalize(crops, self.mean, self.std, self.max_pixel_value)

    def crops(self, image: torch.Tensor, inverse_transforms) -> torch.Tensor:
        """A 3×H×W image in [0, 1] (`image_to_tensor()`) and N×2×3 crop → image maps → N×3×h×w network
        inputs at ``input_size``."""
        return self.normalize(crop_images(image, inverse_transforms, self.input_size))


def image_to_tensor(image) -> torch.Tensor:
    """uint8 H×W×3 numpy / PIL image, or a 3×H×W tensor (uint8, or float in [0, 1]) → float 3×H×W in [0, 1].

    A float image outside [0, 1] (0–255 values, say), a non-finite pixel or an empty image is refused.
    """
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL.Image without importing Pillow
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise InvalidArgumentError(f"expected an H×W×3 RGB image array, got shape {image.shape}"
                             + (" (grayscale: stack it to 3 channels)" if image.ndim == 2 else "")
                             + (" (drop the alpha channel)" if image.ndim == 3 and image.shape[2] == 4 else ""))
        # a read-only array (np.asarray of a PIL image) is copied: torch warns about sharing it
        tensor = torch.from_numpy(np.require(image, requirements=("C", "W"))).permute(2, 0, 1)
    elif isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise InvalidArgumentError(f"expected a 3×H×W RGB image tensor, got shape {tuple(image.shape)}")
        tensor = image
    else:
        raise ArgumentTypeError(f"image must be a numpy array, PIL image or torch tensor, got {type(image).__name__}")
    if tensor.shape[-1] == 0 or tensor.shape[-2] == 0:
        raise InvalidArgumentError(f"image is empty ({tensor.shape[-2]}×{tensor.shape[-1]} pixels)")
    if tensor.dtype == torch.uint8:
        return tensor.float().div_(255.0)  # in place: one pass less over the image
    if not tensor.is_floating_point():
        raise ArgumentTypeError(f"image must be uint8 or floating point, got {tensor.dtype}")
    tensor = tensor.float()
    if not bool(torch.isfinite(tensor).all()):
        raise InvalidArgumentError("image has non-finite pixels (NaN or inf)")
    low, high = tensor.min().item(), tensor.max().item()
    if high > 1.0 + 1e-3 or low < -1e-3:
        hint = " (0–255 values: divide by 255, or pass the uint8 image)" if high <= 255.0 + 1e-3 and low >= 0 else ""
        raise InvalidArgumentError(f"a float image must be in [0, 1], got values in [{low:g}, {high:g}]{hint}")
    return tensor




def normalize(crops: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
              max_pixel_value: float = 1.0):
    """Normalisation of N×3×H×W RGB crops in [0, 1]: ``(crops · max_pixel_value − mean) / std``
    (ImageNet's by default; ``max_pixel_value`` 255 for models trained on 0–255 pixels)."""
    mean_t = torch.tensor(mean, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    # One new tensor, then in place: a second large allocation costs more than the arithmetic on a CPU.
    result = crops * max_pixel_value if max_pixel_value != 1.0 else crops.clone()
    return result.sub_(mean_t).div_(std_t)
