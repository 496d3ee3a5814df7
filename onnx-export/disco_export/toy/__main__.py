"""Re-make the toy model set from nothing: train the three models (fixed seed, one thread each) and export them.

Usage: nice -n 19 python -m disco_export.toy [--out models/toy] [--checkpoints DIR] [--parallel]

--parallel trains the UNet in one process while the CLIP and then the secondary model train in another (two
cores); otherwise the three run one after the other. Each model's metrics are printed and stored beside its
checkpoint (docs/toy-models.md lists the shipped weights' numbers).
"""

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from . import export, train


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m disco_export.toy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=export.REPO / "models" / "toy")
    p.add_argument("--checkpoints", type=Path, default=train.DEFAULT_OUT)
    p.add_argument("--parallel", action="store_true", help="train on two processes (see above)")
    args = p.parse_args(argv)
    ck = ["--out", str(args.checkpoints)]
    cmd = [sys.executable, "-m", "disco_export.toy.train"]
    stage1 = args.checkpoints / "stage1"
    # the UNet in two stages: stage1/unet.pt, then from it the shipped unet.pt
    unet = (cmd + ["unet", "--out", str(stage1)],
            cmd + ["unet", "--init", str(stage1 / "unet.pt")] + train.UNET_STAGE2 + ck)
    if args.parallel:
        proc = subprocess.Popen(f"{shlex.join(unet[0])} && {shlex.join(unet[1])}", shell=True)
        rc = subprocess.call(cmd + ["clip"] + ck) or subprocess.call(cmd + ["secondary"] + ck)
        rc = proc.wait() or rc
    else:
        rc = subprocess.call(cmd + ["clip"] + ck) or subprocess.call(unet[0]) or subprocess.call(unet[1])
        rc = rc or subprocess.call(cmd + ["secondary"] + ck)
    if rc:
        return rc
    return export.main(["--checkpoints", str(args.checkpoints), "--out", str(args.out)])


if __name__ == "__main__":
    sys.exit(main())
