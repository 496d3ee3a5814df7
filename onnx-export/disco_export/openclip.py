"""OpenCLIP models (mlfoundations/open_clip): the architectures Disco Diffusion 5.6+ and DiscoArt load, their
published checkpoints, and how disco names them.

Facts from open_clip's ``model_configs/*.json`` and ``pretrained.py`` (read, not copied):

* The state-dict layout is OpenAI's (``visual.*``, ``transformer.resblocks.*``, ``token_embedding.weight``,
  ``ln_final.*``, ``text_projection``, ``logit_scale``), so the models are ``clip.CLIP`` with a config.
* A config named ``<arch>-quickgelu`` uses QuickGELU in every transformer MLP; ``<arch>`` uses exact GELU.
  open_clip picks the activation from the config name, not from the weights: DD's ``ViTB32_laion400m_e31`` loads
  weights trained with QuickGELU into the GELU config (``open_clip.create_model('ViT-B-32', 'laion400m_e31')``),
  and disco reproduces exactly that model.
* Vision heads: ViT width / ``head_width`` (64, but 80 for ViT-H-14); ModifiedResNet width·32/64, as OpenAI.
* Normalisation: OpenAI's constants for all of these except ViT-L-14 ``laion2b_s32b_b82k`` (Inception's 0.5, 0.5,
  0.5). The manifest records the published constants; disco normalises with OpenAI's for every model, as DD
  (``DD:2046``) and DiscoArt (``runner.py`` ``normalize``) do. The tokenizer is OpenAI's for all of them.
* Release files on GitHub carry the first 8 hex digits of their sha256 in the file name (open_clip checks that
  prefix); the Hugging Face hosted ones have no hash in open_clip.

Names: a model has one canonical key (its manifest key): DD's toggle name where DD has one (with DD's spellings
``ViTB32_laion400m_32`` and ``RN50_yffcc15m``), else ``<DD-style arch>_<tag>``. ``resolve`` also accepts DiscoArt's
``ARCH::TAG`` names and DD's toggle names; ``ARCH::openai`` names OpenAI's models (their DD flag).
"""

from dataclasses import dataclass, replace

from . import clip

# open_clip's model configs (model_configs/<name>.json) for the architectures below.
_B32 = clip.CLIPConfig("ViT-B-32", 512, 224, 12, 768, 32, 512, 8, quick_gelu=False)
_B16 = clip.CLIPConfig("ViT-B-16", 512, 224, 12, 768, 16, 512, 8, quick_gelu=False)
_L14 = clip.CLIPConfig("ViT-L-14", 768, 224, 24, 1024, 14, 768, 12, quick_gelu=False)
_H14 = clip.CLIPConfig("ViT-H-14", 1024, 224, 32, 1280, 14, 1024, 16, text_layers=24, vision_heads=1280 // 80,
                       quick_gelu=False)
_RN50 = clip.CLIPConfig("RN50", 1024, 224, (3, 4, 6, 3), 64, 0, 512, 8, quick_gelu=False)
_RN101 = clip.CLIPConfig("RN101", 512, 224, (3, 4, 23, 3), 64, 0, 512, 8, quick_gelu=False)

ARCHS = {"ViT-B-32": _B32, "ViT-B-16": _B16, "ViT-L-14": _L14, "ViT-H-14": _H14, "RN50": _RN50, "RN101": _RN101}
ARCHS.update({f"{k}-quickgelu": replace(v, quick_gelu=True) for k, v in list(ARCHS.items())})

INCEPTION = (0.5, 0.5, 0.5)
_RELEASES = "https://github.com/mlfoundations/open_clip/releases/download/v0.2-weights/"
_HF = "https://huggingface.co/laion/{}/resolve/main/open_clip_pytorch_model.bin"


@dataclass(frozen=True)
class OpenClipModel:
    """One (architecture, pretrained tag) pair as open_clip names it."""

    key: str  # canonical key: manifest key, DD toggle where DD has one
    arch: str  # open_clip config name ("ViT-B-32-quickgelu")
    pretrained: str  # open_clip pretrained tag ("laion400m_e31")
    dd_toggle: bool  # whether `key` is a Disco Diffusion toggle
    file: str  # download file name (also what --clip-dir is searched for)
    url: str
    sha256_prefix: str = None  # published prefix of the file's sha256 (None: not published)
    mean: tuple = clip.MEAN
    std: tuple = clip.STD

    @property
    def name(self):
        """DiscoArt's / open_clip's ``ARCH::TAG``."""
        return f"{self.arch}::{self.pretrained}"

    def config(self):
        return replace(ARCHS[self.arch], name=self.name)


def _release(key, arch, tag, file, dd=True):
    return OpenClipModel(key, arch, tag, dd, file, _RELEASES + file, file.rsplit("-", 1)[1].split(".")[0])


def _hf(key, arch, tag, repo, **kw):
    return OpenClipModel(key, arch, tag, False, f"{repo}.bin", _HF.format(repo), **kw)


_MODELS = [
    # Disco Diffusion 5.6's toggles, in its load order (DD:2022-2044), with the model each one creates.
    _release("ViTB32_laion2b_e16", "ViT-B-32", "laion2b_e16", "vit_b_32-laion2b_e16-af8dbd0c.pth"),
    _release("ViTB32_laion400m_e31", "ViT-B-32", "laion400m_e31", "vit_b_32-quickgelu-laion400m_e31-d867053b.pt"),
    _release("ViTB32_laion400m_32", "ViT-B-32", "laion400m_e32", "vit_b_32-quickgelu-laion400m_e32-46683a32.pt"),
    _release("ViTB32quickgelu_laion400m_e31", "ViT-B-32-quickgelu", "laion400m_e31",
             "vit_b_32-quickgelu-laion400m_e31-d867053b.pt"),
    _release("ViTB32quickgelu_laion400m_e32", "ViT-B-32-quickgelu", "laion400m_e32",
             "vit_b_32-quickgelu-laion400m_e32-46683a32.pt"),
    _release("ViTB16_laion400m_e31", "ViT-B-16", "laion400m_e31", "vit_b_16-laion400m_e31-00efa78f.pt"),
    _release("ViTB16_laion400m_e32", "ViT-B-16", "laion400m_e32", "vit_b_16-laion400m_e32-55e67d44.pt"),
    _release("RN50_yffcc15m", "RN50", "yfcc15m", "rn50-quickgelu-yfcc15m-455df137.pt"),
    _release("RN50_cc12m", "RN50", "cc12m", "rn50-quickgelu-cc12m-f000538c.pt"),
    _release("RN50_quickgelu_yfcc15m", "RN50-quickgelu", "yfcc15m", "rn50-quickgelu-yfcc15m-455df137.pt"),
    _release("RN50_quickgelu_cc12m", "RN50-quickgelu", "cc12m", "rn50-quickgelu-cc12m-f000538c.pt"),
    _release("RN101_yfcc15m", "RN101", "yfcc15m", "rn101-quickgelu-yfcc15m-3e04b30e.pt"),
    _release("RN101_quickgelu_yfcc15m", "RN101-quickgelu", "yfcc15m", "rn101-quickgelu-yfcc15m-3e04b30e.pt"),
    # LAION models that later forks and DiscoArt offer (no DD toggle).
    _hf("ViTB32_laion2b_s34b_b79k", "ViT-B-32", "laion2b_s34b_b79k", "CLIP-ViT-B-32-laion2B-s34B-b79K"),
    _release("ViTL14_laion400m_e31", "ViT-L-14", "laion400m_e31", "vit_l_14-laion400m_e31-69988bb6.pt", dd=False),
    _release("ViTL14_laion400m_e32", "ViT-L-14", "laion400m_e32", "vit_l_14-laion400m_e32-3d133497.pt", dd=False),
    _hf("ViTL14_laion2b_s32b_b82k", "ViT-L-14", "laion2b_s32b_b82k", "CLIP-ViT-L-14-laion2B-s32B-b82K",
        mean=INCEPTION, std=INCEPTION),
    _hf("ViTH14_laion2b_s32b_b79k", "ViT-H-14", "laion2b_s32b_b79k", "CLIP-ViT-H-14-laion2B-s32B-b79K"),
]
MODELS = {m.key: m for m in _MODELS}

# open_clip's names of OpenAI's models (DiscoArt's defaults are "ViT-B-32::openai", ...) -> DD flag.
OPENAI_ARCHS = {"ViT-B-32": "ViTB32", "ViT-B-16": "ViTB16", "ViT-L-14": "ViTL14", "ViT-L-14-336": "ViTL14_336px",
                "RN50": "RN50", "RN101": "RN101", "RN50x4": "RN50x4", "RN50x16": "RN50x16", "RN50x64": "RN50x64"}


def resolve(name):
    """Canonical key of any accepted CLIP model name, or None.

    Accepted: OpenAI flags (``ViTB32``) and names (``ViT-B/32``), OpenCLIP keys / DD toggles
    (``ViTB32_laion2b_e16``), and ``ARCH::TAG`` (``ViT-B-32::laion2b_e16``, ``RN50-quickgelu::openai``).
    """
    name = name.strip()
    if name in clip.CONFIGS or name in MODELS:
        return name
    for flag, cfg in clip.CONFIGS.items():
        if name == cfg.name:
            return flag
    arch, sep, tag = name.partition("::")
    if not sep:
        return None
    if tag == "openai":
        return OPENAI_ARCHS.get(arch.removesuffix("-quickgelu"))
    return next((m.key for m in _MODELS if m.arch == arch and m.pretrained == tag), None)


def all_flags():
    """Every exportable CLIP key: OpenAI's flags, then the OpenCLIP keys (the order fixes tiny seeds)."""
    return list(clip.CONFIGS) + list(MODELS)


def config(flag):
    """The full-size CLIPConfig of any key."""
    return clip.CONFIGS[flag] if flag in clip.CONFIGS else MODELS[flag].config()


def tiny_config(flag):
    return clip.tiny_of(config(flag))


def normalisation(flag):
    """Published (mean, std) of the model's preprocessing."""
    m = MODELS.get(flag)
    return (m.mean, m.std) if m else (clip.MEAN, clip.STD)


def manifest_extra(flag):
    """What the manifest's clip section records besides the common fields."""
    m = MODELS.get(flag)
    if m is None:
        return {"open_clip": None}
    return {"open_clip": {"model": m.arch, "pretrained": m.pretrained, "dd_toggle": m.dd_toggle,
                          "file": m.file, "published_sha256_prefix": m.sha256_prefix}}


def default_file(flag):
    """File name looked for in --clip-dir."""
    return clip.OPENAI_FILES[flag] if flag in clip.CONFIGS else MODELS[flag].file
