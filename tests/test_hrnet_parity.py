"""Official state dicts load with ``load_checkpoint`` and reproduce the official outputs to 1e-5.

The fixtures were produced by running the official model definitions (see fixtures/README.md).
"""
import pytest
import torch

import hrnet_zoo
from parity import assert_close_relative, load_fixture

CASES = [
    # fixture, registered model, kwargs
    ("official_pose_hrnet_w32", "hrnet_w32", {}),
    ("official_pose_hrnet_w48", "hrnet_w48", {}),
    ("official_cls_hrnet_w18_small_v1", "hrnet_w18_small_v1_cls", {}),
    ("official_cls_hrnet_w18", "hrnet_w18_cls", {}),
    ("official_seg_hrnet_w18_small_v1_c19", "hrnetv2_w18_small_v1", {"num_classes": 19}),
    ("official_seg_hrnet_w18_c19", "hrnetv2_w18", {"num_classes": 19}),
    ("official_det_hrnetv2p_w18", "hrnetv2p_w18", {}),
]


@pytest.mark.parametrize("fixture, name, kwargs", CASES, ids=[c[0] for c in CASES])
def test_official_outputs(fixture, name, kwargs):
    state_dict, x, expected, _ = load_fixture(fixture)
    model = hrnet_zoo.create_model(name, **kwargs)
    result = hrnet_zoo.load_checkpoint(model, state_dict)
    assert result.ok
    model.eval()
    with torch.no_grad():
        out = model(x)
    outs = out if isinstance(out, list) else [out]
    assert len(outs) == len(expected)
    for actual, reference in zip(outs, expected):
        assert_close_relative(actual, reference, rtol=1e-5)


def test_detected_layouts():
    pose_sd, *_ = load_fixture("official_pose_hrnet_w32")
    assert "official" in hrnet_zoo.load_checkpoint(hrnet_zoo.hrnet_w32(), pose_sd).layout
    det_sd, *_ = load_fixture("official_det_hrnetv2p_w18")
    assert hrnet_zoo.load_checkpoint(hrnet_zoo.hrnetv2p_w18(), det_sd).layout == "hrnet_zoo"


def test_round_trip_through_wrappers_and_mmpose_layout(tmp_path):
    """mmpose v1 keys (``backbone.``/``head.``, ``data_preprocessor.*``) under ``state_dict`` and ``module.``."""
    state_dict, x, expected, _ = load_fixture("official_pose_hrnet_w32")
    reference = hrnet_zoo.hrnet_w32()
    hrnet_zoo.load_checkpoint(reference, state_dict)
    mmpose = {("module." + k): v for k, v in reference.state_dict().items()}
    mmpose["data_preprocessor.mean"] = torch.zeros(3)
    path = tmp_path / "mmpose.pth"
    torch.save({"meta": {"epoch": 210}, "state_dict": mmpose}, path)
    model = hrnet_zoo.hrnet_w32().eval()
    hrnet_zoo.load_checkpoint(model, path)
    with torch.no_grad():
        assert_close_relative(model(x), expected[0])
