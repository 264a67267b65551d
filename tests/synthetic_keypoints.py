"""A synthetic COCO-format keypoint dataset: procedurally drawn stick figures with known keypoints.

Each figure has 5 keypoints — ``head``, ``left_hand``, ``right_hand``, ``left_foot``, ``right_foot`` —
drawn as coloured discs (head red, hands green, feet blue) joined by grey limbs to a body point, on a
noisy plain background. "Left" is the side with the smaller x in the figure's own frame, so a mirrored
figure is a figure whose left and right swap: the flip augmentation (which swaps the pairs) stays
consistent, and the model has to tell left from right by geometry, as with people.

Figures vary in position, size (about 30 to 110 px tall), rotation (±30°) and pose (each keypoint
jittered). Images are PNG, ``image_size`` (H, W); 1 to ``max_objects`` figures per image.

>>> paths = make_synthetic_coco(tmp_path, num_images=20, seed=0, split="train")
>>> paths["ann_file"], paths["image_dir"]
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

NAMES = ["head", "left_hand", "right_hand", "left_foot", "right_foot"]
SKELETON_1_BASED = [[1, 2], [1, 3], [1, 4], [1, 5]]  # as drawn: every keypoint joins the body point
_TEMPLATE = np.array([[0.0, -1.0], [-0.9, -0.1], [0.9, -0.1], [-0.5, 1.0], [0.5, 1.0]])
_BODY = np.array([0.0, 0.05])
_COLOURS = [(230, 40, 40), (40, 210, 60), (40, 210, 60), (50, 90, 240), (50, 90, 240)]


def _figure(rng: np.random.Generator, image_hw, placed: list):
    """Keypoints (5×2), body point and disc radius of one figure that fits in the image, or None."""
    height, width = image_hw
    for _ in range(20):
        s = rng.uniform(14, 50)
        angle = math.radians(rng.uniform(-30, 30))
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        local = _TEMPLATE + rng.uniform(-0.15, 0.15, size=_TEMPLATE.shape)
        radius = max(2.0, 0.12 * s)
        points = local @ rot.T * s
        body = _BODY @ rot.T * s
        low, high = points.min(0) - radius - 1, points.max(0) + radius + 1
        if high[0] - low[0] >= width or high[1] - low[1] >= height:
            continue
        offset = np.array([rng.uniform(-low[0], width - high[0]), rng.uniform(-low[1], height - high[1])])
        box = np.concatenate((low + offset, high - low))
        if any(_overlap(box, other) > 0.2 for other in placed):
            continue
        return points + offset, body + offset, radius, box
    return None


def _overlap(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / min(a[2] * a[3], b[2] * b[3])


def make_synthetic_coco(root, num_images: int = 20, seed: int = 0, split: str = "train", image_size=(128, 160),
                        max_objects: int = 2) -> dict:
    """Write ``root/<split>.json`` (COCO keypoints) and ``root/<split>/*.png``.

    Returns ``{"ann_file", "image_dir", "num_annotations"}`` (paths as str).
    """
    from PIL import Image, ImageDraw

    root = Path(root)
    image_dir = root / split
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    height, width = image_size
    images, annotations = [], []
    for index in range(num_images):
        image_id = index + 1
        base = rng.integers(20, 110, size=3)
        pixels = np.clip(base + rng.normal(0, 8, size=(height, width, 3)), 0, 255).astype(np.uint8)
        canvas = Image.fromarray(pixels)
        draw = ImageDraw.Draw(canvas)
        placed = []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            figure = _figure(rng, image_size, placed)
            if figure is None:
                continue
            points, body, radius, box = figure
            placed.append(box)
            limb = max(1, int(round(radius * 0.6)))
            for p in points:
                draw.line([tuple(body), tuple(p)], fill=(170, 170, 170), width=limb)
            for p, colour in zip(points, _COLOURS):
                draw.ellipse([p[0] - radius, p[1] - radius, p[0] + radius, p[1] + radius], fill=colour)
            keypoints = np.concatenate((points, np.full((5, 1), 2.0)), axis=1)
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                "bbox": [round(float(v), 2) for v in box], "area": round(float(box[2] * box[3]), 2),
                "keypoints": [round(float(v), 2) for v in keypoints.reshape(-1)], "num_keypoints": 5,
            })
        file_name = f"{image_id:06d}.png"
        canvas.save(image_dir / file_name)
        images.append({"id": image_id, "file_name": file_name, "height": height, "width": width})
    data = {
        "images": images, "annotations": annotations,
        "categories": [{"id": 1, "name": "figure", "supercategory": "figure", "keypoints": NAMES,
                        "skeleton": SKELETON_1_BASED}],
    }
    ann_file = root / f"{split}.json"
    ann_file.write_text(json.dumps(data))
    return {"ann_file": str(ann_file), "image_dir": str(image_dir), "num_annotations": len(annotations)}


if __name__ == "__main__":  # python tests/synthetic_keypoints.py OUT [N]
    import sys

    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    print(make_synthetic_coco(out, n, seed=0, split="train"))
    print(make_synthetic_coco(out, max(n // 4, 10), seed=1, split="val"))
