"""Replay a disco render trace (docs/trace.md) in PyTorch and report how far it agrees with the Rust render.

Rebuilds the trace's tiny model set from its seed (real sets cannot be rebuilt here: no checkpoints), replays
every step teacher-forced (each evaluation and step from the trace's recorded inputs) and free (from x_start on
its own outputs with the recorded noise and draws), and writes a JSON report of relative errors ‖a−b‖/‖b‖.

Example: python -m disco_export.reference --trace target/trace-ddim --out report.json
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from .models import NotTiny, rebuild_tiny
from .replay import replay
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
        models = rebuild_tiny(models_dir, trace.spec["clip_models"], seed=args.seed)
    except NotTiny as e:
        log(f"cannot replay: {e}")
        return 2
    t0 = time.perf_counter()
    report = replay(trace, models, noise_floor=args.noise_floor)
    log(f"replayed {len(trace.doc['steps'])} steps in {time.perf_counter() - t0:.1f} s")
    for run in ("teacher_forced", "free"):
        for stat in ("max", "median"):
            log(f"{run} {stat}: " + ", ".join(f"{k} {v:.2e}" for k, v in report[run][stat].items()))
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
