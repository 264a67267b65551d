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
* ``best/``: the model of the best validation AP so far (a ``save_pretrained`` folder).
* ``metrics.jsonl``: one JSON object per epoch (epoch, step, loss, lr, the COCOeval stats, PCK,
  images_per_s, data_wait_fraction, seconds).

Checkpoints (``hrnet_zoo.training_state``) are written into a temporary folder first and renamed
into place, so a kill never leaves a half-written ``last/`` or ``best/`` in place of a good one (if a
kill falls between the two renames of a swap, the previous checkpoint is still there under
``.last.old-*`` and ``resume`` puts it back).

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
from hrnet_zoo.errors import HRNetZooError
from hrnet_zoo.evaluation import evaluate
from hrnet_zoo.inference import keypoint_summary
from hrnet_zoo.keypoints import KeypointSet
from hrnet_zoo.losses import JointsMSELoss
from hrnet_zoo.models.base import from_pretrained
from hrnet_zoo.pretrained_cfg import check_size
from hrnet_zoo.training_state import (STATE_FILE, append_metrics, load_scheduler_state, recover_checkpoint_dir,
                                      reschedule, rng_state, save_checkpoint_dir, scheduler_state, set_rng_state,
                                      truncate_metrics)
from hrnet_zoo.weights import load_checkpoint
from hrnet_zoo.weights.pretrained import load_pretrained

#: The official schedule: 210 epochs, lr ×0.1 at 170 and 200.
OFFICIAL_EPOCHS = 210
OFFICIAL_MILESTONES = (170, 200)


class TrainingError(HRNetZooError, ValueError):
    """A run that cannot start as asked (a model whose keypoint count differs from the dataset's, an
    output folder that already holds another run, a checkpoint that does not fit)."""


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
    device: str | None = None
    flip_pairs: list | None = None
    sigmas: list | None = None
    keypoint_set: str | None = None  # a preset name (or KeypointSet) giving the layout; see load_coco_keypoints
    category_id: int | None = None   # the category, when the files' categories have different keypoint lists
    flip_test: bool = True
    progress: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)

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
    (its keypoint count must equal the dataset's unless ``new_head``).
    """
    k = keypoint_set.num_keypoints
    if os.path.isdir(spec):
        model = from_pretrained(spec)
        saved_k = getattr(model, "num_joints", None)
        if saved_k is None:
            raise TrainingError(f"{spec} holds a {type(model).__name__}, not a keypoint model")
        if saved_k != k:
            if not new_head:
                raise TrainingError(
                    f"{spec} predicts {saved_k} keypoints but the dataset has {k} "
                    f"({', '.join(keypoint_set.keypoint_names)}); pass --new-head (new_head=True) to replace "
                    "its prediction layer and keep the rest of its weights")
            config = {**(model._hub_mixin_config or {}), "num_joints": k}
            config = {key: v for key, v in config.items() if key not in ("architecture", "pretrained_cfg")}
            cfg = model.pretrained_cfg
            model = type(model)(**config)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                load_pretrained(model, "", spec, new_head=True)
            model.pretrained_cfg = cfg
            init_prediction_layers(model)
            log(f"new prediction layer: {spec} predicts {saved_k} keypoints, the dataset {k}; every other "
                "weight is loaded")
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = create_model(spec, pretrained=pretrained, keypoints=keypoint_set)
        fresh = not pretrained
        for w in caught:
            if "prediction layer" in str(w.message):
                fresh = True
                log(f"new prediction layer for the dataset's {k} keypoints: {w.message}")
        if fresh:
            init_prediction_layers(model)
    if getattr(model, "num_joints", None) is None:
        raise TrainingError(f"{spec} is not a keypoint (heatmap) model")
    cfg = model.pretrained_cfg.replace(keypoints=keypoint_set)
    if input_size is not None:
        cfg = cfg.replace(input_size=check_size(input_size))
    model.pretrained_cfg = cfg
    return model


def init_prediction_layers(model) -> None:
    """The official initialisation of a fresh prediction layer: weights N(0, 0.001²), biases 0.

    PyTorch's default initialisation makes a new 1×1 layer output heatmaps of about ±1, far above
    the targets (peak 1 on a background of 0), and the first hundreds of steps only shrink them.
    """
    for name in getattr(model, "prediction_layers", ()):
        layer = model.get_submodule(name)
        for module in layer.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
                torch.nn.init.normal_(module.weight, std=0.001)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)


def _loss(criterion, output, target, weight):
    if isinstance(output, (list, tuple)):  # intermediate supervision: every stage against the target
        return sum(criterion(o, target, weight) for o in output)
    return criterion(output, target, weight)


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
        resume: continue from ``out/last/`` (a fresh start when there is none).
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
    env = _Distributed(config.device)
    try:
        return _train(config, env)
    finally:
        env.close()


def _train(config: TrainConfig, env: _Distributed) -> dict:
    start_time = time.perf_counter()
    rank = env.rank
    log = (lambda message: _log(message, rank))
    out = Path(config.out)
    if config.epochs < 1 or config.batch_size < 1 or not config.lr > 0:
        raise TrainingError(f"epochs and batch_size must be positive and lr > 0, got epochs={config.epochs}, "
                            f"batch_size={config.batch_size}, lr={config.lr}")
    last_dir = recover_checkpoint_dir(out / "last") if rank == 0 else None
    env.barrier()
    last_dir = out / "last" if (out / "last").is_dir() else None
    if last_dir is not None and not config.resume:
        raise TrainingError(f"{out} already holds a run (last/ checkpoint); pass --resume (resume=True) to "
                            "continue it, or choose another output folder")
    seed_everything(config.seed)

    keypoint_options = dict(flip_pairs=config.flip_pairs, sigmas=config.sigmas, keypoint_set=config.keypoint_set,
                            category_id=config.category_id)
    train_coco = load_coco_keypoints(config.train_ann, config.train_images, **keypoint_options)
    keypoint_set = train_coco.keypoint_set
    for line in keypoint_summary(train_coco.keypoint_choice, config.flip_test and config.val_ann is not None):
        log(line)
    val_coco = None
    if config.val_ann is not None:
        val_coco = load_coco_keypoints(config.val_ann, config.val_images, **keypoint_options)
        if val_coco.keypoint_set.keypoint_names != keypoint_set.keypoint_names:
            raise TrainingError(f"{config.val_ann} has keypoints {list(val_coco.keypoint_set.keypoint_names)} but "
                                f"{config.train_ann} has {list(keypoint_set.keypoint_names)}")

    model = build_model(config.model, keypoint_set, pretrained=config.pretrained, new_head=config.new_head,
                        input_size=config.input_size, log=log)
    input_size = model.pretrained_cfg.input_size
    codec = HeatmapCodec.for_model(model)
    cfg = model.pretrained_cfg
    train_set = CocoKeypointDataset(train_coco, input_size=input_size, codec=codec, train=True,
                                    augment=config.augment, seed=config.seed, mean=cfg.mean, std=cfg.std)

    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.schedule == "multistep":
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, config.scaled_milestones(), config.gamma)
    elif config.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    else:
        raise TrainingError(f"unknown schedule {config.schedule!r}: choose multistep or cosine")
    device = env.device
    use_amp = (device.type == "cuda") if config.amp is None else bool(config.amp)
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and device.type == "cuda")

    start_epoch, step, best_ap, best_epoch = 0, 0, -math.inf, None
    if last_dir is not None:
        state = torch.load(last_dir / STATE_FILE, map_location="cpu", weights_only=True)
        if list(state.get("keypoint_names", [])) != list(keypoint_set.keypoint_names):
            raise TrainingError(f"{last_dir} was trained on keypoints {state.get('keypoint_names')}, not the "
                                f"dataset's {list(keypoint_set.keypoint_names)}")
        load_checkpoint(model, last_dir / "model.safetensors")
        optimizer.load_state_dict(state["optimizer"])
        load_scheduler_state(scheduler, state["scheduler"])
        reschedule(scheduler, optimizer, config.epochs, config.scaled_milestones())
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch, step = int(state["epoch"]) + 1, int(state["step"])
        best_ap, best_epoch = float(state["best_ap"]), state.get("best_epoch")
        set_rng_state(state["rng"])
        best = f", best AP {best_ap:.4f}" if val_coco is not None and best_ap > -math.inf else ""
        log(f"resumed from {last_dir}: epoch {start_epoch}, step {step}{best}")
        if rank == 0:
            truncate_metrics(out / "metrics.jsonl", start_epoch)

    model.to(device)
    if env.enabled and config.sync_bn:
        if device.type != "cuda":
            raise TrainingError("--sync-bn (sync_bn=True) needs CUDA devices: PyTorch's SyncBatchNorm does not "
                                "run on CPU processes")
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    net = model
    if env.enabled:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    criterion = JointsMSELoss(use_target_weight=True)

    generator = torch.Generator()
    sampler = None
    if env.enabled:
        sampler = torch.utils.data.distributed.DistributedSampler(
            train_set, num_replicas=env.world_size, rank=rank, shuffle=True, seed=config.seed)
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
        num_workers=config.workers, worker_init_fn=seed_worker, generator=generator,
        pin_memory=device.type == "cuda", drop_last=len(train_set) > config.batch_size)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        log(f"{type(model).__name__} on {len(train_set)} samples of {keypoint_set.num_keypoints} keypoints "
            f"({', '.join(keypoint_set.keypoint_names)}), input {input_size[0]}x{input_size[1]}, "
            f"{env.world_size} process(es) on {device}, amp {'on' if use_amp else 'off'}")

    epochs_run = 0
    for epoch in range(start_epoch, config.epochs):
        if config.max_steps is not None and step >= config.max_steps:
            break
        epoch_start = time.perf_counter()
        train_set.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        generator.manual_seed(config.seed * 1000003 + epoch)
        net.train()
        loss_sum, seen, data_wait = 0.0, 0, 0.0
        lr = optimizer.param_groups[0]["lr"]
        bar = _progress(loader, epoch, config, rank)
        tick = time.perf_counter()
        for batch in bar:
            data_wait += time.perf_counter() - tick
            images = batch["image"].to(device, non_blocking=True)
            target = batch["target"].to(device, non_blocking=True)
            weight = batch["target_weight"].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                output = net(images)
            loss = _loss(criterion, _to_float(output), target, weight)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            loss_sum += float(loss.detach()) * len(images)
            seen += len(images)
            if bar is not loader:
                elapsed = time.perf_counter() - epoch_start
                bar.set_postfix(loss=f"{loss_sum / seen:.5f}", lr=f"{lr:.2e}",
                                img_s=f"{seen * env.world_size / elapsed:.1f}", refresh=False)
            if config.max_steps is not None and step >= config.max_steps:
                break
            tick = time.perf_counter()
        train_seconds = time.perf_counter() - epoch_start
        scheduler.step()
        epoch_loss = env.mean(loss_sum, seen)
        epochs_run += 1

        metrics = {"epoch": epoch, "step": step, "loss": epoch_loss, "lr": lr}
        if rank == 0:
            if val_coco is not None:
                model.eval()  # the loop owns its model; evaluate() leaves modes to the caller
                try:
                    stats = evaluate(model, val_coco, input_size=input_size, flip_test=config.flip_test,
                                     workers=min(config.workers, 2), progress=config.progress)
                finally:
                    model.train()
                metrics.update({k: stats[k] for k in ("AP", "AP50", "AP75", "APm", "APl", "AR", "PCK@0.05",
                                                      "PCK@0.1", "mean_error_px")})
                score = stats["AP"]
            else:
                score = -epoch_loss
            metrics.update({"images_per_s": seen * env.world_size / max(train_seconds, 1e-9),
                            "data_wait_fraction": data_wait / max(train_seconds, 1e-9),
                            "seconds": time.perf_counter() - epoch_start, "world_size": env.world_size})
            improved = score > best_ap
            if improved:
                best_ap, best_epoch = score, epoch
            state = {"epoch": epoch, "step": step, "best_ap": float(best_ap), "best_epoch": best_epoch,
                     "optimizer": optimizer.state_dict(), "scheduler": scheduler_state(scheduler),
                     "scaler": scaler.state_dict() if scaler.is_enabled() else {}, "rng": rng_state(),
                     "keypoint_names": list(keypoint_set.keypoint_names), "input_size": list(input_size)}
            append_metrics(out / "metrics.jsonl", metrics)
            save_checkpoint_dir(model, out / "last", state)
            if improved:
                save_checkpoint_dir(model, out / "best")
            ap = f", AP {metrics['AP']:.4f}" if "AP" in metrics else ""
            log(f"epoch {epoch}: loss {epoch_loss:.6f}, lr {lr:.2e}{ap}, "
                f"{metrics['images_per_s']:.1f} img/s, {metrics['seconds']:.1f} s"
                + (" (best)" if improved else ""))
        env.barrier()

    result = {"best_ap": float(best_ap) if val_coco is not None and best_ap > -math.inf else None,
              "best_epoch": best_epoch, "epochs": epochs_run, "steps": step, "out": str(out),
              "seconds": time.perf_counter() - start_time}
    return result


def _to_float(output):
    if isinstance(output, (list, tuple)):
        return [o.float() for o in output]
    return output.float()


def _progress(loader, epoch: int, config: TrainConfig, rank: int):
    if not config.progress or rank != 0:
        return loader
    from tqdm import tqdm
    return tqdm(loader, desc=f"epoch {epoch}", unit="batch", leave=False, dynamic_ncols=True)
