"""hrnet_zoo.training as a package: optimizers and their parameter groups, the warmup, the precision
choice (bf16 on CPU only where native), the train command's new options and resume rules, the old
module paths as deprecated shims, and the no-function-over-60-lines rule."""
from __future__ import annotations

import ast
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hrnet_zoo
from hrnet_zoo.cli import main
from hrnet_zoo.training import TrainConfig, TrainingError
from hrnet_zoo.training.config import resume_config
from hrnet_zoo.training.optim import LinearWarmup, build_optimizer, build_scheduler, param_groups
from hrnet_zoo.training.precision import cpu_bf16_missing, resolve_precision

pytest.importorskip("pycocotools")
PACKAGE = Path(hrnet_zoo.__file__).resolve().parent
NAMES = ["nose", "left_eye", "right_eye", "left_hip", "right_hip"]


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    """A small COCO keypoint file as real ones are: unlabelled (v=0) and occluded (v=1) keypoints, a crowd
    region, a person without keypoints, and JPEG images of another size than the crop."""
    root = tmp_path_factory.mktemp("coco")
    (root / "images").mkdir()
    rng = np.random.default_rng(5)
    images, annotations = [], []
    for image_id in (3, 8, 21, 40):
        name = f"{image_id:012d}.jpg"
        Image.fromarray(rng.integers(0, 255, (120, 100, 3), dtype=np.uint8)).save(root / "images" / name, quality=90)
        images.append({"id": image_id, "file_name": name, "height": 120, "width": 100})
        for k, (x, y) in enumerate(((20, 10), (55, 40))):
            kps = []
            for j in range(5):
                v = 0 if (j == 4 and k == 1) else (1 if j == 3 else 2)
                kps += [0, 0, 0] if v == 0 else [x + 4 + 3 * j, y + 6 + 9 * j, v]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                                "bbox": [x, y, 30, 60], "area": 1500.0, "keypoints": kps,
                                "num_keypoints": sum(1 for v in kps[2::3] if v > 0)})
    annotations.append({"id": 90, "image_id": 3, "category_id": 1, "iscrowd": 1, "bbox": [0, 0, 40, 40],
                        "area": 900.0, "keypoints": [0] * 15, "num_keypoints": 0,
                        "segmentation": {"counts": [0, 1600], "size": [120, 100]}})
    annotations.append({"id": 91, "image_id": 8, "category_id": 1, "iscrowd": 0, "bbox": [70, 5, 12, 20],
                        "area": 200.0, "keypoints": [0] * 15, "num_keypoints": 0})
    categories = [{"id": 1, "name": "person", "supercategory": "person", "keypoints": NAMES,
                   "skeleton": [[1, 2], [1, 3], [4, 5]]}]
    ann = root / "train.json"
    ann.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return {"ann": str(ann), "images": str(root / "images")}


def train_argv(coco, out, *extra):
    return ["train", "--model", "hrnet_w18_small_v1", "--train-ann", coco["ann"], "--train-images", coco["images"],
            "--input-size", "64x48", "--batch-size", "4", "--out", str(out), "--no-pretrained", "--workers", "0",
            "--no-progress", "--device", "cpu", *extra]


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("hrnet-zoo: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------------------ optimizers and groups
@pytest.mark.parametrize("name, cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                       ("sgd", torch.optim.SGD)])
def test_each_optimizer_exempts_norms_and_biases_from_weight_decay(name, cls):
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3)
    optimizer = build_optimizer(model, name, 1e-3, weight_decay=1e-4)
    assert type(optimizer) is cls
    groups = {group["group"]: group for group in optimizer.param_groups}
    assert set(groups) == {"decay", "no_decay"}
    assert groups["decay"]["weight_decay"] == 1e-4 and groups["no_decay"]["weight_decay"] == 0.0
    in_decay = {id(p) for p in groups["decay"]["params"]}
    in_no_decay = {id(p) for p in groups["no_decay"]["params"]}
    assert not in_decay & in_no_decay and in_decay | in_no_decay == {id(p) for p in model.parameters()}
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert {id(module.weight), id(module.bias)} <= in_no_decay
        if isinstance(module, torch.nn.Conv2d):
            assert id(module.weight) in in_decay
            assert module.bias is None or id(module.bias) in in_no_decay
    if name == "sgd":
        assert optimizer.param_groups[0]["momentum"] == 0.9


def test_without_weight_decay_one_group_as_the_official_adam():
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3)
    groups = param_groups(model, 0.0)
    assert len(groups) == 1 and groups[0]["params"] == list(model.parameters())
    with pytest.raises(TrainingError, match="unknown optimizer .*'lamb'"):
        build_optimizer(model, "lamb", 1e-3)


# ------------------------------------------------------------------------------ warmup
def _lrs_per_step(schedule: str, epochs: int, steps_per_epoch: int, warmup_epochs: int) -> list[float]:
    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scheduler = build_scheduler(optimizer, schedule, epochs=epochs, milestones=[3], gamma=0.1)
    warmup = LinearWarmup(optimizer, scheduler, warmup_epochs * steps_per_epoch)
    lrs, step = [], 0
    for _ in range(epochs):
        for _ in range(steps_per_epoch):
            lrs.append(warmup.before_step(step))
            optimizer.step()
            step += 1
        warmup.end_epoch()
    return lrs


def test_warmup_ramps_linearly_then_hands_over_to_the_schedule():
    lrs = _lrs_per_step("multistep", epochs=4, steps_per_epoch=4, warmup_epochs=2)
    expected = [0.1 * (i + 1) / 8 for i in range(8)] + [0.1] * 4 + [0.01] * 4   # x0.1 at epoch 3
    assert lrs == pytest.approx(expected)
    assert _lrs_per_step("multistep", 4, 4, 0) == pytest.approx([0.1] * 12 + [0.01] * 4)
    cosine = _lrs_per_step("cosine", epochs=4, steps_per_epoch=2, warmup_epochs=1)
    plain = _lrs_per_step("cosine", epochs=4, steps_per_epoch=2, warmup_epochs=0)
    assert cosine[:2] == pytest.approx([plain[0] / 2, plain[1]])   # the warmup never leaks into the schedule
    assert cosine[2:] == pytest.approx(plain[2:])


# ------------------------------------------------------------------------------ precision
def test_precision_choices_and_the_refusals():
    native, missing = (lambda: None), (lambda: "this CPU (Test CPU) has no native bf16 instructions")
    assert resolve_precision("auto", "cpu").autocast_dtype is None
    auto_cuda = resolve_precision("auto", "cuda")
    assert auto_cuda.autocast_dtype == torch.float16 and auto_cuda.grad_scaler
    cpu_bf16 = resolve_precision("bf16", "cpu", cpu_bf16_probe=native)
    assert cpu_bf16.autocast_dtype == torch.bfloat16 and not cpu_bf16.grad_scaler
    with pytest.raises(TrainingError, match=r"--precision bf16 is refused: this CPU \(Test CPU\) has no native bf16"):
        resolve_precision("bf16", "cpu", cpu_bf16_probe=missing)
    with pytest.raises(TrainingError, match="--precision bf16 is refused"):
        resolve_precision("auto", "cpu", amp=True, cpu_bf16_probe=missing)   # --amp on CPU is bf16
    assert resolve_precision("auto", "cpu", amp=True, cpu_bf16_probe=native).name == "bf16"
    assert resolve_precision("auto", "cuda", amp=False).autocast_dtype is None
    with pytest.raises(TrainingError, match="fp16 mixed precision trains on CUDA"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(TrainingError, match="no bf16 arithmetic"):
        resolve_precision("bf16", "cuda", cuda_bf16=False)
    with pytest.raises(TrainingError, match="--no-amp and --precision bf16 disagree"):
        resolve_precision("bf16", "cpu", amp=False, cpu_bf16_probe=native)


def test_a_refused_precision_is_one_line_and_touches_no_folder(coco, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(coco, out, "--epochs", "1", "--precision", "fp16")) == 1
    assert "--precision fp16 does not train on cpu" in error_line(capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.skipif(cpu_bf16_missing() is not None, reason="this CPU has no native bf16")
def test_a_bf16_step_on_a_cpu_with_native_bf16(coco, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(coco, out, "--epochs", "1", "--max-steps", "1", "--precision", "bf16", "--json")) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["steps"] == 1
    assert "bf16 autocast" in captured.err
    line = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert np.isfinite(line["loss"]) and line["loss"] > 0


# ------------------------------------------------------------------------------ the command
def test_sgd_with_warmup_trains_through_the_command_and_keeps_its_options_on_resume(coco, tmp_path, capsys):
    out = tmp_path / "run"
    argv = train_argv(coco, out, "--optimizer", "sgd", "--warmup-epochs", "1", "--weight-decay", "1e-4")
    assert main(argv + ["--epochs", "1", "--json"]) == 0   # 8 people with keypoints, batch 4: 2 steps
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["steps"] == 2
    assert "sgd lr 0.001 weight decay 0.0001, warmup 2 steps" in captured.err
    state = torch.load(out / "last" / "training_state.pt", weights_only=True)
    groups = state["optimizer"]["param_groups"]
    assert [g["group"] for g in groups] == ["decay", "no_decay"] and all(g["momentum"] == 0.9 for g in groups)
    assert state["options"]["optimizer"] == "sgd" and state["options"]["warmup_epochs"] == 1
    assert json.loads((out / "metrics.jsonl").read_text())["lr"] == pytest.approx(1e-3)   # ramp ended at the lr

    changed = train_argv(coco, out, "--optimizer", "adam", "--epochs", "2", "--resume")
    assert main(changed) == 1
    line = error_line(capsys.readouterr().err)
    assert "--resume cannot change --optimizer adam (the run has sgd)" in line
    assert main(train_argv(coco, out, "--warmup-epochs", "0", "--epochs", "2", "--resume")) == 1
    assert "--warmup-epochs 0 (the run has 1)" in error_line(capsys.readouterr().err)


def test_options_a_run_of_an_older_version_did_not_save_are_its_defaults(tmp_path):
    config = TrainConfig("hrnet_w18_small_v1", "a.json", "img", None, None, str(tmp_path), optimizer="sgd",
                         given=frozenset({"optimizer"}))
    state = {"options": {"model": "hrnet_w18_small_v1", "lr": 1e-3, "weight_decay": 0.0}}
    with pytest.raises(TrainingError, match=r"--optimizer sgd \(the run has adam\)"):
        resume_config(config, state, tmp_path / "last", print)
    kept = resume_config(TrainConfig("hrnet_w18_small_v1", "a.json", "img", None, None, str(tmp_path),
                                     given=frozenset()), state, tmp_path / "last", print)
    assert kept.optimizer == "adam" and kept.warmup_epochs == 0


def test_the_command_refuses_negative_weight_decay_and_warmup(coco, tmp_path, capsys):
    assert main(train_argv(coco, tmp_path / "a", "--weight-decay", "-1")) == 2
    assert "--weight-decay must be 0 or more, got -1.0" in capsys.readouterr().err
    assert main(train_argv(coco, tmp_path / "b", "--warmup-epochs", "-2")) == 2
    assert "--warmup-epochs must be 0 or more, got -2" in capsys.readouterr().err


# ------------------------------------------------------------------------------ layout
@pytest.mark.parametrize("old, new, names", [
    ("hrnet_zoo.training_state", "hrnet_zoo.training.checkpoint", ["save_checkpoint_dir", "STATE_FILE", "TrainingError"]),
    ("hrnet_zoo.run_folder", "hrnet_zoo.training.checkpoint", ["open_run_folder", "reported_best"]),
    ("hrnet_zoo.train_loop", "hrnet_zoo.training.loop", ["check_finite_weights", "LossWatch"]),
])
def test_old_module_paths_warn_and_reexport(old, new, names):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated .* import from {new}"):
        module = importlib.import_module(old)
    target = importlib.import_module(new)
    assert all(getattr(module, name) is getattr(target, name) for name in names)


def test_no_function_of_the_training_package_is_over_60_lines():
    long = []
    for path in sorted((PACKAGE / "training").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, path.name
    assert not long
