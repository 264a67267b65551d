"""Multi-scale deconvolution head (Kang & Cho): size, wiring, per-resolution outputs, training path.

docs/msdh.md explains the reading of the paper that gives exactly its 34,450,316 parameters.
"""
import pytest
import torch
import torch.nn.functional as F

import hrnet_zoo
from hrnet_zoo.heads import DeconvHead, MultiScaleDeconvHead

PAPER_RES50_3 = 34_450_316  # Kang & Cho, ResNet-50 with 3 resolutions


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("num_resolutions, expected", [(2, 34_148_277), (3, PAPER_RES50_3), (4, 35_432_950)])
def test_parameter_counts(num_resolutions, expected):
    with torch.device("meta"):
        model = hrnet_zoo.simplebaseline_r50_msdh(num_resolutions=num_resolutions)
    assert _params(model) == expected
    if num_resolutions == 3:
        assert abs(expected - PAPER_RES50_3) / PAPER_RES50_3 < 0.01


def test_default_is_three_resolutions_and_plain_head_is_untouched():
    with torch.device("meta"):
        assert hrnet_zoo.simplebaseline_r50_msdh().head.num_resolutions == 3
        assert _params(hrnet_zoo.simplebaseline_r50()) == 33_999_697


@pytest.mark.parametrize("num_resolutions, deconv_out, predictor_in", [
    (2, [256, 256, 273], [256, 273]),
    (3, [256, 273, 290], [256, 273, 290]),
    (4, [273, 290, 307], [2048, 273, 290, 307]),
])
def test_widths_carry_the_concatenated_heatmaps(num_resolutions, deconv_out, predictor_in):
    with torch.device("meta"):
        head = MultiScaleDeconvHead(2048, 17, num_resolutions)
    assert [stage[0].out_channels for stage in head.deconv_layers] == deconv_out
    assert [p.in_channels for p in head.predictors] == predictor_in


def _head(num_resolutions: int, **kwargs) -> MultiScaleDeconvHead:
    torch.manual_seed(0)
    return MultiScaleDeconvHead(8, num_keypoints=3, num_resolutions=num_resolutions, num_filters=(6, 6, 6), **kwargs).eval()


@pytest.mark.parametrize("num_resolutions", [2, 3, 4])
def test_per_resolution_outputs_and_their_mean(num_resolutions):
    head = _head(num_resolutions)
    x = torch.randn(2, 8, 3, 5)
    with torch.no_grad():
        predictions = head.forward_all(x)
        merged = head(x)
    sizes = [(3 * 2**s, 5 * 2**s) for s in range(4)][-num_resolutions:]  # coarsest first
    assert [tuple(p.shape) for p in predictions] == [(2, 3, h, w) for h, w in sizes]
    expected = torch.stack([F.interpolate(p, size=(24, 40), mode="bilinear", align_corners=False)
                            for p in predictions]).mean(0)
    assert merged.shape == (2, 3, 24, 40)
    torch.testing.assert_close(merged, expected)


def test_each_prediction_feeds_the_next_deconvolution():
    """The concatenation is real: changing the first prediction changes the finest one."""
    head = _head(3)
    x = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        before = head.forward_all(x)[-1]
        head.predictors[0].bias.add_(1.0)
        after = head.forward_all(x)[-1]
    assert not torch.allclose(before, after)


def test_one_resolution_is_the_plain_head():
    msdh, plain = _head(1), DeconvHead(8, num_keypoints=3, num_filters=(6, 6, 6))
    plain.load_state_dict({
        **{f"deconv_layers.{3 * i + j}.{k}": v for i, stage in enumerate(msdh.deconv_layers)
           for j in (0, 1) for k, v in stage[j].state_dict().items()},
        **{f"final_layer.{k}": v for k, v in msdh.predictors[0].state_dict().items()},
    })
    x = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(msdh(x), plain.eval()(x))


def test_nearest_upsampling_option():
    head = _head(3, upsample_mode="nearest")
    with torch.no_grad():
        predictions = head.forward_all(torch.randn(1, 8, 2, 2))
        merged = head.merge(predictions)
    coarse = predictions[0].repeat_interleave(4, -1).repeat_interleave(4, -2)
    middle = predictions[1].repeat_interleave(2, -1).repeat_interleave(2, -2)
    torch.testing.assert_close(merged, (coarse + middle + predictions[2]) / 3)


def test_model_multi_resolution_l2_training():
    model = hrnet_zoo.models.SimpleBaselineMSDH(depth=18, num_keypoints=4, num_deconv_filters=[16, 16, 16]).train()
    x = torch.randn(2, 3, 64, 48)
    predictions = model.forward_resolutions(x)
    assert [tuple(p.shape[-2:]) for p in predictions] == [(4, 4), (8, 8), (16, 16)]  # 48 → ⌈48/32⌉ = 2
    loss = sum(F.mse_loss(p, torch.zeros_like(p)) for p in predictions)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_registered_names_and_odd_input():
    assert hrnet_zoo.list_models("simplebaseline_*_msdh") == [
        "simplebaseline_r101_msdh", "simplebaseline_r152_msdh", "simplebaseline_r50_msdh"]
    model = hrnet_zoo.models.SimpleBaselineMSDH(depth=18, num_keypoints=4, num_deconv_filters=[16, 16, 16]).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 250, 190)).shape == (1, 4, 64, 48)


def test_invalid_number_of_resolutions():
    with pytest.raises(ValueError, match="num_resolutions"):
        MultiScaleDeconvHead(8, num_resolutions=5)


def test_hub_round_trip(tmp_path):
    model = hrnet_zoo.models.SimpleBaselineMSDH(depth=18, num_keypoints=4, num_resolutions=4,
                                         num_deconv_filters=[16, 16, 16]).eval()
    model.save_pretrained(tmp_path)
    again = hrnet_zoo.models.SimpleBaselineMSDH.from_pretrained(tmp_path).eval()
    assert again.head.num_resolutions == 4
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


@pytest.mark.slow
def test_torch_compile_cpu():
    torch.manual_seed(0)
    model = hrnet_zoo.models.SimpleBaselineMSDH(depth=18, num_keypoints=3, num_deconv_filters=[8, 8, 8]).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(model)(x), model(x), rtol=1e-4, atol=1e-5)
