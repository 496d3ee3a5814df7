"""Export Disco Diffusion's models (guided-diffusion UNet, secondary model, OpenAI and OpenCLIP CLIP models,
LPIPS-VGG) as ONNX forward and VJP graphs with a manifest.json, or, with --tiny, the same architectures at small widths with
fixed-seed random weights (test fixtures), or, with --random-weights, the real architectures with fixed-seed random
weights (benchmarks at real sizes without checkpoints). Every graph is verified in ONNX Runtime against PyTorch autograd.

Example: python -m disco_export --diffusion 512x512_diffusion_uncond_finetune_008100 --checkpoint PATH
         --secondary PATH --clip ViTB32 RN50 ViTB16 --lpips --lpips-vgg PATH --lpips-lin PATH --out models/default
Download of the official files is a separate command: python -m disco_export.download --help
"""

import argparse
import sys
from pathlib import Path

from . import checkpoints, depth, openclip, unet, unet_catalog, verify
from .modelset import Request, build, log

# The OpenCLIP pair adds exact GELU (a ViT) and a GELU text tower beside a ModifiedResNet; the other OpenCLIP
# models are config variants of these (checked by tests/test_keys.py).
TINY_CLIP = ["ViTB32", "RN50", "ViTB16", "ViTB32_laion2b_e16", "RN50_cc12m"]
# guided-diffusion create_model arguments of --diffusion custom; defaults are DD 5.7's custom model cell.
CUSTOM_DEFAULTS = dict(image_size=256, num_channels=128, num_res_blocks=2, attention_resolutions="16",
                       channel_mult="", num_heads=1, num_head_channels=-1, num_heads_upsample=-1, learn_sigma=True,
                       use_scale_shift_norm=False, resblock_updown=False, use_new_attention_order=False,
                       use_fp16=True)


def clip_name(text):
    """Any accepted CLIP model name (``ViTB32``, ``ViT-B-32::laion2b_e16``, ``RN50_yffcc15m`` ...) -> its key."""
    flag = openclip.resolve(text)
    if flag is None:
        raise argparse.ArgumentTypeError(f"unknown CLIP model {text!r}; known: {', '.join(openclip.all_flags())} "
                                         "(or open_clip's ARCH::TAG names such as ViT-B-32::laion2b_e16)")
    return flag


def parse_clip_checkpoint(text):
    """'NAME=PATH' -> (key, path); NAME may contain '::' but not '='."""
    name, sep, path = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected FLAG=PATH, got {text!r}")
    return clip_name(name), Path(path)


def parser():
    p = argparse.ArgumentParser(prog="python -m disco_export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--out", type=Path, required=True, help="model-set directory to write (graphs + manifest.json)")
    a("--tiny", action="store_true",
      help="tiny random-weight models (fixed seed); without other model flags exports everything: "
           f"the 512 UNet, a custom-architecture UNet, secondary, CLIP {' '.join(TINY_CLIP)}, LPIPS, the five MiDaS models, "
           "AdaBins and RAFT")
    a("--diffusion", choices=sorted(unet.CONFIGS) + [unet_catalog.CUSTOM], metavar="NAME",
      help="guided-diffusion UNet to export (default: none): " + ", ".join(sorted(unet.CONFIGS))
      + ", or custom (architecture from the flags below)")
    a("--checkpoint", type=Path, help="the UNet checkpoint (.pt state dict) for --diffusion")
    custom_flags(p.add_argument_group("--diffusion custom: the architecture (guided-diffusion create_model "
                                      "arguments; defaults: DD 5.7's custom model cell)"))
    a("--midas", nargs="*", default=None, metavar="NAME=PATH",
      help="export MiDaS depth models (3D depth) by DD's midas_depth_model name from their released files: "
           + ", ".join(f"{n}={m.file}" for n, m in depth.MIDAS_MODELS.items())
           + "; a bare PATH is dpt_large's; with --tiny give names only (none: all five)")
    a("--adabins", nargs="?", const=True, default=None, metavar="PATH",
      help="export AdaBins-NYU (3D depth, blended by midas_weight) from this AdaBins_nyu.pt (no PATH with --tiny)")
    a("--raft", nargs="?", const=True, default=None, metavar="PATH",
      help="export RAFT optical flow (Video Input's flow warp) from this raft-things.pth (no PATH with --tiny)")
    a("--secondary", nargs="?", const=True, default=None, metavar="PATH",
      help="export the secondary model from this secondary_model_imagenet_2.pth (no PATH with --tiny)")
    a("--clip", nargs="+", default=[], type=clip_name, metavar="FLAG",
      help=f"CLIP models by Disco Diffusion flag name ({', '.join(openclip.all_flags())}) or open_clip's "
           "ARCH::TAG name (ViT-B-32::laion2b_e16, ViT-H-14::laion2b_s32b_b79k, ViT-B-32::openai)")
    a("--clip-dir", type=Path, default=Path("~/.cache/clip").expanduser(),
      help="directory holding the released CLIP files (OpenAI's ViT-B-32.pt, RN50.pt, ...; open_clip's "
           "vit_b_32-laion2b_e16-af8dbd0c.pth, ...; see docs/models.md) (default: %(default)s)")
    a("--clip-checkpoint", type=parse_clip_checkpoint, action="append", default=[], metavar="FLAG=PATH",
      help="explicit CLIP checkpoint (OpenAI TorchScript archive or open_clip state dict); repeatable")
    a("--lpips", action="store_true", help="export LPIPS v0.1 (VGG16) forward and VJP")
    a("--lpips-vgg", type=Path, help="torchvision vgg16 weights (vgg16-397923af.pth) for --lpips")
    a("--lpips-lin", type=Path, help="LPIPS v0.1 linear heads (lpips/weights/v0.1/vgg.pth) for --lpips")
    a("--verify-batches", type=int, nargs="+", default=[1, 3], metavar="N",
      help="batch sizes at which every graph is checked against PyTorch (default: %(default)s)")
    a("--random-weights", action="store_true",
      help="the real architectures of --diffusion, --secondary and --clip with fixed-seed random weights (PyTorch's "
           "default initialisation; no checkpoints), for benchmarks at real model sizes (benches/render_step.rs); "
           "the manifest's random_weights section records the seed, from which the PyTorch reference rebuilds the "
           "same modules. Verification runs as for any set (small image sizes, --verify-batches); at real sizes "
           "--verify-batches 1 keeps it to one small check per graph")
    a("--no-fp16", dest="fp16", action="store_false",
      help="skip the fp16 UNet graphs (by default every diffusion model DD runs in fp16 on a GPU also gets them; "
           "disco uses them on CUDA, docs/models.md)")
    a("--seed", type=int, default=0, help="seed of the tiny or --random-weights weights (default: %(default)s)")
    return p


def custom_flags(g):
    for key, default in CUSTOM_DEFAULTS.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(default, bool):
            g.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=f"(default: {default})")
        else:
            g.add_argument(flag, type=type(default), default=default, help=f"(default: {default!r})")


def custom_request(args, tiny):
    """The custom UNetConfig of the parsed flags, named after the checkpoint file."""
    arch = {k: getattr(args, k) for k in CUSTOM_DEFAULTS}
    if tiny:
        return unet_catalog.custom_config(unet_catalog.TINY_CUSTOM_CHECKPOINT, tiny=True, **arch)
    if args.checkpoint is None:
        raise SystemExit("--diffusion custom needs --checkpoint PATH")
    return unet_catalog.custom_config(args.checkpoint.name, **arch)


def midas_request(items, tiny):
    """``--midas`` items -> ([model names], {name: checkpoint path}). Items are ``NAME=PATH``, a bare ``PATH``
    (dpt_large's file, as before there were other models) or, with --tiny, a bare ``NAME``; with --tiny and no
    items, every model."""
    if items is None:
        return [], {}
    if tiny and not items:
        return list(depth.MIDAS_MODELS), {}
    if not items:
        raise SystemExit("--midas needs NAME=PATH items: " + ", ".join(
            f"{n}={m.file}" for n, m in depth.MIDAS_MODELS.items()))
    names, paths = [], {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep and item in depth.MIDAS_MODELS:
            name, path = item, None
        elif not sep:
            name, path = depth.DEFAULT_MIDAS, item
        if name not in depth.MIDAS_MODELS:
            raise SystemExit(f"--midas: unknown model {name!r}; known: {', '.join(depth.MIDAS_MODELS)}")
        if tiny and path is not None:
            raise SystemExit("--tiny takes no checkpoint paths (use --midas NAME without =PATH)")
        if not tiny and path is None:
            raise SystemExit(f"--midas {name} needs the path of {depth.MIDAS_MODELS[name].file} ({name}=PATH)")
        names.append(name)
        if path is not None:
            paths[name] = Path(path)
    return list(dict.fromkeys(names)), paths


def request(args):
    """Turn parsed arguments into a Request (filling the --tiny defaults)."""
    tiny = args.tiny
    if args.random_weights and (tiny or args.checkpoint or isinstance(args.secondary, str) or args.clip_checkpoint
                                or args.lpips or args.midas is not None or args.adabins or args.raft
                                or args.diffusion == unet_catalog.CUSTOM):
        raise SystemExit("--random-weights takes --diffusion NAME, --secondary and --clip only, without checkpoint "
                         "paths (and not --tiny)")
    anything = (args.diffusion or args.secondary or args.clip or args.lpips or args.midas is not None or args.adabins
                or args.raft)
    midas_names, midas_paths = midas_request(args.midas, tiny)
    for flag, value, file in (("--adabins", args.adabins, "AdaBins_nyu.pt"),
                              ("--raft", args.raft, "raft-things.pth")):
        if tiny and isinstance(value, str):
            raise SystemExit(f"--tiny takes no checkpoint paths (use {flag} without PATH)")
        if not tiny and value is True:
            raise SystemExit(f"{flag} needs the path of {file}")
    if (tiny or args.random_weights) and isinstance(args.secondary, str):
        raise SystemExit("--tiny takes no checkpoint paths (use --secondary without PATH)")
    req = Request(out=args.out, tiny=tiny, random_weights=args.random_weights, diffusion=args.diffusion, checkpoint=args.checkpoint,
                  secondary=bool(args.secondary),
                  secondary_checkpoint=Path(args.secondary) if isinstance(args.secondary, str) else None,
                  clip=list(dict.fromkeys(args.clip)), lpips=args.lpips, lpips_vgg=args.lpips_vgg,
                  lpips_lin=args.lpips_lin,
                  verify_batches=tuple(args.verify_batches), seed=args.seed, midas=midas_names,
                  midas_checkpoints=midas_paths,
                  adabins=bool(args.adabins),
                  adabins_checkpoint=Path(args.adabins) if isinstance(args.adabins, str) else None,
                  raft=bool(args.raft), raft_checkpoint=Path(args.raft) if isinstance(args.raft, str) else None,
                  fp16=args.fp16)
    if args.diffusion == unet_catalog.CUSTOM:
        try:
            req.custom = custom_request(args, tiny)
        except ValueError as e:
            raise SystemExit(f"--diffusion custom: {e}") from None
    if tiny and not anything:
        req.diffusion, req.secondary, req.clip, req.lpips = unet_catalog.DEFAULT, True, TINY_CLIP, True
        req.midas = list(depth.MIDAS_MODELS)
        req.adabins = req.raft = True
        req.extra_tiny_unets = [unet_catalog.custom_config(unet_catalog.TINY_CUSTOM_CHECKPOINT, tiny=True,
                                                           **unet_catalog.TINY_CUSTOM_ARGS)]
    if not tiny and not args.random_weights:
        if req.secondary and req.secondary_checkpoint is None:
            raise SystemExit("--secondary needs the path of secondary_model_imagenet_2.pth")
        explicit = dict(args.clip_checkpoint)
        for flag in req.clip:
            req.clip_checkpoints[flag] = explicit.get(flag, args.clip_dir / openclip.default_file(flag))
    return req


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        build(request(args))
    except (checkpoints.CheckpointError, verify.VerificationError, ValueError) as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
