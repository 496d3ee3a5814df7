"""The toy depth models: MiDaS's DPT and AdaBins at small widths, trained on the toy world's depth maps.

The toy world has depth (scenes.depth_map): a wall behind everything and each object in front of it, nearer the
larger it is drawn. The two models learn it in the units DD reads them in (dd-algorithm.md §10.4), so DD's blend
``w·midas + (1 − w)·adabins`` mixes two estimates of the same depth:

- ``midas``: the DPT (midas.py) regresses MiDaS's inverse depth ``pred = 50 − 19·depth`` (DD maps it back with
  ``(50 − pred)/19``), on the frame resized bicubically to its net size and normalised with mean/std 0.5, as the
  renderer feeds it (crates/runtime/src/depth.rs);
- ``adabins``: AdaBins (adabins.py) regresses depth in its bins, ImageNet-normalised input, at half the input's
  size (its decoder's), as ``UnetAdaptiveBins`` outputs it; the exported graph is DD's mirrored ``predict``.

Both see the toy world's 64×64 frames resized to 128×128 (their manifest entries say so: ``net_size`` 128, AdaBins
area 128²), and frames mildly distorted (blur, noise, brightness) so that they also read the toy UNet's renders.
Loss: mean squared error. Metrics on held-out scenes: the mean absolute depth error at 64×64 (DD's units) against a constant
map's, and the correlation of each main object's predicted and true depth.
"""

import time

import numpy as np
import torch
import torch.nn.functional as F

from .. import adabins as adabins_mod
from .. import efficientnet
from .. import midas as midas_mod
from . import scenes, train_lpips

NET = 128  # both models' input side for a 64×64 frame
MIDAS_CONFIG = midas_mod.DptConfig("dpt_large", width=48, depth=4, heads=4, grid=NET // midas_mod.PATCH,
                                   hooks=(0, 1, 2, 3), features=(16, 24, 48, 48), fusion=24, net_size=NET)
ADABINS_CONFIG = adabins_mod.AdaBinsConfig(
    encoder=efficientnet.EffNetConfig(width_mult=0.25, depth_mult=0.5, stem=32, head=256), decoder=32, out=16,
    n_bins=32, patch=4, heads=2, layers=2, ff=32, positions=500, regressor=32, min_area=NET * NET,
    max_area=30_000)


def midas_target(depth):
    """MiDaS's inverse depth for a DD depth: the inverse of ``(50 − pred)/19``."""
    return 50.0 - 19.0 * depth


def net_input(images, mean, std):
    """uint8 (N, 64, 64, 3) -> float32 (N, 3, NET, NET): [0, 1], bicubic (no antialiasing, as the renderer's),
    normalised per channel."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(x, size=(NET, NET), mode="bicubic", align_corners=False)
    return (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


def batch(rng, gen, n, distort=True):
    """n scenes: (uint8 images (N, 64, 64, 3), depth (N, 64, 64), depth (N, NET, NET), scenes)."""
    ss = [scenes.sample_scene(rng) for _ in range(n)]
    imgs = np.stack([scenes.render(s) for s in ss])
    if distort:  # the LPIPS trainer's mild distortions, in the diffusion range
        x = torch.from_numpy(scenes.to_model(imgs))
        x = train_lpips._distort(x, gen, torch.rand(n, generator=gen))
        imgs = scenes.from_model(x.numpy())
    d64 = torch.from_numpy(np.stack([scenes.depth_map(s) for s in ss]))
    dnet = torch.from_numpy(np.stack([scenes.depth_map(s, NET) for s in ss]))
    return imgs, d64, dnet, ss


def make(kind):
    """A fresh toy model: ``midas`` (the DPT) or ``adabins`` (DD's predict around UnetAdaptiveBins)."""
    if kind == "midas":
        model = midas_mod.DPTDepthModel(MIDAS_CONFIG)
        # The head is conv, ReLU, 1×1 conv, ReLU. Start both ReLUs alive (positive last weights, a small positive
        # bias before them) and the last bias at 0, so even the wall's small inverse depth needs live features:
        # with the wall's value in that bias the easiest fit kills the features and freezes the map (seen: 53 of
        # 64 held-out maps flat).
        out = model.scratch.output_conv
        with torch.no_grad():
            out[2].bias.fill_(0.1)
            out[4].weight.abs_()
            out[4].bias.zero_()
        return model
    return adabins_mod.DdPredict(ADABINS_CONFIG)


def predict_depth(kind, model, images):
    """DD's depth (N, 64, 64) of uint8 frames, as the renderer computes it from the graph's output."""
    if kind == "midas":
        pred = model(net_input(images, midas_mod.MEAN, midas_mod.STD))
        pred = F.interpolate(pred[:, None], size=(64, 64), mode="bicubic", align_corners=False)[:, 0]
        return (50.0 - pred) / 19.0
    depth = model(net_input(images, adabins_mod.MEAN, adabins_mod.STD))
    return F.interpolate(depth[:, None], size=(64, 64), mode="bicubic", align_corners=False)[:, 0]


def _loss(kind, model, images, d64, dnet):
    """Mean squared error in depth units. Not L1: most pixels are wall, so L1's median-seeking optimum for a pixel
    the model is unsure of is the wall, and the maps collapsed to it (60 of 64 held-out maps flat)."""
    if kind == "midas":
        pred = model(net_input(images, midas_mod.MEAN, midas_mod.STD))
        return F.mse_loss(pred / 19.0, midas_target(dnet) / 19.0)
    depth = model.model(net_input(images, adabins_mod.MEAN, adabins_mod.STD))  # (N, 64, 64): half of NET
    return F.mse_loss(depth, d64)


@torch.no_grad()
def metrics(kind, model, n=256, seed=40_000):
    """Held-out mean absolute error of depth (DD's units, 64×64), a constant map's error, the correlation of
    predicted and true depth over the main objects, and the fraction of maps with no relief (range < 0.05)."""
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    imgs, d64, _, ss = batch(rng, gen, n, distort=False)
    model.eval()
    pred = torch.cat([predict_depth(kind, model, imgs[i:i + 32]) for i in range(0, n, 32)])
    mae = float((pred - d64).abs().mean())
    const = float((d64 - d64.mean()).abs().mean())
    true_obj, pred_obj = [], []
    for s, p in zip(ss, pred):
        m = torch.from_numpy(scenes.shape_mask(s.main.shape, s.main.cx, s.main.cy, s.main.r)) > 0.99
        true_obj.append(scenes.object_depth(s.main.r))
        pred_obj.append(float(p[m].mean()))
    corr = float(np.corrcoef(true_obj, pred_obj)[0, 1])
    flat = float((pred.amax(dim=(1, 2)) - pred.amin(dim=(1, 2)) < 0.05).float().mean())
    return {"depth_mae": mae, "constant_mae": const, "object_depth_corr": corr, "flat_maps": flat}


def train_depth(args, kind, log, progress, stop_now, warmup_cosine):
    torch.manual_seed(args.seed)
    model = make(kind)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = warmup_cosine(opt, args.steps)
    t0, avg = time.perf_counter(), None
    model.train()
    for step in range(args.steps):
        if stop_now(args, step, t0):
            break
        imgs, d64, dnet, _ = batch(rng, gen, args.batch)
        loss = _loss(kind, model, imgs, d64, dnet)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        progress(step, args.steps, t0, f"MSE {avg:.4f}")
        args.done = step + 1
    torch.save(model.state_dict(), args.out / f"{kind}.pt")
    return {"train_mse": avg, **metrics(kind, model)}


def evaluate(kind, path):
    model = make(kind)
    model.load_state_dict(torch.load(path))
    return metrics(kind, model)
