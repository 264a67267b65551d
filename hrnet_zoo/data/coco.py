"""COCO-format keypoint files: parsing with clear errors, and the top-down dataset of the official pipeline.

A keypoint file is COCO's: ``images`` (``id``, ``file_name``, ``width``, ``height``), ``annotations``
(``id``, ``image_id``, ``category_id``, ``bbox`` x y w h, ``keypoints`` x y v × K, ``iscrowd``) and
``categories``; the category with a ``keypoints`` list gives the
[`KeypointSet`][hrnet_zoo.pose.keypoint_set.KeypointSet] (names, 1-based skeleton). Any K works.

As the official ``COCODataset._load_coco_keypoint_annotation_kernal``:

* crowd annotations and annotations with no labelled keypoint (no ``v > 0``) are skipped;
* the box is clipped to the image (``x2 = min(W − 1, x1 + max(0, w − 1))``, the same for y);
* a keypoint with ``v > 0`` is labelled (weight 1), any other is not (weight 0; ``v = −1``, some tools'
  "not annotated", included);
* the box becomes a centre and a scale with `hrnet_zoo.pose.geometry.box_to_center_scale()`
  (the model's aspect, ×1.25 padding), and the crop's pixels are normalised by
  `hrnet_zoo.pose.preprocess.Preprocess` from the model's ``pretrained_cfg`` — the geometry and
  preprocessing of inference, so a model is trained on the inputs it is run on.

Every problem raises [`DatasetError`][hrnet_zoo.errors.DatasetError] naming the file and the annotation or
image id: a missing field, an id that is not an integer or appears twice, a keypoint list of the wrong
length or with a non-finite labelled point, an image id that is not in ``images``, a box of zero size, a
non-finite or non-positive ``area``, a ``file_name`` outside the image folder, an image missing on disk,
that Pillow cannot decode, or whose size is not the file's ``width``/``height``. Images are read by
`hrnet_zoo.data.images.read_image()` (stored pixel order, no EXIF rotation). docs/data-quirks.md lists
every quirk of real files and what is done with it.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hrnet_zoo.codecs.codec import HeatmapCodec
from hrnet_zoo.data.images import check_image_size, image_size_of, read_image
from hrnet_zoo.data.transforms import AugmentConfig, random_crop
from hrnet_zoo.data.validate import (
    NumKeypointsAudit,
    check_annotation,
    check_area,
    check_image,
    check_top_level,
    parse_keypoints,
)
from hrnet_zoo.data.validate import require as _require
from hrnet_zoo.errors import DatasetError, InvalidArgumentError
from hrnet_zoo.pose.geometry import affine_points, box_to_center_scale, crop_transforms
from hrnet_zoo.pose.keypoint_set import KeypointChoice, KeypointSet, resolve_coco_keypoints
from hrnet_zoo.pose.preprocess import Preprocess, image_to_tensor
from hrnet_zoo.pretrained_cfg import PretrainedCfg, pose_cfg

_IMAGE_FIELDS = ("id", "file_name")
_ANNOTATION_FIELDS = ("id", "image_id", "bbox", "keypoints")


def read_json(path, what: str = "file"):
    """A JSON document, or a [`DatasetError`][hrnet_zoo.errors.DatasetError] naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: cannot read {what} as JSON ({e})") from None


@dataclass
class KeypointRecord:
    """One usable annotation: its ids, cleaned box (x y w h), keypoints and visibility."""

    ann_id: int
    image_id: int
    box: np.ndarray        # 4: x, y, w, h after the official clipping
    joints: np.ndarray     # K×2 image pixels
    visible: np.ndarray    # K: 1 labelled, 0 not
    area: float


@dataclass
class CocoKeypoints:
    """A parsed, validated COCO keypoint file (see the module docstring)."""

    path: str
    image_dir: str | None
    keypoint_set: KeypointSet
    category_id: int
    images: dict[int, dict]
    records: list[KeypointRecord]
    data: dict = field(repr=False)
    header_hw: dict = field(default_factory=dict, repr=False)  # (H, W) read from images the file gives no size of
    #: how the categories resolved: every category id of the set, where flip pairs and sigmas came from
    keypoint_choice: KeypointChoice | None = field(default=None, repr=False)

    @property
    def category_ids(self) -> tuple:
        """Every category sharing the keypoint list (``category_id`` is the first)."""
        return self.keypoint_choice.category_ids if self.keypoint_choice else (self.category_id,)

    def image_path(self, image_id: int) -> str:
        name = self.images[image_id]["file_name"]
        return name if self.image_dir is None else os.path.join(self.image_dir, os.path.normpath(name))

    def declared_hw(self, image_id: int) -> tuple[float, float] | None:
        """``(H, W)`` the file gives for an image, or None when it gives no ``width``/``height``."""
        image = self.images[image_id]
        return (image["height"], image["width"]) if "height" in image and "width" in image else None

    def image_hw(self, image_id: int) -> tuple[int, int]:
        """``(H, W)`` of an image: the file's ``width``/``height``, else read from the image's header."""
        declared = self.declared_hw(image_id)
        if declared is not None:
            return int(declared[0]), int(declared[1])
        if image_id not in self.header_hw:
            self.header_hw[image_id] = image_size_of(self.image_path(image_id), image_id)
        return self.header_hw[image_id]

    def check_images_exist(self, image_ids=None) -> None:
        """A [`DatasetError`][hrnet_zoo.errors.DatasetError] for the first image missing on disk, or whose stored
        size is not the file's ``width``/``height`` (all images by default; headers only, no pixels)."""
        for image_id in self.images if image_ids is None else image_ids:
            path = self.image_path(image_id)
            if not os.path.isfile(path):
                raise DatasetError(f"{self.path}: image id {image_id}: file {path} not found")
            if self.declared_hw(image_id) is not None:
                check_image_size(path, image_id, self.declared_hw(image_id))


def clean_box(box, height: int, width: int):
    """The official box sanitising: clip to the image; None when nothing is left."""
    x, y, w, h = (float(v) for v in box)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1))
    if x2 >= x1 and y2 >= y1:
        return np.array([x1, y1, x2 - x1, y2 - y1])
    return None


def load_coco_keypoints(ann_file, image_dir=None, *, category_id: int | None = None, flip_pairs=None,
                        sigmas=None, check_images: bool = True, keypoint_set=None) -> CocoKeypoints:
    """Parse and validate a COCO keypoint file (see the module docstring).

    Args:
        ann_file: the JSON file.
        image_dir: folder the images' ``file_name`` are relative to (None: as written).
        category_id: the keypoint category, when the file's categories have different keypoint lists
            (categories sharing one list are one set and are all loaded).
        flip_pairs: (left, right) index pairs; by default the matching preset's, else from the names.
        sigmas: K OKS sigmas; by default the category's ``sigmas`` list if it has one (not a COCO
            field, but some tools write it), the matching preset's (names equal to a preset's, as
            COCO's person category), else `hrnet_zoo.pose.keypoint_set.DEFAULT_SIGMA` (0.05) for every keypoint.
        check_images: check that every image with a usable annotation exists on disk.
        keypoint_set: a preset name or `KeypointSet` giving the layout (needed for a category
            without keypoint names). The rules: `hrnet_zoo.pose.keypoint_set.resolve_coco_keypoints()`.
    """
    path = str(ann_file)
    data = check_top_level(path, read_json(path, "annotation file"))  # an object of three lists
    choice = resolve_coco_keypoints(data["categories"], category_id=category_id, keypoint_set=keypoint_set,
                                    flip_pairs=flip_pairs, sigmas=sigmas, where=path)
    for message in choice.warnings:
        warnings.warn(message, stacklevel=2)
    keypoint_set = choice.keypoint_set
    category = {"id": choice.category_id, "name": keypoint_set.name}
    k = keypoint_set.num_keypoints

    images = _parse_images(path, data["images"], image_dir)
    _check_annotations(path, data["annotations"])
    dataset = CocoKeypoints(path, None if image_dir is None else str(image_dir), keypoint_set, category["id"],
                            images, [], data, keypoint_choice=choice)
    audit = NumKeypointsAudit(path)
    for i, ann in enumerate(data["annotations"]):
        where = _annotation_where(path, i, ann)  # fields and ids checked by _check_annotations
        if ann.get("category_id", category["id"]) not in choice.category_ids:
            continue
        record = _record_of(dataset, where, ann, k, category.get("name"), audit)
        if record is not None:
            dataset.records.append(record)
    audit.warn()
    if check_images:
        dataset.check_images_exist(dict.fromkeys(r.image_id for r in dataset.records))
    return dataset


def _annotation_where(path: str, index: int, ann) -> str:
    return f"{path}: annotation " + (f"id {ann['id']}" if isinstance(ann, dict) and "id" in ann else f"[{index}]")


def _parse_images(path: str, entries: list, image_dir) -> dict:
    """``{id: entry}`` of a file's ``images`` (fields checked, ids unique)."""
    images = {}
    for i, image in enumerate(entries):
        _require(image, _IMAGE_FIELDS, f"{path}: images[{i}]" + (f" (id {image['id']})" if isinstance(image, dict)
                                                                   and "id" in image else ""))
        check_image(path, i, image, image_dir)
        if image["id"] in images:
            raise DatasetError(f"{path}: image id {image['id']} appears twice in 'images'")
        images[image["id"]] = dict(image)
    return images


def _check_annotations(path: str, annotations: list) -> None:
    """Fields every annotation needs, whatever its category; ids unique (pycocotools keeps one of a pair)."""
    seen_ids = set()
    for i, ann in enumerate(annotations):
        where = _annotation_where(path, i, ann)
        _require(ann, _ANNOTATION_FIELDS, where)
        check_annotation(where, ann, seen_ids)


def _record_of(dataset: CocoKeypoints, where: str, ann: dict, k: int, category_name, audit: NumKeypointsAudit):
    """The `KeypointRecord` of an annotation of the keypoint category, or None when the official loader
    skips it (crowd, or no labelled keypoint)."""
    if ann["image_id"] not in dataset.images:
        raise DatasetError(f"{where}: image id {ann['image_id']} is not in the file's 'images'")
    kpts = parse_keypoints(where, ann["keypoints"], k, category_name)
    audit.check(ann, kpts)
    labelled = kpts[:, 2] > 0
    if ann.get("iscrowd", 0) or not labelled.any():
        return None
    check_area(where, ann)
    box = ann["bbox"]
    if not np.isfinite(np.asarray(box, dtype=np.float64)).all():
        raise DatasetError(f"{where}: 'bbox' must be 4 finite numbers x, y, width, height, got {box!r}")
    if float(box[2]) <= 0 or float(box[3]) <= 0:
        raise DatasetError(f"{where} (image id {ann['image_id']}): box {box} has zero size")
    height, width = dataset.image_hw(ann["image_id"])
    clean = clean_box(box, height, width)
    if clean is None:
        raise DatasetError(f"{where} (image id {ann['image_id']}): box {box} lies outside the "
                           f"{width}×{height} image")
    area = float(ann["area"]) if "area" in ann else float(box[2]) * float(box[3])
    # As the official min(v, 1): the training weight of a labelled keypoint; 0 for v <= 0 (parse_keypoints).
    return KeypointRecord(ann["id"], ann["image_id"], clean, kpts[:, :2].copy(), np.minimum(kpts[:, 2], 1.0), area)


class CocoKeypointDataset(torch.utils.data.Dataset):
    """Top-down samples of a COCO keypoint file: one affine crop per annotation, with heatmap targets.

    Each item is a dict: ``image`` 3×H×W float32 (normalised), ``target`` K×h×w, ``target_weight`` K
    (1 for a labelled keypoint whose Gaussian lies on the heatmap), ``keypoints`` K×3 (x, y, visibility)
    in crop pixels, ``image_id``, ``ann_id``, and the crop's ``center``, ``scale``, ``rotation``, ``flip``.

    Args:
        ann_file, image_dir: the COCO file and image folder (or a `CocoKeypoints` as ``ann_file``).
        input_size: crop ``(H, W)``; by default ``pretrained_cfg.input_size``.
        codec: the `HeatmapCodec` making targets (by default `HeatmapCodec.for_cfg()` of
            ``pretrained_cfg``, else of the pose defaults: σ = 2 at stride 4, the DARK target); its
            ``input_size`` must equal ``input_size``.
        train: apply the official augmentation (`AugmentConfig`).
        seed: the augmentation of item ``i`` in epoch ``e`` is drawn from ``default_rng((seed, e, i))``:
            the same whichever worker, and however many workers, load it. `set_epoch()` sets ``e``.
        pretrained_cfg: the model's `PretrainedCfg`: the crops are normalised with its mean, std and
            pixel ``scale`` (`Preprocess.from_cfg()`), exactly as inference feeds the model; by default
            `PretrainedCfg()`'s (ImageNet's mean and std on 0–1 pixels).
        mean, std: override the cfg's normalisation.
        flip_pairs, sigmas, category_id, keypoint_set: as [`load_coco_keypoints()`][hrnet_zoo.data.load_coco_keypoints].
    """

    def __init__(self, ann_file, image_dir=None, input_size=None, *, codec: HeatmapCodec | None = None,
                 train: bool = False, augment: AugmentConfig | None = None, seed: int = 0,
                 pretrained_cfg: PretrainedCfg | None = None, mean=None, std=None, flip_pairs=None, sigmas=None,
                 category_id=None, keypoint_set=None):
        self.coco = ann_file if isinstance(ann_file, CocoKeypoints) else load_coco_keypoints(
            ann_file, image_dir, category_id=category_id, flip_pairs=flip_pairs, sigmas=sigmas,
            keypoint_set=keypoint_set)
        if not self.coco.records:
            raise DatasetError(f"{self.coco.path}: no usable annotation (every one is crowd, has no labelled "
                               "keypoint, or the file has none)")
        self.preprocess = Preprocess.from_cfg(pretrained_cfg, input_size, mean=mean, std=std)
        self.input_size = self.preprocess.input_size
        heatmap_cfg = pretrained_cfg if pretrained_cfg is not None and pretrained_cfg.output_stride else pose_cfg()
        self.codec = codec or HeatmapCodec.for_cfg(heatmap_cfg, input_size=self.input_size)
        if self.codec.input_size != self.input_size:
            raise InvalidArgumentError(f"codec input_size {self.codec.input_size} differs from the dataset's "
                                       f"{self.input_size}")
        self.train = train
        self.augment = augment or AugmentConfig()
        self.seed = int(seed)
        self.epoch = 0
        self.aspect_ratio = self.input_size[1] / self.input_size[0]
        boxes = np.stack([r.box for r in self.coco.records])
        self.centers, self.scales = box_to_center_scale(boxes, self.aspect_ratio)
        self._flip_indices = np.asarray(self.keypoint_set.flip_indices)

    @property
    def keypoint_set(self) -> KeypointSet:
        return self.coco.keypoint_set

    @property
    def mean(self) -> tuple[float, ...]:
        return self.preprocess.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.preprocess.std

    @property
    def records(self) -> list[KeypointRecord]:
        return self.coco.records

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (call before each epoch's DataLoader iterator)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.coco.records)

    def crop_parameters(self, index: int):
        """``(center, scale, rotation, flip)`` of item ``index`` this epoch."""
        record = self.coco.records[index]
        center, scale = self.centers[index], self.scales[index]
        if not self.train:
            return center, scale, 0.0, False
        rng = np.random.default_rng((self.seed, self.epoch, index))
        width = self.coco.image_hw(record.image_id)[1]
        return random_crop(center, scale, record.joints, record.visible, width, self.keypoint_set,
                           self.aspect_ratio, self.augment, rng)

    def __getitem__(self, index: int) -> dict:
        record = self.coco.records[index]
        path = self.coco.image_path(record.image_id)
        pixels = read_image(path, record.image_id, expected_hw=self.coco.declared_hw(record.image_id))
        image = torch.from_numpy(pixels).permute(2, 0, 1)
        height, width = image.shape[-2:]
        center, scale, rotation, flip = self.crop_parameters(index)
        forward, inverse = crop_transforms(center, scale, rotation, self.input_size,
                                           flip_width=width if flip else None, udp=self.codec.target == "udp")
        crop = self.preprocess.crops(image_to_tensor(image), inverse)
        joints = affine_points(record.joints[None], forward)[0]
        visible = record.visible
        if flip:
            joints, visible = joints[self._flip_indices], visible[self._flip_indices]
        target, weight = self.codec.encode(torch.from_numpy(joints).float(), torch.from_numpy(visible).float())
        keypoints = np.concatenate((joints, visible[:, None]), axis=1)
        return {
            "image": crop[0],
            "target": target.float(),
            "target_weight": weight.float(),
            "keypoints": torch.from_numpy(keypoints).float(),
            "image_id": record.image_id,
            "ann_id": record.ann_id,
            "center": torch.from_numpy(np.asarray(center, dtype=np.float64)),
            "scale": torch.from_numpy(np.asarray(scale, dtype=np.float64)),
            "rotation": float(rotation),
            "flip": bool(flip),
        }


class ImageFolderDataset(torch.utils.data.Dataset):
    """``(image_id, 3×H×W uint8 tensor)`` of the given image ids, decoded by `read_image()` (for evaluation).

    Args:
        paths: ``{image_id: file}``.
        sizes: ``{image_id: (H, W)}`` the annotation file declares (an image of another size is an error).
    """

    def __init__(self, paths: dict, sizes: dict | None = None):
        self.items = list(paths.items())
        self.sizes = dict(sizes or {})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        image_id, path = self.items[index]
        pixels = read_image(Path(path), image_id, expected_hw=self.sizes.get(image_id))
        return image_id, torch.from_numpy(pixels).permute(2, 0, 1).contiguous()
