//! The watch loop: file-system batches, reload results and Ctrl-C arrive on one channel;
//! saves gather in a debounce window, the project is reloaded off the loop, and each good
//! plan is decided against what the render thread is doing.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::apply::{self, ApplyOptions, Shared, SharedSink, emit};
use super::collect::{Collector, Deps, Window, normalise};
use super::decide::{Busy, decide};
use super::events::{Queued, WatchEvent, WatchOutput, WatchSink};
use super::reload::{Invalid, Loaded, Scope, reload};
use super::seams::Seams;

/// Longest a reload (parse, plan, hash new files) may take before the watcher gives up on
/// it and keeps the last good plan. Parsing alone is bounded by `PARSE_TIMEOUT`.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// How to watch.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The project file.
    pub project: PathBuf,
    /// Targets and frames.
    pub scope: Scope,
    /// Saves within this long of the first one give one reload.
    pub debounce: Duration,
    /// Poll the file system instead of kernel notifications.
    pub poll: bool,
    /// Checkpoint every N steps.
    pub checkpoint_every: usize,
    /// Written into the store's lock while rendering.
    pub holder: String,
}

/// Why the watcher stopped.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The file-system watcher could not start.
    #[error("cannot watch the project: {0}")]
    Notify(#[from] notify::Error),
    /// The render thread could not start.
    #[error("cannot start the render thread: {0}")]
    Thread(std::io::Error),
}

/// What arrives at the loop.
pub enum Msg {
    /// Paths named by file-system events.
    Fs(super::collect::Batch),
    /// A reload finished (its generation, its result).
    Reloaded(u64, Box<Result<Loaded, Invalid>>),
    /// Ctrl-C.
    Interrupt,
}

/// The loop's inbox, and a handle to interrupt it from a signal handler.
pub struct Watch {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
}

impl Default for Watch {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel();
        Watch { tx, rx }
    }
}

impl Watch {
    /// A new inbox.
    pub fn new() -> Watch {
        Watch::default()
    }

    /// Stops the watcher when called (from a Ctrl-C handler): the running frame saves a
    /// checkpoint and [`Watch::run`] returns.
    pub fn interrupter(&self) -> impl Fn() + Send + use<> {
        let tx = self.tx.clone();
        move || {
            let _ = tx.send(Msg::Interrupt);
        }
    }

    /// Watches until interrupted.
    pub fn run(
        self,
        options: &WatchOptions,
        seams: Arc<dyn Seams>,
        sink: Box<dyn WatchSink>,
    ) -> Result<(), WatchError> {
        let sink: SharedSink = Arc::new(Mutex::new(sink));
        let shared = Arc::new(Shared::default());
        let worker = {
            let (shared, seams, sink) = (shared.clone(), seams.clone(), sink.clone());
            let o = ApplyOptions {
                checkpoint_every: options.checkpoint_every,
                holder: options.holder.clone(),
            };
            std::thread::Builder::new()
                .name("disco-render".into())
                .spawn(move || apply::worker(shared, seams, sink, o))
                .map_err(WatchError::Thread)?
        };
        let result = Loop::new(options, seams, sink.clone(), shared.clone(), &self)
            .and_then(|mut l| l.run(&self.rx));
        {
            let mut s = shared.lock();
            s.stop = true;
            if let Some(r) = &s.running {
                r.cancel.store(true, Ordering::Release);
            }
            shared.wake.notify_all();
        }
        let _ = worker.join();
        if result.is_ok() {
            emit(&sink, WatchOutput::Watch(WatchEvent::WatchStopped {}));
        }
        result
    }
}

/// The loop's own state.
struct Loop<'a> {
    options: &'a WatchOptions,
    path: PathBuf,
    seams: Arc<dyn Seams>,
    sink: SharedSink,
    shared: Arc<Shared>,
    tx: Sender<Msg>,
    collector: Collector,
    deps: Deps,
    /// The last load failed: any change in a watched directory may fix it.
    invalid: bool,
    window: Window,
    /// The reload in flight: generation, start, the paths that triggered it.
    reloading: Option<(u64, Instant, Vec<PathBuf>)>,
    generation: u64,
    /// Saves seen while a reload was in flight.
    pending: Vec<PathBuf>,
    ready: bool,
}

impl<'a> Loop<'a> {
    fn new(
        options: &'a WatchOptions,
        seams: Arc<dyn Seams>,
        sink: SharedSink,
        shared: Arc<Shared>,
        watch: &Watch,
    ) -> Result<Loop<'a>, WatchError> {
        let tx = watch.tx.clone();
        let fs_tx = tx.clone();
        let (btx, brx) = mpsc::channel();
        // forward notify's batches into the one inbox
        std::thread::Builder::new()
            .name("disco-watch-fs".into())
            .spawn(move || {
                for b in brx {
                    if fs_tx.send(Msg::Fs(b)).is_err() {
                        break;
                    }
                }
            })
            .map_err(WatchError::Thread)?;
        let collector = Collector::new(options.debounce, options.poll, btx)?;
        let path = normalise(&options.project);
        let deps = Deps {
            project_dir: path.parent().map(PathBuf::from).unwrap_or_default(),
            files: [path.clone()].into(),
            dirs: Default::default(),
        };
        Ok(Loop {
            options,
            path,
            seams,
            sink,
            shared,
            tx,
            collector,
            deps,
            invalid: false,
            window: Window::new(options.debounce),
            reloading: None,
            generation: 0,
            pending: Vec::new(),
            ready: false,
        })
    }

    fn run(&mut self, rx: &Receiver<Msg>) -> Result<(), WatchError> {
        self.collector.watch(self.deps.watch_dirs())?;
        self.start_reload(Vec::new());
        loop {
            let now = Instant::now();
            let wait = [
                self.window.remaining(now),
                self.reloading
                    .as_ref()
                    .map(|(_, t, _)| (*t + RELOAD_TIMEOUT).saturating_duration_since(now)),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(Duration::from_secs(3600));
            match rx.recv_timeout(wait) {
                Ok(Msg::Interrupt) => return Ok(()),
                Ok(Msg::Fs(Ok(paths))) => {
                    let invalid = self.invalid;
                    let accepted = paths.into_iter().filter(|p| self.deps.matters(p, invalid));
                    self.window.push(Instant::now(), accepted);
                }
                Ok(Msg::Fs(Err(errors))) => self.failed(errors.to_string()),
                Ok(Msg::Reloaded(g, result)) => {
                    if self.reloading.as_ref().is_some_and(|r| r.0 == g) {
                        let (_, started, changed) = self.reloading.take().expect("in flight");
                        self.reloaded(*result, changed, started);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
            if let Some((_, started, _)) = &self.reloading
                && started.elapsed() >= RELOAD_TIMEOUT
            {
                self.reloading = None;
                self.failed(format!(
                    "loading the project took longer than {} s and was abandoned; the last good plan goes on",
                    RELOAD_TIMEOUT.as_secs()
                ));
            }
            if let Some(paths) = self.window.take_due(Instant::now()) {
                self.pending.extend(paths);
            }
            if self.reloading.is_none() && !self.pending.is_empty() {
                let changed = std::mem::take(&mut self.pending);
                self.start_reload(changed);
            }
        }
    }

    /// Watches the directories of the current dependencies. After the start a failure
    /// (a directory removed meanwhile, the inotify limit) is reported, never fatal.
    fn rewatch(&mut self) {
        if let Err(e) = self.collector.watch(self.deps.watch_dirs()) {
            self.failed(format!("cannot watch a directory: {e}"));
        }
    }

    fn failed(&self, error: String) {
        emit(
            &self.sink,
            WatchOutput::Watch(WatchEvent::WatchFailed { error }),
        );
    }

    /// Loads and plans on a thread of its own; the result comes back as a message.
    fn start_reload(&mut self, changed: Vec<PathBuf>) {
        self.generation += 1;
        let g = self.generation;
        let (tx, path, scope, seams) = (
            self.tx.clone(),
            self.path.clone(),
            self.options.scope.clone(),
            self.seams.clone(),
        );
        self.reloading = Some((g, Instant::now(), changed));
        let spawned = std::thread::Builder::new()
            .name("disco-reload".into())
            .spawn(move || {
                let r = reload(&path, &scope, seams.as_ref());
                let _ = tx.send(Msg::Reloaded(g, Box::new(r)));
            });
        if let Err(e) = spawned {
            self.reloading = None;
            self.failed(format!("cannot start a reload: {e}"));
        }
    }

    fn reloaded(
        &mut self,
        result: Result<Loaded, Invalid>,
        changed: Vec<PathBuf>,
        started: Instant,
    ) {
        let changed: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
        match result {
            Err(invalid) => {
                self.invalid = true;
                self.deps
                    .files
                    .extend(invalid.files.iter().map(|p| normalise(p)));
                self.rewatch();
                emit(
                    &self.sink,
                    WatchOutput::Invalid {
                        changed,
                        diagnostics: invalid.diagnostics,
                    },
                );
            }
            Ok(loaded) => {
                self.invalid = false;
                self.deps = loaded.deps.clone();
                self.rewatch();
                self.apply(loaded, changed, started);
            }
        }
        if !self.ready {
            self.ready = true;
            let dirs = self
                .deps
                .watch_dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            let poll = self.options.poll;
            emit(
                &self.sink,
                WatchOutput::Watch(WatchEvent::WatchReady { dirs, poll }),
            );
        }
    }

    /// Decides the new plan against the render thread's work, and hands it over.
    fn apply(&self, loaded: Loaded, changed: Vec<String>, started: Instant) {
        let plan = &loaded.plan;
        let mut s = self.shared.lock();
        let busy = Busy {
            running: s.running.as_ref().map(|r| r.key),
            queued: s.queue.iter().copied().collect(),
        };
        let actions = decide(&loaded.wanted, &busy);
        let queued = actions
            .queue
            .iter()
            .map(|&j| {
                let reason = loaded.reasons[j].clone().unwrap_or_default();
                Queued {
                    job: plan.job_label(j),
                    reason,
                }
            })
            .collect();
        emit(
            &self.sink,
            WatchOutput::Watch(WatchEvent::WatchReload {
                changed,
                jobs: plan.jobs.len(),
                stale: loaded.wanted.iter().filter(|w| w.stale).count(),
                keep: s
                    .running
                    .as_ref()
                    .filter(|_| actions.keep_running.is_some())
                    .map(|r| r.job.clone()),
                queued,
                newly_stale: actions.newly_stale,
                seconds: started.elapsed().as_secs_f64(),
            }),
        );
        if let (Some(_), Some(r)) = (actions.cancel_running, &s.running) {
            r.cancel.store(true, Ordering::Release);
            emit(
                &self.sink,
                WatchOutput::Watch(WatchEvent::WatchCancel {
                    job: r.job.clone(),
                    key: r.key.to_string(),
                }),
            );
        }
        s.queue = actions
            .queue
            .iter()
            .map(|&j| loaded.wanted[j].key)
            .collect();
        s.plan = Some(loaded.plan.clone());
        s.refresh = true;
        self.shared.wake.notify_all();
    }
}
