"""``PretrainedCfg``: how to use a model's weights — input size, normalisation, keypoint set, decoder.

Every model carries one as ``model.pretrained_cfg``. It comes from the manifest entry when
``pretrained`` names a tag, from the saved ``config.json`` for a folder or ``hf-hub:`` repo, and from
the family's defaults otherwise. ``save_pretrained`` writes it into config.json. Whatever needs these
values (``predict_keypoints``, ``HeatmapCodec.for_model``, export, the CLI) reads its defaults here;
an explicit argument wins.

Sizes are ``(H, W)``, as everywhere in hrnet_zoo.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.pose.keypoint_set import KeypointSet, keypoint_set_for, resolve_keypoint_set

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: ``scale`` → the largest pixel value the model expects after ``image_to_tensor``-style decoding.
PIXEL_SCALES = {"0-1": 1.0, "0-255": 255.0}
#: The input size of a pose model whose cfg says nothing else: a COCO person crop, (H, W).
DEFAULT_INPUT_SIZE = (256, 192)
#: σ (heatmap pixels) of a pose model's training targets when its cfg gives none: the official 64×48 one.
DEFAULT_HEATMAP_SIGMA = 2.0
#: The heatmap decoder of a pose model whose cfg names none (`pose_cfg()`'s), and of a `HeatmapCodec`.
DEFAULT_DECODER = "dark"


@dataclass(frozen=True)
class PretrainedCfg:
    """How a model expects its input and what its output means.

    Attributes:
        input_size: ``(H, W)`` the weights were trained at.
        mean, std: per-channel normalisation applied to pixels in ``scale``.
        color: channel order, ``"RGB"``.
        scale: value range of the pixels before normalisation, ``"0-1"`` or ``"0-255"``.
        keypoints: the keypoint set of a pose model (names, flip pairs, skeleton, OKS sigmas), or None.
        num_classes, class_labels: classification / segmentation classes.
        heatmap_sigma: σ of the training targets in heatmap pixels (pose models).
        output_stride: input pixels per heatmap pixel (pose models: 4).
        decoder: the recommended heatmap decoder (``argmax``, ``quarter``, ``dark``, ``udp``).
        source, tag, license: where the weights came from; None for random initialisation.
    """

    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    color: str = "RGB"
    scale: str = "0-1"
    keypoints: KeypointSet | None = None
    num_classes: int | None = None
    class_labels: tuple[str, ...] | None = None
    heatmap_sigma: float | None = None
    output_stride: int | None = None
    decoder: str | None = None
    source: str | None = None
    tag: str | None = None
    license: str | None = None

    def __post_init__(self):
        size = tuple(int(v) for v in self.input_size)
        if len(size) != 2 or min(size) < 1:
            raise InvalidArgumentError(f"input_size must be (H, W) of positive integers, got {self.input_size!r}")
        object.__setattr__(self, "input_size", size)
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if self.scale not in PIXEL_SCALES:
            raise InvalidArgumentError(f"scale must be one of {', '.join(PIXEL_SCALES)}, got {self.scale!r}")
        if self.keypoints is not None and not isinstance(self.keypoints, KeypointSet):
            object.__setattr__(self, "keypoints", resolve_keypoint_set(self.keypoints))
        if self.class_labels is not None:
            object.__setattr__(self, "class_labels", tuple(str(c) for c in self.class_labels))

    @property
    def max_pixel_value(self) -> float:
        """1.0 for ``"0-1"`` inputs, 255.0 for ``"0-255"``."""
        return PIXEL_SCALES[self.scale]

    @property
    def num_keypoints(self) -> int | None:
        return None if self.keypoints is None else self.keypoints.num_keypoints

    @property
    def heatmap_size(self) -> tuple[int, int] | None:
        """``(H, W)`` of the heatmaps at ``input_size`` (pose models)."""
        if not self.output_stride:
            return None
        return tuple(math.ceil(v / self.output_stride) for v in self.input_size)

    @property
    def blur_kernel_size(self) -> int:
        """DARK/UDP modulation kernel for ``heatmap_sigma`` (`blur_kernel_for()`; ``DEFAULT_HEATMAP_SIGMA``
        when unset)."""
        return blur_kernel_for(self.heatmap_sigma or DEFAULT_HEATMAP_SIGMA)

    def replace(self, **changes) -> "PretrainedCfg":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``save_pretrained`` writes under ``pretrained_cfg``)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["input_size"] = list(self.input_size)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        data["keypoints"] = None if self.keypoints is None else self.keypoints.to_dict()
        data["class_labels"] = None if self.class_labels is None else list(self.class_labels)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PretrainedCfg":
        """Inverse of `to_dict()`; unknown keys (from a newer version) are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_num_keypoints(self, num_keypoints: int) -> "PretrainedCfg":
        """This cfg for a model with ``num_keypoints`` heatmaps: the keypoint set is kept when it has
        that many keypoints, else the built-in set of that size, else none."""
        if self.keypoints is not None and self.keypoints.num_keypoints == num_keypoints:
            return self
        return self.replace(keypoints=keypoint_set_for(num_keypoints))

    def check_input_size(self, input_size, what: str = "input_size", stacklevel: int = 3) -> tuple[int, int]:
        """``input_size`` as an (H, W) tuple of positive ints. For a top-down pose model (its crops have
        the aspect it was trained at) it warns when the aspect is far from this cfg's — the transpose
        is the sign of a (W, H) tuple; dense and classification models take any aspect."""
        size = check_size(input_size, what)
        if self.heatmap_sigma is None:
            return size
        expected = self.input_size[0] / self.input_size[1]
        got = size[0] / size[1]
        if abs(math.log(got / expected)) > math.log(1.2):
            warnings.warn(f"{what}={size} (H, W) has aspect H/W {got:.2f}, but the model's pretrained_cfg "
                          f"expects {self.input_size} (H/W {expected:.2f}); sizes are (H, W) in hrnet_zoo",
                          stacklevel=stacklevel)
        return size


def check_size(size, what: str = "input_size") -> tuple[int, int]:
    """``size`` as an ``(H, W)`` tuple of positive integers, or an [`InvalidArgumentError`][hrnet_zoo.errors.InvalidArgumentError] naming ``what``."""
    try:
        values = tuple(size)
        ok = len(values) == 2 and all(float(v) == int(v) and int(v) >= 1 for v in values)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise InvalidArgumentError(f"{what} must be (H, W), two positive integers, got {size!r}")
    return int(values[0]), int(values[1])


def blur_kernel_for(sigma: float) -> int:
    """DARK/UDP modulation kernel for heatmap σ: 11 for σ ≤ 2, 17 above (the DARK configs' pairing)."""
    return 11 if sigma <= 2 else 17


def pose_cfg(num_keypoints: int = 17, input_size=DEFAULT_INPUT_SIZE, **fields) -> PretrainedCfg:
    """Family default of a top-down pose model with ``num_keypoints`` heatmaps at stride 4."""
    fields.setdefault("decoder", DEFAULT_DECODER)
    return PretrainedCfg(input_size=input_size, keypoints=keypoint_set_for(num_keypoints),
                         heatmap_sigma=DEFAULT_HEATMAP_SIGMA, output_stride=4, **fields)
