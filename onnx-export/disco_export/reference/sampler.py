"""The guided DDIM step (dd-algorithm.md §4.5), PLMS (§4.6) and symmetry (§4.7), as guided-diffusion computes
them: schedule coefficients are float64 values cast to float32, tensors float32."""

import math

import numpy as np
import torch


def _recip(alpha_bar):
    """(sqrt(1/ᾱ), sqrt(1/ᾱ − 1)) as float32 values."""
    return float(np.float32(math.sqrt(1.0 / alpha_bar))), float(np.float32(math.sqrt(1.0 / alpha_bar - 1.0)))


def pred_x0(x, eps, alpha_bar):
    """x̂0 = sqrt(1/ᾱ)·x − sqrt(1/ᾱ − 1)·ε. x, eps: (B, 3, H, W)."""
    c1, c2 = _recip(alpha_bar)
    return c1 * x - c2 * eps


def eps_from_x0(x, x0, alpha_bar):
    """ε = (sqrt(1/ᾱ)·x − x̂0)/sqrt(1/ᾱ − 1)."""
    c1, c2 = _recip(alpha_bar)
    return (c1 * x - x0) / c2


def condition_score(x, eps_hat, g, alpha_bar, clip_denoised):
    """guided-diffusion ``condition_score``: (eps', pred_x0_guided, pred_x0) with eps' re-derived from the
    guided x̂0' as ddim_sample / plms_sample do. g None: no guidance."""
    x0 = pred_x0(x, eps_hat, alpha_bar)
    if clip_denoised:
        x0 = x0.clamp(-1, 1)
    if g is None:
        return eps_from_x0(x, x0, alpha_bar), x0, x0
    ab32 = np.float32(alpha_bar)
    fac = float(np.sqrt(np.float32(1.0) - ab32))
    eps = eps_from_x0(x, x0, alpha_bar) - fac * g
    x0_guided = pred_x0(x, eps, alpha_bar)
    return eps_from_x0(x, x0_guided, alpha_bar), x0_guided, x0


def ddim_sigma(alpha_bar, alpha_bar_prev, eta):
    """σ_k in float32 from float32 ᾱ values (ddim_sample works on extracted float32 tensors)."""
    ab, abp, e = np.float32(alpha_bar), np.float32(alpha_bar_prev), np.float32(eta)
    one = np.float32(1.0)
    return float(e * np.sqrt((one - abp) / (one - ab)) * np.sqrt(one - ab / abp))


def ddim_step(x, eps_hat, g, z, k, alpha_bar, alpha_bar_prev, eta, clip_denoised):
    """One guided DDIM step at index k. Returns (x_next, pred_x0 (unguided))."""
    eps, x0_guided, x0 = condition_score(x, eps_hat, g, alpha_bar, clip_denoised)
    sigma = ddim_sigma(alpha_bar, alpha_bar_prev, eta)
    abp = np.float32(alpha_bar_prev)
    c_x0 = float(np.sqrt(abp))
    c_eps = float(np.sqrt(max(np.float32(1.0) - abp - np.float32(sigma) * np.float32(sigma), np.float32(0))))
    mean = x0_guided * c_x0 + c_eps * eps
    x_next = mean + sigma * z if k != 0 else mean  # DD's nonzero_mask; z is drawn even at k = 0
    return x_next, x0


def plms_mid(x0_guided, eps_a, alpha_bar_prev):
    """PLMS's first-step probe x_mid = sqrt(ᾱ_{k−1})·x̂0' + sqrt(1 − ᾱ_{k−1})·ε_a."""
    abp = np.float32(alpha_bar_prev)
    return x0_guided * float(np.sqrt(abp)) + float(np.sqrt(np.float32(1.0) - abp)) * eps_a


def plms_next(x, eps_star, alpha_bar, alpha_bar_prev):
    """x_{k−1} = sqrt(ᾱ_{k−1})·x̂0(x, ε*) + sqrt(1 − ᾱ_{k−1})·ε*."""
    return plms_mid(pred_x0(x, eps_star, alpha_bar), eps_star, alpha_bar_prev)


def symmetry(x, horizontal, vertical):
    """Mirror the left half onto the right (horizontal), then the top half onto the bottom (vertical)."""
    x = x.clone()
    if horizontal:
        w = x.shape[-1]
        x[..., w - w // 2:] = x[..., : w // 2].flip(-1)
    if vertical:
        h = x.shape[-2]
        x[..., h - h // 2:, :] = x[..., : h // 2, :].flip(-2)
    return x
