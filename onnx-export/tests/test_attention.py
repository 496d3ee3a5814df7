"""The chunked attention of the exported UNet graphs (disco_export/attention.py) against guided-diffusion's plain
attention: outputs and gradients, both QKV orders, token counts the slices do not divide, and the largest tensor
of a traced VJP."""

import pytest
import torch

from disco_export import attention, export, verify
from disco_export.export import GraphSpec, TensorSpec
from disco_export.unet import AttentionBlock

TOL = 1e-5


def _rel(a, b):
    b = b.detach()
    assert float(b.norm()) > 0
    return float((a.detach() - b).norm() / b.norm())


def _grads(fn, inputs, up):
    inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
    out = fn(*inputs)
    return out, torch.autograd.grad(out, inputs, up)


@pytest.mark.parametrize("n,chunks", [(37, 16), (64, 16), (50, 7), (5, 16)])
def test_op_matches_plain_attention(n, chunks):
    """q, k, v gradients of the custom op (eager autograd) and of the autograd.Function the VJP tracer uses."""
    g = torch.Generator().manual_seed(n * 100 + chunks)
    scale = 8 ** -0.25
    q, k = (torch.randn(6, 8, n, generator=g) * scale for _ in range(2))
    v = torch.randn(6, 5, n, generator=g)
    up = torch.randn(6, 5, n, generator=g)
    want, dwant = _grads(attention.plain_attention, (q, k, v), up)
    for fn in (lambda a, b, c: torch.ops.disco.chunked_attention(a, b, c, chunks)[0],
               lambda a, b, c: attention._ChunkedAttention.apply(a, b, c, chunks)[0]):
        got, dgot = _grads(fn, (q, k, v), up)
        assert _rel(got, want) < TOL
        for a, b in zip(dgot, dwant):
            assert _rel(a, b) < TOL


def test_functorch_vjp_of_the_function():
    """The export traces torch.func.vjp, which must reach the chunked backward."""
    g = torch.Generator().manual_seed(3)
    q, k, v, up = (torch.randn(2, 4, 21, generator=g) for _ in range(4))
    out, vjp_fn = torch.func.vjp(lambda a, b, c: attention._apply(a, b, c, 4)[0], q, k, v)
    _, dwant = _grads(attention.plain_attention, (q, k, v), up)
    assert _rel(out, attention.plain_attention(q, k, v)) < TOL
    for a, b in zip(vjp_fn(up), dwant):
        assert _rel(a, b) < TOL


def test_log_sum_exp_gradient():
    """The op's second output (per-row log-sum-exp) has the gradient of torch.logsumexp."""
    g = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(2, 4, 19, generator=g) for _ in range(3))
    up = torch.randn(2, 19, generator=g)
    _, dgot = _grads(lambda a, b, c: torch.ops.disco.chunked_attention(a, b, c, 3)[1], (q, k, v), up)
    want, dwant = _grads(lambda a, b, c: torch.logsumexp(torch.einsum("bct,bcs->bts", a, b), -1) + 0 * c.sum(),
                         (q, k, v), up)
    assert _rel(torch.ops.disco.chunked_attention(q, k, v, 3)[1], want) < TOL
    for a, b in zip(dgot[:2], dwant[:2]):
        assert _rel(a, b) < TOL
    assert float(dgot[2].abs().max()) == 0


@pytest.mark.parametrize("new_order", [False, True])
@pytest.mark.parametrize("hw", [(5, 7), (8, 8)])
def test_block_matches_plain(new_order, hw):
    """AttentionBlock as exported (chunked) against eager (plain): output and the x gradient."""
    torch.manual_seed(11 if new_order else 12)
    block = AttentionBlock(32, 2, -1, 8, new_order=new_order).eval()
    for p in block.parameters():  # guided-diffusion zero-initialises proj_out; random weights test more
        torch.nn.init.normal_(p, std=0.2)
    x = torch.randn(3, 32, *hw)
    up = torch.randn_like(x)
    want, (dwant,) = _grads(block, (x,), up)
    with attention.exporting():
        got, (dgot,) = _grads(block, (x,), up)
    assert _rel(got, want) < TOL
    assert _rel(dgot, dwant) < TOL
    # the attention term itself, not only the residual x, must match
    assert _rel(got - x, want - x) < TOL


def _block_spec(side, new_order=False):
    torch.manual_seed(5)
    block = AttentionBlock(16, 2, -1, 4, new_order=new_order)
    for p in block.parameters():
        torch.nn.init.normal_(p, std=0.2)
    shape = ["B", 16, "H", "W"]
    return GraphSpec("attn_vjp", block, [TensorSpec("x", "float32", shape)], [TensorSpec("y", "float32", shape),
                     TensorSpec("grad_x", "float32", shape)],
                     lambda b, g, size: [torch.randn(b, 16, *size, generator=g)], vjp=True,
                     upstream=TensorSpec("upstream", "float32", shape), multiple=1,
                     sizes=((side, side + 2), [(side + 1, side - 1)]))  # trace 6x8: 48 tokens


def _largest_tensor(spec, size):
    """numel of the largest intermediate of the VJP traced at batch 2 and a fixed image size (h, w)."""
    gen = torch.Generator().manual_seed(0)
    x = spec.sample_inputs(2, gen, size)
    up = torch.randn_like(x[0])
    ep = export.export_forward(spec.module, x, spec.inputs, spec.multiple)
    static = [TensorSpec(t.name, t.dtype, [2, 16, *size]) for t in spec.inputs + [spec.upstream]]
    gm = export.trace_vjp(ep, x, up, static)
    return max(n.meta["val"].numel() for n in gm.graph.nodes
               if isinstance(n.meta.get("val"), torch.Tensor))


def test_traced_vjp_holds_no_square_matrix(monkeypatch):
    """Batch 2 × 2 heads over N = 32·34 tokens: no intermediate as large as one (4, N, N) weight matrix."""
    size = (32, 34)
    n = size[0] * size[1]
    spec = _block_spec(32)
    assert _largest_tensor(spec, size) <= 4 * n * (-(-n // attention.CHUNKS) + 1)
    monkeypatch.setattr(attention, "CHUNKS", 1)  # one slice: the whole N×N matrix, which the measure must see
    assert _largest_tensor(spec, size) >= 4 * n * n


@pytest.mark.parametrize("new_order", [False, True])
def test_exported_vjp_matches_autograd(tmp_path, new_order):
    """The block's VJP graph (symbolic B, H, W) in ONNX Runtime against eager autograd of the plain block, at
    sizes whose token counts the slices do not divide and whose slice sizes differ from the traced one (4): 15
    tokens (slices of 2, the least), 36 (4) and 63 (5)."""
    spec = _block_spec(6, new_order)
    export.build_graph(spec, tmp_path / "attn_vjp.onnx")
    errs = verify.check(spec, tmp_path / "attn_vjp.onnx", batch_sizes=(1, 2), sizes=[(3, 5), (9, 4), (9, 7)])
    assert max(errs.values()) < TOL


def test_tiny_unet_vjp_at_a_larger_size(tiny_set):
    """The tiny set's UNet VJP at 48×40, where every attention level has slices of several positions (120 tokens
    at 1/4 scale: slices of 9), against autograd: the export verifies at small sizes only, where a size the
    tracer had specialised would go unnoticed."""
    from conftest import tiny_specs
    spec = tiny_specs()["unet_vjp"]
    errs = verify.check(spec, tiny_set / "unet_vjp.onnx", batch_sizes=(1,), sizes=[(48, 40)])
    assert max(errs.values()) < verify.TOLERANCE
