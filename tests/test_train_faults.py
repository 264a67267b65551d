"""``hrnet-zoo train`` under faults: foreign and locked output folders, SIGKILLs around ``best/``,
non-finite and exploding losses, resumes with changed options, a full disk, torn metrics, broken
checkpoints and inputs a run cannot use. Each ends in one line (or a warning) and loses no file."""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image
from synthetic_keypoints import make_synthetic_coco

import hrnet_zoo
from hrnet_zoo.cli import main
from hrnet_zoo.training import TrainingError
from hrnet_zoo.weights import read_state_dict

pytest.importorskip("pycocotools")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("faultsyn")
    train = make_synthetic_coco(root, num_images=4, seed=11, split="train")
    (root / "no_images").mkdir()
    return {"ann": train["ann_file"], "images": train["image_dir"], "empty": str(root / "no_images")}


def train_argv(data, out, *extra, images=None):
    return ["train", "--model", "hrnet_w18_small_v1", "--train-ann", data["ann"], "--train-images",
            images or data["images"], "--input-size", "64x48", "--batch-size", "2", "--out", str(out),
            "--no-pretrained", "--workers", "0", "--no-progress", *extra]


def error_line(err: str) -> str:
    """The one error line of a failed command (and no traceback)."""
    lines = [line for line in err.splitlines() if line.startswith("hrnet-zoo: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def metric_epochs(out):
    return [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def same_weights(a: Path, b: Path) -> bool:
    x, y = read_state_dict(a / "model.safetensors"), read_state_dict(b / "model.safetensors")
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


# ------------------------------------------------------------------------------ item 2: foreign folders
def test_a_folder_that_is_not_a_run_is_refused_and_its_files_kept(data, tmp_path, capsys):
    photos = tmp_path / "photos"
    (photos / "best").mkdir(parents=True)
    (photos / "best" / "holiday.jpg").write_bytes(b"not yours")
    (photos / "metrics.jsonl").write_text('{"my": "numbers"}\n')
    assert main(train_argv(data, photos, "--epochs", "1")) == 1
    assert "is not a run of hrnet-zoo to resume" in error_line(capsys.readouterr().err)
    assert main(train_argv(data, photos, "--epochs", "1", "--force")) == 1
    assert "best, metrics.jsonl that hrnet-zoo did not write" in error_line(capsys.readouterr().err)
    assert (photos / "best" / "holiday.jpg").read_bytes() == b"not yours"
    assert (photos / "metrics.jsonl").read_text() == '{"my": "numbers"}\n' and not (photos / "last").exists()

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "README.txt").write_text("experiment log")
    assert main(train_argv(data, notes, "--epochs", "1", "--max-steps", "1")) == 1
    capsys.readouterr()
    assert main(train_argv(data, notes, "--epochs", "1", "--max-steps", "1", "--force")) == 0
    assert (notes / "README.txt").read_text() == "experiment log" and (notes / "last").is_dir()


@pytest.mark.parametrize("extra, status, expected", [
    (["--seed", "-1"], 2, "--seed must be 0 or more, got -1"),
    (["--max-steps", "0"], 2, "--max-steps must be a positive integer, got 0"),
    (["--max-steps", "-3"], 2, "--max-steps must be a positive integer, got -3"),
    (["--device", "banana"], 1, "--device 'banana' is not a device; use cpu, cuda or cuda:N"),
    pytest.param(["--device", "cuda"], 1, "--device cuda: CUDA is not available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
    ("out-is-a-file", 2, "is a file; a run needs a folder"),
])
def test_bad_options_are_one_line_before_the_data_loads(data, tmp_path, capsys, extra, status, expected):
    # The image folder is empty: had the data been loaded first, the error would name a missing image.
    out = tmp_path / "run"
    if extra == "out-is-a-file":
        out = tmp_path / "run.txt"
        out.write_text("a file")
        extra = []
    assert main(train_argv(data, out, "--epochs", "1", *extra, images=data["empty"])) == status
    assert expected in error_line(capsys.readouterr().err)


def test_max_steps_below_one_is_refused_by_the_library(data, tmp_path):
    with pytest.raises(TrainingError, match="max_steps"):
        hrnet_zoo.train(model="hrnet_w18_small_v1", train_ann=data["ann"], train_images=data["images"],
                        val_ann=None, val_images=None, out=str(tmp_path / "run"), max_steps=0)


def test_out_on_a_folder_that_cannot_be_written_is_one_line(data, tmp_path, capsys):
    locked = tmp_path / "readonly"
    locked.mkdir()
    locked.chmod(0o555)
    out = locked / "run"
    if os.access(locked, os.W_OK):  # root ignores modes; sysfs refuses new folders to everyone
        if not Path("/sys/fs").is_dir():
            pytest.skip("no folder this user cannot write")
        out = Path("/sys/fs/hrnet-zoo-test-run")
    try:
        assert main(train_argv(data, out, "--epochs", "1", "--max-steps", "1")) == 1
    finally:
        locked.chmod(0o755)
    assert f"cannot write into the run folder --out {out}" in error_line(capsys.readouterr().err)


# ------------------------------------------------------------------------------ item 3: the lock
def test_a_second_run_into_a_locked_folder_is_one_line(data, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import filelock, sys, time\n"
         "lock = filelock.FileLock(sys.argv[1], timeout=0); lock.acquire(); print('held', flush=True)\n"
         "time.sleep(120)", str(out / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(train_argv(data, out, "--epochs", "1", "--max-steps", "1")) == 1
    finally:
        holder.kill()
        holder.wait()
    assert "another training run is writing into" in error_line(capsys.readouterr().err)
    assert not (out / "last").exists() and not (out / "metrics.jsonl").exists()
    assert main(train_argv(data, out, "--epochs", "1", "--max-steps", "1")) == 0   # the lock went with its holder


# ------------------------------------------------------------------------------ item 5: kills around best/
KILLER = textwrap.dedent("""
    import os, signal, sys
    import hrnet_zoo.training.checkpoint
    from hrnet_zoo.cli import main

    where, calls = sys.argv[1], []

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def killing_save(model, dest, *args, **kwargs):
        if where == "before-best" and dest.name == "best":
            calls.append(dest)
            if len(calls) == 2:      # epoch 1's best/, after epoch 1's last/ is saved
                die()
        return real_save(model, dest, *args, **kwargs)

    def killing_replace(src, dst):
        if where == "inside-swap" and os.path.basename(str(src)).startswith(".best.tmp-"):
            calls.append(src)
            if len(calls) == 2:      # epoch 1's best/ moved aside, the new one not yet in place
                die()
        return real_replace(src, dst)

    real_save, real_replace = hrnet_zoo.training.checkpoint.save_checkpoint_dir, os.replace
    for module in ("hrnet_zoo.training.checkpoint", "hrnet_zoo.training.loop", "hrnet_zoo.training.setup"):
        module = sys.modules.get(module)
        if module is not None and hasattr(module, "save_checkpoint_dir"):
            module.save_checkpoint_dir = killing_save
    os.replace = killing_replace
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.slow
@pytest.mark.parametrize("where", ["before-best", "inside-swap"])
def test_a_kill_around_best_is_recovered_on_resume(data, tmp_path, capsys, where):
    out = tmp_path / "run"
    argv = train_argv(data, out, "--epochs", "2")   # no validation: best/ follows the loss, lower each epoch
    proc = subprocess.run([sys.executable, "-c", KILLER, where, *argv], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert torch.load(out / "last" / "training_state.pt", weights_only=True)["epoch"] == 1
    assert main(train_argv(data, out, "--epochs", "2", "--resume", "--json")) == 0
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert same_weights(out / "best", out / "last")          # the best epoch is the last one here
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["best_epoch"] == 1
    assert json.loads((out / "best" / "best.json").read_text())["epoch"] == 1


# ------------------------------------------------------------------------------ item 6: the loss
def test_a_non_finite_loss_stops_without_saving(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(data, out, "--epochs", "1", "--lr", "1e20", "--max-steps", "3")) == 1
    line = error_line(capsys.readouterr().err)
    assert "the loss became nan at step 2 (epoch 0, learning rate 1e+20)" in line
    assert not (out / "last").exists() and not (out / "best").exists()


def test_a_loss_that_explodes_warns_once(data, tmp_path, capsys):
    assert main(train_argv(data, tmp_path / "run", "--epochs", "1", "--lr", "10", "--max-steps", "2")) == 0
    err = capsys.readouterr().err
    assert err.count("warning: the loss grew to") == 1 and "the learning rate 10 may be too high" in err


def test_non_finite_weights_are_never_saved():
    from hrnet_zoo.training.loop import check_finite_weights
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=2)
    check_finite_weights(model, 0, 1, 1e-3)
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    with pytest.raises(TrainingError, match="non-finite weights"):
        check_finite_weights(model, 0, 1, 1e-3)


# ------------------------------------------------------------------------------ item 7: resume options
def test_resume_applies_lr_and_epochs_and_refuses_other_changes(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(data, out, "--epochs", "1", "--lr", "1e-3")) == 0
    for changed, said in ((["--input-size", "96x72"], "--input-size 96x72 (the run has 64x48)"),
                          (["--batch-size", "3"], "--batch-size 3 (the run has 2)")):
        argv = train_argv(data, out, "--epochs", "2", "--resume")
        argv[argv.index("--input-size"):argv.index("--input-size") + 2] = []
        argv[argv.index("--batch-size"):argv.index("--batch-size") + 2] = []
        capsys.readouterr()
        assert main(argv + changed) == 1
        line = error_line(capsys.readouterr().err)
        assert f"--resume cannot change {said}" in line and "may change only --lr, --epochs and --max-steps" in line
    assert main(train_argv(data, out, "--epochs", "2", "--lr", "1e-5", "--resume")) == 0
    err = capsys.readouterr().err
    assert "resume: --lr 1e-05 applied (the run had 0.001)" in err
    assert "resume: --epochs 2 applied (the run had 1)" in err
    # Options not given keep the run's: its input size (not the model's 256x192) and the lr given last.
    argv = train_argv(data, out, "--epochs", "3", "--resume")
    argv[argv.index("--input-size"):argv.index("--input-size") + 2] = []
    assert main(argv) == 0
    lrs = [json.loads(line)["lr"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lrs == pytest.approx([1e-3, 1e-5, 1e-6])   # epoch 2 of 3 is past the first milestone (x0.1)
    assert json.loads((out / "last" / "config.json").read_text())["pretrained_cfg"]["input_size"] == [64, 48]


# ------------------------------------------------------------------------------ item 10: a full disk
@pytest.mark.slow
def test_a_write_that_fails_while_saving_is_one_line_and_keeps_last(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(data, out, "--epochs", "1")) == 0
    before = (out / "last" / "model.safetensors").read_bytes()

    def small_files():  # files may grow to 64 KiB: the 5 MB weights cannot be written (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))
    proc = subprocess.run([sys.executable, "-m", "hrnet_zoo", *train_argv(data, out, "--epochs", "2", "--resume")],
                          capture_output=True, text=True, timeout=300, preexec_fn=small_files,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 1, proc.stderr[-2000:]
    line = error_line(proc.stderr)
    assert f"cannot save the checkpoint {out / 'last'}" in line and "File too large" in line
    assert (out / "last" / "model.safetensors").read_bytes() == before
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


# ------------------------------------------------------------------------------ item 11: metrics.jsonl
@pytest.mark.parametrize("tail", ['{"epoch": 1, "step": 4, "lo', '[1, 2]'])
def test_a_torn_last_metrics_line_is_dropped_with_a_warning(data, tmp_path, capsys, tail):
    out = tmp_path / "run"
    assert main(train_argv(data, out, "--epochs", "1", "--max-steps", "2")) == 0
    with open(out / "metrics.jsonl", "a") as f:
        f.write(tail)
    assert main(train_argv(data, out, "--epochs", "2", "--max-steps", "4", "--resume")) == 0
    assert f"warning: {out / 'metrics.jsonl'} line 2 is not a complete JSON object" in capsys.readouterr().err
    assert metric_epochs(out) == [0, 1]


def test_a_torn_metrics_line_before_others_is_one_line(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(data, out, "--epochs", "1", "--max-steps", "2")) == 0
    good = (out / "metrics.jsonl").read_text()
    (out / "metrics.jsonl").write_text('{"epoch": 0, "lo\n' + good)
    assert main(train_argv(data, out, "--epochs", "2", "--max-steps", "4", "--resume")) == 1
    assert f"{out / 'metrics.jsonl'} line 1 is not a JSON object" in error_line(capsys.readouterr().err)


# ------------------------------------------------------------------------------ item 14: unusable input
@pytest.mark.parametrize("damage, expected", [
    ("missing", "training_state.pt is missing"),
    ("text", "training_state.pt is not a training state"),
])
def test_a_run_whose_state_is_missing_or_not_a_state_cannot_be_resumed(data, tmp_path, capsys, damage, expected):
    out = tmp_path / "run"
    assert main(train_argv(data, out, "--epochs", "1", "--max-steps", "1")) == 0
    state = out / "last" / "training_state.pt"
    state.unlink() if damage == "missing" else state.write_text("epoch 0, step 1\n")
    assert main(train_argv(data, out, "--epochs", "2", "--resume")) == 1
    line = error_line(capsys.readouterr().err)
    assert f"{out / 'last'} cannot be resumed: " in line and expected in line


def test_a_single_annotation_at_a_tiny_input_size_is_one_line(tmp_path, capsys):
    """One annotated instance, 32x32 crops: the lowest HRNet branch is 1x1, and BatchNorm cannot
    normalise a batch of one value per channel."""
    (tmp_path / "img").mkdir()
    Image.new("RGB", (64, 48), (90, 90, 90)).save(tmp_path / "img" / "000001.jpg")
    ann = {"images": [{"id": 1, "file_name": "000001.jpg", "width": 64, "height": 48}],
           "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [10, 8, 30, 30], "area": 900.0,
                            "iscrowd": 0, "num_keypoints": 2, "keypoints": [20, 15, 2, 30, 30, 2]}],
           "categories": [{"id": 1, "name": "tool", "supercategory": "tool", "keypoints": ["tip", "handle"],
                           "skeleton": [[1, 2]]}]}
    (tmp_path / "one.json").write_text(json.dumps(ann))
    argv = ["train", "--model", "hrnet_w18_small_v1", "--train-ann", str(tmp_path / "one.json"), "--train-images",
            str(tmp_path / "img"), "--input-size", "32x32", "--epochs", "1", "--batch-size", "2",
            "--out", str(tmp_path / "run"), "--no-pretrained", "--workers", "0", "--no-progress"]
    assert main(argv) == 1
    line = error_line(capsys.readouterr().err)
    assert "a training batch of 1 sample at input 32x32 leaves a BatchNorm layer one value per channel" in line
    assert "one.json" in line


def test_logged_records_are_strict_json(tmp_path):
    """metrics.jsonl and best.json are JSON any reader accepts: a NaN figure is written as null."""
    import json

    from hrnet_zoo.training.checkpoint import append_metrics

    path = tmp_path / "metrics.jsonl"
    append_metrics(path, {"epoch": 0, "loss": 0.5, "NME": float("nan"), "AP": float("-inf")})
    line = path.read_text(encoding="utf-8").strip()
    assert "NaN" not in line and "Infinity" not in line
    assert json.loads(line) == {"epoch": 0, "loss": 0.5, "NME": None, "AP": None}
