"""Check an exported graph in ONNX Runtime against PyTorch on fresh random inputs.

The error measure is the relative error ‖a − b‖ / ‖b‖ per output, with b from eager PyTorch in fp32 (autograd
for the gradient outputs). A graph fails loudly (``VerificationError``) above the tolerance (1e-5).

Discontinuous or ill-conditioned outputs: the VJP of a deep ReLU network is not continuous at fp32 resolution.
With a real-size ModifiedResNet (random weights), perturbing the input by 1e-7 (relative) changes PyTorch's own
fp32 gradient by up to 4e-4 for some samples (a few ReLU masks flip), so an exported graph, whose fp32 round-off
differs from PyTorch's, cannot match it to 1e-5 on such samples. Only when an output misses 1e-5 is its noise
floor measured: the largest relative change of PyTorch's output under ``PERTURBATION`` relative input noise
(two draws). The output passes if its error is at most ``FLOOR_FACTOR`` times that floor and below
``HARD_LIMIT``; a wrong graph is off by far more. Such outputs are reported in ``notes``.
"""

import numpy as np
import onnxruntime as ort
import torch

TOLERANCE = 1e-5
PERTURBATION = 1e-6
FLOOR_FACTOR = 10.0
HARD_LIMIT = 1e-2


class VerificationError(RuntimeError):
    """An exported graph disagrees with PyTorch."""


def rel_error(a, b):
    """‖a − b‖ / ‖b‖ over all elements (float64 accumulation)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = np.linalg.norm(b)
    if denom == 0.0:
        raise VerificationError("reference output is all zeros; the comparison would be meaningless")
    return float(np.linalg.norm(a - b) / denom)


def session(path, threads=None):
    """A CPU InferenceSession for one graph file."""
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def reference(spec, inputs, upstream=None, module=None):
    """Eager PyTorch outputs for ``spec`` (a GraphSpec): forward outputs, or (output, grad) for a VJP.

    The module runs in eval mode, as every graph is exported: the toy set's CLIP BatchNorm uses batch statistics
    in training mode."""
    module = (module or spec.module).eval()
    if not spec.vjp:
        with torch.no_grad():
            out = module(*inputs)
        return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]
    inputs = [t.clone() for t in inputs]
    x = inputs[spec.wrt].requires_grad_(True)
    out = module(*inputs)
    primary, kept = (out[0], out[1]) if spec.has_aux else (out, out)
    (grad,) = torch.autograd.grad(primary, x, upstream)
    return [kept.detach().numpy(), grad.numpy()]


def noise_floor(spec, inputs, upstream, want, gen, draws=2):
    """Largest relative change of each PyTorch output under ``PERTURBATION`` relative noise on the float
    inputs (``draws`` times)."""
    floor = [0.0] * len(want)
    for _ in range(draws):
        noisy = [t * (1 + PERTURBATION * torch.randn(t.shape, generator=gen)) if t.is_floating_point() else t
                 for t in inputs]
        for k, o in enumerate(reference(spec, noisy, upstream)):
            floor[k] = max(floor[k], rel_error(o, want[k]))
    return floor


def check(spec, path, batch_sizes=(1, 3), seed=1234, tolerance=TOLERANCE, sess=None, sizes=None, notes=None):
    """Run the graph at each batch size on fresh random inputs; return the worst relative error per output.

    Graphs with symbolic H, W run batch i at image size ``sizes[i % len(sizes)]`` (default:
    ``spec.check_sizes``, small sizes other than the traced one). Raises VerificationError if any output's
    relative error exceeds ``tolerance`` (or, for a discontinuous output, the noise-floor bound in the module
    doc) or a shape differs. Outputs judged by their noise floor are described in ``notes`` (a list), if given.
    """
    sess = sess or session(path)
    gen = torch.Generator().manual_seed(seed)
    sizes = sizes or spec.check_sizes
    worst = {name: 0.0 for name in spec.output_names}
    for i, b in enumerate(batch_sizes):
        size = sizes[i % len(sizes)]
        at = f"batch {b}" + (f", {size[1]}x{size[0]}" if size else "")
        inputs = spec.sample_inputs(b, gen, size)
        feeds = {name: t.numpy() for name, t in zip(spec.forward_input_names, inputs)}
        upstream = None
        if spec.vjp:
            upstream = torch.randn(spec.upstream_shape(b, size), generator=gen)
            feeds[spec.upstream_name] = upstream.numpy()
        got = sess.run(list(spec.output_names), feeds)
        want = reference(spec, inputs, upstream)
        floor = None
        for k, (name, g, w) in enumerate(zip(spec.output_names, got, want)):
            if g.shape != w.shape:
                raise VerificationError(f"{spec.name}: output {name} has shape {g.shape}, torch gives {w.shape}")
            err = rel_error(g, w)
            if not err < tolerance:
                floor = floor or noise_floor(spec, inputs, upstream, want, gen)
                line = (f"{name} at {at}: rel. error {err:.3g}; PyTorch's own output moves by {floor[k]:.3g} under "
                        f"{PERTURBATION:g} input noise")
                if not (err <= FLOOR_FACTOR * floor[k] and err < HARD_LIMIT):
                    raise VerificationError(f"{spec.name}: output {name} at {at} has relative error {err:.3g} > "
                                            f"{tolerance:g} ({line})")
                if notes is not None:
                    notes.append(line)
            worst[name] = max(worst[name], err)
    return worst
