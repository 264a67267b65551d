"""What a training run keeps on disk, and how a resumed run reads it back.

``last/`` and ``best/`` are ``save_pretrained`` folders; ``last/`` also holds ``training_state.pt``
(optimizer, scheduler, scaler, epoch, step, best score, random states). That file holds only tensors,
numbers, strings, lists and dicts, so ``torch.load(weights_only=True)`` reads it. ``metrics.jsonl``
has one JSON object per epoch. Folders are swapped in atomically; see `save_checkpoint_dir`.
"""
from __future__ import annotations

import collections
import errno
import json
import math
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError

from hrnet_zoo.errors import HRNetZooError

STATE_FILE = "training_state.pt"
#: In ``best/``: which epoch it holds and its score, so what a run reports is what the folder holds.
BEST_FILE = "best.json"


class TrainingError(HRNetZooError, ValueError):
    """A run that cannot start or go on as asked (a model whose keypoint count differs from the
    dataset's, an output folder that holds something else, a checkpoint that does not fit, a loss
    that is no longer finite, a checkpoint that cannot be written)."""


def rng_state() -> dict:
    """torch's, numpy's and ``random``'s generator states, as tensors and numbers only."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)},
            "python": torch.tensor(random.getstate()[1], dtype=torch.int64)}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    random.setstate((3, tuple(int(v) for v in state["python"].tolist()), None))


def scheduler_state(scheduler) -> dict:
    """``scheduler.state_dict()`` with MultiStepLR's Counter as a plain dict (``weights_only`` loads it)."""
    state = scheduler.state_dict()
    if isinstance(state.get("milestones"), collections.Counter):
        state["milestones"] = {int(k): int(v) for k, v in state["milestones"].items()}
    return state


def load_scheduler_state(scheduler, state: dict) -> None:
    state = dict(state)
    if "milestones" in state:
        state["milestones"] = collections.Counter({int(k): int(v) for k, v in state["milestones"].items()})
    scheduler.load_state_dict(state)


def reschedule(scheduler, optimizer, epochs: int, milestones: list[int]) -> None:
    """After a resume: the schedule of *this* run's ``epochs`` and ``milestones`` (which may differ
    from the interrupted run's), and the learning rate it gives at the current epoch."""
    if isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR):
        scheduler.milestones = collections.Counter(milestones)
    else:
        scheduler.T_max = epochs
    for group, lr in zip(optimizer.param_groups, scheduler._get_closed_form_lr()):
        group["lr"] = lr
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]


def save_checkpoint_dir(model, dest: Path, state: dict | None = None, info: dict | None = None) -> None:
    """``model.save_pretrained`` (+ ``training_state.pt``, + ``info`` as ``best.json``) into ``dest``,
    atomically: written into a temporary sibling folder, then renamed into place; the previous folder
    is removed only after. A failed write (a full disk) raises `TrainingError` naming ``dest`` and
    leaves the previous folder as it was."""
    dest = Path(dest)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        if state is not None:
            torch.save(state, tmp / STATE_FILE)
        if info is not None:
            (tmp / BEST_FILE).write_text(json.dumps(info), encoding="utf-8")
        for path in tmp.iterdir():  # on disk before the rename makes them the checkpoint
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    except (OSError, RuntimeError, ValueError, SafetensorError) as e:  # how torch.save and safetensors report I/O
        if isinstance(e, HRNetZooError) or not _is_write_error(e):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        raise TrainingError(f"cannot save the checkpoint {dest}: {describe_write_error(e, dest.parent)}; "
                            f"{dest} still holds the previous one") from e
    if dest.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)


def _errno_of(error: BaseException) -> int | None:
    if isinstance(error, OSError) and error.errno:
        return error.errno
    match = re.search(r"(?:os error|code:)\s*(\d+)", str(error))  # safetensors' Rust io::Error text
    return int(match[1]) if match else None


def _is_write_error(error: BaseException) -> bool:
    text = str(error)
    return (isinstance(error, OSError) or _errno_of(error) is not None or "unexpected pos" in text
            or "PytorchStreamWriter" in text or "serializ" in text.lower())


def describe_write_error(error: BaseException, folder: Path) -> str:
    """Why a write into ``folder`` failed, in words: a full disk said as such."""
    code = _errno_of(error)
    full = False
    if code is None:  # torch.save's "unexpected pos" names no cause: look at the free space
        try:
            full = shutil.disk_usage(folder).free < 1 << 20
        except OSError:
            pass
    if code in (errno.ENOSPC, errno.EDQUOT) or full:
        return f"the disk is full (no space left in {folder})"
    if code == errno.EFBIG:
        return f"a file grew past the size limit of the file system or process (File too large) in {folder}"
    reason = os.strerror(code) if code else " ".join(str(error).split())[:200]
    return f"the write into {folder} failed ({reason})"


def read_best_info(folder: Path) -> dict | None:
    """``best.json`` of a ``best/`` folder (``{"epoch", "step", "score", "metric"}``), or None when it
    has none (a run of an older version) or it cannot be read."""
    try:
        info = json.loads((Path(folder) / BEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("epoch"), int):
        return None
    score = info.get("score")
    return info if isinstance(score, (int, float)) and math.isfinite(score) else None


def recover_checkpoint_dir(dest: Path) -> Path | None:
    """``dest`` if it exists; else put back the newest previous folder a kill left mid-swap."""
    dest = Path(dest)
    for stale in dest.parent.glob(f".{dest.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if dest.is_dir():
        return dest
    olds = sorted(dest.parent.glob(f".{dest.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds:
        os.replace(olds[-1], dest)
        return dest
    return None


def append_metrics(path: Path, metrics: dict) -> None:
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(metrics) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise TrainingError(f"cannot append to {path}: {describe_write_error(e, path.parent)}") from e


def truncate_metrics(path: Path, next_epoch: int, log=print) -> None:
    """Drop metric lines of epochs from ``next_epoch`` on (written before a kill, then redone).

    A torn or non-object last line (what a full disk or a kill leaves) is dropped with a message to
    ``log``; such a line before others is a `TrainingError` naming the file and line.
    """
    if not path.is_file():
        return
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    kept = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            if number == len(lines):
                log(f"warning: {path} line {number} is not a complete JSON object (torn by a kill or a full "
                    "disk?); dropped it")
                continue
            raise TrainingError(f"{path} line {number} is not a JSON object ({line[:60]!r}); the metrics of "
                                "this run are damaged: repair or remove that line, then --resume again")
        if not isinstance(record.get("epoch", -1), int) or record.get("epoch", -1) < next_epoch:
            kept.append(line)
    if len(kept) != len(lines):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise TrainingError(f"cannot rewrite {path}: {describe_write_error(e, path.parent)}") from e
