"""The model set's ``manifest.json`` (format ``disco-models/1``, documented in docs/models.md).

The Rust side reads only this file: graph files with their blake3, I/O names, dtypes and shapes (``"B"`` marks
the dynamic batch), the fixed image size of size-dependent graphs, and per-family sections that map roles
(``forward``, ``vjp``, ``text`` ...) to graph names.
"""

import json
import os
from pathlib import Path

import onnx
import onnxruntime
import torch

from . import __version__

FORMAT = "disco-models/1"
MANIFEST = "manifest.json"


def blake3_file(path, chunk=1 << 20):
    """Hex blake3 of a file, streamed."""
    # Imported here, so that reading a manifest (the PyTorch reference, on a machine whose Python has no
    # blake3 package: docs/gpu.md) does not need it.
    import blake3  # noqa: PLC0415

    h = blake3.blake3()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def exporter_info():
    return {"name": "disco_export", "version": __version__, "torch": torch.__version__.split("+")[0],
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def graph_entry(spec, root, file, source_sha256, export_seconds, rel_errors, notes=()):
    """Manifest record of one exported graph file (relative ``file`` under ``root``)."""
    path = Path(root) / file
    entry = {"file": file, "blake3": blake3_file(path), "bytes": path.stat().st_size,
             "source_sha256": source_sha256, "kind": "vjp" if spec.vjp else "forward"}
    data = path.with_name(path.name + ".data")
    if data.is_file():  # weights beyond protobuf's 2 GB limit live beside the graph
        entry["external_data"] = {"file": file + ".data", "blake3": blake3_file(data), "bytes": data.stat().st_size}
    entry.update(spec.io_manifest())
    entry.update(spec.meta)
    entry["verification"] = {"max_rel_error": rel_errors, "export_seconds": round(export_seconds, 2)}
    if notes:
        entry["verification"]["judged_by_noise_floor"] = list(notes)
    return entry


def _merge(old, new):
    """Recursive dict merge: values of ``new`` win, sub-dicts merge."""
    out = dict(old)
    for k, v in new.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load(root):
    """The manifest at ``root`` as a dict, or None when there is none."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    with open(path) as f:
        return json.load(f)


def migrate_diffusion(doc):
    """A manifest written before ``diffusion_models`` (one ``diffusion`` + ``unet``) with that model listed in
    ``diffusion_models`` too, so that adding a second model keeps the first."""
    if doc.get("diffusion_models") or not (doc.get("diffusion") and doc.get("unet")):
        return doc
    d = doc["diffusion"]
    return {**doc, "diffusion_models": {d["name"]: {**d, **doc["unet"]}}}


def diffusion_graph_clash(doc, name, graph_names):
    """The model of ``doc`` (a manifest dict or None) other than ``name`` whose graphs have one of
    ``graph_names``, or None. A set written before ``diffusion_models`` names any model's graphs ``unet_*``."""
    for other, entry in migrate_diffusion(doc or {}).get("diffusion_models", {}).items():
        if other != name and set(entry.get("graphs", {}).values()) & set(graph_names):
            return other
    return None


def write(root, tiny, sections, graphs):
    """Write (or extend) ``root/manifest.json`` atomically.

    An existing manifest of the same kind (tiny or real) is extended: new graphs and sections replace entries of
    the same name, others are kept (so models can be added to a set later).
    """
    root = Path(root)
    doc = {"format": FORMAT, "exporter": exporter_info(), "tiny": tiny, "diffusion": None,
           "graphs": {}, "clip": {}, "secondary": None, "lpips": None, "unet": None, "diffusion_models": {}}
    old = load(root)
    if old is not None:
        if old.get("format") != FORMAT or old.get("tiny") != tiny:
            raise RuntimeError(f"{root / MANIFEST} is a different kind of model set; use another --out")
        doc = _merge(doc, {k: v for k, v in migrate_diffusion(old).items() if k != "exporter"})
    doc = _merge(doc, sections)
    doc["graphs"].update(graphs)
    tmp = root / (MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, root / MANIFEST)
    return doc


def validate(doc, root=None):
    """Check a manifest dict against the schema (and, given ``root``, the files' sizes and blake3).

    Returns a list of problems (empty when valid).
    """
    problems = []

    def need(cond, msg):
        if not cond:
            problems.append(msg)

    need(doc.get("format") == FORMAT, f"format is not {FORMAT}")
    ex = doc.get("exporter", {})
    for k in ("name", "version", "torch", "onnx", "onnxruntime"):
        need(isinstance(ex.get(k), str), f"exporter.{k} missing")
    need(isinstance(doc.get("tiny"), bool), "tiny is not a bool")
    graphs = doc.get("graphs", {})
    need(isinstance(graphs, dict) and graphs, "graphs missing or empty")
    for name, g in graphs.items():
        for k, typ in (("file", str), ("blake3", str), ("bytes", int), ("inputs", list), ("outputs", list),
                       ("kind", str)):
            need(isinstance(g.get(k), typ), f"graphs.{name}.{k} missing or not {typ.__name__}")
        need("source_sha256" in g, f"graphs.{name}.source_sha256 missing")
        for io in g.get("inputs", []) + g.get("outputs", []):
            need(isinstance(io.get("name"), str) and io.get("dtype") in ("float32", "int64"),
                 f"graphs.{name}: bad tensor record {io}")
            need(all(isinstance(d, int) or isinstance(d, str) for d in io.get("shape", [None])),
                 f"graphs.{name}: bad shape {io.get('shape')}")
        if root is not None and isinstance(g.get("file"), str):
            path = Path(root) / g["file"]
            need(path.is_file(), f"graphs.{name}: file {g['file']} missing")
            if path.is_file():
                need(path.stat().st_size == g.get("bytes"), f"graphs.{name}: size differs")
                need(blake3_file(path) == g.get("blake3"), f"graphs.{name}: blake3 differs")
            ext = g.get("external_data")
            if ext is not None:
                data = Path(root) / ext.get("file", "")
                need(data.is_file(), f"graphs.{name}: external data {ext.get('file')} missing")
                if data.is_file():
                    need(data.stat().st_size == ext.get("bytes"), f"graphs.{name}: external data size differs")
                    need(blake3_file(data) == ext.get("blake3"), f"graphs.{name}: external data blake3 differs")

    def refs(section, where):
        for role, name in section.items():
            need(isinstance(name, str) and name in graphs, f"{where}.{role} names unknown graph {name}")

    for flag, c in (doc.get("clip") or {}).items():
        for k in ("name", "resolution", "embed_dim", "context_length", "mean", "std", "graphs"):
            need(k in c, f"clip.{flag}.{k} missing")
        roles = set(c.get("graphs", {}))
        need({"text", "image"} <= roles and roles & {"image_loss_vjp", "image_vjp"}
             and roles <= {"text", "image", "image_loss_vjp", "image_vjp"}, f"clip.{flag}.graphs roles wrong")
        refs(c.get("graphs", {}), f"clip.{flag}.graphs")
    for name, d in (doc.get("diffusion_models") or {}).items():
        need(d.get("name") == name, f"diffusion_models.{name}.name differs")
        for k in ("image_size", "num_channels", "channel_mult", "num_res_blocks", "attention_ds", "out_channels"):
            need(k in d, f"diffusion_models.{name}.{k} missing")
        need(set(d.get("graphs", {})) == {"forward", "vjp"}, f"diffusion_models.{name}.graphs roles wrong")
        need(isinstance(d.get("size_multiple"), int), f"diffusion_models.{name}.size_multiple missing")
        refs(d.get("graphs", {}), f"diffusion_models.{name}.graphs")
        if "checkpointed" in d:
            _validate_checkpoint(d["checkpointed"], graphs, f"diffusion_models.{name}.checkpointed", need)
        half = d.get("fp16")
        if half is not None:
            at = f"diffusion_models.{name}.fp16"
            if not isinstance(half, dict):
                need(False, f"{at} is not an object")
                continue
            need(set(half.get("graphs", {})) == {"forward", "vjp"}, f"{at}.graphs roles wrong")
            need(half.get("size_multiple") == d.get("size_multiple"), f"{at}.size_multiple differs")
            refs(half.get("graphs", {}), f"{at}.graphs")
            if "checkpointed" in half:
                _validate_checkpoint(half["checkpointed"], graphs, f"{at}.checkpointed", need)
    for fam in ("unet", "secondary", "lpips"):
        sec = doc.get(fam)
        if sec is not None:
            need(set(sec.get("graphs", {})) == {"forward", "vjp"}, f"{fam}.graphs roles wrong")
            need(isinstance(sec.get("size_multiple"), int), f"{fam}.size_multiple missing")
            refs(sec.get("graphs", {}), f"{fam}.graphs")
    for name, d in ((doc.get("depth") or {}).get("midas") or {}).items():
        need(d.get("name") == name, f"depth.midas.{name}.name differs")
        need(set(d.get("graphs", {})) == {"forward"}, f"depth.midas.{name}.graphs roles wrong")
        need(isinstance(d.get("net_size"), int) and isinstance(d.get("size_multiple"), int),
             f"depth.midas.{name}: net_size or size_multiple missing")
        need(d.get("resize") in ("minimal", "upper_bound"), f"depth.midas.{name}.resize unknown")
        need(len(d.get("mean", [])) == 3 and len(d.get("std", [])) == 3, f"depth.midas.{name}: mean/std not 3 values")
        refs(d.get("graphs", {}), f"depth.midas.{name}.graphs")
    sec = doc.get("raft")
    if sec is not None:
        need(set(sec.get("graphs", {})) == {"forward"}, "raft.graphs roles wrong")
        for k in ("size_multiple", "min_side", "iters"):
            need(isinstance(sec.get(k), int), f"raft.{k} missing")
        refs(sec.get("graphs", {}), "raft.graphs")
    return problems


def _validate_checkpoint(ck, graphs, where, need):
    """A diffusion model's ``checkpointed`` entry (unet_checkpoint.checkpoint_section): the boundary forward and
    segments whose inputs name ``x`` or an earlier segment, ending in ``head``."""
    if not isinstance(ck, dict):
        need(False, f"{where} is not an object")
        return
    need(isinstance(ck.get("forward"), str) and ck.get("forward") in graphs, f"{where}.forward names no graph")
    segs = ck.get("segments")
    if not isinstance(segs, list) or not segs:
        need(False, f"{where}.segments missing or empty")
        return
    known = {"x"}
    for i, seg in enumerate(segs):
        at = f"{where}.segments[{i}]"
        if not isinstance(seg, dict):
            need(False, f"{at} is not an object")
            continue
        need(isinstance(seg.get("name"), str) and seg.get("name") not in known, f"{at}.name missing or repeated")
        need(isinstance(seg.get("graph"), str) and seg.get("graph") in graphs, f"{at}.graph names no graph")
        ins = seg.get("inputs")
        need(isinstance(ins, list) and ins and all(isinstance(n, str) and n in known for n in ins),
             f"{at}.inputs must name x or earlier segments")
        need(isinstance(seg.get("time"), bool), f"{at}.time is not a bool")
        known.add(seg.get("name"))
    need(isinstance(segs[-1], dict) and segs[-1].get("name") == "head", f"{where}: the last segment is not head")
