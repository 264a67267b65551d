"""One epoch of [`train()`][hrnet_zoo.training.train]: the optimizer steps, then validation and the
checkpoints; and the checks that stop a run before it writes something wrong (a device that does not
exist, a loss that is no longer finite, weights that are not)."""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from hrnet_zoo.evaluation import evaluate
from hrnet_zoo.run_folder import run_options
from hrnet_zoo.training_state import (TrainingError, append_metrics, rng_state, save_checkpoint_dir,
                                      scheduler_state)

#: A step's loss this many times the first epoch's mean warns (once): the learning rate is too high.
LOSS_GROWTH_WARNING = 100.0
_VAL_KEYS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "PCK@0.05", "PCK@0.1", "mean_error_px")


def check_config(config) -> None:
    """Numbers a run cannot use, refused before anything is loaded."""
    if config.epochs < 1 or config.batch_size < 1 or not config.lr > 0:
        raise TrainingError(f"epochs and batch_size must be positive and lr > 0, got epochs={config.epochs}, "
                            f"batch_size={config.batch_size}, lr={config.lr}")
    if config.max_steps is not None and config.max_steps < 1:
        raise TrainingError(f"max_steps (--max-steps) must be a positive number of steps, got {config.max_steps}")
    if config.seed < 0:
        raise TrainingError(f"seed (--seed) must be 0 or more, got {config.seed}")
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


class LossWatch:
    """Warns once when a step's loss exceeds ``LOSS_GROWTH_WARNING`` × the mean of the first epoch's
    steps so far (the mean of the whole first epoch, once it has ended)."""

    def __init__(self, log: Callable[[str], None]):
        self.log, self.first_epoch, self.total, self.count, self.warned = log, None, 0.0, 0, False

    def update(self, loss: float, step: int, epoch: int, lr: float) -> None:
        if self.first_epoch is None:
            self.first_epoch = epoch
        reference = self.total / self.count if self.count else None
        if (not self.warned and reference is not None and reference > 0
                and loss > LOSS_GROWTH_WARNING * reference):
            self.warned = True
            self.log(f"warning: the loss grew to {loss:.4g} at step {step} (epoch {epoch}), "
                     f"{loss / reference:.3g}x the first epoch's mean {reference:.4g}; the learning rate "
                     f"{lr:.3g} may be too high (--lr)")
        if epoch == self.first_epoch:
            self.total, self.count = self.total + loss, self.count + 1


@dataclass
class Run:
    """What the epochs of one run share."""

    config: Any
    env: Any
    model: torch.nn.Module
    net: torch.nn.Module
    optimizer: Any
    scheduler: Any
    scaler: Any
    loader: Any
    train_set: Any
    sampler: Any
    generator: torch.Generator
    loss_fn: Callable
    val_coco: Any
    keypoint_names: list
    input_size: tuple
    use_amp: bool
    amp_dtype: torch.dtype
    out: Path
    log: Callable[[str], None]
    step: int = 0
    best_score: float = -math.inf
    best_epoch: int | None = None
    saved_epoch: int | None = None
    watch: LossWatch | None = field(default=None)

    def stopped(self) -> bool:
        return self.config.max_steps is not None and self.step >= self.config.max_steps


def run_epoch(run: Run, epoch: int, progress) -> dict:
    """The optimizer steps of ``epoch``: ``{"loss_sum", "seen", "data_wait", "lr", "start", "train_seconds"}``."""
    device, config = run.env.device, run.config
    run.train_set.set_epoch(epoch)
    if run.sampler is not None:
        run.sampler.set_epoch(epoch)
    run.generator.manual_seed(config.seed * 1000003 + epoch)
    run.net.train()
    loss_sum, seen, data_wait, start = 0.0, 0, 0.0, time.perf_counter()
    lr = run.optimizer.param_groups[0]["lr"]
    bar = progress(run.loader, epoch)
    tick = time.perf_counter()
    for batch in bar:
        data_wait += time.perf_counter() - tick
        images = batch["image"].to(device, non_blocking=True)
        loss = _step_loss(run, images, batch, epoch)
        value = float(loss.detach())
        if not math.isfinite(value):
            kept = (f"last/ holds epoch {run.saved_epoch}" if run.saved_epoch is not None
                    else "no checkpoint was written")
            raise TrainingError(f"the loss became {value} at step {run.step + 1} (epoch {epoch}, learning rate "
                                f"{lr:.3g}): training stopped without saving this epoch ({kept}); lower --lr, "
                                "or look for extreme values in the annotations")
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.step += 1
        run.watch.update(value, run.step, epoch, lr)
        loss_sum += value * len(images)
        seen += len(images)
        if bar is not run.loader:
            bar.set_postfix(loss=f"{loss_sum / seen:.5f}", lr=f"{lr:.2e}",
                            img_s=f"{seen * run.env.world_size / (time.perf_counter() - start):.1f}", refresh=False)
        if run.stopped():
            break
        tick = time.perf_counter()
    return {"loss_sum": loss_sum, "seen": seen, "data_wait": data_wait, "lr": lr, "start": start,
            "train_seconds": max(time.perf_counter() - start, 1e-9)}


def _step_loss(run: Run, images, batch, epoch: int):
    device = run.env.device
    target = batch["target"].to(device, non_blocking=True)
    weight = batch["target_weight"].to(device, non_blocking=True)
    try:
        with torch.autocast(device.type, dtype=run.amp_dtype, enabled=run.use_amp):
            output = run.net(images)
    except ValueError as e:
        if "Expected more than 1 value per channel" not in str(e):
            raise
        h, w = run.input_size
        raise TrainingError(f"a training batch of {len(images)} sample at input {h}x{w} leaves a BatchNorm layer "
                            f"one value per channel ({len(run.train_set)} training sample(s) in "
                            f"{run.config.train_ann}); use --batch-size 2 or more with at least 2 annotated "
                            "instances, or a larger --input-size") from None
    return run.loss_fn(output, target, weight)  # the model's own objective, in float32


def check_finite_weights(model: torch.nn.Module, epoch: int, step: int, lr: float) -> None:
    """A model with a NaN or infinite weight or buffer is never saved."""
    bad = sum(int((~torch.isfinite(t)).sum()) for t in model.state_dict().values() if t.is_floating_point())
    if bad:
        raise TrainingError(f"after epoch {epoch} (step {step}, learning rate {lr:.3g}) the model has {bad} "
                            "non-finite weights; training stopped without saving them; lower --lr")


def finish_epoch(run: Run, epoch: int, trained: dict, epoch_loss: float) -> None:
    """Rank 0 after an epoch: validate, then append the metrics and save ``last/`` and, when the score
    improved, ``best/`` (with the score in ``best/best.json``)."""
    config, model, lr = run.config, run.model, trained["lr"]
    check_finite_weights(model, epoch, run.step, lr)
    train_seconds = trained["train_seconds"]
    metrics = {"epoch": epoch, "step": run.step, "loss": epoch_loss, "lr": lr}
    if run.val_coco is not None:
        model.eval()  # the loop owns its model; evaluate() leaves modes to the caller
        try:
            stats = evaluate(model, run.val_coco, input_size=run.input_size, flip_test=config.flip_test,
                             workers=min(config.workers, 2), progress=config.progress)
        finally:
            model.train()
        metrics.update({k: stats[k] for k in _VAL_KEYS})
        score, metric = stats["AP"], "AP"
    else:
        score, metric = -epoch_loss, "-loss"
    metrics.update({"images_per_s": trained["seen"] * run.env.world_size / train_seconds,
                    "data_wait_fraction": trained["data_wait"] / train_seconds,
                    "seconds": time.perf_counter() - trained["start"], "world_size": run.env.world_size})
    improved = score > run.best_score
    if improved:
        run.best_score, run.best_epoch = score, epoch
    state = {"epoch": epoch, "step": run.step, "best_ap": float(run.best_score), "best_epoch": run.best_epoch,
             "best_metric": metric, "optimizer": run.optimizer.state_dict(),
             "scheduler": scheduler_state(run.scheduler),
             "scaler": run.scaler.state_dict() if run.scaler.is_enabled() else {}, "rng": rng_state(),
             "keypoint_names": list(run.keypoint_names), "input_size": list(run.input_size),
             "options": run_options(config)}
    append_metrics(run.out / "metrics.jsonl", metrics)
    save_checkpoint_dir(model, run.out / "last", state)
    run.saved_epoch = epoch
    if improved:
        save_checkpoint_dir(model, run.out / "best",
                            info={"epoch": epoch, "step": run.step, "score": float(score), "metric": metric})
    ap = f", AP {metrics['AP']:.4f}" if "AP" in metrics else ""
    run.log(f"epoch {epoch}: loss {epoch_loss:.6f}, lr {lr:.2e}{ap}, {metrics['images_per_s']:.1f} img/s, "
            f"{metrics['seconds']:.1f} s" + (" (best)" if improved else ""))


def stderr_log(message: str) -> None:
    print(f"[hrnet-zoo train] {message}", file=sys.stderr, flush=True)
