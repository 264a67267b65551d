"""Fast inference on torch, onnxruntime or OpenVINO, in fp32, bf16, fp16 or int8: [`optimize()`][hrnet_zoo.runtime.optimize].

>>> runner = hrnet_zoo.optimize(model)                 # measured once per machine, model and shape
>>> heatmaps = runner(torch.randn(4, 3, 256, 192))
>>> hrnet_zoo.predict_keypoints(runner, image, boxes)  # the runner keeps the model's pretrained_cfg

OpenVINO and onnxruntime are imported only when a runner needs them.
"""
from __future__ import annotations

import dataclasses
import logging
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hrnet_zoo.errors import AccuracyCheckError, InvalidArgumentError
from hrnet_zoo.export import as_eval_model, export_onnx, flatten_outputs, max_relative_error
from hrnet_zoo.fuse import fuse_conv_bn
from hrnet_zoo.pretrained_cfg import PretrainedCfg, check_size
from hrnet_zoo.runtime import cache as choices
from hrnet_zoo.runtime.plan import TOLERANCE, candidates
from hrnet_zoo.runtime.quantize import SHIFT_WARNING_PX
from hrnet_zoo.runtime.runner import BackendUnavailableError, Runner, UnsupportedPrecisionError

logger = logging.getLogger("hrnet_zoo.runtime")

__all__ = ["BackendUnavailableError", "Runner", "UnsupportedPrecisionError", "build_runner", "fuse_conv_bn", "optimize"]


def _first_conv_channels(model: torch.nn.Module) -> int:
    conv = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    return conv.in_channels if conv is not None else 3


class _Build:
    """What every candidate of one request shares: the model, the example input, the ONNX graph."""

    def __init__(self, model, device, input_size, batch_size, calibration, compile, tmp: Path):
        self.model, self.device, self.input_size, self.batch_size = model, device, input_size, batch_size
        self.calibration, self.compile, self.tmp = calibration, compile, tmp
        self.in_chans = _first_conv_channels(model)
        self.cfg = getattr(model, "pretrained_cfg", None)
        if self.cfg is not None and tuple(self.cfg.input_size) != tuple(input_size):
            self.cfg = dataclasses.replace(self.cfg, input_size=tuple(input_size))
        generator = torch.Generator().manual_seed(0)
        self.example = torch.randn(batch_size or 1, self.in_chans, *input_size, generator=generator)
        with torch.no_grad():
            self.single = len(flatten_outputs(model(self.example[:1].to(device)))) == 1
        self._onnx = None

    def onnx(self) -> Path:
        if self._onnx is None:
            self._onnx = self.tmp / "model.onnx"
            export_onnx(self.model, self._onnx, input_size=self.input_size, in_chans=self.in_chans)
        return self._onnx

    def runner(self, backend: str, precision: str) -> Runner:
        threads = torch.get_num_threads()
        device, details, shift = self.device, "", None
        if backend == "torch":
            from hrnet_zoo.runtime.torch_backend import build_torch

            run = build_torch(self.model, precision, self.device, self.example, self.compile, self.batch_size)
            details = "BatchNorm folded, channels_last" + (", compiled with freezing" if self.compile else "")
        elif backend == "onnxruntime":
            from hrnet_zoo.runtime.onnxruntime_backend import build_onnxruntime

            run, device = build_onnxruntime(self.onnx(), self.device, threads), torch.device("cpu")
        else:
            from hrnet_zoo.runtime.openvino_backend import build_openvino, read_onnx

            ov_model = read_onnx(self.onnx())
            if precision == "int8":
                from hrnet_zoo.runtime.quantize import calibration_batches, keypoint_shift, quantize_openvino

                batches = calibration_batches(self.calibration, self.cfg, self.input_size)
                ov_model = quantize_openvino(ov_model, batches)
                details = "NNCF int8"
            run, device = build_openvino(ov_model, precision, threads, self.batch_size), torch.device("cpu")
            if precision == "int8":
                shift = keypoint_shift(self.model, run, batches, self.cfg, self.device, self.batch_size)
        runner = Runner(run, pretrained_cfg=self.cfg, backend=backend, precision=precision, device=device,
                        input_size=self.input_size, batch_size=self.batch_size, in_chans=self.in_chans,
                        single_output=self.single, details=details)
        runner.keypoint_shift = shift
        runner.keypoint_shift_samples = shift["inputs"] if shift else None
        return runner


def build_runner(model, backend: str, precision: str, input_size=None, batch_size=None, *, device=None,
                 calibration=None, compile: bool = False) -> Runner:
    """One runner for an explicit ``backend`` and ``precision``, without measuring anything."""
    return optimize(model, backend, precision, input_size, batch_size, device=device, calibration=calibration,
                    compile=compile, cache=False)


def time_calls(run, x, iters: int) -> list[float]:
    """Wall-clock ms of each of ``iters`` calls ``run(x)``; a CUDA input synchronises after each call."""
    sync = torch.cuda.synchronize if isinstance(x, torch.Tensor) and x.is_cuda else (lambda: None)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        run(x)
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def measure(runners: dict, x: torch.Tensor, reference, rounds: int = 3, iters: int = 2,
            failed: dict | None = None) -> dict:
    """Median ms per call and error against ``reference`` of every runner; rounds interleaved.

    A runner whose first call fails (a lazy compilation this machine refuses) is left out with a
    warning, and why is put in ``failed``.
    """
    results = {}
    for name, runner in runners.items():
        try:
            out = runner(x)  # warm-up (and the first call's lazy compilation)
        except Exception as e:
            logger.warning("optimize: %s failed on its first call (%s: %s)", name, type(e).__name__, e)
            if failed is not None:
                failed[name] = f"failed on its first call: {type(e).__name__}: {e}"
            continue
        results[name] = dict(err=max_relative_error(out, reference), times=[])
    for _ in range(rounds):
        for name in results:
            results[name]["times"] += time_calls(runners[name], x, iters)
    for r in results.values():
        r["median_ms"] = statistics.median(r.pop("times"))
    return results


def optimize(model: torch.nn.Module, backend: str = "auto", precision: str = "auto", input_size=None,
             batch_size: int | None = None, *, device=None, calibration=None, compile: bool = False,
             cache: bool = True, int8_max_shift_px: float = SHIFT_WARNING_PX) -> Runner:
    """The fastest way to run ``model`` here: a [`Runner`][hrnet_zoo.runtime.runner.Runner] (N×C×H×W → the model's outputs as tensors).

    Args:
        model: an hrnet_zoo model (or any conv net); never changed — every backend works on a copy.
        backend: ``torch`` (BatchNorm folded, channels_last, weights in the precision, optionally
            ``torch.compile`` with freezing), ``onnxruntime``, ``openvino`` (extra ``hrnet-zoo[openvino]``)
            or ``auto``.
        precision: ``fp32``, ``bf16``, ``fp16``, ``int8`` (OpenVINO + NNCF, needs ``calibration``) or
            ``auto``: every pair the hardware runs natively (detected: AMX, avx512_bf16/fp16, CUDA).
        input_size: ``(H, W)`` the runner is built for; default the model's ``pretrained_cfg.input_size``.
        batch_size: a fixed batch (static shapes, fastest), or None for any batch.
        device: default the model's.
        calibration: int8 calibration data — an iterable of N×C×H×W inputs, or of ``(image, boxes)`` pairs.
        compile: torch backend: ``torch.compile`` with Inductor freezing (needs ``batch_size``; the
            first call compiles, about a minute on a small CPU).
        cache: reuse (and store) the ``auto`` choice for this machine, model, shape and request; a
            cache that cannot be written, or a malformed or unfitting entry, is skipped with a warning.
        int8_max_shift_px: with several candidates, an int8 runner of a heatmap model is chosen only
            if its keypoints lie at most this far (mean, heatmap px) from fp32's on at least
            ``quantize.MIN_CALIBRATION_INPUTS`` calibration crops.

    With several candidates (``auto``), each is built, checked against fp32 eager on one random
    input (within 1e-4 relative for fp32, 2e-2 for bf16/fp16) and timed briefly, interleaved; the
    fastest within tolerance wins, is logged on the ``hrnet_zoo.runtime`` logger and cached in
    ``<HRNET_ZOO_CACHE>/runtime/choices.json``. int8 is a candidate only when ``calibration`` is
    given; its accuracy is judged on keypoints (``keypoint_shift``, see ``int8_max_shift_px``; held-out
    figures in ``benchmarks/int8_accuracy.py``), not on the random input.
    """
    _check_optimize_arguments(model, batch_size, int8_max_shift_px)
    parameter = next(model.parameters(), None)
    device = torch.device(device) if device is not None else (parameter.device if parameter is not None else
                                                               torch.device("cpu"))
    cfg = getattr(model, "pretrained_cfg", None)
    input_size = check_size(input_size) if input_size is not None else \
        tuple((cfg or PretrainedCfg()).input_size)
    pairs = candidates(backend, precision, device, calibration)
    model = as_eval_model(model)  # candidates are checked against it
    key = None
    with tempfile.TemporaryDirectory(prefix="hrnet_zoo_optimize_") as tmp:
        build = _Build(model, device, input_size, batch_size, calibration, compile, Path(tmp))
        if len(pairs) == 1:
            return build.runner(*pairs[0])
        if cache:
            key = choices.choice_key(model, input_size=input_size, batch_size=batch_size, device=str(device),
                                   backend=backend, precision=precision, compile=compile,
                                   candidates=[f"{b} {p}" for b, p in pairs], int8_max_shift_px=int8_max_shift_px)
            runner = _cached_runner(build, choices.load_choice(key, pairs), int8_max_shift_px)
            if runner is not None:
                return runner
        return _choose(build, pairs, key, int8_max_shift_px)


def _check_optimize_arguments(model, batch_size, int8_max_shift_px) -> None:
    if isinstance(model, Runner) or not isinstance(model, torch.nn.Module):
        raise InvalidArgumentError(f"optimize takes an nn.Module, got {type(model).__name__}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise InvalidArgumentError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    if isinstance(int8_max_shift_px, bool) or not isinstance(int8_max_shift_px, (int, float)) \
            or not int8_max_shift_px >= 0:
        raise InvalidArgumentError(f"int8_max_shift_px must be a number ≥ 0 (heatmap px), got {int8_max_shift_px!r}")


def _cached_runner(build, choice: dict | None, int8_max_shift_px: float) -> Runner | None:
    """The runner of a cached ``auto`` choice, or None when there is none or it no longer holds."""
    if choice is None:
        return None
    runner = build.runner(choice["backend"], choice["precision"])
    rejected = int8_rejection(runner, int8_max_shift_px)  # other calibration data than last time
    if rejected is None:
        runner.choice = dict(choice, cached=True)
        logger.info("optimize: %s (cached choice)", runner.describe())
        return runner
    logger.warning("optimize: the cached choice %s no longer holds (%s); measuring anew",
                   runner.describe(), rejected)
    return None


def int8_rejection(runner: Runner, max_shift_px: float) -> str | None:
    """Why ``auto`` must not choose ``runner`` (an int8 runner whose keypoint shift is too large or rests
    on too few crops); None: nothing against it."""
    shift = runner.keypoint_shift
    if runner.precision != "int8" or shift is None:
        return None
    if not shift["enough_inputs"]:
        return f"its keypoint shift rests on {shift['inputs']} calibration crops, too few to judge it by"
    if shift["mean_px"] > max_shift_px:
        return f"its keypoints lie {shift['mean_px']:.2f} heatmap px from fp32's, over int8_max_shift_px={max_shift_px}"
    return None


def _build_candidates(build: _Build, pairs, max_shift_px: float) -> tuple[dict, dict]:
    """The runners of ``pairs`` that build and pass the int8 guard, and why the others were left out."""
    runners, rejected = {}, {}
    for backend, precision in pairs:
        name = f"{backend} {precision}"
        try:
            runner = build.runner(backend, precision)
        except Exception as e:  # a backend failing on this model or machine is one candidate less
            logger.warning("optimize: %s failed to build (%s: %s)", name, type(e).__name__, e)
            rejected[name] = f"failed to build: {type(e).__name__}: {e}"
            continue
        reason = int8_rejection(runner, max_shift_px)
        if reason is None:
            runners[name] = runner
        else:
            logger.warning("optimize: %s is not a candidate: %s", name, reason)
            rejected[name] = reason
    return runners, rejected


def _choose(build: _Build, pairs, key, max_shift_px: float) -> Runner:
    runners, rejected = _build_candidates(build, pairs, max_shift_px)
    x = build.example.to(build.device)
    with torch.no_grad():
        reference = build.model(x)
    results = measure(runners, x, reference, failed=rejected)
    within = {n: r for n, r in results.items()
              if TOLERANCE[runners[n].precision] is None or r["err"] <= TOLERANCE[runners[n].precision]}
    if not within:
        raise AccuracyCheckError(f"no backend agreed with eager fp32 within tolerance: {results}")
    best = min(within, key=lambda n: within[n]["median_ms"])
    runner = runners[best]
    summary = ", ".join(f"{n} {r['median_ms']:.1f} ms (err {r['err']:.1e})" for n, r in results.items())
    logger.info("optimize: chose %s at batch %d: %s", runner.describe(), len(x), summary)
    choice = dict(backend=runner.backend, precision=runner.precision, batch=len(x),
                  measured={n: dict(median_ms=round(r["median_ms"], 3), max_rel_err=float(f"{r['err']:.3g}"))
                            for n, r in results.items()}, rejected=rejected)
    runner.choice = dict(choice, cached=False)
    if key is not None:
        choices.store_choice(key, choice)
    return runner
