"""LPIPS v0.1 with a VGG16 trunk and linear heads (richzhang/PerceptualSimilarity), fp32.

Parameter names match ``lpips.LPIPS(net='vgg')``'s state dict: ``scaling_layer.shift``, ``net.slice1.0.weight``
... ``net.slice5.28.weight`` (torchvision's ``features.<i>`` indices, split at the five ReLU taps) and
``lin0.model.1.weight`` ... ``lin4.model.1.weight`` (the ``weights/v0.1/vgg.pth`` heads).

Forward: ``distance = LPIPS(a, b)`` with a, b: shape (B, 3, H, W) in [-1, 1] -> distance: shape (B,)
(the reference's (B, 1, 1, 1) flattened).
"""

import torch
from torch import nn

from .layers import max_pool2x2

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
VGG_CHANNELS = (64, 128, 256, 512, 512)
TINY_VGG_CHANNELS = (4, 8, 8, 16, 16)
# torchvision vgg16.features: conv indices per slice; a 2x2 max pool starts slices 2..5 (indices 4, 9, 16, 23).
SLICE_CONVS = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))
SLICE_STARTS_WITH_POOL = (False, True, True, True, True)


class ScalingLayer(nn.Module):
    """(x − shift) / scale per channel."""

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor(SHIFT)[None, :, None, None])
        self.register_buffer("scale", torch.tensor(SCALE)[None, :, None, None])

    def forward(self, x):
        return (x - self.shift) / self.scale


class VGGSlice(nn.Module):
    """Convs keyed by their torchvision ``features`` index; each conv is followed by ReLU."""

    def __init__(self, indices, c_in, c_out, pool_first):
        super().__init__()
        self.pool_first = pool_first
        self.indices = indices
        for n, i in enumerate(indices):
            self.add_module(str(i), nn.Conv2d(c_in if n == 0 else c_out, c_out, 3, padding=1))

    def forward(self, x):
        if self.pool_first:
            x = max_pool2x2(x)
        for i in self.indices:
            x = torch.relu(getattr(self, str(i))(x))
        return x


class VGG16Taps(nn.Module):
    """VGG16 features up to relu5_3. x: (B, 3, H, W) -> five taps (B, C_k, H/2^k, W/2^k)."""

    def __init__(self, channels=VGG_CHANNELS):
        super().__init__()
        c_in = 3
        for k, (idx, c, pool) in enumerate(zip(SLICE_CONVS, channels, SLICE_STARTS_WITH_POOL)):
            self.add_module(f"slice{k + 1}", VGGSlice(idx, c_in, c, pool))
            c_in = c

    def forward(self, x):
        taps = []
        for k in range(5):
            x = getattr(self, f"slice{k + 1}")(x)
            taps.append(x)
        return taps


class NetLinLayer(nn.Module):
    """Dropout (inactive) + 1x1 conv to one channel, no bias. Key: ``model.1.weight``."""

    def __init__(self, c_in):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(p=0.0), nn.Conv2d(c_in, 1, 1, bias=False))

    def forward(self, x):
        return self.model(x)


class LPIPS(nn.Module):
    """forward(a: (B,3,H,W), b: (B,3,H,W)) in [-1, 1] -> distance: (B,)."""

    def __init__(self, channels=VGG_CHANNELS):
        super().__init__()
        self.scaling_layer = ScalingLayer()
        self.net = VGG16Taps(channels)
        for k, c in enumerate(channels):
            self.add_module(f"lin{k}", NetLinLayer(c))

    @staticmethod
    def _unit(f, eps=1e-10):
        return f / (torch.sqrt(torch.sum(f * f, dim=1, keepdim=True)) + eps)

    def forward(self, a, b):
        fa = self.net(self.scaling_layer(a))
        fb = self.net(self.scaling_layer(b))
        total = 0
        for k in range(5):
            d = (self._unit(fa[k]) - self._unit(fb[k])) ** 2
            total = total + getattr(self, f"lin{k}")(d).mean(dim=(1, 2, 3))
        return total


SIZE_MULTIPLE = 16


def sample_inputs(batch, gen, size):
    """a, b ~ U[-1, 1): (B, 3, H, W) each."""
    h, w = size
    return [torch.rand(batch, 3, h, w, generator=gen) * 2 - 1 for _ in range(2)]


def graph_specs(model):
    """Forward ``(a, b) -> distance`` and VJP ``(a, b, upstream) -> (distance, grad_a)``, symbolic B, H, W.

    a, b, grad_a: (B, 3, H, W) with H, W multiples of 16; distance, upstream: (B,).
    """
    from .export import GraphSpec, TensorSpec
    img = ["B", 3, "H", "W"]
    a, b = TensorSpec("a", "float32", img), TensorSpec("b", "float32", img)
    dist = TensorSpec("distance", "float32", ["B"])
    meta = {"size_multiple": SIZE_MULTIPLE}
    return {
        "forward": GraphSpec("lpips_fwd", model, [a, b], [dist], sample_inputs, multiple=SIZE_MULTIPLE, meta=meta),
        "vjp": GraphSpec("lpips_vjp", model, [a, b], [dist, TensorSpec("grad_a", "float32", img)], sample_inputs,
                         vjp=True, upstream=TensorSpec("upstream", "float32", ["B"]), multiple=SIZE_MULTIPLE,
                         meta=meta),
    }
