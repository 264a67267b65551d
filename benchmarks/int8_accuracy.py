"""int8 accuracy on a *trained* model: keypoint shift of OpenVINO int8 (NNCF) against fp32.

A random model says nothing about quantisation error on keypoints, so this script first trains
``hrnet_w18_small_v1`` briefly on procedurally generated images whose keypoints are known — coloured
discs (one colour per keypoint) on a textured background with grey distractors — until its
predictions are accurate, then quantises it with NNCF from 64 training crops and compares, on
held-out images, the decoded keypoints of fp32 eager with those of every low-precision runner:

* ``shift``: mean / median / p95 / max distance between fp32 and low-precision keypoints, in heatmap pixels;
* ``agree@0.5``: fraction of keypoints within 0.5 heatmap px of fp32's;
* ``error``: mean distance to the ground truth, and ``pck@1`` (within 1 heatmap px), per runner;
* ``on_calibration_inputs``: the shift ``optimize`` reports itself (``runner.keypoint_shift``),
  measured in-sample on the calibration crops.

The row ``openvino int8 (NNCF defaults)`` quantises the same graph with ``nncf.quantize``'s defaults
(preset MIXED) instead of hrnet_zoo's recipe (`hrnet_zoo.runtime.quantize.quantize_openvino`), so the
difference the recipe makes is measured in the same run.

    python benchmarks/int8_accuracy.py --json benchmarks/results/int8_accuracy.json

The AP change on COCO-style annotations is ``benchmarks/int8_ap.py``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import hrnet_zoo
from hrnet_zoo.codecs import HeatmapCodec, decode_heatmaps
from hrnet_zoo.pose.preprocess import normalize
from hrnet_zoo.losses import JointsMSELoss
from hrnet_zoo.runtime.hardware import describe_cpu

COLOURS = torch.tensor([[1.0, 0.1, 0.1], [0.1, 0.9, 0.1], [0.1, 0.2, 1.0], [1.0, 0.9, 0.1]])


def synthetic_batch(n: int, size=(128, 96), generator=None):
    """``n`` images N×3×H×W in [0, 1] and their keypoints N×K×2 (x, y) in input pixels."""
    h, w = size
    k = len(COLOURS)
    g = generator
    # background: smooth colour noise (upsampled) plus fine grain
    base = F.interpolate(torch.rand(n, 3, h // 16, w // 16, generator=g), size=size, mode="bilinear",
                         align_corners=False) * 0.6 + torch.rand(n, 3, h, w, generator=g) * 0.15
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    m = h // 16  # keypoints keep a margin from the border
    points = torch.stack((torch.rand(n, k, generator=g) * (w - 2 * m) + m, torch.rand(n, k, generator=g) * (h - 2 * m) + m), -1)
    distractors = torch.stack((torch.rand(n, 3, generator=g) * w, torch.rand(n, 3, generator=g) * h), -1)
    images = base
    for centres, colours in ((distractors, None), (points, COLOURS)):
        d2 = (xs - centres[..., 0, None, None]) ** 2 + (ys - centres[..., 1, None, None]) ** 2  # N×k×H×W
        radius = 4.0 * h / 128
        alpha = torch.sigmoid((radius**2 - d2) / 3.0)  # a disc of radius 4 px at 128×96, soft edges
        colour = (colours if colours is not None else torch.full((centres.shape[1], 3), 0.8))[None, :, :, None, None]
        for j in range(centres.shape[1]):
            a = alpha[:, j, None]
            images = images * (1 - a) + a * colour[:, j]
    return images.clamp(0, 1), points


def train(model, steps: int, batch: int, size, minutes: float, log) -> dict:
    codec = HeatmapCodec(input_size=size, heatmap_size=(size[0] // 4, size[1] // 4), sigma=2.0, decoder="quarter")
    cfg = model.pretrained_cfg
    loss_fn = JointsMSELoss()
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(1)
    model.train()
    t0, step, losses = time.time(), 0, []
    while True:
        # cosine decay over whichever ends first, the steps or the time limit, after a short warm-up
        progress = max(step / steps, (time.time() - t0) / (minutes * 60))
        if progress >= 1:
            break
        step += 1
        for group in optimiser.param_groups:
            group["lr"] = 2e-3 * min(1.0, step / 20) * 0.5 * (1 + math.cos(math.pi * progress))
        images, points = synthetic_batch(batch, size, g)
        target, weight = codec.encode(points)
        loss = loss_fn(model(normalize(images, cfg.mean, cfg.std)), target, weight)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if step % 25 == 0:
            log(f"step {step} loss {statistics.mean(losses[-25:]):.2e} ({time.time() - t0:.0f} s)")
    model.eval()
    return dict(steps=step, batch=batch, final_loss=statistics.mean(losses[-25:]), seconds=round(time.time() - t0, 1))


def keypoints(heatmaps, method: str = "dark"):
    coords, _ = decode_heatmaps(heatmaps.float(), method)
    return coords


def compare(reference, coords, truth) -> dict:
    shift = (coords - reference).norm(dim=-1).flatten()
    error = (coords - truth).norm(dim=-1).flatten()
    return dict(shift_mean=round(shift.mean().item(), 4), shift_median=round(shift.median().item(), 4),
                shift_p95=round(shift.quantile(0.95).item(), 4),
                shift_max=round(shift.max().item(), 4), agree_at_0_5=round((shift <= 0.5).float().mean().item(), 4),
                error_mean=round(error.mean().item(), 4), pck_at_1=round((error <= 1.0).float().mean().item(), 4))


def nncf_defaults_runner(model, size, calibration, threads: int):
    """OpenVINO int8 from ``nncf.quantize`` with its defaults, compiled as hrnet_zoo compiles int8."""
    import tempfile

    import nncf
    import numpy as np
    import openvino as ov

    from hrnet_zoo.export import export_onnx
    from hrnet_zoo.runtime.openvino_backend import compile_config

    with tempfile.TemporaryDirectory() as tmp:
        export_onnx(model, Path(tmp, "model.onnx"), input_size=size)
        graph = ov.Core().read_model(str(Path(tmp, "model.onnx")))
    dataset = nncf.Dataset(calibration, lambda x: np.ascontiguousarray(x.numpy()))
    quantized = nncf.quantize(graph, dataset, preset=nncf.QuantizationPreset.MIXED, subset_size=len(calibration))
    compiled = ov.Core().compile_model(quantized, "CPU", compile_config("int8", threads))
    return lambda x: torch.from_numpy(compiled(x.numpy())[0].copy())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--minutes", type=float, default=20.0, help="train at most this long (the schedule anneals by then)")
    p.add_argument("--input-size", type=int, nargs=2, default=[128, 96], metavar=("H", "W"))
    p.add_argument("--eval-images", type=int, default=512)
    p.add_argument("--calibration-images", type=int, default=64)
    p.add_argument("--seed", type=int, default=123, help="seed of the held-out images (training uses 1, calibration 7)")
    p.add_argument("--weights", help="a save_pretrained folder: reuse it (or write it after training)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    size = tuple(args.input_size)

    def log(msg):
        print(msg, flush=True)

    torch.manual_seed(0)
    training = None
    if args.weights and Path(args.weights, "config.json").is_file():
        model = hrnet_zoo.from_pretrained(args.weights).eval()
        log(f"loaded {args.weights}")
    else:
        model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=len(COLOURS),
                                       pretrained_cfg_overlay={"input_size": size})
        training = train(model, args.steps, args.batch, size, args.minutes, log)
        if args.weights:
            model.save_pretrained(args.weights)
    cfg = model.pretrained_cfg
    g = torch.Generator().manual_seed(args.seed)  # held out: another seed than training
    images, truth = synthetic_batch(args.eval_images, size, g)
    inputs = normalize(images, cfg.mean, cfg.std)
    truth_hm = truth / 4.0  # heatmap pixels (stride 4)
    calib_images, _ = synthetic_batch(args.calibration_images, size, torch.Generator().manual_seed(7))
    calibration = list(normalize(calib_images, cfg.mean, cfg.std).split(8))

    with torch.no_grad():
        reference = keypoints(torch.cat([model(b) for b in inputs.split(32)]))
    rows = {"torch fp32 (eager)": compare(reference, reference, truth_hm)}
    for backend, precision in (("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "int8")):
        if precision != "fp32" and hrnet_zoo.runtime.plan.unsupported_reason(backend, precision, torch.device("cpu")):
            continue
        runner = hrnet_zoo.optimize(model, backend, precision, input_size=size,
                                    calibration=calibration if precision == "int8" else None)
        coords = keypoints(torch.cat([runner(b) for b in inputs.split(32)]))
        rows[f"{backend} {precision}"] = compare(reference, coords, truth_hm)
        if runner.keypoint_shift is not None:  # what optimize() itself measured, on the calibration crops
            rows[f"{backend} {precision}"]["on_calibration_inputs"] = runner.keypoint_shift
    if "openvino int8" in rows:
        runner = nncf_defaults_runner(model, size, calibration, args.threads)
        coords = keypoints(torch.cat([runner(b) for b in inputs.split(32)]))
        rows["openvino int8 (NNCF defaults)"] = compare(reference, coords, truth_hm)
    for name, r in rows.items():
        log(f"{name:<29} shift mean {r['shift_mean']:.3f} median {r['shift_median']:.3f} p95 {r['shift_p95']:.3f} max {r['shift_max']:.3f} hm px, "
            f"agree@0.5 {r['agree_at_0_5']:.3f}; vs truth {r['error_mean']:.3f} hm px, PCK@1 {r['pck_at_1']:.3f}")
    result = dict(environment=dict(**describe_cpu(), torch_version=torch.__version__, threads=args.threads,
                                   loadavg=os.getloadavg(), command=" ".join(sys.argv),
                                   date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")),
                  model="hrnet_w18_small_v1", num_keypoints=len(COLOURS), input_size=list(size),
                  heatmap_size=[size[0] // 4, size[1] // 4], decoder="dark", training=training,
                  eval_images=args.eval_images, eval_seed=args.seed, calibration_images=args.calibration_images, rows=rows)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
