"""Resolve ``pretrained=`` for a registered model: manifest entries, ``hf-hub:`` repos, local folders.

For a manifest entry: download (Hub client or URL) → verify sha256 → read (safetensors, or
``torch.load(weights_only=True)``) → convert the key layout → cache the converted tensors as
``<cache>/converted/<source sha256>-<ModelClass>.safetensors`` → load. The whole sequence runs under a
file lock per source, so concurrent processes download and convert once. Later calls read the
converted file without touching the network (``<cache>/sources/`` remembers the sha256 of sources
whose checksum is not pinned in the manifest).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import torch
from torch import nn

from hrnet_zoo._renamed import upgrade_saved_config
from hrnet_zoo._registry import get_model_entrypoint
from hrnet_zoo.pretrained_cfg import PretrainedCfg
from hrnet_zoo.weights.cache import (
    CONVERTED,
    CorruptCacheError,
    cache_lock,
    converted_stem,
    read_converted,
    write_atomically,
    write_converted,
)
from hrnet_zoo.weights.config import InvalidConfigError
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
from hrnet_zoo.weights.manifest import cfg_from_manifest, resolve_weights, source_label

__all__ = ["PretrainedWeightsError", "WeightsSpec", "ResolvedWeights", "resolve_pretrained", "load_resolved",
           "load_pretrained", "fetch_weights", "prepare_weights", "weights_spec", "pretrained_model_kwargs",
           "only_prediction_layer_differs", "zoo_weights_file", "read_zoo_config"]

_logger = logging.getLogger(__name__)
HUB_PREFIX = "hf-hub:"
ZOO_WEIGHTS_NAME = "model.safetensors"
#: Constructor arguments that size the prediction layer: a caller who sets one asks for a new head.
HEAD_SIZE_ARGUMENTS = ("num_keypoints", "num_classes")


def _is_zoo_format(pretrained) -> bool:
    return isinstance(pretrained, (str, os.PathLike)) and (
        str(pretrained).startswith(HUB_PREFIX) or os.path.isdir(pretrained))


@dataclass(frozen=True)
class WeightsSpec:
    """What a ``pretrained=`` value says before any weight is read: the constructor arguments the
    weights need, and how they change the model's ``pretrained_cfg``."""

    model_kwargs: dict
    entry: dict | None = None          # the manifest entry, for a tag
    saved_cfg: dict | None = None      # config.json's pretrained_cfg, for a folder or hf-hub repo

    def pretrained_cfg(self, default: PretrainedCfg) -> PretrainedCfg:
        """The cfg of a model built with these weights, given the family's ``default`` for it."""
        if self.saved_cfg:
            return PretrainedCfg.from_dict(self.saved_cfg)
        if self.entry is not None:
            return cfg_from_manifest(self.entry, default)
        return default


@dataclass(frozen=True)
class ResolvedWeights(WeightsSpec):
    """A ``pretrained=`` value resolved once, before the model is built, and loaded with `load_resolved()`.

    Besides `WeightsSpec` (constructor arguments, manifest ``entry``, saved ``pretrained_cfg``): where
    the weights come from (``label``; ``zoo_source`` for a folder or ``hf-hub:`` repo in hrnet_zoo's
    format), whether the caller asked for a new head, and whether they fill the backbone only.
    """

    variant: str = ""
    label: str = ""
    zoo_source: str | None = None
    new_head: bool = False
    backbone_only: bool = False

    def target(self, model: nn.Module) -> nn.Module:
        """The module the weights go into: ``model.backbone`` for backbone-only weights or a features-only
        model, else ``model``."""
        backbone_only = self.backbone_only or getattr(model, "features_only", False)
        return model.backbone if backbone_only and hasattr(model, "backbone") else model


def _resolve_source(variant: str, pretrained, *, new_head: bool, features_only: bool) -> ResolvedWeights:
    """Where ``pretrained`` points, without reading a saved config.json (the manifest is read once)."""
    if _is_zoo_format(pretrained):
        return ResolvedWeights({}, variant=variant, label=str(pretrained), zoo_source=str(pretrained),
                               new_head=new_head, backbone_only=features_only)
    entry = resolve_weights(variant, pretrained)
    return ResolvedWeights(dict(entry.get("model_kwargs", {})), entry=entry, variant=variant,
                           label=f"{variant}:{entry['tag']}", new_head=new_head,
                           backbone_only=features_only or entry["init"] == "backbone")


def resolve_pretrained(variant: str, pretrained, model_cls: type | None = None,
                       known_architectures: Iterable[str] = (), *, new_head: bool = False,
                       features_only: bool = False) -> ResolvedWeights:
    """Resolve ``pretrained`` for the model ``variant`` builds (a ``model_cls``), once per load.

    A manifest entry may require constructor arguments (timm's SSLD heads have no conv bias); a saved
    folder or ``hf-hub:`` repo brings all of them in ``config.json`` with its ``pretrained_cfg``, unless
    its ``architecture`` is none of ``known_architectures`` (timm's, say): then it loads by key layout
    only. ``new_head``: the caller chose the prediction layer's size; ``features_only``: a backbone.
    """
    if not pretrained:
        return ResolvedWeights({}, variant=variant)
    resolved = _resolve_source(variant, pretrained, new_head=new_head, features_only=features_only)
    spec = resolved.zoo_source
    if spec is None or (os.path.isdir(spec) and not (Path(spec) / "config.json").is_file()):
        return resolved  # a manifest entry, or weights alone: the caller's arguments decide
    config = dict(read_zoo_config(spec))
    architecture = config.pop("architecture", None)
    saved_cfg = config.pop("pretrained_cfg", None)
    if architecture not in set(known_architectures):
        return resolved
    if model_cls is not None and architecture != model_cls.__name__:
        raise PretrainedWeightsError(
            f"{spec} holds a {architecture} (config.json), but {variant} builds a {model_cls.__name__}; "
            f"load it with hrnet_zoo.from_pretrained({spec!r})")
    return dataclasses.replace(resolved, model_kwargs=config, saved_cfg=saved_cfg)


def weights_spec(variant: str, pretrained, model_cls: type | None = None,
                 known_architectures: Iterable[str] = ()) -> WeightsSpec:
    """What ``pretrained`` asks of the model ``variant`` builds: `resolve_pretrained()` (a `ResolvedWeights`)."""
    return resolve_pretrained(variant, pretrained, model_cls, known_architectures)


def pretrained_model_kwargs(variant: str, pretrained, model_cls: type | None = None,
                            known_architectures: Iterable[str] = ()) -> dict:
    """The constructor arguments of `weights_spec()`."""
    return weights_spec(variant, pretrained, model_cls, known_architectures).model_kwargs


def load_pretrained(model: nn.Module, variant: str, pretrained: bool | str, new_head: bool = False) -> LoadResult:
    """Load the weights ``pretrained`` names into ``model`` (built for the registered ``variant``).

    With ``new_head`` (the caller chose ``num_keypoints``/``num_classes``), a prediction layer whose size
    differs from the checkpoint's keeps its fresh initialisation (a warning names it, and the result's
    ``reinitialized_layers`` lists it); otherwise, and for every other key, the weights must fit.
    """
    resolved = _resolve_source(variant, pretrained, new_head=new_head,
                               features_only=getattr(model, "features_only", False))
    return load_resolved(model, resolved)


def load_resolved(model: nn.Module, resolved: ResolvedWeights) -> LoadResult:
    """Load ``resolved`` into ``model`` → `LoadResult`: the layout detected, the keys skipped, and
    ``reinitialized_layers``, the layers these weights did not fill (a new head; for backbone-only
    weights into a full model, every top-level module besides the backbone)."""
    target = resolved.target(model)
    if resolved.zoo_source is not None:
        state_dict = read_state_dict(zoo_weights_file(resolved.zoo_source))
    else:
        state_dict = converted_state_dict(resolved.entry, target)
    result = _load_into(target, state_dict, resolved.label, resolved.new_head)
    if target is not model and not getattr(model, "features_only", False):
        result.reinitialized_layers = tuple(name for name, _ in model.named_children() if name != "backbone")
    return result


def _is_backbone(model: nn.Module) -> bool:
    # Full models save themselves; anything else is a bare backbone (a features-only model's
    # .backbone, or a full model's), into which checkpoints of full models load partially.
    return not hasattr(model, "save_pretrained")


def _load_into(model: nn.Module, state_dict: dict, label: str, new_head: bool = False) -> LoadResult:
    """Load strictly, except: a bare backbone skips what it has no place for, and with ``new_head`` a
    full model keeps a fresh prediction layer when only its size differs."""
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
        shapes = "; ".join(f"{k}: checkpoint {tuple(a)}, model {tuple(b)}" for k, a, b in result.shape_mismatches)
        if not new_head:
            raise CheckpointError(
                f"{label}: the weights' prediction layer has another size than the model's ({shapes}); its "
                f"config disagrees with its weights. Pass {' or '.join(HEAD_SIZE_ARGUMENTS)} to start a new head")
        layers = ", ".join(f"'{layer}'" for layer in model.prediction_layers)
        warnings.warn(f"{label}: the prediction layer {layers} has a different size in the checkpoint "
                      f"({shapes}); it was not loaded and keeps its fresh initialisation. "
                      "Every other weight was loaded.", stacklevel=5)
        result.reinitialized_layers = tuple(model.prediction_layers)
        return result
    raise CheckpointError(f"{label} does not fit {type(model).__name__}: {result.describe()}")


def only_prediction_layer_differs(model: nn.Module, result: LoadResult) -> bool:
    """Whether the one thing that kept a checkpoint from loading is the size of the layers the model
    declares as its ``prediction_layers`` (another ``num_keypoints``/``num_classes``)."""
    layers = tuple(getattr(model, "prediction_layers", ()))
    return (bool(layers) and not result.missing_keys and not result.unexpected_keys
            and bool(result.shape_mismatches)
            and all(any(k.startswith(layer + ".") for layer in layers) for k, _, _ in result.shape_mismatches))


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

    Yields why the cache is read-only (the lock cannot be taken), or None: see `cache_lock()`.
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
    resolved = _resolve_source(model_name, tag, new_head=False, features_only=getattr(model, "features_only", False))
    entry = resolved.entry
    if model is None:
        model = get_model_entrypoint(model_name)(**resolved.model_kwargs)  # the entry names a registered model
    target = resolved.target(model)
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
    """``config.json`` of a local folder or Hub repo written by ``save_pretrained``, as a dict; the model
    class checks its arguments (``check_config``) before anything is built from them."""
    if os.path.isdir(spec):
        path = Path(spec) / "config.json"
    else:
        repo_id, spec_revision = parse_hub_spec(spec)
        path = hf_download(repo_id, "config.json", revision or spec_revision, **hub_kwargs)
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PretrainedWeightsError(f"{spec} has no readable config.json: {e}") from e
    if not isinstance(config, dict):
        raise InvalidConfigError(f"config.json of {spec} must hold a JSON object, not {type(config).__name__}")
    return upgrade_saved_config(config)  # 0.2's num_joints, read as num_keypoints
