"""Which guided-diffusion UNets exist: the configuration type, every model Disco Diffusion 5.7 lists (plus
forks' ``portrait_generator_v002``), their checkpoint files and published sha256s, their tiny stand-ins, and
the ``custom`` architecture built from DD's ``model_config`` keys.

Configurations are DD 5.7's ``model_config.update`` calls (dd-algorithm.md §4.1) over guided-diffusion's
``model_and_diffusion_defaults``. ``use_fp16`` records what DD does (the torso in fp16 on a GPU): such models
also get fp16 graphs (unet.py ``convert_to_fp16``), which disco runs on CUDA; the fp32 graphs serve the CPU.
"""

import re
from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class UNetConfig:
    """Hyper-parameters of one guided-diffusion UNet (the names of guided-diffusion's ``create_model``)."""

    name: str
    image_size: int
    num_channels: int
    channel_mult: tuple
    num_res_blocks: int
    attention_ds: tuple  # feature-map downsample factors that carry attention
    num_head_channels: int = -1
    num_heads: int = 4
    num_heads_upsample: int = -1  # -1: num_heads (guided-diffusion's default)
    resblock_updown: bool = True
    use_scale_shift_norm: bool = True
    use_new_attention_order: bool = False
    conv_resample: bool = True
    in_channels: int = 3
    out_channels: int = 6  # 6 with learn_sigma, else 3
    norm_groups: int = 32
    use_fp16: bool = False  # DD runs the torso in fp16 on a GPU: the set also gets fp16 graphs
    checkpoint: str = None  # the checkpoint's file name (custom models are matched by it)
    tiny: bool = False

    def as_manifest(self):
        """JSON-ready dict of the config (manifest ``diffusion`` section)."""
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        d["attention_ds"] = list(self.attention_ds)
        d["channels"] = self.in_channels
        d["learn_sigma"] = self.out_channels == 6
        d["downsample_factor"] = 2 ** (len(self.channel_mult) - 1)
        return d


DEFAULT = "512x512_diffusion_uncond_finetune_008100"
CUSTOM = "custom"

# guided-diffusion's channel_mult for channel_mult="" by image size (script_util.create_model).
_MULT_BY_SIZE = {512: (0.5, 1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 128: (1, 1, 2, 3, 4), 64: (1, 2, 3, 4)}


def _portrait(name, checkpoint):
    return UNetConfig(name=name, image_size=512, num_channels=128, channel_mult=_MULT_BY_SIZE[512],
                      num_res_blocks=2, attention_ds=(16, 32, 64), num_heads=4, use_fp16=True, checkpoint=checkpoint)


def _kaliyuga(name, checkpoint):
    """DD's ``else`` branch ("a model finetuned by KaliYuga"): attention "16", one head, plain resampling."""
    return UNetConfig(name=name, image_size=256, num_channels=128, channel_mult=_MULT_BY_SIZE[256],
                      num_res_blocks=2, attention_ds=(16,), num_heads=1, resblock_updown=False,
                      use_scale_shift_norm=False, use_fp16=True, checkpoint=checkpoint)


CONFIGS = {c.name: c for c in (
    UNetConfig(name=DEFAULT, image_size=512, num_channels=256, channel_mult=_MULT_BY_SIZE[512], num_res_blocks=2,
               attention_ds=(16, 32, 64), num_head_channels=64, use_fp16=True,
               checkpoint="512x512_diffusion_uncond_finetune_008100.pt"),
    UNetConfig(name="256x256_diffusion_uncond", image_size=256, num_channels=256, channel_mult=_MULT_BY_SIZE[256],
               num_res_blocks=2, attention_ds=(8, 16, 32), num_head_channels=64, use_fp16=True,
               checkpoint="256x256_diffusion_uncond.pt"),
    _portrait("portrait_generator_v001", "portrait_generator_v001_ema_0.9999_1MM.pt"),
    # DiscoStream (WASasquatch) loads v002 with the v001 configuration ("512x512_OpenAI").
    _portrait("portrait_generator_v002", "ema_0.9999_165000.pt"),
    _kaliyuga("pixelartdiffusion_expanded", "PADexpanded.pt"),
    _kaliyuga("pixel_art_diffusion_hard_256", "pixel_art_diffusion_hard_256.pt"),
    _kaliyuga("pixel_art_diffusion_soft_256", "pixel_art_diffusion_soft_256.pt"),
    _kaliyuga("pixelartdiffusion4k", "pixelartdiffusion4k.pt"),
    _kaliyuga("watercolordiffusion_2", "watercolordiffusion_2.pt"),
    _kaliyuga("watercolordiffusion", "watercolordiffusion.pt"),
    _kaliyuga("PulpSciFiDiffusion", "PulpSciFiDiffusion.pt"),
)}

_HF = "https://huggingface.co/"
# name -> (sha256 DD publishes in diff_model_map (DD 5.7; v002: DiscoStream), download URLs).
CHECKPOINTS = {
    DEFAULT: ("9c111ab89e214862b76e1fa6a1b3f1d329b1a88281885943d2cdbe357ad57648", [
        _HF + "lowlevelware/512x512_diffusion_unconditional_ImageNet/resolve/main/"
        "512x512_diffusion_uncond_finetune_008100.pt",
        "https://the-eye.eu/public/AI/models/512x512_diffusion_unconditional_ImageNet/"
        "512x512_diffusion_uncond_finetune_008100.pt"]),
    "256x256_diffusion_uncond": ("a37c32fffd316cd494cf3f35b339936debdc1576dad13fe57c42399a5dbc78b1", [
        "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/256x256_diffusion_uncond.pt"]),
    "portrait_generator_v001": ("b7e8c747af880d4480b6707006f1ace000b058dd0eac5bb13558ba3752d9b5b9", [
        _HF + "felipe3dartist/portrait_generator_v001/resolve/main/portrait_generator_v001_ema_0.9999_1MM.pt"]),
    "portrait_generator_v002": ("3bc39e28fd9690dafbbee83cc08d089a3640eca8ed4d14280c4a9d342c56fd7f", [
        _HF + "WAS/portrait-diffusion/resolve/main/ema_0.9999_165000.pt"]),
    "pixelartdiffusion_expanded": ("a73b40556634034bf43b5a716b531b46fb1ab890634d854f5bcbbef56838739a", [
        _HF + "KaliYuga/PADexpanded/resolve/main/PADexpanded.pt"]),
    "pixel_art_diffusion_hard_256": ("be4a9de943ec06eef32c65a1008c60ad017723a4d35dc13169c66bb322234161", [
        _HF + "KaliYuga/pixel_art_diffusion_hard_256/resolve/main/pixel_art_diffusion_hard_256.pt"]),
    "pixel_art_diffusion_soft_256": ("d321590e46b679bf6def1f1914b47c89e762c76f19ab3e3392c8ca07c791039c", [
        _HF + "KaliYuga/pixel_art_diffusion_soft_256/resolve/main/pixel_art_diffusion_soft_256.pt"]),
    "pixelartdiffusion4k": ("a1ba4f13f6dabb72b1064f15d8ae504d98d6192ad343572cc416deda7cccac30", [
        _HF + "KaliYuga/pixelartdiffusion4k/resolve/main/pixelartdiffusion4k.pt"]),
    "watercolordiffusion_2": ("49c281b6092c61c49b0f1f8da93af9b94be7e0c20c71e662e2aa26fee0e4b1a9", [
        _HF + "KaliYuga/watercolordiffusion_2/resolve/main/watercolordiffusion_2.pt"]),
    "watercolordiffusion": ("a3e6522f0c8f278f90788298d66383b11ac763dd5e0d62f8252c962c23950bd6", [
        _HF + "KaliYuga/watercolordiffusion/resolve/main/watercolordiffusion.pt"]),
    "PulpSciFiDiffusion": ("b79e62613b9f50b8a3173e5f61f0320c7dbb16efad42a92ec94d014f6e17337f", [
        _HF + "KaliYuga/PulpSciFiDiffusion/resolve/main/PulpSciFiDiffusion.pt"]),
}

_TINY_OPENAI = dict(image_size=64, num_channels=32, channel_mult=(0.5, 1, 1), num_res_blocks=1, attention_ds=(2, 4),
                    num_head_channels=16, norm_groups=8, tiny=True)
# Two levels: enough for every block kind (resampling, attention at one level, skip concatenation).
_TINY_PORTRAIT = dict(image_size=64, num_channels=32, channel_mult=(0.5, 1), num_res_blocks=1,
                      attention_ds=(2,), num_heads=4, norm_groups=8, tiny=True)
_TINY_KALIYUGA = dict(image_size=64, num_channels=16, channel_mult=(1, 2), num_res_blocks=1, attention_ds=(2,),
                      num_heads=1, norm_groups=8, tiny=True)


def _tiny(cfg):
    """The tiny stand-in of ``cfg``: its block structure (resampling kind, norm, heads rule) at small widths."""
    if cfg.name == "256x256_diffusion_uncond":
        return replace(cfg, **{**_TINY_OPENAI, "channel_mult": (1, 2), "attention_ds": (2,)})
    if cfg.num_head_channels != -1:
        return replace(cfg, **_TINY_OPENAI)
    return replace(cfg, **(_TINY_KALIYUGA if not cfg.resblock_updown else _TINY_PORTRAIT))


TINY_CONFIGS = {name: _tiny(cfg) for name, cfg in CONFIGS.items()}

# The tiny set's custom model: an architecture no named model has (two heads, two levels, learn_sigma), written
# the way a project's `custom-model` block writes it (docs/models.md).
TINY_CUSTOM_ARGS = dict(image_size=32, num_channels=16, channel_mult="1,2", num_res_blocks=1,
                        attention_resolutions="16", num_heads=2, resblock_updown=False,
                        use_scale_shift_norm=False, learn_sigma=True, use_fp16=True)
TINY_CUSTOM_CHECKPOINT = "tiny-custom.pt"


def custom_name(checkpoint_file):
    """Manifest name of a custom model: ``custom:<checkpoint file name>``."""
    return f"{CUSTOM}:{checkpoint_file}"


def graph_prefix(name):
    """Graph-name prefix of a diffusion model: ``unet`` for DD's default (the names every earlier set used),
    else ``unet_<name>`` with anything but letters, digits and ``_`` turned into ``_``."""
    if name == DEFAULT:
        return "unet"
    return "unet_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _ints(text, what):
    try:
        return tuple(int(p) for p in str(text).replace(" ", "").split(",") if p)
    except ValueError:
        raise ValueError(f"{what}: expected comma-separated integers, got {text!r}") from None


def custom_config(checkpoint_file, image_size, num_channels, num_res_blocks, attention_resolutions="16",
                  channel_mult="", num_heads=4, num_head_channels=-1, num_heads_upsample=-1, learn_sigma=True,
                  use_scale_shift_norm=True, resblock_updown=False, use_new_attention_order=False, use_fp16=False,
                  class_cond=False, tiny=False):
    """A UNetConfig from guided-diffusion's ``create_model`` arguments, as DD's custom model cell and DD forks'
    ``custom_model_*`` settings give them. Raises ValueError for what guided-diffusion would refuse too."""
    if class_cond:
        raise ValueError("class_cond models need class labels, which Disco Diffusion never gives")
    if channel_mult in ("", None):
        if image_size not in _MULT_BY_SIZE:
            raise ValueError(f"no default channel_mult for image_size {image_size}; give --channel-mult")
        mult = _MULT_BY_SIZE[image_size]
    else:
        mult = tuple(float(p) if "." in p else int(p) for p in str(channel_mult).replace(" ", "").split(","))
    attention_ds = tuple(image_size // r for r in _ints(attention_resolutions, "attention_resolutions"))
    if num_head_channels == -1 and num_heads < 1:
        raise ValueError("num_heads must be at least 1 when num_head_channels is -1")
    if min(image_size, num_channels, num_res_blocks) < 1:
        raise ValueError("image_size, num_channels and num_res_blocks must be positive")
    return UNetConfig(
        name=custom_name(checkpoint_file), image_size=image_size, num_channels=num_channels, channel_mult=mult,
        num_res_blocks=num_res_blocks, attention_ds=attention_ds, num_head_channels=num_head_channels,
        num_heads=num_heads, num_heads_upsample=num_heads_upsample, resblock_updown=resblock_updown,
        use_scale_shift_norm=use_scale_shift_norm, use_new_attention_order=use_new_attention_order,
        out_channels=6 if learn_sigma else 3, norm_groups=8 if tiny else 32, use_fp16=use_fp16,
        checkpoint=checkpoint_file, tiny=tiny)
