"""Replay a disco render trace (docs/trace.md) in PyTorch and report how far it agrees with the Rust render.

Rebuilds the trace's tiny or --random-weights model set from its seed (sets exported from checkpoints cannot be
rebuilt here: no checkpoints), replays
every step teacher-forced (each evaluation and step from the trace's recorded inputs) and free (from x_start on
its own outputs with the recorded noise and draws), each with the trace's augmentation clamp ties forced to
disco's branch and unforced, and writes a JSON report of relative errors ‖a−b‖/‖b‖.

Example: python -m disco_export.reference --trace target/trace-ddim --out report.json
"""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

from .ddstep import time_dd_style
from .models import NotTiny, rebuild
from .replay import Replayer, replay
from .trace import Trace


def parser():
    p = argparse.ArgumentParser(prog="python -m disco_export.reference", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trace", type=Path, required=True, help="trace directory (trace.json + tensors.bin)")
    p.add_argument("--out", type=Path, help="write the JSON report here (default: stdout)")
    p.add_argument("--models", type=Path,
                   help="model-set directory (default: the trace's \"models\", relative to the trace if not absolute)")
    p.add_argument("--seed", type=int, default=0, help="seed the tiny set was exported with (default: %(default)s)")
    p.add_argument("--noise-floor", action="store_true",
                   help="also measure each teacher-forced gradient's noise floor (its change under 1e-6 relative "
                        "input noise; one more cond_fn per evaluation)")
    p.add_argument("--no-unforced", action="store_true",
                   help="skip the unforced runs (torch deciding every augmentation clamp itself)")
    p.add_argument("--time", action="store_true",
                   help="only time one free run (clamp ties forced) and report seconds per step "
                        "(\"seconds_per_step\"; a step is one UNet evaluation and one cond_fn, as disco's)")
    p.add_argument("--dd-style", action="store_true",
                   help="with --time: run cond_fn as Disco Diffusion does (autograd.grad to x_in per CLIP batch, "
                        "one backward through the denoiser) and report each step's time per model and pass "
                        "(\"dd_style\"; benches/render_step_real.rs)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: %(default)s)")
    return p


def log(msg):
    print(f"[reference] {msg}", file=sys.stderr, flush=True)


def main(argv=None):
    args = parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    trace = Trace(args.trace)
    models_dir = args.models or Path(trace.doc["models"])
    if not models_dir.is_absolute() and not models_dir.exists():
        models_dir = args.trace / models_dir
    try:
        models = rebuild(models_dir, trace.spec["clip_models"], seed=args.seed)
    except NotTiny as e:
        log(f"cannot replay: {e}")
        return 2
    n_steps = len(trace.doc["steps"])
    if args.time:
        t0 = time.perf_counter()
        dd = None
        if args.dd_style:
            dd, free = time_dd_style(trace, models)
        else:
            free = Replayer(trace, models).run(free=True)
        per_step = (time.perf_counter() - t0) / n_steps
        log(f"{per_step:.3f} s per step over {n_steps} steps")
        report = {"trace": str(trace.dir), "steps": n_steps, "seconds_per_step": per_step,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "free": free}
        if dd is not None:
            report["dd_style"] = dd
            for i, step in enumerate(dd["steps"]):
                log(f"step {i}: {step['seconds']:.2f} s " + ", ".join(f"{k} {v:.2f}" for k, v in step["parts"].items()))
    else:
        t0 = time.perf_counter()
        report = replay(trace, models, noise_floor=args.noise_floor, unforced=not args.no_unforced)
        log(f"replayed {n_steps} steps in {time.perf_counter() - t0:.1f} s")
    for run in ("teacher_forced", "free", "teacher_forced_unforced", "free_unforced"):
        if run not in report:
            continue
        for stat in ("max", "median"):
            log(f"{run} {stat}: " + ", ".join(f"{k} {v:.2e}" for k, v in report[run][stat].items()))
        log(f"{run} clamp ties: " + ", ".join(f"{k} {v}" for k, v in report[run]["ties"].items()))
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
