//! Every linear (and the few nonlinear) maps between the image and CLIP's input, each with a
//! hand-written adjoint, since ONNX Runtime has no autograd (dd-algorithm.md §15).
//!
//! The chain for one CLIP model and one cutn-batch is
//! `u = (x_in + 1)/2` (done by the caller) → [`dango::apply`] → [`augment::apply`] →
//! [`normalize::normalize`] → CLIP; gradients come back through [`normalize::normalize_adjoint`],
//! [`augment::adjoint`] and [`dango::adjoint`]. Image prompts use [`legacy`] (forward only).
//!
//! Kernels are pure functions over `ndarray` views: every random choice is drawn up front
//! into a plan ([`dango::CutPlan`], [`augment::AugParams`], [`legacy::LegacyPlan`]) from the
//! job's seeded RNG and passed in, so a step can be replayed with given randomness
//! (STYLE.md rule 12). PyTorch's RNG streams are not reproduced (§15); only the distributions are.
//!
//! Knows nothing of ONNX sessions, CLIP embeddings or files. Arrays are `f32`, NCHW.

pub mod augment;
pub mod colour;
pub mod dango;
pub mod legacy;
pub mod normalize;
pub mod resize;
pub mod warp;

#[cfg(test)]
mod testutil;
