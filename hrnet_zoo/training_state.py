"""What a training run keeps on disk, and how a resumed run reads it back.

``last/`` and ``best/`` are ``save_pretrained`` folders; ``last/`` also holds ``training_state.pt``
(optimizer, scheduler, scaler, epoch, step, best score, random states). That file holds only tensors,
numbers, strings, lists and dicts, so ``torch.load(weights_only=True)`` reads it. ``metrics.jsonl``
has one JSON object per epoch. Folders are swapped in atomically; see `save_checkpoint_dir`.
"""
from __future__ import annotations

import collections
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

STATE_FILE = "training_state.pt"


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


def save_checkpoint_dir(model, dest: Path, state: dict | None = None) -> None:
    """``model.save_pretrained`` (+ ``training_state.pt``) into ``dest``, atomically: written into a
    temporary sibling folder, then renamed into place; the previous folder is removed only after."""
    dest = Path(dest)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    if state is not None:
        torch.save(state, tmp / STATE_FILE)
    for path in tmp.iterdir():  # on disk before the rename makes them the checkpoint
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    if dest.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)


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
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(metrics) + "\n")
        f.flush()
        os.fsync(f.fileno())


def truncate_metrics(path: Path, next_epoch: int) -> None:
    """Drop metric lines of epochs after the checkpoint (written before a kill, then redone)."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line).get("epoch", -1) < next_epoch]
    if len(kept) != len(lines):
        path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
