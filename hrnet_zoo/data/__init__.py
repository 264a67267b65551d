"""Top-down keypoint data: COCO-format files (any K), the official augmentation, heatmap targets.

Files written by other tools load as their data sets' protocols intend, or fail with one
[`DatasetError`][hrnet_zoo.errors.DatasetError] line naming the file and the id (docs/data-quirks.md).
Every image is read by `read_image()`: stored pixel order (no EXIF rotation), 16-bit scaled to 8-bit.

>>> from hrnet_zoo.data import CocoKeypointDataset
>>> ds = CocoKeypointDataset("train.json", "images/", input_size=(256, 192), train=True)
>>> ds.keypoint_set.keypoint_names, ds[0]["image"].shape, ds[0]["target"].shape
"""
from hrnet_zoo.data.coco import (
    CocoKeypointDataset,
    CocoKeypoints,
    ImageFolderDataset,
    KeypointRecord,
    load_coco_keypoints,
    read_image,
)
from hrnet_zoo.data.transforms import AugmentConfig, random_crop
from hrnet_zoo.errors import DatasetError
from hrnet_zoo.pose.geometry import compose_affine, crop_transforms

__all__ = [
    "AugmentConfig",
    "CocoKeypointDataset",
    "CocoKeypoints",
    "DatasetError",
    "ImageFolderDataset",
    "KeypointRecord",
    "compose_affine",
    "crop_transforms",
    "load_coco_keypoints",
    "random_crop",
    "read_image",
]
