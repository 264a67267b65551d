"""Fine-tuning on a COCO-format keypoint dataset: one function, [`train()`][hrnet_zoo.training.train], not a framework.

The recipe is the official one (``w32_256x192_adam_lr1e-3.yaml``): the top-down dataset and
augmentation of `hrnet_zoo.data`, targets from the model's `HeatmapCodec`,
[`JointsMSELoss`][hrnet_zoo.losses.JointsMSELoss] with target weights, Adam at lr 1e-3 and ``MultiStepLR``
×0.1 at epochs 170 and 200 of 210 — for another number of epochs the milestones scale with it
(``round(170/210 · epochs)``, ``round(200/210 · epochs)``); ``schedule="cosine"`` anneals to 0 instead.
Mixed precision (fp16 autocast + GradScaler) runs on CUDA by default; on CPU ``amp=True`` uses bf16
autocast.

What a run writes under ``out``:

* ``last/``: the model after the latest epoch (``save_pretrained``: config.json with the keypoint
  set and training input size in ``pretrained_cfg``, model.safetensors) plus ``training_state.pt``
  (optimizer, scheduler, scaler, epoch, step, best AP, random states; only tensors, numbers, strings,
  lists and dicts, so ``torch.load(weights_only=True)`` reads it). ``resume=True`` continues from it.
* ``best/``: the model of the best validation AP so far (a ``save_pretrained`` folder), with its epoch
  and score in ``best.json``; the returned ``best_ap``/``best_epoch`` are read back from it.
* ``metrics.jsonl``: one JSON object per epoch (epoch, step, loss, lr, the COCOeval stats, PCK,
  images_per_s, data_wait_fraction, seconds).

Checkpoints (``hrnet_zoo.training_state``) are written into a temporary folder first and renamed
into place, so a kill never leaves a half-written ``last/`` or ``best/`` in place of a good one (if a
kill falls between the two renames of a swap, the previous checkpoint is still there under
``.last.old-*`` and ``resume`` puts it back). The folder itself (``hrnet_zoo.run_folder``) is locked
(``.lock``) while a run writes into it, and a non-empty folder that is not a run is refused unless
``force``. A non-finite loss or weights stop the run before anything of that epoch is saved.

Several GPUs or machines: launch with ``torchrun``; the run then uses DistributedDataParallel, a
``DistributedSampler``, optional SyncBatchNorm, and logs, evaluates and saves on rank 0 only.
"""
from __future__ import annotations

import dataclasses
import math
import os
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from hrnet_zoo._factory import create_model
from hrnet_zoo.codecs.codec import HeatmapCodec
from hrnet_zoo.data.coco import CocoKeypointDataset, load_coco_keypoints
from hrnet_zoo.data.transforms import AugmentConfig
from hrnet_zoo.inference import keypoint_summary
from hrnet_zoo.keypoints import KeypointSet
from hrnet_zoo.heads.heatmap import init_prediction_layer
from hrnet_zoo.models.base import TrainingForward, from_pretrained
from hrnet_zoo.pretrained_cfg import check_size
from hrnet_zoo.run_folder import (load_resume_state, open_run_folder, reported_best, resume_config,
                                  resumed_best)
from hrnet_zoo.train_loop import LossWatch, Run, check_config, finish_epoch, run_epoch
from hrnet_zoo.training_state import (TrainingError, load_scheduler_state, reschedule, set_rng_state,
                                      truncate_metrics)
from hrnet_zoo.weights import load_checkpoint

#: The official schedule: 210 epochs, lr ×0.1 at 170 and 200.
OFFICIAL_EPOCHS = 210
OFFICIAL_MILESTONES = (170, 200)


__all__ = ["TrainConfig", "TrainingError", "train", "build_model", "init_prediction_layers"]


@dataclass
class TrainConfig:
    """Everything [`train()`][hrnet_zoo.training.train] takes; see its docstring."""

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
    schedule: str = "multistep"
    milestones: tuple[int, ...] | None = None
    gamma: float = 0.1
    weight_decay: float = 0.0
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


# --------------------------------------------------------------------------------------------- helpers
def _log(message: str, rank: int = 0) -> None:
    if rank == 0:
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


def build_model(spec: str, keypoint_set: KeypointSet, *, pretrained: bool | str = True, new_head: bool = False,
                input_size=None, log=_log):
    """The model to train on ``keypoint_set``.

    ``spec`` is a registered name (``pretrained``: True, False or a manifest tag; weights with another
    keypoint count get a new prediction layer, which the log says) or a folder from ``save_pretrained``
    (its keypoint count must equal the dataset's unless ``new_head``). What the weights did not fill
    is read from the model's ``load_result``; ``reset_head`` initialises any fresh prediction layer.
    """
    k = keypoint_set.num_keypoints
    if os.path.isdir(spec):
        model = from_pretrained(spec)
        saved_k = getattr(model, "num_joints", None)
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
    else:
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
    cfg = model.pretrained_cfg.replace(keypoints=keypoint_set)
    if input_size is not None:
        cfg = cfg.replace(input_size=check_size(input_size))
    model.pretrained_cfg = cfg
    return model


def init_prediction_layers(model) -> None:
    """The official initialisation of a fresh prediction layer: weights N(0, 0.001²), biases 0
    (``model.reset_head(model.num_joints)`` for pose models, which own it)."""
    if hasattr(model, "reset_head"):
        model.reset_head(model.num_joints)
        return
    for name in getattr(model, "prediction_layers", ()):
        init_prediction_layer(model.get_submodule(name))


class _Distributed:
    """torchrun's environment: rank, world size, device; a process group made (and destroyed) here."""

    def __init__(self, device: str | None):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.created = False
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo")
            self.created = True
        self.enabled = dist.is_initialized() and dist.get_world_size() > 1
        self.world_size = dist.get_world_size() if self.enabled else 1
        self.rank = dist.get_rank() if self.enabled else 0
        if device is not None:
            self.device = torch.device(device)
        elif use_cuda:
            self.device = torch.device("cuda", local_rank if self.enabled else 0)
        else:
            self.device = torch.device("cpu")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, total: float, count: float) -> float:
        if not self.enabled:
            return total / max(count, 1)
        t = torch.tensor([total, count], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t[0] / max(float(t[1]), 1))

    def close(self) -> None:
        if self.created:
            dist.destroy_process_group()


# --------------------------------------------------------------------------------------------- train
def train(config: TrainConfig | None = None, **kwargs) -> dict:
    """Fine-tune a pose model on a COCO-format keypoint dataset (see the module docstring).

    Args (fields of [`TrainConfig`][hrnet_zoo.training.TrainConfig], as keywords or one ``config``):
        model: a registered name (``"hrnet_w32"``) or a ``save_pretrained`` folder.
        train_ann, train_images, val_ann, val_images: COCO keypoint files and image folders
            (``val_ann=None``: no validation; ``best/`` then follows the lowest training loss).
        out: the run folder (``last/``, ``best/``, ``metrics.jsonl``).
        input_size: ``(H, W)``; by default the model's ``pretrained_cfg.input_size``.
        epochs, batch_size (per process), lr, weight_decay: the optimisation.
        pretrained: for a name, True (default weights), False, or a manifest tag.
        new_head: allow a saved folder with another keypoint count (its prediction layer is replaced).
        max_steps: stop after this many optimizer steps in all (the epoch in progress is still
            validated and saved).
        workers: DataLoader worker processes (0: load in the main process).
        seed: seeds torch, numpy, ``random`` and the augmentation.
        schedule: ``"multistep"`` (official; ``milestones``, ``gamma``) or ``"cosine"``.
        amp: mixed precision; None = on for CUDA.
        sync_bn: SyncBatchNorm under torchrun (CUDA only, as PyTorch's SyncBatchNorm).
        resume: continue from ``out/last/`` (a fresh start when there is none) with the run's options;
            given ``lr``, ``epochs``, ``max_steps`` that differ are applied, other differences refused.
        force: write into a non-empty ``out`` that is not a run (never over files it did not write).
        given: the field names set explicitly (None: those that differ from the defaults).
        device: ``"cpu"``, ``"cuda"``, …; by default CUDA when available.
        flip_pairs, sigmas: the keypoint set's, when the names and the default do not give them.
        keypoint_set, category_id: a preset's layout, and the category of files with several keypoint
            lists (`hrnet_zoo.data.load_coco_keypoints()`); the run logs the resolved set's summary line.
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
    log = (lambda message: _log(message, env.rank))
    out = Path(config.out)
    lock = open_run_folder(out, resume=config.resume, force=config.force) if env.rank == 0 else None
    try:
        env.barrier()
        state = None
        if config.resume and (out / "last").is_dir():
            state = load_resume_state(out / "last")
            config = resume_config(config, state, out / "last", log)
        run = _setup(config, env, log)
        start_epoch = _restore(run, state, out / "last") if state is not None else 0
        _place(run)
        if env.rank == 0:
            truncate_metrics(out / "metrics.jsonl", start_epoch, log=log)
        epochs_run = 0
        for epoch in range(start_epoch, config.epochs):
            if run.stopped():
                break
            trained = run_epoch(run, epoch, lambda loader, e: _progress(loader, e, config, env.rank))
            run.scheduler.step()
            epoch_loss = env.mean(trained["loss_sum"], trained["seen"])
            epochs_run += 1
            if env.rank == 0:
                finish_epoch(run, epoch, trained, epoch_loss)
            env.barrier()
    finally:
        if lock is not None:
            lock.release()
    best_score, best_epoch = reported_best(out)  # what best/ holds, not what this process remembers
    return {"best_ap": best_score if config.val_ann is not None else None, "best_epoch": best_epoch,
            "epochs": epochs_run, "steps": run.step, "out": str(out), "seconds": time.perf_counter() - start_time}



def _load_data(config: TrainConfig, log):
    keypoint_options = dict(flip_pairs=config.flip_pairs, sigmas=config.sigmas, keypoint_set=config.keypoint_set,
                            category_id=config.category_id)
    train_coco = load_coco_keypoints(config.train_ann, config.train_images, **keypoint_options)
    for line in keypoint_summary(train_coco.keypoint_choice, config.flip_test and config.val_ann is not None):
        log(line)
    val_coco = None
    names = train_coco.keypoint_set.keypoint_names
    if config.val_ann is not None:
        val_coco = load_coco_keypoints(config.val_ann, config.val_images, **keypoint_options)
        if val_coco.keypoint_set.keypoint_names != names:
            raise TrainingError(f"{config.val_ann} has keypoints {list(val_coco.keypoint_set.keypoint_names)} but "
                                f"{config.train_ann} has {list(names)}")
    return train_coco, val_coco


def _setup(config: TrainConfig, env: _Distributed, log) -> Run:
    """Data, model, optimizer, schedule and scaler of a run, on the CPU (`_place` moves them)."""
    seed_everything(config.seed)
    train_coco, val_coco = _load_data(config, log)
    keypoint_set = train_coco.keypoint_set
    model = build_model(config.model, keypoint_set, pretrained=config.pretrained, new_head=config.new_head,
                        input_size=config.input_size, log=log)
    cfg = model.pretrained_cfg
    train_set = CocoKeypointDataset(train_coco, input_size=cfg.input_size, codec=HeatmapCodec.for_model(model),
                                    train=True, augment=config.augment, seed=config.seed, mean=cfg.mean, std=cfg.std)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.schedule == "multistep":
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, config.scaled_milestones(), config.gamma)
    elif config.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    else:
        raise TrainingError(f"unknown schedule {config.schedule!r}: choose multistep or cosine")
    device = env.device
    use_amp = (device.type == "cuda") if config.amp is None else bool(config.amp)
    run = Run(config=config, env=env, model=model, net=model, optimizer=optimizer, scheduler=scheduler,
              scaler=torch.amp.GradScaler("cuda", enabled=use_amp and device.type == "cuda"), loader=None,
              train_set=train_set, sampler=None, generator=torch.Generator(),
              loss_fn=model.loss, val_coco=val_coco,
              keypoint_names=list(keypoint_set.keypoint_names), input_size=cfg.input_size, use_amp=use_amp,
              amp_dtype=torch.float16 if device.type == "cuda" else torch.bfloat16, out=Path(config.out), log=log)
    run.watch = LossWatch(log)
    return run


def _restore(run: Run, state: dict, last_dir: Path) -> int:
    """Load ``last/`` into ``run`` (weights, optimizer, schedule, random states); the epoch to go on with."""
    if list(state.get("keypoint_names", [])) != run.keypoint_names:
        raise TrainingError(f"{last_dir} was trained on keypoints {state.get('keypoint_names')}, not the "
                            f"dataset's {run.keypoint_names}")
    load_checkpoint(run.model, last_dir / "model.safetensors")
    optimizer, scheduler, config = run.optimizer, run.scheduler, run.config
    optimizer.load_state_dict(state["optimizer"])
    load_scheduler_state(scheduler, state["scheduler"])
    if "options" in state:  # the run's lr, or the one given with --resume: the schedule scales from it
        for group in optimizer.param_groups:
            group["initial_lr"] = config.lr
        scheduler.base_lrs = [config.lr] * len(optimizer.param_groups)
    reschedule(scheduler, optimizer, config.epochs, config.scaled_milestones())
    if state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    run.step, run.saved_epoch = int(state["step"]), int(state["epoch"])
    set_rng_state(state["rng"])
    run.best_score, run.best_epoch = float(state["best_ap"]), state.get("best_epoch")
    if run.env.rank == 0:
        run.best_score, run.best_epoch = resumed_best(run.model, run.out, state, run.log)
    best = f", best AP {run.best_score:.4f}" if run.val_coco is not None and run.best_score > -math.inf else ""
    run.log(f"resumed from {last_dir}: epoch {run.saved_epoch + 1}, step {run.step}{best}")
    if run.stopped():
        run.log(f"the run already made its --max-steps {config.max_steps} steps; pass a larger --max-steps to go on")
    return run.saved_epoch + 1


def _place(run: Run) -> None:
    """Model on its device (DDP-wrapped under torchrun) and the training DataLoader."""
    env, config, model = run.env, run.config, run.model
    device = env.device
    model.to(device)
    if env.enabled and config.sync_bn:
        if device.type != "cuda":
            raise TrainingError("--sync-bn (sync_bn=True) needs CUDA devices: PyTorch's SyncBatchNorm does not "
                                "run on CPU processes")
        model = run.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    run.net = TrainingForward(model)  # forward is model.forward_train, so DDP hooks the training forward
    if env.enabled:
        run.net = torch.nn.parallel.DistributedDataParallel(
            run.net, device_ids=[device.index] if device.type == "cuda" else None)
        run.sampler = torch.utils.data.distributed.DistributedSampler(
            run.train_set, num_replicas=env.world_size, rank=env.rank, shuffle=True, seed=config.seed)
    run.loader = torch.utils.data.DataLoader(
        run.train_set, batch_size=config.batch_size, shuffle=run.sampler is None, sampler=run.sampler,
        num_workers=config.workers, worker_init_fn=seed_worker, generator=run.generator,
        pin_memory=device.type == "cuda", drop_last=len(run.train_set) > config.batch_size)
    h, w = run.input_size
    run.log(f"{type(model).__name__} on {len(run.train_set)} samples of {len(run.keypoint_names)} keypoints "
            f"({', '.join(run.keypoint_names)}), input {h}x{w}, {env.world_size} process(es) on {device}, "
            f"amp {'on' if run.use_amp else 'off'}")


def _progress(loader, epoch: int, config: TrainConfig, rank: int):
    if not config.progress or rank != 0:
        return loader
    from tqdm import tqdm
    return tqdm(loader, desc=f"epoch {epoch}", unit="batch", leave=False, dynamic_ncols=True)
