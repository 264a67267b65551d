"""Heatmap decoding throughput: hrnet_zoo's batched decoders against per-keypoint reference loops.

The references are written the way the public code does it, one keypoint at a time:

* ``quarter`` — the official HRNet ``get_final_preds`` post-processing loop (numpy);
* ``dark`` — mmpose ``MSRAHeatmap(unbiased=True)`` decoding, per person: ``get_heatmap_maximum``,
  ``gaussian_blur`` (``cv2.GaussianBlur`` on each zero-padded heatmap, rescaled to its maximum), then
  ``refine_keypoints_dark`` (a Taylor step per keypoint);
* ``udp`` — mmpose ``UDPHeatmap`` decoding with ``refine_keypoints_dark_udp``.

Without OpenCV the blur falls back to a separable numpy convolution per heatmap (slower than OpenCV,
so the reported speed-up would be larger; the JSON says which one ran).

    python benchmarks/decode.py --threads 2 --json benchmarks/results/decode_cpu.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from itertools import product

import numpy as np
import torch

from hrnet_zoo.codecs import decode_heatmaps, opencv_gaussian_kernel

try:
    import cv2
except ImportError:  # the reference then blurs with numpy
    cv2 = None


def _blur_one(padded: np.ndarray, kernel_size: int) -> np.ndarray:
    if cv2 is not None:
        return cv2.GaussianBlur(padded, (kernel_size, kernel_size), 0)
    kernel = opencv_gaussian_kernel(kernel_size).numpy().astype(np.float32)
    half = kernel_size // 2
    # BORDER_REFLECT_101 like OpenCV; the zero border makes the choice irrelevant for the crop we keep.
    rows = np.pad(padded, ((0, 0), (half, half)), mode="reflect")
    rows = sum(kernel[i] * rows[:, i:i + padded.shape[1]] for i in range(kernel_size))
    cols = np.pad(rows, ((half, half), (0, 0)), mode="reflect")
    return sum(kernel[i] * cols[i:i + padded.shape[0]] for i in range(kernel_size)).astype(np.float32)


def reference_gaussian_blur(heatmaps: np.ndarray, kernel_size: int) -> np.ndarray:
    """mmpose ``gaussian_blur``: K×H×W, one heatmap at a time, in place."""
    border = (kernel_size - 1) // 2
    num_keypoints, height, width = heatmaps.shape
    for k in range(num_keypoints):
        origin_max = np.max(heatmaps[k])
        padded = np.zeros((height + 2 * border, width + 2 * border), dtype=np.float32)
        padded[border:-border, border:-border] = heatmaps[k].copy()
        padded = _blur_one(padded, kernel_size)
        heatmaps[k] = padded[border:-border, border:-border].copy()
        heatmaps[k] *= origin_max / np.max(heatmaps[k])
    return heatmaps


def reference_maximum(heatmaps: np.ndarray):
    """mmpose ``get_heatmap_maximum`` for K×H×W (locations −1 where the maximum ≤ 0)."""
    num_keypoints, height, width = heatmaps.shape
    flat = heatmaps.reshape(num_keypoints, -1)
    y_locs, x_locs = np.unravel_index(np.argmax(flat, axis=1), shape=(height, width))
    locs = np.stack((x_locs, y_locs), axis=-1).astype(np.float32)
    vals = np.amax(flat, axis=1)
    locs[vals <= 0.0] = -1
    return locs, vals


def reference_dark(batch: np.ndarray, kernel_size: int = 11):
    """Per person: maximum, whole-map blur, then a Taylor step per keypoint (``refine_keypoints_dark``)."""
    out = []
    for heatmaps in batch:
        keypoints, _ = reference_maximum(heatmaps)
        num_keypoints, height, width = heatmaps.shape
        log_maps = reference_gaussian_blur(heatmaps.copy(), kernel_size)
        np.maximum(log_maps, 1e-10, log_maps)
        np.log(log_maps, log_maps)
        for k in range(num_keypoints):
            x, y = keypoints[k].astype(int)
            hm = log_maps[k]
            if 1 < x < width - 2 and 1 < y < height - 2:
                dx = 0.5 * (hm[y, x + 1] - hm[y, x - 1])
                dy = 0.5 * (hm[y + 1, x] - hm[y - 1, x])
                dxx = 0.25 * (hm[y, x + 2] - 2 * hm[y, x] + hm[y, x - 2])
                dxy = 0.25 * (hm[y + 1, x + 1] - hm[y - 1, x + 1] - hm[y + 1, x - 1] + hm[y - 1, x - 1])
                dyy = 0.25 * (hm[y + 2, x] - 2 * hm[y, x] + hm[y - 2, x])
                derivative = np.array([[dx], [dy]])
                hessian = np.array([[dxx, dxy], [dxy, dyy]])
                if dxx * dyy - dxy**2 != 0:
                    offset = -np.linalg.inv(hessian) @ derivative
                    keypoints[k] += np.squeeze(np.array(offset.T), axis=0)
        out.append(keypoints)
    return np.stack(out)


def reference_udp(batch: np.ndarray, kernel_size: int = 11):
    """Per person: mmpose ``refine_keypoints_dark_udp`` (whole-map blur, edge pad, Newton step)."""
    out = []
    for heatmaps in batch:
        keypoints, _ = reference_maximum(heatmaps)
        num_keypoints, height, width = heatmaps.shape
        log_maps = reference_gaussian_blur(heatmaps.copy(), kernel_size)
        np.clip(log_maps, 1e-3, 50.0, log_maps)
        np.log(log_maps, log_maps)
        pad = np.pad(log_maps, ((0, 0), (1, 1), (1, 1)), mode="edge").flatten()
        index = keypoints[:, 0] + 1 + (keypoints[:, 1] + 1) * (width + 2)
        index += (width + 2) * (height + 2) * np.arange(0, num_keypoints)
        index = index.astype(int).reshape(-1, 1)
        i_, ix1, iy1 = pad[index], pad[index + 1], pad[index + width + 2]
        ix1y1, ix1_y1_ = pad[index + width + 3], pad[index - width - 3]
        ix1_, iy1_ = pad[index - 1], pad[index - 2 - width]
        derivative = np.concatenate([0.5 * (ix1 - ix1_), 0.5 * (iy1 - iy1_)], axis=1).reshape(-1, 2, 1)
        dxx = ix1 - 2 * i_ + ix1_
        dyy = iy1 - 2 * i_ + iy1_
        dxy = 0.5 * (ix1y1 - ix1 - iy1 + i_ + i_ - ix1_ - iy1_ + ix1_y1_)
        hessian = np.concatenate([dxx, dxy, dxy, dyy], axis=1).reshape(-1, 2, 2)
        hessian = np.linalg.inv(hessian + np.finfo(np.float32).eps * np.eye(2))
        keypoints -= np.einsum("imn,ink->imk", hessian, derivative).squeeze(-1)
        out.append(keypoints)
    return np.stack(out)


def reference_quarter(batch: np.ndarray):
    """The official ``get_max_preds`` + ``get_final_preds`` post-processing loop."""
    n, k, height, width = batch.shape
    flat = batch.reshape(n, k, -1)
    idx = np.argmax(flat, 2)
    maxvals = np.amax(flat, 2)
    coords = np.stack((idx % width, np.floor(idx / width)), axis=-1).astype(np.float32)
    coords *= (maxvals > 0)[..., None]
    for i, j in product(range(n), range(k)):
        hm = batch[i, j]
        px, py = int(np.floor(coords[i, j, 0] + 0.5)), int(np.floor(coords[i, j, 1] + 0.5))
        if 1 < px < width - 1 and 1 < py < height - 1:
            diff = np.array([hm[py][px + 1] - hm[py][px - 1], hm[py + 1][px] - hm[py - 1][px]])
            coords[i, j] += np.sign(diff) * 0.25
    return coords


def realistic_heatmaps(n: int, k: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """σ=2 Gaussian peaks at random sub-pixel spots plus low noise: what a trained model emits."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.rand(n, k, 2, generator=gen) * torch.tensor([width - 1.0, height - 1.0])
    xs, ys = torch.arange(width).float(), torch.arange(height).float()
    gx = torch.exp(-((xs - centres[..., :1]) ** 2) / 8)
    gy = torch.exp(-((ys - centres[..., 1:]) ** 2) / 8)
    peaks = gy[..., :, None] * gx[..., None, :] * (0.5 + 0.5 * torch.rand(n, k, 1, 1, generator=gen))
    return peaks + 0.01 * torch.randn(n, k, height, width, generator=gen)


def timed(fn, repeats: int, warmup: int, sync=lambda: None) -> list[float]:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="128x17x64x48", help="N×K×H×W of the heatmaps")
    parser.add_argument("--threads", type=int, default=2, help="torch / OpenCV CPU threads")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--reference-repeats", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--devices", default="cpu,cuda", help="comma list; cuda is skipped when absent")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    if cv2 is not None:
        cv2.setNumThreads(args.threads)
    n, k, height, width = (int(v) for v in args.shape.lower().split("x"))
    heatmaps = realistic_heatmaps(n, k, height, width)
    batch = heatmaps.numpy()
    references = {
        "quarter": lambda: reference_quarter(batch),
        "dark": lambda: reference_dark(batch),
        "udp": lambda: reference_udp(batch),
    }
    rows = []
    # Reference and batched runs alternate round by round, so a machine whose load drifts (shared
    # CI runners) slows both sides of each ratio alike; the speed-up is the median of those ratios.
    for method, reference in references.items():
        ours = lambda: decode_heatmaps(heatmaps, method)  # noqa: E731
        for _ in range(args.warmup):
            ours()
        reference_times, our_times, ratios = [], [], []
        for _ in range(args.reference_repeats):
            ref_ms = statistics.median(timed(reference, 1, 0))
            our_ms = min(timed(ours, 3, 0))
            reference_times.append(ref_ms)
            our_times.append(our_ms)
            ratios.append(ref_ms / our_ms)
        agreement = float(np.abs(ours()[0].numpy() - reference()).max())
        rows.append({"method": method, "implementation": "per-keypoint reference", "device": "cpu",
                     "median_ms": round(statistics.median(reference_times), 3)})
        rows.append({"method": method, "implementation": "hrnet_zoo batched (interleaved with reference)",
                     "device": "cpu", "median_ms": round(statistics.median(our_times), 3),
                     "speedup_vs_reference": round(statistics.median(ratios), 1),
                     "speedup_range": [round(min(ratios), 1), round(max(ratios), 1)],
                     "max_abs_diff_vs_reference_px": agreement})
    for device in args.devices.split(","):
        if device == "cuda" and not torch.cuda.is_available():
            continue
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        maps = heatmaps.to(device)
        for method in ("argmax", "quarter", "dark", "udp"):
            times = timed(lambda: decode_heatmaps(maps, method), args.repeats, args.warmup, sync)
            median = statistics.median(times)
            rows.append({"method": method, "implementation": "hrnet_zoo batched", "device": device,
                         "median_ms": round(median, 3),
                         "p90_ms": round(sorted(times)[int(0.9 * (len(times) - 1))], 3),
                         "keypoints_per_s": round(n * k / (median / 1e3))})
    result = {
        "shape_NKHW": [n, k, height, width],
        "threads": args.threads,
        "blur_reference": f"cv2 {cv2.__version__}" if cv2 is not None else "numpy (no OpenCV)",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "rows": rows,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as fh:
            fh.write(text + "\n")
    return result


if __name__ == "__main__":
    main()
