//! `cond_fn` (dd-algorithm.md §5): the guidance gradient at one (x, k), composed from the
//! exported graphs (denoiser, CLIP, LPIPS and their VJPs) and the Rust kernels between them
//! (cutouts, augmentations, normalisation, losses) with their hand-written adjoints.
//!
//! The random choices of one call (cut plans and augmentation parameters for every CLIP model
//! and cutn-batch) are drawn first into [`Draws`]; [`loss_and_grad`] is then a deterministic
//! function of (x, draws), which is what the gradient tests differentiate numerically.

use ndarray::{Array1, Array2, Array4, ArrayD, Ix2, Ix4};
use rand::Rng;

use super::cutouts::augment::{self, AugParams, Ties};
use super::cutouts::dango::{self, CutPlan};
use super::cutouts::normalize::{normalize, normalize_adjoint};
use super::losses;
use super::losses::RangeLoss;
use super::models::{ClipGuide, ClipSessions, Models};
use super::prompts::Targets;
use super::schedule::{DiffusionSchedule, schedule_index, t_c};
use super::session::{GraphSession, Input, SessionError};
use super::spec::RenderSpec;

/// Cuts per CLIP call with `use_checkpoint` on.
pub const CHECKPOINT_CHUNK: usize = 4;

/// The random choices of one cond_fn call: per CLIP model, per cutn-batch.
#[derive(Debug, Clone)]
pub struct Draws {
    /// `[model][batch]` → the cut plan and augmentation parameters.
    pub batches: Vec<Vec<(CutPlan, Option<AugParams>)>>,
    /// The call's schedule index (0..1000), where the cut schedules and the per-step
    /// guidance settings are read.
    pub idx: usize,
}

/// Where cond_fn is evaluated: the model time index `k` (cut schedule) and DD's `cur_t`
/// (ᾱ, `fac` and the secondary model's time; §4.6).
#[derive(Debug, Clone, Copy)]
pub struct At {
    /// Respaced index of the model time passed to cond_fn.
    pub k: usize,
    /// DD's global `cur_t`.
    pub cur_t: usize,
}

/// Draws the cut plans and augmentations for one call (model order, then batch order, then
/// plan before augmentations — disco's own order; PyTorch's stream cannot be matched, §15).
pub fn draw(
    rng: &mut impl Rng,
    spec: &RenderSpec,
    schedule: &DiffusionSchedule,
    at: At,
    clip: &[ClipSessions],
    (height, width): (usize, usize),
) -> Draws {
    let idx = schedule_index(schedule.t_model(at.k));
    let (overview, inner, ic_pow, gray_p) = spec.common.cuts.at(idx);
    let (overview, inner) = (overview as usize, inner as usize);
    let batches = clip
        .iter()
        .map(|m| {
            (0..spec.common.cutn_batches.at(idx))
                .map(|_| {
                    let r = m.resolution;
                    let plan =
                        CutPlan::draw(rng, height, width, r, overview, inner, ic_pow, gray_p);
                    let aug = spec
                        .common
                        .augs
                        .map(|mode| AugParams::draw(rng, plan.n_cuts(), r, mode));
                    (plan, aug)
                })
                .collect()
        })
        .collect();
    Draws { batches, idx }
}

/// The augmentation clamp decisions near a bound of one cond_fn call, for traces
/// ([`augment::ties`]): `ties[model][batch]`, empty where a batch has no augmentations.
#[derive(Debug, Clone, Default)]
pub struct TieRecord {
    /// Distance from a bound under which a decision is recorded.
    pub margin: f32,
    /// `[model][batch]` → the decisions.
    pub ties: Vec<Vec<Ties>>,
}

impl TieRecord {
    /// An empty record with `margin`.
    pub fn new(margin: f32) -> Self {
        TieRecord {
            margin,
            ties: Vec::new(),
        }
    }
}

/// Loss terms of one cond_fn call, for progress reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Losses {
    /// Σ over models and batches of cgs·L/cutn_batches.
    pub clip: f64,
    /// tv_scale·TV(x_in).
    pub tv: f64,
    /// sat_scale·SAT(x_in).
    pub sat: f64,
    /// range_scale·RNG(denoised) (counted even when DD's range loss has no effect).
    pub range: f64,
    /// init_scale·LPIPS(x_in, init).
    pub init: f64,
}

impl Losses {
    /// The total.
    pub fn total(&self) -> f64 {
        self.clip + self.tv + self.sat + self.range + self.init
    }
}

/// Why cond_fn failed.
#[derive(Debug, thiserror::Error)]
pub enum GuidanceError {
    /// A graph failed.
    #[error(transparent)]
    Session(#[from] SessionError),
}

fn one(
    s: &mut GraphSession,
    inputs: &[(&str, Input<'_>)],
    out: &str,
) -> Result<ArrayD<f32>, SessionError> {
    let mut r = s.run(inputs)?;
    Ok(r.remove(out).expect("the manifest lists this output"))
}

/// The image encoder over `clip_in: [C, 3, R, R]`, `chunk` cuts per call → `[C, D]`.
///
/// Chunking is `use_checkpoint`'s meaning in disco: it bounds the activations ORT holds at
/// once (DD's gradient checkpointing bounds PyTorch's). Each cut is computed independently,
/// so only the batch size ORT sees changes.
fn embed_chunked(
    s: &mut GraphSession,
    clip_in: &Array4<f32>,
    chunk: usize,
) -> Result<Array2<f32>, SessionError> {
    let mut rows = Vec::new();
    for start in (0..clip_in.dim().0).step_by(chunk) {
        let part = cuts(clip_in, start..(start + chunk).min(clip_in.dim().0));
        let e = one(s, &[("image", Input::F32(part.view()))], "image_embed")?;
        rows.push(e.into_dimensionality::<Ix2>().expect("[C, D] embeddings"));
    }
    let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
    Ok(ndarray::concatenate(ndarray::Axis(0), &views).expect("equal widths"))
}

/// Cuts `range` of `clip_in: [C, 3, R, R]`, as a graph input.
fn cuts(clip_in: &Array4<f32>, range: std::ops::Range<usize>) -> ArrayD<f32> {
    clip_in
        .slice(ndarray::s![range, .., .., ..])
        .to_owned()
        .into_dyn()
}

/// The image encoder's VJP over `clip_in: [C, 3, R, R]` with `upstream: [C, D]`, in chunks.
fn vjp_chunked(
    s: &mut GraphSession,
    clip_in: &Array4<f32>,
    upstream: &Array2<f32>,
    chunk: usize,
) -> Result<Array4<f32>, SessionError> {
    let c = clip_in.dim().0;
    let mut out = Array4::zeros(clip_in.dim());
    for start in (0..c).step_by(chunk) {
        let end = (start + chunk).min(c);
        let part = cuts(clip_in, start..end);
        let up = upstream
            .slice(ndarray::s![start..end, ..])
            .to_owned()
            .into_dyn();
        let g = one(
            s,
            &[
                ("image", Input::F32(part.view())),
                ("upstream", Input::F32(up.view())),
            ],
            "grad_image",
        )?;
        out.slice_mut(ndarray::s![start..end, .., .., ..])
            .assign(&four(g));
    }
    Ok(out)
}

/// The fused guidance graph over `clip_in: [C, 3, R, R]` in chunks: the CLIP loss L of the
/// batch (from the embeddings the graph returns, by the renderer's own formula) and
/// `per_batch`·∂L/∂clip_in. The graph sums its loss over the cuts it is given, so its scale
/// is `per_batch / C`, which makes chunked sums DD's mean over all C cuts.
fn fused_chunked(
    s: &mut GraphSession,
    clip_in: &Array4<f32>,
    target: &Targets,
    per_batch: f32,
    chunk: usize,
) -> Result<(f32, Array4<f32>), SessionError> {
    let c = clip_in.dim().0;
    let targets = target.rows.clone().into_dyn();
    let weights = Array1::from_vec(target.weights.clone()).into_dyn();
    let scale = Array1::from_elem(1, per_batch / c as f32).into_dyn();
    let mut grad = Array4::zeros(clip_in.dim());
    let mut rows = Vec::new();
    for start in (0..c).step_by(chunk) {
        let end = (start + chunk).min(c);
        let part = cuts(clip_in, start..end);
        let mut r = s.run(&[
            ("image", Input::F32(part.view())),
            ("targets", Input::F32(targets.view())),
            ("weights", Input::F32(weights.view())),
            ("upstream", Input::F32(scale.view())),
        ])?;
        let g = r
            .remove("grad_image")
            .expect("the manifest lists grad_image");
        grad.slice_mut(ndarray::s![start..end, .., .., ..])
            .assign(&four(g));
        let e = r
            .remove("image_embed")
            .expect("the manifest lists image_embed");
        rows.push(e.into_dimensionality::<Ix2>().expect("[C, D] embeddings"));
    }
    let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
    let embed = ndarray::concatenate(ndarray::Axis(0), &views).expect("equal widths");
    let loss = losses::clip_loss(embed.view(), target.rows.view(), &target.weights);
    Ok((loss, grad))
}

fn four(a: ArrayD<f32>) -> Array4<f32> {
    a.into_dimensionality::<Ix4>().expect("a 4-D graph output")
}

/// The total guidance loss L(x) and ∂L/∂x (before the sign flip, NaN guard and RMS clamp):
/// `x: [1, 3, H, W]`; `eps_at_cur_t` is the UNet's ε at (x, cur_t) when the caller has it
/// (UNet path only). The LPIPS term pulls toward `init` with its weight
/// ([`RenderSpec::init_pull`], or a tone correction's image). With `ties`, the augmentation
/// clamp decisions taken near a bound are recorded there (traces only).
#[allow(clippy::too_many_arguments)] // cond_fn's inputs as DD has them, plus the drawn randomness
pub fn loss_and_grad(
    models: &mut Models,
    spec: &RenderSpec,
    schedule: &DiffusionSchedule,
    targets: &[Targets],
    x: &Array4<f32>,
    at: At,
    draws: &Draws,
    eps_at_cur_t: Option<&Array4<f32>>,
    init: Option<(&Array4<f32>, f32)>,
    ties: Option<&mut TieRecord>,
) -> Result<(Losses, Array4<f32>), GuidanceError> {
    let (b, c, h, w) = x.dim();
    assert_eq!((b, c), (1, 3), "x must be [1, 3, H, W]");
    let alpha_bar = schedule.alpha_bar(at.cur_t);
    let time = Time {
        xd: x.clone().into_dyn(),
        alpha_bar,
        fac: (1.0 - alpha_bar).sqrt() as f32,
        tc: Array1::from_elem(1, t_c(alpha_bar)).into_dyn(),
        t_unet: Array1::from_elem(1, schedule.t_model(at.cur_t)).into_dyn(),
    };
    let fac = time.fac;

    // 1. The denoised estimate (§5.1).
    let pred = denoised(models, spec, x, &time, eps_at_cur_t)?;
    let x_in = &pred * fac + x * (1.0 - fac);

    // 2. ∂L/∂x_in (§5.6–5.7).
    let mut losses = Losses::default();
    let mut g_in = Array4::<f32>::zeros((1, 3, h, w));
    clip_grad(
        models,
        spec,
        targets,
        draws,
        &x_in,
        ties,
        &mut losses,
        &mut g_in,
    )?;
    image_losses_grad(models, spec, draws.idx, init, &x_in, &mut losses, &mut g_in)?;
    // The range loss acts on the denoised estimate: with DD's behaviour its gradient never
    // reaches x_in (§5.7), so it only shows in the losses; otherwise it joins the upstream of
    // the denoiser's VJP below.
    let mut g_pred = g_in.mapv(|v| v * fac);
    let range_scale = spec.range_scale(draws.idx);
    if range_scale != 0.0 {
        let (l, g) = losses::range_loss_grad(pred.view());
        losses.range = (l * range_scale) as f64;
        if spec.range_loss() == RangeLoss::ThroughDenoiser {
            g_pred.scaled_add(range_scale, &g);
        }
    }

    // 3. Back through x_in = fac·pred(x) + (1 − fac)·x (§5.8).
    let grad_x = back_through_denoiser(models, spec, &time, &g_in, g_pred)?;
    Ok((losses, grad_x))
}

/// Where one cond_fn call reads the diffusion, as the graphs take it: x, ᾱ at `cur_t`,
/// `fac` = sqrt(1 − ᾱ), and the model times (secondary model: t_c(ᾱ); UNet: t_model(cur_t)).
struct Time {
    xd: ArrayD<f32>,
    alpha_bar: f64,
    fac: f32,
    tc: ArrayD<f32>,
    t_unet: ArrayD<f32>,
}

/// The denoised estimate x̂0(x) (§5.1), from the secondary model or from the UNet's ε.
fn denoised(
    models: &mut Models,
    spec: &RenderSpec,
    x: &Array4<f32>,
    time: &Time,
    eps_at_cur_t: Option<&Array4<f32>>,
) -> Result<Array4<f32>, GuidanceError> {
    let Time {
        ref xd,
        alpha_bar,
        ref tc,
        ref t_unet,
        ..
    } = *time;
    Ok(
        match (&mut models.secondary, spec.common.use_secondary_model) {
            (Some((fwd, _)), true) => four(one(
                fwd,
                &[("x", Input::F32(xd.view())), ("t", Input::F32(tc.view()))],
                "pred",
            )?),
            _ => {
                let eps = match eps_at_cur_t {
                    Some(e) => e.clone(),
                    None => {
                        let full = one(
                            &mut models.unet,
                            &[
                                ("x", Input::F32(xd.view())),
                                ("t", Input::F32(t_unet.view())),
                            ],
                            "eps_full",
                        )?;
                        four(full).slice_move(ndarray::s![.., 0..3, .., ..])
                    }
                };
                super::sampler::pred_x0(x.view(), eps.view(), alpha_bar)
            }
        },
    )
}

/// The CLIP loss over every model and cutn-batch (§5.6): adds its terms to `losses.clip` and
/// its gradient to `g_in` (∂L/∂x_in), in model then batch order.
#[allow(clippy::too_many_arguments)] // the call's inputs, the drawn randomness and the sums
fn clip_grad(
    models: &mut Models,
    spec: &RenderSpec,
    targets: &[Targets],
    draws: &Draws,
    x_in: &Array4<f32>,
    mut ties: Option<&mut TieRecord>,
    losses: &mut Losses,
    g_in: &mut Array4<f32>,
) -> Result<(), GuidanceError> {
    let u = x_in.mapv(|v| (v + 1.0) / 2.0);
    let (scale, cutn_batches) = (
        spec.common.clip_guidance_scale.at(draws.idx),
        spec.common.cutn_batches.at(draws.idx),
    );
    let per_batch = scale as f32 / cutn_batches as f32;
    for ((model, target), batches) in models.clip.iter_mut().zip(targets).zip(&draws.batches) {
        if let Some(t) = ties.as_deref_mut() {
            t.ties.push(Vec::new());
        }
        for (plan, aug) in batches {
            let cuts = dango::apply(u.view(), plan);
            if let Some(t) = ties.as_deref_mut() {
                let found = aug
                    .as_ref()
                    .map(|p| augment::ties(cuts.view(), p, t.margin))
                    .unwrap_or_default();
                t.ties.last_mut().expect("pushed per model").push(found);
            }
            let (loss, g_cuts) = clip_batch(model, target, spec, &cuts, aug.as_ref(), per_batch)?;
            losses.clip += (loss * per_batch) as f64;
            // u = (x_in + 1)/2
            g_in.scaled_add(0.5, &dango::adjoint(g_cuts.view(), plan));
        }
    }
    Ok(())
}

/// One cutn-batch of one CLIP model: augment and normalise `cuts: [C, 3, R, R]`, embed, and
/// take the CLIP loss and its gradient back to the cuts (scaled by `per_batch`).
fn clip_batch(
    model: &mut ClipSessions,
    target: &Targets,
    spec: &RenderSpec,
    cuts: &Array4<f32>,
    aug: Option<&AugParams>,
    per_batch: f32,
) -> Result<(f32, Array4<f32>), GuidanceError> {
    let cuts_aug = match aug {
        Some(p) => augment::apply(cuts.view(), p),
        None => cuts.clone(),
    };
    let clip_in = normalize(cuts_aug.view());
    let chunk = if spec.unkeyed.use_checkpoint {
        CHECKPOINT_CHUNK
    } else {
        clip_in.dim().0.max(1)
    };
    let (loss, g_clip_in) = match &mut model.guide {
        ClipGuide::Fused(s) => fused_chunked(s, &clip_in, target, per_batch, chunk)?,
        ClipGuide::TwoPass(vjp) => {
            let embed = embed_chunked(model.image.get()?, &clip_in, chunk)?;
            let (loss, d_embed) =
                losses::clip_loss_and_grad(embed.view(), target.rows.view(), &target.weights);
            let upstream: Array2<f32> = d_embed * per_batch;
            (loss, vjp_chunked(vjp, &clip_in, &upstream, chunk)?)
        }
    };
    let g_cuts = normalize_adjoint(g_clip_in.view());
    let g_cuts = match aug {
        Some(p) => augment::adjoint(g_cuts.view(), cuts.view(), p),
        None => g_cuts,
    };
    Ok((loss, g_cuts))
}

/// The losses on x_in itself (§5.7): TV, saturation and LPIPS toward `init` (image, weight);
/// adds their terms to `losses` and their gradients to `g_in`, in that order.
fn image_losses_grad(
    models: &mut Models,
    spec: &RenderSpec,
    idx: usize,
    init: Option<(&Array4<f32>, f32)>,
    x_in: &Array4<f32>,
    losses: &mut Losses,
    g_in: &mut Array4<f32>,
) -> Result<(), GuidanceError> {
    let (tv_scale, sat_scale) = (
        spec.common.tv_scale.at(idx) as f32,
        spec.common.sat_scale.at(idx) as f32,
    );
    if tv_scale != 0.0 {
        let (l, g) = losses::tv_loss_grad(x_in.view());
        losses.tv = (l * tv_scale) as f64;
        g_in.scaled_add(tv_scale, &g);
    }
    if sat_scale != 0.0 {
        let (l, g) = losses::sat_loss_grad(x_in);
        losses.sat = (l * sat_scale) as f64;
        g_in.scaled_add(sat_scale, &g);
    }
    if let (Some((init, scale)), Some(lpips)) = (init, models.lpips_vjp.as_mut()) {
        let a = x_in.clone().into_dyn();
        let bimg = init.clone().into_dyn();
        let up = Array1::from_elem(1, scale).into_dyn();
        let mut r = lpips.run(&[
            ("a", Input::F32(a.view())),
            ("b", Input::F32(bimg.view())),
            ("upstream", Input::F32(up.view())),
        ])?;
        losses.init = (r["distance"].sum() * scale) as f64;
        *g_in += &four(r.remove("grad_a").expect("grad_a output"));
    }
    Ok(())
}

/// ∂L/∂x from ∂L/∂x_in (`g_in`) and the upstream of the denoiser (`g_pred` = ∂L/∂x̂0), through
/// x_in = fac·x̂0(x) + (1 − fac)·x (§5.8): the secondary model's VJP, or the UNet path's
/// closed form plus the UNet's VJP.
fn back_through_denoiser(
    models: &mut Models,
    spec: &RenderSpec,
    time: &Time,
    g_in: &Array4<f32>,
    g_pred: Array4<f32>,
) -> Result<Array4<f32>, GuidanceError> {
    let Time {
        ref xd,
        alpha_bar,
        fac,
        ref tc,
        ref t_unet,
    } = *time;
    let mut grad_x = g_in.mapv(|v| v * (1.0 - fac));
    match (&mut models.secondary, spec.common.use_secondary_model) {
        (Some((_, vjp)), true) => {
            let up = g_pred.into_dyn();
            let gx = one(
                vjp,
                &[
                    ("x", Input::F32(xd.view())),
                    ("t", Input::F32(tc.view())),
                    ("upstream", Input::F32(up.view())),
                ],
                "grad_x",
            )?;
            grad_x += &four(gx);
        }
        _ => {
            // pred = sqrt(1/ᾱ)·x − sqrt(1/ᾱ − 1)·ε(x)  (export-recipe.md, "UNet path")
            let (a, s) = (
                (1.0 / alpha_bar).sqrt() as f32,
                (1.0 / alpha_bar - 1.0).sqrt() as f32,
            );
            grad_x.scaled_add(a, &g_pred);
            let up = g_pred.mapv(|v| -s * v).into_dyn();
            if let Some(ck) = models.unet_checkpoint.as_mut() {
                grad_x += &four(ck.vjp(&mut models.unet, xd, t_unet, up)?);
                return Ok(grad_x);
            }
            let vjp = models
                .unet_vjp
                .as_mut()
                .expect("a UNet VJP is opened when the secondary model is off");
            let gx = one(
                vjp,
                &[
                    ("x", Input::F32(xd.view())),
                    ("t", Input::F32(t_unet.view())),
                    ("upstream", Input::F32(up.view())),
                ],
                "grad_x",
            )?;
            grad_x += &four(gx);
        }
    }
    Ok(grad_x)
}

/// DD's final treatment of the gradient (§5.8): g = −∂L/∂x; a NaN anywhere zeroes it (the
/// step goes on unguided; returns `true` so the caller can warn); otherwise the RMS is
/// capped at `clamp_max`. A zero gradient stays zero (DD divides 0 by 0 there).
pub fn finish(mut grad_x: Array4<f32>, clamp_max: Option<f32>) -> (Array4<f32>, bool) {
    if losses::nan_guard(&mut grad_x) {
        return (grad_x, true);
    }
    grad_x.mapv_inplace(|v| -v);
    if let Some(m) = clamp_max {
        losses::clamp_rms(&mut grad_x, m);
    }
    (grad_x, false)
}
