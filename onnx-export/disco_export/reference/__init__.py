"""An independent PyTorch reference of disco's CLIP-guided sampler, replaying a render trace.

disco (Rust, ONNX Runtime) writes a trace of one render (docs/trace.md): every random draw and every
computed tensor. This package recomputes the same render with plain torch autograd — its own ResizeRight,
MakeCutoutsDango, torchvision-style augmentations, losses, cond_fn and DDIM/PLMS steps — and reports how far
the two agree (``python -m disco_export.reference --trace DIR``).

Modules: trace (read/write the trace), schedule (ᾱ, t_model, t_c), cutouts (ResizeRight, MakeCutoutsDango),
augment (flip, noise, affine, gray, ColorJitter), losses (spherical distance, TV, SAT, range), models (the tiny
torch modules), cond_fn (the guidance gradient), sampler (DDIM/PLMS steps), replay (teacher-forced and free runs).
Names follow the Rust kernels: pred_x0, alpha_bar, fac, t_c, CutPlan.
"""
