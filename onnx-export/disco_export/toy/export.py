"""Export the trained toy models (train.py's checkpoints) as a model set, through the normal exporter path.

The same ``modelset.build`` as ``python -m disco_export`` exports and verifies every graph; only the model
construction differs: the toy configurations with the trained weights. The CLIP is exported under the Disco
Diffusion name ViT-B/32 (flag ``ViTB32``), so projects select it with ``clip-models "ViT-B/32"``.

Usage: python -m disco_export.toy.export [--checkpoints DIR] [--out models/toy]
"""

import argparse
import json
import sys
from pathlib import Path

import torch

from .. import checkpoints, clip, manifest, secondary, unet, verify
from ..modelset import Request, build, log
from . import train

REPO = Path(__file__).resolve().parents[3]

DESCRIPTION = ("toy model set: small models trained on procedural 64x64 scenes of coloured shapes "
               "(onnx-export/disco_export/toy, docs/toy-models.md); not Disco Diffusion's models")


MODELS = ("clip", "unet", "secondary")


def load_models(ckpt_dir, which=MODELS):
    """{"unet" | "secondary" | "clip:ViTB32": (model, sha256 of the checkpoint)} from train.py's checkpoints."""
    ckpt_dir = Path(ckpt_dir)
    out = {}
    if "unet" in which:
        m = unet.UNetModel(train.UNET_CONFIG)
        out["unet"] = (m, checkpoints.load_into(m, ckpt_dir / "unet.pt", "toy UNet"))
    if "secondary" in which:
        m = secondary.SecondaryDiffusionImageNet2(train.SECONDARY_CHANNELS)
        out["secondary"] = (m, checkpoints.load_into(m, ckpt_dir / "secondary.pt", "toy secondary model"))
    if "clip" in which:
        m = clip.CLIP(train.CLIP_CONFIG)
        out[f"clip:{train.CLIP_FLAG}"] = (m, checkpoints.load_into(m, ckpt_dir / "clip.pt", "toy CLIP"))
    for model, _ in out.values():
        model.eval()
    return out


def toy_section(ckpt_dir):
    """The manifest's ``toy`` section: what the set is, its CLIP names, and each model's training record."""
    records = {}
    for kind, file in (("clip", "clip.json"), ("unet_stage1", "stage1/unet.json"), ("unet", "unet.json"),
                       ("secondary", "secondary.json")):
        path = Path(ckpt_dir) / file
        if path.is_file():
            records[kind] = json.loads(path.read_text())
    return {"description": DESCRIPTION, "image_size": 64,
            "clip_models": {train.CLIP_FLAG: train.CLIP_CONFIG.name},
            "held_out_pairs": [f"{c} {s}" for c, s in train.HELD_OUT], "training": records}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m disco_export.toy.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", type=Path, default=train.DEFAULT_OUT,
                   help="train.py's output directory (default: %(default)s)")
    p.add_argument("--out", type=Path, default=REPO / "models" / "toy", help="model set (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", nargs="*", choices=MODELS, default=list(MODELS),
                   help="export only these models (into the same set: the manifest is extended); none: only "
                        "rewrite the manifest's toy section")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.only:
        doc = manifest.write(args.out, False, {"toy": toy_section(args.checkpoints)}, {})
        problems = manifest.validate(doc, args.out)
        if problems:
            log("error: " + "; ".join(problems))
            return 1
        return 0
    try:
        req = Request(out=args.out, diffusion=train.UNET_CONFIG.name if "unet" in args.only else None,
                      secondary="secondary" in args.only, clip=[train.CLIP_FLAG] if "clip" in args.only else [],
                      prebuilt=load_models(args.checkpoints, args.only),
                      extra_sections={"toy": toy_section(args.checkpoints)})
        build(req)
    except (checkpoints.CheckpointError, verify.VerificationError, ValueError) as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
