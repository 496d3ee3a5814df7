"""The BiT ResNetV2 trunk of timm's ViT-hybrid (``vit_base_resnet50_384``: ``_resnetv2((3, 4, 9))``), fp32: the
convolutional half of MiDaS DPT-Hybrid (midas.py).

timm builds it as ``ResNetV2(layers=(3, 4, 9), num_classes=0, global_pool='', preact=False, stem_type='same',
conv_layer=StdConv2dSame(eps=1e-8))``:

- weight-standardised convs (``StdConv2dSame``: each output channel's weights normalised to zero mean and unit
  variance, biased variance + eps, before the conv; no bias) with TF "same" padding;
- GroupNorm (32 groups, eps 1e-5) followed by ReLU where timm's ``GroupNormAct`` applies its activation;
- a stem ``stem.conv`` (7x7, stride 2), ``stem.norm`` (+ReLU), and a 3x3 stride-2 max pool with "same" padding
  (padded with −inf);
- stages ``stages.<i>.blocks.<j>`` of post-activation bottlenecks (``conv1`` 1x1, ``norm1``, ``conv2`` 3x3 with
  the stage's stride, ``norm2``, ``conv3`` 1x1, ``norm3`` without activation, ReLU after the residual sum; the first
  block of a stage projects its input with ``downsample.conv`` 1x1 + ``downsample.norm`` (no activation)); stage 0
  keeps the stem's stride 4, later stages halve; bottleneck width a quarter of the stage's output width.

``forward`` returns every stage's output (MiDaS taps stages 0 and 1; the ViT reads the last).

Inputs here are multiples of 32, so every stride-2 layer sees an even size and "same" padding is a fixed
(before, after) pair: stride 1 pads (k−1)/2 each side; stride 2 pads k−2 in all, the extra one after.
"""

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .efficientnet import same_pad

STD_CONV_EPS = 1e-8   # timm's _resnetv2: partial(StdConv2dSame, eps=1e-8)
GN_EPS = 1e-5


@dataclass(frozen=True)
class BitConfig:
    layers: tuple = (3, 4, 9)           # blocks per stage
    widths: tuple = (256, 512, 1024)    # stage output widths (bottleneck width: a quarter)
    stem: int = 64
    groups: int = 32                    # GroupNorm groups

    def as_manifest(self):
        return {"layers": list(self.layers), "widths": list(self.widths), "stem": self.stem, "groups": self.groups}


R50_HYBRID = BitConfig()


class StdConv2dSame(nn.Conv2d):
    """A bias-free conv whose weights are standardised per output channel, with fixed TF "same" padding."""

    def __init__(self, c_in, c_out, k, stride=1, eps=STD_CONV_EPS):
        super().__init__(c_in, c_out, k, stride=stride, bias=False)
        self.eps = eps
        self.pad = same_pad(k, stride)

    def standardised(self):
        w = self.weight
        mean = w.mean(dim=(1, 2, 3), keepdim=True)
        var = (w - mean).pow(2).mean(dim=(1, 2, 3), keepdim=True)
        return (w - mean) / torch.sqrt(var + self.eps)

    def forward(self, x):
        a, b = self.pad
        if a or b:
            x = F.pad(x, (a, b, a, b))
        return F.conv2d(x, self.standardised(), None, self.stride)


class GroupNormAct(nn.GroupNorm):
    """GroupNorm, then ReLU when ``act``."""

    def __init__(self, groups, c, act=True):
        super().__init__(groups, c, eps=GN_EPS)
        self.act = act

    def forward(self, x):
        x = super().forward(x)
        return torch.relu(x) if self.act else x


class MaxPoolSame(nn.Module):
    """3x3 stride-2 max pooling with TF "same" padding (−inf), for even inputs."""

    def forward(self, x):
        a, b = same_pad(3, 2)
        return F.max_pool2d(F.pad(x, (a, b, a, b), value=float("-inf")), 3, 2)


class Downsample(nn.Module):
    def __init__(self, c_in, c_out, stride, groups):
        super().__init__()
        self.conv = StdConv2dSame(c_in, c_out, 1, stride)
        self.norm = GroupNormAct(groups, c_out, act=False)

    def forward(self, x):
        return self.norm(self.conv(x))


class Bottleneck(nn.Module):
    """Post-activation bottleneck: 1x1, 3x3 (stride), 1x1, each GroupNorm'd; ReLU(residual + shortcut)."""

    def __init__(self, c_in, c_out, stride, groups):
        super().__init__()
        mid = c_out // 4
        self.downsample = Downsample(c_in, c_out, stride, groups) if stride != 1 or c_in != c_out else None
        self.conv1 = StdConv2dSame(c_in, mid, 1)
        self.norm1 = GroupNormAct(groups, mid)
        self.conv2 = StdConv2dSame(mid, mid, 3, stride)
        self.norm2 = GroupNormAct(groups, mid)
        self.conv3 = StdConv2dSame(mid, c_out, 1)
        self.norm3 = GroupNormAct(groups, c_out, act=False)

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.norm1(self.conv1(x))
        y = self.norm2(self.conv2(y))
        y = self.norm3(self.conv3(y))
        return torch.relu(y + shortcut)


class Stage(nn.Module):
    def __init__(self, c_in, c_out, depth, stride, groups):
        super().__init__()
        self.blocks = nn.Sequential(*(Bottleneck(c_in if i == 0 else c_out, c_out, stride if i == 0 else 1, groups)
                                      for i in range(depth)))

    def forward(self, x):
        return self.blocks(x)


class ResNetV2(nn.Module):
    """forward(x: (B, 3, H, W)) -> [stage outputs]: widths ``cfg.widths`` at strides 4, 8, 16, ..."""

    def __init__(self, cfg=R50_HYBRID):
        super().__init__()
        self.cfg = cfg
        self.stem = nn.Sequential(OrderedDict([
            ("conv", StdConv2dSame(3, cfg.stem, 7, 2)),
            ("norm", GroupNormAct(cfg.groups, cfg.stem)),
            ("pool", MaxPoolSame()),
        ]))
        stages, c = [], cfg.stem
        for i, (depth, width) in enumerate(zip(cfg.layers, cfg.widths)):
            stages.append(Stage(c, width, depth, 1 if i == 0 else 2, cfg.groups))
            c = width
        self.stages = nn.Sequential(*stages)

    def forward(self, x):
        x = self.stem(x)
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out
