"""HRNet family: registry, exact parameter counts, shapes at odd sizes, features_only, loading errors."""
import json
from pathlib import Path

import pytest
import torch

import hrnet_zoo
from hrnet_zoo import UnknownModelError

PUBLISHED = json.loads((Path(__file__).parents[2] / "shared" / "reference" / "published.json").read_text()) \
    if (Path(__file__).parents[2] / "shared" / "reference" / "published.json").is_file() else None
WIDTHS = ["w18_small_v1", "w18_small_v2", "w18", "w30", "w32", "w40", "w44", "w48", "w64"]
CLS_PARAMS = [13187464, 15597464, 21299004, 37712220, 41232680, 57557160, 67064984, 77469864, 128059944]


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_registry_lists_every_width_of_every_family():
    for family in ("hrnet_{}", "hrnetv2_{}", "hrnetv2p_{}", "hrnet_{}_cls"):
        for w in WIDTHS:
            name = family.format(w)
            assert hrnet_zoo.is_model(name)
            assert callable(getattr(hrnet_zoo, name))
    assert hrnet_zoo.list_models("hrnetv2p_w4?") == ["hrnetv2p_w40", "hrnetv2p_w44", "hrnetv2p_w48"]
    assert hrnet_zoo.list_models(["hrnet_w32", "hrnet_w48_cls"]) == ["hrnet_w32", "hrnet_w48_cls"]


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError, match="hrnet_w32"):
        hrnet_zoo.create_model("hrnet_w23")


def test_register_model_rejects_duplicates():
    with pytest.raises(ValueError, match="registered twice"):
        hrnet_zoo.register_model(hrnet_zoo.hrnet_w32)


@pytest.mark.parametrize("name, kwargs, expected", [
    ("hrnet_w32", {}, 28_536_113),
    ("hrnet_w48", {}, 63_595_745),
    ("hrnet_w32", {"num_keypoints": 16}, 28_536_080),
    ("hrnet_w48", {"num_keypoints": 16}, 63_595_696),
    ("hrnetv2_w48", {"num_classes": 19}, 65_859_379),
    ("hrnetv2_w18_small_v1", {"num_classes": 19}, 1_540_819),
    ("hrnetv2_w18_small_v2", {"num_classes": 19}, 3_939_579),
    ("hrnetv2p_w18", {}, 12_582_036),
    ("hrnetv2p_w32", {}, 32_379_072),
])
def test_exact_parameter_counts(name, kwargs, expected):
    assert n_params(hrnet_zoo.create_model(name, **kwargs)) == expected


@pytest.mark.parametrize("width, expected", list(zip(WIDTHS, CLS_PARAMS)))
def test_classification_parameter_counts(width, expected):
    assert n_params(hrnet_zoo.create_model(f"hrnet_{width}_cls")) == expected


@pytest.mark.parametrize("width, backbone, neck", [
    ("w18", 9_562_260, 3_019_776), ("w32", 29_305_536, 3_073_536),
    ("w40", 45_521_216, 3_104_256), ("w48", 65_325_120, 3_134_976),
])
def test_detection_backbone_and_neck_counts(width, backbone, neck):
    model = hrnet_zoo.create_model(f"hrnetv2p_{width}")
    assert n_params(model.backbone) == backbone
    assert n_params(model.neck) == neck


@pytest.mark.skipif(PUBLISHED is None, reason="../shared/reference/published.json not present")
def test_counts_agree_with_published_reference():
    exact = PUBLISHED["exact_params"]
    assert n_params(hrnet_zoo.hrnet_w32()) == exact["pose_hrnet_w32 (17 joints)"]
    assert n_params(hrnet_zoo.hrnet_w18_cls()) == exact["cls hrnet w18"]


@pytest.mark.parametrize("size", [(250, 190), (64, 64), (97, 33)])
def test_odd_input_sizes_every_family(size):
    h, w = size
    x = torch.randn(1, 3, h, w)
    h4, w4 = -(-h // 4), -(-w // 4)
    with torch.no_grad():
        assert hrnet_zoo.hrnet_w18_small_v1().eval()(x).shape == (1, 17, h4, w4)
        assert hrnet_zoo.hrnetv2_w18_small_v1().eval()(x).shape == (1, 15 * 16, h4, w4)
        assert hrnet_zoo.hrnetv2_w18_small_v1(num_classes=5).eval()(x).shape == (1, 5, h4, w4)
        assert hrnet_zoo.hrnet_w18_small_v1_cls(num_classes=7).eval()(x).shape == (1, 7)
        pyramid = hrnet_zoo.hrnetv2p_w18_small_v1().eval()(x)
    assert len(pyramid) == 5
    for i, level in enumerate(pyramid):  # floor division by 2**i, never below one pixel
        assert level.shape == (1, 256, max(h4 // 2**i, 1), max(w4 // 2**i, 1))


def test_divisible_sizes_match_scale_factor_upsampling():
    """At sizes divisible by 32 the exact-size resize equals the official Upsample(scale_factor)."""
    from hrnet_zoo.backbones.hrnet import resize_to

    x = torch.randn(1, 4, 8, 6)
    official = torch.nn.Upsample(scale_factor=4, mode="nearest")(x)
    assert torch.equal(resize_to(x, (32, 24), "nearest", False), official)
    bilinear = torch.nn.functional.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
    assert torch.equal(resize_to(x, (32, 24), "bilinear", False), bilinear)


def test_features_only_returns_branches_with_feature_info():
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", features_only=True).eval()
    with torch.no_grad():
        feats = model(torch.randn(2, 3, 128, 96))
    assert [f.shape[1] for f in feats] == [i["num_chs"] for i in model.feature_info] == [16, 32, 64, 128]
    assert [i["reduction"] for i in model.feature_info] == [4, 8, 16, 32]
    assert [f.shape[-2:] for f in feats] == [(32, 24), (16, 12), (8, 6), (4, 3)]


def test_in_chans_and_train_mode_backward():
    model = hrnet_zoo.hrnet_w18_small_v1(in_chans=1, num_keypoints=3)
    out = model(torch.randn(2, 1, 64, 64))
    out.mean().backward()
    assert model.backbone.conv1.weight.grad is not None
    assert all(p.grad is not None for p in model.parameters())


def test_v2_backbone_fuses_bilinearly_and_pose_nearest():
    assert hrnet_zoo.hrnetv2_w18().backbone.stage2[0].fuse_mode == "bilinear"
    assert hrnet_zoo.hrnet_w18().backbone.stage2[0].fuse_mode == "nearest"
    assert hrnet_zoo.hrnetv2p_w18().backbone.stage2[0].fuse_mode == "nearest"


def test_pose_last_module_fuses_only_into_high_resolution():
    model = hrnet_zoo.hrnet_w18_small_v2()
    assert len(model.backbone.stage4[-1].fuse_layers) == 1
    assert len(model.backbone.stage4[0].fuse_layers) == 4


def test_mismatch_error_lists_keys_and_layout():
    source = hrnet_zoo.hrnet_w18_small_v1(num_keypoints=16).state_dict()
    flat = {k.split(".", 1)[1]: v for k, v in source.items()}  # official pose layout
    flat["extra.weight"] = torch.zeros(1)
    with pytest.raises(hrnet_zoo.CheckpointError) as err:
        hrnet_zoo.load_checkpoint(hrnet_zoo.hrnet_w18_small_v1(), flat)
    message = str(err.value)
    assert "official" in message and "extra.weight" in message and "head.final_layer.weight" in message
    result = hrnet_zoo.load_checkpoint(hrnet_zoo.hrnet_w18_small_v1(), flat, strict=False)
    assert [k for k, *_ in result.shape_mismatches] == ["head.final_layer.weight", "head.final_layer.bias"]
    assert result.unexpected_keys == ["backbone.extra.weight"]  # reported in hrnet_zoo's naming


def test_load_checkpoint_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": Evil()}, path)
    with pytest.raises(hrnet_zoo.CheckpointError, match="weights_only"):
        hrnet_zoo.load_checkpoint(hrnet_zoo.hrnet_w18_small_v1(), path)


def test_load_checkpoint_reads_safetensors_and_missing_file(tmp_path):
    from safetensors.torch import save_file

    model = hrnet_zoo.hrnet_w18_small_v1()
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    assert hrnet_zoo.load_checkpoint(hrnet_zoo.hrnet_w18_small_v1(), path).layout == "hrnet_zoo"
    with pytest.raises(hrnet_zoo.CheckpointError, match="not found"):
        hrnet_zoo.load_checkpoint(model, tmp_path / "nope.pth")
