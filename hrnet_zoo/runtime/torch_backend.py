"""The torch backend: BatchNorm folded, channels_last, weights cast to bf16/fp16, optionally
``torch.compile`` with Inductor freezing (fixed shape)."""
from __future__ import annotations

import torch

from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.export import flatten_outputs
from hrnet_zoo.fuse import fuse_conv_bn

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def build_torch(model: torch.nn.Module, precision: str, device: torch.device, example: torch.Tensor,
                compile: bool = False, batch_size: int | None = None):
    """``run(x) → [float32 outputs]`` on a fused, channels_last copy of ``model`` in ``precision``.

    The weights themselves are cast (not autocast), so every convolution runs in ``precision``;
    the caller's model is left as it was (``fuse_conv_bn`` works on a copy).
    """
    dtype = DTYPES[precision]
    fused = fuse_conv_bn(model, example_input=example[:1].to(next(model.parameters()).device))
    fused = fused.to(device=device, dtype=dtype).to(memory_format=torch.channels_last)
    net = fused
    if compile:
        if batch_size is None:
            raise InvalidArgumentError("compile=True builds for one shape: pass batch_size (and input_size)")
        from torch._inductor import list_mode_options

        options = dict(list_mode_options(None), freezing=True)
        net = torch.compile(fused, dynamic=False, options=options)

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        with torch.no_grad():
            y = net(x.to(dtype).contiguous(memory_format=torch.channels_last))
        return [t.float() for t in flatten_outputs(y)]

    return run
