"""Memory of the widest checkpoint segment's VJP, as exported today and with GroupNorm+SiLU recomputed per chunk.

The UNet path's peak at DD's default 1280x768 is one full-resolution decoder block's VJP (``out18`` of DD's 512
model: a ResBlock from 384 to 128 channels, docs/bench-render-step.md). This benchmark exports a block of that
shape (random weights) twice and runs each VJP in ONNX Runtime with the options of disco's lean sessions:

* ``autograd``: as the exporter writes it today; the backward keeps GroupNorm's and SiLU's outputs;
* ``GroupNorm+SiLU, N chunks``: GroupNorm+SiLU as one op whose backward saves only its input and recomputes the
  normalised activations channel chunk by channel chunk (N chunks, whole groups each), so only a chunk's
  temporaries live;
* ``entry, N chunks``: the block's entry (GroupNorm+SiLU+conv, and the skip connection's 1x1 conv) as one op whose
  backward also takes both convolutions' input gradients chunk by chunk, so the only full-size tensors it makes
  are the chunks' results and their concatenation.

It prints, per variant, the relative error of grad_h against PyTorch autograd (fresh random inputs), the run time
and the peak resident memory the run adds to its inputs and session. The exporter does not use the chunked forms;
this is the measurement behind the next step (docs/bench-render-step.md, "1280x768 on the UNet path").

    python -m disco_export.bench_norm_act --out /tmp/norm_act --size 384 640 --chunks 8 32
"""

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from . import layers
from .export import GraphSpec, TensorSpec, build_graph
from .unet import ResBlock

CHANNELS_IN, CHANNELS_OUT, GROUPS, EMB = 384, 128, 32, 1024


def gn_silu(x, weight, bias, groups, eps):
    return torch.nn.functional.silu(torch.nn.functional.group_norm(x, groups, weight, bias, eps))


def gn_silu_backward(x, weight, bias, groups, eps, g, chunks):
    """∂⟨g, silu(group_norm(x))⟩/∂x, recomputed from x one chunk of whole groups at a time."""
    b, c = x.shape[0], x.shape[1]
    per, groups_per = c // chunks, groups // chunks
    parts = []
    for k in range(chunks):
        sl = slice(k * per, (k + 1) * per)
        xs, gs = x[:, sl], g[:, sl]
        w, bb = weight[sl][None, :, None, None], bias[sl][None, :, None, None]
        xg = xs.reshape(b, groups_per, -1)
        mu = xg.mean(dim=2, keepdim=True)
        rstd = torch.rsqrt(((xg - mu) ** 2).mean(dim=2, keepdim=True) + eps)
        xhat = (xg - mu) * rstd
        n = xhat.reshape(xs.shape) * w + bb
        s = torch.sigmoid(n)
        dxhat = (gs * (s * (1 + n * (1 - s))) * w).reshape(b, groups_per, -1)
        m1 = dxhat.mean(dim=2, keepdim=True)
        m2 = (dxhat * xhat).mean(dim=2, keepdim=True)
        parts.append(((dxhat - m1 - xhat * m2) * rstd).reshape(xs.shape))
    return torch.cat(parts, dim=1)


class _GnSilu(torch.autograd.Function):
    @staticmethod
    def forward(x, weight, bias, groups, eps, chunks):
        return gn_silu(x, weight, bias, groups, eps)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias, groups, eps, chunks = inputs
        ctx.save_for_backward(x, weight, bias)
        ctx.groups, ctx.eps, ctx.chunks = groups, eps, chunks

    @staticmethod
    def backward(ctx, g):
        x, weight, bias = ctx.saved_tensors
        return gn_silu_backward(x, weight, bias, ctx.groups, ctx.eps, g, ctx.chunks), None, None, None, None, None


@torch.library.custom_op("disco_bench::gn_silu", mutates_args=())
def _gn_silu_op(x: Tensor, weight: Tensor, bias: Tensor, groups: int, eps: float, chunks: int) -> Tensor:
    return gn_silu(x, weight, bias, groups, eps)


@_gn_silu_op.register_fake
def _(x, weight, bias, groups, eps, chunks):
    return torch.empty_like(x)


def _gn_silu_apply(x, weight, bias, groups, eps, chunks):
    return _GnSilu.apply(x, weight, bias, groups, eps, chunks)


def _conv_input_grad(g, weight, padding):
    """∂⟨g, conv2d(x, weight)⟩/∂x for a stride-1 convolution: a convolution over the flipped, transposed weights."""
    return torch.nn.functional.conv2d(g, weight.transpose(0, 1).flip(2, 3), padding=padding)


def _entry(x, gn_w, gn_b, conv_w, conv_b, skip_w, skip_b, groups, eps):
    a = gn_silu(x, gn_w, gn_b, groups, eps)
    return (torch.nn.functional.conv2d(a, conv_w, conv_b, padding=1),
            torch.nn.functional.conv2d(x, skip_w, skip_b))


class _Entry(torch.autograd.Function):
    """A ResBlock's entry: (conv(silu(norm(x))), skip(x)). Its backward saves only x and walks the input channels
    in chunks of whole groups: per chunk, the two convolutions' input gradients restricted to those channels, the
    recomputed GroupNorm+SiLU's backward, and their sum; only the chunks' results make a full-size tensor."""

    @staticmethod
    def forward(x, gn_w, gn_b, conv_w, conv_b, skip_w, skip_b, groups, eps, chunks):
        return _entry(x, gn_w, gn_b, conv_w, conv_b, skip_w, skip_b, groups, eps)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, gn_w, gn_b, conv_w, conv_b, skip_w, skip_b, groups, eps, chunks = inputs
        ctx.save_for_backward(x, gn_w, gn_b, conv_w, skip_w)
        ctx.groups, ctx.eps, ctx.chunks = groups, eps, chunks

    @staticmethod
    def backward(ctx, g_conv, g_skip):
        x, gn_w, gn_b, conv_w, skip_w = ctx.saved_tensors
        c = x.shape[1]
        per = c // ctx.chunks
        parts = []
        for k in range(ctx.chunks):
            sl = slice(k * per, (k + 1) * per)
            ga = _conv_input_grad(g_conv, conv_w[:, sl], 1)
            gx = gn_silu_backward(x[:, sl], gn_w[sl], gn_b[sl], ctx.groups // ctx.chunks, ctx.eps, ga, 1)
            parts.append(gx + _conv_input_grad(g_skip, skip_w[:, sl], 0))
        return (torch.cat(parts, dim=1),) + (None,) * 9


@torch.library.custom_op("disco_bench::entry", mutates_args=())
def _entry_op(x: Tensor, gn_w: Tensor, gn_b: Tensor, conv_w: Tensor, conv_b: Tensor, skip_w: Tensor,
              skip_b: Tensor, groups: int, eps: float, chunks: int) -> tuple[Tensor, Tensor]:
    return _entry(x, gn_w, gn_b, conv_w, conv_b, skip_w, skip_b, groups, eps)


@_entry_op.register_fake
def _(x, gn_w, gn_b, conv_w, conv_b, skip_w, skip_b, groups, eps, chunks):
    shape = (x.shape[0], conv_w.shape[0], x.shape[2], x.shape[3])
    return x.new_empty(shape), x.new_empty(shape)


def _entry_apply(x, gn_w, gn_b, conv_w, conv_b, skip_w, skip_b, groups, eps, chunks):
    return _Entry.apply(x, gn_w, gn_b, conv_w, conv_b, skip_w, skip_b, groups, eps, chunks)


def _entry_forward(x, gn_w, gn_b, conv_w, conv_b, skip_w, skip_b, groups, eps, chunks):
    return _entry(x, gn_w, gn_b, conv_w, conv_b, skip_w, skip_b, groups, eps)


@contextlib.contextmanager
def _chunked_op_registered():
    """The op is pointed at its autograd Function for the VJP trace as layers.py's own ops are, for this
    export only."""
    ops = {torch.ops.disco_bench.gn_silu.default: (_gn_silu_apply, gn_silu),
           torch.ops.disco_bench.entry.default: (_entry_apply, _entry_forward)}
    decompositions = layers.decompositions
    layers._FUNCTIONS.update({op: f for op, (f, _) in ops.items()})
    layers.decompositions = lambda: decompositions() | {op: d for op, (_, d) in ops.items()}
    try:
        yield
    finally:
        for op in ops:
            del layers._FUNCTIONS[op]
        layers.decompositions = decompositions


class Block(nn.Module):
    """A ResBlock 384 -> 128 with scale-shift norm (DD's 512 model's ``out18``), time embedding from t."""

    def __init__(self, chunks=None, entry=False):
        super().__init__()
        torch.manual_seed(0)
        self.block = ResBlock(CHANNELS_IN, EMB, CHANNELS_OUT, GROUPS, True)
        self.emb = nn.Linear(1, EMB)
        self.chunks, self.entry = chunks, entry

    def forward(self, h, t):
        rb = self.block
        norm, conv, skip = rb.in_layers[0], rb.in_layers[2], rb.skip_connection
        if self.entry:
            c1, s = torch.ops.disco_bench.entry(h, norm.weight, norm.bias, conv.weight, conv.bias, skip.weight,
                                                 skip.bias, norm.num_groups, norm.eps, self.chunks)
        else:
            if self.chunks:
                a = torch.ops.disco_bench.gn_silu(h, norm.weight, norm.bias, norm.num_groups, norm.eps, self.chunks)
            else:
                a = rb.in_layers[1](norm(h))
            c1, s = conv(a), skip(h)
        scale, shift = rb.emb_layers(self.emb(t[:, None]))[:, :, None, None].chunk(2, dim=1)
        y = rb.out_layers[0](c1) * (1 + scale) + shift
        return s + rb.out_layers[3](rb.out_layers[1](y))


def _spec(name, chunks, entry):
    def sample(batch, gen, size):
        return [torch.randn(batch, CHANNELS_IN, *size, generator=gen), torch.rand(batch, generator=gen) * 1000]

    h = TensorSpec("h", "float32", ["B", CHANNELS_IN, "H", "W"])
    out = ["B", CHANNELS_OUT, "H", "W"]
    return GraphSpec(name, Block(chunks, entry), [h, TensorSpec("t", "float32", ["B"])],
                     [TensorSpec("h_out", "float32", out), TensorSpec("grad_h", "float32", h.shape)], sample,
                     vjp=True, upstream=TensorSpec("upstream", "float32", out), multiple=8)


def _inputs(size, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(1, CHANNELS_IN, *size, generator=g), torch.rand(1, generator=g) * 1000,
            torch.randn(1, CHANNELS_OUT, *size, generator=g))


def measure(path, size):
    """(seconds, GB the run adds to the process's resident set at its peak) of one lean-session run."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.add_session_config_entry("optimization.disable_specified_optimizers", "ConstantFolding")
    so.enable_cpu_mem_arena = False
    so.enable_mem_pattern = False
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    h, t, up = (a.numpy() for a in _inputs(size, 1))

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1e6

    before = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident set
    t0 = time.perf_counter()
    session.run(["grad_h"], {"h": h, "t": t, "upstream": up})
    return time.perf_counter() - t0, status("VmHWM") - before


def rel_error(path, size):
    import onnxruntime as ort

    h, t, up = _inputs(size, 2)
    hr = h.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(Block().eval()(hr, t), hr, up)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["grad_h"], {"h": h.numpy(), "t": t.numpy(), "upstream": up.numpy()})[0]
    return float((torch.from_numpy(got) - want).norm() / want.norm())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, nargs=2, default=(384, 640), metavar=("H", "W"))
    ap.add_argument("--chunks", type=int, nargs="*", default=[8, 32])
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one run in a fresh process
    args = ap.parse_args(argv)
    if args.measure:
        print(*measure(args.measure, tuple(args.size)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    print(f"ResBlock {CHANNELS_IN}->{CHANNELS_OUT} VJP at {args.size[0]}x{args.size[1]}, lean ORT session, 2 threads; "
          f"load average {load:.2f}\n")
    print("| variant | export (s) | rel. error vs autograd | run (s) | peak added (GB) |\n| --- | --- | --- | --- | --- |")
    variants = [("autograd", None, False, "block_autograd")]
    variants += [(f"GroupNorm+SiLU, {n} chunks", n, False, f"block_chunked{n}") for n in args.chunks]
    variants += [(f"entry (GroupNorm+SiLU+conv, skip), {n} chunks", n, True, f"block_entry{n}") for n in args.chunks]
    for name, chunks, entry, stem in variants:
        path = args.out / f"{stem}.onnx"
        with _chunked_op_registered():
            seconds = build_graph(_spec(stem, chunks, entry), path)
        err = rel_error(path, (48, 80))
        run = subprocess.run([sys.executable, "-m", "disco_export.bench_norm_act", "--out", str(args.out),
                              "--size", *map(str, args.size), "--measure", str(path)],
                             check=True, capture_output=True, text=True)
        wall, added = map(float, run.stdout.split())
        print(f"| {name} | {seconds:.1f} | {err:.1e} | {wall:.2f} | {added:.2f} |", flush=True)


if __name__ == "__main__":
    main()
