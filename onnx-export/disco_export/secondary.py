"""Katherine Crowson's ``secondary_model_imagenet_2`` (``SecondaryDiffusionImageNet2`` in Disco Diffusion).

A small v-objective U-Net on a cosine schedule (dd-algorithm.md §6). Parameter names match the official
``secondary_model_imagenet_2.pth`` state dict (``timestep_embed.weight``, ``net.0.0.weight``,
``net.2.main.1.0.weight`` ..., ``net.4.weight``).

Forward: ``(pred, v) = Secondary(x, t)`` with x: shape (B, 3, H, W) (H, W divisible by 32), t: shape (B,) in [0, 1];
``pred = x·cos(πt/2) − v·sin(πt/2)`` is the denoised estimate DD uses.
"""

import math

import torch
from torch import nn

from .layers import avg_pool2x2, relu_finite, upsample_bilinear2x

BASE_CHANNELS = 64
TINY_BASE_CHANNELS = 8


class ReLU(nn.Module):
    """``nn.ReLU`` with layers.relu_finite's backward (the model's incoming gradients are finite)."""

    def forward(self, x):
        return relu_finite(x)


class ConvBlock(nn.Sequential):
    """3x3 conv (padding 1) + ReLU. (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, c_in, c_out):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1), ReLU())


class Down(nn.Module):
    """2x2 average pool. (B, C, H, W) -> (B, C, H/2, W/2)."""

    def forward(self, x):
        return avg_pool2x2(x)


class Up(nn.Module):
    """Bilinear x2, ``align_corners=False``. (B, C, H, W) -> (B, C, 2H, 2W)."""

    def forward(self, x):
        return upsample_bilinear2x(x)


class SkipBlock(nn.Module):
    """``concat(main(x), x)`` along channels (main first)."""

    def __init__(self, *main):
        super().__init__()
        self.main = nn.Sequential(*main)

    def forward(self, x):
        return torch.cat([self.main(x), x], dim=1)


class FourierFeatures(nn.Module):
    """Learned Fourier features of t. t: shape (B, 1) -> shape (B, 2·n) = [cos f, sin f], f = 2π t Wᵀ."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features // 2, in_features))

    def forward(self, t):
        f = 2 * math.pi * t @ self.weight.T
        return torch.cat([f.cos(), f.sin()], dim=-1)


class SecondaryDiffusionImageNet2(nn.Module):
    """forward(x: (B, 3, H, W), t: (B,)) -> (pred: (B, 3, H, W), v: (B, 3, H, W))."""

    def __init__(self, c=BASE_CHANNELS):
        super().__init__()
        cs = [c, c * 2, c * 2, c * 4, c * 4, c * 8]
        self.timestep_embed = FourierFeatures(1, 16)
        self.net = nn.Sequential(
            ConvBlock(3 + 16, cs[0]),
            ConvBlock(cs[0], cs[0]),
            SkipBlock(
                Down(), ConvBlock(cs[0], cs[1]), ConvBlock(cs[1], cs[1]),
                SkipBlock(
                    Down(), ConvBlock(cs[1], cs[2]), ConvBlock(cs[2], cs[2]),
                    SkipBlock(
                        Down(), ConvBlock(cs[2], cs[3]), ConvBlock(cs[3], cs[3]),
                        SkipBlock(
                            Down(), ConvBlock(cs[3], cs[4]), ConvBlock(cs[4], cs[4]),
                            SkipBlock(
                                Down(), ConvBlock(cs[4], cs[5]), ConvBlock(cs[5], cs[5]),
                                ConvBlock(cs[5], cs[5]), ConvBlock(cs[5], cs[4]), Up(),
                            ),
                            ConvBlock(cs[4] * 2, cs[4]), ConvBlock(cs[4], cs[3]), Up(),
                        ),
                        ConvBlock(cs[3] * 2, cs[3]), ConvBlock(cs[3], cs[2]), Up(),
                    ),
                    ConvBlock(cs[2] * 2, cs[2]), ConvBlock(cs[2], cs[1]), Up(),
                ),
                ConvBlock(cs[1] * 2, cs[1]), ConvBlock(cs[1], cs[0]), Up(),
            ),
            ConvBlock(cs[0] * 2, cs[0]),
            nn.Conv2d(cs[0], 3, 3, padding=1),
        )

    def forward(self, x, t):
        b, _, h, w = x.shape
        te = self.timestep_embed(t[:, None])[:, :, None, None].expand(b, 16, h, w)
        v = self.net(torch.cat([x, te], dim=1))
        alpha, sigma = torch.cos(t * math.pi / 2)[:, None, None, None], torch.sin(t * math.pi / 2)[:, None, None, None]
        return x * alpha - v * sigma, v


class SecondaryPred(nn.Module):
    """Only ``pred``, the differentiated output: (x, t) -> pred: (B, 3, H, W)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, t):
        return self.model(x, t)[0]


SIZE_MULTIPLE = 32


def sample_inputs(batch, gen, size):
    """x ~ N(0, 1): (B, 3, H, W); t ~ U[0, 1): (B,)."""
    h, w = size
    return [torch.randn(batch, 3, h, w, generator=gen), torch.rand(batch, generator=gen)]


def graph_specs(model):
    """Forward ``(x, t) -> (pred, v)`` and VJP ``(x, t, upstream) -> (pred, grad_x)``, symbolic B, H, W.

    x, upstream, pred, v, grad_x: (B, 3, H, W) with H, W multiples of 32; t: (B,).
    """
    from .export import GraphSpec, TensorSpec
    img = ["B", 3, "H", "W"]
    x, t = TensorSpec("x", "float32", img), TensorSpec("t", "float32", ["B"])
    pred = TensorSpec("pred", "float32", img)
    meta = {"size_multiple": SIZE_MULTIPLE}
    return {
        "forward": GraphSpec("secondary_fwd", model, [x, t], [pred, TensorSpec("v", "float32", img)], sample_inputs,
                             multiple=SIZE_MULTIPLE, meta=meta),
        "vjp": GraphSpec("secondary_vjp", SecondaryPred(model), [x, t], [pred, TensorSpec("grad_x", "float32", img)],
                         sample_inputs, vjp=True, upstream=TensorSpec("upstream", "float32", img),
                         multiple=SIZE_MULTIPLE, meta=meta),
    }
