"""The ``auto`` choices, cached per machine, model, shape and request in ``<cache>/runtime/choices.json``.

The cache only saves time: a file that cannot be read or written (a read-only cache, ``HRNET_ZOO_CACHE``
naming a file) or an entry that is malformed or no longer fits the request is skipped with a warning,
and ``optimize`` measures as if there were none.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from filelock import FileLock
from filelock import Timeout as LockTimeout

from hrnet_zoo.runtime.hardware import machine_key
from hrnet_zoo.runtime.plan import BACKENDS, PRECISIONS
from hrnet_zoo.weights.cache import write_atomically
from hrnet_zoo.weights.hub import CACHE_ENV, cache_dir

logger = logging.getLogger("hrnet_zoo.runtime")
#: How long a writer waits for another process's lock before it gives up storing (the choice is kept
#: in memory either way).
LOCK_TIMEOUT_S = 60


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
    """The entries of ``path``; {} (with a warning, unless there is no file) where it holds no JSON object."""
    try:
        entries = json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):  # no file (the cache being a file is for store_choice to say)
        return {}
    except (OSError, ValueError) as e:
        logger.warning("optimize: ignoring the runtime choice cache %s, which cannot be read (%s)", path, e)
        return {}
    if not isinstance(entries, dict):
        logger.warning("optimize: ignoring the runtime choice cache %s: it holds a %s, not a JSON object",
                       path, type(entries).__name__)
        return {}
    return entries


def load_choice(key: str, pairs: list[tuple[str, str]]) -> dict | None:
    """The stored choice under ``key`` if it is well formed and one of ``pairs`` (what this request may
    run); None otherwise (a bad or stale entry is named in a warning and then measured anew)."""
    path = cache_file()
    entry = _read(path).get(key)
    if entry is None:
        return None
    if not (isinstance(entry, dict) and entry.get("backend") in BACKENDS and entry.get("precision") in PRECISIONS):
        logger.warning("optimize: ignoring a malformed entry in %s (%.80r); measuring anew", path, entry)
        return None
    if (entry["backend"], entry["precision"]) not in pairs:
        logger.warning("optimize: the cached choice %s %s in %s is not a candidate of this request (%s); measuring "
                       "anew", entry["backend"], entry["precision"], path, ", ".join(f"{b} {p}" for b, p in pairs))
        return None
    return entry


def store_choice(key: str, choice: dict) -> bool:
    """Add ``choice`` under ``key``, atomically (a lock, then a rename), keeping the other entries.

    Returns False, with a warning, where the cache cannot be written: the choice then holds for this
    runner only and is measured again next time.
    """
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
            entries = _read(path)
            entries[key] = choice
            write_atomically(path, lambda tmp: tmp.write_text(json.dumps(entries, indent=1)))
    except (OSError, LockTimeout) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        logger.warning("optimize: cannot store the choice in %s (%s: %s); it holds for this runner and is measured "
                       "again next time (set %s to a writable folder to keep it)", path, type(e).__name__, reason,
                       CACHE_ENV)
        return False
    return True
