"""The HRNet backbone shared by V1 (pose), V2 (segmentation), V2p (detection) and classification.

Module names mirror the official code (``conv1``, ``layer1``, ``transition1``, ``stage2.0.branches``,
``stage2.0.fuse_layers`` ...), so official state dicts load by prefix alone.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.layers import BasicBlock, Bottleneck, batch_norm, conv1x1, conv3x3, make_layer


@dataclass(frozen=True)
class HRNetConfig:
    """One width of the family.

    ``stage1_blocks`` Bottlenecks of ``stage1_channels`` (output 4×that); stages 2–4 have
    ``modules[k]`` HighResolutionModules with ``blocks`` BasicBlocks per branch and branch widths
    ``C, 2C, 4C, 8C``.
    """

    width: int
    stage1_blocks: int = 4
    stage1_channels: int = 64
    modules: tuple[int, int, int] = (1, 4, 3)
    blocks: int = 4

    def branch_channels(self, num_branches: int) -> list[int]:
        return [self.width * 2**i for i in range(num_branches)]


HRNET_CONFIGS: dict[str, HRNetConfig] = {
    "w18_small_v1": HRNetConfig(16, stage1_blocks=1, stage1_channels=32, modules=(1, 1, 1), blocks=2),
    "w18_small_v2": HRNetConfig(18, stage1_blocks=2, stage1_channels=64, modules=(1, 3, 2), blocks=2),
    "w18": HRNetConfig(18),
    "w30": HRNetConfig(30),
    "w32": HRNetConfig(32),
    "w40": HRNetConfig(40),
    "w44": HRNetConfig(44),
    "w48": HRNetConfig(48),
    "w64": HRNetConfig(64),
}

#: Modes for upsampling lower-resolution branches in the fuse layers.
FUSE_MODES = ("nearest", "bilinear")


def resolve_config(width: str | HRNetConfig) -> HRNetConfig:
    if isinstance(width, HRNetConfig):
        return width
    try:
        return HRNET_CONFIGS[width]
    except KeyError:
        raise InvalidArgumentError(f"unknown HRNet width {width!r}; choose one of {', '.join(HRNET_CONFIGS)}") from None


def resize_to(x: torch.Tensor, size: tuple[int, int] | torch.Size, mode: str, align_corners: bool) -> torch.Tensor:
    """Resize ``x`` to exactly ``size`` (H, W).

    At sizes divisible by 32 this equals the official ``Upsample(scale_factor=2**k)``; at other sizes
    the stride-2 branches are ceil-sized, so a fixed scale factor would overshoot.
    """
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode=mode, align_corners=align_corners)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks followed by an all-to-all fuse.

    Args:
        in_channels: channels of each incoming branch.
        channels: channels of each branch's blocks (BasicBlock, so also the output channels).
        num_blocks: blocks per branch.
        multi_scale_output: fuse into every branch (True) or only into the highest resolution
            (the last module of the official pose network).
        fuse_mode: ``"nearest"`` (pose, classification, detection) or ``"bilinear"`` (segmentation).
        align_corners: for ``fuse_mode="bilinear"``.

    ``forward`` takes and returns a list of N×C_i×H_i×W_i tensors, H_i = ceil(H_0 / 2**i).
    """

    def __init__(self, in_channels: list[int], channels: list[int], num_blocks: int,
                 multi_scale_output: bool = True, fuse_mode: str = "nearest", align_corners: bool = False):
        super().__init__()
        if fuse_mode not in FUSE_MODES:
            raise InvalidArgumentError(f"fuse_mode must be one of {FUSE_MODES}, got {fuse_mode!r}")
        self.num_branches = len(channels)
        self.fuse_mode = fuse_mode
        self.align_corners = align_corners
        self.branches = nn.ModuleList(
            make_layer(BasicBlock, cin, c, num_blocks) for cin, c in zip(in_channels, channels)
        )
        num_outputs = self.num_branches if multi_scale_output else 1
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(self._fuse_path(channels, j, i) for j in range(self.num_branches))
            for i in range(num_outputs)
        ) if self.num_branches > 1 else None
        self.relu = nn.ReLU(inplace=False)

    @staticmethod
    def _fuse_path(channels: list[int], src: int, dst: int) -> nn.Module:
        if src == dst:
            return nn.Identity()
        if src > dst:  # lower resolution: 1×1 conv + BN here, resize in forward
            return nn.Sequential(conv1x1(channels[src], channels[dst]), batch_norm(channels[dst]))
        # higher resolution: a chain of strided 3×3 convs; ReLU on all but the last
        steps = []
        for k in range(dst - src):
            last = k == dst - src - 1
            cout = channels[dst] if last else channels[src]
            step = [conv3x3(channels[src], cout, stride=2), batch_norm(cout)]
            if not last:
                step.append(nn.ReLU(inplace=False))
            steps.append(nn.Sequential(*step))
        return nn.Sequential(*steps)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        if self.fuse_layers is None:
            return x
        fused = []
        for i, paths in enumerate(self.fuse_layers):
            target = x[i].shape[-2:]
            # Same summation order as the official code: branch 0 first, then 1, 2, ...
            y = None
            for j, path in enumerate(paths):
                z = path(x[j])
                if j > i:
                    z = resize_to(z, target, self.fuse_mode, self.align_corners)
                y = z if y is None else y + z
            fused.append(self.relu(y))
        return fused


@contextlib.contextmanager
def _keep_bn_statistics(module: nn.Module):
    """Undo the running-statistics update of the BatchNorms in ``module`` on exit.

    Gradient checkpointing runs a module's forward twice in training mode; without this the
    recomputation would update ``running_mean``/``running_var`` a second time.
    """
    saved = [(b, b.clone()) for m in module.modules() if isinstance(m, _BatchNorm) for b in m.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


def _checkpoint_contexts(module: nn.Module):
    return contextlib.nullcontext(), _keep_bn_statistics(module)


def _transition(pre: list[int], cur: list[int]) -> nn.ModuleList:
    """Adapt the previous stage's branches to the next stage, adding one new strided branch."""
    layers: list[nn.Module] = []
    for i, c in enumerate(cur):
        if i < len(pre):
            layers.append(nn.Sequential(conv3x3(pre[i], c), batch_norm(c), nn.ReLU(inplace=True))
                          if pre[i] != c else nn.Identity())
        else:
            steps = []
            for j in range(i + 1 - len(pre)):
                cout = c if j == i - len(pre) else pre[-1]
                steps.append(nn.Sequential(conv3x3(pre[-1], cout, stride=2), batch_norm(cout), nn.ReLU(inplace=True)))
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class HRNetBackbone(nn.Module):
    """Stem, stage 1 (Bottlenecks) and stages 2–4 of HighResolutionModules.

    Args:
        width: a key of `HRNET_CONFIGS` (``"w32"`` ...) or an `HRNetConfig`.
        in_chans: input channels.
        multi_scale_output: whether the last module of stage 4 fuses into every branch. ``False``
            is the official pose network: ``forward`` then returns only the stride-4 map.
        fuse_mode / align_corners: how lower branches are upsampled in the fuse layers.

    ``forward(x: N×in_chans×H×W)`` returns a list of 4 maps N×(C·2^i)×⌈H/2^(i+2)⌉×⌈W/2^(i+2)⌉
    (one map when ``multi_scale_output=False``).
    """

    def __init__(self, width: str | HRNetConfig = "w32", in_chans: int = 3, multi_scale_output: bool = True,
                 fuse_mode: str = "nearest", align_corners: bool = False):
        super().__init__()
        cfg = resolve_config(width)
        self.conv1 = conv3x3(in_chans, 64, stride=2)
        self.bn1 = batch_norm(64)
        self.conv2 = conv3x3(64, 64, stride=2)
        self.bn2 = batch_norm(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_layer(Bottleneck, 64, cfg.stage1_channels, cfg.stage1_blocks)

        pre = [cfg.stage1_channels * Bottleneck.expansion]
        for stage, num_modules in enumerate(cfg.modules, start=2):
            cur = cfg.branch_channels(stage)
            setattr(self, f"transition{stage - 1}", _transition(pre, cur))
            last_stage = stage == 4
            modules = [
                HighResolutionModule(
                    cfg.branch_channels(stage), cur, cfg.blocks,
                    multi_scale_output=multi_scale_output or not (last_stage and m == num_modules - 1),
                    fuse_mode=fuse_mode, align_corners=align_corners)
                for m in range(num_modules)
            ]
            # Module inputs: the first takes the transition's output widths, which equal ``cur``.
            setattr(self, f"stage{stage}", nn.Sequential(*modules))
            pre = cur
        self.out_channels = pre if multi_scale_output else pre[:1]
        self.grad_checkpointing = False
        self.feature_info = [
            # every branch comes out of stage 4 (its last module's fuse layers)
            dict(num_chs=c, reduction=4 * 2**i, module="stage4") for i, c in enumerate(self.out_channels)
        ]

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """N×in_chans×H×W → stage-1 output N×(4·stage1_channels)×H/4×W/4."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        return self._run(self.layer1, x)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute stage 1 and each HighResolutionModule in backward instead of keeping their
        activations (``torch.utils.checkpoint``, non-reentrant): less memory, same gradients and
        BatchNorm statistics, one more forward per step. Has no effect without autograd."""
        self.grad_checkpointing = enable

    def _run(self, module: nn.Module, x):
        if self.grad_checkpointing and torch.is_grad_enabled():
            return checkpoint(module, x, use_reentrant=False, context_fn=partial(_checkpoint_contexts, module))
        return module(x)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        y = [self.forward_stem(x)]
        for stage in (2, 3, 4):
            transition = getattr(self, f"transition{stage - 1}")
            # Existing branches pass through (or adapt width); new branches grow from the lowest one.
            xs = [t(y[i] if i < len(y) else y[-1]) for i, t in enumerate(transition)]
            for module in getattr(self, f"stage{stage}"):
                xs = self._run(module, xs)
            y = xs
        return y
