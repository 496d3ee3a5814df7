//! disco: a make-like build tool for Disco Diffusion-style CLIP-guided diffusion art.
//!
//! The crate graph is the layer diagram (`docs/architecture.md`), each crate looking only
//! downward:
//! - `disco-kernels`: DD's numeric kernels and 2D/3D motion math ([`anim`]; the sampler,
//!   cutouts, losses, … through [`render`]).
//! - `disco-fsutil`: bounded reads and atomic writes ([`fsutil`]).
//! - `disco-project`: KDL text → typed, validated [`project`].
//! - `disco-store`: the object [`store`] behind a trait in bytes.
//! - `disco-plan`: [`plan`] (jobs, their resolved inputs and keys), [`lockfile`].
//! - `disco-runtime`: one job → one image on ONNX Runtime ([`render`]).
//! - `disco-video`: frames → H.264 mp4 through FFmpeg ([`video`]).
//! - this crate: [`build`] (the engine), [`watch`], [`report`], [`import`] and the CLI.
//!
//! The re-exports below give tests, benches and tools one path per layer.

#![deny(missing_docs)]

pub mod build;
pub mod import;
pub mod report;
pub mod watch;

pub use disco_fsutil as fsutil;
pub use disco_kernels::anim;
pub use disco_plan as plan;
pub use disco_plan::lockfile;
pub use disco_project as project;
pub use disco_store as store;
pub use disco_video as video;

/// The renderer on ONNX Runtime (`disco-runtime`) with the kernels it drives
/// (`disco-kernels`), under one path.
pub mod render {
    pub use disco_kernels::{
        cutouts, losses, noise, perlin, sampler, saves, schedule, tokenizer, tone_fix, voronoi,
    };
    pub use disco_runtime::*;
}
