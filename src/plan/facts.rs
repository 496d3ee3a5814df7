//! What planning needs to know about the world beyond the project text: file contents,
//! model graphs and the runtime. A trait, so planning stays pure and tests can fake it; the
//! build implements it with the store's stat cache.

use std::collections::BTreeMap;
use std::path::Path;

/// What a target's jobs need from its model set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelNeeds {
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Guidance through the secondary model (else the UNet VJP).
    pub secondary: bool,
    /// An LPIPS term (an init image, Perlin init or animation frames).
    pub lpips: bool,
    /// CLIP models by DD flag, in load order.
    pub clip: Vec<String>,
    /// DD's name of the diffusion model (`diffusion-model`): the set must hold it.
    pub diffusion: String,
}

/// The facts a plan is computed from.
pub trait Facts {
    /// blake3 (hex) of a file's content.
    fn file_blake3(&mut self, path: &Path) -> Result<String, String>;
    /// Every graph `needs` uses in the model set at `set`: name → blake3, each checked
    /// against the file on disk (a modified or truncated file is an error naming it).
    fn model_hashes(
        &mut self,
        set: &Path,
        needs: &ModelNeeds,
    ) -> Result<BTreeMap<String, String>, String>;
    /// The renderer and runtime that will make the pixels.
    fn runtime(&mut self) -> Result<RuntimeFacts, String>;
}

/// The numerics-relevant facts about the renderer (DESIGN.md §3 item 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeFacts {
    /// The renderer's version salt.
    pub renderer: String,
    /// Execution provider class (`cpu`, `cuda`).
    pub provider: String,
    /// ONNX Runtime's version.
    pub ort: String,
}
