"""What the machine can compute natively: CPU name and flags (AMX, AVX-512 bf16/fp16, VNNI), CUDA.

Without native bf16/fp16 instructions oneDNN and OpenVINO emulate those types through fp32, which is
slower than fp32 itself, so `hrnet_zoo.runtime` offers them only where the flags say so.
"""
from __future__ import annotations

import functools
import hashlib
import platform

import torch

#: Flags that give native low-precision arithmetic, per precision (x86 names, then Arm's).
NATIVE_FLAGS = {
    "bf16": ("amx_bf16", "avx512_bf16", "bf16"),
    "fp16": ("amx_fp16", "avx512_fp16", "fphp"),
    "int8": ("amx_int8", "avx512_vnni", "avx_vnni", "asimddp"),
}
#: Flags worth recording with a benchmark (the rest of /proc/cpuinfo's list is noise for inference).
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
                  "amx_tile", "amx_bf16", "amx_int8", "amx_fp16", "bf16", "fphp", "asimddp", "sve")


@functools.lru_cache(maxsize=None)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.lru_cache(maxsize=None)
def cpu_name() -> str:
    """``model name`` from /proc/cpuinfo, else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_native(precision: str) -> bool:
    """Whether the CPU computes ``precision`` (``fp32``, ``bf16``, ``fp16``, ``int8``) natively."""
    if precision == "fp32":
        return True
    return bool(cpu_flags() & set(NATIVE_FLAGS[precision]))


def cuda_precisions(device) -> tuple[str, ...]:
    """What a CUDA device runs fast: fp32 and fp16 always, bf16 from Ampere on."""
    if not torch.cuda.is_available():
        return ()
    bf16 = torch.cuda.is_bf16_supported()
    return ("fp32", "fp16", "bf16") if bf16 else ("fp32", "fp16")


def describe_cpu() -> dict:
    """Name, the inference-relevant flags and torch's vectorisation level, for benchmark records."""
    flags = cpu_flags()
    return dict(cpu=cpu_name(), cpu_flags=sorted(f for f in RELEVANT_FLAGS if f in flags),
                torch_cpu_capability=torch.backends.cpu.get_cpu_capability(),
                native=[p for p in ("bf16", "fp16", "int8") if cpu_native(p)])


def machine_key() -> str:
    """A short id of this machine's compute: CPU name, a hash of all its flags, CUDA devices, versions."""
    parts = [cpu_name(), hashlib.sha1(" ".join(sorted(cpu_flags())).encode()).hexdigest()[:12],
             f"torch {torch.__version__}"]
    if torch.cuda.is_available():
        parts += [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    for module in ("onnxruntime", "openvino"):
        parts.append(f"{module} {_version(module)}")
    return " | ".join(parts)


def _version(module: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return "absent"
