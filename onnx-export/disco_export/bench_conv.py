"""Per-layer-shape micro-benchmark: the input gradient of a convolution in ONNX Runtime (CPU), as ONNX's
``ConvTranspose`` versus the exact alternatives ``export._convolution_backward`` can emit.

    python -m disco_export.bench_conv [--runs 5] [--scale 1] [--only secondary,rn50] [--threads 2]

For each convolution shape that the real Disco Diffusion models use (the secondary model and LPIPS-VGG16 at
512x512, CLIP RN50 at batch 16 x 224x224, the 512x512 guided-diffusion UNet at batch 1), one small graph per
formulation maps the upstream gradient dy: (B, C_out, H_out, W_out) to dx: (B, C_in, H, W):

- ``convT``: ``ConvTranspose(dy, w)`` with the forward convolution's strides, pads and output padding;
- ``flip``: stride 1 only, ``Conv(dy, w')`` with w' the spatially flipped weights with in/out channels swapped
  (per group), padding d(k-1)-p;
- ``poly``: stride s > 1, the polyphase split: one ``Conv`` of the s² sub-kernels (each flipped, zero-padded to
  ceil(k/s)) giving s²·C_in channels, ``DepthToSpace`` (DCR) and a crop;
- ``zins``: stride s > 1, zero insertion (dy spread onto an s-times finer grid) and a stride-1 ``Conv`` with w'.

The weights are graph initializers already in their final layout (the exported graphs get the same after ONNX
Runtime's constant folding). Every formulation is checked against ``convT`` before it is timed. Times are the
median of ``--runs`` runs after one warm-up run, in milliseconds. A second table times the elementwise
backward steps that sit between the convolutions (ReLU's backward as ``Where`` versus a multiply by the mask,
the 2x2 average pool's backward as ``Expand``+``Reshape`` versus ``Resize``). The mask multiply is not what
the export uses: it is not exact where the incoming gradient is not finite (see export.decomposition_table).
"""

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


@dataclass(frozen=True)
class ConvShape:
    model: str
    what: str
    batch: int
    c_in: int
    c_out: int
    size: int  # the forward input's H = W
    k: int
    stride: int = 1
    pad: int = 0
    groups: int = 1
    dilation: int = 1
    dims: int = 2

    def out_size(self, size=None):
        size = self.size if size is None else size
        return (size + 2 * self.pad - self.dilation * (self.k - 1) - 1) // self.stride + 1


# The convolutions of the real models (sizes as Disco Diffusion runs them at 512x512; CLIP at 224 with 16 cuts).
SHAPES = [
    # secondary model (c = 64), batch 1 at 512x512: 3x3 pad 1 everywhere, average pools between levels
    ConvShape("secondary", "in 19->64", 1, 19, 64, 512, 3, pad=1),
    ConvShape("secondary", "64->64", 1, 64, 64, 512, 3, pad=1),
    ConvShape("secondary", "128->128", 1, 128, 128, 256, 3, pad=1),
    ConvShape("secondary", "256->256", 1, 256, 256, 64, 3, pad=1),
    ConvShape("secondary", "512->512", 1, 512, 512, 16, 3, pad=1),
    ConvShape("secondary", "out 64->3", 1, 64, 3, 512, 3, pad=1),
    # CLIP RN50 image tower, batch 16 at 224x224: the stride-2 stem conv, 3x3 and 1x1 bottleneck convs
    ConvShape("rn50", "stem 3->32 s2", 16, 3, 32, 224, 3, stride=2, pad=1),
    ConvShape("rn50", "stem 32->32", 16, 32, 32, 112, 3, pad=1),
    ConvShape("rn50", "stem 32->64", 16, 32, 64, 112, 3, pad=1),
    ConvShape("rn50", "l1 1x1 256->64", 16, 256, 64, 56, 1),
    ConvShape("rn50", "l1 3x3 64->64", 16, 64, 64, 56, 3, pad=1),
    ConvShape("rn50", "l1 1x1 64->256", 16, 64, 256, 56, 1),
    ConvShape("rn50", "l3 3x3 256->256", 16, 256, 256, 14, 3, pad=1),
    ConvShape("rn50", "l3 1x1 1024->256", 16, 1024, 256, 14, 1),
    ConvShape("rn50", "l4 3x3 512->512", 16, 512, 512, 7, 3, pad=1),
    # CLIP ViT patch embeddings (kernel = stride = patch), batch 16 at 224x224
    ConvShape("vit", "B/32 patch 3->768", 16, 3, 768, 224, 32, stride=32),
    ConvShape("vit", "B/16 patch 3->768", 16, 3, 768, 224, 16, stride=16),
    # LPIPS-VGG16, batch 1 at 512x512
    ConvShape("lpips", "3->64", 1, 3, 64, 512, 3, pad=1),
    ConvShape("lpips", "128->128", 1, 128, 128, 256, 3, pad=1),
    ConvShape("lpips", "256->256", 1, 256, 256, 128, 3, pad=1),
    ConvShape("lpips", "512->512", 1, 512, 512, 64, 3, pad=1),
    # 512x512 guided-diffusion UNet (256 channels, mult 0.5,1,1,2,2,4,4), batch 1
    ConvShape("unet", "128->128 @512", 1, 128, 128, 512, 3, pad=1),
    ConvShape("unet", "256->256 @128", 1, 256, 256, 128, 3, pad=1),
    ConvShape("unet", "1x1 skip 256->512", 1, 256, 512, 64, 1),
    ConvShape("unet", "1024->1024 @16", 1, 1024, 1024, 16, 3, pad=1),
    ConvShape("unet", "qkv conv1d 512->1536", 1, 512, 1536, 64 * 64, 1, dims=1),
    # shapes no real model has, to check the formulations' generality (padding 0, odd sizes, groups, dilation)
    ConvShape("check", "s2 k3 p0 odd", 2, 8, 16, 33, 3, stride=2),
    ConvShape("check", "s2 k4 p1", 2, 8, 16, 32, 4, stride=2, pad=1),
    ConvShape("check", "patch k16 s16", 2, 3, 64, 64, 16, stride=16),
    ConvShape("check", "groups 4", 2, 16, 32, 31, 3, pad=1, groups=4),
    ConvShape("check", "dilation 2", 2, 8, 8, 30, 3, pad=2, dilation=2),
]


def _weights(shape, rng):
    kernel = (shape.k,) * shape.dims
    return rng.standard_normal((shape.c_out, shape.c_in // shape.groups) + kernel).astype(np.float32) * 0.05


def flipped_weights(w, groups):
    """(C_out, C_in/g, *K) -> (C_in, C_out/g, *K) with every spatial axis reversed: the stride-1 input gradient
    as a convolution."""
    c_out, c_in_g = w.shape[:2]
    k = w.shape[2:]
    wg = w.reshape((groups, c_out // groups, c_in_g) + k).swapaxes(1, 2)
    wg = wg[(slice(None),) * 3 + (slice(None, None, -1),) * len(k)]
    return np.ascontiguousarray(wg.reshape((groups * c_in_g, c_out // groups) + k))


def polyphase_weights(w, stride):
    """(C_out, C_in, K, K) -> (s²·C_in, C_out, M, M), M = ceil(K/s): for phase (r, c), channel block r·s + c holds
    the flipped sub-kernel w[:, :, r::s, c::s] (zero-padded to M at the far end before the flip)."""
    c_out, c_in, k, _ = w.shape
    m = -(-k // stride)
    out = np.zeros((stride * stride, c_in, c_out, m, m), np.float32)
    for r in range(stride):
        for c in range(stride):
            sub = w[:, :, r::stride, c::stride].transpose(1, 0, 2, 3)
            padded = np.zeros((c_in, c_out, m, m), np.float32)
            padded[:, :, : sub.shape[2], : sub.shape[3]] = sub
            out[r * stride + c] = padded[:, :, ::-1, ::-1]
    return np.ascontiguousarray(out.reshape(stride * stride * c_in, c_out, m, m))


def _model(nodes, inits, dy_shape, dx_shape):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("dy", TensorProto.FLOAT, list(dy_shape))],
        [helper.make_tensor_value_info("dx", TensorProto.FLOAT, list(dx_shape))],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


def build(shape, kind, w):
    """The ONNX model of one formulation, or None where it does not apply."""
    n, s, k, p, d, g = shape.dims, shape.stride, shape.k, shape.pad, shape.dilation, shape.groups
    o = shape.out_size()
    dy_shape = (shape.batch, shape.c_out) + (o,) * n
    dx_shape = (shape.batch, shape.c_in) + (shape.size,) * n
    if kind == "convT":
        op = shape.size - ((o - 1) * s - 2 * p + d * (k - 1) + 1)
        node = helper.make_node("ConvTranspose", ["dy", "w"], ["dx"], strides=[s] * n, pads=[p] * 2 * n,
                                dilations=[d] * n, group=g, output_padding=[op] * n, kernel_shape=[k] * n)
        return _model([node], {"w": w}, dy_shape, dx_shape)
    if kind == "flip":
        pad = d * (k - 1) - p
        if s != 1 or pad < 0:
            return None
        node = helper.make_node("Conv", ["dy", "w"], ["dx"], pads=[pad] * 2 * n, dilations=[d] * n, group=g,
                                kernel_shape=[k] * n)
        return _model([node], {"w": flipped_weights(w, g)}, dy_shape, dx_shape)
    if s == 1 or g != 1 or d != 1 or n != 2:
        return None
    if kind == "poly":
        m = -(-k // s)
        pad_r = max(0, -(-(k - 1 - p) // s))
        full = s * (o + pad_r)
        nodes = [
            helper.make_node("Conv", ["dy", "w"], ["phases"], pads=[m - 1, m - 1, pad_r, pad_r],
                             kernel_shape=[m, m]),
            helper.make_node("DepthToSpace", ["phases"], ["full"], blocksize=s, mode="DCR"),
            helper.make_node("Slice", ["full", "starts", "ends", "axes"], ["dx"]),
        ]
        assert full >= p + shape.size
        inits = {"w": polyphase_weights(w, s), "starts": np.array([p, p], np.int64),
                 "ends": np.array([p + shape.size] * 2, np.int64), "axes": np.array([2, 3], np.int64)}
        return _model(nodes, inits, dy_shape, dx_shape)
    if kind == "zins":
        pad_l = k - 1 - p
        if pad_l < 0 or k > 2 * s:  # a (k/s)²-times larger convolution than the others: not worth timing
            return None
        pad_r = shape.size - s * o + p
        # dy (B, C, O, O) -> (B, C, O, 1, O, 1) -> zero-padded to (B, C, O, s, O, s) -> (B, C, sO, sO)
        nodes = [
            helper.make_node("Unsqueeze", ["dy", "ax"], ["u"]),
            helper.make_node("Pad", ["u", "zpads"], ["z"]),
            helper.make_node("Reshape", ["z", "zshape"], ["dyz"]),
            helper.make_node("Conv", ["dyz", "w"], ["dx"], pads=[pad_l, pad_l, pad_r, pad_r], kernel_shape=[k, k]),
        ]
        inits = {"w": flipped_weights(w, 1), "ax": np.array([3, 5], np.int64),
                 "zpads": np.array([0] * 6 + [0, 0, 0, s - 1, 0, s - 1], np.int64),
                 "zshape": np.array([shape.batch, shape.c_out, s * o, s * o], np.int64)}
        return _model(nodes, inits, dy_shape, dx_shape)
    raise ValueError(kind)


def session(model, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def time_ms(sess, feeds, runs):
    sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


KINDS = ["convT", "flip", "poly", "zins"]


def bench_shape(shape, runs, threads, rng):
    w = _weights(shape, rng)
    o = shape.out_size()
    dy = rng.standard_normal((shape.batch, shape.c_out) + (o,) * shape.dims).astype(np.float32)
    feeds = {"dy": dy}
    ref = None
    row = {}
    for kind in KINDS:
        model = build(shape, kind, w)
        if model is None:
            continue
        sess = session(model, threads)
        out = sess.run(None, feeds)[0]
        if ref is None:
            ref = out
        else:
            err = float(np.linalg.norm(out - ref) / np.linalg.norm(ref))
            if err > 1e-5:
                raise AssertionError(f"{shape}: {kind} differs from ConvTranspose (relative error {err:.2e})")
        row[kind] = time_ms(sess, feeds, runs)
    return row


# --- elementwise backward steps ------------------------------------------------------------------------------

def _ew_model(nodes, inputs, out_shape, inits):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v)) for k, v in inputs.items()],
        [helper.make_tensor_value_info("dx", TensorProto.FLOAT, list(out_shape))],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


def elementwise_models(b, c, h, w):
    shape = (b, c, h, w)
    relu_where = _ew_model([
        helper.make_node("LessOrEqual", ["y", "zero"], ["le"]),
        helper.make_node("Where", ["le", "zero", "g"], ["dx"]),
    ], {"y": shape, "g": shape}, shape, {"zero": np.array(0.0, np.float32)})
    relu_mul = _ew_model([
        helper.make_node("Greater", ["y", "zero"], ["gt"]),
        helper.make_node("Cast", ["gt"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["g", "mask"], ["dx"]),
    ], {"y": shape, "g": shape}, shape, {"zero": np.array(0.0, np.float32)})
    relu_sign = _ew_model([  # y = relu(x) >= 0, so sign(y) is the 0/1 mask
        helper.make_node("Sign", ["y"], ["mask"]),
        helper.make_node("Mul", ["g", "mask"], ["dx"]),
    ], {"y": shape, "g": shape}, shape, {})
    half = (b, c, h // 2, w // 2)
    pool_expand = _ew_model([
        helper.make_node("Mul", ["g", "quarter"], ["q"]),
        helper.make_node("Reshape", ["q", "s6"], ["q6"]),
        helper.make_node("Expand", ["q6", "e6"], ["e"]),
        helper.make_node("Reshape", ["e", "s4"], ["dx"]),
    ], {"g": half}, shape, {"quarter": np.array(0.25, np.float32),
                            "s6": np.array([b, c, h // 2, 1, w // 2, 1], np.int64),
                            "e6": np.array([b, c, h // 2, 2, w // 2, 2], np.int64),
                            "s4": np.array(shape, np.int64)})
    pool_resize = _ew_model([
        helper.make_node("Mul", ["g", "quarter"], ["q"]),
        helper.make_node("Resize", ["q", "", "scales"], ["dx"], mode="nearest", nearest_mode="floor",
                         coordinate_transformation_mode="asymmetric"),
    ], {"g": half}, shape, {"quarter": np.array(0.25, np.float32),
                            "scales": np.array([1, 1, 2, 2], np.float32)})
    return shape, [("relu bwd", "Where", relu_where), ("relu bwd", "Mul(Cast(Greater))", relu_mul),
                   ("relu bwd", "Mul(Sign)", relu_sign), ("avgpool bwd", "Expand+Reshape", pool_expand),
                   ("avgpool bwd", "Resize nearest", pool_resize)]


def bench_elementwise(runs, threads, rng, scale):
    rows = []
    for b, c, h in [(16, 64, 56), (16, 256, 56), (1, 64, 512)]:
        h = max(2, h // scale // 2 * 2)
        shape, models = elementwise_models(b, c, h, h)
        y = np.maximum(rng.standard_normal(shape).astype(np.float32), 0)
        g = rng.standard_normal(shape).astype(np.float32)
        gh = rng.standard_normal((b, c, h // 2, h // 2)).astype(np.float32)
        ref = {}
        for step, how, model in models:
            sess = session(model, threads)
            feeds = {"y": y, "g": g} if step == "relu bwd" else {"g": gh}
            out = sess.run(None, feeds)[0]
            if step in ref:
                np.testing.assert_allclose(out, ref[step], rtol=1e-6, atol=1e-7)
            else:
                ref[step] = out
            rows.append((f"{b}x{c}x{h}x{h}", step, how, time_ms(sess, feeds, runs)))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per graph (median reported; default 5)")
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default 2)")
    ap.add_argument("--scale", type=int, default=1, help="divide every spatial size by this (quick runs)")
    ap.add_argument("--only", default="", help="comma-separated model names (secondary,rn50,vit,lpips,unet,check)")
    ap.add_argument("--no-elementwise", action="store_true", help="skip the ReLU/avg-pool backward table")
    args = ap.parse_args(argv)
    import os
    import onnxruntime as ort

    only = {m for m in args.only.split(",") if m}
    rng = np.random.default_rng(0)
    print(f"onnxruntime {ort.__version__}, {args.threads} intra-op threads, ORT_ENABLE_ALL, median of {args.runs}; "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"{'model':<10} {'conv':<22} {'dy shape':<22} " + " ".join(f"{k:>8}" for k in KINDS) + "   best  convT/best")
    for shape in SHAPES:
        if only and shape.model not in only:
            continue
        if args.scale > 1:
            size = max(shape.k * 2 + 1, shape.size // args.scale)
            shape = ConvShape(**{**shape.__dict__, "size": size})
        row = bench_shape(shape, args.runs, args.threads, rng)
        best = min(row, key=row.get)
        dy = f"{shape.batch}x{shape.c_out}x" + "x".join([str(shape.out_size())] * shape.dims)
        cells = " ".join(f"{row[k]:8.2f}" if k in row else f"{'-':>8}" for k in KINDS)
        print(f"{shape.model:<10} {shape.what:<22} {dy:<22} {cells}   {best:<5} {row['convT'] / row[best]:6.2f}x",
              flush=True)
    if not args.no_elementwise:
        print()
        print(f"{'tensor':<18} {'step':<12} {'formulation':<20} {'ms':>8}")
        for t, step, how, ms in bench_elementwise(args.runs, args.threads, rng, args.scale):
            print(f"{t:<18} {step:<12} {how:<20} {ms:8.2f}", flush=True)


if __name__ == "__main__":
    main()
