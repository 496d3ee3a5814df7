"""Export real-width VJP graphs with random weights and time VJP graphs in ONNX Runtime (CPU).

    python -m disco_export.bench_vjp export --out /tmp/vjp            # secondary_vjp.onnx, clip_RN50_image_vjp.onnx
    python -m disco_export.bench_vjp export --out /tmp/vjp --only rn50_loss vitb16_loss   # the fused guidance graphs
    python -m disco_export.bench_vjp time /tmp/vjp/secondary_vjp.onnx --batch 1 --size 512 512
    python -m disco_export.bench_vjp time before/clip_RN50_image_vjp.onnx after/clip_RN50_image_vjp.onnx --batch 16
    python -m disco_export.bench_vjp profile SET/clip_ViTB16_image_loss_vjp.onnx --batch 16 --top 15
    python -m disco_export.bench_vjp memory SET [--lean none|unet|all]   # resident memory of the UNet path's sessions

``export`` builds the real architectures (the secondary model at c = 64; CLIP RN50 with its configuration from
clip.py) with seeded random weights and exports their VJP graphs through ``export.build_graph``, unverified.
``time`` feeds fresh N(0, 1) inputs (t ~ U[0, 1)) and prints the median of ``--runs`` runs after one warm-up
(the first run of a session is not counted), with 2 intra-op threads and ORT_ENABLE_ALL unless told otherwise;
several graphs are timed in turn, round by round, so that a before/after pair sees the same machine load.
``profile`` runs one graph the same way with ONNX Runtime's profiler on and prints where a run's time goes: per
operator type and the slowest nodes, each as the median over the timed runs. ``memory`` opens, group by group, the
sessions a UNet-guided render of DD's default model opens (checkpoint forward, segment VJPs, CLIP guidance graphs,
text encoders) and prints the resident memory each group adds beside its size on disk; ``--lean`` picks the groups
opened as disco's lean sessions (default: the checkpointed UNet's, as disco's renderer opens them).
"""

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np


def export_graphs(out, which):
    import torch

    from . import clip, export, secondary

    out.mkdir(parents=True, exist_ok=True)
    if "secondary" in which:
        torch.manual_seed(0)
        spec = secondary.graph_specs(secondary.SecondaryDiffusionImageNet2())["vjp"]
        print(f"{spec.name}: {export.build_graph(spec, out / f'{spec.name}.onnx'):.1f} s", flush=True)
    if "rn50" in which:
        torch.manual_seed(0)
        spec = clip.graph_specs("RN50", clip.CLIP(clip.CONFIGS["RN50"]))["image_vjp"]
        print(f"{spec.name}: {export.build_graph(spec, out / f'{spec.name}.onnx'):.1f} s", flush=True)
    for flag in ("RN50", "ViTB16", "ViTB32"):  # the fused guidance graphs the renderer runs
        if f"{flag.lower()}_loss" in which:
            torch.manual_seed(0)
            spec = clip.graph_specs(flag, clip.CLIP(clip.CONFIGS[flag]))["image_loss_vjp"]
            print(f"{spec.name}: {export.build_graph(spec, out / f'{spec.name}.onnx'):.1f} s", flush=True)


def feeds_for(sess, batch, size, rng, prompts=2):
    feeds = {}
    for inp in sess.get_inputs():
        dims = []
        for d in inp.shape:
            if isinstance(d, int):
                dims.append(d)
            elif d == "B":
                dims.append(batch)
            elif d == "P":  # prompt rows of a fused CLIP guidance graph
                dims.append(prompts)
            elif d in ("H", "W") or "hk" in d or "wk" in d:  # the file names H = 32*hk, W = 32*wk
                dims.append(size[0] if d == "H" or "hk" in d else size[1])
            else:
                raise ValueError(f"{inp.name}: unknown axis {d!r}")
        if inp.type == "tensor(int64)":
            raise ValueError(f"{inp.name}: integer inputs are not supported here")
        x = rng.random(dims) if inp.name in ("t", "weights") else rng.standard_normal(dims)
        feeds[inp.name] = x.astype(np.float32)
    return feeds


def time_graphs(paths, batch, size, runs, threads):
    """Load every graph, run each once (not counted), then time them in turn, ``runs`` rounds: graphs compared
    with each other see the same machine load. Returns per graph (session load s, first run s, [run s])."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    rng = np.random.default_rng(0)
    sessions, results = [], []
    for path in paths:
        t = time.perf_counter()
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        load = time.perf_counter() - t
        feeds = feeds_for(sess, batch, size, rng)
        t = time.perf_counter()
        sess.run(None, feeds)
        sessions.append(sess)
        results.append((load, time.perf_counter() - t, []))
    for _ in range(runs):
        for sess, (_, _, times) in zip(sessions, results):
            feeds = feeds_for(sess, batch, size, rng)
            t = time.perf_counter()
            sess.run(None, feeds)
            times.append(time.perf_counter() - t)
    return results


def profile_graph(path, batch, size, runs, threads):
    """Runs ``path`` once (not counted) and ``runs`` times with ORT's profiler on. Returns (median run s, {op type:
    median s per run}, {node: (op type, median s per run)})."""
    import json
    import tempfile

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    with tempfile.TemporaryDirectory() as tmp:
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "profile")
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        walls = []
        for _ in range(runs + 1):
            feeds = feeds_for(sess, batch, size, rng)
            t = time.perf_counter()
            sess.run(None, feeds)
            walls.append(time.perf_counter() - t)
        trace = json.loads(Path(sess.end_profiling()).read_text())
    # each run is one "model_run" event; the node events between two of them belong to the later one
    import bisect

    ends = sorted(r["ts"] + r["dur"] for r in trace if r.get("name") == "model_run")
    per_run, current = [], None
    for ev in sorted((e for e in trace if e.get("ph") == "X"), key=lambda e: e["ts"]):
        if ev.get("cat") == "Session" and ev["name"] == "model_run":
            continue
        if ev.get("cat") != "Node" or not ev["name"].endswith("_kernel_time"):
            continue
        run = bisect.bisect_left(ends, ev["ts"])
        if current is None or run != current[0]:
            current = (run, {})
            per_run.append(current[1])
        node = ev["name"][: -len("_kernel_time")]
        op = ev.get("args", {}).get("op_name", "?")
        prev = current[1].get(node, (op, 0.0))
        current[1][node] = (op, prev[1] + ev["dur"] / 1e6)
    timed = per_run[1:] if len(per_run) > 1 else per_run
    nodes = {}
    for n in timed[0]:
        nodes[n] = (timed[0][n][0], statistics.median(r.get(n, ("", 0.0))[1] for r in timed))
    ops = {}
    for run in timed:
        for op, s in run.values():
            ops.setdefault(op, []).append(s)
    ops = {op: sum(v) / len(timed) for op, v in ops.items()}
    return statistics.median(walls[1:]), ops, nodes


def lean_options(so):
    """Session options as disco opens its lean sessions (crates/runtime/src/session.rs, ``Footprint::Lean``): no
    constant folding, so a backward's flipped and transposed weights are not stored beside the originals, and no
    CPU arena."""
    so.add_session_config_entry("optimization.disable_specified_optimizers", "ConstantFolding")
    so.enable_cpu_mem_arena = False
    return so


def session_memory(set_dir, threads=2, lean=("checkpoint forward", "segment VJPs")):
    """[(group, sessions, GB resident added, GB on disk)] for the UNet-guided path of the set's default model; the
    groups named in ``lean`` are opened as disco's lean sessions (disco's renderer: the checkpointed UNet's)."""
    import json

    import onnxruntime as ort

    def rss_gb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1e6

    m = json.loads((set_dir / "manifest.json").read_text())
    d = m["diffusion_models"]["512x512_diffusion_uncond_finetune_008100"]
    flags = sorted(m.get("clip", {}))
    groups = [("checkpoint forward", [d["checkpointed"]["forward"]]),
              ("segment VJPs", [s["graph"] for s in d["checkpointed"]["segments"]]),
              ("CLIP guidance graphs", [m["clip"][f]["graphs"]["image_loss_vjp"] for f in flags]),
              ("CLIP text encoders", [m["clip"][f]["graphs"]["text"] for f in flags])]
    keep, rows = [], []
    for group, names in groups:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        if group in lean:
            lean_options(so)
        before, disk = rss_gb(), 0
        for name in names:
            path = set_dir / m["graphs"][name]["file"]
            data = path.with_name(path.name + ".data")
            disk += path.stat().st_size + (data.stat().st_size if data.exists() else 0)
            keep.append(ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]))
        rows.append((group, len(names), rss_gb() - before, disk / 1e9))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="export real-width VJP graphs with random weights")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--only", nargs="*", default=["secondary", "rn50"],
                   choices=["secondary", "rn50", "rn50_loss", "vitb16_loss", "vitb32_loss"])
    t = sub.add_parser("time", help="time VJP graphs")
    t.add_argument("graphs", nargs="+", type=Path)
    t.add_argument("--batch", type=int, default=1)
    t.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    t.add_argument("--runs", type=int, default=3)
    t.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("profile", help="where one graph's time goes, per operator type and node")
    p.add_argument("graph", type=Path)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--top", type=int, default=12)
    mem = sub.add_parser("memory", help="resident memory of the UNet-guided path's sessions, group by group")
    mem.add_argument("set", type=Path)
    mem.add_argument("--lean", choices=["none", "unet", "all"], default="unet",
                     help="groups opened as disco's lean sessions: none, the checkpointed UNet's (disco's renderer, "
                          "the default), or all")
    args = ap.parse_args(argv)
    if args.cmd == "memory":
        print("| sessions | count | GB resident | GB on disk |\n| --- | --- | --- | --- |")
        lean = {"none": (), "unet": ("checkpoint forward", "segment VJPs"),
                "all": ("checkpoint forward", "segment VJPs", "CLIP guidance graphs", "CLIP text encoders")}
        for group, n, resident, disk in session_memory(args.set, lean=lean[args.lean]):
            print(f"| {group} | {n} | {resident:.2f} | {disk:.2f} |", flush=True)
        return
    if args.cmd == "profile":
        load_before = os.getloadavg()[0]
        wall, ops, nodes = profile_graph(args.graph, args.batch, tuple(args.size), args.runs, args.threads)
        kernels = sum(ops.values())
        print(f"{args.graph.name}: batch {args.batch}, {args.threads} threads, median run {wall:.3f} s, kernels "
              f"{kernels:.3f} s; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
        print("| operator | s per run | share of kernel time |\n| --- | --- | --- |")
        for op, s in sorted(ops.items(), key=lambda kv: -kv[1]):
            if s >= 0.005 * kernels:
                print(f"| {op} | {s:.4f} | {100 * s / kernels:.1f} % |")
        print(f"\n| node (slowest {args.top}) | operator | s per run |\n| --- | --- | --- |")
        for n, (op, s) in sorted(nodes.items(), key=lambda kv: -kv[1][1])[: args.top]:
            print(f"| {n} | {op} | {s:.4f} |")
        return
    if args.cmd == "export":
        export_graphs(args.out, set(args.only))
        return
    load_before = os.getloadavg()[0]
    results = time_graphs(args.graphs, args.batch, tuple(args.size), args.runs, args.threads)
    print(f"batch {args.batch}, size {args.size[0]}x{args.size[1]} (graphs with H, W axes), {args.threads} threads, "
          f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    for path, (load, first, times) in zip(args.graphs, results):
        print(f"{path}: median {statistics.median(times):.3f} s (runs {', '.join(f'{x:.3f}' for x in times)}; "
              f"first run {first:.3f} s, session load {load:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
