"""Export-friendly building blocks shared by the model families.

The resampling helpers below are written with reshapes, slices and elementwise maths only, so that their
backward passes decompose into plain ONNX operators (no ``avg_pool2d_backward`` or ``upsample_*_backward``).
Each one is exactly equal (up to float rounding) to the PyTorch layer named in its docstring.
"""

import torch


def avg_pool2x2(x):
    """2x2 average pooling with stride 2, like ``nn.AvgPool2d(2)`` on even sizes.

    x: shape (B, C, H, W) with H, W even -> shape (B, C, H/2, W/2).
    """
    b, c, h, w = x.shape
    return x.reshape(b, c, h // 2, 2, w // 2, 2).mean(dim=(3, 5))


def max_pool2x2(x):
    """2x2 max pooling with stride 2, like ``nn.MaxPool2d(2, 2)`` (floor mode: an odd last row/column is dropped).

    x: shape (B, C, H, W) -> shape (B, C, H//2, W//2). Ties share the gradient (only zeros after a ReLU tie, and
    those carry no gradient through the ReLU), so the VJP equals max_pool2d's.
    """
    b, c, h, w = x.shape
    x = x[:, :, : (h // 2) * 2, : (w // 2) * 2]
    return x.reshape(b, c, h // 2, 2, w // 2, 2).amax(dim=(3, 5))


def upsample_nearest2x(x):
    """Nearest-neighbour x2 upsampling, like ``F.interpolate(x, scale_factor=2, mode="nearest")``.

    x: shape (B, C, H, W) -> shape (B, C, 2H, 2W).
    """
    b, c, h, w = x.shape
    return x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)


def _bilinear2x_axis(x, dim):
    """Bilinear x2 along one axis with PyTorch's ``align_corners=False`` source-index rule.

    Output 2i reads source i - 1/4, output 2i+1 reads i + 1/4, both clamped to the edge:
    even = x[i-1]/4 + 3x[i]/4, odd = 3x[i]/4 + x[i+1]/4 with replicated borders.
    """
    n = x.shape[dim]
    prev = torch.cat([x.narrow(dim, 0, 1), x.narrow(dim, 0, n - 1)], dim=dim)
    nxt = torch.cat([x.narrow(dim, 1, n - 1), x.narrow(dim, n - 1, 1)], dim=dim)
    even = 0.25 * prev + 0.75 * x
    odd = 0.75 * x + 0.25 * nxt
    out = torch.stack([even, odd], dim=dim + 1)
    shape = list(x.shape)
    shape[dim] = 2 * n
    return out.reshape(shape)


def upsample_bilinear2x(x):
    """Bilinear x2 upsampling, like ``nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)``.

    x: shape (B, C, H, W) with H, W >= 2 -> shape (B, C, 2H, 2W).
    """
    return _bilinear2x_axis(_bilinear2x_axis(x, 2), 3)


def subsample2x(x):
    """Every second row and column starting at 0, like ``x[:, :, ::2, ::2]`` on even sizes.

    x: shape (B, C, H, W) with H, W even -> shape (B, C, H/2, W/2). Written as a masked 2x2 sum so that its
    backward pass is a broadcast multiply: a stride-2 convolution whose input size is symbolic would otherwise
    need a ConvTranspose output padding that only the concrete size determines.
    """
    b, c, h, w = x.shape
    mask = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=x.dtype, device=x.device).reshape(1, 1, 1, 2, 1, 2)
    return (x.reshape(b, c, h // 2, 2, w // 2, 2) * mask).sum(dim=(3, 5))
