"""The real loading path, exercised on tiny models saved in the official file formats."""

import pytest
import torch

from disco_export import checkpoints, clip, lpips, secondary, unet
from disco_export.__main__ import main


def _pair(build):
    """Two instances with different random weights."""
    torch.manual_seed(1)
    a = build().eval()
    torch.manual_seed(2)
    b = build().eval()
    return a, b


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_unet_plain_state_dict_roundtrip(tmp_path):
    cfg = unet.TINY_CONFIGS["256x256_diffusion_uncond"]
    a, b = _pair(lambda: unet.UNetModel(cfg))
    assert not _same(a, b)
    path = tmp_path / "256x256_diffusion_uncond.pt"
    torch.save(a.state_dict(), path)
    sha = checkpoints.load_into(b, path, "unet")
    assert sha == checkpoints.sha256_file(path) and len(sha) == 64
    assert _same(a, b)
    x, t = torch.randn(1, 3, 32, 32), torch.tensor([10.0])
    with torch.no_grad():
        assert torch.equal(a(x, t), b(x, t))


def test_secondary_plain_state_dict_roundtrip(tmp_path):
    a, b = _pair(lambda: secondary.SecondaryDiffusionImageNet2(secondary.TINY_BASE_CHANNELS))
    path = tmp_path / "secondary_model_imagenet_2.pth"
    torch.save(a.state_dict(), path)
    checkpoints.load_into(b, path, "secondary")
    assert _same(a, b)


@pytest.mark.parametrize("flag", ["ViTB32", "RN50"])
def test_clip_openai_torchscript_archive(tmp_path, flag):
    cfg = clip.tiny_config(flag)
    a, b = _pair(lambda: clip.CLIP(cfg))
    # OpenAI's archives are traced modules that also carry these three integer buffers, and fp16 weights.
    a.register_buffer("input_resolution", torch.tensor(cfg.image_resolution))
    a.register_buffer("context_length", torch.tensor(77))
    a.register_buffer("vocab_size", torch.tensor(49408))
    image = torch.randn(1, 3, cfg.image_resolution, cfg.image_resolution)
    tokens = torch.zeros(1, 77, dtype=torch.int64)
    tokens[0, :3] = torch.tensor([49406, 320, 49407])
    with torch.no_grad():
        traced = torch.jit.trace(a, (image, tokens), check_trace=False)
    path = tmp_path / clip.OPENAI_FILES[flag]
    traced.save(str(path))
    assert not _same(clip.ImageEncoder(a), clip.ImageEncoder(b))
    checkpoints.load_into(b, path, flag)
    with torch.no_grad():
        assert torch.equal(a.encode_image(image), b.encode_image(image))
        assert torch.equal(a.encode_text(tokens), b.encode_text(tokens))


def test_clip_open_clip_state_dict_with_module_prefix(tmp_path):
    cfg = clip.tiny_config("RN50")
    a, b = _pair(lambda: clip.CLIP(cfg))
    path = tmp_path / "open_clip.pt"
    torch.save({"epoch": 32, "state_dict": {"module." + k: v.half() for k, v in a.state_dict().items()}}, path)
    checkpoints.load_into(b, path, "RN50")
    for k, v in a.state_dict().items():
        assert torch.equal(b.state_dict()[k], v.half().to(v.dtype)), k


def test_lpips_from_torchvision_vgg_and_lin_files(tmp_path):
    a, b = _pair(lambda: lpips.LPIPS(lpips.TINY_VGG_CHANNELS))
    vgg = {}
    for name, v in a.state_dict().items():
        if name.startswith("net.slice"):
            _, _, idx, kind = name.split(".")
            vgg[f"features.{idx}.{kind}"] = v
    vgg["classifier.0.weight"] = torch.randn(4, 4)  # torchvision's file also holds the classifier
    lin = {k: v for k, v in a.state_dict().items() if k.startswith("lin")}
    torch.save(vgg, tmp_path / "vgg16.pth")
    torch.save(lin, tmp_path / "vgg.pth")
    sha = checkpoints.load_lpips(b, tmp_path / "vgg16.pth", tmp_path / "vgg.pth")
    assert "+" in sha
    assert _same(a, b)


def test_mismatched_checkpoint_names_missing_and_unexpected_keys(tmp_path):
    cfg = unet.TINY_CONFIGS["256x256_diffusion_uncond"]
    model = unet.UNetModel(cfg)
    sd = model.state_dict()
    del sd["out.2.weight"]
    sd["bogus.weight"] = torch.zeros(1)
    sd["input_blocks.0.0.bias"] = torch.zeros(5)
    path = tmp_path / "bad.pt"
    torch.save(sd, path)
    with pytest.raises(checkpoints.CheckpointError) as e:
        checkpoints.load_into(unet.UNetModel(cfg), path, "256x256_diffusion_uncond")
    msg = str(e.value)
    assert "missing keys (1): out.2.weight" in msg
    assert "unexpected keys (1): bogus.weight" in msg
    assert "input_blocks.0.0.bias: checkpoint (5,)" in msg


def test_wrong_architecture_is_reported(tmp_path):
    path = tmp_path / "rn.pt"
    torch.save(clip.CLIP(clip.tiny_config("RN50")).state_dict(), path)
    with pytest.raises(checkpoints.CheckpointError, match="missing keys .*visual.class_embedding"):
        checkpoints.load_into(clip.CLIP(clip.tiny_config("ViTB32")), path, "ViTB32")


def test_cli_reports_missing_checkpoint(tmp_path, capsys):
    rc = main(["--diffusion", "256x256_diffusion_uncond", "--checkpoint", str(tmp_path / "nope.pt"),
               "--out", str(tmp_path / "set")])
    assert rc == 1
    assert "checkpoint not found" in capsys.readouterr().err


def test_cli_reports_garbage_file(tmp_path, capsys):
    bad = tmp_path / "secondary.pth"
    bad.write_bytes(b"not a checkpoint")
    rc = main(["--secondary", str(bad), "--out", str(tmp_path / "set")])
    assert rc == 1
    assert "not a TorchScript archive or a torch.save state dict" in capsys.readouterr().err
