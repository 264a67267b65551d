"""Which (backend, precision) pairs can run here, and why a requested one cannot."""
from __future__ import annotations

import importlib.util

import torch

from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.runtime.hardware import cpu_name, cpu_native, cuda_precisions
from hrnet_zoo.runtime.runner import PIP_EXTRAS, BackendUnavailableError, UnsupportedPrecisionError

BACKENDS = ("torch", "onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16", "fp16", "int8")
#: Output agreement with eager fp32 (``max_relative_error``) a candidate must reach, per precision.
TOLERANCE = {"fp32": 1e-4, "bf16": 2e-2, "fp16": 2e-2, "int8": None}  # int8: judged on keypoints, not here
PACKAGES = {"onnxruntime": ("onnxruntime", "onnx"), "openvino": ("openvino", "onnx")}


def installed(backend: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in PACKAGES.get(backend, ()))


def missing_package_message(backend: str) -> str:
    module = next(m for m in PACKAGES[backend] if importlib.util.find_spec(m) is None)
    return f"the {backend} backend needs the {module} package, which is not installed: {PIP_EXTRAS[module]}"


def unsupported_reason(backend: str, precision: str, device: torch.device) -> str | None:
    """Why ``backend`` cannot run ``precision`` well on ``device`` here (None: it can)."""
    if device.type == "cuda":
        if backend == "openvino":
            return "OpenVINO runs on the CPU here, not on CUDA devices"
        if backend == "onnxruntime" and precision != "fp32":
            return "the onnxruntime backend runs the fp32 graph only"
        if precision == "int8":
            return "int8 is offered on the CPU with OpenVINO (NNCF) only"
        if precision not in cuda_precisions(device):
            return f"{torch.cuda.get_device_name(device)} has no fast {precision}"
        return None
    if precision == "int8":
        if backend != "openvino":
            return "int8 is offered with backend='openvino' (NNCF post-training quantisation) only"
        if importlib.util.find_spec("nncf") is None:
            return f"int8 needs the nncf package, which is not installed: {PIP_EXTRAS['nncf']}"
        return None
    if backend == "onnxruntime" and precision != "fp32":
        return "the onnxruntime backend runs the fp32 graph only (its CPU kernels have no fast bf16/fp16 convolutions)"
    if not cpu_native(precision):
        flags = {"bf16": "avx512_bf16 or AMX", "fp16": "avx512_fp16 or AMX-FP16"}[precision]
        return (f"this CPU ({cpu_name()}) has no native {precision} instructions ({flags}): it would be emulated "
                f"through fp32, slower than fp32")
    return None


def candidates(backend: str, precision: str, device: torch.device, calibration) -> list[tuple[str, str]]:
    """The (backend, precision) pairs ``auto`` measures for this request, fastest first in expectation.

    An explicit backend that is not installed, or an explicit pair that cannot run here, raises.
    """
    if backend != "auto" and backend not in BACKENDS:
        raise InvalidArgumentError(f"unknown backend {backend!r}: choose auto, {', '.join(BACKENDS)}")
    if precision != "auto" and precision not in PRECISIONS:
        raise InvalidArgumentError(f"unknown precision {precision!r}: choose auto, {', '.join(PRECISIONS)}")
    if backend != "auto" and not installed(backend):
        raise BackendUnavailableError(missing_package_message(backend))
    backends = [backend] if backend != "auto" else [b for b in BACKENDS if installed(b)]
    precisions = [precision] if precision != "auto" else \
        [p for p in PRECISIONS if p != "int8" or calibration is not None]
    pairs = [(b, p) for b in backends for p in precisions if unsupported_reason(b, p, device) is None]
    if not pairs:
        reason = unsupported_reason(backends[0], precisions[0], device)
        fallback = [p for p in PRECISIONS if unsupported_reason(backends[0], p, device) is None
                    and (p != "int8" or calibration is not None)] if backend != "auto" else \
            sorted({p for b in BACKENDS if installed(b) for p in PRECISIONS[:3] if unsupported_reason(b, p, device) is None})
        raise UnsupportedPrecisionError(
            f"precision={precision!r} on backend={backend!r}: {reason}; precision='auto' would choose the fastest "
            f"of {', '.join(fallback) or 'fp32'}")
    return pairs
