"""Toy clips with ground-truth optical flow: scenes.py's shapes moved by known displacements.

A pair is a scene (``scenes.sample_scene``, drawn from the caller's generator) and the same scene after each
object moved: object k's centre goes from c to c + d_k and its radius scales by s_k (its shape scales about its
centre, as ``scenes.shape_mask`` draws it), while the background stays. So every point p of object k in image1
is at c + d_k + s_k · (p − c) in image2, and the flow image1 → image2 (RAFT's convention: pixel (x, y) of image1
is at (x + u, y + v) in image2) is

    flow(p) = d_k + (s_k − 1) · (p − c)     where image1 shows object k at p,
    flow(p) = 0                             where it shows the background.

"Shows object k" is the topmost object whose coverage at the pixel centre is at least ½ (objects are drawn in
order, later ones on top; a ring's hole shows the background). Flow is defined for every pixel of image1, also
where image2 hides that point (under another object, or outside the frame): the flow says where the surface
went, not what is seen there. ``visible_in_both`` marks the pixels whose point is seen in both frames.

This module draws scenes with scenes.py's functions and never changes how they are sampled: the other toy models'
recipes depend on that generator's sequence of draws.
"""

from dataclasses import dataclass

import numpy as np

from . import scenes

MAX_SHIFT = 10.0  # pixels: the largest displacement drawn (RAFT's coarse grid is 8 px; its window reaches ±4 cells)
STILL_P = 0.15  # an object that does not move
SCALE_P = 0.4  # an object that also grows or shrinks
MAX_LOG_SCALE = 0.12  # |ln s| ≤ 0.12: a size change of at most ±13 % between two frames


@dataclass
class Motion:
    """One object's move between the two frames: displacement (dx, dy) in pixels, radius scale ``s``."""

    dx: float
    dy: float
    s: float = 1.0


def sample_motion(rng, max_shift=MAX_SHIFT):
    """A random Motion: a direction uniform on the circle, a length whose square root is uniform (short moves
    are commoner: a video's frame-to-frame motion is mostly small), sometimes none, sometimes a size change."""
    if rng.random() < STILL_P:
        return Motion(0.0, 0.0)
    ang = rng.uniform(0.0, 2.0 * np.pi)
    length = max_shift * rng.uniform(0.0, 1.0) ** 2
    s = float(np.exp(rng.uniform(-MAX_LOG_SCALE, MAX_LOG_SCALE))) if rng.random() < SCALE_P else 1.0
    return Motion(float(length * np.cos(ang)), float(length * np.sin(ang)), s)


def moved(scene, motions):
    """``scene`` with each object moved by its Motion (the background and brightness unchanged)."""
    objs = [scenes.Obj(o.shape, o.color, o.cx + m.dx, o.cy + m.dy, o.r * m.s) for o, m in zip(scene.objects, motions)]
    return scenes.Scene(objs, scene.background, scene.split, scene.caption, list(scene.brightness))


def layers(scene, size=scenes.SIZE):
    """Which layer each pixel shows: -1 for the background, k for object k (the topmost with coverage ≥ ½).
    Returns int64 (size, size)."""
    out = np.full((size, size), -1, dtype=np.int64)
    for k, o in enumerate(scene.objects):
        out[scenes.shape_mask(o.shape, o.cx, o.cy, o.r, size) >= 0.5] = k
    return out


def flow_of(scene, motions, size=scenes.SIZE):
    """The flow image1 → image2 of ``scene`` moved by ``motions`` (module docstring): float32 (size, size, 2),
    x then y, in pixels."""
    layer = layers(scene, size)
    ys, xs = np.meshgrid(np.arange(size, dtype=np.float64) + 0.5, np.arange(size, dtype=np.float64) + 0.5,
                         indexing="ij")
    flow = np.zeros((size, size, 2), dtype=np.float64)
    for k, (o, m) in enumerate(zip(scene.objects, motions)):
        at = layer == k
        flow[at, 0] = m.dx + (m.s - 1.0) * (xs[at] - o.cx)
        flow[at, 1] = m.dy + (m.s - 1.0) * (ys[at] - o.cy)
    return flow.astype(np.float32)


def visible_in_both(scene, motions, size=scenes.SIZE):
    """bool (size, size): image1's pixels whose point image2 shows too (the same layer is on top where the flow
    lands, inside the frame). Elsewhere the point is occluded or left the picture; its flow is still defined."""
    flow = flow_of(scene, motions, size)
    layer1, layer2 = layers(scene, size), layers(moved(scene, motions), size)
    ys, xs = np.mgrid[0:size, 0:size]
    x2 = np.rint(xs + flow[..., 0]).astype(np.int64)
    y2 = np.rint(ys + flow[..., 1]).astype(np.int64)
    inside = (x2 >= 0) & (x2 < size) & (y2 >= 0) & (y2 < size)
    seen = np.zeros((size, size), dtype=bool)
    seen[inside] = layer2[y2[inside], x2[inside]] == layer1[inside]
    return seen


def sample_pair(rng, max_shift=MAX_SHIFT):
    """One training pair from ``rng``: (image1, image2) uint8 (64, 64, 3) and the flow float32 (64, 64, 2)."""
    scene = scenes.sample_scene(rng)
    motions = [sample_motion(rng, max_shift) for _ in scene.objects]
    return scenes.render(scene), scenes.render(moved(scene, motions)), flow_of(scene, motions)


def sample_pairs(rng, n, max_shift=MAX_SHIFT):
    """n pairs: image1, image2 uint8 (n, 64, 64, 3) and flow float32 (n, 64, 64, 2)."""
    pairs = [sample_pair(rng, max_shift) for _ in range(n)]
    return tuple(np.stack(a) for a in zip(*pairs))


def warp(image, flow):
    """Backward warp: out(p) = image(p + flow(p)), bilinear, edge pixels beyond the border. ``image`` (H, W, C),
    ``flow`` (H, W, 2); float64 (H, W, C). With image2 and the flow image1 → image2 this rebuilds image1 where
    image1's points are visible in both."""
    h, w, _ = image.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x = np.clip(xs + flow[..., 0], 0, w - 1)
    y = np.clip(ys + flow[..., 1], 0, h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    im = image.astype(np.float64)
    top = im[y0, x0] * (1 - fx) + im[y0, x1] * fx
    bottom = im[y1, x0] * (1 - fx) + im[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def clip(scene, velocities, n):
    """A clip of ``n`` frames: each object of ``scene`` moves by its (dx, dy) of ``velocities`` per frame (no
    scaling), the background stays. Returns the frames uint8 (n, 64, 64, 3) and the flows between consecutive
    frames, frame f → f + 1, float32 (n − 1, 64, 64, 2)."""
    step = [Motion(dx, dy) for dx, dy in velocities]
    shots, flows = [scene], []
    for _ in range(n - 1):
        flows.append(flow_of(shots[-1], step))
        shots.append(moved(shots[-1], step))
    return np.stack([scenes.render(s) for s in shots]), np.stack(flows)
