"""Golden values for the processing around disco's depth graphs (crates/runtime/src/depth.rs), as Disco Diffusion
does it around MiDaS (dd-algorithm.md §10.4), in float64 PyTorch:

  input  = (interpolate(image, size, bicubic, align_corners=False) - mean) / std
           (DD resizes with cv2 INTER_CUBIC: the same cubic convolution, A = -0.75, on float images)
  depth  = (50 - interpolate(pred, frame size, bicubic, align_corners=False)) / 19
  blend  = w * depth + (1 - w) * adabins

and MiDaS's input sizes from onnx-export's resize_for_net (MiDaS's Resize: "minimal" at 384 for the DPT models,
"upper_bound" at 384 for midas_v21 and at 256 for midas_v21_small). The network between is the
exporter's, verified against torch there; here `pred` and `adabins` are fixed arrays.

Writes tests/fixtures/anim3d/depth/cases.json and depth.bin (raw little-endian, one array after another):
  image   f32 [3, H, W]       in [0, 1]
  pred    f32 [h, w]          a stand-in for MiDaS's inverse depth at the net size
  adabins f32 [H, W]          a stand-in for AdaBins's depth at the frame size
  input   f64 [1, 3, h, w]    the normalised net input
  depth   f64 [H, W]          DD's depth from pred
  blend   f64 [H, W]          depth blended with adabins at weight W

Re-run (CPU only, about a second):

  .venv/bin/python tests/golden-gen/depth_golden.py
"""

import json
import pathlib
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "anim3d" / "depth"
sys.path.insert(0, str(ROOT / "onnx-export"))
from disco_export.midas import resize_for_net  # noqa: E402

DT = torch.float64
H, W = 20, 28
NET = 64  # a small net size keeps the fixture small; the Rust function takes it as a parameter
MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
WEIGHT = 0.3


def main():
    gen = torch.Generator().manual_seed(7)
    image = torch.rand(3, H, W, generator=gen).float()
    h, w = resize_for_net(H, W, net=NET)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=DT), torch.arange(w, dtype=DT), indexing="ij")
    pred = (20 + 10 * torch.sin(yy / 5) * torch.cos(xx / 7)).float()
    adabins = (1 + 9 * torch.rand(H, W, generator=gen)).float()

    x = F.interpolate(image.to(DT)[None], size=(h, w), mode="bicubic", align_corners=False)
    mean = torch.tensor(MEAN, dtype=DT)[None, :, None, None]
    std = torch.tensor(STD, dtype=DT)[None, :, None, None]
    net_input = (x - mean) / std
    up = F.interpolate(pred.to(DT)[None, None], size=(H, W), mode="bicubic", align_corners=False)[0, 0]
    depth = (50.0 - up) / 19.0
    blend = depth * WEIGHT + adabins.to(DT) * (1 - WEIGHT)

    frames = [(64, 64), (512, 768), (128, 192), (768, 512), (448, 320), (1080, 1920), (100, 37), (300, 500),
              (130, 300), (20, 1000)]
    sizes = [[hh, ww, net, mode, list(resize_for_net(hh, ww, net=net, mode=mode))]
             for net, mode in [(384, "minimal"), (384, "upper_bound"), (256, "upper_bound")] for hh, ww in frames]
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "depth.bin", "wb") as f:
        for a, dt in [(image, "<f4"), (pred, "<f4"), (adabins, "<f4"), (net_input, "<f8"), (depth, "<f8"),
                      (blend, "<f8")]:
            f.write(np.ascontiguousarray(a.numpy()).astype(dt).tobytes())
    doc = {"frame": [H, W], "net": NET, "net_size": [h, w], "mean": MEAN, "std": STD, "weight": WEIGHT,
           "midas_sizes": sizes}
    (OUT / "cases.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} (net size {h}x{w})")


if __name__ == "__main__":
    main()
