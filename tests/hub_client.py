"""Client side of the Hub tests, run in a subprocess so that ``HF_ENDPOINT`` / ``HF_HUB_OFFLINE`` are in
the environment before huggingface_hub is imported (it reads them once, at import).

``python tests/hub_client.py SCENARIO ARGS_JSON`` runs one scenario and prints one JSON line:
``{"check name": {...observations...}}``; the tests assert on it. Every check catches its own
exception and reports ``{"error": type, "message": text}`` so one failure does not hide the others.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import torch

import hrnet_zoo
from hrnet_zoo.weights.manifest import register_weights

ARGS: dict = {}


def hf_entry(model: str, tag: str, repo_id: str, filename: str, revision: str | None = None, **extra) -> dict:
    return {"model": model, "tag": tag, "verify": "hub-lfs-sha256", "sha256": None,
            "source": {"hf": {"repo_id": repo_id, "filename": filename, "revision": revision}}, **extra}


def requests_logged() -> list[str]:
    return Path(ARGS["log"]).read_text().splitlines()


def same_weights(model: torch.nn.Module, reference_file: str) -> bool:
    """Every tensor of ``model`` equals the reference file's tensor of the same name."""
    from safetensors.torch import load_file

    ref = load_file(reference_file)
    own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    return len(own) > 0 and all(k in ref and torch.equal(v, ref[k]) for k, v in own.items())


def error_of(fn) -> dict:
    """What ``fn()`` raised, and which converted files appeared in the cache meanwhile."""
    before = set(cache_files("converted"))
    try:
        fn()
        error = {"error": None}
    except Exception as e:
        error = {"error": type(e).__name__, "message": str(e)}
    return {**error, "new_converted": sorted(set(cache_files("converted")) - before)}


def cache_files(sub: str) -> list[str]:
    folder = Path(os.environ["HRNET_ZOO_CACHE"]) / sub
    return sorted(p.name for p in folder.glob("*")) if folder.exists() else []


def hub_blobs(repo_id: str) -> list[str]:
    folder = Path(os.environ["HF_HOME"]) / "hub" / f"models--{repo_id.replace('/', '--')}"
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() or p.is_symlink()) if folder.exists() else []


# --- scenarios --------------------------------------------------------------------------------------------

def scenario_hub() -> dict:
    """Download, cache hit without network, revisions, tokens, URL resume, tampered files."""
    out = {}
    register_weights(hf_entry("hrnet_w18_small_v1", "test-rev1", "org/pose-small", "pose.pth", ARGS["rev1"]))
    register_weights(hf_entry("hrnet_w18_small_v1", "test-main", "org/pose-small", "pose.pth"))

    model = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="test-main")
    out["download"] = {"equal": same_weights(model, ARGS["ref_main"]), "converted": cache_files("converted")}
    before = len(requests_logged())
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="test-main")
    out["cache_hit"] = {"equal": same_weights(model, ARGS["ref_main"]), "new_requests": requests_logged()[before:]}

    model = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="test-rev1")
    out["revision"] = {"equal_rev1": same_weights(model, ARGS["ref_rev1"]),
                       "equal_main": same_weights(model, ARGS["ref_main"])}

    from hrnet_zoo.weights.hub import fetch_hf_file

    # Without a token first: once cached, huggingface_hub serves the file from its cache.
    out["private_without_token"] = error_of(lambda: fetch_hf_file("org/private", "pose.pth", token=False))
    out["private_with_token"] = error_of(lambda: fetch_hf_file("org/private", "pose.pth"))  # HF_TOKEN from env

    register_weights(hf_entry("hrnet_w18_small_v1", "liar", "org/liar", "pose.pth"))
    out["lfs_sha256_mismatch"] = {**error_of(lambda: hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="liar")),
                                  "blobs": hub_blobs("org/liar")}

    out["pinned_mismatch"] = {**error_of(lambda: hrnet_zoo.create_model("hrnet_w32", pretrained=True)),
                              "blobs": hub_blobs("Prophetetc/cocopose")}

    url_entry = {"model": "hrnet_w18_small_v1", "tag": "url", "source": {"url": ARGS["url"]},
                 "verify": "sha256-prefix", "sha256_prefix": ARGS["url_prefix"], "sha256": None}
    register_weights(url_entry)
    before = len(requests_logged())
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="url")
    out["url_resume"] = {"equal": same_weights(model, ARGS["ref_main"]), "requests": requests_logged()[before:],
                         "downloads": cache_files("downloads")}
    register_weights({**url_entry, "tag": "url-bad", "source": {"url": ARGS["bad_url"]}, "sha256_prefix": "deadbeef"})
    out["url_prefix_mismatch"] = {**error_of(lambda: hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="url-bad")),
                                  "downloads": cache_files("downloads")}
    return out


def scenario_offline() -> dict:
    """HF_HUB_OFFLINE=1: warm caches load, the Hub cache alone loads, a cold entry says how to get it."""
    out = {}
    register_weights(hf_entry("hrnet_w18_small_v1", "test-main", "org/pose-small", "pose.pth"))
    register_weights(hf_entry("hrnet_w18_small_v1", "never-downloaded", "org/cold", "pose.pth"))
    before = len(requests_logged())
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="test-main")
    out["warm"] = {"equal": same_weights(model, ARGS["ref_main"])}
    for sub in ("converted", "sources"):  # only the huggingface_hub cache is left
        for p in (Path(os.environ["HRNET_ZOO_CACHE"]) / sub).glob("*"):
            p.unlink()
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="test-main")
    out["hub_cache_only"] = {"equal": same_weights(model, ARGS["ref_main"]), "converted": cache_files("converted")}
    out["cold"] = error_of(lambda: hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="never-downloaded"))
    out["new_requests"] = requests_logged()[before:]
    return out


def scenario_load() -> dict:
    """One plain load (run by two processes at once in the concurrency test)."""
    register_weights(hf_entry("hrnet_w18_small_v1", "test-main", "org/pose-small", "pose.pth"))
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="test-main")
    return {"load": {"equal": same_weights(model, ARGS["ref_main"])}}


def scenario_pretrained() -> dict:
    """ImageNet backbone init, fine-tuning to 5 joints, malicious pickles, Hub round trip, CLI download."""
    out = {}
    pose = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="in1k")
    fresh = hrnet_zoo.create_model("hrnet_w18_small_v1")
    out["in1k_backbone"] = {"backbone_equal": same_weights(pose.backbone, ARGS["ref_cls_backbone"]),
                            "head_untouched_shape": list(pose.head.final_layer.weight.shape)}
    v2 = hrnet_zoo.create_model("hrnetv2_w18_small_v1", pretrained="in1k")
    feats = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="in1k", features_only=True)
    out["in1k_v2_and_features"] = {"v2": same_weights(v2.backbone, ARGS["ref_cls_backbone"]),
                                   "features_only": same_weights(feats.backbone, ARGS["ref_cls_backbone"])}
    cls = hrnet_zoo.create_model("hrnet_w18_small_v1_cls", pretrained=True)
    out["cls_full"] = {"equal": same_weights(cls, ARGS["ref_cls"])}
    del fresh

    register_weights(hf_entry("hrnet_w18_small_v1", "coco-test", "org/pose-small", "pose.pth"))
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        five = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="coco-test", num_keypoints=5)
    out["five_joints"] = {"backbone_equal": _backbone_equal(five, ARGS["ref_main"]),
                          "final_shape": list(five.head.final_layer.weight.shape),
                          "warnings": [str(w.message) for w in caught]}

    register_weights(hf_entry("hrnet_w18_small_v1", "evil", "org/evil", "evil.pth"))
    out["malicious_pickle"] = {**error_of(lambda: hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="evil")),
                               "marker_exists": Path(ARGS["marker"]).exists()}

    # A manifest tag's input size reaches the crops predict_keypoints feeds the model.
    register_weights(hf_entry("hrnet_w18_small_v1", "crop-test", "org/pose-small", "pose.pth", input_size=[128, 96],
                              num_keypoints=17, keypoints="coco", heatmap_sigma=3.0, license="MIT"))
    tagged = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained="crop-test").eval()
    fed = []
    tagged.register_forward_pre_hook(lambda module, args: fed.append(list(args[0].shape[-2:])))
    image = torch.randint(0, 256, (200, 160, 3), dtype=torch.uint8).numpy()
    keypoints = hrnet_zoo.predict_keypoints(tagged, image, [[10, 10, 100, 150]])
    cfg = tagged.pretrained_cfg
    out["tag_cfg"] = {"input_size": list(cfg.input_size), "crops_fed": fed, "tag": cfg.tag, "source": cfg.source,
                      "license": cfg.license, "sigma": cfg.heatmap_sigma, "keypoints": cfg.keypoints.name,
                      "keypoints_shape": list(keypoints.shape)}

    # Fine-tuned 5-joint model with its own keypoint set → push_to_hub → hrnet_zoo.from_pretrained:
    # identical outputs, and the keypoint set comes back.
    torch.manual_seed(0)
    for p in five.head.parameters():
        p.data.normal_()
    five.eval()
    fish = hrnet_zoo.KeypointSet.from_names(["snout", "left_fin", "right_fin", "tail", "dorsal"], name="fish",
                                            skeleton=[(0, 3), (1, 2)], sigmas=[0.03, 0.05, 0.05, 0.04, 0.06])
    five.pretrained_cfg = five.pretrained_cfg.replace(keypoints=fish, input_size=(64, 48))
    x = torch.randn(1, 3, 64, 48)
    commit_url = five.push_to_hub("me/pose-5")
    again = hrnet_zoo.from_pretrained("me/pose-5")
    # config.json of the repo supplies num_keypoints=5: the fine-tuned head is loaded, not re-initialised.
    at_rev = hrnet_zoo.create_model("hrnet_w18_small_v1",
                                    pretrained=f"hf-hub:me/pose-5@{commit_url.rsplit('/', 1)[-1]}")
    out["push_round_trip"] = {"class": type(again).__name__, "num_keypoints": again.num_keypoints,
                              "identical": bool(torch.equal(five(x), again(x))),
                              "hf_hub_rev_identical": bool(torch.equal(five.eval()(x), at_rev.eval()(x))),
                              "cfg_identical": again.pretrained_cfg == five.pretrained_cfg == at_rev.pretrained_cfg,
                              "flip_pairs": [list(p) for p in again.pretrained_cfg.keypoints.flip_pairs],
                              "commit_url": str(commit_url)}

    from hrnet_zoo.cli import main

    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["download", "hrnet_w18_small_v1_cls"])
    out["cli_download"] = {"rc": rc, "stdout": buf.getvalue()}

    # A source nothing has fetched yet: download, verify and convert it in one pass, under the lock.
    register_weights(hf_entry("hrnet_w18_small_v1", "cli-cold", "org/pose-cli", "pose.pth"))
    before = len(requests_logged())
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["download", "hrnet_w18_small_v1", "--tag", "cli-cold"])
    out["cli_download_cold"] = {"rc": rc, "stdout": buf.getvalue(), "requests": requests_logged()[before:]}
    return out


def _backbone_equal(model: torch.nn.Module, reference_file: str) -> bool:
    from safetensors.torch import load_file

    own = model.state_dict()
    ref = {k: v for k, v in load_file(reference_file).items() if k.startswith("backbone.")}
    return len(ref) > 0 and all(torch.equal(own[k], v) for k, v in ref.items())


if __name__ == "__main__":
    scenario, ARGS = sys.argv[1], json.loads(sys.argv[2])
    try:
        result = globals()[f"scenario_{scenario}"]()
    except Exception:
        result = {"crash": traceback.format_exc()}
    print(json.dumps(result))
