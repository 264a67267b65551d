"""Parameters and FLOPs, counted two ways.

* ``gflops``: fvcore's `FlopCountAnalysis` total ÷ 1e9. fvcore counts one
  multiply-add as one flop and also counts BatchNorm, upsampling and pooling; it counts a transposed
  convolution at its *input* size.
* ``paper_gflops``: multiply-adds of convolutions and linear layers ÷ 2**30, every convolution
  (transposed ones included) at its *output* size — the convention of the official
  ``get_model_summary`` (deep-high-resolution-net.pytorch, HRNet-Image-Classification), which
  reproduces the published tables of HRNet and SimpleBaseline.

Both are counted in one traced forward pass: the paper count comes from forward hooks that fire
while fvcore traces the model.

>>> import hrnet_zoo
>>> stats = count_flops(hrnet_zoo.hrnet_w32(), input_size=(256, 192))
>>> stats["params"], round(stats["paper_gflops"], 2)     # the paper: 28.5M, 7.1
(28536113, 7.12)
"""
from __future__ import annotations

import contextlib
import math
import warnings
from collections import Counter
from typing import Iterable

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd

from hrnet_zoo._registry import list_families
from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.pretrained_cfg import DEFAULT_INPUT_SIZE

#: The input of a module without a ``pretrained_cfg`` (a top-down pose crop).
FALLBACK_INPUT_SIZE = DEFAULT_INPUT_SIZE

#: fvcore ops whose cost both conventions leave out, for every model: elementwise arithmetic (residual
#: additions, scaling). They are ignored by name so that fvcore's list of unsupported ops
#: (``count_flops(...)["uncounted_ops"]``) holds only ops nobody has looked at. A family adds the
#: ops of its own layers (max-pooling …) with ``register_family(zero_cost_ops=...)``.
ZERO_COST_OPS = ("aten::add", "aten::add_", "aten::sigmoid", "aten::softmax", "aten::mul", "aten::mul_", "aten::sub")

#: Averaging ops fvcore has no handle for, counted like its ``adaptive_avg_pool2d``: one flop per input
#: element. None for every model; families declare theirs (``register_family(averaging_ops=...)``:
#: HRNet's classification head's global mean, HRFPN's pyramid pooling).
EXTRA_OPS: tuple[str, ...] = ()


def zero_cost_ops() -> tuple[str, ...]:
    """`ZERO_COST_OPS` and every registered family's ``zero_cost_ops``."""
    return tuple(dict.fromkeys(ZERO_COST_OPS + tuple(op for f in list_families() for op in f.zero_cost_ops)))


def averaging_ops() -> tuple[str, ...]:
    """`EXTRA_OPS` and every registered family's ``averaging_ops``."""
    return tuple(dict.fromkeys(EXTRA_OPS + tuple(op for f in list_families() for op in f.averaging_ops)))

#: fvcore ops that make up the paper convention (convolutions and linear layers).
PAPER_OPS = ("aten::_convolution", "aten::linear", "aten::addmm", "aten::matmul", "aten::mm")


def default_input_size(name: str) -> tuple[int, int]:
    """The (H, W) a registered model is measured at: its ``pretrained_cfg.input_size`` (the model is
    built on the meta device, so nothing is allocated)."""
    from hrnet_zoo._factory import create_model

    with torch.device("meta"):
        return create_model(name).pretrained_cfg.input_size


def count_params(model: nn.Module) -> dict[str, int]:
    """``{"params": total, "trainable": requires_grad only}`` (shared parameters counted once)."""
    params = list(model.parameters())
    return {
        "params": sum(p.numel() for p in params),
        "trainable": sum(p.numel() for p in params if p.requires_grad),
    }


def _import_fvcore():
    """fvcore's ``FlopCountAnalysis`` and ``elementwise_flop_counter``, imported without its ``torch.jit.script`` DeprecationWarning.

    fvcore scripts a few helpers at import time; recent torch deprecates ``torch.jit.script``. The
    warning concerns fvcore's code, not the caller's, so only that warning is filtered, only here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=DeprecationWarning)
        from fvcore.nn import FlopCountAnalysis
        from fvcore.nn.jit_handles import elementwise_flop_counter
    return FlopCountAnalysis, elementwise_flop_counter


def fvcore_analysis(model: nn.Module, inputs: torch.Tensor | tuple, ops: Iterable[str] | None = None):
    """A quiet ``FlopCountAnalysis`` of ``model(inputs)``.

    Args:
        ops: count only these fvcore op names (e.g. `PAPER_OPS`); ``None`` keeps fvcore's
            default handles (convolutions, linear, BatchNorm, upsampling, adaptive pooling ...).

    fvcore's ``set_op_handle(op, None)`` only adds ``op`` to an ignore set: its default handle stays
    and BatchNorm is still counted. To count a subset we clear every handle and register the wanted
    ones. `averaging_ops()` get fvcore's pooling rule. The ops of `zero_cost_ops()` are ignored explicitly instead of silencing fvcore's
    unsupported-op log wholesale; whatever else fvcore cannot count is returned by
    ``analysis.unsupported_ops()`` (``count_flops`` reports it as ``uncounted_ops``).
    """
    flop_count_analysis, elementwise_flop_counter = _import_fvcore()
    analysis = flop_count_analysis(model, inputs)
    # fvcore keeps its default table on the instance only; we add the averaging ops to it.
    handles = {**analysis._op_handles, **{op: elementwise_flop_counter(1, 0) for op in averaging_ops()}}
    if ops is not None:
        unknown = sorted(set(ops) - set(handles))
        if unknown:
            raise InvalidArgumentError(f"no flop handle for {unknown}; known: {sorted(handles)}")
        handles = {op: handles[op] for op in ops}
    analysis.clear_op_handles().set_op_handle(**handles)
    analysis.set_op_handle(**{op: None for op in zero_cost_ops()})
    # Both reports are logged through `logging`; we return them instead (see count_flops).
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis


def _numel(x: torch.Tensor) -> int:
    # While fvcore traces, sizes come back as traced 0-dim tensors; the count wants plain ints.
    return math.prod(int(d) for d in x.shape)


def _conv_linear_macs_hooks(model: nn.Module, macs: Counter) -> list:
    """Forward hooks adding each conv/linear layer's multiply-adds to ``macs[module_name]``.

    A convolution's output element costs ``in_channels / groups × kernel area`` multiply-adds; for
    transposed convolutions this equals the official ``prod(weight.shape) × output H×W`` rule.
    """
    def conv_hook(name: str):
        def hook(module: _ConvNd, _inputs, output: torch.Tensor) -> None:
            per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
            macs[name] += _numel(output) * per_output
        return hook

    def linear_hook(name: str):
        def hook(module: nn.Linear, _inputs, output: torch.Tensor) -> None:
            macs[name] += _numel(output) * module.in_features
        return hook

    handles = []
    for name, module in model.named_modules():
        if isinstance(module, _ConvNd):
            handles.append(module.register_forward_hook(conv_hook(name)))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook(name)))
    return handles


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    """Every module in eval mode for the block, then each back in its own mode (``model.train(flag)``
    would set one flag for all, undoing e.g. BatchNorms a user froze in a model being trained)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def _dummy_input(model: nn.Module, input_size: tuple[int, int], batch_size: int, in_chans: int) -> torch.Tensor:
    param = next(model.parameters(), None)
    device = param.device if param is not None else None
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    return torch.zeros(batch_size, in_chans, *input_size, device=device, dtype=dtype)


def _ancestors(name: str) -> list[str]:
    """``"a.b.c"`` → ``["", "a", "a.b", "a.b.c"]`` (``""`` is the whole model, as in fvcore)."""
    parts = name.split(".") if name else []
    return [""] + [".".join(parts[: i + 1]) for i in range(len(parts))]


def count_flops(model: nn.Module, input_size: tuple[int, int] | None = None, batch_size: int = 1,
                in_chans: int = 3, fvcore: bool = True, depth: int = 2) -> dict:
    """Params, fvcore GFLOPs and paper GFLOPs of ``model`` on a ``batch_size×in_chans×H×W`` input.

    Args:
        input_size: ``(H, W)``; by default the model's ``pretrained_cfg.input_size``.
        fvcore: trace with fvcore for ``gflops``; ``False`` runs one plain forward pass and gives
            ``gflops=None`` (the paper count alone is much cheaper for big inputs).
        depth: module-name depth of the ``by_module`` breakdown (``2`` → ``backbone.stage2``).

    Returns:
        ``params``, ``trainable_params``, ``input_size`` (H, W), ``batch_size``,
        ``gflops`` (fvcore total ÷ 1e9), ``paper_gflops`` (conv + linear multiply-adds ÷ 2**30),
        ``gflops_by_operator`` (fvcore's split: conv, batch_norm, upsample_bilinear2d ...),
        ``uncounted_ops`` (ops fvcore met but could not count, with how often; ``{}`` for our models)
        and ``by_module``: ``{module name: {"params", "gflops", "paper_gflops"}}`` for every module
        down to ``depth``, in definition order. Both FLOP counts scale with ``batch_size``.
    """
    if input_size is None:
        cfg = getattr(model, "pretrained_cfg", None)
        input_size = cfg.input_size if cfg is not None else FALLBACK_INPUT_SIZE
    x = _dummy_input(model, tuple(input_size), batch_size, in_chans)
    macs, analysis = _trace_counts(model, x, fvcore)
    paper_by_module: Counter = Counter()
    for name, value in macs.items():
        for ancestor in _ancestors(name):
            paper_by_module[ancestor] += value
    params = count_params(model)
    return {
        "params": params["params"],
        "trainable_params": params["trainable"],
        "input_size": tuple(input_size),
        "batch_size": batch_size,
        "gflops": analysis.total() / 1e9 if analysis is not None else None,
        "paper_gflops": paper_by_module[""] / 2**30,
        "gflops_by_operator": ({op: n / 1e9 for op, n in analysis.by_operator().items()}
                               if analysis is not None else {}),
        "uncounted_ops": dict(analysis.unsupported_ops()) if analysis is not None else {},
        "by_module": _by_module(model, paper_by_module, analysis, depth),
    }


def _trace_counts(model: nn.Module, x: torch.Tensor, fvcore: bool):
    """One forward of ``model`` on ``x`` (an fvcore trace, or a plain pass) → (conv/linear multiply-adds
    per module name, the fvcore analysis or None)."""
    macs: Counter = Counter()
    handles = _conv_linear_macs_hooks(model, macs)
    analysis = None
    try:
        with _eval_mode(model), torch.no_grad(), warnings.catch_warnings():
            # Tracing warns when shapes become Python values (fuse-layer resizing); the trace is only
            # counted, never replayed on other shapes, so those warnings carry no meaning here.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            if fvcore:
                analysis = fvcore_analysis(model, x)
                analysis.total()  # traces once; the hooks above fire during the trace
            else:
                model(x)
    finally:
        for handle in handles:
            handle.remove()
    return macs, analysis


def _by_module(model: nn.Module, paper_by_module: Counter, analysis, depth: int) -> dict:
    """``{module name: {"params", "gflops", "paper_gflops"}}`` for the modules down to ``depth``."""
    fvcore_by_module = analysis.by_module() if analysis is not None else {}
    by_module = {}
    for name, module in model.named_modules():
        if not name or name.count(".") >= depth:
            continue
        by_module[name] = {
            "params": sum(p.numel() for p in module.parameters()),
            "gflops": fvcore_by_module.get(name, 0) / 1e9 if analysis is not None else None,
            "paper_gflops": paper_by_module[name] / 2**30,
        }
    return by_module


def measure_model(name: str, input_size: tuple[int, int] | None = None, batch_size: int = 1,
                  fvcore: bool = True, depth: int = 2, **model_kwargs) -> dict:
    """[`count_flops()`][hrnet_zoo.complexity.count_flops] of the registered model ``name`` (plus a ``"model"`` key), at its family's
    [`default_input_size()`][hrnet_zoo.complexity.default_input_size] unless ``input_size`` is given.

    With ``fvcore=False`` the model is built on the meta device: the paper count needs shapes only,
    so nothing is initialised or computed and even 800×1216 inputs take a fraction of a second.
    A model whose code cannot run on meta is built on the CPU instead.
    """
    from hrnet_zoo._factory import create_model

    size = tuple(input_size or default_input_size(name))
    if not fvcore:
        try:
            with torch.device("meta"):
                model = create_model(name, **model_kwargs)
            return {"model": name, **count_flops(model, size, batch_size, fvcore=False, depth=depth)}
        except (RuntimeError, NotImplementedError, TypeError):
            pass  # e.g. a tensor made on the CPU inside forward: count on the CPU below
    model = create_model(name, **model_kwargs)
    return {"model": name, **count_flops(model, size, batch_size, fvcore=fvcore, depth=depth)}
