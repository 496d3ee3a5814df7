"""manifest.json of the tiny set: schema, the contract with the Rust side, and file hashes."""

import copy
import json
import shutil

import blake3
import pytest

from disco_export import clip, manifest, openclip


def test_manifest_is_valid_and_hashes_match(tiny_set, tiny_manifest):
    assert manifest.validate(tiny_manifest, tiny_set) == []
    for g in tiny_manifest["graphs"].values():
        data = (tiny_set / g["file"]).read_bytes()
        assert blake3.blake3(data).hexdigest() == g["blake3"]
        assert len(data) == g["bytes"]
        assert g["source_sha256"] is None  # random weights


def test_manifest_top_level_contract(tiny_manifest):
    m = tiny_manifest
    assert m["format"] == "disco-models/1"
    assert m["tiny"] is True
    assert m["exporter"]["name"] == "disco_export"
    assert m["exporter"]["torch"].startswith("2.15")
    d = m["diffusion"]
    assert d["name"] == "512x512_diffusion_uncond_finetune_008100"
    assert d["channels"] == 3 and d["out_channels"] == 6 and isinstance(d["image_size"], int)
    models = m["diffusion_models"]
    assert set(models) == {"512x512_diffusion_uncond_finetune_008100", "custom:tiny-custom.pt"}
    assert models[d["name"]]["graphs"] == m["unet"]["graphs"]  # legacy sections mirror the default model
    custom = models["custom:tiny-custom.pt"]
    assert custom["checkpoint"] == "tiny-custom.pt" and custom["num_heads"] == 2 and custom["out_channels"] == 6
    assert custom["graphs"] == {"forward": "unet_custom_tiny_custom_pt_fwd", "vjp": "unet_custom_tiny_custom_pt_vjp"}
    assert custom["size_multiple"] == 2 and custom["resblock_updown"] is False
    multiples = {"unet": 4, "secondary": 32, "lpips": 16}
    for fam, mult in multiples.items():
        assert m[fam]["graphs"] == {"forward": f"{fam}_fwd", "vjp": f"{fam}_vjp"}
        assert m[fam]["size_multiple"] == mult
        g = m["graphs"][f"{fam}_vjp"]
        assert g["kind"] == "vjp" and g["size_multiple"] == mult
        assert g["inputs"][0]["shape"] == ["B", 3, "H", "W"]


def test_manifest_clip_sections(tiny_manifest):
    c = tiny_manifest["clip"]
    assert set(c) == {"ViTB32", "RN50", "ViTB16", "ViTB32_laion2b_e16", "RN50_cc12m"}
    for flag, entry in c.items():
        assert entry["name"] == openclip.config(flag).name
        assert entry["context_length"] == 77 and entry["vocab_size"] == 49408
        assert entry["mean"] == list(clip.MEAN) and entry["std"] == list(clip.STD)
        assert entry["config"]["quick_gelu"] == (flag in clip.CONFIGS)
        text = tiny_manifest["graphs"][entry["graphs"]["text"]]
        assert text["inputs"] == [{"name": "tokens", "dtype": "int64", "shape": ["B", 77]}]
        assert text["outputs"] == [{"name": "text_embed", "dtype": "float32", "shape": ["B", entry["embed_dim"]]}]
        r = entry["resolution"]
        vjp = tiny_manifest["graphs"][entry["graphs"]["image_vjp"]]
        assert [i["name"] for i in vjp["inputs"]] == ["image", "upstream"]
        assert vjp["inputs"][0]["shape"] == ["B", 3, r, r]
        assert [o["name"] for o in vjp["outputs"]] == ["image_embed", "grad_image"]
    assert c["ViTB32"]["config"]["kind"] == "vit" and c["RN50"]["config"]["kind"] == "modified_resnet"
    assert c["ViTB32"]["open_clip"] is None
    assert c["ViTB32_laion2b_e16"]["name"] == "ViT-B-32::laion2b_e16"
    assert c["ViTB32_laion2b_e16"]["open_clip"] == {
        "model": "ViT-B-32", "pretrained": "laion2b_e16", "dd_toggle": True, "file": "vit_b_32-laion2b_e16-af8dbd0c.pth",
        "published_sha256_prefix": "af8dbd0c"}
    assert c["RN50_cc12m"]["config"]["kind"] == "modified_resnet"


def test_graph_io_names_contract(tiny_manifest):
    g = tiny_manifest["graphs"]

    def names(n):
        return [i["name"] for i in g[n]["inputs"]], [o["name"] for o in g[n]["outputs"]]

    assert names("unet_fwd") == (["x", "t"], ["eps_full"])
    assert names("unet_vjp") == (["x", "t", "upstream"], ["eps_full", "grad_x"])
    assert names("secondary_fwd") == (["x", "t"], ["pred", "v"])
    assert names("secondary_vjp") == (["x", "t", "upstream"], ["pred", "grad_x"])
    assert names("lpips_fwd") == (["a", "b"], ["distance"])
    assert names("lpips_vjp") == (["a", "b", "upstream"], ["distance", "grad_a"])
    assert g["unet_vjp"]["inputs"][2]["shape"] == ["B", 3, "H", "W"]
    assert g["unet_vjp"]["outputs"][0]["shape"] == ["B", 6, "H", "W"]
    assert g["lpips_vjp"]["inputs"][2]["shape"] == ["B"]


def test_tiny_set_is_small(tiny_manifest):
    # 32.9 MB since each CLIP model carries both guidance graphs (fused and two-pass); 38.4 MB since the default
    # UNet also carries its checkpointed graphs (a boundary forward and 14 segment VJPs: unet_checkpoint.py); 43.5 MB
    # since it also carries its fp16 forward and VJP (unet.py convert_to_fp16)
    assert sum(g["bytes"] for g in tiny_manifest["graphs"].values()) < 46e6


def test_validate_catches_problems(tiny_set, tiny_manifest, tmp_path):
    bad = copy.deepcopy(tiny_manifest)
    bad["format"] = "disco-models/0"
    del bad["graphs"]["unet_fwd"]["blake3"]
    bad["clip"]["RN50"]["graphs"]["text"] = "no_such_graph"
    problems = manifest.validate(bad)
    assert any("format" in p for p in problems)
    assert any("unet_fwd.blake3" in p for p in problems)
    assert any("no_such_graph" in p for p in problems)
    # A changed file is detected through its blake3.
    root = tmp_path / "copy"
    shutil.copytree(tiny_set, root)
    path = root / tiny_manifest["graphs"]["lpips_fwd"]["file"]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert any("lpips_fwd: blake3 differs" in p for p in manifest.validate(manifest.load(root), root))


@pytest.mark.parametrize("roles", [{"text", "image"}, {"text", "image", "image_loss_vjp", "loss\nvjp"},
                                   {"image", "image_loss_vjp"}])
def test_validate_refuses_clip_sections_without_a_guidance_graph_or_with_unknown_roles(tiny_manifest, roles):
    """A CLIP section needs text, image and at least one guidance graph (fused or two-pass), and nothing else."""
    bad = copy.deepcopy(tiny_manifest)
    have = bad["clip"]["RN50"]["graphs"]
    bad["clip"]["RN50"]["graphs"] = {r: have.get(r, have["image"]) for r in roles}
    assert any("clip.RN50.graphs roles wrong" in p for p in manifest.validate(bad))


def test_validate_accepts_fused_only_and_two_pass_only_clip_sections(tiny_manifest):
    for drop in ("image_vjp", "image_loss_vjp"):
        doc = copy.deepcopy(tiny_manifest)
        del doc["clip"]["RN50"]["graphs"][drop]
        assert not [p for p in manifest.validate(doc) if "RN50" in p]


@pytest.mark.parametrize("damage, problem", [
    (lambda c: c["segments"][2]["inputs"].__setitem__(0, "in7\nx"), "inputs must name x or earlier segments"),
    (lambda c: c["segments"].pop(), "the last segment is not head"),
    (lambda c: c["segments"][1].__setitem__("name", "in0"), "name missing or repeated"),
    (lambda c: c["segments"][0].__setitem__("graph", "nope"), "graph names no graph"),
    (lambda c: c["segments"][0].__setitem__("time", "yes"), "time is not a bool"),
    (lambda c: c.__setitem__("forward", None), "forward names no graph"),
    (lambda c: c.__setitem__("segments", []), "segments missing or empty"),
])
def test_validate_refuses_damaged_checkpointed_sections(tiny_manifest, damage, problem):
    """The checkpointed UNet's segment list: every input names x or an earlier segment, names are unique, graphs
    exist, and it ends in head (unet_checkpoint.py)."""
    from disco_export.unet_catalog import DEFAULT
    assert not manifest.validate(tiny_manifest)
    bad = copy.deepcopy(tiny_manifest)
    damage(bad["diffusion_models"][DEFAULT]["checkpointed"])
    assert any(problem in p for p in manifest.validate(bad)), manifest.validate(bad)


def test_manifest_extends_an_existing_set(tmp_path):
    """Exporting into an existing set keeps its other entries (how a CLIP model is added later)."""
    root = tmp_path
    (root / "a.onnx").write_bytes(b"a")
    (root / "b.onnx").write_bytes(b"b")
    entry = {"file": "a.onnx", "blake3": blake3.blake3(b"a").hexdigest(), "bytes": 1, "source_sha256": None,
             "kind": "forward", "inputs": [], "outputs": []}
    manifest.write(root, True, {"unet": {"graphs": {"forward": "a", "vjp": "a"}, "size_multiple": 64}}, {"a": entry})
    entry_b = dict(entry, file="b.onnx", blake3=blake3.blake3(b"b").hexdigest())
    doc = manifest.write(root, True, {"lpips": {"graphs": {"forward": "b", "vjp": "b"}, "size_multiple": 16}},
                         {"b": entry_b})
    assert doc["unet"]["graphs"] == {"forward": "a", "vjp": "a"}
    assert doc["lpips"]["graphs"] == {"forward": "b", "vjp": "b"}
    assert set(doc["graphs"]) == {"a", "b"}
    assert json.loads((root / "manifest.json").read_text()) == doc
    assert manifest.validate(doc, root) == []
