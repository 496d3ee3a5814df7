"""DD's still / 2D augmentation pipeline (dd-algorithm.md §5.5) from RECORDED parameters, in plain torch.

Order (docs/trace.md): flip → + noise[0] → affine → + noise[1] → grayscale if drawn → + noise[2] → the four
ColorJitter operations in the recorded order. Written as torch ops so autograd differentiates it. The
formulas follow torchvision's tensor functional ops (torchvision itself is not installed):

* affine: ``_get_inverse_affine_matrix`` with centre (0, 0) relative to the image centre, scale 1, no shear,
  then ``_gen_affine_grid`` + ``grid_sample(bilinear, zeros, align_corners=False)``. RandomAffine passes
  fill = [0.0]*C (a list, not None), so ``_apply_grid_transform`` samples an all-ones mask with the same grid
  and returns ``img·mask + (1 − mask)·0``: border pixels are attenuated twice. We do that too, in float64.
* brightness/contrast/saturation: ``_blend(a, b, f) = (f·a + (1 − f)·b).clamp(0, 1)``; contrast's b is the
  per-image mean of the grayscale (over all its pixels), saturation's the grayscale.
* hue: ``_rgb2hsv`` → h = (h + hue) mod 1 → ``_hsv2rgb``, as torchvision (no final clamp), in float64.

Precision: the affine warp and hue are computed in float64 and cast back to float32, as disco's kernels do.
Both see rough cuts (UNet-path x̂0 at high noise, |u| up to ~40, steep from pixel to pixel) where float32
rounding inside them is large in absolute terms: grid_sample's coordinates are off by ~4e-6 px, moving warped
values by ~1e-4, and hue's HSV round trip is off by ~2e-5. Downstream, such differences flip ReLU decisions in
CLIP's ResNet and moved single cond_fn gradients by up to 1.6e-4 (rel.) against disco; in float64 both sides
agree to the float32 rounding of each op's output.
"""

import math

import torch
import torch.nn.functional as F

from .cutouts import gray


def inverse_affine_matrix(angle, translate):
    """torchvision ``_get_inverse_affine_matrix(center=(0,0), angle, translate, scale=1, shear=(0,0))``.

    Returns the 2×3 matrix mapping a centre-relative output pixel to its centre-relative input pixel.
    """
    rot = math.radians(angle)
    tx, ty = translate
    a, b, c, d = math.cos(rot), -math.sin(rot), math.sin(rot), math.cos(rot)
    m = [d, -b, 0.0, -c, a, 0.0]  # inverse of [[a, b], [c, d]] (det 1)
    m[2] += m[0] * (-tx) + m[1] * (-ty)
    m[5] += m[3] * (-tx) + m[4] * (-ty)
    return m


def affine_grid(m, h, w):
    """torchvision ``_gen_affine_grid``: the grid_sample grid (1, h, w, 2) for inverse matrix m, float64."""
    xs = torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, w, dtype=torch.float64)
    ys = torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, h, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    sx = (m[0] * gx + m[1] * gy + m[2]) / (0.5 * w)
    sy = (m[3] * gx + m[4] * gy + m[5]) / (0.5 * h)
    return torch.stack([sx, sy], dim=-1)[None]


def affine(img, angle, translate):
    """Bilinear affine warp with fill 0 and the mask quirk, in float64 (module docstring). img: (N, C, h, w)."""
    n, c, h, w = img.shape
    grid = affine_grid(inverse_affine_matrix(angle, translate), h, w).expand(n, h, w, 2)
    out = F.grid_sample(img.double(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    ones = torch.ones(n, 1, h, w, dtype=torch.float64)
    mask = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (out * mask).to(img.dtype)


class _ForcedClamp(torch.autograd.Function):
    """``z.clamp(0, 1)`` whose backward mask (torch's: pass where 0 ≤ z ≤ 1) is overridden at recorded
    elements by the decisions disco took there (docs/trace.md, "clamp ties").

    Why: those elements lie within float32 rounding of a bound, where which branch a implementation takes is
    decided by rounding upstream (ORT vs torch), not by the mathematics; one flipped element moved a whole
    cond_fn gradient by up to 1e-2. The forward value is torch's own (it differs by the rounding only).
    """

    @staticmethod
    def forward(ctx, z, index, passed, log):
        mask = (z >= 0) & (z <= 1)
        flat = mask.view(-1)
        if log is not None:
            log.append({"forced": int(index.numel()), "flipped": int((flat[index] != passed).sum())})
        flat[index] = passed
        ctx.save_for_backward(mask)
        out = z.clamp(0.0, 1.0)
        # Where disco clamped, its value is the bound exactly; a later hue op can tell (a pixel clamped to
        # (1, 1, 1) is gray, a pixel at (1, 1 − 1e-7, 1) is not, and hue's derivative differs between them).
        clamped = index[~passed]
        zc = z.view(-1)[clamped]
        out.view(-1)[clamped] = torch.where(zc > 0.5, torch.ones_like(zc), torch.zeros_like(zc))
        return out

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None, None


def blend(a, b, factor, tie=None, log=None):
    """torchvision ``_blend``; tie: (flat indices, decisions) to force in the clamp's backward, or None."""
    z = factor * a + (1.0 - factor) * b
    if tie is None:
        return z.clamp(0.0, 1.0)
    return _ForcedClamp.apply(z.contiguous(), tie[0], tie[1], log)


def luma(img):
    """(N, 3, h, w) -> (N, 1, h, w)."""
    return gray(img)[:, :1]


def brightness(img, f, tie=None, log=None):
    return blend(img, torch.zeros_like(img), f, tie, log)


def contrast(img, f, tie=None, log=None):
    mean = luma(img).mean(dim=(-3, -2, -1), keepdim=True)
    return blend(img, mean, f, tie, log)


def saturation(img, f, tie=None, log=None):
    return blend(img, luma(img), f, tie, log)


def rgb2hsv(img):
    """torchvision ``_rgb2hsv``. img: (N, 3, h, w) -> (N, 3, h, w) holding (h, s, v)."""
    r, g, b = img.unbind(dim=-3)
    maxc = img.max(dim=-3).values
    minc = img.min(dim=-3).values
    eqc = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc)
    cr_div = torch.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / cr_div, (maxc - g) / cr_div, (maxc - b) / cr_div
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    hue = torch.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return torch.stack((hue, s, maxc), dim=-3)


def hsv2rgb(img):
    """torchvision ``_hsv2rgb``."""
    h, s, v = img.unbind(dim=-3)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.to(torch.int32) % 6
    p = (v * (1.0 - s)).clamp(0.0, 1.0)
    q = (v * (1.0 - s * f)).clamp(0.0, 1.0)
    t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0)
    mask = (i.unsqueeze(-3) == torch.arange(6, dtype=torch.int32).view(-1, 1, 1)).to(img.dtype)
    a1 = torch.stack((v, q, p, p, t, v), dim=-3)
    a2 = torch.stack((t, v, v, q, p, p), dim=-3)
    a3 = torch.stack((p, p, t, v, v, q), dim=-3)
    a4 = torch.stack((a1, a2, a3), dim=-4)
    return torch.einsum("...ijk,...xijk->...xjk", mask, a4)


def _force(decided, tie, key, log):
    """Overwrites the flat ``decided`` (C·h·w,) at the tie's pixels with disco's ``tie[key]``; logs flips."""
    if log is not None:
        log.append({"forced": 0, "flipped": int((decided[tie["pixel"]] != tie[key]).sum())})
    decided[tie["pixel"]] = tie[key]


def hue_forced(img, shift, tie, log=None):
    """``hue`` evaluated at disco's input values of the tie's pixels and taking disco's branches there
    (docs/trace.md, "clamp ties"): which channel is the maximum and the minimum, the HSV sector, and the clamps
    of p, q, t. Elsewhere it decides as torchvision (first channel among equal maxima/minima), so away from the
    ties it equals ``hue``."""
    n, _, hh, ww = img.shape
    if log is not None:
        log.append({"forced": int(tie["pixel"].numel()), "flipped": 0})
    # Evaluate at disco's values of the tie pixels (the gradient still flows through ours): near a kink the
    # derivative depends on the values at rounding level, e.g. near gray, where h is set by ~1e-7 differences.
    c, i = tie["pixel"] // (hh * ww), tie["pixel"] % (hh * ww)
    delta = torch.zeros_like(img).view(n, 3, hh * ww)
    delta[c, :, i] = tie["rgb"].to(img.dtype) - img.detach().view(n, 3, hh * ww)[c, :, i]
    img = img + delta.view_as(img)
    imax, imin = img.argmax(dim=-3), img.argmin(dim=-3)
    _force(imax.view(-1), tie, "imax", log)
    _force(imin.view(-1), tie, "imin", log)
    r, g, b = img.unbind(dim=-3)
    maxc = img.gather(-3, imax.unsqueeze(-3)).squeeze(-3)
    minc = img.gather(-3, imin.unsqueeze(-3)).squeeze(-3)
    eqc = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc)
    cr_div = torch.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / cr_div, (maxc - g) / cr_div, (maxc - b) / cr_div
    h = (imax == 0) * (bc - gc) + (imax == 1) * (2.0 + rc - bc) + (imax == 2) * (4.0 + gc - rc)
    h = torch.fmod(h / 6.0 + 1.0, 1.0)
    h = torch.remainder(h + shift, 1.0)
    i = torch.floor(h * 6.0).detach().clone()
    flat_i = i.view(-1)
    if log is not None:
        log.append({"forced": 0, "flipped": int((torch.remainder(flat_i[tie["pixel"]], 6).long() != tie["sector"]).sum())})
    # Keep the integer part consistent with h (a forced sector next to floor(6h) is one below or above it).
    sec = tie["sector"].to(flat_i.dtype)
    flat_i[tie["pixel"]] = flat_i[tie["pixel"]] + torch.remainder(sec - flat_i[tie["pixel"]] + 3, 6) - 3
    f = h * 6.0 - i
    v = maxc

    clamp_log = [] if log is not None else None

    def clamp(z, k):
        return _ForcedClamp.apply(z.contiguous(), tie["pixel"], tie["passed"][:, k], clamp_log)

    p, q, t = clamp(v * (1.0 - s), 0), clamp(v * (1.0 - s * f), 1), clamp(v * (1.0 - s * (1.0 - f)), 2)
    if log is not None:  # the pixels are counted once above; here only the flipped clamps
        log.append({"forced": 0, "flipped": sum(e["flipped"] for e in clamp_log)})
    sector = i.to(torch.int32) % 6
    mask = (sector.unsqueeze(-3) == torch.arange(6, dtype=torch.int32).view(-1, 1, 1)).to(img.dtype)
    a1 = torch.stack((v, q, p, p, t, v), dim=-3)
    a2 = torch.stack((t, v, v, q, p, p), dim=-3)
    a3 = torch.stack((p, p, t, v, v, q), dim=-3)
    a4 = torch.stack((a1, a2, a3), dim=-4)
    return torch.einsum("...ijk,...xijk->...xjk", mask, a4)


def hue(img, shift, tie=None, log=None):
    """The HSV round trip, computed in float64 (module docstring; disco's hue works in f64 too)."""
    x = img.double()
    if tie is not None:
        return hue_forced(x, shift, tie, log).to(img.dtype)
    hsv = rgb2hsv(x)
    h, s, v = hsv.unbind(dim=-3)
    h = torch.remainder(h + shift, 1.0)
    return hsv2rgb(torch.stack((h, s, v), dim=-3)).to(img.dtype)


JITTER = {"brightness": brightness, "contrast": contrast, "saturation": saturation, "hue": hue}


def augment(cuts, aug):
    """The pipeline on a whole cutn-batch. cuts: (C, 3, R, R); aug: the trace's ``aug`` dict with its noise
    already as tensors (each (C, 3, R, R)) and optionally ``clamp_ties`` {position in order: (flat indices,
    decisions)} to force (trace.Trace.draws) with ``tie_log``, a list that receives {forced, flipped} per
    forced op. Returns (C, 3, R, R)."""
    x = cuts.flip(-1) if aug["flip"] else cuts
    x = x + aug["noise"][0]
    x = affine(x, aug["angle"], aug["translate"])
    x = x + aug["noise"][1]
    if aug["gray"]:
        x = gray(x)
    x = x + aug["noise"][2]
    ties, log = aug.get("clamp_ties") or {}, aug.get("tie_log")
    for i, name in enumerate(aug["order"]):
        x = JITTER[name](x, aug[name], ties.get("hue" if name == "hue" else i), log)
    return x
