"""JointsMSELoss / JointsOHKMMSELoss against the official per-joint loops."""
import pytest
import torch
from torch import nn

from hrnet_zoo.losses import JointsMSELoss, JointsOHKMMSELoss


def official_joints_mse(output, target, target_weight, use_target_weight):
    criterion = nn.MSELoss(reduction="mean")
    n, k = output.shape[:2]
    pred = output.reshape((n, k, -1)).split(1, 1)
    gt = target.reshape((n, k, -1)).split(1, 1)
    loss = 0
    for idx in range(k):
        p, g = pred[idx].squeeze(), gt[idx].squeeze()
        if use_target_weight:
            loss += 0.5 * criterion(p.mul(target_weight[:, idx]), g.mul(target_weight[:, idx]))
        else:
            loss += 0.5 * criterion(p, g)
    return loss / k


def official_ohkm(output, target, target_weight, topk):
    criterion = nn.MSELoss(reduction="none")
    n, k = output.shape[:2]
    pred = output.reshape((n, k, -1)).split(1, 1)
    gt = target.reshape((n, k, -1)).split(1, 1)
    losses = []
    for idx in range(k):
        p, g = pred[idx].squeeze(), gt[idx].squeeze()
        losses.append(0.5 * criterion(p.mul(target_weight[:, idx]), g.mul(target_weight[:, idx])))
    loss = torch.cat([item.mean(dim=1).unsqueeze(dim=1) for item in losses], dim=1)
    total = 0.0
    for i in range(loss.size(0)):
        values, _ = torch.topk(loss[i], k=topk, dim=0, sorted=False)
        total += values.sum() / topk
    return total / loss.size(0)


@pytest.mark.parametrize("use_target_weight", [True, False])
def test_joints_mse_matches_official(use_target_weight):
    gen = torch.Generator().manual_seed(0)
    output, target = torch.rand(4, 17, 16, 12, generator=gen), torch.rand(4, 17, 16, 12, generator=gen)
    weight = (torch.rand(4, 17, 1, generator=gen) > 0.3).float()
    ours = JointsMSELoss(use_target_weight)(output, target, weight)
    torch.testing.assert_close(ours, official_joints_mse(output, target, weight, use_target_weight))
    assert JointsMSELoss()(target, target, weight) == 0


def test_invisible_joints_do_not_contribute():
    output, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    weight = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    changed = output.clone()
    changed[0, 1] += 5
    changed[1, 2] -= 5
    loss = JointsMSELoss()
    torch.testing.assert_close(loss(output, target, weight), loss(changed, target, weight))


def test_ohkm_matches_official():
    gen = torch.Generator().manual_seed(1)
    output, target = torch.rand(3, 17, 16, 12, generator=gen), torch.rand(3, 17, 16, 12, generator=gen)
    weight = (torch.rand(3, 17, 1, generator=gen) > 0.2).float()
    torch.testing.assert_close(JointsOHKMMSELoss(topk=8)(output, target, weight),
                               official_ohkm(output, target, weight, 8))


def test_loss_input_errors():
    with pytest.raises(ValueError, match="N×K×H×W"):
        JointsMSELoss()(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 7), torch.ones(2, 3))
    with pytest.raises(ValueError, match="target_weight"):
        JointsMSELoss()(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="topk"):
        JointsOHKMMSELoss(topk=8)(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), torch.ones(1, 3))


def test_ohkm_rejects_topk_below_one():
    for topk in (0, -1, 2.5):
        with pytest.raises(ValueError, match="topk must be a positive integer"):
            JointsOHKMMSELoss(topk=topk)


@pytest.mark.parametrize("loss", [JointsMSELoss(), JointsOHKMMSELoss(topk=2)])
def test_empty_batch_gives_zero_loss_that_back_propagates(loss):
    output = torch.rand(0, 3, 8, 6, requires_grad=True)
    value = loss(output, torch.rand(0, 3, 8, 6), torch.ones(0, 3))
    assert value.item() == 0 and value.requires_grad
    value.backward()
    assert output.grad.shape == output.shape
