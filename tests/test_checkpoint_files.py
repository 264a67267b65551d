"""read_state_dict on files that are not (plain) checkpoints: each error says what the file is."""
from __future__ import annotations

import argparse

import pytest
import torch

from hrnet_zoo.weights import CheckpointError, read_state_dict

WEIGHTS = {"conv.weight": torch.zeros(2, 1, 1, 1)}


@pytest.mark.parametrize("content, expected", [
    (b"", "is empty (0 bytes)"),
    (b"ab", "is too short (2 bytes)"),
    (b"hello world, not a checkpoint\n", "is a text file (it starts with 'hello world,')"),
    (bytes(range(200, 256)), "neither a zip (torch.save) nor a pickle"),
    (b"\x80\x02" + bytes(range(60, 120)), "Unsupported operand 60"),
])
def test_files_that_are_not_checkpoints_say_what_they_are(tmp_path, content, expected):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="weights.pth") as excinfo:
        read_state_dict(path)
    assert expected in str(excinfo.value)


@pytest.mark.parametrize("zip_format", [True, False])
def test_refused_object_is_named_without_advising_weights_only_false(tmp_path, zip_format):
    path = tmp_path / "train.pth"
    torch.save({"state_dict": WEIGHTS, "args": argparse.Namespace(lr=0.1)}, path,
               _use_new_zipfile_serialization=zip_format)
    with pytest.raises(CheckpointError) as excinfo:
        read_state_dict(path)
    message = str(excinfo.value)
    assert "argparse.Namespace" in message and "re-save only the state_dict" in message
    assert "weights_only=True" in message and "False" not in message and "\x1b" not in message


def test_truncated_zip_gives_one_plain_reason(tmp_path):
    path = tmp_path / "cut.pth"
    torch.save(WEIGHTS, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a complete zip or pickle checkpoint") as excinfo:
        read_state_dict(path)
    assert "\x1b" not in str(excinfo.value) and "False" not in str(excinfo.value)


@pytest.mark.parametrize("key", ["ema", "state_dict_ema", "model_ema"])
def test_ema_only_checkpoints_load(tmp_path, key):
    torch.save({key: WEIGHTS, "epoch": 3}, tmp_path / "ema.pth")
    assert list(read_state_dict(tmp_path / "ema.pth")) == ["conv.weight"]


def test_regular_weights_are_preferred_over_ema(tmp_path):
    torch.save({"state_dict_ema": {"conv.weight": torch.ones(2, 1, 1, 1)}, "state_dict": WEIGHTS}, tmp_path / "c.pth")
    assert torch.equal(read_state_dict(tmp_path / "c.pth")["conv.weight"], WEIGHTS["conv.weight"])


def test_no_state_dict_lists_the_keys_found(tmp_path):
    torch.save({"epoch": 3, "optimizer": {}, "best_ap": 0.7}, tmp_path / "c.pth")
    with pytest.raises(CheckpointError, match="holds no state dict.*top-level keys: epoch, optimizer, best_ap"):
        read_state_dict(tmp_path / "c.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="it holds a list"):
        read_state_dict(tmp_path / "list.pth")


def test_directory_is_not_reported_as_missing(tmp_path):
    with pytest.raises(CheckpointError, match="is a directory, not a checkpoint file.*from_pretrained"):
        read_state_dict(tmp_path)
