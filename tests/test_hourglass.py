"""Stacked Hourglass: Newell's sizes, princeton-vl parity (every stack), odd inputs, training.

The fixtures were made by running princeton-vl/pytorch_stacked_hourglass's ``PoseNet`` with the
seeded weights of ``parity.py``; their forward took the same images as N×H×W×C (fixtures/README.md).
"""
import pytest
import torch

import hrnet_zoo
from hrnet_zoo.backbones import PreActResidual
from hrnet_zoo.models.hourglass import princeton_to_zoo
from parity import assert_close_relative, load_fixture


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("num_keypoints, expected", [(16, 25_434_112), (17, 25_437_960)])
def test_newell_parameter_counts(num_keypoints, expected):
    with torch.device("meta"):
        model = hrnet_zoo.hourglass(num_keypoints=num_keypoints)
    assert model.num_stacks == 8 and _params(model) == expected


@pytest.mark.parametrize("fixture, kwargs", [
    ("hg_princeton_posenet_s2_f256", dict(num_stacks=2, num_keypoints=16)),
    # saved under ``model.module.`` as their training script's checkpoints are
    ("hg_princeton_posenet_s3_f32", dict(num_stacks=3, num_keypoints=17, num_features=32)),
])
def test_princeton_outputs_for_every_stack(fixture, kwargs):
    state_dict, x, expected, _ = load_fixture(fixture)
    model = hrnet_zoo.hourglass(**kwargs).eval()
    result = hrnet_zoo.load_checkpoint(model, state_dict)
    assert result.ok and result.layout.startswith("princeton-vl")
    with torch.no_grad():
        stacks = model.forward_stacks(x)  # x is N×C×H×W; theirs was given x.permute(0, 2, 3, 1)
        last = model(x)
    assert len(stacks) == len(expected) == kwargs["num_stacks"]
    for ours, theirs in zip(stacks, expected):
        assert_close_relative(ours, theirs, rtol=1e-5)
    assert torch.equal(last, stacks[-1])


def test_unused_skip_layers_are_dropped():
    state_dict, *_ = load_fixture("hg_princeton_posenet_s2_f256")
    skips = [k for k in state_dict if "skip_layer" in k]
    converted = princeton_to_zoo(state_dict)
    kept = [k for k in converted if ".skip." in k]
    # Only the stem's 64→128 and 128→256 residuals change width; every other skip_layer is dead weight.
    assert sorted(kept) == ["stem.res1.skip.bias", "stem.res1.skip.weight", "stem.res3.skip.bias", "stem.res3.skip.weight"]
    assert len(converted) == len(state_dict) - (len(skips) - len(kept))


def test_residual_shortcut_only_where_width_changes():
    assert PreActResidual(8, 8).skip is None
    assert PreActResidual(8, 16).skip.weight.shape == (16, 8, 1, 1)


@pytest.mark.parametrize("size, expected", [((64, 64), (16, 16)), ((256, 192), (64, 48)), ((250, 190), (63, 48)),
                                            ((37, 29), (10, 8))])
def test_output_sizes(size, expected):
    # ⌈H/4⌉ × ⌈W/4⌉: pools use ceil_mode and upsampling resizes onto the skip branch.
    model = hrnet_zoo.hourglass(num_stacks=2, num_features=8, num_keypoints=3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, *size)).shape == (1, 3, *expected)


def test_train_mode_backward_through_every_stack():
    model = hrnet_zoo.hourglass(num_stacks=3, num_features=16, num_keypoints=4).train()
    stacks = model.forward_stacks(torch.randn(2, 3, 64, 48))
    sum(s.square().mean() for s in stacks).backward()  # intermediate supervision
    assert all(p.grad is not None for p in model.parameters())


def test_hub_round_trip(tmp_path):
    model = hrnet_zoo.hourglass(num_stacks=2, num_features=16, num_keypoints=5, depth=3).eval()
    model.save_pretrained(tmp_path)
    again = hrnet_zoo.models.StackedHourglass.from_pretrained(tmp_path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_no_features_only_form():
    with pytest.raises(ValueError, match="features_only"):
        hrnet_zoo.create_model("hourglass", features_only=True)

