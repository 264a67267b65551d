"""Top-down keypoint inference: person boxes → affine crops → model → heatmaps → image keypoints.

The geometry is that of the official HRNet test code: ``_xywh2cs`` (centre, padding to the model's
aspect ratio, scale in units of 200 px, ×1.25) and ``get_affine_transform`` for the crop (in
`hrnet_zoo.pose.geometry`); the crops are normalised by `hrnet_zoo.pose.preprocess` from the cfg. On
the way back a `HeatmapCodec` decodes heatmaps to crop pixels and the crop's inverse transform takes
them to the image (the official ``transform_preds`` when the input is the heatmap times the stride, as
for every model here). With ``decoder="udp"`` the crop and the way back use UDP's transform instead (sizes measured as
``size − 1``, as mmpose's ``get_udp_warp_matrix``), which makes the flip test exact without a shift.

Input size, normalisation, flip pairs, decoder and blur kernel default to the model's
``pretrained_cfg``; explicit arguments win. Sizes are ``(H, W)``.

`iter_predictions()` is the one batched core: crops of consecutive images share model batches of up
to ``batch_size`` (a fixed-batch runner is kept full), then one decode path. `predict_keypoints()`
(one image), `hrnet_zoo.PoseEstimator` and `hrnet_zoo.evaluate()` all run through it. The model is
never changed: it must be in eval mode (a model in train mode is refused, since switching it would
race with other threads and its BatchNorm statistics), and nothing is written to it.

>>> model = hrnet_zoo.hrnet_w32(pretrained=True).eval()
>>> keypoints = hrnet_zoo.predict_keypoints(model, image, boxes)   # N×17×3 (x, y, score)
"""
from __future__ import annotations

import dataclasses
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple

import numpy as np
import torch

from hrnet_zoo.codecs.codec import HeatmapCodec
from hrnet_zoo.codecs.decode import DECODE_METHODS
from hrnet_zoo.codecs.flip import default_flip_pairs, flip_back
from hrnet_zoo.errors import InvalidArgumentError, NonFiniteOutputError
from hrnet_zoo.pose.geometry import MAX_BOX_COORDINATE, affine_points, box_crop_transforms, crop_images
from hrnet_zoo.pose.keypoint_set import describe_keypoints, names_have_sides
from hrnet_zoo.pose.preprocess import Preprocess, image_to_tensor
from hrnet_zoo.pretrained_cfg import DEFAULT_DECODER, DEFAULT_HEATMAP_SIGMA, PretrainedCfg, pose_cfg


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


def predict_heatmaps(model, image, boxes, input_size=None, flip_test: bool = True, flip_pairs=None,
                     shift_heatmap: bool = True, rotation=0.0, udp: bool = False, batch_size: int = 64):
    """Crop every box, run the model (and its flip test), return (N×K×h×w heatmaps, centres, scales).

    ``input_size`` is ``(H, W)``, by default the model's ``pretrained_cfg.input_size``.
    """
    settings = crop_settings(model, flip_test=flip_test, input_size=input_size, flip_pairs=flip_pairs,
                             shift_heatmap=shift_heatmap)
    settings = dataclasses.replace(settings, udp=bool(udp), decoder=None)  # the caller's geometry; heatmaps only
    (result,) = iter_predictions(model, [(image, boxes, rotation)], settings, batch_size, return_heatmaps=True)
    return result.heatmaps, result.center, result.scale


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


# --------------------------------------------------------------------------------------------- batched core
@dataclass(frozen=True)
class CropSettings:
    """How crops are cut, normalised, flip-tested and decoded: `crop_settings()` resolves every field
    from the model's ``pretrained_cfg`` and the caller's arguments, once."""

    cfg: PretrainedCfg
    input_size: tuple[int, int]
    flip_test: bool = True
    flip_pairs: tuple | None = None  # None: those of cfg.keypoints for the model's K (or COCO/MPII)
    shift_heatmap: bool = True
    udp: bool = False                # UDP crop geometry
    decoder: str | None = DEFAULT_DECODER  # None: heatmaps only, no keypoints
    blur_kernel_size: int = 11

    @property
    def preprocess(self) -> Preprocess:
        """The crops' normalisation: the cfg's mean, std and pixel scale at ``input_size``."""
        return Preprocess.from_cfg(self.cfg, self.input_size)

    def codec(self, heatmap_size) -> HeatmapCodec:
        """The one decode path: heatmaps (``heatmap_size`` (h, w)) → keypoints in crop pixels."""
        sigma = self.cfg.heatmap_sigma or DEFAULT_HEATMAP_SIGMA
        return HeatmapCodec(self.input_size, tuple(heatmap_size), sigma=sigma, decoder=self.decoder,
                            blur_kernel_size=self.blur_kernel_size)


def crop_settings(model, *, flip_test: bool = True, decoder: str | None = None, input_size=None, flip_pairs=None,
                  shift_heatmap: bool | None = None, blur_kernel_size: int | None = None) -> CropSettings:
    """`CropSettings` for ``model`` (or a runner); ``None`` arguments come from its ``pretrained_cfg``, as in
    `predict_keypoints()`."""
    cfg = model_cfg(model)
    decoder = decoder or cfg.decoder or DEFAULT_DECODER
    if decoder not in DECODE_METHODS:
        raise InvalidArgumentError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODE_METHODS)}")
    udp = decoder == "udp"
    input_size = cfg.input_size if input_size is None else cfg.check_input_size(input_size, stacklevel=4)
    flip_test, why = flip_test_decision(flip_test, cfg.keypoints if flip_pairs is None else None, flip_pairs)
    if why:
        warnings.warn(why, stacklevel=3)
    return CropSettings(cfg, tuple(input_size), bool(flip_test), None if flip_pairs is None else tuple(flip_pairs),
                        (not udp) if shift_heatmap is None else bool(shift_heatmap), udp, decoder,
                        blur_kernel_size or cfg.blur_kernel_size)


class _Job:
    """One image of the stream: its crops' geometry, and the results of those already run."""

    def __init__(self, image, boxes, rotation, settings: CropSettings, device):
        self.boxes = _check_boxes(boxes)
        self.rotation = _check_rotation(rotation, len(self.boxes))
        self.image = image_to_tensor(image).to(device)
        self.center, self.scale, self.inverse = box_crop_transforms(self.boxes, settings.input_size, self.rotation,
                                                                    settings.udp)
        self.keypoints, self.heatmaps, self.done = [], [], 0

    def finished(self, num_keypoints) -> bool:
        return self.done == len(self.boxes) and (len(self.boxes) > 0 or num_keypoints is not None)


class _Batcher:
    """Crops of consecutive images queued and run in batches of exactly ``batch_size`` (the last may be short,
    padded with blank crops for a fixed-batch runner)."""

    def __init__(self, model, settings: CropSettings, batch_size: int, keep_heatmaps: bool):
        self.model, self.settings, self.keep_heatmaps = model, settings, keep_heatmaps
        self.fixed = getattr(model, "batch_size", None) if not isinstance(model, torch.nn.Module) else None
        self.batch_size = self.fixed or batch_size  # a runner compiled for one batch gets exactly that many
        self.queue, self.queued = deque(), 0       # (job, first box, crops)
        self.codec, self.num_keypoints, self.empty_heatmaps = None, None, None

    def add(self, job: _Job) -> None:
        for start in range(0, len(job.boxes), self.batch_size):
            crops = crop_images(job.image, job.inverse[start:start + self.batch_size], self.settings.input_size)
            self.queue.append((job, start, crops))
            self.queued += len(crops)
            while self.queued >= self.batch_size:
                self.run(self.batch_size)
        job.image = None  # cropped: the decoded image need not live until its results are in

    def flush(self) -> None:
        if self.queued:
            self.run(self.queued)
        if self.num_keypoints is None:  # no box at all: learn K and the heatmap size from one blank crop
            self.run(0)

    def _take(self, count: int):
        parts, owners = [], []
        while count > 0:
            job, start, crops = self.queue.popleft()
            if len(crops) > count:  # split: the rest stays first in the queue
                self.queue.appendleft((job, start + count, crops[count:]))
                crops = crops[:count]
            parts.append(crops)
            owners.append((job, start, len(crops)))
            count -= len(crops)
        return parts, owners

    def run(self, count: int) -> None:
        """Run the next ``count`` queued crops (0: one blank crop) and hand the results to their images."""
        settings = self.settings
        parts, owners = self._take(count)
        self.queued -= count
        device, dtype = _device_and_dtype(self.model)
        if not parts:  # no crop at all: one blank crop tells K and the heatmap size
            parts = [torch.zeros(1, 3, *settings.input_size, device=device)]
        crops = torch.cat(parts) if len(parts) > 1 else parts[0]
        if self.fixed and len(crops) < self.fixed:
            crops = torch.cat((crops, crops.new_zeros(self.fixed - len(crops), *crops.shape[1:])))
        cfg = settings.cfg
        inputs = settings.preprocess.normalize(crops).to(dtype)
        heatmaps = _heatmaps_of(self.model, inputs)
        if settings.flip_test:
            pairs = settings.flip_pairs if settings.flip_pairs is not None else _flip_pairs_of(cfg, heatmaps.shape[1])
            flipped = flip_back(_heatmaps_of(self.model, inputs.flip(3)), pairs, shift=settings.shift_heatmap)
            heatmaps = (heatmaps + flipped) * 0.5
        heatmaps = heatmaps[:count]
        if settings.decoder and not torch.isfinite(heatmaps).all():  # decoding NaN: garbage or a codec traceback
            bad = int((~torch.isfinite(heatmaps)).flatten(1).any(1).sum())
            raise NonFiniteOutputError(f"the model's heatmaps hold NaN or infinity for {bad} of {len(heatmaps)} "
                                       "box(es): its weights are broken (a diverged training run?)")
        self.num_keypoints, self.empty_heatmaps = heatmaps.shape[1], heatmaps[:0]
        keypoints = self._decode(heatmaps, owners) if settings.decoder else None
        first = 0
        for job, start, n in owners:
            job.keypoints.append(None if keypoints is None else keypoints[first:first + n])
            job.heatmaps.append(heatmaps[first:first + n] if self.keep_heatmaps else None)
            job.done += n
            first += n

    def _decode(self, heatmaps, owners) -> torch.Tensor:
        """B×K×h×w → B×K×3 (x, y, score) in image pixels: the codec, then each crop's way back."""
        if self.codec is None or self.codec.heatmap_size != tuple(heatmaps.shape[-2:]):
            self.codec = self.settings.codec(heatmaps.shape[-2:])
        coords, scores = self.codec.decode(heatmaps)
        back = np.concatenate([job.inverse[start:start + n] for job, start, n in owners]) if owners else \
            np.zeros((0, 2, 3))
        points = affine_points(coords.cpu().double().numpy(), back)
        return torch.cat((torch.from_numpy(points).float(), scores.cpu().float()[..., None]), dim=-1)

    def result(self, job: _Job):
        """(N×K×3 keypoints or None, N×K×h×w heatmaps or None) of a finished image."""
        keypoints = heatmaps = None
        if self.settings.decoder:
            keypoints = torch.cat(job.keypoints) if job.keypoints else torch.zeros(0, self.num_keypoints, 3)
        if self.keep_heatmaps:
            heatmaps = torch.cat(job.heatmaps) if job.heatmaps else self.empty_heatmaps
        return keypoints, heatmaps


class PoseResult(NamedTuple):
    """One image's output of `iter_predictions()`: N×2 crop centres and scales (units of 200 px), N×K×3
    keypoints (x, y, score) in image pixels (None without a decoder), N×K×h×w heatmaps (None unless asked)."""
    center: np.ndarray
    scale: np.ndarray
    keypoints: torch.Tensor | None
    heatmaps: torch.Tensor | None


@torch.no_grad()
def iter_predictions(model, items: Iterable, settings: CropSettings, batch_size: int = 64,
                     return_heatmaps: bool = False) -> Iterator[PoseResult]:
    """The batched top-down core: crops of consecutive images share batches of up to ``batch_size``.

    ``items``: ``(image, boxes)`` or ``(image, boxes, rotation)`` per image (any iterable, consumed
    lazily: a video or a data loader streams through). Yields one `PoseResult` per item, in order, as
    soon as all its crops have run. Images, boxes and rotation as `predict_keypoints()`.
    """
    _check_batch_size(batch_size)
    _check_inference_mode(model)
    device = _device_and_dtype(model)[0]
    batcher = _Batcher(model, settings, int(batch_size), return_heatmaps)
    pending = deque()
    for item in items:
        image, boxes, *rotation = item
        job = _Job(image, boxes, rotation[0] if rotation else 0.0, settings, device)
        pending.append(job)
        batcher.add(job)
        while pending and pending[0].finished(batcher.num_keypoints):
            yield PoseResult(pending[0].center, pending[0].scale, *batcher.result(pending.popleft()))
    if pending:
        batcher.flush()
    while pending:
        yield PoseResult(pending[0].center, pending[0].scale, *batcher.result(pending.popleft()))


def _check_batch_size(batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")


def predict_keypoints(model, image, boxes, flip_test: bool = True, decoder: str | None = None, input_size=None,
                      flip_pairs=None, shift_heatmap: bool | None = None, rotation=0.0,
                      blur_kernel_size: int | None = None, batch_size: int = 64, return_heatmaps: bool = False):
    """Keypoints of every person box in one image, in image pixels.

    Every ``None`` default comes from ``model.pretrained_cfg``. A thin call of the batched core
    (`iter_predictions()`, which `hrnet_zoo.PoseEstimator` and `hrnet_zoo.evaluate()` run over many images).

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
    settings = crop_settings(model, flip_test=flip_test, decoder=decoder, input_size=input_size,
                             flip_pairs=flip_pairs, shift_heatmap=shift_heatmap, blur_kernel_size=blur_kernel_size)
    (result,) = iter_predictions(model, [(image, boxes, rotation)], settings, batch_size, return_heatmaps)
    return (result.keypoints, result.heatmaps) if return_heatmaps else result.keypoints
