//! The guided sampler end to end on the tiny model set: cond_fn's gradient against a
//! numerical derivative of its own loss, determinism, resume after cancellation, and
//! guidance lowering the CLIP distance to the prompt.

use std::sync::atomic::{AtomicBool, Ordering};

use disco::plan::inputs::{CommonInputs, CutSchedules, FrameInputs, Init, PerStep, TextPrompt};
use disco::render::cutouts::augment::AugMode;
use disco::render::guidance::{self, At, Draws};
use disco::render::job::{self, Checkpoint, Rendered};
use disco::render::models::{ClipGuide, Models, Needs};
use disco::render::noise::JobRng;
use disco::render::observer::{CondFnEval, DenoiserEval, RenderObserver, RenderStart};
use disco::render::sampler::Method;
use disco::render::schedule::DiffusionSchedule;
use disco::render::session::{Device, GraphSession, ModelSet, SessionOptions};
use disco::render::spec::{RenderSpec, Unkeyed};
use ndarray::Array4;

use crate::models::tiny_set;

/// A small guided render of the tiny set (12 steps, 2 CLIP models, every loss on).
pub fn spec(set: &ModelSet) -> RenderSpec {
    RenderSpec {
        common: CommonInputs {
            renderer: "test".into(),
            provider: "cpu".into(),
            ort: "test".into(),
            models: Default::default(),
            // not square, so that width and height cannot be swapped unnoticed
            width: 64,
            height: 96,
            steps: 12,
            method: Method::Ddim { eta: 0.8 },
            clip_denoised: false,
            // a ViT and a ResNet, OpenAI's (the PyTorch reference of parity.rs replays them)
            clip_models: ["RN50", "ViTB16"]
                .into_iter()
                .filter(|k| set.manifest.clip.contains_key(*k))
                .map(String::from)
                .collect(),
            clip_guidance_scale: (5000.0).into(),
            tv_scale: (10.0).into(),
            // DD's range loss: reported with `dd_range_scale`, no gradient
            range_scale: None,
            sat_scale: (20.0).into(),
            cutn_batches: (2).into(),
            augs: Some(AugMode::Still),
            cuts: CutSchedules {
                overview: vec![(4.0, 400), (2.0, 600)],
                innercut: vec![(2.0, 400), (4.0, 600)],
                ic_pow: vec![(1.0, 1000)],
                icgray_p: vec![(0.2, 400), (0.0, 600)],
            },
            use_secondary_model: true,
            clamp_max: Some((0.05).into()),
            symmetry: None,
            fuzzy: None,
            guidance_every: 1,
            tone_fix: None,
        },
        frame: FrameInputs {
            seed: 7,
            skip_steps: 3,
            init: Init::None,
            init_scale: Some(100.0),
            text_prompts: vec![
                TextPrompt {
                    text: "a red circle on a blue background".into(),
                    weight: 2.0,
                },
                TextPrompt {
                    text: "blurry".into(),
                    weight: -0.5,
                },
            ],
            image_prompts: vec![],
            turbo: None,
        },
        init: None,
        image_prompts: vec![],
        unkeyed: Unkeyed {
            use_checkpoint: true,
            dd_range_scale: 150.0,
        },
    }
}

/// The sessions `s` needs on the CPU (LPIPS only when asked).
pub fn models(set: &ModelSet, s: &RenderSpec, lpips: bool) -> Models {
    let needs = Needs {
        width: s.width(),
        height: s.height(),
        secondary: s.common.use_secondary_model,
        lpips,
        clip: &s.common.clip_models,
        diffusion: "512x512_diffusion_uncond_finetune_008100",
        flow: false,
        fp16: false,
    };
    Models::open(
        set,
        &needs,
        SessionOptions {
            device: Device::Cpu,
            intra_threads: Some(2),
            verify_hashes: true,
        },
    )
    .unwrap()
}

fn randn(shape: (usize, usize, usize, usize), seed: u64) -> Array4<f32> {
    JobRng::new(seed).normal4([shape.0, shape.1, shape.2, shape.3])
}

/// One cond_fn call's random draws at model step 6 (seed 2), as the gradient tests use them.
fn draws_at_step_6(s: &RenderSpec, schedule: &DiffusionSchedule, m: &Models) -> (At, Draws) {
    let at = At { k: 6, cur_t: 6 };
    let draws = guidance::draw(
        JobRng::new(2).rng(),
        s,
        schedule,
        at,
        &m.clip,
        (s.height(), s.width()),
    );
    (at, draws)
}

/// L(x) along a random direction v: (L(x + hv) − L(x − hv))/2h against ⟨∂L/∂x, v⟩.
fn check_cond_fn_gradient(secondary: bool) {
    let Some(set) = tiny_set() else { return };
    let mut s = spec(&set);
    s.common.use_secondary_model = secondary;
    // With DD's range loss the loss counts a term whose gradient DD drops (§5.7); the
    // intended form differentiates every term, so the whole loss can be checked.
    s.common.range_scale = Some((s.unkeyed.dd_range_scale).into());
    s.init = Some(randn((1, 3, s.height(), s.width()), 5).mapv(|v| v.tanh()));
    let mut m = models(&set, &s, true);
    let schedule = DiffusionSchedule::new(s.steps());
    let targets = job::targets(&mut m, &s, &mut JobRng::new(1)).unwrap();
    let (at, draws) = draws_at_step_6(&s, &schedule, &m);
    let x = randn((1, 3, s.height(), s.width()), 3);
    let mut loss = |x: &Array4<f32>| {
        guidance::loss_and_grad(
            &mut m,
            &s,
            &schedule,
            &targets,
            x,
            at,
            &draws,
            None,
            s.init_pull(),
            None,
        )
        .unwrap()
    };
    let (l0, grad) = loss(&x);
    assert!(
        l0.clip > 0.0 && l0.tv > 0.0 && l0.init > 0.0 && l0.range > 0.0,
        "{l0:?}"
    );
    let v = randn((1, 3, s.height(), s.width()), 4);
    let h = 1e-3f32;
    let fd =
        (loss(&(&x + &(&v * h))).0.total() - loss(&(&x - &(&v * h))).0.total()) / (2.0 * h as f64);
    let an: f64 = grad
        .iter()
        .zip(v.iter())
        .map(|(g, v)| *g as f64 * *v as f64)
        .sum();
    assert!(
        (fd - an).abs() <= 5e-2 * an.abs(),
        "secondary={secondary}: finite difference {fd} vs analytic {an}"
    );
}

#[test]
fn cond_fn_gradient_matches_its_loss_through_the_secondary_model() {
    check_cond_fn_gradient(true);
}

#[test]
fn cond_fn_gradient_matches_its_loss_through_the_unet() {
    check_cond_fn_gradient(false);
}

/// The fused CLIP guidance graphs (loss inside, one pass per chunk of cuts) give what the
/// two-pass path (image forward, loss and its gradient in Rust, image VJP) gives.
fn check_fused_clip_guidance(use_checkpoint: bool) {
    let Some(set) = tiny_set() else { return };
    let mut s = spec(&set);
    s.unkeyed.use_checkpoint = use_checkpoint;
    let mut m = models(&set, &s, false);
    assert!(
        m.clip
            .iter()
            .all(|c| matches!(c.guide, ClipGuide::Fused(_))),
        "the tiny set has fused graphs and the renderer prefers them"
    );
    let schedule = DiffusionSchedule::new(s.steps());
    let targets = job::targets(&mut m, &s, &mut JobRng::new(1)).unwrap();
    assert!(targets.iter().all(|t| t.weights.len() == 2), "two prompts");
    let (at, draws) = draws_at_step_6(&s, &schedule, &m);
    let x = randn((1, 3, s.height(), s.width()), 3);
    let run = |m: &mut Models| {
        guidance::loss_and_grad(m, &s, &schedule, &targets, &x, at, &draws, None, None, None)
            .unwrap()
    };
    let (fused_loss, fused) = run(&mut m);
    assert!(
        m.clip.iter().all(|c| !c.image.is_open()),
        "no image prompts, fused guidance: the image encoders stay closed"
    );
    for c in &mut m.clip {
        let name = &set.manifest.clip[&c.flag].graphs["image_vjp"];
        c.guide = ClipGuide::TwoPass(
            GraphSession::open(
                &set,
                name,
                SessionOptions {
                    device: Device::Cpu,
                    intra_threads: Some(2),
                    verify_hashes: true,
                },
            )
            .unwrap(),
        );
    }
    let (loss, two_pass) = run(&mut m);
    let rel = (&fused - &two_pass)
        .mapv(|d| (d as f64).powi(2))
        .sum()
        .sqrt()
        / two_pass.mapv(|d| (d as f64).powi(2)).sum().sqrt();
    assert!(rel < 1e-4, "gradient: relative error {rel:e}");
    assert!(
        (fused_loss.clip - loss.clip).abs() <= 1e-5 * loss.clip.abs() && loss.clip > 0.0,
        "CLIP loss {} vs {}",
        fused_loss.clip,
        loss.clip
    );
}

// Jobs that share prompts share the text encoder's output: the second call reads the cache
// (seen through a marked entry), a new prompt list runs the encoder again.
#[test]
fn text_embeddings_are_computed_once_per_prompt_list() {
    let Some(set) = tiny_set() else { return };
    let mut s = spec(&set);
    let mut m = models(&set, &s, false);
    let first = job::targets(&mut m, &s, &mut JobRng::new(1)).unwrap();
    assert!(m.clip.iter().all(|c| c.text_embeds.len() == 1));
    assert_eq!(
        job::targets(&mut m, &s, &mut JobRng::new(1)).unwrap()[0].rows,
        first[0].rows
    );
    for c in &mut m.clip {
        c.text_embeds
            .values_mut()
            .for_each(|e| e.mapv_inplace(|v| v * 2.0));
    }
    let marked = job::targets(&mut m, &s, &mut JobRng::new(1)).unwrap();
    assert_eq!(
        marked[0].rows,
        first[0].rows.mapv(|v| v * 2.0),
        "read from the cache"
    );
    s.frame.text_prompts[1].text = "sharp".into();
    let other = job::targets(&mut m, &s, &mut JobRng::new(1)).unwrap();
    assert_ne!(other[0].rows.row(1), first[0].rows.row(1));
    assert_eq!(other[0].rows.row(0), first[0].rows.row(0));
    assert!(m.clip.iter().all(|c| c.text_embeds.len() == 2));
}

// Jobs that draw the same image-prompt cuts (a sweep over a guidance setting at one seed)
// share the image encoder's output; another seed draws other cuts and runs it again.
#[test]
fn image_prompt_embeddings_are_computed_once_per_cut_set() {
    let Some(set) = tiny_set() else { return };
    let mut s = spec(&set);
    s.frame.image_prompts = vec![disco::plan::inputs::ImagePrompt {
        path: "p.png".into(),
        blake3: "0".into(),
        weight: 1.0,
    }];
    s.image_prompts = vec![Array4::from_shape_fn((1, 3, 96, 64), |(_, c, y, x)| {
        ((c * 31 + y * 7 + x * 3) % 17) as f32 / 8.0 - 1.0
    })];
    let mut m = models(&set, &s, false);
    let first = job::targets(&mut m, &s, &mut JobRng::new(1)).unwrap();
    assert!(m.clip.iter().all(|c| c.image_embeds.len() == 1));
    for c in &mut m.clip {
        c.image_embeds
            .values_mut()
            .for_each(|e| e.mapv_inplace(|v| v * 2.0));
    }
    let marked = job::targets(&mut m, &s, &mut JobRng::new(1)).unwrap();
    // the prompt's rows follow the text rows; the cached (doubled) embeddings move them
    let text_rows = s.frame.text_prompts.len();
    let n = first[0].rows.nrows();
    assert!(n > text_rows, "image prompt rows present");
    for r in text_rows..n {
        assert_eq!(
            marked[0].rows.row(r),
            first[0].rows.row(r).mapv(|v| v * 2.0),
            "row {r} read from the cache"
        );
    }
    let other = job::targets(&mut m, &s, &mut JobRng::new(2)).unwrap();
    assert!(m.clip.iter().all(|c| c.image_embeds.len() == 2));
    assert_ne!(other[0].rows.row(n - 1), first[0].rows.row(n - 1));
}

#[test]
fn fused_clip_guidance_matches_the_two_pass_path() {
    check_fused_clip_guidance(false);
}

#[test]
fn fused_clip_guidance_matches_the_two_pass_path_in_chunks() {
    check_fused_clip_guidance(true);
}

#[test]
fn a_render_is_deterministic_and_resumes_bit_identically_after_cancellation() {
    let Some(set) = tiny_set() else { return };
    let s = spec(&set);
    let mut m = models(&set, &s, false);
    let never = AtomicBool::new(false);
    let mut steps = 0;
    let Rendered::Finished(a) = job::render(&s, &mut m, None, |_| steps += 1, &never).unwrap()
    else {
        panic!("cancelled")
    };
    assert_eq!(steps, s.steps() - s.skip_steps());
    assert_eq!(a.dim(), (s.height(), s.width(), 3));
    let Rendered::Finished(b) = job::render(&s, &mut m, None, |_| {}, &never).unwrap() else {
        panic!("cancelled")
    };
    assert_eq!(a, b, "same spec, same bytes");

    let stop = AtomicBool::new(false);
    let cp = match job::render(
        &s,
        &mut m,
        None,
        |e| {
            if e.j == 4 {
                stop.store(true, Ordering::SeqCst)
            }
        },
        &stop,
    )
    .unwrap()
    {
        Rendered::Cancelled(cp) => cp,
        Rendered::Finished(_) => panic!("not cancelled"),
    };
    let Rendered::Finished(c) = job::render(&s, &mut m, Some(&cp), |_| {}, &never).unwrap() else {
        panic!("cancelled")
    };
    assert_eq!(a, c, "resumed render differs from an uninterrupted one");
}

#[test]
fn per_step_guidance_schedules_are_read_at_each_step() {
    let Some(set) = tiny_set() else { return };
    let mut s = spec(&set);
    let mut m = models(&set, &s, false);
    let never = AtomicBool::new(false);
    let mut finish = |s: &RenderSpec| match job::render(s, &mut m, None, |_| {}, &never).unwrap() {
        Rendered::Finished(a) => a,
        Rendered::Cancelled(_) => panic!("cancelled"),
    };
    let scale = s.common.clip_guidance_scale.at(0);
    let fixed = finish(&s);
    // a schedule holding the same value everywhere renders the same bytes
    s.common.clip_guidance_scale = PerStep::Steps(vec![(scale, 300), (scale, 700)]);
    s.common.cutn_batches = PerStep::Steps(vec![(s.common.cutn_batches.at(0), 1000)]);
    assert_eq!(finish(&s), fixed);
    // no guidance for the late steps (high indices) changes the picture
    s.common.clip_guidance_scale = PerStep::Steps(vec![(scale, 500), (0.0, 500)]);
    let scheduled = finish(&s);
    assert_ne!(scheduled, fixed);
    s.common.clip_guidance_scale = PerStep::Fixed(0.0);
    assert_ne!(scheduled, finish(&s), "the early steps are still guided");
}

#[test]
fn lazy_guidance_reuses_its_gradient_and_resumes_bit_identically() {
    let Some(set) = tiny_set() else { return };
    let mut s = spec(&set);
    let mut m = models(&set, &s, false);
    let never = AtomicBool::new(false);
    let finish = |s: &RenderSpec, m: &mut Models, cp: Option<&Checkpoint>| match job::render(
        s,
        m,
        cp,
        |_| {},
        &never,
    )
    .unwrap()
    {
        Rendered::Finished(a) => a,
        Rendered::Cancelled(_) => panic!("cancelled"),
    };
    let every_step = finish(&s, &mut m, None);
    s.common.guidance_every = 2;
    let lazy = finish(&s, &mut m, None);
    assert_ne!(every_step, lazy, "reusing gradients changes the picture");
    // cancelled after 3 steps: the next evaluation reuses the gradient the checkpoint keeps
    let stop = AtomicBool::new(false);
    let on_step = |e: &job::StepEvent<'_>| {
        if e.j == 2 {
            stop.store(true, Ordering::SeqCst)
        }
    };
    let Rendered::Cancelled(cp) = job::render(&s, &mut m, None, on_step, &stop).unwrap() else {
        panic!("not cancelled")
    };
    assert!(
        cp.lazy.grad.is_some() && cp.lazy.calls % 2 == 1,
        "{:?}",
        cp.lazy.calls
    );
    assert_eq!(
        finish(&s, &mut m, Some(&cp)),
        lazy,
        "resumed lazy render differs"
    );
}

/// Spherical distance (weighted as the targets are) between the image's overview cut and
/// the prompts, for the first CLIP model.
fn clip_distance(m: &mut Models, s: &RenderSpec, image: &ndarray::Array3<u8>) -> f64 {
    use disco::render::cutouts::{normalize::normalize, resize::Resize};
    use disco::render::session::Input;
    let (h, w, _) = image.dim();
    let x = Array4::from_shape_fn((1, 3, h, w), |(_, c, y, x)| image[[y, x, c]] as f32 / 255.0);
    let r = m.clip[0].resolution;
    let cut = normalize(Resize::new(h, w, r, r).apply(x.view()).view()).into_dyn();
    let e = m.clip[0]
        .image
        .get()
        .unwrap()
        .run(&[("image", Input::F32(cut.view()))])
        .unwrap()
        .remove("image_embed")
        .unwrap();
    let e = e.into_dimensionality::<ndarray::Ix2>().unwrap();
    let targets = job::targets(m, s, &mut JobRng::new(0)).unwrap();
    let d = disco::render::losses::spherical_dist(e.view(), targets[0].rows.view());
    d.row(0)
        .iter()
        .zip(&targets[0].weights)
        .map(|(d, w)| (*d * *w) as f64)
        .sum()
}

#[test]
fn guidance_brings_the_image_closer_to_the_prompt_than_no_guidance() {
    let Some(set) = tiny_set() else { return };
    let mut s = spec(&set);
    s.frame.text_prompts.truncate(1);
    s.common.clip_models.truncate(1);
    (s.common.tv_scale, s.common.sat_scale) = (0.0.into(), 0.0.into());
    (s.unkeyed.dd_range_scale, s.frame.init_scale) = (0.0, None);
    s.common.clamp_max = Some((0.2).into());
    let mut m = models(&set, &s, false);
    let never = AtomicBool::new(false);
    let mut closer = 0;
    let seeds = [1, 2, 3, 4];
    for seed in seeds {
        s.frame.seed = seed;
        let mut guided = s.clone();
        guided.common.clip_guidance_scale = (20000.0).into();
        let mut unguided = s.clone();
        unguided.common.clip_guidance_scale = (0.0).into();
        let Rendered::Finished(a) = job::render(&guided, &mut m, None, |_| {}, &never).unwrap()
        else {
            panic!()
        };
        let Rendered::Finished(b) = job::render(&unguided, &mut m, None, |_| {}, &never).unwrap()
        else {
            panic!()
        };
        let (da, db) = (clip_distance(&mut m, &s, &a), clip_distance(&mut m, &s, &b));
        eprintln!("seed {seed}: guided {da:.5}, unguided {db:.5}");
        closer += usize::from(da < db);
    }
    assert_eq!(
        closer,
        seeds.len(),
        "guidance lowered the CLIP distance for only {closer} of {} seeds",
        seeds.len()
    );
}

#[test]
fn use_checkpoint_changes_memory_not_pixels() {
    let Some(set) = tiny_set() else { return };
    let mut s = spec(&set);
    let mut m = models(&set, &s, false);
    let never = AtomicBool::new(false);
    s.unkeyed.use_checkpoint = true;
    let Rendered::Finished(a) = job::render(&s, &mut m, None, |_| {}, &never).unwrap() else {
        panic!()
    };
    s.unkeyed.use_checkpoint = false;
    let Rendered::Finished(b) = job::render(&s, &mut m, None, |_| {}, &never).unwrap() else {
        panic!()
    };
    assert_eq!(a, b, "chunking the CLIP calls changed the image");
}

/// Records the order of an observer's calls, one letter each: `S`tart, `c`ond_fn (`t` when
/// it carried clamp ties), `e`valuated (`u` unguided), `n`oise, `|` step, `F`inished.
struct Calls {
    log: String,
    margin: Option<f32>,
}

impl RenderObserver for Calls {
    fn clamp_tie_margin(&self) -> Option<f32> {
        self.margin
    }
    fn start(&mut self, _: &RenderStart<'_>) {
        self.log.push('S');
    }
    fn cond_fn(&mut self, e: &CondFnEval<'_>) {
        self.log.push(if e.ties.is_some() { 't' } else { 'c' });
    }
    fn evaluated(&mut self, e: &DenoiserEval<'_>) {
        self.log.push(if e.grad.is_some() { 'e' } else { 'u' });
    }
    fn noise(&mut self, _: &Array4<f32>) {
        self.log.push('n');
    }
    fn step(&mut self, _: &job::StepEvent<'_>) {
        self.log.push('|');
    }
    fn finished(&mut self, _: &Array4<f32>, _: &Array4<f32>) {
        self.log.push('F');
    }
}

#[test]
fn an_observer_sees_every_evaluation_noise_and_step_in_order_without_changing_the_image() {
    let Some(set) = tiny_set() else { return };
    let s = spec(&set);
    let mut m = models(&set, &s, false);
    let never = AtomicBool::new(false);
    let Rendered::Finished(plain) = job::render(&s, &mut m, None, |_| {}, &never).unwrap() else {
        panic!("cancelled")
    };
    for (margin, guided) in [(None, "cen|"), (Some(1e-5), "ten|")] {
        let mut calls = Calls {
            log: String::new(),
            margin,
        };
        let Rendered::Finished(observed) =
            job::render_observed(&s, &mut m, None, &mut calls, &never).unwrap()
        else {
            panic!("cancelled")
        };
        assert_eq!(observed, plain, "observing changes nothing");
        // DDIM: one guided evaluation and one z per step; the last step (k = 0) is unguided.
        let n = s.steps() - s.skip_steps();
        let expected = format!("S{}un|F", guided.repeat(n - 1));
        assert_eq!(calls.log, expected, "margin {margin:?}");
    }
}

#[test]
fn a_tone_correction_restarts_pulls_toward_its_image_and_resumes_bit_identically() {
    use disco::render::tone_fix::{Fix, Rule, ToneFix};
    let Some(set) = tiny_set() else { return };
    let mut s = spec(&set);
    s.frame.skip_steps = 0;
    let mut m = models(&set, &s, true);
    let never = AtomicBool::new(false);
    let finish = |s: &RenderSpec, m: &mut Models, cp: Option<&Checkpoint>| {
        let mut fixes = Vec::new();
        let on_step = |e: &job::StepEvent<'_>| fixes.push((e.j, e.tone_fix));
        let Rendered::Finished(a) = job::render(s, m, cp, on_step, &never).unwrap() else {
            panic!("cancelled")
        };
        let fired: Vec<(usize, Fix)> = fixes
            .into_iter()
            .filter_map(|(j, f)| Some((j, f?)))
            .collect();
        (a, fired)
    };
    let (plain, none) = finish(&s, &mut m, None);
    assert!(none.is_empty());
    // a low-brightness rule that always fires: at progrock's s = 2 and 3 (< 0.3 · 12 steps)
    s.common.tone_fix = Some(ToneFix {
        interval: 1,
        high_brightness: None,
        low_brightness: Some(Rule {
            threshold: 255.0,
            amount: 1.15,
            start: 0,
        }),
        high_contrast: None,
        low_contrast: None,
        init_scale: 100.0,
    });
    let (fixed, fired) = finish(&s, &mut m, None);
    assert_eq!(fired, [(0, Fix::LowBrightness), (1, Fix::LowBrightness)]);
    assert_ne!(plain, fixed, "the corrections change the picture");
    // the LPIPS loss pulls toward the corrected image at the rule set's init_scale
    let mut unpulled = s.clone();
    unpulled.common.tone_fix.as_mut().unwrap().init_scale = 0.0;
    assert_ne!(finish(&unpulled, &mut m, None).0, fixed);
    // cancelled after the second restart: the checkpoint keeps the corrected image
    let stop = AtomicBool::new(false);
    let on_step = |e: &job::StepEvent<'_>| {
        if e.j == 1 {
            stop.store(true, Ordering::SeqCst)
        }
    };
    let Rendered::Cancelled(cp) = job::render(&s, &mut m, None, on_step, &stop).unwrap() else {
        panic!("not cancelled")
    };
    assert!(cp.tone_init.is_some());
    assert_eq!(
        finish(&s, &mut m, Some(&cp)).0,
        fixed,
        "resumed render differs"
    );
}

/// The UNet path's gradient, walked segment by segment through the checkpointed graphs
/// (docs/models.md, "Checkpointed UNet"), is the whole-UNet VJP's: at two sizes, batch 1,
/// on fresh random x, t and upstream. The renderer takes the checkpointed path where the set
/// has it.
#[test]
fn the_checkpointed_unet_vjp_is_the_whole_unet_vjp() {
    let Some(set) = tiny_set() else { return };
    let mut s = spec(&set);
    s.common.use_secondary_model = false;
    let mut m = models(&set, &s, false);
    assert!(
        m.unet_vjp.is_none(),
        "the renderer prefers the checkpointed path"
    );
    let Models {
        unet,
        unet_checkpoint,
        ..
    } = &mut m;
    let ck = unet_checkpoint
        .as_mut()
        .expect("the tiny set's default model has checkpoint graphs");
    let family = set
        .manifest
        .diffusion_family("512x512_diffusion_uncond_finetune_008100")
        .unwrap();
    let opts = SessionOptions {
        device: Device::Cpu,
        intra_threads: Some(2),
        verify_hashes: true,
    };
    let mut whole = GraphSession::open(&set, family.graph("vjp").unwrap(), opts).unwrap();
    for (seed, (h, w)) in [(11, (96, 64)), (12, (32, 128))] {
        let x = randn((1, 3, h, w), seed).into_dyn();
        let up = randn((1, 3, h, w), seed + 100).into_dyn();
        let t = ndarray::Array1::from_elem(1, 123.4f32 * seed as f32).into_dyn();
        let got = ck.vjp(unet, &x, &t, up.clone()).unwrap();
        let want = whole
            .run(&[
                ("x", disco::render::session::Input::F32(x.view())),
                ("t", disco::render::session::Input::F32(t.view())),
                ("upstream", disco::render::session::Input::F32(up.view())),
            ])
            .unwrap()
            .remove("grad_x")
            .unwrap();
        let norm = |a: &ndarray::ArrayD<f32>| a.mapv(|v| (v as f64).powi(2)).sum().sqrt();
        let rel = norm(&(&got - &want)) / norm(&want);
        assert!(
            norm(&want) > 0.0 && rel < 1e-5,
            "{w}x{h}: relative error {rel:e}"
        );
    }
    // the spec's size walks lean: the second walk reopened every segment the first released
    assert!(ck.transient && ck.segments.iter().all(|s| !s.is_loaded()));
}

/// On the checkpointed UNet path the guidance walk starts from the boundaries the sampler's
/// own forward left at the same (x, t): no guided step runs the UNet forward a third time.
#[test]
fn the_checkpointed_walk_reuses_the_samplers_forward() {
    let Some(set) = tiny_set() else { return };
    let mut s = spec(&set);
    s.common.use_secondary_model = false;
    let mut m = models(&set, &s, false);
    let never = AtomicBool::new(false);
    let mut steps = 0;
    let Rendered::Finished(_) = job::render(&s, &mut m, None, |_| steps += 1, &never).unwrap()
    else {
        panic!("cancelled")
    };
    let ck = m.unet_checkpoint.as_ref().expect("checkpointed path");
    // DDIM guides every step but its last (§4.5)
    assert_eq!(ck.reused as usize, steps - 1, "{steps} steps");
    assert_eq!(ck.recomputed, 0);
    // the tiny UNet's boundaries outweigh its weights: every walk released the forward, and
    // the next step's ε opened it again
    assert!(m.unet.file_bytes() > 0);
    assert_eq!(ck.released, ck.reused);
    assert!(m.unet.is_loaded());
    // and so the render is lean: each segment let its weights go once it had run, and the
    // text encoders once they had embedded the prompts
    assert!(m.lean() && ck.transient);
    assert!(ck.segments.iter().all(|s| !s.is_loaded()));
    assert!(m.clip.iter().all(|c| !c.text.is_loaded()));
}
