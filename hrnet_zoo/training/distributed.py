"""Several processes under ``torchrun``: the process group, each process's device, and the DDP wrapping
of the model and its data (a ``DistributedSampler``, optional SyncBatchNorm). One process alone runs
the same code with every collective a no-op."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

from hrnet_zoo.errors import TrainingError
from hrnet_zoo.models.base import TrainingForward


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
        """``total / count`` summed over all processes."""
        if not self.enabled:
            return total / max(count, 1)
        t = torch.tensor([total, count], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t[0] / max(float(t[1]), 1))

    def close(self) -> None:
        if self.created:
            dist.destroy_process_group()


#: The public name; ``_Distributed`` stays for code that imported it from ``hrnet_zoo.training``.
Distributed = _Distributed


def wrap_model(model: nn.Module, env: _Distributed, *, sync_bn: bool) -> tuple[nn.Module, nn.Module]:
    """``(model, net)``: ``model`` on ``env.device`` (with SyncBatchNorm when asked, under torchrun), and
    the module the loop calls, whose forward is ``model.forward_train`` (DDP-wrapped under torchrun, so
    DDP hooks the training forward)."""
    device = env.device
    model.to(device)
    if env.enabled and sync_bn:
        if device.type != "cuda":
            raise TrainingError("--sync-bn (sync_bn=True) needs CUDA devices: PyTorch's SyncBatchNorm does not "
                                "run on CPU processes")
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    net = TrainingForward(model)
    if env.enabled:
        net = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda"
                                                        else None)
    return model, net


def sampler_for(dataset, env: _Distributed, seed: int):
    """Each process's share of ``dataset`` under torchrun (None for one process: the loader shuffles)."""
    if not env.enabled:
        return None
    return torch.utils.data.distributed.DistributedSampler(dataset, num_replicas=env.world_size, rank=env.rank,
                                                           shuffle=True, seed=seed)
