"""The 3D mode's depth models in a model set: construction (tiny or from the released checkpoints) and the
manifest's ``depth`` section. The architectures are in ``midas.py`` and ``adabins.py`` (+ ``efficientnet.py``)."""

from . import adabins, checkpoints, midas

# torch.hub names a release by its sha256's first 8 hex digits (DD downloads dpt_large-midas-2f21e586.pt).
PUBLISHED_SHA256_PREFIX = "2f21e586"
# The seed offsets of the tiny depth models (the other tiny models use 1..4 and 10+).
TINY_SEED_OFFSET = 40
TINY_ADABINS_SEED_OFFSET = 41


def make_midas(req):
    """(DPT-Large, source sha256 or None): tiny random weights, or the released checkpoint."""
    if req.tiny:
        return midas.tiny_model(req.seed + TINY_SEED_OFFSET), None
    if req.midas_checkpoint is None:
        raise checkpoints.CheckpointError("--midas needs the path of dpt_large-midas-2f21e586.pt")
    model = midas.DPTDepthModel(midas.DPT_LARGE)
    sha = checkpoints.load_into(model, req.midas_checkpoint, "MiDaS dpt_large")
    if not sha.startswith(PUBLISHED_SHA256_PREFIX):
        print(f"[disco_export] warning: {req.midas_checkpoint} has sha256 {sha[:16]}..., the released "
              f"dpt_large-midas-{PUBLISHED_SHA256_PREFIX}.pt starts with {PUBLISHED_SHA256_PREFIX}", flush=True)
    return model.eval(), sha


def midas_graph_specs(model):
    return midas.graph_specs(model)


def midas_section(model, family):
    """The manifest's ``depth.midas.<name>`` entry: architecture, graphs, and DD's preprocessing constants."""
    return {**model.cfg.as_manifest(), **family, "mean": list(midas.MEAN), "std": list(midas.STD),
            "net_size": model.cfg.net_size, "resize": "minimal", "output": "inverse_depth",
            "dd_depth": "(50 - inverse_depth) / 19"}


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
