"""Seconds per cutn-batch of CLIP guidance at real model width (random weights): the two-pass path (image forward,
the loss on the host, image VJP — which recomputes the forward) against the fused graph (loss inside the VJP
graph, one call). A benchmark, not a test: prints a table, asserts nothing.

    python -m disco_export.bench_clip_guide --clip ViTB32 RN50 --cuts 16 --runs 3 --cache target/bench-clip

Graphs are exported once into --cache (one directory per model, ~3× the model's weights) and reused.
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from . import clip, export, openclip, verify
from .reference.losses import clip_loss


def graphs(flag, cache):
    """Export (once) the image, image_vjp and image_loss_vjp graphs of full-size ``flag`` with seeded random
    weights into ``cache/flag``; returns {role: path}."""
    out = cache / flag
    out.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = clip.CLIP(openclip.config(flag))
    paths = {}
    for role, spec in clip.graph_specs(flag, model, two_pass=True).items():
        if role == "text":
            continue
        path = out / f"{spec.name}.onnx"
        if not path.exists():
            print(f"exporting {spec.name} ...", flush=True)
            export.build_graph(spec, path)
        paths[role] = path
    return paths, model.cfg


def bench(flag, cache, cuts, prompts, runs, threads):
    paths, cfg = graphs(flag, cache)
    sess = {role: verify.session(p, threads) for role, p in paths.items()}
    gen = torch.Generator().manual_seed(1)
    r, d = cfg.image_resolution, cfg.embed_dim
    image = torch.randn(cuts, 3, r, r, generator=gen).numpy()
    targets = torch.randn(prompts, d, generator=gen)
    weights = torch.full((prompts,), 1.0 / prompts)
    scale = np.array([1000.0 / (4 * cuts)], np.float32)

    def two_pass():
        (embed,) = sess["image"].run(["image_embed"], {"image": image})
        e = torch.from_numpy(embed).requires_grad_(True)
        (d_embed,) = torch.autograd.grad(clip_loss(e, targets, weights), e)
        up = (d_embed * float(scale[0]) * cuts).numpy()
        return sess["image_vjp"].run(["grad_image"], {"image": image, "upstream": up})[0]

    def fused():
        return sess["image_loss_vjp"].run(["grad_image"], {"image": image, "targets": targets.numpy(),
                                                          "weights": weights.numpy(), "upstream": scale})[0]

    # the first run of a session is slower (allocation, kernel choice): one warm-up each
    a, b = two_pass(), fused()
    err = verify.rel_error(b, a)
    times = {"two-pass": [], "fused": []}
    for _ in range(runs):
        for name, f in (("two-pass", two_pass), ("fused", fused)):
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}, err


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m disco_export.bench_clip_guide", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", nargs="+", default=["ViTB32", "RN50"], help="CLIP flags (default: %(default)s)")
    p.add_argument("--cuts", type=int, default=16, help="cuts per cutn-batch (default: %(default)s)")
    p.add_argument("--prompts", type=int, default=2, help="target embeddings (default: %(default)s)")
    p.add_argument("--runs", type=int, default=3, help="timed runs, median reported (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="ORT intra-op threads (default: %(default)s)")
    p.add_argument("--cache", type=Path, default=Path("target/bench-clip"), help="graph cache (default: %(default)s)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for flag in args.clip:
        t, err = bench(flag, args.cache, args.cuts, args.prompts, args.runs, args.threads)
        rows.append((flag, t["two-pass"], t["fused"], t["two-pass"] / t["fused"], err))
    print(f"\n{args.cuts} cuts, {args.prompts} prompts, {args.threads} threads, median of {args.runs}")
    print("| CLIP | two-pass s | fused s | two-pass / fused | rel. error of the fused gradient |")
    print("| --- | --- | --- | --- | --- |")
    for flag, a, b, ratio, err in rows:
        print(f"| {flag} | {a:.3f} | {b:.3f} | {ratio:.2f} | {err:.1e} |")


if __name__ == "__main__":
    main()
