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


def stages(checkpoints):
    """The training runs that made the shipped set, as ``python -m disco_export.toy.train`` arguments, under the
    names of the manifest's ``toy.training`` records: the CLIP, the UNet's two stages (stage1/unet.pt, then from
    its EMA weights the shipped unet.pt) and the secondary model."""
    checkpoints = Path(checkpoints)
    ck = ["--out", str(checkpoints)]
    stage1 = checkpoints / "stage1"
    return {"clip": ["clip"] + ck,
            "unet_stage1": ["unet", "--out", str(stage1)],
            "unet": ["unet", "--init", str(stage1 / "unet.pt")] + train.UNET_STAGE2 + ck,
            "secondary": ["secondary"] + ck}


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
        unet = f"{shlex.join(runs['unet_stage1'])} && {shlex.join(runs['unet'])}"
        proc = subprocess.Popen(unet, shell=True)
        rc = subprocess.call(runs["clip"]) or subprocess.call(runs["secondary"])
        rc = proc.wait() or rc
    else:
        rc = 0
        for name in ("clip", "unet_stage1", "unet", "secondary"):
            rc = rc or subprocess.call(runs[name])
    if rc:
        return rc
    return export.main(["--checkpoints", str(args.checkpoints), "--out", str(args.out)])


if __name__ == "__main__":
    sys.exit(main())
