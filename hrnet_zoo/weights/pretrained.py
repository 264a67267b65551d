"""Resolve ``pretrained=`` for a registered model: manifest entries, ``hf-hub:`` repos, local folders.

For a manifest entry: download (Hub client or URL) → verify sha256 → read (safetensors, or
``torch.load(weights_only=True)``) → convert the key layout → cache the converted tensors as
``<cache>/converted/<source sha256>-<ModelClass>.safetensors`` → load. The whole sequence runs under a
file lock per source, so concurrent processes download and convert once. Later calls read the
converted file without touching the network (``<cache>/sources/`` remembers the sha256 of sources
whose checksum is not pinned in the manifest).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from hrnet_zoo.weights.cache import (
    CONVERTED,
    CorruptCacheError,
    cache_lock,
    converted_stem,
    read_converted,
    write_atomically,
    write_converted,
)
from hrnet_zoo.weights.config import validate_model_config
from hrnet_zoo.weights.convert import CheckpointError, LoadResult, convert_state_dict, load_checkpoint, read_state_dict
from hrnet_zoo.weights.hub import (
    _SHA256,
    CACHE_ENV,
    OfflineError,
    PretrainedWeightsError,
    cache_dir,
    cache_path,
    fetch_hf_file,
    fetch_url,
    hf_download,
)
from hrnet_zoo.weights.manifest import resolve_weights, source_label

__all__ = ["PretrainedWeightsError", "load_pretrained", "fetch_weights", "prepare_weights",
           "pretrained_model_kwargs", "only_prediction_layer_differs", "zoo_weights_file", "from_pretrained"]

_logger = logging.getLogger(__name__)
HUB_PREFIX = "hf-hub:"
ZOO_WEIGHTS_NAME = "model.safetensors"


def _is_zoo_format(pretrained) -> bool:
    return isinstance(pretrained, (str, os.PathLike)) and (
        str(pretrained).startswith(HUB_PREFIX) or os.path.isdir(pretrained))


def pretrained_model_kwargs(variant: str, pretrained, model_cls: type | None = None) -> dict:
    """Constructor arguments the weights ask for, to be overridden by the caller's own.

    A manifest entry may require some (e.g. timm's SSLD heads have no conv bias). hrnet_zoo's own
    format carries all of them in ``config.json`` (``num_joints`` of a fine-tuned model, say), so a
    model built from a saved folder or ``hf-hub:`` repo gets the saved head instead of a fresh one.
    """
    if not pretrained:
        return {}
    if not _is_zoo_format(pretrained):
        return dict(resolve_weights(variant, pretrained).get("model_kwargs", {}))
    spec = str(pretrained)
    if os.path.isdir(spec) and not (Path(spec) / "config.json").is_file():
        return {}  # weights alone: the caller's arguments decide
    config = dict(read_zoo_config(spec))
    architecture = config.pop("architecture", None)
    if architecture not in zoo_model_classes():
        return {}  # another library's config.json (timm's, say): its weights load by their key layout
    if model_cls is not None and architecture != model_cls.__name__:
        raise PretrainedWeightsError(
            f"{spec} holds a {architecture} (config.json), but {variant} builds a {model_cls.__name__}; "
            f"load it with hrnet_zoo.from_pretrained({spec!r})")
    return config


def load_pretrained(model: nn.Module, variant: str, pretrained: bool | str) -> LoadResult:
    """Load the weights ``pretrained`` names into ``model`` (built for the registered ``variant``).

    A pose/V2/V2p model built with ``num_joints``/``num_classes`` different from the checkpoint's
    keeps a freshly initialised prediction layer (a warning names it); every other key must fit.
    """
    if _is_zoo_format(pretrained):
        path = zoo_weights_file(str(pretrained))
        return _load_into(model, read_state_dict(path), str(pretrained))
    entry = resolve_weights(variant, pretrained)
    target = _weights_target(model, entry)
    state_dict = converted_state_dict(entry, target)
    return _load_into(target, state_dict, f"{variant}:{entry['tag']}")


def _is_backbone(model: nn.Module) -> bool:
    # Every full model is a ZooModel; anything else is a bare backbone (features_only, or a full
    # model's .backbone), into which checkpoints of full models load partially.
    from hrnet_zoo.models.base import ZooModel

    return not isinstance(model, ZooModel)


def _weights_target(model: nn.Module, entry: dict) -> nn.Module:
    """The module an entry's weights go into: the backbone for ``init: "backbone"`` entries."""
    return model.backbone if entry["init"] == "backbone" and hasattr(model, "backbone") else model


def _load_into(model: nn.Module, state_dict: dict, label: str) -> LoadResult:
    """Load strictly, except: a bare backbone skips what it has no place for, and a full model keeps
    a fresh prediction layer when only its size differs (another num_joints/num_classes)."""
    if _is_backbone(model):
        # hrnet_zoo-layout weights of a full model → its backbone
        inner = {k[len("backbone."):]: v for k, v in state_dict.items() if k.startswith("backbone.")}
        result = load_checkpoint(model, inner or state_dict, strict=False)
        if result.missing_keys or result.shape_mismatches:
            raise CheckpointError(f"{label} does not fit {type(model).__name__}: {result.describe()}")
        if result.unexpected_keys:  # heads, and the fuse layers a pose backbone's last module lacks
            _logger.info("%s: loaded the backbone; skipped the checkpoint keys it has no place for (%s)",
                         label, result.describe())
        return result
    result = load_checkpoint(model, state_dict, strict=False)
    if result.ok:
        return result
    if only_prediction_layer_differs(model, result):
        layer = prediction_layer(model)
        shapes = "; ".join(f"{k}: checkpoint {tuple(a)}, model {tuple(b)}" for k, a, b in result.shape_mismatches)
        warnings.warn(f"{label}: the prediction layer '{layer}' has a different size in the checkpoint "
                      f"({shapes}); it was not loaded and keeps its fresh initialisation. "
                      "Every other weight was loaded.", stacklevel=4)
        return result
    raise CheckpointError(f"{label} does not fit {type(model).__name__}: {result.describe()}")


def only_prediction_layer_differs(model: nn.Module, result: LoadResult) -> bool:
    """Whether the one thing that kept a checkpoint from loading is the size of the prediction layer
    (another ``num_joints``/``num_classes``)."""
    layer = prediction_layer(model)
    return (not result.missing_keys and not result.unexpected_keys and bool(result.shape_mismatches)
            and all(k.startswith(layer + ".") for k, _, _ in result.shape_mismatches))


def prediction_layer(model: nn.Module) -> str:
    """Name of the layer that outputs the joints/classes: the last one whose weight has
    ``num_joints`` (or ``num_classes``) output channels (any last weighted layer if the model has neither)."""
    count = getattr(model, "num_joints", None) or getattr(model, "num_classes", None)
    last = ""
    for name, module in model.named_modules():
        weight = module._parameters.get("weight")
        if weight is not None and weight.ndim >= 2 and (count is None or weight.shape[0] == count):
            last = name
    return last


# --- manifest entries: fetch, verify, convert, cache -------------------------------------------------------

def _source_key(entry: dict) -> str:
    if "hf" in entry["source"]:
        hf = entry["source"]["hf"]
        return f"hf://{hf['repo_id']}@{hf.get('revision') or 'main'}/{hf['filename']}"
    return entry["source"]["url"]


def _key_digest(entry: dict) -> str:
    return hashlib.sha256(_source_key(entry).encode()).hexdigest()[:32]


def _known_sha256(entry: dict) -> str | None:
    """The source's sha256: pinned in the manifest, or recorded after an earlier verified download."""
    if entry.get("sha256"):
        return entry["sha256"]
    try:
        sha256 = json.loads(_sha256_record(entry).read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sha256 if isinstance(sha256, str) and _SHA256.match(sha256) else None  # names cache files


def _remember_sha256(entry: dict, sha256: str) -> None:
    data = json.dumps({"source": _source_key(entry), "sha256": sha256}).encode()
    write_atomically(_sha256_record(entry), lambda tmp: tmp.write_bytes(data))


def _sha256_record(entry: dict) -> Path:
    return cache_path("sources", f"{_key_digest(entry)}.json")


def fetch_weights(entry: dict, progress: bool = True) -> tuple[Path, str]:
    """Download (or find in a cache) the source file of a manifest entry; verified before returning.

    The sha256 of a source the manifest does not pin is remembered, so that later loads find its
    converted file without asking the network.
    """
    hint = f"`hrnet-zoo download {entry['model']} --tag {entry['tag']}`"
    if "hf" in entry["source"]:
        hf = entry["source"]["hf"]
        path, sha256 = fetch_hf_file(hf["repo_id"], hf["filename"], revision=hf.get("revision"),
                                     expected_sha256=entry.get("sha256"), hint=hint)
    else:
        path, sha256 = fetch_url(entry["source"]["url"], expected_sha256=entry.get("sha256"),
                                 expected_prefix=entry.get("sha256_prefix"), hint=hint, progress=progress)
    if not entry.get("sha256"):
        _remember_sha256(entry, sha256)
    return path, sha256


@contextmanager
def _source_lock(entry: dict) -> Iterator[str | None]:
    """Held while an entry's source is downloaded and converted, so concurrent processes do it once.

    Yields why the cache is read-only (the lock cannot be taken), or None: see :func:`cache_lock`.
    """
    with cache_lock(_key_digest(entry), cleans=(CONVERTED, "sources")) as read_only:
        yield read_only


def converted_state_dict(entry: dict, target: nn.Module) -> dict[str, torch.Tensor]:
    """The entry's weights in hrnet_zoo's keys for ``target``, from the converted cache when present.

    A cached file is checked against its sha256 first; a damaged one is converted again from the
    verified source. A read-only cache serves its verified files without the lock.
    """
    with _source_lock(entry) as read_only:
        cached, damage = _cached_conversion(entry, target, read_only)
        if cached is not None:
            return cached[1]
        _refuse_read_only(entry, read_only, damage)
        source, sha256 = _fetch_to_rebuild(entry, damage)  # verified: only now is the file read
        return _convert_and_cache(entry, target, source, sha256)[1]


def _cached_conversion(entry: dict, target: nn.Module, read_only: str | None):
    """(verified (path, tensors) or None, the CorruptCacheError of a damaged file or None)."""
    sha256 = _known_sha256(entry)
    if not sha256:
        return None, None
    try:
        return read_converted(converted_stem(sha256, type(target).__name__), remove_corrupted=not read_only), None
    except CorruptCacheError as damage:
        return None, damage


def _refuse_read_only(entry: dict, read_only: str | None, damage: Exception | None) -> None:
    """Where the cache is read-only and the converted file is not there to read: one clear error."""
    if read_only:
        found = f"{damage} It" if damage else "It"
        raise PretrainedWeightsError(
            f"hrnet_zoo's cache {cache_dir()} is read-only here ({read_only}). {found} holds no verified converted "
            f"file of {source_label(entry)} to read; set {CACHE_ENV} to a writable folder.")


def _fetch_to_rebuild(entry: dict, damage: Exception | None) -> tuple[Path, str]:
    """fetch_weights, saying that the converted file was damaged when the source cannot be had offline."""
    try:
        return fetch_weights(entry)
    except OfflineError as e:
        if damage is None:
            raise
        raise OfflineError(f"{damage} Converting it again needs its source: {e}") from None


def _convert_and_cache(entry: dict, target: nn.Module, source: Path, sha256: str) -> tuple[Path, dict]:
    """Read the verified ``source``, convert it for ``target`` and cache the result (under the source lock)."""
    layout, converted = convert_state_dict(target, read_state_dict(source))
    metadata = {"source": source_label(entry), "source_layout": layout, "format": "hrnet_zoo"}
    return write_converted(converted_stem(sha256, type(target).__name__), converted, metadata), converted


def prepare_weights(model_name: str, tag: bool | str = True, model: nn.Module | None = None) -> dict:
    """Download, verify and convert a manifest entry ahead of time (``hrnet-zoo download``).

    Returns a dict with the entry, the verified source ``path`` and ``sha256`` and the ``converted`` file.
    """
    from hrnet_zoo._registry import create_model

    entry = resolve_weights(model_name, tag)
    if model is None:
        model = create_model(model_name, **entry.get("model_kwargs", {}))
    target = _weights_target(model, entry)
    with _source_lock(entry) as read_only:  # the same lock as loads: never two writers of one download
        _refuse_read_only(entry, read_only, None)
        cached, damage = _cached_conversion(entry, target, read_only)
        source, sha256 = _fetch_to_rebuild(entry, damage)
        converted = cached[0] if cached else _convert_and_cache(entry, target, source, sha256)[0]
    return {"entry": entry, "path": source, "sha256": sha256, "converted": converted}


# --- hrnet_zoo's own format (config.json + model.safetensors) ----------------------------------------------

def parse_hub_spec(spec: str) -> tuple[str, str | None]:
    """``"hf-hub:org/repo@rev"`` (prefix optional) → (``"org/repo"``, ``"rev"`` or None)."""
    spec = spec[len(HUB_PREFIX):] if spec.startswith(HUB_PREFIX) else spec
    repo_id, _, revision = spec.partition("@")
    return repo_id, revision or None


def zoo_weights_file(spec: str, revision: str | None = None, **hub_kwargs) -> Path:
    """``model.safetensors`` of a local folder, or of a Hub repo (downloaded and verified)."""
    if os.path.isdir(spec):
        path = Path(spec) / ZOO_WEIGHTS_NAME
        if not path.is_file():
            raise PretrainedWeightsError(f"{spec} holds no {ZOO_WEIGHTS_NAME} (write one with model.save_pretrained)")
        return path
    repo_id, spec_revision = parse_hub_spec(spec)
    path, _ = fetch_hf_file(repo_id, ZOO_WEIGHTS_NAME, revision=revision or spec_revision, **hub_kwargs)
    return path


def read_zoo_config(spec: str, revision: str | None = None, **hub_kwargs) -> dict:
    """``config.json`` of a local folder or Hub repo written by ``save_pretrained``, its arguments checked
    (:func:`~hrnet_zoo.weights.config.validate_model_config`)."""
    if os.path.isdir(spec):
        path = Path(spec) / "config.json"
    else:
        repo_id, spec_revision = parse_hub_spec(spec)
        path = hf_download(repo_id, "config.json", revision or spec_revision, **hub_kwargs)
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PretrainedWeightsError(f"{spec} has no readable config.json: {e}") from e
    return validate_model_config(config, spec)  # before anything is built from it


def zoo_model_classes() -> dict[str, type]:
    """Every imported ZooModel subclass by class name (what config.json's ``architecture`` names)."""
    import hrnet_zoo.models  # noqa: F401  (registers every family)
    from hrnet_zoo.models.base import ZooModel

    found, pending = {}, [ZooModel]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            found[sub.__name__] = sub
            pending.append(sub)
    return found


def from_pretrained(repo_or_dir: str, *, revision: str | None = None, **kwargs) -> nn.Module:
    """Rebuild whichever architecture ``config.json`` names and load ``model.safetensors``.

    Args:
        repo_or_dir: ``"org/repo"`` (optionally ``"hf-hub:org/repo@rev"``) or a folder from ``save_pretrained``.
        **kwargs: ``token``, ``cache_dir``, ``force_download``, ``local_files_only``, ``map_location``,
            and constructor overrides, passed to ``Class.from_pretrained``.
    """
    hub_keys = ("token", "cache_dir", "force_download", "local_files_only")
    config = read_zoo_config(repo_or_dir, revision, **{k: kwargs[k] for k in hub_keys if k in kwargs})
    architecture = config.get("architecture")
    classes = zoo_model_classes()
    if architecture not in classes:
        raise PretrainedWeightsError(
            f"config.json of {repo_or_dir} names architecture {architecture!r}, which hrnet_zoo does not know "
            f"(known: {', '.join(sorted(classes))}); load it with the model class's from_pretrained instead")
    if not os.path.isdir(repo_or_dir):
        repo_or_dir, spec_revision = parse_hub_spec(repo_or_dir)
        revision = revision or spec_revision
    return classes[architecture].from_pretrained(repo_or_dir, revision=revision, **kwargs)
