"""Download the official checkpoints that ``python -m disco_export`` exports, verifying each file's sha256.

This is the only code that touches the network, and it runs only when called explicitly. A file already present
with the right hash is kept; a wrong hash is an error (the file is left as ``<name>.part`` for inspection).

Example: python -m disco_export.download --dir models/src --diffusion 512x512_diffusion_uncond_finetune_008100
         --secondary --clip ViTB32 RN50 ViTB16 --lpips
"""

import argparse
import hashlib
import os
import sys
import urllib.request
from pathlib import Path

from . import clip, depth, openclip, unet_catalog
from .checkpoints import sha256_file

# Disco Diffusion's hashes (diff_model_map; unet_catalog.py) and OpenAI's (the hex path component of each CLIP URL).
DIFFUSION = unet_catalog.CHECKPOINTS
SECONDARY = ("secondary_model_imagenet_2.pth",
             "983e3de6f95c88c81b2ca7ebb2c217933be1973b1ff058776b970f901584613a",
             ["https://the-eye.eu/public/AI/models/v-diffusion/secondary_model_imagenet_2.pth",
              "https://huggingface.co/lowlevelware/secondary_model_imagenet_2/resolve/main/"
              "secondary_model_imagenet_2.pth"])
CLIP_SHA256 = {
    "RN50": "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
    "RN101": "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599",
    "RN50x4": "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd",
    "RN50x16": "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa",
    "RN50x64": "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c",
    "ViTB32": "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
    "ViTB16": "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
    "ViTL14": "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
    "ViTL14_336px": "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
}
CLIP_URL = "https://openaipublic.azureedge.net/clip/models/{sha}/{file}"
# torchvision's VGG16 (the file name carries the first 8 hex digits of its sha256) and LPIPS v0.1 heads
# (no published hash: its sha256 is printed and recorded in the manifest, not checked).
LPIPS_VGG = ("vgg16-397923af.pth", "397923af", ["https://download.pytorch.org/models/vgg16-397923af.pth"])
LPIPS_LIN = ("vgg.pth", None,
             ["https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth"])


class DownloadError(RuntimeError):
    pass


def fetch(dest, sha256, urls, log=print):
    """Download ``dest`` from the first URL that works and check its sha256 (a prefix is allowed).

    Returns the file's sha256.
    """
    dest = Path(dest)
    if dest.is_file() and sha256 and sha256_file(dest).startswith(sha256):
        log(f"{dest.name}: present, sha256 ok")
        return sha256_file(dest)
    part = dest.with_suffix(dest.suffix + ".part")
    errors = []
    for url in urls:
        log(f"{dest.name}: downloading {url}")
        try:
            h = hashlib.sha256()
            with urllib.request.urlopen(url, timeout=60) as r, open(part, "wb") as f:
                while block := r.read(1 << 20):
                    h.update(block)
                    f.write(block)
        except OSError as e:
            errors.append(f"{url}: {e}")
            continue
        digest = h.hexdigest()
        if sha256 and not digest.startswith(sha256):
            raise DownloadError(f"{dest.name}: sha256 {digest} does not match the published {sha256} "
                                f"(kept as {part})")
        os.replace(part, dest)
        log(f"{dest.name}: sha256 {digest}" + (" ok" if sha256 else " (no published hash to compare)"))
        return digest
    raise DownloadError(f"{dest.name}: every source failed: " + "; ".join(errors))


def _clip_name(text):
    flag = openclip.resolve(text)
    if flag is None:
        raise argparse.ArgumentTypeError(f"unknown CLIP model {text!r}")
    return flag


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m disco_export.download", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, required=True, help="directory to download into")
    p.add_argument("--diffusion", choices=sorted(DIFFUSION), help="guided-diffusion checkpoint to fetch")
    p.add_argument("--secondary", action="store_true", help="fetch secondary_model_imagenet_2.pth")
    p.add_argument("--clip", nargs="+", default=[], type=_clip_name, metavar="FLAG",
                   help=f"CLIP checkpoints by Disco Diffusion flag ({', '.join(openclip.all_flags())}) or "
                        "open_clip ARCH::TAG name; OpenAI's are checked against their full sha256, open_clip's "
                        "GitHub releases against the published 8-digit prefix, Hugging Face ones not at all")
    p.add_argument("--lpips", action="store_true", help="fetch torchvision VGG16 and the LPIPS v0.1 heads")
    p.add_argument("--midas", nargs="+", default=[], choices=list(depth.MIDAS_MODELS), metavar="NAME",
                   help="MiDaS depth models by DD's midas_depth_model name, saved under DD's file names "
                        f"({', '.join(m.file for m in depth.MIDAS_MODELS.values())}); checked against the 8-digit "
                        "sha256 prefix in each name")
    args = p.parse_args(argv)

    def log(msg):
        print(f"[download] {msg}", file=sys.stderr, flush=True)

    args.dir.mkdir(parents=True, exist_ok=True)
    try:
        if args.diffusion:
            sha, urls = DIFFUSION[args.diffusion]
            fetch(args.dir / unet_catalog.CONFIGS[args.diffusion].checkpoint, sha, urls, log)
        if args.secondary:
            name, sha, urls = SECONDARY
            fetch(args.dir / name, sha, urls, log)
        for flag in dict.fromkeys(args.clip):
            if flag in openclip.MODELS:
                m = openclip.MODELS[flag]
                fetch(args.dir / m.file, m.sha256_prefix, [m.url], log)
                continue
            file = clip.OPENAI_FILES[flag]
            fetch(args.dir / file, CLIP_SHA256[flag], [CLIP_URL.format(sha=CLIP_SHA256[flag], file=file)], log)
        if args.lpips:
            for name, sha, urls in (LPIPS_VGG, LPIPS_LIN):
                fetch(args.dir / name, sha, urls, log)
        for name in dict.fromkeys(args.midas):
            m = depth.MIDAS_MODELS[name]
            fetch(args.dir / m.file, m.sha256_prefix, list(m.urls), log)
    except DownloadError as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
