"""Procedural 64×64 scenes with captions: the toy model set's whole world (no downloads).

A scene is one or two flat-coloured shapes (circle, square, triangle, star, ring) in one of eight named hues, on a
plain or two-tone background, with a caption such as ``"a small red circle on a blue background"`` or
``"a yellow star above a green square"``. Everything is drawn from a ``numpy.random.Generator``, so a seed fixes
the data exactly.

Shapes are rasterised at 2× and averaged down (soft edges). The same ``shape_mask`` serves the classifier's
template matching (classify.py), so its geometry is defined once, here.
"""

from dataclasses import dataclass, field

import numpy as np

SIZE = 64
SUPERSAMPLE = 2

# Object colours: eight well separated hues (HSV hue in degrees, noted for the classifier).
COLORS = {
    "red": (220, 35, 35),  # 0°
    "orange": (245, 130, 20),  # 29°
    "yellow": (235, 215, 25),  # 54°
    "green": (40, 170, 60),  # 129°
    "cyan": (30, 200, 210),  # 183°
    "blue": (40, 70, 220),  # 230°
    "purple": (140, 50, 200),  # 276°
    "pink": (240, 100, 180),  # 326°
}
# Background-only neutrals.
NEUTRALS = {"white": (235, 235, 235), "black": (20, 20, 20), "gray": (128, 128, 128)}
BACKGROUNDS = {**COLORS, **NEUTRALS}
SHAPES = ("circle", "square", "triangle", "star", "ring")

# Radius ranges (pixels at 64×64) of the size words; "" is the unnamed medium size.
SIZES = {"small": (7.0, 10.0), "": (11.0, 15.0), "large": (17.0, 22.0)}
# Position words and the object-centre fraction of the image they stand for.
POSITIONS_X = {"on the left": 0.28, "on the right": 0.72}
POSITIONS_Y = {"at the top": 0.28, "at the bottom": 0.72}
RELATIONS = {"above": (0, -1), "below": (0, 1), "to the left of": (-1, 0), "to the right of": (1, 0)}


@dataclass
class Obj:
    """One shape: centre (cx, cy) and radius r in pixels of the 64×64 image."""

    shape: str
    color: str
    cx: float
    cy: float
    r: float


@dataclass
class Scene:
    objects: list
    background: tuple  # one or two background colour names
    split: str = "none"  # "none", "horizontal" (top / bottom) or "vertical" (left / right)
    caption: str = ""
    brightness: list = field(default_factory=list)  # per-object colour scale

    @property
    def main(self):
        """The largest object (the one a single-object caption names first)."""
        return max(self.objects, key=lambda o: o.r)


def _polygon_mask(xs, ys, verts):
    """Even-odd point-in-polygon for pixel centres (xs, ys) against vertices (N, 2)."""
    inside = np.zeros(xs.shape, dtype=bool)
    n = len(verts)
    for i in range(n):
        x0, y0 = verts[i]
        x1, y1 = verts[(i + 1) % n]
        if y0 == y1:
            continue
        crosses = (y0 > ys) != (y1 > ys)
        x_at = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (xs < x_at)
    return inside


def shape_vertices(shape, cx, cy, r):
    """Polygon vertices of the polygonal shapes (square, triangle, star); None for round ones."""
    if shape == "square":
        h = 0.82 * r
        return np.array([[cx - h, cy - h], [cx + h, cy - h], [cx + h, cy + h], [cx - h, cy + h]])
    if shape == "triangle":
        return np.array([[cx, cy - r], [cx + r, cy + 0.78 * r], [cx - r, cy + 0.78 * r]])
    if shape == "star":
        ang = -np.pi / 2 + np.arange(10) * np.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, r, 0.45 * r)
        return np.stack([cx + rad * np.cos(ang), cy + 0.05 * r + rad * np.sin(ang)], axis=1)
    return None


def shape_mask(shape, cx, cy, r, size=SIZE, ss=SUPERSAMPLE):
    """Coverage in [0, 1] of one shape on a size×size grid (ss×ss supersampling). Returns float32 (size, size)."""
    n = size * ss
    coords = (np.arange(n, dtype=np.float64) + 0.5) / ss
    xs, ys = np.meshgrid(coords, coords)
    if shape == "circle":
        m = (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    elif shape == "ring":
        d2 = (xs - cx) ** 2 + (ys - cy) ** 2
        m = (d2 <= r * r) & (d2 >= (0.55 * r) ** 2)
    elif shape in ("square", "triangle", "star"):
        m = _polygon_mask(xs, ys, shape_vertices(shape, cx, cy, r))
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return m.reshape(size, ss, size, ss).mean(axis=(1, 3)).astype(np.float32)


def _background(scene, size=SIZE):
    img = np.empty((size, size, 3), dtype=np.float32)
    c0 = np.array(BACKGROUNDS[scene.background[0]], dtype=np.float32)
    img[:] = c0
    if scene.split != "none":
        c1 = np.array(BACKGROUNDS[scene.background[1]], dtype=np.float32)
        if scene.split == "horizontal":
            img[size // 2:] = c1
        else:
            img[:, size // 2:] = c1
    return img


def render(scene, size=SIZE):
    """The scene as uint8 (size, size, 3) RGB."""
    img = _background(scene, size)
    for obj, b in zip(scene.objects, scene.brightness or [1.0] * len(scene.objects)):
        a = shape_mask(obj.shape, obj.cx, obj.cy, obj.r, size)[..., None]
        col = np.clip(np.array(COLORS[obj.color], dtype=np.float32) * b, 0, 255)
        img = img * (1 - a) + col * a
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# Depth (for the toy depth models, in the units of DD's depth maps: MiDaS's ``(50 - pred) / 19`` and AdaBins's
# metres). The ground is a wall at BACKGROUND_DEPTH; an object stands in front of it, the nearer the larger it is
# drawn (a fixed-size world seen in perspective), so the picture alone tells the depth.
BACKGROUND_DEPTH = 2.5
NEAREST_DEPTH, FARTHEST_DEPTH = 1.0, 2.1
R_NEAR, R_FAR = 22.0, 7.0


def object_depth(r):
    """The depth of an object drawn with radius ``r`` (pixels at 64×64): linear in r, clamped to the range."""
    t = (R_NEAR - r) / (R_NEAR - R_FAR)
    return float(np.clip(NEAREST_DEPTH + t * (FARTHEST_DEPTH - NEAREST_DEPTH), NEAREST_DEPTH, FARTHEST_DEPTH))


def depth_map(scene, size=SIZE):
    """The scene's depth as float32 (size, size), drawn as ``render`` draws colours (coverage-weighted, later
    objects over earlier ones), at any ``size`` (the geometry scales with it)."""
    k = size / SIZE
    d = np.full((size, size), BACKGROUND_DEPTH, dtype=np.float32)
    for obj in scene.objects:
        a = shape_mask(obj.shape, obj.cx * k, obj.cy * k, obj.r * k, size)
        d = d * (1 - a) + object_depth(obj.r) * a
    return d


def _background_phrase(scene):
    if scene.split == "none":
        return f"on {article(scene.background[0])} {scene.background[0]} background"
    return f"on {article(scene.background[0])} {scene.background[0]} and {scene.background[1]} background"


def article(word):
    """'a' or 'an' before ``word``."""
    return "an" if word[:1] in "aeiou" else "a"


def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _single(rng, excluded, size_words=tuple(SIZES)):
    """One object with size and position words; returns (Obj, size word, position phrase)."""
    while True:
        shape, color = _pick(rng, SHAPES), _pick(rng, list(COLORS))
        if (color, shape) not in excluded:
            break
    size_word = _pick(rng, list(size_words))
    r = float(rng.uniform(*SIZES[size_word]))
    px = _pick(rng, ["", *POSITIONS_X]) if size_word != "large" else ""
    py = _pick(rng, ["", *POSITIONS_Y]) if size_word != "large" else ""
    fx = POSITIONS_X.get(px, 0.5) + rng.uniform(-0.06, 0.06)
    fy = POSITIONS_Y.get(py, 0.5) + rng.uniform(-0.06, 0.06)
    lo, hi = r + 1.0, SIZE - r - 1.0
    cx, cy = float(np.clip(fx * SIZE, lo, hi)), float(np.clip(fy * SIZE, lo, hi))
    if px and py:
        pos = f"in the {py.split()[-1]} {px.split()[-1]} corner"
    else:
        pos = px or py
    return Obj(shape, color, cx, cy, r), size_word, pos


def _pair(rng, excluded):
    """Two small or medium objects side by side or stacked; returns (objects, relation)."""
    rel = _pick(rng, list(RELATIONS))
    dx, dy = RELATIONS[rel]
    objs = []
    for k, sign in enumerate((-1, 1)):
        while True:
            shape, color = _pick(rng, SHAPES), _pick(rng, list(COLORS))
            if (color, shape) not in excluded and not (k and color == objs[0].color):
                break
        r = float(rng.uniform(7.0, 12.0))
        # the first object is at the negative side of the relation's axis ("above" -> first is higher)
        off = sign * 15.0
        cx = 32.0 + dx * off + rng.uniform(-3, 3) + (0 if dx else rng.uniform(-8, 8))
        cy = 32.0 + dy * off + rng.uniform(-3, 3) + (0 if dy else rng.uniform(-8, 8))
        lo, hi = r + 1, SIZE - r - 1
        objs.append(Obj(shape, color, float(np.clip(cx, lo, hi)), float(np.clip(cy, lo, hi)), r))
    return objs, rel


def sample_scene(rng, two_object_p=0.25, excluded=(), plain=False, size_words=tuple(SIZES),
                 backgrounds=tuple(BACKGROUNDS)):
    """A random scene with its caption. ``excluded``: (colour, shape) pairs never drawn (held out); ``plain``: one
    background colour only; ``size_words``: the sizes a single object is drawn at (a subset of SIZES);
    ``backgrounds``: the background colours drawn from (a subset of BACKGROUNDS)."""
    if rng.random() < two_object_p:
        objs, rel = _pair(rng, excluded)
        a, b = objs
        core = f"{article(a.color)} {a.color} {a.shape} {rel} {article(b.color)} {b.color} {b.shape}"
    else:
        obj, size_word, pos = _single(rng, excluded, size_words)
        objs = [obj]
        words = [w for w in (size_word, obj.color, obj.shape) if w]
        words.insert(0, article(words[0]))
        core = " ".join(words) + (f" {pos}" if pos and rng.random() < 0.7 else "")
    used = {o.color for o in objs}
    bgs = [c for c in backgrounds if c not in used]
    split = "none" if plain else _pick(rng, ["none", "none", "horizontal", "vertical"])
    if split == "none":
        background = (_pick(rng, bgs),)
    else:
        first = _pick(rng, bgs)
        background = (first, _pick(rng, [c for c in bgs if c != first]))
    scene = Scene(objs, background, split, brightness=[float(rng.uniform(0.88, 1.08)) for _ in objs])
    scene.caption = core + (f" {_background_phrase(scene)}" if rng.random() < 0.6 else "")
    return scene


def empty_scene(rng):
    """A background and nothing on it, captioned by its colour ("a yellow background")."""
    bg = _pick(rng, list(BACKGROUNDS))
    return Scene([], (bg,), caption=f"{article(bg)} {bg} background")


def shape_variants(scene, rng, k, excluded=()):
    """``k`` copies of ``scene`` that differ only in its first object's shape (the original among them), captions
    changed to match: a contrastive batch of them can only be told apart by shape."""
    obj = scene.objects[0]
    others = [s for s in SHAPES if s != obj.shape and (obj.color, s) not in excluded]
    picks = [obj.shape] + [others[int(i)] for i in rng.permutation(len(others))[:k - 1]]
    out = []
    for shape in picks:
        objects = [Obj(shape, obj.color, obj.cx, obj.cy, obj.r)] + scene.objects[1:]
        caption = scene.caption.replace(f"{obj.color} {obj.shape}", f"{obj.color} {shape}", 1)
        out.append(Scene(objects, scene.background, scene.split, caption, list(scene.brightness)))
    return out


def colour_swap(scene):
    """``scene`` (one object on a plain background of one of the eight colours) with the object's and the
    background's colours exchanged, caption changed to match: "a red circle on a blue background" becomes "a blue
    circle on a red background". A contrastive batch holding both can tell them apart only by which colour is
    the object's."""
    obj, bg = scene.objects[0], scene.background[0]
    assert len(scene.objects) == 1 and scene.split == "none" and bg in COLORS, scene
    caption = scene.caption.replace(f"on {article(bg)} {bg} background", "\0", 1)
    first = f"{article(obj.color)} {obj.color} {obj.shape}"
    if caption.startswith(first):
        caption = f"{article(bg)} {bg} {obj.shape}" + caption[len(first):]
    else:
        caption = caption.replace(f"{obj.color} {obj.shape}", f"{bg} {obj.shape}", 1)
    caption = caption.replace("\0", f"on {article(obj.color)} {obj.color} background")
    return Scene([Obj(obj.shape, bg, obj.cx, obj.cy, obj.r)], (obj.color,), "none", caption, list(scene.brightness))


# The slices of the world a model may be trained on (``sample_scene``'s keyword arguments). The CLIPs, LPIPS and
# depth models learn all of it; the diffusion models draw one object on a plain background, at the unnamed and
# large sizes (docs/toy-models.md §3 says why), so that a 1 M-parameter UNet learns crisp shapes within the budget.
WORLDS = {
    "full": {},
    "single": {"two_object_p": 0.0, "plain": True},
    "single-large": {"two_object_p": 0.0, "plain": True, "size_words": ("", "large")},
    "single-large-neutral": {"two_object_p": 0.0, "plain": True, "size_words": ("", "large"),
                             "backgrounds": tuple(NEUTRALS)},
}


def sample_batch(rng, n, **kw):
    """n scenes and their images: (list of Scene, uint8 (n, 64, 64, 3))."""
    scenes = [sample_scene(rng, **kw) for _ in range(n)]
    return scenes, np.stack([render(s) for s in scenes])


def to_model(images):
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [-1, 1], the diffusion models' range."""
    return images.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0


def from_model(x):
    """float (N, 3, H, W) in [-1, 1] -> uint8 (N, H, W, 3), as DD saves images."""
    x = np.asarray(x, dtype=np.float32)
    return np.clip(np.rint((x.transpose(0, 2, 3, 1) + 1) * 127.5), 0, 255).astype(np.uint8)
