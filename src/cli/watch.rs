//! `disco watch`: flags in, the watch loop run, its events drawn, exit code out.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use disco::project::Diagnostics;
use disco::watch::{self, OrtSeams, Scope, Watch, WatchEvent, WatchOptions, WatchOutput};

use super::build::Selection;
use super::progress::{HumanSink, JsonSink, MessageFormat};
use super::report::{print_all, render};
use super::{EXIT_FAILURE, EXIT_INTERRUPTED};

/// `disco watch`'s own flags.
#[derive(Debug, clap::Args)]
pub struct WatchFlags {
    /// Saves within this many milliseconds of the first give one reload (editors write a
    /// file in several steps).
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub debounce: u64,
    /// Poll the file system instead of relying on kernel notifications (network file
    /// systems, some containers).
    #[arg(long)]
    pub poll: bool,
    /// Save the sampler state every N steps (a cancelled frame always saves one), so an
    /// interrupted frame resumes there (0: only when cancelled).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub checkpoint_every: usize,
    /// Threads per ONNX Runtime operator (default: ONNX Runtime's choice).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Runs `disco watch` until Ctrl-C (exit 130), or exits 1 if watching cannot start.
pub fn run_watch(sel: &Selection, flags: &WatchFlags) -> i32 {
    let (project, only) = sel.split();
    let project = if project.is_absolute() {
        project
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| Path::new("/").to_path_buf())
            .join(project)
    };
    let options = WatchOptions {
        project,
        scope: Scope {
            only,
            frame_limit: sel.frames.map(|r| r.1),
        },
        debounce: Duration::from_millis(flags.debounce),
        poll: flags.poll,
        checkpoint_every: flags.checkpoint_every,
        holder: format!("pid {} (disco watch)", std::process::id()),
    };
    let seams = Arc::new(OrtSeams {
        device: sel.device,
        ort_lib: sel.ort_lib.clone(),
        threads: flags.threads,
    });
    let sink: Box<dyn watch::WatchSink> = match sel.message_format {
        MessageFormat::Json => Box::new(WatchJson),
        MessageFormat::Human => Box::new(WatchHuman(HumanSink::new())),
    };
    let w = Watch::new();
    let interrupt = w.interrupter();
    // Ctrl-C: the running frame stops after its step and saves a checkpoint
    let _ = ctrlc::set_handler(interrupt);
    match w.run(&options, seams, sink) {
        Ok(()) => EXIT_INTERRUPTED,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILURE
        }
    }
}

/// JSON lines on stdout; diagnostics are also drawn on stderr.
struct WatchJson;

impl watch::WatchSink for WatchJson {
    fn event(&mut self, e: &WatchOutput) {
        match e {
            WatchOutput::Build(b) => disco::build::BuildSink::event(&mut JsonSink, b),
            WatchOutput::Watch(w) => JsonSink::write(w),
            WatchOutput::Invalid {
                changed,
                diagnostics,
            } => {
                print_all(&Diagnostics(diagnostics.clone()));
                let diagnostics: Vec<_> = diagnostics
                    .iter()
                    .map(|d| {
                        serde_json::json!({
                            "message": d.message,
                            "location": d.location(),
                            "error": d.is_error(),
                            "rendered": render(d),
                        })
                    })
                    .collect();
                JsonSink::write(&serde_json::json!({
                    "event": "watch-error",
                    "changed": changed,
                    "diagnostics": diagnostics,
                }));
            }
        }
    }
}

/// Bars and lines for people, on stderr.
struct WatchHuman(HumanSink);

impl watch::WatchSink for WatchHuman {
    fn event(&mut self, e: &WatchOutput) {
        match e {
            WatchOutput::Build(b) => disco::build::BuildSink::event(&mut self.0, b),
            WatchOutput::Invalid { diagnostics, .. } => {
                print_all(&Diagnostics(diagnostics.clone()));
                self.0
                    .line("the last good plan goes on; waiting for the next save".into());
            }
            WatchOutput::Watch(w) => {
                // the bars follow the watcher: each plan restarts the count and the clock,
                // a cancelled job's bar goes, and nothing stays drawn while idle
                match w {
                    WatchEvent::WatchReload { stale, .. } => self.0.begin(*stale),
                    WatchEvent::WatchCancel { .. } => self.0.clear_job(),
                    WatchEvent::WatchIdle { .. } | WatchEvent::WatchStopped {} => self.0.idle(),
                    _ => {}
                }
                if let Some(s) = describe(w) {
                    self.0.line(s);
                }
            }
        }
    }
}

/// A watch event as one line for people: what renders, what waits and why.
fn describe(w: &WatchEvent) -> Option<String> {
    Some(match w {
        WatchEvent::WatchReady { dirs, poll } => format!(
            "watching {} director{}{} — Ctrl-C to stop",
            dirs.len(),
            if dirs.len() == 1 { "y" } else { "ies" },
            if *poll { " (polling)" } else { "" }
        ),
        WatchEvent::WatchReload {
            changed,
            jobs,
            stale,
            keep,
            queued,
            ..
        } => {
            let what = if changed.is_empty() {
                "planned".to_owned()
            } else {
                let names: Vec<_> = changed
                    .iter()
                    .map(|c| {
                        Path::new(c)
                            .file_name()
                            .map_or(c.clone(), |n| n.to_string_lossy().into_owned())
                    })
                    .collect();
                format!("{} changed", names.join(", "))
            };
            let mut s = format!("{what}: {jobs} jobs, {stale} to render");
            if let Some(k) = keep {
                s += &format!("; still rendering {k}");
            }
            for q in queued.iter().take(5) {
                s += &format!("\n  queued {}: {}", q.job, q.reason);
            }
            if queued.len() > 5 {
                s += &format!("\n  … and {} more", queued.len() - 5);
            }
            s
        }
        WatchEvent::WatchCancel { job, .. } => {
            format!("cancelled {job}: the edit changed its inputs (its checkpoint is kept)")
        }
        WatchEvent::WatchIdle { rendered, failed } => {
            let failed = if *failed > 0 {
                format!(", {failed} failed")
            } else {
                String::new()
            };
            format!("up to date (rendered {rendered}{failed}); waiting for a save")
        }
        WatchEvent::WatchFailed { error } => format!("error: {error}"),
        WatchEvent::WatchStopped {} => {
            "stopped: the frame in progress saved a checkpoint; `disco build` or `disco watch` resumes it".into()
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use disco::build;
    use disco::watch::{WatchEvent, WatchOutput, WatchSink};

    use super::WatchHuman;
    use crate::cli::progress::tests::Screen;

    fn reload(stale: usize) -> WatchOutput {
        WatchOutput::Watch(WatchEvent::WatchReload {
            changed: vec!["disco.kdl".into()],
            jobs: 10,
            stale,
            keep: None,
            queued: Vec::new(),
            newly_stale: stale,
            seconds: 0.0,
        })
    }

    fn started(job: &str) -> WatchOutput {
        WatchOutput::Build(build::BuildEvent::JobStarted {
            job: job.into(),
            key: "k".into(),
            steps: 10,
            resumed_at: 0,
        })
    }

    /// Issue "Trust", class 8: watch's counter read `7/0 jobs`.
    #[test]
    fn the_counter_counts_the_plans_stale_jobs() {
        let screen = Screen::new(100);
        let mut w = WatchHuman(screen.sink());
        w.event(&reload(3));
        w.event(&started("film frame 0"));
        w.event(&WatchOutput::Build(build::BuildEvent::JobFinished {
            job: "film frame 0".into(),
            key: "k".into(),
            output: "images_out/film/film(0)_0000.png".into(),
            seconds: 1.0,
        }));
        std::thread::sleep(Duration::from_millis(400));
        let lines = screen.lines();
        assert!(lines.iter().any(|l| l.contains("1/3 jobs")), "{lines:#?}");
        assert!(!lines.iter().any(|l| l.contains("/0 jobs")), "{lines:#?}");
        // the next plan counts afresh
        w.event(&reload(2));
        std::thread::sleep(Duration::from_millis(400));
        assert!(screen.lines().iter().any(|l| l.contains("0/2 jobs")));
    }

    /// Issue "Trust", class 8: a cancelled job's bar stayed on screen.
    #[test]
    fn a_cancelled_jobs_bar_goes() {
        let screen = Screen::new(100);
        let mut w = WatchHuman(screen.sink());
        w.event(&reload(3));
        w.event(&started("film frame 4"));
        assert!(w.0.showing_job());
        w.event(&WatchOutput::Watch(WatchEvent::WatchCancel {
            job: "film frame 4".into(),
            key: "k".into(),
        }));
        assert!(!w.0.showing_job());
    }
}
