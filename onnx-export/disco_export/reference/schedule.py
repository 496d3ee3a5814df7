"""The diffusion schedule (dd-algorithm.md §4.2, §5.1, §5.2): linear betas in float64, ``ddim{N}`` respacing.

Arrays stay float64 as guided-diffusion keeps them; values are cast to float32 where DD casts them.
"""

import math

import numpy as np
import torch

TRAIN_STEPS = 1000


def base_alpha_bar(diffusion_steps):
    """ᾱ_base: shape (D,) float64, from β = linspace(1e-4·1000/D, 0.02·1000/D, D)."""
    scale = TRAIN_STEPS / diffusion_steps
    betas = np.linspace(scale * 0.0001, scale * 0.02, diffusion_steps, dtype=np.float64)
    return np.cumprod(1.0 - betas, axis=0)


class Schedule:
    """The respaced schedule of N = ``steps`` sampling steps.

    ``alpha_bar[k]``, ``alpha_bar_prev[k]`` (ᾱ_{k−1}, 1 at k = 0): float64 arrays of shape (N,).
    """

    def __init__(self, steps):
        self.steps = steps
        self.diffusion_steps = (TRAIN_STEPS // steps) * steps if steps < TRAIN_STEPS else steps
        self.stride = self.diffusion_steps // steps
        base = base_alpha_bar(self.diffusion_steps)
        # respace.py: new β_k = 1 − ᾱ[τ_k]/ᾱ[τ_{k−1}], then ᾱ = cumprod(1 − β) again (same last bits as DD).
        kept = base[np.arange(steps) * self.stride]
        betas = 1.0 - kept / np.concatenate([[1.0], kept[:-1]])
        self.alpha_bar = np.cumprod(1.0 - betas, axis=0)
        self.alpha_bar_prev = np.concatenate([[1.0], self.alpha_bar[:-1]])

    def tau(self, k):
        return k * self.stride

    def t_model(self, k):
        """τ_k·1000/D as float32 (the UNet's time input; ``_WrappedModel``)."""
        return np.float32(self.tau(k)) * np.float32(TRAIN_STEPS / self.diffusion_steps)

    def fac(self, k):
        """sqrt(1 − ᾱ_k) as float32 (DD's ``fac``)."""
        return np.float32(math.sqrt(1.0 - self.alpha_bar[k]))

    def start_index(self, skip_steps):
        """K0 = N − skip − 1."""
        return self.steps - skip_steps - 1


def t_c(alpha_bar):
    """The secondary model's time atan2(sqrt(1−ᾱ), sqrt(ᾱ))·2/π, with α, σ cast to float32 first (DD)."""
    alpha = torch.tensor(math.sqrt(alpha_bar), dtype=torch.float32)
    sigma = torch.tensor(math.sqrt(1.0 - alpha_bar), dtype=torch.float32)
    return float(torch.atan2(sigma, alpha) * 2 / math.pi)


def schedule_index(t_model):
    """Index into the 1000-entry cut schedules: 1000 − (int(t) + 1) (§5.2)."""
    return TRAIN_STEPS - (int(t_model) + 1)
