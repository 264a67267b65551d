"""fuse_conv_bn: no BatchNorm left, outputs equal to eager within 1e-5 relative."""
import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import hrnet_zoo
from hrnet_zoo.runtime import fuse_conv_bn
from hrnet_zoo.fuse import ChannelAffine

# (name, kwargs) at the smallest width: one per HRNet family.
HRNET_CASES = [
    ("hrnet_w18_small_v1", dict(num_keypoints=5)),
    ("hrnetv2_w18_small_v1", dict(num_classes=4)),
    ("hrnetv2p_w18_small_v1", {}),
    ("hrnet_w18_small_v1_cls", dict(num_classes=10)),
]
# The other families, named: a family that stops registering fails here instead of dropping out.
OTHER_CASES = [
    (name, dict(num_stacks=2, num_features=64) if name.startswith("hourglass") else {})
    for name in ("simplebaseline_r50", "simplebaseline_r50_msdh", "hourglass")  # fixed: a lost family fails
]


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics and affine parameters, so folding has something to fold."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in model.modules():
            if isinstance(bn, _BatchNorm):
                c = bn.num_features
                bn.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
                bn.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                bn.weight.copy_(torch.rand(c, generator=g) + 0.5)
                bn.bias.copy_(torch.randn(c, generator=g) * 0.2)
    return model


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def max_rel_err(a, b) -> float:
    return max(((x - y).abs().max() / y.abs().max()).item() for x, y in zip(as_list(a), as_list(b)))


def count_bn(model: nn.Module) -> int:
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


def check_fused(model: nn.Module, x: torch.Tensor, expect_affine: int | None = 0) -> nn.Module:
    """Fold, then check: no BN left, ``expect_affine`` BNs kept as ChannelAffine (None: any), same outputs."""
    model = randomize_bn(model).eval()
    fused = fuse_conv_bn(model)
    assert count_bn(fused) == 0
    if expect_affine is not None:
        assert sum(isinstance(m, ChannelAffine) for m in fused.modules()) == expect_affine
    assert count_bn(model) > 0, "the original model must be left untouched"
    with torch.no_grad():
        ref, out = model(x), fused(x)
    assert max_rel_err(out, ref) < 1e-5
    return fused


@pytest.mark.parametrize("name,kwargs", HRNET_CASES, ids=[c[0] for c in HRNET_CASES])
def test_hrnet_families_fold_every_bn(name, kwargs):
    model = hrnet_zoo.create_model(name, **kwargs)
    fused = check_fused(model, torch.randn(2, 3, 96, 72))
    assert not fused.training
    assert not any(p.requires_grad for p in fused.parameters())


@pytest.mark.parametrize("name,kwargs", OTHER_CASES, ids=[c[0] for c in OTHER_CASES])
def test_other_families_have_no_bn_left(name, kwargs):
    # Hourglass keeps its pre-activation BNs (BN → ReLU → conv) as ChannelAffine; see hrnet_zoo.fuse.
    check_fused(hrnet_zoo.create_model(name, **kwargs), torch.randn(1, 3, 64, 64), expect_affine=None)


def test_training_model_is_not_changed():
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fuse_conv_bn(model)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class PreActivation(nn.Module):
    """BN → ReLU → conv (Stacked Hourglass residual): the BN has no conv before it."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn2(self.conv(self.relu(self.bn(x)))) + x


class SharedConvOutput(nn.Module):
    """The conv output feeds the BN and a shortcut: folding would change the shortcut."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


class InplaceBetween(nn.Module):
    """conv → in-place ReLU → BN: the BN reads the same tensor object, but not the conv's values."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.bn = nn.BatchNorm2d(6)

    def forward(self, x):
        return self.bn(self.relu(self.conv(x)))


@pytest.mark.parametrize("module,expect_affine", [
    (PreActivation(), 1), (SharedConvOutput(), 1), (InplaceBetween(), 1),
])
def test_bn_without_a_foldable_conv_becomes_channel_affine(module, expect_affine):
    x = torch.randn(2, module.conv.in_channels, 9, 11)
    check_fused(module, x, expect_affine=expect_affine)


@pytest.mark.parametrize("groups", [1, 2])
def test_transposed_conv_is_folded(groups):
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.ConvTranspose2d(8, 6, 4, stride=2, padding=1, groups=groups, bias=False), nn.BatchNorm2d(6),
    )
    fused = check_fused(model, torch.randn(2, 3, 7, 5))
    assert isinstance(fused[1], nn.Identity) and isinstance(fused[4], nn.Identity)
    assert fused[3].bias is not None


def test_bn_without_running_stats_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    with pytest.raises(ValueError, match="running statistics"):
        fuse_conv_bn(model)
