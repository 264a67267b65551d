"""Forward-pass latency and throughput of hrnet_zoo models, one row per (model, batch size, mode).

    python benchmarks/forward.py --model hrnet_w32 --device cpu --threads 2 --batch-size 4 \\
        --iters 10 --warmup 3 --repeats 3 --json benchmarks/results/cpu.json
    python benchmarks/forward.py --models all --device cuda --batch-size 1 32 128 --json out.json
    python benchmarks/forward.py --table benchmarks/results/cpu.json      # markdown table

A mode is ``eager`` (the official repositories' way: fp32, NCHW, BatchNorm as is, ``torch.no_grad``)
or ``+``-joined options applied to it:

=============== ===================================================================================
``fused``       :func:`hrnet_zoo.runtime.fuse_conv_bn` (BatchNorm folded into the convolutions)
``cl``          ``channels_last`` memory format for weights and input
``bf16``/``fp16`` ``torch.autocast`` in that dtype
``compile``     ``torch.compile`` (default mode); ``max-autotune`` uses ``mode="max-autotune"``
``freeze``      with ``compile``/``max-autotune``: Inductor's ``freezing`` — the weights become
                constants, BatchNorm is folded in the graph and, on CPU, oneDNN weights are prepacked
                once instead of reordered on every call (inference only)
``cudagraph``   the whole forward captured once in a CUDA graph and replayed (fixed shapes)
=============== ===================================================================================

Runtime peers, each a mode of its own, on the graph :func:`hrnet_zoo.export.export_onnx` writes
(CPU, static shape N×3×H×W, the benchmark's thread count):

=============== ===================================================================================
``ort``         onnxruntime fp32, set up by hand (all graph optimisations)
``ov``          OpenVINO fp32, set up by hand (``INFERENCE_PRECISION_HINT`` f32, latency mode)
``ov-bf16``     OpenVINO bf16, set up by hand (``INFERENCE_PRECISION_HINT`` bf16)
``ov-int8``     ``hrnet_zoo.optimize(model, "openvino", "int8")``, NNCF calibrated on random inputs:
                a speed row only (accuracy: ``benchmarks/int8_accuracy.py``)
``optimize``    ``hrnet_zoo.optimize(model, input_size=…, batch_size=…)`` with its defaults (auto)
=============== ===================================================================================

Every mode is timed in the same process as ``eager``, with repeats interleaved across modes so that
load drifting on a shared machine hits all of them alike; ``speedup`` is the ratio to ``eager`` in
the same repeat. Each mode's output is compared with fp32 eager (``max_rel_err`` against a per-dtype
``tolerance``). Modes a device cannot run well, or whose package (onnxruntime, openvino, nncf) is
missing or fails to import, are skipped with the reason in ``skipped`` and printed; the other rows
are still written.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import functools
import importlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import hrnet_zoo
from hrnet_zoo.complexity import count_flops, default_input_size
from hrnet_zoo.export import export_onnx, max_relative_error
from hrnet_zoo.runtime import hardware, time_calls
from hrnet_zoo.runtime.hardware import cpu_name
from hrnet_zoo.runtime import BackendUnavailableError, UnsupportedPrecisionError

OPTIONS = ("fused", "cl", "bf16", "fp16", "compile", "max-autotune", "freeze", "cudagraph")
#: Runtime peers (mode name → compute dtype); see the module docstring.
BACKEND_MODES = {"ort": "fp32", "ov": "fp32", "ov-bf16": "bf16", "ov-int8": "int8", "optimize": None}
DEFAULT_MODES = (
    "eager", "fused", "cl", "fused+cl", "fused+cl+bf16", "fused+cl+fp16",
    "fused+cl+compile", "fused+cl+bf16+compile", "fused+cl+compile+freeze", "fused+cl+bf16+compile+freeze",
    "fused+cl+bf16+max-autotune", "fused+cl+bf16+cudagraph", *BACKEND_MODES,
)
#: Output agreement with fp32 eager, max|y − y_ref| / max|y_ref|, per compute dtype.
TOLERANCE = {"fp32": 1e-4, "tf32": 1e-2, "bf16": 5e-2, "fp16": 1e-2, "int8": None}  # int8: judged on keypoints
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

# Dense peak GFLOP/s of data-centre GPUs (vendor datasheets, without sparsity): fp32 / tf32 / bf16 = fp16.
GPU_PEAK_GFLOPS = {
    "H200": (67_000, 494_700, 989_400),
    "H100 PCIe": (51_200, 378_000, 756_000),
    "H100": (67_000, 494_700, 989_400),
    "A100": (19_500, 156_000, 312_000),
}


@dataclass(frozen=True)
class Mode:
    name: str
    fused: bool = False
    channels_last: bool = False
    amp: str | None = None          # "bf16" | "fp16"
    compile: str | None = None      # "default" | "max-autotune"
    cuda_graph: bool = False
    freeze: bool = False            # Inductor freezing (needs compile)
    backend: str | None = None      # a runtime peer: one of BACKEND_MODES


def parse_mode(name: str) -> Mode:
    """``"fused+cl+bf16"`` → Mode(fused=True, channels_last=True, amp="bf16")."""
    if name == "eager":
        return Mode(name)
    if name in BACKEND_MODES:
        return Mode(name, backend=name)
    parts = name.split("+")
    unknown = [p for p in parts if p not in OPTIONS]
    if unknown or len(set(parts)) != len(parts):
        raise ValueError(f"bad mode {name!r}: use 'eager' or '+'-joined options from {', '.join(OPTIONS)}")
    if "bf16" in parts and "fp16" in parts:
        raise ValueError(f"bad mode {name!r}: bf16 and fp16 exclude each other")
    if "compile" in parts and "max-autotune" in parts:
        raise ValueError(f"bad mode {name!r}: compile and max-autotune exclude each other")
    if "freeze" in parts and not ("compile" in parts or "max-autotune" in parts):
        raise ValueError(f"bad mode {name!r}: freeze is an option of compile or max-autotune")
    amp = "bf16" if "bf16" in parts else "fp16" if "fp16" in parts else None
    comp = "default" if "compile" in parts else "max-autotune" if "max-autotune" in parts else None
    return Mode(name, "fused" in parts, "cl" in parts, amp, comp, "cudagraph" in parts, "freeze" in parts)


# ---------------------------------------------------------------------------------------------- device


def cpu_flags() -> set[str]:
    return set(hardware.cpu_flags())


def cpu_native(dtype: str) -> bool:
    """Whether the CPU computes ``dtype`` natively (x86 AVX-512/AMX or Arm extensions).

    Without it oneDNN emulates bf16/fp16 through fp32 conversions, slower than plain fp32.
    """
    return bool(cpu_flags() & set(hardware.NATIVE_FLAGS[dtype]))


@functools.lru_cache(maxsize=None)
def cpu_peak_gflops(dtype: str, threads: int) -> float:
    """The CPU's ceiling for the efficiency column: the best GFLOP/s, in ``dtype`` with the
    benchmark's thread count, of a square 2048³ matrix product (MKL) and of a 256→256 3×3
    convolution on 4×256×64×48 channels_last (oneDNN), best of 10 each.

    Measured rather than computed from the clock because a VM reports the nominal clock, not the
    boost clock it runs at, and may hide how its vCPUs map to cores. The convolution is there
    because MKL runs a slower code path on AMD CPUs: on a Zen 5 its GEMM reached 180 GFLOP/s fp32
    where oneDNN's convolution reached 440, and hrnet_w32 itself 230.
    """
    torch.manual_seed(0)
    dt = DTYPES[dtype]
    n = 2048
    a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
    x = torch.randn(4, 256, 64, 48, dtype=dt).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).to(dtype=dt, memory_format=torch.channels_last)
    best = 0.0
    with torch.no_grad():
        for flop, fn in ((2 * n**3, lambda _: a @ b), (2 * 256 * 256 * 9 * 4 * 64 * 48, lambda _: conv(x))):
            for _ in range(3):
                fn(None)
            best = max(best, flop / min(time_iters(fn, None, 10, torch.device("cpu"))) / 1e6)
    return best


def gpu_peak_gflops(device_name: str, dtype: str) -> float | None:
    for key, (fp32, tf32, half) in GPU_PEAK_GFLOPS.items():
        if key in device_name:
            return {"fp32": fp32, "tf32": tf32}.get(dtype, half)
    return None


def skip_reason(mode: Mode, device: torch.device) -> str | None:
    """Why ``mode`` is not run on ``device`` (None: run it)."""
    if mode.backend:
        return backend_skip_reason(mode, device)
    if device.type == "cpu":
        if mode.cuda_graph:
            return "CUDA graphs need a CUDA device"
        if mode.amp and not cpu_native(mode.amp):
            return f"this CPU has no native {mode.amp} instructions: autocast would be emulated, slower than fp32"
        if mode.compile and not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")):
            return "torch.compile on CPU needs a C++ compiler"
    elif device.type == "cuda":
        if mode.amp == "bf16" and not torch.cuda.is_bf16_supported():
            return "this GPU has no bf16"
    if mode.compile and sys.platform == "win32":
        return "torch.compile is not supported on Windows"
    return None


# ------------------------------------------------------------------------------------------- runners


#: The packages each runtime peer imports.
BACKEND_PACKAGES = {"ort": ("onnx", "onnxruntime"), "ov": ("onnx", "openvino"), "ov-bf16": ("onnx", "openvino"),
                    "ov-int8": ("onnx", "openvino", "nncf")}


@functools.lru_cache(maxsize=None)
def import_problem(module: str) -> str | None:
    """Why ``module`` cannot be used here (not installed, or its import fails); None: it imports."""
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed"
    try:
        importlib.import_module(module)
    except Exception as e:  # a broken install fails in many ways, ImportError the most common
        return f"{module} cannot be imported ({type(e).__name__}: {e})"
    return None


def backend_skip_reason(mode: Mode, device: torch.device) -> str | None:
    if mode.backend == "optimize":
        return None
    if device.type != "cpu":
        return "the runtime peers are timed on the CPU"
    problems = [p for p in map(import_problem, BACKEND_PACKAGES[mode.backend]) if p]
    if problems:
        return "; ".join(problems)
    dtype = BACKEND_MODES[mode.backend]
    if dtype in ("bf16", "fp16") and not cpu_native(dtype):
        return f"this CPU has no native {dtype} instructions: OpenVINO would emulate them, slower than fp32"
    return None


def compute_dtype(mode: Mode, device: torch.device, run=None) -> str:
    if mode.backend:
        return BACKEND_MODES[mode.backend] or getattr(run, "precision", "fp32")
    if mode.amp:
        return mode.amp
    tf32 = device.type == "cuda" and torch.backends.cudnn.allow_tf32  # cuDNN convs use TF32 by default
    return "tf32" if tf32 else "fp32"


def compile_model(model: torch.nn.Module, mode: Mode) -> torch.nn.Module:
    """``torch.compile`` in ``mode.compile``; with ``mode.freeze`` Inductor's freezing is switched on
    through ``options`` (``torch.compile`` takes a mode name or options, not both, so a named mode
    is spelled out as its options)."""
    if not mode.freeze:
        return torch.compile(model, mode=None if mode.compile == "default" else mode.compile)
    from torch._inductor import list_mode_options

    options = dict(list_mode_options(mode.compile))
    options["freezing"] = True
    return torch.compile(model, options=options)


def build_backend_runner(model: torch.nn.Module, mode: Mode, x: torch.Tensor, onnx_path):
    """A runtime peer: ORT / OpenVINO set up by hand on ``onnx_path`` (written once per model), or
    :func:`hrnet_zoo.optimize`."""
    size, threads = tuple(x.shape[-2:]), torch.get_num_threads()
    if mode.backend in ("optimize", "ov-int8"):
        options = {}
        if mode.backend == "ov-int8":  # speed only: random calibration gives meaningless keypoints
            from hrnet_zoo.runtime.quantize import MIN_CALIBRATION_INPUTS

            g = torch.Generator().manual_seed(0)
            batches = max(4, -(-MIN_CALIBRATION_INPUTS // len(x)))  # enough crops not to warn about the sample
            options = dict(backend="openvino", precision="int8",
                           calibration=[torch.randn(len(x), *x.shape[1:], generator=g) for _ in range(batches)])
        runner = hrnet_zoo.optimize(model, input_size=size, batch_size=len(x), **options)
        return runner, x
    if not onnx_path.exists():
        export_onnx(model, onnx_path, input_size=size, in_chans=x.shape[1])
    if mode.backend == "ort":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads would slow the next mode
        session = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        return (lambda inp: [torch.from_numpy(o) for o in session.run(None, {"input": inp.numpy()})]), x
    import openvino as ov

    core = ov.Core()
    ov_model = core.read_model(str(onnx_path))
    ov_model.reshape([len(x), *x.shape[1:]])
    hint = "bf16" if mode.backend == "ov-bf16" else "f32"
    compiled = core.compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY",
                                                    "INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()

    def run(inp):
        results = request.infer({0: inp.numpy()})
        return [torch.from_numpy(results[o]) for o in compiled.outputs]

    return run, x


def build_runner(model: torch.nn.Module, mode: Mode, x: torch.Tensor, onnx_path=None):
    """Returns ``(run, x)``: ``run(x)`` does one forward pass of ``model`` in ``mode``."""
    if mode.backend:
        return build_backend_runner(model, mode, x, onnx_path)
    if mode.fused:
        model = hrnet_zoo.runtime.fuse_conv_bn(model, example_input=x[:1].float())
    if mode.channels_last:
        if not mode.fused:  # Module.to works in place: the eager baseline must keep its NCHW weights
            model = copy.deepcopy(model)
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if mode.compile:
        model = compile_model(model, mode)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode.amp)

    def forward(inp):
        with torch.no_grad(), torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None,
                                             cache_enabled=not mode.cuda_graph):
            return model(inp)

    if not mode.cuda_graph:
        return forward, x
    # Warm up on a side stream (cuDNN autotuning, lazy allocations), then capture one forward.
    static_x = x.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            forward(static_x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = forward(static_x)

    def replay(inp):
        if inp is not static_x:
            static_x.copy_(inp)
        graph.replay()
        return static_out

    return replay, static_x


class PeakRSS:
    """CPU peak memory: resident-set growth over the start, sampled every 2 ms in a thread.

    Memory that the allocator kept from earlier modes is reused without growth, so this is a lower
    bound; on CUDA ``torch.cuda.max_memory_allocated`` is exact.
    """

    def __enter__(self):
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    @property
    def megabytes(self) -> float:
        return (self.peak - self.start) / 2**20


def time_iters(run, x, iters: int, device: torch.device) -> list[float]:
    """Latency of ``iters`` calls in ms: CUDA events around each call on GPU, perf_counter on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
        for start, end in events:
            start.record()
            run(x)
            end.record()
        torch.cuda.synchronize(device)
        return [start.elapsed_time(end) for start, end in events]
    return time_calls(run, x, iters)


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# ------------------------------------------------------------------------------------------ benchmark


def benchmark_model(name: str, batch_size: int, modes: list[Mode], device: torch.device, args) -> tuple[list, list]:
    """Rows for every runnable mode of one model at one batch size, and the skipped modes."""
    size = tuple(args.input_size) if args.input_size else default_input_size(name)
    torch.manual_seed(0)
    model = hrnet_zoo.create_model(name).eval()
    try:
        gflop = 2 * count_flops(model, input_size=size)["gflops"]  # fvcore counts a multiply-add once
    except Exception:  # fvcore cannot trace some graphs; efficiency is then left empty
        gflop = None
    model = model.to(device)
    x = torch.randn(batch_size, 3, *size, device=device)
    try:
        with torch.no_grad():
            reference = model(x)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return [], [dict(model=name, mode=m.name, batch_size=batch_size, reason="out of memory") for m in modes]
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = f"{cpu_name()} ({torch.get_num_threads()} threads)"

    prepared, skipped = [], []
    workdir = tempfile.TemporaryDirectory(prefix="forward_bench_")  # the ONNX graph of the runtime peers
    onnx_path = Path(workdir.name) / f"{name}.onnx"
    for mode in modes:
        reason = skip_reason(mode, device)
        if reason:
            skipped.append(dict(model=name, mode=mode.name, batch_size=batch_size, reason=reason))
            continue
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        memory = PeakRSS() if device.type == "cpu" else contextlib.nullcontext()
        try:
            with memory:
                t0 = time.perf_counter()
                run, xm = build_runner(model, mode, x, onnx_path)
                out = run(xm)  # the first call compiles / captures
                first_s = time.perf_counter() - t0
                for _ in range(args.warmup):
                    out = run(xm)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
        except torch.cuda.OutOfMemoryError:
            run = out = None
            torch.cuda.empty_cache()
            skipped.append(dict(model=name, mode=mode.name, batch_size=batch_size, reason="out of memory"))
            continue
        except (ImportError, BackendUnavailableError, UnsupportedPrecisionError) as e:  # an optional backend
            run = out = None
            skipped.append(dict(model=name, mode=mode.name, batch_size=batch_size,
                                reason=f"unavailable: {type(e).__name__}: {e}"))
            continue
        peak_mb = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else memory.megabytes
        err = max_relative_error(out, reference)
        prepared.append(dict(mode=mode, run=run, x=xm, first_s=first_s, peak_mb=peak_mb, err=err, times=[]))
    workdir.cleanup()

    # Repeats interleaved across modes: a load spike on a shared machine hits every mode alike.
    for _ in range(args.repeats):
        for p in prepared:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            p["times"].append(time_iters(p["run"], p["x"], args.iters, device))
            if device.type == "cuda":
                p["peak_mb"] = max(p["peak_mb"], torch.cuda.max_memory_allocated(device) / 2**20)

    eager = next((p for p in prepared if p["mode"].name == "eager"), None)
    rows = []
    for p in prepared:
        mode, samples = p["mode"], [t for rep in p["times"] for t in rep]
        rep_medians = [statistics.median(rep) for rep in p["times"]]
        median_ms = statistics.median(samples)
        dtype = compute_dtype(mode, device, p["run"])
        images_per_s = batch_size / median_ms * 1e3
        if args.peak_gflops:
            peak, peak_source = args.peak_gflops, "--peak-gflops"
        elif device.type == "cuda":
            peak, peak_source = gpu_peak_gflops(device_name, dtype), "datasheet dense peak"
        else:
            peak, peak_source = (cpu_peak_gflops(dtype, torch.get_num_threads()), "measured: best of 2048³ GEMM and 3×3 conv") \
                if dtype in DTYPES else (None, None)
        achieved = gflop * images_per_s if gflop else None
        speedups = ([e / m for e, m in zip((statistics.median(r) for r in eager["times"]), rep_medians)]
                    if eager else [])
        rows.append(dict(
            model=name, mode=mode.name, device=device.type, device_name=device_name, dtype=dtype,
            batch_size=batch_size, input_size=list(size),
            median_ms=round(median_ms, 3), p90_ms=round(percentile(samples, 0.9), 3),
            min_ms=round(min(samples), 3), images_per_s=round(images_per_s, 2),
            noise_median_ms=dict(min=round(min(rep_medians), 3), median=round(statistics.median(rep_medians), 3),
                                 max=round(max(rep_medians), 3)),
            speedup=round(statistics.median(speedups), 3) if speedups else None,
            speedup_range=[round(min(speedups), 3), round(max(speedups), 3)] if speedups else None,
            # Best-of-all-samples ratio: on a loaded machine the minimum is the least disturbed estimate.
            speedup_of_min=round(min(t for r in eager["times"] for t in r) / min(samples), 3) if eager else None,
            gflop_per_image=round(gflop, 3) if gflop else None,
            achieved_gflops=round(achieved, 1) if achieved else None,
            peak_gflops=round(peak, 1) if peak else None,
            peak_source=peak_source if peak else None,
            efficiency=round(achieved / peak, 4) if achieved and peak else None,
            peak_memory_mb=round(p["peak_mb"], 1),
            memory_metric="cuda_max_memory_allocated" if device.type == "cuda" else "sampled_rss_growth",
            max_rel_err=float(f"{p['err']:.3g}"), tolerance=TOLERANCE[dtype],
            agrees=p["err"] <= TOLERANCE[dtype] if TOLERANCE[dtype] is not None else None,
            runner=p["run"].describe() if hasattr(p["run"], "describe") else None,
            first_call_s=round(p["first_s"], 2), iters=args.iters, warmup=args.warmup, repeats=args.repeats,
            threads=torch.get_num_threads(), torch_version=torch.__version__,
            loadavg=[round(v, 2) for v in os.getloadavg()],
        ))
    return rows, skipped


def environment(device: torch.device) -> dict:
    env = dict(torch_version=torch.__version__, python=platform.python_version(), platform=platform.platform(),
               date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               command=" ".join(sys.argv), threads=torch.get_num_threads())
    if device.type == "cpu":
        env.update(cpu=cpu_name(), cpu_native_bf16=cpu_native("bf16"), cpu_native_fp16=cpu_native("fp16"),
                   cpu_flags_all=sorted(cpu_flags()), **{k: v for k, v in hardware.describe_cpu().items() if k != "cpu"},
                   loadavg_start=[round(v, 2) for v in os.getloadavg()],
                   note="a CPU without native bf16/fp16 should skip the modes with bf16/fp16: "
                        "oneDNN emulates them through fp32 and they run slower than fp32")
    else:
        env.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(), cudnn_allow_tf32=torch.backends.cudnn.allow_tf32)
    return env


# ------------------------------------------------------------------------------------------------ CLI


def markdown_table(result: dict) -> str:
    """The rows of a results file as a markdown table, under the CPU's name and flags."""
    env = result.get("environment", {})
    header = []
    if env.get("cpu"):
        header = [f"CPU: {env['cpu']} — flags {', '.join(env.get('cpu_flags') or [])}; torch {env.get('torch_version')}, "
                  f"{env.get('threads')} threads, load average {env.get('loadavg_start')} → {env.get('loadavg_end')}", ""]
    lines = header + ["| model | batch | mode | dtype | median ms | p90 ms | noise (min/med/max of repeat medians) "
             "| images/s | speed-up (median [range]) | speed-up of min | efficiency | peak MB | max rel err |",
             "|---|---:|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        n = r["noise_median_ms"]
        eff = f"{100 * r['efficiency']:.1f}%" if r["efficiency"] is not None else "–"
        speed = f"{r['speedup']:.2f}× [{r['speedup_range'][0]:.2f}–{r['speedup_range'][1]:.2f}]" if r["speedup"] else "–"
        err = f"{r['max_rel_err']:.1e}"
        lines.append(f"| {r['model']} | {r['batch_size']} | {r['mode']} | {r['dtype']} | {r['median_ms']:.1f} "
                     f"| {r['p90_ms']:.1f} | {n['min']:.1f} / {n['median']:.1f} / {n['max']:.1f} "
                     f"| {r['images_per_s']:.2f} | {speed} | {r['speedup_of_min'] or 0:.2f}× | {eff} | {r['peak_memory_mb']:.0f} | {err} |")
    for s in result.get("skipped", []):
        lines.append(f"\nskipped `{s['mode']}` ({s['model']}, batch {s['batch_size']}): {s['reason']}")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", default="hrnet_w32", help="a registered model name (default hrnet_w32)")
    which.add_argument("--models", nargs="+", help="several names, or 'all' for the whole zoo")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda or cpu")
    p.add_argument("--batch-size", type=int, nargs="+", default=[1])
    p.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), help="default per family")
    p.add_argument("--iters", type=int, default=20, help="timed calls per repeat")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls after the first one")
    p.add_argument("--repeats", type=int, default=1, help="timing blocks, interleaved across modes")
    p.add_argument("--modes", nargs="+", default=list(DEFAULT_MODES), help="default: all")
    p.add_argument("--threads", type=int, help="torch.set_num_threads on CPU")
    p.add_argument("--peak-gflops", type=float, help="override the device peak for the efficiency column")
    p.add_argument("--json", help="write results here")
    p.add_argument("--table", metavar="JSON", help="print a results file as a markdown table and exit")
    args = p.parse_args(argv)
    if args.table is None:
        try:
            args.mode_specs = [parse_mode(m) for m in args.modes]
        except ValueError as e:
            p.error(str(e))
        if args.iters < 1 or args.repeats < 1 or args.warmup < 0:
            p.error("--iters and --repeats must be ≥ 1, --warmup ≥ 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.table:
        with open(args.table) as f:
            print(markdown_table(json.load(f)))
        return 0
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            print("forward.py: error: --device cuda but no CUDA device is available", file=sys.stderr)
            return 2
        torch.backends.cudnn.benchmark = True  # as the official training/test scripts set it
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.models or [args.model]
    if names == ["all"]:
        names = hrnet_zoo.list_models()
    unknown = [n for n in names if not hrnet_zoo.is_model(n)]
    if unknown:
        print(f"forward.py: error: unknown model(s) {', '.join(unknown)}", file=sys.stderr)
        return 2

    result = dict(environment=environment(device), rows=[], skipped=[])
    for name in names:
        for batch_size in args.batch_size:
            rows, skipped = benchmark_model(name, batch_size, args.mode_specs, device, args)
            result["rows"] += rows
            result["skipped"] += skipped
            for r in rows:
                print(f"{r['model']:<24} b={r['batch_size']:<4} {r['mode']:<28} {r['median_ms']:>10.2f} ms "
                      f"{r['images_per_s']:>9.2f} img/s  ×{r['speedup'] or 0:.2f}  err {r['max_rel_err']:.1e}",
                      flush=True)
    for s in result["skipped"]:
        print(f"skipped {s['mode']} ({s['model']}): {s['reason']}")
    result["environment"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
