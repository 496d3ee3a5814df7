//! What planning needs to know about the world beyond the project text: file contents,
//! model graphs and the runtime. A trait, so planning stays pure and tests can fake it; the
//! build implements it with the store's stat cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// The diffusion model whose UNet graphs the hashes must be of: DD's name
    /// (`diffusion-model`), or `custom:<checkpoint file>` (`Settings::diffusion_selector`).
    /// A set may hold several side by side; the graphs' names and hashes go in the key.
    pub diffusion: String,
    /// RAFT optical flow: a Video Input target with `video-init-flow-warp`, whose frames'
    /// keys then hold the RAFT graph's hash.
    pub flow: bool,
    /// The UNet's fp16 graphs where the set has them ([`unet_fp16`]).
    pub fp16: bool,
}

/// Whether a target renders with the UNet's fp16 graphs: on CUDA, for a model DD runs in
/// fp16 there (`use_fp16`). The CPU keeps fp32: ONNX Runtime's CPU provider computes most
/// fp16 nodes in fp32 between inserted casts, slower and no closer to DD.
pub fn unet_fp16(s: &disco_project::Settings, provider: &str) -> bool {
    provider == "cuda" && s.dd_use_fp16()
}

/// Why a fact could not be had. Planning puts it in a diagnostic at the setting that
/// asked (the init image, the model set); the messages read as they did when this was text.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FactsError {
    /// A file cannot be read or hashed.
    #[error("{source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (shared: facts are remembered and handed out again).
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The model set cannot be opened (no manifest, an unreadable or foreign one), or
    /// lacks what the settings need; `detail` is the model layer's message with its help.
    #[error("{detail}")]
    ModelSet {
        /// The set's folder.
        set: PathBuf,
        /// What is wrong, in the model layer's words.
        detail: String,
    },
    /// The manifest lists no graph of this name.
    #[error("the manifest of {} lists no graph `{graph}`", set.display())]
    NoGraph {
        /// The set's folder.
        set: PathBuf,
        /// The graph.
        graph: String,
    },
    /// A model file cannot be read.
    #[error("model file {} of graph `{graph}`: {source}", path.display())]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// The graph it belongs to.
        graph: String,
        /// Why.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A model file's content is not what the manifest records.
    #[error(
        "model file {} (graph `{graph}`) does not match its manifest: blake3 {} expected, {} found — it was modified or truncated; restore or re-export the model set",
        path.display(),
        &expected[..expected.len().min(16)],
        &found[..found.len().min(16)]
    )]
    Modified {
        /// The file.
        path: PathBuf,
        /// The graph it belongs to.
        graph: String,
        /// blake3 the manifest records.
        expected: String,
        /// blake3 of the file.
        found: String,
    },
    /// The runtime that would render cannot be found or identified; `detail` is the
    /// runtime layer's message with its help.
    #[error("{detail}")]
    Runtime {
        /// What is wrong.
        detail: String,
    },
}

impl FactsError {
    /// A file that cannot be read.
    pub fn read(path: &Path, source: std::io::Error) -> FactsError {
        FactsError::Read {
            path: path.to_path_buf(),
            source: Arc::new(source),
        }
    }
}

/// The facts a plan is computed from.
pub trait Facts {
    /// blake3 (hex) of a file's content.
    fn file_blake3(&mut self, path: &Path) -> Result<String, FactsError>;
    /// Every graph `needs` uses in the model set at `set`: name → blake3, each checked
    /// against the file on disk (a modified or truncated file is an error naming it).
    fn model_hashes(
        &mut self,
        set: &Path,
        needs: &ModelNeeds,
    ) -> Result<BTreeMap<String, String>, FactsError>;
    /// The renderer and runtime that will make the pixels.
    fn runtime(&mut self) -> Result<RuntimeFacts, FactsError>;
    /// 3D animation: blake3 of the depth graphs of the model set at `set` — MiDaS `midas`
    /// (DD's `midas_depth_model` name), and AdaBins when `adabins` — each checked against
    /// the file on disk.
    fn depth_hashes(
        &mut self,
        set: &Path,
        midas: &str,
        adabins: bool,
    ) -> Result<DepthHashes, FactsError> {
        let _ = (midas, adabins);
        Err(FactsError::ModelSet {
            set: set.to_path_buf(),
            detail: "this build of disco reads no depth graphs".into(),
        })
    }
    /// Video Input: blake3 (hex) of the decoded RGB pixels of every `nth`-th frame of the
    /// video at `path` (frames 0, n, 2n, …), in order.
    fn video_frames(&mut self, path: &Path, nth: u32) -> Result<Vec<String>, FactsError> {
        let _ = nth;
        Err(FactsError::Runtime {
            detail: format!(
                "cannot decode {}: this build of disco does not read videos yet",
                path.display()
            ),
        })
    }
}

/// The depth graphs a 3D frame uses, by blake3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthHashes {
    /// The MiDaS graph.
    pub midas: String,
    /// The AdaBins graph, when asked for.
    pub adabins: Option<String>,
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
    // progrock's tone correction makes its corrected x̂0 the init the LPIPS loss pulls toward
    let has_init = s.init_image.value.resolved.is_some()
        || s.perlin_init.value
        || s.voronoi_init.value
        || s.fix_brightness_contrast.value;
    // keyframed: any frame with a positive weight needs the graphs
    let frames_scale = s
        .frames_scale
        .value
        .values()
        .into_iter()
        .fold(0.0, f64::max);
    if animation && frames_scale > 0.0 {
        return Some(LpipsNeed {
            setting: "frames-scale",
            value: frames_scale,
            origin: s.frames_scale.origin.as_ref(),
        });
    }
    (has_init && s.init_scale.value > 0.0).then_some(LpipsNeed {
        setting: "init-scale",
        value: s.init_scale.value,
        origin: s.init_scale.origin.as_ref(),
    })
}
