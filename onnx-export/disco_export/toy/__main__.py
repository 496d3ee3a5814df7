"""Re-make the toy model set from nothing: train the three models (fixed seed, one thread each) and export them.

Usage: nice -n 19 python -m disco_export.toy [--out models/toy] [--checkpoints DIR] [--parallel]

--parallel trains the UNet in one process while the CLIP and then the secondary model train in another (two
cores); otherwise the three run one after the other. Each model's metrics are printed and stored beside its
checkpoint (docs/toy-models.md lists the shipped weights' numbers).
"""

import argparse
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
    if args.parallel:
        unet = subprocess.Popen(cmd + ["unet"] + ck)
        rc = subprocess.call(cmd + ["clip"] + ck) or subprocess.call(cmd + ["secondary"] + ck)
        rc = unet.wait() or rc
    else:
        rc = 0
        for model in ("clip", "unet", "secondary"):
            rc = rc or subprocess.call(cmd + [model] + ck)
    if rc:
        return rc
    return export.main(["--checkpoints", str(args.checkpoints), "--out", str(args.out)])


if __name__ == "__main__":
    sys.exit(main())
