"""OpenCLIP definitions: state-dict layouts against open_clip's published configs, activations, names, and the
real checkpoint loading path on state dicts in open_clip's file layouts."""

import pytest
import torch

from disco_export import checkpoints, clip, openclip
from disco_export.__main__ import main
from test_keys import _meta_state, expected_clip_keys

# open_clip's model_configs/<arch>.json (embed_dim, vision: image_size, layers, width, patch_size, head_width;
# text: width, heads, layers), written out here independently of openclip.py.
PUBLISHED = {
    "ViT-B-32": (512, 224, 12, 768, 32, 64, 512, 8, 12),
    "ViT-B-16": (512, 224, 12, 768, 16, 64, 512, 8, 12),
    "ViT-L-14": (768, 224, 24, 1024, 14, 64, 768, 12, 12),
    "ViT-H-14": (1024, 224, 32, 1280, 14, 80, 1024, 16, 24),
    "RN50": (1024, 224, (3, 4, 6, 3), 64, None, 64, 512, 8, 12),
    "RN101": (512, 224, (3, 4, 23, 3), 64, None, 64, 512, 8, 12),
}
# open_clip docs/model_profile.csv: total, image and text parameters in millions.
PARAMS_M = {"ViT-B-32": (151.28, 87.85, 63.43), "ViT-B-16": (149.62, 86.19, 63.43),
            "ViT-L-14": (427.62, 303.97, 123.65), "ViT-H-14": (986.11, 632.08, 354.03),
            "RN50": (102.01, 38.32, 63.69), "RN101": (119.69, 56.26, 63.43)}
# Disco Diffusion 5.6's toggles -> the open_clip.create_model(arch, pretrained) call each one makes.
DD_TOGGLES = {
    "ViTB32_laion2b_e16": "ViT-B-32::laion2b_e16", "ViTB32_laion400m_e31": "ViT-B-32::laion400m_e31",
    "ViTB32_laion400m_32": "ViT-B-32::laion400m_e32",
    "ViTB32quickgelu_laion400m_e31": "ViT-B-32-quickgelu::laion400m_e31",
    "ViTB32quickgelu_laion400m_e32": "ViT-B-32-quickgelu::laion400m_e32",
    "ViTB16_laion400m_e31": "ViT-B-16::laion400m_e31", "ViTB16_laion400m_e32": "ViT-B-16::laion400m_e32",
    "RN50_yffcc15m": "RN50::yfcc15m", "RN50_cc12m": "RN50::cc12m", "RN50_quickgelu_yfcc15m": "RN50-quickgelu::yfcc15m",
    "RN50_quickgelu_cc12m": "RN50-quickgelu::cc12m", "RN101_yfcc15m": "RN101::yfcc15m",
    "RN101_quickgelu_yfcc15m": "RN101-quickgelu::yfcc15m",
}


def _base(arch):
    return arch.removesuffix("-quickgelu")


@pytest.mark.parametrize("key", list(openclip.MODELS))
def test_keys_and_shapes_match_open_clip_configs(key):
    m = openclip.MODELS[key]
    cfg = m.config()
    embed, res, layers, width, patch, head_width, tw, th, tl = PUBLISHED[_base(m.arch)]
    assert (cfg.embed_dim, cfg.image_resolution, cfg.vision_layers, cfg.vision_width) == (embed, res, layers, width)
    assert (cfg.text_width, cfg.text_heads, cfg.text_layers) == (tw, th, tl)
    got = _meta_state(lambda: clip.CLIP(cfg))
    assert sorted(got) == sorted(expected_clip_keys(cfg))
    assert got["token_embedding.weight"] == (49408, tw)
    assert got["positional_embedding"] == (77, tw)
    assert got["text_projection"] == (tw, embed)
    assert f"transformer.resblocks.{tl - 1}.mlp.c_fc.weight" in got and f"transformer.resblocks.{tl}.ln_1.weight" not in got
    if patch:
        assert cfg.vision_patch_size == patch and cfg.heads == width // head_width
        assert got["visual.conv1.weight"] == (width, 3, patch, patch)
        assert got["visual.positional_embedding"] == ((res // patch) ** 2 + 1, width)
        assert got["visual.proj"] == (width, embed)
    else:
        assert cfg.heads == width * 32 // head_width
        assert got["visual.attnpool.positional_embedding"] == ((res // 32) ** 2 + 1, width * 32)
        assert got["visual.attnpool.c_proj.weight"] == (embed, width * 32)


@pytest.mark.parametrize("arch", list(PARAMS_M))
def test_parameter_counts_match_open_clip_profile(arch):
    with torch.device("meta"):
        model = clip.CLIP(openclip.ARCHS[arch])
    count = lambda ps: sum(p.numel() for p in ps) / 1e6  # noqa: E731
    total, image, text = PARAMS_M[arch]
    assert abs(count(model.parameters()) - total) < 0.01
    assert abs(count(model.visual.parameters()) - image) < 0.01
    assert abs(count(model.parameters()) - count(model.visual.parameters()) - text) < 0.01


def test_vit_h14_literal_shapes():
    got = _meta_state(lambda: clip.CLIP(openclip.MODELS["ViTH14_laion2b_s32b_b79k"].config()))
    assert got["visual.positional_embedding"] == (257, 1280)
    assert got["visual.transformer.resblocks.31.attn.in_proj_weight"] == (3840, 1280)
    assert got["visual.transformer.resblocks.31.mlp.c_fc.weight"] == (5120, 1280)
    assert got["transformer.resblocks.23.attn.in_proj_weight"] == (3072, 1024)
    assert got["visual.proj"] == (1280, 1024) and got["text_projection"] == (1024, 1024)


@pytest.mark.parametrize("key", list(openclip.MODELS))
def test_activation_follows_the_config_name(key):
    m = openclip.MODELS[key]
    model = clip.CLIP(clip.tiny_of(m.config()))
    acts = {type(b.mlp.gelu) for b in model.transformer.resblocks}
    if not m.config().is_vit:
        assert all(not isinstance(x, (torch.nn.GELU, clip.QuickGELU)) for x in model.visual.modules())
    else:
        acts |= {type(b.mlp.gelu) for b in model.visual.transformer.resblocks}
    assert acts == {clip.QuickGELU if m.arch.endswith("-quickgelu") else torch.nn.GELU}


def test_gelu_and_quickgelu_variants_share_weights_but_not_outputs():
    """DD's ViTB32_laion400m_e31 and ViTB32quickgelu_laion400m_e31 load one file into two different models."""
    a, b = openclip.MODELS["ViTB32_laion400m_e31"], openclip.MODELS["ViTB32quickgelu_laion400m_e31"]
    assert a.file == b.file and a.sha256_prefix == b.sha256_prefix == "d867053b"
    torch.manual_seed(0)
    ga = clip.CLIP(clip.tiny_of(a.config())).eval()
    qb = clip.CLIP(clip.tiny_of(b.config())).eval()
    qb.load_state_dict(ga.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ea, eb = ga.encode_image(x), qb.encode_image(x)
    assert float((ea - eb).norm() / eb.norm()) > 1e-3


def test_dd_toggles_resolve_to_the_models_dd_creates():
    assert {k for k, m in openclip.MODELS.items() if m.dd_toggle} == set(DD_TOGGLES)
    for toggle, name in DD_TOGGLES.items():
        assert openclip.resolve(toggle) == toggle
        assert openclip.resolve(name) == toggle
        assert openclip.MODELS[toggle].name == name


@pytest.mark.parametrize("name,key", [
    ("ViT-B-32::openai", "ViTB32"), ("ViT-B-32-quickgelu::openai", "ViTB32"), ("ViT-L-14-336::openai", "ViTL14_336px"),
    ("RN50::openai", "RN50"), ("ViT-B/16", "ViTB16"), ("RN50x64", "RN50x64"),
    ("ViT-H-14::laion2b_s32b_b79k", "ViTH14_laion2b_s32b_b79k"), (" ViT-L-14::laion2b_s32b_b82k ", "ViTL14_laion2b_s32b_b82k"),
    ("ViT-B-32::laion2b_s34b_b79k", "ViTB32_laion2b_s34b_b79k"),
    ("ViT-g-14::laion2b_s12b_b42k", None), ("ViT-B-32::nope", None), ("ViT-B-32", None), ("", None),
])
def test_resolve_names(name, key):
    assert openclip.resolve(name) == key


def test_published_hashes_and_normalisation():
    prefixes = {m.file: m.sha256_prefix for m in openclip.MODELS.values() if m.url.startswith("https://github.com")}
    assert len(prefixes) == 10 and all(len(p) == 8 and int(p, 16) >= 0 for p in prefixes.values())
    assert prefixes["vit_b_32-laion2b_e16-af8dbd0c.pth"] == "af8dbd0c"
    hf = [m for m in openclip.MODELS.values() if "huggingface" in m.url]
    assert hf and all(m.sha256_prefix is None for m in hf)
    assert openclip.normalisation("ViTL14_laion2b_s32b_b82k") == ((0.5,) * 3, (0.5,) * 3)
    assert openclip.normalisation("ViTB32_laion2b_e16") == (clip.MEAN, clip.STD)


# ----------------------------------------------------------------------------------------------- loading

def _tiny_pair(key):
    cfg = openclip.tiny_config(key)
    torch.manual_seed(1)
    a = clip.CLIP(cfg).eval()
    torch.manual_seed(2)
    b = clip.CLIP(cfg).eval()
    return a, b


def _assert_loaded(a, b):
    x = torch.randn(1, 3, a.cfg.image_resolution, a.cfg.image_resolution)
    tokens = torch.zeros(1, 77, dtype=torch.int64)
    tokens[0, :4] = torch.tensor([49406, 320, 1929, 49407])
    with torch.no_grad():
        assert torch.equal(a.encode_image(x), b.encode_image(x))
        assert torch.equal(a.encode_text(tokens), b.encode_text(tokens))


def test_open_clip_training_checkpoint(tmp_path):
    """The v0.2 release files: {"epoch", "name", "state_dict": {"module.<key>": ...}}."""
    a, b = _tiny_pair("ViTB32_laion2b_e16")
    path = tmp_path / "vit_b_32-laion2b_e16-af8dbd0c.pth"
    torch.save({"epoch": 16, "name": "laion2b", "state_dict": {"module." + k: v for k, v in a.state_dict().items()}},
               path)
    checkpoints.load_into(b, path, "CLIP ViTB32_laion2b_e16", ignore=("attn_mask",))
    _assert_loaded(a, b)


def test_custom_text_layout_and_persistent_mask(tmp_path):
    """open_clip's CustomTextCLIP layout (text tower under ``text.``), with a causal mask saved as a buffer."""
    a, b = _tiny_pair("RN50_cc12m")
    sd = {("text." + k if not k.startswith(("visual.", "logit_scale")) else k): v for k, v in a.state_dict().items()}
    sd["text.attn_mask"] = torch.full((77, 77), float("-inf")).triu(1)
    assert "text.token_embedding.weight" in sd and "token_embedding.weight" not in sd
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(sd, path)
    checkpoints.load_into(b, path, "CLIP RN50_cc12m", ignore=("attn_mask",))
    _assert_loaded(a, b)


def test_wrong_architecture_names_the_keys(tmp_path):
    a, _ = _tiny_pair("RN50_cc12m")
    path = tmp_path / "rn50.pt"
    torch.save(a.state_dict(), path)
    vit = clip.CLIP(openclip.tiny_config("ViTB32_laion2b_e16"))
    with pytest.raises(checkpoints.CheckpointError, match="missing keys.*visual.class_embedding"):
        checkpoints.load_into(vit, path, "CLIP ViTB32_laion2b_e16")


def test_cli_takes_discoart_names_and_reports_a_missing_checkpoint(tmp_path, capsys):
    out = tmp_path / "set"
    assert main(["--out", str(out), "--clip", "ViT-B-32::laion2b_e16", "--clip-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "vit_b_32-laion2b_e16-af8dbd0c.pth" in err and "not found" in err
    assert not (out / "manifest.json").exists()
    with pytest.raises(SystemExit):
        main(["--out", str(out), "--clip", "ViT-B-32::no_such_tag"])


def _write_safetensors(path, sd):
    """A safetensors file written from the format's description (header length, JSON header, raw data)."""
    import json
    import struct
    names = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64"}
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for k, v in sd.items():
        raw = v.contiguous().numpy().tobytes()
        header[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def test_hugging_face_safetensors_file(tmp_path):
    """open_clip's Hugging Face uploads (open_clip_model.safetensors), fp16 weights widened to fp32."""
    a, b = _tiny_pair("ViTB32_laion2b_e16")
    half = {k: v.half() for k, v in a.state_dict().items()}
    path = tmp_path / "open_clip_model.safetensors"
    _write_safetensors(path, half)
    checkpoints.load_into(b, path, "CLIP ViTB32_laion2b_e16")
    for k, v in half.items():
        assert b.state_dict()[k].dtype == torch.float32 and torch.equal(b.state_dict()[k], v.float()), k
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(checkpoints.CheckpointError, match="malformed safetensors"):
        checkpoints.read_state_dict(truncated)
