"""Export-friendly building blocks shared by the model families.

The resampling helpers below are written with reshapes, slices and elementwise maths only, so that their
backward passes decompose into plain ONNX operators (no ``avg_pool2d_backward`` or ``upsample_*_backward``).
Each one is exactly equal (up to float rounding) to the PyTorch layer named in its docstring.

Two of them carry their own backward, chosen for what ONNX Runtime runs fast (docs/bench-render-step.md,
"Elementwise backward steps"): the 2x2 average pool's is a nearest-neighbour ``Resize`` of g/4 (autograd's
Expand + Reshape of the mean is 2.5-35x slower), and ``relu_finite``'s is g · (y > 0) (ORT's ``Where`` is
2.3-3.7x slower). Both give exactly autograd's values. In eager mode they are the plain ops; while exporting
(``attention.exporting()``) they are the custom ops ``disco::avg_pool2x2`` and ``disco::relu_finite``, which stay
opaque through ``torch.export`` (which would otherwise inline them and lose the backward) and are pointed at
their autograd Functions before the VJP is traced (``differentiable``), as the chunked attention is.
"""

import torch
from torch import Tensor

from . import attention


def _mean2x2(x):
    b, c, h, w = x.shape
    return x.reshape(b, c, h // 2, 2, w // 2, 2).mean(dim=(3, 5))


class _AvgPool2x2(torch.autograd.Function):
    """The 2x2 mean with the backward g/4 repeated over each window: a ``Resize`` (nearest) in a graph."""

    @staticmethod
    def forward(x):
        return _mean2x2(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        # x0.25 is exact, as autograd's division of the mean's gradient by 4 is
        return torch.ops.disco.resize_nearest2x(g * 0.25)


class _ReluFinite(torch.autograd.Function):
    """ReLU whose backward multiplies by the mask (y > 0) instead of selecting with it."""

    @staticmethod
    def forward(x):
        return torch.relu(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (y > 0).to(g.dtype)


@torch.library.custom_op("disco::avg_pool2x2", mutates_args=())
def _avg_pool_op(x: Tensor) -> Tensor:
    return _mean2x2(x)


@_avg_pool_op.register_fake
def _(x):
    return x.new_empty(x.shape[0], x.shape[1], x.shape[2] // 2, x.shape[3] // 2)


@torch.library.custom_op("disco::resize_nearest2x", mutates_args=())
def _resize_op(x: Tensor) -> Tensor:
    """Nearest x2 upsampling, written into graphs as ONNX ``Resize`` (``onnx_translations``): tracing would
    otherwise decompose ``interpolate`` into index gathers."""
    return torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")


@_resize_op.register_fake
def _(x):
    return x.new_empty(x.shape[0], x.shape[1], 2 * x.shape[2], 2 * x.shape[3])


def onnx_translations():
    """ONNX lowerings of the custom ops that reach the ONNX exporter (torch.onnx's custom_translation_table)."""
    from onnxscript import opset20 as op

    def resize_nearest2x(x):
        scales = op.Constant(value_floats=[1.0, 1.0, 2.0, 2.0])
        return op.Resize(x, None, scales, mode="nearest", nearest_mode="floor",
                         coordinate_transformation_mode="asymmetric")

    return {torch.ops.disco.resize_nearest2x.default: resize_nearest2x}


@torch.library.custom_op("disco::relu_finite", mutates_args=())
def _relu_op(x: Tensor) -> Tensor:
    return torch.relu(x)


@_relu_op.register_fake
def _(x):
    return torch.empty_like(x)


def avg_pool2x2(x):
    """2x2 average pooling with stride 2, like ``nn.AvgPool2d(2)`` on even sizes.

    x: shape (B, C, H, W) with H, W even -> shape (B, C, H/2, W/2).
    """
    return torch.ops.disco.avg_pool2x2(x) if attention.is_exporting() else _mean2x2(x)


def relu_finite(x):
    """``torch.relu`` for networks whose incoming gradients are always finite (CLIP's ResNets, the secondary
    model): its exported backward g · (y > 0) equals autograd's where(y <= 0, 0, g) for finite g, and is NaN where
    g is not finite, which is why LPIPS (0/0 in the backward of its feature normalisation) keeps ``torch.relu``."""
    return torch.ops.disco.relu_finite(x) if attention.is_exporting() else torch.relu(x)


def _avg_pool_apply(x):  # module-level functions: fx names the targets it calls
    return _AvgPool2x2.apply(x)


def _relu_apply(x):
    return _ReluFinite.apply(x)


_FUNCTIONS = {torch.ops.disco.avg_pool2x2.default: _avg_pool_apply,
              torch.ops.disco.relu_finite.default: _relu_apply}


def differentiable(gm):
    """Point this module's custom op nodes of an fx GraphModule at their autograd Functions (so torch.func.vjp runs
    their own backward). Returns the number of nodes changed."""
    n = 0
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target in _FUNCTIONS:
            node.target = _FUNCTIONS[node.target]
            n += 1
    gm.recompile()
    return n


def decompositions():
    """The custom ops' forwards as ATen ops (forward graphs, and the VJP trace's lowering)."""
    return {torch.ops.disco.avg_pool2x2.default: _mean2x2, torch.ops.disco.relu_finite.default: torch.relu}


def max_pool2x2(x):
    """2x2 max pooling with stride 2, like ``nn.MaxPool2d(2, 2)`` (floor mode: an odd last row/column is dropped).

    x: shape (B, C, H, W) -> shape (B, C, H//2, W//2). Ties share the gradient (only zeros after a ReLU tie, and
    those carry no gradient through the ReLU), so the VJP equals max_pool2d's.
    """
    b, c, h, w = x.shape
    x = x[:, :, : (h // 2) * 2, : (w // 2) * 2]
    return x.reshape(b, c, h // 2, 2, w // 2, 2).amax(dim=(3, 5))


def upsample_nearest2x(x):
    """Nearest-neighbour x2 upsampling, like ``F.interpolate(x, scale_factor=2, mode="nearest")``.

    x: shape (B, C, H, W) -> shape (B, C, 2H, 2W).
    """
    b, c, h, w = x.shape
    return x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)


def _bilinear2x_axis(x, dim):
    """Bilinear x2 along one axis with PyTorch's ``align_corners=False`` source-index rule.

    Output 2i reads source i - 1/4, output 2i+1 reads i + 1/4, both clamped to the edge:
    even = x[i-1]/4 + 3x[i]/4, odd = 3x[i]/4 + x[i+1]/4 with replicated borders.
    """
    n = x.shape[dim]
    prev = torch.cat([x.narrow(dim, 0, 1), x.narrow(dim, 0, n - 1)], dim=dim)
    nxt = torch.cat([x.narrow(dim, 1, n - 1), x.narrow(dim, n - 1, 1)], dim=dim)
    even = 0.25 * prev + 0.75 * x
    odd = 0.75 * x + 0.25 * nxt
    out = torch.stack([even, odd], dim=dim + 1)
    shape = list(x.shape)
    shape[dim] = 2 * n
    return out.reshape(shape)


def upsample_bilinear2x(x):
    """Bilinear x2 upsampling, like ``nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)``.

    x: shape (B, C, H, W) with H, W >= 2 -> shape (B, C, 2H, 2W).
    """
    return _bilinear2x_axis(_bilinear2x_axis(x, 2), 3)


def subsample2x(x):
    """Every second row and column starting at 0, like ``x[:, :, ::2, ::2]`` on even sizes.

    x: shape (B, C, H, W) with H, W even -> shape (B, C, H/2, W/2). Written as a masked 2x2 sum so that its
    backward pass is a broadcast multiply: a stride-2 convolution whose input size is symbolic would otherwise
    need a ConvTranspose output padding that only the concrete size determines.
    """
    b, c, h, w = x.shape
    mask = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=x.dtype, device=x.device).reshape(1, 1, 1, 2, 1, 2)
    return (x.reshape(b, c, h // 2, 2, w // 2, 2) * mask).sum(dim=(3, 5))
