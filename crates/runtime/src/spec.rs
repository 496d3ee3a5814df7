//! What the renderer needs to make one image: the job's resolved inputs — the very values its
//! key is computed from ([`disco_plan::inputs`]) — plus the pixels they name, loaded, and the
//! few settings that change no pixel ([`Unkeyed`]).
//!
//! The build assembles a [`RenderSpec`] (`build/spec.rs`); the renderer reads nothing else.
//! The inputs are not copied into a second list of fields: a setting the renderer reads is a
//! field of the keyed inputs or of [`Unkeyed`], which says why it may stay out of the key.

use ndarray::Array4;

use crate::losses::RangeLoss;
use crate::sampler::Mirroring;
use disco_plan::inputs::{CommonInputs, FrameInputs};

/// Every input of one render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderSpec {
    /// The target's shared inputs, as keyed.
    pub common: CommonInputs,
    /// The job's own inputs, as keyed (seed, skip steps, prompts, where the init comes from).
    pub frame: FrameInputs,
    /// The init in [-1, 1], `[1, 3, H, W]`: the init image, the warped previous frame or
    /// Perlin noise, as `frame.init` names it; `None` for pure noise.
    pub init: Option<Array4<f32>>,
    /// The image prompts' pixels in [-1, 1], `[1, 3, h, w]`, resized as DD does (§3.3
    /// step 2): one per entry of `frame.image_prompts`, in that order.
    pub image_prompts: Vec<Array4<f32>>,
    /// What the renderer reads beyond the keyed inputs.
    pub unkeyed: Unkeyed,
}

/// Settings the renderer reads that cannot change a pixel, so no key hashes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unkeyed {
    /// `use-checkpoint`: run CLIP over a few cuts at a time to bound peak memory.
    pub use_checkpoint: bool,
    /// `range-scale` under DD's range loss: the term is computed and reported in the
    /// losses, but its gradient never reaches x (§5.7). Under `through-denoiser` the keyed
    /// `common.range_scale` is used.
    pub dd_range_scale: f64,
}

impl RenderSpec {
    /// Output width (a multiple of 64).
    pub fn width(&self) -> usize {
        self.common.width as usize
    }

    /// Output height (a multiple of 64).
    pub fn height(&self) -> usize {
        self.common.height as usize
    }

    /// `steps`.
    pub fn steps(&self) -> usize {
        self.common.steps as usize
    }

    /// The steps skipped before the loop starts.
    pub fn skip_steps(&self) -> usize {
        self.frame.skip_steps as usize
    }

    /// The range loss's weight at schedule index `idx`, as cond_fn applies (or, under DD's
    /// range loss, reports) it.
    pub fn range_scale(&self, idx: usize) -> f32 {
        self.common
            .range_scale
            .as_ref()
            .map_or(self.unkeyed.dd_range_scale, |r| r.at(idx)) as f32
    }

    /// How the range loss acts.
    pub fn range_loss(&self) -> RangeLoss {
        self.common.range_loss()
    }

    /// LPIPS weight toward the init; 0 without one.
    pub fn init_scale(&self) -> f32 {
        self.frame.init_scale.unwrap_or(0.0) as f32
    }

    /// The image the LPIPS loss pulls toward and its weight: the init with `init_scale`, when
    /// both are there.
    pub fn init_pull(&self) -> Option<(&Array4<f32>, f32)> {
        let scale = self.init_scale();
        self.init
            .as_ref()
            .filter(|_| scale != 0.0)
            .map(|i| (i, scale))
    }

    /// When the sampler mirrors x_k.
    pub fn mirroring(&self) -> Mirroring {
        Mirroring::of(
            self.common.symmetry.as_ref(),
            self.steps(),
            self.skip_steps(),
        )
    }

    /// Each image prompt's pixels with its weight before normalisation.
    pub fn image_prompts(&self) -> impl Iterator<Item = (&Array4<f32>, f32)> {
        self.image_prompts
            .iter()
            .zip(&self.frame.image_prompts)
            .map(|(pixels, p)| (pixels, p.weight as f32))
    }
}
