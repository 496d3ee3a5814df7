"""DD's other MiDaS depth models (dpt_hybrid, dpt_hybrid_nyu, midas_v21, midas_v21_small): the released
checkpoints' key layouts (written down from MiDaS v3, timm's vit_base_resnet50_384 and gen-efficientnet's
tf_efficientnet_lite3, independently of the model code), the loaders, DD's input sizes per resize mode, the CLI's
--midas items, and the graphs in the tiny set (their numerics against torch are in test_graphs.py)."""

import dataclasses

import pytest
import torch

from disco_export import checkpoints, depth, midas, midas_v21
from disco_export.__main__ import midas_request

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _meta_state(build):
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in build().state_dict().items()}


def _params(state):
    return sum(torch.Size(s).numel() for s in state.values())


def _bn(prefix, c):
    return {f"{prefix}.{k}": (() if k == "num_batches_tracked" else (c,)) for k in BN}


def _conv(prefix, o, i, k, bias=True):
    out = {f"{prefix}.weight": (o, i, k, k)}
    if bias:
        out[f"{prefix}.bias"] = (o,)
    return out


def _vit_keys(v, width, depth_, grid, mlp=4):
    keys = {v + "cls_token": (1, 1, width), v + "pos_embed": (1, grid * grid + 1, width),
            v + "norm.weight": (width,), v + "norm.bias": (width,), v + "head.weight": (1000, width),
            v + "head.bias": (1000,)}
    for i in range(depth_):
        b = f"{v}blocks.{i}."
        keys.update({b + "norm1.weight": (width,), b + "norm1.bias": (width,), b + "norm2.weight": (width,),
                     b + "norm2.bias": (width,), b + "attn.qkv.weight": (3 * width, width),
                     b + "attn.qkv.bias": (3 * width,), b + "attn.proj.weight": (width, width),
                     b + "attn.proj.bias": (width,), b + "mlp.fc1.weight": (mlp * width, width),
                     b + "mlp.fc1.bias": (mlp * width,), b + "mlp.fc2.weight": (width, mlp * width),
                     b + "mlp.fc2.bias": (width,)})
    return keys


def _custom_fusion(prefix, c, out):
    keys = _conv(prefix + ".out_conv", out, c, 1)
    for unit in ("resConfUnit1", "resConfUnit2"):
        for conv in ("conv1", "conv2"):
            keys.update(_conv(f"{prefix}.{unit}.{conv}", c, c, 3))
    return keys


def expected_hybrid(width=768, depth_=12, grid=24, layers=(3, 4, 9), widths=(256, 512, 1024), stem=64,
                    features=(256, 512, 768, 768), fusion=256):
    """dpt_hybrid-midas-501f0c75.pt / dpt_hybrid_nyu-2ce69ec7.pt: timm's ViT-hybrid under ``pretrained.model``."""
    v = "pretrained.model."
    keys = _vit_keys(v, width, depth_, grid)
    bb = v + "patch_embed.backbone."
    keys[bb + "stem.conv.weight"] = (stem, 3, 7, 7)
    keys[bb + "stem.norm.weight"] = keys[bb + "stem.norm.bias"] = (stem,)
    c = stem
    for s, (n, w) in enumerate(zip(layers, widths)):
        mid = w // 4
        for b in range(n):
            p = f"{bb}stages.{s}.blocks.{b}."
            cin = c if b == 0 else w
            keys.update({p + "conv1.weight": (mid, cin, 1, 1), p + "conv2.weight": (mid, mid, 3, 3),
                         p + "conv3.weight": (w, mid, 1, 1)})
            for norm, ch in (("norm1", mid), ("norm2", mid), ("norm3", w)):
                keys[p + norm + ".weight"] = keys[p + norm + ".bias"] = (ch,)
            if b == 0:
                keys[p + "downsample.conv.weight"] = (w, cin, 1, 1)
                keys[p + "downsample.norm.weight"] = keys[p + "downsample.norm.bias"] = (w,)
        c = w
    keys[v + "patch_embed.proj.weight"] = (width, widths[-1], 1, 1)
    keys[v + "patch_embed.proj.bias"] = (width,)
    for n in (3, 4):  # act_postprocess1/2 are identities: no keys
        p = f"pretrained.act_postprocess{n}."
        keys[p + "0.project.0.weight"] = (width, 2 * width)
        keys[p + "0.project.0.bias"] = (width,)
        keys.update(_conv(p + "3", features[n - 1], width, 1))
    keys.update(_conv("pretrained.act_postprocess4.4", features[3], features[3], 3))
    for n, cin in enumerate(features, start=1):
        keys[f"scratch.layer{n}_rn.weight"] = (fusion, cin, 3, 3)
        keys.update(_custom_fusion(f"scratch.refinenet{n}", fusion, fusion))
    keys.update(_conv("scratch.output_conv.0", fusion // 2, fusion, 3))
    keys.update(_conv("scratch.output_conv.2", 32, fusion // 2, 3))
    keys.update(_conv("scratch.output_conv.4", 1, 32, 1))
    return keys


def expected_v21(stem=64, planes=(64, 128, 256, 512), layers=(3, 4, 23, 3), groups=32, wpg=8, features=256,
                 head=128):
    """midas_v21-f6b98070.pt: torchvision's ResNeXt-101 32x8d regrouped as ``pretrained.layer1..4``."""
    keys = {"pretrained.layer1.0.weight": (stem, 3, 7, 7), **_bn("pretrained.layer1.1", stem)}
    c = stem
    for li, (p, n) in enumerate(zip(planes, layers)):
        base = "pretrained.layer1.4" if li == 0 else f"pretrained.layer{li + 1}"
        width, out = p * wpg // 64 * groups, 4 * p
        for b in range(n):
            q = f"{base}.{b}."
            cin = c if b == 0 else out
            keys.update({q + "conv1.weight": (width, cin, 1, 1), q + "conv2.weight": (width, width // groups, 3, 3),
                         q + "conv3.weight": (out, width, 1, 1)})
            keys.update({**_bn(q + "bn1", width), **_bn(q + "bn2", width), **_bn(q + "bn3", out)})
            if b == 0:
                keys[q + "downsample.0.weight"] = (out, cin, 1, 1)
                keys.update(_bn(q + "downsample.1", out))
        c = out
    for n, p in enumerate(planes, start=1):
        keys[f"scratch.layer{n}_rn.weight"] = (features, 4 * p, 3, 3)
        for unit in ("resConfUnit1", "resConfUnit2"):
            for conv in ("conv1", "conv2"):
                keys.update(_conv(f"scratch.refinenet{n}.{unit}.{conv}", features, features, 3))
    keys.update(_conv("scratch.output_conv.0", head, features, 3))
    keys.update(_conv("scratch.output_conv.2", 32, head, 3))
    keys.update(_conv("scratch.output_conv.4", 1, 32, 1))
    return keys


# tf_efficientnet_lite3's stages: (kind, repeats, kernel, output width) (channel x1.2, depth x1.4, first and last
# stages' repeats fixed), and where MidasNet_small puts each stage.
LITE3_STAGES = (("ds", 1, 3, 24), ("ir", 3, 3, 32), ("ir", 3, 5, 48), ("ir", 5, 3, 96), ("ir", 5, 5, 136),
                ("ir", 6, 5, 232), ("ir", 1, 3, 384))
SMALL_PLACES = ("layer1.3", "layer1.4", "layer2.0", "layer3.0", "layer3.1", "layer4.0", "layer4.1")


def expected_small(stages=LITE3_STAGES, stem=32, features=64, head=32):
    """midas_v21_small-70d6b9c8.pt: EfficientNet-Lite3 (no SE) cut into ``pretrained.layer1..4``, expand decoder."""
    keys = {"pretrained.layer1.0.weight": (stem, 3, 3, 3), **_bn("pretrained.layer1.1", stem)}
    c = stem
    for (kind, n, k, w), place in zip(stages, SMALL_PLACES):
        for b in range(n):
            q = f"pretrained.{place}.{b}."
            cin = c if b == 0 else w
            if kind == "ds":
                keys.update({q + "conv_dw.weight": (cin, 1, k, k), q + "conv_pw.weight": (w, cin, 1, 1),
                             **_bn(q + "bn1", cin), **_bn(q + "bn2", w)})
            else:
                mid = 6 * cin
                keys.update({q + "conv_pw.weight": (mid, cin, 1, 1), q + "conv_dw.weight": (mid, 1, k, k),
                             q + "conv_pwl.weight": (w, mid, 1, 1), **_bn(q + "bn1", mid), **_bn(q + "bn2", mid),
                             **_bn(q + "bn3", w)})
        c = w
    ins = (stages[1][3], stages[2][3], stages[4][3], stages[6][3])
    outs = (features, 2 * features, 4 * features, 8 * features)
    for n, (ci, co) in enumerate(zip(ins, outs), start=1):
        keys[f"scratch.layer{n}_rn.weight"] = (co, ci, 3, 3)
        keys.update(_custom_fusion(f"scratch.refinenet{n}", co, co if n == 1 else co // 2))
    keys.update(_conv("scratch.output_conv.0", features // 2, features, 3))
    keys.update(_conv("scratch.output_conv.2", head, features // 2, 3))
    keys.update(_conv("scratch.output_conv.4", 1, head, 1))
    return keys


def _assert_layout(got, want):
    assert sorted(set(got) - set(want)) == [] and sorted(set(want) - set(got)) == []
    wrong = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert wrong == {}


@pytest.mark.parametrize("name", ["dpt_hybrid", "dpt_hybrid_nyu"])
def test_dpt_hybrid_keys_match_the_released_checkpoint(name):
    got = _meta_state(depth.MIDAS_MODELS[name].build)
    _assert_layout(got, expected_hybrid())
    # literal shapes: the 1x1 projection of the ResNet's 1024 channels, stage 2's ninth block, the reassembly
    assert got["pretrained.model.patch_embed.proj.weight"] == (768, 1024, 1, 1)
    assert got["pretrained.model.patch_embed.backbone.stages.2.blocks.8.conv3.weight"] == (1024, 256, 1, 1)
    assert got["pretrained.act_postprocess4.4.weight"] == (768, 768, 3, 3)
    assert not any(k.startswith(("pretrained.act_postprocess1", "pretrained.act_postprocess2")) for k in got)
    assert 120e6 < _params(got) < 126e6  # DPT-Hybrid: 123M parameters


def test_midas_v21_keys_match_the_released_checkpoint():
    got = _meta_state(depth.MIDAS_MODELS["midas_v21"].build)
    _assert_layout(got, expected_v21())
    assert got["pretrained.layer3.22.conv2.weight"] == (1024, 32, 3, 3)
    assert got["pretrained.layer4.0.downsample.0.weight"] == (2048, 1024, 1, 1)
    assert got["scratch.layer4_rn.weight"] == (256, 2048, 3, 3)
    assert "scratch.refinenet1.out_conv.weight" not in got
    assert 104e6 < _params(got) < 107e6  # MiDaS v2.1: 105M parameters


def test_midas_v21_small_keys_match_the_released_checkpoint():
    got = _meta_state(depth.MIDAS_MODELS["midas_v21_small"].build)
    _assert_layout(got, expected_small())
    assert got["pretrained.layer4.1.0.conv_pwl.weight"] == (384, 1392, 1, 1)
    assert got["scratch.refinenet4.out_conv.weight"] == (256, 512, 1, 1)
    assert got["scratch.refinenet1.out_conv.weight"] == (64, 64, 1, 1)
    assert not any("se." in k or "conv_head" in k for k in got)
    assert 20e6 < _params(got) < 23e6  # MiDaS v2.1 small: 21M parameters


def test_tiny_models_have_the_real_layouts_at_toy_widths():
    t = midas.TINY_DPT_HYBRID
    _assert_layout(_meta_state(depth.MIDAS_MODELS["dpt_hybrid"].build_tiny),
                   expected_hybrid(t.width, t.depth, t.grid, t.resnet.layers, t.resnet.widths, t.resnet.stem,
                                   t.features, t.fusion))
    v = midas_v21.TINY_V21
    _assert_layout(_meta_state(depth.MIDAS_MODELS["midas_v21"].build_tiny),
                   expected_v21(v.stem, v.planes, v.layers, v.groups, v.width_per_group, v.features, v.head))
    s = midas_v21.TINY_SMALL
    stages = tuple((k, r, ks, w) for k, r, ks, _, _, w in s.effnet.stages())
    _assert_layout(_meta_state(depth.MIDAS_MODELS["midas_v21_small"].build_tiny),
                   expected_small(stages, s.effnet.stem, s.features, s.head))
    for name in ("dpt_hybrid", "midas_v21", "midas_v21_small"):
        assert _params(_meta_state(depth.MIDAS_MODELS[name].build_tiny)) < 500_000


@pytest.mark.parametrize("name", ["dpt_hybrid", "midas_v21", "midas_v21_small"])
def test_the_loader_reads_a_checkpoint_strictly(tmp_path, name):
    class Req:
        tiny, seed, midas_checkpoints = False, 0, {}

    src = depth.make_tiny_midas(name, 5)
    sd = src.state_dict()
    path = tmp_path / "m.pt"
    # a checkpoint without BatchNorm counters loads (the v2.1 models have BatchNorm)
    torch.save({k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}, path)
    real = depth.MIDAS_MODELS[name]
    try:
        depth.MIDAS_MODELS[name] = dataclasses.replace(real, build=real.build_tiny)
        Req.midas_checkpoints = {name: path}
        model, sha = depth.make_midas(Req, name)
    finally:
        depth.MIDAS_MODELS[name] = real
    assert len(sha) == 64
    x = torch.rand(1, 3, 64, 96) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model(x), src(x))
    key = next(k for k in sd if k.startswith("scratch.refinenet2."))
    del sd[key]
    torch.save(sd, path)
    with pytest.raises(checkpoints.CheckpointError, match=key.replace(".", r"\.")):
        checkpoints.load_into(real.build_tiny(), path, f"MiDaS {name}", optional=("num_batches_tracked",))


def test_v21_residual_unit_adds_the_rectified_input():
    # MiDaS's ResidualConvUnit uses an in-place ReLU, so the skip adds relu(x), not x
    unit = midas_v21.RectifiedResidualUnit(2)
    with torch.no_grad():
        for conv in (unit.conv1, unit.conv2):
            conv.weight.zero_()
            conv.bias.zero_()
    x = torch.tensor([-1.0, 2.0]).reshape(1, 2, 1, 1).expand(1, 2, 3, 3).contiguous()
    assert torch.equal(unit(x), torch.relu(x))


@pytest.mark.parametrize("name", list(depth.MIDAS_MODELS))
def test_outputs_are_inverse_depth_at_the_input_size(name):
    model = depth.make_tiny_midas(name, 1)
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 128) * 2 - 1)
    assert out.shape == (2, 64, 128)
    assert (out >= 0).all() and out.std() > 0


@pytest.mark.parametrize("hw, net, mode, want", [
    # minimal (DPT): the scale closer to 1, sides to the nearest multiple of 32 without a bound
    ((512, 768), 384, "minimal", (384, 576)),
    ((100, 37), 384, "minimal", (384, 128)),
    ((130, 300), 384, "minimal", (160, 384)),
    ((300, 500), 384, "minimal", (224, 384)),
    ((90, 90), 90, "minimal", (96, 96)),
    # upper_bound (v2.1): the smaller scale, sides rounded, down where they would exceed net
    ((512, 768), 384, "upper_bound", (256, 384)),
    ((768, 512), 384, "upper_bound", (384, 256)),
    ((1080, 1920), 384, "upper_bound", (224, 384)),
    ((64, 64), 384, "upper_bound", (384, 384)),
    ((512, 768), 256, "upper_bound", (160, 256)),
    ((90, 90), 90, "upper_bound", (64, 64)),
    ((20, 1000), 256, "upper_bound", (32, 256)),
])
def test_dd_input_sizes_per_resize_mode(hw, net, mode, want):
    assert midas.resize_for_net(*hw, net=net, mode=mode) == want


def test_each_model_carries_dds_preprocessing():
    m = depth.MIDAS_MODELS
    assert [(n, m[n].net_size, m[n].resize) for n in m] == [
        ("dpt_large", 384, "minimal"), ("dpt_hybrid", 384, "minimal"), ("dpt_hybrid_nyu", 384, "minimal"),
        ("midas_v21", 384, "upper_bound"), ("midas_v21_small", 256, "upper_bound")]
    assert m["midas_v21_small"].mean == (0.485, 0.456, 0.406) and m["midas_v21"].std == (0.229, 0.224, 0.225)
    assert m["dpt_hybrid_nyu"].mean == (0.5, 0.5, 0.5)
    assert {n: x.sha256_prefix for n, x in m.items()} == {
        "dpt_large": "2f21e586", "dpt_hybrid": "501f0c75", "dpt_hybrid_nyu": "2ce69ec7",
        "midas_v21": "f6b98070", "midas_v21_small": "70d6b9c8"}
    assert all(x.file.endswith(f"-{x.sha256_prefix}.pt") for x in m.values())


def test_midas_cli_items():
    assert midas_request(None, False) == ([], {})
    assert midas_request([], True) == (list(depth.MIDAS_MODELS), {})
    assert midas_request(["midas_v21_small"], True) == (["midas_v21_small"], {})
    names, paths = midas_request(["a/dpt_large-midas-2f21e586.pt", "dpt_hybrid=b.pt"], False)
    assert names == ["dpt_large", "dpt_hybrid"] and str(paths["dpt_hybrid"]) == "b.pt"
    for items, tiny in ((["dpt_hybrid"], False), (["dpt_hybrid=x.pt"], True), (["dpt_tiny=x.pt"], False),
                        ([], False)):
        with pytest.raises(SystemExit):
            midas_request(items, tiny)


def test_tiny_set_holds_every_midas_graph(tiny_manifest):
    section = tiny_manifest["depth"]["midas"]
    assert sorted(section) == sorted(depth.MIDAS_MODELS)
    for name, entry in section.items():
        spec = depth.MIDAS_MODELS[name]
        graph = midas.graph_name(name)
        assert entry["graphs"] == {"forward": graph} and graph in tiny_manifest["graphs"]
        assert (entry["net_size"], entry["resize"], entry["mean"], entry["std"]) == (
            spec.net_size, spec.resize, list(spec.mean), list(spec.std))
        assert entry["output"] == "inverse_depth" and entry["size_multiple"] == 32
    hashes = {tiny_manifest["graphs"][e["graphs"]["forward"]]["blake3"] for e in section.values()}
    assert len(hashes) == len(section)  # five distinct graphs (the NYU twin has its own seed)
