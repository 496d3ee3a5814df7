//! One render, end to end: targets, start state, the guided sampler loop, the final image.
//!
//! Randomness comes from two seeded streams (disco's own; PyTorch's cannot be matched,
//! dd-algorithm.md §15): the diffusion noise (start noise and DDIM's z per step) and the
//! guidance stream (image-prompt cutouts, fuzzy prompts, then every cond_fn's cut plans and
//! augmentations). Keeping them apart means a change in guidance settings does not shift the
//! noise, and a checkpoint records both positions.

use std::cell::{Cell, RefCell};
use std::sync::atomic::AtomicBool;

use ndarray::{Array2, Array3, Array4, ArrayView4, Ix2};

use super::cutouts::legacy::{self, LegacyPlan};
use super::cutouts::normalize::normalize;
use super::guidance::{self, At, GuidanceError, Losses, TieRecord};
use super::models::{IMAGE_EMBED_CACHE, Models, TEXT_EMBED_CACHE};
use super::noise::{JobRng, RngPosition};
use super::observer::{CondFnEval, DenoiserEval, RenderObserver, RenderStart};
use super::prompts::{self, EncodedImagePrompt, PromptError, Targets};
use super::sampler::{
    Denoised, EvalAt, Method, SampleOptions, SamplerExit, SamplerState, StepReport, sample,
    start_state,
};
use super::schedule::DiffusionSchedule;
use super::session::{Input, SessionError};
use super::spec::RenderSpec;
use super::tokenizer::{ClipTokenizer, Overlong, TooLong};
use disco_kernels::tone_fix::Fix;

/// Number of legacy cutouts per image prompt (`DD:1291`).
const IMAGE_PROMPT_CUTN: usize = prompts::IMAGE_PROMPT_CUTS;

/// Why a render failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A graph failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// cond_fn failed.
    #[error(transparent)]
    Guidance(#[from] GuidanceError),
    /// The prompts cannot be weighted.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// A prompt is longer than CLIP's 77 tokens.
    #[error(transparent)]
    Tokens(#[from] TooLong),
}

/// Where an interrupted render stands: resuming from it continues bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The sampler's state before the next step.
    pub state: SamplerState,
    /// The diffusion-noise stream's position.
    pub noise: RngPosition,
    /// The guidance stream's position.
    pub guidance: RngPosition,
    /// The lazy guidance's count and kept gradient (`guidance-every`).
    pub lazy: LazyGuidance,
    /// The image of the latest tone correction (`fix-brightness-contrast`), which the LPIPS
    /// loss pulls toward from the restart on.
    pub tone_init: Option<Array4<f32>>,
}

/// `guidance-every N`: guidance evaluations so far, and the gradient the latest computed
/// one finished with (kept only when N > 1), which the next N − 1 evaluations reuse.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LazyGuidance {
    /// Guidance evaluations made so far (computed or reused).
    pub calls: u64,
    /// The latest computed gradient.
    pub grad: Option<Array4<f32>>,
}

/// What each step reports.
#[derive(Debug)]
pub struct StepEvent<'a> {
    /// 0-based iteration (DD's j).
    pub j: usize,
    /// The respaced index just stepped from.
    pub k: usize,
    /// Number of iterations of the whole render.
    pub total: usize,
    /// The unguided x̂0 after this step (for previews and partials), `[1, 3, H, W]`.
    pub pred_x0: ArrayView4<'a, f32>,
    /// Loss terms of the step's guidance (zero when no guidance ran).
    pub losses: &'a Losses,
    /// True when the NaN guard zeroed this step's gradient.
    pub nan: bool,
    /// Where the render stands after this step (`None` after the last step): resuming
    /// from [`ResumePoint::to_checkpoint`] continues bit for bit.
    pub resume: Option<ResumePoint<'a>>,
    /// The tone correction that fired after this step (the sampler restarted from it).
    pub tone_fix: Option<Fix>,
}

/// A borrowed [`Checkpoint`], offered after every step so a caller can save one.
#[derive(Debug, Clone, Copy)]
pub struct ResumePoint<'a> {
    /// The sampler's state before the next step.
    pub state: &'a SamplerState,
    /// The diffusion-noise stream's position.
    pub noise: RngPosition,
    /// The guidance stream's position.
    pub guidance: RngPosition,
    /// The lazy guidance's state.
    pub lazy: &'a LazyGuidance,
    /// The latest tone correction's image.
    pub tone_init: Option<&'a Array4<f32>>,
}

impl ResumePoint<'_> {
    /// An owned checkpoint.
    pub fn to_checkpoint(&self) -> Checkpoint {
        Checkpoint {
            state: self.state.clone(),
            noise: self.noise,
            guidance: self.guidance,
            lazy: self.lazy.clone(),
            tone_init: self.tone_init.cloned(),
        }
    }
}

/// The result of [`render`].
#[derive(Debug)]
pub enum Rendered {
    /// The final image, `[H, W, 3]` u8, as DD writes it (§11.1).
    Finished(Array3<u8>),
    /// Cancelled between steps.
    Cancelled(Box<Checkpoint>),
}

fn guidance_seed(seed: u64) -> u64 {
    // A fixed odd multiplier and offset make the guidance stream independent of the noise
    // stream for the same job seed.
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(0x6A09_E667_F3BC_C909)
}

/// The CLIP targets of the spec's prompts for every model, drawing image-prompt cutouts and
/// fuzzy noise from `rng` (model by model, as DD encodes them).
pub fn targets(
    models: &mut Models,
    spec: &RenderSpec,
    rng: &mut JobRng,
) -> Result<Vec<Targets>, RunError> {
    let prompts = &spec.frame.text_prompts;
    let texts: Vec<&str> = prompts.iter().map(|p| p.text.as_str()).collect();
    let weights: Vec<f32> = prompts.iter().map(|p| p.weight as f32).collect();
    let key: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
    // Tokenised once, and only when some model has not embedded these prompts yet; an
    // over-long prompt is an error either way, as the cache never holds one.
    let mut tokens: Option<ndarray::ArrayD<i64>> = None;
    let mut out = Vec::new();
    let lean = models.lean();
    for m in &mut models.clip {
        let text_embeds: Array2<f32> = match m.text_embeds.get(&key) {
            _ if texts.is_empty() => Array2::zeros((0, 0)),
            Some(e) => e.clone(),
            None => {
                let t = match &mut tokens {
                    Some(t) => t,
                    slot => slot.insert(
                        ClipTokenizer::new()
                            .tokenize(&texts, Overlong::Error)?
                            .into_dyn(),
                    ),
                };
                let e = m
                    .text
                    .run(&[("tokens", Input::I64(t.view()))])?
                    .remove("text_embed")
                    .expect("text_embed")
                    .into_dimensionality::<Ix2>()
                    .expect("[P, D]");
                if lean {
                    // its embeddings are kept; a new prompt list opens it again
                    m.text.release();
                }
                remember(&mut m.text_embeds, TEXT_EMBED_CACHE, key.clone(), &e);
                e
            }
        };
        let mut image_embeds = Vec::new();
        for (image, weight) in spec.image_prompts() {
            let (_, _, h, w) = image.dim();
            let plan = LegacyPlan::draw(
                rng.rng(),
                h,
                w,
                m.resolution,
                IMAGE_PROMPT_CUTN,
                spec.common.augs.is_none(),
            );
            // DD normalises these [-1, 1] cuts with CLIP's [0, 1] constants (§3.3): kept.
            let cuts = normalize(legacy::apply(image.view(), &plan).view()).into_dyn();
            let key = cuts_key(cuts.view());
            let e = match m.image_embeds.get(&key) {
                Some(e) => e.clone(),
                None => {
                    let e = m
                        .image
                        .get()?
                        .run(&[("image", Input::F32(cuts.view()))])?
                        .remove("image_embed")
                        .expect("image_embed")
                        .into_dimensionality::<Ix2>()
                        .expect("[16, D]");
                    remember(&mut m.image_embeds, IMAGE_EMBED_CACHE, key, &e);
                    e
                }
            };
            image_embeds.push((e, weight));
        }
        let images: Vec<EncodedImagePrompt> = image_embeds
            .iter()
            .map(|(e, w)| EncodedImagePrompt {
                embeds: e.view(),
                weight: *w,
            })
            .collect();
        let text_embeds = if text_embeds.ncols() == 0 && !images.is_empty() {
            Array2::zeros((0, images[0].embeds.ncols()))
        } else {
            text_embeds
        };
        out.push(prompts::build_targets(
            text_embeds.view(),
            &weights,
            &images,
            spec.common.fuzzy.map(|m| m as f32),
            rng.rng(),
        )?);
    }
    Ok(out)
}

/// Keeps `e` under `key`, starting the cache over once it holds `limit` entries (a keyframed
/// prompt per frame, or new cuts per frame, would otherwise grow it without bound).
fn remember<K: std::hash::Hash + Eq>(
    cache: &mut std::collections::HashMap<K, Array2<f32>>,
    limit: usize,
    key: K,
    e: &Array2<f32>,
) {
    if cache.len() >= limit {
        cache.clear();
    }
    cache.insert(key, e.clone());
}

/// The image encoder's input, identified: its shape and every value's bits.
fn cuts_key(cuts: ndarray::ArrayViewD<f32>) -> blake3::Hash {
    let mut bytes = Vec::with_capacity(8 * cuts.ndim() + 4 * cuts.len());
    for &d in cuts.shape() {
        bytes.extend_from_slice(&(d as u64).to_le_bytes());
    }
    for v in cuts.iter() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    blake3::hash(&bytes)
}

/// `pred_x0: [1, 3, H, W]` in image space → `[H, W, 3]` u8 as torchvision saves it:
/// `floor(255·clamp((v + 1)/2, 0, 1))` (§11.1, truncation, no rounding).
pub fn to_u8(pred_x0: ArrayView4<f32>) -> Array3<u8> {
    let (_, _, h, w) = pred_x0.dim();
    Array3::from_shape_fn((h, w, 3), |(y, x, c)| {
        (255.0 * ((pred_x0[[0, c, y, x]] + 1.0) / 2.0).clamp(0.0, 1.0)) as u8
    })
}

/// Renders `spec` from the start, or from `resume`. `on_step` sees every step; `cancel`
/// stops between steps with a [`Checkpoint`].
pub fn render(
    spec: &RenderSpec,
    models: &mut Models,
    resume: Option<&Checkpoint>,
    on_step: impl FnMut(&StepEvent<'_>),
    cancel: &AtomicBool,
) -> Result<Rendered, RunError> {
    render_observed(spec, models, resume, &mut OnStep(on_step), cancel)
}

/// A closure that sees every step, as an observer.
struct OnStep<F>(F);

impl<F: FnMut(&StepEvent<'_>)> RenderObserver for OnStep<F> {
    fn step(&mut self, step: &StepEvent<'_>) {
        (self.0)(step)
    }
}

/// [`render`], reporting everything the render does to `observer` (a
/// [`Trace`](super::trace::Trace) records it for the PyTorch replay).
pub fn render_observed(
    spec: &RenderSpec,
    models: &mut Models,
    resume: Option<&Checkpoint>,
    observer: &mut dyn RenderObserver,
    cancel: &AtomicBool,
) -> Result<Rendered, RunError> {
    let schedule = DiffusionSchedule::new(spec.steps());
    let mut guide_rng = JobRng::new(guidance_seed(spec.frame.seed));
    let targets = targets(models, spec, &mut guide_rng)?;
    let (mut noise, state) = start(spec, &schedule, resume, &mut guide_rng);
    let options = sample_options(spec);
    observer.start(&RenderStart {
        spec,
        symmetry: &options.mirroring,
        targets: &targets,
        x_start: &state.x,
    });
    let total = spec.steps() - spec.skip_steps();
    let fixed = Fixed {
        spec,
        schedule: &schedule,
        targets: &targets,
    };
    let shared = Shared {
        observer: RefCell::new(observer),
        noise_pos: Cell::new(noise.position()),
        guide_pos: Cell::new(guide_rng.position()),
        last: RefCell::new((Losses::default(), false)),
        lazy: RefCell::new(resume.map(|cp| cp.lazy.clone()).unwrap_or_default()),
        tone_init: RefCell::new(resume.and_then(|cp| cp.tone_init.clone())),
    };
    let mut denoiser =
        |x: ArrayView4<f32>, at: EvalAt| denoise(&fixed, models, &mut guide_rng, &shared, x, at);
    let mut noise_source = |shape: [usize; 4]| {
        let z = noise.normal4(shape);
        shared.noise_pos.set(noise.position());
        shared.observer.borrow_mut().noise(&z);
        z
    };
    let outcome = sample(
        &schedule,
        &options,
        state,
        &mut denoiser,
        &mut noise_source,
        |r| report(&shared, r, total),
        cancel,
    );
    match outcome? {
        SamplerExit::Finished { pred_x0, x } => {
            shared.observer.borrow_mut().finished(&pred_x0, &x);
            Ok(Rendered::Finished(to_u8(pred_x0.view())))
        }
        SamplerExit::Cancelled(state) => Ok(Rendered::Cancelled(Box::new(Checkpoint {
            state,
            noise: noise.position(),
            guidance: guide_rng.position(),
            lazy: shared.lazy.into_inner(),
            tone_init: shared.tone_init.into_inner(),
        }))),
    }
}

/// The diffusion-noise stream and the sampler's state before the first step to run: drawn
/// fresh (start noise, §4.4), or taken from `resume` (which also moves `guide_rng`).
fn start(
    spec: &RenderSpec,
    schedule: &DiffusionSchedule,
    resume: Option<&Checkpoint>,
    guide_rng: &mut JobRng,
) -> (JobRng, SamplerState) {
    let (h, w) = (spec.height(), spec.width());
    match resume {
        Some(cp) => {
            *guide_rng = JobRng::at(cp.guidance);
            (JobRng::at(cp.noise), cp.state.clone())
        }
        None => {
            let mut noise = JobRng::new(spec.frame.seed);
            let z = noise.normal4([1, 3, h, w]);
            (
                noise,
                start_state(
                    schedule,
                    spec.skip_steps(),
                    spec.init.as_ref().map(|i| i.view()),
                    z,
                ),
            )
        }
    }
}

/// The settings the sampler loop reads.
fn sample_options(spec: &RenderSpec) -> SampleOptions {
    SampleOptions {
        method: spec.common.method,
        skip_steps: spec.skip_steps(),
        clip_denoised: spec.common.clip_denoised,
        mirroring: spec.mirroring(),
        tone_fix: spec.common.tone_fix.clone(),
    }
}

/// What one render reads and never changes.
struct Fixed<'a> {
    spec: &'a RenderSpec,
    schedule: &'a DiffusionSchedule,
    targets: &'a [Targets],
}

/// What the sampler's callbacks (denoiser, noise source, step reporter) share.
struct Shared<'o> {
    observer: RefCell<&'o mut dyn RenderObserver>,
    /// The diffusion-noise stream's position after its latest draw, for the checkpoints
    /// offered per step.
    noise_pos: Cell<RngPosition>,
    /// The guidance stream's position after its latest draw.
    guide_pos: Cell<RngPosition>,
    /// The losses and NaN flag of the latest guidance evaluation.
    last: RefCell<(Losses, bool)>,
    /// `guidance-every`'s count and kept gradient.
    lazy: RefCell<LazyGuidance>,
    /// The latest tone correction's image (LPIPS pulls toward it from the restart on).
    tone_init: RefCell<Option<Array4<f32>>>,
}

/// The denoiser the sampler calls: the UNet's ε̂ at (x, k) and cond_fn's finished gradient.
fn denoise(
    fixed: &Fixed<'_>,
    models: &mut Models,
    guide_rng: &mut JobRng,
    shared: &Shared<'_>,
    x: ArrayView4<f32>,
    at: EvalAt,
) -> Result<Denoised, RunError> {
    let Fixed {
        spec,
        schedule,
        targets,
    } = *fixed;
    let eps = unet_eps(models, schedule, x, at.k)?;
    let at = At {
        k: at.k,
        cur_t: at.cur_t,
    };
    // The guidance at DDIM's last step never reaches the saved image (§4.5): skip it.
    if matches!(spec.common.method, Method::Ddim { .. }) && at.k == 0 {
        *shared.last.borrow_mut() = (Losses::default(), false);
        let eval = DenoiserEval {
            at,
            eps: &eps,
            x,
            grad: None,
        };
        shared.observer.borrow_mut().evaluated(&eval);
        return Ok(Denoised { eps, grad: None });
    }
    if let Some(g) = reused_gradient(spec, shared) {
        let eval = DenoiserEval {
            at,
            eps: &eps,
            x,
            grad: Some(&g),
        };
        shared.observer.borrow_mut().evaluated(&eval);
        return Ok(Denoised { eps, grad: Some(g) });
    }
    let (h, w) = (spec.height(), spec.width());
    let draws = guidance::draw(guide_rng.rng(), spec, schedule, at, &models.clip, (h, w));
    shared.guide_pos.set(guide_rng.position());
    let x = x.to_owned();
    let eps_cur = (at.k == at.cur_t).then_some(&eps);
    let margin = shared.observer.borrow().clamp_tie_margin();
    let mut ties = margin.map(TieRecord::new);
    let tone_init = shared.tone_init.borrow();
    // after a tone correction its image is cond_fn's init, at progrock's init_scale
    let init = match (tone_init.as_ref(), &spec.common.tone_fix) {
        (Some(image), Some(t)) if t.init_scale != 0.0 => Some((image, t.init_scale as f32)),
        (Some(_), _) => None,
        (None, _) => spec.init_pull(),
    };
    let (losses, grad_x) = guidance::loss_and_grad(
        models,
        spec,
        schedule,
        targets,
        &x,
        at,
        &draws,
        eps_cur,
        init,
        ties.as_mut(),
    )?;
    drop(tone_init);
    shared.observer.borrow_mut().cond_fn(&CondFnEval {
        at,
        eps: &eps,
        x: &x,
        draws: &draws,
        ties: ties.as_ref(),
        losses: &losses,
        grad_raw: &grad_x,
    });
    let clamp_max = spec
        .common
        .clamp_max
        .as_ref()
        .map(|m| m.at(draws.idx) as f32);
    let (g, nan) = guidance::finish(grad_x, clamp_max);
    shared.observer.borrow_mut().evaluated(&DenoiserEval {
        at,
        eps: &eps,
        x: x.view(),
        grad: Some(&g),
    });
    *shared.last.borrow_mut() = (losses, nan);
    if spec.common.guidance_every > 1 {
        shared.lazy.borrow_mut().grad = Some(g.clone());
    }
    Ok(Denoised { eps, grad: Some(g) })
}

/// `guidance-every N`: counts this evaluation, and returns the kept gradient when this one
/// reuses it (all but every N-th, once one has been computed; no cuts are drawn for it).
fn reused_gradient(spec: &RenderSpec, shared: &Shared<'_>) -> Option<Array4<f32>> {
    let every = u64::from(spec.common.guidance_every.max(1));
    let mut lazy = shared.lazy.borrow_mut();
    let call = lazy.calls;
    lazy.calls += 1;
    if every > 1 && !call.is_multiple_of(every) {
        lazy.grad.clone()
    } else {
        None
    }
}

/// ε̂ = UNet(x, t_model(k))[:, 0..3], `[1, 3, H, W]`.
fn unet_eps(
    models: &mut Models,
    schedule: &DiffusionSchedule,
    x: ArrayView4<f32>,
    k: usize,
) -> Result<Array4<f32>, RunError> {
    let xd = x.to_owned().into_dyn();
    let t = ndarray::Array1::from_elem(1, schedule.t_model(k)).into_dyn();
    let mut out = models
        .unet
        .run(&[("x", Input::F32(xd.view())), ("t", Input::F32(t.view()))])?;
    let full = out.remove("eps_full").expect("eps_full");
    // the checkpointed UNet path: the boundaries of this forward start the guidance walk
    if let Some(ck) = models.unet_checkpoint.as_mut() {
        ck.keep(&xd, &t, out);
    }
    Ok(full
        .into_dimensionality::<ndarray::Ix4>()
        .expect("[1, 6, H, W]")
        .slice_move(ndarray::s![.., 0..3, .., ..]))
}

/// Hands the sampler's step report, with the latest losses and the streams' positions, to
/// the observer.
fn report(shared: &Shared<'_>, r: &StepReport<'_>, total: usize) {
    if let Some((_, image)) = r.restarted {
        *shared.tone_init.borrow_mut() = Some(image.clone());
    }
    let tone_init = shared.tone_init.borrow();
    let l = shared.last.borrow();
    let lazy = shared.lazy.borrow();
    shared.observer.borrow_mut().step(&StepEvent {
        j: r.iteration,
        k: r.k,
        total,
        pred_x0: r.pred_x0,
        losses: &l.0,
        nan: l.1,
        resume: r.resume.map(|state| ResumePoint {
            state,
            noise: shared.noise_pos.get(),
            guidance: shared.guide_pos.get(),
            lazy: &lazy,
            tone_init: tone_init.as_ref(),
        }),
        tone_fix: r.restarted.map(|(fix, _)| fix),
    });
}
