"""Where Disco Diffusion's float arithmetic picks an integer: DD's exact expressions, evaluated
by CPython (and numpy float32 where DD's tensor is float32), over the whole range artists use.

Writes tests/fixtures/dd/integers.json: for each formula, its domain and the EXCEPTIONS, the
inputs where DD's float result differs from the exact rational answer, with DD's value. The
Rust test (tests/integration/dd_arithmetic.rs) evaluates disco's function over the whole
domain and expects the exact answer everywhere except at these inputs, where it expects DD's.

  .venv/bin/python tests/golden-gen/dd_integers.py

CI does not run this: the output is committed.
"""

import json
import math
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "dd" / "integers.json"
STEPS = range(1, 1001)
PERCENTS = range(0, 101)


def frames_skip_steps():
    # DD: skip_step_ratio = int(frames_skip_steps.rstrip("%")) / 100
    #     calc_frames_skip_steps = math.floor(steps * skip_step_ratio)
    out = []
    for steps in STEPS:
        for pct in PERCENTS:
            dd = math.floor(steps * (pct / 100))
            if dd != steps * pct // 100:
                out.append([steps, pct, dd])
    return "steps 1..=1000, percent 0..=100", out


def symmetry_steps():
    # guided-diffusion: transformation_steps = [int(len(indices) * (1 - i)) for i in transformation_percent]
    out = []
    for loop_len in STEPS:
        for k in PERCENTS:
            p = float(f"{k / 100}")
            dd = int(loop_len * (1 - p))
            if dd != loop_len * (100 - k) // 100:
                out.append([loop_len, k, dd])
    return "loop length (steps - skip) 1..=1000, transformation-percent k/100 for k 0..=100", out


def cut_schedule_index():
    # respace.py _WrappedModel: new_ts = map_tensor[ts].float() * (1000.0 / original_num_steps)  (float32)
    # DD cond_fn: t_int = int(t.item()) + 1; schedule[1000 - t_int]
    out = []
    for n in STEPS:
        d = (1000 // n) * n if n < 1000 else n
        stride = d // n
        scale = np.float32(1000.0 / d)
        for k in range(n):
            tau = k * stride
            t = np.float32(tau) * scale
            dd = 1000 - (int(float(t)) + 1)
            exact = 1000 - (tau * 1000 // d + 1)
            if dd != exact:
                out.append([n, k, dd])
    return "steps 1..=1000, every respaced index k", out


def save_percent():
    # DD: percent = math.ceil(j / total_steps * 100)
    out = []
    for total in STEPS:
        for j in range(total + 1):
            dd = math.ceil(j / total * 100)
            exact = -((-100 * j) // total)
            if dd != exact:
                out.append([total, j, dd])
    return "total iterations 1..=1000, j 0..=total", out


def gray_cuts():
    # MakeCutoutsDango: if ch <= int(self.IC_Grey_P * self.InnerCrop): gray
    out = []
    for inner in range(0, 257):
        for k in PERCENTS:
            p = float(f"{k / 100}")
            dd = int(p * inner)
            if dd != k * inner // 100:
                out.append([inner, k, dd])
    return "inner cuts 0..=256, cut_icgray_p k/100 for k 0..=100", out


def main():
    tables = {}
    for name, fn in [
        ("frames_skip_steps", frames_skip_steps),
        ("symmetry_steps", symmetry_steps),
        ("cut_schedule_index", cut_schedule_index),
        ("save_percent", save_percent),
        ("gray_cuts", gray_cuts),
    ]:
        domain, exceptions = fn()
        tables[name] = {"domain": domain, "exceptions": exceptions}
        print(f"{name}: {len(exceptions)} inputs where DD's float result differs from the exact one")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(tables, indent=1)
    OUT.write_text(text + "\n")


if __name__ == "__main__":
    main()
