"""weights_manifest.json: schema, registry names, pinned checksums, packaging."""
from __future__ import annotations

import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

import hrnet_zoo
from hrnet_zoo.weights.manifest import load_manifest, models_with_weights, register_weights, weights_for

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = Path("/work/shared/reference/published.json")


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(resources.files("hrnet_zoo").joinpath("weights_manifest.json").read_text())


def test_manifest_matches_schema(manifest):
    schema = json.loads(resources.files("hrnet_zoo").joinpath("weights/schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(manifest, schema, cls=jsonschema.Draft202012Validator)


def test_schema_rejects_unverifiable_entries(manifest):
    schema = json.loads(resources.files("hrnet_zoo").joinpath("weights/schema.json").read_text())
    entry = dict(manifest["weights"][0])
    for broken in ({**entry, "verify": "sha256", "sha256": None},          # pinned without a checksum
                   {**entry, "verify": "sha256-prefix", "sha256": None},   # prefix without a prefix / URL
                   {**entry, "sha256": "19BC"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**manifest, "weights": [broken]}, schema, cls=jsonschema.Draft202012Validator)


def test_every_model_name_is_registered(manifest):
    names = {e["model"] for e in manifest["weights"]}
    names |= {n for e in manifest["weights"] for n in e.get("backbone_init_for", ())}
    assert names - set(hrnet_zoo.list_models()) == set()


def test_tags_unique_and_one_default_per_model(manifest):
    pairs = Counter((e["model"], e["tag"]) for e in manifest["weights"])
    assert [p for p, n in pairs.items() if n > 1] == []
    defaults = Counter(e["model"] for e in manifest["weights"] if e["default"])
    assert set(defaults.values()) == {1} and set(defaults) == {e["model"] for e in manifest["weights"]}


def test_official_checksums_are_pinned(manifest):
    pinned = {e["source"]["hf"]["filename"]: e["sha256"] for e in manifest["weights"]
              if e["verify"] == "sha256" and "hf" in e["source"]}
    assert pinned["pose_hrnet_w32_256x192.pth"] == "19bc083708bb8d873211e50d85d56344c10290c6e8b564c813fdde09645c4c1c"
    assert pinned["pose_hrnet_w48_384x288.pth"] == "95e0fec3194826d5e3f806ea89be68bbb84517b114c3a32b3058c56610b5ef61"
    if PUBLISHED.exists():  # the reference figures this project is checked against
        known = json.loads(PUBLISHED.read_text())["weights_sources"]["sha256 of official files"]
        assert {f: pinned.get(f) for f in known} == known


def test_mmpose_prefix_is_the_one_in_the_file_name(manifest):
    urls = [e for e in manifest["weights"] if "url" in e["source"]]
    assert len(urls) == 6
    for entry in urls:
        name = entry["source"]["url"].rsplit("/", 1)[1]
        assert re.search(rf"-{entry['sha256_prefix']}_\d{{8}}\.pth$", name), name


def test_sources_are_the_published_ones(manifest):
    repos = {e["source"]["hf"]["repo_id"] for e in manifest["weights"] if "hf" in e["source"]}
    assert "Prophetetc/cocopose" in repos
    timm = {r for r in repos if r.startswith("timm/")}
    if PUBLISHED.exists():
        published = set(json.loads(PUBLISHED.read_text())["weights_sources"][
            "ImageNet HRNet classification weights (timm layout = official cls layout, safetensors)"])
        assert timm == published


def test_pose_backbones_get_imagenet_init():
    for model in ("hrnet_w32", "hrnetv2_w48", "hrnetv2p_w18_small_v1"):
        (entry,) = [e for e in weights_for(model) if e["tag"] == "in1k"]
        assert entry["init"] == "backbone" and entry["source"]["hf"]["repo_id"].startswith("timm/")
    assert "hrnet_w32" in models_with_weights() and "hrnet_w18" not in models_with_weights()
    assert "hrnet_w48" in hrnet_zoo.list_models(pretrained=True)


def test_weights_for_lists_default_first():
    tags = [e["tag"] for e in weights_for("hrnet_w48")]
    assert tags[0] == "coco-256x192" and "coco-384x288" in tags and "in1k" in tags


def test_register_weights_validates():
    with pytest.raises(ValueError, match="needs the full 'sha256'"):
        register_weights({"model": "hrnet_w18", "tag": "x", "verify": "sha256", "sha256": None,
                          "source": {"url": "http://127.0.0.1/x.pth"}})
    url = {"url": "http://127.0.0.1/x-12345678_20240101.pth"}
    with pytest.raises(ValueError, match="verify must be one of"):
        register_weights({"model": "hrnet_w18", "tag": "x", "verify": "md5", "source": url})
    with pytest.raises(ValueError, match="applies to a hf source"):  # a URL has no Hub LFS sha256
        register_weights({"model": "hrnet_w18", "tag": "x", "verify": "hub-lfs-sha256", "source": url})
    with pytest.raises(ValueError, match="needs 'sha256_prefix'"):
        register_weights({"model": "hrnet_w18", "tag": "x", "verify": "sha256-prefix", "source": url})
    with pytest.raises(ValueError, match="already exist"):
        register_weights({"model": "hrnet_w32", "tag": "coco-256x192", "verify": "hub-lfs-sha256",
                          "source": {"hf": {"repo_id": "a/b", "filename": "c", "revision": None}}})
    assert len(load_manifest()["weights"]) == len(json.loads((REPO / "weights_manifest.json").read_text())["weights"])


def test_top_level_manifest_is_the_packaged_one():
    packaged = resources.files("hrnet_zoo").joinpath("weights_manifest.json").read_bytes()
    assert (REPO / "weights_manifest.json").read_bytes() == packaged
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'\[tool\.setuptools\.package-data\]\s*hrnet_zoo = \[[^]]*"weights_manifest\.json"', pyproject)


@pytest.mark.parametrize("field, value", [
    ("sha256", "../../../x"), ("sha256", "ABC"), ("sha256_prefix", "../x"), ("tag", "../x"), ("model", "a/../b"),
    ("repo_id", "../x"), ("filename", "../../x.pth"), ("url", "http://127.0.0.1/.."),
])
def test_register_weights_refuses_fields_that_would_leave_the_cache(field, value):
    entry = {"model": "hrnet_w18", "tag": "path-test", "verify": "hub-lfs-sha256", "sha256": None,
             "source": {"hf": {"repo_id": "org/repo", "filename": "w.pth", "revision": None}}}
    if field in ("repo_id", "filename"):
        entry["source"]["hf"][field] = value
    elif field == "url":
        entry.update(verify="sha256", sha256="0" * 64, source={"url": value})
    else:
        entry[field] = value
    with pytest.raises(ValueError, match=f"weights entry .*{field}"):
        register_weights(entry)
    assert not [e for e in load_manifest()["weights"] if e["tag"] == "path-test"]


def test_shipped_manifest_fields_are_checked_too(monkeypatch):
    from hrnet_zoo.weights import manifest as manifest_module

    broken = {"weights": [{"model": "hrnet_w32", "tag": "x", "sha256": "../../x", "source": {"url": "http://a/b.pth"}}]}
    monkeypatch.setattr(manifest_module.json, "loads", lambda text: broken)
    manifest_module._shipped_manifest.cache_clear()
    try:
        with pytest.raises(ValueError, match="sha256 must be 64 lowercase hex digits"):
            manifest_module.load_manifest()
    finally:
        monkeypatch.undo()
        manifest_module._shipped_manifest.cache_clear()
