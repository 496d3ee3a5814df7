"""A trace's render run the way Disco Diffusion's ``cond_fn`` runs it, timing each model's forward and backward
(benches/render_step_real.rs).

cond_fn.py differentiates the whole loss once, keeping every CLIP batch's activations until the end; DD instead
takes, per CLIP model and cutn batch, ``autograd.grad`` of that batch's loss with respect to x_in (so each batch's
activations are freed before the next), adds the tv/sat/LPIPS terms' gradient with respect to x_in, and then
backpropagates the accumulated x_in gradient through the denoiser once (``autograd.grad(x_in, x, x_in_grad)``).
The gradient is the same (up to float32 summation order); the time and peak memory are DD's.

Per evaluation (DDIM: one per step) the parts are wall seconds: the step's UNet forward (no grad), the denoiser's
forward with grad and its backward, per CLIP model its image forward and backward (the backward ends when the
gradient reaches the normalised cuts, marked by a tensor hook), and the cuts and augmentations (forward and
backward) together.
"""

import time
from contextlib import contextmanager

import torch

from . import augment, cutouts, losses
from .cond_fn import denoised, finish
from .replay import Replayer


class Clock:
    """Seconds per named part."""

    def __init__(self):
        self.parts = {}

    def add(self, name, secs):
        self.parts[name] = self.parts.get(name, 0.0) + secs

    @contextmanager
    def time(self, name):
        t0 = time.perf_counter()
        yield
        self.add(name, time.perf_counter() - t0)


def dd_cond_fn(models, settings, sched, targets, init, x, cur_t, draws, clock):
    """cond_fn.cond_fn's result, computed in DD's order. Returns (losses {name: float}, grad_raw, grad)."""
    if settings.range_scale and settings.range_loss == "through_denoiser":
        raise ValueError("range_loss through_denoiser is disco's, not DD's; the DD-style step does not run it")
    fam = "secondary" if settings.secondary else "unet"
    x = x.detach().clone().requires_grad_(True)
    values = {"clip": 0.0, "tv": 0.0, "sat": 0.0, "range": 0.0, "init": 0.0}
    with torch.enable_grad():
        with clock.time(f"{fam} fwd (with grad)"):
            pred = denoised(models, sched, x, cur_t, settings.secondary)
            fac = float(sched.fac(cur_t))
            x_in = pred * fac + x * (1.0 - fac)
        x_in_grad = torch.zeros_like(x_in)
        per_batch = settings.clip_guidance_scale / settings.cutn_batches
        for model, (rows, weights), batches in zip(models.clip.values(), targets, draws):
            for plan, aug in batches:
                t0 = time.perf_counter()
                cuts = cutouts.make_cutouts((x_in + 1) / 2, plan)
                if aug is not None:
                    cuts = augment.augment(cuts, aug)
                clip_in = losses.clip_normalize(cuts)
                t1 = time.perf_counter()
                embed = model.encoder(clip_in).float()
                t2 = time.perf_counter()
                loss = per_batch * losses.clip_loss(embed, rows, weights)
                mark = {}

                def reached(g, mark=mark):
                    mark.setdefault("t", time.perf_counter())  # returns None: the gradient is unchanged

                clip_in.register_hook(reached)
                t3 = time.perf_counter()
                (g,) = torch.autograd.grad(loss, x_in)
                t4 = time.perf_counter()
                x_in_grad += g
                values["clip"] += float(loss.detach())
                back = mark.get("t", t4)
                clock.add("cuts + augmentations (fwd and bwd)", (t1 - t0) + (t4 - back))
                clock.add(f"clip {model.flag} fwd", t2 - t1)
                clock.add(f"clip {model.flag} bwd", back - t3)
                clock.add("losses", t3 - t2)
        with clock.time("losses"):
            other = x_in.new_zeros(())
            if settings.tv_scale:
                term = settings.tv_scale * losses.tv_loss(x_in)
                values["tv"], other = float(term.detach()), other + term
            if settings.sat_scale:
                term = settings.sat_scale * losses.sat_loss(x_in)
                values["sat"], other = float(term.detach()), other + term
            if settings.range_scale:  # DD's: a function of pred, not of x_in, so no gradient (cond_fn.py)
                values["range"] = float(settings.range_scale * losses.range_loss(pred.detach()))
            if init is not None and settings.init_scale and models.lpips is not None:
                term = settings.init_scale * models.lpips(x_in, init).sum()
                values["init"], other = float(term.detach()), other + term
            if other.requires_grad:
                x_in_grad += torch.autograd.grad(other, x_in)[0]
        with clock.time(f"{fam} bwd"):
            (grad_raw,) = torch.autograd.grad(x_in, x, x_in_grad)
    grad_raw = grad_raw.detach()
    return values, grad_raw, finish(grad_raw, settings.clamp_max)


class DDStyleReplayer(Replayer):
    """Replayer whose evaluations run DD's cond_fn and are timed; ``steps`` lists, per evaluation,
    {seconds, guided, parts}."""

    def __init__(self, trace, models):
        super().__init__(trace, models)
        self.clock = Clock()
        self.steps = []
        self.current = None

    def close(self):
        """End the current evaluation's record (its time runs until the next evaluation starts)."""
        if self.current is not None:
            self.current["seconds"] = time.perf_counter() - self.current.pop("start")
            self.current["parts"] = self.clock.parts
            self.steps.append(self.current)
        self.current, self.clock.parts = None, {}

    def evaluate(self, x, ev, tie_log=None):
        self.close()
        self.current = {"start": time.perf_counter(), "guided": ev.get("grad") is not None}
        with torch.no_grad(), self.clock.time("unet fwd (eps, no grad)"):
            t = torch.tensor([self.sched.t_model(ev["k"])], dtype=torch.float32)
            eps = self.models.unet(x, t)[:, :3]
        if ev.get("grad") is None:
            return eps, None, None, None
        losses_, grad_raw, grad = dd_cond_fn(self.models, self.settings, self.sched, self.targets, self.init, x,
                                             ev["cur_t"], self.trace.draws(ev, tie_log), self.clock)
        return eps, grad_raw, grad, losses_


def time_dd_style(trace, models):
    """One free run (clamp ties forced) in DD's order: ({"steps": [...]}, the free run's error summary)."""
    r = DDStyleReplayer(trace, models)
    free = r.run(free=True)
    r.close()
    return {"steps": r.steps}, free
