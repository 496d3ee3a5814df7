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


def test_custom_backwards_equal_autograds_exactly():
    """avg_pool2x2's Resize-shaped backward and relu_finite's masked multiply give autograd's values bit for bit
    (float32, fresh random inputs with exact zeros among the ReLU inputs)."""
    x = torch.randn(2, 5, 8, 6, requires_grad=True)
    g = torch.randn(2, 5, 4, 3)
    (got,) = torch.autograd.grad(layers.avg_pool2x2(x), x, g)
    (want,) = torch.autograd.grad(x.reshape(2, 5, 4, 2, 3, 2).mean(dim=(3, 5)), x, g)
    assert torch.equal(got, want)
    y = torch.randn(3, 4, 7, 5)
    y[0, 0, :2] = 0.0
    y = y.requires_grad_(True)
    g = torch.randn(3, 4, 7, 5)
    (got,) = torch.autograd.grad(layers.relu_finite(y), y, g)
    (want,) = torch.autograd.grad(torch.relu(y), y, g)
    assert torch.equal(got, want) and (got == 0).any()


def test_custom_backwards_export_to_the_fast_operators(tmp_path):
    """In a traced VJP graph the pool's backward is a Resize and ReLU's a Mul, with no Where or Expand left."""
    import onnx
    from torch import nn

    from disco_export import export

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return layers.avg_pool2x2(layers.relu_finite(self.conv(x)))

    spec = export.GraphSpec("net_vjp", Net().eval(), [export.TensorSpec("x", "float32", ["B", 3, "H", "W"])],
                            [export.TensorSpec("y", "float32", ["B", 4, "H/2", "W/2"]),
                             export.TensorSpec("grad_x", "float32", ["B", 3, "H", "W"])],
                            lambda b, gen, size: [torch.randn(b, 3, *size, generator=gen)], vjp=True,
                            upstream=export.TensorSpec("upstream", "float32", ["B", 4, "H/2", "W/2"]), multiple=2)
    export.build_graph(spec, tmp_path / "net_vjp.onnx")
    ops = {n.op_type for n in onnx.load(tmp_path / "net_vjp.onnx").graph.node}
    assert "Resize" in ops and "Where" not in ops and "Expand" not in ops, ops
    from disco_export import verify
    assert max(verify.check(spec, tmp_path / "net_vjp.onnx").values()) < 1e-6
