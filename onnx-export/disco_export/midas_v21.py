"""MiDaS v2.1 depth networks (isl-org/MiDaS v3 tag, which DD clones), fp32: ``midas_v21`` (``MidasNet``) and
``midas_v21_small`` (``MidasNet_small``). Same input/output contract as the DPT models (midas.py): ``inverse_depth =
net(image)``, image (B, 3, H, W) with H, W multiples of 32, output (B, H, W), larger is nearer; DD resizes the frame
with MiDaS's ``upper_bound`` rule (``resize_for_net(..., mode="upper_bound")``; 384 for v21, 256 for small) and
normalises it with ImageNet's mean/std.

``MidasNet`` (``midas_v21-f6b98070.pt``): a ResNeXt-101 32x8d encoder (WSL weights' torchvision layout; MiDaS
regroups it as ``pretrained.layer1`` = Sequential(conv1, bn1, relu, maxpool, layer1) at indices 0, 1, 4 and
``pretrained.layer2..4`` = torchvision's layer2..4: bottlenecks ``conv1`` 1x1, ``bn1``, ``conv2`` 3x3 in 32 groups
carrying the stride, ``bn2``, ``conv3`` 1x1, ``bn3``, ``downsample.{0,1}``, ReLU after the sum; widths 256, 512,
1024, 2048, blocks 3, 4, 23, 3), ``scratch.layer{1..4}_rn`` (3x3 to 256, no bias), four ``FeatureFusionBlock``
(``resConfUnit1``/``resConfUnit2`` of two 3x3 convs; no ``out_conv``) and the head ``scratch.output_conv.{0,2,4}``
(3x3 to 128, x2 bilinear without aligned corners, 3x3 to 32, ReLU, 1x1 to 1, ReLU).

MiDaS's ``ResidualConvUnit`` applies ``nn.ReLU(inplace=True)`` to its input before the first conv, so the input
it adds back is already rectified: unit(x) = conv2(relu(conv1(relu(x)))) + relu(x). The fusion block adds the
refined skip to the path, refines, and upsamples x2 bilinearly with aligned corners.

``MidasNet_small`` (``midas_v21_small-70d6b9c8.pt``; ``features=64, backbone="efficientnet_lite3",
exportable=True, blocks={'expand': True}``): gen-efficientnet's ``tf_efficientnet_lite3`` (efficientnet.py) cut into
``pretrained.layer1`` = Sequential(conv_stem, bn1, act1, blocks[0], blocks[1]) (32 channels at 1/4),
``layer2`` = (blocks[2]) (48, 1/8), ``layer3`` = (blocks[3], blocks[4]) (136, 1/16), ``layer4`` = (blocks[5],
blocks[6]) (384, 1/32); ``conv_head`` is not part of it. ``scratch.layer{1..4}_rn`` widen to 64, 128, 256, 512
("expand"), ``scratch.refinenet{4,3,2}`` are ``FeatureFusionBlock_custom`` halving the width in their ``out_conv``
(refinenet1 keeps 64), with non-inplace ReLUs; the head is ``scratch.output_conv.{0,2,4}`` (3x3 to 32, x2 bilinear
without aligned corners, 3x3 to 32, ReLU, 1x1 to 1, ReLU).
"""

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from . import efficientnet
from .midas import FusionBlock

V21_NET_SIZE = 384
SMALL_NET_SIZE = 256
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class V21Config:
    """MidasNet: a ResNeXt encoder (torchvision's ``groups``, ``width_per_group``) and the decoder's width."""

    name: str = "midas_v21"
    stem: int = 64
    planes: tuple = (64, 128, 256, 512)     # torchvision's per-layer planes; outputs are 4x
    layers: tuple = (3, 4, 23, 3)
    groups: int = 32
    width_per_group: int = 8
    features: int = 256
    head: int = 128                         # output_conv's first width

    def widths(self):
        return tuple(4 * p for p in self.planes)

    def as_manifest(self):
        return {"name": self.name, "encoder": "resnext", "stem": self.stem, "layers": list(self.layers),
                "widths": list(self.widths()), "groups": self.groups, "width_per_group": self.width_per_group,
                "fusion": self.features}


MIDAS_V21 = V21Config()
TINY_V21 = V21Config(stem=16, planes=(8, 16, 32, 64), layers=(1, 1, 2, 1), groups=4, width_per_group=8,
                     features=16, head=8)


@dataclass(frozen=True)
class SmallConfig:
    """MidasNet_small: an EfficientNet-Lite encoder cut into four layers, and the expanding decoder."""

    name: str = "midas_v21_small"
    effnet: efficientnet.EffNetConfig = field(default_factory=lambda: efficientnet.LITE3)
    features: int = 64
    head: int = 32                          # output_conv's second width

    def widths(self):
        """The four layers' output widths: after stages 1, 2, 4, 6."""
        w = [s[5] for s in self.effnet.stages()]
        return (w[1], w[2], w[4], w[6])

    def as_manifest(self):
        e = self.effnet
        return {"name": self.name, "encoder": "efficientnet_lite", "width_mult": e.width_mult,
                "depth_mult": e.depth_mult, "widths": list(self.widths()),
                "repeats": [s[1] for s in e.stages()], "fusion": self.features, "expand": True}


MIDAS_V21_SMALL = SmallConfig()
TINY_SMALL = SmallConfig(effnet=efficientnet.EffNetConfig(width_mult=0.25, depth_mult=0.5, stem=8, head=64,
                                                          lite=True), features=4, head=8)


class ResNeXtBottleneck(nn.Module):
    """torchvision's Bottleneck (stride on the grouped 3x3), BatchNorm eps 1e-5."""

    def __init__(self, c_in, planes, stride, groups, width_per_group):
        super().__init__()
        width = int(planes * width_per_group / 64) * groups
        c_out = 4 * planes
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


def _resnext_layer(c_in, planes, blocks, stride, cfg):
    return nn.Sequential(*(ResNeXtBottleneck(c_in if i == 0 else 4 * planes, planes, stride if i == 0 else 1,
                                             cfg.groups, cfg.width_per_group) for i in range(blocks)))


class ResNeXtEncoder(nn.Module):
    """MiDaS's ``pretrained`` for ResNeXt: layer1 (stem, max pool, torchvision layer1), layer2..4."""

    def __init__(self, cfg):
        super().__init__()
        c = cfg.stem
        self.layer1 = nn.Sequential(nn.Conv2d(3, c, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(c),
                                    nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
                                    _resnext_layer(c, cfg.planes[0], cfg.layers[0], 1, cfg))
        for i in range(1, 4):
            self.add_module(f"layer{i + 1}", _resnext_layer(4 * cfg.planes[i - 1], cfg.planes[i], cfg.layers[i], 2,
                                                            cfg))

    def forward(self, x):
        out = []
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
            out.append(x)
        return out


class EfficientNetEncoder(nn.Module):
    """MiDaS's ``pretrained`` for EfficientNet-Lite: the trunk's modules regrouped into four layers."""

    def __init__(self, cfg):
        super().__init__()
        e = efficientnet.EfficientNet(cfg)
        act = nn.ReLU6() if cfg.lite else nn.SiLU()
        self.layer1 = nn.Sequential(e.conv_stem, e.bn1, act, *e.blocks[0:2])
        self.layer2 = nn.Sequential(*e.blocks[2:3])
        self.layer3 = nn.Sequential(*e.blocks[3:5])
        self.layer4 = nn.Sequential(*e.blocks[5:9])

    def forward(self, x):
        out = []
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
            out.append(x)
        return out


class RectifiedResidualUnit(nn.Module):
    """MiDaS's ``ResidualConvUnit`` (in-place ReLU): conv2(relu(conv1(relu(x)))) + relu(x)."""

    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        x = torch.relu(x)
        return self.conv2(torch.relu(self.conv1(x))) + x


class V21FusionBlock(nn.Module):
    """``FeatureFusionBlock``: path (+ refined skip), refined, x2 bilinear with aligned corners; no out_conv."""

    def __init__(self, c):
        super().__init__()
        self.resConfUnit1 = RectifiedResidualUnit(c)
        self.resConfUnit2 = RectifiedResidualUnit(c)

    def forward(self, x, skip=None):
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class Upsample2x(nn.Module):
    """MiDaS's ``Interpolate(scale_factor=2, mode="bilinear")``: align_corners False."""

    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class Scratch(nn.Module):
    """The decoder: ``layer{k}_rn`` to ``widths_out[k]``, fusion blocks, head."""

    def __init__(self, widths_in, widths_out, fusion_blocks, head):
        super().__init__()
        for k, (ci, co) in enumerate(zip(widths_in, widths_out)):
            self.add_module(f"layer{k + 1}_rn", nn.Conv2d(ci, co, 3, padding=1, bias=False))
        for k, block in enumerate(fusion_blocks):
            self.add_module(f"refinenet{k + 1}", block)
        self.output_conv = head


class MidasNet(nn.Module):
    """forward(image: (B, 3, H, W), ImageNet-normalised, H, W multiples of 32) -> inverse_depth: (B, H, W)."""

    def __init__(self, cfg=MIDAS_V21):
        super().__init__()
        self.cfg = cfg
        self.pretrained = ResNeXtEncoder(cfg)
        f = cfg.features
        head = nn.Sequential(nn.Conv2d(f, cfg.head, 3, padding=1), Upsample2x(),
                             nn.Conv2d(cfg.head, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 1, 1), nn.ReLU())
        self.scratch = Scratch(cfg.widths(), (f,) * 4, [V21FusionBlock(f) for _ in range(4)], head)

    def forward(self, image):
        return _decode(self.scratch, self.pretrained(image))


class MidasNetSmall(nn.Module):
    """forward(image: (B, 3, H, W), ImageNet-normalised, H, W multiples of 32) -> inverse_depth: (B, H, W)."""

    def __init__(self, cfg=MIDAS_V21_SMALL):
        super().__init__()
        self.cfg = cfg
        self.pretrained = EfficientNetEncoder(cfg.effnet)
        f = cfg.features
        widths = (f, 2 * f, 4 * f, 8 * f)
        blocks = [FusionBlock(f)] + [FusionBlock(w, w // 2) for w in widths[1:]]
        head = nn.Sequential(nn.Conv2d(f, f // 2, 3, padding=1), Upsample2x(),
                             nn.Conv2d(f // 2, cfg.head, 3, padding=1), nn.ReLU(), nn.Conv2d(cfg.head, 1, 1),
                             nn.ReLU(), nn.Identity())
        self.scratch = Scratch(cfg.widths(), widths, blocks, head)

    def forward(self, image):
        return _decode(self.scratch, self.pretrained(image))


def _decode(s, layers):
    l1, l2, l3, l4 = (getattr(s, f"layer{i + 1}_rn")(t) for i, t in enumerate(layers))
    path = s.refinenet4(l4)
    path = s.refinenet3(path, l3)
    path = s.refinenet2(path, l2)
    path = s.refinenet1(path, l1)
    return s.output_conv(path).squeeze(1)
