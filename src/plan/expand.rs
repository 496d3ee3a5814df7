//! Project → plan: every target (and sweep cell) expanded into jobs with resolved inputs
//! and keys. Pure apart from the [`Facts`] it is handed.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::anim::MotionSeries;
use crate::project::types::{AnimationMode, ChoiceSetting, Seed};
use crate::project::{Diagnostic, Origin, Project, Settings, Target, TargetKind};
use crate::render::cutouts::augment::AugMode;
use crate::render::losses::RangeLoss;
use crate::render::sampler::{Method, SamplerKind, Symmetry};

use super::facts::{Facts, ModelNeeds, RuntimeFacts};
use super::inputs::{
    CommonInputs, CutSchedules, FrameInputs, ImagePrompt, Init, TextPrompt, run_length,
};
use super::key::Key;
use super::motion;
use super::sweep::{SweepAxes, SweepCell};

// The output layout is the project layer's, so that `check` sees the paths `build` writes.
pub use crate::project::outputs::{IMAGES_OUT, safe_file_name};
use crate::project::outputs::{image_file_name, target_folder};

/// A target's shared inputs and their digest.
#[derive(Debug)]
pub struct Common {
    /// The inputs.
    pub inputs: CommonInputs,
    /// blake3 of their canonical encoding.
    pub digest: Key,
}

/// One target, or one cell of a sweep: a run of jobs sharing settings.
#[derive(Debug)]
pub struct TargetPlan {
    /// The target's name.
    pub name: String,
    /// The sweep cell's name, for sweeps.
    pub cell: Option<String>,
    /// The sweep's axes and this cell's coordinates, for sweeps.
    pub sweep: Option<SweepCell>,
    /// `batch-name`: the output folder and file prefix.
    pub batch_name: String,
    /// Output folder, relative to the project directory.
    pub folder: PathBuf,
    /// Frames of an animation (else still images).
    pub animation: bool,
    /// For animations: whether every frame up to `max-frames` is planned (not cut short
    /// by `--frames`), so the video can be made.
    pub complete: bool,
    /// The layered settings (seed resolved), for the settings file beside the images.
    pub settings: Settings,
    /// The run seed.
    pub seed: u64,
    /// The model set directory.
    pub model_set: PathBuf,
    /// Whether the jobs use LPIPS (init images, Perlin init, animation frames).
    pub lpips: bool,
    /// Shared inputs.
    pub common: Arc<Common>,
    /// This target's jobs, as indices into [`Plan::jobs`].
    pub jobs: Range<usize>,
}

impl TargetPlan {
    /// `name` or `name[cell]`, as people see it.
    pub fn label(&self) -> String {
        target_label(&self.name, self.cell.as_deref())
    }
}

/// A target's (or sweep cell's) label: `name` or `name[cell]`. It names the target in
/// messages, in `seeds.json` and in `disco.lock`, so all three use this one spelling.
pub fn target_label(name: &str, cell: Option<&str>) -> String {
    match cell {
        Some(c) => format!("{name}[{c}]"),
        None => name.to_owned(),
    }
}

/// One image to render: a still of a batch or a frame of an animation.
#[derive(Debug)]
pub struct Job {
    /// Index into [`Plan::targets`].
    pub target: usize,
    /// Batch index (stills) or frame number (animation).
    pub index: u32,
    /// The key: what the image is cached under.
    pub key: Key,
    /// Inputs beyond the target's shared ones.
    pub frame: FrameInputs,
    /// The job this one starts from (the previous frame), as an index into [`Plan::jobs`].
    pub prev: Option<usize>,
    /// The final image's path, relative to the project directory.
    pub output: PathBuf,
}

/// Everything a build would make.
#[derive(Debug)]
pub struct Plan {
    /// The directory holding the project file (outputs and `.disco/` live here).
    pub dir: PathBuf,
    /// The project file (its lock file sits beside it).
    pub project_file: PathBuf,
    /// Every target's name in the project, planned or not (`only` may select some).
    pub project_targets: Vec<String>,
    /// Targets and sweep cells, in project order.
    pub targets: Vec<TargetPlan>,
    /// Jobs, grouped by target; a chain's frames in order.
    pub jobs: Vec<Job>,
    /// Random seeds drawn by this plan (`seed "random"` with none recorded): record them.
    pub drawn_seeds: BTreeMap<String, u64>,
    /// Whether every target of the project is planned (none selected by name): only then
    /// can the project's report be written.
    pub all_targets: bool,
}

impl Plan {
    /// The job's display name: `target image 3`, `film frame 12`.
    pub fn job_label(&self, j: usize) -> String {
        let job = &self.jobs[j];
        let t = &self.targets[job.target];
        let what = if t.animation { "frame" } else { "image" };
        format!("{} {what} {}", t.label(), job.index)
    }
}

/// How to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Only these targets (by name); empty = all.
    pub only: Vec<String>,
    /// Seeds drawn for `seed "random"` by earlier builds, by seed id (`target` or
    /// `target[cell]`).
    pub recorded_seeds: BTreeMap<String, u64>,
    /// Plan animation frames below this one only (`disco build --frames ..N`): a preview
    /// of the start. Frames chain, so every frame before the limit is planned.
    pub frame_limit: Option<u32>,
}

/// Plans `project`: every selected target's jobs with their keys.
pub fn plan(
    project: &Project,
    options: &PlanOptions,
    facts: &mut dyn Facts,
) -> Result<Plan, Vec<Diagnostic>> {
    let unknown = unknown_targets(project, &options.only);
    if !unknown.is_empty() {
        return Err(unknown);
    }
    let runtime = facts
        .runtime()
        .map_err(|e| vec![Diagnostic::bare(format!("cannot render: {e}"))])?;
    let mut planner = Planner {
        plan: Plan {
            dir: project
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf(),
            project_file: project.path.clone(),
            project_targets: project
                .targets
                .iter()
                .map(|t| t.name.value.clone())
                .collect(),
            targets: Vec::new(),
            jobs: Vec::new(),
            drawn_seeds: BTreeMap::new(),
            all_targets: options.only.is_empty(),
        },
        runtime,
        facts,
        commons: HashMap::new(),
        frame_limit: options.frame_limit,
    };
    let mut errors = Vec::new();
    let selected = project
        .targets
        .iter()
        .filter(|t| options.only.is_empty() || options.only.contains(&t.name.value));
    for target in selected {
        for (cell, at, settings) in cells(target) {
            let name = target.name.value.clone();
            let id = target_label(&name, cell);
            let seed = planner.seed(&id, settings, &options.recorded_seeds);
            if let Err(d) = planner.target(name, (cell, at), settings, seed) {
                errors.push(d);
            }
        }
    }
    let plan = planner.plan;
    check_outputs(&plan, &mut errors);
    if errors.is_empty() {
        Ok(plan)
    } else {
        Err(errors)
    }
}

/// An error for each name in `only` that names no target of the project.
fn unknown_targets(project: &Project, only: &[String]) -> Vec<Diagnostic> {
    let known: Vec<&str> = project
        .targets
        .iter()
        .map(|t| t.name.value.as_str())
        .collect();
    only.iter()
        .filter(|name| !known.contains(&name.as_str()))
        .map(|name| {
            Diagnostic::bare(format!("no target named `{name}`"))
                .with_help(format!("the project's targets: {}", known.join(", ")))
        })
        .collect()
}

/// The runs of jobs a target makes: itself, or each cell of a sweep (its name, where it
/// sits in the sweep, its settings).
fn cells(target: &Target) -> Vec<(Option<&str>, Option<SweepCell>, &Settings)> {
    match (&target.kind, &target.sweep) {
        (TargetKind::Sweep, Some(sweep)) => {
            let axes = SweepAxes::of(&target.name.value, sweep);
            sweep
                .cells
                .iter()
                .map(|c| {
                    let at = SweepCell {
                        axes: axes.clone(),
                        coords: c.coords.clone(),
                    };
                    (Some(c.name.as_str()), Some(at), &c.settings)
                })
                .collect()
        }
        _ => vec![(None, None, &target.settings)],
    }
}

fn at_setting(message: String, origin: Option<&Origin>, label: &str) -> Diagnostic {
    match origin {
        Some(o) => Diagnostic::error(message, o, label),
        None => Diagnostic::bare(message),
    }
}

/// The plan being built and what every target's planning reads.
struct Planner<'a> {
    plan: Plan,
    runtime: RuntimeFacts,
    facts: &'a mut dyn Facts,
    /// Shared inputs are identical for identical settings (e.g. sweep cells over the seed):
    /// one allocation per digest.
    commons: HashMap<Key, Arc<Common>>,
    frame_limit: Option<u32>,
}

/// Where one job starts: its init, skipped steps, LPIPS weight and the job it chains from.
struct Start {
    init: Init,
    skip_steps: u32,
    init_scale: Option<f64>,
    prev: Option<usize>,
}

impl Planner<'_> {
    /// The run seed of target (or cell) `id`: fixed, recorded by an earlier build, or drawn
    /// now (and remembered in the plan, to be recorded).
    fn seed(&mut self, id: &str, s: &Settings, recorded: &BTreeMap<String, u64>) -> u64 {
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
    fn target(
        &mut self,
        name: String,
        (cell, sweep): (Option<&str>, Option<SweepCell>),
        s: &Settings,
        seed: u64,
    ) -> Result<(), Diagnostic> {
        let animation = s.animation_mode.value != AnimationMode::None;
        let (common, model_set, lpips) = self.common(s, animation)?;
        let batch_name = s.batch_name.value.clone();
        let folder = target_folder(&batch_name, cell);
        let mut settings = s.clone();
        settings.seed.value = Seed::Fixed(seed);
        let t = self.plan.targets.len();
        let first = self.plan.jobs.len();
        let init_first = self.first_init(s)?;
        let count = if animation {
            s.max_frames.value.min(self.frame_limit.unwrap_or(u32::MAX))
        } else {
            s.n_batches.value
        };
        let motion = if animation { motion::series(s) } else { None };
        let mut image_hashes: HashMap<PathBuf, String> = HashMap::new();
        for index in 0..count {
            // DD's frame-keyed prompts: a still batch reads frame 0 (§3.1).
            let frame_no = if animation { index } else { 0 };
            let image_prompts = self.image_prompts(s, frame_no, &mut image_hashes)?;
            let start = if animation && index > 0 {
                self.previous_frame(s, index, motion.as_ref())
            } else {
                Start {
                    init_scale: (init_first != Init::None).then_some(s.init_scale.value),
                    init: init_first.clone(),
                    skip_steps: s.skip_steps.value,
                    prev: None,
                }
            };
            let frame = FrameInputs {
                // DD: frame f of an animation uses seed + f (§10.2); disco gives still i
                // seed + i, so any image of a batch can be remade on its own.
                seed: seed + u64::from(index),
                skip_steps: start.skip_steps,
                init: start.init,
                init_scale: start.init_scale,
                text_prompts: text_prompts(s, frame_no),
                image_prompts,
            };
            let key = Key::of_job(&common.digest, &frame);
            let file = image_file_name(&batch_name, index, animation);
            self.plan.jobs.push(Job {
                target: t,
                index,
                key,
                frame,
                prev: start.prev,
                output: folder.join(file),
            });
        }
        self.plan.targets.push(TargetPlan {
            name,
            cell: cell.map(str::to_owned),
            sweep,
            batch_name,
            folder,
            animation,
            complete: count == s.max_frames.value,
            settings,
            seed,
            model_set,
            lpips,
            common,
            jobs: first..self.plan.jobs.len(),
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
            diffusion: s.diffusion_model.value.name().to_owned(),
        };
        let model_set = s.model_set.value.resolved.clone().unwrap_or_default();
        let models = self.facts.model_hashes(&model_set, &needs).map_err(|e| {
            at_setting(e, s.model_set.origin.as_ref(), "this model set")
                .with_help("run `disco doctor --verify` to check the model set, or re-export it")
        })?;
        let inputs = common_inputs(s, &self.runtime, models, animation, (width, height));
        let digest = Key::of_common(&inputs);
        let common = self
            .commons
            .entry(digest)
            .or_insert_with(|| Arc::new(Common { inputs, digest }))
            .clone();
        Ok((common, model_set, needs.lpips))
    }

    /// The start of a target's first image (and of every still): DD loads the init image,
    /// then replaces it with Perlin noise when `perlin-init` is on (§9); `check` warns that
    /// the image is unused.
    fn first_init(&mut self, s: &Settings) -> Result<Init, Diagnostic> {
        Ok(match (&s.init_image.value.resolved, s.perlin_init.value) {
            (_, true) => Init::Perlin {
                mode: s.perlin_mode.value,
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
            skip_steps: s.frames_skip_steps.value.of_steps(s.steps.value),
            init_scale: Some(s.frames_scale.value),
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

/// The text prompts in force at `frame_no`.
fn text_prompts(s: &Settings, frame_no: u32) -> Vec<TextPrompt> {
    s.text_prompts
        .value
        .at(frame_no)
        .map(|set| {
            set.prompts
                .iter()
                .map(|p| TextPrompt {
                    text: p.text.clone(),
                    weight: p.weight,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An image prompt's file: written relative to the file that declared it.
pub fn prompt_path(p: &crate::project::types::Prompt, s: &Settings) -> PathBuf {
    let base = p
        .origin
        .as_ref()
        .or(s.image_prompts.origin.as_ref())
        .map(|o| o.file.dir().to_path_buf())
        .unwrap_or_default();
    base.join(&p.text)
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
            SamplerKind::Ddim => Method::Ddim { eta: s.eta.value },
            SamplerKind::Plms => Method::Plms,
        },
        clip_denoised: s.clip_denoised.value,
        clip_models: s.clip_models().into_iter().map(str::to_owned).collect(),
        clip_guidance_scale: s.clip_guidance_scale.value,
        tv_scale: s.tv_scale.value,
        range_scale: through.then_some(s.range_scale.value),
        sat_scale: s.sat_scale.value,
        cutn_batches: s.cutn_batches.value,
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
        clamp_max: s.clamp_grad.value.then_some(s.clamp_max.value),
        symmetry: symmetric.then(|| Symmetry {
            horizontal: s.use_horizontal_symmetry.value,
            vertical: s.use_vertical_symmetry.value,
            transformation_percent: s.transformation_percent.value.0.clone(),
        }),
        fuzzy: s.fuzzy_prompt.value.then_some(s.rand_mag.value),
    }
}

/// Two jobs writing one file would overwrite each other: an error naming both targets.
fn check_outputs(plan: &Plan, errors: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&Path, usize> = HashMap::new();
    for (i, job) in plan.jobs.iter().enumerate() {
        if let Some(&other) = seen.get(job.output.as_path()) {
            let (a, b) = (
                &plan.targets[plan.jobs[other].target],
                &plan.targets[job.target],
            );
            errors.push(
                Diagnostic::bare(format!(
                    "targets `{}` and `{}` both write {}",
                    a.label(),
                    b.label(),
                    job.output.display()
                ))
                .with_help("give one of them its own `batch-name`"),
            );
            return;
        }
        seen.insert(job.output.as_path(), i);
    }
}
