"""Frames/s of the whole top-down pipeline against the model (runner) alone on the same crops, in one run.

    python benchmarks/pipeline.py --model hrnet_w32 --batch-size 8 --people 4 --frames 8 --repeats 3 \\
        --json benchmarks/results/pipeline_cpu.json
    python benchmarks/pipeline.py --table benchmarks/results/pipeline_cpu.json

The pipeline is what `hrnet_zoo.PoseEstimator.stream` does for a video: per frame, decode a JPEG held
in memory (Pillow), ask the detector (stubbed: the same ``--people`` boxes every frame, so no detector
time is counted), then cut the crops, run the runner on batches of ``--batch-size`` crops shared across
frames, flip test (``--flip-test``), decode keypoints (the model's decoder) and map them back, and
rescore. The baseline is the runner alone on exactly those crops, already cut and normalised, in the
same batches (and the same flipped batches). Both are timed in the same process, repeats interleaved,
so load drifting on a shared machine hits both alike; ``overhead`` is the median over repeats of
pipeline time / runner time − 1, ``overhead_of_fastest`` the same ratio of each one's fastest repeat
(the least disturbed on a shared machine). The runner is
``hrnet_zoo.optimize(model, --backend, --precision, batch_size=…)``.
Weights are random: speed does not depend on them.
"""
from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

import hrnet_zoo
from hrnet_zoo.pose.geometry import box_crop_transforms, crop_images
from hrnet_zoo.pose.preprocess import image_to_tensor, normalize
from hrnet_zoo.runtime import hardware


def synthetic_jpeg(height: int, width: int, seed: int = 0) -> bytes:
    """A photo-sized JPEG with smooth shading and noise (so the codec has real work to do)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    shade = np.stack([xs * 255 // width, ys * 255 // height, (xs + ys) * 255 // (width + height)], -1)
    pixels = np.clip(shade + rng.normal(0, 12, shade.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def people_boxes(count: int, height: int, width: int) -> np.ndarray:
    """``count`` person-shaped boxes side by side (no two overlap, so NMS keeps all), score 0.9."""
    box_w = width / count
    return np.array([[i * box_w + 0.1 * box_w, 0.1 * height, 0.8 * box_w, 0.8 * height, 0.9] for i in range(count)])


def decode_jpeg(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def runner_inputs(estimator, image: np.ndarray, boxes: np.ndarray, frames: int, batch_size: int, device):
    """The pipeline's crops of every frame, cut and normalised, in its batches (last one padded)."""
    settings = estimator.settings
    _, _, inverse = box_crop_transforms(boxes[:, :4], settings.input_size, udp=settings.udp)
    crops = crop_images(image_to_tensor(image).to(device), inverse, settings.input_size)
    cfg = settings.cfg
    crops = normalize(crops, cfg.mean, cfg.std, cfg.max_pixel_value).repeat(frames, 1, 1, 1)
    batches = list(crops.split(batch_size))
    if len(batches[-1]) < batch_size:
        pad = batches[-1].new_zeros(batch_size - len(batches[-1]), *batches[-1].shape[1:])
        batches[-1] = torch.cat((batches[-1], pad))
    return batches


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_pipeline(estimator, jpeg: bytes, frames: int, device) -> float:
    start = time.perf_counter()
    people = list(estimator.stream(decode_jpeg(jpeg) for _ in range(frames)))
    sync(device)
    assert len(people) == frames
    return time.perf_counter() - start


def time_runner(runner, batches, flip_test: bool, device) -> float:
    start = time.perf_counter()
    for x in batches:
        runner(x)
        if flip_test:
            runner(x.flip(3))
    sync(device)
    return time.perf_counter() - start


def benchmark_device(device: torch.device, args) -> dict:
    torch.manual_seed(0)
    model = hrnet_zoo.create_model(args.model, pretrained_cfg_overlay={"input_size": tuple(args.input_size)})
    model = model.eval().to(device)
    runner = hrnet_zoo.optimize(model, args.backend, args.precision, batch_size=args.batch_size,
                                cache=not args.no_cache)
    height, width = args.image_size
    jpeg, boxes = synthetic_jpeg(height, width), people_boxes(args.people, height, width)
    estimator = hrnet_zoo.PoseEstimator(runner, detector=lambda image: boxes, batch_size=args.batch_size,
                                        flip_test=args.flip_test)
    batches = runner_inputs(estimator, decode_jpeg(jpeg), boxes, args.frames, args.batch_size, device)
    for _ in range(args.warmup):
        time_pipeline(estimator, jpeg, args.frames, device)
        time_runner(runner, batches, args.flip_test, device)
    pipeline_s, runner_s = [], []
    for _ in range(args.repeats):  # interleaved: drifting load hits both alike
        pipeline_s.append(time_pipeline(estimator, jpeg, args.frames, device))
        runner_s.append(time_runner(runner, batches, args.flip_test, device))
    overheads = [p / r - 1 for p, r in zip(pipeline_s, runner_s)]
    pipe, alone = statistics.median(pipeline_s), statistics.median(runner_s)
    crops = args.frames * args.people
    return dict(
        device=str(device), device_name=(hardware.cpu_name() if device.type == "cpu" else
                                         torch.cuda.get_device_name(device)),
        model=args.model, input_size=list(args.input_size), runner=runner.describe(), batch_size=args.batch_size,
        frames=args.frames, people_per_frame=args.people, crops=crops, model_calls=len(batches) * (1 + args.flip_test),
        flip_test=args.flip_test, decoder=estimator.settings.decoder, image_size=[height, width],
        pipeline_frames_per_s=round(args.frames / pipe, 3), runner_frames_per_s=round(args.frames / alone, 3),
        pipeline_crops_per_s=round(crops / pipe, 3), runner_crops_per_s=round(crops / alone, 3),
        overhead=round(statistics.median(overheads), 4), overhead_per_repeat=[round(v, 4) for v in overheads],
        overhead_of_fastest=round(min(pipeline_s) / min(runner_s) - 1, 4),
        overhead_ms_per_frame=round((pipe - alone) / args.frames * 1e3, 2),
        pipeline_s=[round(v, 4) for v in pipeline_s], runner_s=[round(v, 4) for v in runner_s],
        meets_goal=bool(statistics.median(overheads) <= 0.15),
    )


def environment() -> dict:
    return dict(torch_version=torch.__version__, python=platform.python_version(), platform=platform.platform(),
                date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                command=" ".join(sys.argv), threads=torch.get_num_threads(), **hardware.describe_cpu(),
                loadavg=[round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None)


def markdown_table(result: dict) -> str:
    env = result["environment"]
    lines = [f"CPU: {env['cpu']} — flags {', '.join(env.get('cpu_flags') or [])}; torch {env['torch_version']}, "
             f"{env['threads']} threads", "",
             "| device | runner | batch | frames × people | flip | pipeline frames/s | runner alone frames/s | "
             "overhead (median [range]) | overhead, fastest repeats | ms/frame added |",
             "|---|---|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        spread = f"{min(r['overhead_per_repeat']):+.1%}–{max(r['overhead_per_repeat']):+.1%}"
        lines.append(f"| {r['device_name']} | {r['runner']} | {r['batch_size']} | "
                     f"{r['frames']} × {r['people_per_frame']} | {'yes' if r['flip_test'] else 'no'} | "
                     f"{r['pipeline_frames_per_s']:.2f} | {r['runner_frames_per_s']:.2f} | "
                     f"{r['overhead']:+.1%} [{spread}] | {r['overhead_of_fastest']:+.1%} | {r['overhead_ms_per_frame']} |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="hrnet_w32")
    parser.add_argument("--input-size", type=int, nargs=2, default=(256, 192), metavar=("H", "W"))
    parser.add_argument("--image-size", type=int, nargs=2, default=(480, 640), metavar=("H", "W"))
    parser.add_argument("--batch-size", type=int, default=8, help="crops per runner call (the runner's fixed batch)")
    parser.add_argument("--people", type=int, default=4, help="boxes per frame (crops share batches across frames)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--flip-test", action="store_true", help="flip test in both (two runner calls per batch)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--no-cache", action="store_true", help="re-measure optimize()'s auto choice")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--device", nargs="+", default=None, help="default: cpu, and cuda when present")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="write the result here")
    parser.add_argument("--note", default="", help="recorded with the result (e.g. the machine's load)")
    parser.add_argument("--table", default=None, metavar="JSON", help="print a results file as a markdown table")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.table:
        with open(args.table, encoding="utf-8") as f:
            print(markdown_table(json.load(f)))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    result = dict(environment=environment(), note=args.note, rows=[])
    for device in devices:
        row = benchmark_device(torch.device(device), args)
        result["rows"].append(row)
        print(f"{row['device_name']}: pipeline {row['pipeline_frames_per_s']:.2f} frames/s, runner alone "
              f"{row['runner_frames_per_s']:.2f} frames/s, overhead {row['overhead']:+.1%}", flush=True)
    result["environment"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    if args.json:
        text = json.dumps(result, indent=1) + "\n"
        tmp = f"{args.json}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, args.json)
    print(markdown_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
