"""hrnet_zoo's files on disk: atomic writes, checksummed converted weights, stale temporary files, locks.

Under `cache_dir()`::

    converted/<source sha256>-<ModelClass>.<sha256 of this file>.safetensors
    sources/<key digest>.json      the sha256 of a source the manifest does not pin
    locks/<key digest>.lock        held while a source is downloaded and converted
    downloads/<file name>          URL downloads (see hub.py)

A converted file carries its own sha256 in its name, checked on every read: flipped bytes, a truncated
file or another (valid) safetensors file put in its place are all caught. The digest is in the name
rather than in a sidecar file because one rename then publishes the data and its checksum together: a
reader without the lock (a read-only cache) never sees a checksum of another version, and a writer
killed between two renames cannot leave a file without one.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch
from filelock import FileLock

from hrnet_zoo.errors import CorruptCacheError, PretrainedWeightsError  # noqa: F401  (re-exported)
from hrnet_zoo.weights.hub import _SHA256, cache_path

_logger = logging.getLogger(__name__)
CONVERTED = "converted"
_SUFFIX = ".safetensors"
_TEMP_SUFFIX = ".tmp"
#: A temporary file untouched this long is stale even if a process with its writer's pid runs (pids are
#: reused, and a shared cache may hold files of other machines' processes); a write takes seconds.
_STALE_TEMP_AGE_S = 24 * 3600



def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` next to ``path``, then rename: readers see the whole file or none; a failed
    write leaves nothing behind (and a killed writer's ``<name>.<pid>.tmp`` is removed later, see
    `remove_stale_temp_files()`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}{_TEMP_SUFFIX}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Remove the ``<name>.<pid>.tmp`` files in ``folder`` whose writer is gone (killed mid-write).

    Call it holding the lock the writers take; a file of a running writer is kept.
    """
    removed = []
    for tmp in folder.glob(f"*{_TEMP_SUFFIX}"):
        pid = tmp.name[:-len(_TEMP_SUFFIX)].rsplit(".", 1)[-1]
        try:
            stale = (not pid.isdigit() or not _process_exists(int(pid))
                     or time.time() - tmp.stat().st_mtime > _STALE_TEMP_AGE_S)
            if stale:
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # gone meanwhile, or not ours to remove (a read-only cache)
            continue
    if removed:
        _logger.info("removed %d temporary file(s) left by interrupted writers in %s", len(removed), folder)
    return removed


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would terminate the process there: rely on the age rule alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


@contextmanager
def cache_lock(name: str, cleans: tuple[str, ...] = ()) -> Iterator[str | None]:
    """Hold ``locks/<name>.lock``; then remove stale temporary files in the ``cleans`` folders.

    Yields None, or, where the lock cannot be taken (a read-only or shared cache), why not: the
    caller may then read verified files but must write nothing.
    """
    lock_path = cache_path("locks", f"{name}.lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path))
        lock.acquire()
    except OSError as e:
        yield f"cannot take the lock {lock_path}: {e.strerror or e}"
        return
    try:
        for folder in cleans:
            remove_stale_temp_files(cache_path(folder))
        yield None
    finally:
        lock.release()


def converted_stem(source_sha256: str, class_name: str) -> str:
    """``<source sha256>-<ModelClass>``: what a converted file's name starts with."""
    if not _SHA256.match(source_sha256):
        raise PretrainedWeightsError(f"refusing to name a cache file after {source_sha256!r}: not a sha256")
    return f"{source_sha256}-{class_name}"


def read_converted(stem: str, remove_corrupted: bool = True) -> tuple[Path, dict[str, torch.Tensor]] | None:
    """The verified converted file of ``stem`` and its tensors, or None when there is none.

    Raises:
        CorruptCacheError: a file was there but its content does not match its sha256 (it is removed
            when ``remove_corrupted``; a read-only cache keeps it).
    """
    from safetensors.torch import load

    corrupted = []
    for path in sorted(cache_path(CONVERTED).glob(f"{stem}.*{_SUFFIX}")):
        digest = path.name[len(stem) + 1:-len(_SUFFIX)]
        if not _SHA256.match(digest):
            continue
        try:
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() == digest:
                return path, load(data)
        except Exception as e:  # unreadable, or (despite its digest) not safetensors: treated as corrupted
            _logger.warning("unreadable converted cache file %s (%s)", path, e)
        corrupted.append(path)
        if remove_corrupted:
            path.unlink(missing_ok=True)
    if corrupted:
        what = "was removed" if remove_corrupted else "is kept (the cache is read-only)"
        raise CorruptCacheError(f"the converted cache file {corrupted[0]} does not match the sha256 in its name "
                                f"(damaged on disk) and {what}.")
    return None


def write_converted(stem: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write ``<stem>.<sha256>.safetensors`` atomically; older files of ``stem`` are removed."""
    from safetensors.torch import save

    data = save({k: v.detach().contiguous() for k, v in tensors.items()}, metadata=metadata)
    path = cache_path(CONVERTED, f"{stem}.{hashlib.sha256(data).hexdigest()}{_SUFFIX}")
    write_atomically(path, lambda tmp: tmp.write_bytes(data))
    # Files of an earlier conversion, and the unchecksummed <stem>.safetensors that earlier versions wrote.
    for old in [*path.parent.glob(f"{stem}.*{_SUFFIX}"), path.parent / f"{stem}{_SUFFIX}"]:
        if old != path:
            old.unlink(missing_ok=True)
    return path
