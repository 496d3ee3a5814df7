"""The 3D mode's depth models in a model set: construction (tiny or from the released checkpoint) and the
manifest's ``depth`` section. The architectures are in ``midas.py``."""

from . import checkpoints, midas

# torch.hub names a release by its sha256's first 8 hex digits (DD downloads dpt_large-midas-2f21e586.pt).
PUBLISHED_SHA256_PREFIX = "2f21e586"
# The seed offset of the tiny DPT (the other tiny models use 1..4 and 10+).
TINY_SEED_OFFSET = 40


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
    return model, sha


def midas_graph_specs(model):
    return midas.graph_specs(model)


def midas_section(model, family):
    """The manifest's ``depth.midas.<name>`` entry: architecture, graphs, and DD's preprocessing constants."""
    return {**model.cfg.as_manifest(), **family, "mean": list(midas.MEAN), "std": list(midas.STD),
            "net_size": midas.NET_SIZE, "resize": "minimal", "output": "inverse_depth",
            "dd_depth": "(50 - inverse_depth) / 19"}
