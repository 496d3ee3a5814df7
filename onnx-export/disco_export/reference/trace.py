"""Reading (and, for tests, writing) a render trace (docs/trace.md, format ``disco-trace/2``).

A trace directory holds ``trace.json`` (the index) and ``tensors.bin`` (little-endian float32, concatenated);
a tensor is ``{"offset": N, "shape": [..]}`` with N counted in floats, ``null`` when absent. Format 1 is
format 2 without ``clamp_ties`` (nothing to force) and is still read.
"""

import json
from pathlib import Path

import numpy as np
import torch

from .cutouts import CutPlan

FORMAT = "disco-trace/2"
READABLE = ("disco-trace/1", FORMAT)


class Trace:
    """A loaded trace: ``doc`` is trace.json; ``tensor(ref)`` returns a float32 torch tensor (or None)."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.doc = json.loads((self.dir / "trace.json").read_text())
        if self.doc.get("format") not in READABLE:
            raise ValueError(f"{self.dir}: format {self.doc.get('format')!r}, expected one of {READABLE}")
        self.data = np.fromfile(self.dir / "tensors.bin", dtype="<f4")
        self.spec = self.doc["spec"]

    def tensor(self, ref):
        if ref is None:
            return None
        n = int(np.prod(ref["shape"])) if ref["shape"] else 1
        start = ref["offset"]
        if start + n > self.data.size:
            raise ValueError(f"tensor at offset {start} of {n} floats runs past tensors.bin ({self.data.size})")
        return torch.from_numpy(self.data[start:start + n].astype(np.float32).reshape(ref["shape"]))

    def targets(self):
        """Per CLIP model (spec order): (rows (P, D), weights (P,)) as float32 tensors."""
        return [(self.tensor(t["rows"]), torch.tensor(t["weights"], dtype=torch.float32))
                for t in self.doc["targets"]]

    def draws(self, evaluation, tie_log=None):
        """[model][batch] of (CutPlan, aug dict with noise tensors, or None).

        tie_log: a list to force the evaluation's recorded ``clamp_ties`` (each aug dict then carries
        ``clamp_ties`` {position in order: (flat indices, decisions)} and ``tie_log``); None: force nothing.
        """
        ties = evaluation.get("clamp_ties") or []
        out = []
        for m, per_model in enumerate(evaluation.get("draws") or []):
            batches = []
            for b, d in enumerate(per_model):
                aug = d.get("aug")
                if aug is not None:
                    aug = dict(aug, noise=[self.tensor(n) for n in aug["noise"]])
                    if tie_log is not None and m < len(ties):
                        aug.update(clamp_ties=_ties_by_op(ties[m][b]), tie_log=tie_log)
                batches.append((CutPlan.from_json(d["plan"]), aug))
            out.append(batches)
        return out


def _ties_by_op(rec):
    """One batch's ``clamp_ties`` → {op position: (index LongTensor, passed BoolTensor)} for the blend clamps,
    plus "hue": {pixel, imax, imin, sector: LongTensor (n,); passed: BoolTensor (n, 3); rgb: (n, 3)} when the hue
    op has any."""
    op = torch.tensor(rec["op"], dtype=torch.long)
    index = torch.tensor(rec["index"], dtype=torch.long)
    passed = torch.tensor(rec["passed"], dtype=torch.bool)
    out = {int(i): (index[op == i], passed[op == i]) for i in op.unique()}
    hue = rec.get("hue") or {}
    if hue.get("pixel"):
        out["hue"] = {k: torch.tensor(hue[k], dtype=torch.long) for k in ("pixel", "imax", "imin", "sector")}
        out["hue"]["passed"] = torch.tensor(hue["passed"], dtype=torch.bool).view(-1, 3)
        out["hue"]["rgb"] = torch.tensor(hue["rgb"], dtype=torch.float32).view(-1, 3)
    return out


class TraceWriter:
    """Builds a trace in memory: ``ref(tensor)`` appends a tensor and returns its reference."""

    def __init__(self):
        self.chunks, self.offset = [], 0

    def ref(self, t):
        if t is None:
            return None
        a = np.ascontiguousarray(np.asarray(t.detach() if torch.is_tensor(t) else t, dtype="<f4"))
        r = {"offset": self.offset, "shape": list(a.shape)}
        self.chunks.append(a.ravel())
        self.offset += a.size
        return r

    def write(self, directory, doc):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = np.concatenate(self.chunks) if self.chunks else np.zeros(0, "<f4")
        data.astype("<f4").tofile(directory / "tensors.bin")
        (directory / "trace.json").write_text(json.dumps(dict(doc, format=FORMAT), indent=1))
