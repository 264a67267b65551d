"""Top-down keypoint inference: person boxes → affine crops → model → heatmaps → image keypoints.

The geometry is that of the official HRNet test code: ``_xywh2cs`` (centre, padding to the model's
aspect ratio, scale in units of 200 px, ×1.25), ``get_affine_transform`` for the crop and
``transform_preds`` (the inverse transform at heatmap size) for the way back. With
``decoder="udp"`` the crop and the way back use UDP's transform instead (sizes measured as
``size − 1``, as mmpose's ``get_udp_warp_matrix``), which makes the flip test exact without a shift.

Input size, normalisation, flip pairs, decoder and blur kernel default to the model's
``pretrained_cfg``; explicit arguments win. Sizes are ``(H, W)``. The model is never changed: it must
be in eval mode (a model in train mode is refused, since switching it would race with other threads
and its BatchNorm statistics), and nothing is written to it.

>>> model = hrnet_zoo.hrnet_w32(pretrained=True).eval()
>>> keypoints = hrnet_zoo.predict_keypoints(model, image, boxes)   # N×17×3 (x, y, score)
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from hrnet_zoo.codecs.decode import DECODE_METHODS, decode_heatmaps
from hrnet_zoo.codecs.flip import default_flip_pairs, flip_back
from hrnet_zoo.errors import InvalidArgumentError, NonFiniteOutputError
from hrnet_zoo.keypoints import describe_keypoints, names_have_sides
from hrnet_zoo.pretrained_cfg import IMAGENET_MEAN, IMAGENET_STD, PretrainedCfg, pose_cfg

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
        return tensor.float() / 255.0
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
    ys, xs = np.meshgrid(np.arange(out_h, dtype=np.float64), np.arange(out_w, dtype=np.float64), indexing="ij")
    grid = np.stack((xs, ys), axis=-1).reshape(1, -1, 2)
    inverse_transforms = np.asarray(inverse_transforms, dtype=np.float64)
    source = affine_points(np.broadcast_to(grid, (len(inverse_transforms), out_h * out_w, 2)), inverse_transforms)
    # Pixel centres at integer coordinates ↔ align_corners=False normalisation (2x + 1)/size − 1.
    normalised = (2 * source + 1) / np.array([width, height]) - 1
    grid = torch.from_numpy(normalised.reshape(-1, out_h, out_w, 2)).to(image.device, torch.float32)
    batch = image[None].expand(len(grid), -1, -1, -1)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def normalize(crops: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
              max_pixel_value: float = 1.0):
    """Normalisation of N×3×H×W RGB crops in [0, 1]: ``(crops · max_pixel_value − mean) / std``
    (ImageNet's by default; ``max_pixel_value`` 255 for models trained on 0–255 pixels)."""
    if max_pixel_value != 1.0:
        crops = crops * max_pixel_value
    mean_t = torch.tensor(mean, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    return (crops - mean_t) / std_t


def _heatmaps_of(model, inputs: torch.Tensor) -> torch.Tensor:
    output = model(inputs)
    if isinstance(output, (list, tuple)):  # multi-stage models: the last stage, as the official test
        output = output[-1]
    return output.float()


def _check_boxes(boxes) -> np.ndarray:
    if isinstance(boxes, torch.Tensor):
        boxes = boxes.detach().cpu().numpy()
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:  # a detector's empty list: no people, an empty result
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise InvalidArgumentError(f"boxes must be an N×4 array of (x, y, width, height), got shape {boxes.shape}")
    if not np.isfinite(boxes).all():
        raise InvalidArgumentError("boxes contain non-finite values")
    if (np.abs(boxes) > MAX_BOX_COORDINATE).any():
        raise InvalidArgumentError(f"boxes must be (x, y, width, height) in image pixels; values beyond "
                                   f"{MAX_BOX_COORDINATE:g} are not")
    if ((boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)).any():
        bad = np.nonzero((boxes[:, 2] <= 0) | (boxes[:, 3] <= 0))[0].tolist()
        raise InvalidArgumentError(f"boxes need a positive width and height (xywh); boxes {bad} do not")
    return boxes


def _check_rotation(rotation, num_boxes: int) -> np.ndarray:
    values = np.asarray(rotation, dtype=np.float64)
    if values.ndim > 1 or (values.ndim == 1 and len(values) != num_boxes):
        raise InvalidArgumentError(f"rotation must be a number or one angle per box ({num_boxes}), "
                                   f"got shape {values.shape}")
    if not np.isfinite(values).all():
        raise InvalidArgumentError("rotation must be finite (degrees)")
    return values


def model_cfg(model) -> PretrainedCfg:
    """``model.pretrained_cfg``, or the pose defaults for a module without one."""
    return getattr(model, "pretrained_cfg", None) or pose_cfg()


def _device_and_dtype(model) -> tuple[torch.device, torch.dtype]:
    """Where the model's inputs go: its parameters' device and dtype (a runner says its ``device``)."""
    parameters = model.parameters() if isinstance(model, torch.nn.Module) else iter(())
    parameter = next(parameters, None)
    if parameter is not None:
        dtype = parameter.dtype if parameter.is_floating_point() else torch.float32
        return parameter.device, dtype
    return torch.device(getattr(model, "device", "cpu")), torch.float32


def _check_inference_mode(model) -> None:
    if isinstance(model, torch.nn.Module) and any(m.training for m in model.modules()):
        raise InvalidArgumentError(
            f"{type(model).__name__} is in train mode; call model.eval() before inference (predict_keypoints "
            "does not switch it: that would change BatchNorm statistics and race with other threads)")


@torch.no_grad()
def predict_heatmaps(model, image, boxes, input_size=None, flip_test: bool = True, flip_pairs=None,
                     shift_heatmap: bool = True, rotation=0.0, udp: bool = False, batch_size: int = 64):
    """Crop every box, run the model (and its flip test), return (N×K×h×w heatmaps, centres, scales).

    ``input_size`` is ``(H, W)``, by default the model's ``pretrained_cfg.input_size``.
    """
    cfg = model_cfg(model)
    input_size = cfg.input_size if input_size is None else cfg.check_input_size(input_size)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
    _check_inference_mode(model)
    boxes = _check_boxes(boxes)
    rotation = _check_rotation(rotation, len(boxes))
    tensor = image_to_tensor(image)
    device, dtype = _device_and_dtype(model)
    tensor = tensor.to(device)
    center, scale, inverse = box_crop_transforms(boxes, input_size, rotation, udp)
    fixed_batch = getattr(model, "batch_size", None) if not isinstance(model, torch.nn.Module) else None
    batch_size = fixed_batch or batch_size  # a runner compiled for one batch gets exactly that many crops
    chunks = []
    for start in range(0, max(len(boxes), 1), batch_size):
        if len(boxes):
            crops = crop_images(tensor, inverse[start:start + batch_size], input_size)
        else:  # still learn K and the heatmap size, from one blank crop
            crops = tensor.new_zeros(1, 3, *input_size)
        count = min(len(crops), len(boxes))
        if fixed_batch and len(crops) < fixed_batch:  # the last chunk, padded with blank crops
            crops = torch.cat((crops, crops.new_zeros(fixed_batch - len(crops), *crops.shape[1:])))
        inputs = normalize(crops, cfg.mean, cfg.std, cfg.max_pixel_value).to(dtype)
        heatmaps = _heatmaps_of(model, inputs)
        if flip_test:
            pairs = flip_pairs if flip_pairs is not None else _flip_pairs_of(cfg, heatmaps.shape[1])
            flipped = flip_back(_heatmaps_of(model, inputs.flip(3)), pairs, shift=shift_heatmap)
            heatmaps = (heatmaps + flipped) * 0.5
        chunks.append(heatmaps[:count])
    return torch.cat(chunks), center, scale


def flip_test_decision(flip_test: bool, keypoint_set=None, flip_pairs=None) -> tuple[bool, str | None]:
    """Whether the flip test runs, and the one-line warning when it is turned off.

    With no flip pairs (``flip_pairs``, else ``keypoint_set``'s) on a set whose names contain side words,
    the mirrored crop's left and right would be averaged unswapped, blurring every side keypoint: the
    flip test is then skipped with a warning saying how to give pairs (an error would stop users whose
    set truly has no pairs). Without a keypoint set nothing is known and ``flip_test`` stands.
    """
    if not flip_test or keypoint_set is None:
        return flip_test, None
    pairs = keypoint_set.flip_pairs if flip_pairs is None else flip_pairs
    if len(pairs) or not names_have_sides(keypoint_set):
        return True, None
    return False, (f"flip test off: keypoint set {keypoint_set.name!r} has no flip pairs but its names contain side "
                   "words; give --flip-pairs (flip_pairs=) or --keypoint-set (keypoint_set=) to flip-test")


def keypoint_summary(choice, flip_test: bool = False) -> list[str]:
    """The lines train, evaluate and predict print when they start: `describe_keypoints()` of ``choice``
    (a `KeypointChoice` or `KeypointSet`), its warnings, and the flip test's, when ``flip_test`` is asked
    for and `flip_test_decision()` turns it off."""
    lines = [describe_keypoints(choice)] + [f"warning: {w}" for w in getattr(choice, "warnings", ())]
    kset = getattr(choice, "keypoint_set", choice)
    _, why = flip_test_decision(flip_test, kset)
    return lines + ([f"warning: {why}"] if why else [])


def _flip_pairs_of(cfg: PretrainedCfg, num_keypoints: int):
    if cfg.keypoints is not None and cfg.keypoints.num_keypoints == num_keypoints:
        return cfg.keypoints.flip_pairs
    return default_flip_pairs(num_keypoints)


def predict_keypoints(model, image, boxes, flip_test: bool = True, decoder: str | None = None, input_size=None,
                      flip_pairs=None, shift_heatmap: bool | None = None, rotation=0.0,
                      blur_kernel_size: int | None = None, batch_size: int = 64, return_heatmaps: bool = False):
    """Keypoints of every person box in one image, in image pixels.

    Every ``None`` default comes from ``model.pretrained_cfg``.

    Args:
        model: an hrnet_zoo pose model in eval mode (N×3×H×W → N×K×H/4×W/4 heatmaps) on any device,
            or a runner from `hrnet_zoo.optimize()`.
        image: uint8 H×W×3 RGB numpy array or PIL image, or a 3×H×W tensor (uint8 or float in [0, 1]).
        boxes: N×4 person boxes (x, y, width, height) in image pixels; N = 0 gives an empty result.
        flip_test: average with the flipped crop's heatmaps (flipped back, left/right swapped); skipped,
            with a warning, when the keypoint names have sides but no flip pairs are known
            (`flip_test_decision()`).
        decoder: ``argmax``, ``quarter`` (official), ``dark`` or ``udp`` (also selects UDP geometry);
            by default ``pretrained_cfg.decoder``.
        input_size: model input ``(H, W)``; by default ``pretrained_cfg.input_size`` (256×192 for the
            COCO models). A size whose aspect disagrees with it warns.
        flip_pairs: left/right index pairs; by default those of ``pretrained_cfg.keypoints``.
        shift_heatmap: shift the flipped heatmaps one pixel, as the official test does; default on,
            except for ``udp`` whose flip is exact.
        rotation: crop rotation in degrees (scalar or per box).
        blur_kernel_size: DARK/UDP modulation kernel; by default from ``pretrained_cfg.heatmap_sigma``
            (11 for σ = 2, 17 for σ = 3).
        return_heatmaps: also return the N×K×h×w heatmaps the keypoints were decoded from.

    Returns:
        N×K×3 float32 CPU tensor of (x, y, score) — and the heatmaps if asked.
    """
    cfg = model_cfg(model)
    decoder = decoder or cfg.decoder or "dark"
    if decoder not in DECODE_METHODS:
        raise InvalidArgumentError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODE_METHODS)}")
    udp = decoder == "udp"
    shift = (not udp) if shift_heatmap is None else shift_heatmap
    flip_test, why = flip_test_decision(flip_test, cfg.keypoints if flip_pairs is None else None, flip_pairs)
    if why:
        warnings.warn(why, stacklevel=2)
    heatmaps, center, scale = predict_heatmaps(model, image, boxes, input_size, flip_test, flip_pairs, shift,
                                               rotation, udp, batch_size)
    if not torch.isfinite(heatmaps).all():  # decoding NaN gives garbage or a traceback deep in the codec
        bad = int((~torch.isfinite(heatmaps)).flatten(1).any(1).sum())
        raise NonFiniteOutputError(f"the model's heatmaps hold NaN or infinity for {bad} of {len(heatmaps)} "
                                   "box(es): its weights are broken (a diverged training run?)")
    coords, scores = decode_heatmaps(heatmaps, decoder, blur_kernel_size or cfg.blur_kernel_size)
    back = get_affine_transform(center, scale, _check_rotation(rotation, len(center)), heatmaps.shape[-2:],
                                inv=True, udp=udp)
    points = affine_points(coords.cpu().double().numpy(), back)
    keypoints = torch.cat((torch.from_numpy(points).float(), scores.cpu().float()[..., None]), dim=-1)
    return (keypoints, heatmaps) if return_heatmaps else keypoints
