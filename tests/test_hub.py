"""Weights through the real huggingface_hub client against a local Hub on 127.0.0.1 (no internet).

The client runs in subprocesses (``tests/hub_client.py``) because huggingface_hub reads
``HF_ENDPOINT``/``HF_HUB_OFFLINE`` once, at import. Each module-scoped fixture runs one scenario; the
tests assert on what it observed.
"""
from __future__ import annotations

import hashlib
import json
import re

import pytest
from hub_server import LocalHub, client_result, official_pose_checkpoint
from safetensors.torch import save_file

PINNED_W32 = "19bc083708bb8d873211e50d85d56344c10290c6e8b564c813fdde09645c4c1c"
LIE = "0" * 64


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = LocalHub(tmp_path_factory.mktemp("hub"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def seeded(hub, tmp_path_factory):
    """Repos and files on the local Hub, and the hrnet_zoo-layout references to compare against."""
    refs = tmp_path_factory.mktemp("refs")
    rev1_bytes, rev1_state = official_pose_checkpoint(seed=1)
    main_bytes, main_state = official_pose_checkpoint(seed=2)
    save_file(rev1_state, refs / "rev1.safetensors")
    save_file(main_state, refs / "main.safetensors")
    rev1 = hub.publish("org/pose-small", {"pose.pth": rev1_bytes})
    hub.publish("org/pose-small", {"pose.pth": main_bytes})
    hub.publish("org/private", {"pose.pth": main_bytes}, token="hf_secret")
    hub.publish("org/liar", {"pose.pth": main_bytes})
    (hub.root / "repos" / "org" / "liar" / "etags.json").write_text(json.dumps({"pose.pth": LIE}))
    # Someone else's file under the official name: the manifest's pinned sha256 must refuse it.
    hub.publish("Prophetetc/cocopose", {"pose_hrnet_w32_256x192.pth": main_bytes})
    sha = hashlib.sha256(main_bytes).hexdigest()
    url_name = f"td-hm_test-{sha[:8]}_20240101.pth"
    return {"main_bytes": main_bytes, "sha": sha, "url_name": url_name,
            "args": {"rev1": rev1, "ref_main": str(refs / "main.safetensors"), "ref_rev1": str(refs / "rev1.safetensors"),
                     "url": hub.add_file(url_name, main_bytes), "url_prefix": sha[:8],
                     "bad_url": hub.add_file("td-hm_test-deadbeef_20240101.pth", main_bytes)}}


@pytest.fixture(scope="module")
def client_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("client")


@pytest.fixture(scope="module")
def online(hub, seeded, client_dir):
    # An interrupted earlier download of the URL file: the first half is already on disk.
    part = client_dir / "zoo" / "downloads" / (seeded["url_name"] + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(seeded["main_bytes"][: len(seeded["main_bytes"]) // 2])
    return hub.client("hub", seeded["args"], hub.env(client_dir, HF_TOKEN="hf_secret"))


@pytest.fixture(scope="module")
def offline(hub, seeded, client_dir, online):
    return hub.client("offline", seeded["args"], hub.env(client_dir, HF_HUB_OFFLINE="1"))


def test_download_verifies_converts_and_caches(online, seeded):
    assert online["download"]["equal"]
    (name,) = online["download"]["converted"]  # named by the source's sha256, then the file's own
    assert re.fullmatch(f"{seeded['sha']}-HRNetPose\\.[0-9a-f]{{64}}\\.safetensors", name)


def test_second_load_reads_converted_cache_without_network(online):
    assert online["cache_hit"] == {"equal": True, "new_requests": []}


def test_pinned_revision_is_honoured(online):
    assert online["revision"] == {"equal_rev1": True, "equal_main": False}


def test_token_reaches_private_repo(online):
    assert online["private_with_token"]["error"] is None
    refused = online["private_without_token"]
    assert refused["error"] == "PretrainedWeightsError" and "HF_TOKEN" in refused["message"]


def test_hub_lfs_sha256_mismatch_is_refused_removed_and_not_cached(online, seeded):
    result = online["lfs_sha256_mismatch"]
    assert result["error"] == "ChecksumError"
    assert "org/liar/pose.pth" in result["message"] and LIE in result["message"] and seeded["sha"] in result["message"]
    assert not [f for f in result["blobs"] if f.startswith(("blobs/", "snapshots/"))]
    assert result["new_converted"] == []  # nothing cached


def test_manifest_pinned_checksum_refuses_other_file(online, seeded):
    result = online["pinned_mismatch"]
    assert result["error"] == "ChecksumError"
    message = result["message"]
    assert "pose_hrnet_w32_256x192.pth" in message and PINNED_W32 in message and seeded["sha"] in message
    assert "removed" in message
    assert not [f for f in result["blobs"] if f.startswith(("blobs/", "snapshots/"))]
    assert result["new_converted"] == []


def test_url_download_resumes_and_checks_prefix(online, seeded):
    result = online["url_resume"]
    half = len(seeded["main_bytes"]) // 2
    assert result["equal"]
    assert f"GET /files/{seeded['url_name']} Range=bytes={half}-" in result["requests"]
    assert result["downloads"] == [seeded["url_name"]]


def test_url_prefix_mismatch_is_refused_and_removed(online):
    result = online["url_prefix_mismatch"]
    assert result["error"] == "ChecksumError" and "deadbeef" in result["message"]
    assert not [f for f in result["downloads"] if "deadbeef" in f]


def test_offline_warm_cache_loads_without_requests(offline):
    assert offline["warm"]["equal"] and offline["hub_cache_only"]["equal"]
    assert offline["hub_cache_only"]["converted"]  # converted again from the Hub cache
    assert offline["new_requests"] == []


def test_offline_cold_cache_says_how_to_get_the_file(offline):
    cold = offline["cold"]
    assert cold["error"] == "OfflineError"
    assert "offline mode is on" in cold["message"] and "HF_HUB_OFFLINE" in cold["message"]
    assert "hrnet-zoo download hrnet_w18_small_v1 --tag never-downloaded" in cold["message"]


def test_two_processes_loading_at_once_both_succeed(hub, seeded, tmp_path):
    before = len(hub.requests())
    env = hub.env(tmp_path)
    procs = [hub.client("load", seeded["args"], env, background=True) for _ in range(2)]
    results = [client_result(p) for p in procs]
    assert all(r["load"]["equal"] for r in results)
    downloads = [r for r in hub.requests()[before:] if r == "GET /org/pose-small/resolve/main/pose.pth"]
    assert len(downloads) == 1  # the second process waited for the first and used its files
    (converted,) = (tmp_path / "zoo" / "converted").iterdir()
    assert converted.name.startswith(f"{seeded['sha']}-HRNetPose.")


def closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the socket is closed


def test_unreachable_hub_gives_up_quietly_and_says_how_to_use_a_local_file(tmp_path):
    import os
    import subprocess
    import sys
    import time

    env = {**os.environ, "HF_ENDPOINT": closed_port_url(), "HF_HOME": str(tmp_path / "hf"),
           "HRNET_ZOO_CACHE": str(tmp_path / "zoo")}
    env.pop("HF_HUB_OFFLINE", None)
    code = ("from hrnet_zoo.weights.hub import fetch_hf_file\n"
            "try:\n    fetch_hf_file('org/repo', 'pose.pth')\nexcept Exception as e:\n    print(e)\n")
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - start < 20  # huggingface_hub alone retries for ~25 s
    assert "Retrying" not in out.stderr and "thrown while requesting" not in out.stderr
    assert "could not reach the Hub" in out.stdout and "org/repo/pose.pth" in out.stdout
    assert "hrnet_zoo.load_checkpoint(model, path)" in out.stdout and "hrnet-zoo convert FILE" in out.stdout


def test_failed_url_download_mentions_a_partial_file_only_when_one_is_kept(tmp_path, monkeypatch):
    from hrnet_zoo.weights.hub import PretrainedWeightsError, fetch_url

    monkeypatch.setenv("HRNET_ZOO_CACHE", str(tmp_path))
    url = f"{closed_port_url()}/pose-12345678.pth"
    with pytest.raises(PretrainedWeightsError) as excinfo:
        fetch_url(url, expected_prefix="12345678", progress=False)
    assert "partial" not in str(excinfo.value) and "hrnet_zoo.load_checkpoint" in str(excinfo.value)
    (tmp_path / "downloads" / "pose-12345678.pth.part").write_bytes(b"first half")
    with pytest.raises(PretrainedWeightsError, match="the partial file .*pose-12345678.pth.part is kept"):
        fetch_url(url, expected_prefix="12345678", progress=False)
