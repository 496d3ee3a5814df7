//! disco: a make-like build tool for Disco Diffusion-style CLIP-guided diffusion art.
//!
//! Layers, each looking only downward (see `docs/architecture.md`):
//! - [`project`]: KDL text → typed, validated project with source spans.
//! - [`import`]: Disco Diffusion settings files → project text.
//! - [`render`]: ONNX Runtime discovery and model-set manifests (the sampler arrives here).
//! - [`anim`]: 2D animation math: keyframe series and the frame-to-frame warp.
//! - [`video`]: frames → H.264 mp4 through FFmpeg.
//! - [`report`]: contact sheets of sweeps and the project's HTML report.
//! - [`watch`]: re-render on save, cancelling only the jobs an edit changed.

#![deny(missing_docs)]

pub mod anim;
pub mod build;
pub mod fsutil;
pub mod import;
pub mod lockfile;
pub mod plan;
pub mod project;
pub mod render;
pub mod report;
pub mod store;
pub mod video;
pub mod watch;
