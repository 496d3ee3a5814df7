"""Peak RSS and seconds of one denoiser graph run with ONNX Runtime's CPU arena and memory pattern on or off (the
session settings disco chooses, crates/runtime/src/session.rs). A benchmark: run each setting in its own process,

    python -m disco_export.bench_session_memory GRAPH.onnx SIDE ARENA(0|1) MEMORY_PATTERN(0|1)

for a UNet or secondary-model graph (inputs x, t and, for a VJP, upstream); prints one line.
"""

import resource
import sys
import time

import numpy as np
import onnxruntime as ort


def main(argv=None):
    path, side, arena, pattern = (argv or sys.argv[1:])[:4]
    side, arena, pattern = int(side), arena == "1", pattern == "1"
    o = ort.SessionOptions()
    o.intra_op_num_threads = 2
    o.enable_cpu_mem_arena = arena
    o.enable_mem_pattern = pattern
    s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((1, 3, side, side), dtype=np.float32), "t": np.array([0.5], np.float32)}
    if "upstream" in [i.name for i in s.get_inputs()]:
        feeds["upstream"] = rng.standard_normal((1, 3, side, side), dtype=np.float32)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        s.run(None, feeds)
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"arena={arena} memory_pattern={pattern} first={times[0]:.2f}s later={min(times[1:]):.2f}s "
          f"peak={peak:.0f} MiB")


if __name__ == "__main__":
    main()
