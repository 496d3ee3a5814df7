//! `disco build`: plan, decide what is stale, render it in dependency order, store and
//! materialise. Failures are sorted by consequence (STYLE.md rule 10): a bad project, a held
//! lock or an unusable store stop the build; a frame that fails is reported, never cached,
//! and the other jobs go on (frames chained to it are skipped).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::decide::{Decision, decide};
use super::events::{Event, Sink};
use super::job::{RenderInto, render_job};
use super::lock_update::update_lock;
use super::materialize;
use super::publish::{adopt, materialise, write_settings};
use super::renderer::Renderer;
use crate::lockfile::{self, LockFile};
use crate::plan::{self, Facts, Key, Plan, PlanOptions};
use crate::project::{Diagnostic, Project};
use crate::store::Store;

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Only these targets; empty = all.
    pub only: Vec<String>,
    /// Report what would render; render and write nothing.
    pub dry_run: bool,
    /// Save a sampler checkpoint every this many iterations (0: never).
    pub checkpoint_every: usize,
    /// Who is building, written into the lock (`pid 123: disco build`).
    pub holder: String,
    /// Render only these jobs (indices into the plan's jobs); other stale jobs wait, and so
    /// does their target's video. Cached jobs are still materialised. `None`: every stale
    /// job (`disco watch` renders one job per call, in its own order).
    pub render_only: Option<Vec<usize>>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            only: Vec::new(),
            dry_run: false,
            checkpoint_every: 10,
            holder: format!("pid {}", std::process::id()),
            render_only: None,
        }
    }
}

/// What a build did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Jobs rendered.
    pub rendered: usize,
    /// Jobs served from the cache.
    pub reused: usize,
    /// Jobs failed or skipped.
    pub failed: usize,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Why a build stopped.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The project cannot be planned (missing files, model set problems…).
    #[error("the project cannot be built")]
    Plan(Vec<Diagnostic>),
    /// Another build holds the lock.
    #[error(transparent)]
    Locked(#[from] crate::store::LockError),
    /// The store cannot be written.
    #[error("cannot write the store: {0}")]
    Store(#[from] std::io::Error),
    /// A file (an output under images_out/, or one of the store's) cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The renderer cannot be set up (ONNX Runtime, model set, sessions): reported once,
    /// not once per job.
    #[error("cannot set up the renderer: {0}")]
    Setup(String),
    /// Cancelled (Ctrl-C); the running frame saved a checkpoint.
    #[error("interrupted")]
    Interrupted,
    /// The renderer rendered on another provider than the plan keyed.
    #[error(
        "planned for {planned} but sessions run on {actual}: pass `--device {actual}` so keys match the pixels"
    )]
    Provider {
        /// What planning assumed.
        planned: String,
        /// What the sessions run on.
        actual: String,
    },
}

/// Names the file an I/O error was about.
pub(super) trait At<T> {
    fn at(self, path: &Path) -> Result<T, BuildError>;
}

impl<T> At<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T, BuildError> {
        self.map_err(|source| BuildError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

/// Plans `project` (shared with `disco plan`): recorded seeds applied — the store's, and
/// over them the lock file's (committed with the project, so a clone draws the same).
pub fn make_plan(
    project: &Project,
    only: &[String],
    frame_limit: Option<u32>,
    store: &Store,
    facts: &mut dyn Facts,
) -> Result<Plan, BuildError> {
    // a model set lacking what a setting needs is named at that setting, before planning
    let problems = super::needs::model_set_problems(project, only);
    if problems.iter().any(Diagnostic::is_error) {
        return Err(BuildError::Plan(problems));
    }
    let mut options = PlanOptions {
        only: only.to_vec(),
        recorded_seeds: store.seeds().seeds,
        frame_limit,
    };
    let plan = plan::plan(project, &options, facts).map_err(BuildError::Plan)?;
    if plan.drawn_seeds.is_empty() {
        return Ok(plan);
    }
    // A seed the store does not know may be in the lock (a fresh clone). Read only then:
    // parsing a large lock costs more than a whole no-op build. An unreadable lock is
    // reported by `status` and `verify`, and remade by the build.
    match LockFile::read(&lockfile::lock_path(&project.path)) {
        Ok(Some(lock)) if plan.drawn_seeds.keys().any(|id| lock.target(id).is_some()) => {
            options.recorded_seeds.extend(lock.seeds());
            plan::plan(project, &options, facts).map_err(BuildError::Plan)
        }
        _ => Ok(plan),
    }
}

/// Builds `plan` (made by [`make_plan`]) in its store.
pub fn build(
    plan: &Plan,
    options: &BuildOptions,
    renderer: &mut dyn Renderer,
    sink: &mut dyn Sink,
    cancel: &AtomicBool,
) -> Result<Summary, BuildError> {
    let started = Instant::now();
    let store = Store::new(&plan.dir);
    let _lock = if options.dry_run {
        None
    } else {
        Some(store.lock(&options.holder)?)
    };
    if !options.dry_run && !plan.drawn_seeds.is_empty() {
        store
            .seeds()
            .record(&plan.drawn_seeds)
            .at(&store.root().join("seeds.json"))?;
        for (target, seed) in &plan.drawn_seeds {
            sink.event(&Event::SeedDrawn {
                target: target.clone(),
                seed: *seed,
            });
        }
    }
    if !options.dry_run {
        // A build killed between writing a temporary and renaming it leaves the temporary
        // behind; the next build clears them from every folder it writes.
        for t in &plan.targets {
            let folder = plan.dir.join(&t.folder);
            materialize::sweep_temporaries(&folder);
            materialize::sweep_temporaries(&folder.join("partials"));
        }
    }
    let mut outputs = store.outputs();
    let decisions = decide(plan, &store, &outputs);
    if !options.dry_run {
        let stale_keys: Vec<Key> = decisions
            .iter()
            .zip(&plan.jobs)
            .filter(|(d, _)| matches!(d, Decision::Render(_)))
            .map(|(_, job)| job.key)
            .collect();
        store.sweep_temporaries(&stale_keys);
    }
    let stale = decisions
        .iter()
        .filter(|d| matches!(d, Decision::Render(_)))
        .count();
    sink.event(&Event::Planned {
        jobs: plan.jobs.len(),
        stale,
        fresh: plan.jobs.len() - stale,
    });
    for (j, d) in decisions.iter().enumerate() {
        if let Decision::Render(why) = d {
            sink.event(&Event::Stale {
                job: plan.job_label(j),
                key: plan.jobs[j].key.to_string(),
                reason: why.tag().into(),
                detail: why.to_string(),
            });
        }
    }
    let mut summary = Summary::default();
    if options.dry_run {
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let run = build_targets(
        plan,
        options,
        &store,
        &mut outputs,
        &decisions,
        renderer,
        sink,
        cancel,
        &mut summary,
    );
    // The lock records what exists, after a failed frame or Ctrl-C too.
    let locked = update_lock(plan, &store, &mut outputs, &decisions, &summary);
    run?;
    locked?;
    outputs.save().at(&store.root().join("outputs.json"))?;
    summary.seconds = started.elapsed().as_secs_f64();
    sink.event(&Event::Finished {
        rendered: summary.rendered,
        reused: summary.reused,
        failed: summary.failed,
        seconds: summary.seconds,
    });
    Ok(summary)
}

/// Renders and materialises every target's jobs as `decisions` say, then its video.
#[allow(clippy::too_many_arguments)]
fn build_targets(
    plan: &Plan,
    options: &BuildOptions,
    store: &Store,
    outputs: &mut crate::store::Outputs,
    decisions: &[Decision],
    renderer: &mut dyn Renderer,
    sink: &mut dyn Sink,
    cancel: &AtomicBool,
    summary: &mut Summary,
) -> Result<(), BuildError> {
    let mut failed: HashSet<usize> = HashSet::new();
    // stale jobs left for a later call: not failed, but their target is not complete
    let mut waiting: HashSet<usize> = HashSet::new();
    for (t, target) in plan.targets.iter().enumerate() {
        if target
            .jobs
            .clone()
            .any(|j| matches!(decisions[j], Decision::Render(_) | Decision::Adopt))
        {
            store
                .put_inputs(&target.common.digest, &target.common.inputs)
                .at(&store.root().join("inputs"))?;
        }
        for j in target.jobs.clone() {
            let job = &plan.jobs[j];
            match &decisions[j] {
                Decision::Current => summary.reused += 1,
                Decision::Materialize => {
                    materialise(plan, store, outputs, j)?;
                    summary.reused += 1;
                    sink.event(&Event::Materialized {
                        job: plan.job_label(j),
                        output: job.output.display().to_string(),
                    });
                }
                Decision::Adopt => {
                    if adopt(plan, store, j)? {
                        materialise(plan, store, outputs, j)?;
                        summary.reused += 1;
                        sink.event(&Event::Adopted {
                            job: plan.job_label(j),
                            output: job.output.display().to_string(),
                        });
                    } else {
                        // the file changed since the plan looked: render after all
                        failed.insert(j);
                        summary.failed += 1;
                        sink.event(&Event::JobFailed {
                            job: plan.job_label(j),
                            error: format!(
                                "{} changed while the build ran; build again to render it",
                                job.output.display()
                            ),
                        });
                    }
                }
                Decision::Render(_)
                    if options
                        .render_only
                        .as_ref()
                        .is_some_and(|only| !only.contains(&j)) =>
                {
                    waiting.insert(j);
                }
                Decision::Render(_) => {
                    if let Some(p) = job.prev.filter(|p| failed.contains(p)) {
                        failed.insert(j);
                        summary.failed += 1;
                        sink.event(&Event::JobSkipped {
                            job: plan.job_label(j),
                            reason: format!("{} failed", plan.job_label(p)),
                        });
                        continue;
                    }
                    match render_job(
                        plan,
                        options,
                        store,
                        renderer,
                        sink,
                        cancel,
                        j,
                        RenderInto::Project,
                    )? {
                        Some(seconds) => {
                            materialise(plan, store, outputs, j)?;
                            outputs.save().at(&store.root().join("outputs.json"))?;
                            summary.rendered += 1;
                            sink.event(&Event::JobFinished {
                                job: plan.job_label(j),
                                key: job.key.to_string(),
                                output: job.output.display().to_string(),
                                seconds,
                            });
                        }
                        None => {
                            failed.insert(j);
                            summary.failed += 1;
                        }
                    }
                }
            }
        }
        // DD's settings file describes images: none for a target none of whose jobs has
        // one (e.g. every job failed before rendering on an unreadable init image)
        if target
            .jobs
            .clone()
            .any(|j| !failed.contains(&j) && !waiting.contains(&j))
        {
            write_settings(plan, t)?;
        }
        if target
            .jobs
            .clone()
            .all(|j| !failed.contains(&j) && !waiting.contains(&j))
            && let Some(v) = super::decide::video_of(plan, t)
            && !outputs.is_current(&plan.dir, &v.output, &v.key)
        {
            outputs.save().at(&store.root().join("outputs.json"))?;
            let started = Instant::now();
            let frames: Vec<PathBuf> = v.frames.iter().map(|f| plan.dir.join(f)).collect();
            match crate::video::external::encode(&frames, &plan.dir.join(&v.output), &v.settings) {
                Ok(e) => {
                    outputs
                        .set(&plan.dir, &v.output, v.key)
                        .at(&plan.dir.join(&v.output))?;
                    sink.event(&Event::VideoEncoded {
                        target: target.label(),
                        output: v.output.display().to_string(),
                        frames: e.frames,
                        seconds: started.elapsed().as_secs_f64(),
                    });
                }
                Err(error) => {
                    summary.failed += 1;
                    sink.event(&Event::VideoFailed {
                        target: target.label(),
                        error,
                    });
                }
            }
        }
    }
    // what people look at: the sweeps' contact sheets and the project's report
    let built: Vec<bool> = (0..plan.jobs.len())
        .map(|j| !failed.contains(&j) && !waiting.contains(&j))
        .collect();
    // likewise the report: a build with no image to show leaves none behind
    if built.iter().any(|&b| b) {
        for w in crate::report::refresh(plan, store, outputs, &built)? {
            sink.event(&w.into());
        }
    }
    Ok(())
}
