"""Golden values for disco's 2D animation math (crates/kernels/src/anim), computed independently in Python.

Writes, under tests/fixtures/anim/:
  series.json          keyframe series exactly as Disco Diffusion's get_inbetweens builds them
                       with pandas (dd-algorithm.md §10.1);
  pattern.png          the synthetic RGB test pattern the warp cases start from;
  warp-<tag>.json      DD's 2D warp matrix per case (§10.3), and
  warp-<tag>-<i>.png   cv2.warpPerspective(..., borderMode=cv2.BORDER_WRAP) of the pattern.

<tag> is "cv4" for OpenCV <= 4.10 (fixed-point bilinear, 1/32-pixel steps: what DD ran with) and
"cv5" for OpenCV >= 4.11 (float32 bilinear kernels). Run once with each to refresh both:

  .venv/bin/pip install pandas scipy opencv-python-headless            # -> cv5
  .venv/bin/python tests/golden-gen/anim_golden.py
  pip install --target /tmp/cv4 --no-deps opencv-python-headless==4.10.0.84
  PYTHONPATH=/tmp/cv4 .venv/bin/python tests/golden-gen/anim_golden.py --warp-only   # -> cv4

CI does not need any of this: the outputs are committed.
"""

import argparse
import json
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "anim"

# (DD keyframe string, max_frames, interp_spline)
SERIES_CASES = [
    ("0: (1), 10: (1.05)", 20, "Linear"),  # DD's default zoom
    ("5: (2), 12: (-1)", 20, "Linear"),  # before the first / after the last key
    ("7: (0.5)", 10, "Cubic"),  # one key: cubic -> quadratic -> linear
    ("0: (3)", 1, "Linear"),  # a single frame
    ("0: (0), 10: (5)", 16, "Quadratic"),  # 2 keys: quadratic -> linear
    ("0: (0), 10: (5), 25: (-3)", 40, "Quadratic"),
    ("0: (0), 10: (5), 25: (-3)", 40, "Cubic"),  # 3 keys: cubic -> quadratic
    ("2: (1), 9: (4), 17: (2), 30: (-1), 31: (0.5)", 45, "Quadratic"),
    ("0: (0), 7: (3), 15: (-2), 30: (4), 44: (1)", 60, "Cubic"),
    ("3: (1), 9: (2), 20: (0), 26: (5)", 35, "Cubic"),  # 0 and 34 added: 6 points
    ("0: (1), 11: (2), 22: (0), 33: (4)", 34, "Cubic"),  # last key at max_frames-1: 4 points
    ("0: (1), 5: (2), 50: (3)", 10, "Linear"),  # a key beyond the end
    ("0: (1), 5: (2), 50: (3)", 10, "Quadratic"),  # ... which still shapes the spline
    ("0: (1), 4: (0), 6: (2), 50: (3), 60: (-1)", 10, "Cubic"),
    ("0: (1), 9: (2), 50: (3)", 10, "Linear"),  # frame 9's key is overwritten by the last key's
    (", ".join(f"{f}: ({v})" for f, v in zip(range(0, 200, 17), np.sin(np.arange(12)) * 3)), 200, "Cubic"),
]

# (width, height, angle degrees, zoom, translation_x, translation_y)
WARP_CASES = [
    (53, 37, 0.0, 1.0, 0.0, 0.0),
    (53, 37, 0.0, 1.05, 0.0, 0.0),  # DD's default zoom step
    (53, 37, 10.0, 1.0, 0.0, 0.0),
    (53, 37, -7.5, 0.9, 3.25, -2.5),  # zoom out: the wrap fills the border
    (53, 37, 3.0, 1.02, -60.7, 41.3),  # translations beyond the image size
    (53, 37, 0.0, 1.0, 5.0, -3.0),
    (64, 48, 45.0, 1.3, 0.1, 0.7),
]


def parse_key_frames(string):
    import re

    pattern = r"((?P<frame>[0-9]+):[\s]*[\(](?P<param>[\S\s]*?)[\)])"
    frames = {}
    for m in re.finditer(pattern, string):
        frames[int(m.group("frame"))] = float(m.group("param"))
    return frames


def get_inbetweens(key_frames, max_frames, interp_spline):
    """DD's function (dd-algorithm.md §10.1), keys inserted in frame order."""
    import pandas as pd

    series = pd.Series([np.nan] * max_frames)
    for i, value in sorted(key_frames.items()):
        series[i] = value
    series = series.astype(float)
    method = interp_spline
    if method == "Cubic" and len(key_frames) <= 3:
        method = "Quadratic"
    if method == "Quadratic" and len(key_frames) <= 2:
        method = "Linear"
    series[0] = series[series.first_valid_index()]
    series[max_frames - 1] = series[series.last_valid_index()]
    series = series.interpolate(method=method.lower(), limit_direction="both")
    return [float(series[f]) for f in range(max_frames)]


def write_series():
    import pandas
    import scipy

    cases = []
    for text, max_frames, spline in SERIES_CASES:
        keys = parse_key_frames(text)
        values = get_inbetweens(keys, max_frames, spline)
        assert len(values) == max_frames and all(np.isfinite(values)), text
        cases.append(
            {
                "text": text,
                "keys": [[f, v] for f, v in sorted(keys.items())],
                "max_frames": max_frames,
                "spline": spline,
                "values": values,
            }
        )
    doc = {
        "made_by": f"tests/golden-gen/anim_golden.py, pandas {pandas.__version__}, scipy {scipy.__version__}",
        "cases": cases,
    }
    (OUT / "series.json").write_text(json.dumps(doc, indent=1) + "\n")


def pattern(width, height):
    """Gradients, a checkerboard and a hash texture: every interpolation error shows."""
    y, x = np.mgrid[0:height, 0:width]
    r = x * 255 // (width - 1)
    g = y * 255 // (height - 1)
    b = ((x // 4 + y // 4) % 2) * 200 + (x * 7 + y * 13) % 50
    return np.stack([r, g, b], -1).astype(np.uint8)


def dd_matrix(cv2, width, height, angle, zoom, tx, ty):
    """DD's code verbatim in effect: float32 translation, OpenCV rotation, M = Rot @ Trans."""
    center = (width // 2, height // 2)
    trans_mat = np.float32([[1, 0, tx], [0, 1, ty]])
    rot_mat = cv2.getRotationMatrix2D(center, angle, zoom)
    trans_mat = np.vstack([trans_mat, [0, 0, 1]])
    rot_mat = np.vstack([rot_mat, [0, 0, 1]])
    return np.matmul(rot_mat, trans_mat)


def write_warp():
    import cv2

    major, minor = (int(p) for p in cv2.__version__.split(".")[:2])
    tag = "cv4" if (major, minor) <= (4, 10) else "cv5"
    sizes = sorted({(w, h) for w, h, *_ in WARP_CASES})
    for w, h in sizes:
        # PNG files are RGB; cv2 writes channel 0 as blue, so reverse.
        cv2.imwrite(str(OUT / f"pattern-{w}x{h}.png"), pattern(w, h)[..., ::-1])
    cases = []
    for i, (w, h, angle, zoom, tx, ty) in enumerate(WARP_CASES):
        m = dd_matrix(cv2, w, h, angle, zoom, tx, ty)
        img = pattern(w, h)
        out = cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_WRAP)
        name = f"warp-{tag}-{i}.png"
        cv2.imwrite(str(OUT / name), out[..., ::-1])
        cases.append(
            {
                "width": w,
                "height": h,
                "angle": angle,
                "zoom": zoom,
                "translation_x": tx,
                "translation_y": ty,
                "matrix": m.tolist(),
                "source": f"pattern-{w}x{h}.png",
                "warped": name,
            }
        )
    doc = {"made_by": f"tests/golden-gen/anim_golden.py, OpenCV {cv2.__version__}", "cases": cases}
    (OUT / f"warp-{tag}.json").write_text(json.dumps(doc, indent=1) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warp-only", action="store_true", help="skip the series (pandas not needed)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if not args.warp_only:
        write_series()
    write_warp()


if __name__ == "__main__":
    main()
