"""Pose models own their training objective (``forward_train``, ``loss``) and their fresh head
(``reset_head``); loading weights returns what it did (``model.load_result``), which the trainer and
the CLI read instead of the text of a warning."""
from __future__ import annotations

import json
import warnings

import pytest
import torch
from safetensors.torch import save_file

import hrnet_zoo
from hrnet_zoo.cli import main
from hrnet_zoo.losses import JointsMSELoss
from hrnet_zoo.models.base import TrainingForward
from hrnet_zoo.training import build_model
from hrnet_zoo.errors import HRNetZooError
from hrnet_zoo.pose.keypoint_set import resolve_keypoint_set
from hrnet_zoo.weights import read_state_dict
from hrnet_zoo.weights.pretrained import ResolvedWeights, load_resolved
from annotated_coco import NAMES, write_annotated_coco

TINY_HOURGLASS = {"num_features": 16, "depth": 1}


def _capture_calls(types):
    """Record (module, inputs, output) of every call of a module of ``types``, via PyTorch's global hook."""
    calls = []

    def hook(module, inputs, output):
        if isinstance(module, types):
            calls.append((module, inputs, output))
    return calls, torch.nn.modules.module.register_module_forward_hook(hook)


@pytest.mark.slow
def test_hourglass_train_step_supervises_every_stack(tmp_path):
    """One `train` step of a 2-stack hourglass: the first stack's heatmap layer learns, and the loss
    is the sum of the two stacks' losses against the same target."""
    ann, images = write_annotated_coco(tmp_path)
    torch.manual_seed(0)
    folder = tmp_path / "hourglass2"
    model = hrnet_zoo.create_model("hourglass", num_stacks=2, num_keypoints=5, **TINY_HOURGLASS)
    with torch.no_grad():  # stack 1's heatmaps no longer feed stack 2: only their own loss can reach heads.0
        model.merge_preds[0].weight.zero_()
    model.save_pretrained(folder)
    calls, handle = _capture_calls((TrainingForward, JointsMSELoss))
    try:
        hrnet_zoo.train(model=str(folder), train_ann=ann, train_images=images, val_ann=None, val_images=None,
                        out=str(tmp_path / "run"), input_size=(64, 48), epochs=1, batch_size=2, workers=0,
                        progress=False, max_steps=1, flip_pairs=[[1, 2], [3, 4]])
    finally:
        handle.remove()
    before = read_state_dict(folder / "model.safetensors")
    after = read_state_dict(tmp_path / "run/last/model.safetensors")
    assert not torch.equal(before["heads.0.weight"], after["heads.0.weight"])  # Adam moves it only with a gradient

    (forward, _, stacks), = [c for c in calls if isinstance(c[0], TrainingForward)]
    per_stack = [c for c in calls if isinstance(c[0], JointsMSELoss)]
    assert len(stacks) == 2 and len(per_stack) == 2
    for stack, (criterion, (output, target, weight), stack_loss) in zip(stacks, per_stack):
        assert torch.equal(output, stack.float()) and criterion.use_target_weight
        expected = 0.5 * ((stack.float() - target) * weight.reshape(*weight.shape[:2], 1, 1)).pow(2).mean()
        torch.testing.assert_close(stack_loss, expected)
    step_loss = json.loads((tmp_path / "run/metrics.jsonl").read_text().splitlines()[0])["loss"]
    assert step_loss == pytest.approx(float(per_stack[0][2].detach() + per_stack[1][2].detach()), rel=1e-6)


def test_hourglass_loss_is_the_sum_over_stacks_and_reaches_the_first_stack():
    torch.manual_seed(0)
    model = hrnet_zoo.create_model("hourglass", num_stacks=2, num_keypoints=3, **TINY_HOURGLASS)
    images, target = torch.randn(2, 3, 32, 32), torch.rand(2, 3, 8, 8)
    weight = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    stacks = model.forward_train(images)
    loss = model.loss(stacks, target, weight)
    criterion = JointsMSELoss(use_target_weight=True)
    torch.testing.assert_close(loss, criterion(stacks[0], target, weight) + criterion(stacks[1], target, weight))
    loss.backward()
    assert model.heads[0].weight.grad.abs().sum() > 0
    # Inference is unchanged: the last stack.
    torch.testing.assert_close(model(images), stacks[1])


def test_single_output_models_supervise_their_final_heatmaps():
    model = hrnet_zoo.create_model("simplebaseline_r50", num_keypoints=3, num_deconv_filters=[8, 8, 8]).eval()
    images, target = torch.randn(1, 3, 64, 48), torch.rand(1, 3, 16, 16)
    outputs = model.forward_train(images)
    assert len(outputs) == 1 and torch.equal(outputs[0], model(images))
    weight = torch.tensor([[1.0, 0.0, 1.0]])
    torch.testing.assert_close(model.loss(outputs, target, weight), JointsMSELoss()(outputs[0], target, weight))


def test_msdh_supervises_each_resolution_and_the_mean():
    model = hrnet_zoo.create_model("simplebaseline_r50_msdh", num_keypoints=3, num_deconv_filters=[8, 8, 8]).eval()
    images = torch.randn(1, 3, 64, 48)
    outputs = model.forward_train(images)
    resolutions = model.forward_resolutions(images)
    assert len(outputs) == model.head.num_resolutions + 1
    assert all(o.shape == resolutions[-1].shape for o in outputs)
    torch.testing.assert_close(outputs[-1], model(images))
    torch.testing.assert_close(outputs[-2], resolutions[-1])  # the finest one needs no resizing
    target = torch.rand_like(outputs[-1])
    expected = sum(JointsMSELoss()(o, target, torch.ones(1, 3)) for o in outputs)
    torch.testing.assert_close(model.loss(outputs, target, torch.ones(1, 3)), expected)


@pytest.mark.parametrize("name, layers", [("hrnet_w18_small_v1", ["head.final_layer"]),
                                          ("hourglass", ["heads.0", "heads.1", "merge_preds.0"])])
def test_reset_head_gives_the_official_initialisation(name, layers):
    kwargs = {"num_stacks": 2, **TINY_HOURGLASS} if name == "hourglass" else {}
    model = hrnet_zoo.create_model(name, **kwargs)
    stem = {k: v.clone() for k, v in model.state_dict().items() if not any(k.startswith(p) for p in layers)}
    model.reset_head(16)
    assert model.num_keypoints == 16 and model.pretrained_cfg.keypoints.name == "mpii"  # COCO's names no longer apply
    assert model._hub_mixin_config["num_keypoints"] == 16
    for layer in layers:
        module = model.get_submodule(layer)
        assert 16 in module.weight.shape[:2]
        assert 0.0005 < float(module.weight.detach().std()) < 0.0015 and torch.count_nonzero(module.bias) == 0
    assert all(torch.equal(model.state_dict()[k], v) for k, v in stem.items())  # the rest is kept
    assert model(torch.randn(1, 3, 64, 48)).shape[1] == 16
    model.reset_head(5)  # no built-in set of 5: the cfg holds no keypoint names rather than wrong ones
    assert model.num_keypoints == 5 and model.pretrained_cfg.keypoints is None


def test_reset_head_survives_save_and_from_pretrained(tmp_path):
    model = hrnet_zoo.create_model("simplebaseline_r50_msdh", num_deconv_filters=[8, 8, 8])
    model.reset_head(4)  # the whole MSDH head follows K (its deconvolutions carry the heatmaps)
    model.save_pretrained(tmp_path)
    again = hrnet_zoo.from_pretrained(str(tmp_path))
    assert again.num_keypoints == 4 and again.load_result.ok and again.load_result.reinitialized_layers == ()
    with pytest.raises(HRNetZooError, match="num_keypoints must be a positive integer"):
        model.reset_head(0)


def test_create_model_with_other_keypoints_reports_and_resets_the_new_head(tmp_path):
    hrnet_zoo.create_model("hrnet_w18_small_v1").save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained=str(tmp_path), keypoints=NAMES)
    result = model.load_result
    assert result.reinitialized_layers == ("head.final_layer",)
    assert result.layout == "hrnet_zoo" and not result.missing_keys and not result.unexpected_keys
    assert sorted(k for k, _, _ in result.shape_mismatches) == ["head.final_layer.bias", "head.final_layer.weight"]
    weight = model.head.final_layer.weight
    assert weight.shape[0] == 5 and float(weight.detach().std()) < 0.0015
    assert torch.count_nonzero(model.head.final_layer.bias) == 0
    # Weights that fit: nothing re-initialised, the saved head kept.
    same = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained=str(tmp_path))
    assert same.load_result.ok and same.load_result.reinitialized_layers == ()
    assert hrnet_zoo.create_model("hrnet_w18_small_v1").load_result is None


def test_backbone_weights_into_a_full_model_leave_the_rest_fresh_and_say_so(tmp_path):
    """Backbone-only weights (an ImageNet ``init: backbone`` tag) fill ``model.backbone``; the result names
    what they left fresh, so that the builder gives the prediction layer its official initialisation."""
    source = hrnet_zoo.create_model("simplebaseline_r50", num_deconv_filters=[8, 8, 8])
    save_file(source.state_dict(), tmp_path / "model.safetensors")
    model = hrnet_zoo.create_model("simplebaseline_r50", num_deconv_filters=[8, 8, 8])
    resolved = ResolvedWeights({}, variant="simplebaseline_r50", label="in1k", zoo_source=str(tmp_path),
                               backbone_only=True)
    result = load_resolved(model, resolved)
    assert result.reinitialized_layers == ("head",)
    assert torch.equal(model.backbone.conv1.weight, source.backbone.conv1.weight)
    assert not torch.equal(model.head.final_layer.weight, source.head.final_layer.weight)
    features = hrnet_zoo.create_model("simplebaseline_r50", pretrained=str(tmp_path), features_only=True)
    assert features.load_result.reinitialized_layers == ()  # a features-only model has no head to leave fresh


def test_trainer_reads_the_load_result_not_warning_text(tmp_path):
    """The trainer decides and logs from ``load_result``: with every warning turned into an error it
    still builds the model, and a 5-keypoint dataset on 17-keypoint weights gets an official new head."""
    hrnet_zoo.create_model("hrnet_w18_small_v1").save_pretrained(tmp_path / "coco17")
    keypoint_set = resolve_keypoint_set(NAMES)
    logged = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = build_model("hrnet_w18_small_v1", keypoint_set, pretrained=str(tmp_path / "coco17"), log=logged.append)
    assert model.num_keypoints == 5 and model.load_result.reinitialized_layers == ("head.final_layer",)
    assert logged and "head.final_layer" in logged[0]
    assert float(model.head.final_layer.weight.detach().std()) < 0.0015
    # A saved folder of another keypoint count, with new_head: reset_head replaces its prediction layer.
    folder = tmp_path / "coco17"
    model = build_model(str(folder), keypoint_set, new_head=True, log=logged.append)
    source = hrnet_zoo.from_pretrained(str(folder))
    assert model.num_keypoints == 5 and torch.equal(model.backbone.conv1.weight, source.backbone.conv1.weight)
    assert model._hub_mixin_config["num_keypoints"] == 5 and model.pretrained_cfg.keypoints.keypoint_names == tuple(NAMES)


def test_cli_convert_gives_a_checkpoint_of_another_size_its_head(tmp_path, capsys):
    """The default 1000-class model is built first; the checkpoint's 10 classes come from reset_classifier."""
    small = hrnet_zoo.create_model("hrnet_w18_small_v1_cls", num_classes=10)
    save_file(small.state_dict(), tmp_path / "cls.safetensors")
    assert main(["convert", str(tmp_path / "cls.safetensors"), "--model", "hrnet_w18_small_v1_cls",
                 "--out", str(tmp_path / "cls")]) == 0
    assert "num_classes=10" in capsys.readouterr().out
    again = hrnet_zoo.from_pretrained(str(tmp_path / "cls"))
    assert again.num_classes == 10 and torch.equal(again.head.classifier.weight, small.head.classifier.weight)


def test_a_manifest_load_resolves_its_entry_once_and_resets_the_fresh_head(tmp_path, monkeypatch):
    """ImageNet backbone weights (``in1k``, ``init: backbone``) from a prepared cache, offline: the
    manifest entry is resolved once per load, and the pose head they leave fresh gets reset_head's
    initialisation."""
    from hrnet_zoo.weights import pretrained
    from hrnet_zoo.weights.cache import converted_stem, write_converted
    from hrnet_zoo.weights.manifest import resolve_weights

    monkeypatch.setenv("HRNET_ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = hrnet_zoo.create_model("hrnet_w18_small_v1")
    entry, sha256 = resolve_weights("hrnet_w18_small_v1", "in1k"), "ab" * 32
    pretrained._remember_sha256(entry, sha256)  # as after a verified download
    write_converted(converted_stem(sha256, "HRNetBackbone"), source.backbone.state_dict(),
                    {"source": "test", "source_layout": "hrnet_zoo", "format": "hrnet_zoo"})
    calls = []

    def counted(*args, **kwargs):
        calls.append(args)
        return resolve_weights(*args, **kwargs)
    monkeypatch.setattr(pretrained, "resolve_weights", counted)
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="in1k")
    assert calls == [("hrnet_w18_small_v1", "in1k")]
    assert model.load_result.reinitialized_layers == ("head",) and model.load_result.ok
    assert torch.equal(model.backbone.conv1.weight, source.backbone.conv1.weight)
    head = model.head.final_layer
    assert float(head.weight.detach().std()) < 0.0015 and torch.count_nonzero(head.bias) == 0
