"""ResizeRight (dd-algorithm.md §5.4) and MakeCutoutsDango from a recorded CutPlan (§5.3), in torch.

ResizeRight is a separable linear map; each 1-D pass is a dense (m, n) matrix built from its sparse taps
(``resize_taps``) and applied with a matmul, so autograd gives the adjoint. Weights are computed in float64
and used as float32 (ResizeRight itself computes them in float32; the difference is ~1e-7 relative).
"""

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

EPS32 = float(np.finfo(np.float32).eps)
GRAY = (0.2989, 0.587, 0.114)


def cubic(x):
    """Keys cubic, a = −0.5, support 4 (ResizeRight ``interp_methods.cubic``). x: float64 array."""
    a = np.abs(x)
    a2, a3 = a * a, a * a * a
    inner = (1.5 * a3 - 2.5 * a2 + 1.0) * (a <= 1.0)
    outer = (-0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0) * ((a > 1.0) & (a <= 2.0))
    return inner + outer


def resize_taps(n, m):
    """Taps of one axis resized n → m: (positions (m, T) int64, weights (m, T) float64).

    c_j = j/s + (n−1)/2 − (m−1)/(2s) with s = m/n; when shrinking the kernel is s·k(s·x) with support 4/s
    (antialiasing); taps start at ceil(c_j − support/2 − eps), weights are normalised to sum 1 (a zero sum
    counts as 1). Positions may fall outside [0, n): those taps read zeros but still count in the sum.
    """
    s = m / n
    support = 4.0 if s >= 1 else 4.0 / s
    kernel = cubic if s >= 1 else (lambda v: s * cubic(s * v))
    c = (np.arange(m, dtype=np.float64) - (m - 1) / 2) / s + (n - 1) / 2
    left = np.ceil(c - support / 2 - EPS32).astype(np.int64)
    pos = left[:, None] + np.arange(math.ceil(support - EPS32), dtype=np.int64)[None, :]
    w = kernel(c[:, None] - pos)
    total = w.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0
    return pos, w / total


@functools.lru_cache(maxsize=None)
def resize_matrix(n, m):
    """The 1-D resize n → m as a dense float32 matrix (m, n); out-of-range taps dropped (zero padding).

    Cached: a render asks for the same few sizes in every cut of every step (callers must not modify it)."""
    pos, w = resize_taps(n, m)
    inside = (pos >= 0) & (pos < n)
    rows = np.broadcast_to(np.arange(m)[:, None], pos.shape)
    mat = np.zeros((m, n), dtype=np.float64)
    mat[rows[inside], pos[inside]] = w[inside]  # a row's taps are distinct positions
    return torch.from_numpy(mat.astype(np.float32))


def resize(img, out_hw):
    """ResizeRight with DD's defaults. img: (N, C, h, w) -> (N, C, out_h, out_w).

    Axes are resized in ascending order of scale factor (ties: height first, ResizeRight's stable sort);
    an axis with scale 1 is left alone.
    """
    h, w = img.shape[-2:]
    oh, ow = out_hw
    axes = sorted([(oh / h, 2), (ow / w, 3)], key=lambda a: a[0])
    for scale, dim in axes:
        if scale == 1:
            continue
        if dim == 2:
            img = torch.einsum("mh,nchw->ncmw", resize_matrix(h, oh), img)
        else:
            img = torch.einsum("mw,nchw->nchm", resize_matrix(w, ow), img)
    return img


def gray(img):
    """torchvision Grayscale(3): ITU-R 601 luma replicated. img: (N, 3, h, w)."""
    r, g, b = img.unbind(dim=-3)
    luma = GRAY[0] * r + GRAY[1] * g + GRAY[2] * b
    return luma.unsqueeze(-3).expand(img.shape)


def hflip(img):
    return img.flip(-1)


@dataclass
class InnerCut:
    size: int
    oy: int
    ox: int
    gray: bool


@dataclass
class CutPlan:
    """One cutn-batch's cuts: O overview cuts then the inner cuts, each R × R, from an H × W image."""

    h: int
    w: int
    r: int
    overview: int
    inner: list = field(default_factory=list)

    @classmethod
    def from_json(cls, d):
        return cls(d["h"], d["w"], d["r"], d["overview"], [InnerCut(**c) for c in d["inner"]])

    def n_cuts(self):
        return self.overview + len(self.inner)


def make_cutouts(u, plan):
    """MakeCutoutsDango on u = (x_in + 1)/2. u: (1, 3, H, W) -> cuts: (O + I, 3, R, R)."""
    _, _, h, w = u.shape
    assert (h, w) == (plan.h, plan.w), f"plan is for {plan.h}x{plan.w}, image is {h}x{w}"
    r = plan.r
    cuts = []
    if plan.overview > 0:
        short = min(h, w)
        pad_y, pad_x = (w - short) // 2, (h - short) // 2  # only the short axis gets padding
        padded = torch.nn.functional.pad(u, (pad_x, pad_x, pad_y, pad_y))
        ov = resize(padded, (r, r))
        if plan.overview <= 4:
            cuts += [ov, gray(ov), hflip(ov), gray(hflip(ov))][: plan.overview]
        else:
            cuts += [ov] * plan.overview
    for c in plan.inner:
        cut = u[:, :, c.oy:c.oy + c.size, c.ox:c.ox + c.size]
        if c.gray:
            cut = gray(cut)
        cuts.append(resize(cut, (r, r)))
    return torch.cat(cuts, dim=0)
