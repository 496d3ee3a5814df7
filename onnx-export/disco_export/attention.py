"""Attention that never holds an N×N matrix in the exported graphs: the UNet's softmax(qᵀk)·v over query chunks.

Eager PyTorch (the reference, verification, DD's maths) computes attention as guided-diffusion writes it, with the
whole (B·heads, N, N) weight matrix. During an export (``exporting()``), ``AttentionBlock`` calls the custom op
``disco::chunked_attention`` instead, which the exporter keeps opaque through ``torch.export`` and then lowers to
plain ATen ops:

- forward (``chunked_forward``): the N query positions are cut into ``chunks`` slices; per slice the logits
  (C×N, C ≈ N/chunks), their row maximum m, e = exp(logits − m), l = Σe, the output v·(e/l)ᵀ and the per-row
  log-sum-exp m + log l. The outputs are concatenated; only the slice's logits are alive at a time.
- backward (``chunked_backward``, the flash-attention backward): from the saved q, k, v, output o and log-sum-exp,
  each slice's probabilities are recomputed as exp(logits − lse) and dv += g·pᵀ, dp = vᵀg,
  ds = p ∘ (dp − rowsum(g ∘ o)), dq = k·ds, dk += q·dsᵀ. The recomputed logits are formed as kᵀ·q (transposed)
  so that no common-subexpression pass can merge them with the forward's and keep those alive.

The queries are zero-padded to chunks·S positions, S = ⌈N/chunks⌉ + 1, and reshaped to (BH, c, chunks, S): a fixed
number of slices whose size S follows the symbolic N (= H·W/ds² of the graph), so the traced graph holds no Python
loop over a symbolic count and no per-slice symbolic bounds. A slice therefore grows with N: the largest tensor of
one attention is (B·heads, ⌈N/chunks⌉ + 1, N) instead of (B·heads, N, N).

Shapes: q, k: (BH, c, N); v: (BH, cv, N) -> out: (BH, cv, N), lse: (BH, N). Computed in fp32; an fp16 UNet's
q, k, v are cast up and the results back (guided-diffusion's softmax is fp32 too).
"""

import contextlib
import contextvars

import torch
from torch import Tensor

__all__ = ["CHUNKS", "attention", "chunked_backward", "chunked_forward", "decompositions", "differentiable",
           "exporting", "is_exporting", "plain_attention"]

# Query slices per attention in the exported graphs (docs/bench-render-step.md, "Chunked attention").
CHUNKS = 16

_EXPORTING = contextvars.ContextVar("disco_chunked_attention", default=False)


@contextlib.contextmanager
def exporting(enabled=True):
    """Within this context ``attention`` emits the custom op ``disco::chunked_attention`` (export.py sets it)."""
    token = _EXPORTING.set(enabled)
    try:
        yield
    finally:
        _EXPORTING.reset(token)


def is_exporting():
    """Whether an export is tracing (``exporting()``): the custom ops of this module and layers.py are emitted."""
    return _EXPORTING.get()


def plain_attention(q, k, v):
    """guided-diffusion's attention on scaled q, k: softmax over keys in float32. (BH, c, N)³ -> (BH, cv, N)."""
    weight = torch.einsum("bct,bcs->bts", q, k)
    weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
    return torch.einsum("bts,bcs->bct", weight, v)


def _slices(t, chunks):
    """t: (BH, c, N) -> (BH, c, chunks, S) with S = ⌈N/chunks⌉ + 1, the last positions zero-padded, and S.

    One padding and one reshape, so that slice i is ``t[:, :, i]`` with a constant i: the symbolic N enters the
    traced graph through the single size S, not through per-slice bounds. S is one more than needed so that it is
    never 1: the tracer would specialise a size of 1 (the traced UNet has 15 tokens at its coarsest attention) and
    bake S = 1 into the graph."""
    n = t.shape[-1]
    size = (n + chunks - 1) // chunks + 1
    t = torch.nn.functional.pad(t, (0, chunks * size - n))
    return t.reshape(*t.shape[:-1], chunks, size), size


def _unslice(parts, n):
    """Inverse of ``_slices`` for a list of (BH, c, S) slices: (BH, c, N).

    The padding is dropped with a gather of positions 0..N−1, not a slice ``[..., :N]``: tracing a slice asks
    whether N < chunks·S, and where the traced N is a multiple of ``chunks`` the answer (no) would be baked in."""
    t = torch.stack(parts, dim=-2)
    t = t.reshape(*t.shape[:-2], t.shape[-2] * t.shape[-1])
    return t.index_select(-1, torch.arange(n, device=t.device))


def chunked_forward(q: Tensor, k: Tensor, v: Tensor, chunks: int):
    """(out: (BH, cv, N), lse: (BH, N)) slice by slice over the queries; see the module docstring."""
    n = q.shape[2]
    qs, _ = _slices(q.float(), chunks)  # (BH, c, chunks, S)
    kf, vf = k.float(), v.float()
    outs, lses = [], []
    for i in range(chunks):
        s = torch.bmm(qs[:, :, i].transpose(1, 2), kf)  # (BH, S, N)
        m = s.amax(dim=-1, keepdim=True)
        e = torch.exp(s - m)
        tot = e.sum(dim=-1, keepdim=True)
        outs.append(torch.bmm(vf, (e / tot).transpose(1, 2)))  # (BH, cv, S)
        lses.append((m + torch.log(tot)).transpose(1, 2))  # (BH, 1, S)
    return _unslice(outs, n).type(v.dtype), _unslice(lses, n)[:, 0]


def chunked_backward(q, k, v, out, lse, grad_out, grad_lse, chunks):
    """(dq, dk, dv) of (out, lse) = chunked_forward(q, k, v) for cotangents grad_out (BH, cv, N) and grad_lse
    (BH, N) or None, recomputing each slice's probabilities from lse. Padded query positions carry a zero
    cotangent, so they add nothing to dk and dv."""
    n = q.shape[2]
    dtypes = q.dtype, k.dtype, v.dtype
    # fp32 like the forward (a no-op in fp32 graphs; an fp16 UNet's q, k, v arrive in fp16)
    q, k, v, out, grad_out = (z.float() for z in (q, k, v, out, grad_out))
    d = (grad_out * out).sum(dim=1, keepdim=True)  # (BH, 1, N): rowsum(g ∘ o)
    if grad_lse is not None:
        d = d - grad_lse[:, None, :]
    qs, _ = _slices(q, chunks)
    gs, _ = _slices(grad_out, chunks)
    ls, _ = _slices(lse[:, None, :], chunks)
    ds, _ = _slices(d, chunks)
    kt, vt = k.transpose(1, 2), v.transpose(1, 2)  # (BH, N, c), (BH, N, cv)
    dqs, dk, dv = [], None, None
    for i in range(chunks):
        qi, gi = qs[:, :, i], gs[:, :, i]  # (BH, c, S), (BH, cv, S)
        pt = torch.exp(torch.bmm(kt, qi) - ls[:, :, i])  # (BH, N, S): probabilities, transposed
        dvi = torch.bmm(gi, pt.transpose(1, 2))  # (BH, cv, N)
        dst = pt * (torch.bmm(vt, gi) - ds[:, :, i])  # (BH, N, S)
        dqs.append(torch.bmm(k, dst))  # (BH, c, S)
        dki = torch.bmm(qi, dst.transpose(1, 2))  # (BH, c, N)
        dk = dki if dk is None else dk + dki
        dv = dvi if dv is None else dv + dvi
    return _unslice(dqs, n).type(dtypes[0]), dk.type(dtypes[1]), dv.type(dtypes[2])


@torch.library.custom_op("disco::chunked_attention", mutates_args=())
def _chunked_attention(q: Tensor, k: Tensor, v: Tensor, chunks: int) -> tuple[Tensor, Tensor]:
    out, lse = chunked_forward(q, k, v, chunks)
    return out, lse


@_chunked_attention.register_fake
def _(q, k, v, chunks):
    return v.new_empty(v.shape[0], v.shape[1], q.shape[2]), q.new_empty(q.shape[0], q.shape[2], dtype=torch.float32)


def _setup_context(ctx, inputs, output):
    q, k, v, chunks = inputs
    out, lse = output
    ctx.chunks = chunks
    ctx.save_for_backward(q, k, v, out, lse)


def _backward(ctx, grad_out, grad_lse):
    q, k, v, out, lse = ctx.saved_tensors
    if grad_out is None:
        grad_out = torch.zeros_like(out)
    dq, dk, dv = chunked_backward(q, k, v, out, lse, grad_out, grad_lse, ctx.chunks)
    return dq, dk, dv, None


_chunked_attention.register_autograd(_backward, setup_context=_setup_context)


class _ChunkedAttention(torch.autograd.Function):
    """The custom op's maths as an autograd.Function, which (unlike a custom op's autograd) torch.func.vjp can
    transform: the VJP tracer calls it in place of the op (``differentiable``)."""

    @staticmethod
    def forward(q, k, v, chunks):
        return chunked_forward(q, k, v, chunks)

    setup_context = staticmethod(_setup_context)

    @staticmethod
    def backward(ctx, grad_out, grad_lse):
        return _backward(ctx, grad_out, grad_lse)


def _apply(q, k, v, chunks):
    return _ChunkedAttention.apply(q, k, v, chunks)


def differentiable(gm):
    """Point the ``disco::chunked_attention`` nodes of an fx GraphModule at ``_ChunkedAttention`` so that
    torch.func.vjp of ``gm`` runs the chunked backward. Returns the number of nodes changed."""
    n = 0
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target is torch.ops.disco.chunked_attention.default:
            node.target = _apply
            n += 1
    gm.recompile()
    return n


def attention(q, k, v, chunks=None):
    """softmax(qᵀk)·v for scaled q, k: the plain form in eager mode, the custom op (``chunks`` slices, default
    ``CHUNKS``) while exporting."""
    if _EXPORTING.get():
        return torch.ops.disco.chunked_attention(q, k, v, CHUNKS if chunks is None else chunks)[0]
    return plain_attention(q, k, v)


def decompositions():
    """Lowering of ``disco::chunked_attention`` to ATen ops (its forward), for run_decompositions / make_fx.

    Forward graphs use it too: at 128×128 and 192×192 the tiny ``unet_fwd`` is faster with slices than with the
    plain N×N form and peaks at a tenth of its memory (docs/bench-render-step.md, "Chunked attention")."""
    return {torch.ops.disco.chunked_attention.default: chunked_forward}
