"""The torch modules of a model set. Only tiny and ``--random-weights`` sets can be rebuilt here: their weights
come from fixed seeds through the exporter's own construction code (modelset.make_*); sets exported from
checkpoints need the original files, which this replay does not load."""

from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import clip, manifest
from ..modelset import Request, make_clip, make_lpips, make_secondary, make_unet


class NotTiny(RuntimeError):
    """The model set is neither tiny nor ``--random-weights``: its weights cannot be rebuilt from a seed."""


@dataclass
class ClipModel:
    flag: str
    resolution: int
    encoder: torch.nn.Module  # image (C, 3, R, R) normalised -> (C, D)


@dataclass
class Models:
    unet: torch.nn.Module = None  # (x (B,3,H,W), t (B,)) -> eps_full (B,6,H,W)
    secondary: torch.nn.Module = None  # (x, t_c (B,)) -> (pred, v)
    clip: dict = field(default_factory=dict)  # flag -> ClipModel
    lpips: torch.nn.Module = None  # (a, b) -> distance (B,)


def _eval(m):
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def rebuild_tiny(model_dir, clip_flags, seed=0):
    """Rebuild the torch modules of the tiny set in ``model_dir`` (exported with ``--seed seed``)."""
    doc = manifest.load(Path(model_dir))
    if not doc.get("tiny"):
        raise NotTiny(f"{model_dir} is not a tiny model set; the reference can only rebuild tiny sets "
                      "(real checkpoints are not available here)")
    return _rebuild(doc, Request(out=Path(model_dir), tiny=True, seed=seed), model_dir, clip_flags)


def rebuild(model_dir, clip_flags, seed=0):
    """The torch modules of a tiny set (exported with ``--seed seed``) or of a ``--random-weights`` set (real
    architectures; the seed is the one its manifest records)."""
    doc = manifest.load(Path(model_dir))
    random = doc.get("random_weights") if doc else None
    if doc and not doc.get("tiny") and random:
        return _rebuild(doc, Request(out=Path(model_dir), random_weights=True, seed=_seed(random, model_dir)),
                        model_dir, clip_flags)
    if doc and not doc.get("tiny"):
        raise NotTiny(f"{model_dir} is a model set exported from checkpoints; the reference can only rebuild "
                      "tiny and --random-weights sets (real checkpoints are not available here)")
    return rebuild_tiny(model_dir, clip_flags, seed)


def _seed(random, model_dir):
    """The manifest's ``random_weights.seed``: an int in torch's seed range, else NotTiny naming the value."""
    seed = random.get("seed") if isinstance(random, dict) else None
    if type(seed) is not int or not 0 <= seed < 2**63:
        raise NotTiny(f"{model_dir}: random_weights.seed must be an integer in [0, 2^63), not {seed!r}; "
                      "re-export the set with --random-weights --seed N")
    return seed


def _rebuild(doc, req, model_dir, clip_flags):
    models = Models()
    if doc.get("diffusion"):
        req.diffusion = doc["diffusion"]["name"]
        models.unet = _eval(make_unet(req)[0])
    if doc.get("secondary"):
        models.secondary = _eval(make_secondary(req)[0])
    if doc.get("lpips"):
        models.lpips = _eval(make_lpips(req)[0])
    for flag in clip_flags:
        if flag not in (doc.get("clip") or {}):
            raise KeyError(f"CLIP {flag} is not in the model set {model_dir}")
        model = _eval(make_clip(req, flag)[0])
        models.clip[flag] = ClipModel(flag, model.cfg.image_resolution, clip.ImageEncoder(model))
    return models


def graph_name(doc, family, role):
    """The manifest's graph name for (family, role); older tiny sets map roles to {"HxW": name}."""
    entry = (doc["clip"][family] if family in (doc.get("clip") or {}) else doc[family])["graphs"][role]
    return entry if isinstance(entry, str) else next(iter(entry.values()))
