"""Every diffusion model Disco Diffusion 5.7 lists, forks' portrait_generator_v002 and `custom`: state-dict
layouts against guided-diffusion's published layout, the real checkpoint loader, and tiny exports through the
CLI with their VJPs verified against autograd (modelset.build runs verify.check on every graph)."""

import pytest
import torch

from disco_export import checkpoints, manifest, unet, unet_catalog
from disco_export.__main__ import main


def _meta_state(cfg):
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in unet.UNetModel(cfg).state_dict().items()}


def _res(p, ch_in, ch_out, emb, scale_shift):
    d = {p + "in_layers.0.weight": (ch_in,), p + "in_layers.0.bias": (ch_in,),
         p + "in_layers.2.weight": (ch_out, ch_in, 3, 3), p + "in_layers.2.bias": (ch_out,),
         p + "emb_layers.1.weight": ((2 if scale_shift else 1) * ch_out, emb),
         p + "emb_layers.1.bias": ((2 if scale_shift else 1) * ch_out,),
         p + "out_layers.0.weight": (ch_out,), p + "out_layers.0.bias": (ch_out,),
         p + "out_layers.3.weight": (ch_out, ch_out, 3, 3), p + "out_layers.3.bias": (ch_out,)}
    if ch_in != ch_out:
        d.update({p + "skip_connection.weight": (ch_out, ch_in, 1, 1), p + "skip_connection.bias": (ch_out,)})
    return d


def _attn(p, ch):
    return {p + "norm.weight": (ch,), p + "norm.bias": (ch,), p + "qkv.weight": (3 * ch, ch, 1),
            p + "qkv.bias": (3 * ch,), p + "proj_out.weight": (ch, ch, 1), p + "proj_out.bias": (ch,)}


def _resample(p, ch, updown, emb, scale_shift, conv_name):
    """guided-diffusion's down/up step: a ResBlock (resblock_updown) or Downsample ``op`` / Upsample ``conv``."""
    if updown:
        return _res(p, ch, ch, emb, scale_shift)
    return {f"{p}{conv_name}.weight": (ch, ch, 3, 3), f"{p}{conv_name}.bias": (ch,)}


def expected_layout(mc, mult, nres, attn_ds, updown, scale_shift, out_ch=6):
    """Key -> shape of a guided-diffusion UNetModel checkpoint (unet.py's create_model layout), from the
    hyper-parameters alone."""
    emb = 4 * mc
    widths = [int(m * mc) for m in mult]
    d = {"time_embed.0.weight": (emb, mc), "time_embed.0.bias": (emb,), "time_embed.2.weight": (emb, emb),
         "time_embed.2.bias": (emb,), "input_blocks.0.0.weight": (widths[0], 3, 3, 3),
         "input_blocks.0.0.bias": (widths[0],), "out.0.weight": (widths[0],), "out.0.bias": (widths[0],),
         "out.2.weight": (out_ch, widths[0], 3, 3), "out.2.bias": (out_ch,)}
    chans, ch, ds, i = [widths[0]], widths[0], 1, 1
    for level, w in enumerate(widths):
        for _ in range(nres):
            d.update(_res(f"input_blocks.{i}.0.", ch, w, emb, scale_shift))
            ch = w
            if ds in attn_ds:
                d.update(_attn(f"input_blocks.{i}.1.", ch))
            chans.append(ch)
            i += 1
        if level < len(widths) - 1:
            d.update(_resample(f"input_blocks.{i}.0.", ch, updown, emb, scale_shift, "op"))
            chans.append(ch)
            i += 1
            ds *= 2
    d.update(_res("middle_block.0.", ch, ch, emb, scale_shift))
    d.update(_attn("middle_block.1.", ch))
    d.update(_res("middle_block.2.", ch, ch, emb, scale_shift))
    o = 0
    for level in reversed(range(len(widths))):
        for r in range(nres + 1):
            d.update(_res(f"output_blocks.{o}.0.", ch + chans.pop(), widths[level], emb, scale_shift))
            ch = widths[level]
            j = 1
            if ds in attn_ds:
                d.update(_attn(f"output_blocks.{o}.1.", ch))
                j = 2
            if level and r == nres:
                d.update(_resample(f"output_blocks.{o}.{j}.", ch, updown, emb, scale_shift, "conv"))
                ds //= 2
            o += 1
    return d


# DD 5.7's model_config per model (dd-algorithm.md §4.1): num_channels, image size -> channel_mult, the
# attention_resolutions string, resblock_updown, use_scale_shift_norm.
PUBLISHED = {
    "512x512_diffusion_uncond_finetune_008100": (256, 512, "32, 16, 8", True, True),
    "256x256_diffusion_uncond": (256, 256, "32, 16, 8", True, True),
    "portrait_generator_v001": (128, 512, "32, 16, 8", True, True),
    "portrait_generator_v002": (128, 512, "32, 16, 8", True, True),
    **{n: (128, 256, "16", False, False) for n in (
        "pixelartdiffusion_expanded", "pixel_art_diffusion_hard_256", "pixel_art_diffusion_soft_256",
        "pixelartdiffusion4k", "watercolordiffusion_2", "watercolordiffusion", "PulpSciFiDiffusion")},
}
MULT = {512: (0.5, 1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4)}


def test_every_dd_model_has_a_definition_checkpoint_and_hash():
    assert set(unet.CONFIGS) == set(PUBLISHED) == set(unet_catalog.CHECKPOINTS)
    for name, cfg in unet.CONFIGS.items():
        sha, urls = unet_catalog.CHECKPOINTS[name]
        assert len(sha) == 64 and int(sha, 16) >= 0
        assert urls and all(u.startswith("https://") for u in urls)
        assert cfg.checkpoint and urls[0].endswith("/" + cfg.checkpoint)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_state_dict_layout_matches_guided_diffusion(name):
    mc, size, attn, updown, scale_shift = PUBLISHED[name]
    attn_ds = tuple(size // int(r) for r in attn.split(","))
    assert _meta_state(unet.CONFIGS[name]) == expected_layout(mc, MULT[size], 2, attn_ds, updown, scale_shift)


def test_literal_keys_of_the_community_models():
    pixel = _meta_state(unet.CONFIGS["pixel_art_diffusion_hard_256"])
    assert pixel["input_blocks.3.0.op.weight"] == (128, 128, 3, 3)  # stride-2 conv, not a ResBlock
    assert "input_blocks.3.0.in_layers.0.weight" not in pixel
    assert pixel["input_blocks.13.1.qkv.weight"] == (1536, 512, 1)  # attention at 16 px only (level 4)
    assert "input_blocks.10.1.qkv.weight" not in pixel
    assert pixel["output_blocks.2.1.conv.weight"] == (512, 512, 3, 3)  # nearest x2 + conv
    assert pixel["input_blocks.1.0.emb_layers.1.weight"] == (128, 512)  # no scale-shift norm
    portrait = _meta_state(unet.CONFIGS["portrait_generator_v001"])
    assert portrait["input_blocks.1.0.emb_layers.1.weight"] == (128, 512)  # scale-shift: 2 x 64
    assert portrait["middle_block.1.qkv.weight"] == (1536, 512, 1)
    assert portrait["out.2.weight"] == (6, 64, 3, 3)


def test_heads_follow_each_models_rule():
    def heads(cfg):
        return {m.num_heads for m in unet.UNetModel(cfg).modules() if isinstance(m, unet.AttentionBlock)}

    with torch.device("meta"):
        assert heads(unet.CONFIGS["pixelartdiffusion4k"]) == {1}
        assert heads(unet.CONFIGS["portrait_generator_v002"]) == {4}
        assert heads(unet.CONFIGS["512x512_diffusion_uncond_finetune_008100"]) == {8, 16}  # 64-channel heads of widths 512, 1024


def test_custom_defaults_are_dds_custom_cell():
    from disco_export.__main__ import CUSTOM_DEFAULTS
    cfg = unet_catalog.custom_config("ema_0.9999_058000.pt", **CUSTOM_DEFAULTS)
    named = unet.CONFIGS["watercolordiffusion"]
    for field in ("image_size", "num_channels", "channel_mult", "num_res_blocks", "attention_ds", "num_heads",
                  "num_head_channels", "resblock_updown", "use_scale_shift_norm", "out_channels", "use_fp16"):
        assert getattr(cfg, field) == getattr(named, field), field
    assert cfg.name == "custom:ema_0.9999_058000.pt"
    assert unet_catalog.graph_prefix(cfg.name) == "unet_custom_ema_0_9999_058000_pt"


def test_custom_config_reads_guided_diffusion_arguments():
    cfg = unet_catalog.custom_config("m.pt", image_size=128, num_channels=64, num_res_blocks=3,
                                     attention_resolutions="32,16", channel_mult="", num_head_channels=32,
                                     learn_sigma=False, resblock_updown=True)
    assert cfg.channel_mult == (1, 1, 2, 3, 4) and cfg.attention_ds == (4, 8) and cfg.out_channels == 3
    assert _meta_state(cfg)["out.2.weight"] == (3, 64, 3, 3)
    with pytest.raises(ValueError, match="channel_mult"):
        unet_catalog.custom_config("m.pt", image_size=96, num_channels=64, num_res_blocks=2)
    with pytest.raises(ValueError, match="class"):
        unet_catalog.custom_config("m.pt", image_size=64, num_channels=64, num_res_blocks=2, class_cond=True)
    with pytest.raises(ValueError, match="integers"):
        unet_catalog.custom_config("m.pt", image_size=64, num_channels=64, num_res_blocks=2,
                                   attention_resolutions="16;8")


@pytest.mark.parametrize("name", ["portrait_generator_v001", "pixel_art_diffusion_soft_256"])
def test_real_loader_reads_fp16_and_fp32_checkpoints(tmp_path, name):
    """guided-diffusion checkpoints are plain state dicts; fine-tunes may be saved in half precision."""
    cfg = unet.TINY_CONFIGS[name]
    torch.manual_seed(3)
    a = unet.UNetModel(cfg).eval()
    for dtype in (torch.float32, torch.float16):
        path = tmp_path / f"{name}-{dtype}.pt"
        torch.save({k: v.to(dtype) for k, v in a.state_dict().items()}, path)
        b = unet.UNetModel(cfg).eval()
        assert checkpoints.load_into(b, path, name) == checkpoints.sha256_file(path)
        x, t = torch.randn(2, 3, 16, 12), torch.tensor([3.0, 700.0])
        with torch.no_grad():
            err = (a(x, t) - b(x, t)).norm() / a(x, t).norm()
        assert err < (1e-7 if dtype == torch.float32 else 1e-2)


def test_a_kaliyuga_checkpoint_does_not_load_as_a_portrait(tmp_path):
    path = tmp_path / "PulpSciFiDiffusion.pt"
    torch.save(unet.UNetModel(unet.TINY_CONFIGS["PulpSciFiDiffusion"]).state_dict(), path)
    with pytest.raises(checkpoints.CheckpointError, match="missing keys"):
        checkpoints.load_into(unet.UNetModel(unet.TINY_CONFIGS["portrait_generator_v001"]), path, "portrait")


def test_tiny_community_models_export_side_by_side(tmp_path):
    """Portrait (fixed 4 heads, ResBlock resampling) and KaliYuga (1 head, conv resampling, no scale-shift) tiny
    UNets through the CLI into one set; each graph is verified against autograd by the exporter itself."""
    for name in ("portrait_generator_v001", "pixelartdiffusion_expanded"):
        assert main(["--tiny", "--diffusion", name, "--out", str(tmp_path), "--verify-batches", "2"]) == 0
    doc = manifest.load(tmp_path)
    assert manifest.validate(doc, tmp_path) == []
    models = doc["diffusion_models"]
    assert set(models) == {"portrait_generator_v001", "pixelartdiffusion_expanded"}
    assert models["pixelartdiffusion_expanded"]["graphs"] == {
        "forward": "unet_pixelartdiffusion_expanded_fwd", "vjp": "unet_pixelartdiffusion_expanded_vjp"}
    assert models["portrait_generator_v001"]["resblock_updown"] is True
    assert models["pixelartdiffusion_expanded"]["use_scale_shift_norm"] is False
    assert doc["diffusion"] is None and doc["unet"] is None  # legacy sections: the 512 default model only
    for entry in models.values():
        for g in entry["graphs"].values():
            errs = doc["graphs"][g]["verification"]["max_rel_error"]
            assert all(0 <= e < 1e-5 for e in errs.values())


def test_custom_cli_flags_build_and_load_the_architecture(tmp_path):
    from disco_export.__main__ import parser, request
    from disco_export.modelset import make_unet
    with pytest.raises(SystemExit, match="--checkpoint"):
        main(["--diffusion", "custom", "--out", str(tmp_path)])
    flags = ["--image-size", "64", "--num-channels", "64", "--num-res-blocks", "1", "--channel-mult", "1,2",
             "--attention-resolutions", "32", "--num-heads", "2", "--resblock-updown", "--no-learn-sigma"]
    cfg = unet_catalog.custom_config("my-model.pt", image_size=64, num_channels=64, num_res_blocks=1,
                                     channel_mult="1,2", attention_resolutions="32", num_heads=2,
                                     resblock_updown=True, learn_sigma=False, use_scale_shift_norm=False,
                                     use_fp16=True)
    torch.manual_seed(4)
    ref = unet.UNetModel(cfg).eval()
    path = tmp_path / "my-model.pt"
    torch.save(ref.state_dict(), path)
    req = request(parser().parse_args(["--diffusion", "custom", "--checkpoint", str(path), "--out", "x"] + flags))
    assert req.custom == cfg and cfg.attention_ds == (2,)
    model, sha = make_unet(req)
    assert sha == checkpoints.sha256_file(path)
    x, t = torch.randn(1, 3, 8, 8), torch.tensor([500.0])
    with torch.no_grad():
        assert torch.equal(model.eval()(x, t), ref(x, t)) and ref(x, t).shape == (1, 3, 8, 8)
    wrong = request(parser().parse_args(["--diffusion", "custom", "--checkpoint", str(path), "--out", "x"]
                                        + flags[:-1]))  # learn_sigma: 6 outputs, the file has 3
    with pytest.raises(checkpoints.CheckpointError, match="shape"):
        make_unet(wrong)


def test_a_set_written_before_diffusion_models_keeps_its_model(tmp_path):
    old = {"diffusion": {"name": "256x256_diffusion_uncond", "image_size": 256},
           "unet": {"graphs": {"forward": "unet_fwd", "vjp": "unet_vjp"}, "size_multiple": 32}}
    migrated = manifest.migrate_diffusion(old)
    assert migrated["diffusion_models"]["256x256_diffusion_uncond"]["graphs"]["forward"] == "unet_fwd"
    assert manifest.diffusion_graph_clash(old, unet_catalog.DEFAULT, ["unet_fwd"]) == "256x256_diffusion_uncond"
    assert manifest.diffusion_graph_clash(old, "watercolordiffusion", ["unet_watercolordiffusion_fwd"]) is None
