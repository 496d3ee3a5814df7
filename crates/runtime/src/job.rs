//! One render, end to end: targets, start state, the guided sampler loop, the final image.
//!
//! Randomness comes from two seeded streams (disco's own; PyTorch's cannot be matched,
//! dd-algorithm.md §15): the diffusion noise (start noise and DDIM's z per step) and the
//! guidance stream (image-prompt cutouts, fuzzy prompts, then every cond_fn's cut plans and
//! augmentations). Keeping them apart means a change in guidance settings does not shift the
//! noise, and a checkpoint records both positions.

use std::cell::RefCell;
use std::sync::atomic::AtomicBool;

use ndarray::{Array2, Array3, Array4, ArrayView4, Ix2};

use super::cutouts::legacy::{self, LegacyPlan};
use super::cutouts::normalize::normalize;
use super::guidance::{self, At, GuidanceError, Losses, TieRecord};
use super::losses::RangeLoss;
use super::models::Models;
use super::noise::{JobRng, RngPosition};
use super::prompts::{self, EncodedImagePrompt, PromptError, Targets};
use super::sampler::{
    Denoised, EvalAt, Method, Mirroring, SampleOptions, SamplerExit, SamplerState, sample,
    start_state,
};
use super::schedule::DiffusionSchedule;
use super::session::{Input, SessionError};
use super::spec::RenderSpec;
use super::tokenizer::{ClipTokenizer, Overlong, TooLong};
use super::trace::Trace;

/// Number of legacy cutouts per image prompt (`DD:1291`).
const IMAGE_PROMPT_CUTN: usize = prompts::IMAGE_PROMPT_CUTS;

/// Why a render failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
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
}

/// What each step reports.
#[derive(Debug)]
pub struct StepEvent<'a> {
    /// 0-based iteration (DD's j).
    pub j: usize,
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
}

impl ResumePoint<'_> {
    /// An owned checkpoint.
    pub fn to_checkpoint(&self) -> Checkpoint {
        Checkpoint {
            state: self.state.clone(),
            noise: self.noise,
            guidance: self.guidance,
        }
    }
}

/// The result of [`render`].
#[derive(Debug)]
pub enum Rendered {
    /// The final image, `[H, W, 3]` u8, as DD writes it (§11.1).
    Finished(Array3<u8>),
    /// Cancelled between steps.
    Cancelled(Checkpoint),
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
) -> Result<Vec<Targets>, RenderError> {
    let tokenizer = ClipTokenizer::new();
    let prompts = &spec.frame.text_prompts;
    let texts: Vec<&str> = prompts.iter().map(|p| p.text.as_str()).collect();
    let weights: Vec<f32> = prompts.iter().map(|p| p.weight as f32).collect();
    let tokens = if texts.is_empty() {
        None
    } else {
        Some(tokenizer.tokenize(&texts, Overlong::Error)?.into_dyn())
    };
    let mut out = Vec::new();
    for m in &mut models.clip {
        let text_embeds: Array2<f32> = match &tokens {
            Some(t) => m
                .text
                .run(&[("tokens", Input::I64(t.view()))])?
                .remove("text_embed")
                .expect("text_embed")
                .into_dimensionality::<Ix2>()
                .expect("[P, D]"),
            None => Array2::zeros((0, 0)),
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
            let e = m
                .image
                .run(&[("image", Input::F32(cuts.view()))])?
                .remove("image_embed")
                .expect("image_embed");
            image_embeds.push((e.into_dimensionality::<Ix2>().expect("[16, D]"), weight));
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
) -> Result<Rendered, RenderError> {
    run(spec, models, resume, on_step, cancel, None)
}

/// Renders `spec` from the start and records everything into `trace` (docs/trace.md).
pub fn render_traced(
    spec: &RenderSpec,
    models: &mut Models,
    trace: &mut Trace,
) -> Result<Rendered, RenderError> {
    let cell = RefCell::new(std::mem::take(trace));
    let r = run(
        spec,
        models,
        None,
        |_| {},
        &AtomicBool::new(false),
        Some(&cell),
    );
    *trace = cell.into_inner();
    r
}

fn spec_json(spec: &RenderSpec, symmetry: &Mirroring) -> serde_json::Value {
    let c = &spec.common;
    // The renderer's f32 values, as cond_fn uses them.
    let f32s = |v: f64| v as f32;
    serde_json::json!({
        "width": c.width, "height": c.height, "steps": c.steps, "skip_steps": spec.frame.skip_steps,
        "method": c.method.kind().name(), "eta": c.method.eta(), "clip_denoised": c.clip_denoised,
        "clip_guidance_scale": f32s(c.clip_guidance_scale), "tv_scale": f32s(c.tv_scale),
        "range_scale": spec.range_scale(),
        "range_loss": match spec.range_loss() { RangeLoss::Dd => "dd", RangeLoss::ThroughDenoiser => "through_denoiser" },
        "sat_scale": f32s(c.sat_scale), "init_scale": spec.init_scale(), "cutn_batches": c.cutn_batches,
        "augs": c.augs.map(|a| a.name()),
        "use_secondary_model": c.use_secondary_model, "clamp_max": c.clamp_max.map(f32s),
        "symmetry": {"horizontal": symmetry.horizontal, "vertical": symmetry.vertical, "steps": symmetry.steps},
        "clip_models": c.clip_models, "seed": spec.frame.seed,
    })
}

fn run(
    spec: &RenderSpec,
    models: &mut Models,
    resume: Option<&Checkpoint>,
    mut on_step: impl FnMut(&StepEvent<'_>),
    cancel: &AtomicBool,
    trace: Option<&RefCell<Trace>>,
) -> Result<Rendered, RenderError> {
    let schedule = DiffusionSchedule::new(spec.steps());
    let (h, w) = (spec.height(), spec.width());
    let mut guide_rng = JobRng::new(guidance_seed(spec.frame.seed));
    let targets = targets(models, spec, &mut guide_rng)?;
    let (mut noise, state) = match resume {
        Some(cp) => {
            guide_rng = JobRng::at(cp.guidance);
            (JobRng::at(cp.noise), cp.state.clone())
        }
        None => {
            let mut noise = JobRng::new(spec.frame.seed);
            let z = noise.normal4([1, 3, h, w]);
            (
                noise,
                start_state(
                    &schedule,
                    spec.skip_steps(),
                    spec.init.as_ref().map(|i| i.view()),
                    z,
                ),
            )
        }
    };
    let options = SampleOptions {
        method: spec.common.method,
        skip_steps: spec.skip_steps(),
        clip_denoised: spec.common.clip_denoised,
        mirroring: spec.mirroring(),
    };
    if let Some(t) = trace {
        let mut t = t.borrow_mut();
        let spec_json = spec_json(spec, &options.mirroring);
        t.doc.insert("format".into(), super::trace::FORMAT.into());
        t.doc
            .insert("clamp_margin".into(), super::trace::TIE_MARGIN.into());
        t.doc.insert("spec".into(), spec_json);
        let targets_json: Vec<serde_json::Value> = targets
            .iter()
            .map(|tg| serde_json::json!({"rows": t.tensor(&tg.rows), "weights": tg.weights}))
            .collect();
        t.doc.insert("targets".into(), targets_json.into());
        let init = spec
            .init
            .as_ref()
            .map(|i| t.tensor(i))
            .unwrap_or(serde_json::Value::Null);
        t.doc.insert("init".into(), init);
        let x_start = t.tensor(&state.x);
        t.doc.insert("x_start".into(), x_start);
    }
    let ddim = matches!(spec.common.method, Method::Ddim { .. });
    let total = spec.steps() - spec.skip_steps();
    // The streams' positions after the latest draw, for the checkpoints offered per step.
    let noise_pos = std::cell::Cell::new(noise.position());
    let guide_pos = std::cell::Cell::new(guide_rng.position());
    // The losses of the latest guidance evaluation, shared by the denoiser and the reporter.
    let last = RefCell::new((Losses::default(), false));
    let mut denoiser = |x: ArrayView4<f32>, at: EvalAt| -> Result<Denoised, RenderError> {
        let xd = x.to_owned().into_dyn();
        let t = ndarray::Array1::from_elem(1, schedule.t_model(at.k)).into_dyn();
        let full = models
            .unet
            .run(&[("x", Input::F32(xd.view())), ("t", Input::F32(t.view()))])?
            .remove("eps_full")
            .expect("eps_full");
        let eps: Array4<f32> = full
            .into_dimensionality::<ndarray::Ix4>()
            .expect("[1, 6, H, W]")
            .slice_move(ndarray::s![.., 0..3, .., ..]);
        // The guidance at DDIM's last step never reaches the saved image (§4.5): skip it.
        if ddim && at.k == 0 {
            *last.borrow_mut() = (Losses::default(), false);
            if let Some(t) = trace {
                let mut t = t.borrow_mut();
                let e = serde_json::json!({"k": at.k, "cur_t": at.cur_t, "eps": t.tensor(&eps), "x": t.tensor(&x), "draws": [], "clamp_ties": [], "losses": Trace::losses(&Losses::default()), "grad_raw": null, "grad": null});
                t.evals.push(e);
            }
            return Ok(Denoised { eps, grad: None });
        }
        let at = At {
            k: at.k,
            cur_t: at.cur_t,
        };
        let draws = guidance::draw(guide_rng.rng(), spec, &schedule, at, &models.clip, (h, w));
        guide_pos.set(guide_rng.position());
        let x = x.to_owned();
        let eps_cur = (at.k == at.cur_t).then_some(&eps);
        let mut ties = trace.map(|_| TieRecord::new(super::trace::TIE_MARGIN));
        let (losses, grad_x) = guidance::loss_and_grad(
            models,
            spec,
            &schedule,
            &targets,
            &x,
            at,
            &draws,
            eps_cur,
            ties.as_mut(),
        )?;
        let grad_raw = trace.map(|_| grad_x.clone());
        let (g, nan) = guidance::finish(grad_x, spec.common.clamp_max.map(|m| m as f32));
        if let (Some(t), Some(raw)) = (trace, grad_raw) {
            let mut t = t.borrow_mut();
            let e = serde_json::json!({
                "k": at.k, "cur_t": at.cur_t, "eps": t.tensor(&eps), "x": t.tensor(&x), "draws": t.draws(&draws),
                "clamp_ties": ties.as_ref().map(Trace::ties),
                "losses": Trace::losses(&losses), "grad_raw": t.tensor(&raw), "grad": t.tensor(&g),
            });
            t.evals.push(e);
        }
        *last.borrow_mut() = (losses, nan);
        Ok(Denoised { eps, grad: Some(g) })
    };
    let mut noise_source = |shape: [usize; 4]| {
        let z = noise.normal4(shape);
        noise_pos.set(noise.position());
        if let Some(t) = trace {
            let mut t = t.borrow_mut();
            let r = t.tensor(&z);
            t.noise.push(r);
        }
        z
    };
    let outcome = sample(
        &schedule,
        &options,
        state,
        &mut denoiser,
        &mut noise_source,
        |r| {
            if let Some(t) = trace {
                let mut t = t.borrow_mut();
                let evals = std::mem::take(&mut t.evals);
                let z = t.noise.pop().unwrap_or(serde_json::Value::Null);
                t.noise.clear();
                let x = evals
                    .first()
                    .map(|e| e["x"].clone())
                    .unwrap_or(serde_json::Value::Null);
                let pred = t.tensor(&r.pred_x0);
                let x_next = r
                    .resume
                    .map(|s| t.tensor(&s.x))
                    .unwrap_or(serde_json::Value::Null);
                let step = serde_json::json!({"j": r.iteration, "k": r.k, "x": x, "evals": evals, "noise": z, "pred_x0": pred, "x_next": x_next});
                t.steps.push(step);
            }
            let l = last.borrow();
            on_step(&StepEvent {
                j: r.iteration,
                total,
                pred_x0: r.pred_x0,
                losses: &l.0,
                nan: l.1,
                resume: r.resume.map(|state| ResumePoint {
                    state,
                    noise: noise_pos.get(),
                    guidance: guide_pos.get(),
                }),
            });
        },
        cancel,
    );
    match outcome? {
        SamplerExit::Finished { pred_x0, x } => {
            if let Some(t) = trace {
                let mut t = t.borrow_mut();
                let (fin, x_last) = (t.tensor(&pred_x0), t.tensor(&x));
                t.doc.insert("final".into(), fin);
                if let Some(last_step) = t.steps.last_mut() {
                    last_step["x_next"] = x_last;
                }
            }
            Ok(Rendered::Finished(to_u8(pred_x0.view())))
        }
        SamplerExit::Cancelled(state) => Ok(Rendered::Cancelled(Checkpoint {
            state,
            noise: noise.position(),
            guidance: guide_rng.position(),
        })),
    }
}
