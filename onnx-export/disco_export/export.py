"""Export forward and VJP (vector-Jacobian product) graphs to ONNX, following shared/export-recipe.md.

Three stages:
1. ``torch.export`` the forward module with a dynamic batch dimension ``B`` and, for image-size-dependent
   models, dynamic height and width ``H = m·hk``, ``W = m·wk`` (m = the model's size multiple), with SDPA
   forced to the MATH kernel, then ``run_decompositions``;
2. for a VJP graph, ``make_fx(functionalize(vjp_fn))`` traced on FakeTensors whose batch (and H, W) axes are
   dynamic, with extra decompositions (``convolution_backward`` as a transposed convolution, ``empty_permuted``
   as zeros); arithmetic with a symbolic Python scalar (GroupNorm's 1/(C·H·W) in the backward pass) is then
   rewritten as tensor arithmetic, which the ONNX translator can handle. The example sizes are chosen so that
   no feature map is 1 pixel wide (a size of 1 would be specialised) — e.g. 3m x 5m.
   The UNet's attention stays one opaque op (``disco::chunked_attention``, attention.py) through stage 1; forward
   graphs lower it to query slices, and stage 2 differentiates it with its own recomputing backward, so neither
   holds an N×N attention matrix. Such graphs are traced without ``functionalize`` (it has no rule for the
   autograd.Function); stage 3 functionalises them anyway;
3. ``torch.onnx.export(dynamo=True, external_data=False, optimize=False)`` to one file. The onnxscript optimizer
   (``optimize=True``) deletes additions of constants below ~1e-8 as if they were zero, which turns LPIPS's
   ``f / (‖f‖ + 1e-10)`` into NaN where a feature vector is zero; ONNX Runtime optimises the graph itself anyway.

This relies on private torch APIs; the torch version is pinned in requirements.txt.
"""

import contextlib
import logging
import warnings

import torch
from torch.export import Dim
from torch.fx.experimental.proxy_tensor import make_fx
from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext
from torch._subclasses.fake_tensor import FakeTensorMode

from . import attention, layers

# torch.onnx logs a warning per missing torchvision operator on every export; torchvision is not used.
logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)

OPSET = 20
MAX_BATCH = 4096
MAX_PROMPTS = 4096
MAX_SIDE = 8192


def _conv_output_padding(in_size, out_size, stride, padding, dilation, kernel):
    """ConvTranspose output padding that restores ``in_size``: in − ((out−1)s − 2p + d(k−1) + 1)."""
    return in_size - ((out_size - 1) * stride - 2 * padding + dilation * (kernel - 1) + 1)


# Below this many input channels (per group) ConvTranspose beats the flipped-weight Conv for the input gradient
# (LPIPS's 3->64 first layer: 30 vs 63 ms; the secondary model's 19->64: 114 vs 92 ms); see bench_conv.py.
FLIP_MIN_CHANNELS = 8


def _flipped_weight(weight, groups):
    """(C_out, C_in/g, *K) -> (C_in, C_out/g, *K), every spatial axis reversed: the weights of the convolution
    that is the stride-1 input gradient. Traced on the graph's constant, so ONNX Runtime folds it at load."""
    c_out, c_in_g = weight.shape[:2]
    k = list(weight.shape[2:])
    w = weight.reshape([groups, c_out // groups, c_in_g] + k).transpose(1, 2)
    w = w.reshape([groups * c_in_g, c_out // groups] + k)
    return torch.flip(w, list(range(2, 2 + len(k))))


def _convolution_backward(grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed,
                          output_padding, groups, output_mask):
    """``aten.convolution_backward``: grad_input as a convolution (stride 1) or a transposed convolution, and
    grad_bias as a sum.

    grad_output: (B, C_out, *S_out); input: (B, C_in, *S_in); weight: (C_out, C_in/groups, *K).
    With stride 1 (and d(k−1) ≥ p, C_in/groups ≥ FLIP_MIN_CHANNELS), grad_input is ``Conv(grad_output, w')``
    with w' the flipped, channel-swapped weights and padding d(k−1)−p, which ONNX Runtime runs 1.3–2.5x faster
    than the equal ``ConvTranspose`` (bench_conv.py); otherwise a ``ConvTranspose``.
    Weight gradients are not needed (parameters do not require grad) and are returned as None.
    """
    if transposed:
        raise NotImplementedError("convolution_backward of a transposed convolution")
    n_sp = weight.dim() - 2
    grad_input = grad_weight = grad_bias = None
    if output_mask[0]:
        kernel = weight.shape[2:]
        flip_pads = [dilation[i] * (kernel[i] - 1) - padding[i] for i in range(n_sp)]
        if (all(s == 1 for s in stride) and all(p >= 0 for p in flip_pads)
                and weight.shape[1] >= FLIP_MIN_CHANNELS):
            # stride 1: out = in + 2p − d(k−1), so padding d(k−1) − p on both sides gives back in exactly
            grad_input = torch.ops.aten.convolution.default(
                grad_output, _flipped_weight(weight, groups), None, [1] * n_sp, flip_pads, list(dilation), False,
                [0] * n_sp, groups)
        else:
            grad_input = _conv_transpose_input_grad(grad_output, input, weight, stride, padding, dilation, groups)
    if output_mask[2]:
        grad_bias = grad_output.sum(dim=[0] + list(range(2, grad_output.dim())))
    return grad_input, grad_weight, grad_bias


def _conv_transpose_input_grad(grad_output, input, weight, stride, padding, dilation, groups):
    """The input gradient as ``ConvTranspose``, with the output padding that restores the input size.

    The output padding op = (in + 2p − d(k−1) − 1) mod s is in [0, s). Where it is symbolic (an image axis of a
    strided convolution), the transposed convolution runs unpadded with output padding s − 1 (the longest it can
    need; rows past the kernel's reach are zeros) and the input's rows are sliced out from p on: the rows that
    an output padding adds are not all zeros when p > 0, so padding zeros after a shorter result would be wrong.
    """
    n_sp = weight.dim() - 2
    ops, pads, crops = [], [], []
    for i in range(n_sp):
        op = _conv_output_padding(input.shape[2 + i], grad_output.shape[2 + i], stride[i], padding[i],
                                  dilation[i], weight.shape[2 + i])
        if isinstance(op, int):
            ops.append(op)
            pads.append(padding[i])
            crops.append(None)
        else:
            ops.append(max(stride[i], dilation[i]) - 1)
            pads.append(0)
            crops.append(padding[i])
    grad_input = torch.ops.aten.convolution.default(
        grad_output, weight, None, list(stride), pads, list(dilation), True, ops, groups)
    for i, start in enumerate(crops):
        if start is not None:
            grad_input = grad_input.narrow(2 + i, start, input.shape[2 + i])
    return grad_input


def _empty_permuted(size, physical_layout, dtype=None, layout=None, device=None, pin_memory=None):
    """``aten.empty_permuted`` as zeros (ONNX has no uninitialised tensor)."""
    return torch.zeros(size, dtype=dtype, device=device)


def decomposition_table():
    """Core ATen decompositions plus the extra ones the VJP graphs need.

    ReLU's backward stays core's ``where(y <= 0, 0, grad)`` although ONNX Runtime's Where is 2.3–3.7x slower
    than ``grad · (y > 0)`` (bench_conv.py): the multiply turns a non-finite gradient at a masked element into
    NaN, and LPIPS's f / (‖f‖ + 1e-10) has exactly that (0/0 in the norm's backward where f = 0 after a ReLU)."""
    table = dict(torch.export.default_decompositions())
    table[torch.ops.aten.convolution_backward.default] = _convolution_backward
    table[torch.ops.aten.empty_permuted.default] = _empty_permuted
    return table


@contextlib.contextmanager
def _math_attention():
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel(SDPBackend.MATH):
        yield


def _freeze(module):
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def dynamic_dims(multiple):
    """The symbolic axes: ``B`` (batch), ``P`` (prompts of a CLIP loss graph), and ``H``, ``W`` as multiples of ``multiple`` (None: no H/W)."""
    dims = {"B": Dim("B", min=1, max=MAX_BATCH), "P": Dim("P", min=1, max=MAX_PROMPTS)}
    if multiple:
        dims["H"] = multiple * Dim("hk", min=1, max=MAX_SIDE // multiple)
        dims["W"] = multiple * Dim("wk", min=1, max=MAX_SIDE // multiple)
    return dims


def _derived(dims, d, multiple):
    """An axis at another scale than H, W (``H/k``, ``kH``; TensorSpec) as a multiple of the same ``hk``/``wk``."""
    if d in dims:
        return dims[d]
    base = d.split("/")[0] if "/" in d else d[-1]
    k = Dim("hk", min=1, max=MAX_SIDE // multiple) if base == "H" else Dim("wk", min=1, max=MAX_SIDE // multiple)
    if "/" in d:
        down = int(d.split("/")[1])
        if multiple % down:
            raise ValueError(f"axis {d} needs a size multiple divisible by {down}, not {multiple}")
        return (multiple // down) * k
    return int(d[:-1]) * multiple * k


def dynamic_shapes(tensor_specs, multiple):
    """torch.export ``dynamic_shapes`` for inputs described by TensorSpecs (string axes are dynamic)."""
    dims = dynamic_dims(multiple)
    return tuple({i: _derived(dims, d, multiple) for i, d in enumerate(t.shape) if isinstance(d, str)} or None
                 for t in tensor_specs)


def export_forward(module, example_inputs, input_specs, multiple=None):
    """Stage 1: ``torch.export`` with the symbolic axes of ``input_specs``; returns the decomposed program."""
    _freeze(module)
    with _math_attention(), torch.no_grad(), attention.exporting():
        ep = torch.export.export(module, tuple(example_inputs), dynamic_shapes=dynamic_shapes(input_specs, multiple),
                                 strict=False)
    return ep.run_decompositions(decomposition_table())


_SCALAR_TO_TENSOR = {
    torch.ops.aten.mul.Scalar: torch.ops.aten.mul.Tensor,
    torch.ops.aten.div.Scalar: torch.ops.aten.div.Tensor,
    torch.ops.aten.add.Scalar: torch.ops.aten.add.Tensor,
    torch.ops.aten.sub.Scalar: torch.ops.aten.sub.Tensor,
}


def tensorize_symbolic_scalars(gm):
    """Rewrite ``aten.<op>.Scalar(t, s)`` whose scalar ``s`` is computed from symbolic sizes into
    ``aten.<op>.Tensor(t, scalar_tensor(s))``. Returns the number of rewritten nodes."""
    n = 0
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target in _SCALAR_TO_TENSOR and isinstance(node.args[1], torch.fx.Node):
            with gm.graph.inserting_before(node):
                scalar = gm.graph.call_function(torch.ops.aten.scalar_tensor.default, (node.args[1],),
                                                {"dtype": torch.float32})
                new = gm.graph.call_function(_SCALAR_TO_TENSOR[node.target],
                                             (node.args[0], scalar) + tuple(node.args[2:]), dict(node.kwargs))
            node.replace_all_uses_with(new)
            gm.graph.erase_node(node)
            n += 1
    gm.recompile()
    return n


class _VJP(torch.nn.Module):
    """(inputs..., upstream) -> (forward output, grad w.r.t. inputs[wrt])."""

    def __init__(self, forward_gm, wrt, n_inputs, has_aux):
        super().__init__()
        self.fwd = forward_gm
        self.wrt = wrt
        self.n_inputs = n_inputs
        self.has_aux = has_aux

    def forward(self, *args):
        inputs, upstream = list(args[: self.n_inputs]), args[self.n_inputs]

        def f(x):
            full = list(inputs)
            full[self.wrt] = x
            out = self.fwd(*full)
            if self.has_aux:
                return out[0], out[1]
            return out

        if self.has_aux:
            out, vjp_fn, aux = torch.func.vjp(f, inputs[self.wrt], has_aux=True)
            (grad,) = vjp_fn(upstream)
            return aux, grad
        out, vjp_fn = torch.func.vjp(f, inputs[self.wrt])
        (grad,) = vjp_fn(upstream)
        return out, grad


def trace_vjp(forward_ep, example_inputs, upstream, tensor_specs, wrt=0, has_aux=False):
    """Stage 2: trace the VJP of the exported forward with ``make_fx`` on FakeTensors.

    example_inputs: forward inputs; upstream: cotangent shaped like the (first) forward output; tensor_specs:
    TensorSpecs of (*inputs, upstream) whose string axes become dynamic. Returns an fx GraphModule taking
    (*inputs, upstream) -> (output, grad_input).
    """
    gm = forward_ep.module()
    # torch.func.functionalize has no rule for autograd.Functions; torch.onnx.export functionalises the traced
    # graph again anyway (it runs torch.export on it), so graphs with chunked attention are traced without it.
    functional = attention.differentiable(gm) + layers.differentiable(gm) == 0
    vjp = _VJP(gm, wrt, len(example_inputs), has_aux)
    shape_env = ShapeEnv()
    mode = FakeTensorMode(shape_env=shape_env, allow_non_fake_inputs=True)

    def fake(t, spec):
        dyn = [DimDynamic.DYNAMIC if isinstance(d, str) else DimDynamic.STATIC for d in spec.shape]
        return mode.from_tensor(t, symbolic_context=StatelessSymbolicContext(dynamic_sizes=dyn))

    fakes = [fake(t, spec) for t, spec in zip(list(example_inputs) + [upstream], tensor_specs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mode, _math_attention():
            table = decomposition_table() | attention.decompositions() | layers.decompositions()
            traced = make_fx(torch.func.functionalize(vjp) if functional else vjp, decomposition_table=table,
                             tracing_mode="symbolic")(*fakes)
    tensorize_symbolic_scalars(traced)
    return traced


def strip_metadata(path):
    """Drop per-node debug metadata (stack traces with local paths, fx node text) so that the same export
    gives the same bytes on every machine. External tensor data, if any, is left untouched."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def clean(graph):
        graph.doc_string = ""
        del graph.metadata_props[:]  # e.g. symbol value ranges, printed in hash-seed-dependent order
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    clean(attr.g)
        for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
            del vi.metadata_props[:]

    clean(model.graph)
    del model.metadata_props[:]
    onnx.save(model, str(path))


def to_onnx(module, example_inputs, input_names, output_names, path, tensor_specs, multiple=None,
            external_data=False):
    """Stage 3: ``torch.onnx.export(dynamo=True)`` with the symbolic axes of ``tensor_specs``; one file unless
    ``external_data`` (needed above protobuf's 2 GB limit: the tensors then go to ``<path>.data``)."""
    dynamic = dynamic_shapes(tensor_specs, multiple)
    with warnings.catch_warnings(), _math_attention():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(
            module, tuple(example_inputs), dynamo=True, dynamic_shapes=dynamic, input_names=list(input_names),
            output_names=list(output_names), opset_version=OPSET, external_data=False, optimize=False,
            verbose=False, custom_translation_table=layers.onnx_translations())
    prog.save(str(path), external_data=external_data)
    strip_metadata(path)
    return path


# ---------------------------------------------------------------------------------------------------------------
# Graph specifications and the one code path that turns a spec into a verified .onnx file.

from dataclasses import dataclass, field  # noqa: E402
import time  # noqa: E402
from typing import Callable  # noqa: E402


def _concrete_axis(d, batch, h, w):
    """A symbolic axis's size: ``B``, ``H``, ``W``, ``H/k``, ``kH`` (and W alike); other symbols stay."""
    sizes = {"B": batch, "H": h, "W": w}
    if d in sizes:
        return sizes[d]
    if "/" in d:
        base, k = d.split("/")
        return sizes[base] // int(k) if base in ("H", "W") and sizes[base] is not None else d
    if d[-1:] in ("H", "W") and d[:-1].isdigit() and sizes[d[-1]] is not None:
        return int(d[:-1]) * sizes[d[-1]]
    return d


@dataclass
class TensorSpec:
    """A graph input or output: name, dtype (``float32``/``int64``) and shape; the string axes are symbolic:
    ``"B"`` (batch), ``"H"``, ``"W"`` (image height and width), and for tensors at another scale than the input
    ``"H/k"`` (downsampled k times) or ``"kH"`` (upsampled), k an integer."""

    name: str
    dtype: str
    shape: list

    def concrete(self, batch, size=None):
        """The shape at batch ``batch`` and image size ``size`` = (height, width)."""
        h, w = size if size else (None, None)
        return [_concrete_axis(d, batch, h, w) if isinstance(d, str) else d for d in self.shape]

    def as_manifest(self):
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass
class GraphSpec:
    """One graph to export.

    module: eager nn.Module computing the forward outputs from the forward inputs (for a VJP with
    ``has_aux``, it returns (differentiated output, kept output)); sampler(batch, generator, size) draws fresh
    forward inputs at image size ``size`` = (height, width) (ignored by models without H/W axes); a VJP graph
    takes the forward inputs plus ``upstream`` and returns (forward output, gradient w.r.t. input ``wrt``).
    multiple: the size multiple m of models with symbolic H, W (H = m·k), else None.
    """

    name: str
    module: torch.nn.Module
    inputs: list
    outputs: list
    sampler: Callable
    vjp: bool = False
    wrt: int = 0
    has_aux: bool = False
    upstream: TensorSpec = None
    multiple: int = None
    meta: dict = field(default_factory=dict)
    # (trace size, [check sizes]) in place of the defaults below, for a model that needs larger inputs
    sizes: tuple = None
    # verification bound in place of verify.TOLERANCE (fp16 graphs)
    tolerance: float = None

    @property
    def forward_input_names(self):
        return [t.name for t in self.inputs]

    @property
    def input_names(self):
        return self.forward_input_names + ([self.upstream.name] if self.vjp else [])

    @property
    def output_names(self):
        return [t.name for t in self.outputs]

    @property
    def upstream_name(self):
        return self.upstream.name

    def upstream_shape(self, batch, size=None):
        return self.upstream.concrete(batch, size)

    def sample_inputs(self, batch, generator, size=None):
        return self.sampler(batch, generator, size)

    @property
    def trace_size(self):
        """Example (height, width) for tracing: 3m x 5m keeps every feature map wider than one pixel."""
        if self.sizes:
            return self.sizes[0]
        return (3 * self.multiple, 5 * self.multiple) if self.multiple else None

    @property
    def check_sizes(self):
        """Image sizes at which the graph is verified (small, different from the traced one and each other)."""
        if self.sizes:
            return list(self.sizes[1])
        m = self.multiple
        return [(2 * m, 3 * m), (4 * m, 2 * m)] if m else [None]

    def io_manifest(self):
        ins = [t.as_manifest() for t in self.inputs] + ([self.upstream.as_manifest()] if self.vjp else [])
        return {"inputs": ins, "outputs": [t.as_manifest() for t in self.outputs]}


TRACE_BATCH = 2
# Weights above this many bytes (counted twice for a VJP, whose graph also holds transposed copies) are written
# as external data beside the .onnx file.
EXTERNAL_DATA_BYTES = 1_500_000_000


def weight_bytes(module):
    return sum(t.numel() * t.element_size() for t in list(module.parameters()) + list(module.buffers()))


def uses_external_data(spec):
    return weight_bytes(spec.module) * (2 if spec.vjp else 1) > EXTERNAL_DATA_BYTES


def build_graph(spec, path, log=None):
    """Export ``spec`` to ``path`` through the three stages; returns the seconds taken.

    The module is frozen (eval mode, no parameter gradients) first.
    """
    t0 = time.perf_counter()
    _freeze(spec.module)
    gen = torch.Generator().manual_seed(0)
    size = spec.trace_size
    example = spec.sample_inputs(TRACE_BATCH, gen, size)
    ep = export_forward(spec.module, example, spec.inputs, spec.multiple)
    specs = list(spec.inputs)
    if spec.vjp:
        upstream = torch.randn(spec.upstream_shape(TRACE_BATCH, size), generator=gen)
        specs.append(spec.upstream)
        graph = trace_vjp(ep, example, upstream, specs, wrt=spec.wrt, has_aux=spec.has_aux)
        args = list(example) + [upstream]
    else:
        graph, args = ep.run_decompositions(attention.decompositions() | layers.decompositions()), list(example)
    to_onnx(graph, args, spec.input_names, spec.output_names, path, specs, spec.multiple,
            external_data=uses_external_data(spec))
    return time.perf_counter() - t0
