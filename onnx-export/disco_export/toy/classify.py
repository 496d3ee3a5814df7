"""A deterministic classifier of toy pictures: the foreground's dominant colour and the largest object's shape.

No learned weights (in particular not the toy CLIP), so it can judge whether guided renders follow their prompt:

0. a 3×3 median filter per channel (generated pictures are speckled);
1. background: the colours of the four corners (4×4 medians; a two-tone background shows two of them);
2. foreground: pixels farther than ``FG_DISTANCE`` (RGB) from every background colour, in connected components
   of at least ``MIN_PIXELS`` pixels;
3. colour: a hue histogram of the (eroded) foreground, each saturated pixel voting, weighted by its chroma,
   for the nearest of the eight palette hues (scenes.COLORS); the most voted hue wins;
4. shape: the largest component against each shape's template (scenes.shape_mask) fitted to the component's
   bounding box; the best intersection-over-union wins.

Usage: python -m disco_export.toy.classify [--n N] [--seed S]  (accuracy on the generator's own ground truth)
       python -m disco_export.toy.classify IMAGE.ppm ...       (classify pictures: P6 PPM or PNG)
"""

import argparse
import colorsys
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from . import scenes

FG_DISTANCE = 60.0
MIN_PIXELS = 12
MIN_CHROMA = 40.0

HUES = {name: colorsys.rgb_to_hsv(*(v / 255 for v in rgb))[0] * 360 for name, rgb in scenes.COLORS.items()}


@dataclass
class Verdict:
    color: str  # None when no foreground was found
    shape: str
    color_votes: dict  # palette colour -> share of the chroma-weighted votes
    iou: float  # of the winning shape template
    foreground: float  # fraction of the image that is foreground


def background_colors(img):
    """The four corner colours (median of 4×4 patches): float (4, 3)."""
    c = []
    for ys in (slice(0, 4), slice(-4, None)):
        for xs in (slice(0, 4), slice(-4, None)):
            c.append(np.median(img[ys, xs].reshape(-1, 3).astype(np.float32), axis=0))
    return np.stack(c)


def foreground_mask(img):
    """Boolean (H, W) foreground and the labelled components (labels, sizes), small specks removed."""
    px = img.astype(np.float32)
    bg = background_colors(img)
    dist = np.sqrt(((px[:, :, None, :] - bg[None, None]) ** 2).sum(-1)).min(-1)
    labels, n = ndimage.label(dist > FG_DISTANCE)
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1)) if n else np.zeros(0)
    keep = np.zeros(n + 1, dtype=bool)
    keep[1:] = sizes >= MIN_PIXELS
    return keep[labels], labels, sizes


def hue_votes(img, mask):
    """Chroma-weighted votes of the masked pixels for the palette hues: {colour: share} (empty if none)."""
    px = img[mask].astype(np.float32) / 255
    if len(px) == 0:
        return {}
    mx, mn = px.max(1), px.min(1)
    chroma = mx - mn
    ok = chroma * 255 >= MIN_CHROMA
    if not ok.any():
        return {}
    px, mx, chroma = px[ok], mx[ok], chroma[ok]
    r, g, b = px[:, 0], px[:, 1], px[:, 2]
    h = np.where(mx == r, ((g - b) / chroma) % 6, np.where(mx == g, (b - r) / chroma + 2, (r - g) / chroma + 4)) * 60
    names = list(HUES)
    ref = np.array([HUES[n] for n in names])
    d = np.abs(h[:, None] - ref[None])
    nearest = np.minimum(d, 360 - d).argmin(1)
    w = np.bincount(nearest, weights=chroma, minlength=len(names))
    return {n: float(v / w.sum()) for n, v in zip(names, w)}


def _unit_bbox(shape):
    """(x0, y0, x1, y1) of a shape of radius 1 at the origin."""
    verts = scenes.shape_vertices(shape, 0.0, 0.0, 1.0)
    if verts is None:
        return -1.0, -1.0, 1.0, 1.0
    return verts[:, 0].min(), verts[:, 1].min(), verts[:, 0].max(), verts[:, 1].max()


UNIT_BBOX = {s: _unit_bbox(s) for s in scenes.SHAPES}


def shape_scores(component):
    """IoU of each shape's template fitted to the component's bounding box: {shape: IoU}."""
    ys, xs = np.nonzero(component)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1.0, ys.min(), ys.max() + 1.0
    out = {}
    for shape, (ux0, uy0, ux1, uy1) in UNIT_BBOX.items():
        r = ((x1 - x0) / (ux1 - ux0) + (y1 - y0) / (uy1 - uy0)) / 2
        cx = (x0 + x1) / 2 - r * (ux0 + ux1) / 2
        cy = (y0 + y1) / 2 - r * (uy0 + uy1) / 2
        t = scenes.shape_mask(shape, cx, cy, r, size=component.shape[0]) >= 0.5
        out[shape] = float((t & component).sum() / max(1, (t | component).sum()))
    return out


def classify(img):
    """Verdict for one uint8 (H, W, 3) RGB picture (first smoothed by a 3×3 median per channel, which removes the
    pixel noise of generated pictures and leaves flat regions and straight edges as they are)."""
    img = ndimage.median_filter(img, size=(3, 3, 1), mode="nearest")
    mask, labels, sizes = foreground_mask(img)
    if not mask.any():
        return Verdict(None, None, {}, 0.0, 0.0)
    eroded = ndimage.binary_erosion(mask)
    votes = hue_votes(img, eroded if eroded.sum() >= MIN_PIXELS else mask)
    color = max(votes, key=votes.get) if votes else None
    biggest = labels == (int(np.argmax(sizes)) + 1)
    scores = shape_scores(biggest)
    shape = max(scores, key=scores.get)
    return Verdict(color, shape, votes, scores[shape], float(mask.mean()))


def degrade(img, rng, blur=1.0, noise=8.0):
    """A generated-looking copy of a clean scene: Gaussian blur (sigma in pixels) and pixel noise (std, 0..255)."""
    x = ndimage.gaussian_filter(img.astype(np.float32), sigma=(blur, blur, 0))
    return np.clip(np.rint(x + rng.normal(0, noise, x.shape)), 0, 255).astype(np.uint8)


def ground_truth_accuracy(n=500, seed=1234, noise=0.0):
    """The classifier on the generator's own scenes (``noise`` > 0: blurred by 1 px and noisy, see ``degrade``).

    Returns {"color": acc, "shape": acc} on single-object scenes and {"color_two": acc} on two-object scenes
    (the colour must be one of the two objects' colours).
    """
    rng = np.random.default_rng(seed)
    look = (lambda img: degrade(img, rng, noise=noise)) if noise else (lambda img: img)
    col = shp = 0
    for _ in range(n):
        s = scenes.sample_scene(rng, two_object_p=0.0)
        v = classify(look(scenes.render(s)))
        col += v.color == s.main.color
        shp += v.shape == s.main.shape
    two = 0
    for _ in range(n // 2):
        s = scenes.sample_scene(rng, two_object_p=1.0)
        two += classify(look(scenes.render(s))).color in {o.color for o in s.objects}
    return {"color": col / n, "shape": shp / n, "color_two": two / (n // 2)}


def read_image(path):
    """uint8 (H, W, 3) from a binary PPM (P6, maxval 255) or an 8-bit RGB/RGBA PNG."""
    data = Path(path).read_bytes()
    if data[:2] == b"P6":
        fields, pos = [], 2
        while len(fields) < 3:
            while data[pos:pos + 1].isspace():
                pos += 1
            if data[pos:pos + 1] == b"#":
                pos = data.index(b"\n", pos)
                continue
            end = pos
            while not data[end:end + 1].isspace():
                end += 1
            fields.append(int(data[pos:end]))
            pos = end
        w, h, maxval = fields
        if maxval != 255:
            raise ValueError(f"{path}: PPM maxval {maxval} (only 255)")
        return np.frombuffer(data, dtype=np.uint8, count=w * h * 3, offset=pos + 1).reshape(h, w, 3)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _read_png(data, path)
    raise ValueError(f"{path}: not a P6 PPM or a PNG")


def _read_png(data, path):
    pos, idat, w = 8, b"", None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise ValueError(f"{path}: only 8-bit RGB/RGBA non-interlaced PNG")
            ch = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + w * ch)
    out = np.zeros((h, w * ch), dtype=np.int32)
    for y in range(h):  # undo the per-row filters
        f, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        prev = out[y - 1] if y else np.zeros(w * ch, dtype=np.int32)
        if f == 0:
            out[y] = row
        elif f == 2:
            out[y] = (row + prev) % 256
        else:
            cur = np.zeros(w * ch, dtype=np.int32)
            for i in range(w * ch):
                a = cur[i - ch] if i >= ch else 0
                b, c = prev[i], prev[i - ch] if i >= ch else 0
                if f == 1:
                    pred = a
                elif f == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[i] = (row[i] + pred) % 256
            out[y] = cur
    return out.reshape(h, w, ch)[:, :, :3].astype(np.uint8)


def write_png(path, img):
    """uint8 (H, W, 3) as an 8-bit RGB PNG (no filtering)."""
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def contact_sheet(images, columns, pad=2):
    """Equal-sized uint8 pictures in rows of ``columns`` on white: uint8 (H', W', 3)."""
    h, w, _ = images[0].shape
    rows = -(-len(images) // columns)
    sheet = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        y, x = pad + (i // columns) * (h + pad), pad + (i % columns) * (w + pad)
        sheet[y:y + h, x:x + w] = img
    return sheet


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m disco_export.toy.classify", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="*", type=Path)
    p.add_argument("--n", type=int, default=500, help="ground-truth scenes per kind (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--sheet", type=Path, help="also write the given pictures as one PNG contact sheet")
    p.add_argument("--columns", type=int, default=16, help="pictures per row of --sheet (default: %(default)s)")
    args = p.parse_args(argv)
    if not args.images:
        for noise in (0.0, 8.0, 25.0):
            acc = ground_truth_accuracy(args.n, args.seed, noise)
            print(f"classifier on {args.n} {f'degraded (blur 1 px, noise {noise:g}) ' if noise else ''}single-object "
                  f"scenes: colour {acc['color']:.3f}, shape {acc['shape']:.3f}; on {args.n // 2} two-object "
                  f"scenes: colour is one of the objects' {acc['color_two']:.3f}")
        return 0
    images = [read_image(path) for path in args.images]
    for path, img in zip(args.images, images):
        v = classify(img)
        print(f"{path}\t{v.color}\t{v.shape}\t{v.iou:.3f}\t{v.foreground:.3f}")
    if args.sheet:
        write_png(args.sheet, contact_sheet(images, args.columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
