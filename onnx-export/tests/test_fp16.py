"""The UNet in DD's mixed precision (``use_fp16``): ``convert_to_fp16`` as guided-diffusion does it, its graphs in
the tiny set (fp16 weights, fp32 I/O) and their manifest entry."""

import copy

import numpy as np
import onnx
import pytest
import torch

from disco_export import manifest, unet, unet_checkpoint, verify
from disco_export.unet_catalog import DEFAULT, TINY_CONFIGS


def _pair(seed=3):
    torch.manual_seed(seed)
    full = unet.UNetModel(TINY_CONFIGS[DEFAULT]).eval()
    return full, copy.deepcopy(full).convert_to_fp16().eval()


def test_fp16_torso_matches_fp32_to_half_precision():
    """The fp16 model computes the fp32 model's output up to fp16 rounding: close, and not identical (so the
    torso really runs in fp16). Fresh random x, t."""
    full, half = _pair()
    gen = torch.Generator().manual_seed(8)
    x, t = unet.sample_inputs(2, gen, (64, 96))
    with torch.no_grad():
        a, b = full(x, t), half(x, t)
    assert b.dtype == torch.float32
    err = verify.rel_error(b.numpy(), a.numpy())
    assert 1e-5 < err < 1e-2, err


def test_fp16_conversion_follows_guided_diffusion():
    """Only the torso's convolutions hold fp16 weights; the time embedding, linear layers, GroupNorm and the output
    layers stay fp32."""
    _, half = _pair()
    for name, p in half.named_parameters():
        torso = name.split(".")[0] in ("input_blocks", "middle_block", "output_blocks")
        conv = isinstance(half.get_submodule(name.rsplit(".", 1)[0]), (torch.nn.Conv1d, torch.nn.Conv2d))
        assert p.dtype == (torch.float16 if torso and conv else torch.float32), name


def test_fp16_boundaries_recompute_exactly():
    """The checkpoint forward's fp32 boundaries, cast back by each segment, reproduce the fp16 forward: a
    segment's recomputed output equals the boundary the forward returned."""
    _, half = _pair()
    gen = torch.Generator().manual_seed(4)
    x, t = unet.sample_inputs(1, gen, (32, 32))
    with torch.no_grad():
        outs = unet_checkpoint.Boundaries(half)(x, t)
        values = dict(zip(["eps_full"] + unet_checkpoint.boundary_names(half), outs))
        values["x"] = x
        for name, module, inputs, uses_t, _ in unet_checkpoint.segments(half)[:-1]:
            h = torch.cat([values[i] for i in inputs], dim=1)
            got = module(h, t) if uses_t else module(h)
            assert got.dtype == torch.float32
            assert torch.equal(got, values[name]), name


def test_tiny_fp16_graphs_hold_fp16_weights_behind_fp32_io(tiny_set, tiny_manifest):
    entry = tiny_manifest["diffusion_models"][DEFAULT]["fp16"]
    assert entry["graphs"] == {"forward": "unet_fp16_fwd", "vjp": "unet_fp16_vjp"}
    assert entry["size_multiple"] == tiny_manifest["diffusion_models"][DEFAULT]["size_multiple"]
    for name in entry["graphs"].values():
        g = onnx.load(tiny_set / tiny_manifest["graphs"][name]["file"])
        kinds = {i.data_type for i in g.graph.initializer}
        assert onnx.TensorProto.FLOAT16 in kinds, name
        io = [v.type.tensor_type.elem_type for v in list(g.graph.input) + list(g.graph.output)]
        assert set(io) == {onnx.TensorProto.FLOAT}, name
    # the custom tiny model is fp32 only (its graphs keep the test export short)
    assert all("fp16" not in d for n, d in tiny_manifest["diffusion_models"].items() if n != DEFAULT)


@pytest.mark.parametrize("damage, problem", [
    (lambda e: e.update(graphs={"forward": "unet_fp16_fwd"}), "fp16.graphs roles wrong"),
    (lambda e: e["graphs"].update(vjp="nope"), "fp16.graphs.vjp names unknown graph"),
    (lambda e: e.update(size_multiple=1), "fp16.size_multiple differs"),
    (lambda e: e.update(checkpointed={"forward": "nope", "segments": []}), "fp16.checkpointed.forward"),
])
def test_validate_refuses_damaged_fp16_sections(tiny_manifest, damage, problem):
    assert not manifest.validate(tiny_manifest)
    bad = copy.deepcopy(tiny_manifest)
    damage(bad["diffusion_models"][DEFAULT]["fp16"])
    assert any(problem in p for p in manifest.validate(bad)), manifest.validate(bad)


def test_fp16_eager_gradient_is_close_to_fp32():
    """The fp16 VJP (what the UNet-guided path differentiates on CUDA) is the fp32 gradient to half precision."""
    full, half = _pair(5)
    gen = torch.Generator().manual_seed(9)
    x, t = unet.sample_inputs(1, gen, (32, 64))
    up = torch.randn(1, 3, 32, 64, generator=gen)
    grads = []
    for m in (full, half):
        xi = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(m(xi, t)[:, :3], xi, up)
        grads.append(g.numpy())
    err = verify.rel_error(grads[1], grads[0])
    assert np.linalg.norm(grads[0]) > 0 and 1e-5 < err < 2e-2, err
