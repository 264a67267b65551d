"""Keypoint sets: names, skeleton, flip pairs and OKS sigmas of a keypoint layout, and the OKS similarity.

COCO-17 and MPII-16 are built in; any other layout is made from its names
(`KeypointSet.from_names()`) or from a COCO annotation file's category
(`KeypointSet.from_coco_category()`). Indices are 0-based (a COCO file's ``skeleton`` is 1-based
and is converted). Flip pairs are those of the official HRNet datasets (``lib/dataset/coco.py``,
``lib/dataset/mpii.py``); COCO sigmas are the COCO keypoint-evaluation constants. MPII has no official
OKS; its sigmas are the ones mmpose ships for MPII (``configs/_base_/datasets/mpii.py``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from hrnet_zoo.errors import InvalidArgumentError

#: OKS sigma of a keypoint whose layout gives none: about the mean of COCO's 17 constants (0.063),
#: rounded to the middle of the body joints' range; pass ``sigmas=`` for a layout you know better.
DEFAULT_SIGMA = 0.05
_SIDE_PREFIXES = (("left_", "right_"), ("l_", "r_"), ("left", "right"))


def flip_indices_from_pairs(flip_pairs, num_keypoints: int) -> list[int]:
    """Left/right pairs → a permutation of ``range(num_keypoints)``; checks the pairs are valid."""
    indices = list(range(num_keypoints))
    seen = set()
    for pair in flip_pairs:
        if len(pair) != 2:
            raise InvalidArgumentError(f"flip pairs must be (left, right) index pairs, got {pair!r}")
        a, b = (int(i) for i in pair)
        if not (0 <= a < num_keypoints and 0 <= b < num_keypoints):
            raise InvalidArgumentError(f"flip pair {pair!r} is out of range for {num_keypoints} keypoints")
        if a in seen or b in seen or a == b:
            raise InvalidArgumentError(f"keypoint in flip pair {pair!r} appears in more than one pair")
        seen.update((a, b))
        indices[a], indices[b] = b, a
    return indices


@dataclass(frozen=True)
class KeypointSet:
    """Metadata of one keypoint layout: K names, skeleton (i, j) pairs, left/right flip pairs, K OKS sigmas."""

    name: str
    keypoint_names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]

    def __post_init__(self):
        k = len(self.keypoint_names)
        if k == 0:
            raise InvalidArgumentError("a keypoint set needs at least one keypoint name")
        if len(set(self.keypoint_names)) != k:
            raise InvalidArgumentError(f"keypoint set {self.name!r} repeats a name: {list(self.keypoint_names)}")
        if len(self.sigmas) != k:
            raise InvalidArgumentError(f"keypoint set {self.name!r} has {k} names but {len(self.sigmas)} sigmas")
        if not all(float(s) > 0 for s in self.sigmas):
            raise InvalidArgumentError(f"OKS sigmas must be positive, got {list(self.sigmas)}")
        flip_indices_from_pairs(self.flip_pairs, k)  # validates the pairs
        for pair in self.skeleton:
            if len(pair) != 2 or not all(0 <= int(i) < k for i in pair):
                raise InvalidArgumentError(f"skeleton link {pair!r} is out of range for {k} keypoints")

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def flip_indices(self) -> list[int]:
        """``flip_indices[k]`` is the keypoint that ``k`` becomes in a mirrored image."""
        return flip_indices_from_pairs(self.flip_pairs, self.num_keypoints)

    @classmethod
    def from_names(cls, names: Sequence[str], *, name: str = "custom", flip_pairs=None, skeleton=(),
                   sigmas=None) -> "KeypointSet":
        """A set from its keypoint names.

        ``flip_pairs`` default to the pairs named ``left_x``/``right_x`` (also ``l_x``/``r_x`` and
        ``leftx``/``rightx``); ``sigmas`` default to `DEFAULT_SIGMA` for every keypoint.
        """
        names = tuple(str(n) for n in names)
        pairs = flip_pairs_from_names(names) if flip_pairs is None else flip_pairs
        sigmas = (DEFAULT_SIGMA,) * len(names) if sigmas is None else sigmas
        return cls(name=name, keypoint_names=names, skeleton=_pairs(skeleton), flip_pairs=_pairs(pairs),
                   sigmas=tuple(float(s) for s in sigmas))

    @classmethod
    def from_coco_category(cls, category: Mapping | str | os.PathLike, *, flip_pairs=None,
                           sigmas=None) -> "KeypointSet":
        """A set from a COCO keypoint category (``{"name", "keypoints", "skeleton"}``, skeleton 1-based),
        or from the first category with keypoints of a COCO annotation file given by path."""
        if isinstance(category, (str, os.PathLike)):
            path = category
            with open(path, encoding="utf-8") as f:
                categories = json.load(f).get("categories", [])
            category = next((c for c in categories if c.get("keypoints")), None)
            if category is None:
                raise InvalidArgumentError(f"{path}: no category with a 'keypoints' list")
        if not category.get("keypoints"):
            raise InvalidArgumentError(f"COCO category {category.get('name')!r} has no 'keypoints' list")
        skeleton = [(int(a) - 1, int(b) - 1) for a, b in category.get("skeleton") or ()]
        return cls.from_names(category["keypoints"], name=str(category.get("name", "custom")),
                              flip_pairs=flip_pairs, skeleton=skeleton, sigmas=sigmas)

    def to_dict(self) -> dict:
        """JSON-ready form (what ``save_pretrained`` writes into config.json)."""
        return {"name": self.name, "keypoint_names": list(self.keypoint_names),
                "skeleton": [list(p) for p in self.skeleton], "flip_pairs": [list(p) for p in self.flip_pairs],
                "sigmas": list(self.sigmas)}

    @classmethod
    def from_dict(cls, data: Mapping) -> "KeypointSet":
        return cls(name=str(data["name"]), keypoint_names=tuple(data["keypoint_names"]),
                   skeleton=_pairs(data.get("skeleton", ())), flip_pairs=_pairs(data.get("flip_pairs", ())),
                   sigmas=tuple(float(s) for s in data["sigmas"]))


def _pairs(pairs) -> tuple[tuple[int, int], ...]:
    return tuple((int(a), int(b)) for a, b in pairs)


def flip_pairs_from_names(names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """(left, right) index pairs of names that differ only by a left/right prefix (``left_eye``/``right_eye``)."""
    index = {n: i for i, n in enumerate(names)}
    pairs = []
    for i, n in enumerate(names):
        for left, right in _SIDE_PREFIXES:
            if n.lower().startswith(left):
                mate = right + n[len(left):]
                j = next((index[m] for m in (mate, mate.upper(), mate.capitalize()) if m in index), None)
                if j is not None and j != i:
                    pairs.append((i, j))
                    break
    return tuple(pairs)


COCO_KEYPOINTS = KeypointSet(
    name="coco",
    keypoint_names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
        "right_knee", "left_ankle", "right_ankle",
    ),
    skeleton=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
        (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    sigmas=(0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
            0.087, 0.087, 0.089, 0.089),
)

MPII_KEYPOINTS = KeypointSet(
    name="mpii",
    keypoint_names=(
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
        "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
        "left_elbow", "left_wrist",
    ),
    skeleton=(
        (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (8, 12), (12, 11), (11, 10),
        (8, 13), (13, 14), (14, 15),
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    sigmas=(0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072, 0.179,
            0.179, 0.072, 0.062),
)

KEYPOINT_SETS = {"coco": COCO_KEYPOINTS, "mpii": MPII_KEYPOINTS}

COCO_FLIP_PAIRS = COCO_KEYPOINTS.flip_pairs
MPII_FLIP_PAIRS = MPII_KEYPOINTS.flip_pairs
COCO_SIGMAS = COCO_KEYPOINTS.sigmas


def keypoint_set_for(num_keypoints: int) -> KeypointSet | None:
    """The built-in set with that many keypoints (17 → COCO, 16 → MPII), else ``None``."""
    for kset in KEYPOINT_SETS.values():
        if kset.num_keypoints == num_keypoints:
            return kset
    return None


def resolve_keypoint_set(keypoints) -> KeypointSet:
    """A [`KeypointSet`][hrnet_zoo.keypoints.KeypointSet] from a set, a built-in name (``"coco"``, ``"mpii"``), a dict from
    `KeypointSet.to_dict()`, a COCO category dict, or a list of keypoint names."""
    if isinstance(keypoints, KeypointSet):
        return keypoints
    if isinstance(keypoints, str):
        if keypoints not in KEYPOINT_SETS:
            raise InvalidArgumentError(f"unknown keypoint set {keypoints!r}; built in: {', '.join(KEYPOINT_SETS)} "
                                       "(or pass a KeypointSet / a list of names)")
        return KEYPOINT_SETS[keypoints]
    if isinstance(keypoints, Mapping):
        return KeypointSet.from_dict(keypoints) if "keypoint_names" in keypoints \
            else KeypointSet.from_coco_category(keypoints)
    if isinstance(keypoints, Sequence) and all(isinstance(n, str) for n in keypoints):
        return KeypointSet.from_names(keypoints)
    raise InvalidArgumentError(f"cannot make a keypoint set from {type(keypoints).__name__}")


def oks(predictions, ground_truth, areas, sigmas=COCO_SIGMAS, gt_boxes=None) -> torch.Tensor:
    """Object keypoint similarity between every prediction and every ground truth, as COCO computes it.

    Args:
        predictions: P×K×2 (or P×K×3; a third column is ignored) keypoints in image pixels.
        ground_truth: G×K×3 keypoints with COCO visibility in the last column (> 0 means labelled).
        areas: G object areas (segment area in COCO; pixels²).
        sigmas: K per-keypoint constants (COCO's by default).
        gt_boxes: optional G×4 xywh boxes. A ground truth with no labelled keypoint is scored, as in
            ``COCOeval.computeOks``, by the distance of each prediction outside a box twice the size
            of its own; those ground truths need a box.

    Returns:
        P×G float64 tensor of OKS values in [0, 1].
    """
    pred = torch.as_tensor(np.asarray(predictions, dtype=np.float64))
    gt = torch.as_tensor(np.asarray(ground_truth, dtype=np.float64))
    if pred.ndim != 3 or pred.shape[-1] not in (2, 3) or gt.ndim != 3 or gt.shape[-1] != 3:
        raise ValueError(f"expected predictions P×K×2|3 and ground truth G×K×3, got {tuple(pred.shape)} "
                         f"and {tuple(gt.shape)}")
    if pred.shape[1] != gt.shape[1] or len(sigmas) != gt.shape[1]:
        raise ValueError(f"keypoint counts differ: predictions {pred.shape[1]}, ground truth {gt.shape[1]}, "
                         f"sigmas {len(sigmas)}")
    area = torch.as_tensor(np.asarray(areas, dtype=np.float64)).reshape(-1)
    if area.numel() != gt.shape[0]:
        raise ValueError(f"expected {gt.shape[0]} areas, got {area.numel()}")
    variances = (2 * torch.as_tensor(sigmas, dtype=torch.float64)) ** 2
    visible = gt[..., 2] > 0                                            # G×K
    dx = pred[:, None, :, 0] - gt[None, :, :, 0]                        # P×G×K
    dy = pred[:, None, :, 1] - gt[None, :, :, 1]
    unlabelled = ~visible.any(dim=1)
    if unlabelled.any():
        if gt_boxes is None:
            raise ValueError("ground truths without labelled keypoints need gt_boxes (COCO scores them "
                             "against a box twice their size)")
        box = torch.as_tensor(np.asarray(gt_boxes, dtype=np.float64)).reshape(-1, 4)
        x0, x1 = box[:, 0] - box[:, 2], box[:, 0] + 2 * box[:, 2]
        y0, y1 = box[:, 1] - box[:, 3], box[:, 1] + 2 * box[:, 3]
        px, py = pred[:, None, :, 0], pred[:, None, :, 1]
        out_x = (x0[None, :, None] - px).clamp(min=0) + (px - x1[None, :, None]).clamp(min=0)
        out_y = (y0[None, :, None] - py).clamp(min=0) + (py - y1[None, :, None]).clamp(min=0)
        dx = torch.where(unlabelled[None, :, None], out_x, dx)
        dy = torch.where(unlabelled[None, :, None], out_y, dy)
    e = (dx**2 + dy**2) / variances / (area[None, :, None] + np.spacing(1)) / 2
    # Labelled keypoints only, or all of them for a ground truth without any (the box rule above).
    counted = (visible | unlabelled[:, None])[None].expand_as(e)
    return (torch.exp(-e) * counted).sum(-1) / counted.sum(-1)
