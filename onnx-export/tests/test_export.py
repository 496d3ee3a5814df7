"""The export pipeline's own pieces on small modules: decompositions, pitfalls, the UNet-path formula."""

import numpy as np
import pytest
import torch
from torch import nn

from disco_export import export, verify
from disco_export.export import GraphSpec, TensorSpec


@pytest.mark.parametrize("conv,shape", [
    (nn.Conv2d(4, 6, 3, stride=2, padding=1), (2, 4, 9, 8)),  # odd size: output padding 0 and 1
    (nn.Conv2d(4, 4, 3, padding=1, groups=2), (2, 4, 6, 6)),
    (nn.Conv2d(3, 5, 8, stride=8, bias=False), (2, 3, 16, 24)),  # ViT patch embedding
    (nn.Conv2d(3, 5, 3, stride=3), (2, 3, 10, 11)),  # rows the convolution never reads
    (nn.Conv1d(6, 18, 1), (2, 6, 10)),  # the UNet's qkv projection
    # C_in >= FLIP_MIN_CHANNELS and stride 1: a convolution over flipped, channel-swapped weights
    (nn.Conv2d(8, 6, 3, padding=1), (2, 8, 7, 6)),
    (nn.Conv2d(8, 6, 3), (2, 8, 9, 8)),  # padding 0
    (nn.Conv2d(16, 8, 3, padding=1, groups=4), (2, 16, 6, 7)),
    (nn.Conv2d(8, 8, 3, padding=2, dilation=2), (2, 8, 9, 10)),
    (nn.Conv2d(8, 8, (3, 1), padding=(1, 0)), (2, 8, 5, 6)),  # a non-square kernel
    (nn.Conv2d(8, 4, 3, padding=3), (2, 8, 5, 5)),  # padding > d(k-1): ConvTranspose
    (nn.Conv1d(16, 48, 1), (2, 16, 10)),
])
def test_convolution_backward_decomposition(conv, shape):
    x = torch.randn(shape, dtype=torch.float64)
    conv = conv.double()
    w = conv.weight.detach()
    up = torch.randn(conv(x).shape, dtype=torch.float64)
    xr = x.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(conv(xr), xr, up)
    nsp = w.dim() - 2
    got, gw, gb = export._convolution_backward(
        up, x, w, None, list(conv.stride), list(conv.padding), list(conv.dilation), False, [0] * nsp,
        conv.groups, [True, False, True])
    assert gw is None
    assert got.shape == want.shape
    assert float((got - want).norm() / want.norm()) < 1e-12
    assert torch.allclose(gb, up.sum(dim=[0] + list(range(2, up.dim()))))


def test_relu_backward_masks_non_finite_gradients():
    """LPIPS's normalisation sends NaN back to a zero feature vector; ReLU's backward must zero it, not NaN · 0."""
    y = torch.relu(torch.randn(3, 8, 5, 5, dtype=torch.float64))
    g = torch.randn(3, 8, 5, 5, dtype=torch.float64)
    g[y == 0] = float("nan")
    got = export.decomposition_table()[torch.ops.aten.threshold_backward.default](g, y, 0.0)
    assert (y == 0).any() and torch.equal(got, torch.where(y > 0, g, 0.0))


class _ConvNet(nn.Module):
    """Stride-1 and stride-2 convolutions (padding 0 and 1, groups, dilation, 3 input channels) with ReLUs."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),  # C_in 3: ConvTranspose
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),  # stride 2, symbolic output padding
            nn.Conv2d(16, 16, 3, padding=1, groups=2), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=2, dilation=2), nn.ReLU(),
            nn.Conv2d(16, 12, 1), nn.ReLU(),
            nn.Conv2d(12, 8, 3, stride=2), nn.ReLU(),  # stride 2, padding 0
            nn.Conv2d(8, 4, 3))  # padding 0

    def forward(self, x):
        f = self.net(x)
        return (f * f).mean(dim=(2, 3))


def test_conv_net_vjp_graph_matches_autograd(tmp_path, monkeypatch):
    """The VJP graph of a conv net with symbolic H, W (any size from 24, odd or even) against autograd; stride-1
    input gradients are Convs whose weights ONNX Runtime folds to constants at load."""
    import onnx
    import onnxruntime as ort
    from torch.export import Dim
    # H, W of any parity (the models' H = m·k): from 24 up, so that no feature map is 1 pixel wide
    monkeypatch.setattr(export, "dynamic_dims", lambda multiple: {
        "B": Dim("B", min=1, max=64), "H": Dim("hk", min=24, max=512), "W": Dim("wk", min=24, max=512)})
    torch.manual_seed(0)
    m = _ConvNet()
    spec = GraphSpec("convnet_vjp", m, [TensorSpec("x", "float32", ["B", 3, "H", "W"])],
                     [TensorSpec("y", "float32", ["B", 4]), TensorSpec("grad", "float32", ["B", 3, "H", "W"])],
                     lambda b, g, size=None: [torch.randn(b, 3, *size, generator=g)], vjp=True,
                     upstream=TensorSpec("upstream", "float32", ["B", 4]), multiple=1, sizes=((29, 34), []))
    export.build_graph(spec, tmp_path / "c.onnx")
    model = onnx.load(str(tmp_path / "c.onnx"))
    ops = [n.op_type for n in model.graph.node]
    # ConvTranspose: C_in 3 and the two stride-2 convs; Conv: 7 forward, 4 stride-1 input gradients
    assert ops.count("ConvTranspose") == 3 and ops.count("Conv") == 7 + 4
    # constant folding (a basic optimisation) turns the flipped weights into initializers; EXTENDED leaves out
    # the layout transformers, whose NCHWc Convs fuse some nodes
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(str(tmp_path / "c.onnx"), opts, providers=["CPUExecutionProvider"])
    opt = onnx.load(str(tmp_path / "opt.onnx"))
    inits = {i.name for i in opt.graph.initializer}
    convs = [n for n in opt.graph.node if n.op_type in ("Conv", "FusedConv", "ConvTranspose")]
    assert len(convs) == 14 and all(n.input[1] in inits for n in convs)
    sess = verify.session(tmp_path / "c.onnx")
    for b, (h, w) in [(1, (24, 27)), (3, (27, 24)), (2, (30, 31)), (1, (40, 40))]:
        x = torch.randn(b, 3, h, w)
        xr = x.clone().requires_grad_(True)
        y = m(xr)
        up = torch.randn(y.shape)
        (want,) = torch.autograd.grad(y, xr, up)
        got_y, got = sess.run(None, {"x": x.numpy(), "upstream": up.numpy()})
        assert verify.rel_error(got_y, y.detach().numpy()) < 1e-5
        assert verify.rel_error(got, want.numpy()) < 1e-5


class _Unit(nn.Module):
    """LPIPS's channel normalisation f / (‖f‖ + 1e-10)."""

    def forward(self, x):
        return x / (torch.sqrt((x * x).sum(1, keepdim=True)) + 1e-10)


def test_tiny_epsilon_survives_export(tmp_path):
    """A zero feature vector must give 0, not NaN (the onnxscript optimizer drops `+ 1e-10`)."""
    spec = GraphSpec("unit", _Unit(), [TensorSpec("x", "float32", ["B", 3, 4, 4])],
                     [TensorSpec("y", "float32", ["B", 3, 4, 4])],
                     lambda b, g, size=None: [torch.randn(b, 3, 4, 4, generator=g)])
    export.build_graph(spec, tmp_path / "unit.onnx")
    x = torch.randn(2, 3, 4, 4)
    x[:, :, 1, 2] = 0
    y = verify.session(tmp_path / "unit.onnx").run(None, {"x": x.numpy()})[0]
    assert not np.isnan(y).any()
    assert verify.rel_error(y, _Unit()(x).numpy()) < 1e-6


class _Affine(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x, s):
        return self.lin(x) * s[:, None]


def test_vjp_graph_against_closed_form(tmp_path):
    """For y = (x Wᵀ + b)·s the VJP is grad_x = (u·s) W: checks the VJP path without autograd."""
    torch.manual_seed(0)
    m = _Affine()
    spec = GraphSpec("affine_vjp", m, [TensorSpec("x", "float32", ["B", 4]), TensorSpec("s", "float32", ["B"])],
                     [TensorSpec("y", "float32", ["B", 3]), TensorSpec("grad_x", "float32", ["B", 4])],
                     lambda b, g, size=None: [torch.randn(b, 4, generator=g), torch.randn(b, generator=g)], vjp=True,
                     upstream=TensorSpec("upstream", "float32", ["B", 3]))
    export.build_graph(spec, tmp_path / "a.onnx")
    sess = verify.session(tmp_path / "a.onnx")
    for b in (1, 5):
        x, s, u = torch.randn(b, 4), torch.randn(b), torch.randn(b, 3)
        y, gx = sess.run(None, {"x": x.numpy(), "s": s.numpy(), "upstream": u.numpy()})
        w = m.lin.weight.detach()
        assert verify.rel_error(gx, ((u * s[:, None]) @ w).numpy()) < 1e-6
        assert verify.rel_error(y, m(x, s).detach().numpy()) < 1e-6


def test_verification_fails_loudly_on_a_wrong_graph(tmp_path):
    good = GraphSpec("g", _Unit(), [TensorSpec("x", "float32", ["B", 3, 4, 4])],
                     [TensorSpec("y", "float32", ["B", 3, 4, 4])], lambda b, g, size=None: [torch.randn(b, 3, 4, 4, generator=g)])
    export.build_graph(good, tmp_path / "g.onnx")

    class Other(nn.Module):
        def forward(self, x):
            return _Unit()(x) * 1.001

    wrong = GraphSpec("g", Other(), good.inputs, good.outputs, good.sampler)
    with pytest.raises(verify.VerificationError, match="relative error"):
        verify.check(wrong, tmp_path / "g.onnx")


def _affine_spec():
    torch.manual_seed(0)
    return GraphSpec("affine_vjp", _Affine(), [TensorSpec("x", "float32", ["B", 4]), TensorSpec("s", "float32", ["B"])],
                     [TensorSpec("y", "float32", ["B", 3]), TensorSpec("grad_x", "float32", ["B", 4])],
                     lambda b, g, size=None: [torch.randn(b, 4, generator=g), torch.randn(b, generator=g)], vjp=True,
                     upstream=TensorSpec("upstream", "float32", ["B", 3]))


def test_export_is_byte_for_byte_reproducible(tmp_path):
    """No paths, stack traces, timestamps or hash-ordered text in the file: a manifest's blake3 is reproducible."""
    export.build_graph(_affine_spec(), tmp_path / "a.onnx")
    export.build_graph(_affine_spec(), tmp_path / "b.onnx")
    a, b = (tmp_path / "a.onnx").read_bytes(), (tmp_path / "b.onnx").read_bytes()
    assert a == b
    assert b"stack_trace" not in a and str(tmp_path).encode() not in a


def test_symbolic_size_export_has_no_metadata(tmp_path):
    """Graphs with symbolic H, W carried symbol value ranges whose order varied between runs."""
    import onnx
    from disco_export import lpips
    torch.manual_seed(0)
    spec = lpips.graph_specs(lpips.LPIPS((2, 2, 2, 2, 2)))["forward"]
    export.build_graph(spec, tmp_path / "l.onnx")
    model = onnx.load(str(tmp_path / "l.onnx"))
    assert len(model.graph.metadata_props) == 0 and len(model.metadata_props) == 0
    assert all(len(n.metadata_props) == 0 for n in model.graph.node)


def test_large_weights_go_to_external_data(tmp_path, monkeypatch):
    from disco_export import manifest
    monkeypatch.setattr(export, "EXTERNAL_DATA_BYTES", 0)
    torch.manual_seed(0)
    spec = GraphSpec("lin_vjp", nn.Linear(64, 64), [TensorSpec("x", "float32", ["B", 64])],
                     [TensorSpec("y", "float32", ["B", 64]), TensorSpec("grad_x", "float32", ["B", 64])],
                     lambda b, g, size=None: [torch.randn(b, 64, generator=g)], vjp=True,
                     upstream=TensorSpec("upstream", "float32", ["B", 64]))
    export.build_graph(spec, tmp_path / "big.onnx")
    data = tmp_path / "big.onnx.data"
    assert data.is_file() and data.stat().st_size >= 64 * 64 * 4
    assert (tmp_path / "big.onnx").stat().st_size < 64 * 64 * 4
    verify.check(spec, tmp_path / "big.onnx", batch_sizes=(1, 5))
    entry = manifest.graph_entry(spec, tmp_path, "big.onnx", None, 0.0, {"y": 0.0})
    assert entry["external_data"]["file"] == "big.onnx.data"
    assert entry["external_data"]["bytes"] == data.stat().st_size
    doc = {"format": manifest.FORMAT, "exporter": manifest.exporter_info(), "tiny": True, "graphs": {"lin_vjp": entry}}
    assert manifest.validate(doc, tmp_path) == []
    data.write_bytes(data.read_bytes()[:-4] + b"\0\0\0\1")
    assert any("external data blake3 differs" in p for p in manifest.validate(doc, tmp_path))


class _Double(nn.Module):
    def forward(self, x):
        return 2 * x


def test_noise_floor_accepts_a_faithful_graph_of_a_jumpy_function_and_rejects_a_wrong_one(tmp_path):
    spec = GraphSpec("j", _Double(), [TensorSpec("x", "float32", ["B", 64])], [TensorSpec("y", "float32", ["B", 64])],
                     lambda b, g, size=None: [torch.randn(b, 64, generator=g)])
    export.build_graph(spec, tmp_path / "d.onnx")

    class Jumpy(nn.Module):  # 2x plus a term that jumps under tiny input changes (like flipping ReLU masks)
        def forward(self, x):
            return 2 * x + 1e-4 * torch.sin(1e8 * x)

    notes = []
    errs = verify.check(GraphSpec("j", Jumpy(), spec.inputs, spec.outputs, spec.sampler), tmp_path / "d.onnx",
                        notes=notes)
    assert notes and "input noise" in notes[0]
    assert 1e-5 < errs["y"] < 1e-3

    class Wrong(nn.Module):  # smooth and off by 1e-3: its noise floor is tiny, so it fails
        def forward(self, x):
            return x * 2.002

    with pytest.raises(verify.VerificationError, match="input noise"):
        verify.check(GraphSpec("j", Wrong(), spec.inputs, spec.outputs, spec.sampler), tmp_path / "d.onnx")
