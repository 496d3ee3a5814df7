//! Apply: the render thread and the state it shares with the watch loop. One job renders
//! at a time through the build engine ([`crate::build::build`] restricted to that job);
//! cancelling a job sets the flag of its run, and the engine saves its checkpoint.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};

use super::events::{WatchEvent, WatchOutput, WatchSink};
use super::seams::Seams;
use crate::build::{self, BuildError, BuildOptions};
use crate::plan::{Key, Plan};

/// The events of everyone, one at a time.
pub type SharedSink = Arc<Mutex<Box<dyn WatchSink>>>;

/// Sends `e` to the shared sink.
pub fn emit(sink: &SharedSink, e: WatchOutput) {
    sink.lock().unwrap_or_else(|p| p.into_inner()).event(&e);
}

/// The job rendering now.
#[derive(Debug, Clone)]
pub struct Running {
    /// Its key.
    pub key: Key,
    /// Its label in the plan it started from.
    pub job: String,
    /// Set to stop it after its current step.
    pub cancel: Arc<AtomicBool>,
}

/// What the loop and the render thread share.
#[derive(Default)]
pub struct State {
    /// The last good plan.
    pub plan: Option<Arc<Plan>>,
    /// Keys to render, in order.
    pub queue: VecDeque<Key>,
    /// The job rendering.
    pub running: Option<Running>,
    /// Materialise cached outputs (and encode videos) of the current plan when idle.
    pub refresh: bool,
    /// Ctrl-C: finish now.
    pub stop: bool,
}

/// [`State`] with its condition variable.
#[derive(Default)]
pub struct Shared {
    /// The state.
    pub state: Mutex<State>,
    /// Signalled when work arrives or the watcher stops.
    pub wake: Condvar,
}

impl Shared {
    /// Locks the state.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What one pass of the render thread does.
enum Work {
    Render(Arc<Plan>, usize, Running),
    Refresh(Arc<Plan>),
}

/// How the render thread builds.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Checkpoint every N steps.
    pub checkpoint_every: usize,
    /// Written into the lock.
    pub holder: String,
}

/// The render thread's body: renders queued jobs until `stop`.
pub fn worker(shared: Arc<Shared>, seams: Arc<dyn Seams>, sink: SharedSink, options: ApplyOptions) {
    let mut renderer = seams.renderer();
    let (mut rendered, mut failed, mut busy) = (0, 0, false);
    loop {
        let work = {
            let mut s = shared.lock();
            loop {
                if s.stop {
                    return;
                }
                if let Some(w) = next(&mut s) {
                    break w;
                }
                if busy {
                    busy = false;
                    emit(
                        &sink,
                        WatchOutput::Watch(WatchEvent::WatchIdle { rendered, failed }),
                    );
                    (rendered, failed) = (0, 0);
                }
                s = shared.wake.wait(s).unwrap_or_else(|p| p.into_inner());
            }
        };
        busy = true;
        let (plan, only, cancel) = match &work {
            Work::Render(plan, j, run) => (plan.clone(), vec![*j], run.cancel.clone()),
            Work::Refresh(plan) => (plan.clone(), Vec::new(), Arc::new(AtomicBool::new(false))),
        };
        let build_options = BuildOptions {
            only: Vec::new(),
            dry_run: false,
            checkpoint_every: options.checkpoint_every,
            holder: options.holder.clone(),
            render_only: Some(only),
            shard: None,
        };
        let mut forward = |e: &build::BuildEvent| {
            // the watcher reports its own plan and totals
            if !matches!(
                e,
                build::BuildEvent::Planned { .. }
                    | build::BuildEvent::Stale { .. }
                    | build::BuildEvent::Finished { .. }
            ) {
                emit(&sink, WatchOutput::Build(e.clone()));
            }
        };
        let result = build::build(
            &plan,
            &build_options,
            renderer.as_mut(),
            &mut forward,
            &cancel,
        );
        let mut s = shared.lock();
        if matches!(work, Work::Render(..)) {
            s.running = None;
        }
        match result {
            Ok(summary) => {
                rendered += summary.rendered;
                failed += summary.failed;
            }
            Err(BuildError::Interrupted) => {}
            Err(e) => {
                // e.g. `disco build` holds the lock: drop the work; the next save retries
                s.queue.clear();
                emit(
                    &sink,
                    WatchOutput::Watch(WatchEvent::WatchFailed {
                        error: e.to_string(),
                    }),
                );
            }
        }
    }
}

/// The next piece of work: the first queued job the current plan still has, else a
/// refresh when one is due.
fn next(s: &mut State) -> Option<Work> {
    let plan = s.plan.clone()?;
    while let Some(key) = s.queue.pop_front() {
        if let Some(j) = plan.jobs.iter().position(|job| job.key == key) {
            let run = Running {
                key,
                job: plan.job_label(j),
                cancel: Arc::new(AtomicBool::new(false)),
            };
            s.running = Some(run.clone());
            return Some(Work::Render(plan, j, run));
        }
    }
    if s.refresh {
        s.refresh = false;
        return Some(Work::Refresh(plan));
    }
    None
}
