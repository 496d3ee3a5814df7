"""Export the trained toy models (train.py's checkpoints) as a model set, through the normal exporter path.

The same ``modelset.build`` as ``python -m disco_export`` exports and verifies every graph; only the model
construction differs: the toy configurations with the trained weights. The CLIPs are exported under the Disco
Diffusion names ViT-B/32 and RN50 (flags ``ViTB32``, ``RN50``), so projects select them with
``clip-models "ViT-B/32" "RN50"``; the LPIPS is LPIPS-VGG's architecture at small widths (train_lpips.py); the
optical-flow model is RAFT's at small widths (train_flow.py), the set's ``raft`` section, exported when its
checkpoint ``flow.pt`` exists.

Usage: python -m disco_export.toy.export [--checkpoints DIR] [--out models/toy]
"""

import argparse
import json
import sys
from pathlib import Path

import torch

from .. import adabins, checkpoints, clip, lpips, manifest, midas, raft, secondary, unet, verify
from ..modelset import Request, build, log
from . import train, train_depth, train_flow, train_lpips

REPO = Path(__file__).resolve().parents[3]

DESCRIPTION = ("toy model set: small models trained on procedural 64x64 scenes of coloured shapes "
               "(onnx-export/disco_export/toy, docs/toy-models.md); not Disco Diffusion's models")


MODELS = ("clip", "unet", "secondary", "lpips", "depth", "flow")
# One CLIP alone (``--only clip:ViTB32``): the other keeps its graphs and manifest entry.
CLIP_CHOICES = tuple(f"clip:{flag}" for flag in train.CLIP_CONFIGS)


def clip_flags(which):
    """The CLIP flags that ``which`` (MODELS and CLIP_CHOICES entries) asks for."""
    return [flag for flag in train.CLIP_CONFIGS if "clip" in which or f"clip:{flag}" in which]


def load_models(ckpt_dir, which=MODELS):
    """{"unet" | "secondary" | "clip:FLAG" | "lpips" | "midas:dpt_large" | "adabins" | "raft": (model, sha256 of the
    checkpoint)} from train.py's checkpoints. ``flow`` (the RAFT, under modelset's key "raft") is loaded only where
    ``flow.pt`` exists: a set trained before the flow model keeps exporting without it."""
    ckpt_dir = Path(ckpt_dir)
    out = {}
    if "unet" in which:
        m = unet.UNetModel(train.UNET_CONFIG)
        out["unet"] = (m, checkpoints.load_into(m, ckpt_dir / "unet.pt", "toy UNet"))
    if "secondary" in which:
        m = secondary.SecondaryDiffusionImageNet2(train.SECONDARY_CHANNELS)
        out["secondary"] = (m, checkpoints.load_into(m, ckpt_dir / "secondary.pt", "toy secondary model"))
    for flag in clip_flags(which):
        m = clip.CLIP(train.CLIP_CONFIGS[flag])
        out[f"clip:{flag}"] = (m, checkpoints.load_into(m, ckpt_dir / f"clip_{flag}.pt", f"toy CLIP {flag}"))
    if "lpips" in which:
        m = lpips.LPIPS(train_lpips.CHANNELS)
        out["lpips"] = (m, checkpoints.load_into(m, ckpt_dir / "lpips.pt", "toy LPIPS"))
    if "depth" in which:
        m = midas.DPTDepthModel(train_depth.MIDAS_CONFIG)
        out[f"midas:{m.cfg.name}"] = (m, checkpoints.load_into(m, ckpt_dir / "midas.pt", "toy MiDaS"))
        m = adabins.DdPredict(train_depth.ADABINS_CONFIG)
        out["adabins"] = (m, checkpoints.load_into(m, ckpt_dir / "adabins.pt", "toy AdaBins"))
    if "flow" in which and (ckpt_dir / "flow.pt").is_file():
        m = raft.RAFT(train_flow.CONFIG)
        out["raft"] = (m, checkpoints.load_into(m, ckpt_dir / "flow.pt", "toy RAFT"))
    for model, _ in out.values():
        model.eval()
    return out


def toy_section(ckpt_dir):
    """The manifest's ``toy`` section: what the set is, its CLIP names, and each model's training record."""
    records = {}
    names = [f"clip_{flag}" for flag in train.CLIP_CONFIGS] + ["unet", "secondary", "lpips", "midas", "adabins", "flow"]
    files = [(n, f"{n}.json") for n in names] + [("clip_ViTB32_stage1", "stage1/clip_ViTB32.json")]
    for kind, file in files:
        path = Path(ckpt_dir) / file
        if path.is_file():
            records[kind] = json.loads(path.read_text())
    return {"description": DESCRIPTION, "image_size": 64,
            "clip_models": {flag: cfg.name for flag, cfg in train.CLIP_CONFIGS.items()},
            "held_out_pairs": [f"{c} {s}" for c, s in train.HELD_OUT], "training": records}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m disco_export.toy.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", type=Path, default=train.DEFAULT_OUT,
                   help="train.py's output directory (default: %(default)s)")
    p.add_argument("--out", type=Path, default=REPO / "models" / "toy", help="model set (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", nargs="*", choices=MODELS + CLIP_CHOICES, default=list(MODELS),
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
        models = load_models(args.checkpoints, args.only)
        if "flow" in args.only and "raft" not in models and set(args.only) != set(MODELS):
            raise ValueError(f"no flow.pt in {args.checkpoints}: train it first (train.RECIPES['flow'])")
        req = Request(out=args.out, diffusion=train.UNET_CONFIG.name if "unet" in args.only else None,
                      secondary="secondary" in args.only, lpips="lpips" in args.only,
                      midas=[train_depth.MIDAS_CONFIG.name] if "depth" in args.only else [],
                      adabins="depth" in args.only,
                      clip=clip_flags(args.only), prebuilt=models, checkpoint_graphs=False,
                      extra_sections={"toy": toy_section(args.checkpoints)})
        build(req)
    except (checkpoints.CheckpointError, verify.VerificationError, ValueError) as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
