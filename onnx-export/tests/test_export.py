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
