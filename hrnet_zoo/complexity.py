"""Parameters and FLOPs, counted two ways.

* ``gflops``: fvcore's ``FlopCountAnalysis`` total ÷ 1e9 (one multiply-add = one flop).
* ``paper_gflops``: multiply-adds of convolutions and linear layers ÷ 2**30, transposed convolutions
  at their output size — the convention of the official ``get_model_summary``, which reproduces
  the published tables.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

#: Default (H, W) input per family, by model-name prefix (first match wins).
DEFAULT_INPUT_SIZES = (
    ("hrnetv2p_", (800, 1216)),
    ("hrnetv2_", (512, 1024)),
    ("hrnet_", (256, 192)),
)
CLS_INPUT_SIZE = (224, 224)
POSE_INPUT_SIZE = (256, 192)


def default_input_size(name: str) -> tuple[int, int]:
    if name.endswith("_cls"):
        return CLS_INPUT_SIZE
    for prefix, size in DEFAULT_INPUT_SIZES:
        if name.startswith(prefix):
            return size
    return POSE_INPUT_SIZE


def count_params(model: nn.Module) -> dict[str, int]:
    """``{"params": total, "trainable": requires_grad only}``."""
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def _paper_macs(model: nn.Module, x: torch.Tensor) -> int:
    macs = 0

    def conv_hook(module: nn.Conv2d | nn.ConvTranspose2d, _inputs, output: torch.Tensor) -> None:
        nonlocal macs
        k = module.weight[0].numel()  # (C_in / groups) · kH · kW for Conv2d
        if isinstance(module, nn.ConvTranspose2d):
            k = (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]
        macs += output.numel() * k

    def linear_hook(module: nn.Linear, _inputs, output: torch.Tensor) -> None:
        nonlocal macs
        macs += output.numel() * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return macs


def count_flops(model: nn.Module, input_size: tuple[int, int] = (256, 192), batch_size: int = 1,
                in_chans: int = 3) -> dict:
    """Params, fvcore GFLOPs and paper GFLOPs of ``model`` on a ``batch_size×in_chans×H×W`` input."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        was_training = model.training
        model.eval()
        x = torch.zeros(batch_size, in_chans, *input_size)
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            total = analysis.total()
            paper = _paper_macs(model, x)
        model.train(was_training)
    return {
        "params": count_params(model)["params"],
        "gflops": total / 1e9,
        "paper_gflops": paper / 2**30,
    }
