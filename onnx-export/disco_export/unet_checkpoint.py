"""The UNet cut at its block boundaries, for gradient checkpointing (DD's ``use_checkpoint``).

guided-diffusion's ``use_checkpoint`` keeps only each block's input during the forward and recomputes the block
when the backward reaches it, which is how DD runs the UNet-guided path at 1280x768 on a 16 GB GPU. A whole-UNet
VJP graph cannot do that (ONNX has no recomputation: every activation the backward reads stays alive), so the
checkpointed path is exported as graphs:

* ``<prefix>_ckpt_fwd``: (x, t) -> eps_full plus every segment boundary (the input of each segment);
* one ``<prefix>_ckpt_<segment>_vjp`` per segment: (input, [t,] upstream) -> (output, grad_input). It recomputes
  only its own segment's forward, so the peak memory of the backward is the boundaries plus one segment's
  activations.

Segments, in forward order: ``in0`` .. ``in{n-1}`` (the encoder blocks), ``mid``, ``out0`` .. ``out{m-1}`` (the
decoder blocks) and ``head`` (GroupNorm, SiLU, conv; its output is eps = eps_full[:, :3]). A segment's input is
the channel concatenation of the tensors it names (a decoder block takes the previous output and its skip
connection), so every segment graph has one differentiated input and the runtime splits its gradient by the
channel counts. The manifest's ``checkpointed`` entry (``checkpoint_section``) lists the segments with their
inputs; the runtime walks them backwards, adding each segment's input gradient to the tensors it names.

An fp16 UNet (``convert_to_fp16``) keeps the graphs' I/O in fp32: the boundaries leave the forward as fp32 copies
of its fp16 tensors and each torso segment casts its input back (both exact), so the walk recomputes exactly what
the forward computed. Its graphs are named ``<prefix>_fp16_ckpt_...``.
"""

import torch
from torch import nn

from .unet import FP16_TOLERANCE, ResBlock, precision_prefix, timestep_embedding


def _uses_time(blocks):
    return any(isinstance(m, ResBlock) for b in blocks for m in b.modules())


class Segment(nn.Module):
    """Blocks of a UNet run in order on one input: (h: (B, C_in, h, w)[, t: (B,)]) -> (B, C_out, h', w')."""

    def __init__(self, unet, blocks, uses_time, eps_only=False):
        super().__init__()
        self.unet_time = unet.time_embed if uses_time else None
        self.num_channels = unet.cfg.num_channels
        self.blocks = nn.ModuleList(blocks)
        self.eps_only = eps_only
        # the torso's precision (the head computes in fp32, like UNetModel.out)
        self.dtype = torch.float32 if eps_only else unet.dtype

    def forward(self, h, t=None):
        emb = None
        if self.unet_time is not None:
            emb = self.unet_time(timestep_embedding(t, self.num_channels))
        h = h.type(self.dtype)
        for block in self.blocks:
            h = block(h, emb)
        return h[:, :3] if self.eps_only else h.float()


class Boundaries(nn.Module):
    """(x, t) -> (eps_full, boundary tensors in ``segments(unet)`` order, x excluded)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x, t):
        u = self.unet
        emb = u.time_embed(timestep_embedding(t, u.cfg.num_channels))
        hs, outs = [], []
        h = x.type(u.dtype)
        for block in u.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = u.middle_block(h, emb)
        mid = h
        skips = list(hs)
        for block in u.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            outs.append(h)
        return (u.out(h.type(x.dtype)), *(b.float() for b in (*hs, mid, *outs)))


class _Head(nn.Module):
    """The output layers as a block: h -> eps_full."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, h, emb=None):
        return self.out(h)


class _Concat(nn.Module):
    """A decoder block with its input already concatenated (the runtime does the concatenation)."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, h, emb):
        return self.block(h, emb)


def boundary_names(unet):
    """The boundary tensors ``Boundaries`` returns after eps_full, in order."""
    n, m = len(unet.input_blocks), len(unet.output_blocks)
    return [f"in{i}" for i in range(n)] + ["mid"] + [f"out{j}" for j in range(m)]


def boundary_shapes(unet):
    """{tensor name: (channels, downsample factor)} for ``x`` and every boundary, read from one small forward."""
    mult = 2 ** (len(unet.cfg.channel_mult) - 1)
    x = torch.zeros(1, unet.cfg.in_channels, mult, mult)
    with torch.no_grad():
        outs = Boundaries(unet).eval()(x, torch.zeros(1))[1:]
    shapes = {"x": (unet.cfg.in_channels, 1)}
    for name, o in zip(boundary_names(unet), outs):
        shapes[name] = (o.shape[1], mult // o.shape[2])
    return shapes


def segments(unet):
    """[(name, module, [input tensor names], uses t, size multiple of its input)] in forward order. A segment's
    output is the tensor of its name (``head``'s is eps); ``x`` is the UNet's input."""
    shapes = boundary_shapes(unet)
    out = []
    prev, encoder = "x", []
    for i, block in enumerate(unet.input_blocks):
        name = f"in{i}"
        down, timed = shapes[name][1] > shapes[prev][1], _uses_time([block])
        out.append((name, Segment(unet, [block], timed), [prev], timed, 2 if down else 1))
        encoder.append(name)
        prev = name
    out.append(("mid", Segment(unet, [unet.middle_block], True), [prev], True, 1))
    prev = "mid"
    for j, block in enumerate(unet.output_blocks):
        name = f"out{j}"
        out.append((name, Segment(unet, [_Concat(block)], True), [prev, encoder.pop()], True, 1))
        prev = name
    out.append(("head", Segment(unet, [_Head(unet.out)], False, eps_only=True), [prev], False, 1))
    return out


def _axis(symbol, down, up=1):
    """The symbolic axis of a tensor downsampled ``down`` or upsampled ``up`` times relative to ``symbol``."""
    if down > 1:
        return f"{symbol}/{down}"
    return f"{up}{symbol}" if up > 1 else symbol


def graph_specs(model):
    """The checkpointed UNet's graphs: (boundary forward GraphSpec, [(segment name, VJP GraphSpec, input names,
    uses t)]).

    Boundary forward: (x (B,3,H,W), t (B,)) -> (eps_full, in0 .. mid .. out{m-1}), boundary k of shape
    (B, C_k, H/s_k, W/s_k). Segment VJP: (h (B, C_in, H, W)[, t], upstream) -> (h_out, grad_h), where H, W
    are the segment input's own height and width and upstream is shaped like h_out (eps (B,3,H,W) for
    ``head``).
    """
    from .export import GraphSpec, TensorSpec
    from .unet import sample_inputs
    m = 2 ** (len(model.cfg.channel_mult) - 1)
    prefix = precision_prefix(model)
    tol = FP16_TOLERANCE if model.dtype == torch.float16 else None
    shapes = boundary_shapes(model)
    img = ["B", 3, "H", "W"]
    x, t = TensorSpec("x", "float32", img), TensorSpec("t", "float32", ["B"])
    outs = [TensorSpec("eps_full", "float32", ["B", model.cfg.out_channels, "H", "W"])]
    for name in boundary_names(model):
        c, s = shapes[name]
        outs.append(TensorSpec(name, "float32", ["B", c, _axis("H", s), _axis("W", s)]))
    meta = {"size_multiple": m}
    fwd = GraphSpec(f"{prefix}_ckpt_fwd", Boundaries(model), [x, t], outs, sample_inputs, multiple=m, meta=meta,
                    tolerance=tol)
    segs = []
    for name, module, inputs, uses_t, mult in segments(model):
        c_in = sum(shapes[i][0] for i in inputs)
        s_in = shapes[inputs[0]][1]
        if name == "head":
            c_out, s_out, out_name = 3, 1, "eps"
        else:
            (c_out, s_out), out_name = shapes[name], "h_out"
        h = TensorSpec("h", "float32", ["B", c_in, "H", "W"])
        down, up = max(1, s_out // s_in), max(1, s_in // s_out)
        out_shape = ["B", c_out, _axis("H", down, up), _axis("W", down, up)]
        specs_in = [h, t] if uses_t else [h]
        sampler = _segment_sampler(c_in, uses_t)
        spec = GraphSpec(f"{prefix}_ckpt_{name}_vjp", module, specs_in,
                         [TensorSpec(out_name, "float32", out_shape), TensorSpec("grad_h", "float32", h.shape)],
                         sampler, vjp=True, upstream=TensorSpec("upstream", "float32", out_shape), multiple=mult,
                         # the smallest feature map the segment meets (at the smallest image the UNet takes)
                         meta={"min_side": max(mult, m // s_in)}, tolerance=tol)
        segs.append((name, spec, inputs, uses_t))
    return fwd, segs


def _segment_sampler(channels, uses_t):
    def sample(batch, gen, size):
        h, w = size
        out = [torch.randn(batch, channels, h, w, generator=gen)]
        if uses_t:
            out.append(torch.rand(batch, generator=gen) * 1000)
        return out
    return sample


def checkpoint_section(fwd_name, segs):
    """The diffusion model's manifest ``checkpointed`` entry: the boundary forward and the segments in forward
    order, each with its graph, the tensors its input concatenates and whether it takes t."""
    return {"forward": fwd_name,
            "segments": [{"name": name, "graph": spec.name, "inputs": list(inputs), "time": bool(uses_t)}
                         for name, spec, inputs, uses_t in segs]}


def chain_vjp(run_forward, run_segment, section, x, t, upstream):
    """grad_x of eps = eps_full[:, :3] with cotangent ``upstream``, walking the checkpoint segments backwards
    (the algorithm the renderer implements). run_forward(x, t) -> {name: array} (eps_full and the boundaries);
    run_segment(graph, h, t or None, upstream) -> grad_h. Arrays are numpy."""
    import numpy as np
    values = dict(run_forward(x, t))
    values["x"] = x
    cot = {"eps": upstream}
    for seg in reversed(section["segments"]):
        out = "eps" if seg["name"] == "head" else seg["name"]
        up = cot.pop(out)
        h = np.concatenate([values[i] for i in seg["inputs"]], axis=1)
        g = run_segment(seg["graph"], h, t if seg["time"] else None, up)
        start = 0
        for i in seg["inputs"]:
            c = values[i].shape[1]
            part = g[:, start:start + c]
            cot[i] = cot[i] + part if i in cot else part
            start += c
    return cot["x"]
