"""What a training run keeps on disk: its run folder (a lock, what may be written into it), the
``last/`` and ``best/`` checkpoints, ``metrics.jsonl``, and how a resumed run reads them back.

``last/`` and ``best/`` are ``save_pretrained`` folders; ``last/`` also holds ``training_state.pt``
(optimizer, scheduler, scaler, epoch, step, best score, random states). That file holds only tensors,
numbers, strings, lists and dicts, so ``torch.load(weights_only=True)`` reads it. ``metrics.jsonl``
has one JSON object per epoch. Folders are swapped in atomically; see `save_checkpoint_dir`.

A folder is a run of this package when it holds ``last/`` or the marker file ``.hrnet-zoo-run``
(written when a run starts). Any other non-empty folder is refused unless ``force``, and even then
nothing the package did not write is replaced: ``best/``, ``last/`` or ``metrics.jsonl`` of someone
else stop the run.
"""
from __future__ import annotations

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
from filelock import FileLock, Timeout
from safetensors import SafetensorError

from hrnet_zoo._json import strict_dumps
from hrnet_zoo.errors import HRNetZooError, TrainingError

STATE_FILE = "training_state.pt"
#: In ``best/``: which epoch it holds and its score, so what a run reports is what the folder holds.
BEST_FILE = "best.json"
MARKER = ".hrnet-zoo-run"
LOCK = ".lock"
#: What a run writes, and so what it would write over in a folder that is not its own.
RUN_FILES = ("last", "best", "metrics.jsonl")


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
            (tmp / BEST_FILE).write_text(strict_dumps(info), encoding="utf-8")
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
            f.write(strict_dumps(metrics) + "\n")
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


# ----------------------------------------------------------------------------------------- the run folder
def open_run_folder(out: Path, *, resume: bool, force: bool) -> FileLock:
    """Create or check ``out`` and lock it against a second run; returns the held lock."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TrainingError(f"--out {out} is a file; a run needs a folder (new, empty, or a run to --resume)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(out / LOCK), timeout=0)
        lock.acquire()
    except Timeout:
        raise TrainingError(f"another training run is writing into {out} (it holds {out / LOCK}); wait for it "
                            "to end, or choose another --out") from None
    except OSError as e:
        raise TrainingError(f"cannot write into the run folder --out {out}: "
                            f"{describe_write_error(e, out)}; choose a writable folder") from None
    try:
        _check_contents(out, resume, force)
        (out / MARKER).touch()
    except OSError as e:
        lock.release()
        raise TrainingError(f"cannot write into the run folder --out {out}: {describe_write_error(e, out)}") from None
    except BaseException:
        lock.release()
        raise
    return lock


def _check_contents(out: Path, resume: bool, force: bool) -> None:
    ours = (out / MARKER).exists() or (out / "last").is_dir() or any(out.glob(".last.old-*"))
    if ours:  # put back or clear what a kill left mid-swap, in this package's folders only
        recover_checkpoint_dir(out / "last")
        recover_checkpoint_dir(out / "best")
        if (out / "last").is_dir() and not resume:
            raise TrainingError(f"{out} already holds a run (last/ checkpoint); pass --resume (resume=True) to "
                                "continue it, or choose another output folder")
        return
    found = sorted(p.name for p in out.iterdir() if p.name != LOCK)
    if found and not force:
        listed = ", ".join(found[:4]) + (", …" if len(found) > 4 else "")
        raise TrainingError(f"--out {out} is not empty ({listed}) and is not a run of hrnet-zoo to resume (no "
                            "last/); choose a new or empty folder, or pass --force to write beside its files")
    clashes = [name for name in RUN_FILES if name in found]
    if clashes:
        raise TrainingError(f"--out {out} holds {', '.join(clashes)} that hrnet-zoo did not write; a run would "
                            "replace them, even with --force: move them away or choose another --out")


def load_resume_state(last: Path) -> dict:
    """``last/training_state.pt``, checked enough to resume from; else a `TrainingError` saying why not."""
    path = Path(last) / STATE_FILE
    why = None
    if not path.is_file():
        why = f"{STATE_FILE} is missing"
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - a torn or foreign file fails in many ways; each is one reason
            why = f"{path} is not a training state ({' '.join(str(e).split())[:160]})"
        else:
            needed = ("epoch", "step", "best_ap", "optimizer", "scheduler", "rng")
            if not isinstance(state, dict) or any(key not in state for key in needed):
                why = f"{path} lacks the training state ({', '.join(needed)})"
    if why is not None:
        raise TrainingError(f"{last} cannot be resumed: {why}; start a new run in another --out (its "
                            f"model.safetensors still loads as weights: --model {last})")
    return state


def resumed_best(model, out: Path, state: dict, log) -> tuple[float, int | None]:
    """The best score and epoch a resumed run goes on from: what ``best/`` holds. When a kill fell
    after ``last/`` was saved with a new best but before ``best/`` was, ``best/`` is written now from
    ``model`` (just loaded from ``last/``, whose epoch that best is)."""
    best_score, best_epoch = float(state["best_ap"]), state.get("best_epoch")
    info = read_best_info(out / "best")
    if best_epoch is not None and best_epoch == state["epoch"] and (info is None or info["epoch"] != best_epoch):
        info = {"epoch": int(best_epoch), "step": int(state["step"]), "score": best_score,
                "metric": state.get("best_metric", "AP")}
        save_checkpoint_dir(model, out / "best", info=info)
        log(f"best/ was behind last/ (a kill between saving the two): wrote best/ from last/ (epoch {best_epoch})")
        return best_score, best_epoch
    if info is not None:
        return float(info["score"]), int(info["epoch"])
    return best_score, best_epoch


def reported_best(out: Path) -> tuple[float | None, int | None]:
    """The score and epoch ``best/`` holds (None, None without a readable ``best/{BEST_FILE}``)."""
    info = read_best_info(out / "best")
    if info is None:
        return None, None
    return (float(info["score"]) if math.isfinite(info["score"]) else None), int(info["epoch"])
