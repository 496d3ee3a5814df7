"""The export-friendly resampling helpers equal the PyTorch layers they replace (values and gradients)."""

import pytest
import torch
import torch.nn.functional as F

from disco_export import layers


def _rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("mine,ref,shape", [
    (layers.avg_pool2x2, lambda x: F.avg_pool2d(x, 2), (2, 3, 8, 6)),
    (layers.max_pool2x2, lambda x: F.max_pool2d(x, 2), (2, 3, 9, 7)),
    (layers.upsample_nearest2x, lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), (2, 3, 5, 4)),
    (layers.upsample_bilinear2x,
     lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), (2, 3, 5, 7)),
])
def test_resampling_matches_torch(mine, ref, shape):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    up = torch.randn(ref(x).shape, dtype=torch.float64)
    a, b = mine(x), ref(x)
    assert a.shape == b.shape
    assert _rel(a, b) < 1e-12
    (ga,) = torch.autograd.grad(a, x, up)
    (gb,) = torch.autograd.grad(b, x, up)
    assert _rel(ga, gb) < 1e-12
