"""The ``auto`` choices, cached per machine, model, shape and request in ``<cache>/runtime/choices.json``."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from filelock import FileLock

from hrnet_zoo.runtime.hardware import machine_key
from hrnet_zoo.weights.cache import write_atomically
from hrnet_zoo.weights.hub import cache_dir


def cache_file() -> Path:
    return cache_dir() / "runtime" / "choices.json"


def weights_hash(model: torch.nn.Module) -> str:
    """A hash of every parameter and buffer (names and bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        t = tensor.detach().cpu().contiguous()
        digest.update(str(t.dtype).encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def model_identity(model: torch.nn.Module) -> dict:
    """Class, constructor config and a hash of the weights."""
    config = getattr(model, "_hub_mixin_config", None)
    return dict(cls=f"{type(model).__module__}.{type(model).__qualname__}",
                config=json.loads(json.dumps(config, default=str)) if config else None,
                weights=weights_hash(model))


def choice_key(model: torch.nn.Module, **request) -> str:
    """The cache key: this machine, the model's identity, and the request (shape, backend, precision …)."""
    payload = dict(machine=machine_key(), model=model_identity(model), threads=torch.get_num_threads(), **request)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def load_choice(key: str) -> dict | None:
    return _read(cache_file()).get(key)


def store_choice(key: str, choice: dict) -> None:
    """Add ``choice`` under ``key``, atomically (a lock, then a rename), keeping the other entries."""
    path = cache_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        entries = _read(path)
        entries[key] = choice
        write_atomically(path, lambda tmp: tmp.write_text(json.dumps(entries, indent=1)))
