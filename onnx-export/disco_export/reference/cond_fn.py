"""DD's ``cond_fn`` (dd-algorithm.md §5) with torch autograd, from recorded draws (cut plans, augmentations).

x requires grad; x_in = fac·pred + (1 − fac)·x with pred from the secondary model at t_c(ᾱ_{cur_t}) or from
the UNet at t_model(cur_t) (pred_x0 = sqrt(1/ᾱ)·x − sqrt(1/ᾱ − 1)·ε); the loss is

    Σ_models Σ_batches (cgs/cutn_batches)·mean_c Σ_p w_p·d + tv·TV(x_in) + sat·SAT(x_in)
    + init_scale·LPIPS(x_in, init) [+ range_scale·RNG(pred) with range_loss "through_denoiser"]

and grad_raw = ∂loss/∂x. DD differentiates w.r.t. x_in, where the range term (a function of pred, an input
of x_in) contributes nothing (§5.7): with range_loss "dd" the term is reported but left out of the gradient.
Then g = −grad_raw, a NaN anywhere → zeros, RMS capped at clamp_max unless the RMS is 0 (disco keeps a zero
gradient zero where DD divides 0 by 0, §5.8).
"""

from dataclasses import dataclass

import torch

from . import augment, cutouts, losses
from .schedule import Schedule, t_c
from .sampler import pred_x0


@dataclass
class Guidance:
    """The guidance settings of a trace's ``spec``."""

    clip_guidance_scale: float
    tv_scale: float
    range_scale: float
    range_loss: str
    sat_scale: float
    init_scale: float
    cutn_batches: int
    secondary: bool
    clamp_max: float = None

    @classmethod
    def from_spec(cls, spec):
        return cls(spec["clip_guidance_scale"], spec["tv_scale"], spec["range_scale"], spec["range_loss"],
                   spec["sat_scale"], spec["init_scale"], spec["cutn_batches"], spec["use_secondary_model"],
                   spec.get("clamp_max"))


def denoised(models, sched: Schedule, x, cur_t, secondary):
    """The denoised estimate at DD's cur_t (§5.1), differentiable in x. x: (1, 3, H, W) -> pred."""
    alpha_bar = sched.alpha_bar[cur_t]
    if secondary:
        tc = torch.tensor([t_c(alpha_bar)], dtype=torch.float32)
        return models.secondary(x, tc)[0]
    t = torch.tensor([sched.t_model(cur_t)], dtype=torch.float32)
    eps = models.unet(x, t)[:, :3]
    return pred_x0(x, eps, alpha_bar)


def loss_terms(models, settings: Guidance, sched, targets, init, x, cur_t, draws):
    """Every loss term at x (a leaf requiring grad). Returns ({name: scalar tensor}, pred).

    targets: per CLIP model (spec order) a pair (rows (P, D), weights (P,)); draws: [model][batch] of
    (CutPlan, aug dict or None); init: (1, 3, H, W) or None.
    """
    fac = float(sched.fac(cur_t))
    pred = denoised(models, sched, x, cur_t, settings.secondary)
    x_in = pred * fac + x * (1.0 - fac)
    u = (x_in + 1) / 2
    per_batch = settings.clip_guidance_scale / settings.cutn_batches
    terms = {"clip": x.new_zeros(()), "tv": x.new_zeros(()), "sat": x.new_zeros(()),
             "range": x.new_zeros(()), "init": x.new_zeros(())}
    for model, (rows, weights), batches in zip(models.clip.values(), targets, draws):
        for plan, aug in batches:
            assert plan.r == model.resolution, f"plan R {plan.r} != CLIP {model.flag} R {model.resolution}"
            cuts = cutouts.make_cutouts(u, plan)
            if aug is not None:
                cuts = augment.augment(cuts, aug)
            embed = model.encoder(losses.clip_normalize(cuts)).float()
            terms["clip"] = terms["clip"] + per_batch * losses.clip_loss(embed, rows, weights)
    if settings.tv_scale:
        terms["tv"] = settings.tv_scale * losses.tv_loss(x_in)
    if settings.sat_scale:
        terms["sat"] = settings.sat_scale * losses.sat_loss(x_in)
    if settings.range_scale:
        terms["range"] = settings.range_scale * losses.range_loss(pred)
    if init is not None and settings.init_scale and models.lpips is not None:
        terms["init"] = settings.init_scale * models.lpips(x_in, init).sum()
    return terms, pred


def finish(grad_raw, clamp_max):
    """g = −grad_raw; NaN anywhere → zeros; RMS capped at clamp_max (a zero RMS leaves g zero)."""
    if torch.isnan(grad_raw).any():
        return torch.zeros_like(grad_raw)
    g = -grad_raw
    if clamp_max is not None:
        rms = g.square().mean().sqrt()
        if rms > 0:
            g = g * rms.clamp(max=clamp_max) / rms
    return g


def cond_fn(models, settings, sched, targets, init, x, cur_t, draws):
    """One guidance evaluation. x: (1, 3, H, W). Returns (losses {name: float}, grad_raw, grad)."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        terms, _ = loss_terms(models, settings, sched, targets, init, x, cur_t, draws)
        total = terms["clip"] + terms["tv"] + terms["sat"] + terms["init"]
        if settings.range_loss == "through_denoiser":
            total = total + terms["range"]
        if total.requires_grad:
            (grad_raw,) = torch.autograd.grad(total, x)
        else:
            grad_raw = torch.zeros_like(x)
    return {k: float(v.detach()) for k, v in terms.items()}, grad_raw.detach(), finish(grad_raw.detach(), settings.clamp_max)
