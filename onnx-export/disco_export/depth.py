"""The 3D mode's depth models in a model set: construction (tiny or from the released checkpoints) and the
manifest's ``depth`` section. The architectures are in ``midas.py`` and ``adabins.py`` (+ ``efficientnet.py``)."""

from dataclasses import dataclass

import torch

from . import adabins, checkpoints, midas, midas_v21

# The seed offsets of the tiny depth models (the other tiny models use 1..4 and 10+); the MiDaS models other than
# DPT-Large take 42 + their index in MIDAS_MODELS.
TINY_SEED_OFFSET = 40
TINY_ADABINS_SEED_OFFSET = 41


@dataclass(frozen=True)
class MidasModel:
    """One of DD's ``midas_depth_model`` choices: its architecture (real and tiny), the released file DD loads,
    and DD's preprocessing (``init_midas_depth_model``: net size, MiDaS resize mode, normalisation)."""

    name: str
    file: str               # DD's file name (default_models in DD's init_midas_depth_model)
    # The first 8 hex digits of the file's sha256, as torch.hub names a release (MiDaS's hubconf.py loads the
    # dpt_large, dpt_hybrid, v2.1 and v2.1 small releases with check_hash=True); dpt_hybrid_nyu's is only its
    # file name's, which no hub entry checks.
    sha256_prefix: str
    build: object           # () -> the real architecture
    build_tiny: object      # () -> the tiny architecture (random weights, to be seeded by the caller)
    net_size: int
    resize: str             # MiDaS Resize's resize_method
    mean: tuple
    std: tuple
    urls: tuple = ()


DPT_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
MIDAS_MODELS = {m.name: m for m in (
    MidasModel("dpt_large", "dpt_large-midas-2f21e586.pt", "2f21e586",
               lambda: midas.DPTDepthModel(midas.DPT_LARGE), lambda: midas.DPTDepthModel(midas.TINY_DPT),
               midas.NET_SIZE, "minimal", *DPT_MEAN_STD,
               ("https://github.com/isl-org/MiDaS/releases/download/v3/dpt_large-midas-2f21e586.pt",)),
    MidasModel("dpt_hybrid", "dpt_hybrid-midas-501f0c75.pt", "501f0c75",
               lambda: midas.DPTDepthModel(midas.DPT_HYBRID), lambda: midas.DPTDepthModel(midas.TINY_DPT_HYBRID),
               midas.NET_SIZE, "minimal", *DPT_MEAN_STD,
               ("https://github.com/isl-org/MiDaS/releases/download/v3/dpt_hybrid-midas-501f0c75.pt",)),
    MidasModel("dpt_hybrid_nyu", "dpt_hybrid_nyu-2ce69ec7.pt", "2ce69ec7",
               lambda: midas.DPTDepthModel(midas.DPT_HYBRID_NYU),
               lambda: midas.DPTDepthModel(midas.TINY_DPT_HYBRID_NYU),
               midas.NET_SIZE, "minimal", *DPT_MEAN_STD,
               ("https://github.com/intel-isl/DPT/releases/download/1_0/dpt_hybrid_nyu-2ce69ec7.pt",)),
    MidasModel("midas_v21", "midas_v21-f6b98070.pt", "f6b98070",
               lambda: midas_v21.MidasNet(midas_v21.MIDAS_V21), lambda: midas_v21.MidasNet(midas_v21.TINY_V21),
               midas_v21.V21_NET_SIZE, "upper_bound", midas_v21.IMAGENET_MEAN, midas_v21.IMAGENET_STD,
               ("https://github.com/isl-org/MiDaS/releases/download/v2_1/model-f6b98070.pt",)),
    MidasModel("midas_v21_small", "midas_v21_small-70d6b9c8.pt", "70d6b9c8",
               lambda: midas_v21.MidasNetSmall(midas_v21.MIDAS_V21_SMALL),
               lambda: midas_v21.MidasNetSmall(midas_v21.TINY_SMALL),
               midas_v21.SMALL_NET_SIZE, "upper_bound", midas_v21.IMAGENET_MEAN, midas_v21.IMAGENET_STD,
               ("https://github.com/isl-org/MiDaS/releases/download/v2_1/model-small-70d6b9c8.pt",)),
)}
DEFAULT_MIDAS = "dpt_large"
# DPT-Large's prefix, kept under its old name.
PUBLISHED_SHA256_PREFIX = MIDAS_MODELS[DEFAULT_MIDAS].sha256_prefix


def tiny_seed(req_seed, name):
    """The seed of tiny MiDaS ``name``: DPT-Large keeps its old one."""
    if name == DEFAULT_MIDAS:
        return req_seed + TINY_SEED_OFFSET
    return req_seed + TINY_SEED_OFFSET + 2 + list(MIDAS_MODELS).index(name)


def make_tiny_midas(name, seed):
    """Tiny MiDaS ``name`` with random weights under ``seed``, its head positive (midas.positive_head)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = MIDAS_MODELS[name].build_tiny()
    return midas.positive_head(model)


def make_midas(req, name=DEFAULT_MIDAS):
    """(MiDaS ``name``, source sha256 or None): tiny random weights, or the released checkpoint."""
    spec = MIDAS_MODELS[name]
    if req.tiny:
        return make_tiny_midas(name, tiny_seed(req.seed, name)), None
    path = req.midas_checkpoints.get(name)
    if path is None:
        raise checkpoints.CheckpointError(f"MiDaS {name} needs the path of {spec.file}")
    model = spec.build()
    # BatchNorm counters (v2.1 models) are not read at inference; a checkpoint saved without them loads too.
    sha = checkpoints.load_into(model, path, f"MiDaS {name}", optional=("num_batches_tracked",))
    if not sha.startswith(spec.sha256_prefix):
        print(f"[disco_export] warning: {path} has sha256 {sha[:16]}..., the released {spec.file} starts with "
              f"{spec.sha256_prefix}", flush=True)
    return model.eval(), sha


def midas_graph_specs(model):
    return midas.graph_specs(model)


def midas_section(model, family):
    """The manifest's ``depth.midas.<name>`` entry: architecture, graphs, and DD's preprocessing constants."""
    spec = MIDAS_MODELS[model.cfg.name]
    # a DPT config may name its own net size (the toy set's 128); the released models use DD's
    net_size = getattr(model.cfg, "net_size", spec.net_size)
    return {**model.cfg.as_manifest(), **family, "mean": list(spec.mean), "std": list(spec.std),
            "net_size": net_size, "resize": spec.resize, "output": "inverse_depth",
            "dd_depth": "(50 - inverse_depth) / 19", "file": spec.file}


def make_adabins(req):
    """(AdaBins-NYU as DD's predict, source sha256 or None): tiny random weights, or ``AdaBins_nyu.pt``."""
    if req.tiny:
        return adabins.tiny_model(req.seed + TINY_ADABINS_SEED_OFFSET), None
    if req.adabins_checkpoint is None:
        raise checkpoints.CheckpointError("--adabins needs the path of AdaBins_nyu.pt")
    model = adabins.DdPredict(adabins.ADABINS_NYU)
    sha = checkpoints.load_into(model.model, req.adabins_checkpoint, "AdaBins NYU")
    return model.eval(), sha  # inference: running BatchNorm statistics, no transformer dropout


def adabins_section(model, family):
    """The manifest's ``depth.adabins`` entry: architecture, graphs, DD's normalisation and area limits."""
    return {**model.cfg.as_manifest(), **family, "mean": list(adabins.MEAN), "std": list(adabins.STD),
            "min_area": model.cfg.min_area, "max_area": model.cfg.max_area, "output": "depth"}
