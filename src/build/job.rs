//! One job: render it into a store (the project's or a scratch one), with the hooks that
//! write its intermediate saves, preview and checkpoints as the sampler reaches them, and
//! its record once it finishes.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use ndarray::Array3;

use super::decide::saves_of;
use super::events::{BuildEvent, BuildSink};
use super::exec::{BuildError, BuildOptions};
use super::publish::{Made, store_job, stored};
use super::renderer::{Hooks, RenderError, RenderOutcome, Renderer, Request};
use super::{checkpoint, png, turbo};
use crate::fsutil::write_atomic;
use crate::plan::{Plan, Turbo};
use crate::render::job::Checkpoint;
use crate::store::{Aux, ObjectName, Store};

/// Where the build writes while a job renders: partials into the store, the preview
/// beside the images, checkpoints into the store.
/// The hooks' `j` is the sampler's iteration (DD's name); the job is `job`.
struct JobHooks<'a> {
    plan: &'a Plan,
    /// Index into `plan.jobs`.
    job: usize,
    store: &'a Store,
    sink: &'a mut dyn BuildSink,
    /// The first write that failed: the job stops being cacheable, the build stops.
    error: Option<BuildError>,
    /// Where the job renders (a scratch store gets no `progress.png`).
    into: RenderInto,
}

impl Hooks for JobHooks<'_> {
    fn step(&mut self, j: usize, total: usize, loss: f64) {
        self.sink.event(&BuildEvent::Step {
            job: self.plan.job_label(self.job),
            j,
            total,
            loss,
        });
    }

    fn tone_corrected(&mut self, j: usize, fix: &'static str) {
        self.sink.event(&BuildEvent::ToneCorrected {
            job: self.plan.job_label(self.job),
            j,
            fix,
        });
    }

    fn save(&mut self, j: usize, image: Array3<u8>) {
        let key = self.plan.jobs[self.job].key;
        let r = png::encode(&image, &[])
            .map_err(std::io::Error::other)
            .and_then(|b| self.store.put_partial(&key, j as u32, &b));
        if let Err(e) = r {
            self.error = Some(stored(self.store, &ObjectName::Partial(key, j as u32), e));
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
            .join(&self.plan.targets[self.plan.jobs[self.job].target].folder);
        if let Ok(b) = png::encode(&image, &[]) {
            let _ = std::fs::create_dir_all(&folder);
            let _ = write_atomic(&folder.join("progress.png"), &b);
        }
    }

    fn checkpoint(&mut self, cp: Checkpoint) {
        let key = &self.plan.jobs[self.job].key;
        if let Err(e) = self
            .store
            .put_checkpoint(key, &checkpoint::encode(key, &cp))
        {
            self.error = Some(stored(self.store, &ObjectName::Checkpoint(*key), e));
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
/// never said of a file that is not there. A renderer that cannot be set up stops the
/// build ([`BuildError::Setup`]); a job that fails does not.
#[allow(clippy::too_many_arguments)]
pub(super) fn render_job(
    plan: &Plan,
    options: &BuildOptions,
    store: &Store,
    renderer: &mut dyn Renderer,
    sink: &mut dyn BuildSink,
    cancel: &AtomicBool,
    j: usize,
    into: RenderInto,
) -> Result<Option<f64>, BuildError> {
    let job = &plan.jobs[j];
    let target = &plan.targets[job.target];
    let prev = match previous_frame(plan, store, j, turbo::next_of) {
        Ok(prev) => prev,
        Err(error) => return Ok(failed(plan, j, sink, error.to_string())),
    };
    if let Some(Turbo::Skipped { blend }) = job.frame.turbo {
        return skipped(plan, store, renderer, sink, j, (prev, blend), into);
    }
    // a diffused turbo frame blends its result with its init: the build warps it
    let init = match (&job.frame.turbo, &prev) {
        (Some(Turbo::Diffused { .. }), Some(p)) => match renderer.warp3d(plan, j, p) {
            Ok(w) => Some(w),
            Err(RenderError::Setup(e)) => return Err(BuildError::Setup(e)),
            Err(RenderError::Job(e)) => return Ok(failed(plan, j, sink, e.to_string())),
        },
        _ => None,
    };
    let resume = resume_point(plan, store, j);
    let saves = saves_of(target, job);
    let started = Instant::now();
    let req = Request {
        plan,
        job: j,
        prev: prev.as_ref(),
        init: init.as_ref(),
        saves: &saves,
        preview_every: target.settings.display_rate.value as usize,
        checkpoint_every: options.checkpoint_every,
        resume: resume.as_ref(),
    };
    let outcome = run(renderer, &req, store, sink, cancel, into)?;
    let (image, losses, steps, device) = match outcome {
        Err(RenderError::Setup(e)) => return Err(BuildError::Setup(e)),
        Err(RenderError::Job(e)) => return Ok(failed(plan, j, sink, e.to_string())),
        Ok(RenderOutcome::Cancelled(cp)) => {
            store
                .put_checkpoint(&job.key, &checkpoint::encode(&job.key, &cp))
                .map_err(|e| stored(store, &ObjectName::Checkpoint(job.key), e))?;
            return Err(BuildError::Interrupted);
        }
        Ok(RenderOutcome::Finished {
            image,
            losses,
            steps,
            device,
        }) => (image, losses, steps, device),
    };
    let image = match (&job.frame.turbo, &init) {
        // DD saves `blend·diffused + (1 − blend)·init` and hands the diffused image on
        (Some(Turbo::Diffused { blend, old }), Some(w)) => {
            put_aux(plan, store, j, Aux::Next, &image)?;
            if *old {
                put_aux(plan, store, j, Aux::Old, w)?;
            }
            turbo::blend(&image, *blend, w)
        }
        _ => image,
    };
    let made = Made {
        // partials of an earlier, interrupted run of this job are in the store already
        partials: saves
            .iter()
            .map(|&s| s as u32)
            .filter(|&s| store.has_partial(&job.key, s))
            .collect(),
        seconds: started.elapsed().as_secs_f64(),
        steps: steps as u32,
        losses,
        device,
        tool: env!("CARGO_PKG_VERSION").into(),
    };
    let seconds = finish(plan, store, j, &image, made)?;
    scratch_finished(plan, j, into, sink, seconds);
    Ok(Some(seconds))
}

/// The `JobFinished` of a job rendered into the scratch store (it has no output file);
/// shared by sampled and turbo-blended jobs.
fn scratch_finished(
    plan: &Plan,
    j: usize,
    into: RenderInto,
    sink: &mut dyn BuildSink,
    seconds: f64,
) {
    if into == RenderInto::Scratch {
        sink.event(&BuildEvent::JobFinished {
            job: plan.job_label(j),
            key: plan.jobs[j].key.to_string(),
            output: "the scratch store".into(),
            seconds,
        });
    }
}

/// Reports job `j` failed with `error`: the job is not cached; the build goes on.
fn failed(plan: &Plan, j: usize, sink: &mut dyn BuildSink, error: String) -> Option<f64> {
    sink.event(&BuildEvent::JobFailed {
        job: plan.job_label(j),
        error,
    });
    None
}

/// Why the frame a job starts from cannot be had: the job fails, the others go on.
#[derive(Debug, thiserror::Error)]
enum PreviousFrameError {
    /// The store does not hold it (removed while the build ran).
    #[error("previous frame {0}: not in the store")]
    Missing(String),
    /// The store cannot read it.
    #[error("previous frame {at}: {source}")]
    Read {
        at: String,
        #[source]
        source: std::io::Error,
    },
    /// It is not a PNG.
    #[error("previous frame {at}: {source}")]
    Decode {
        at: String,
        #[source]
        source: png::PngError,
    },
}

/// A skipped turbo frame (no sampler): the previous frame's next image `prev` and its old
/// image, each warped by this frame's camera; it saves their blend with weight `blend` on
/// the new warp and stores both warps for the next frame (`turbo.rs`).
fn skipped(
    plan: &Plan,
    store: &Store,
    renderer: &mut dyn Renderer,
    sink: &mut dyn BuildSink,
    j: usize,
    (prev, blend): (Option<Array3<u8>>, f64),
    into: RenderInto,
) -> Result<Option<f64>, BuildError> {
    let job = &plan.jobs[j];
    let started = Instant::now();
    sink.event(&BuildEvent::JobStarted {
        job: plan.job_label(j),
        key: job.key.to_string(),
        steps: 0,
        resumed_at: 0,
    });
    let old = match previous_frame(plan, store, j, turbo::old_of) {
        Ok(old) => old,
        Err(error) => return Ok(failed(plan, j, sink, error.to_string())),
    };
    let (Some(prev), Some(old)) = (prev, old) else {
        return Ok(failed(
            plan,
            j,
            sink,
            "a skipped turbo frame without a previous frame".into(),
        ));
    };
    let mut warp = |image: &Array3<u8>| match renderer.warp3d(plan, j, image) {
        Ok(w) => Ok(Ok(w)),
        Err(RenderError::Setup(e)) => Err(BuildError::Setup(e)),
        Err(RenderError::Job(e)) => Ok(Err(e.to_string())),
    };
    let new = match warp(&prev)? {
        Ok(w) => w,
        Err(e) => return Ok(failed(plan, j, sink, e)),
    };
    let old = match warp(&old)? {
        Ok(w) => w,
        Err(e) => return Ok(failed(plan, j, sink, e)),
    };
    put_aux(plan, store, j, Aux::Next, &new)?;
    put_aux(plan, store, j, Aux::Old, &old)?;
    let image = turbo::blend(&new, blend, &old);
    let made = Made {
        partials: Vec::new(),
        seconds: started.elapsed().as_secs_f64(),
        steps: 0,
        losses: serde_json::Value::Null,
        device: renderer.provider().unwrap_or("cpu").to_owned(),
        tool: env!("CARGO_PKG_VERSION").into(),
    };
    let seconds = finish(plan, store, j, &image, made)?;
    scratch_finished(plan, j, into, sink, seconds);
    Ok(Some(seconds))
}

/// Stores job `j`'s second image `aux` (before its record, which `finish` writes).
fn put_aux(
    plan: &Plan,
    store: &Store,
    j: usize,
    aux: Aux,
    image: &Array3<u8>,
) -> Result<(), BuildError> {
    let key = plan.jobs[j].key;
    png::encode(image, &[])
        .map_err(std::io::Error::other)
        .and_then(|b| store.put_aux(&key, aux, &b))
        .map_err(|e| stored(store, &ObjectName::Aux(key, aux), e))
}

/// The image of the frame job `j` starts from, if it chains from one: the previous job's
/// final image, or the second image `which` names (a turbo frame's, `turbo.rs`).
fn previous_frame(
    plan: &Plan,
    store: &Store,
    j: usize,
    which: fn(&crate::plan::Job) -> Option<Aux>,
) -> Result<Option<Array3<u8>>, PreviousFrameError> {
    let Some(p) = plan.jobs[j].prev else {
        return Ok(None);
    };
    let key = plan.jobs[p].key;
    let name = which(&plan.jobs[p]).map_or(ObjectName::Image(key), |a| ObjectName::Aux(key, a));
    let at = || {
        store
            .local_path(&name)
            .map_or_else(|| name.key().to_string(), |p| p.display().to_string())
    };
    let bytes = match store.objects().get(&name) {
        Ok(Some(b)) => b,
        Ok(None) => return Err(PreviousFrameError::Missing(at())),
        Err(source) => return Err(PreviousFrameError::Read { at: at(), source }),
    };
    png::decode(&bytes)
        .map(Some)
        .map_err(|source| PreviousFrameError::Decode { at: at(), source })
}

/// The checkpoint job `j` resumes from, if an interrupted run left one that fits.
fn resume_point(plan: &Plan, store: &Store, j: usize) -> Option<Checkpoint> {
    let job = &plan.jobs[j];
    let c = &job.common.inputs;
    let shape = [1, 3, c.height as usize, c.width as usize];
    store
        .checkpoint(&job.key)
        .and_then(|b| checkpoint::decode(&b, &job.key, shape))
}

/// Announces the job, renders it with the build's hooks, and checks the provider the
/// renderer ran on against the one planned.
fn run(
    renderer: &mut dyn Renderer,
    req: &Request<'_>,
    store: &Store,
    sink: &mut dyn BuildSink,
    cancel: &AtomicBool,
    into: RenderInto,
) -> Result<Result<RenderOutcome, RenderError>, BuildError> {
    let plan = req.plan;
    let job = &plan.jobs[req.job];
    let c = &job.common.inputs;
    // the sampler iterations this job runs: DD's steps less skip-steps
    let iterations = c.steps as usize - job.frame.skip_steps as usize;
    let resumed_at = req.resume.map_or(0, |cp| iterations - 1 - cp.state.k);
    sink.event(&BuildEvent::JobStarted {
        job: plan.job_label(req.job),
        key: job.key.to_string(),
        steps: iterations,
        resumed_at,
    });
    let mut hooks = JobHooks {
        plan,
        job: req.job,
        store,
        sink,
        error: None,
        into,
    };
    let outcome = renderer.render(req, &mut hooks, cancel);
    if let Some(e) = hooks.error {
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
    Ok(outcome)
}

/// Stores job `j`'s finished image with its inputs in a PNG text chunk, then its record,
/// and drops its checkpoint. Returns the render time.
fn finish(
    plan: &Plan,
    store: &Store,
    j: usize,
    image: &Array3<u8>,
    made: Made,
) -> Result<f64, BuildError> {
    let job = &plan.jobs[j];
    let c = &job.common.inputs;
    let inputs = serde_json::json!({"key": job.key, "common": c, "frame": job.frame});
    let bytes = png::encode(image, &[("disco-inputs", inputs.to_string())])
        .map_err(std::io::Error::other)?;
    let record = store_job(plan, store, j, &bytes, made)?;
    store
        .remove_checkpoint(&job.key)
        .map_err(|e| stored(store, &ObjectName::Checkpoint(job.key), e))?;
    Ok(record.seconds)
}
