"""Fine-tuning on a COCO-format keypoint dataset: one function, [`train()`][hrnet_zoo.training.loop.train], not a framework.

The recipe is the official one (``w32_256x192_adam_lr1e-3.yaml``): the top-down dataset and
augmentation of `hrnet_zoo.data`, targets from the model's `HeatmapCodec`, the model's own loss
(``model.loss``: `JointsMSELoss` with target weights, summed over the stacks of a Stacked Hourglass),
Adam at lr 1e-3 without weight decay and ``MultiStepLR`` ×0.1 at epochs 170 and 200 of 210 — for another
number of epochs the milestones scale with it (``round(170/210 · epochs)``, ``round(200/210 · epochs)``).
Beyond it: ``optimizer="adamw"`` or ``"sgd"``, a ``weight_decay`` (norms and biases exempt),
``warmup_epochs`` of linear warmup, ``schedule="cosine"``, and ``precision`` (fp16 autocast on CUDA by
default; ``"bf16"`` on CUDA or on a CPU with native bf16).

What a run writes under ``out``:

* ``last/``: the model after the latest epoch (``save_pretrained``: config.json with the keypoint
  set and training input size in ``pretrained_cfg``, model.safetensors) plus ``training_state.pt``
  (optimizer, scheduler, scaler, epoch, step, best AP, random states; only tensors, numbers, strings,
  lists and dicts, so ``torch.load(weights_only=True)`` reads it). ``resume=True`` continues from it.
* ``best/``: the model of the best validation AP so far (a ``save_pretrained`` folder), with its epoch
  and score in ``best.json``; the returned ``best_ap``/``best_epoch`` are read back from it.
* ``metrics.jsonl``: one JSON object per epoch (epoch, step, loss, lr, the COCOeval stats, PCK,
  images_per_s, data_wait_fraction, seconds).

Checkpoints are written into a temporary folder first and renamed into place, so a kill never leaves a
half-written ``last/`` or ``best/`` in place of a good one (if a kill falls between the two renames of a
swap, the previous checkpoint is still there under ``.last.old-*`` and ``resume`` puts it back). The
folder itself is locked (``.lock``) while a run writes into it, and a non-empty folder that is not a run
is refused unless ``force``. A non-finite loss or weights stop the run before anything of that epoch is
saved.

Several GPUs or machines: launch with ``torchrun``; the run then uses DistributedDataParallel, a
``DistributedSampler``, optional SyncBatchNorm, and logs, evaluates and saves on rank 0 only.

The package, bottom up: `config` (TrainConfig, checks, what a resume may change), `optim` (optimizers,
parameter groups, schedules, warmup), `precision`, `checkpoint` (run folder, ``last/``/``best/``,
metrics), `distributed` (torchrun, DDP), `setup` (data, model, optimizer of a run; resume), `loop`
(`train_one_epoch`, `validate`, `train`).
"""
from __future__ import annotations

from hrnet_zoo.errors import TrainingError
from hrnet_zoo.training.config import OFFICIAL_EPOCHS, OFFICIAL_MILESTONES, TrainConfig
from hrnet_zoo.training.distributed import _Distributed
from hrnet_zoo.training.loop import train, train_one_epoch, validate
from hrnet_zoo.training.optim import LinearWarmup, build_optimizer, build_scheduler, param_groups
from hrnet_zoo.training.precision import Precision, resolve_precision
from hrnet_zoo.training.setup import build_model, init_prediction_layers, seed_everything, seed_worker

__all__ = ["TrainConfig", "TrainingError", "train", "build_model", "init_prediction_layers", "train_one_epoch",
           "validate", "build_optimizer", "build_scheduler", "param_groups", "LinearWarmup", "Precision",
           "resolve_precision", "OFFICIAL_EPOCHS", "OFFICIAL_MILESTONES", "seed_everything", "seed_worker"]
