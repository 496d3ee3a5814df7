//! What the watcher reports, as values (STYLE.md rule 22): the build's own events for the
//! jobs it renders, and a few of its own. The CLI draws them; the library never prints.

use serde::Serialize;

use crate::project::Diagnostic;

/// One thing that happened while watching.
#[derive(Debug, Clone)]
pub enum WatchOutput {
    /// A build event of the job rendering (`job-started`, `step`, `job-finished`…).
    Build(crate::build::BuildEvent),
    /// Something the watcher itself did.
    Watch(WatchEvent),
    /// The project cannot be loaded or planned: the last good plan goes on.
    Invalid {
        /// The saved files that triggered the reload.
        changed: Vec<String>,
        /// Every diagnostic, with its span where it has one.
        diagnostics: Vec<Diagnostic>,
    },
}

/// The watcher's own events, serialised as `{"event": "watch-…", …}`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum WatchEvent {
    /// The watches are set: saves from now on are seen.
    WatchReady {
        /// The directories watched.
        dirs: Vec<String>,
        /// Whether the file system is polled (`--poll`).
        poll: bool,
    },
    /// The project was loaded and planned again (after a save, or at start).
    WatchReload {
        /// The saved files that triggered it (empty at start).
        changed: Vec<String>,
        /// Jobs in the plan.
        jobs: usize,
        /// Jobs not in the store.
        stale: usize,
        /// The job kept rendering (its key is still wanted), if any.
        keep: Option<String>,
        /// Jobs to render after it, in order, and why each is stale.
        queued: Vec<Queued>,
        /// How many of them this edit made stale.
        newly_stale: usize,
        /// Load and plan time.
        seconds: f64,
    },
    /// The job rendering was cancelled: no job wants its key any more. Its checkpoint is
    /// kept, so reverting the edit resumes it.
    WatchCancel {
        /// `target frame 3`, as the plan it started from named it.
        job: String,
        /// Its key.
        key: String,
    },
    /// Every wanted job is in the store.
    WatchIdle {
        /// Jobs rendered since the last idle.
        rendered: usize,
        /// Jobs failed since the last idle.
        failed: usize,
    },
    /// A reload or a render could not run (e.g. another build holds the lock).
    WatchFailed {
        /// Why.
        error: String,
    },
    /// Ctrl-C: the watcher stopped, the frame rendering saved a checkpoint.
    WatchStopped {},
}

/// Receives the watcher's events, from its threads (hence `Send`).
pub trait WatchSink: Send {
    /// One event.
    fn event(&mut self, e: &WatchOutput);
}

impl<F: FnMut(&WatchOutput) + Send> WatchSink for F {
    fn event(&mut self, e: &WatchOutput) {
        self(e)
    }
}

/// A job waiting to render.
#[derive(Debug, Clone, Serialize)]
pub struct Queued {
    /// `target frame 3`.
    pub job: String,
    /// Why it renders (what changed since its output was built).
    pub reason: String,
}
