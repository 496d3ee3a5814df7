"""Unguided samples of the toy UNet, judged by the independent classifier: does the UNet draw shapes?

DDIM over a 50-step respacing of the 1000-step schedule (as ``ddim50`` in guided-diffusion, eta 0.8 as the
adherence bench renders), in PyTorch from a checkpoint, so a training run can be checked while it goes. A picture
is *recognisable* when the classifier finds a foreground object whose best shape template fits it with an
intersection-over-union of at least ``RECOGNISABLE_IOU`` (the generator's own pictures pass ~all of the time;
``--ground-truth`` measures it).

``--x0-error`` prints, at the noisiest timesteps, how far the UNet's implied estimate of the clean picture is from
the truth (all pixels, and the mean colour alone): the estimate the sampler starts from, which decides a sample's
background colour (docs/toy-models.md §7).

Usage: python -m disco_export.toy.sample CHECKPOINT [--n 64] [--seed 0] [--sheet sheet.png]
       python -m disco_export.toy.sample CHECKPOINT --x0-error [--world single-large]
       python -m disco_export.toy.sample --ground-truth [--world single-large]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from .. import unet as unet_mod
from . import classify, scenes, train

RECOGNISABLE_IOU = 0.7


def recognisable(verdict):
    return verdict.shape is not None and verdict.iou >= RECOGNISABLE_IOU


@torch.no_grad()
def ddim_sample(model, n, seed, steps=50, eta=0.8, size=64):
    sch = train.LinearSchedule()
    ts = list(range(0, sch.steps, sch.steps // steps))[::-1]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=g)
    ab = sch.alphas_cumprod.double()
    for i, t in enumerate(ts):
        a_t = ab[t]
        a_prev = ab[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0, dtype=torch.float64)
        eps = model(x, torch.full((n,), float(t)))[:, :3].double()
        x0 = ((x.double() - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-1, 1)
        eps = (x.double() - a_t.sqrt() * x0) / (1 - a_t).sqrt()
        sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
        noise = torch.randn(x.shape, generator=g).double()
        x = (a_prev.sqrt() * x0 + (1 - a_prev - sigma ** 2).sqrt() * eps + sigma * noise).float()
    return scenes.from_model(x.numpy())


X0_ERROR_STEPS = (999, 950, 900, 800, 600)


@torch.no_grad()
def x0_errors(model, n=16, seed=9, world="single-large", ts=X0_ERROR_STEPS):
    """{t: (eps RMS error, x0 RMS error, mean-colour error)} of ``model`` on ``n`` scenes of ``world`` noised to
    each t: x0 = (x_t − sqrt(1−ᾱ)·eps)/sqrt(ᾱ) multiplies an eps error by sqrt((1−ᾱ)/ᾱ), 156 at t = 999."""
    sch = train.LinearSchedule()
    _, imgs = scenes.sample_batch(np.random.default_rng(seed), n, **scenes.WORLDS[world])
    x0 = torch.from_numpy(scenes.to_model(imgs))
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    out = {}
    for t in ts:
        a, s = sch.sqrt_ab[t], sch.sqrt_1mab[t]
        eps = model(a * x0 + s * noise, torch.full((n,), float(t)))[:, :3]
        est = (a * x0 + s * noise - s * eps) / a
        colour = (est.mean(dim=(2, 3)) - x0.mean(dim=(2, 3))).abs().mean()
        out[t] = (float(((eps - noise) ** 2).mean().sqrt()), float(((est - x0) ** 2).mean().sqrt()), float(colour))
    return out


def judge(images):
    verdicts = [classify.classify(img) for img in images]
    return sum(recognisable(v) for v in verdicts) / len(verdicts), verdicts


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m disco_export.toy.sample", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", type=Path)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sheet", type=Path, help="write the samples as one PNG")
    p.add_argument("--ground-truth", action="store_true", help="the rate on the generator's own pictures")
    p.add_argument("--world", choices=list(scenes.WORLDS), default="full",
                   help="--ground-truth, --x0-error: the slice of the world drawn (scenes.WORLDS)")
    p.add_argument("--x0-error", action="store_true",
                   help="the implied clean-picture estimate's error at the noisiest timesteps")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.ground_truth:
        rng = np.random.default_rng(args.seed)
        _, imgs = scenes.sample_batch(rng, args.n, **scenes.WORLDS[args.world])
        for name, batch in (("clean", imgs), ("blurred + noise 8", [classify.degrade(i, rng) for i in imgs])):
            rate, _ = judge(batch)
            print(f"ground truth, {name}: recognisable {rate:.3f}")
        return 0
    model = unet_mod.UNetModel(train.UNET_CONFIG)
    model.load_state_dict(torch.load(args.checkpoint))
    model.eval()
    if args.x0_error:
        print("| t | eps RMS error | x0 estimate RMS error | mean colour error |\n| --- | --- | --- | --- |")
        for t, (e, x, c) in x0_errors(model, args.n, world=args.world).items():
            print(f"| {t} | {e:.4f} | {x:.2f} | {c:.3f} |")
        return 0
    imgs = ddim_sample(model, args.n, args.seed)
    rate, verdicts = judge(imgs)
    shapes = {}
    for v in verdicts:
        if recognisable(v):
            shapes[v.shape] = shapes.get(v.shape, 0) + 1
    print(f"recognisable {rate:.3f} ({sum(shapes.values())}/{len(imgs)}); shapes {shapes}")
    if args.sheet:
        classify.write_png(args.sheet, classify.contact_sheet(imgs, 8))
    return 0


if __name__ == "__main__":
    sys.exit(main())
