"""Reading images the one way training, evaluation and prediction all use.

Policy (documented in docs/data-quirks.md):

* **EXIF orientation is not applied.** Pixels are used in the order they are stored in the file, the
  order COCO's ``width``/``height`` and keypoints refer to, and the one the official pipeline reads
  (OpenCV with ``IMREAD_IGNORE_ORIENTATION``). A file with an orientation tag is noted once per process.
* **16-bit images** (Pillow modes ``I;16*``, and ``I``, the mode older Pillows give 16-bit PNGs) are
  scaled to 8 bits by 1/257 (65535 → 255), not clipped at 255 as Pillow's ``convert`` does. Grey images
  become three equal channels; alpha is dropped.
* **Sizes** are the stored pixels' ``(H, W)``. When the annotation file gives ``width``/``height``, a
  decoded image of another size is an error naming both sizes.
* A header claiming more pixels than Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``)
  is one [`DatasetError`][hrnet_zoo.errors.DatasetError], not Pillow's traceback.
"""
from __future__ import annotations

import logging

import numpy as np

from hrnet_zoo.errors import DatasetError

_logger = logging.getLogger("hrnet_zoo.data")
_EXIF_ORIENTATION_TAG = 0x0112
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)  # the EXIF orientations that swap width and height for viewers
_exif_noted = False


def _where(path, image_id) -> str:
    return f"{path}" + (f" (image id {image_id})" if image_id is not None else "")


def _open(path, image_id):
    """An open Pillow image, or one DatasetError line (missing, undecodable, decompression bomb)."""
    from PIL import Image, UnidentifiedImageError

    where = _where(path, image_id)
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise DatasetError(f"{where}: image file not found") from None
    except Image.DecompressionBombError as e:
        raise DatasetError(f"{where}: the image header claims more pixels than Pillow's decompression-bomb limit "
                           f"of {Image.MAX_IMAGE_PIXELS} ({e}); if the file is genuine and trusted, raise "
                           "PIL.Image.MAX_IMAGE_PIXELS") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DatasetError(f"{where}: cannot decode the image ({e})") from None


def exif_orientation(image) -> int:
    """The EXIF orientation tag of an open Pillow image (1, "as stored", when it has none)."""
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION_TAG, 1))
    except (OSError, ValueError, TypeError, SyntaxError):  # a malformed EXIF block: nothing to honour
        return 1


def _note_exif(path, orientation: int) -> None:
    global _exif_noted
    if orientation != 1 and not _exif_noted:
        _exif_noted = True
        _logger.warning("%s has EXIF orientation %d: hrnet_zoo reads every image in its stored pixel order "
                        "(not rotated), the order COCO-format keypoints refer to; keypoints and drawings are in "
                        "that order (see docs/data-quirks.md)", path, orientation)


def _to_rgb8(image) -> np.ndarray:
    """H×W×3 uint8 of a Pillow image, 16-bit grey scaled by 1/257 (Pillow's convert would clip it)."""
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        grey = np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.array(image.convert("RGB"))


def size_mismatch_error(path, image_id, declared_hw, actual_hw, orientation: int = 1) -> DatasetError:
    """The error for an image whose stored size is not the annotation file's ``width``/``height``."""
    (dh, dw), (ah, aw) = declared_hw, actual_hw
    hint = ""
    if (ah, aw) == (dw, dh) and orientation in _TRANSPOSING_ORIENTATIONS:
        hint = (f"; its EXIF orientation {orientation} turns it by 90° in viewers, so the annotations were "
                "probably made on the turned image: rotate the file's pixels (PIL.ImageOps.exif_transpose, "
                "then save) so that they match")
    return DatasetError(f"{_where(path, image_id)}: the annotation file says {dw}×{dh} (width×height) but the "
                        f"image is {aw}×{ah}{hint}")


def read_image(path, image_id=None, expected_hw=None) -> np.ndarray:
    """H×W×3 uint8 RGB array of an image file, decoded by Pillow in stored pixel order (the module's policy).

    Args:
        path: the image file.
        image_id: named in errors.
        expected_hw: ``(H, W)`` the annotation file declares; another decoded size is a
            [`DatasetError`][hrnet_zoo.errors.DatasetError] naming both.
    """
    where = _where(path, image_id)
    with _open(path, image_id) as image:
        try:
            pixels = _to_rgb8(image)
        except (OSError, ValueError, SyntaxError) as e:  # a truncated or corrupt body behind a valid header
            raise DatasetError(f"{where}: cannot decode the image ({e})") from None
        orientation = exif_orientation(image)
    _note_exif(path, orientation)
    if expected_hw is not None and tuple(pixels.shape[:2]) != tuple(expected_hw):
        raise size_mismatch_error(path, image_id, expected_hw, pixels.shape[:2], orientation)
    return pixels


def image_size_of(path, image_id=None) -> tuple[int, int]:
    """``(H, W)`` of an image file's stored pixels from its header (Pillow reads no pixels)."""
    with _open(path, image_id) as image:
        width, height = image.size
    return height, width


def check_image_size(path, image_id, declared_hw) -> None:
    """A [`DatasetError`][hrnet_zoo.errors.DatasetError] when the file's header size is not ``declared_hw`` (H, W)."""
    with _open(path, image_id) as image:
        width, height = image.size
        if (height, width) != tuple(declared_hw):
            raise size_mismatch_error(path, image_id, declared_hw, (height, width), exif_orientation(image))
