"""Optimizers, learning-rate schedules and warmup of a run.

* Optimizers: ``adam`` (the official recipe), ``adamw`` (decoupled weight decay) and ``sgd`` (momentum
  0.9). With a weight decay, normalisation layers' parameters and every bias are put into a second
  parameter group without weight decay (decaying a BatchNorm scale or a bias towards 0 only shrinks
  the model's range); without one, all parameters form one group, as the official recipe's Adam.
* Schedules, stepped once per epoch: ``multistep`` (×``gamma`` at the milestones) or ``cosine``
  (annealed to 0 at the last epoch).
* Warmup: over the first ``warmup_epochs`` epochs the learning rate of each optimizer step is the
  schedule's × (step + 1) / warmup steps, a linear ramp; after that, the schedule's alone.
"""
from __future__ import annotations

import collections

import torch
from torch import nn

from hrnet_zoo.errors import TrainingError

#: SGD's momentum (the usual 0.9 of pose and classification recipes).
SGD_MOMENTUM = 0.9
#: Layers whose parameters (scale and shift) take no weight decay.
NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """``model``'s parameters as optimizer groups: one group when ``weight_decay`` is 0; else
    ``decay`` (convolution and linear weights, at ``weight_decay``) and ``no_decay`` (parameters of
    `NORM_LAYERS` and every bias, at 0). Each parameter is in exactly one group, in model order."""
    params = list(model.parameters())
    if not weight_decay:
        return [{"params": params, "weight_decay": 0.0}]
    exempt = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if isinstance(module, NORM_LAYERS) or name == "bias" or param.ndim <= 1:
                exempt.add(id(param))
    seen, decay, no_decay = set(), [], []
    for param in params:
        if id(param) not in seen:
            seen.add(id(param))
            (no_decay if id(param) in exempt else decay).append(param)
    groups = [{"params": decay, "weight_decay": float(weight_decay), "group": "decay"},
              {"params": no_decay, "weight_decay": 0.0, "group": "no_decay"}]
    return [group for group in groups if group["params"]]


def build_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``adam``, ``adamw`` or ``sgd`` over `param_groups` of ``model``."""
    groups = param_groups(model, weight_decay)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=SGD_MOMENTUM)
    raise TrainingError(f"unknown optimizer (--optimizer) {name!r}: choose adam, adamw or sgd")


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: str, *, epochs: int, milestones: list[int],
                    gamma: float):
    """The per-epoch schedule: ``multistep`` or ``cosine``."""
    if schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    raise TrainingError(f"unknown schedule (--schedule) {schedule!r}: choose multistep or cosine")


class LinearWarmup:
    """Linear warmup over the first ``warmup_steps`` optimizer steps, on top of an epoch ``scheduler``.

    `before_step` sets each group's learning rate to the schedule's × `factor`; `end_epoch` puts the
    schedule's own rates back before stepping it, so the warmup never leaks into the schedule (whose
    rates are chained from the groups' current ones). It keeps no state of its own: the run's step
    count decides, so a resumed run warms up exactly as an uninterrupted one.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, scheduler, warmup_steps: int):
        self.optimizer, self.scheduler, self.warmup_steps = optimizer, scheduler, max(int(warmup_steps), 0)

    def factor(self, step: int) -> float:
        """The multiplier of the 0-based optimizer step ``step``: (step + 1) / warmup steps, then 1."""
        if step >= self.warmup_steps:
            return 1.0
        return (step + 1) / self.warmup_steps

    def before_step(self, step: int) -> float:
        """Set the learning rates of step ``step``; returns the first group's."""
        if self.warmup_steps:
            factor = self.factor(step)
            for group, lr in zip(self.optimizer.param_groups, self.scheduler.get_last_lr()):
                group["lr"] = lr * factor
        return self.optimizer.param_groups[0]["lr"]

    def end_epoch(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self.scheduler.get_last_lr()):
            group["lr"] = lr
        self.scheduler.step()


# --------------------------------------------------------------------------------------------- resume
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
