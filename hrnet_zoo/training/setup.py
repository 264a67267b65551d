"""What a run is made of before its first step: the data, the model to train, the optimizer, schedule,
warmup and precision (`setup_run`); what a resume loads back into them (`restore_run`); and where they
run (`place_run`: device, DDP, the DataLoader)."""
from __future__ import annotations

import math
import os
import random
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from hrnet_zoo._factory import create_model
from hrnet_zoo.codecs.codec import HeatmapCodec
from hrnet_zoo.data.coco import CocoKeypointDataset, load_coco_keypoints
from hrnet_zoo.errors import TrainingError
from hrnet_zoo.heads.heatmap import init_prediction_layer
from hrnet_zoo.pose.inference import keypoint_summary
from hrnet_zoo.pose.keypoint_set import KeypointSet
from hrnet_zoo.models.base import from_pretrained
from hrnet_zoo.pretrained_cfg import check_size
from hrnet_zoo.training.checkpoint import resumed_best, set_rng_state
from hrnet_zoo.training.config import TrainConfig
from hrnet_zoo.training.distributed import _Distributed, sampler_for, wrap_model
from hrnet_zoo.training.optim import (LinearWarmup, build_optimizer, build_scheduler, load_scheduler_state,
                                     reschedule)
from hrnet_zoo.training.precision import FP32, Precision, resolve_precision
from hrnet_zoo.weights import load_checkpoint


def stderr_log(message: str) -> None:
    print(f"[hrnet-zoo train] {message}", file=sys.stderr, flush=True)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: numpy and ``random`` seeded from the worker's torch seed (the
    dataset's own draws are keyed by (seed, epoch, index) anyway)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


# --------------------------------------------------------------------------------------------- the model
def build_model(spec: str, keypoint_set: KeypointSet, *, pretrained: bool | str = True, new_head: bool = False,
                input_size=None, log=stderr_log):
    """The model to train on ``keypoint_set``.

    ``spec`` is a registered name (``pretrained``: True, False or a manifest tag; weights with another
    keypoint count get a new prediction layer, which the log says) or a folder from ``save_pretrained``
    (its keypoint count must equal the dataset's unless ``new_head``). What the weights did not fill
    is read from the model's ``load_result``; ``reset_head`` initialises any fresh prediction layer.
    """
    model = (_model_from_folder(spec, keypoint_set, new_head, log) if os.path.isdir(spec)
             else _model_from_name(spec, keypoint_set, pretrained, log))
    cfg = model.pretrained_cfg.replace(keypoints=keypoint_set)
    if input_size is not None:
        cfg = cfg.replace(input_size=check_size(input_size))
    model.pretrained_cfg = cfg
    return model


def _model_from_folder(spec: str, keypoint_set: KeypointSet, new_head: bool, log):
    k = keypoint_set.num_keypoints
    model = from_pretrained(spec)
    saved_k = getattr(model, "num_keypoints", None)
    if saved_k is None or not hasattr(model, "reset_head"):
        raise TrainingError(f"{spec} holds a {type(model).__name__}, not a keypoint model")
    if saved_k != k:
        if not new_head:
            raise TrainingError(
                f"{spec} predicts {saved_k} keypoints but the dataset has {k} "
                f"({', '.join(keypoint_set.keypoint_names)}); pass --new-head (new_head=True) to replace "
                "its prediction layer and keep the rest of its weights")
        model.reset_head(k)
        log(f"new prediction layer: {spec} predicts {saved_k} keypoints, the dataset {k}; every other "
            "weight is loaded")
    return model


def _model_from_name(spec: str, keypoint_set: KeypointSet, pretrained: bool | str, log):
    k = keypoint_set.num_keypoints
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the load result below says what the warning would
        model = create_model(spec, pretrained=pretrained, keypoints=keypoint_set)
    if not hasattr(model, "reset_head"):
        raise TrainingError(f"{spec} is not a keypoint (heatmap) model")
    fresh = model.load_result.reinitialized_layers if model.load_result is not None else ()
    if fresh:
        log(f"new prediction layer for the dataset's {k} keypoints: {', '.join(fresh)} not in the "
            f"{pretrained!r} weights of {spec} (initialised N(0, 0.001²)); every other weight is loaded")
    if not pretrained:
        model.reset_head(k)
    return model


def init_prediction_layers(model) -> None:
    """The official initialisation of a fresh prediction layer: weights N(0, 0.001²), biases 0
    (``model.reset_head(model.num_keypoints)`` for pose models, which own it)."""
    if hasattr(model, "reset_head"):
        model.reset_head(model.num_keypoints)
        return
    for name in getattr(model, "prediction_layers", ()):
        init_prediction_layer(model.get_submodule(name))


# --------------------------------------------------------------------------------------------- the run
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
    out: Path
    log: Callable[[str], None]
    precision: Precision = FP32
    warmup: LinearWarmup | None = None
    step: int = 0
    best_score: float = -math.inf
    best_epoch: int | None = None
    saved_epoch: int | None = None
    watch: Any = field(default=None)

    @property
    def use_amp(self) -> bool:
        return self.precision.autocast

    def stopped(self) -> bool:
        return self.config.max_steps is not None and self.step >= self.config.max_steps


def load_data(config: TrainConfig, log=print):
    """The training and validation keypoint files (the latter None without ``val_ann``); both must name
    the same keypoints. The keypoint set's summary line (and its warnings) go to ``log``."""
    keypoint_options = dict(flip_pairs=config.flip_pairs, sigmas=config.sigmas, keypoint_set=config.keypoint_set,
                            category_id=config.category_id)
    train_coco = load_coco_keypoints(config.train_ann, config.train_images, **keypoint_options)
    for line in keypoint_summary(train_coco.keypoint_choice, config.flip_test and config.val_ann is not None):
        log(line)
    val_coco = None
    if config.val_ann is not None:
        val_coco = load_coco_keypoints(config.val_ann, config.val_images, **keypoint_options)
        names = train_coco.keypoint_set.keypoint_names
        if val_coco.keypoint_set.keypoint_names != names:
            raise TrainingError(f"{config.val_ann} has keypoints {list(val_coco.keypoint_set.keypoint_names)} but "
                                f"{config.train_ann} has {list(names)}")
    return train_coco, val_coco


def setup_run(config: TrainConfig, env: _Distributed, log, precision: Precision | None = None) -> Run:
    """Data, model, optimizer, schedule, precision and scaler of a run, on the CPU (`place_run` moves them)."""
    if precision is None:
        precision = resolve_precision(config.precision, env.device.type, amp=config.amp)
    seed_everything(config.seed)
    train_coco, val_coco = load_data(config, log)
    keypoint_set = train_coco.keypoint_set
    model = build_model(config.model, keypoint_set, pretrained=config.pretrained, new_head=config.new_head,
                        input_size=config.input_size, log=log)
    cfg = model.pretrained_cfg
    train_set = CocoKeypointDataset(train_coco, input_size=cfg.input_size, codec=HeatmapCodec.for_model(model),
                                    train=True, augment=config.augment, seed=config.seed, pretrained_cfg=cfg)
    optimizer = build_optimizer(model, config.optimizer, config.lr, config.weight_decay)
    scheduler = build_scheduler(optimizer, config.schedule, epochs=config.epochs,
                                milestones=config.scaled_milestones(), gamma=config.gamma)
    return Run(config=config, env=env, model=model, net=model, optimizer=optimizer, scheduler=scheduler,
               scaler=torch.amp.GradScaler("cuda", enabled=precision.grad_scaler), loader=None,
               train_set=train_set, sampler=None, generator=torch.Generator(), loss_fn=model.loss,
               val_coco=val_coco, keypoint_names=list(keypoint_set.keypoint_names), input_size=cfg.input_size,
               out=Path(config.out), log=log, precision=precision)


def restore_run(run: Run, state: dict, last_dir: Path) -> int:
    """Load ``last/`` into ``run`` (weights, optimizer, schedule, random states); the epoch to go on with."""
    if list(state.get("keypoint_names", [])) != run.keypoint_names:
        raise TrainingError(f"{last_dir} was trained on keypoints {state.get('keypoint_names')}, not the "
                            f"dataset's {run.keypoint_names}")
    load_checkpoint(run.model, last_dir / "model.safetensors")
    _restore_optimization(run, state, last_dir)
    run.step, run.saved_epoch = int(state["step"]), int(state["epoch"])
    set_rng_state(state["rng"])
    run.best_score, run.best_epoch = float(state["best_ap"]), state.get("best_epoch")
    if run.env.rank == 0:
        run.best_score, run.best_epoch = resumed_best(run.model, run.out, state, run.log)
    best = f", best AP {run.best_score:.4f}" if run.val_coco is not None and run.best_score > -math.inf else ""
    run.log(f"resumed from {last_dir}: epoch {run.saved_epoch + 1}, step {run.step}{best}")
    if run.stopped():
        run.log(f"the run already made its --max-steps {run.config.max_steps} steps; pass a larger --max-steps "
                "to go on")
    return run.saved_epoch + 1


def _restore_optimization(run: Run, state: dict, last_dir: Path) -> None:
    optimizer, scheduler, config = run.optimizer, run.scheduler, run.config
    saved_groups = len(state["optimizer"].get("param_groups", ()))
    if saved_groups != len(optimizer.param_groups):
        raise TrainingError(f"{last_dir} holds an optimizer of {saved_groups} parameter group(s), this run builds "
                            f"{len(optimizer.param_groups)} (weight decay {config.weight_decay}); a run saved by an "
                            "older version with a weight decay cannot be resumed: start a new run in another --out")
    optimizer.load_state_dict(state["optimizer"])
    load_scheduler_state(scheduler, state["scheduler"])
    if "options" in state:  # the run's lr, or the one given with --resume: the schedule scales from it
        for group in optimizer.param_groups:
            group["initial_lr"] = config.lr
        scheduler.base_lrs = [config.lr] * len(optimizer.param_groups)
    reschedule(scheduler, optimizer, config.epochs, config.scaled_milestones())
    if state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])


def place_run(run: Run) -> None:
    """Model on its device (DDP-wrapped under torchrun), the training DataLoader, and the warmup (which
    counts the loader's steps)."""
    env, config = run.env, run.config
    device = env.device
    run.model, run.net = wrap_model(run.model, env, sync_bn=config.sync_bn)
    run.sampler = sampler_for(run.train_set, env, config.seed)
    run.loader = torch.utils.data.DataLoader(
        run.train_set, batch_size=config.batch_size, shuffle=run.sampler is None, sampler=run.sampler,
        num_workers=config.workers, worker_init_fn=seed_worker, generator=run.generator,
        pin_memory=device.type == "cuda", drop_last=len(run.train_set) > config.batch_size)
    run.warmup = LinearWarmup(run.optimizer, run.scheduler, config.warmup_epochs * len(run.loader))
    h, w = run.input_size
    warmup = f", warmup {run.warmup.warmup_steps} steps" if run.warmup.warmup_steps else ""
    run.log(f"{type(run.model).__name__} on {len(run.train_set)} samples of {len(run.keypoint_names)} keypoints "
            f"({', '.join(run.keypoint_names)}), input {h}x{w}, {env.world_size} process(es) on {device}, "
            f"{run.precision.describe()}, {config.optimizer} lr {config.lr:g} weight decay "
            f"{config.weight_decay:g}{warmup}")
