"""Golden values for disco's VR eye views (crates/kernels/src/anim/warp3d/spherical.rs), from a small PyTorch
re-implementation of Disco Diffusion's generate_eye_views (disco.py) and transform_image_3d(..., spherical=True) with
get_spherical_projection (disco_xform_utils.py; dd-algorithm.md §10.4).

The camera (rotation, FoV projection, transform_points) is warp3d_golden.py's, rebuilt with torch in float64 as
pytorch3d defines it; the sampling is PyTorch's own affine_grid and grid_sample, called as DD's spherical branch calls
them: the depth warp with the target's modes and align_corners=True (on affine_grid(align_corners=False)'s grid), then
bilinear, zero padding, align_corners=True through the spherical grid (centre (0, 0), magnitude -0.4), then the clamp.

Writes, under tests/fixtures/anim3d/vr/:
  cases.json     one entry per case: its parameters (DD units), the eye's pose (R, T) and the .bin layout;
  <name>.bin     raw little-endian numbers, one array after another:
                   image   f32 [C, H, W]  input, RGB in [0, 1] (8-bit levels k/255)
                   depth   f32 [H, W]     input depth map
                   grid    f64 [H, W, 2]  the depth warp's sampling grid, last axis (x, y)
                   sphere  f64 [H, W, 2]  get_spherical_projection's grid
                   output  f64 [C, H, W]  the eye's view, clamped to [0, 1]

Re-run (CPU only, a few seconds):

  .venv/bin/python tests/golden-gen/vr_golden.py
"""

import argparse
import importlib.util
import json
import math
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE.parents[0] / "fixtures" / "anim3d" / "vr"
DT = torch.float64

# the 3D camera and the inputs' makers are the frame warp golden's
_spec = importlib.util.spec_from_file_location("warp3d_golden", HERE / "warp3d_golden.py")
w3 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(w3)

DD_CAMERA = w3.DD_CAMERA

# name, (height, width), depth kind, eye (0 left, 1 right), vr_eye_angle (degrees), vr_ipd, camera,
#   padding_mode, sampling_mode
CASES = [
    ("dd-left", (16, 20), "smooth", 0, 0.5, 5.0, DD_CAMERA, "border", "bicubic"),
    ("dd-right", (16, 20), "smooth", 1, 0.5, 5.0, DD_CAMERA, "border", "bicubic"),
    ("still", (16, 20), "smooth", 0, 0.0, 0.0, DD_CAMERA, "border", "bicubic"),
    ("wide-left-bilinear", (17, 24), "edge", 0, 8.0, 40.0, DD_CAMERA, "border", "bilinear"),
    ("wide-right-nearest", (17, 24), "edge", 1, 8.0, 40.0, DD_CAMERA, "border", "nearest"),
    ("zeros-bicubic", (16, 20), "smooth", 0, 3.0, 25.0, DD_CAMERA, "zeros", "bicubic"),
    ("zeros-bilinear", (16, 20), "edge", 1, 3.0, 25.0, DD_CAMERA, "zeros", "bilinear"),
    ("zeros-nearest", (12, 14), "smooth", 0, 2.0, 60.0, DD_CAMERA, "zeros", "nearest"),
    ("reflection-bicubic", (16, 20), "smooth", 1, 20.0, 120.0, dict(near=10.0, far=500.0, fov=60.0),
     "reflection", "bicubic"),
    ("reflection-bilinear", (17, 24), "edge", 0, 15.0, 90.0, DD_CAMERA, "reflection", "bilinear"),
    ("reflection-nearest", (16, 20), "smooth", 1, 10.0, 30.0, dict(near=50.0, far=2000.0, fov=90.0),
     "reflection", "nearest"),
    ("one-column", (5, 1), "smooth", 0, 0.5, 5.0, DD_CAMERA, "border", "bilinear"),
]


def eye_pose(eye, eye_angle, ipd):
    """generate_eye_views: the eye's rotation (about y, radians) and translation."""
    theta = eye_angle * (math.pi / 180)
    ray_origin = math.cos(theta) * ipd / 2 * (-1.0 if eye == 0 else 1.0)
    ray_rotation = theta if eye == 0 else -theta
    translate = torch.tensor([-ray_origin * w3.TRANSLATION_SCALE, 0.0, 0.0], dtype=DT)
    # euler_angles_to_matrix([0, ray_rotation, 0], "XYZ"): the angles are radians already
    rx, ry, rz = (w3.axis_rotation(a, v) for a, v in zip("XYZ", (0.0, ray_rotation, 0.0)))
    return rx @ ry @ rz, translate


def spherical_projection(h, w, center, magnitude):
    """get_spherical_projection."""
    xx, yy = torch.linspace(-1, 1, w, dtype=DT), torch.linspace(-1, 1, h, dtype=DT)
    gridy, gridx = torch.meshgrid(yy, xx, indexing="ij")
    grid = torch.stack([gridx, gridy], dim=-1)
    d = center - grid
    d_sum = torch.sqrt((d**2).sum(axis=-1))
    grid += d * d_sum.unsqueeze(-1) * magnitude
    return grid.unsqueeze(0)


def eye_view(image, depth, r, t, near, far, fov, padding_mode, sampling_mode):
    """transform_image_3d(..., spherical=True) in float64. image [3, H, W], depth [H, W]."""
    _, h, w = image.shape
    y, x = torch.meshgrid(
        torch.linspace(-1.0, 1.0, h, dtype=DT), torch.linspace(-1.0, 1.0, w, dtype=DT), indexing="ij"
    )
    xyz = torch.stack((x.flatten(), y.flatten(), depth.flatten()), dim=1)
    k = w3.projection(near, far, fov)
    xy_old = w3.transform_points(xyz, w3.full_transform(torch.eye(3, dtype=DT), torch.zeros(3, dtype=DT), k))[:, 0:2]
    xy_new = w3.transform_points(xyz, w3.full_transform(r, t, k))[:, 0:2]
    offset = xy_new - xy_old
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=DT).unsqueeze(0)
    coords = F.affine_grid(identity, [1, 1, h, w], align_corners=False)
    grid = coords - torch.reshape(offset, (h, w, 2)).unsqueeze(0)
    sphere = spherical_projection(h, w, torch.tensor([0, 0]), -0.4)
    stage = F.grid_sample(
        image.add(1 / 512 - 0.0001).unsqueeze(0), grid, mode=sampling_mode, padding_mode=padding_mode,
        align_corners=True,
    )
    new = F.grid_sample(stage, sphere, align_corners=True)
    return grid[0], sphere[0], new.squeeze(0).clamp(0, 1.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    entries = []
    for name, (h, w), depth_kind, eye, angle, ipd, cam, padding, sampling in CASES:
        image32 = w3.make_image(rng, h, w).astype("<f4")
        depth32 = w3.make_depth(rng, h, w, depth_kind).astype("<f4")
        image = torch.from_numpy(image32.astype(np.float64))
        depth = torch.from_numpy(depth32.astype(np.float64))
        r, t = eye_pose(eye, angle, ipd)
        grid, sphere, out = eye_view(image, depth, r, t, cam["near"], cam["far"], cam["fov"], padding, sampling)
        arrays = [grid.numpy().astype("<f8"), sphere.numpy().astype("<f8"), out.numpy().astype("<f8")]
        assert all(np.isfinite(a).all() for a in arrays), name
        blob = image32.tobytes() + depth32.tobytes() + b"".join(a.tobytes() for a in arrays)
        (OUT / f"{name}.bin").write_bytes(blob)
        entries.append(
            {
                "name": name,
                "height": h,
                "width": w,
                "channels": 3,
                "eye": "left" if eye == 0 else "right",
                "vr_eye_angle": angle,
                "vr_ipd": ipd,
                "near": cam["near"],
                "far": cam["far"],
                "fov": cam["fov"],
                "padding_mode": padding,
                "sampling_mode": sampling,
                "R": r.tolist(),
                "T": t.tolist(),
                "file": f"{name}.bin",
                "layout": [
                    "image f32 [C,H,W]", "depth f32 [H,W]", "grid f64 [H,W,2]", "sphere f64 [H,W,2]",
                    "output f64 [C,H,W]",
                ],
            }
        )
    doc = {"made_by": f"tests/golden-gen/vr_golden.py, torch {torch.__version__}", "cases": entries}
    (OUT / "cases.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
