"""The toy optical-flow model: RAFT's architecture (raft.py) at small widths, trained on toy clips with
ground-truth flow (motion.py), as RAFT was trained on synthetic flow (FlyingChairs): supervised, with RAFT's
sequence loss.

What the graph sees is what the renderer hands it (src/build/flow.rs): the RAFT graph takes sides that are
multiples of 64 and at least 128, so a 64×64 frame arrives padded to 128×128 by repeating its edge pixels, 32 on
each side (RAFT's ``InputPadder`` split), RGB in [0, 255], and the flow's centre 64×64 is kept. Training pads the
same way and scores only that centre.

Loss (Teed & Deng 2020, eq. 7): Σ_i γ^(N−i) ‖f_gt − f_i‖₁ over the N updates' upsampled flows, γ = 0.8, the
estimate detached between updates as RAFT's training does; the shipped run weights moving and still pixels half
each (``--balanced``: under the plain mean, with 91 % of the pixels still, it learnt zero flow). Metric: the mean end-point error ‖f − f_gt‖₂ in pixels
on held-out pairs (another seed), beside that of zero flow; also over the moving pixels only (the background is
still, so zero flow is right on most of a picture).
"""

import time

import numpy as np
import torch
import torch.nn.functional as F

from .. import raft
from . import motion, scenes

# RAFT-large's graph at toy widths (the tiny set's TINY_RAFT is 8-16 wide, random): the full 4-level pyramid,
# radius-4 window, convex upsampling. Trained and exported with 6 updates.
CONFIG = raft.RaftConfig("raft-toy", stages=(16, 24, 32), feature_dim=32, hidden=32, context=32,
                         corr_convs=(64, 48), flow_convs=(32, 16), head_hidden=64, iters=6)
GAMMA = 0.8
# The renderer's padding of a 64×64 frame: up to the graph's 128×128 minimum, half on each side.
PAD = (raft.MIN_SIDE - scenes.SIZE) // 2
NOISE = 3.0  # pixel noise (σ up to this, per frame) standing in for a decoded video's compression noise


def frames(images):
    """uint8 (N, 64, 64, 3) -> float32 (N, 3, 64, 64) in [0, 255]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()


def padded(x):
    """(N, 3, 64, 64) -> (N, 3, 128, 128), edges repeated, 32 pixels each side (what flow.rs feeds)."""
    return F.pad(x, (PAD, PAD, PAD, PAD), mode="replicate")


def centre(flow):
    """(N, 2, 128, 128) -> the centre (N, 2, 64, 64) the renderer keeps."""
    return flow[:, :, PAD:PAD + scenes.SIZE, PAD:PAD + scenes.SIZE]


def upsample_centre(flow, mask):
    """The centre 64×64 of RAFT's convex upsampling (``raft.RAFT._upsample``) of the 1/8 flow (B, 2, 16, 16)
    with ``mask`` (B, 576, 16, 16): (B, 2, 64, 64), computed from the centre's coarse cells only (a quarter of
    the work; the loss looks at nothing else)."""
    b = flow.shape[0]
    c0, n = PAD // 8, scenes.SIZE // 8
    mask = torch.softmax(mask[:, :, c0:c0 + n, c0:c0 + n].reshape(b, 1, 9, 8, 8, n, n), dim=2)
    padded8 = F.pad(8 * flow, (1, 1, 1, 1))
    nbrs = torch.stack([padded8[:, :, c0 + i:c0 + i + n, c0 + j:c0 + j + n] for i in range(3) for j in range(3)],
                       dim=2)
    up = torch.sum(mask * nbrs.reshape(b, 2, 9, 1, 1, n, n), dim=2)
    return up.permute(0, 1, 4, 2, 5, 3).reshape(b, 2, 8 * n, 8 * n)


def flow_predictions(model, image1, image2, upsample=upsample_centre):
    """RAFT.forward (raft.py), keeping every update's upsampled flow: list of N (B, 2, 64, 64) (the centre), or of
    (B, 2, H, W) with ``upsample=raft.RAFT._upsample``. The estimate is detached before each update (RAFT's
    training: gradients do not flow through the coordinates)."""
    cfg = model.cfg
    image1 = 2 * (image1 / 255.0) - 1.0
    image2 = 2 * (image2 / 255.0) - 1.0
    b = image1.shape[0]
    fmaps = model.fnet(torch.cat([image1, image2], dim=0))
    f1, f2 = fmaps[:b], fmaps[b:]
    levels = model._pyramid(f1, f2)
    ctx = model.cnet(image1)
    net, inp = torch.tanh(ctx[:, :cfg.hidden]), torch.relu(ctx[:, cfg.hidden:])
    _, _, h, w = f1.shape
    coords0 = raft.coords_grid(b, h, w, f1)
    coords1 = coords0
    out = []
    for _ in range(cfg.iters):
        coords1 = coords1.detach()
        corr = model._lookup(levels, coords1)
        net, mask, delta = model.update_block(net, inp, corr, coords1 - coords0)
        coords1 = coords1 + delta
        out.append(upsample(coords1 - coords0, mask))
    return out


def sequence_loss(preds, flow_gt, gamma=GAMMA, balanced=False):
    """RAFT's loss on the centre: Σ_i γ^(N−1−i) · mean |f_i − f_gt| (L1 over both components). ``preds``: the
    centre flows (B, 2, 64, 64) of flow_predictions; ``flow_gt``: (B, 2, 64, 64).

    ``balanced``: the mean weights the batch's moving pixels (f_gt ≠ 0) and its still ones half each. In the toy
    clips about 9 % of the pixels move; under the plain mean, zero flow is a deep minimum (a 560-step run with it
    ended at the zero-flow EPE on moving pixels: 3.194 vs 3.194 px)."""
    n = len(preds)
    w = torch.ones_like(flow_gt[:, :1])
    if balanced:
        moving = (flow_gt != 0).any(dim=1, keepdim=True)
        frac = moving.float().mean().clamp(1e-3, 1 - 1e-3)
        w = torch.where(moving, 0.5 / frac, 0.5 / (1 - frac))
    return sum(gamma ** (n - 1 - i) * (w * (p - flow_gt).abs()).mean() for i, p in enumerate(preds))


def batch(rng, gen, n):
    """A training batch: padded frames (n, 3, 128, 128) ×2 with pixel noise, GT flow (n, 2, 64, 64); half the
    batches mirrored left–right (the flow's x negated)."""
    img1, img2, flow = motion.sample_pairs(rng, n)
    x1, x2 = frames(img1), frames(img2)
    gt = torch.from_numpy(flow).permute(0, 3, 1, 2)
    sigma = torch.rand(2, n, 1, 1, 1, generator=gen) * NOISE
    x1 = padded((x1 + torch.randn(x1.shape, generator=gen) * sigma[0]).clamp(0, 255))
    x2 = padded((x2 + torch.randn(x2.shape, generator=gen) * sigma[1]).clamp(0, 255))
    if bool(torch.rand(1, generator=gen) < 0.5):
        x1, x2, gt = x1.flip(3), x2.flip(3), gt.flip(3) * torch.tensor([-1.0, 1.0])[None, :, None, None]
    return x1, x2, gt


def held_out(n=256, seed=50_000):
    """The evaluation pairs: padded frames and GT flow, from a seed no training run uses."""
    img1, img2, flow = motion.sample_pairs(np.random.default_rng(seed), n)
    return padded(frames(img1)), padded(frames(img2)), torch.from_numpy(flow).permute(0, 3, 1, 2)


@torch.no_grad()
def end_point_errors(model, n=256, seed=50_000, chunk=32):
    """Mean EPE in pixels of ``model`` (eval mode, the exported graph's forward) and of zero flow on the held-out
    pairs: over all pixels of the centre, and over the moving ones (GT flow ≠ 0); and on the 11 frame pairs of
    examples/restyle's clip (clip.py: a ball rolling 3 px a frame, a sun that stays)."""
    from . import clip  # noqa: PLC0415 (clip.py is a script module; only its frames are needed here)

    was_training = model.training
    model.eval()
    x1, x2, gt = held_out(n, seed)
    err = torch.cat([(centre(model(x1[i:i + chunk], x2[i:i + chunk])) - gt[i:i + chunk]).norm(dim=1)
                     for i in range(0, n, chunk)])
    zero = gt.norm(dim=1)
    moving = zero > 0
    frames_, flows = clip.source_clip()
    x = padded(frames(frames_))
    clip_gt = torch.from_numpy(flows).permute(0, 3, 1, 2)
    clip_err = (centre(model(x[:-1], x[1:])) - clip_gt).norm(dim=1)
    model.train(was_training)
    return {"epe": float(err.mean()), "epe_zero_flow": float(zero.mean()),
            "epe_moving": float(err[moving].mean()), "epe_moving_zero_flow": float(zero[moving].mean()),
            "epe_clip": float(clip_err.mean()), "epe_clip_zero_flow": float(clip_gt.norm(dim=1).mean())}


def train_flow(args, log, progress, stop_now, warmup_cosine):
    # oneDNN's convolution backward corrupted the heap on this CPU with some of these widths (a segfault or
    # "free(): invalid next size" in the first backward, torch 2.15, stem width 8 or 12); PyTorch's own kernels
    # are 1.5x slower here and sound.
    with torch.backends.mkldnn.flags(enabled=False):
        return _train(args, log, progress, stop_now, warmup_cosine)


def _train(args, log, progress, stop_now, warmup_cosine):
    torch.manual_seed(args.seed)
    model = raft.RAFT(CONFIG)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    # RAFT's optimiser: AdamW, weight decay 1e-4 (FlyingChairs stage), gradients clipped at norm 1
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4, eps=1e-8)
    sched = warmup_cosine(opt, args.steps)
    t0, avg = time.perf_counter(), None
    for step in range(args.steps):
        if stop_now(args, step, t0):
            break
        x1, x2, gt = batch(rng, gen, args.batch)
        loss = sequence_loss(flow_predictions(model, x1, x2), gt, balanced=args.balanced)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        progress(step, args.steps, t0, f"loss {avg:.3f}")
        args.done = step + 1
    torch.save(model.state_dict(), args.out / "flow.pt")
    return {"train_loss": avg, **end_point_errors(model)}


def load(path):
    """The trained model from ``path`` (flow.pt), in eval mode."""
    model = raft.RAFT(CONFIG)
    model.load_state_dict(torch.load(path))
    return model.eval()


def evaluate(path):
    """The metrics of a checkpoint, computed as at the end of training (the same kernels)."""
    with torch.backends.mkldnn.flags(enabled=False):
        return end_point_errors(load(path))
