"""Goldens for progrock's brightness and contrast correction (crates/kernels/src/tone_fix.rs).

progrock measures the unguided x0 as an 8-bit PIL image (ImageStat: each channel's mean and
standard deviation, averaged) and corrects it with PIL's ImageEnhance.Brightness / Contrast.
This script records what Pillow does on random images, so the Rust kernel is held to Pillow
byte for byte. Needs Pillow (not a project dependency):

    pip install --target /tmp/pil pillow
    PYTHONPATH=/tmp/pil python3 tests/golden-gen/tone_golden.py > tests/fixtures/tone/pil_enhance.json
"""
import json
import random

import PIL
from PIL import Image, ImageEnhance, ImageStat


def main():
    rng = random.Random(20261206)
    cases = []
    for i, (w, h) in enumerate([(7, 5), (16, 9), (3, 11), (12, 12)]):
        # a spread of tones: dark, bright, flat and contrasty images
        lo, hi = [(0, 255), (0, 60), (190, 255), (100, 140)][i]
        px = [rng.randint(lo, hi) for _ in range(w * h * 3)]
        img = Image.frombytes("RGB", (w, h), bytes(px))
        stat = ImageStat.Stat(img)
        case = {
            "width": w,
            "height": h,
            "pixels": px,
            "brightness": sum(stat.mean) / len(stat.mean),
            "contrast": sum(stat.stddev) / len(stat.stddev),
            "enhanced": [],
        }
        for factor in [0.85, 1.15, 2.0, 0.5]:
            for kind, enhancer in [("brightness", ImageEnhance.Brightness),
                                   ("contrast", ImageEnhance.Contrast)]:
                out = enhancer(img).enhance(factor)
                case["enhanced"].append(
                    {"kind": kind, "factor": factor, "pixels": list(out.tobytes())})
        cases.append(case)
    print(json.dumps({"pillow": PIL.__version__, "cases": cases}))


if __name__ == "__main__":
    main()
