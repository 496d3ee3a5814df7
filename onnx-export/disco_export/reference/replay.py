"""Replay a trace: teacher-forced (every evaluation and step from the trace's recorded inputs) and free
(from x_start on this reference's own outputs, with the recorded noise and draws), compared with the trace.

Each run is made twice: with the trace's clamp ties forced (the augmentation clamps take disco's branch at the
few elements recorded within ``clamp_margin`` of a bound, docs/trace.md) and unforced (torch decides every
clamp itself). Forcing removes the measure-zero ties that rounding decides; the unforced runs show their size.

Errors are relative: ‖a − b‖/‖b‖ with b the trace's tensor (‖a‖ when ‖b‖ = 0).

Branches: cond_fn's gradient is not continuous at float32 resolution. A ReLU of the secondary model or of a
ResNet CLIP whose input lies within rounding of 0 takes either branch depending on how each side rounds, and
moves the whole gradient by up to ~1e-3 (measured: docs/trace.md, "Branches"). So a teacher-forced evaluation
whose gradient misses ``BRANCH_LIMIT`` is evaluated again at up to ``BRANCH_DRAWS`` points within
``BRANCH_NOISE`` relative noise of x, and its error is the smallest over x and those points: the distance from
disco's gradient to the nearest gradient PyTorch itself produces at x within float32 noise. ``grad_at_x`` and
``grad_raw_at_x`` keep the errors at x itself, and ``branch`` says which draw matched. A wrong gradient matches
no branch: the draws only move x by rounding-sized steps.
"""

import torch

from .cond_fn import Guidance, cond_fn
from .sampler import condition_score, ddim_step, plms_mid, plms_next, symmetry
from .schedule import Schedule


def rel_error(a, b):
    if a is None or b is None:
        return None
    nb = float(b.double().norm())
    diff = float((a.double() - b.double()).norm())
    return diff / nb if nb > 0 else diff


# The parity criterion's gradient limit, the relative noise of the branch search, and its draws (above).
BRANCH_LIMIT = 1e-4
BRANCH_NOISE = 1e-6
BRANCH_DRAWS = 8


class Replayer:
    """Evaluates the UNet and cond_fn as the trace's render did. models: models.Models."""

    def __init__(self, trace, models, noise_floor=False):
        self.trace, self.models, self.spec = trace, models, trace.spec
        self.noise_floor = noise_floor
        self.sched = Schedule(self.spec["steps"])
        self.settings = Guidance.from_spec(self.spec)
        self.targets = trace.targets()
        self.init = trace.tensor(trace.doc.get("init"))
        self.method = self.spec["method"]
        self.clip_denoised = bool(self.spec.get("clip_denoised", False))
        sym = self.spec.get("symmetry") or {}
        self.sym_steps = set(sym.get("steps") or [])
        self.sym = (bool(sym.get("horizontal")), bool(sym.get("vertical")))

    def evaluate(self, x, ev, tie_log=None):
        """ε̂ at (x, t_model(k)) and, when the trace's evaluation was guided, cond_fn at (x, cur_t).

        tie_log: force the evaluation's clamp ties and append {forced, flipped} per forced op to it."""
        with torch.no_grad():
            t = torch.tensor([self.sched.t_model(ev["k"])], dtype=torch.float32)
            eps = self.models.unet(x, t)[:, :3]
        if ev.get("grad") is None:
            return eps, None, None, None
        losses, grad_raw, grad = cond_fn(self.models, self.settings, self.sched, self.targets, self.init, x,
                                         ev["cur_t"], self.trace.draws(ev, tie_log))
        return eps, grad_raw, grad, losses

    def guided(self, x, eps, grad, k):
        return condition_score(x, eps, grad, self.sched.alpha_bar[k], self.clip_denoised)

    def _evaluate(self, x, ev, forced):
        """evaluate(), plus the clamp-tie counts of the evaluation: (out, {forced, flipped})."""
        log = [] if forced else None
        out = self.evaluate(x, ev, log)
        ties = {"forced": sum(e["forced"] for e in log or []), "flipped": sum(e["flipped"] for e in log or [])}
        return out, ties

    def _eval_record(self, step, ev, x, out, ties, branches=False, forced=True):
        eps, grad_raw, grad, losses = out
        tr = self.trace.tensor
        rec = {"j": step["j"], "k": ev["k"], "cur_t": ev["cur_t"], "ties": ties, "x": rel_error(x, tr(ev["x"])),
               "eps": rel_error(eps, tr(ev["eps"])), "grad_raw": rel_error(grad_raw, tr(ev.get("grad_raw"))),
               "grad": rel_error(grad, tr(ev.get("grad")))}
        if branches and grad is not None and max(rec["grad"], rec["grad_raw"] or 0.0) >= BRANCH_LIMIT:
            self._nearest_branch(rec, step, ev, x, forced)
        if self.noise_floor and grad_raw is not None:
            # How far our own ∂L/∂x moves under 1e-6 relative input noise: clamp ties and ReLU masks make
            # the gradient discontinuous at float32 resolution (docs/models.md, "noise floor").
            gen = torch.Generator().manual_seed(20261129 + 1000 * step["j"] + ev["k"])
            x_p = x * (1 + 1e-6 * torch.randn(x.shape, generator=gen))
            rec["grad_raw_floor"] = rel_error(self.evaluate(x_p, ev)[1], grad_raw)
        if losses is not None and ev.get("losses"):
            rec["losses"] = {name: {"reference": v, "trace": ev["losses"].get(name)} for name, v in losses.items()}
        return rec

    def _nearest_branch(self, rec, step, ev, x, forced):
        """Replaces the record's gradient errors by the smallest over x and ``BRANCH_DRAWS`` points within
        ``BRANCH_NOISE`` of it (module doc, "Branches"); keeps the errors at x as ``*_at_x``."""
        tr = self.trace.tensor
        want_raw, want = tr(ev.get("grad_raw")), tr(ev.get("grad"))
        rec["grad_at_x"], rec["grad_raw_at_x"] = rec["grad"], rec["grad_raw"]
        rec["branch"] = {"draws": 0, "matched": None}
        gen = torch.Generator().manual_seed(20261207 + 1000 * step["j"] + ev["k"])
        for d in range(BRANCH_DRAWS):
            x_p = x * (1 + BRANCH_NOISE * torch.randn(x.shape, generator=gen))
            _, grad_raw, grad, _ = self._evaluate(x_p, ev, forced)[0]
            rec["branch"]["draws"] = d + 1
            e, e_raw = rel_error(grad, want), rel_error(grad_raw, want_raw)
            if max(e, e_raw or 0.0) < max(rec["grad"], rec["grad_raw"] or 0.0):
                rec["grad"], rec["grad_raw"], rec["branch"]["matched"] = e, e_raw, d
            if max(rec["grad"], rec["grad_raw"] or 0.0) < BRANCH_LIMIT:
                break

    def run(self, free, forced=True):
        """One pass over the trace's steps. free: evaluate on our own x (else the recorded ones); forced: take
        disco's branch at the trace's clamp ties."""
        tr, sched = self.trace.tensor, self.sched
        x = tr(self.trace.doc["x_start"])
        eps_prev, evals, steps, pred = None, [], [], None
        for step in self.trace.doc["steps"]:
            k = step["k"]
            a, ap = sched.alpha_bar[k], sched.alpha_bar_prev[k]
            x_k = x if free else tr(step["x"])
            if free and self.method == "ddim" and k in self.sym_steps:
                x_k = symmetry(x_k, *self.sym)
            step_evals = step["evals"]
            ev0 = step_evals[0]
            x0_in = x_k if free else tr(ev0["x"])
            out0, ties0 = self._evaluate(x0_in, ev0, forced)
            evals.append(self._eval_record(step, ev0, x0_in, out0, ties0, not free, forced))
            if self.method == "ddim":
                x_next, pred = ddim_step(x_k, out0[0], out0[2], tr(step["noise"]), k, a, ap,
                                         self.spec.get("eta", 0.0), self.clip_denoised)
            else:
                eps_a, x0_guided, pred = self.guided(x_k, out0[0], out0[2], k)
                if k == 0:
                    x_next = x0_guided
                else:
                    if eps_prev is None:
                        x_mid = plms_mid(x0_guided, eps_a, ap)
                        ev1 = step_evals[1]
                        x1_in = x_mid if free else tr(ev1["x"])
                        out1, ties1 = self._evaluate(x1_in, ev1, forced)
                        rec = self._eval_record(step, ev1, x1_in, out1, ties1, not free, forced)
                        rec["x"] = rel_error(x_mid, tr(ev1["x"]))  # our probe vs the recorded one
                        evals.append(rec)
                        eps_b = self.guided(x1_in, out1[0], out1[2], ev1["k"])[0]
                        eps_star = (eps_a + eps_b) / 2
                    else:
                        eps_star = (3 * eps_a - eps_prev) / 2
                    x_next = plms_next(x_k, eps_star, a, ap)
                eps_prev = eps_a
            steps.append({"j": step["j"], "k": k, "x": rel_error(x_k, tr(step["x"])),
                          "pred_x0": rel_error(pred, tr(step["pred_x0"])),
                          "x_next": rel_error(x_next, tr(step["x_next"]))})
            x = x_next
        result = {"evals": evals, "steps": steps}
        if free:
            result["final"] = rel_error(pred, tr(self.trace.doc["final"]))
        return summarise(result)


def summarise(result):
    """Per kind of error: its maximum, where that maximum is (j, k), and its median over evaluations/steps.

    Kinds: eval_x, eps, grad_raw, grad, grad_raw_floor (per evaluation); x, pred_x0, x_next (per step);
    final (free run). Also ``ties``: the clamp elements forced (and among them flipped: where torch alone
    would have decided otherwise), in total and at most per evaluation.
    """
    values = {}
    for kind in ("evals", "steps"):
        for rec in result[kind]:
            for name, v in rec.items():
                if name in ("j", "k", "cur_t", "losses", "ties", "branch") or v is None:
                    continue
                key = "eval_x" if kind == "evals" and name == "x" else name
                values.setdefault(key, []).append((v, rec["j"], rec["k"]))
    out_max, out_at, out_median = {}, {}, {}
    for key, vals in values.items():
        v, j, k = max(vals)
        out_max[key], out_at[key] = v, {"j": j, "k": k}
        ordered = sorted(x[0] for x in vals)
        out_median[key] = ordered[len(ordered) // 2]
    if result.get("final") is not None:
        out_max["final"] = out_median["final"] = result["final"]
    counts = [rec["ties"] for rec in result["evals"]]
    ties = {f"{stat}_{what}": fn(c[what] for c in counts) if counts else 0
            for what in ("forced", "flipped") for stat, fn in (("total", sum), ("max", max))}
    result.update(max=out_max, max_at=out_at, median=out_median, ties=ties)
    return result


def replay(trace, models, noise_floor=False, unforced=True):
    """The full report: teacher-forced and free runs with the clamp ties forced (noise_floor: also each
    teacher-forced evaluation's ``grad_raw_floor``, the relative change of our own grad_raw under 1e-6
    relative noise on x) and, with unforced, both runs again without forcing (``*_unforced``)."""
    r = Replayer(trace, models, noise_floor)
    report = {"trace": str(trace.dir), "method": r.method,
              "path": "secondary" if r.settings.secondary else "unet",
              "clamp_margin": trace.doc.get("clamp_margin"),
              "teacher_forced": r.run(free=False)}
    r.noise_floor = False
    report["free"] = r.run(free=True)
    if unforced:
        report["teacher_forced_unforced"] = r.run(free=False, forced=False)
        report["free_unforced"] = r.run(free=True, forced=False)
    return report
