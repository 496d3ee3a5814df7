//! `disco build`: plan, decide what is stale, render it in dependency order, store and
//! materialise. Failures are sorted by consequence (STYLE.md rule 10): a bad project, a held
//! lock or an unusable store stop the build; a frame that fails is reported, never cached,
//! and the other jobs go on (frames chained to it are skipped).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::decide::{Decision, decide};
use super::events::{BuildEvent, BuildSink};
use super::lock_update::update_lock;
use super::materialize;
use super::renderer::Renderer;
use super::targets::TargetLoop;
use crate::lockfile::{self, LockFile};
use crate::plan::{self, Facts, Key, Plan, PlanOptions, ShardSpec};
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
    /// A farm worker's share (`disco build --shard I/N`): only the jobs of this shard's
    /// units ([`crate::plan::shard`]) are rendered or published; videos, contact sheets,
    /// the report and `disco.lock` are left to the assemble step (a plain build), and a
    /// plan that draws a random seed is refused.
    pub shard: Option<ShardSpec>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            only: Vec::new(),
            dry_run: false,
            checkpoint_every: 10,
            holder: format!("pid {}", std::process::id()),
            render_only: None,
            shard: None,
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
    Setup(#[source] super::renderer::SetupError),
    /// Cancelled (Ctrl-C); the running frame saved a checkpoint.
    #[error("interrupted")]
    Interrupted,
    /// A shard's plan draws a `seed "random"`: every worker would draw another.
    #[error(
        "`--shard` cannot draw a random seed (every worker would draw another) for {}",
        targets.join(", ")
    )]
    ShardDrawsSeed {
        /// The targets (`target` or `target[cell]`) whose seed is not fixed yet.
        targets: Vec<String>,
    },
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

/// Builds `plan` (made by [`make_plan`]) in its store (`.disco/` beside the project).
pub fn build(
    plan: &Plan,
    options: &BuildOptions,
    renderer: &mut dyn Renderer,
    sink: &mut dyn BuildSink,
    cancel: &AtomicBool,
) -> Result<Summary, BuildError> {
    build_in(
        &Store::new(&plan.dir),
        plan,
        options,
        renderer,
        sink,
        cancel,
    )
}

/// Builds `plan` in `store` (whose objects may be anywhere: [`Store::with_objects`]).
pub fn build_in(
    store: &Store,
    plan: &Plan,
    options: &BuildOptions,
    renderer: &mut dyn Renderer,
    sink: &mut dyn BuildSink,
    cancel: &AtomicBool,
) -> Result<Summary, BuildError> {
    let started = Instant::now();
    let mine = shard_jobs(plan, options)?;
    let _lock = if options.dry_run {
        None
    } else {
        Some(store.lock(&options.holder)?)
    };
    if !options.dry_run {
        prepare(store, plan, sink)?;
    }
    let mut outputs = store.outputs();
    let decisions = decide(plan, store, &outputs);
    let eye_decisions = super::vr::decide_eyes(plan, store, &outputs);
    let ours = |j: usize| mine.as_ref().is_none_or(|m| m.contains(&j));
    if !options.dry_run {
        let stale_keys: Vec<Key> = (0..plan.jobs.len())
            .filter(|&j| ours(j) && matches!(decisions[j], Decision::Render(_)))
            .map(|j| plan.jobs[j].key)
            .collect();
        store.sweep_temporaries(&stale_keys);
    }
    announce(plan, &decisions, &ours, sink);
    announce_eyes(plan, &eye_decisions, &ours, sink);
    let mut summary = Summary::default();
    if options.dry_run {
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let run = TargetLoop {
        plan,
        options,
        store,
        outputs: &mut outputs,
        decisions: &decisions,
        eye_decisions: &eye_decisions,
        mine: mine.as_ref(),
        renderer,
        sink,
        cancel,
        summary: &mut summary,
    }
    .run();
    // The lock records what exists, after a failed frame or Ctrl-C too; a shard's
    // images are recorded by the assemble step, which sees every shard's.
    let locked = if mine.is_none() {
        update_lock(plan, store, &mut outputs, &decisions, &summary)
    } else {
        Ok(())
    };
    run?;
    locked?;
    outputs.save().at(&store.root().join("outputs.json"))?;
    summary.seconds = started.elapsed().as_secs_f64();
    sink.event(&BuildEvent::Finished {
        rendered: summary.rendered,
        reused: summary.reused,
        failed: summary.failed,
        seconds: summary.seconds,
    });
    Ok(summary)
}

/// The jobs of `options.shard`'s units, or `None` without a shard. A plan that draws a
/// seed is refused: each worker would draw its own, and the keys would disagree.
fn shard_jobs(plan: &Plan, options: &BuildOptions) -> Result<Option<HashSet<usize>>, BuildError> {
    let Some(spec) = options.shard else {
        return Ok(None);
    };
    if !plan.drawn_seeds.is_empty() {
        return Err(BuildError::ShardDrawsSeed {
            targets: plan.drawn_seeds.keys().cloned().collect(),
        });
    }
    Ok(Some(plan::shard::jobs_of(plan, spec).into_iter().collect()))
}

/// Before a build writes: the seeds it drew recorded (and reported), the temporaries a
/// killed build left under the targets' folders cleared.
fn prepare(store: &Store, plan: &Plan, sink: &mut dyn BuildSink) -> Result<(), BuildError> {
    if !plan.drawn_seeds.is_empty() {
        store
            .seeds()
            .record(&plan.drawn_seeds)
            .at(&store.root().join("seeds.json"))?;
        for (target, seed) in &plan.drawn_seeds {
            sink.event(&BuildEvent::SeedDrawn {
                target: target.clone(),
                seed: *seed,
            });
        }
    }
    // A build killed between writing a temporary and renaming it leaves the temporary
    // behind; the next build clears them from every folder it writes.
    for t in &plan.targets {
        let folder = plan.dir.join(&t.folder);
        materialize::sweep_temporaries(&folder);
        materialize::sweep_temporaries(&folder.join("partials"));
    }
    Ok(())
}

/// Reports why each stale eye view of the jobs this build is for (`ours`) renders.
fn announce_eyes(
    plan: &Plan,
    decisions: &[Decision],
    ours: &dyn Fn(usize) -> bool,
    sink: &mut dyn BuildSink,
) {
    for (e, d) in decisions.iter().enumerate() {
        if let Decision::Render(why) = d
            && ours(plan.eyes[e].job)
        {
            sink.event(&BuildEvent::Stale {
                job: plan.eye_label(e),
                key: plan.eyes[e].key.to_string(),
                reason: why.tag().into(),
                detail: why.to_string(),
                turbo_skip: false,
            });
        }
    }
}

/// Reports how many of the jobs this build is for (`ours`) are stale, and why each is.
fn announce(
    plan: &Plan,
    decisions: &[Decision],
    ours: &dyn Fn(usize) -> bool,
    sink: &mut dyn BuildSink,
) {
    let jobs = (0..plan.jobs.len()).filter(|&j| ours(j)).count();
    let stale = (0..plan.jobs.len())
        .filter(|&j| ours(j) && matches!(decisions[j], Decision::Render(_)))
        .count();
    sink.event(&BuildEvent::Planned {
        jobs,
        stale,
        fresh: jobs - stale,
    });
    for (j, d) in decisions.iter().enumerate() {
        if !ours(j) {
            continue;
        }
        if let Decision::Render(why) = d {
            sink.event(&BuildEvent::Stale {
                job: plan.job_label(j),
                key: plan.jobs[j].key.to_string(),
                reason: why.tag().into(),
                detail: why.to_string(),
                turbo_skip: plan.jobs[j].is_turbo_skip(),
            });
        }
    }
}
