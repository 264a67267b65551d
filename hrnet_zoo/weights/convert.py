"""Read checkpoints from any supported repository and load them into hrnet_zoo models.

A model class lists the foreign key layouts it understands in ``checkpoint_layouts``
(name → converter), in its family module; any module may add one for an architecture with
[`register_layout()`][hrnet_zoo.weights.convert.register_layout] (this module never imports the models).
[`load_checkpoint()`][hrnet_zoo.weights.convert.load_checkpoint] strips wrapper prefixes, tries hrnet_zoo's own layout
and every converter, keeps the one whose keys match the model best, and then loads strictly
(or reports what it skipped).
"""
from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import nn

from hrnet_zoo.errors import CheckpointError, LayoutNotRecognized, RegistryError  # noqa: F401  (re-exported)

ZOO_LAYOUT = "hrnet_zoo"
# Containers that training scripts wrap state dicts in (mmpose/mmdet: state_dict, torchvision: model ...),
# in order of preference; the EMA copies (timm: state_dict_ema, model_ema; ema) only when no regular one
# is there, so a checkpoint holding both loads its regular weights, as before.
_CONTAINER_KEYS = ("state_dict", "model", "net", "module", "state_dict_ema", "model_ema", "ema")
# Prefixes that DataParallel / wrappers add in front of every key.
_WRAPPER_PREFIXES = ("model.module.", "module.")
# Keys that are not model weights in some checkpoints (mmpose v1 normalisation buffers).
_IGNORED_PREFIXES = ("data_preprocessor.",)
_MAX_LISTED = 12
#: Layouts added with register_layout: architecture (class name) → {layout name → converter}.
_registered_layouts: dict[str, dict[str, Callable[[dict], dict]]] = {}



@dataclass
class LoadResult:
    """What [`load_checkpoint()`][hrnet_zoo.weights.convert.load_checkpoint] did: the layout it detected and anything it could not load."""

    layout: str
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    shape_mismatches: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    #: Layers of the model this load did not fill and that keep a fresh initialisation (a new head, or
    #: everything outside the backbone for backbone-only weights); ``reset_head`` re-initialises them.
    reinitialized_layers: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (self.missing_keys or self.unexpected_keys or self.shape_mismatches)

    def describe(self) -> str:
        def listing(title: str, items: list) -> str:
            shown = ", ".join(str(i) for i in items[:_MAX_LISTED])
            more = f" … and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
            return f"\n  {title} ({len(items)}): {shown}{more}"

        text = f"detected key layout: {self.layout}"
        if self.missing_keys:
            text += listing("missing keys", self.missing_keys)
        if self.unexpected_keys:
            text += listing("unexpected keys", self.unexpected_keys)
        if self.shape_mismatches:
            text += listing("shape conflicts (key, checkpoint, model)",
                            [f"{k} {tuple(a)} vs {tuple(b)}" for k, a, b in self.shape_mismatches])
        return text


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` file, or a pickled checkpoint with ``torch.load(weights_only=True)``.

    Pickles that would run code, or hold other objects than tensors and containers, are refused by
    torch's restricted unpickler; the error names the refused type and what the file is.
    """
    path = check_checkpoint_path(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if path.suffix == ".safetensors" or _looks_like_safetensors(head):
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as e:  # safetensors raises its own error types
            raise CheckpointError(f"{path} is not a valid safetensors file: {e}") from e
    not_a_checkpoint = _not_a_checkpoint(path, head)
    if not_a_checkpoint:
        raise CheckpointError(f"{path} {not_a_checkpoint}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(_refused_pickle_message(path, e)) from None
    except Exception as e:
        raise CheckpointError(_unreadable_message(path, _plain_first_line(str(e)))) from None
    return unwrap_state_dict(obj, source=str(path))


def check_checkpoint_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it is a file; a CheckpointError saying what it is otherwise."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file (a folder written by "
                              "save_pretrained loads with hrnet_zoo.from_pretrained)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    return path


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format
_PICKLE_PROTOCOL = 0x80      # torch.save(..., _use_new_zipfile_serialization=False) and plain pickles
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _not_a_checkpoint(path: Path, head: bytes) -> str | None:
    """What the file is when it cannot be a torch checkpoint (empty, too short, text), else None."""
    if head.startswith(_ZIP_MAGIC) or head[:1] == bytes([_PICKLE_PROTOCOL]):
        return None
    size = path.stat().st_size
    if size == 0:
        return "is empty (0 bytes), not a checkpoint"
    if size < 16:
        return f"is too short ({size} bytes) to be a checkpoint"
    text = head.decode("utf-8", "ignore")  # the 16 bytes may end inside a multi-byte character
    if len(text) >= len(head) - 3 and all(c.isprintable() or c.isspace() for c in text):
        return f"is a text file (it starts with {text[:12]!r}), not a checkpoint"
    return "is not a checkpoint: neither a zip (torch.save) nor a pickle nor a safetensors file"


def _refused_pickle_message(path: Path, error: Exception) -> str:
    """Name the types torch's restricted unpickler refused, and how to get the tensors out without it."""
    from torch.serialization import get_unsafe_globals_in_checkpoint

    try:
        types = get_unsafe_globals_in_checkpoint(path)  # every refused type; zip checkpoints only
    except Exception:
        types = re.findall(r"GLOBAL (\S+) was not an allowed global", str(error))
    if not types:  # not a refused type but a broken pickle; torch's reason follows "WeightsUnpickler error:"
        reason = str(error).partition("WeightsUnpickler error:")[2].partition("Check the documentation")[0]
        return _unreadable_message(path, _plain_first_line(reason) or "not a valid pickle")
    return (f"{path} holds pickled objects that torch.load(weights_only=True) refuses ({', '.join(types)}); "
            "hrnet_zoo never unpickles arbitrary objects. The tensors can be loaded with "
            "torch.load(weights_only=True) once those objects are removed from the checkpoint: re-save "
            "only the state_dict where the checkpoint was written (torch.save(model.state_dict(), path)), "
            "or convert it to safetensors.")


def _unreadable_message(path: Path, reason: str) -> str:
    return (f"could not read {path} with torch.load(weights_only=True): {reason}; "
            "it is not a complete zip or pickle checkpoint")


def _plain_first_line(text: str) -> str:
    """The first non-empty line of an error text, without terminal colour codes (torch colours some)."""
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _looks_like_safetensors(head: bytes) -> bool:
    # 8-byte little-endian header length followed by a JSON object.
    return len(head) > 9 and head[8:9] == b"{"


def unwrap_state_dict(obj: Mapping, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Find the tensor mapping inside common checkpoint containers (``_CONTAINER_KEYS``, in that order)."""
    outer = obj
    while isinstance(obj, Mapping) and not _is_tensor_mapping(obj):
        inner = next((obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not _is_tensor_mapping(obj):
        if not isinstance(outer, Mapping):
            found = f"it holds a {type(outer).__name__}"
        else:
            keys = [str(k) for k in outer]
            shown = ", ".join(keys[:_MAX_LISTED]) + (f" … and {len(keys) - _MAX_LISTED} more"
                                                      if len(keys) > _MAX_LISTED else "")
            found = f"its top-level keys: {shown or 'none'}"
        raise CheckpointError(f"{source} holds no state dict (a mapping of names to tensors, looked for under "
                              f"{', '.join(_CONTAINER_KEYS)}); {found}")
    return dict(obj)


def _is_tensor_mapping(obj: Mapping) -> bool:
    return len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def strip_wrappers(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove ``module.`` / ``model.module.`` prefixes and non-weight entries."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith(_IGNORED_PREFIXES):
            continue
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        out[key] = value
    return out


def split_backbone_head(state_dict: Mapping[str, torch.Tensor], head_modules: tuple[str, ...]) -> dict:
    """Flat official keys → hrnet_zoo's: ``head.`` before the top-level modules in ``head_modules``
    (``final_layer.weight`` → ``head.final_layer.weight``), ``backbone.`` before every other key."""
    out = {}
    for key, value in state_dict.items():
        top = key.split(".", 1)[0]
        out[("head." if top in head_modules else "backbone.") + key] = value
    return out


def register_layout(architecture: str, name: str, converter: Callable[[dict], dict]) -> None:
    """Teach [`load_checkpoint()`][hrnet_zoo.weights.convert.load_checkpoint] the key layout ``name`` for models of the class named
    ``architecture`` (and its subclasses): ``converter(state_dict)`` → hrnet_zoo's keys, raising
    `LayoutNotRecognized` for a state dict that is not in its layout."""
    layouts = _registered_layouts.setdefault(architecture, {})
    if name in layouts:
        raise RegistryError(f"checkpoint layout {name!r} of {architecture} is registered twice")
    layouts[name] = converter


def checkpoint_layouts(model_or_class) -> dict[str, Callable[[dict], dict]]:
    """Every foreign layout a model (or model class) loads: its ``checkpoint_layouts`` and the registered ones."""
    cls = model_or_class if isinstance(model_or_class, type) else type(model_or_class)
    found = dict(getattr(cls, "checkpoint_layouts", {}))
    for base in reversed(cls.__mro__):
        found.update(_registered_layouts.get(base.__name__, {}))
    return found


def convert_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> tuple[str, dict]:
    """Convert ``state_dict`` to ``model``'s keys; returns (detected layout name, converted dict)."""
    state_dict = strip_wrappers(state_dict)
    model_keys = set(model.state_dict())
    candidates = {ZOO_LAYOUT: lambda sd: dict(sd), **checkpoint_layouts(model)}
    best = None
    for name, convert in candidates.items():
        try:
            converted = convert(state_dict)
        except LayoutNotRecognized:  # the one signal of "not my layout"; anything else is a bug
            continue
        score = len(model_keys & set(converted))
        if best is None or score > best[0]:
            best = (score, name, converted)
    return best[1], best[2]


def load_checkpoint(model: nn.Module, path_or_state_dict, strict: bool = True) -> LoadResult:
    """Load weights in hrnet_zoo's layout or any official layout the model knows.

    Args:
        model: an hrnet_zoo model (or backbone).
        path_or_state_dict: a ``.safetensors`` / ``.pth`` path or a mapping of tensors.
        strict: raise [`CheckpointError`][hrnet_zoo.errors.CheckpointError] on any missing/unexpected key or shape conflict.
            With ``strict=False`` everything that fits is loaded and the rest reported
            (e.g. fine-tuning to a new number of joints).

    Returns:
        [`LoadResult`][hrnet_zoo.weights.convert.LoadResult] with the detected layout and what was skipped.
    """
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        state_dict = read_state_dict(path_or_state_dict)
    else:
        state_dict = unwrap_state_dict(path_or_state_dict)
    layout, converted = convert_state_dict(model, state_dict)

    own = model.state_dict()
    result = LoadResult(layout)
    loadable = {}
    for key, value in converted.items():
        if key not in own:
            result.unexpected_keys.append(key)
        elif own[key].shape != value.shape:
            result.shape_mismatches.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            loadable[key] = value
    # Older checkpoints predate BatchNorm's num_batches_tracked; it does not change outputs.
    result.missing_keys = [k for k in own if k not in converted and not k.endswith("num_batches_tracked")]
    if strict and not result.ok:
        raise CheckpointError(f"checkpoint does not fit {type(model).__name__}: {result.describe()}")
    model.load_state_dict(loadable, strict=False)
    return result
