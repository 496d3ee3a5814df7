"""MiDaS DPT-Large (midas.py): the released checkpoint's key layout, the real loader, DD's input size, and the
tiny graph's place in the tiny set (its numerics against torch are in test_graphs.py with every other graph)."""

import pytest
import torch

from disco_export import checkpoints, depth, midas


def _meta_state(cfg):
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in midas.DPTDepthModel(cfg).state_dict().items()}


def expected_dpt_keys(depth_, hooks_count=4):
    """The released dpt_large checkpoint's keys, from its published layout (timm ViT-L/16 with its head, four
    reassembly stages, four fusion blocks, the head convs), written independently of the model code."""
    v = "pretrained.model."
    keys = [v + k for k in ("cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
                            "norm.weight", "norm.bias", "head.weight", "head.bias")]
    for i in range(depth_):
        keys += [f"{v}blocks.{i}.{k}" for k in (
            "norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
            "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias")]
    for n in range(1, hooks_count + 1):
        p = f"pretrained.act_postprocess{n}."
        keys += [p + "0.project.0.weight", p + "0.project.0.bias", p + "3.weight", p + "3.bias"]
        if n != 3:
            keys += [p + "4.weight", p + "4.bias"]
        keys.append(f"scratch.layer{n}_rn.weight")
        r = f"scratch.refinenet{n}."
        keys += [r + "out_conv.weight", r + "out_conv.bias"]
        for unit in ("resConfUnit1", "resConfUnit2"):
            keys += [f"{r}{unit}.{c}.{w}" for c in ("conv1", "conv2") for w in ("weight", "bias")]
    keys += [f"scratch.output_conv.{i}.{w}" for i in (0, 2, 4) for w in ("weight", "bias")]
    return keys


def test_dpt_large_keys_match_the_released_checkpoint():
    got = _meta_state(midas.DPT_LARGE)
    assert sorted(got) == sorted(expected_dpt_keys(24))
    # literal shapes of dpt_large-midas-2f21e586.pt
    assert got["pretrained.model.pos_embed"] == (1, 577, 1024)
    assert got["pretrained.model.patch_embed.proj.weight"] == (1024, 3, 16, 16)
    assert got["pretrained.model.blocks.23.attn.qkv.weight"] == (3072, 1024)
    assert got["pretrained.model.blocks.0.mlp.fc1.weight"] == (4096, 1024)
    assert got["pretrained.act_postprocess1.0.project.0.weight"] == (1024, 2048)
    assert got["pretrained.act_postprocess1.4.weight"] == (256, 256, 4, 4)
    assert got["pretrained.act_postprocess2.4.weight"] == (512, 512, 2, 2)
    assert got["pretrained.act_postprocess3.3.weight"] == (1024, 1024, 1, 1)
    assert got["pretrained.act_postprocess4.4.weight"] == (1024, 1024, 3, 3)
    assert got["scratch.layer1_rn.weight"] == (256, 256, 3, 3)
    assert got["scratch.layer2_rn.weight"] == (256, 512, 3, 3)
    assert got["scratch.output_conv.0.weight"] == (128, 256, 3, 3)
    assert got["scratch.output_conv.2.weight"] == (32, 128, 3, 3)
    assert got["scratch.output_conv.4.weight"] == (1, 32, 1, 1)
    # 344M parameters (DPT-Large's published size, ViT head included)
    assert 340e6 < sum(torch.Size(s).numel() for s in got.values()) < 350e6


def test_tiny_dpt_has_the_real_layout_at_toy_widths():
    got = _meta_state(midas.TINY_DPT)
    assert sorted(got) == sorted(expected_dpt_keys(midas.TINY_DPT.depth))
    assert sum(torch.Size(s).numel() for s in got.values()) < 300_000


def test_the_loader_reads_a_checkpoint_strictly(tmp_path):
    src = midas.tiny_model(3)
    path = tmp_path / "dpt.pt"
    torch.save(src.state_dict(), path)
    model = midas.DPTDepthModel(midas.TINY_DPT)
    sha = checkpoints.load_into(model, path, "MiDaS dpt_large")
    assert len(sha) == 64
    x = torch.rand(1, 3, 64, 96) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model(x), src(x))
    sd = src.state_dict()
    del sd["scratch.refinenet2.out_conv.bias"]
    torch.save(sd, path)
    with pytest.raises(checkpoints.CheckpointError):
        checkpoints.load_into(midas.DPTDepthModel(midas.TINY_DPT), path, "MiDaS dpt_large")


def test_output_is_inverse_depth_at_the_input_size():
    model = midas.tiny_model(1)
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 128) * 2 - 1)
    assert out.shape == (2, 64, 128)
    assert (out >= 0).all() and out.std() > 0


@pytest.mark.parametrize("hw, want", [((768, 1280), (384, 640)), ((448, 512), (384, 448)),
                                      ((512, 512), (384, 384)), ((200, 300), (256, 384))])
def test_dd_input_size_is_the_minimal_resize_to_multiples_of_32(hw, want):
    assert midas.resize_for_net(*hw) == want


def test_tiny_set_holds_the_depth_graph(tiny_manifest):
    entry = tiny_manifest["depth"]["midas"]["dpt_large"]
    assert entry["graphs"] == {"forward": "midas_dpt_large_fwd"}
    assert entry["size_multiple"] == 32 and entry["mean"] == [0.5] * 3
    assert "midas_dpt_large_fwd" in tiny_manifest["graphs"]
    assert depth.PUBLISHED_SHA256_PREFIX == "2f21e586"
