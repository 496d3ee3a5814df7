//! Disco Diffusion's numeric kernels as pure functions over numbers and arrays: no ONNX
//! Runtime, no FFmpeg, no project files, no I/O. Everything above drives them.
//!
//! - [`schedule`], [`sampler`], [`saves`], [`noise`]: the diffusion process (dd-algorithm.md
//!   §4, §11.2) as pure functions and one sampler loop.
//! - [`tokenizer`], [`losses`], [`perlin`], [`voronoi`]: CLIP tokens, the guidance losses
//!   with their gradients, Perlin and Voronoi init.
//! - [`cutouts`]: cutouts, augmentations and CLIP normalisation with their adjoints.
//! - [`anim`]: keyframe series, the 2D warp and the 3D camera warp (§10).

#![deny(missing_docs)]

pub mod anim;
pub mod cutouts;
pub mod losses;
pub mod noise;
pub mod perlin;
pub mod sampler;
pub mod saves;
pub mod schedule;
pub mod tokenizer;
pub mod tone_fix;
pub mod voronoi;
