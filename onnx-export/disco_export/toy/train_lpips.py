"""The toy LPIPS: LPIPS-VGG's architecture (lpips.py) at small widths, trained on the toy world as LPIPS was.

LPIPS "lin" is an ImageNet-trained VGG16 trunk, frozen, with non-negative 1×1 heads on its five taps fitted to
human two-alternative forced-choice (2AFC) judgments: of two distortions of a reference, which is closer. The toy
world has no ImageNet and no people, so both stages use what the generator knows:

1. the trunk learns the world: global-average-pooled taps → linear heads that name the main object's colour and
   shape and the first background colour (cross-entropy), on the same DD-like views as the CLIP;
2. the heads learn the judgment, trunk frozen: a reference scene, one copy with only mild distortions (noise, blur,
   brightness, a one-pixel shift) and one with a scene attribute changed (the main object's shape, colour,
   position or size, or the background) plus mild distortions. The judge says the first is closer; two mild
   distortions of different strength are judged by strength. Loss: BCE on s·(d₁ − d₀), weights clamped ≥ 0 as
   LPIPS does.

The metric is the held-out 2AFC accuracy (fresh triplets).
"""

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from .. import lpips as lpips_mod
from . import scenes

CHANNELS = (8, 16, 32, 32, 32)
TRUNK_FRACTION = 0.6  # of the steps: stage 1; the rest fit the heads


def _distort(x, gen, strength):
    """Mild distortions of (N, 3, H, W) in [-1, 1]; ``strength`` (N,) in [0, 1] scales all of them."""
    n = x.shape[0]
    s = strength[:, None, None, None]
    k = torch.tensor([0.25, 0.5, 0.25])
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), (k[:, None] * k[None, :]).expand(3, 1, 3, 3),
                       groups=3)
    x = x + (blurred - x) * s
    x = x * (1 + 0.08 * s * (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1))
    x = x + torch.randn(x.shape, generator=gen) * 0.1 * s
    if bool(torch.rand(1, generator=gen) < 0.3):
        x = torch.roll(x, shifts=(1,), dims=(3,))
    return x.clamp(-1, 1)


def changed_scene(scene, rng):
    """A copy of ``scene`` with one attribute changed: the main object's shape, colour, position or size, or the
    background colour."""
    objs = [scenes.Obj(o.shape, o.color, o.cx, o.cy, o.r) for o in scene.objects]
    main = max(objs, key=lambda o: o.r)
    what = rng.integers(5)
    background = scene.background
    if what == 0:
        main.shape = scenes._pick(rng, [s for s in scenes.SHAPES if s != main.shape])
    elif what == 1:
        used = {o.color for o in objs} | set(background)
        main.color = scenes._pick(rng, [c for c in scenes.COLORS if c not in used])
    elif what == 2:
        ang = rng.uniform(0, 2 * math.pi)
        lo, hi = main.r + 1, scenes.SIZE - main.r - 1
        main.cx = float(np.clip(main.cx + 10 * math.cos(ang), lo, hi))
        main.cy = float(np.clip(main.cy + 10 * math.sin(ang), lo, hi))
    elif what == 3:
        main.r = float(np.clip(main.r * (0.65 if main.r > 13 else 1.5), 6.0, 22.0))
    else:
        used = {o.color for o in objs} | set(background)
        background = (scenes._pick(rng, [c for c in scenes.BACKGROUNDS if c not in used]),) + background[1:]
    return scenes.Scene(objs, background, scene.split, "", list(scene.brightness))


def triplets(rng, gen, n):
    """(ref, p0, p1, judge) with judge = 1 where p1 is the closer one; all (n, 3, 64, 64) in [-1, 1]."""
    ss = [scenes.sample_scene(rng) for _ in range(n)]
    ref = torch.from_numpy(scenes.to_model(np.stack([scenes.render(s) for s in ss])))
    other = torch.from_numpy(scenes.to_model(np.stack([scenes.render(changed_scene(s, rng)) for s in ss])))
    kind = torch.rand(n, generator=gen) < 0.75  # changed scene vs a mild copy; else two mild copies
    s_near = torch.rand(n, generator=gen) * 0.5
    s_far = torch.where(kind, torch.rand(n, generator=gen), 0.5 + torch.rand(n, generator=gen) * 0.5)
    near = _distort(ref, gen, s_near)
    far = torch.where(kind[:, None, None, None], _distort(other, gen, s_far), _distort(ref, gen, s_far))
    swap = torch.rand(n, generator=gen) < 0.5
    w = swap[:, None, None, None]
    p0, p1 = torch.where(w, far, near), torch.where(w, near, far)
    return _distort(ref, gen, torch.zeros(n)), p0, p1, swap.float()


class TrunkHeads(torch.nn.Module):
    """Stage 1's classifier on the pooled taps: main colour, main shape, first background colour."""

    def __init__(self):
        super().__init__()
        c = sum(CHANNELS)
        self.color = torch.nn.Linear(c, len(scenes.COLORS))
        self.shape = torch.nn.Linear(c, len(scenes.SHAPES))
        self.background = torch.nn.Linear(c, len(scenes.BACKGROUNDS))

    def forward(self, taps):
        f = torch.cat([t.mean(dim=(2, 3)) for t in taps], dim=1)
        return self.color(f), self.shape(f), self.background(f)


def _labels(ss):
    col = torch.tensor([list(scenes.COLORS).index(s.main.color) for s in ss])
    shp = torch.tensor([scenes.SHAPES.index(s.main.shape) for s in ss])
    bg = torch.tensor([list(scenes.BACKGROUNDS).index(s.background[0]) for s in ss])
    return col, shp, bg


def _lin_params(model):
    return [p for k in range(5) for p in getattr(model, f"lin{k}").parameters()]


@torch.no_grad()
def two_afc_accuracy(model, n=512, seed=30_000):
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    ref, p0, p1, judge = triplets(rng, gen, n)
    d0, d1 = model(ref, p0), model(ref, p1)
    return float(((d1 < d0).float() == judge).float().mean())


def train_lpips(args, log, progress, stop_now, warmup_cosine):
    torch.manual_seed(args.seed)
    model = lpips_mod.LPIPS(CHANNELS)
    heads = TrunkHeads()
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    trunk_steps = int(args.steps * TRUNK_FRACTION)
    opt = torch.optim.AdamW(list(model.net.parameters()) + list(heads.parameters()), lr=args.lr,
                            weight_decay=0.01)
    sched = warmup_cosine(opt, trunk_steps)
    scale = torch.nn.Parameter(torch.tensor(10.0))
    t0, avg = time.perf_counter(), None
    for step in range(args.steps):
        if stop_now(args, step, t0):
            break
        if step == trunk_steps:  # stage 2: the heads on the frozen trunk
            model.net.requires_grad_(False)
            opt = torch.optim.Adam(_lin_params(model) + [scale], lr=args.lr)
            sched = warmup_cosine(opt, args.steps - trunk_steps)
            avg = None
        if step < trunk_steps:
            ss, imgs = scenes.sample_batch(rng, args.batch)
            x = torch.from_numpy(scenes.to_model(imgs))
            x = _distort(x, gen, torch.rand(args.batch, generator=gen))
            taps = model.net(model.scaling_layer(x))
            lc, ls, lb = heads(taps)
            col, shp, bg = _labels(ss)
            loss = F.cross_entropy(lc, col) + F.cross_entropy(ls, shp) + F.cross_entropy(lb, bg)
        else:
            ref, p0, p1, judge = triplets(rng, gen, args.batch)
            logit = scale * (model(ref, p0) - model(ref, p1))  # > 0: p1 closer
            loss = F.binary_cross_entropy_with_logits(logit, judge)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step >= trunk_steps:
            with torch.no_grad():
                for p in _lin_params(model):
                    p.clamp_(min=0)
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        progress(step, args.steps, t0, f"{'trunk' if step < trunk_steps else 'heads'} loss {avg:.3f}")
        args.done = step + 1
    torch.save(model.state_dict(), args.out / "lpips.pt")
    model.eval()
    return {"train_loss": avg, "two_afc_accuracy": two_afc_accuracy(model)}


def evaluate(path):
    model = lpips_mod.LPIPS(CHANNELS)
    model.load_state_dict(torch.load(path))
    return {"two_afc_accuracy": two_afc_accuracy(model.eval())}
