//! What a render reports while it runs: k-diffusion's `callback`, as a trait whose methods
//! are called at the points where the render has something to show, each a no-op by default.
//!
//! Progress (a closure over [`StepEvent`], see [`job::render`](super::job::render)) and the
//! PyTorch replay's trace ([`Trace`](super::trace::Trace)) are two observers. An observer
//! only watches: nothing it does changes the render's numbers or its random streams, and it
//! writes no files (a trace is written by its caller).

use ndarray::{Array4, ArrayView4};

use super::guidance::{At, Draws, Losses, TieRecord};
use super::job::StepEvent;
use super::prompts::Targets;
use super::sampler::Mirroring;
use super::spec::RenderSpec;

/// Sees one render, in this order: [`start`](Self::start) once; per sampler step, per model
/// evaluation [`cond_fn`](Self::cond_fn) (when guidance ran) then
/// [`evaluated`](Self::evaluated), the step's [`noise`](Self::noise) (DDIM), then
/// [`step`](Self::step); [`finished`](Self::finished) when the last step is done.
pub trait RenderObserver {
    /// Augmentation clamp decisions within this distance of a bound are recorded and handed
    /// to [`cond_fn`](Self::cond_fn) (`None`, the default: not recorded; recording costs a
    /// pass over every augmented cut).
    fn clamp_tie_margin(&self) -> Option<f32> {
        None
    }

    /// The render's inputs, its CLIP targets and the sampler's start state are ready.
    fn start(&mut self, _start: &RenderStart<'_>) {}

    /// cond_fn ran at one model evaluation: its random choices and ∂L/∂x as it came out of
    /// the graphs (before the sign flip, NaN guard and RMS clamp).
    fn cond_fn(&mut self, _eval: &CondFnEval<'_>) {}

    /// A model evaluation is done: what the denoiser hands the sampler.
    fn evaluated(&mut self, _eval: &DenoiserEval<'_>) {}

    /// The sampler drew noise (DDIM's z, once per step after its model call).
    fn noise(&mut self, _z: &Array4<f32>) {}

    /// A sampler step is done.
    fn step(&mut self, _step: &StepEvent<'_>) {}

    /// The last step is done: x_{−1} and its x̂0, the job's image before quantisation,
    /// both `[1, 3, H, W]`. Not called for a cancelled render.
    fn finished(&mut self, _pred_x0: &Array4<f32>, _x: &Array4<f32>) {}
}

/// What a render starts from.
#[derive(Debug, Clone, Copy)]
pub struct RenderStart<'a> {
    /// The render's inputs.
    pub spec: &'a RenderSpec,
    /// The symmetry the sampler applies, resolved from the spec.
    pub symmetry: &'a Mirroring,
    /// Per CLIP model (in `spec.clip_models` order), the targets the CLIP loss pulls toward.
    pub targets: &'a [Targets],
    /// x at the first step to run, `[1, 3, H, W]` (the checkpoint's when resuming).
    pub x_start: &'a Array4<f32>,
}

/// One cond_fn call (dd-algorithm.md §5).
#[derive(Debug, Clone, Copy)]
pub struct CondFnEval<'a> {
    /// Where it was evaluated.
    pub at: At,
    /// The UNet's ε̂ at (x, k), `[1, 3, H, W]`.
    pub eps: &'a Array4<f32>,
    /// The model input, `[1, 3, H, W]`.
    pub x: &'a Array4<f32>,
    /// Its cut plans and augmentations.
    pub draws: &'a Draws,
    /// The augmentation clamp decisions near a bound, when
    /// [`RenderObserver::clamp_tie_margin`] asked for them.
    pub ties: Option<&'a TieRecord>,
    /// Its loss terms.
    pub losses: &'a Losses,
    /// ∂L/∂x before the sign flip, NaN guard and RMS clamp, `[1, 3, H, W]`.
    pub grad_raw: &'a Array4<f32>,
}

/// One model evaluation as the sampler receives it.
#[derive(Debug, Clone, Copy)]
pub struct DenoiserEval<'a> {
    /// Where it was evaluated.
    pub at: At,
    /// The UNet's ε̂ at (x, k), `[1, 3, H, W]`.
    pub eps: &'a Array4<f32>,
    /// The model input, `[1, 3, H, W]`.
    pub x: ArrayView4<'a, f32>,
    /// cond_fn's finished gradient g, `[1, 3, H, W]`; `None` where guidance was skipped
    /// (DDIM's last step, §4.5).
    pub grad: Option<&'a Array4<f32>>,
}
