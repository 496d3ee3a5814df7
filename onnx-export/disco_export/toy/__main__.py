"""Re-make the toy model set from nothing: train its models (fixed seeds, one thread each) and export them.

Usage: nice -n 19 python -m disco_export.toy [--out models/toy] [--checkpoints DIR] [--parallel]

--parallel trains the UNet in one process while the two CLIPs, the LPIPS, the secondary model, the depth models and
the flow model train one after another in a second (two cores); otherwise all run one after the other. Each model's
metrics are printed and stored beside its
checkpoint (docs/toy-models.md lists the shipped weights' numbers).
"""

import argparse
import subprocess
import sys
from pathlib import Path

from . import export, train


def stages(checkpoints):
    """The training runs that made the shipped set, as ``python -m disco_export.toy.train`` arguments, under the
    names of the manifest's ``toy.training`` records (train.RECIPES), writing into ``checkpoints`` (a first
    stage into ``checkpoints/stage1``)."""
    checkpoints = Path(checkpoints)
    stage1 = checkpoints / "stage1"
    out = {}
    for name, argv in train.RECIPES.items():
        argv = [a.replace("{stage1}", str(stage1)) for a in argv]
        out[name] = argv + ["--out", str(stage1 if name.endswith("_stage1") else checkpoints)]
    return out


# --parallel: the UNet on one core; the CLIPs, LPIPS, the secondary model, the depth and flow models one after another
# on the other.
SECOND_PROCESS = ("clip_ViTB32_stage1", "clip_RN50", "lpips", "secondary", "clip_ViTB32", "midas", "adabins", "flow")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m disco_export.toy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=export.REPO / "models" / "toy")
    p.add_argument("--checkpoints", type=Path, default=train.DEFAULT_OUT)
    p.add_argument("--parallel", action="store_true", help="train on two processes (see above)")
    args = p.parse_args(argv)
    cmd = [sys.executable, "-m", "disco_export.toy.train"]
    runs = {name: cmd + argv for name, argv in stages(args.checkpoints).items()}
    if args.parallel:
        proc = subprocess.Popen(runs["unet"])
        rc = 0
        for name in SECOND_PROCESS:
            rc = rc or subprocess.call(runs[name])
        rc = proc.wait() or rc
    else:
        rc = 0
        for name in ("unet",) + SECOND_PROCESS:
            rc = rc or subprocess.call(runs[name])
    if rc:
        return rc
    return export.main(["--checkpoints", str(args.checkpoints), "--out", str(args.out)])


if __name__ == "__main__":
    sys.exit(main())
