"""``weights_manifest.json``: every pretrained weight set, its pinned source and checksum.

The manifest ships inside the package (``hrnet_zoo/weights_manifest.json``; the repository's top-level
``weights_manifest.json`` is a link to it) and is described by ``hrnet_zoo/weights/schema.json``.
One entry per weight set::

    {"model": "hrnet_w32", "tag": "coco-256x192", "default": true, "init": "full",
     "source": {"hf": {"repo_id": ..., "filename": ..., "revision": null}}   # or {"url": ...}
     "sha256": "19bc…" | null, "verify": "sha256" | "hub-lfs-sha256" | "sha256-prefix", ...}

``verify`` says what the download is checked against before anything is unpickled: the pinned
``sha256``, the sha256 the Hub reports for its LFS file, or the 8-hex sha256 prefix that mmpose puts
in its file names. A classification entry's ``backbone_init_for`` lists the pose/V2/V2p models whose
backbone it initialises; they see it as tag ``in1k`` with ``init: "backbone"``.
"""
from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from hrnet_zoo._registry import family_of
from hrnet_zoo.pose.keypoint_set import resolve_keypoint_set
from hrnet_zoo.pretrained_cfg import PretrainedCfg
from hrnet_zoo.errors import PretrainedWeightsError, UnknownWeightsError, WeightsEntryError  # noqa: F401  (re-exported)

MANIFEST_FILENAME = "weights_manifest.json"
#: The ``normalization`` of weights trained on ImageNet-normalised RGB in [0, 1] (most of them): a
#: default families give their entries (``register_family(weights_defaults=...)``).
IMAGENET_NORMALIZATION = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "color": "RGB", "scale": "0-1"}
#: Tag under which a classification entry appears for the models listed in its ``backbone_init_for``.
BACKBONE_INIT_TAG = "in1k"
_REQUIRED_KEYS = ("model", "tag", "source", "verify")
#: ``verify`` → the source kinds it applies to (as the schema says).
_VERIFY_SOURCES = {"sha256": ("hf", "url"), "hub-lfs-sha256": ("hf",), "sha256-prefix": ("url",)}

#: Fields that end up in file paths or cache file names (the hrnet_zoo cache, the Hub cache) → their form.
#: A checksum is hex only and names are plain file-name characters, so no field can say "../".
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]*$")
_FIELD_FORMS = {
    "model": (re.compile(r"^[a-z0-9_]+$"), "lowercase letters, digits and _"),
    "tag": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$"), "letters, digits, '.', '_' and '-'"),
    "sha256": (re.compile(r"^[0-9a-f]{64}$"), "64 lowercase hex digits"),
    "sha256_prefix": (re.compile(r"^[0-9a-f]{8}$"), "8 lowercase hex digits"),
    "repo_id": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"), "'org/name'"),
}

# Entries added at run time with register_weights (private or fine-tuned weights of a user).
_user_entries: list[dict] = []



@lru_cache(maxsize=1)
def _shipped_manifest() -> dict:
    path = resources.files("hrnet_zoo").joinpath(MANIFEST_FILENAME)
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for entry in manifest["weights"]:
        check_path_fields(entry)
    return manifest


def load_manifest() -> dict:
    """The parsed manifest shipped inside the package plus entries from [`register_weights()`][hrnet_zoo.weights.manifest.register_weights]."""
    manifest = copy.deepcopy(_shipped_manifest())
    manifest["weights"].extend(copy.deepcopy(_user_entries))
    return manifest


def check_path_fields(entry: dict) -> None:
    """ValueError unless every field that reaches a path has its safe form (see ``_FIELD_FORMS``)."""
    hf = entry["source"].get("hf") or {}
    fields = {k: entry.get(k) for k in ("model", "tag", "sha256", "sha256_prefix")}
    fields["repo_id"] = hf.get("repo_id")
    for name, value in fields.items():
        pattern, form = _FIELD_FORMS[name]
        if value is not None and not (isinstance(value, str) and pattern.match(value) and ".." not in value):
            raise WeightsEntryError(f"weights entry field {name} must be {form}, not {value!r}")
    file_names = {}  # field → the file names it gives
    if hf.get("filename") is not None:
        file_names["filename"] = str(hf["filename"]).split("/")  # a Hub file may sit in folders
    if "url" in entry["source"]:
        file_names["url"] = [str(entry["source"]["url"]).rstrip("/").rsplit("/", 1)[-1]]  # the download's name
    for name, parts in file_names.items():
        if not all(_SAFE_NAME.match(part) and part != ".." for part in parts):
            raise WeightsEntryError(f"weights entry {name} must give plain file names (letters, digits, '.', '_', '+', "
                             f"'-'), not {'/'.join(parts)!r}")


def register_weights(entry: dict) -> None:
    """Add a weight set at run time, in the manifest's entry format (e.g. your own Hub repo, or the
    weights a family module declares). Fields the entry leaves out come from the ``weights_defaults``
    of the model's family (``register_family``: licence, training data, normalisation …).

    Example::

        register_weights({"model": "hrnet_w32", "tag": "my-coco", "init": "full", "sha256": None,
                          "verify": "hub-lfs-sha256",
                          "source": {"hf": {"repo_id": "me/w32", "filename": "w.pth", "revision": None}}})
    """
    family = family_of(entry.get("model", ""))
    entry = {**copy.deepcopy(dict(family.weights_defaults) if family else {}), **entry}
    missing = [k for k in _REQUIRED_KEYS if k not in entry]
    if missing:
        raise WeightsEntryError(f"weights entry lacks {', '.join(missing)}: {entry}")
    sources = _VERIFY_SOURCES.get(entry["verify"])
    if sources is None:
        raise WeightsEntryError(f"verify must be one of {', '.join(_VERIFY_SOURCES)}, not {entry['verify']!r}")
    if not any(kind in entry["source"] for kind in sources):
        raise WeightsEntryError(f"verify={entry['verify']!r} applies to a {' or '.join(sources)} source")
    if entry["verify"] == "sha256" and not entry.get("sha256"):
        raise WeightsEntryError("verify='sha256' needs the full 'sha256' of the file")
    if entry["verify"] == "sha256-prefix" and not entry.get("sha256_prefix"):
        raise WeightsEntryError("verify='sha256-prefix' needs 'sha256_prefix' (the hex digits in the file name)")
    check_path_fields(entry)
    if any(e["model"] == entry["model"] and e["tag"] == entry["tag"] for e in _entries()):
        raise WeightsEntryError(f"weights {entry['model']}:{entry['tag']} already exist")
    _user_entries.append({"default": False, "init": "full", "sha256": None, **copy.deepcopy(entry)})


def _entries() -> list[dict]:
    return _shipped_manifest()["weights"] + _user_entries


def weights_for(model_name: str) -> list[dict]:
    """Every weight set ``model_name`` can load, default first (copies; safe to modify).

    Each dict is a manifest entry; backbone initialisations borrowed from a classification entry have
    ``init: "backbone"``, ``tag: "in1k"`` and ``weights_of`` naming the classifier they come from.
    ``hrnet-zoo info`` prints these.
    """
    found = [copy.deepcopy(e) for e in _entries() if e["model"] == model_name]
    for entry in _entries():
        if model_name in entry.get("backbone_init_for", ()) and entry.get("default"):
            borrowed = copy.deepcopy(entry)
            borrowed.pop("backbone_init_for")
            borrowed.pop("model_kwargs", None)
            borrowed.update(model=model_name, tag=BACKBONE_INIT_TAG, default=False, init="backbone",
                            weights_of=entry["model"])
            found.append(borrowed)
    return sorted(found, key=lambda e: not e.get("default"))


def resolve_weights(model_name: str, tag: bool | str = True) -> dict:
    """The entry for ``pretrained=tag``: ``True`` → the model's default full weights; else a tag."""
    entries = weights_for(model_name)
    if tag is True:
        match = next((e for e in entries if e.get("default")), None)
    else:
        match = next((e for e in entries if e["tag"] == tag), None)
    if match is None:
        tags = ", ".join(f"{e['tag']} ({'backbone only' if e['init'] == 'backbone' else 'full'})" for e in entries)
        wanted = "default weights" if tag is True else f"weights tagged {tag!r}"
        hint = f"available tags: {tags}" if tags else "it has no published weights; build it with pretrained=False"
        raise UnknownWeightsError(f"{model_name} has no {wanted}; {hint}")
    return match


def models_with_weights() -> list[str]:
    """Models with full pretrained weights (backbone-only ImageNet initialisations not counted)."""
    return sorted({e["model"] for e in _entries()})


def source_label(entry: dict) -> str:
    """Human-readable source: ``hf://repo@rev/filename`` or the URL."""
    if "hf" in entry["source"]:
        hf = entry["source"]["hf"]
        rev = f"@{hf['revision']}" if hf.get("revision") else ""
        return f"hf://{hf['repo_id']}{rev}/{hf['filename']}"
    return entry["source"]["url"]


def cfg_from_manifest(entry: Mapping[str, Any], base: PretrainedCfg) -> PretrainedCfg:
    """``base`` updated with what a manifest entry knows: input size, normalisation, source, tag, licence."""
    from_entry: dict[str, Any] = {"tag": entry.get("tag"), "license": entry.get("license")}
    if "source" in entry:
        from_entry["source"] = source_label(entry)
    if entry.get("input_size"):
        from_entry["input_size"] = tuple(entry["input_size"])
    norm = entry.get("normalization") or {}
    for key in ("mean", "std", "color", "scale"):
        if key in norm:
            from_entry[key] = norm[key]
    if entry.get("num_classes") and base.num_classes is not None:
        from_entry["num_classes"] = entry["num_classes"]
    if base.output_stride:  # a pose model: the keypoint set and the σ its targets were drawn with
        if entry.get("keypoints"):
            from_entry["keypoints"] = resolve_keypoint_set(entry["keypoints"])
        if entry.get("heatmap_sigma"):
            from_entry["heatmap_sigma"] = float(entry["heatmap_sigma"])
    return base.replace(**from_entry)
