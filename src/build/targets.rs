//! The per-target loop of `disco build`: each target's jobs rendered, adopted or
//! materialised as decided, then its settings file and video, then the report. A job that
//! fails is reported and the others go on (frames chained to it are skipped); a renderer
//! that cannot be set up, a store or an output that cannot be written stop the loop.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::decide::Decision;
use super::events::{BuildEvent, BuildSink};
use super::exec::{At, BuildError, BuildOptions, Summary};
use super::job::{RenderInto, render_job};
use super::publish::{adopt, materialise, stored, write_settings};
use super::renderer::Renderer;
use crate::plan::Plan;
use crate::project::types::ChoiceSetting;
use crate::store::{ObjectName, Outputs, Store};

/// One build's walk over its targets.
pub(super) struct TargetLoop<'a> {
    pub plan: &'a Plan,
    pub options: &'a BuildOptions,
    pub store: &'a Store,
    pub outputs: &'a mut Outputs,
    pub decisions: &'a [Decision],
    /// What to do with each eye view of [`Plan::eyes`] (`vr.rs`).
    pub eye_decisions: &'a [Decision],
    /// A shard's jobs: the others are neither rendered nor published (`None`: all).
    pub mine: Option<&'a HashSet<usize>>,
    pub renderer: &'a mut dyn Renderer,
    pub sink: &'a mut dyn BuildSink,
    pub cancel: &'a AtomicBool,
    pub summary: &'a mut Summary,
}

/// What became of the jobs so far, beyond the summary's counts.
#[derive(Default)]
struct Progress {
    failed: HashSet<usize>,
    /// Stale jobs left for a later call, and another shard's jobs: not failed, but their
    /// target is not complete.
    waiting: HashSet<usize>,
    /// Eye views that failed or wait for their frame: their target's eye videos wait.
    eyes_missing: HashSet<usize>,
}

impl Progress {
    fn built(&self, j: usize) -> bool {
        !self.failed.contains(&j) && !self.waiting.contains(&j)
    }
}

impl TargetLoop<'_> {
    /// Renders and materialises every target's jobs as decided, then its video, then the
    /// sweeps' contact sheets and the project's report.
    pub fn run(mut self) -> Result<(), BuildError> {
        let mut progress = Progress::default();
        for t in 0..self.plan.targets.len() {
            self.target(t, &mut progress)?;
        }
        // what people look at: the sweeps' contact sheets and the project's report; a
        // build with no image to show leaves none behind
        let built: Vec<bool> = (0..self.plan.jobs.len())
            .map(|j| progress.built(j))
            .collect();
        // a shard sees only its own images: the assemble step draws them all
        if self.mine.is_none() && built.iter().any(|&b| b) {
            for w in crate::report::refresh(self.plan, self.store, self.outputs, &built)? {
                self.sink.event(&w.into());
            }
        }
        Ok(())
    }

    /// Whether job `j` is this build's to render and publish (not another shard's).
    fn ours(&self, j: usize) -> bool {
        self.mine.is_none_or(|m| m.contains(&j))
    }

    fn target(&mut self, t: usize, progress: &mut Progress) -> Result<(), BuildError> {
        let target = &self.plan.targets[t];
        // the shared inputs of every job this build records (keyframed settings give
        // frames their own), each stored once
        let mut stored_commons = HashSet::new();
        for j in target.jobs.clone() {
            let made =
                self.ours(j) && matches!(self.decisions[j], Decision::Render(_) | Decision::Adopt);
            let common = &self.plan.jobs[j].common;
            if made && stored_commons.insert(common.digest) {
                self.store
                    .put_inputs(&common.digest, &common.inputs)
                    .map_err(|e| stored(self.store, &ObjectName::Inputs(common.digest), e))?;
            }
        }
        for j in target.jobs.clone() {
            self.job(j, progress)?;
        }
        for e in target.eyes.clone() {
            self.eye(e, progress)?;
        }
        // DD's settings file describes images: none for a target none of whose jobs has
        // one (e.g. every job failed before rendering on an unreadable init image)
        if target.jobs.clone().any(|j| progress.built(j)) {
            write_settings(self.plan, t)?;
        }
        if self.mine.is_none() && target.jobs.clone().all(|j| progress.built(j)) {
            let eyes_built = target
                .eyes
                .clone()
                .all(|e| !progress.eyes_missing.contains(&e));
            let videos = super::decide::videos_of(self.plan, t);
            for v in &videos {
                if v.eye.is_none() || eyes_built {
                    self.encode(t, v)?;
                }
            }
            if !videos.is_empty() {
                self.blended_video(t)?;
            }
        }
        Ok(())
    }

    /// Eye view `e` (`vr.rs`), once its frame is built: rendered from the frame's stored
    /// image, or put in place from the store, as decided.
    fn eye(&mut self, e: usize, progress: &mut Progress) -> Result<(), BuildError> {
        let (plan, store) = (self.plan, self.store);
        let view = &plan.eyes[e];
        if !self.ours(view.job) || !progress.built(view.job) {
            progress.eyes_missing.insert(e);
            return Ok(());
        }
        match &self.eye_decisions[e] {
            Decision::Current => {}
            Decision::Materialize | Decision::Adopt => {
                super::vr::materialise_eye(plan, store, self.outputs, e)?;
                self.sink.event(&BuildEvent::Materialized {
                    job: plan.eye_label(e),
                    output: view.output.display().to_string(),
                });
            }
            Decision::Render(_) => match super::vr::render_eye(plan, store, self.renderer, e)? {
                Ok(seconds) => {
                    super::vr::materialise_eye(plan, store, self.outputs, e)?;
                    self.outputs.save().at(&store.root().join("outputs.json"))?;
                    self.summary.rendered += 1;
                    self.sink.event(&BuildEvent::EyeRendered {
                        view: plan.eye_label(e),
                        key: view.key.to_string(),
                        output: view.output.display().to_string(),
                        seconds,
                    });
                }
                Err(error) => {
                    progress.eyes_missing.insert(e);
                    self.summary.failed += 1;
                    self.sink.event(&BuildEvent::EyeFailed {
                        view: plan.eye_label(e),
                        error,
                    });
                }
            },
        }
        Ok(())
    }

    fn job(&mut self, j: usize, progress: &mut Progress) -> Result<(), BuildError> {
        let (plan, store) = (self.plan, self.store);
        let job = &plan.jobs[j];
        if !self.ours(j) {
            // another shard's: it renders and publishes it
            progress.waiting.insert(j);
            return Ok(());
        }
        match &self.decisions[j] {
            Decision::Current => self.summary.reused += 1,
            Decision::Materialize => {
                materialise(plan, store, self.outputs, j)?;
                self.summary.reused += 1;
                self.sink.event(&BuildEvent::Materialized {
                    job: plan.job_label(j),
                    output: job.output.display().to_string(),
                });
            }
            Decision::Adopt => self.adopt(j, progress)?,
            Decision::Render(_)
                if self
                    .options
                    .render_only
                    .as_ref()
                    .is_some_and(|only| !only.contains(&j)) =>
            {
                progress.waiting.insert(j);
            }
            Decision::Render(_) => self.render(j, progress)?,
        }
        Ok(())
    }

    fn adopt(&mut self, j: usize, progress: &mut Progress) -> Result<(), BuildError> {
        let (plan, store) = (self.plan, self.store);
        let job = &plan.jobs[j];
        if adopt(plan, store, j)? {
            materialise(plan, store, self.outputs, j)?;
            self.summary.reused += 1;
            self.sink.event(&BuildEvent::Adopted {
                job: plan.job_label(j),
                output: job.output.display().to_string(),
            });
        } else {
            // the file changed since the plan looked: render after all
            progress.failed.insert(j);
            self.summary.failed += 1;
            self.sink.event(&BuildEvent::JobFailed {
                job: plan.job_label(j),
                error: format!(
                    "{} changed while the build ran; build again to render it",
                    job.output.display()
                ),
            });
        }
        Ok(())
    }

    fn render(&mut self, j: usize, progress: &mut Progress) -> Result<(), BuildError> {
        let (plan, store) = (self.plan, self.store);
        let job = &plan.jobs[j];
        if let Some(p) = job.prev.filter(|p| progress.failed.contains(p)) {
            progress.failed.insert(j);
            self.summary.failed += 1;
            self.sink.event(&BuildEvent::JobSkipped {
                job: plan.job_label(j),
                reason: format!("{} failed", plan.job_label(p)),
            });
            return Ok(());
        }
        // `?`: a renderer that cannot be set up stops here, once, blaming no job
        let rendered = render_job(
            plan,
            self.options,
            store,
            self.renderer,
            self.sink,
            self.cancel,
            j,
            RenderInto::Project,
        )?;
        let Some(seconds) = rendered else {
            progress.failed.insert(j);
            self.summary.failed += 1;
            return Ok(());
        };
        materialise(plan, store, self.outputs, j)?;
        self.outputs.save().at(&store.root().join("outputs.json"))?;
        self.summary.rendered += 1;
        self.sink.event(&BuildEvent::JobFinished {
            job: plan.job_label(j),
            key: job.key.to_string(),
            output: job.output.display().to_string(),
            seconds,
        });
        Ok(())
    }

    /// Makes the blend mode's frames that are not current, then encodes their video.
    fn blended_video(&mut self, t: usize) -> Result<(), BuildError> {
        let plan = self.plan;
        let Some(blend) = super::video_blend::blend_of(plan, t) else {
            return Ok(());
        };
        let started = Instant::now();
        let made = blend.and_then(|b| {
            let n = super::video_blend::make_frames(plan, t, &b, self.outputs, self.renderer)?;
            Ok((b, n))
        });
        let (b, n) = match made {
            Ok(done) => done,
            Err(error) => {
                let mode = plan.targets[t].settings.video_init_blend_mode.value;
                self.summary.failed += 1;
                self.sink.event(&BuildEvent::VideoFailed {
                    target: plan.targets[t].label(),
                    error: format!("the {} frames: {error}", mode.name()),
                });
                return Ok(());
            }
        };
        if n > 0 {
            self.sink.event(&BuildEvent::FramesBlended {
                target: plan.targets[t].label(),
                mode: b.mode.name().to_owned(),
                folder: b.folder.display().to_string(),
                frames: n,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        self.encode(t, &b.video)
    }

    /// Encodes `v`, a video of target `t`, unless it is current.
    fn encode(&mut self, t: usize, v: &super::decide::VideoPlan) -> Result<(), BuildError> {
        let plan = self.plan;
        let target = &plan.targets[t];
        if self.outputs.is_current(&plan.dir, &v.output, &v.key) {
            return Ok(());
        }
        self.outputs
            .save()
            .at(&self.store.root().join("outputs.json"))?;
        let started = Instant::now();
        let frames: Vec<PathBuf> = v.frames.iter().map(|f| plan.dir.join(f)).collect();
        match crate::video::external::encode(&frames, &plan.dir.join(&v.output), &v.settings) {
            Ok(e) => {
                self.outputs
                    .set(&plan.dir, &v.output, v.key)
                    .at(&plan.dir.join(&v.output))?;
                self.sink.event(&BuildEvent::VideoEncoded {
                    target: target.label(),
                    output: v.output.display().to_string(),
                    frames: e.frames,
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
            Err(error) => {
                self.summary.failed += 1;
                self.sink.event(&BuildEvent::VideoFailed {
                    target: target.label(),
                    error: error.to_string(),
                });
            }
        }
        Ok(())
    }
}
