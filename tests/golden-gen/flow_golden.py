"""Golden values for disco's Video Input flow kernels (crates/kernels/src/anim/flow.rs), from a small
PyTorch / numpy re-implementation of Disco Diffusion's optical-flow init (dd-algorithm.md §10.5):

  warp_flow(img, flow): map = flow + pixel grid; cv2.remap(img, map, None, cv2.INTER_LINEAR)
      (OpenCV's default border: constant 0). For float maps that is PyTorch's
      grid_sample(mode="bilinear", padding_mode="zeros", align_corners=True) with the map
      normalised to [-1, 1] by (2 * p / (size - 1) - 1), which is what this script calls.
  consistency(fwd, bwd): 1 where |fwd(p) + bwd(p + fwd(p))|^2 <= 0.01 (|fwd|^2 + |bwd|^2) + 0.5
      (Sundaram, Brox & Keutzer 2010), bwd sampled bilinearly, 0 where p + fwd(p) leaves the frame.
  blend: warped = warped * w + source * (1 - w) with the consistency weights w (when checked),
      then init = source * (1 - blend) + warped * blend (DD's warp(), before its uint8 cast).

Inputs are float32 (what the Rust kernel takes); every computation here is float64, so a
comparison measures the semantics, not the rounding. Writes tests/fixtures/flow/golden.json:
a list of cases, arrays flattened in row-major [H, W, C] order.

Re-run (CPU only, about a second):

  .venv/bin/python tests/golden-gen/flow_golden.py

CI does not need any of this: the output is committed.
"""

import json
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "flow" / "golden.json"

# name, (height, width), flow kind, blend
CASES = [
    ("small-smooth", (9, 11), "smooth", 0.999),
    ("large-leaves-frame", (12, 10), "large", 0.7),
    ("rotation", (16, 16), "rotation", 0.5),
    ("tall", (20, 7), "smooth", 0.25),
]


def make_flow(kind, h, w, rng):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    if kind == "smooth":
        fx = 1.7 * np.sin(x / 3.0 + 0.4) + 0.6 * np.cos(y / 2.0)
        fy = -1.3 * np.cos(y / 4.0) + 0.5 * np.sin(x / 5.0 + y / 7.0)
    elif kind == "large":
        fx = 4.0 * np.sin(x / 9.0) + 3.0 + rng.normal(0, 0.02, (h, w))
        fy = -5.0 * np.cos(y / 11.0) + rng.normal(0, 0.02, (h, w))
    else:  # a rotation about the centre by 9 degrees
        t = np.deg2rad(9.0)
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        fx = np.cos(t) * (x - cx) - np.sin(t) * (y - cy) + cx - x
        fy = np.sin(t) * (x - cx) + np.cos(t) * (y - cy) + cy - y
    return np.stack([fx, fy], axis=-1).astype(np.float32)


def remap(img, flow):
    """cv2.remap(img, grid + flow, INTER_LINEAR, BORDER_CONSTANT 0) through grid_sample."""
    h, w, _ = img.shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    sx = x + flow[..., 0].astype(np.float64)
    sy = y + flow[..., 1].astype(np.float64)
    grid = np.stack([2.0 * sx / (w - 1) - 1.0, 2.0 * sy / (h - 1) - 1.0], axis=-1)
    t_img = torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1)[None]
    t_grid = torch.from_numpy(grid)[None]
    out = F.grid_sample(t_img, t_grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out[0].permute(1, 2, 0).numpy()


def consistency(fwd, bwd):
    h, w, _ = fwd.shape
    f = fwd.astype(np.float64)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    tx, ty = x + f[..., 0], y + f[..., 1]
    inside = (tx >= 0) & (ty >= 0) & (tx <= w - 1) & (ty <= h - 1)
    b = remap(bwd, fwd)  # bwd sampled at p + fwd(p), zero outside
    miss = (f[..., 0] + b[..., 0]) ** 2 + (f[..., 1] + b[..., 1]) ** 2
    scale = (f ** 2).sum(-1) + (b ** 2).sum(-1)
    return (inside & (miss <= 0.01 * scale + 0.5)).astype(np.float64)


def blend(source, warped, weights, b):
    s = source.astype(np.float64)
    wp = warped
    if weights is not None:
        wp = wp * weights[..., None] + s * (1.0 - weights[..., None])
    return s * (1.0 - b) + wp * b


def main():
    rng = np.random.default_rng(16)
    cases = []
    for name, (h, w), kind, b in CASES:
        prev = rng.random((h, w, 3)).astype(np.float32)
        source = rng.random((h, w, 3)).astype(np.float32)
        fwd = make_flow(kind, h, w, rng)
        # a backward flow that undoes fwd in places and not in others
        bwd = (-fwd + rng.normal(0, 0.6, fwd.shape) * (rng.random((h, w, 1)) < 0.5) * 4).astype(np.float32)
        warped = remap(prev, fwd)
        mask = consistency(fwd, bwd)
        b32 = float(np.float32(b))
        cases.append(dict(
            name=name, h=h, w=w, blend=b32,
            prev=prev.ravel().tolist(), source=source.ravel().tolist(),
            fwd=fwd.ravel().tolist(), bwd=bwd.ravel().tolist(),
            remapped=warped.ravel().tolist(), mask=mask.ravel().tolist(),
            blended=blend(source, warped, None, b32).ravel().tolist(),
            blended_checked=blend(source, warped, mask, b32).ravel().tolist(),
        ))
        print(f"{name}: {h}x{w}, consistent {mask.mean():.2f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(cases))


if __name__ == "__main__":
    main()
