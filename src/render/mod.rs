//! One job → one image, on ONNX Runtime. Knows nothing of caching, projects or files
//! beyond the model set it is handed.
//!
//! So far: finding and loading the ONNX Runtime library ([`runtime`]) and reading model-set
//! manifests ([`manifest`]). The sampler lands here with the renderer issue.

pub mod cutouts;
pub mod manifest;
pub mod runtime;
