"""count_params / count_flops: the published tables, both FLOP conventions, fvcore's quirks.

The published rows are counted with the paper convention on the meta device (shapes only, no
compute), so every row is tested in a fraction of a second; fvcore's trace runs on small inputs.
"""
import subprocess
import sys

import pytest
import torch
from torch import nn

import hrnet_zoo
from hrnet_zoo.complexity import (
    PAPER_OPS, count_flops, count_params, default_input_size, fvcore_analysis, measure_model,
)

# Sun et al., "Deep High-Resolution Representation Learning for Human Pose Estimation", CVPR 2019,
# Table 1 (COCO val2017): params (M) and GFLOPs of the pose networks.
PUBLISHED_HRNET_POSE = [
    ("hrnet_w32", (256, 192), 28.5, 7.10),
    ("hrnet_w48", (256, 192), 63.6, 14.6),
    ("hrnet_w32", (384, 288), 28.5, 16.0),
    ("hrnet_w48", (384, 288), 63.6, 32.9),
]
# Same table, SimpleBaseline rows (Xiao et al., ECCV 2018, as reported by the HRNet paper).
PUBLISHED_SIMPLEBASELINE = [
    ("simplebaseline_r50", (256, 192), 34.0, 8.90),
    ("simplebaseline_r101", (256, 192), 53.0, 12.4),
    ("simplebaseline_r152", (256, 192), 68.6, 15.7),
    ("simplebaseline_r152", (384, 288), 68.6, 35.6),
]
# HRNet-Image-Classification README (ImageNet, 224×224): params (M), GFLOPs.
PUBLISHED_CLS = {
    "w18_small_v1": (13.2, 1.49), "w18_small_v2": (15.6, 2.42), "w18": (21.3, 3.99), "w30": (37.7, 7.55),
    "w32": (41.2, 8.31), "w40": (57.6, 11.8), "w44": (67.1, 13.9), "w48": (77.5, 16.1), "w64": (128.1, 26.9),
}
# Parameter counts of the official model definitions (17 joints / 1000 classes), counted by running them.
OFFICIAL_PARAMS = {
    "hrnet_w32": 28536113, "hrnet_w48": 63595745,
    "simplebaseline_r50": 33999697, "simplebaseline_r101": 52991825, "simplebaseline_r152": 68635473,
    "hrnet_w18_small_v1_cls": 13187464, "hrnet_w18_small_v2_cls": 15597464, "hrnet_w18_cls": 21299004,
    "hrnet_w30_cls": 37712220, "hrnet_w32_cls": 41232680, "hrnet_w40_cls": 57557160,
    "hrnet_w44_cls": 67064984, "hrnet_w48_cls": 77469864, "hrnet_w64_cls": 128059944,
}
# get_model_summary of the official code at these inputs (multiply-adds / 2**30).
OFFICIAL_PAPER_GFLOPS = {
    ("hrnet_w32", (256, 192)): 7.1200, ("hrnet_w32", (384, 288)): 16.0199,
    ("hrnet_w48", (256, 192)): 14.6142, ("hrnet_w48", (384, 288)): 32.8818,
    ("simplebaseline_r50", (256, 192)): 8.9912, ("simplebaseline_r101", (256, 192)): 12.3779,
    ("simplebaseline_r152", (256, 192)): 15.7646, ("simplebaseline_r152", (384, 288)): 35.470,
    **{(f"hrnet_{w}_cls", (224, 224)): g for w, g in zip(
        PUBLISHED_CLS, [1.4915, 2.4174, 3.9894, 7.5491, 8.3085, 11.8203, 13.8610, 16.0914, 26.9109])},
}

HAS_SIMPLEBASELINE = bool(hrnet_zoo.list_models("simplebaseline_r*"))


def _paper_row(name, size):
    return measure_model(name, size, fvcore=False)  # meta device: shapes only


def _check_row(name, size, params_m, gflops, rel):
    row = _paper_row(name, size)
    assert row["params"] == OFFICIAL_PARAMS[name]
    assert row["params"] / 1e6 == pytest.approx(params_m, rel=rel)
    assert row["paper_gflops"] == pytest.approx(gflops, rel=rel)
    # and the official counter's own figure to 4 significant digits
    assert row["paper_gflops"] == pytest.approx(OFFICIAL_PAPER_GFLOPS[(name, size)], rel=2e-4)


@pytest.mark.parametrize("name,size,params_m,gflops", PUBLISHED_HRNET_POSE)
def test_published_hrnet_pose_rows(name, size, params_m, gflops):
    _check_row(name, size, params_m, gflops, rel=0.01)


@pytest.mark.skipif(not HAS_SIMPLEBASELINE, reason="simplebaseline_* models are not registered in this tree")
@pytest.mark.parametrize("name,size,params_m,gflops", PUBLISHED_SIMPLEBASELINE)
def test_published_simplebaseline_rows(name, size, params_m, gflops):
    # The papers round SimpleBaseline's deconvolution head differently; 1.5% covers R50's 8.99 vs 8.9.
    _check_row(name, size, params_m, gflops, rel=0.015)


@pytest.mark.parametrize("width", list(PUBLISHED_CLS))
def test_published_classification_rows(width):
    params_m, gflops = PUBLISHED_CLS[width]
    _check_row(f"hrnet_{width}_cls", (224, 224), params_m, gflops, rel=0.01)


def test_transposed_conv_is_counted_at_output_size_in_paper_convention_and_input_size_by_fvcore():
    deconv = nn.ConvTranspose2d(8, 4, kernel_size=4, stride=2, padding=1, bias=False)
    stats = count_flops(deconv, input_size=(5, 7), in_chans=8)
    out_elements = 4 * 10 * 14
    assert stats["paper_gflops"] * 2**30 == out_elements * 8 * 4 * 4  # each output: in × k × k MACs
    assert stats["gflops"] * 1e9 == 8 * 4 * 4 * 4 * 5 * 7  # fvcore: weight × input positions
    assert stats["paper_gflops"] * 2**30 == 4 * stats["gflops"] * 1e9  # stride² apart


def test_grouped_conv_and_linear_multiply_adds():
    model = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, groups=4), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(16, 10))
    stats = count_flops(model, input_size=(6, 6), in_chans=8)
    conv_macs = 16 * 6 * 6 * (8 // 4) * 9
    assert stats["paper_gflops"] * 2**30 == conv_macs + 16 * 10
    # fvcore: the same multiply-adds plus one flop per pooled input element
    assert stats["gflops"] * 1e9 == conv_macs + 16 * 10 + 16 * 6 * 6


class ConvBNUp(nn.Module):
    """conv → BN → ReLU → 2× nearest upsampling → avg-pool → spatial mean → linear: every op kind."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = nn.functional.interpolate(torch.relu(self.bn(self.conv(x))), scale_factor=2.0, mode="nearest")
        return self.fc(nn.functional.avg_pool2d(x, 2).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def small_hrnet_stats():
    """One fvcore trace of a small HRNet, shared by the tests that read it."""
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=5).train()
    return model, count_flops(model, input_size=(64, 48), depth=2)


def test_fvcore_counts_one_multiply_add_as_one_flop_and_adds_bn_and_upsampling(small_hrnet_stats):
    model, stats = small_hrnet_stats
    ops = stats["gflops_by_operator"]
    assert set(ops) == {"conv", "batch_norm", "upsample_nearest2d"}
    assert sum(ops.values()) == pytest.approx(stats["gflops"], rel=1e-12)
    # fvcore's conv flops are exactly our conv multiply-adds (no transposed convs in HRNet)
    assert ops["conv"] * 1e9 == pytest.approx(stats["paper_gflops"] * 2**30, rel=1e-12)
    assert stats["uncounted_ops"] == {}
    assert model.training, "count_flops must restore training mode"
    assert not any(m._forward_hooks for m in model.modules()), "count_flops must remove its hooks"


def test_every_op_kind_counted_by_hand():
    stats = count_flops(ConvBNUp(), input_size=(6, 4))
    conv, up, pool, mean, fc = 8 * 24 * 27, 8 * 96, 8 * 96, 8 * 24, 8 * 4
    bn = 2 * 8 * 24  # fvcore, eval mode: scale and shift of every element
    assert stats["paper_gflops"] * 2**30 == conv + fc
    ops = {op: round(v * 1e9) for op, v in stats["gflops_by_operator"].items()}
    assert ops == {"conv": conv, "batch_norm": bn, "upsample_nearest2d": up, "avg_pool2d": pool,
                   "mean": mean, "linear": fc}
    assert stats["uncounted_ops"] == {}  # fvcore has no handle for avg_pool2d / mean: we add them


def test_fvcore_subset_clears_handles_because_ignoring_bn_does_not_stop_it():
    model, x = ConvBNUp().eval(), torch.zeros(1, 3, 6, 4)
    # fvcore's documented way to drop BN only adds it to an ignore set; its handle still counts
    naive = fvcore_analysis(model, x).set_op_handle("aten::batch_norm", None)
    assert naive.by_operator().get("batch_norm", 0) > 0
    conv_linear = fvcore_analysis(model, x, ops=PAPER_OPS)
    assert set(conv_linear.by_operator()) == {"conv", "linear"}
    assert conv_linear.total() == count_flops(model, (6, 4), fvcore=False)["paper_gflops"] * 2**30
    with pytest.raises(ValueError, match="no flop handle"):
        fvcore_analysis(model, x, ops=["aten::not_an_op"])


def test_batch_size_scales_both_counts():
    one = count_flops(ConvBNUp(), (6, 4))
    three = count_flops(ConvBNUp(), (6, 4), batch_size=3)
    assert three["gflops"] == pytest.approx(3 * one["gflops"], rel=1e-12)
    assert three["paper_gflops"] == pytest.approx(3 * one["paper_gflops"], rel=1e-12)


def test_by_module_breakdown_adds_up(small_hrnet_stats):
    model, stats = small_hrnet_stats
    rows = stats["by_module"]
    assert list(rows)[:2] == ["backbone", "backbone.conv1"]
    assert all(name.count(".") <= 1 for name in rows)
    top = [rows["backbone"], rows["head"]]
    assert sum(r["params"] for r in top) == stats["params"]
    assert sum(r["paper_gflops"] for r in top) == pytest.approx(stats["paper_gflops"], rel=1e-12)
    assert sum(r["gflops"] for r in top) == pytest.approx(stats["gflops"], rel=1e-12)
    stages = [n for n in rows if n.startswith("backbone.") and not n.startswith("backbone.bn")]
    assert sum(rows[n]["paper_gflops"] for n in stages) == pytest.approx(rows["backbone"]["paper_gflops"])
    assert rows["head"]["paper_gflops"] * 2**30 == 5 * 16 * 12 * 16  # 1×1 conv, 16 channels → 5 joints
    assert list(count_flops(model, (64, 48), fvcore=False, depth=1)["by_module"]) == ["backbone", "head"]


def test_count_params_total_and_trainable():
    model = hrnet_zoo.create_model("hrnet_w18_small_v1")
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    counts = count_params(model)
    assert counts["params"] == sum(p.numel() for p in model.parameters())
    assert counts["trainable"] == sum(p.numel() for p in model.head.parameters())
    assert hrnet_zoo.count_params is count_params and hrnet_zoo.count_flops is count_flops


def test_meta_device_count_equals_cpu_count():
    meta = measure_model("hrnetv2_w18_small_v1", (64, 96), fvcore=False)
    cpu = count_flops(hrnet_zoo.create_model("hrnetv2_w18_small_v1"), (64, 96), fvcore=False)
    assert meta["paper_gflops"] == cpu["paper_gflops"] and meta["params"] == cpu["params"]
    assert meta["gflops"] is None


def test_default_input_size_per_family():
    assert default_input_size("hrnet_w32") == (256, 192)
    assert default_input_size("hrnet_w32_cls") == (224, 224)
    assert default_input_size("hrnetv2_w48") == (512, 1024)
    assert default_input_size("hrnetv2p_w32") == (800, 1216)
    assert default_input_size("simplebaseline_r50") == (256, 192)


def test_no_warning_or_log_line_reaches_the_caller():
    # A fresh interpreter: fvcore's import-time torch.jit.script DeprecationWarning only shows once.
    code = (
        "import warnings, hrnet_zoo\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    s = hrnet_zoo.count_flops(hrnet_zoo.create_model('hrnet_w18_small_v1'), (64, 48))\n"
        "print(len(caught), [str(w.message)[:80] for w in caught])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("0 []"), out.stdout
    assert "Unsupported operator" not in out.stderr and "Warning" not in out.stderr, out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name,size,gflops", [("hrnet_w32", (256, 192), 7.685342208),
                                              ("hrnet_w48", (384, 288), 35.428150656)])
def test_fvcore_totals_of_published_rows(name, size, gflops):
    """fvcore's count of two published rows (a full traced forward each: seconds on an idle machine)."""
    stats = count_flops(hrnet_zoo.create_model(name), size, depth=1)
    # fvcore: conv multiply-adds + 2 flops per BN element + 1 per upsampled element, / 1e9
    assert stats["gflops"] == pytest.approx(gflops, rel=1e-9)
    assert stats["gflops_by_operator"]["conv"] * 1e9 == stats["paper_gflops"] * 2**30
    assert set(stats["gflops_by_operator"]) == {"conv", "batch_norm", "upsample_nearest2d"}


def test_count_flops_gives_every_module_its_own_mode_back():
    model = hrnet_zoo.create_model("hrnet_w18_small_v1").train()
    frozen = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)][:3]
    for bn in frozen:
        bn.eval()  # BatchNorms frozen while the rest trains, as in fine-tuning
    modes = {name: m.training for name, m in model.named_modules()}
    count_flops(model, input_size=(64, 48))
    assert {name: m.training for name, m in model.named_modules()} == modes
