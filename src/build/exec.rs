//! `disco build`: plan, decide what is stale, render it in dependency order, store and
//! materialise. Failures are sorted by consequence (STYLE.md rule 10): a bad project, a held
//! lock or an unusable store stop the build; a frame that fails is reported, never cached,
//! and the other jobs go on (frames chained to it are skipped).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ndarray::Array3;

use super::decide::{Decision, decide, saves_of};
use super::events::{Event, Sink};
use super::renderer::{Hooks, Outcome, RenderError, Renderer, Request};
use super::{checkpoint, materialize, png};
use crate::fsutil::write_atomic;
use crate::lockfile::{self, LockFile, LockedJob};
use crate::plan::{self, Facts, Key, Plan, PlanOptions};
use crate::project::{Diagnostic, Project};
use crate::render::job::Checkpoint;
use crate::store::{ObjectInfo, RECORD_FORMAT, Record, Store};

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
trait At<T> {
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

/// Rewrites the project's `disco.lock` (if its text changed) from what the store holds.
/// An entry whose key is unchanged is kept as it is. When the build changed nothing and
/// the lock is the file this store last wrote for the same jobs, it is not even read:
/// parsing a 1000-frame lock would cost more than the rest of a no-op build.
fn update_lock(
    plan: &Plan,
    store: &Store,
    outputs: &mut crate::store::Outputs,
    decisions: &[Decision],
    summary: &Summary,
) -> Result<(), BuildError> {
    let path = lockfile::lock_path(&plan.project_file);
    let rel = PathBuf::from(path.file_name().expect("a lock file name"));
    let digest = lock_digest(plan);
    let unchanged = summary.failed == 0 && decisions.iter().all(|d| *d == Decision::Current);
    if unchanged && outputs.is_current(&plan.dir, &rel, &digest) {
        return Ok(());
    }
    // an unreadable lock is remade from the store (the build is what writes it)
    let old = LockFile::read(&path).ok().flatten();
    let lock = lockfile::update::updated(old.as_ref(), plan, |j| {
        let job = &plan.jobs[j];
        let t = &plan.targets[job.target];
        if let Some(e) = old
            .as_ref()
            .and_then(|o| o.target(&t.label()))
            .and_then(|l| l.jobs.get(&job.index))
            .filter(|e| e.key == job.key)
        {
            return Some(e.clone());
        }
        store.record(&job.key).map(|r| LockedJob {
            key: job.key,
            blake3: r.image.blake3,
            tool: r.tool,
            origin: None,
        })
    });
    lock.write(&path).at(&path)?;
    if lock.targets.iter().all(|t| {
        plan.targets
            .iter()
            .filter(|p| p.label() == t.label())
            .all(|p| t.jobs.len() == p.jobs.len())
    }) {
        // every planned job is in it: the next build with the same jobs may skip it
        outputs.set(&plan.dir, &rel, digest).at(&path)?;
    }
    Ok(())
}

/// What the lock of `plan` is a function of, given the store: the project's targets and
/// each planned job's place, seed and key.
fn lock_digest(plan: &Plan) -> Key {
    let mut h = blake3::Hasher::new();
    h.update(lockfile::LOCK_FORMAT.as_bytes());
    for name in &plan.project_targets {
        h.update(name.as_bytes());
        h.update(b"\0");
    }
    for t in &plan.targets {
        h.update(t.label().as_bytes());
        h.update(&t.seed.to_le_bytes());
        h.update(&[u8::from(t.complete)]);
        for job in &plan.jobs[t.jobs.clone()] {
            h.update(&job.index.to_le_bytes());
            h.update(&job.key.0);
        }
    }
    Key(*h.finalize().as_bytes())
}

/// Where the build writes while a job renders: partials into the store, the preview
/// beside the images, checkpoints into the store.
struct JobHooks<'a> {
    plan: &'a Plan,
    j: usize,
    store: &'a Store,
    sink: &'a mut dyn Sink,
    saved: Vec<u32>,
    error: Option<BuildError>,
    /// Where the job renders (a scratch store gets no `progress.png`).
    into: RenderInto,
}

impl Hooks for JobHooks<'_> {
    fn step(&mut self, j: usize, total: usize, loss: f64) {
        self.sink.event(&Event::Step {
            job: self.plan.job_label(self.j),
            j,
            total,
            loss,
        });
    }

    fn save(&mut self, j: usize, image: Array3<u8>) {
        let key = &self.plan.jobs[self.j].key;
        let path = self.store.partial_path(key, j as u32);
        let r = png::encode(&image, &[])
            .map_err(std::io::Error::other)
            .and_then(|b| {
                std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
                write_atomic(&path, &b)
            });
        match r.at(&path) {
            Ok(()) => self.saved.push(j as u32),
            Err(e) => self.error = Some(e),
        }
    }

    fn preview(&mut self, image: Array3<u8>) {
        if self.into == RenderInto::Scratch {
            return;
        }
        // DD's progress.png (§11.3); best effort: a failed preview never fails the job
        let folder = self
            .plan
            .dir
            .join(&self.plan.targets[self.plan.jobs[self.j].target].folder);
        if let Ok(b) = png::encode(&image, &[]) {
            let _ = std::fs::create_dir_all(&folder);
            let _ = write_atomic(&folder.join("progress.png"), &b);
        }
    }

    fn checkpoint(&mut self, cp: Checkpoint) {
        let key = &self.plan.jobs[self.j].key;
        if let Err(e) = self
            .store
            .put_checkpoint(key, &checkpoint::encode(key, &cp))
            .at(&self.store.root().join("partial"))
        {
            self.error = Some(e);
        }
    }
}

/// Where a job renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RenderInto {
    /// The project's store, with `progress.png` beside its outputs.
    Project,
    /// A scratch store (`disco verify`): nothing written beside the project.
    Scratch,
}

/// Renders job `j` into `store`: `Ok(Some(seconds))` when it rendered, `Ok(None)` when it
/// failed (reported). Into a scratch store it reports `JobFinished` itself; into the
/// project, the caller does once the output file is written, so "rendered → FILE" is
/// never said of a file that is not there.
#[allow(clippy::too_many_arguments)]
pub(super) fn render_job(
    plan: &Plan,
    options: &BuildOptions,
    store: &Store,
    renderer: &mut dyn Renderer,
    sink: &mut dyn Sink,
    cancel: &AtomicBool,
    j: usize,
    into: RenderInto,
) -> Result<Option<f64>, BuildError> {
    let job = &plan.jobs[j];
    let target = &plan.targets[job.target];
    let label = plan.job_label(j);
    let fail = |sink: &mut dyn Sink, error: String| {
        sink.event(&Event::JobFailed {
            job: label.clone(),
            error,
        });
        Ok(None)
    };
    let prev: Option<Array3<u8>> = match job.prev {
        Some(p) => {
            let path = store.image_path(&plan.jobs[p].key);
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| png::decode(&b))
            {
                Ok(img) => Some(img),
                Err(e) => return fail(sink, format!("previous frame {}: {e}", path.display())),
            }
        }
        None => None,
    };
    let c = &target.common.inputs;
    let shape = [1, 3, c.height as usize, c.width as usize];
    let resume = store
        .checkpoint(&job.key)
        .and_then(|b| checkpoint::decode(&b, &job.key, shape));
    let saves = saves_of(target, job);
    let k0 = c.steps as usize - job.frame.skip_steps as usize;
    let resumed_at = resume.as_ref().map_or(0, |cp| k0 - 1 - cp.state.k);
    sink.event(&Event::JobStarted {
        job: label.clone(),
        key: job.key.to_string(),
        steps: k0,
        resumed_at,
    });
    let started = Instant::now();
    let req = Request {
        plan,
        job: j,
        prev: prev.as_ref(),
        saves: &saves,
        preview_every: target.settings.display_rate.value as usize,
        checkpoint_every: options.checkpoint_every,
        resume: resume.as_ref(),
    };
    let mut hooks = JobHooks {
        plan,
        j,
        store,
        sink,
        saved: Vec::new(),
        error: None,
        into,
    };
    let outcome = renderer.render(&req, &mut hooks, cancel);
    let JobHooks { sink, error, .. } = hooks;
    if let Some(e) = error {
        return Err(e);
    }
    if let Some(actual) = renderer.provider()
        && actual != c.provider
    {
        return Err(BuildError::Provider {
            planned: c.provider.clone(),
            actual: actual.to_owned(),
        });
    }
    let (image, losses, steps, device) = match outcome {
        Err(RenderError::Setup(e)) => return Err(BuildError::Setup(e)),
        Err(RenderError::Job(e)) => return fail(sink, e),
        Ok(Outcome::Cancelled(cp)) => {
            store
                .put_checkpoint(&job.key, &checkpoint::encode(&job.key, &cp))
                .at(&store.root().join("partial"))?;
            return Err(BuildError::Interrupted);
        }
        Ok(Outcome::Finished {
            image,
            losses,
            steps,
            device,
        }) => (image, losses, steps, device),
    };
    let inputs = serde_json::json!({"key": job.key, "common": c, "frame": job.frame});
    let bytes = png::encode(&image, &[("disco-inputs", inputs.to_string())])
        .map_err(std::io::Error::other)?;
    // Partials of an earlier, interrupted run of this job are in the store already.
    let partials: Vec<u32> = saves
        .iter()
        .map(|&j| j as u32)
        .filter(|&j| store.partial_path(&job.key, j).is_file())
        .collect();
    let record = Record {
        format: RECORD_FORMAT.into(),
        key: job.key,
        common: target.common.digest,
        frame: job.frame.clone(),
        image: ObjectInfo {
            blake3: blake3::hash(&bytes).to_hex().to_string(),
            bytes: bytes.len() as u64,
        },
        partials,
        seconds: started.elapsed().as_secs_f64(),
        steps: steps as u32,
        losses,
        device,
        tool: env!("CARGO_PKG_VERSION").into(),
        finished: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        target: Some(target.label()),
    };
    store
        .put(&job.key, &bytes, &[], &record)
        .at(&store.image_path(&job.key))?;
    store
        .remove_checkpoint(&job.key)
        .at(&store.root().join("partial"))?;
    if into == RenderInto::Scratch {
        sink.event(&Event::JobFinished {
            job: label,
            key: job.key.to_string(),
            output: "the scratch store".into(),
            seconds: record.seconds,
        });
    }
    Ok(Some(record.seconds))
}

/// Stores job `j`'s output file as its object, when its bytes are the image `disco.lock`
/// records for the job's key (see [`Decision::Adopt`]). `Ok(false)`: they no longer are.
fn adopt(plan: &Plan, store: &Store, j: usize) -> Result<bool, BuildError> {
    let job = &plan.jobs[j];
    let target = &plan.targets[job.target];
    let lock = LockFile::read(&lockfile::lock_path(&plan.project_file))
        .ok()
        .flatten();
    let Some(entry) = lock
        .as_ref()
        .and_then(|l| l.target(&target.label()))
        .and_then(|t| t.jobs.get(&job.index))
        .filter(|e| e.key == job.key)
    else {
        return Ok(false);
    };
    let Some(bytes) = super::decide::adoptable_bytes(&plan.dir.join(&job.output), &entry.blake3)
    else {
        return Ok(false);
    };
    let c = &target.common.inputs;
    let record = Record {
        format: RECORD_FORMAT.into(),
        key: job.key,
        common: target.common.digest,
        frame: job.frame.clone(),
        image: ObjectInfo {
            blake3: entry.blake3.clone(),
            bytes: bytes.len() as u64,
        },
        partials: Vec::new(),
        // not rendered here: no time, no losses; the lock says which disco made it
        seconds: 0.0,
        steps: c.steps.saturating_sub(job.frame.skip_steps),
        losses: serde_json::Value::Null,
        device: c.provider.clone(),
        tool: entry.tool.clone(),
        finished: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        target: Some(target.label()),
    };
    store
        .put(&job.key, &bytes, &[], &record)
        .at(&store.image_path(&job.key))?;
    Ok(true)
}

/// Puts job `j`'s cached image (and its intermediate saves) in place.
fn materialise(
    plan: &Plan,
    store: &Store,
    outputs: &mut crate::store::Outputs,
    j: usize,
) -> Result<(), BuildError> {
    let job = &plan.jobs[j];
    for (rel, src) in files_of(plan, store, j) {
        let dest = plan.dir.join(&rel);
        materialize::link_or_copy(&src, &dest).at(&dest)?;
        outputs.set(&plan.dir, &rel, job.key).at(&dest)?;
    }
    Ok(())
}

/// Every file job `j` materialises: (path relative to the project, object file).
pub(super) fn files_of(plan: &Plan, store: &Store, j: usize) -> Vec<(PathBuf, PathBuf)> {
    let job = &plan.jobs[j];
    let target = &plan.targets[job.target];
    let mut out = vec![(job.output.clone(), store.image_path(&job.key))];
    for (rel, jj) in super::decide::partial_outputs(target, job) {
        out.push((rel, store.partial_path(&job.key, jj as u32)));
    }
    out
}

/// `<batch>(0)_settings.txt` beside the images: DD's settings file (§11.4), JSON with
/// 4-space indents, seed resolved; rewritten only when it changes.
fn write_settings(plan: &Plan, t: usize) -> Result<(), BuildError> {
    let target = &plan.targets[t];
    let path = plan
        .dir
        .join(&target.folder)
        .join(format!("{}(0)_settings.txt", target.batch_name));
    let json = serde_json::Value::Object(target.settings.to_dd_json());
    let mut bytes = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut bytes, fmt);
    serde::Serialize::serialize(&json, &mut ser).map_err(std::io::Error::other)?;
    if std::fs::read(&path).ok().as_deref() == Some(bytes.as_slice()) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).at(dir)?;
    write_atomic(&path, &bytes).at(&path)
}
