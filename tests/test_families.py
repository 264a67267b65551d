"""The built-in families describe themselves in their own module (issue 20 §4): a fixed list of the
families and names expected, so that a family that stops registering fails here instead of
shrinking every test that iterates the registry; config rules from constructor signatures; the
generic features wrapper and the deprecated per-family classes it replaced."""
from __future__ import annotations

import json
import warnings
from typing import Literal, Optional, Sequence

import pytest
import torch

import hrnet_zoo
from hrnet_zoo._registry import alias_prefixes, family_of, list_families, register_family
from hrnet_zoo.complexity import averaging_ops, zero_cost_ops
from hrnet_zoo.errors import HRNetZooError, RegistryError
from hrnet_zoo.models import BackboneFeatures
from hrnet_zoo.models.base import zoo_model_classes
from hrnet_zoo.weights.config import Bounds, InvalidConfigError, rules_from_signature

WIDTHS = ["w18", "w18_small_v1", "w18_small_v2", "w30", "w32", "w40", "w44", "w48", "w64"]
EXPECTED = {
    "hrnet": sorted([f"hrnet_{w}" for w in WIDTHS] + [f"hrnetv2_{w}" for w in WIDTHS]
                    + [f"hrnetv2p_{w}" for w in WIDTHS] + [f"hrnet_{w}_cls" for w in WIDTHS]),
    "simplebaseline": sorted(f"simplebaseline_r{d}{s}" for d in (50, 101, 152) for s in ("", "_msdh")),
    "hourglass": ["hourglass"],
}
#: Family → (an architecture, the features backbone of its features_only form, or None).
FEATURES = {"hrnet": "hrnet", "simplebaseline": "resnet", "hourglass": None}


def test_exactly_the_expected_families_and_names_are_registered():
    assert [f.name for f in list_families()] == list(EXPECTED)
    assert hrnet_zoo.list_models() == sorted(n for names in EXPECTED.values() for n in names)


@pytest.mark.parametrize("family", list(EXPECTED))
def test_each_family_declares_itself_in_its_module(family):
    described = next(f for f in list_families() if f.name == family)
    assert described.module == f"hrnet_zoo.models.{family}"
    assert described.models() == EXPECTED[family]
    assert all(family_of(name) is described for name in EXPECTED[family])
    assert described.docs_sections and described.default_input_help
    first = EXPECTED[family][0]
    with torch.device("meta"):
        model = hrnet_zoo.create_model(first)
        type(model).config_rules()  # every constructor argument is annotated well enough to be checked
        if FEATURES[family] is None:
            with pytest.raises(HRNetZooError, match="features_only"):
                hrnet_zoo.create_model(first, features_only=True)
        else:
            assert hrnet_zoo.create_model(first, features_only=True).backbone_name == FEATURES[family]


def test_cli_aliases_and_flop_ops_come_from_the_families():
    assert alias_prefixes() == ("", "hrnet_", "hrnet", "simplebaseline_")
    from hrnet_zoo.cli.models import default_inputs_help, resolve_model_name

    assert [resolve_model_name(a) for a in ("w32", "r50", "v2_w48", "v2p_w32", "hourglass")] == [
        "hrnet_w32", "simplebaseline_r50", "hrnetv2_w48", "hrnetv2p_w32", "hourglass"]
    assert default_inputs_help() == "256x192 pose, 224x224 classification, 512x1024 HRNetV2, 800x1216 HRNetV2p"
    assert "aten::max_pool2d" in zero_cost_ops() and "aten::add" in zero_cost_ops()
    assert set(averaging_ops()) == {"aten::avg_pool2d", "aten::mean"}


def test_a_family_or_name_registered_twice_is_refused():
    with pytest.raises(RegistryError, match="registered twice"):
        register_family("hrnet", "somewhere.else")
    assert issubclass(RegistryError, ValueError) and issubclass(RegistryError, HRNetZooError)


# --- rules from signatures ----------------------------------------------------------------------------

def _constructor(self, count: int = 3, ratio: float = 0.5, flag: bool = True, mode: Literal["a", "b"] = "a",
                 sizes: tuple[int, ...] = (1, 2), pair: tuple[float, float] = (0.1, 0.2),
                 maybe: Optional[int] = None, name: str = "x", widths: Sequence[int] = (8,), num_keypoints: int = 17):
    pass


@pytest.mark.parametrize("argument, good, bad, message", [
    ("count", 1024, 1025, "must be an integer from 0 to 1024"),
    ("count", 0, True, "must be an integer"),
    ("ratio", 2, float("nan"), "must be a number from -1e+06 to 1e+06"),
    ("ratio", -0.25, "0.5", "must be a number"),
    ("flag", False, 1, "must be true or false"),
    ("mode", "b", "c", "must be one of 'a', 'b'"),
    ("sizes", [1, 2, 3], [1] * 17, "must be a list of at most 16 items"),
    ("pair", [0.5, 1.5], [0.5], "must be a list of 2 items, each of which must be a number"),
    ("maybe", None, "1", "must be an integer from 0 to 1024, or null"),
    ("name", "abc", "x" * 300, "must be a string of at most 256 characters"),
    ("widths", [4, 5], [4, 2000], "must be a list of at most 5 items, each of which must be an integer from 1 to 64"),
    ("num_keypoints", 1000, 1001, "must be an integer from 1 to 1000"),  # the shared bounds of this name
])
def test_rules_come_from_annotations(argument, good, bad, message):
    rules = rules_from_signature(_constructor, {"widths": Bounds(1, 64, max_length=5)})
    assert list(rules) == ["count", "ratio", "flag", "mode", "sizes", "pair", "maybe", "name", "widths", "num_keypoints"]
    assert rules[argument](good) is None
    assert message in rules[argument](bad)


def test_an_argument_without_a_usable_annotation_is_a_family_error():
    def constructor(self, width=3, depth: int = 2):
        pass

    with pytest.raises(RegistryError, match="'width' cannot be checked in a config.json"):
        rules_from_signature(constructor, owner="Toy")


# --- the generic features wrapper and the deprecated classes ------------------------------------------

def test_features_config_is_checked_against_the_backbone_signature(tmp_path):
    model = hrnet_zoo.create_model("simplebaseline_r50", features_only=True, out_indices=(3,))
    assert type(model) is BackboneFeatures and model.feature_info.reduction() == [32]
    config = {"architecture": "BackboneFeatures", "backbone": "resnet", "backbone_args": {"depth": 51},
              "out_indices": [3]}
    with pytest.raises(InvalidConfigError, match="depth must be one of 18, 34, 50, 101, 152"):
        BackboneFeatures.check_config(config, "x")
    with pytest.raises(InvalidConfigError, match="backbone must be one of 'hrnet', 'resnet'"):
        BackboneFeatures.check_config({**config, "backbone": "vit"}, "x")
    with pytest.raises(InvalidConfigError, match="takes no argument 'num_keypoints'"):
        BackboneFeatures.check_config({**config, "backbone_args": {"num_keypoints": 17}}, "x")


def test_deprecated_features_classes_warn_and_old_folders_still_load(tmp_path):
    with pytest.warns(DeprecationWarning, match="HRNetFeatures is deprecated"):
        old_cls = hrnet_zoo.HRNetFeatures
    with pytest.warns(DeprecationWarning, match="ResNetFeatures is deprecated"):
        from hrnet_zoo.models import ResNetFeatures  # noqa: F401
    with pytest.warns(DeprecationWarning, match="HRNetFeatures is deprecated"):
        from hrnet_zoo.models.hrnet import HRNetFeatures  # the 0.2 import path
    assert HRNetFeatures is old_cls and issubclass(HRNetFeatures, BackboneFeatures)
    with pytest.warns(DeprecationWarning):
        old = old_cls("w18_small_v1", out_indices=(0, 2)).eval()
    new = hrnet_zoo.create_model("hrnet_w18_small_v1", features_only=True, out_indices=(0, 2))
    assert list(old.state_dict()) == list(new.state_dict())  # the same keys and layers as before
    old.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architecture"] == "HRNetFeatures"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        again = hrnet_zoo.from_pretrained(str(tmp_path))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(old(x), again(x)))


def test_every_model_class_derives_its_rules():
    for name, cls in zoo_model_classes().items():
        if "__init__" in vars(cls):
            assert cls.config_rules(), name
