"""The loop of [`train()`][hrnet_zoo.training.loop.train]: `train_one_epoch` (the optimizer steps), `validate`,
`finish_epoch` (metrics and checkpoints), and the driver that strings them together; with the checks
that stop a run before it writes something wrong (a loss that is no longer finite, weights that are not).

A training step is ``model.forward_train`` → ``model.loss`` (the model's own objective: every stack of a
Stacked Hourglass, the final heatmaps of the others) → the optimizer, under the run's precision.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Callable

import torch

from hrnet_zoo.errors import TrainingError
from hrnet_zoo.evaluation import evaluate
from hrnet_zoo.training.checkpoint import (append_metrics, load_resume_state, open_run_folder, reported_best,
                                           rng_state, save_checkpoint_dir, truncate_metrics)
from hrnet_zoo.training.config import TrainConfig, check_config, resume_config, run_options
from hrnet_zoo.training.distributed import _Distributed
from hrnet_zoo.training.optim import scheduler_state
from hrnet_zoo.training.precision import resolve_precision
from hrnet_zoo.training.setup import Run, place_run, restore_run, setup_run, stderr_log

#: A step's loss this many times the first epoch's mean warns (once): the learning rate is too high.
LOSS_GROWTH_WARNING = 100.0
_VAL_KEYS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "PCK@0.05", "PCK@0.1", "mean_error_px")


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


# --------------------------------------------------------------------------------------------- one epoch
def train_one_epoch(run: Run, epoch: int, progress: Callable | None = None) -> dict:
    """The optimizer steps of ``epoch`` (``progress(loader, epoch)`` may wrap the loader in a bar):
    ``{"loss_sum", "seen", "data_wait", "lr", "start", "train_seconds"}``, ``lr`` that of the last step."""
    config = run.config
    run.train_set.set_epoch(epoch)
    if run.sampler is not None:
        run.sampler.set_epoch(epoch)
    run.generator.manual_seed(config.seed * 1000003 + epoch)
    run.net.train()
    loss_sum, seen, data_wait, start = 0.0, 0, 0.0, time.perf_counter()
    lr = run.optimizer.param_groups[0]["lr"]
    bar = progress(run.loader, epoch) if progress is not None else run.loader
    tick = time.perf_counter()
    for batch in bar:
        data_wait += time.perf_counter() - tick
        value, count, lr = _train_step(run, batch, epoch)
        loss_sum += value * count
        seen += count
        if bar is not run.loader:
            bar.set_postfix(loss=f"{loss_sum / seen:.5f}", lr=f"{lr:.2e}",
                            img_s=f"{seen * run.env.world_size / (time.perf_counter() - start):.1f}", refresh=False)
        if run.stopped():
            break
        tick = time.perf_counter()
    return {"loss_sum": loss_sum, "seen": seen, "data_wait": data_wait, "lr": lr, "start": start,
            "train_seconds": max(time.perf_counter() - start, 1e-9)}


def _train_step(run: Run, batch: dict, epoch: int) -> tuple[float, int, float]:
    """One optimizer step on ``batch``: (its loss, its sample count, its learning rate)."""
    lr = run.warmup.before_step(run.step) if run.warmup is not None else run.optimizer.param_groups[0]["lr"]
    images = batch["image"].to(run.env.device, non_blocking=True)
    loss = _step_loss(run, images, batch)
    value = float(loss.detach())
    if not math.isfinite(value):
        kept = f"last/ holds epoch {run.saved_epoch}" if run.saved_epoch is not None else "no checkpoint was written"
        raise TrainingError(f"the loss became {value} at step {run.step + 1} (epoch {epoch}, learning rate "
                            f"{lr:.3g}): training stopped without saving this epoch ({kept}); lower --lr, "
                            "or look for extreme values in the annotations")
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.step += 1
    run.watch.update(value, run.step, epoch, lr)
    return value, len(images), lr


def _step_loss(run: Run, images, batch):
    device, precision = run.env.device, run.precision
    target = batch["target"].to(device, non_blocking=True)
    weight = batch["target_weight"].to(device, non_blocking=True)
    try:
        with torch.autocast(device.type, dtype=precision.autocast_dtype or torch.float32,
                            enabled=precision.autocast):
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


# --------------------------------------------------------------------------------------------- after an epoch
def validate(model: torch.nn.Module, val_coco, input_size, *, flip_test: bool = True, workers: int = 0,
             progress: bool = False) -> dict:
    """COCO keypoint AP (and PCK, mean error) of ``model`` on ``val_coco`` through `evaluate` (the users'
    inference path); ``model`` is put back into training mode after."""
    model.eval()  # the loop owns its model; evaluate() leaves modes to the caller
    try:
        return evaluate(model, val_coco, input_size=input_size, flip_test=flip_test, workers=workers,
                        progress=progress)
    finally:
        model.train()


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
        stats = validate(model, run.val_coco, run.input_size, flip_test=config.flip_test,
                         workers=min(config.workers, 2), progress=config.progress)
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
    append_metrics(run.out / "metrics.jsonl", metrics)
    save_checkpoint_dir(model, run.out / "last", _training_state(run, epoch, metric))
    run.saved_epoch = epoch
    if improved:
        save_checkpoint_dir(model, run.out / "best",
                            info={"epoch": epoch, "step": run.step, "score": float(score), "metric": metric})
    ap = f", AP {metrics['AP']:.4f}" if "AP" in metrics else ""
    run.log(f"epoch {epoch}: loss {epoch_loss:.6f}, lr {lr:.2e}{ap}, {metrics['images_per_s']:.1f} img/s, "
            f"{metrics['seconds']:.1f} s" + (" (best)" if improved else ""))


def _training_state(run: Run, epoch: int, metric: str) -> dict:
    """What ``last/training_state.pt`` holds (tensors, numbers, strings, lists and dicts only)."""
    return {"epoch": epoch, "step": run.step, "best_ap": float(run.best_score), "best_epoch": run.best_epoch,
            "best_metric": metric, "optimizer": run.optimizer.state_dict(),
            "scheduler": scheduler_state(run.scheduler),
            "scaler": run.scaler.state_dict() if run.scaler.is_enabled() else {}, "rng": rng_state(),
            "keypoint_names": list(run.keypoint_names), "input_size": list(run.input_size),
            "options": run_options(run.config)}


# --------------------------------------------------------------------------------------------- the driver
def train(config: TrainConfig | None = None, **kwargs) -> dict:
    """Fine-tune a pose model on a COCO-format keypoint dataset (see `hrnet_zoo.training`).

    Args (fields of [`TrainConfig`][hrnet_zoo.training.config.TrainConfig], as keywords or one ``config``):
        model: a registered name (``"hrnet_w32"``) or a ``save_pretrained`` folder.
        train_ann, train_images, val_ann, val_images: COCO keypoint files and image folders
            (``val_ann=None``: no validation; ``best/`` then follows the lowest training loss).
        out: the run folder (``last/``, ``best/``, ``metrics.jsonl``).
        input_size: ``(H, W)``; by default the model's ``pretrained_cfg.input_size``.
        epochs, batch_size (per process), lr: the optimisation.
        optimizer: ``"adam"`` (official), ``"adamw"`` or ``"sgd"`` (momentum 0.9).
        weight_decay: 0 (official); above 0, normalisation layers and biases are exempt.
        warmup_epochs: a linear warmup of the learning rate over this many epochs' steps (0: none).
        pretrained: for a name, True (default weights), False, or a manifest tag.
        new_head: allow a saved folder with another keypoint count (its prediction layer is replaced).
        max_steps: stop after this many optimizer steps in all (the epoch in progress is still
            validated and saved).
        workers: DataLoader worker processes (0: load in the main process).
        seed: seeds torch, numpy, ``random`` and the augmentation.
        schedule: ``"multistep"`` (official; ``milestones``, ``gamma``) or ``"cosine"``.
        precision: ``"auto"`` (fp16 autocast on CUDA, fp32 elsewhere), ``"fp32"``, ``"bf16"`` (CUDA, or
            a CPU with native bf16; refused elsewhere) or ``"fp16"`` (CUDA).
        amp: the older switch (True: fp16 on CUDA, bf16 on CPU; False: fp32; None: ``precision``).
        sync_bn: SyncBatchNorm under torchrun (CUDA only, as PyTorch's SyncBatchNorm).
        resume: continue from ``out/last/`` (a fresh start when there is none) with the run's options;
            given ``lr``, ``epochs``, ``max_steps`` that differ are applied, other differences refused.
        force: write into a non-empty ``out`` that is not a run (never over files it did not write).
        given: the field names set explicitly (None: those that differ from the defaults).
        device: ``"cpu"``, ``"cuda"``, …; by default CUDA when available.
        flip_pairs, sigmas: the keypoint set's, when the names and the default do not give them.
        flip_test: flip test in validation.
        progress: a tqdm bar on stderr (loss, lr, images/s).
        augment: `AugmentConfig`.

    Returns:
        ``{"best_ap", "best_epoch", "epochs", "steps", "out", "seconds"}`` (on every rank).
    """
    if config is None:
        config = TrainConfig(**kwargs)
    elif kwargs:
        config = dataclasses.replace(config, **kwargs)
    check_config(config)
    env = _Distributed(config.device)
    try:
        return _train(config, env)
    finally:
        env.close()


def _train(config: TrainConfig, env: _Distributed) -> dict:
    start_time = time.perf_counter()
    log = (lambda message: stderr_log(message) if env.rank == 0 else None)
    precision = resolve_precision(config.precision, env.device.type, amp=config.amp)  # before out is touched
    out = Path(config.out)
    lock = open_run_folder(out, resume=config.resume, force=config.force) if env.rank == 0 else None
    try:
        env.barrier()
        run, start_epoch = _prepare(config, env, precision, log)
        epochs_run = _run_epochs(run, start_epoch)
    finally:
        if lock is not None:
            lock.release()
    best_score, best_epoch = reported_best(out)  # what best/ holds, not what this process remembers
    return {"best_ap": best_score if run.config.val_ann is not None else None, "best_epoch": best_epoch,
            "epochs": epochs_run, "steps": run.step, "out": str(out), "seconds": time.perf_counter() - start_time}


def _prepare(config: TrainConfig, env: _Distributed, precision, log) -> tuple[Run, int]:
    """The run, resumed from ``out/last/`` when asked and there is one, placed on its device; and the
    epoch it starts at."""
    last = Path(config.out) / "last"
    state = None
    if config.resume and last.is_dir():
        state = load_resume_state(last)
        config = resume_config(config, state, last, log)
    run = setup_run(config, env, log, precision)
    start_epoch = restore_run(run, state, last) if state is not None else 0
    place_run(run)
    run.watch = LossWatch(log)
    if env.rank == 0:
        truncate_metrics(run.out / "metrics.jsonl", start_epoch, log=log)
    return run, start_epoch


def _run_epochs(run: Run, start_epoch: int) -> int:
    """Epochs from ``start_epoch`` to the last (or until ``max_steps``); the number run."""
    env, epochs_run = run.env, 0
    for epoch in range(start_epoch, run.config.epochs):
        if run.stopped():
            break
        trained = train_one_epoch(run, epoch, lambda loader, e: _progress(loader, e, run.config, env.rank))
        run.warmup.end_epoch()
        epoch_loss = env.mean(trained["loss_sum"], trained["seen"])
        epochs_run += 1
        if env.rank == 0:
            finish_epoch(run, epoch, trained, epoch_loss)
        env.barrier()
    return epochs_run


def _progress(loader, epoch: int, config: TrainConfig, rank: int):
    if not config.progress or rank != 0:
        return loader
    from tqdm import tqdm
    return tqdm(loader, desc=f"epoch {epoch}", unit="batch", leave=False, dynamic_ncols=True)


#: The name of `train_one_epoch` before the training package.
run_epoch = train_one_epoch
