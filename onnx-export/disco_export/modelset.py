"""Assemble a model set: build the models (real checkpoints or tiny random weights), export every graph
through export.build_graph, verify each in ONNX Runtime, and write the manifest.

Real and tiny sets run the same functions; only the model construction differs.
"""

import copy
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import (adabins, checkpoints, clip, depth, export, flow, lpips, manifest, openclip, raft, secondary, unet,
               unet_catalog, unet_checkpoint, verify)


@dataclass
class Request:
    """What to export. Paths are ignored (and not needed) when ``tiny``."""

    out: Path
    tiny: bool = False
    # Real architectures with fixed-seed random weights (benchmarks at real sizes without checkpoints): the UNet,
    # secondary model and CLIP models only; recorded in the manifest's ``random_weights`` section.
    random_weights: bool = False
    diffusion: str = None
    checkpoint: Path = None
    # The architecture when ``diffusion`` is "custom" (unet_catalog.custom_config).
    custom: unet_catalog.UNetConfig = None
    # Further tiny diffusion models of the same set (the default tiny set's custom model).
    extra_tiny_unets: list = field(default_factory=list)
    secondary: bool = False
    secondary_checkpoint: Path = None
    clip: list = field(default_factory=list)
    clip_checkpoints: dict = field(default_factory=dict)
    lpips: bool = False
    lpips_vgg: Path = None
    lpips_lin: Path = None
    # MiDaS depth models by DD's midas_depth_model name, the 3D mode's depth (depth.py), and their files.
    midas: list = field(default_factory=list)
    midas_checkpoints: dict = field(default_factory=dict)
    adabins: bool = False
    adabins_checkpoint: Path = None
    # RAFT optical flow, Video Input's flow warp (flow.py).
    raft: bool = False
    raft_checkpoint: Path = None
    verify_batches: tuple = (1, 3)
    seed: int = 0
    # fp16 UNet graphs (unet.py, convert_to_fp16) beside the fp32 ones, for every model DD runs in fp16 on a GPU
    # (its config's use_fp16); the runtime picks them on CUDA. Tiny sets: DD's default model's forward and VJP.
    fp16: bool = True
    # The UNet's gradient-checkpoint segment graphs (DD's use_checkpoint) of real sets; the toy set goes without
    # (at 64×64 the whole VJP is small, and the segments would double the UNet's share of its 40 MB).
    checkpoint_graphs: bool = True
    # Models built by the caller (the toy set's trained weights): {"unet" | "secondary" | "clip:FLAG" | "lpips":
    # (model, source sha256)}; they replace the checkpoint or tiny construction of that model.
    prebuilt: dict = field(default_factory=dict)
    # Extra top-level manifest sections (the toy set's description), written as given.
    extra_sections: dict = field(default_factory=dict)


def log(msg):
    print(f"[disco_export] {msg}", file=sys.stderr, flush=True)


def _seeded(seed, build):
    """Build a module under a fixed RNG seed (tiny weights), without disturbing the global RNG."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build()


def _tiny_buffers(model, seed):
    """Give tiny models non-trivial BatchNorm statistics and non-negative LPIPS heads (as trained ones are)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            if isinstance(m, lpips.NetLinLayer):
                m.model[1].weight.abs_()
    return model


def _random(req):
    """Whether the models are built from a seed (tiny or --random-weights), not loaded from checkpoints."""
    return req.tiny or req.random_weights


RANDOM_WEIGHTS_INIT = ("PyTorch's default initialisation of every layer, under torch.manual_seed(seed + k) per model "
                       "(UNet k=1, secondary k=2, CLIP k=10+index of the flag in openclip.all_flags()); this UNet "
                       "class has no zero-initialised output layers (guided-diffusion's zero_module is not "
                       "reproduced), so its output and gradients are non-zero")


def random_weights_section(req):
    """The manifest's ``random_weights`` section of a --random-weights set (what rebuilds its modules)."""
    return {"seed": req.seed, "init": RANDOM_WEIGHTS_INIT}


def make_unet(req):
    """(model, source sha256 or None)."""
    if req.diffusion == unet_catalog.CUSTOM:
        if req.custom is None:
            raise ValueError("--diffusion custom needs the architecture (--image-size, --num-channels, ...)")
        cfg = req.custom
    else:
        cfg = (unet.TINY_CONFIGS if req.tiny else unet.CONFIGS)[req.diffusion]
    if _random(req):
        return _seeded(req.seed + 1, lambda: unet.UNetModel(cfg)), None
    model = unet.UNetModel(cfg)
    if req.checkpoint is None:
        raise checkpoints.CheckpointError(f"--checkpoint is required for {req.diffusion}")
    return model, checkpoints.load_into(model, req.checkpoint, cfg.name)


def diffusion_section(model, specs, req, source_sha, graphs, checkpointed=True, fp16=False):
    """Export one UNet's graphs; its ``diffusion_models`` entry (architecture, graphs, size multiple and, when
    ``checkpointed``, the segment graphs of the gradient-checkpointed UNet path: unet_checkpoint.py). With
    ``fp16``, the same graphs of the model in DD's mixed precision go under the entry's ``fp16`` key."""
    entry = {**model.cfg.as_manifest(), **_unet_graphs(model, specs, req, source_sha, graphs, checkpointed)}
    if fp16:
        half = copy.deepcopy(model).convert_to_fp16()
        # tiny sets: without the fp16 checkpoint graphs (minutes of every test export)
        entry["fp16"] = _unet_graphs(half, unet.graph_specs(half), req, source_sha, graphs,
                                     checkpointed and not req.tiny)
    return entry


def _unet_graphs(model, specs, req, source_sha, graphs, checkpointed):
    """The graphs, size multiple and (``checkpointed``) checkpoint section of one UNet at one precision."""
    entry = _family(specs, req, source_sha, graphs)
    if checkpointed:
        fwd, segs = unet_checkpoint.graph_specs(model)
        for spec in [fwd] + [s for _, s, _, _ in segs]:
            _run(spec, req, source_sha, graphs)
        entry["checkpointed"] = unet_checkpoint.checkpoint_section(fwd.name, segs)
    return entry


def make_secondary(req):
    if req.tiny:
        return _seeded(req.seed + 2, lambda: secondary.SecondaryDiffusionImageNet2(secondary.TINY_BASE_CHANNELS)), None
    if req.random_weights:
        return _seeded(req.seed + 2, lambda: secondary.SecondaryDiffusionImageNet2()), None
    model = secondary.SecondaryDiffusionImageNet2()
    return model, checkpoints.load_into(model, req.secondary_checkpoint, "secondary_model_imagenet_2")


def make_clip(req, flag):
    """OpenAI or OpenCLIP model ``flag`` (a canonical key, see openclip.resolve)."""
    if req.tiny:
        cfg = openclip.tiny_config(flag)
        seed = req.seed + 10 + openclip.all_flags().index(flag)
        return _tiny_buffers(_seeded(seed, lambda: clip.CLIP(cfg)), seed), None
    if req.random_weights:
        cfg = openclip.config(flag)
        return _seeded(req.seed + 10 + openclip.all_flags().index(flag), lambda: clip.CLIP(cfg)), None
    model = clip.CLIP(openclip.config(flag))
    path = req.clip_checkpoints.get(flag)
    if path is None:
        raise checkpoints.CheckpointError(f"no checkpoint for CLIP {flag}")
    # open_clip keeps the causal mask as a buffer; a checkpoint written with it persistent carries it.
    sha = checkpoints.load_into(model, path, f"CLIP {flag}", ignore=("attn_mask",))
    published = openclip.MODELS[flag].sha256_prefix if flag in openclip.MODELS else None
    if published and not sha.startswith(published):
        log(f"warning: {path} has sha256 {sha[:16]}..., the published {openclip.MODELS[flag].file} starts with "
            f"{published}: not the released file (the manifest records this file's hash)")
    return model, sha


def clip_section(flag, model, names):
    """The manifest's ``clip.<flag>`` entry."""
    cfg = model.cfg
    mean, std = openclip.normalisation(flag)
    return {"name": cfg.name, "resolution": cfg.image_resolution, "embed_dim": cfg.embed_dim,
            "context_length": cfg.context_length, "vocab_size": cfg.vocab_size, "mean": list(mean),
            "std": list(std), "graphs": names, "config": cfg.as_manifest(), **openclip.manifest_extra(flag)}


def make_lpips(req):
    if req.tiny:
        return _tiny_buffers(_seeded(req.seed + 3, lambda: lpips.LPIPS(lpips.TINY_VGG_CHANNELS)), req.seed + 3), None
    model = lpips.LPIPS()
    if req.lpips_vgg is None or req.lpips_lin is None:
        raise checkpoints.CheckpointError("--lpips needs --lpips-vgg and --lpips-lin")
    return model, checkpoints.load_lpips(model, req.lpips_vgg, req.lpips_lin)


def _run(spec, req, source_sha, graphs):
    file = f"{spec.name}.onnx"
    path = req.out / file
    log(f"export {spec.name} ...")
    secs = export.build_graph(spec, path)
    notes = []
    tol = {} if spec.tolerance is None else {"tolerance": spec.tolerance}
    errs = verify.check(spec, path, batch_sizes=req.verify_batches, notes=notes, **tol)
    worst = max(errs.values())
    log(f"  {spec.name}: {secs:.1f} s, {path.stat().st_size / 1e6:.2f} MB, max rel. error {worst:.2e}")
    for line in notes:
        log(f"  {spec.name}: judged by its noise floor: {line}")
    graphs[spec.name] = manifest.graph_entry(spec, req.out, file, source_sha, secs, errs, notes)


def _family(specs, req, source_sha, graphs):
    """Export the forward and VJP graphs of one image model; its manifest section."""
    roles = {}
    for role, spec in specs.items():
        _run(spec, req, source_sha, graphs)
        roles[role] = spec.name
    return {"graphs": roles, "size_multiple": specs["forward"].multiple}


def build(req):
    """Export everything ``req`` asks for into ``req.out``; returns the manifest dict.

    Raises checkpoints.CheckpointError or verify.VerificationError (nothing is written to the manifest then).
    """
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
    req.out = Path(req.out)
    req.out.mkdir(parents=True, exist_ok=True)
    # Load every checkpoint first, so that a wrong path fails before minutes of exporting.
    models = dict(req.prebuilt)
    if req.diffusion and "unet" not in models:
        models["unet"] = make_unet(req)
    for i, cfg in enumerate(req.extra_tiny_unets):
        models[f"unet:{cfg.name}"] = _seeded(req.seed + 4 + i, lambda: unet.UNetModel(cfg)), None
    if req.secondary and "secondary" not in models:
        models["secondary"] = make_secondary(req)
    for flag in req.clip:
        if f"clip:{flag}" not in models:
            models[f"clip:{flag}"] = make_clip(req, flag)
    if req.lpips and "lpips" not in models:
        models["lpips"] = make_lpips(req)
    for name in req.midas:
        if f"midas:{name}" not in models:
            models[f"midas:{name}"] = depth.make_midas(req, name)
    if req.adabins and "adabins" not in models:
        models["adabins"] = depth.make_adabins(req)
    if req.raft and "raft" not in models:
        models["raft"] = flow.make_raft(req)
    if not models:
        raise ValueError("nothing to export: give --diffusion, --secondary, --clip or --lpips (or --tiny)")
    old = manifest.load(req.out)
    if req.random_weights:
        if req.tiny or req.lpips or req.midas or req.adabins or req.raft or req.extra_tiny_unets:
            raise ValueError("--random-weights builds the UNet, secondary and CLIP models only (not with --tiny)")
        req.extra_sections = {**req.extra_sections, "random_weights": random_weights_section(req)}
    seed_of = lambda sec: None if sec is None else sec.get("seed")  # noqa: E731
    if old is not None and not req.tiny and (seed_of(old.get("random_weights"))
                                             != seed_of(req.extra_sections.get("random_weights"))):
        raise ValueError(f"{req.out} holds a model set with other weights (random_weights "
                         f"{old.get('random_weights')!r}); export into another --out")
    for key in [k for k in models if k == "unet" or k.startswith("unet:")]:
        cfg = models[key][0].cfg
        clash = manifest.diffusion_graph_clash(old, cfg.name, [unet_catalog.graph_prefix(cfg.name) + s
                                                               for s in ("_fwd", "_vjp")])
        if clash:
            raise ValueError(f"{req.out} holds {clash} under the graph names {cfg.name} would get; "
                             "export into another --out")
    graphs, sections = {}, dict(req.extra_sections)
    for key in [k for k in models if k == "unet" or k.startswith("unet:")]:
        model, sha = models[key]
        # tiny sets: only DD's default model gets the checkpoint graphs (they add minutes to every test export)
        checkpointed = req.checkpoint_graphs and (not req.tiny or model.cfg.name == unet_catalog.DEFAULT)
        fp16 = req.fp16 and model.cfg.use_fp16 and checkpointed
        entry = diffusion_section(model, unet.graph_specs(model), req, sha, graphs, checkpointed, fp16)
        sections.setdefault("diffusion_models", {})[model.cfg.name] = entry
        if model.cfg.name == unet_catalog.DEFAULT:  # the single-model sections older readers know
            sections["diffusion"] = model.cfg.as_manifest()
            sections["unet"] = {k: entry[k] for k in ("graphs", "size_multiple")}
    if "secondary" in models:
        model, sha = models["secondary"]
        sections["secondary"] = _family(secondary.graph_specs(model), req, sha, graphs)
    if req.clip:
        sections["clip"] = {}
    for flag in req.clip:
        model, sha = models[f"clip:{flag}"]
        names = {}
        for role, spec in clip.graph_specs(flag, model, two_pass=req.tiny).items():
            _run(spec, req, sha, graphs)
            names[role] = spec.name
        sections["clip"][flag] = clip_section(flag, model, names)
    if "lpips" in models:
        model, sha = models["lpips"]
        sections["lpips"] = _family(lpips.graph_specs(model), req, sha, graphs)
        sections["lpips"]["version"] = "0.1"
        sections["lpips"]["net"] = "vgg16"
    for key in [k for k in models if k.startswith("midas:")]:
        model, sha = models[key]
        sections.setdefault("depth", {}).setdefault("midas", {})[model.cfg.name] = depth.midas_section(
            model, _family(depth.midas_graph_specs(model), req, sha, graphs))
    if "adabins" in models:
        model, sha = models["adabins"]
        sections.setdefault("depth", {})["adabins"] = depth.adabins_section(model, _family(
            adabins.graph_specs(model), req, sha, graphs))
    if "raft" in models:
        model, sha = models["raft"]
        sections["raft"] = flow.raft_section(model, _family(raft.graph_specs(model), req, sha, graphs))
    doc = manifest.write(req.out, req.tiny, sections, graphs)
    problems = manifest.validate(doc, req.out)
    if problems:
        raise RuntimeError("manifest invalid: " + "; ".join(problems))
    total = sum(g["bytes"] + g.get("external_data", {}).get("bytes", 0) for g in doc["graphs"].values())
    log(f"done: {len(graphs)} graphs in {time.perf_counter() - t0:.0f} s, set holds {total / 1e6:.1f} MB "
        f"-> {req.out / manifest.MANIFEST}")
    return doc
