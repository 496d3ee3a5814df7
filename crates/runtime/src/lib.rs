//! One job → one image, on ONNX Runtime. Knows nothing of caching, projects or files
//! beyond the model set it is handed.
//!
//! - [`runtime`], [`session`], [`manifest`]: finding ONNX Runtime, model-set manifests,
//!   graph sessions by manifest name.
//! - [`spec`]: every resolved input of one render.
//! - [`depth`]: a 3D frame's depth map from the MiDaS / AdaBins graphs.
//! - [`prompts`]: CLIP targets and weights.
//! - [`guidance`]: cond_fn composed from the graphs and the kernels; [`models`]: the sessions
//!   a render needs; [`job`]: one render end to end (targets, sampler loop, final image,
//!   checkpoints); [`unet_checkpoint`]: the UNet's VJP walked segment by segment; [`observer`]: what a render reports while it runs; [`trace`]: the observer
//!   that records everything a render did, for the PyTorch replay.

#![deny(missing_docs)]

pub mod depth;
pub mod guidance;
pub mod job;
pub mod manifest;
pub mod models;
pub mod observer;
pub mod prompts;
pub mod runtime;
pub mod session;
pub mod spec;
pub mod trace;
pub mod unet_checkpoint;

// The pure kernels this layer drives (crate `disco-kernels`), under the names the modules
// here use for them.
use disco_kernels::{cutouts, losses, noise, sampler, schedule, tokenizer};

/// The renderer's version salt, hashed into every job key: bump it when a change to the
/// renderer changes pixels, so cached images of the old renderer are not served.
pub const RENDERER_SALT: &str = "disco-render/2";
