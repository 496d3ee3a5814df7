"""State-dict keys of every definition against the official checkpoints' key lists.

The expected lists are generated here from the published layer counts (independently of the model code), and
spot-checked with literal keys and shapes known from the released files.
"""

import pytest
import torch

from disco_export import clip, lpips, secondary, unet


def _meta_state(build):
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in build().state_dict().items()}


# ----------------------------------------------------------------------------------------------- CLIP

def _resblock_keys(prefix, i):
    p = f"{prefix}resblocks.{i}."
    return [p + s for s in ("attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
                            "ln_1.weight", "ln_1.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
                            "mlp.c_proj.bias", "ln_2.weight", "ln_2.bias")]


def _bn(p):
    return [p + s for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]


def expected_clip_keys(cfg):
    keys = ["positional_embedding", "text_projection", "logit_scale", "token_embedding.weight",
            "ln_final.weight", "ln_final.bias"]
    for i in range(cfg.text_layers):
        keys += _resblock_keys("transformer.", i)
    if cfg.is_vit:
        keys += ["visual.class_embedding", "visual.positional_embedding", "visual.proj", "visual.conv1.weight",
                 "visual.ln_pre.weight", "visual.ln_pre.bias", "visual.ln_post.weight", "visual.ln_post.bias"]
        for i in range(cfg.vision_layers):
            keys += _resblock_keys("visual.transformer.", i)
    else:
        for j in (1, 2, 3):
            keys += [f"visual.conv{j}.weight"] + _bn(f"visual.bn{j}.")
        for layer, n in enumerate(cfg.vision_layers, start=1):
            for b in range(n):
                p = f"visual.layer{layer}.{b}."
                for j in (1, 2, 3):
                    keys += [f"{p}conv{j}.weight"] + _bn(f"{p}bn{j}.")
                if b == 0:  # the first block of every layer changes width (layer1: width -> 4*width) or strides
                    keys += [f"{p}downsample.0.weight"] + _bn(f"{p}downsample.1.")
        keys += ["visual.attnpool.positional_embedding"]
        for proj in ("k_proj", "q_proj", "v_proj", "c_proj"):
            keys += [f"visual.attnpool.{proj}.weight", f"visual.attnpool.{proj}.bias"]
    return keys


@pytest.mark.parametrize("flag", list(clip.CONFIGS))
def test_clip_keys_match_published_architecture(flag):
    cfg = clip.CONFIGS[flag]
    got = _meta_state(lambda: clip.CLIP(cfg))
    assert sorted(got) == sorted(expected_clip_keys(cfg))
    w, d, r = cfg.text_width, cfg.embed_dim, cfg.image_resolution
    assert got["token_embedding.weight"] == (49408, w)
    assert got["positional_embedding"] == (77, w)
    assert got["text_projection"] == (w, d)
    assert got["ln_final.weight"] == (w,)
    if cfg.is_vit:
        vw, p = cfg.vision_width, cfg.vision_patch_size
        assert got["visual.transformer.resblocks.0.attn.in_proj_weight"] == (3 * vw, vw)
        assert got["visual.conv1.weight"] == (vw, 3, p, p)
        assert got["visual.positional_embedding"] == ((r // p) ** 2 + 1, vw)
        assert got["visual.proj"] == (vw, d)
    else:
        vw = cfg.vision_width
        assert got["visual.layer1.0.conv1.weight"] == (vw, vw, 1, 1)
        assert got["visual.conv1.weight"] == (vw // 2, 3, 3, 3)
        assert got["visual.attnpool.positional_embedding"] == ((r // 32) ** 2 + 1, vw * 32)
        assert got["visual.attnpool.c_proj.weight"] == (d, vw * 32)


def test_clip_literal_shapes_of_released_files():
    # Shapes as stored in OpenAI's ViT-B-32.pt and RN50.pt.
    vit = _meta_state(lambda: clip.CLIP(clip.CONFIGS["ViTB32"]))
    assert vit["visual.positional_embedding"] == (50, 768)
    assert vit["visual.transformer.resblocks.11.mlp.c_fc.weight"] == (3072, 768)
    assert "visual.transformer.resblocks.12.ln_1.weight" not in vit
    rn = _meta_state(lambda: clip.CLIP(clip.CONFIGS["RN50"]))
    assert rn["visual.attnpool.positional_embedding"] == (50, 2048)
    assert rn["visual.layer4.2.conv3.weight"] == (2048, 512, 1, 1)
    assert rn["visual.layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    assert "visual.layer1.1.downsample.0.weight" not in rn
    assert rn["text_projection"] == (512, 1024)
    l336 = _meta_state(lambda: clip.CLIP(clip.CONFIGS["ViTL14_336px"]))
    assert l336["visual.positional_embedding"] == (577, 1024)


@pytest.mark.parametrize("flag,params_m", [("ViTB32", 151.28), ("RN50", 102.01), ("RN101", 119.69),
                                           ("RN50x4", 178.30), ("ViTL14", 427.62)])
def test_clip_parameter_counts(flag, params_m):
    with torch.device("meta"):
        n = sum(p.numel() for p in clip.CLIP(clip.CONFIGS[flag]).parameters())
    assert abs(n / 1e6 - params_m) < 0.01


# ----------------------------------------------------------------------------------------------- UNet

def _unet_res_keys(p, ch_in, ch_out, scale_shift=True):
    keys = [p + s for s in ("in_layers.0.weight", "in_layers.0.bias", "in_layers.2.weight", "in_layers.2.bias",
                            "emb_layers.1.weight", "emb_layers.1.bias", "out_layers.0.weight", "out_layers.0.bias",
                            "out_layers.3.weight", "out_layers.3.bias")]
    if ch_in != ch_out:
        keys += [p + "skip_connection.weight", p + "skip_connection.bias"]
    return keys


def _unet_attn_keys(p):
    return [p + s for s in ("norm.weight", "norm.bias", "qkv.weight", "qkv.bias", "proj_out.weight", "proj_out.bias")]


def expected_unet_keys(mc, mult, nres, attn_ds):
    keys = ["time_embed.0.weight", "time_embed.0.bias", "time_embed.2.weight", "time_embed.2.bias",
            "input_blocks.0.0.weight", "input_blocks.0.0.bias", "out.0.weight", "out.0.bias", "out.2.weight",
            "out.2.bias"]
    widths = [int(m * mc) for m in mult]
    chans, ch, ds, i = [widths[0]], widths[0], 1, 1
    for level, w in enumerate(widths):
        for _ in range(nres):
            keys += _unet_res_keys(f"input_blocks.{i}.0.", ch, w)
            ch = w
            if ds in attn_ds:
                keys += _unet_attn_keys(f"input_blocks.{i}.1.")
            chans.append(ch)
            i += 1
        if level < len(widths) - 1:
            keys += _unet_res_keys(f"input_blocks.{i}.0.", ch, ch)
            chans.append(ch)
            i += 1
            ds *= 2
    keys += _unet_res_keys("middle_block.0.", ch, ch) + _unet_attn_keys("middle_block.1.")
    keys += _unet_res_keys("middle_block.2.", ch, ch)
    o = 0
    for level in reversed(range(len(widths))):
        for r in range(nres + 1):
            keys += _unet_res_keys(f"output_blocks.{o}.0.", ch + chans.pop(), widths[level])
            ch = widths[level]
            j = 1
            if ds in attn_ds:
                keys += _unet_attn_keys(f"output_blocks.{o}.1.")
                j = 2
            if level and r == nres:
                keys += _unet_res_keys(f"output_blocks.{o}.{j}.", ch, ch)
                ds //= 2
            o += 1
    return keys


@pytest.mark.parametrize("name,mc,mult,attn", [
    ("512x512_diffusion_uncond_finetune_008100", 256, (0.5, 1, 1, 2, 2, 4, 4), (16, 32, 64)),
    ("256x256_diffusion_uncond", 256, (1, 1, 2, 2, 4, 4), (8, 16, 32)),
])
def test_unet_keys_match_published_architecture(name, mc, mult, attn):
    got = _meta_state(lambda: unet.UNetModel(unet.CONFIGS[name]))
    assert sorted(got) == sorted(expected_unet_keys(mc, mult, 2, attn))
    assert got["time_embed.0.weight"] == (4 * mc, mc)
    assert got["out.2.weight"] == (6, int(mult[0] * mc), 3, 3)
    assert got["input_blocks.0.0.weight"] == (int(mult[0] * mc), 3, 3, 3)
    assert got["middle_block.1.qkv.weight"] == (3 * 1024, 1024, 1)
    assert got["input_blocks.1.0.emb_layers.1.weight"] == (2 * int(mult[0] * mc), 4 * mc)  # scale-shift norm


def test_unet_512_literal_keys():
    got = _meta_state(lambda: unet.UNetModel(unet.CONFIGS["512x512_diffusion_uncond_finetune_008100"]))
    # 1 stem + 7 levels x 2 ResBlocks + 6 down blocks = 21 input blocks; 7 x 3 output blocks.
    assert "input_blocks.20.0.in_layers.0.weight" in got and "input_blocks.21.0.in_layers.0.weight" not in got
    assert "output_blocks.20.0.in_layers.0.weight" in got and "output_blocks.21.0.in_layers.0.weight" not in got
    assert got["input_blocks.3.0.in_layers.2.weight"] == (128, 128, 3, 3)  # down ResBlock at level 0
    assert "input_blocks.3.0.skip_connection.weight" not in got
    assert got["output_blocks.0.0.skip_connection.weight"] == (1024, 2048, 1, 1)
    with torch.device("meta"):
        n = sum(p.numel() for p in unet.UNetModel(unet.CONFIGS["512x512_diffusion_uncond_finetune_008100"]).parameters())
    assert 550e6 < n < 565e6


# ----------------------------------------------------------------------------------------------- secondary

def expected_secondary_keys():
    keys = ["timestep_embed.weight", "net.0.0.weight", "net.0.0.bias", "net.1.0.weight", "net.1.0.bias",
            "net.3.0.weight", "net.3.0.bias", "net.4.weight", "net.4.bias"]
    prefix = "net.2.main."
    for depth in range(5):
        innermost = depth == 4
        convs = [1, 2, 3, 4] if innermost else [1, 2, 4, 5]  # 0 = Down, 3 = SkipBlock, last = Up
        keys += [f"{prefix}{c}.0.{s}" for c in convs for s in ("weight", "bias")]
        prefix += "3.main."
    return keys


def test_secondary_keys_match_published_architecture():
    got = _meta_state(secondary.SecondaryDiffusionImageNet2)
    assert sorted(got) == sorted(expected_secondary_keys())
    assert got["timestep_embed.weight"] == (8, 1)
    assert got["net.0.0.weight"] == (64, 19, 3, 3)
    assert got["net.4.weight"] == (3, 64, 3, 3)
    assert got["net.2.main.3.main.3.main.3.main.3.main.1.0.weight"] == (512, 256, 3, 3)


# ----------------------------------------------------------------------------------------------- LPIPS

def test_lpips_keys_match_published_architecture():
    got = _meta_state(lpips.LPIPS)
    convs = {1: (0, 2), 2: (5, 7), 3: (10, 12, 14), 4: (17, 19, 21), 5: (24, 26, 28)}
    want = ["scaling_layer.shift", "scaling_layer.scale"]
    want += [f"net.slice{s}.{i}.{p}" for s, idx in convs.items() for i in idx for p in ("weight", "bias")]
    want += [f"lin{k}.model.1.weight" for k in range(5)]
    assert sorted(got) == sorted(want)
    assert got["lin0.model.1.weight"] == (1, 64, 1, 1)
    assert got["lin4.model.1.weight"] == (1, 512, 1, 1)
    assert got["net.slice5.28.weight"] == (512, 512, 3, 3)
    assert got["scaling_layer.shift"] == (1, 3, 1, 1)
