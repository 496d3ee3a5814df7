//! One job → one image, on ONNX Runtime. Knows nothing of caching, projects or files
//! beyond the model set it is handed.
//!
//! - [`runtime`], [`session`], [`manifest`]: finding ONNX Runtime, model-set manifests,
//!   graph sessions by manifest name.
//! - [`spec`]: every resolved input of one render.
//! - [`schedule`], [`sampler`], [`saves`], [`noise`]: the diffusion process (dd-algorithm.md
//!   §4, §11.2) as pure functions and one sampler loop.
//! - [`tokenizer`], [`prompts`], [`losses`], [`perlin`]: CLIP tokens, targets and weights,
//!   the guidance losses with their gradients, Perlin init.
//! - [`cutouts`]: cutouts, augmentations and CLIP normalisation with their adjoints.
//! - [`guidance`]: cond_fn composed from the graphs and the kernels; [`models`]: the sessions
//!   a render needs; [`job`]: one render end to end (targets, sampler loop, final image,
//!   checkpoints); [`observer`]: what a render reports while it runs; [`trace`]: the observer
//!   that records everything a render did, for the PyTorch replay.

pub mod cutouts;
pub mod guidance;
pub mod job;
pub mod losses;
pub mod manifest;
pub mod models;
pub mod noise;
pub mod observer;
pub mod perlin;
pub mod prompts;
pub mod runtime;
pub mod sampler;
pub mod saves;
pub mod schedule;
pub mod session;
pub mod spec;
pub mod tokenizer;
pub mod trace;

/// The renderer's version salt, hashed into every job key: bump it when a change to the
/// renderer changes pixels, so cached images of the old renderer are not served.
pub const RENDERER_SALT: &str = "disco-render/1";
