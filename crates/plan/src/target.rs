//! One target (or sweep cell) → its shared inputs and one job per image or frame, each with
//! its resolved inputs and key.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use disco_kernels::anim::MotionSeries;
use disco_kernels::cutouts::augment::AugMode;
use disco_kernels::losses::RangeLoss;
use disco_kernels::sampler::{Method, SamplerKind, Symmetry};
use disco_project::outputs::{image_file_name, target_folder};
use disco_project::types::{AnimationMode, KeyValue, Keyed, PromptTokenization, Seed};
use disco_project::{Diagnostic, Origin, Settings};

use super::expand::{Common, Job, Plan, TargetPlan};
use super::facts::{Facts, ModelNeeds, RuntimeFacts};
use super::frame_settings::FrameSettings;
use super::inputs::{
    CommonInputs, CutSchedules, FrameInputs, ImagePrompt, Init, PerStep, SkippedInputs, TextPrompt,
    Turbo, run_length,
};
use super::key::Key;
use super::motion;
use super::motion3d::Frames3d;
use super::sweep::SweepCell;
use super::video_input::Video;

pub(super) fn at_setting(message: String, origin: Option<&Origin>, label: &str) -> Diagnostic {
    match origin {
        Some(o) => Diagnostic::error(message, o, label),
        None => Diagnostic::bare(message),
    }
}

/// The plan being built and what every target's planning reads.
pub(super) struct Planner<'a> {
    pub(super) plan: Plan,
    pub(super) runtime: RuntimeFacts,
    pub(super) facts: &'a mut dyn Facts,
    /// Shared inputs are identical for identical settings (e.g. sweep cells over the seed):
    /// one allocation per digest.
    pub(super) commons: HashMap<Key, Arc<Common>>,
    pub(super) frame_limit: Option<u32>,
}

/// Where one job starts: its init, skipped steps, LPIPS weight and the job it chains from.
pub(super) struct Start {
    pub(super) init: Init,
    pub(super) skip_steps: u32,
    pub(super) init_scale: Option<f64>,
    pub(super) prev: Option<usize>,
}

impl Planner<'_> {
    /// The run seed of target (or cell) `id`: fixed, recorded by an earlier build, or drawn
    /// now (and remembered in the plan, to be recorded).
    pub(super) fn seed(&mut self, id: &str, s: &Settings, recorded: &BTreeMap<String, u64>) -> u64 {
        match s.seed.value {
            Seed::Fixed(n) => n,
            Seed::Random => match recorded.get(id) {
                Some(&n) => n,
                None => {
                    let n = rand::random_range(0..=u64::from(u32::MAX));
                    self.plan.drawn_seeds.insert(id.to_owned(), n);
                    n
                }
            },
        }
    }

    /// Plans one target (or sweep cell) with settings `s`: its shared inputs, then one job
    /// per image or frame.
    pub(super) fn target(
        &mut self,
        name: String,
        (cell, sweep): (Option<&str>, Option<SweepCell>),
        s: &Settings,
        seed: u64,
    ) -> Result<(), Diagnostic> {
        // Video Input: its overrides in force, its frames from the video (video_input.rs)
        let video = super::video_input::Video::of(self, s)?;
        let s = video.as_ref().map_or(s, |v| &v.settings);
        let animation = s.animation_mode.value != AnimationMode::None;
        let (mut common, model_set, lpips) = self.common(s, animation)?;
        let batch_name = s.batch_name.value.clone();
        let folder = target_folder(&batch_name, cell);
        let mut settings = s.clone();
        settings.seed.value = Seed::Fixed(seed);
        let t = self.plan.targets.len();
        let first = self.plan.jobs.len();
        let init_first = self.first_init(s)?;
        let frames = video.as_ref().map_or(s.max_frames.value, Video::frames);
        let count = if animation {
            frames.min(self.frame_limit.unwrap_or(u32::MAX))
        } else {
            s.n_batches.value
        };
        let three_d = Frames3d::of(s, &mut *self.facts)?;
        let motion = (animation && video.is_none() && three_d.is_none())
            .then(|| motion::series(s))
            .flatten();
        let keyed = if animation {
            FrameSettings::of(s)
        } else {
            None
        };
        let mut image_hashes: HashMap<PathBuf, String> = HashMap::new();
        for index in 0..count {
            let at_frame = keyed.as_ref().map(|k| k.at(s, index));
            let (s, job_common) = match &at_frame {
                Some(sf) => (sf, self.frame_common(&common, sf)),
                None => (s, common.clone()),
            };
            // DD's frame-keyed prompts: a still batch reads frame 0 (§3.1).
            let frame_no = if animation { index } else { 0 };
            let image_prompts = self.image_prompts(s, frame_no, &mut image_hashes)?;
            let moves = (video.as_ref(), motion.as_ref(), three_d.as_ref());
            let start = self.start(s, index, moves, &init_first);
            let frame = FrameInputs {
                // DD: frame f of an animation uses seed + f (§10.2); disco gives still i
                // seed + i, so any image of a batch can be remade on its own.
                seed: video
                    .as_ref()
                    .map_or(seed + u64::from(index), |v| v.seed(seed, index)),
                skip_steps: start.skip_steps,
                init: start.init,
                init_scale: start.init_scale,
                text_prompts: text_prompts(s, frame_no),
                image_prompts,
                turbo: three_d.as_ref().and(super::motion3d::turbo(s, index)),
            };
            let key = match (&frame.turbo, &frame.init) {
                // a skipped turbo frame runs no sampler: keyed by its warps alone
                (Some(Turbo::Skipped { blend }), Init::Warp3d(warp)) => {
                    super::key::of_skipped(&SkippedInputs {
                        kind: "turbo-skip",
                        warp,
                        blend: *blend,
                    })
                }
                _ => super::key::of_job(&job_common.digest, &frame),
            };
            let file = image_file_name(&batch_name, index, animation);
            self.plan.jobs.push(Job {
                target: t,
                index,
                key,
                common: job_common,
                frame,
                prev: start.prev,
                output: folder.join(file),
            });
        }
        if let Some(job) = self.plan.jobs.get(first) {
            common = job.common.clone();
        }
        let eyes_first = self.plan.eyes.len();
        if let Some(d3) = three_d.as_ref().filter(|_| s.vr_mode.value) {
            // every final frame, diffused or turbo-skipped, has both eyes (DD:1219, 1531)
            for j in first..self.plan.jobs.len() {
                let job = &self.plan.jobs[j];
                for eye in disco_kernels::anim::warp3d::Eye::BOTH {
                    let view =
                        super::vr::eye_view(s, d3.depth(), (j, job.key, job.index), eye, &folder);
                    self.plan.eyes.push(view);
                }
            }
        }
        self.plan.targets.push(TargetPlan {
            name,
            cell: cell.map(str::to_owned),
            sweep,
            batch_name,
            folder,
            animation,
            complete: count == frames,
            settings,
            seed,
            model_set,
            lpips,
            common,
            jobs: first..self.plan.jobs.len(),
            eyes: eyes_first..self.plan.eyes.len(),
        });
        Ok(())
    }

    /// A target's shared inputs (one allocation per digest), its model set directory and
    /// whether its jobs use LPIPS.
    fn common(
        &mut self,
        s: &Settings,
        animation: bool,
    ) -> Result<(Arc<Common>, PathBuf, bool), Diagnostic> {
        let (width, height) = s.width_height.value.floored();
        let needs = ModelNeeds {
            width,
            height,
            secondary: s.use_secondary_model.value,
            lpips: super::facts::lpips_need(s).is_some(),
            clip: s.clip_models().into_iter().map(str::to_owned).collect(),
            diffusion: s.diffusion_selector(),
            flow: s.animation_mode.value == disco_project::types::AnimationMode::VideoInput
                && s.video_init_flow_warp.value,
            fp16: super::facts::unet_fp16(s, &self.runtime.provider),
        };
        let model_set = s.model_set.value.resolved.clone().unwrap_or_default();
        let models = self.facts.model_hashes(&model_set, &needs).map_err(|e| {
            at_setting(e.to_string(), s.model_set.origin.as_ref(), "this model set")
                .with_help("run `disco doctor --verify` to check the model set, or re-export it")
        })?;
        let inputs = common_inputs(s, &self.runtime, models, animation, (width, height));
        Ok((self.intern(inputs), model_set, needs.lpips))
    }

    /// The shared inputs of one frame planned with `sf` (its keyframed settings fixed at
    /// that frame) and the target's models.
    fn frame_common(&mut self, target: &Common, sf: &Settings) -> Arc<Common> {
        let c = &target.inputs;
        let animation = true;
        let inputs = common_inputs(
            sf,
            &self.runtime,
            c.models.clone(),
            animation,
            (c.width, c.height),
        );
        self.intern(inputs)
    }

    /// One allocation per digest of shared inputs.
    fn intern(&mut self, inputs: CommonInputs) -> Arc<Common> {
        let digest = super::key::of_common(&inputs);
        self.commons
            .entry(digest)
            .or_insert_with(|| Arc::new(Common { inputs, digest }))
            .clone()
    }

    /// The start of a target's first image (and of every still): DD loads the init image,
    /// then replaces it with Perlin noise when `perlin-init` is on (§9); `check` warns that
    /// the image is unused.
    fn first_init(&mut self, s: &Settings) -> Result<Init, Diagnostic> {
        Ok(match (&s.init_image.value.resolved, s.perlin_init.value) {
            (_, true) => Init::Perlin {
                mode: s.perlin_mode.value,
            },
            // like Perlin noise, a Voronoi image replaces an init image (the CLI port)
            _ if s.voronoi_init.value => Init::Voronoi {
                points: s.voronoi_points.value,
                palette: s.voronoi_palette.value.0.clone(),
            },
            (Some(p), false) => {
                let blake3 = self.facts.file_blake3(p).map_err(|e| {
                    at_setting(
                        format!("cannot read init image {}: {e}", p.display()),
                        s.init_image.origin.as_ref(),
                        "this file",
                    )
                })?;
                Init::Image {
                    path: s.init_image.value.written.clone().unwrap_or_default(),
                    blake3,
                }
            }
            (None, false) => Init::None,
        })
    }

    /// Where job `index` of a target with settings `s` starts: its video's frame (Video
    /// Input), the previous frame warped in 3D or 2D (frames after the first), else `first`.
    fn start(
        &self,
        s: &Settings,
        index: u32,
        (video, motion, three_d): (Option<&Video>, Option<&MotionSeries>, Option<&Frames3d>),
        first: &Init,
    ) -> Start {
        let animation = s.animation_mode.value != AnimationMode::None;
        if let Some(v) = video {
            let prev = (index > 0).then(|| self.plan.jobs.len() - 1);
            v.start(index, prev.map(|p| (p, self.plan.jobs[p].key)))
        } else if let Some(f) = three_d.filter(|_| index > 0) {
            let prev = self.plan.jobs.len() - 1;
            Start {
                init: f.init(s, index, self.plan.jobs[prev].key),
                ..self.frame_start(s, prev)
            }
        } else if animation && index > 0 {
            self.previous_frame(s, index, motion)
        } else {
            Start {
                init_scale: (*first != Init::None).then_some(s.init_scale.value),
                init: first.clone(),
                skip_steps: s.skip_steps.value,
                prev: None,
            }
        }
    }

    /// Frame `index` (> 0) of an animation: the previous frame (the last job planned),
    /// warped by this frame's motion.
    fn previous_frame(&self, s: &Settings, index: u32, motion: Option<&MotionSeries>) -> Start {
        let prev = self.plan.jobs.len() - 1;
        let m = motion
            .and_then(|m| m.at(index))
            .expect("a frame below max-frames has motion");
        Start {
            init: Init::PreviousFrame {
                key: self.plan.jobs[prev].key,
                angle: m.angle,
                zoom: m.zoom,
                translation_x: m.translation_x,
                translation_y: m.translation_y,
            },
            ..self.frame_start(s, prev)
        }
    }

    /// A frame after the first (2D or 3D) chained to job `prev`: `frames-skip-steps`,
    /// `frames-scale` (dd-algorithm.md §10.2); its init is the caller's.
    fn frame_start(&self, s: &Settings, prev: usize) -> Start {
        Start {
            init: Init::None,
            skip_steps: s.frames_skip_steps.value.first().of_steps(s.steps.value),
            init_scale: Some(s.frames_scale.value.first()),
            prev: Some(prev),
        }
    }

    /// The image prompts in force at `frame_no`, each file hashed once per target.
    fn image_prompts(
        &mut self,
        s: &Settings,
        frame_no: u32,
        hashes: &mut HashMap<PathBuf, String>,
    ) -> Result<Vec<ImagePrompt>, Diagnostic> {
        let Some(set) = s.image_prompts.value.at(frame_no) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(set.prompts.len());
        for p in &set.prompts {
            let path = prompt_path(p, s);
            let blake3 = match hashes.get(&path) {
                Some(h) => h.clone(),
                None => {
                    let h = self.facts.file_blake3(&path).map_err(|e| {
                        at_setting(
                            format!("cannot read image prompt {}: {e}", path.display()),
                            p.origin.as_ref().or(s.image_prompts.origin.as_ref()),
                            "this image prompt",
                        )
                    })?;
                    hashes.insert(path, h.clone());
                    h
                }
            };
            out.push(ImagePrompt {
                path: p.text.clone(),
                blake3,
                weight: p.weight,
            });
        }
        Ok(out)
    }
}

/// The text prompts in force at `frame_no`, each with the text CLIP tokenises: with
/// `prompt-tokenization "dd"`, DD's `:weight` suffix stays in it (dd-algorithm.md §3.2). The
/// setting reaches the key only through this text, so it re-renders only prompts it changes.
fn text_prompts(s: &Settings, frame_no: u32) -> Vec<TextPrompt> {
    let dd_tokens = s.prompt_tokenization.value == PromptTokenization::Dd;
    s.text_prompts
        .value
        .at(frame_no)
        .map(|set| {
            set.prompts
                .iter()
                .map(|p| TextPrompt {
                    text: match &p.suffix {
                        Some(suffix) if dd_tokens => format!("{}{suffix}", p.text),
                        _ => p.text.clone(),
                    },
                    weight: p.weight,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An image prompt's file: written relative to the file that declared it.
pub fn prompt_path(p: &disco_project::types::Prompt, s: &Settings) -> PathBuf {
    let base = p
        .origin
        .as_ref()
        .or(s.image_prompts.origin.as_ref())
        .map(|o| o.file.dir().to_path_buf())
        .unwrap_or_default();
    base.join(&p.text)
}

/// A guidance setting as the renderer reads it: its value (this frame's, when keyframed), or
/// its per-step schedule's 1000 entries as runs.
fn per_step<T: KeyValue + PartialEq>(k: &Keyed<T>) -> PerStep<T> {
    match k.steps() {
        Some(values) => {
            let mut runs: Vec<(T, u32)> = Vec::new();
            for v in values {
                match runs.last_mut() {
                    Some((last, n)) if *last == v => *n += 1,
                    _ => runs.push((v, 1)),
                }
            }
            PerStep::Steps(runs)
        }
        None => PerStep::Fixed(k.first()),
    }
}

/// The shared inputs of a target with settings `s` (see `inputs.rs` for what is left out
/// where it has no effect).
fn common_inputs(
    s: &Settings,
    runtime: &RuntimeFacts,
    models: BTreeMap<String, String>,
    animation: bool,
    (width, height): (u32, u32),
) -> CommonInputs {
    let through = s.range_loss.value == RangeLoss::ThroughDenoiser;
    let symmetric = s.use_horizontal_symmetry.value || s.use_vertical_symmetry.value;
    let runs = |v: &[f64]| run_length(&v[..v.len().min(1000)]);
    CommonInputs {
        renderer: runtime.renderer.clone(),
        provider: runtime.provider.clone(),
        ort: runtime.ort.clone(),
        models,
        width,
        height,
        steps: s.steps.value,
        method: match s.diffusion_sampling_mode.value {
            SamplerKind::Ddim => Method::Ddim {
                eta: s.eta.value.first(),
            },
            SamplerKind::Plms => Method::Plms,
        },
        clip_denoised: s.clip_denoised.value,
        clip_models: s.clip_models().into_iter().map(str::to_owned).collect(),
        clip_guidance_scale: per_step(&s.clip_guidance_scale.value),
        tv_scale: per_step(&s.tv_scale.value),
        range_scale: through.then(|| per_step(&s.range_scale.value)),
        sat_scale: per_step(&s.sat_scale.value),
        cutn_batches: per_step(&s.cutn_batches.value),
        augs: (!s.skip_augs.value).then_some(if animation {
            AugMode::Animated
        } else {
            AugMode::Still
        }),
        cuts: CutSchedules {
            overview: runs(&s.cut_overview.value.values),
            innercut: runs(&s.cut_innercut.value.values),
            ic_pow: runs(&s.cut_ic_pow.value.values),
            icgray_p: runs(&s.cut_icgray_p.value.values),
        },
        use_secondary_model: s.use_secondary_model.value,
        clamp_max: s.clamp_grad.value.then(|| per_step(&s.clamp_max.value)),
        symmetry: symmetric.then(|| Symmetry {
            horizontal: s.use_horizontal_symmetry.value,
            vertical: s.use_vertical_symmetry.value,
            transformation_percent: s.transformation_percent.value.0.clone(),
        }),
        fuzzy: s.fuzzy_prompt.value.then_some(s.rand_mag.value.first()),
        guidance_every: s.guidance_every.value,
        tone_fix: super::tone_fix::of(s),
    }
}
