"""Memory of the widest checkpoint segment's VJP, as exported today and with GroupNorm+SiLU recomputed per chunk.

The UNet path's peak at DD's default 1280x768 is one full-resolution decoder block's VJP (``out18`` of DD's 512
model: a ResBlock from 384 to 128 channels, docs/bench-render-step.md). This benchmark exports a block of that
shape (random weights) twice and runs each VJP in ONNX Runtime with the options of disco's lean sessions:

* ``autograd``: as the exporter writes it today; the backward keeps GroupNorm's and SiLU's outputs;
* ``chunked N``: GroupNorm+SiLU as one op whose backward saves only its input and recomputes the normalised
  activations channel chunk by channel chunk (N chunks, whole groups each), so only a chunk's temporaries live.

It prints, per variant, the relative error of grad_h against PyTorch autograd (fresh random inputs), the run time
and the peak resident memory the run adds to its inputs and session. The exporter does not use the chunked form;
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


@contextlib.contextmanager
def _chunked_op_registered():
    """The op is pointed at its autograd Function for the VJP trace as layers.py's own ops are, for this
    export only."""
    op = torch.ops.disco_bench.gn_silu.default
    decompositions = layers.decompositions
    layers._FUNCTIONS[op] = _gn_silu_apply
    layers.decompositions = lambda: decompositions() | {op: gn_silu}
    try:
        yield
    finally:
        del layers._FUNCTIONS[op]
        layers.decompositions = decompositions


class Block(nn.Module):
    """A ResBlock 384 -> 128 with scale-shift norm (DD's 512 model's ``out18``), time embedding from t."""

    def __init__(self, chunks=None):
        super().__init__()
        torch.manual_seed(0)
        self.block = ResBlock(CHANNELS_IN, EMB, CHANNELS_OUT, GROUPS, True)
        self.emb = nn.Linear(1, EMB)
        self.chunks = chunks

    def forward(self, h, t):
        rb = self.block
        if self.chunks:
            norm = rb.in_layers[0]
            a = torch.ops.disco_bench.gn_silu(h, norm.weight, norm.bias, norm.num_groups, norm.eps, self.chunks)
        else:
            a = rb.in_layers[1](rb.in_layers[0](h))
        scale, shift = rb.emb_layers(self.emb(t[:, None]))[:, :, None, None].chunk(2, dim=1)
        y = rb.out_layers[0](rb.in_layers[2](a)) * (1 + scale) + shift
        return rb.skip_connection(h) + rb.out_layers[3](rb.out_layers[1](y))


def _spec(name, chunks):
    def sample(batch, gen, size):
        return [torch.randn(batch, CHANNELS_IN, *size, generator=gen), torch.rand(batch, generator=gen) * 1000]

    h = TensorSpec("h", "float32", ["B", CHANNELS_IN, "H", "W"])
    out = ["B", CHANNELS_OUT, "H", "W"]
    return GraphSpec(name, Block(chunks), [h, TensorSpec("t", "float32", ["B"])],
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


def rel_error(path, size, chunks):
    import onnxruntime as ort

    h, t, up = _inputs(size, 2)
    hr = h.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(Block(chunks=None).eval()(hr, t), hr, up)
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
    for chunks in [None, *args.chunks]:
        name = "autograd" if chunks is None else f"chunked {chunks}"
        path = args.out / ("block_autograd.onnx" if chunks is None else f"block_chunked{chunks}.onnx")
        with _chunked_op_registered():
            seconds = build_graph(_spec(path.stem, chunks), path)
        err = rel_error(path, (48, 80), chunks)
        run = subprocess.run([sys.executable, "-m", "disco_export.bench_norm_act", "--out", str(args.out),
                              "--size", *map(str, args.size), "--measure", str(path)],
                             check=True, capture_output=True, text=True)
        wall, added = map(float, run.stdout.split())
        print(f"| {name} | {seconds:.1f} | {err:.1e} | {wall:.2f} | {added:.2f} |", flush=True)


if __name__ == "__main__":
    main()
