"""Fine-tuning speed on CPU: data loading (samples/s per worker) against training steps/s.

For each setting it times

* data loading: the training dataset (official augmentation, Pillow decode, affine crop, heatmap
  targets) through a DataLoader with 0 workers — the rate one worker process sustains — and with
  the given worker counts;
* training: optimizer steps/s of the model on batches already in memory (what `hrnet-zoo train`
  steps: ``model.forward_train``, ``model.loss``, backward, Adam from `hrnet_zoo.training`), so that the
  data path plays no part; in fp32 and, where the CPU has native bf16 (the precision `--precision bf16`
  accepts), under bf16 autocast; a refused precision is recorded with its reason;

and records whether data loading keeps up: one worker's samples/s against the training samples/s.
Images are made by tests/synthetic_keypoints.py.

    python benchmarks/train_speed.py --threads 2 --json benchmarks/results/train_speed_cpu.json
    python benchmarks/train_speed.py --tiny --no-loading --threads 2 --note "shared machine" \
        --json benchmarks/results/train_speed_cpu_precision.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from forward import cpu_flags, cpu_name  # noqa: E402
from synthetic_keypoints import make_synthetic_coco  # noqa: E402

import hrnet_zoo  # noqa: E402
from hrnet_zoo.codecs import HeatmapCodec  # noqa: E402
from hrnet_zoo.data import CocoKeypointDataset  # noqa: E402
from hrnet_zoo.errors import TrainingError  # noqa: E402
from hrnet_zoo.training import build_optimizer, resolve_precision  # noqa: E402
from hrnet_zoo.training.precision import cpu_bf16_missing  # noqa: E402

#: (model, input (H, W), batch, image (H, W)): the end-to-end test's setting, and the official COCO one.
SETTINGS = [
    ("hrnet_w18_small_v1", (64, 48), 16, (128, 160)),
    ("hrnet_w32", (256, 192), 4, (480, 640)),
]


def loading_rate(dataset, batch_size: int, workers: int, batches: int) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()  # worker start-up included: a lower bound of the steady rate
    iterator = iter(loader)
    seen = 0
    for _ in range(batches):
        seen += len(next(iterator)["image"])
    return seen / (time.perf_counter() - start)


def training_rate(model, batch: dict, steps: int, dtype: torch.dtype | None = None) -> float:
    """Optimizer steps/s (after 3 warm-up steps) of ``model`` on ``batch``, under autocast to ``dtype``
    (None: fp32)."""
    optimizer = build_optimizer(model, "adam", 1e-3)
    model.train()

    def step():
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            outputs = model.forward_train(batch["image"])
        loss = model.loss(outputs, batch["target"], batch["target_weight"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for _ in range(3):  # warm-up: oneDNN primitives, Adam state, the allocator
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def precision_rates(name: str, batch: dict, steps: int, precisions: list[str]) -> tuple[dict, dict]:
    """Training samples/s per precision (each from the same initial weights), and the reasons of those
    this CPU refuses."""
    rates, refused = {}, {}
    for precision in precisions:
        try:
            resolved = resolve_precision(precision, "cpu")
        except TrainingError as e:
            refused[precision] = str(e)
            continue
        torch.manual_seed(0)
        model = hrnet_zoo.create_model(name, num_keypoints=5)
        rates[precision] = training_rate(model, batch, steps, resolved.autocast_dtype) * len(batch["image"])
    return rates, refused


def run(settings, workers: list[int], batches: int, steps: int, root: Path, precisions: list[str],
        loading: bool = True) -> list[dict]:
    rows = []
    for name, input_size, batch_size, image_size in settings:
        data = make_synthetic_coco(root / f"{image_size[0]}x{image_size[1]}", num_images=(batches + 1) * batch_size,
                                   seed=0, image_size=image_size)
        model = hrnet_zoo.create_model(name, num_keypoints=5)
        codec = HeatmapCodec.for_model(model, input_size=input_size)
        dataset = CocoKeypointDataset(data["ann_file"], data["image_dir"], input_size, codec=codec, train=True)
        batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=batch_size)))
        rates, refused = precision_rates(name, batch, steps, precisions)
        row = {"model": name, "input_size": list(input_size), "batch_size": batch_size,
               "image_size": list(image_size), "train_samples_per_s_by_precision": rates,
               "refused_precisions": refused}
        if "fp32" in rates:
            row.update(train_steps_per_s=rates["fp32"] / batch_size, train_samples_per_s=rates["fp32"])
        if loading:
            row.update(_loading_rows(dataset, batch_size, workers, batches, rates.get("fp32")))
        rows.append(row)
        print(f"{name} {input_size[0]}x{input_size[1]} b{batch_size}: training "
              + ", ".join(f"{p} {r:.1f} samples/s" for p, r in rates.items())
              + "".join(f"; {p} refused ({why})" for p, why in refused.items()), flush=True)
    return rows


def _loading_rows(dataset, batch_size: int, workers: list[int], batches: int, train_samples: float | None) -> dict:
    for i in range(4):  # warm-up: Pillow, grid_sample, the allocator
        dataset[i]
    per_worker = loading_rate(dataset, batch_size, 0, batches)
    with_workers = {w: loading_rate(dataset, batch_size, w, batches) for w in workers}
    print(f"  loading {per_worker:.1f} samples/s per worker "
          f"({', '.join(f'{w} workers {r:.1f}' for w, r in with_workers.items())})", flush=True)
    row = {"loading_samples_per_s_per_worker": per_worker,
           "loading_samples_per_s": {str(w): r for w, r in with_workers.items()}}
    if train_samples is not None:
        row.update(workers_needed=train_samples / per_worker,
                   loading_is_bottleneck_with_1_worker=per_worker < train_samples)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--batches", type=int, default=8, help="timed batches per loading measurement")
    parser.add_argument("--steps", type=int, default=8, help="timed optimizer steps")
    parser.add_argument("--tiny", action="store_true", help="only the end-to-end test's setting")
    parser.add_argument("--precisions", default="fp32,bf16", help="training precisions to time (fp32, bf16)")
    parser.add_argument("--no-loading", action="store_true", help="time the training steps only")
    parser.add_argument("--note", help="recorded as is (e.g. that the machine was shared)")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = SETTINGS[:1] if args.tiny else SETTINGS
    with tempfile.TemporaryDirectory() as tmp:
        rows = run(settings, args.workers, args.batches, args.steps, Path(tmp),
                   [p.strip() for p in args.precisions.split(",") if p.strip()], loading=not args.no_loading)
    report = {"cpu": cpu_name(), "cpu_flags": sorted(cpu_flags()), "cpu_bf16_native": cpu_bf16_missing() is None,
              "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
              "cores": os.cpu_count(), "load_average": list(os.getloadavg()), "torch": torch.__version__,
              "python": platform.python_version(), "steps": args.steps, "note": args.note, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
