"""What a run is asked to do: [`TrainConfig`][hrnet_zoo.training.config.TrainConfig], the checks that refuse
numbers a run cannot use, and the rules of what a resume may change.

The defaults are the official recipe (``w32_256x192_adam_lr1e-3.yaml``): Adam at lr 1e-3 without weight
decay or warmup, ``MultiStepLR`` ×0.1 at epochs 170 and 200 of 210 (scaled to other epoch counts).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hrnet_zoo.data.transforms import AugmentConfig
from hrnet_zoo.errors import TrainingError

#: The official schedule: 210 epochs, lr ×0.1 at 170 and 200.
OFFICIAL_EPOCHS = 210
OFFICIAL_MILESTONES = (170, 200)
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("multistep", "cosine")
#: ``auto``: fp16 autocast with a GradScaler on CUDA, fp32 elsewhere.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Everything [`train()`][hrnet_zoo.training.loop.train] takes; see its docstring."""

    model: str
    train_ann: str
    train_images: str
    val_ann: str | None
    val_images: str | None
    out: str
    input_size: tuple[int, int] | None = None
    epochs: int = OFFICIAL_EPOCHS
    batch_size: int = 32
    lr: float = 1e-3
    pretrained: bool | str = True
    new_head: bool = False
    max_steps: int | None = None
    workers: int = 2
    seed: int = 0
    optimizer: str = "adam"
    schedule: str = "multistep"
    milestones: tuple[int, ...] | None = None
    gamma: float = 0.1
    weight_decay: float = 0.0
    warmup_epochs: int = 0
    precision: str = "auto"
    #: The older switch: True = mixed precision (fp16 on CUDA, bf16 on CPU), False = fp32, None = ``precision``.
    amp: bool | None = None
    sync_bn: bool = False
    resume: bool = False
    force: bool = False
    device: str | None = None
    flip_pairs: list | None = None
    sigmas: list | None = None
    keypoint_set: str | None = None  # a preset name (or KeypointSet) giving the layout; see load_coco_keypoints
    category_id: int | None = None   # the category, when the files' categories have different keypoint lists
    flip_test: bool = True
    progress: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    #: The fields the caller set explicitly (the CLI passes them; None: those that differ from the
    #: defaults). A resume applies given lr/epochs/max_steps and refuses other given changes.
    given: frozenset | None = None

    def scaled_milestones(self) -> list[int]:
        if self.milestones is not None:
            return sorted(int(m) for m in self.milestones)
        return sorted({max(1, round(m / OFFICIAL_EPOCHS * self.epochs)) for m in OFFICIAL_MILESTONES})


# --------------------------------------------------------------------------------------------- checks
def check_config(config: TrainConfig) -> None:
    """Numbers and names a run cannot use, refused before anything is loaded."""
    if config.epochs < 1 or config.batch_size < 1 or not config.lr > 0:
        raise TrainingError(f"epochs and batch_size must be positive and lr > 0, got epochs={config.epochs}, "
                            f"batch_size={config.batch_size}, lr={config.lr}")
    if config.max_steps is not None and config.max_steps < 1:
        raise TrainingError(f"max_steps (--max-steps) must be a positive number of steps, got {config.max_steps}")
    if config.seed < 0:
        raise TrainingError(f"seed (--seed) must be 0 or more, got {config.seed}")
    if not config.weight_decay >= 0:
        raise TrainingError(f"weight_decay (--weight-decay) must be 0 or more, got {config.weight_decay}")
    if config.warmup_epochs < 0:
        raise TrainingError(f"warmup_epochs (--warmup-epochs) must be 0 or more, got {config.warmup_epochs}")
    for value, choices, flag in ((config.optimizer, OPTIMIZERS, "optimizer (--optimizer)"),
                                 (config.schedule, SCHEDULES, "schedule (--schedule)"),
                                 (config.precision, PRECISIONS, "precision (--precision)")):
        if value not in choices:
            raise TrainingError(f"unknown {flag} {value!r}: choose one of {', '.join(choices)}")
    check_device(config.device)


def check_device(device: str | None) -> None:
    """``device`` names a device this machine has (None: chosen automatically)."""
    if device is None:
        return
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise TrainingError(f"--device {device!r} is not a device; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no GPU is visible"
            raise TrainingError(f"--device {device}: CUDA is not available ({why}); use --device cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise TrainingError(f"--device {device}: there are only {torch.cuda.device_count()} CUDA device(s)")
    elif parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise TrainingError(f"--device {device}: MPS is not available on this machine; use --device cpu")
    elif parsed.type != "cpu":
        raise TrainingError(f"--device {device!r}: training runs on cpu, cuda or mps")


# --------------------------------------------------------------------------------------------- resume rules
#: Options a resume may change (the schedule follows them), by TrainConfig field, with their flags.
SAFE_ON_RESUME = {"lr": "--lr", "epochs": "--epochs", "max_steps": "--max-steps"}
#: Options a resume keeps: changing them mid-run would train another model than the one checkpointed
#: (the optimizer's state would not even load into another optimizer).
KEPT_ON_RESUME = {"model": "--model", "input_size": "--input-size", "batch_size": "--batch-size", "seed": "--seed",
                  "optimizer": "--optimizer", "schedule": "--schedule", "milestones": "milestones",
                  "gamma": "gamma", "weight_decay": "--weight-decay", "warmup_epochs": "--warmup-epochs"}
#: What a run saved before these options existed trained with.
_OPTIONS_OF_OLDER_RUNS = {"optimizer": "adam", "warmup_epochs": 0}


def _normalised(name: str, value):
    if value is None:
        return None
    if name == "model" and os.path.isdir(str(value)):
        return os.path.abspath(str(value))
    if name in ("input_size", "milestones"):
        return [int(v) for v in value]
    if name in ("lr", "gamma", "weight_decay"):
        return float(value)
    if name == "warmup_epochs":
        return int(value)
    return value


def run_options(config: TrainConfig) -> dict:
    """The options a resume compares against (stored in the training state)."""
    return {name: _normalised(name, getattr(config, name)) for name in (*KEPT_ON_RESUME, *SAFE_ON_RESUME)}


def given_options(config: TrainConfig) -> set[str]:
    """The fields the caller set: ``config.given`` if the CLI says, else those that differ from the default."""
    if config.given is not None:
        return set(config.given)
    defaults = {f.name: f.default for f in dataclasses.fields(config) if f.default is not dataclasses.MISSING}
    return {name for name in (*KEPT_ON_RESUME, *SAFE_ON_RESUME) if getattr(config, name) != defaults.get(name)}


def resume_config(config: TrainConfig, state: dict, last: Path, log) -> TrainConfig:
    """``config`` for a resume: options not given take the run's values; given safe ones that differ
    are applied (one line each); given kept ones that differ are a `TrainingError`."""
    saved = dict(state.get("options") or {})
    if saved:
        saved = {**_OPTIONS_OF_OLDER_RUNS, **saved}
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
            f"seed, optimizer, schedule, milestones, gamma, weight decay and warmup of the run in {last}, and "
            "may change only --lr, --epochs and --max-steps; drop the others, or start a new run in another --out")
    return dataclasses.replace(config, **changes)


def _shown(value) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{value[0]}x{value[1]}"
    return "none" if value is None else str(value)
