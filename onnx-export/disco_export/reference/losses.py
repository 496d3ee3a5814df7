"""The guidance losses of dd-algorithm.md §5.6–5.7, as DD writes them (torch autograd differentiates them)."""

import torch
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_normalize(cuts):
    """T.Normalize(mean, std). cuts: (C, 3, R, R)."""
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (cuts - mean) / std


def spherical_dist(a, b):
    """2·arcsin(‖â − b̂‖/2)² with L2 normalisation (eps 1e-12). a: (C, 1, D), b: (1, P, D) -> (C, P)."""
    a = F.normalize(a, dim=-1)
    b = F.normalize(b, dim=-1)
    return (a - b).norm(dim=-1).div(2).arcsin().pow(2).mul(2)


def clip_loss(embed, rows, weights):
    """mean over cuts of Σ_p w_p·d(cut, p). embed: (C, D); rows: (P, D); weights: (P,) -> scalar."""
    d = spherical_dist(embed[:, None, :], rows[None, :, :])
    return (d * weights[None, :]).sum(dim=1).mean()


def tv_loss(x):
    """L2 total variation with replicate padding, mean over C, H, W. x: (1, 3, H, W) -> scalar."""
    x = F.pad(x, (0, 1, 0, 1), mode="replicate")
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return (dx ** 2 + dy ** 2).mean()


def range_loss(x):
    """mean of (x − clamp(x, −1, 1))². x: (1, 3, H, W) -> scalar."""
    return (x - x.clamp(-1, 1)).pow(2).mean()


def sat_loss(x):
    """mean of |x − clamp(x, −1, 1)|."""
    return (x - x.clamp(-1, 1)).abs().mean()
