"""The toy world: scene generator, classifier and the training losses' building blocks (fast, no model set)."""

import json
import zlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from disco_export.toy import __main__ as runner
from disco_export import raft
from disco_export.toy import classify, motion, sample, scenes, train, train_flow

REPO = Path(__file__).resolve().parents[2]


def test_a_seed_fixes_scenes_and_captions():
    a_s, a_i = scenes.sample_batch(np.random.default_rng(5), 8)
    b_s, b_i = scenes.sample_batch(np.random.default_rng(5), 8)
    c_s, c_i = scenes.sample_batch(np.random.default_rng(6), 8)
    assert [s.caption for s in a_s] == [s.caption for s in b_s]
    assert np.array_equal(a_i, b_i)
    assert not np.array_equal(a_i, c_i)
    assert a_i.shape == (8, 64, 64, 3) and a_i.dtype == np.uint8


def test_captions_name_what_is_drawn():
    rng = np.random.default_rng(0)
    for _ in range(200):
        s = scenes.sample_scene(rng)
        for o in s.objects:
            assert f"{o.color} {o.shape}" in s.caption
            assert o.color not in s.background
            assert o.r + 0.99 <= o.cx <= 64 - o.r - 0.99 and o.r + 0.99 <= o.cy <= 64 - o.r - 0.99
        if len(s.objects) == 2:
            assert any(rel in s.caption for rel in scenes.RELATIONS)
        if "background" in s.caption:
            assert s.caption.split(" on a")[-1].split()[0] in s.background[0]
        assert " a o" not in s.caption and " a a" not in s.caption  # "an orange"


def test_the_picture_shows_the_objects_colour_inside_and_the_background_at_the_corners():
    s = scenes.Scene([scenes.Obj("square", "red", 32, 32, 12)], ("blue",))
    img = scenes.render(s)
    assert tuple(img[32, 32]) == scenes.COLORS["red"]
    assert tuple(img[0, 0]) == scenes.COLORS["blue"] and tuple(img[63, 63]) == scenes.COLORS["blue"]
    ring = scenes.Scene([scenes.Obj("ring", "yellow", 32, 32, 16)], ("black", "white"), "vertical")
    img = scenes.render(ring)
    assert tuple(img[32, 29]) == scenes.NEUTRALS["black"]  # the hole shows the (left) background
    assert tuple(img[32, 35]) == scenes.NEUTRALS["white"]  # ... and the right one
    assert tuple(img[32, 32 + 12]) == scenes.COLORS["yellow"]
    assert tuple(img[0, 63]) == scenes.NEUTRALS["white"]


def test_shape_masks_differ_in_area_as_the_geometry_says():
    area = {s: scenes.shape_mask(s, 32, 32, 16).sum() for s in scenes.SHAPES}
    assert area["circle"] == pytest.approx(np.pi * 16 ** 2, rel=0.02)
    assert area["ring"] == pytest.approx(np.pi * 16 ** 2 * (1 - 0.55 ** 2), rel=0.03)
    assert area["star"] < area["triangle"] < area["square"] < area["circle"]


def test_the_diffusion_worlds_are_slices_of_the_full_one():
    # the full world's draws are what every model but the diffusion ones trains on: unchanged by the slices' options
    def captions(world):
        rng = np.random.default_rng(3)
        return [scenes.sample_scene(rng, **scenes.WORLDS[world]).caption for _ in range(50)]

    assert captions("full") == [scenes.sample_scene(r).caption for r in [np.random.default_rng(3)] for _ in range(50)]
    assert captions("single") != captions("full")
    for world, sizes in (("single", set(scenes.SIZES)), ("single-large", {"", "large"})):
        rng, seen = np.random.default_rng(4), set()
        for _ in range(300):
            s = scenes.sample_scene(rng, **scenes.WORLDS[world])
            assert len(s.objects) == 1 and s.split == "none" and len(s.background) == 1, world
            lo, hi = min(scenes.SIZES[w][0] for w in sizes), max(scenes.SIZES[w][1] for w in sizes)
            assert lo <= s.objects[0].r <= hi, world
            seen.add(next(w for w in scenes.SIZES if scenes.SIZES[w][0] <= s.objects[0].r <= scenes.SIZES[w][1]))
        assert seen == sizes, world
    full = [scenes.sample_scene(rng) for _ in range(300)]
    assert any(len(s.objects) == 2 for s in full) and any(s.split != "none" for s in full)


def test_clip_batches_hold_shape_groups_empty_backgrounds_and_the_probe_ignores_the_empty_ones():
    ss, imgs = train.clip_batch(np.random.default_rng(0), 24, 2, plain=3)
    swapped, _ = train.clip_batch(np.random.default_rng(0), 24, 2, swaps=2)
    pairs = swapped[8:12]
    assert [s.objects[0].color for s in pairs[1::2]] == [s.background[0] for s in pairs[0::2]]
    assert len(ss) == 24 and imgs.shape == (24, 64, 64, 3)
    assert len({s.objects[0].shape for s in ss[:4]}) == 4  # a shape group: one scene in four shapes
    empty = ss[8:11]
    assert all(not s.objects and s.caption == f"{scenes.article(s.background[0])} {s.background[0]} background"
               for s in empty)
    assert all((imgs[i] == imgs[i][0, 0]).all() for i in range(8, 11))  # one flat colour
    colours, shapes = train.main_labels(ss)
    assert (colours[8:11] == -100).all() and (shapes[8:11] == -100).all() and (colours[11:] >= 0).all()


@pytest.mark.parametrize("argv", [
    ["clip", "--plain", "-1"],
    ["clip", "--batch", "96", "--shape-groups", "12", "--plain", "49"],  # 48 + 49 > 96
    ["clip", "--plain", str(10 ** 18)],
    ["clip", "--batch", "96", "--shape-groups", "12", "--swap-groups", "25"],  # 48 + 50 > 96
    ["clip", "--swap-groups", "-1"],
    ["unet", "--x0-weight", "nan"],
    ["unet", "--x0-weight", "inf"],
    ["unet", "--x0-weight", "-0.1"],
    ["clip", "--batch", "96", "--shape-groups", "12", "--swap-groups", "8", "--plain", "33"],  # 48 + 16 + 33 > 96
    ["unet", "--world", "../single"],
    ["unet", "--world", "single\nlarge"],
    ["unet", "--world", ""],
])
def test_hostile_training_arguments_are_refused_before_any_work(argv, capsys):
    with pytest.raises(SystemExit) as e:
        train.parse_args(argv)
    assert e.value.code == 2 and capsys.readouterr().err


@pytest.mark.parametrize("only", ["clip:ViTB16", "clip:", "clip:RN50\n", "../unet"])
def test_the_export_refuses_a_model_it_does_not_know(tmp_path, only, capsys):
    from disco_export.toy import export
    with pytest.raises(SystemExit) as e:
        export.main(["--checkpoints", str(tmp_path), "--out", str(tmp_path / "set"), "--only", only])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "set").exists()


def test_held_out_pairs_are_never_drawn_when_excluded():
    rng = np.random.default_rng(1)
    for _ in range(300):
        s = scenes.sample_scene(rng, excluded=train.HELD_OUT)
        assert not any((o.color, o.shape) in train.HELD_OUT for o in s.objects)


def test_classifier_is_right_on_the_generators_ground_truth():
    acc = classify.ground_truth_accuracy(n=80, seed=3)
    assert acc["color"] >= 0.98 and acc["shape"] >= 0.95 and acc["color_two"] >= 0.95
    noisy = classify.ground_truth_accuracy(n=80, seed=3, noise=25.0)
    assert noisy["color"] >= 0.95 and noisy["shape"] >= 0.6


@pytest.mark.parametrize("color", list(scenes.COLORS))
def test_classifier_reads_every_colour_on_a_two_tone_background(color):
    bg = [c for c in scenes.BACKGROUNDS if c != color][:2]
    s = scenes.Scene([scenes.Obj("star", color, 30, 34, 14)], tuple(bg), "horizontal")
    v = classify.classify(scenes.render(s))
    assert (v.color, v.shape) == (color, "star"), v


def test_classifier_finds_nothing_on_a_plain_picture():
    img = np.full((64, 64, 3), 90, dtype=np.uint8)
    v = classify.classify(img)
    assert v.color is None and v.shape is None and v.foreground == 0.0


def test_classifier_judges_what_is_drawn_not_the_caption():
    # the same scene with the object recoloured and reshaped must change the verdict
    a = classify.classify(scenes.render(scenes.Scene([scenes.Obj("circle", "green", 32, 32, 14)], ("white",))))
    b = classify.classify(scenes.render(scenes.Scene([scenes.Obj("triangle", "purple", 32, 32, 14)], ("white",))))
    assert (a.color, a.shape) == ("green", "circle") and (b.color, b.shape) == ("purple", "triangle")


def _png(img, filt):
    h, w, _ = img.shape
    rows = []
    for y in range(h):
        row = img[y].reshape(-1).astype(np.int32)
        if filt == 1:  # Sub
            row = (row - np.concatenate([np.zeros(3, np.int32), row[:-3]])) % 256
        rows.append(bytes([filt]) + row.astype(np.uint8).tobytes())

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("kind", ["ppm", "png0", "png1"])
def test_read_image_round_trips(tmp_path, kind):
    img = np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = tmp_path / f"x.{kind[:3]}"
    if kind == "ppm":
        path.write_bytes(b"P6\n# comment\n7 5\n255\n" + img.tobytes())
    else:
        path.write_bytes(_png(img, int(kind[-1])))
    assert np.array_equal(classify.read_image(path), img)


def test_linear_schedule_is_guided_diffusions():
    s = train.LinearSchedule()
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    assert s.alphas_cumprod[-1].item() == pytest.approx(4.04e-5, rel=0.01)


def test_hybrid_loss_variance_term_is_smallest_at_the_true_posterior_variance():
    # a model that predicts the noise exactly: only the variance channels change the loss
    s = train.LinearSchedule()
    x0 = torch.rand(2, 3, 8, 8) * 2 - 1
    noise = torch.randn(2, 3, 8, 8)
    t = torch.tensor([500, 900])

    def loss_with(v):
        model = lambda x, tt: torch.cat([noise, torch.full_like(noise, v)], dim=1)  # noqa: E731
        return train.hybrid_loss(model, s, x0, t, noise)

    total, mse = loss_with(-1.0)  # v = -1: the posterior variance itself
    assert mse.item() == pytest.approx(0.0, abs=1e-6)
    assert total.item() < loss_with(1.0)[0].item()


def test_the_x0_term_is_the_implied_x0_estimates_error():
    # x0 = (x_t − sqrt(1−ᾱ)·eps)/sqrt(ᾱ): an eps error e moves the estimate by e·sqrt((1−ᾱ)/ᾱ), so its MSE is the
    # eps-MSE over the SNR; the term weighs the noisiest timesteps most
    s = train.LinearSchedule()
    g = torch.Generator().manual_seed(5)
    x0 = torch.rand(3, 3, 8, 8, generator=g) * 2 - 1
    noise = torch.randn(3, 3, 8, 8, generator=g)
    wrong = torch.randn(3, 3, 8, 8, generator=g)
    t = torch.tensor([100, 600, 999])
    model = lambda x, tt: torch.cat([wrong, torch.zeros_like(wrong)], dim=1)  # noqa: E731
    base, mse = train.hybrid_loss(model, s, x0, t, noise, min_snr=5.0)
    with_x0, _ = train.hybrid_loss(model, s, x0, t, noise, min_snr=5.0, x0_weight=0.01)
    xt = s.q_sample(x0, t, noise)
    c = lambda a: a[t][:, None, None, None]  # noqa: E731
    x0_mse = (((xt - c(s.sqrt_1mab) * wrong) / c(s.sqrt_ab) - x0) ** 2).mean(dim=(1, 2, 3))
    assert (with_x0 - base).item() == pytest.approx(0.01 * x0_mse.mean().item(), rel=1e-4)
    assert x0_mse[2] > 100 * x0_mse[1] > 100 * x0_mse[0]


def test_the_x0_error_multiplies_an_eps_error_by_the_noise_to_signal_ratio():
    sch = train.LinearSchedule()
    _, imgs = scenes.sample_batch(np.random.default_rng(9), 4, **scenes.WORLDS["single-large"])
    x0 = torch.from_numpy(scenes.to_model(imgs))

    def model(xt, t, bias=0.0):  # knows the clean pictures: its eps is exact, plus ``bias``
        k = int(t[0])
        eps = (xt - sch.sqrt_ab[k] * x0) / sch.sqrt_1mab[k]
        return torch.cat([eps + bias, torch.zeros_like(eps)], dim=1)

    assert all(max(v) < 1e-3 for v in sample.x0_errors(model, n=4, seed=9).values())
    biased = sample.x0_errors(lambda xt, t: model(xt, t, 0.01), n=4, seed=9)
    for t, (eps, est, colour) in biased.items():
        ratio = (sch.sqrt_1mab[t] / sch.sqrt_ab[t]).item()
        assert eps == pytest.approx(0.01, rel=1e-2) and colour == pytest.approx(0.01 * ratio, rel=1e-2), t
    assert biased[999][2] > 1.5 > 0.1 > biased[600][2]


def test_a_colour_swap_exchanges_the_objects_and_the_backgrounds_colours_in_picture_and_caption():
    rng = np.random.default_rng(8)
    for _ in range(60):
        s = scenes.sample_scene(rng, two_object_p=0.0, plain=True, backgrounds=tuple(scenes.COLORS))
        w = scenes.colour_swap(s)
        (a, b), (o, v) = (s.objects[0].color, s.background[0]), (w.objects[0].color, w.background[0])
        assert (o, v) == (b, a) and w.objects[0].shape == s.objects[0].shape
        # the caption names the new colours where the old one named the old ones, articles included
        expect = s.caption.replace(a, "\0").replace(b, a).replace("\0", b)
        for colour in (a, b):
            expect = expect.replace(f"a {colour}", f"{scenes.article(colour)} {colour}")
            expect = expect.replace(f"an {colour}", f"{scenes.article(colour)} {colour}")
        assert w.caption == expect, (s.caption, w.caption)
        img, swapped = scenes.render(s), scenes.render(w)
        assert (img[1, 1] != swapped[1, 1]).any()  # the corner is the background: it changed colour


def test_the_colour_binding_probe_scores_four_pictures_per_prompt(monkeypatch):
    # a stand-in CLIP whose image embedding is the picture's mean colour and whose text embedding is the named
    # colour's: the plain field matches best, the swap (mostly the prompt's colour) next, the right picture last
    rgb = {c: torch.tensor(v, dtype=torch.float32) for c, v in scenes.COLORS.items()}

    class Stub:
        cfg = train.CLIP_CONFIGS["RN50"]

        def eval(self): ...

        def train(self): ...

        def encode_text(self, captions):
            return torch.stack([rgb[c.split()[1]] for c in captions])

        def encode_image(self, x):
            return x.mean(dim=(2, 3))

    monkeypatch.setattr(train, "clip_views", lambda imgs, gen, res, train=True: torch.from_numpy(
        imgs.transpose(0, 3, 1, 2).astype(np.float32)))
    got = train.clip_colour_binding(Stub(), lambda caps: caps)
    assert set(got) == {"right", "swapped", "plain", "wrong shape"}
    assert got["plain"] == pytest.approx(1.0) and got["plain"] > got["swapped"] > got["right"]


def test_the_neutral_world_puts_coloured_objects_on_white_black_or_gray():
    rng = np.random.default_rng(6)
    ss = [scenes.sample_scene(rng, **scenes.WORLDS["single-large-neutral"]) for _ in range(200)]
    assert {s.background[0] for s in ss} == set(scenes.NEUTRALS)
    assert {s.objects[0].color for s in ss} == set(scenes.COLORS) and all(len(s.objects) == 1 for s in ss)


def test_contact_sheet_round_trips_through_png(tmp_path):
    imgs = [np.full((4, 4, 3), v, dtype=np.uint8) for v in (10, 200, 90)]
    sheet = classify.contact_sheet(imgs, columns=2, pad=1)
    assert sheet.shape == (11, 11, 3)
    assert (sheet[1:5, 6:10] == 200).all() and (sheet[6:10, 1:5] == 90).all() and (sheet[6:10, 6:10] == 255).all()
    classify.write_png(tmp_path / "s.png", sheet)
    assert np.array_equal(classify.read_image(tmp_path / "s.png"), sheet)


def test_the_runner_replays_the_recipe_of_the_shipped_weights(tmp_path):
    # python -m disco_export.toy trains with the settings the manifest records for the shipped weights
    records = json.loads((REPO / "models" / "toy" / "manifest.json").read_text())["toy"]["training"]
    runs = {name: train.parse_args(argv) for name, argv in runner.stages(tmp_path).items()}
    assert set(runs) == set(records)
    for name, a in runs.items():
        r = records[name]
        assert (a.steps, a.stop_after or a.steps, a.batch, a.lr, a.seed, a.threads) == \
            (r["steps"], r["steps_done"], r["batch"], r["lr"], r["seed"], r["threads"]), name
        assert a.max_minutes is None and (a.init.name if a.init else None) == r.get("init"), name
        if a.model in ("unet", "secondary"):
            assert (a.ema, a.bf16, a.min_snr, a.world, a.x0_weight) == \
                (r["ema"], r.get("bf16", False), r.get("min_snr"), r.get("world", "full"), r.get("x0_weight", 0)), name
        if a.model == "clip":
            assert (a.arch, a.shape_groups, a.probe, a.plain, a.swap_groups) == \
                (r["arch"], r.get("shape_groups", 0), r.get("probe", False), r.get("plain", 0),
                 r.get("swap_groups", 0)), name
    assert set(runner.SECOND_PROCESS) | {"unet"} == set(runs)


@pytest.fixture
def keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("model", [["clip", "--arch", "ViTB32", "--probe", "--shape-groups", "1", "--batch", "4"],
                                   ["clip", "--arch", "RN50", "--batch", "4"], ["unet", "--bf16", "--min-snr", "5"],
                                   ["secondary", "--bf16"], ["lpips", "--steps", "3"], ["midas"], ["adabins"],
                                   ["flow", "--balanced"]], ids=lambda m: m[0] + m[-1])
def test_two_training_steps_give_the_same_weights_twice(tmp_path, keep_threads, model):
    # the training is a function of its seed: the premise of "the scripts reproduce the shipped weights"
    name = f"clip_{model[2]}" if model[0] == "clip" else model[0]

    def run(run_name, *extra):
        out = tmp_path / run_name
        argv = model + ["--stop-after", "2", "--out", str(out), *extra]
        if "--batch" not in argv:
            argv += ["--batch", "2"]
        assert train.main(argv) == 0
        return out / f"{name}.pt", json.loads((out / f"{name}.json").read_text())["metrics"]

    (a, ma), (b, mb), (c, _) = run("a"), run("b"), run("c", "--seed", "1")
    sa, sb, sc = (torch.load(p) for p in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa) and ma == mb
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_depth_maps_put_each_object_in_front_of_the_wall_nearer_the_larger_it_is():
    big = scenes.Scene([scenes.Obj("square", "red", 32.0, 32.0, 20.0)], ("blue",))
    pair = scenes.Scene([scenes.Obj("circle", "red", 16.0, 32.0, 8.0), scenes.Obj("ring", "green", 46.0, 32.0, 12.0)],
                        ("white",))
    d = scenes.depth_map(big)
    assert d.shape == (64, 64) and d.dtype == np.float32
    assert d[32, 32] == pytest.approx(scenes.object_depth(20.0)) and d[1, 1] == scenes.BACKGROUND_DEPTH
    assert scenes.object_depth(20.0) < scenes.object_depth(12.0) < scenes.object_depth(8.0) < scenes.BACKGROUND_DEPTH
    p = scenes.depth_map(pair)
    assert p[32, 16] == pytest.approx(scenes.object_depth(8.0))
    assert p[32, 46] == scenes.BACKGROUND_DEPTH  # the ring's hole shows the wall
    assert p[32, 46 + 9] == pytest.approx(scenes.object_depth(12.0))
    # the same geometry at twice the size: 2×2 blocks average to the 64×64 map away from edges
    p2 = scenes.depth_map(pair, 128)
    assert np.abs(p2.reshape(64, 2, 64, 2).mean(axis=(1, 3)) - p).max() < 0.15
    assert p2[64, 32] == pytest.approx(scenes.object_depth(8.0))


# ---------------------------------------------------------------- optical flow (motion.py, train_flow.py)


def test_the_flow_of_a_known_move_is_its_displacement_plus_the_scaling_about_the_centre():
    sq = scenes.Scene([scenes.Obj("square", "red", 20.5, 30.5, 8.0)], ("blue",))
    flow = motion.flow_of(sq, [motion.Motion(5.0, -3.0, 1.1)])
    # pixel (20, 30) has its centre (20.5, 30.5) at the square's centre: flow = d = (5, -3)
    assert flow[30, 20] == pytest.approx([5.0, -3.0])
    # pixel (24, 30) is 4 px right of the centre: flow = d + (s - 1)·(4, 0) = (5.4, -3)
    assert flow[30, 24] == pytest.approx([5.4, -3.0])
    assert (flow[0, 0] == 0).all() and (flow[30, 40] == 0).all()  # the background stays


def _interior(layer, k):
    """Pixels of layer k whose 5×5 neighbourhood is all layer k: away from soft edges, even for bilinear
    samples around a rounded landing point."""
    m = layer == k
    out = m.copy()
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            out &= np.roll(m, (dy, dx), axis=(0, 1))
    return out


def test_warping_image2_by_the_true_flow_rebuilds_image1_where_both_see_the_point():
    rng = np.random.default_rng(11)
    checked = moved_checked = wrong_with_zero = 0
    for _ in range(40):
        scene = scenes.sample_scene(rng)
        motions = [motion.sample_motion(rng) for _ in scene.objects]
        img1, img2 = scenes.render(scene), scenes.render(motion.moved(scene, motions))
        flow = motion.flow_of(scene, motions)
        layer1, layer2 = motion.layers(scene), motion.layers(motion.moved(scene, motions))
        seen = motion.visible_in_both(scene, motions)
        ys, xs = np.mgrid[0:64, 0:64]
        x2, y2 = np.rint(xs + flow[..., 0]).astype(int), np.rint(ys + flow[..., 1]).astype(int)
        inside = (x2 >= 2) & (x2 < 62) & (y2 >= 2) & (y2 < 62)
        for k in range(-1, len(scene.objects)):
            # interior of layer k in image1 whose landing point is interior of layer k in image2: unoccluded
            where = _interior(layer1, k) & inside
            where[where] = _interior(layer2, k)[y2[where], x2[where]]
            warped = motion.warp(img2, flow)
            assert np.abs(warped[where] - img1[where]).max(initial=0) <= 1.0, (k, motions)
            assert seen[where].all()
            checked += where.sum()
            if k >= 0 and np.hypot(motions[k].dx, motions[k].dy) > 2:
                moved_checked += where.sum()
                wrong_with_zero += (np.abs(img2[where].astype(int) - img1[where]).max(axis=1) > 1).sum()
    assert checked > 40 * 1500 and moved_checked > 2000
    # the check has teeth: without the flow, many moved objects' pixels do not match
    assert wrong_with_zero > 0.2 * moved_checked


def test_a_point_hidden_in_image2_still_has_its_flow_and_is_not_visible_in_both():
    # a blue square moves right under a red circle drawn on top (which stays)
    scene = scenes.Scene([scenes.Obj("square", "blue", 20.5, 32.5, 8.0), scenes.Obj("circle", "red", 40.5, 32.5, 9.0)],
                         ("white",))
    motions = [motion.Motion(12.0, 0.0), motion.Motion(0.0, 0.0)]
    flow, seen = motion.flow_of(scene, motions), motion.visible_in_both(scene, motions)
    assert flow[32, 25] == pytest.approx([12.0, 0.0])  # lands at x = 37: under the circle
    assert not seen[32, 25] and seen[32, 14] and seen[32, 40] and seen[5, 5]
    assert motion.layers(scene)[32, 25] == 0 and motion.layers(motion.moved(scene, motions))[32, 37] == 1


def test_clip_frames_move_by_the_velocity_and_their_flows_say_so():
    frames, flows = motion.clip(scenes.Scene([scenes.Obj("circle", "red", 20.5, 32.5, 8.0)], ("green",)),
                                [(3.0, 1.0)], 4)
    assert frames.shape == (4, 64, 64, 3) and flows.shape == (3, 64, 64, 2)
    assert tuple(frames[3, 35, 29]) == scenes.COLORS["red"] and tuple(frames[0, 35, 29]) == scenes.COLORS["green"]
    assert (flows[:, 32, 20] == [3.0, 1.0]).all()


def test_training_frames_are_padded_as_the_renderer_pads_them():
    # src/build/flow.rs: a 64×64 frame goes to the graph at 128×128, edge pixels repeated, 32 on each side
    x = torch.arange(64.0).reshape(1, 1, 1, 64).expand(1, 3, 64, 64)
    p = train_flow.padded(x)
    assert p.shape == (1, 3, raft.MIN_SIDE, raft.MIN_SIDE)
    assert p[0, 0, 0, 0] == 0 and p[0, 0, 0, 31] == 0 and p[0, 0, 0, 32] == 0 and p[0, 0, 0, 33] == 1
    assert p[0, 0, 127, 127] == 63 and torch.equal(train_flow.centre(p), x)


def test_the_training_forward_is_the_exported_forward():
    # flow_predictions mirrors raft.RAFT.forward: its last full-size estimate is the graph's output, and the
    # centre-only upsampling is the full one's centre
    torch.manual_seed(0)
    model = raft.RAFT(train_flow.CONFIG).eval()
    gen = torch.Generator().manual_seed(1)
    x1, x2 = raft.sample_inputs(2, gen, (128, 128))
    with torch.no_grad():
        full = train_flow.flow_predictions(model, x1, x2, upsample=raft.RAFT._upsample)
        crop = train_flow.flow_predictions(model, x1, x2)
        out = model(x1, x2)
    assert len(full) == train_flow.CONFIG.iters
    assert torch.allclose(full[-1], out, atol=1e-5)
    assert all(torch.allclose(train_flow.centre(f), c, atol=1e-5) for f, c in zip(full, crop))
    assert not torch.allclose(full[0], full[-1])


def test_the_sequence_loss_weights_late_updates_most():
    gt = torch.zeros(1, 2, 64, 64)
    preds = [torch.ones(1, 2, 64, 64), torch.zeros(1, 2, 64, 64)]
    # |1 - 0| on the first of two updates: γ^1 · 1 = 0.8; on the last: γ^0 · 1 = 1
    assert train_flow.sequence_loss(preds, gt).item() == pytest.approx(0.8)
    assert train_flow.sequence_loss(preds[::-1], gt).item() == pytest.approx(1.0)


def test_the_export_takes_the_flow_model_only_where_its_checkpoint_is(tmp_path):
    from disco_export.toy import export
    assert export.load_models(tmp_path, ["flow"]) == {}  # a set trained before the flow model exports without it
    torch.save(raft.RAFT(train_flow.CONFIG).state_dict(), tmp_path / "flow.pt")
    (model, sha), = export.load_models(tmp_path, ["flow"]).values()
    assert isinstance(model, raft.RAFT) and model.cfg == train_flow.CONFIG and not model.training and len(sha) == 64
    assert export.main(["--checkpoints", str(tmp_path / "none"), "--out", str(tmp_path / "set"), "--only", "flow"]) == 1


def test_one_clip_can_be_exported_without_the_other(tmp_path):
    from disco_export import clip as clip_mod
    from disco_export.toy import export
    torch.save(clip_mod.CLIP(train.CLIP_CONFIGS["RN50"]).state_dict(), tmp_path / "clip_RN50.pt")
    assert export.clip_flags(["clip:RN50"]) == ["RN50"] and export.clip_flags(["clip"]) == list(train.CLIP_CONFIGS)
    assert list(export.load_models(tmp_path, ["clip:RN50"])) == ["clip:RN50"]
    with pytest.raises(Exception):  # the ViT's checkpoint is missing: asking for both must fail
        export.load_models(tmp_path, ["clip"])


def test_the_balanced_sequence_loss_weights_moving_and_still_pixels_half_each():
    gt = torch.zeros(1, 2, 64, 64)
    gt[0, 0, :16] = 4.0  # a quarter of the pixels move 4 px right
    zero = [torch.zeros_like(gt)]
    # plain: mean |0 − f| = 4 · (1/4 of the pixels) · (1 of 2 components) = 0.5
    assert train_flow.sequence_loss(zero, gt).item() == pytest.approx(0.5)
    # balanced: the moving quarter weighs 0.5 / 0.25 = 2 → 4 · 2 · 1/4 · 1/2 = 1.0
    assert train_flow.sequence_loss(zero, gt, balanced=True).item() == pytest.approx(1.0)
    assert train_flow.sequence_loss([gt.clone()], gt, balanced=True).item() == 0.0
