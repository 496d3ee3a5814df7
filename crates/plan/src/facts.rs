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
    /// DD's name of the diffusion model (`diffusion-model`), whose UNet graphs the hashes
    /// must be of. Today's sets hold one model, and `build::needs` refuses a set holding
    /// another before planning; a set holding several would pick by this name.
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

/// The setting that makes a target's jobs need LPIPS graphs (an init-image or frame
/// coherence loss), so a model set without them is reported against that setting.
#[derive(Debug, Clone, Copy)]
pub struct LpipsNeed<'a> {
    /// `frames-scale` (animation frames after the first) or `init-scale` (an init image).
    pub setting: &'static str,
    /// Its value.
    pub value: f64,
    /// Where it was written; `None` for the default.
    pub origin: Option<&'a disco_project::Origin>,
}

/// Why the jobs of settings `s` need LPIPS, if they do: `frames-scale` > 0 in an
/// animation, or `init-scale` > 0 with an init image (or Perlin init).
pub fn lpips_need(s: &disco_project::Settings) -> Option<LpipsNeed<'_>> {
    use disco_project::types::AnimationMode;
    let animation = s.animation_mode.value != AnimationMode::None;
    let has_init = s.init_image.value.resolved.is_some() || s.perlin_init.value;
    if animation && s.frames_scale.value > 0.0 {
        return Some(LpipsNeed {
            setting: "frames-scale",
            value: s.frames_scale.value,
            origin: s.frames_scale.origin.as_ref(),
        });
    }
    (has_init && s.init_scale.value > 0.0).then_some(LpipsNeed {
        setting: "init-scale",
        value: s.init_scale.value,
        origin: s.init_scale.origin.as_ref(),
    })
}
