"""Train the toy model set on the procedural scenes (scenes.py), on the CPU, from a fixed seed.

The models, each of the architecture family Disco Diffusion uses, at small widths:

- ``clip``: a CLIP (ViT or ModifiedResNet image tower at 64×64, text transformer over the real CLIP BPE
  vocabulary), contrastive;
- ``unet``: a guided-diffusion UNet (1000-step linear schedule, eps + learned variance: the improved-DDPM hybrid
  loss), 64×64;
- ``secondary``: the secondary model (cosine schedule, v-objective), 64×64;
- ``lpips`` (train_lpips.py) and ``flow``, RAFT optical flow for Video Input (train_flow.py, on motion.py's clips).

Each run prints its metrics at the end (CLIP zero-shot accuracy; the diffusion models' loss on a fixed validation
batch; the flow model's end-point error on held-out clips), so a re-run can be compared with the shipped weights (docs/toy-models.md). Checkpoints are plain state
dicts; ``python -m disco_export.toy.export`` turns them into the model set.

Usage: nice -n 19 python -m disco_export.toy.train clip|unet|secondary|lpips|flow [--steps N] [--out DIR]
"""

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import clip as clip_mod
from .. import secondary as secondary_mod
from .. import tokens as tokens_mod
from .. import unet as unet_mod
from . import scenes, train_depth, train_flow, train_lpips

DEFAULT_OUT = Path(__file__).resolve().parents[3] / "target" / "toy-train"

# (colour, shape) pairs the CLIP never sees in training: its zero-shot test of composition.
HELD_OUT = (("green", "star"), ("blue", "triangle"), ("pink", "ring"), ("orange", "square"), ("cyan", "circle"))

# The toy CLIPs, keyed by the Disco Diffusion flag they stand in for: a ViT and a ModifiedResNet, as in DD's
# default mix. Both see 64×64 views: the ViT in 8-pixel patches (8×8 tokens; a first set's 32×32 views in 4-pixel
# patches learnt shape sooner but levelled off at 0.73, a small star being a few pixels there), the ResNet
# through its stem and four stages (downsampling by 32).
CLIP_CONFIGS = {
    "ViTB32": clip_mod.CLIPConfig(
        name="ViT-B/32", embed_dim=64, image_resolution=64, vision_layers=3, vision_width=64, vision_patch_size=8,
        text_width=32, text_heads=4, text_layers=2, vision_heads=4),
    "RN50": clip_mod.CLIPConfig(
        name="RN50", embed_dim=64, image_resolution=64, vision_layers=(1, 1, 1, 1), vision_width=12,
        vision_patch_size=0, text_width=32, text_heads=4, text_layers=2, vision_heads=4),
}

UNET_CONFIG = unet_mod.UNetConfig(
    name="512x512_diffusion_uncond_finetune_008100", image_size=64, num_channels=32, channel_mult=(0.5, 1, 1, 2),
    num_res_blocks=1, attention_ds=(8,), num_head_channels=32, norm_groups=8)

SECONDARY_CHANNELS = 12

STEPS = {"clip": 1200, "unet": 1200, "secondary": 800, "lpips": 1000, "midas": 1000, "adabins": 1000, "flow": 1200}
BATCH = {"clip": 96, "unet": 8, "secondary": 16, "lpips": 32, "midas": 8, "adabins": 8, "flow": 4}
LR = {"clip": 1e-3, "unet": 5e-4, "secondary": 5e-4, "lpips": 2e-3, "midas": 1e-3, "adabins": 1e-3, "flow": 8e-4}

# The runs that made the shipped set (``python -m disco_export.toy`` replays them; the manifest's
# ``toy.training`` records are theirs).
_CLIP = ["--shape-groups", "12", "--probe", "--eval-every", "500"]
RECIPES = {
    # the ViT in two stages: the second from the first's weights ({stage1}: the first stage's directory)
    "clip_ViTB32_stage1": ["clip", "--arch", "ViTB32", "--steps", "2500"] + _CLIP,
    "clip_ViTB32": ["clip", "--arch", "ViTB32", "--init", "{stage1}/clip_ViTB32.pt", "--seed", "1", "--steps",
                    "2500", "--lr", "5e-4"] + _CLIP,
    # the RN50 with colour-swap pairs (docs/toy-models.md §3: they raised guided colour; the ViT's guidance got worse)
    "clip_RN50": ["clip", "--arch", "RN50", "--steps", "2000", "--swap-groups", "8"] + _CLIP,
    "lpips": ["lpips", "--steps", "1000"],
    "unet": ["unet", "--steps", "9000", "--batch", "16", "--lr", "4e-4", "--ema",
             "0.999", "--bf16", "--min-snr", "5", "--world", "single-large"],
    "secondary": ["secondary", "--steps", "3000", "--batch", "16", "--lr", "5e-4", "--ema", "0.999", "--bf16",
                  "--world", "single-large"],
    "midas": ["midas", "--steps", "1500"],
    "adabins": ["adabins", "--steps", "1500"],
    "flow": ["flow", "--steps", "1200", "--batch", "4", "--lr", "8e-4", "--balanced"],
}


def log(msg):
    print(f"[toy.train] {msg}", file=sys.stderr, flush=True)


class Tokenizer:
    """clip.tokenize for captions (the reference BPE of tokens.py), cached: list of str -> int64 (N, 77)."""

    def __init__(self):
        self.bpe = tokens_mod.reference_tokenizer()
        self.cache = {}

    def __call__(self, texts):
        rows = []
        for t in texts:
            if t not in self.cache:
                ids = tokens_mod.tokenize(self.bpe, t)
                if ids is None:
                    raise ValueError(f"caption over 77 tokens: {t!r}")
                self.cache[t] = ids
            rows.append(self.cache[t])
        return torch.tensor(rows, dtype=torch.int64)


# ---------------------------------------------------------------- CLIP


def clip_views(images, gen, res, train=True):
    """uint8 (N, 64, 64, 3) -> CLIP input (N, 3, res, res), normalised.

    Training views imitate what guidance shows the CLIP: random square crops (DD's cutouts), blur (early
    denoised estimates are blurry), a little noise and, rarely, grayscale.
    """
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    n, _, h, w = x.shape
    if train:
        out = []
        sizes = torch.randint(36, h + 1, (n,), generator=gen)
        for i in range(n):
            s = int(sizes[i])
            oy, ox = (int(v) for v in torch.randint(0, h - s + 1, (2,), generator=gen))
            out.append(F.interpolate(x[i:i + 1, :, oy:oy + s, ox:ox + s], size=(res, res), mode="bilinear",
                                     antialias=True, align_corners=False))
        x = torch.cat(out)
        blur = torch.rand(n, generator=gen) < 0.3
        if blur.any():
            k = 2 ** int(torch.randint(1, 3, (1,), generator=gen))
            small = F.avg_pool2d(x[blur], k)
            x[blur] = F.interpolate(small, size=(res, res), mode="bilinear", align_corners=False)
        x = x + torch.randn(x.shape, generator=gen) * 0.03 * torch.rand(n, 1, 1, 1, generator=gen)
        gray = torch.rand(n, generator=gen) < 0.05
        x[gray] = x[gray].mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    else:
        x = F.interpolate(x, size=(res, res), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(clip_mod.MEAN)[None, :, None, None]
    std = torch.tensor(clip_mod.STD)[None, :, None, None]
    return (x - mean) / std


def clip_loss(model, img, tok, captions, probe=None, labels=None):
    """Symmetric InfoNCE; with ``probe`` (a linear layer on the image embedding) and ``labels`` (main colour,
    main shape), plus the probe's cross-entropy: an auxiliary signal that makes the image tower encode shape
    early, which contrastive learning alone reaches slowly (colour differences dominate its negatives)."""
    raw = model.encode_image(img)
    ie = F.normalize(raw, dim=-1)
    te = F.normalize(model.encode_text(tok), dim=-1)
    logits = ie @ te.T * model.logit_scale.exp().clamp(max=100)
    # identical captions in a batch are all positives
    same = torch.tensor([[a == b for b in captions] for a in captions], dtype=torch.float32)
    target = same / same.sum(dim=1, keepdim=True)
    loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    if probe is not None:
        out = probe(raw)
        nc = len(scenes.COLORS)
        loss = loss + F.cross_entropy(out[:, :nc], labels[0]) + F.cross_entropy(out[:, nc:], labels[1])
    return loss


def main_labels(ss):
    """(main colour index, main shape index) of each scene, as int64 tensors; -100 (cross-entropy's ignored
    label) for an empty scene."""
    return (torch.tensor([list(scenes.COLORS).index(s.main.color) if s.objects else -100 for s in ss]),
            torch.tensor([scenes.SHAPES.index(s.main.shape) if s.objects else -100 for s in ss]))


@torch.no_grad()
def clip_zero_shot(model, tokenizer, n=400, seed=10_000, held_out_only=False):
    """Zero-shot accuracy on fresh single-object scenes: the best of the 40 captions "a {colour} {shape}".

    Returns (colour accuracy, shape accuracy). ``held_out_only``: scenes of the HELD_OUT pairs only.
    """
    model.eval()
    rng = np.random.default_rng(seed)
    combos = [(c, s) for c in scenes.COLORS for s in scenes.SHAPES]
    te = F.normalize(model.encode_text(tokenizer([f"{scenes.article(c)} {c} {s}" for c, s in combos])), dim=-1)
    excluded = tuple(p for p in combos if p not in HELD_OUT) if held_out_only else ()
    ss = [scenes.sample_scene(rng, two_object_p=0.0, excluded=excluded) for _ in range(n)]
    imgs = np.stack([scenes.render(s) for s in ss])
    ie = F.normalize(model.encode_image(clip_views(imgs, None, model.cfg.image_resolution, train=False)), dim=-1)
    best = (ie @ te.T).argmax(dim=1)
    col = np.mean([combos[b][0] == s.main.color for b, s in zip(best.tolist(), ss)])
    shp = np.mean([combos[b][1] == s.main.shape for b, s in zip(best.tolist(), ss)])
    model.train()
    return float(col), float(shp)


BINDING_PROMPTS = (("red", "circle"), ("orange", "triangle"), ("yellow", "star"), ("green", "square"),
                   ("cyan", "ring"), ("blue", "square"), ("purple", "circle"), ("pink", "triangle"))


@torch.no_grad()
def clip_colour_binding(model, tokenizer):
    """Mean cosine similarity of "a {colour} {shape}" (the adherence bench's 8 prompts) to four pictures: the right
    object on another colour, the swap (an object of that other colour on the prompt's colour), a plain field of
    the prompt's colour, and the prompt's colour in another shape. Guidance from a blurry estimate follows the
    plain field where it scores near the right picture."""
    names = list(scenes.COLORS)
    pics, caps = {"right": [], "swapped": [], "plain": [], "wrong shape": []}, []
    for colour, shape in BINDING_PROMPTS:
        other = names[(names.index(colour) + 3) % len(names)]
        wrong = scenes.SHAPES[(scenes.SHAPES.index(shape) + 2) % len(scenes.SHAPES)]
        one = lambda c, sh, bg: scenes.Scene([scenes.Obj(sh, c, 32.0, 32.0, 16.0)], (bg,), brightness=[1.0])  # noqa
        pics["right"].append(one(colour, shape, other))
        pics["swapped"].append(one(other, shape, colour))
        pics["plain"].append(scenes.Scene([], (colour,)))
        pics["wrong shape"].append(one(colour, wrong, other))
        caps.append(f"{scenes.article(colour)} {colour} {shape}")
    model.eval()
    te = F.normalize(model.encode_text(tokenizer(caps)), dim=-1)
    out = {}
    for kind, ss in pics.items():
        imgs = np.stack([scenes.render(x) for x in ss])
        ie = F.normalize(model.encode_image(clip_views(imgs, None, model.cfg.image_resolution, train=False)), dim=-1)
        out[kind] = float((ie * te).sum(dim=-1).mean())
    model.train()
    return out


def clip_batch(rng, n, groups, plain=0, swaps=0):
    """``n`` training scenes: ``groups`` groups of 4 that differ only in one object's shape (hard negatives:
    colour and background alone cannot match them to their captions), ``plain`` empty backgrounds ("a yellow
    background"), ``swaps`` pairs of a scene and its colour swap (``scenes.colour_swap``), the rest independent.

    The empty ones were meant to teach that "a yellow star" is a yellow thing on another colour, not yellowness (a
    plain yellow field scores well for it, and guidance from an early, blurry estimate paints the background the
    prompt's colour); measured, they barely moved that score (docs/toy-models.md §5), so no recipe uses them."""
    ss = []
    for _ in range(groups):
        ss += scenes.shape_variants(scenes.sample_scene(rng, excluded=HELD_OUT), rng, 4, excluded=HELD_OUT)
    ss += [scenes.empty_scene(rng) for _ in range(plain)]
    for _ in range(swaps):  # a scene and its colour swap (scenes.colour_swap): colour bound to the object
        while True:
            one = scenes.sample_scene(rng, two_object_p=0.0, excluded=HELD_OUT, plain=True,
                                      backgrounds=tuple(scenes.COLORS))
            if (one.background[0], one.objects[0].shape) not in HELD_OUT:
                break
        ss += [one, scenes.colour_swap(one)]
    ss += [scenes.sample_scene(rng, excluded=HELD_OUT) for _ in range(n - len(ss))]
    return ss, np.stack([scenes.render(s) for s in ss])


def train_clip(args):
    torch.manual_seed(args.seed)
    cfg = CLIP_CONFIGS[args.arch]
    model = clip_mod.CLIP(cfg)
    if args.init is not None:  # a second stage: continue from a first one's weights
        model.load_state_dict(torch.load(args.init))
    else:
        with torch.no_grad():
            model.logit_scale.fill_(math.log(1 / 0.07))  # CLIP's initial temperature
    tokenizer = Tokenizer()
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    probe = torch.nn.Linear(cfg.embed_dim, len(scenes.COLORS) + len(scenes.SHAPES)) if args.probe else None
    params = list(model.parameters()) + (list(probe.parameters()) if probe else [])
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.05, betas=(0.9, 0.98))
    sched = warmup_cosine(opt, args.steps)
    t0, avg = time.perf_counter(), None
    for step in range(args.steps):
        if stop_now(args, step, t0):
            break
        ss, imgs = clip_batch(rng, args.batch, args.shape_groups, args.plain, args.swap_groups)
        caps = [s.caption for s in ss]
        loss = clip_loss(model, clip_views(imgs, gen, cfg.image_resolution), tokenizer(caps), caps, probe,
                         main_labels(ss))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        progress(step, args.steps, t0, f"loss {avg:.3f}")
        args.done = step + 1
        if args.eval_every and args.done % args.eval_every == 0:
            log(f"zero-shot colour, shape at step {args.done}: {clip_zero_shot(model, tokenizer, n=200)}")
    torch.save(model.state_dict(), args.out / f"clip_{args.arch}.pt")
    col, shp = clip_zero_shot(model, tokenizer)
    hcol, hshp = clip_zero_shot(model, tokenizer, held_out_only=True)
    return {"train_loss": avg, "zero_shot_color": col, "zero_shot_shape": shp,
            "held_out_pairs_color": hcol, "held_out_pairs_shape": hshp}


# ---------------------------------------------------------------- diffusion UNet


class LinearSchedule:
    """guided-diffusion's 1000-step linear beta schedule and the posterior q(x_{t-1} | x_t, x_0)."""

    def __init__(self, steps=1000):
        scale = 1000 / steps
        b = np.linspace(scale * 1e-4, scale * 0.02, steps, dtype=np.float64)
        ab = np.cumprod(1 - b)
        ab_prev = np.append(1.0, ab[:-1])
        var = b * (1 - ab_prev) / (1 - ab)
        self.steps = steps
        t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
        self.betas, self.alphas_cumprod = t(b), t(ab)
        self.sqrt_ab, self.sqrt_1mab = t(np.sqrt(ab)), t(np.sqrt(1 - ab))
        self.post_logvar = t(np.log(np.append(var[1], var[1:])))
        self.log_betas = t(np.log(b))
        self.post_c0 = t(b * np.sqrt(ab_prev) / (1 - ab))
        self.post_ct = t((1 - ab_prev) * np.sqrt(1 - b) / (1 - ab))

    def q_sample(self, x0, t, noise):
        return self.sqrt_ab[t][:, None, None, None] * x0 + self.sqrt_1mab[t][:, None, None, None] * noise


def _normal_kl(m1, lv1, m2, lv2):
    return 0.5 * (-1.0 + lv2 - lv1 + torch.exp(lv1 - lv2) + (m1 - m2) ** 2 * torch.exp(-lv2))


def _std_normal_cdf(x):
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def _discretized_gaussian_nll(x, mean, logvar):
    """-log p(x) of 8-bit data x in [-1, 1] under N(mean, exp(logvar)) integrated over each bin."""
    inv = torch.exp(-0.5 * logvar)
    cdf_plus = _std_normal_cdf(inv * (x - mean + 1 / 255))
    cdf_min = _std_normal_cdf(inv * (x - mean - 1 / 255))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_1m_cdf_min = torch.log((1 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    lp = torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_1m_cdf_min, log_delta))
    return -lp


def hybrid_loss(model, sch, x0, t, noise, vlb_weight=0.001, min_snr=None, x0_weight=0.0, bf16=False):
    """Improved-DDPM's L_hybrid: MSE on eps + λ·L_vlb for the variance channels (mean detached).

    ``min_snr`` γ weights each sample's eps-MSE by min(SNR, γ)/SNR (Hang et al. 2023, "Min-SNR weighting"): the
    nearly clean timesteps, whose denoising is local and easy, stop dominating the gradient, and the noisy ones
    that decide a picture's layout get the model's capacity. ``x0_weight`` β adds β·MSE of the implied x0
    estimate (the eps-MSE over SNR): at the noisiest timesteps, where a picture's background colour is decided,
    the eps-MSE barely depends on that colour (it hides behind the 1/sqrt(ᾱ) of the x0 estimate), so without it a
    UNet does not learn which backgrounds its world has. The returned (second) MSE is unweighted. ``bf16`` runs the
    UNet under bfloat16 autocast (the losses stay fp32).
    """
    xt = sch.q_sample(x0, t, noise)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(xt, t.float())
    out = out.float()
    eps, v = out[:, :3], out[:, 3:]
    mse = ((eps - noise) ** 2).mean(dim=(1, 2, 3))
    weighted = mse
    snr = sch.alphas_cumprod[t] / (1 - sch.alphas_cumprod[t])
    if min_snr is not None:
        weighted = mse * snr.clamp(max=min_snr) / snr
    if x0_weight:
        weighted = weighted + x0_weight * mse / snr
    c = lambda a: a[t][:, None, None, None]  # noqa: E731
    true_mean = c(sch.post_c0) * x0 + c(sch.post_ct) * xt
    x0_pred = (xt - c(sch.sqrt_1mab) * eps.detach()) / c(sch.sqrt_ab)
    model_mean = c(sch.post_c0) * x0_pred.clamp(-1, 1) + c(sch.post_ct) * xt
    frac = (v + 1) / 2
    logvar = frac * c(sch.log_betas) + (1 - frac) * c(sch.post_logvar)
    kl = _normal_kl(true_mean, c(sch.post_logvar), model_mean, logvar).mean(dim=(1, 2, 3)) / math.log(2.0)
    nll = _discretized_gaussian_nll(x0, model_mean, logvar).mean(dim=(1, 2, 3)) / math.log(2.0)
    vlb = torch.where(t == 0, nll, kl) * sch.steps
    return (weighted + vlb_weight * vlb).mean(), mse.mean()


# ---------------------------------------------------------------- secondary model (v-objective)


def v_loss(model, x0, t, noise):
    """Crowson's v-objective on the cosine schedule: t in [0, 1], v = α·eps − σ·x0."""
    a, s = torch.cos(t * math.pi / 2)[:, None, None, None], torch.sin(t * math.pi / 2)[:, None, None, None]
    _, v = model(x0 * a + noise * s, t)
    return F.mse_loss(v.float(), noise * a - x0 * s)


# ---------------------------------------------------------------- shared loop


def warmup_cosine(opt, steps, warmup=100):
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * i / steps))))


def stop_now(args, step, t0):
    """Whether to stop before ``step``: at ``--stop-after`` steps, or when ``--max-minutes`` have passed (the
    learning-rate schedule still spans ``--steps``; re-run with ``--stop-after`` the steps done to reproduce)."""
    if args.stop_after is not None and step >= args.stop_after:
        return True
    if args.max_minutes is not None and time.perf_counter() - t0 > 60 * args.max_minutes:
        log(f"time budget of {args.max_minutes} min reached after {step} steps")
        return True
    return False


def progress(step, steps, t0, text):
    if step % 100 == 0 or step == steps - 1:
        dt = time.perf_counter() - t0
        log(f"step {step + 1}/{steps}  {text}  {dt:.0f} s ({dt / (step + 1):.3f} s/step)")


def validation_batch(n=64, seed=20_000, world="full"):
    """A fixed batch (x0, uniform t fraction, noise) of ``world``'s scenes for comparable validation losses."""
    _, imgs = scenes.sample_batch(np.random.default_rng(seed), n, **scenes.WORLDS[world])
    g = torch.Generator().manual_seed(seed)
    return torch.from_numpy(scenes.to_model(imgs)), (torch.arange(n) + 0.5) / n, torch.randn(n, 3, 64, 64, generator=g)


def train_diffusion(args, kind):
    torch.manual_seed(args.seed)
    if kind == "unet":
        model, sch = unet_mod.UNetModel(UNET_CONFIG), LinearSchedule()
    else:
        model, sch = secondary_mod.SecondaryDiffusionImageNet2(SECONDARY_CHANNELS), None
    if args.init is not None:  # a second stage: continue from the EMA weights of a first one
        model.load_state_dict(torch.load(args.init))
    ema = copy.deepcopy(model).requires_grad_(False)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    sched = warmup_cosine(opt, args.steps)

    def loss_of(m, x0, frac, noise):
        if kind == "unet":
            t = (frac * sch.steps).long().clamp(max=sch.steps - 1)
            return hybrid_loss(m, sch, x0, t, noise, min_snr=args.min_snr, x0_weight=args.x0_weight,
                               bf16=args.bf16 and m is model)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16 and m is model):
            loss = v_loss(m, x0, frac, noise)
        return loss, loss

    t0, avg = time.perf_counter(), None
    for step in range(args.steps):
        if stop_now(args, step, t0):
            break
        _, imgs = scenes.sample_batch(rng, args.batch, **scenes.WORLDS[args.world])
        x0 = torch.from_numpy(scenes.to_model(imgs))
        if torch.rand(1, generator=gen).item() < 0.5:  # horizontal flips: free variety
            x0 = x0.flip(3)
        frac = torch.rand(args.batch, generator=gen)
        loss, mse = loss_of(model, x0, frac, torch.randn(x0.shape, generator=gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
        avg = mse.item() if avg is None else 0.98 * avg + 0.02 * mse.item()
        progress(step, args.steps, t0, f"mse {avg:.4f}")
        args.done = step + 1
        if args.save_every and args.done % args.save_every == 0:  # a snapshot to sample from during the run
            torch.save(ema.state_dict(), args.out / f"{kind}.partial.pt")
    torch.save(ema.state_dict(), args.out / f"{kind}.pt")
    with torch.no_grad():
        x0, frac, noise = validation_batch(world=args.world)
        _, val = loss_of(ema, x0, frac, noise)
    return {"train_mse": avg, "val_mse_ema": float(val)}


def evaluate(args):
    """The end-of-training metrics of an existing checkpoint in ``args.out``."""
    if args.model == "clip":
        model = clip_mod.CLIP(CLIP_CONFIGS[args.arch])
        model.load_state_dict(torch.load(args.out / f"clip_{args.arch}.pt"))
        tokenizer = Tokenizer()
        col, shp = clip_zero_shot(model, tokenizer)
        hcol, hshp = clip_zero_shot(model, tokenizer, held_out_only=True)
        binding = {f"binding_{k.replace(' ', '_')}": v for k, v in clip_colour_binding(model, tokenizer).items()}
        return {"zero_shot_color": col, "zero_shot_shape": shp, "held_out_pairs_color": hcol,
                "held_out_pairs_shape": hshp, **binding}
    if args.model == "lpips":
        return train_lpips.evaluate(args.out / "lpips.pt")
    if args.model in ("midas", "adabins"):
        return train_depth.evaluate(args.model, args.out / f"{args.model}.pt")
    if args.model == "flow":
        return train_flow.evaluate(args.out / "flow.pt")
    if args.model == "unet":
        model, sch = unet_mod.UNetModel(UNET_CONFIG), LinearSchedule()
    else:
        model, sch = secondary_mod.SecondaryDiffusionImageNet2(SECONDARY_CHANNELS), None
    model.load_state_dict(torch.load(args.out / f"{args.model}.pt"))
    x0, frac, noise = validation_batch(world=args.world)
    with torch.no_grad():
        if sch is None:
            val = v_loss(model, x0, frac, noise)
        else:
            val = hybrid_loss(model, sch, x0, (frac * sch.steps).long().clamp(max=sch.steps - 1), noise)[1]
    return {"val_mse_ema": float(val)}


def parse_args(argv=None):
    """The run's settings: the command line with the model's defaults filled in (STEPS, BATCH, LR)."""
    p = argparse.ArgumentParser(prog="python -m disco_export.toy.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", choices=["clip", "unet", "secondary", "lpips", "midas", "adabins", "flow"])
    p.add_argument("--steps", type=int, help="optimizer steps (default: the shipped weights' count)")
    p.add_argument("--stop-after", type=int, help="stop after this many steps (the schedule still spans --steps)")
    p.add_argument("--max-minutes", type=float, help="stop when this much time has passed (wall clock)")
    p.add_argument("--batch", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--ema", type=float, default=0.995, help="EMA decay of the diffusion models' weights")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", type=Path, help="start from these weights (a second stage)")
    p.add_argument("--evaluate", action="store_true",
                   help="only compute the metrics of the checkpoint in --out (and store them in its record)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    p.add_argument("--shape-groups", type=int, default=0,
                   help="CLIP batches: groups of 4 scenes that differ only in shape (hard negatives)")
    p.add_argument("--plain", type=int, default=0,
                   help="CLIP batches: this many empty backgrounds captioned by their colour (negatives)")
    p.add_argument("--swap-groups", type=int, default=0,
                   help="CLIP batches: this many pairs of a scene and its object/background colour swap")
    p.add_argument("--probe", action="store_true",
                   help="CLIP: an auxiliary linear probe of main colour and shape on the image embedding")
    p.add_argument("--arch", default="ViTB32", help="CLIP: which toy configuration (CLIP_CONFIGS)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the diffusion models' forward")
    p.add_argument("--min-snr", type=float, help="Min-SNR-γ loss weighting of the UNet's eps-MSE")
    p.add_argument("--x0-weight", type=float, default=0.0,
                   help="UNet: weight of the implied x0 estimate's MSE beside the eps-MSE (hybrid_loss)")
    p.add_argument("--eval-every", type=int, default=0, help="CLIP: print zero-shot accuracy every N steps")
    p.add_argument("--balanced", action="store_true",
                   help="flow: weight moving and still pixels half each in the sequence loss")
    p.add_argument("--world", choices=list(scenes.WORLDS), default="full",
                   help="diffusion models: the slice of the world they learn (scenes.WORLDS)")
    p.add_argument("--save-every", type=int, default=0, help="write <model>.partial.pt (EMA) every N steps")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="checkpoint directory (default: %(default)s)")
    args = p.parse_args(argv)
    args.steps = args.steps or STEPS[args.model]
    args.batch = args.batch or BATCH[args.model]
    args.lr = args.lr or LR[args.model]
    if not (math.isfinite(args.x0_weight) and args.x0_weight >= 0):
        p.error(f"--x0-weight {args.x0_weight}: expected a finite weight ≥ 0")
    room = args.batch - 4 * args.shape_groups - 2 * max(args.swap_groups, 0)
    if args.model == "clip" and (args.swap_groups < 0 or room < 0):
        p.error(f"--swap-groups {args.swap_groups}: a batch of {args.batch} with {args.shape_groups} shape groups of 4 "
                f"has room for 0 to {max(0, (args.batch - 4 * args.shape_groups) // 2)} colour-swap pairs")
    if args.model == "clip" and not 0 <= args.plain <= room:
        p.error(f"--plain {args.plain}: a batch of {args.batch} with {args.shape_groups} shape groups of 4 and "
                f"{args.swap_groups} colour-swap pairs has room for 0 to {room} empty backgrounds")
    return args


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    args.done = 0
    name = f"clip_{args.arch}" if args.model == "clip" else args.model  # checkpoint and record name
    t0, c0 = time.perf_counter(), time.process_time()
    if args.evaluate:
        metrics = evaluate(args)
        for k, v in metrics.items():
            print(f"{name}.{k} = {v:.4f}")
        path = args.out / f"{name}.json"
        record = json.loads(path.read_text()) if path.is_file() else {"steps": args.steps, "seed": args.seed}
        # recomputed metrics replace their old values; the training loss (not recomputable) stays
        record["metrics"] = {**record.get("metrics", {}), **{k: round(v, 4) for k, v in metrics.items()}}
        path.write_text(json.dumps(record, indent=1) + "\n")
        return 0
    if args.model == "clip":
        metrics = train_clip(args)
    elif args.model == "lpips":
        metrics = train_lpips.train_lpips(args, log, progress, stop_now, warmup_cosine)
    elif args.model in ("midas", "adabins"):
        metrics = train_depth.train_depth(args, args.model, log, progress, stop_now, warmup_cosine)
    elif args.model == "flow":
        metrics = train_flow.train_flow(args, log, progress, stop_now, warmup_cosine)
    else:
        metrics = train_diffusion(args, args.model)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    log(f"{name}: {args.done} of {args.steps} steps, batch {args.batch}, seed {args.seed}, {wall:.0f} s "
        f"({cpu:.0f} s CPU)")
    for k, v in metrics.items():
        print(f"{name}.{k} = {v:.4f}")
    print(f"{name}.wall_seconds = {wall:.0f}")
    print(f"{name}.cpu_seconds = {cpu:.0f}")
    record = {"steps": args.steps, "steps_done": args.done, "batch": args.batch, "lr": args.lr, "seed": args.seed,
              "threads": args.threads,
              "wall_seconds": round(wall), "cpu_seconds": round(cpu), "torch": torch.__version__.split("+")[0],
              "metrics": {k: round(v, 4) for k, v in metrics.items()}}
    if args.model in ("unet", "secondary"):
        record["ema"] = args.ema
        if args.bf16:
            record["bf16"] = True
        if args.min_snr is not None:
            record["min_snr"] = args.min_snr
        if args.x0_weight:
            record["x0_weight"] = args.x0_weight
        if args.world != "full":
            record["world"] = args.world
    if args.model == "flow":  # the architecture and the loss's constants (train_flow.py)
        record["raft"] = train_flow.CONFIG.as_manifest()
        record["gamma"], record["noise"] = train_flow.GAMMA, train_flow.NOISE
        if args.balanced:
            record["balanced"] = True
    if args.init is not None:
        record["init"] = str(args.init.name)
    if args.model == "clip":
        record["arch"] = args.arch
        if args.shape_groups:
            record["shape_groups"] = args.shape_groups
        if args.probe:
            record["probe"] = True
        if args.plain:
            record["plain"] = args.plain
        if args.swap_groups:
            record["swap_groups"] = args.swap_groups
    (args.out / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
