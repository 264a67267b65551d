"""A new model family is one module: written into a temporary folder on ``sys.path`` and imported, with
no other file changed, it works with everything the built-in families do (issue 20 §4)."""
from __future__ import annotations

import importlib
import json
import sys
import warnings

import numpy as np
import pytest
import torch

import hrnet_zoo
from hrnet_zoo._registry import family_of, list_families, unregister_module
from hrnet_zoo.cli.models import resolve_model_name
from hrnet_zoo.models._features import BackboneFeatures, unregister_features_backbone
from hrnet_zoo.weights import convert, manifest
from hrnet_zoo.weights.config import InvalidConfigError
from annotated_coco import write_annotated_coco

TOY_MODULE = '''
"""toyfam: a two-scale toy pose family, registered by importing this one module."""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from hrnet_zoo._builder import build_model
from hrnet_zoo._registry import register_family, register_model
from hrnet_zoo.errors import LayoutNotRecognized
from hrnet_zoo.models import PoseModelMixin, ZooModel, register_features_backbone
from hrnet_zoo.weights.convert import register_layout

FAMILY = register_family("toy", __name__, title="Toy two-scale pose family", alias_prefixes=("toy_",),
                         docs_sections={"ToyPose": "Toy pose"}, default_input_help=("64x48 toy",),
                         weights_defaults={"license": "CC0-1.0", "training_data": "none (a test)"})


def _block(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ToyBackbone(nn.Module):
    """N×in_chans×H×W → [N×width×H/4×W/4, N×2width×H/8×W/8]."""

    def __init__(self, width: int = 8, in_chans: int = 3):
        super().__init__()
        self.stem = _block(in_chans, width, 2)
        self.stage1 = _block(width, width, 2)
        self.stage2 = _block(width, 2 * width, 2)
        self.feature_info = [{"num_chs": width, "reduction": 4, "module": "stage1"},
                             {"num_chs": 2 * width, "reduction": 8, "module": "stage2"}]

    def forward(self, x):
        c1 = self.stage1(self.stem(x))
        return [c1, self.stage2(c1)]


def toy_backbone(width: int = 8, in_chans: int = 3) -> ToyBackbone:
    return ToyBackbone(width, in_chans)


register_features_backbone("toy", toy_backbone, bounds={"width": (1, 64)})


def flat_to_zoo(state_dict):
    """An older toy layout without the ``backbone.`` prefix."""
    if any(k.startswith("backbone.") for k in state_dict):
        raise LayoutNotRecognized("already hrnet_zoo's layout")
    return {(k if k.startswith(("head.", "lateral.")) else "backbone." + k): v for k, v in state_dict.items()}


class ToyPose(PoseModelMixin, ZooModel):
    """Both scales merged, then a 1×1 heatmap head: N×K×H/4×W/4, times ``output_scale``."""

    prediction_layers = ("head",)
    default_input_size = (64, 48)
    config_bounds = {"width": (1, 64), "output_scale": (0.0, 10.0)}

    def __init__(self, width: int = 8, num_keypoints: int = 17, in_chans: int = 3, output_scale: float = 1.0,
                 upsample: Literal["nearest", "bilinear"] = "nearest"):
        super().__init__()
        self.num_keypoints, self.output_scale, self.upsample = num_keypoints, output_scale, upsample
        self.backbone = ToyBackbone(width, in_chans)
        self.lateral = nn.Conv2d(2 * width, width, 1)
        self.head = nn.Conv2d(width, num_keypoints, 1)

    def forward(self, x):
        fine, coarse = self.backbone(x)
        merged = fine + F.interpolate(self.lateral(coarse), size=fine.shape[-2:], mode=self.upsample)
        return self.head(merged) * self.output_scale


register_layout("ToyPose", "toy v0 (flat keys)", flat_to_zoo)


@register_model
def toy_tiny(pretrained=False, **kwargs):
    """The toy family at width 8."""
    return build_model(ToyPose, "toy_tiny", pretrained, width=8, features="toy", features_args={"width": 8},
                       **kwargs)
'''

@pytest.fixture(scope="module")
def toyfam(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "toyfam.py").write_text(TOY_MODULE)
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("toyfam")
    finally:
        unregister_module("toyfam")
        unregister_features_backbone("toy")
        convert._registered_layouts.pop("ToyPose", None)
        manifest._user_entries[:] = [e for e in manifest._user_entries if e["model"] != "toy_tiny"]
        sys.modules.pop("toyfam", None)
        sys.path.remove(str(folder))


def test_registered_by_one_import(toyfam):
    assert hrnet_zoo.list_models("toy_*") == ["toy_tiny"]
    assert family_of("toy_tiny").name == "toy" and [f.name for f in list_families()][-1] == "toy"
    assert resolve_model_name("tiny") == "toy_tiny"  # the family's CLI alias prefix
    model = hrnet_zoo.create_model("toy_tiny", num_keypoints=5).eval()
    assert type(model).__name__ == "ToyPose" and model(torch.zeros(2, 3, 64, 48)).shape == (2, 5, 16, 12)
    assert model.pretrained_cfg.input_size == (64, 48)


def test_features_only_is_the_generic_wrapper(toyfam, tmp_path):
    features = hrnet_zoo.create_model("toy_tiny", features_only=True, out_indices=(-1,)).eval()
    assert isinstance(features, BackboneFeatures)
    info = features.feature_info
    assert (info.channels(), info.reduction(), info.module_name()) == ([16], [8], ["backbone.stage2"])
    x = torch.randn(1, 3, 64, 48)
    assert [tuple(f.shape) for f in features(x)] == [(1, 16, 8, 6)]
    features.save_pretrained(tmp_path)
    again = hrnet_zoo.from_pretrained(str(tmp_path))
    with torch.no_grad():
        assert torch.equal(features(x)[0], again(x)[0]) and again.out_indices == (1,)
    with pytest.raises(TypeError):
        hrnet_zoo.create_model("toy_tiny", features_only=True, num_keypoints=3)


def test_save_load_with_float_and_choice_arguments_checked(toyfam, tmp_path):
    model = hrnet_zoo.create_model("toy_tiny", num_keypoints=5, output_scale=0.5, upsample="bilinear").eval()
    model.save_pretrained(tmp_path)
    again = hrnet_zoo.from_pretrained(str(tmp_path))
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert (again.output_scale, again.upsample) == (0.5, "bilinear")
    config = json.loads((tmp_path / "config.json").read_text())
    for bad, message in [({"output_scale": "big"}, "output_scale must be a number from 0 to 10"),
                         ({"output_scale": 1e9}, "output_scale must be a number from 0 to 10"),
                         ({"upsample": "bicubic"}, "upsample must be one of 'nearest', 'bilinear'"),
                         ({"width": 10**6}, "width must be an integer from 1 to 64"),
                         ({"num_keypoints": 10**8}, "num_keypoints must be an integer from 1 to 1000")]:
        (tmp_path / "config.json").write_text(json.dumps({**config, **bad}))
        with pytest.raises(InvalidConfigError, match=message):
            hrnet_zoo.from_pretrained(str(tmp_path))


def test_the_family_converter_loads_its_old_layout(toyfam):
    model = hrnet_zoo.create_model("toy_tiny")
    flat = {k.removeprefix("backbone."): v.clone() for k, v in model.state_dict().items()}
    result = hrnet_zoo.load_checkpoint(hrnet_zoo.create_model("toy_tiny"), flat)
    assert result.layout == "toy v0 (flat keys)" and result.ok


def test_weights_entries_get_the_family_defaults(toyfam):
    manifest.register_weights({"model": "toy_tiny", "tag": "demo", "verify": "sha256-prefix",
                               "sha256_prefix": "0123abcd", "source": {"url": "https://example.org/toy-0123abcd.pth"}})
    entry = manifest.weights_for("toy_tiny")[0]
    assert (entry["license"], entry["training_data"], entry["tag"]) == ("CC0-1.0", "none (a test)", "demo")


def test_count_flops_export_and_optimize(toyfam, tmp_path):
    import onnxruntime as ort

    model = hrnet_zoo.create_model("toy_tiny", num_keypoints=5).eval()
    stats = hrnet_zoo.count_flops(model)
    assert stats["input_size"] == (64, 48) and stats["params"] == hrnet_zoo.count_params(model)["params"]
    assert stats["paper_gflops"] > 0 and stats["uncounted_ops"] == {}
    from hrnet_zoo.export import export_onnx

    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        expected = model(x)
    export_onnx(model, tmp_path / "toy.onnx")
    session = ort.InferenceSession(str(tmp_path / "toy.onnx"), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {"input": x.numpy()})
    np.testing.assert_allclose(onnx_out, expected.numpy(), rtol=1e-4, atol=1e-5)
    runner = hrnet_zoo.optimize(model, backend="torch", precision="fp32", input_size=(64, 48), cache=False)
    torch.testing.assert_close(runner(x), expected, rtol=1e-4, atol=1e-5)


def test_one_train_step(toyfam, tmp_path):
    ann, images = write_annotated_coco(tmp_path)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = hrnet_zoo.train(model="toy_tiny", pretrained=False, train_ann=ann, train_images=images,
                                 val_ann=None, val_images=None, out=str(tmp_path / "run"), input_size=(64, 48),
                                 epochs=1, batch_size=2, workers=0, progress=False, max_steps=1,
                                 flip_pairs=[[1, 2], [3, 4]])
    assert result["steps"] == 1
    trained = hrnet_zoo.from_pretrained(str(tmp_path / "run" / "last"))
    assert type(trained).__name__ == "ToyPose" and trained.num_keypoints == 5


def test_the_docs_generator_lists_the_new_family(toyfam):
    from test_docs_table import make_docs_tables

    text = make_docs_tables.render_families()
    assert "## toy" in text and "| `ToyPose` | `toy_tiny` | 64×48 | yes (`toy`) | toy v0 (flat keys) |" in text
    assert make_docs_tables.sections()["ToyPose"] == "Toy pose"
