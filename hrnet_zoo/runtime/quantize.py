"""int8 post-training quantisation with NNCF on the OpenVINO graph, from real calibration data.

Calibration data is never invented: without it int8 is refused. It may be an iterable of N×3×H×W
input tensors (normalised as the model expects), or ``(image, boxes)`` pairs from which the crops are
cut and normalised as `hrnet_zoo.predict_keypoints()` and the training data do it
(`hrnet_zoo.pose.geometry`, `hrnet_zoo.pose.preprocess` from the model's ``pretrained_cfg``, pixel
scale included). An int8 runner of a heatmap model comes with its measured keypoint error: how far its
decoded keypoints lie from fp32's on those inputs (`keypoint_shift`).
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.runtime.runner import as_tensor, require

logger = logging.getLogger("hrnet_zoo.runtime")

#: Mean keypoint shift (heatmap px) from fp32 above which an int8 runner warns, and which
#: ``optimize(precision="auto")`` does not accept from an int8 candidate (its ``int8_max_shift_px``).
SHIFT_WARNING_PX = 0.25
#: Fewest calibration crops whose keypoint shift is reported as a figure to judge int8 by. The shift
#: is in-sample (measured on the crops the scales were fitted to) and varies from crop to crop with
#: the pose and the image; with fewer crops one or two of them decide the mean and the 95th
#: percentile (a single crop read 0.0 px where held-out images moved 1.4 px). 16 crops of a
#: 17-keypoint model give 272 keypoints, 14 of them beyond the 95th percentile.
MIN_CALIBRATION_INPUTS = 16


def calibration_batches(calibration, cfg, input_size) -> list[torch.Tensor]:
    """The calibration data as a list of N×3×H×W float32 tensors at ``input_size`` (H, W); ``(image, boxes)``
    pairs are cut and normalised by ``cfg``'s `Preprocess` (`PretrainedCfg()`'s defaults for None)."""
    from hrnet_zoo.pose.geometry import box_crop_transforms
    from hrnet_zoo.pose.preprocess import Preprocess, image_to_tensor

    if calibration is None:
        raise InvalidArgumentError(
            "int8 needs calibration data: optimize(model, precision='int8', calibration=batches) with an "
            "iterable of N×3×H×W input tensors or of (image, boxes) pairs (quantising on random data would "
            "give wrong scales, so it is never done silently)")
    preprocess, batches = Preprocess.from_cfg(cfg, input_size), []
    for item in calibration:
        if isinstance(item, (tuple, list)) and len(item) == 2 and not isinstance(item[0], (int, float)):
            image, boxes = item
            if len(boxes) == 0:  # an image without people calibrates nothing
                continue
            # UDP's crop geometry for a UDP model, as predict_keypoints cuts its crops
            _, _, inverse = box_crop_transforms(boxes, input_size, udp=cfg is not None and cfg.decoder == "udp")
            batches.append(preprocess.crops(image_to_tensor(image), inverse))
        else:
            batches.append(as_tensor(item))
    batches = [b for b in batches if len(b)]
    if not batches:
        # before NNCF, whose statistics of no data end in a quantile() error after a page of warnings
        raise InvalidArgumentError(
            "int8 calibration data holds no crops (no (image, boxes) pair has a box, or every tensor has batch 0): "
            f"pass images with person boxes, {MIN_CALIBRATION_INPUTS} crops or more")
    bad = [tuple(b.shape) for b in batches if tuple(b.shape[-2:]) != tuple(input_size)]
    if bad:
        raise InvalidArgumentError(f"calibration inputs must be N×C×{input_size[0]}×{input_size[1]}, got {bad[0]}")
    return batches


#: Ops whose inputs stay in float (bf16 where the CPU has it). HRNet's fusion adds upsampled
#: low-resolution terms to the high-resolution branch, and every residual block adds its input back;
#: one 8-bit scale per sum costs the spatial precision a heatmap peak needs (mean keypoint shift
#: 0.42 → 0.18 heatmap px on the trained model of ``benchmarks/int8_accuracy.py``), while OpenVINO
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


def keypoint_shift(reference: torch.nn.Module, run, batches: list[torch.Tensor], cfg, device,
                   batch_size: int | None = None) -> dict | None:
    """How far ``run`` moves keypoints from ``reference`` (the fp32 model) on ``batches``.

    Both outputs are decoded with the model's ``pretrained_cfg`` decoder. Returns the mean, 95th
    percentile and largest distance between the two in heatmap pixels, the number of keypoints and
    inputs compared, ``in_sample`` (always True) and ``enough_inputs`` (at least
    `MIN_CALIBRATION_INPUTS`); None for a model whose output is not one N×K×h×w heatmap tensor. The
    inputs are the calibration set, so this is an in-sample figure (a warning says so below the
    minimum count); ``benchmarks/int8_accuracy.py`` measures the same thing on held-out images.
    ``batch_size``: the batch ``run`` was compiled for, if fixed.
    """
    from hrnet_zoo.codecs import decode_heatmaps

    if cfg is None or cfg.decoder is None:
        return None
    inputs = torch.cat(batches)
    shifts = []
    with torch.no_grad():
        for x in inputs.split(batch_size or 32):
            expected = reference(x.to(device))
            if not isinstance(expected, torch.Tensor) or expected.dim() != 4:
                return None
            padded = torch.cat([x, x[-1:].expand(batch_size - len(x), *x.shape[1:])]) \
                if batch_size and len(x) < batch_size else x
            got = run(padded)[0][:len(x)]
            fp32, _ = decode_heatmaps(expected.float().cpu(), cfg.decoder, cfg.blur_kernel_size)
            int8, _ = decode_heatmaps(got.float().cpu(), cfg.decoder, cfg.blur_kernel_size)
            shifts.append((fp32 - int8).norm(dim=-1).flatten())
    shift = torch.cat(shifts)
    report = dict(mean_px=round(shift.mean().item(), 4), p95_px=round(shift.quantile(0.95).item(), 4),
                  max_px=round(shift.max().item(), 4), keypoints=shift.numel(), inputs=len(inputs),
                  in_sample=True, enough_inputs=len(inputs) >= MIN_CALIBRATION_INPUTS)
    message = (f"int8 keypoints lie {report['mean_px']:.2f} heatmap px from fp32's on average "
               f"(95% within {report['p95_px']:.2f} px) on the {len(inputs)} calibration inputs")
    if not report["enough_inputs"]:
        logger.warning("%s: an in-sample figure from fewer than %d crops, too small a sample to judge int8 by; "
                       "calibrate on %d or more crops and check the accuracy on your validation set", message,
                       MIN_CALIBRATION_INPUTS, MIN_CALIBRATION_INPUTS)
    elif report["mean_px"] > SHIFT_WARNING_PX:
        logger.warning("%s; check the accuracy on your validation set, or use precision='bf16' or 'fp32'", message)
    else:
        logger.info("%s", message)
    return report
