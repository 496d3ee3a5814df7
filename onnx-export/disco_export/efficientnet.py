"""EfficientNet with TensorFlow's "same" padding (rwightman's gen-efficientnet), fp32: ``tf_efficientnet_b5_ap``,
the encoder of AdaBins (adabins.py), which keeps every stage's output; and ``tf_efficientnet_lite3`` (``LITE3``), the
encoder of MiDaS v2.1 small (midas_v21.py), built with ``exportable=True`` (the same fixed "same" padding).

EfficientNet-Lite (gen-efficientnet's ``_gen_efficientnet_lite``): no squeeze-excitation, ReLU6 activations, the
stem fixed at 32 channels (not scaled), and the first and last stages' repeats not scaled by the depth multiplier.

Parameter names match gen-efficientnet's: ``conv_stem``, ``bn1``, ``blocks.<stage>.<block>.*`` (depthwise-separable
blocks: ``conv_dw``, ``bn1``, ``se.conv_reduce``, ``se.conv_expand``, ``conv_pw``, ``bn2``; inverted residuals:
``conv_pw``, ``bn1``, ``conv_dw``, ``bn2``, ``se.*``, ``conv_pwl``, ``bn3``), ``conv_head``, ``bn2``. BatchNorm
eps 1e-3 (TF's), SiLU activations, squeeze-excitation at ratio 0.25 of the block's input width.

TF "same" padding: a stride-1 conv pads (k−1)/2 on each side; a stride-2 conv pads ``total = k − 2`` rows for an
even input, ``total // 2`` before and the rest after (so (0, 1) for k = 3, (1, 2) for k = 5). Inputs here are
multiples of 32, so every stride-2 conv sees an even size and the padding is fixed.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# EfficientNet-B0's stages: (block kind, repeats, kernel, stride, expansion, output width).
B0_STAGES = (("ds", 1, 3, 1, 1, 16), ("ir", 2, 3, 2, 6, 24), ("ir", 2, 5, 2, 6, 40), ("ir", 3, 3, 2, 6, 80),
             ("ir", 3, 5, 1, 6, 112), ("ir", 4, 5, 2, 6, 192), ("ir", 1, 3, 1, 6, 320))
BN_EPS = 1e-3


@dataclass(frozen=True)
class EffNetConfig:
    width_mult: float = 1.6       # B5
    depth_mult: float = 2.2       # B5
    stem: int = 32
    head: int = 1280
    lite: bool = False            # EfficientNet-Lite: no SE, ReLU6, fixed stem, first/last repeats fixed

    def stem_width(self):
        return self.stem if self.lite else self.round_width(self.stem)

    def round_width(self, c):
        """gen-efficientnet's ``round_channels``: scaled, to a multiple of 8, never below 90 % of the scaled width."""
        c = c * self.width_mult
        new = max(8, int(c + 4) // 8 * 8)
        return new + 8 if new < 0.9 * c else new

    def stages(self):
        """[(kind, repeats, kernel, stride, expansion, width)], depths scaled up (ceil) as gen-efficientnet does."""
        last = len(B0_STAGES) - 1
        return [(k, r if self.lite and i in (0, last) else int(math.ceil(r * self.depth_mult)), ks, s, e,
                 self.round_width(c)) for i, (k, r, ks, s, e, c) in enumerate(B0_STAGES)]


B5 = EffNetConfig()
# tf_efficientnet_lite3: channel multiplier 1.2, depth multiplier 1.4; stage widths 24, 32, 48, 96, 136, 232, 384
# and repeats 1, 3, 3, 5, 5, 6, 1.
LITE3 = EffNetConfig(width_mult=1.2, depth_mult=1.4, stem=32, head=1280, lite=True)


def same_pad(k, stride):
    """(before, after) padding of TF's "same" for an even input."""
    total = k - 1 if stride == 1 else max(k - 2, 0)
    return total // 2, total - total // 2


class SameConv(nn.Conv2d):
    """A conv with TF "same" padding (fixed, for even inputs at stride 2)."""

    def __init__(self, c_in, c_out, k, stride=1, groups=1, bias=False):
        super().__init__(c_in, c_out, k, stride=stride, groups=groups, bias=bias)
        self.pad = same_pad(k, stride)

    def forward(self, x):
        a, b = self.pad
        if a or b:
            x = F.pad(x, (a, b, a, b))
        return super().forward(x)


def _reduced(c_in):
    """SE width: a quarter of the block's input width, rounded half up (gen-efficientnet's make_divisible, 1)."""
    return max(1, int(c_in * 0.25 + 0.5))


def bn(c):
    return nn.BatchNorm2d(c, eps=BN_EPS)


class SqueezeExcite(nn.Module):
    def __init__(self, c, reduced):
        super().__init__()
        self.conv_reduce = nn.Conv2d(c, reduced, 1)
        self.conv_expand = nn.Conv2d(reduced, c, 1)

    def forward(self, x):
        s = self.conv_expand(F.silu(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(s)


def activation(lite):
    """SiLU, or ReLU6 in EfficientNet-Lite."""
    return F.relu6 if lite else F.silu


class DepthwiseSeparable(nn.Module):
    """Depthwise conv, BN, SiLU, SE, pointwise conv, BN (no activation); skip when the shape is kept.
    Lite: ReLU6 and no SE."""

    def __init__(self, c_in, c_out, k, stride, lite=False):
        super().__init__()
        self.act = activation(lite)
        self.skip = stride == 1 and c_in == c_out
        self.conv_dw = SameConv(c_in, c_in, k, stride, groups=c_in)
        self.bn1 = bn(c_in)
        self.se = nn.Identity() if lite else SqueezeExcite(c_in, _reduced(c_in))
        self.conv_pw = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn2 = bn(c_out)

    def forward(self, x):
        y = self.bn2(self.conv_pw(self.se(self.act(self.bn1(self.conv_dw(x))))))
        return y + x if self.skip else y


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise, SE (reduced to a quarter of the input width), project (1x1); skip when kept.
    Lite: ReLU6 and no SE."""

    def __init__(self, c_in, c_out, k, stride, expand, lite=False):
        super().__init__()
        mid = c_in * expand
        self.act = activation(lite)
        self.skip = stride == 1 and c_in == c_out
        self.conv_pw = nn.Conv2d(c_in, mid, 1, bias=False)
        self.bn1 = bn(mid)
        self.conv_dw = SameConv(mid, mid, k, stride, groups=mid)
        self.bn2 = bn(mid)
        self.se = nn.Identity() if lite else SqueezeExcite(mid, _reduced(c_in))
        self.conv_pwl = nn.Conv2d(mid, c_out, 1, bias=False)
        self.bn3 = bn(c_out)

    def forward(self, x):
        y = self.act(self.bn1(self.conv_pw(x)))
        y = self.se(self.act(self.bn2(self.conv_dw(y))))
        y = self.bn3(self.conv_pwl(y))
        return y + x if self.skip else y


class EfficientNet(nn.Module):
    """The trunk; ``features(x)`` lists what AdaBins' encoder collects: the input, then every top-level module's
    output in order (conv_stem, bn1, act1, each stage, conv_head, bn2, act2)."""

    def __init__(self, cfg=B5):
        super().__init__()
        self.cfg = cfg
        c = cfg.stem_width()
        self.act = activation(cfg.lite)
        self.conv_stem = SameConv(3, c, 3, 2)
        self.bn1 = bn(c)
        stages = []
        for kind, repeats, k, stride, expand, width in cfg.stages():
            blocks = []
            for i in range(repeats):
                s = stride if i == 0 else 1
                blocks.append(DepthwiseSeparable(c, width, k, s, cfg.lite) if kind == "ds"
                              else InvertedResidual(c, width, k, s, expand, cfg.lite))
                c = width
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        head = cfg.round_width(cfg.head)
        self.conv_head = nn.Conv2d(c, head, 1, bias=False)
        self.bn2 = bn(head)
        self.stage_widths = [s[5] for s in cfg.stages()]
        self.head_width = head

    def features(self, x):
        out = [x]
        out.append(self.conv_stem(out[-1]))
        out.append(self.bn1(out[-1]))
        out.append(self.act(out[-1]))
        for stage in self.blocks:
            out.append(stage(out[-1]))
        out.append(self.conv_head(out[-1]))
        out.append(self.bn2(out[-1]))
        out.append(self.act(out[-1]))
        return out
