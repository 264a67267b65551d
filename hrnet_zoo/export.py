"""ONNX export with a dynamic batch axis, and a parity check against onnxruntime.

The graph is produced by torch's TorchScript-based exporter (``dynamo=False``): it needs no extra
package and handles every model of the zoo. BatchNorms are folded first ([`fuse_conv_bn()`][hrnet_zoo.fuse.fuse_conv_bn]), so
the ONNX graph holds convolutions, resizes and element-wise ops only. Opset 17 has ``Resize`` with
explicit output sizes in both ``nearest`` and ``linear`` modes (the HRNet fuse layers resize to the
exact target size, which also makes inputs not divisible by 32 export correctly).
"""
from __future__ import annotations

import copy
import os
import warnings

import torch
from torch import nn

from hrnet_zoo.errors import AccuracyCheckError, InvalidArgumentError
from hrnet_zoo.fuse import fuse_conv_bn
from hrnet_zoo.pretrained_cfg import PretrainedCfg

DEFAULT_OPSET = 17
#: Opsets the exporter is known to handle for every model here (``Resize`` needs ≥ 11).
SUPPORTED_OPSETS = range(11, 21)
INPUT_NAME = "input"


def check_opset(opset: int) -> None:
    """Raise ValueError for an opset outside `SUPPORTED_OPSETS`."""
    if opset not in SUPPORTED_OPSETS:
        raise InvalidArgumentError(f"opset {opset} is not supported: "
                                   f"choose {SUPPORTED_OPSETS.start}–{SUPPORTED_OPSETS.stop - 1}")


def flatten_outputs(outputs) -> list[torch.Tensor]:
    """A model output (tensor, or nested list/tuple of tensors such as HRNetV2p's pyramid) as a flat list."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [t for o in outputs for t in flatten_outputs(o)]


def max_relative_error(outputs, references) -> float:
    """Largest ``max|out − ref| / max|ref|`` over matching tensors of two (nested) model outputs."""
    return max(float((o.float() - r).abs().max() / r.abs().max().clamp_min(1e-12))
               for o, r in zip(flatten_outputs(outputs), flatten_outputs(references)))


def output_names(model: nn.Module, example: torch.Tensor) -> list[str]:
    """``["output"]`` for a single tensor, ``["output_0", "output_1", …]`` for a list (HRNetV2p)."""
    return list(_output_ranks(model, example))


def _output_ranks(model: nn.Module, example: torch.Tensor) -> dict[str, int]:
    with torch.no_grad():
        outputs = flatten_outputs(model(example))
    names = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
    return {name: o.dim() for name, o in zip(names, outputs)}


def export_onnx(model: nn.Module, path: str | os.PathLike, input_size: tuple[int, int] | None = None,
                in_chans: int = 3, opset: int = DEFAULT_OPSET, fuse: bool = True,
                dynamic_hw: bool = False) -> list[str]:
    """Write ``model`` as ONNX to ``path``; returns the output names.

    The input ``"input"`` is N×in_chans×H×W with N dynamic (axis name ``"batch"``) and H×W fixed to
    ``input_size`` ``(H, W)``, by default the model's ``pretrained_cfg.input_size`` — or dynamic too
    with ``dynamic_hw`` (axes ``"height"``, ``"width"``; the graph then computes every resize target
    from the input's shape); every output has its batch axis (and with ``dynamic_hw`` its spatial
    axes) dynamic too. The model is exported in eval mode (on a copy: the caller's model is not
    changed), with BatchNorm folded when ``fuse`` is true.
    """
    check_opset(opset)
    cfg = getattr(model, "pretrained_cfg", None) or PretrainedCfg()
    input_size = cfg.input_size if input_size is None else cfg.check_input_size(input_size)
    example = torch.randn(1, in_chans, *input_size)
    model = fuse_conv_bn(model) if fuse else copy.deepcopy(model).eval()
    ranks = _output_ranks(model, example)
    names = list(ranks)
    spatial = {2: "height", 3: "width"} if dynamic_hw else {}
    dynamic_axes = {INPUT_NAME: {0: "batch", **spatial}}
    for name, rank in ranks.items():
        dynamic_axes[name] = {0: "batch", **({2: f"{name}_height", 3: f"{name}_width"} if dynamic_hw and rank == 4 else {})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        try:
            torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=names, dynamic_axes=dynamic_axes,
                              do_constant_folding=True)
        except torch.onnx.errors.SymbolicValueError as e:
            if not dynamic_hw:
                raise
            # e.g. HRNetV2p's pooling, whose kernel follows the feature size
            raise _not_dynamic(model) from e
    if dynamic_hw:
        _check_dynamic_hw(path, model, in_chans, input_size)
    return names


def _not_dynamic(model: nn.Module) -> InvalidArgumentError:
    return InvalidArgumentError(f"{type(model).__name__} cannot be exported with dynamic H and W (a layer's "
                                "parameters depend on the input size); export at a fixed input_size")


def _check_dynamic_hw(path, model: nn.Module, in_chans: int, input_size) -> None:
    """Run the graph at another size than it was traced at: the tracer may have frozen a size-dependent
    value (a pooling kernel, say) into a constant, which would give wrong outputs there. The file is
    removed when it disagrees. Needs onnxruntime; without it the graph is left unchecked."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return
    x = torch.randn(1, in_chans, input_size[0] + 32, input_size[1] + 32)
    try:
        error = onnx_max_rel_error(path, model, x)
    except Exception:  # onnxruntime refuses the graph at that size
        error = float("inf")
    if not error < 1e-4:
        os.remove(path)
        raise _not_dynamic(model)


def as_eval_model(model: nn.Module) -> nn.Module:
    """``model`` itself when every module is in eval mode, else an eval-mode copy: the caller's model
    is never switched, and a module left in train mode would update its BatchNorm statistics."""
    return copy.deepcopy(model).eval() if any(m.training for m in model.modules()) else model


def onnx_max_rel_error(path: str | os.PathLike, model: nn.Module, x: torch.Tensor) -> float:
    """Run ``path`` with onnxruntime (CPU) on ``x`` and compare with ``model(x)`` in eval mode.

    Returns the largest ``max|onnx − torch| / max|torch|`` over the outputs.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: x.numpy()})
    reference = as_eval_model(model)
    with torch.no_grad():
        ref = flatten_outputs(reference(x))
    if len(got) != len(ref):
        raise AccuracyCheckError(f"ONNX graph has {len(got)} outputs, the model {len(ref)}")
    return max_relative_error([torch.from_numpy(g) for g in got], ref)
