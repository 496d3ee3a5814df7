"""AdaBins-NYU (adabins.py, efficientnet.py): the released checkpoint's key layout, the loader of its training
checkpoint format, and DD's predict (the mirror average) against a direct computation."""

import pytest
import torch

from disco_export import adabins, checkpoints, depth, efficientnet

# EfficientNet-B5 as gen-efficientnet builds it: (blocks per stage, width per stage), from the published B5
# (width x1.6, depth x2.2 of B0), written out rather than derived from the model code.
B5_REPEATS = (3, 5, 5, 7, 7, 9, 3)
B5_WIDTHS = (24, 40, 64, 128, 176, 304, 512)


def _meta_state(build):
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in build().state_dict().items()}


def _bn(p):
    return [p + s for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]


def expected_adabins_keys(repeats=B5_REPEATS):
    e = "encoder.original_model."
    keys = [e + "conv_stem.weight", e + "conv_head.weight"] + _bn(e + "bn1.") + _bn(e + "bn2.")
    for s, n in enumerate(repeats):
        for b in range(n):
            p = f"{e}blocks.{s}.{b}."
            se = [p + f"se.{c}.{w}" for c in ("conv_reduce", "conv_expand") for w in ("weight", "bias")]
            if s == 0:
                keys += [p + "conv_dw.weight", p + "conv_pw.weight"] + _bn(p + "bn1.") + _bn(p + "bn2.") + se
            else:
                keys += [p + "conv_pw.weight", p + "conv_dw.weight", p + "conv_pwl.weight"] + se
                keys += _bn(p + "bn1.") + _bn(p + "bn2.") + _bn(p + "bn3.")
    d = "decoder."
    keys += [d + "conv2.weight", d + "conv2.bias", d + "conv3.weight", d + "conv3.bias"]
    for u in range(1, 5):
        for i in (0, 3):
            keys += [f"{d}up{u}._net.{i}.weight", f"{d}up{u}._net.{i}.bias"]
        for i in (1, 4):
            keys += _bn(f"{d}up{u}._net.{i}.")
    a = "adaptive_bins_layer."
    t = a + "patch_transformer."
    keys += [t + "positional_encodings", t + "embedding_convPxP.weight", t + "embedding_convPxP.bias",
             a + "conv3x3.weight", a + "conv3x3.bias", "conv_out.0.weight", "conv_out.0.bias"]
    for i in (0, 2, 4):
        keys += [f"{a}regressor.{i}.weight", f"{a}regressor.{i}.bias"]
    for i in range(4):
        p = f"{t}transformer_encoder.layers.{i}."
        keys += [p + k for k in ("self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                                 "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
                                 "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias")]
    return keys


def test_b5_has_the_published_stages():
    stages = efficientnet.B5.stages()
    assert tuple(s[1] for s in stages) == B5_REPEATS
    assert tuple(s[5] for s in stages) == B5_WIDTHS


def test_adabins_keys_match_the_released_checkpoint():
    got = _meta_state(adabins.UnetAdaptiveBins)
    assert sorted(got) == sorted(expected_adabins_keys())
    e = "encoder.original_model."
    assert got[e + "conv_stem.weight"] == (48, 3, 3, 3)
    assert got[e + "conv_head.weight"] == (2048, 512, 1, 1)
    assert got[e + "blocks.0.0.se.conv_reduce.weight"] == (12, 48, 1, 1)
    assert got[e + "blocks.4.0.se.conv_reduce.weight"] == (32, 768, 1, 1)
    assert got[e + "blocks.6.2.conv_pwl.weight"] == (512, 3072, 1, 1)
    assert got["decoder.conv2.weight"] == (2048, 2048, 1, 1)
    assert got["decoder.up1._net.0.weight"] == (1024, 2048 + 176, 3, 3)
    assert got["decoder.up4._net.0.weight"] == (128, 256 + 24, 3, 3)
    assert got["adaptive_bins_layer.patch_transformer.positional_encodings"] == (500, 128)
    assert got["adaptive_bins_layer.patch_transformer.embedding_convPxP.weight"] == (128, 128, 16, 16)
    assert got["adaptive_bins_layer.regressor.4.weight"] == (256, 256)
    assert got["conv_out.0.weight"] == (256, 128, 1, 1)
    # AdaBins' published size: 78M parameters
    n = sum(torch.Size(s).numel() for k, s in got.items() if not k.endswith("num_batches_tracked"))
    assert 77e6 < n < 79e6


def test_the_loader_reads_adabins_training_checkpoints(tmp_path):
    """AdaBins_nyu.pt is {"model": state dict with DataParallel's "module." prefix, "optimizer": ...}."""
    src = adabins.tiny_model(2)
    path = tmp_path / "AdaBins_nyu.pt"
    torch.save({"model": {f"module.{k}": v for k, v in src.model.state_dict().items()},
                "optimizer": {"state": {}}, "epoch": 24}, path)
    model = adabins.DdPredict(adabins.TINY_ADABINS)
    checkpoints.load_into(model.model, path, "AdaBins NYU")
    model.eval(), src.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(model(x), src(x))


def test_dd_predict_is_the_mirror_average_resized():
    m = adabins.tiny_model(3).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        got = m(x)
        a = m.model(x).clamp(1e-3, 10)
        b = m.model(x.flip(3)).clamp(1e-3, 10).flip(2)
        mean = 0.5 * (a + b)
        want = torch.nn.functional.interpolate(mean[:, None], size=(64, 96), mode="bilinear", align_corners=True)
    assert got.shape == (2, 64, 96)
    assert torch.allclose(got, want[:, 0].clamp(1e-3, 10))
    assert (got >= 1e-3).all() and (got <= 10).all() and got.std() > 0


@pytest.mark.parametrize("want_key", ["adabins"])
def test_tiny_set_holds_the_adabins_graph(tiny_manifest, want_key):
    entry = tiny_manifest["depth"][want_key]
    assert entry["graphs"] == {"forward": "adabins_nyu_fwd"}
    assert entry["mean"] == [0.485, 0.456, 0.406] and entry["max_area"] == 500000
    assert depth.TINY_ADABINS_SEED_OFFSET != depth.TINY_SEED_OFFSET


def test_the_real_graph_is_traced_and_checked_at_sizes_with_a_patch_per_query():
    # the mini-ViT reads Q + 1 = 129 tokens; the exporter's default 3x5-block trace has 15 (the real graph then
    # failed to export), the tiny model's 4 px patches give 16 tokens per 32 px block
    assert adabins.export_sizes(adabins.TINY_ADABINS) is None
    trace, checks = adabins.export_sizes(adabins.ADABINS_NYU)
    for h, w in [trace, *checks]:
        tokens = (h // 32) * (w // 32)  # one 16 px patch of the half-size decoder output per 32 px block
        assert adabins.ADABINS_NYU.out + 1 <= tokens <= adabins.ADABINS_NYU.positions, (h, w)
    assert len({trace, *checks}) == 3
