//! The sampling loop (dd-algorithm.md §4.4–§4.7): start state, one step per respaced index
//! from K0 down to 0, symmetry, per-step reports and cancellation.
//!
//! Two counters, never mixed: `k` is a respaced schedule index (K0 = `start_k` down to 0)
//! and `iteration` counts the steps this job's loop has taken (`start_k − k`, DD's `j`).
//!
//! The loop owns everything that lives across steps (x, k, PLMS's ε history) in a plain
//! [`SamplerState`] that the build engine can persist and hand back to [`sample`] to resume.
//! The model and `cond_fn` are behind [`Denoiser`]; noise comes from a [`NoiseSource`].

use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{Array4, ArrayView4};

use super::{Mirroring, StepOut, condition_score, ddim_step, plms_step, q_sample};
use crate::noise::NoiseSource;
use crate::schedule::DiffusionSchedule;
use crate::tone_fix::{Fix, ToneFix};

/// DD's `diffusion_sampling_mode`: the sampler without its parameters. The one definition:
/// the project parses the setting into it and a job's inputs key it as `ddim` or `plms`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SamplerKind {
    /// DDIM with `eta`.
    #[default]
    Ddim,
    /// Pseudo linear multi-step, order 2.
    Plms,
}

impl SamplerKind {
    /// The name the key and the project file use (`ddim`, `plms`).
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Ddim => "ddim",
            SamplerKind::Plms => "plms",
        }
    }
}

/// The sampler with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// DDIM with noise scale η (`eta`, default 0.8).
    Ddim {
        /// η: 0 is deterministic, 1 is DDPM-like.
        eta: f64,
    },
    /// PLMS, order 2. Deterministic; symmetry is not applied (DD does not pass it).
    Plms,
}

impl Method {
    /// Which sampler this is.
    pub fn kind(self) -> SamplerKind {
        match self {
            Method::Ddim { .. } => SamplerKind::Ddim,
            Method::Plms => SamplerKind::Plms,
        }
    }

    /// DDIM's η; `None` under PLMS, which has none.
    pub fn eta(self) -> Option<f64> {
        match self {
            Method::Ddim { eta } => Some(eta),
            Method::Plms => None,
        }
    }
}

/// The per-job settings the loop reads.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOptions {
    /// DDIM or PLMS.
    pub method: Method,
    /// `skip_steps`: the loop starts at K0 = N − skip − 1.
    pub skip_steps: usize,
    /// `clip_denoised`: clamp x̂0 to [-1, 1] after every model call (DD default false).
    pub clip_denoised: bool,
    /// When to mirror x_k (DDIM only).
    pub mirroring: Mirroring,
    /// progrock's brightness and contrast correction, which restarts the loop from a
    /// corrected x̂0; `None` (DD) never restarts.
    pub tone_fix: Option<ToneFix>,
}

/// Everything that carries from one step to the next; resuming from it reproduces the rest
/// of the run bit for bit (given the noise source at the same position).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerState {
    /// The respaced index of the next step.
    pub k: usize,
    /// x_k, `[B, 3, H, W]`.
    pub x: Array4<f32>,
    /// PLMS: ε_a of the previous step (`None` before the first step, and always for DDIM).
    pub eps_prev: Option<Array4<f32>>,
}

/// Where a [`Denoiser`] is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalAt {
    /// Respaced index whose `t_model` the UNet and `cond_fn` receive.
    pub k: usize,
    /// DD's global `cur_t`: the index of the step being taken. Equal to `k` except for
    /// PLMS's second call, where `k = cur_t − 1` but `cond_fn` still reads ᾱ, `fac` and the
    /// secondary model's time at `cur_t` (§4.6).
    pub cur_t: usize,
}

/// One model evaluation before guidance is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Denoised {
    /// ε̂ = UNet(x, t_model(k))[:, 0..3], `[B, 3, H, W]`.
    pub eps: Array4<f32>,
    /// g = `cond_fn`(x, t_model(k)), `[B, 3, H, W]`; `None` for no guidance. A DDIM denoiser
    /// may return `None` at k = 0: that gradient never reaches the saved image (§4.5).
    pub grad: Option<Array4<f32>>,
}

/// The UNet plus `cond_fn` at one (x, k): the seam between the sampler and ONNX Runtime.
///
/// Any `FnMut(ArrayView4<f32>, EvalAt) -> Result<Denoised, E>` is a denoiser.
pub trait Denoiser {
    /// Why an evaluation failed (a graph error, the NaN guard).
    type Error;
    /// Evaluates ε̂ and g at `x` (`[B, 3, H, W]`, already mirrored if symmetry applies).
    fn denoise(&mut self, x: ArrayView4<f32>, at: EvalAt) -> Result<Denoised, Self::Error>;
}

impl<E, F: FnMut(ArrayView4<f32>, EvalAt) -> Result<Denoised, E>> Denoiser for F {
    type Error = E;
    fn denoise(&mut self, x: ArrayView4<f32>, at: EvalAt) -> Result<Denoised, E> {
        self(x, at)
    }
}

/// What the loop reports after each step.
#[derive(Debug)]
pub struct StepReport<'a> {
    /// Steps this job's loop took before this one (K0 − k): DD's `j`.
    pub iteration: usize,
    /// The respaced index just stepped from.
    pub k: usize,
    /// The unguided x̂0 at (x_k, k): what DD previews and saves.
    pub pred_x0: ArrayView4<'a, f32>,
    /// The state to resume from after this step; `None` after the last step.
    pub resume: Option<&'a SamplerState>,
    /// The tone correction that fired after this step, with the corrected x̂0 the loop
    /// restarted from (`[1, 3, H, W]`): cond_fn's init from here on.
    pub restarted: Option<(Fix, &'a Array4<f32>)>,
}

/// How a call to [`sample`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SamplerExit {
    /// All steps ran.
    Finished {
        /// x_{−1}, the sample after the last step.
        x: Array4<f32>,
        /// The unguided x̂0 of the last step (k = 0): the job's image.
        pred_x0: Array4<f32>,
    },
    /// The cancellation flag was seen between steps; resume from this state.
    Cancelled(SamplerState),
}

/// The state before the first step (§4.4).
///
/// `z`: the start noise, `[B, 3, H, W]`, drawn before anything else. With an init tensor
/// (init image, previous frame, Perlin) or `skip_steps > 0`, x_K0 = q_sample(init, ᾱ_K0, z)
/// with a missing init taken as zeros; otherwise x_K0 = z.
pub fn start_state(
    schedule: &DiffusionSchedule,
    skip_steps: usize,
    init: Option<ArrayView4<f32>>,
    z: Array4<f32>,
) -> SamplerState {
    let start_k = schedule.start_index(skip_steps);
    let x = match (init, skip_steps) {
        (Some(init), _) => q_sample(init, schedule.alpha_bar(start_k), z.view()),
        // DD substitutes zeros: skip without init starts from sqrt(1 − ᾱ_K0)·z.
        (None, 1..) => q_sample(
            Array4::zeros(z.raw_dim()).view(),
            schedule.alpha_bar(start_k),
            z.view(),
        ),
        (None, 0) => z,
    };
    SamplerState {
        k: start_k,
        x,
        eps_prev: None,
    }
}

/// Runs the loop from `state` down to k = 0.
///
/// Before each step the `cancel` flag is read; if set, the current state comes back as
/// [`SamplerExit::Cancelled`]. Each DDIM step draws one z from `noise` after its model call,
/// including at k = 0, as DD does; PLMS draws none. `on_step` sees every step's report.
///
/// With a tone correction that fires after a step, the loop restarts as progrock's does (a
/// new sampler call from the corrected x̂0): x_{k−1} = q_sample(x̂0', ᾱ_{k−1}, z) with a
/// fresh z from `noise`, and PLMS's history dropped.
///
/// # Errors
/// The first error of the denoiser; the state at that step is lost (the last report's
/// `resume` is still valid).
pub fn sample<D: Denoiser>(
    schedule: &DiffusionSchedule,
    options: &SampleOptions,
    state: SamplerState,
    denoiser: &mut D,
    noise: &mut impl NoiseSource,
    mut on_step: impl FnMut(&StepReport<'_>),
    cancel: &AtomicBool,
) -> Result<SamplerExit, D::Error> {
    let start_k = schedule.start_index(options.skip_steps);
    let (_b, c, _h, _w) = state.x.dim();
    assert_eq!(c, 3, "x must be [B, 3, H, W], got {:?}", state.x.shape());
    assert!(
        state.k <= start_k,
        "state k = {} is before the start index {start_k}",
        state.k
    );
    let shape: [usize; 4] = state.x.shape().try_into().expect("4-d x");
    let mut state = state;
    loop {
        if cancel.load(Ordering::Acquire) {
            return Ok(SamplerExit::Cancelled(state));
        }
        let k = state.k;
        let (out, eps_prev) = take_step(schedule, options, &state, denoiser, noise, shape)?;
        let iteration = start_k - k;
        if k == 0 {
            on_step(&StepReport {
                iteration,
                k,
                pred_x0: out.pred_x0.view(),
                resume: None,
                restarted: None,
            });
            return Ok(SamplerExit::Finished {
                x: out.x_prev,
                pred_x0: out.pred_x0,
            });
        }
        let fixed = options
            .tone_fix
            .as_ref()
            .and_then(|t| t.check(schedule.steps(), k - 1, out.pred_x0.view()));
        state = match &fixed {
            Some((_, x0)) => {
                let z = noise.normal4(shape);
                SamplerState {
                    k: k - 1,
                    x: q_sample(x0.view(), schedule.alpha_bar(k - 1), z.view()),
                    eps_prev: None,
                }
            }
            None => SamplerState {
                k: k - 1,
                x: out.x_prev,
                eps_prev,
            },
        };
        on_step(&StepReport {
            iteration,
            k,
            pred_x0: out.pred_x0.view(),
            resume: Some(&state),
            restarted: fixed.as_ref().map(|(f, x0)| (*f, x0)),
        });
    }
}

/// One step from `state` at k = `state.k`: x_{k−1}, the unguided x̂0 and PLMS's new history.
fn take_step<D: Denoiser>(
    schedule: &DiffusionSchedule,
    options: &SampleOptions,
    state: &SamplerState,
    denoiser: &mut D,
    noise: &mut impl NoiseSource,
    shape: [usize; 4],
) -> Result<(StepOut, Option<Array4<f32>>), D::Error> {
    let k = state.k;
    let a = schedule.at(k);
    match options.method {
        Method::Ddim { eta } => {
            let mirrored;
            let x = if options.mirroring.applies(k) {
                mirrored = options.mirroring.apply(state.x.view());
                mirrored.view()
            } else {
                state.x.view()
            };
            let d = denoiser.denoise(x, EvalAt { k, cur_t: k })?;
            check_output(&d, x);
            // Drawn after the model call, as ddim_sample's randn_like is.
            let z = noise.normal4(shape);
            let g = d.grad.as_ref().map(|g| g.view());
            let out = ddim_step(x, d.eps.view(), g, z.view(), a, eta, options.clip_denoised);
            Ok((out, None))
        }
        Method::Plms => {
            let model = |x: ArrayView4<f32>, i: usize| {
                let d = denoiser.denoise(x, EvalAt { k: i, cur_t: k })?;
                check_output(&d, x);
                let g = d.grad.as_ref().map(|g| g.view());
                let alpha_bar = schedule.alpha_bar(i);
                Ok(condition_score(
                    x,
                    d.eps.view(),
                    g,
                    alpha_bar,
                    options.clip_denoised,
                ))
            };
            let prev = state.eps_prev.as_ref().map(|e| e.view());
            let out = plms_step(state.x.view(), a, prev, model)?;
            Ok((out.step, Some(out.eps)))
        }
    }
}

/// Shapes at the door for what a denoiser hands back.
fn check_output(d: &Denoised, x: ArrayView4<f32>) {
    assert_eq!(d.eps.shape(), x.shape(), "denoiser ε̂ must have x's shape");
    if let Some(g) = &d.grad {
        assert_eq!(g.shape(), x.shape(), "denoiser g must have x's shape");
    }
}
