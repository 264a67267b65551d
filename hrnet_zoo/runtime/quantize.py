"""int8 post-training quantisation with NNCF on the OpenVINO graph, from real calibration data.

Calibration data is never invented: without it int8 is refused. It may be an iterable of N×3×H×W
input tensors (normalised as the model expects), or ``(image, boxes)`` pairs from which the crops are
cut as `hrnet_zoo.predict_keypoints()` cuts them.
"""
from __future__ import annotations

import numpy as np
import torch

from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.runtime.runner import as_tensor, require


def calibration_batches(calibration, cfg, input_size) -> list[torch.Tensor]:
    """The calibration data as a list of N×3×H×W float32 tensors at ``input_size`` (H, W)."""
    from hrnet_zoo.inference import box_crop_transforms, crop_images, image_to_tensor, normalize

    if calibration is None:
        raise InvalidArgumentError(
            "int8 needs calibration data: optimize(model, precision='int8', calibration=batches) with an "
            "iterable of N×3×H×W input tensors or of (image, boxes) pairs (quantising on random data would "
            "give wrong scales, so it is never done silently)")
    batches = []
    for item in calibration:
        if isinstance(item, (tuple, list)) and len(item) == 2 and not isinstance(item[0], (int, float)):
            image, boxes = item
            _, _, inverse = box_crop_transforms(boxes, input_size)
            crops = crop_images(image_to_tensor(image), inverse, input_size)
            batches.append(normalize(crops, cfg.mean, cfg.std, cfg.max_pixel_value))
        else:
            batches.append(as_tensor(item))
    if not batches:
        raise InvalidArgumentError("calibration data is empty")
    bad = [tuple(b.shape) for b in batches if tuple(b.shape[-2:]) != tuple(input_size)]
    if bad:
        raise InvalidArgumentError(f"calibration inputs must be N×C×{input_size[0]}×{input_size[1]}, got {bad[0]}")
    return batches


def quantize_openvino(ov_model, batches: list[torch.Tensor], fast_bias_correction: bool = True):
    """``ov_model`` with NNCF's int8 post-training quantisation (preset MIXED: symmetric weights,
    asymmetric activations), statistics from ``batches``."""
    nncf = require("nncf", "openvino int8")
    dataset = nncf.Dataset(batches, lambda x: np.ascontiguousarray(x.detach().cpu().numpy()))
    return nncf.quantize(ov_model, dataset, preset=nncf.QuantizationPreset.MIXED, subset_size=len(batches),
                         fast_bias_correction=fast_bias_correction)
