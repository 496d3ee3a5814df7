//! What the renderer needs to make one image: every resolved input, as plain values.
//!
//! Planning builds a [`RenderSpec`] from a project (keyframes interpolated, sweep cell
//! applied, seed derived, images loaded); the renderer reads nothing else. The same value is
//! what a job's key hashes, so a setting that is not in here cannot change a pixel.

use ndarray::Array4;

use super::cutouts::augment::AugMode;
use super::sampler::Method;

/// How `range_scale` acts (DESIGN.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeLoss {
    /// DD's behaviour: the range loss is taken on the denoised estimate, which is an input
    /// of x_in, so its gradient with respect to x_in is zero and `range_scale` has no effect
    /// (dd-algorithm.md §5.7). The default, so DD settings give DD's pictures.
    Dd,
    /// The evident intent: the range loss's gradient flows back through the denoiser.
    ThroughDenoiser,
}

/// One prompt for one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct TextPrompt {
    /// Text for CLIP (no weight suffix).
    pub text: String,
    /// Weight before normalisation.
    pub weight: f32,
}

/// One image prompt, already loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagePromptSpec {
    /// The image in [-1, 1], `[1, 3, h, w]`, resized as DD does (§3.3 step 2).
    pub image: Array4<f32>,
    /// Weight before normalisation (each of its 16 cutouts gets `w/16`).
    pub weight: f32,
}

/// Every input of one render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderSpec {
    /// Output width (already a multiple of 64).
    pub width: usize,
    /// Output height (already a multiple of 64).
    pub height: usize,
    /// The seed of this image (planning applies DD's per-frame / per-batch rules).
    pub seed: u64,
    /// `steps`.
    pub steps: usize,
    /// `skip_steps` (for animation frames > 0: `calc_frames_skip_steps`).
    pub skip_steps: usize,
    /// DDIM (with η) or PLMS.
    pub method: Method,
    /// `clip_denoised`.
    pub clip_denoised: bool,
    /// Text prompts of the frame.
    pub text_prompts: Vec<TextPrompt>,
    /// Image prompts of the frame.
    pub image_prompts: Vec<ImagePromptSpec>,
    /// `fuzzy_prompt` with its `rand_mag`.
    pub fuzzy: Option<f32>,
    /// Enabled CLIP models by DD flag (`ViTB32`, …), in DD's load order.
    pub clip_models: Vec<String>,
    /// `clip_guidance_scale`.
    pub clip_guidance_scale: f32,
    /// `tv_scale`.
    pub tv_scale: f32,
    /// `range_scale`.
    pub range_scale: f32,
    /// How the range loss acts.
    pub range_loss: RangeLoss,
    /// `sat_scale`.
    pub sat_scale: f32,
    /// LPIPS weight toward the init (`init_scale`, or `frames_scale` for animation frames).
    pub init_scale: f32,
    /// The init image in [-1, 1], `[1, 3, H, W]` (init image, warped previous frame, or
    /// Perlin noise made by the caller).
    pub init: Option<Array4<f32>>,
    /// `cutn_batches`.
    pub cutn_batches: usize,
    /// `skip_augs`.
    pub skip_augs: bool,
    /// Which augmentations (stills or animation frames, §5.5).
    pub aug_mode: AugMode,
    /// `cut_overview` (1000 entries).
    pub cut_overview: Vec<f64>,
    /// `cut_innercut` (1000 entries).
    pub cut_innercut: Vec<f64>,
    /// `cut_ic_pow` (1000 entries).
    pub cut_ic_pow: Vec<f64>,
    /// `cut_icgray_p` (1000 entries).
    pub cut_icgray_p: Vec<f64>,
    /// `use_secondary_model`.
    pub use_secondary_model: bool,
    /// `clamp_grad` with `clamp_max`.
    pub clamp_max: Option<f32>,
    /// `use_checkpoint`: run CLIP over a few cuts at a time to bound peak memory.
    pub use_checkpoint: bool,
    /// `use_horizontal_symmetry`.
    pub horizontal_symmetry: bool,
    /// `use_vertical_symmetry`.
    pub vertical_symmetry: bool,
    /// `transformation_percent`.
    pub transformation_percent: Vec<f64>,
}
