"""The PyTorch reference of disco's sampler (disco_export.reference): hand-checked kernels, the rebuilt tiny
modules against the ONNX graphs, and a replay of a synthetic trace written in the documented format."""

import json
import math

import numpy as np
import onnxruntime as ort
import pytest
import torch

from disco_export import manifest
from disco_export.reference import __main__ as cli
from disco_export.reference.augment import affine, blend, hue
from disco_export.reference.cond_fn import Guidance, cond_fn, finish
from disco_export.reference.cutouts import CutPlan, InnerCut, make_cutouts, resize, resize_taps
from disco_export.reference.losses import tv_loss
from disco_export import clip
from disco_export.modelset import Request, make_clip
from disco_export.reference.models import NotTiny, graph_name, rebuild, rebuild_tiny
from disco_export.reference.sampler import condition_score, ddim_step, plms_mid, plms_next
from disco_export.reference.schedule import Schedule, t_c
from disco_export.reference.trace import Trace, TraceWriter

CLIP_FLAGS = ["RN50", "ViTB32"]


# --- ResizeRight (dd-algorithm.md §5.4), values by hand ---

def test_resize_up_2_to_4_taps():
    pos, w = resize_taps(2, 4)
    # output 0 sits at input −0.25: taps −2..1 at distances 1.75, 0.75, −0.25, −1.25
    assert pos[0].tolist() == [-2, -1, 0, 1]
    assert np.allclose(w[0], [-0.0234375, 0.2265625, 0.8671875, -0.0703125], atol=1e-12)
    # only taps 0 and 1 are inside the image: 0.8671875 and −0.0703125
    assert np.allclose(w[0][2:], [0.8671875, -0.0703125], atol=1e-12)


def test_resize_constant_darkens_at_borders():
    up = resize(torch.ones(1, 1, 1, 2), (1, 4))
    assert torch.allclose(up.flatten(), torch.tensor([0.796875, 1.09375, 1.09375, 0.796875]), atol=1e-7)
    down = resize(torch.ones(1, 1, 1, 4), (1, 2))  # antialiased: kernel 0.5·k(0.5·x), 8 taps
    assert torch.allclose(down.flatten(), torch.tensor([0.9453125, 0.9453125]), atol=1e-7)


def test_resize_identity_and_both_axes():
    x = torch.randn(2, 3, 5, 7)
    assert torch.equal(resize(x, (5, 7)), x)
    y = resize(x, (10, 3))
    assert y.shape == (2, 3, 10, 3)


def test_make_cutouts_pads_the_short_axis_and_orders_cuts():
    u = torch.rand(1, 3, 8, 16)
    plan = CutPlan(8, 16, 4, 4, [InnerCut(8, 0, 8, True), InnerCut(6, 1, 2, False)])
    cuts = make_cutouts(u, plan)
    assert cuts.shape == (6, 3, 4, 4)
    ov = resize(torch.nn.functional.pad(u, (0, 0, 4, 4)), (4, 4))
    assert torch.allclose(cuts[0], ov[0])
    assert torch.allclose(cuts[2], ov[0].flip(-1))
    assert torch.allclose(cuts[1][0], cuts[1][1]) and torch.allclose(cuts[3][1], cuts[3][2])  # gray
    assert torch.allclose(cuts[5], resize(u[:, :, 1:7, 2:8], (4, 4))[0])
    many = make_cutouts(u, CutPlan(8, 16, 4, 6, []))
    assert all(torch.equal(many[i], many[0]) for i in range(6))


# --- augmentations ---

def test_affine_90_degrees_moves_top_left_to_top_right():
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, 0] = 1
    y = affine(x, 90.0, (0, 0))
    assert y[0, 0, 0, 3] == pytest.approx(1.0, abs=1e-6)
    assert float(y.abs().sum()) == pytest.approx(1.0, abs=1e-5)


def test_affine_translation_and_fill_mask():
    x = torch.ones(1, 1, 4, 4)
    y = affine(x, 0.0, (1, 0))  # one pixel right: the left column is filled with 0
    assert torch.allclose(y[0, 0, :, 0], torch.zeros(4)) and torch.allclose(y[0, 0, :, 1:], torch.ones(4, 3))


def test_hue_third_turn_makes_red_green():
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert torch.allclose(hue(red, 1 / 3).flatten(), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)
    grey = torch.full((1, 3, 1, 1), 0.4)
    assert torch.allclose(hue(grey, 0.2), grey)


@pytest.mark.parametrize("op", ["affine", "hue"])
def test_affine_and_hue_on_rough_cuts_are_exact_to_float32_rounding(op):
    # Rough cuts (UNet-path x̂0 at high noise) reach |u| ~ 40 with steep pixel-to-pixel jumps, where float32
    # internals put errors of 1e-4 (affine) and 2e-5 (hue) into the output; disco computes both in float64,
    # so the reference must too (augment's docstring). Compared with the same op on float64 input.
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(4, 3, 32, 32, generator=gen) * 15
    f = (lambda v: affine(v, 7.3, (1, -2))) if op == "affine" else (lambda v: hue(v, 0.07))
    got, exact = f(x), f(x.double())
    assert got.dtype == torch.float32
    err = float((got.double() - exact).abs().max())
    # float32 rounding of the output is ≤ ulp(|y|)/2; here |y| < 128, so < 4e-6
    assert err < 4e-6, err


# --- forcing disco's decisions at clamp ties (docs/trace.md) ---

def _grad(f, x, g):
    x = x.clone().requires_grad_(True)
    y = f(x)
    return y.detach(), torch.autograd.grad(y, x, g)[0]


def test_forced_clamp_with_torchs_own_decisions_changes_nothing_and_a_flip_moves_one_element():
    gen = torch.Generator().manual_seed(5)
    a, g = torch.rand(2, 3, 5, 5, generator=gen) * 1.4 - 0.2, torch.randn(2, 3, 5, 5, generator=gen)
    index = torch.randperm(a.numel(), generator=gen)[:20]
    z = (1.1 * a).view(-1)[index]
    own = (z >= 0) & (z <= 1)
    y0, g0 = _grad(lambda x: blend(x, torch.zeros_like(x), 1.1), a, g)
    log = []
    y1, g1 = _grad(lambda x: blend(x, torch.zeros_like(x), 1.1, (index, own), log), a, g)
    assert torch.equal(y0, y1) and torch.equal(g0, g1) and log == [{"forced": 20, "flipped": 0}]
    flipped = own.clone()
    flipped[0] = ~flipped[0]
    y2, g2 = _grad(lambda x: blend(x, torch.zeros_like(x), 1.1, (index, flipped)), a, g)
    changed = (g2 != g0).view(-1).nonzero().flatten().tolist()
    assert changed == [int(index[0])]
    # A forced "clamped" decision puts the value on the bound exactly.
    if not flipped[0]:
        assert float(y2.view(-1)[index[0]]) in (0.0, 1.0)


def _hue_tie(img, pixels, shift):
    """The decisions torchvision takes itself at ``pixels`` (flat over (N, h, w)), as disco would record them."""
    n, _, h, w = img.shape
    flat = img.permute(0, 2, 3, 1).reshape(-1, 3)[pixels]
    imax, imin = flat.argmax(dim=1), flat.argmin(dim=1)
    maxc, minc = flat.max(dim=1).values, flat.min(dim=1).values
    cr = maxc - minc
    s = torch.where(cr == 0, torch.zeros_like(cr), cr / maxc)
    hsv = torch.stack([_hue_h(flat), s, maxc], dim=1)
    hs = torch.remainder(hsv[:, 0] + shift, 1.0)
    f6 = hs * 6.0
    f = f6 - torch.floor(f6)
    v = maxc
    pqt = torch.stack([v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))], dim=1)
    return {"pixel": pixels, "imax": imax, "imin": imin, "sector": torch.floor(f6).long() % 6,
            "passed": (pqt >= 0) & (pqt <= 1), "rgb": flat.clone()}


def _hue_h(flat):
    from disco_export.reference.augment import rgb2hsv
    return rgb2hsv(flat.view(-1, 3, 1, 1))[:, 0, 0, 0]


def test_forced_hue_with_torchs_own_decisions_is_hue():
    gen = torch.Generator().manual_seed(6)
    img, g = torch.rand(2, 3, 6, 6, generator=gen) * 1.2 - 0.1, torch.randn(2, 3, 6, 6, generator=gen)
    pixels = torch.randperm(2 * 36, generator=gen)[:15]
    tie = _hue_tie(img, pixels, 0.07)
    y0, g0 = _grad(lambda x: hue(x, 0.07), img, g)
    log = []
    y1, g1 = _grad(lambda x: hue(x, 0.07, tie, log), img, g)
    assert torch.allclose(y0, y1, atol=1e-6) and torch.allclose(g0, g1, rtol=1e-4, atol=1e-5)
    assert sum(e["forced"] for e in log) == 15 and sum(e["flipped"] for e in log) == 0


def test_forced_hue_takes_disco_s_branch_at_a_near_tie():
    # Red and green within 1e-7: torch and disco may disagree on which is the maximum; forcing green changes
    # the derivative (the formula for h switches) but not the value.
    px = torch.tensor([0.6, 0.6 - 1e-7, 0.2]).view(1, 3, 1, 1)
    tie = _hue_tie(px, torch.tensor([0]), 0.05)
    assert int(tie["imax"][0]) == 0
    g = torch.tensor([1.0, -1.0, 0.5]).view(1, 3, 1, 1)
    y0, g0 = _grad(lambda x: hue(x, 0.05, tie), px, g)
    tie["imax"] = torch.tensor([1])
    y1, g1 = _grad(lambda x: hue(x, 0.05, tie), px, g)
    assert torch.allclose(y0, y1, atol=1e-5) and (g0 - g1).abs().max() > 1e-2


# --- schedule ---

def test_schedule_reference_values():
    s = Schedule(1000)
    assert s.alpha_bar[0] == pytest.approx(0.9999, rel=1e-9)
    assert s.alpha_bar[99] == pytest.approx(0.897018, rel=1e-6)
    assert s.alpha_bar[999] == pytest.approx(4.03583e-5, rel=1e-5)
    assert t_c(0.9999) == pytest.approx(0.0063663, rel=1e-5)
    s = Schedule(250)
    assert (s.diffusion_steps, s.stride) == (1000, 4)
    assert s.alpha_bar[239] == pytest.approx(9.44588e-5, rel=1e-5) and s.t_model(239) == 956.0
    assert Schedule(150).t_model(149) == pytest.approx(993.333, rel=1e-6)


# --- losses and the gradient's finish ---

def test_tv_loss_replicate_padding():
    x = torch.tensor([[0.0, 1.0], [0.0, 0.0]]).view(1, 1, 2, 2)
    # dx: (1, 0 | 0, 0), dy: (0, −1 | 0, 0) -> (1 + 1)/4
    assert float(tv_loss(x)) == pytest.approx(0.5)


def test_finish_keeps_zero_and_guards_nan():
    assert torch.equal(finish(torch.zeros(1, 3, 2, 2), 0.05), torch.zeros(1, 3, 2, 2))
    g = torch.ones(1, 3, 2, 2)
    assert float(finish(g, 0.05).square().mean().sqrt()) == pytest.approx(0.05)
    g[0, 0, 0, 0] = float("nan")
    assert torch.equal(finish(g, 0.05), torch.zeros(1, 3, 2, 2))


# --- the rebuilt tiny modules against the ONNX graphs ---

def _session(root, doc, name):
    return ort.InferenceSession(str(root / doc["graphs"][name]["file"]), providers=["CPUExecutionProvider"])


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_rebuilt_tiny_modules_match_onnx(tiny_set):
    doc = manifest.load(tiny_set)
    models = rebuild_tiny(tiny_set, CLIP_FLAGS)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 3, 64, 64, generator=g)
    with torch.no_grad():
        s = _session(tiny_set, doc, graph_name(doc, "unet", "forward"))
        t = torch.tensor([412.0])
        onnx_out = s.run(["eps_full"], {"x": x.numpy(), "t": t.numpy()})[0]
        assert _rel(models.unet(x, t).numpy(), onnx_out) < 1e-5
        s = _session(tiny_set, doc, graph_name(doc, "secondary", "forward"))
        t = torch.tensor([0.37])
        onnx_out = s.run(["pred"], {"x": x.numpy(), "t": t.numpy()})[0]
        assert _rel(models.secondary(x, t)[0].numpy(), onnx_out) < 1e-5
        s = _session(tiny_set, doc, graph_name(doc, "lpips", "forward"))
        b = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
        onnx_out = s.run(["distance"], {"a": x.clamp(-1, 1).numpy(), "b": b.numpy()})[0]
        assert _rel(models.lpips(x.clamp(-1, 1), b).numpy(), onnx_out) < 1e-5
        for flag, m in models.clip.items():
            s = _session(tiny_set, doc, graph_name(doc, flag, "image"))
            img = torch.randn(2, 3, m.resolution, m.resolution, generator=g)
            onnx_out = s.run(["image_embed"], {"image": img.numpy()})[0]
            assert _rel(m.encoder(img).numpy(), onnx_out) < 1e-5, flag


# --- a synthetic trace in the documented format, replayed ---

def _draws(rng, models, n_batches, h, w, overview, inner, augs):
    out = []
    for m in models.clip.values():
        r, batches = m.resolution, []
        short, min_size = min(h, w), min(h, w, m.resolution)
        for _ in range(n_batches):
            cuts = []
            for i in range(inner):
                size = int(rng.random() ** 1.2 * (short - min_size) + min_size)
                cuts.append({"size": size, "oy": int(rng.integers(0, h - size + 1)),
                             "ox": int(rng.integers(0, w - size + 1)), "gray": i == 0})
            plan = {"h": h, "w": w, "r": r, "overview": overview, "inner": cuts}
            aug = None
            if augs:
                n = overview + inner
                order = ["brightness", "contrast", "saturation", "hue"]
                rng.shuffle(order)
                aug = {"flip": bool(rng.random() < 0.5),
                       "noise": [torch.from_numpy(rng.standard_normal((n, 3, r, r)).astype(np.float32) * 0.01)
                                 for _ in range(3)],
                       "angle": float(rng.uniform(-10, 10)),
                       "translate": [int(round(rng.uniform(-0.05 * r, 0.05 * r))) for _ in range(2)],
                       "gray": bool(rng.random() < 0.3), "brightness": float(rng.uniform(0.9, 1.1)),
                       "contrast": float(rng.uniform(0.9, 1.1)), "saturation": float(rng.uniform(0.9, 1.1)),
                       "hue": float(rng.uniform(-0.1, 0.1)), "order": order}
            batches.append((plan, aug))
        out.append(batches)
    return out


def write_synthetic_trace(out_dir, models_dir, method, secondary, range_loss="dd", seed=0):
    """A 32×64 render of 6 steps (skip 2) computed by this reference, written as disco's writer would."""
    models = rebuild_tiny(models_dir, CLIP_FLAGS)
    rng = np.random.default_rng(seed)
    h, w, steps, skip = 32, 64, 6, 2
    spec = {"width": w, "height": h, "steps": steps, "skip_steps": skip, "method": method, "eta": 0.8,
            "clip_denoised": False, "clip_guidance_scale": 5000.0, "tv_scale": 10.0, "range_scale": 150.0,
            "range_loss": range_loss, "sat_scale": 20.0, "init_scale": 100.0, "cutn_batches": 2,
            "augs": "still", "use_secondary_model": secondary, "clamp_max": 0.05,
            "symmetry": {"horizontal": method == "ddim", "vertical": False, "steps": [2]},
            "clip_models": CLIP_FLAGS}
    sched, settings = Schedule(steps), Guidance.from_spec(spec)
    wr = TraceWriter()
    targets = []
    for m in models.clip.values():
        rows = torch.from_numpy(rng.standard_normal((2, 32)).astype(np.float32))
        targets.append((rows, torch.tensor([0.25, 0.75])))
    init = torch.from_numpy(rng.uniform(-1, 1, (1, 3, h, w)).astype(np.float32))
    k0 = sched.start_index(skip)
    x = math.sqrt(1 - sched.alpha_bar[k0]) * torch.from_numpy(rng.standard_normal((1, 3, h, w)).astype(np.float32))
    doc = {"models": str(models_dir), "spec": spec,
           "targets": [{"rows": wr.ref(r), "weights": wt.tolist()} for r, wt in targets],
           "init": wr.ref(init), "x_start": wr.ref(x), "steps": []}

    def evaluate(xe, k, cur_t, guided=True):
        with torch.no_grad():
            eps = models.unet(xe, torch.tensor([sched.t_model(k)]))[:, :3]
        ev = {"k": k, "cur_t": cur_t, "eps": wr.ref(eps), "x": wr.ref(xe), "draws": [], "losses": None,
              "grad_raw": None, "grad": None}
        if not guided:
            return ev, eps, None
        raw = _draws(rng, models, 2, h, w, 4, 2, True)
        draws = [[(CutPlan.from_json(p), a) for p, a in per] for per in raw]
        losses, grad_raw, grad = cond_fn(models, settings, sched, targets, init, xe, cur_t, draws)
        ev["draws"] = [[{"plan": p, "aug": None if a is None else dict(a, noise=[wr.ref(n) for n in a["noise"]])}
                        for p, a in per] for per in raw]
        ev.update(losses=losses, grad_raw=wr.ref(grad_raw), grad=wr.ref(grad))
        return ev, eps, grad

    eps_prev = None
    for j, k in enumerate(range(k0, -1, -1)):
        a, ap = sched.alpha_bar[k], sched.alpha_bar_prev[k]
        if method == "ddim" and k in spec["symmetry"]["steps"]:
            x = x.clone()
            x[..., w // 2:] = x[..., : w // 2].flip(-1)
        ev, eps, grad = evaluate(x, k, k, guided=not (method == "ddim" and k == 0))
        evs, noise = [ev], None
        if method == "ddim":
            noise = torch.from_numpy(rng.standard_normal((1, 3, h, w)).astype(np.float32))
            x_next, pred = ddim_step(x, eps, grad, noise, k, a, ap, 0.8, False)
        else:
            eps_a, x0g, pred = condition_score(x, eps, grad, a, False)
            if k == 0:
                x_next = x0g
            elif eps_prev is None:
                x_mid = plms_mid(x0g, eps_a, ap)
                ev1, eps1, grad1 = evaluate(x_mid, k - 1, k)
                evs.append(ev1)
                x_next = plms_next(x, (eps_a + condition_score(x_mid, eps1, grad1, sched.alpha_bar[k - 1], False)[0]) / 2, a, ap)
            else:
                x_next = plms_next(x, (3 * eps_a - eps_prev) / 2, a, ap)
            eps_prev = eps_a
        doc["steps"].append({"j": j, "k": k, "x": wr.ref(x), "evals": evs, "noise": wr.ref(noise),
                             "pred_x0": wr.ref(pred), "x_next": wr.ref(x_next)})
        x = x_next
    doc["final"] = wr.ref(pred)
    wr.write(out_dir, doc)
    return out_dir


@pytest.mark.parametrize("method,secondary,range_loss", [("ddim", True, "dd"), ("plms", False, "through_denoiser")])
def test_replay_of_a_synthetic_trace_agrees(tiny_set, tmp_path, method, secondary, range_loss):
    torch.set_num_threads(2)
    trace_dir = write_synthetic_trace(tmp_path / "trace", tiny_set, method, secondary, range_loss)
    trace = Trace(trace_dir)
    assert trace.doc["format"] == "disco-trace/2" and len(trace.doc["steps"]) == 4
    out = tmp_path / "report.json"
    extra = ["--noise-floor"] if method == "plms" else []
    assert cli.main(["--trace", str(trace_dir), "--out", str(out), *extra]) == 0
    report = json.loads(out.read_text())
    assert report["method"] == method and report["path"] == ("secondary" if secondary else "unet")
    for run in ("teacher_forced", "free"):
        worst = report[run]["max"]
        assert {"eps", "grad_raw", "grad", "pred_x0", "x_next"} <= set(worst)
        assert all(v < 1e-5 for k, v in worst.items() if k != "grad_raw_floor"), (run, worst)
    if method == "plms":
        assert "grad_raw_floor" in report["teacher_forced"]["max"]
    assert report["free"]["final"] < 1e-5
    n_evals = sum(len(s["evals"]) for s in trace.doc["steps"])
    assert len(report["teacher_forced"]["evals"]) == n_evals


def test_range_loss_dd_has_no_gradient(tiny_set):
    """With range_loss "dd" the range term is reported but leaves the gradient alone (§5.7)."""
    models = rebuild_tiny(tiny_set, CLIP_FLAGS)
    sched = Schedule(6)
    base = dict(clip_guidance_scale=0.0, tv_scale=0.0, range_scale=150.0, sat_scale=0.0, init_scale=0.0,
                cutn_batches=1, secondary=True, clamp_max=None)
    x = torch.randn(1, 3, 32, 32) * 3
    empty = [[], []]
    lo, raw_dd, _ = cond_fn(models, Guidance(range_loss="dd", **base), sched, [], None, x, 3, empty)
    _, raw_td, _ = cond_fn(models, Guidance(range_loss="through_denoiser", **base), sched, [], None, x, 3, empty)
    assert lo["range"] > 0 and torch.equal(raw_dd, torch.zeros_like(x)) and raw_td.abs().sum() > 0


# --- DD's order of cond_fn (ddstep.py, the real-size benchmark's PyTorch side) ---

@pytest.mark.parametrize("secondary", [True, False])
def test_dd_style_cond_fn_gives_cond_fns_gradient(tiny_set, secondary):
    from disco_export.reference.ddstep import Clock, dd_cond_fn
    models = rebuild(tiny_set, CLIP_FLAGS)
    rng = np.random.default_rng(5)
    h, w = 32, 64
    spec = {"clip_guidance_scale": 5000.0, "tv_scale": 10.0, "range_scale": 150.0, "range_loss": "dd",
            "sat_scale": 20.0, "init_scale": 100.0, "cutn_batches": 2, "use_secondary_model": secondary,
            "clamp_max": 0.05}
    sched, settings = Schedule(10), Guidance.from_spec(spec)
    targets = [(torch.from_numpy(rng.standard_normal((2, 32)).astype(np.float32)), torch.tensor([0.25, 0.75]))
               for _ in models.clip]
    init = torch.from_numpy(rng.uniform(-1, 1, (1, 3, h, w)).astype(np.float32))
    x = torch.from_numpy(rng.standard_normal((1, 3, h, w)).astype(np.float32))
    raw = _draws(rng, models, 2, h, w, 4, 2, True)
    draws = [[(CutPlan.from_json(p), a) for p, a in per] for per in raw]
    want_losses, want_raw, want = cond_fn(models, settings, sched, targets, init, x, 7, draws)
    clock = Clock()
    losses, grad_raw, grad = dd_cond_fn(models, settings, sched, targets, init, x, 7, draws, clock)
    assert float(want_raw.norm()) > 0
    assert _rel(grad_raw.numpy(), want_raw.numpy()) < 1e-5
    assert _rel(grad.numpy(), want.numpy()) < 1e-5
    for name, v in want_losses.items():
        assert v == pytest.approx(losses[name], rel=1e-5, abs=1e-9), name
    fam = "secondary" if secondary else "unet"
    for part in (f"{fam} fwd (with grad)", f"{fam} bwd", "clip RN50 fwd", "clip RN50 bwd", "clip ViTB32 bwd"):
        assert clock.parts[part] > 0, part


@pytest.mark.parametrize("random", [{"seed": "3"}, {"seed": 1e999}, {"seed": float("nan")}, {"seed": -1},
                                    {"seed": 2**64}, {"seed": True}, ["seed", 3], "3\n4"])
def test_rebuild_refuses_a_random_weights_section_without_a_valid_seed(tmp_path, random):
    doc = {"format": manifest.FORMAT, "tiny": False, "graphs": {}, "clip": {}, "random_weights": random}
    (tmp_path / manifest.MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(NotTiny, match="random_weights.seed"):
        rebuild(tmp_path, [])


def test_rebuild_refuses_checkpoint_sets_and_reads_the_random_weights_seed(tmp_path, tiny_set):
    doc = {"format": manifest.FORMAT, "tiny": False, "graphs": {}, "clip": {}}
    (tmp_path / manifest.MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(NotTiny):
        rebuild(tmp_path, [])
    (tmp_path / manifest.MANIFEST).write_text(json.dumps({**doc, "random_weights": {"seed": 3}, "clip": {"RN50": {}}}))
    a = rebuild(tmp_path, ["RN50"]).clip["RN50"].encoder
    req = Request(out=tmp_path, random_weights=True, seed=3)
    b = make_clip(req, "RN50")[0]
    assert b.cfg.vision_width == 64 and b.cfg.embed_dim == 1024  # the real RN50, not the tiny one
    for (name, p), q in zip(a.state_dict().items(), clip.ImageEncoder(b).state_dict().values()):
        assert torch.equal(p, q), name
    other = make_clip(Request(out=tmp_path, random_weights=True, seed=4), "RN50")[0]
    assert not torch.equal(other.visual.conv1.weight, b.visual.conv1.weight)
    assert rebuild(tiny_set, CLIP_FLAGS).clip["RN50"].resolution == rebuild_tiny(tiny_set, CLIP_FLAGS).clip["RN50"].resolution


def test_the_reference_imports_without_the_export_only_packages():
    """The GPU machine's Python (docs/gpu.md) has torch, onnx and onnxruntime but not blake3, clip-anytorch or
    ftfy: the reference (scripts/gpu-bench.sh --reference) must import without them."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\n"
            "for m in ('blake3', 'clip', 'ftfy'):\n"
            "    sys.modules[m] = None\n"
            "import disco_export.reference.__main__\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
