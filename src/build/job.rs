//! One job: render it into a store (the project's or a scratch one), with the hooks that
//! write its intermediate saves, preview and checkpoints as the sampler reaches them, and
//! its record once it finishes.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use ndarray::Array3;

use super::decide::saves_of;
use super::events::{Event, Sink};
use super::exec::{At, BuildError, BuildOptions};
use super::renderer::{Hooks, Outcome, RenderError, Renderer, Request};
use super::{checkpoint, png};
use crate::fsutil::write_atomic;
use crate::plan::Plan;
use crate::render::job::Checkpoint;
use crate::store::{ObjectInfo, RECORD_FORMAT, Record, Store, unix_now};

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
        finished: unix_now(),
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
