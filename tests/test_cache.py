"""The converted-weights cache: checksums, damaged files, stale temporary files, read-only caches.

No network: the entry's source is a URL whose verified download is already in ``<cache>/downloads``,
which is where a finished download lives.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import save_file

import hrnet_zoo
from hrnet_zoo.weights import cache as cache_module
from hrnet_zoo.weights import hub
from hrnet_zoo.weights.hub import OfflineError
from hrnet_zoo.weights.pretrained import PretrainedWeightsError, converted_state_dict, prepare_weights


@pytest.fixture
def source(tmp_path, monkeypatch):
    """A registered-looking entry whose verified source sits in the cache, the model and its weights."""
    monkeypatch.setenv("HRNET_ZOO_CACHE", str(tmp_path / "zoo"))
    torch.manual_seed(0)
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    name = "pose.safetensors"
    (tmp_path / "zoo" / "downloads").mkdir(parents=True)
    save_file(weights, tmp_path / "zoo" / "downloads" / name)
    sha256 = hashlib.sha256((tmp_path / "zoo" / "downloads" / name).read_bytes()).hexdigest()
    entry = {"model": "hrnet_w18_small_v1", "tag": "local", "init": "full", "verify": "sha256", "sha256": sha256,
             "source": {"url": f"http://127.0.0.1:9/{name}"}}
    return entry, model, weights


def converted_files(entry) -> list:
    folder = hub.cache_dir() / "converted"
    return sorted(folder.iterdir()) if folder.exists() else []


def same(state, weights) -> bool:
    return all(torch.equal(state[k], v) for k, v in weights.items())


def test_converted_file_is_named_by_its_sha256(source):
    entry, model, weights = source
    assert same(converted_state_dict(entry, model), weights)
    (path,) = converted_files(entry)
    stem, digest, suffix = path.name.split(".")
    assert stem == f"{entry['sha256']}-HRNetPose" and suffix == "safetensors"
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_flipped_bytes_and_a_valid_substitute_are_rebuilt_from_the_source(source):
    entry, model, weights = source
    converted_state_dict(entry, model)
    (path,) = converted_files(entry)
    data = bytearray(path.read_bytes())
    data[-100:-90] = bytes(b ^ 0xFF for b in data[-100:-90])  # inside the last tensor's data
    path.write_bytes(bytes(data))
    assert same(converted_state_dict(entry, model), weights)
    (path,) = converted_files(entry)  # the damaged file was replaced
    assert hashlib.sha256(path.read_bytes()).hexdigest() in path.name
    save_file({k: torch.zeros_like(v) for k, v in weights.items()}, path)  # valid, but not what was written
    assert same(converted_state_dict(entry, model), weights)


def test_damaged_file_offline_without_the_source_says_what_to_do(source, monkeypatch):
    entry, model, _ = source
    converted_state_dict(entry, model)
    (path,) = converted_files(entry)
    path.write_bytes(path.read_bytes()[:-8] + b"\0" * 8)
    (hub.cache_dir() / "downloads" / "pose.safetensors").unlink()
    monkeypatch.setattr(hub, "is_offline", lambda: True)
    with pytest.raises(OfflineError, match="does not match the sha256 in its name .* was removed.*HF_HUB_OFFLINE"):
        converted_state_dict(entry, model)
    assert converted_files(entry) == []


def test_temp_file_of_a_killed_writer_is_removed_on_the_next_run(source):
    entry, model, weights = source
    folder = hub.cache_dir() / "converted"
    folder.mkdir(parents=True)
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from hrnet_zoo.weights.cache import write_atomically\n"
        "write_atomically(Path(sys.argv[1]), lambda tmp: (tmp.write_bytes(b'x' * 1000), time.sleep(60)))\n"),
        str(folder / "big.safetensors")])
    deadline = time.time() + 60
    while not list(folder.glob("*.tmp")) and time.time() < deadline:
        time.sleep(0.05)
    writer.kill()  # SIGKILL: no finally clause runs
    writer.wait()
    (leftover,) = folder.glob("*.tmp")
    assert leftover.name == f"big.safetensors.{writer.pid}.tmp"
    running = folder / f"other.safetensors.{os.getpid()}.tmp"  # a live writer's file is kept
    running.write_bytes(b"y")
    assert same(converted_state_dict(entry, model), weights)
    assert not leftover.exists() and running.exists()


@pytest.mark.parametrize("lock_failure", ["PermissionError", "lock path is a directory"])
def test_read_only_cache_serves_its_verified_files(source, monkeypatch, lock_failure):
    entry, model, weights = source
    converted_state_dict(entry, model)
    if lock_failure == "PermissionError":
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(cache_module, "FileLock", refuse)
    else:
        for lock in (hub.cache_dir() / "locks").iterdir():
            lock.unlink()
            lock.mkdir()
    assert same(converted_state_dict(entry, model), weights)
    for path in converted_files(entry):  # nothing to read: one clear error, nothing written
        path.unlink()
    with pytest.raises(PretrainedWeightsError, match="read-only here .* holds no verified converted file.*"
                                                     "set HRNET_ZOO_CACHE to a writable folder"):
        converted_state_dict(entry, model)
    assert converted_files(entry) == []


def test_cache_that_is_a_file_or_cannot_be_created_is_one_clear_error(source, tmp_path, monkeypatch):
    entry, model, _ = source
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("HRNET_ZOO_CACHE", str(tmp_path / "file"))
    with pytest.raises(PretrainedWeightsError, match="is a file, not a folder; set HRNET_ZOO_CACHE"):
        converted_state_dict(entry, model)
    monkeypatch.setenv("HRNET_ZOO_CACHE", str(tmp_path / "file" / "below"))
    with pytest.raises(PretrainedWeightsError, match="HRNET_ZOO_CACHE"):
        converted_state_dict(entry, model)


def test_prepare_reports_the_checksummed_file(source, monkeypatch):
    entry, model, _ = source
    monkeypatch.setattr("hrnet_zoo.weights.pretrained.resolve_weights", lambda name, tag: entry)
    info = prepare_weights("hrnet_w18_small_v1", "local", model=model)
    assert info["converted"] == converted_files(entry)[0] and info["sha256"] == entry["sha256"]


def test_cache_paths_stay_inside_the_cache(source):
    entry, model, _ = source
    with pytest.raises(PretrainedWeightsError, match="leaves hrnet_zoo's cache"):
        hub.cache_path("converted", "../../outside")
    with pytest.raises(PretrainedWeightsError, match="not a sha256"):
        converted_state_dict({**entry, "sha256": "../../../x"}, model)
