"""Golden values for disco's 3D warp kernel (crates/kernels/src/anim/warp3d), from a small PyTorch re-implementation
of Disco Diffusion's transform_image_3d (disco_xform_utils.py; dd-algorithm.md §10.4).

pytorch3d is not needed: the Euler rotation, the FoV perspective projection and transform_points
are rebuilt here with torch in float64, exactly as pytorch3d defines them; the sampling itself is
PyTorch's own affine_grid and grid_sample, the functions DD calls. DD runs all of this in float32;
the golden is float64 so that a comparison measures the semantics, not the rounding.

Writes, under tests/fixtures/anim3d/:
  cases.json     one entry per case: its parameters (DD units), the pose the golden built from them
                 (rotation matrix R, translation T) and the byte layout of its .bin file;
  <name>.bin     raw little-endian numbers, one array after another:
                   image  f32 [C, H, W]  input, RGB in [0, 1] (8-bit levels k/255, as to_tensor gives)
                   depth  f32 [H, W]     input depth map (what DD makes from MiDaS: (50 - pred)/19)
                   grid   f64 [H, W, 2]  the sampling grid passed to grid_sample, last axis (x, y)
                   output f64 [C, H, W]  the warped image, clamped to [0, 1]
The inputs are f32 because the Rust kernel takes f32 images and depth maps; every computation on
them here is float64.

Re-run (CPU only, a few seconds):

  .venv/bin/python tests/golden-gen/warp3d_golden.py

CI does not need any of this: the outputs are committed.
"""

import argparse
import json
import math
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "anim3d"
TRANSLATION_SCALE = 1.0 / 200.0  # DD: translations are given in 1/200 of the scene's unit
DT = torch.float64

# DD's defaults (dd-algorithm.md §2.4): near 200, far 10000, fov 40.
DD_CAMERA = dict(near=200.0, far=10000.0, fov=40.0)

# name, (height, width), depth kind, translation (x, y, z), rotation degrees (x, y, z), camera,
#   padding_mode, sampling_mode
CASES = [
    ("identity", (16, 20), "smooth", (0, 0, 0), (0, 0, 0), DD_CAMERA, "border", "bicubic"),
    ("rot-x", (16, 20), "smooth", (0, 0, 0), (3, 0, 0), DD_CAMERA, "border", "bicubic"),
    ("rot-y", (16, 20), "smooth", (0, 0, 0), (0, -2.5, 0), DD_CAMERA, "zeros", "bilinear"),
    ("rot-z", (16, 20), "smooth", (0, 0, 0), (0, 0, 7), DD_CAMERA, "reflection", "nearest"),
    ("tx-ty", (16, 20), "smooth", (10, -6, 0), (0, 0, 0), DD_CAMERA, "border", "bilinear"),
    ("tz-forward", (16, 20), "smooth", (0, 0, 10), (0, 0, 0), DD_CAMERA, "reflection", "bicubic"),
    ("tz-back", (16, 20), "smooth", (0, 0, -25), (0, 0, 0), DD_CAMERA, "zeros", "bicubic"),
    ("combined-fov60", (17, 24), "smooth", (4, 3, 8), (1.5, -2, 4), dict(near=200.0, far=10000.0, fov=60.0),
     "border", "bicubic"),
    ("edge-bilinear", (16, 20), "edge", (6, 0, 5), (0, 1.5, 0), DD_CAMERA, "border", "bilinear"),
    ("edge-bicubic", (17, 24), "edge", (-5, 4, 12), (-1, 0, 2), DD_CAMERA, "zeros", "bicubic"),
    ("far-reflection-bilinear", (16, 20), "smooth", (60, -45, 0), (0, 0, 25), DD_CAMERA, "reflection", "bilinear"),
    ("far-reflection-bicubic", (12, 14), "smooth", (-70, 90, 30), (0, 0, -40), dict(near=10.0, far=500.0, fov=25.0),
     "reflection", "bicubic"),
    ("nearest-zeros", (16, 20), "smooth", (15, 9, 6), (0, 0, -6), DD_CAMERA, "zeros", "nearest"),
    ("nearest-border", (17, 24), "edge", (-20, 0, 0), (2, 0, 10), dict(near=50.0, far=2000.0, fov=90.0),
     "border", "nearest"),
    ("near-far-irrelevant-xy", (16, 20), "smooth", (7, 7, 7), (1, 1, 1), dict(near=1.0, far=3.0, fov=40.0),
     "border", "bicubic"),
    ("one-column", (5, 1), "smooth", (3, -4, 2), (0, 0, 5), DD_CAMERA, "border", "bilinear"),
]


def axis_rotation(axis, angle):
    """pytorch3d's _axis_angle_rotation: the matrix that DD's points are multiplied by (row vectors)."""
    c, s = math.cos(angle), math.sin(angle)
    if axis == "X":
        m = [[1, 0, 0], [0, c, -s], [0, s, c]]
    elif axis == "Y":
        m = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    else:
        m = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    return torch.tensor(m, dtype=DT)


def euler_xyz(degrees):
    """euler_angles_to_matrix(radians(angles), "XYZ") = Rx @ Ry @ Rz."""
    rx, ry, rz = (axis_rotation(a, math.radians(d)) for a, d in zip("XYZ", degrees))
    return rx @ ry @ rz


def projection(near, far, fov_deg):
    """FoVPerspectiveCameras.compute_projection_matrix with aspect_ratio 1 (column-vector form K)."""
    tan_half = math.tan(math.radians(fov_deg) / 2)
    max_y = tan_half * near
    min_y = -max_y
    max_x = max_y * 1.0
    min_x = -max_x
    k = torch.zeros(4, 4, dtype=DT)
    k[0, 0] = 2 * near / (max_x - min_x)
    k[1, 1] = 2 * near / (max_y - min_y)
    k[0, 2] = (max_x + min_x) / (max_x - min_x)
    k[1, 2] = (max_y + min_y) / (max_y - min_y)
    k[3, 2] = 1.0
    k[2, 2] = far / (far - near)
    k[2, 3] = -(far * near) / (far - near)
    return k


def full_transform(r, t, k):
    """get_full_projection_transform as one row-vector 4x4: world->view (X @ R + T), then K^T."""
    w2v = torch.eye(4, dtype=DT)
    w2v[:3, :3] = r
    w2v[3, :3] = t
    return w2v @ k.T


def transform_points(points, m):
    """Transform3d.transform_points with eps=None: homogeneous row vectors, divided by w."""
    ones = torch.ones(points.shape[0], 1, dtype=DT)
    out = torch.cat([points, ones], 1) @ m
    return out[:, :3] / out[:, 3:]


def transform_image_3d(image, depth, r, t, near, far, fov, padding_mode, sampling_mode):
    """DD's transform_image_3d (spherical=False) in float64. image [3, H, W], depth [H, W]."""
    _, h, w = image.shape
    y, x = torch.meshgrid(
        torch.linspace(-1.0, 1.0, h, dtype=DT), torch.linspace(-1.0, 1.0, w, dtype=DT), indexing="ij"
    )
    xyz = torch.stack((x.flatten(), y.flatten(), depth.flatten()), dim=1)
    k = projection(near, far, fov)
    xy_old = transform_points(xyz, full_transform(torch.eye(3, dtype=DT), torch.zeros(3, dtype=DT), k))[:, 0:2]
    xy_new = transform_points(xyz, full_transform(r, t, k))[:, 0:2]
    offset = xy_new - xy_old
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=DT).unsqueeze(0)
    coords = F.affine_grid(identity, [1, 1, h, w], align_corners=False)
    grid = coords - torch.reshape(offset, (h, w, 2)).unsqueeze(0)
    new = F.grid_sample(
        image.add(1 / 512 - 0.0001).unsqueeze(0),
        grid,
        mode=sampling_mode,
        padding_mode=padding_mode,
        align_corners=False,
    )
    return grid[0], new.squeeze(0).clamp(0, 1.0)


def make_image(rng, h, w):
    """Gradients plus 8-bit noise, levels k/255: every interpolation error shows; some pixels are
    near 1 so the +1/512 shift is clamped."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / max(w - 1, 1), yy / max(h - 1, 1), 0.5 + 0.5 * np.sin(xx * 0.9 + yy * 0.4)])
    noisy = 0.7 * base + 0.3 * rng.random((3, h, w))
    noisy[:, 0, 0] = 1.0
    return np.round(noisy * 255) / 255


def make_depth(rng, h, w, kind):
    """Depths in DD's range ((50 - pred)/19 for MiDaS predictions of roughly 0..30: ~1..2.6)."""
    yy, xx = np.mgrid[0:h, 0:w]
    v, u = yy / max(h - 1, 1), xx / max(w - 1, 1)
    if kind == "smooth":
        pred = 10 + 12 * u + 6 * np.sin(3 * v) + rng.random((h, w)) * 0.5
    else:  # a foreground object with a sharp edge in front of a far wall
        pred = np.where((u > 0.3) & (u < 0.7) & (v > 0.25), 30.0, 2.0) + 0.1 * v
    return (50 - pred) / 19


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    entries = []
    for name, (h, w), depth_kind, tr, rot, cam, padding, sampling in CASES:
        # the inputs are stored as f32, so compute from exactly those values
        image32 = make_image(rng, h, w).astype("<f4")
        depth32 = make_depth(rng, h, w, depth_kind).astype("<f4")
        image = torch.from_numpy(image32.astype(np.float64))
        depth = torch.from_numpy(depth32.astype(np.float64))
        tx, ty, tz = (float(v) for v in tr)
        translate = torch.tensor(
            [-tx * TRANSLATION_SCALE, ty * TRANSLATION_SCALE, -tz * TRANSLATION_SCALE], dtype=DT
        )
        r = euler_xyz([float(v) for v in rot])
        grid, out = transform_image_3d(image, depth, r, translate, cam["near"], cam["far"], cam["fov"], padding, sampling)
        grid_np = grid.numpy().astype("<f8")
        out_np = out.numpy().astype("<f8")
        assert np.isfinite(grid_np).all() and np.isfinite(out_np).all(), name
        blob = image32.tobytes() + depth32.tobytes() + grid_np.tobytes() + out_np.tobytes()
        (OUT / f"{name}.bin").write_bytes(blob)
        entries.append(
            {
                "name": name,
                "height": h,
                "width": w,
                "channels": 3,
                "translation": [tx, ty, tz],
                "rotation_deg": [float(v) for v in rot],
                "near": cam["near"],
                "far": cam["far"],
                "fov": cam["fov"],
                "padding_mode": padding,
                "sampling_mode": sampling,
                "R": r.tolist(),
                "T": translate.tolist(),
                "file": f"{name}.bin",
                "layout": ["image f32 [C,H,W]", "depth f32 [H,W]", "grid f64 [H,W,2]", "output f64 [C,H,W]"],
            }
        )
    doc = {"made_by": f"tests/golden-gen/warp3d_golden.py, torch {torch.__version__}", "cases": entries}
    (OUT / "cases.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
