//! One job → one image, on ONNX Runtime. Knows nothing of caching, projects or files
//! beyond the model set it is handed.
//!
//! - [`runtime`], [`session`], [`manifest`]: finding ONNX Runtime, model-set manifests,
//!   graph sessions by manifest name.
//! - [`schedule`], [`sampler`], [`saves`], [`noise`]: the diffusion process (dd-algorithm.md
//!   §4, §11.2) as pure functions and one sampler loop.
//!
//! Guidance (cutouts, losses, the cond_fn composition) is being added.

pub mod manifest;
pub mod noise;
pub mod runtime;
pub mod sampler;
pub mod saves;
pub mod schedule;
pub mod session;
pub mod spec;
