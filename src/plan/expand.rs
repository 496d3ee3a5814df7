//! Project → plan: every target (and sweep cell) expanded into jobs with resolved inputs
//! and keys. Pure apart from the [`Facts`] it is handed.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::project::types::{AnimationMode, RangeLossMode, Sampler, Seed};
use crate::project::{Diagnostic, Origin, Project, Settings, TargetKind};

use super::facts::{Facts, ModelNeeds};
use super::inputs::{
    CommonInputs, CutSchedules, FrameInputs, ImagePrompt, Init, Symmetry, TextPrompt, run_length,
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
    let dir = project
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut errors = Vec::new();
    for name in &options.only {
        if !project.targets.iter().any(|t| &t.name.value == name) {
            let known: Vec<&str> = project
                .targets
                .iter()
                .map(|t| t.name.value.as_str())
                .collect();
            errors.push(
                Diagnostic::bare(format!("no target named `{name}`"))
                    .with_help(format!("the project's targets: {}", known.join(", "))),
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let runtime = facts
        .runtime()
        .map_err(|e| vec![Diagnostic::bare(format!("cannot render: {e}"))])?;
    let mut plan = Plan {
        dir,
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
    };
    // Shared inputs are identical for identical settings (e.g. sweep cells over the seed).
    let mut commons: HashMap<Key, Arc<Common>> = HashMap::new();
    for target in &project.targets {
        if !options.only.is_empty() && !options.only.contains(&target.name.value) {
            continue;
        }
        let cells: Vec<(Option<&str>, Option<SweepCell>, &Settings)> =
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
            };
        for (cell, at, settings) in cells {
            let name = target.name.value.clone();
            let id = target_label(&name, cell);
            let seed = match settings.seed.value {
                Seed::Fixed(n) => n,
                Seed::Random => match options.recorded_seeds.get(&id) {
                    Some(&n) => n,
                    None => {
                        let n = rand::random_range(0..=u64::from(u32::MAX));
                        plan.drawn_seeds.insert(id.clone(), n);
                        n
                    }
                },
            };
            match plan_target(
                &mut plan,
                &runtime,
                facts,
                &mut commons,
                name,
                (cell, at),
                settings,
                seed,
                options.frame_limit,
            ) {
                Ok(()) => {}
                Err(d) => errors.push(d),
            }
        }
    }
    check_outputs(&plan, &mut errors);
    if errors.is_empty() {
        Ok(plan)
    } else {
        Err(errors)
    }
}

fn at_setting(message: String, origin: Option<&Origin>, label: &str) -> Diagnostic {
    match origin {
        Some(o) => Diagnostic::error(message, o, label),
        None => Diagnostic::bare(message),
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_target(
    plan: &mut Plan,
    runtime: &super::facts::RuntimeFacts,
    facts: &mut dyn Facts,
    commons: &mut HashMap<Key, Arc<Common>>,
    name: String,
    (cell, sweep): (Option<&str>, Option<SweepCell>),
    s: &Settings,
    seed: u64,
    frame_limit: Option<u32>,
) -> Result<(), Diagnostic> {
    let animation = s.animation_mode.value != AnimationMode::None;
    let (width, height) = s.width_height.value.floored();
    let init_path = s.init_image.value.resolved.clone();
    let needs = ModelNeeds {
        width,
        height,
        secondary: s.use_secondary_model.value,
        lpips: super::facts::lpips_need(s).is_some(),
        clip: s.clip_models().into_iter().map(str::to_owned).collect(),
        diffusion: s.diffusion_model.value.name().to_owned(),
    };
    let model_set = s.model_set.value.resolved.clone().unwrap_or_default();
    let models = facts.model_hashes(&model_set, &needs).map_err(|e| {
        at_setting(e.to_string(), s.model_set.origin.as_ref(), "this model set")
            .with_help("run `disco doctor --verify` to check the model set, or re-export it")
    })?;
    let common = common_inputs(s, runtime, models, animation, width, height);
    let digest = Key::of_common(&common);
    let common = commons
        .entry(digest)
        .or_insert_with(|| {
            Arc::new(Common {
                inputs: common,
                digest,
            })
        })
        .clone();

    let batch_name = s.batch_name.value.clone();
    let folder = target_folder(&batch_name, cell);
    let mut settings = s.clone();
    settings.seed.value = Seed::Fixed(seed);
    let t = plan.targets.len();
    let first = plan.jobs.len();

    // DD loads the init image, then replaces it with Perlin noise when `perlin-init` is on
    // (§9); `check` warns that the image is unused.
    let init_first = match (&init_path, s.perlin_init.value) {
        (_, true) => Init::Perlin {
            mode: s.perlin_mode.value.name().to_owned(),
        },
        (Some(p), false) => {
            let blake3 = facts.file_blake3(p).map_err(|e| {
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
    };
    let count = if animation {
        s.max_frames.value.min(frame_limit.unwrap_or(u32::MAX))
    } else {
        s.n_batches.value
    };
    let motion = if animation { motion::series(s) } else { None };
    let mut image_hashes: HashMap<PathBuf, String> = HashMap::new();
    for index in 0..count {
        // DD's frame-keyed prompts: a still batch reads frame 0 (§3.1).
        let frame_no = if animation { index } else { 0 };
        let text_prompts = s
            .text_prompts
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
            .unwrap_or_default();
        let mut image_prompts = Vec::new();
        if let Some(set) = s.image_prompts.value.at(frame_no) {
            for p in &set.prompts {
                let path = prompt_path(p, s);
                let blake3 = match image_hashes.get(&path) {
                    Some(h) => h.clone(),
                    None => {
                        let h = facts.file_blake3(&path).map_err(|e| {
                            at_setting(
                                format!("cannot read image prompt {}: {e}", path.display()),
                                p.origin.as_ref().or(s.image_prompts.origin.as_ref()),
                                "this image prompt",
                            )
                        })?;
                        image_hashes.insert(path.clone(), h.clone());
                        h
                    }
                };
                image_prompts.push(ImagePrompt {
                    path: p.text.clone(),
                    blake3,
                    weight: p.weight,
                });
            }
        }
        let (init, skip_steps, init_scale, prev) = if animation && index > 0 {
            let prev = plan.jobs.len() - 1;
            let m = motion
                .as_ref()
                .and_then(|m| m.at(index))
                .expect("a frame below max-frames has motion");
            let init = Init::PreviousFrame {
                key: plan.jobs[prev].key,
                angle: m.angle,
                zoom: m.zoom,
                translation_x: m.translation_x,
                translation_y: m.translation_y,
            };
            let skip = s.frames_skip_steps.value.of_steps(s.steps.value);
            (init, skip, Some(s.frames_scale.value), Some(prev))
        } else {
            let scale = (init_first != Init::None).then_some(s.init_scale.value);
            (init_first.clone(), s.skip_steps.value, scale, None)
        };
        let frame = FrameInputs {
            // DD: frame f of an animation uses seed + f (§10.2); disco gives still i
            // seed + i, so any image of a batch can be remade on its own.
            seed: seed + u64::from(index),
            skip_steps,
            init,
            init_scale,
            text_prompts,
            image_prompts,
        };
        let key = Key::of_job(&common.digest, &frame);
        let file = image_file_name(&batch_name, index, animation);
        plan.jobs.push(Job {
            target: t,
            index,
            key,
            frame,
            prev,
            output: folder.join(file),
        });
    }
    plan.targets.push(TargetPlan {
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
        lpips: needs.lpips,
        common,
        jobs: first..plan.jobs.len(),
    });
    Ok(())
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

fn common_inputs(
    s: &Settings,
    runtime: &super::facts::RuntimeFacts,
    models: BTreeMap<String, String>,
    animation: bool,
    width: u32,
    height: u32,
) -> CommonInputs {
    let ddim = s.diffusion_sampling_mode.value == Sampler::Ddim;
    let through = s.range_loss.value == RangeLossMode::ThroughDenoiser;
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
        sampler: s.diffusion_sampling_mode.value.name().to_owned(),
        eta: ddim.then_some(s.eta.value),
        clip_denoised: s.clip_denoised.value,
        clip_models: s.clip_models().into_iter().map(str::to_owned).collect(),
        clip_guidance_scale: s.clip_guidance_scale.value,
        tv_scale: s.tv_scale.value,
        range_scale: through.then_some(s.range_scale.value),
        sat_scale: s.sat_scale.value,
        cutn_batches: s.cutn_batches.value,
        augs: (!s.skip_augs.value).then(|| if animation { "animated" } else { "still" }.into()),
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
