//! Project → plan: every target (and sweep cell) expanded into jobs with resolved inputs
//! and keys (one target's jobs: `target.rs`). Pure apart from the [`Facts`] it is handed.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use disco_project::{Diagnostic, Project, Settings, Target, TargetKind};

use super::facts::Facts;
use super::inputs::{CommonInputs, FrameInputs};
use super::key::Key;
use super::sweep::{SweepAxes, SweepCell};
use super::target::Planner;
pub use super::target::prompt_path;
use super::vr::EyeView;

// The output layout is the project layer's, so that `check` sees the paths `build` writes.
pub use disco_project::outputs::{IMAGES_OUT, safe_file_name};

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
    /// Its VR eye views (3D with `vr-mode`), as indices into [`Plan::eyes`]: two per frame,
    /// in frame order.
    pub eyes: Range<usize>,
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
    /// Its shared inputs: the target's, or this frame's own where keyframed settings
    /// change them.
    pub common: Arc<Common>,
    /// Inputs beyond the target's shared ones.
    pub frame: FrameInputs,
    /// The job this one starts from (the previous frame), as an index into [`Plan::jobs`].
    pub prev: Option<usize>,
    /// The final image's path, relative to the project directory.
    pub output: PathBuf,
}

impl Job {
    /// Whether this is a skipped 3D turbo frame: a blend of warps, no sampler (§10.4).
    pub fn is_turbo_skip(&self) -> bool {
        matches!(self.frame.turbo, Some(super::inputs::Turbo::Skipped { .. }))
    }
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
    /// VR eye views of 3D frames (`vr.rs`), grouped by target.
    pub eyes: Vec<EyeView>,
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

    /// The eye view's display name: `film frame 12 left eye`.
    pub fn eye_label(&self, e: usize) -> String {
        let v = &self.eyes[e];
        format!(
            "{} {} eye",
            self.job_label(v.job),
            super::vr::eye_name(v.eye)
        )
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
            eyes: Vec::new(),
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

/// Two jobs writing one file would overwrite each other: an error naming both targets.
fn check_outputs(plan: &Plan, errors: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&Path, usize> = HashMap::new();
    // an eye view is its frame's target's output
    let files = plan.jobs.iter().map(|j| (&j.output, j.target)).chain(
        plan.eyes
            .iter()
            .map(|e| (&e.output, plan.jobs[e.job].target)),
    );
    for (output, target) in files {
        if let Some(&other) = seen.get(output.as_path()) {
            let (a, b) = (&plan.targets[other], &plan.targets[target]);
            errors.push(
                Diagnostic::bare(format!(
                    "targets `{}` and `{}` both write {}",
                    a.label(),
                    b.label(),
                    output.display()
                ))
                .with_help("give one of them its own `batch-name`"),
            );
            return;
        }
        seen.insert(output.as_path(), target);
    }
}
