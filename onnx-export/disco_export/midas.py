"""MiDaS v3 DPT depth networks (isl-org/MiDaS ``DPTDepthModel``), fp32: DD's default ``dpt_large``, and
``dpt_hybrid`` / ``dpt_hybrid_nyu`` (one architecture, two checkpoints).

A ViT (timm ``vit_large_patch16_384``: 24 blocks, width 1024, 16 heads, 16 px patches, a 24x24 position grid
resized bilinearly to the input's patch grid) whose block outputs at the four hooks become a feature pyramid
("reassemble": the class token is projected into every patch token, then 1x1 convs and a x4 / x2 transposed
conv, identity, or a stride-2 conv), four 3x3 convs to a common width, four fusion blocks (residual conv units,
x2 bilinear upsampling with aligned corners) and a head (conv, x2 upsampling, conv, ReLU, 1x1 conv, ReLU).

Parameter names match the released checkpoint ``dpt_large-midas-2f21e586.pt``: ``pretrained.model.*`` (timm's
ViT, including its unused ``norm`` and ``head``), ``pretrained.act_postprocess{1..4}.{0.project.0,3,4}``,
``scratch.layer{1..4}_rn``, ``scratch.refinenet{1..4}.{out_conv,resConfUnit1,resConfUnit2}.*`` and
``scratch.output_conv.{0,2,4}``.

DPT-Hybrid (``backbone="vitb_rn50_384"``): timm's ``vit_base_resnet50_384``, a BiT ResNetV2 (bit.py: stages of
3, 4, 9 bottlenecks, widths 256, 512, 1024) whose stride-16 output a 1x1 conv (``patch_embed.proj``) turns into the
tokens of a ViT-B (12 blocks, width 768, 12 heads, 24x24 position grid). MiDaS hooks ResNet stages 0 and 1 (widths
256 at 1/4, 512 at 1/8, passed through unchanged: ``act_postprocess1/2`` are identities without parameters) and
transformer blocks 8 and 11 (reassembled as DPT-Large's levels 3 and 4: readout projection, 1x1 conv to 768, and
for level 4 a stride-2 conv). Keys: ``pretrained.model.patch_embed.backbone.{stem.conv,stem.norm,stages.*}``,
``pretrained.model.patch_embed.proj``, the ViT's as above, ``pretrained.act_postprocess{3,4}``, the same decoder.

Forward: ``inverse_depth = DPT(image)``; image: (B, 3, H, W) with H, W multiples of 32, already resized the way
DD resizes it (keep the aspect ratio, the scale closest to 1, multiples of 32: ``resize_for_net``; cv2 bicubic) and
normalised to ``(x − 0.5) / 0.5``; inverse_depth: (B, H, W), larger is nearer. DD then resizes it bicubically to
the frame and maps it to depth as ``(50 − inverse_depth) / 19`` (dd-algorithm.md §10.4); that is the renderer's.
"""

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .bit import BitConfig, R50_HYBRID, ResNetV2


@dataclass(frozen=True)
class DptConfig:
    """One DPT architecture (the ViT and the decoder widths)."""

    name: str
    width: int = 1024            # ViT embedding width
    depth: int = 24              # ViT blocks
    heads: int = 16
    grid: int = 24               # the position embedding's grid side (384 / 16)
    hooks: tuple = (5, 11, 17, 23)
    features: tuple = (256, 512, 1024, 1024)   # reassembled widths, fine to coarse
    fusion: int = 256            # the decoder's width
    mlp_ratio: int = 4
    net_size: int = 384          # DD's net_w = net_h: the side the frame is resized towards (a toy set's own)
    # DPT-Hybrid: the ResNetV2 under the ViT (levels 1 and 2 are its stages 0 and 1; ``hooks`` then names the two
    # transformer blocks of levels 3 and 4). None: a plain ViT with 16 px patches, four hooked blocks.
    resnet: BitConfig = None

    @property
    def hybrid(self):
        return self.resnet is not None

    def as_manifest(self):
        out = {"name": self.name, "width": self.width, "depth": self.depth, "heads": self.heads,
               "grid": self.grid, "hooks": list(self.hooks), "features": list(self.features),
               "fusion": self.fusion}
        if self.hybrid:
            out["resnet"] = self.resnet.as_manifest()
            out["resnet_stage_hooks"] = [0, 1]
        return out


DPT_LARGE = DptConfig("dpt_large")
# The same graph at toy widths: 4 blocks hooked at each, a 4x4 position grid (64 px) resized like the real one.
TINY_DPT = DptConfig("dpt_large", width=32, depth=4, heads=2, grid=4, hooks=(0, 1, 2, 3), features=(8, 16, 32, 32),
                     fusion=16)
# DPT-Hybrid (dpt_hybrid-midas-501f0c75.pt, dpt_hybrid_nyu-2ce69ec7.pt): MiDaS's hooks [0, 1, 8, 11], the first two
# on ResNet stages.
DPT_HYBRID = DptConfig("dpt_hybrid", width=768, depth=12, heads=12, grid=24, hooks=(8, 11),
                       features=(256, 512, 768, 768), resnet=R50_HYBRID)
DPT_HYBRID_NYU = replace(DPT_HYBRID, name="dpt_hybrid_nyu")
# Toy widths: one bottleneck per stage (widths 32, 64, 128; GroupNorm of 4 groups), a 3-block ViT of width 32.
TINY_RESNET = BitConfig(layers=(1, 1, 1), widths=(32, 64, 128), stem=16, groups=4)
TINY_DPT_HYBRID = DptConfig("dpt_hybrid", width=32, depth=3, heads=2, grid=4, hooks=(1, 2), features=(32, 64, 32, 32),
                            fusion=16, resnet=TINY_RESNET)
TINY_DPT_HYBRID_NYU = replace(TINY_DPT_HYBRID, name="dpt_hybrid_nyu")
PATCH = 16
SIZE_MULTIPLE = 32
MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
NET_SIZE = 384


class Attention(nn.Module):
    """timm's multi-head self-attention: one qkv projection, scaled dot product, output projection."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = torch.softmax((q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5, dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6, as timm's ViT)."""

    def __init__(self, width, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = Mlp(width, width * mlp_ratio)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """16 px patches (ViT), or the ResNetV2's stride-16 features and a 1x1 conv (ViT-hybrid: ``backbone``)."""

    def __init__(self, cfg):
        super().__init__()
        if cfg.hybrid:
            self.backbone = ResNetV2(cfg.resnet)
            self.proj = nn.Conv2d(cfg.resnet.widths[-1], cfg.width, 1)
        else:
            self.proj = nn.Conv2d(3, cfg.width, PATCH, stride=PATCH)

    def forward(self, x):
        """(tokens (B, N, C), the ResNet's stage outputs or [])."""
        stages = self.backbone(x) if hasattr(self, "backbone") else []
        tokens = self.proj(stages[-1] if stages else x)
        return tokens.flatten(2).transpose(1, 2), stages


class VisionTransformer(nn.Module):
    """timm's ViT parameters; forward returns (the ResNet's stage outputs or [], the hooked blocks' outputs); the
    final norm and head are unused."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.grid * cfg.grid + 1, cfg.width))
        self.patch_embed = PatchEmbed(cfg)
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width, eps=1e-6)
        self.head = nn.Linear(cfg.width, 1000)

    def position(self, gh, gw):
        """The class token's embedding and the grid's, resized bilinearly (align_corners=False) to gh x gw."""
        g, c = self.cfg.grid, self.cfg.width
        grid = self.pos_embed[0, 1:].reshape(1, g, g, c).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode="bilinear", align_corners=False)
        return torch.cat([self.pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, gh * gw, c)], dim=1)

    def forward(self, x):
        b, _, h, w = x.shape
        tokens, stages = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1) + self.position(h // PATCH, w // PATCH)
        taps = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i in self.cfg.hooks:
                taps.append(x)
        return stages, taps


class ProjectReadout(nn.Module):
    """Concatenates the class token to every patch token and projects back (Linear + GELU)."""

    def __init__(self, width):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(2 * width, width), nn.GELU())

    def forward(self, x):
        patches = x[:, 1:]
        return self.project(torch.cat([patches, x[:, :1].expand_as(patches)], dim=-1))


def _reassemble(cfg, level):
    """``act_postprocess{level+1}``: readout (0), transpose (1) and unflatten (2) hold no parameters; 1x1 conv (3);
    then a x4 or x2 transposed conv, nothing, or a stride-2 3x3 conv (4)."""
    c = cfg.features[level]
    layers = [ProjectReadout(cfg.width), nn.Identity(), nn.Identity(), nn.Conv2d(cfg.width, c, 1)]
    if level == 0:
        layers.append(nn.ConvTranspose2d(c, c, 4, stride=4))
    elif level == 1:
        layers.append(nn.ConvTranspose2d(c, c, 2, stride=2))
    elif level == 3:
        layers.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
    return nn.Sequential(*layers)


class Backbone(nn.Module):
    """``pretrained``: the ViT and its four reassembly stages (the hybrid's first two have no parameters: the
    ResNet stages pass unchanged)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = VisionTransformer(cfg)
        self.first_level = 2 if cfg.hybrid else 0
        for level in range(self.first_level, 4):
            self.add_module(f"act_postprocess{level + 1}", _reassemble(cfg, level))

    def forward(self, x):
        gh, gw = x.shape[2] // PATCH, x.shape[3] // PATCH
        stages, taps = self.model(x)
        out = list(stages[:self.first_level])
        for level, t in enumerate(taps, start=self.first_level):
            post = getattr(self, f"act_postprocess{level + 1}")
            t = post[0](t).transpose(1, 2)
            t = t.reshape(t.shape[0], t.shape[1], gh, gw)
            for layer in list(post)[3:]:
                t = layer(t)
            out.append(t)
        return out


class ResidualConvUnit(nn.Module):
    """ReLU, 3x3 conv, ReLU, 3x3 conv, plus the input (MiDaS's ``ResidualConvUnit_custom``, no batch norm)."""

    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(torch.relu(x)))) + x


class FusionBlock(nn.Module):
    """``FeatureFusionBlock_custom``: (previous path + refined skip), refined, x2 bilinear (aligned corners), 1x1
    (to ``out`` channels: half the width in MidasNet_small's ``expand`` blocks)."""

    def __init__(self, c, out=None):
        super().__init__()
        self.out_conv = nn.Conv2d(c, out or c, 1)
        self.resConfUnit1 = ResidualConvUnit(c)
        self.resConfUnit2 = ResidualConvUnit(c)

    def forward(self, x, skip=None):
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class Scratch(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        f = cfg.fusion
        for level, c in enumerate(cfg.features):
            self.add_module(f"layer{level + 1}_rn", nn.Conv2d(c, f, 3, padding=1, bias=False))
            self.add_module(f"refinenet{level + 1}", FusionBlock(f))
        self.output_conv = nn.Sequential(
            nn.Conv2d(f, f // 2, 3, padding=1), nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            nn.Conv2d(f // 2, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 1, 1), nn.ReLU(), nn.Identity())


class DPTDepthModel(nn.Module):
    """forward(image: (B, 3, H, W), normalised, H, W multiples of 32) -> inverse_depth: (B, H, W)."""

    def __init__(self, cfg=DPT_LARGE):
        super().__init__()
        self.cfg = cfg
        self.pretrained = Backbone(cfg)
        self.scratch = Scratch(cfg)

    def forward(self, image):
        s = self.scratch
        l1, l2, l3, l4 = (getattr(s, f"layer{i + 1}_rn")(t) for i, t in enumerate(self.pretrained(image)))
        path = s.refinenet4(l4)
        path = s.refinenet3(path, l3)
        path = s.refinenet2(path, l2)
        path = s.refinenet1(path, l1)
        return s.output_conv(path).squeeze(1)


def positive_head(model):
    """``model`` in eval mode with its last 1x1 conv made positive, as a
    trained head is on the ReLU features it reads, so the output is not all zeros after the final ReLU."""
    with torch.no_grad():
        head = model.scratch.output_conv[4]
        head.weight.abs_()
        head.bias.abs_()
    return model.eval()


def tiny_model(seed, cfg=TINY_DPT):
    """A tiny DPT (DPT-Large's layout, or ``TINY_DPT_HYBRID``) with random weights under ``seed``."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = DPTDepthModel(cfg)
    return positive_head(model)


RESIZE_MODES = ("minimal", "upper_bound")


def resize_for_net(height, width, net=NET_SIZE, multiple=SIZE_MULTIPLE, mode="minimal"):
    """MiDaS's ``Resize(net, net, keep_aspect_ratio=True, ensure_multiple_of=32, resize_method=mode)`` as DD uses
    it (midas/transforms.py, ``get_size`` and ``constrain_to_multiple_of``):

    - ``minimal`` (DPT models): the scale closer to 1 of net/height and net/width; each scaled side rounded to the
      nearest multiple (numpy's round: half to even, as Python's), with no bound (a side may fall below ``net``);
    - ``upper_bound`` (MiDaS v2.1 models): the smaller scale; each side rounded to the nearest multiple, or down to
      one where rounding would exceed ``net``.

    A side that would round to 0 (an aspect ratio past 1:24, where DD's cv2 resize fails) is one multiple."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown MiDaS resize mode {mode!r}")
    sh, sw = net / height, net / width
    if mode == "minimal":
        scale = sw if abs(1 - sw) < abs(1 - sh) else sh
    else:
        scale = sw if sw < sh else sh

    def side(x):
        y = round(x / multiple) * multiple
        if mode == "upper_bound" and y > net:
            y = math.floor(x / multiple) * multiple
        return max(int(y), multiple)

    return side(scale * height), side(scale * width)


def sample_inputs(batch, gen, size):
    """image ~ U[-1, 1) (the normalised range): (B, 3, H, W)."""
    h, w = size
    return [torch.rand(batch, 3, h, w, generator=gen) * 2 - 1]


def graph_name(model_name):
    """``midas_<name>_fwd`` (``midas_dpt_large_fwd``); the v2.1 names already start with ``midas_``."""
    stem = model_name if model_name.startswith("midas_") else f"midas_{model_name}"
    return f"{stem}_fwd"


def graph_specs(model):
    """Forward ``image -> inverse_depth`` with symbolic B, H, W (multiples of 32)."""
    from .export import GraphSpec, TensorSpec
    image = TensorSpec("image", "float32", ["B", 3, "H", "W"])
    out = TensorSpec("inverse_depth", "float32", ["B", "H", "W"])
    meta = {"size_multiple": SIZE_MULTIPLE}
    name = graph_name(model.cfg.name)
    return {"forward": GraphSpec(name, model, [image], [out], sample_inputs, multiple=SIZE_MULTIPLE, meta=meta)}
