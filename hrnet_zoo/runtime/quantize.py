"""int8 post-training quantisation with NNCF on the OpenVINO graph, from real calibration data.

Calibration data is never invented: without it int8 is refused. It may be an iterable of N×3×H×W
input tensors (normalised as the model expects), or ``(image, boxes)`` pairs from which the crops are
cut as `hrnet_zoo.predict_keypoints()` cuts them.
"""
from __future__ import annotations

import logging

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


#: Ops whose inputs stay in float (bf16 where the CPU has it). HRNet's fusion adds upsampled
#: low-resolution terms to the high-resolution branch, and every residual block adds its input back;
#: one 8-bit scale per sum costs the spatial precision a heatmap peak needs (mean keypoint shift
#: 0.42 → 0.16 heatmap px on the trained model of ``benchmarks/int8_accuracy.py``), while OpenVINO
#: runs these elementwise ops in float at no loss of speed (int8 hrnet_w32 went from 1.74× to 1.89×
#: bf16 at batch 4 on the same CPU).
FLOAT_OP_TYPES = ("Add", "Interpolate")


def quantize_openvino(ov_model, batches: list[torch.Tensor]):
    """``ov_model`` with NNCF's int8 post-training quantisation, statistics from ``batches``.

    Convolution weights are symmetric per output channel, their inputs asymmetric per tensor
    (preset MIXED). Two departures from NNCF's defaults, both measured on keypoints:

    * activation ranges are the calibration set's min and max, not the mean of per-batch extremes:
      clipping the rare large activations moved heatmap peaks more than the coarser step did;
    * the inputs of ``FLOAT_OP_TYPES`` are not quantised (see there).
    """
    nncf = require("nncf", "openvino int8")
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    dataset = nncf.Dataset(batches, lambda x: np.ascontiguousarray(x.detach().cpu().numpy()))
    # NNCF prints a line per op left in float at INFO; a user asked for int8, not for that list.
    nncf_logger = logging.getLogger("nncf")
    level = nncf_logger.level
    nncf_logger.setLevel(max(level, logging.WARNING))
    try:
        return nncf.quantize(
            ov_model, dataset, preset=nncf.QuantizationPreset.MIXED, subset_size=len(batches),
            ignored_scope=nncf.IgnoredScope(types=list(FLOAT_OP_TYPES), validate=False),
            advanced_parameters=AdvancedQuantizationParameters(
                activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX))
    finally:
        nncf_logger.setLevel(level)
