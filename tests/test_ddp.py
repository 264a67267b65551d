"""Scale-out: DDP without find_unused_parameters (2 gloo processes on CPU), SyncBatchNorm conversion,
gradient checkpointing of the HRNet stages."""
import copy

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel as DDP

import hrnet_zoo

# The smallest model of each family; other helpers' families join once registered.
FAMILY_CASES = [
    ("hrnet_w18_small_v1", dict(num_keypoints=3)),
    ("hrnetv2_w18_small_v1", dict(num_classes=3)),
    ("hrnetv2p_w18_small_v1", {}),
    ("hrnet_w18_small_v1_cls", dict(num_classes=5)),
] + [
    (name, dict(num_stacks=2, num_features=64) if name == "hourglass" else {})
    for name in ("simplebaseline_r50", "simplebaseline_r50_msdh", "hourglass")  # fixed: a lost family fails
]


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def loss_of(out) -> torch.Tensor:
    return sum(o.float().square().mean() for o in as_list(out))


@pytest.mark.parametrize("name,kwargs", FAMILY_CASES, ids=[c[0] for c in FAMILY_CASES])
def test_every_parameter_gets_a_gradient(name, kwargs):
    """What DDP without find_unused_parameters needs: no parameter left out of the forward pass."""
    torch.manual_seed(0)
    model = hrnet_zoo.create_model(name, **kwargs).train()
    loss_of(model(torch.randn(2, 3, 64, 64))).backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused


def test_grad_checkpointing_gives_the_same_gradients_and_statistics():
    torch.manual_seed(0)
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3).train()
    checkpointed = copy.deepcopy(model)
    checkpointed.backbone.set_grad_checkpointing(True)
    assert checkpointed.state_dict().keys() == model.state_dict().keys()
    x = torch.randn(2, 3, 64, 48)
    for m in (model, checkpointed):
        loss_of(m(x)).backward()
    for (n, p), q in zip(model.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-7, msg=n)
    # The recomputation must not update the BatchNorm running statistics a second time.
    for (n, b), c in zip(model.named_buffers(), checkpointed.buffers()):
        torch.testing.assert_close(c, b, rtol=0, atol=0, msg=n)
    with torch.no_grad():  # no autograd: the plain forward runs, same output
        torch.testing.assert_close(checkpointed.eval()(x), model.eval()(x))


def test_sync_batchnorm_conversion_keeps_keys_and_outputs():
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3).eval()
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(model))
    bns = [m for m in synced.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(isinstance(m, nn.SyncBatchNorm) for m in bns)
    assert synced.state_dict().keys() == model.state_dict().keys()
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        torch.testing.assert_close(synced(x), model(x), rtol=0, atol=0)


def _flat_grads(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def _ddp_worker(rank: int, world_size: int, init_method: str) -> None:
    dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world_size)
    try:
        torch.set_num_threads(1)
        torch.manual_seed(rank)  # different initial weights: DDP must broadcast rank 0's
        model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3).train()
        ddp = DDP(model)  # find_unused_parameters=False: a parameter without gradient would hang/raise
        local = copy.deepcopy(model)  # rank 0's weights now, no gradient averaging
        checkpointed = copy.deepcopy(model)
        checkpointed.backbone.set_grad_checkpointing(True)
        ddp_checkpointed = DDP(checkpointed)

        g = torch.Generator().manual_seed(100 + rank)  # each rank its own data
        x, target = torch.randn(2, 3, 64, 48, generator=g), torch.randn(2, 3, 16, 12, generator=g)
        F.mse_loss(ddp(x), target).backward()
        F.mse_loss(ddp_checkpointed(x), target).backward()
        F.mse_loss(local(x), target).backward()

        grads = _flat_grads(model)
        gathered = [torch.empty_like(grads) for _ in range(world_size)]
        dist.all_gather(gathered, grads)
        assert all(torch.equal(gathered[0], other) for other in gathered[1:]), "ranks disagree"
        expected = _flat_grads(local)
        dist.all_reduce(expected)
        expected /= world_size
        torch.testing.assert_close(grads, expected, rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(_flat_grads(checkpointed), grads, rtol=1e-4, atol=1e-7)

        # A second step: with an unused parameter DDP would fail here, expecting the first reduction.
        torch.optim.SGD(model.parameters(), lr=0.1).step()
        model.zero_grad()
        F.mse_loss(ddp(x), target).backward()
        params = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        gathered = [torch.empty_like(params) for _ in range(world_size)]
        dist.all_gather(gathered, params)
        assert torch.equal(gathered[0], gathered[1])
    finally:
        dist.destroy_process_group()


def test_ddp_two_gloo_processes_agree(tmp_path):
    world_size = 2
    # a file store, not a TCP port picked here that another process could take before rank 0 binds it
    mp.spawn(_ddp_worker, args=(world_size, f"file://{tmp_path / 'rendezvous'}"), nprocs=world_size, join=True)
