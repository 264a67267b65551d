"""The ``out`` folder of a training run: what may be written into it, a lock so that one run at a
time does, and what a resumed run reads back from it (its training state and its options).

A folder is a run of this package when it holds ``last/`` or the marker file ``.hrnet-zoo-run``
(written when a run starts). Any other non-empty folder is refused unless ``force``, and even then
nothing the package did not write is replaced: ``best/``, ``last/`` or ``metrics.jsonl`` of someone
else stop the run.
"""
from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import torch
from filelock import FileLock, Timeout

from hrnet_zoo.training_state import (BEST_FILE, STATE_FILE, TrainingError, describe_write_error, read_best_info,
                                      recover_checkpoint_dir, save_checkpoint_dir)

MARKER = ".hrnet-zoo-run"
LOCK = ".lock"
#: What a run writes, and so what it would write over in a folder that is not its own.
RUN_FILES = ("last", "best", "metrics.jsonl")
#: Options a resume may change (the schedule follows them), by TrainConfig field, with their flags.
SAFE_ON_RESUME = {"lr": "--lr", "epochs": "--epochs", "max_steps": "--max-steps"}
#: Options a resume keeps: changing them mid-run would train another model than the one checkpointed.
KEPT_ON_RESUME = {"model": "--model", "input_size": "--input-size", "batch_size": "--batch-size", "seed": "--seed",
                  "schedule": "--schedule", "milestones": "milestones", "gamma": "gamma",
                  "weight_decay": "weight_decay"}


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


def _normalised(name: str, value):
    if value is None:
        return None
    if name == "model" and os.path.isdir(str(value)):
        return os.path.abspath(str(value))
    if name in ("input_size", "milestones"):
        return [int(v) for v in value]
    if name in ("lr", "gamma", "weight_decay"):
        return float(value)
    return value


def run_options(config) -> dict:
    """The options a resume compares against (stored in the training state)."""
    return {name: _normalised(name, getattr(config, name)) for name in (*KEPT_ON_RESUME, *SAFE_ON_RESUME)}


def given_options(config) -> set[str]:
    """The fields the caller set: ``config.given`` if the CLI says, else those that differ from the default."""
    if config.given is not None:
        return set(config.given)
    defaults = {f.name: f.default for f in dataclasses.fields(config) if f.default is not dataclasses.MISSING}
    return {name for name in (*KEPT_ON_RESUME, *SAFE_ON_RESUME) if getattr(config, name) != defaults.get(name)}


def resume_config(config, state: dict, last: Path, log):
    """``config`` for a resume: options not given take the run's values; given safe ones that differ
    are applied (one line each); given kept ones that differ are a `TrainingError`."""
    saved = dict(state.get("options") or {})
    if "input_size" in state and "input_size" not in saved:
        saved["input_size"] = list(state["input_size"])
    given, changes, refused = given_options(config), {}, []
    for name, value in saved.items():
        if name not in KEPT_ON_RESUME and name not in SAFE_ON_RESUME:
            continue
        new = _normalised(name, getattr(config, name))
        if new == value:
            continue
        flag = KEPT_ON_RESUME.get(name) or SAFE_ON_RESUME[name]
        if name not in given:
            changes[name] = tuple(value) if name in ("input_size", "milestones") and value else value
        elif name in SAFE_ON_RESUME:
            changes[name] = getattr(config, name)
            log(f"resume: {flag} {_shown(new)} applied (the run had {_shown(value)})")
        else:
            refused.append(f"{flag} {_shown(new)} (the run has {_shown(value)})")
    if refused:
        raise TrainingError(
            f"--resume cannot change {', '.join(refused)}: a resume keeps the model, input size, batch size, "
            f"seed, schedule, milestones, gamma and weight decay of the run in {last}, and may change only "
            "--lr, --epochs and --max-steps; drop the others, or start a new run in another --out")
    return dataclasses.replace(config, **changes)


def _shown(value) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{value[0]}x{value[1]}"
    return "none" if value is None else str(value)


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


__all__ = ["BEST_FILE", "MARKER", "LOCK", "open_run_folder", "load_resume_state", "resume_config",
           "resumed_best", "reported_best", "run_options"]
