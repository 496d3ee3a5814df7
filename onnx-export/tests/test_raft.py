"""RAFT (raft.py): the released raft-things.pth key layout, the real loader, the lookup window and convex
upsampling against RAFT's own formulation, and the tiny graph in the tiny set (its numerics against torch are in
test_graphs.py with every other graph)."""

import pytest
import torch
import torch.nn.functional as F

from disco_export import checkpoints, flow, raft


def _meta_state(cfg):
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in raft.RAFT(cfg).state_dict().items()}


def expected_raft_keys():
    """raft-things.pth's keys (after DataParallel's ``module.``), from the published layout, written independently
    of the model code: two BasicEncoders (instance norm: no norm keys; batch norm: weight, bias, running stats and
    num_batches_tracked, the strided blocks' norm under both norm3 and downsample.1), the update block."""
    conv = ("weight", "bias")
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = []
    for enc, norms in (("fnet", False), ("cnet", True)):
        keys += [f"{enc}.conv1.{w}" for w in conv] + [f"{enc}.conv2.{w}" for w in conv]
        if norms:
            keys += [f"{enc}.norm1.{w}" for w in bn]
        for layer in (1, 2, 3):
            for block in (0, 1):
                p = f"{enc}.layer{layer}.{block}."
                keys += [p + f"conv{c}.{w}" for c in (1, 2) for w in conv]
                if norms:
                    keys += [p + f"norm{n}.{w}" for n in (1, 2) for w in bn]
                if layer > 1 and block == 0:
                    keys += [p + f"downsample.0.{w}" for w in conv]
                    if norms:
                        keys += [p + f"norm3.{w}" for w in bn] + [p + f"downsample.1.{w}" for w in bn]
    u = "update_block."
    keys += [f"{u}encoder.{c}.{w}" for c in ("convc1", "convc2", "convf1", "convf2", "conv") for w in conv]
    keys += [f"{u}gru.conv{g}{a}.{w}" for g in "zrq" for a in "12" for w in conv]
    keys += [f"{u}flow_head.conv{c}.{w}" for c in (1, 2) for w in conv]
    keys += [f"{u}mask.{i}.{w}" for i in (0, 2) for w in conv]
    return keys


def test_raft_large_keys_match_the_released_checkpoint():
    got = _meta_state(raft.RAFT_LARGE)
    assert sorted(got) == sorted(expected_raft_keys())
    # literal shapes of raft-things.pth
    assert got["fnet.conv1.weight"] == (64, 3, 7, 7)
    assert got["fnet.layer2.0.downsample.0.weight"] == (96, 64, 1, 1)
    assert got["fnet.conv2.weight"] == (256, 128, 1, 1)
    assert got["cnet.conv2.weight"] == (256, 128, 1, 1)
    assert got["cnet.layer3.0.norm3.running_var"] == (128,)
    assert got["update_block.encoder.convc1.weight"] == (256, 324, 1, 1)
    assert got["update_block.encoder.convf1.weight"] == (128, 2, 7, 7)
    assert got["update_block.encoder.conv.weight"] == (126, 256, 3, 3)
    assert got["update_block.gru.convz1.weight"] == (128, 384, 1, 5)
    assert got["update_block.gru.convq2.weight"] == (128, 384, 5, 1)
    assert got["update_block.flow_head.conv1.weight"] == (256, 128, 3, 3)
    assert got["update_block.mask.2.weight"] == (576, 256, 1, 1)
    # RAFT's published size: 5.3M parameters (the shared norm3 / downsample.1 counted once)
    with torch.device("meta"):
        params = sum(p.numel() for p in raft.RAFT(raft.RAFT_LARGE).parameters())
    assert 5.2e6 < params < 5.35e6


def test_tiny_raft_has_the_real_layout():
    assert sorted(_meta_state(raft.TINY_RAFT)) == sorted(expected_raft_keys())


def test_the_loader_reads_a_dataparallel_checkpoint_strictly(tmp_path):
    src = raft.tiny_model(3)
    path = tmp_path / "raft-things.pth"
    torch.save({"module." + k: v for k, v in src.state_dict().items()}, path)  # as DD's file: DataParallel
    model = raft.RAFT(raft.TINY_RAFT)
    sha = checkpoints.load_into(model, path, "RAFT")
    assert len(sha) == 64
    a, b = raft.sample_inputs(1, torch.Generator().manual_seed(0), (128, 128))
    with torch.no_grad():
        assert torch.equal(model.eval()(a, b), src(a, b))
    sd = src.state_dict()
    del sd["update_block.gru.convr2.bias"]
    torch.save(sd, path)
    with pytest.raises(checkpoints.CheckpointError):
        checkpoints.load_into(raft.RAFT(raft.TINY_RAFT), path, "RAFT")


def test_convex_upsampling_is_rafts_unfold_formulation():
    g = torch.Generator().manual_seed(1)
    coarse, mask = torch.randn(2, 2, 3, 5, generator=g), torch.randn(2, 576, 3, 5, generator=g)
    n, _, h, w = coarse.shape
    m = torch.softmax(mask.view(n, 1, 9, 8, 8, h, w), dim=2)
    up = F.unfold(8 * coarse, [3, 3], padding=1).view(n, 2, 9, 1, 1, h, w)
    want = torch.sum(m * up, dim=2).permute(0, 1, 4, 2, 5, 3).reshape(n, 2, 8 * h, 8 * w)
    assert torch.allclose(raft.RAFT._upsample(coarse, mask), want, atol=1e-6)


def test_the_window_moves_x_along_its_first_axis_as_raft_does():
    model = raft.RAFT(raft.TINY_RAFT)
    w = model.window[0]
    assert w[0, 4].tolist() == [-4.0, 0.0] and w[4, 0].tolist() == [0.0, -4.0]
    # a correlation level that is 1 at pixel (x=5, y=2) only: the lookup centred on (5, 2) sees it at the
    # centre of the window; centred on (3, 2) (2 px left), at first-axis offset +2
    corr = torch.zeros(1, 1, 8, 8)
    corr[0, 0, 2, 5] = 1.0
    for cx, where in ((5.0, (4, 4)), (3.0, (6, 4))):
        coords = torch.tensor([cx, 2.0]).view(1, 2, 1, 1)
        got = model._lookup([corr], coords).view(9, 9)
        assert got[where] == 1.0 and got.sum() == 1.0


def test_flow_follows_a_shift_shape_and_finite():
    model = raft.tiny_model(0)
    a, b = raft.sample_inputs(2, torch.Generator().manual_seed(2), (128, 192))
    with torch.no_grad():
        out = model(a, b)
    assert out.shape == (2, 2, 128, 192) and torch.isfinite(out).all() and out.abs().max() > 0


def test_tiny_set_holds_the_flow_graph(tiny_manifest):
    entry = tiny_manifest["raft"]
    assert entry["graphs"] == {"forward": "raft_fwd"}
    assert entry["size_multiple"] == 64 and entry["min_side"] == 128 and entry["iters"] == raft.TINY_RAFT.iters
    g = tiny_manifest["graphs"]["raft_fwd"]
    assert [i["name"] for i in g["inputs"]] == ["image1", "image2"] and g["outputs"][0]["shape"] == ["B", 2, "H", "W"]
    assert flow.CHECKPOINT_FILE == "raft-things.pth" and raft.RAFT_LARGE.iters == 20
