"""Which arithmetic a run trains in: fp32, or autocast in bf16 or fp16 (fp16 with a GradScaler).

``auto`` is fp16 autocast on CUDA (as the package always did) and fp32 elsewhere. ``bf16`` on a CPU
needs native bf16 instructions (AVX512-BF16 or AMX-BF16): without them oneDNN emulates bf16 through
fp32, slower than fp32 itself, so such a request is refused with the reason rather than run slowly.
fp16 trains on CUDA only (a CPU has no fp16 GradScaler path worth taking).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from hrnet_zoo.errors import TrainingError


@dataclass(frozen=True)
class Precision:
    """The resolved choice: ``name`` (fp32, bf16, fp16), the autocast dtype (None: no autocast), and
    whether gradients go through a GradScaler."""

    name: str
    autocast_dtype: torch.dtype | None
    grad_scaler: bool

    @property
    def autocast(self) -> bool:
        return self.autocast_dtype is not None

    def describe(self) -> str:
        if not self.autocast:
            return "fp32"
        return f"{self.name} autocast" + (" + GradScaler" if self.grad_scaler else "")


FP32 = Precision("fp32", None, False)


def cpu_bf16_missing() -> str | None:
    """Why this CPU cannot train in bf16 natively, or None when it can (the hardware probe's flags, and
    oneDNN's own check)."""
    from hrnet_zoo.runtime.hardware import NATIVE_FLAGS, cpu_name, cpu_native

    if not cpu_native("bf16"):
        return (f"this CPU ({cpu_name()}) has no native bf16 instructions ({', '.join(NATIVE_FLAGS['bf16'])}), "
                "so bf16 would be emulated, slower than fp32")
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return f"this torch's oneDNN has no bf16 kernels for this CPU ({cpu_name()})"
    return None


def _mixed(precision: str, amp: bool | None, device_type: str) -> str:
    """``precision`` with the older ``amp`` switch folded in (``--amp``: fp16 on CUDA, bf16 on CPU)."""
    if amp is None:
        return precision
    wanted = ("fp16" if device_type == "cuda" else "bf16") if amp else "fp32"
    if precision not in ("auto", wanted):
        raise TrainingError(f"--{'' if amp else 'no-'}amp and --precision {precision} disagree; give only "
                            "--precision (fp32, bf16, fp16 or auto)")
    return wanted


def resolve_precision(precision: str, device_type: str, *, amp: bool | None = None,
                      cpu_bf16_probe: Callable[[], str | None] = cpu_bf16_missing,
                      cuda_bf16: bool | None = None) -> Precision:
    """The `Precision` a run on ``device_type`` (cpu, cuda, mps) uses for ``precision`` (auto, fp32,
    bf16, fp16); a `TrainingError` with the reason where this machine cannot.

    ``cpu_bf16_probe``: says why the CPU has no native bf16, or None (`cpu_bf16_missing`; a test passes
    its own to take either path on any machine); ``cuda_bf16``: whether the GPU has bf16 (probed when None).
    """
    precision = _mixed(precision, amp, device_type)
    if precision == "auto":
        precision = "fp16" if device_type == "cuda" else "fp32"
    if precision == "fp32":
        return FP32
    if device_type == "cuda":
        if precision == "bf16" and not (torch.cuda.is_bf16_supported() if cuda_bf16 is None else cuda_bf16):
            raise TrainingError("--precision bf16: this GPU has no bf16 arithmetic (before Ampere); use "
                                "--precision fp16 or auto")
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return Precision(precision, dtype, grad_scaler=precision == "fp16")
    if device_type == "cpu" and precision == "bf16":
        reason = cpu_bf16_probe()
        if reason is not None:
            raise TrainingError(f"--precision bf16 is refused: {reason}; use --precision fp32")
        return Precision("bf16", torch.bfloat16, grad_scaler=False)
    raise TrainingError(f"--precision {precision} does not train on {device_type}: fp16 mixed precision trains on "
                        "CUDA, bf16 on CUDA and on CPUs with native bf16; use --precision fp32")
