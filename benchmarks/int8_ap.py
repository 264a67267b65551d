"""COCO keypoint AP of fp32, OpenVINO bf16 and OpenVINO int8 on a trained model: the AP change of int8.

Trains hrnet_w18_small_v1 from scratch with ``hrnet_zoo.train`` on the synthetic stick figures of the
tests (``tests/synthetic_keypoints.py``), then scores held-out images with ``hrnet_zoo.evaluate`` —
the model, and ``hrnet_zoo.optimize`` runners of it in the same process. int8 is calibrated on
crops of training images (never on the evaluation set, never on random data).

    python benchmarks/int8_ap.py --json benchmarks/results/int8_ap.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the synthetic keypoint generator lives with the tests

import hrnet_zoo  # noqa: E402
from hrnet_zoo.runtime import hardware  # noqa: E402
from synthetic_keypoints import make_synthetic_coco  # noqa: E402

METRICS = ("AP", "AP50", "AP75", "AR", "PCK@0.05", "PCK@0.1", "mean_error_px")


def calibration_pairs(ann_file: str, image_dir: str, count: int):
    """(image, boxes) pairs of training images, the ground-truth boxes as a detector would give them."""
    from PIL import Image

    data = json.loads(Path(ann_file).read_text())
    boxes = {}
    for ann in data["annotations"]:
        boxes.setdefault(ann["image_id"], []).append(ann["bbox"])
    pairs = []
    for image in data["images"][:count]:
        if image["id"] in boxes:
            pixels = np.asarray(Image.open(Path(image_dir) / image["file_name"]).convert("RGB"))
            pairs.append((pixels, boxes[image["id"]]))
    return pairs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train-images", type=int, default=160)
    p.add_argument("--val-images", type=int, default=60)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--calibration-images", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    size = (64, 48)
    with tempfile.TemporaryDirectory() as tmp:
        train = make_synthetic_coco(tmp, num_images=args.train_images, seed=0, split="train")
        val = make_synthetic_coco(tmp, num_images=args.val_images, seed=1, split="val")
        start = time.perf_counter()
        hrnet_zoo.train(model="hrnet_w18_small_v1", train_ann=train["ann_file"], train_images=train["image_dir"],
                        val_ann=val["ann_file"], val_images=val["image_dir"], out=os.path.join(tmp, "run"),
                        input_size=size, epochs=args.epochs, batch_size=16, pretrained=False, workers=0,
                        progress=False)
        train_s = time.perf_counter() - start
        model = hrnet_zoo.from_pretrained(os.path.join(tmp, "run", "best"))
        calibration = calibration_pairs(train["ann_file"], train["image_dir"], args.calibration_images)
        runs = {"fp32 (torch eager)": model}
        for precision in ("bf16", "int8"):
            try:
                runs[f"{precision} (OpenVINO)"] = hrnet_zoo.optimize(
                    model, backend="openvino", precision=precision, input_size=size,
                    calibration=calibration if precision == "int8" else None, cache=False)
            except hrnet_zoo.HRNetZooError as e:  # no native bf16 here, or OpenVINO missing: say so
                runs[f"{precision} (OpenVINO)"] = str(e)
        rows = {}
        for name, runner in runs.items():
            if isinstance(runner, str):
                rows[name] = {"skipped": runner}
                continue
            stats = hrnet_zoo.evaluate(runner, val["ann_file"], val["image_dir"])
            rows[name] = {k: stats[k] for k in METRICS}
            print(f"{name:22s} " + "  ".join(f"{k} {stats[k]:.4f}" for k in METRICS), flush=True)
    fp32 = rows["fp32 (torch eager)"]["AP"]
    for name, row in rows.items():
        if "AP" in row:
            row["AP_change"] = row["AP"] - fp32
    result = {"environment": {**hardware.describe_cpu(), "threads": args.threads, "torch": torch.__version__,
                              "loadavg": list(os.getloadavg())},
              "model": "hrnet_w18_small_v1", "input_size": list(size), "train_images": args.train_images,
              "val_images": args.val_images, "epochs": args.epochs, "train_seconds": round(train_s, 1),
              "calibration_images": len(calibration), "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
