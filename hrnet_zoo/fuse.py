"""Fold BatchNorm into convolutions for inference: [`fuse_conv_bn()`][hrnet_zoo.fuse.fuse_conv_bn].

In eval mode a BatchNorm is a per-channel affine map ``y = s·x + t`` with
``s = γ / sqrt(running_var + ε)`` and ``t = β − s·running_mean``. When it reads the output of a
convolution and nothing else reads that output, the affine map folds into the convolution's weight
and bias, and the BatchNorm disappears from the graph.

Which BatchNorm reads which convolution is not guessed from module names: one traced forward pass
records, for every BatchNorm call, whether its input is the very tensor a convolution produced, and
the autograd graph of that pass tells whether anything else consumed it (a conv output that also
feeds a shortcut must keep its original values). This works for ``nn.Sequential(conv, bn, relu)``,
for blocks with ``conv1``/``bn1`` attributes called from ``forward``, and for any other wiring.

BatchNorms that no convolution feeds directly — the pre-activation ``BN → ReLU → conv`` of the
Stacked Hourglass residual, whose BN reads a sum — cannot be folded into the preceding layer, and
folding them into the *following* conv is impossible too (the ReLU sits in between). They become a
`ChannelAffine`: the same affine map with ``s`` and ``t`` precomputed, one fused multiply-add.
Either way no BatchNorm module is left.
"""
from __future__ import annotations

import copy
from collections import defaultdict

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from hrnet_zoo.errors import InvalidArgumentError

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


class ChannelAffine(nn.Module):
    """A frozen eval-mode BatchNorm: ``y = x · scale + shift`` per channel (dim 1).

    ``forward(x: N×C×…)`` → N×C×… .
    """

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", scale)
        self.register_buffer("shift", shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        view = (1, -1) + (1,) * (x.dim() - 2)
        return torch.addcmul(self.shift.view(view), x, self.scale.view(view))

    def extra_repr(self) -> str:
        return f"{self.scale.numel()}"


def bn_scale_shift(bn: _BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """The eval-mode affine map of ``bn`` in float64: (scale C, shift C)."""
    if bn.running_mean is None or bn.running_var is None:
        raise InvalidArgumentError(f"cannot fold {bn}: it has no running statistics (track_running_stats=False)")
    mean, var = bn.running_mean.double(), bn.running_var.double()
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    return scale, shift


@torch.no_grad()
def fold_bn_into_conv(conv: nn.Module, bn: _BatchNorm) -> None:
    """Rewrite ``conv``'s weight and bias in place so that ``conv(x)`` equals ``bn(conv(x))`` in eval mode.

    Handles ``Conv{1,2,3}d`` (weight C_out×C_in/g×k…) and ``ConvTranspose{1,2,3}d``
    (weight C_in×C_out/g×k…, output channel ``g·C_out/g + j`` lives in group ``g``, column ``j``).
    """
    scale, shift = bn_scale_shift(bn)
    weight = conv.weight.double()
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    if isinstance(conv, nn.modules.conv._ConvTransposeNd):
        g = conv.groups
        grouped = weight.reshape(g, weight.shape[0] // g, weight.shape[1], *weight.shape[2:])
        kernel_ones = (1,) * (weight.dim() - 2)
        grouped = grouped * scale.reshape(g, 1, weight.shape[1], *kernel_ones)
        weight = grouped.reshape(weight.shape)
    else:
        weight = weight * scale.reshape(-1, *(1,) * (weight.dim() - 1))
    dtype = conv.weight.dtype
    conv.weight.copy_(weight.to(dtype))
    fused_bias = (bias * scale + shift).to(dtype)
    if conv.bias is None:
        conv.bias = nn.Parameter(fused_bias)
    else:
        conv.bias.copy_(fused_bias)


def _example_input(model: nn.Module) -> torch.Tensor:
    """A 1×C×64×64 input, C = in_channels of the first convolution the model owns."""
    first = next((m for m in model.modules() if isinstance(m, _CONVS)), None)
    if first is None:
        raise InvalidArgumentError("the model has no convolution; pass example_input")
    p = first.weight
    return torch.randn(1, first.in_channels, *(64,) * (p.dim() - 2), dtype=p.dtype, device=p.device)


def _grad_fns(outputs) -> list:
    """The autograd nodes of every tensor in a (nested) model output."""
    if isinstance(outputs, torch.Tensor):
        return [outputs.grad_fn] if outputs.grad_fn is not None else []
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return [fn for o in outputs for fn in _grad_fns(o)]
    return []


def _consumer_counts(outputs) -> dict:
    """How many edges of the autograd graph point at each node (= how many ops consumed its output)."""
    counts: dict = defaultdict(int)
    seen = set()
    stack = _grad_fns(outputs)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for parent, _ in node.next_functions:
            if parent is not None:
                counts[parent] += 1
                stack.append(parent)
    return counts


def find_conv_bn_pairs(model: nn.Module, example_input: torch.Tensor) -> dict[_BatchNorm, nn.Module]:
    """Trace one forward pass; return ``{bn: conv}`` for every BatchNorm that only ever reads the
    output of one convolution, where that output has no other consumer.

    ``model`` must be in eval mode; its parameters need ``requires_grad`` for the autograd check.
    """
    # The autograd node of a conv output identifies it; an in-place op on it (ReLU(inplace=True))
    # would give the tensor a new node, so a BN after such an op is not mistaken for conv → BN.
    conv_of_node: dict = {}                                # grad_fn of a conv output → conv
    bn_sources: dict[_BatchNorm, list] = defaultdict(list)  # bn → [(conv or None, grad_fn of its input)]

    def after_conv(module, _inputs, output):
        conv_of_node[output.grad_fn] = module

    def before_bn(module, inputs):
        node = inputs[0].grad_fn
        bn_sources[module].append((conv_of_node.get(node) if node is not None else None, node))

    handles = [m.register_forward_hook(after_conv) for m in model.modules() if isinstance(m, _CONVS)]
    handles += [m.register_forward_pre_hook(before_bn) for m in model.modules() if isinstance(m, _BatchNorm)]
    try:
        with torch.enable_grad():
            outputs = model(example_input)
    finally:
        for h in handles:
            h.remove()
    consumers = _consumer_counts(outputs)

    pairs = {}
    for bn, calls in bn_sources.items():
        convs = {conv for conv, _ in calls}
        if len(convs) != 1 or None in convs:
            continue  # not fed by a conv, or by different convs on different calls
        # The conv's output must reach nothing but this BatchNorm, or folding would change other readers.
        if all(consumers.get(node, 0) == 1 for _, node in calls):
            pairs[bn] = convs.pop()
    # A conv folded twice (shared by two BatchNorms) would be wrong: keep neither.
    conv_uses = defaultdict(int)
    for conv in pairs.values():
        conv_uses[conv] += 1
    return {bn: conv for bn, conv in pairs.items() if conv_uses[conv] == 1}


def _replace_modules(model: nn.Module, replacements: dict[nn.Module, nn.Module]) -> None:
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if child in replacements:
                setattr(parent, name, replacements[child])


def fuse_conv_bn(model: nn.Module, example_input: torch.Tensor | None = None) -> nn.Module:
    """An eval-mode copy of ``model`` with every BatchNorm folded away; ``model`` is left untouched.

    Each BatchNorm that reads a convolution's output (which nothing else reads) is folded into that
    convolution's weight and bias (``Conv*d`` and ``ConvTranspose*d``) and replaced by
    ``nn.Identity`` — module names and the structure stay as they were. A BatchNorm that no
    convolution feeds directly (pre-activation ``BN → ReLU → conv``) becomes a
    `ChannelAffine` with the precomputed scale and shift. The copy has no ``BatchNorm``
    module left and gives the same outputs within float32 rounding (folding is done in float64).

    Args:
        model: any module with eval-mode BatchNorms (running statistics).
        example_input: one input for the tracing pass; default 1×C×64×64 random, C the first
            convolution's ``in_channels``. Pass one when the model needs another shape.

    The copy is meant for inference only: ``fused.train()`` would not bring BatchNorm back.
    """
    fused = copy.deepcopy(model).eval()
    if not any(isinstance(m, _BatchNorm) for m in fused.modules()):
        return fused
    if example_input is None:
        example_input = _example_input(fused)
    requires_grad = {p: p.requires_grad for p in fused.parameters()}
    for p in fused.parameters():
        p.requires_grad_(True)  # the autograd graph is how the trace sees who consumes a conv output
    try:
        pairs = find_conv_bn_pairs(fused, example_input)
    finally:
        for p, flag in requires_grad.items():
            p.requires_grad_(flag)

    replacements: dict[nn.Module, nn.Module] = {}
    for bn, conv in pairs.items():
        fold_bn_into_conv(conv, bn)
        replacements[bn] = nn.Identity()
    for bn in fused.modules():
        if isinstance(bn, _BatchNorm) and bn not in replacements:
            scale, shift = bn_scale_shift(bn)
            dtype, device = bn.running_mean.dtype, bn.running_mean.device
            replacements[bn] = ChannelAffine(scale.to(device, dtype), shift.to(device, dtype))
    _replace_modules(fused, replacements)
    fused.requires_grad_(False)
    return fused
