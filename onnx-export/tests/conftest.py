"""A tiny model set exported once per test session by the real CLI code path.

Set DISCO_TINY_MODELS=<dir> to reuse a set that ``python -m disco_export --tiny --out <dir>`` already wrote
(CI does that first); otherwise the set is exported into a temporary directory (a few minutes on 2 cores).
"""

import copy
import os
from pathlib import Path

import pytest

from disco_export import adabins, clip, depth, flow, lpips, manifest, raft, secondary, unet, unet_checkpoint
from disco_export.__main__ import TINY_CLIP, main, parser, request
from disco_export.modelset import _seeded, make_clip, make_lpips, make_secondary, make_unet


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory):
    env = os.environ.get("DISCO_TINY_MODELS")
    if env and (Path(env) / manifest.MANIFEST).is_file():
        return Path(env)
    out = tmp_path_factory.mktemp("tiny")
    assert main(["--tiny", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_manifest(tiny_set):
    return manifest.load(tiny_set)


def tiny_specs():
    """Every graph spec of the default tiny set, rebuilt from the same seeds: {graph name: GraphSpec}."""
    req = request(parser().parse_args(["--tiny", "--out", "unused"]))
    specs = {}
    model, _ = make_unet(req)
    specs.update({s.name: s for s in unet.graph_specs(model).values()})
    fwd, segs = unet_checkpoint.graph_specs(model)  # the default model's checkpointed path
    specs.update({s.name: s for s in [fwd] + [seg for _, seg, _, _ in segs]})
    half = copy.deepcopy(model).convert_to_fp16()  # its fp16 forward and VJP (no fp16 checkpoint graphs when tiny)
    specs.update({s.name: s for s in unet.graph_specs(half).values()})
    for i, cfg in enumerate(req.extra_tiny_unets):  # the custom-architecture model, seeded as modelset.build does
        model = _seeded(req.seed + 4 + i, lambda: unet.UNetModel(cfg))
        specs.update({s.name: s for s in unet.graph_specs(model).values()})
    model, _ = make_secondary(req)
    specs.update({s.name: s for s in secondary.graph_specs(model).values()})
    model, _ = make_lpips(req)
    specs.update({s.name: s for s in lpips.graph_specs(model).values()})
    for name in req.midas:
        model, _ = depth.make_midas(req, name)
        specs.update({s.name: s for s in depth.midas_graph_specs(model).values()})
    model, _ = depth.make_adabins(req)
    specs.update({s.name: s for s in adabins.graph_specs(model).values()})
    model, _ = flow.make_raft(req)
    specs.update({s.name: s for s in raft.graph_specs(model).values()})
    for flag in TINY_CLIP:
        model, _ = make_clip(req, flag)
        specs.update({s.name: s for s in clip.graph_specs(flag, model, two_pass=True).values()})
    return specs
