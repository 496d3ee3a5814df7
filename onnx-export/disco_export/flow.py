"""Video Input's optical flow in a model set: RAFT (``raft.py``) from tiny random weights or DD's released
``raft-things.pth``, and the manifest's ``raft`` section."""

from . import checkpoints, raft

# The seed offset of the tiny RAFT (the depth models use 40 and 41).
TINY_SEED_OFFSET = 42
# The file DD downloads (princeton-vl/RAFT's models.zip, ``models/raft-things.pth``).
CHECKPOINT_FILE = "raft-things.pth"


def make_raft(req):
    """(RAFT-large, source sha256 or None): tiny random weights, or the released checkpoint."""
    if req.tiny:
        return raft.tiny_model(req.seed + TINY_SEED_OFFSET), None
    if req.raft_checkpoint is None:
        raise checkpoints.CheckpointError(f"--raft needs the path of {CHECKPOINT_FILE}")
    model = raft.RAFT(raft.RAFT_LARGE)
    sha = checkpoints.load_into(model, req.raft_checkpoint, "RAFT (raft-things)")
    return model.eval(), sha  # inference: running batch-norm statistics in the context encoder


def raft_section(model, family):
    """The manifest's ``raft`` entry: architecture, iterations, graphs and the input contract."""
    return {**model.cfg.as_manifest(), **family, "min_side": raft.MIN_SIDE, "input": "rgb255",
            "output": "flow image1 -> image2, pixels, x then y"}
