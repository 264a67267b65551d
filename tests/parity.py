"""Helpers for parity tests against reference outputs of the official implementations.

Fixtures in ``tests/fixtures/*.safetensors`` hold, for one official model: the input ``x``, the
official model's output(s) ``out.*`` and, in the metadata, the official key layout (names and
shapes, in the official ``state_dict()`` order) and the seed. :func:`seeded_state_dict` rebuilds the
exact weights the official model was run with, so the official code is not needed here.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors import safe_open

FIXTURES = Path(__file__).parent / "fixtures"


def seeded_state_dict(layout: list[tuple[str, list[int]]], seed: int) -> dict[str, torch.Tensor]:
    """Deterministic random weights for ``layout`` (key, shape) pairs, BN statistics included.

    Conv/linear weights are scaled by 1/sqrt(fan_in) so deep stacks neither vanish nor explode;
    BN scales and running variances are positive.
    """
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in layout:
        if key.endswith("num_batches_tracked"):
            out[key] = torch.zeros((), dtype=torch.long)
        elif key.endswith("running_var"):
            out[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith("weight") and len(shape) == 1:  # BatchNorm scale
            out[key] = torch.rand(shape, generator=g) + 0.5
        elif len(shape) >= 2:
            fan_in = math.prod(shape[1:])
            out[key] = torch.randn(shape, generator=g) / math.sqrt(fan_in)
        else:  # biases, BN shifts, running means
            out[key] = torch.randn(shape, generator=g) * 0.1
    return out


def load_fixture(name: str) -> tuple[dict[str, torch.Tensor], torch.Tensor, list[torch.Tensor], dict]:
    """(official state dict, input, list of official outputs, metadata) for ``fixtures/<name>.safetensors``."""
    path = FIXTURES / f"{name}.safetensors"
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    layout = json.loads(meta["layout"])
    state_dict = seeded_state_dict(layout, int(meta["seed"]))
    outputs = [tensors[f"out.{i}"] for i in range(int(meta["num_outputs"]))]
    return state_dict, tensors["x"], outputs, meta


def assert_close_relative(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5) -> None:
    """Max abs difference within ``rtol`` of the expected tensor's largest magnitude."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = expected.abs().max().clamp_min(1e-12)
    err = (actual - expected).abs().max() / scale
    assert err <= rtol, f"relative error {err:.3g} > {rtol}"
