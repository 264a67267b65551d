"""Small helpers shared by tests."""
import torch


def randomize_bn(model):
    """``model`` in eval mode with non-trivial BatchNorm statistics (fresh ones fold to the identity)."""
    g = torch.Generator().manual_seed(1)
    for bn in model.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.copy_(torch.randn(bn.num_features, generator=g) * 0.2)
            bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
    return model.eval()
