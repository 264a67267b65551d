"""SimpleBaseline: exact sizes, official / mmpose parity, the ResNet backbone alone, the head on other backbones.

Parity fixtures (fixtures/README.md) were made by running microsoft/human-pose-estimation.pytorch's
pose_resnet.py and mmpose v1's ResNet + HeatmapHead with the seeded weights of ``parity.py``.
"""
import pytest
import torch

import hrnet_zoo
from hrnet_zoo.backbones import ResNetBackbone
from hrnet_zoo.heads import DeconvHead
from parity import assert_close_relative, load_fixture

EXACT_PARAMS = [  # shared/reference/published.json, measured on the official pose_resnet.py
    ("simplebaseline_r50", {}, 33_999_697),
    ("simplebaseline_r101", {}, 52_991_825),
    ("simplebaseline_r152", {}, 68_635_473),
    ("simplebaseline_r50", {"num_keypoints": 16}, 33_999_440),
]


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name, kwargs, expected", EXACT_PARAMS)
def test_exact_parameter_counts(name, kwargs, expected):
    with torch.device("meta"):  # shapes only: no weight initialisation
        model = hrnet_zoo.create_model(name, **kwargs)
    assert _params(model) == expected


def test_deconv_head_alone_has_official_size():
    with torch.device("meta"):
        assert _params(DeconvHead(2048, 17)) == 10_491_665


def _official_r18_config() -> dict:
    # The configuration of fixture sb_official_pose_resnet18_k324 (all three kernel sizes, 3×3 final conv).
    return dict(depth=18, num_keypoints=5, num_deconv_filters=[128, 64, 32], num_deconv_kernels=[3, 2, 4],
                final_conv_kernel=3, deconv_with_bias=True)


@pytest.mark.parametrize("fixture, build, layout", [
    ("sb_official_pose_resnet50", lambda: hrnet_zoo.simplebaseline_r50(), "official SimpleBaseline (pose_resnet.py)"),
    ("sb_official_pose_resnet18_k324", lambda: hrnet_zoo.models.SimpleBaseline(**_official_r18_config()),
     "official SimpleBaseline (pose_resnet.py)"),
])
def test_official_outputs(fixture, build, layout):
    state_dict, x, expected, _ = load_fixture(fixture)
    model = build()
    result = hrnet_zoo.load_checkpoint(model, state_dict)
    assert result.ok and result.layout == layout
    with torch.no_grad():
        out = model.eval()(x)
    assert_close_relative(out, expected[0], rtol=1e-5)


def test_odd_input_follows_official_ceil_arithmetic():
    # 70×50 → stages of 18×13, 9×7, 5×4, 3×2 → deconvs ×8 → 24×16, as the official code gives.
    _, x, expected, _ = load_fixture("sb_official_pose_resnet18_k324")
    assert x.shape[-2:] == (70, 50) and expected[0].shape[-2:] == (24, 16)


def test_mmpose_checkpoint_file_with_wrappers(tmp_path):
    """An mmpose v1 file (its keys are ours): ``state_dict`` container, ``data_preprocessor.*``, ``module.``."""
    state_dict, x, expected, _ = load_fixture("sb_mmpose_res50")
    checkpoint = {"meta": {"epoch": 210}, "state_dict": {"module." + k: v for k, v in state_dict.items()}}
    checkpoint["state_dict"]["data_preprocessor.mean"] = torch.zeros(1, 3, 1, 1)
    torch.save(checkpoint, tmp_path / "td-hm_res50.pth")
    model = hrnet_zoo.simplebaseline_r50().eval()
    result = hrnet_zoo.load_checkpoint(model, tmp_path / "td-hm_res50.pth")
    assert result.ok and result.layout == "hrnet_zoo"
    with torch.no_grad():
        assert_close_relative(model(x), expected[0])


def test_imagenet_resnet_initialises_backbone_only():
    official, *_ = load_fixture("sb_official_pose_resnet50")
    imagenet = {k: v for k, v in official.items() if not k.startswith(("deconv_layers", "final_layer"))}
    imagenet.update({"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)})
    model = hrnet_zoo.simplebaseline_r50()
    result = hrnet_zoo.load_checkpoint(model, imagenet, strict=False)
    assert result.layout.startswith("torchvision") and not result.unexpected_keys
    assert result.missing_keys and all(k.startswith("head.") for k in result.missing_keys)
    assert torch.equal(model.backbone.conv1.weight, official["conv1.weight"])
    # The backbone alone takes the same file; only the classifier is left over.
    result = hrnet_zoo.load_checkpoint(ResNetBackbone(50), imagenet, strict=False)
    assert sorted(result.unexpected_keys) == ["fc.bias", "fc.weight"] and not result.missing_keys


def test_features_only_gives_four_stages():
    backbone = hrnet_zoo.create_model("simplebaseline_r50", features_only=True).eval()
    assert [f["reduction"] for f in backbone.feature_info] == [4, 8, 16, 32]
    assert [f["num_chs"] for f in backbone.feature_info] == [256, 512, 1024, 2048]
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, 64, 96))
    assert [tuple(f.shape) for f in features] == [(1, 256, 16, 24), (1, 512, 8, 12), (1, 1024, 4, 6), (1, 2048, 2, 3)]


def test_deconv_head_composes_with_an_hrnet_branch():
    """The deconvolution head on HRNet's stride-32 branch gives stride-4 heatmaps, and trains end to end."""
    hrnet = hrnet_zoo.create_model("hrnet_w18_small_v1", features_only=True)
    branch = hrnet.feature_info[-1]
    model = torch.nn.Sequential(hrnet, _Pick(-1), DeconvHead(branch["num_chs"], num_keypoints=3, num_filters=(32, 32, 32)))
    heatmaps = model(torch.randn(2, 3, 64, 64))
    assert branch["reduction"] == 32 and heatmaps.shape == (2, 3, 16, 16)
    heatmaps.square().mean().backward()
    assert hrnet.backbone.conv1.weight.grad is not None and hrnet.backbone.conv1.weight.grad.abs().sum() > 0


class _Pick(torch.nn.Module):
    def __init__(self, index: int):
        super().__init__()
        self.index = index

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return features[self.index]


@pytest.mark.parametrize("size, expected", [((256, 192), (64, 48)), ((250, 190), (64, 48)), ((100, 60), (32, 16))])
def test_output_sizes(size, expected):
    # Output is 8·⌈H/32⌉ × 8·⌈W/32⌉: H/4 × W/4 at multiples of 32.
    model = hrnet_zoo.models.SimpleBaseline(depth=18, num_keypoints=4, num_deconv_filters=[16, 16, 16]).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, *size)).shape == (1, 4, *expected)


def test_train_mode_backward():
    model = hrnet_zoo.simplebaseline_r50(num_keypoints=4).train()
    out = model(torch.randn(2, 3, 32, 32))
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.backbone.bn1.num_batches_tracked.item() == 1


@pytest.mark.parametrize("kwargs", [dict(num_deconv_kernels=[4, 4, 5]), dict(num_deconv_filters=[256, 256])])
def test_bad_deconv_config_is_rejected(kwargs):
    with pytest.raises(ValueError):
        hrnet_zoo.models.SimpleBaseline(depth=18, **kwargs)


def test_unknown_depth_is_rejected():
    with pytest.raises(ValueError, match="depth"):
        ResNetBackbone(depth=42)


def test_hub_round_trip(tmp_path):
    model = hrnet_zoo.models.SimpleBaseline(**_official_r18_config()).eval()
    model.save_pretrained(tmp_path)
    again = hrnet_zoo.models.SimpleBaseline.from_pretrained(tmp_path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
