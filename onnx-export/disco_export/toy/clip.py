"""Render the toy clip of ``examples/restyle``: a red ball rolling across a green ground under a cyan sky, a
yellow sun that stays, 12 frames of 64×64 (motion.clip), encoded to an H.264 mp4 by disco's ``disco-video``
helper (src/bin/disco-video.rs); without a helper the PNG frames are written to OUT/frames for encoding later. The clip's true flows are what a flow
model should find between its frames (train_flow's metrics are on other clips).

Usage: python -m disco_export.toy.clip [--out examples/restyle] [--disco-video target/debug/disco-video]
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import classify, motion, scenes

REPO = Path(__file__).resolve().parents[3]
FRAMES = 12
FPS = 12
# The ball: radius 8, on the ground with its top at the horizon (y = 32), rolling right at 3 px a frame from
# x = 14 to x = 47.
BALL = scenes.Obj("circle", "red", 14.0, 40.0, 8.0)
SUN = scenes.Obj("circle", "yellow", 50.0, 13.0, 6.0)
VELOCITIES = [(3.0, 0.0), (0.0, 0.0)]


def source_clip(n=FRAMES):
    """The clip's frames uint8 (n, 64, 64, 3) and true flows float32 (n − 1, 64, 64, 2) (motion.clip)."""
    scene = scenes.Scene([BALL, SUN], ("cyan", "green"), "horizontal",
                         "a red circle on a cyan and green background")
    return motion.clip(scene, VELOCITIES, n)


def find_helper():
    for profile in ("release", "debug"):
        path = REPO / "target" / profile / "disco-video"
        if path.is_file():
            return path
    return None


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m disco_export.toy.clip", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / "examples" / "restyle",
                   help="writes OUT/source.mp4, or OUT/frames/000.png … without a helper (default: %(default)s)")
    p.add_argument("--frames", type=int, default=FRAMES, help="clip length (default: %(default)s)")
    p.add_argument("--disco-video", type=Path, default=find_helper(),
                   help="the helper that encodes (default: target/release or target/debug's; none: PNGs only)")
    p.add_argument("--crf", type=int, default=10, help="H.264 quality, 0 = lossless (default: %(default)s)")
    args = p.parse_args(argv)
    frames, _ = source_clip(args.frames)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) if args.disco_video is not None else args.out / "frames"
        folder.mkdir(exist_ok=True)
        paths = []
        for i, img in enumerate(frames):
            paths.append(folder / f"{i:03d}.png")
            classify.write_png(paths[-1], img)
        if args.disco_video is None:
            print(f"[toy.clip] no disco-video helper (cargo build): {len(paths)} frames -> {folder}", file=sys.stderr)
            return 0
        cmd = [str(args.disco_video), "encode", "--out", str(args.out / "source.mp4"), "--fps", str(FPS),
               "--crf", str(args.crf), "--preset", "veryslow", *map(str, paths)]
        return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
