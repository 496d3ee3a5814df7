//! Drawing a build's events: indicatif bars on a terminal (an overall bar and one for the
//! frame rendering), plain lines elsewhere, JSON lines for `--message-format json`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use disco::build::{BuildEvent, BuildSink};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `--message-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    /// Progress bars on a terminal, plain lines otherwise.
    Human,
    /// One JSON object per event on stdout, like `cargo --message-format json`.
    Json,
}

/// JSON lines on stdout.
pub struct JsonSink;

impl JsonSink {
    /// Writes one value as a JSON line.
    pub fn write(v: &impl serde::Serialize) {
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, v);
        let _ = writeln!(out);
        let _ = out.flush();
    }
}

impl BuildSink for JsonSink {
    fn event(&mut self, e: &BuildEvent) {
        JsonSink::write(e);
    }
}

/// Bars or lines for people, on stderr.
pub struct HumanSink {
    bars: Option<Bars>,
    stale: usize,
    done: usize,
}

struct Bars {
    multi: MultiProgress,
    /// Drawn from the first plan on: before, there is nothing to count.
    overall: Option<ProgressBar>,
    job: Option<ProgressBar>,
}

/// How often the bars redraw on their own, so the clocks move between steps.
const TICK: Duration = Duration::from_millis(250);

/// The overall bar: fixed width, well inside 80 columns.
const OVERALL: &str = "{prefix:>10.bold} [{bar:30}] {pos}/{len} jobs, {elapsed}";
/// The job bar: the job's label and loss take what the terminal has left (`wide_msg`
/// truncates), so the line never wraps, whatever the label's length.
const JOB: &str = "{prefix:>10.cyan} [{bar:20}] step {pos}/{len}, eta {eta} {wide_msg}";

impl HumanSink {
    /// Bars when stderr is a terminal.
    pub fn new() -> HumanSink {
        let target = std::io::stderr()
            .is_terminal()
            .then(ProgressDrawTarget::stderr);
        HumanSink::with_target(target)
    }

    /// Bars drawn on `target` (lines on stderr when `None`).
    pub fn with_target(target: Option<ProgressDrawTarget>) -> HumanSink {
        let bars = target.map(|target| Bars {
            multi: MultiProgress::with_draw_target(target),
            overall: None,
            job: None,
        });
        HumanSink {
            bars,
            stale: 0,
            done: 0,
        }
    }

    /// Prints a line above the bars.
    pub fn line(&self, s: String) {
        match &self.bars {
            Some(b) => b.multi.suspend(|| eprintln!("{s}")),
            None => eprintln!("{s}"),
        }
    }

    /// Starts counting `total` jobs from zero, the clock from now (a build's plan, or each
    /// plan `disco watch` makes).
    pub fn begin(&mut self, total: usize) {
        self.stale = total;
        self.done = 0;
        if let Some(b) = &mut self.bars {
            if let Some(old) = b.overall.take() {
                old.finish_and_clear();
                b.multi.remove(&old);
            }
            // above the job's bar
            let overall = b.multi.insert(0, ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template(OVERALL)
                    .expect("template")
                    .progress_chars("=> "),
            );
            overall.set_prefix("building");
            // the clock moves between jobs too
            overall.enable_steady_tick(TICK);
            b.overall = Some(overall);
        }
    }

    /// Takes the running job's bar off the screen (it finished, failed or was cancelled).
    pub fn clear_job(&mut self) {
        if let Some(b) = &mut self.bars
            && let Some(bar) = b.job.take()
        {
            bar.finish_and_clear();
        }
    }

    /// Takes every bar off the screen (nothing is running).
    pub fn idle(&mut self) {
        self.clear_job();
        if let Some(b) = &mut self.bars
            && let Some(overall) = b.overall.take()
        {
            overall.finish_and_clear();
            b.multi.remove(&overall);
        }
    }

    /// Whether a job's bar is on screen.
    #[cfg(test)]
    pub fn showing_job(&self) -> bool {
        self.bars
            .as_ref()
            .and_then(|b| b.job.as_ref())
            .is_some_and(|bar| !bar.is_finished())
    }

    /// A job's bar from `resumed_at` of `steps`, replacing the last job's; a line without bars.
    fn job_started(&mut self, job: &str, steps: usize, resumed_at: usize) {
        let resumed = if resumed_at > 0 {
            format!(", resuming at step {resumed_at}")
        } else {
            String::new()
        };
        match &mut self.bars {
            Some(b) => {
                if let Some(old) = b.job.take() {
                    old.finish_and_clear();
                }
                let bar = b.multi.add(ProgressBar::new(steps as u64));
                bar.set_style(
                    ProgressStyle::with_template(JOB)
                        .expect("template")
                        .progress_chars("=> "),
                );
                bar.set_prefix("rendering");
                bar.set_position(resumed_at as u64);
                bar.set_message(job.to_owned());
                bar.enable_steady_tick(TICK);
                b.job = Some(bar);
            }
            None => eprintln!("rendering {job} ({steps} steps{resumed})"),
        }
    }

    /// Moves the job's bar to step `j` of `total`; without bars, a line every tenth step.
    fn step(&self, job: &str, j: usize, total: usize, loss: f64) {
        match &self.bars {
            Some(b) => {
                if let Some(bar) = &b.job {
                    bar.set_position(j as u64 + 1);
                    bar.set_message(format!("{job}, loss {loss:.4}"));
                }
            }
            None => {
                if (j + 1).is_multiple_of(10) || j + 1 == total {
                    eprintln!("  {job}: step {}/{total}, loss {loss:.4}", j + 1);
                }
            }
        }
    }

    fn job_done(&mut self) {
        self.done += 1;
        self.clear_job();
        if let Some(overall) = self.bars.as_ref().and_then(|b| b.overall.as_ref()) {
            overall.set_position(self.done as u64);
        }
    }
}

impl BuildSink for HumanSink {
    fn event(&mut self, e: &BuildEvent) {
        match e {
            BuildEvent::Planned { jobs, stale, fresh } => {
                self.begin(*stale);
                let s = if *jobs == 1 { "" } else { "s" };
                self.line(format!("{jobs} job{s}: {stale} to render, {fresh} up to date"));
            }
            BuildEvent::SeedDrawn { target, seed } => self.line(format!(
                "{target}: seed \"random\" drew {seed} (recorded in .disco/seeds.json; write `seed {seed}` to pin it)"
            )),
            BuildEvent::Stale { .. } => {}
            BuildEvent::JobStarted {
                job,
                steps,
                resumed_at,
                ..
            } => self.job_started(job, *steps, *resumed_at),
            BuildEvent::Step {
                job, j, total, loss, ..
            } => self.step(job, *j, *total, *loss),
            BuildEvent::ToneCorrected { job, j, fix } => self.line(format!(
                "   {job}: {fix} corrected after step {}, the sampler restarts from it",
                j + 1
            )),
            BuildEvent::JobFinished {
                job,
                output,
                seconds,
                ..
            } => {
                self.job_done();
                self.line(format!("   rendered {job} in {seconds:.1} s → {output}"));
            }
            BuildEvent::Materialized { job, output } => {
                self.line(format!("   restored {job} from the cache → {output}"))
            }
            BuildEvent::Adopted { job, output } => self.line(format!(
                "    adopted {job} from {output} (its bytes are the image disco.lock records)"
            )),
            BuildEvent::JobFailed { job, error } => {
                self.job_done();
                self.line(format!("error: {job} failed: {error}"));
            }
            BuildEvent::JobSkipped { job, reason } => {
                self.job_done();
                self.line(format!("skipped {job}: {reason}"));
            }
            BuildEvent::EyeRendered {
                view,
                output,
                seconds,
                ..
            } => self.line(format!("   rendered {view} in {seconds:.1} s → {output}")),
            BuildEvent::EyeFailed { view, error } => {
                self.line(format!("error: {view} failed: {error}"))
            }
            BuildEvent::VideoEncoded {
                output,
                frames,
                seconds,
                ..
            } => self.line(format!("    encoded {frames} frames in {seconds:.1} s → {output}")),
            BuildEvent::FramesBlended {
                mode,
                folder,
                frames,
                seconds,
                ..
            } => self.line(format!(
                "    blended {frames} frames ({mode}) in {seconds:.1} s → {folder}"
            )),
            BuildEvent::ContactSheet { output, tiles, .. } => {
                self.line(format!("      sheet of {tiles} cells → {output}"))
            }
            BuildEvent::Report { output, images } => {
                self.line(format!("     report of {images} images → {output}"))
            }
            BuildEvent::VideoFailed { target, error } => {
                self.line(format!("error: the video of {target} failed: {error}"))
            }
            BuildEvent::Finished {
                rendered,
                reused,
                failed,
                seconds,
            } => {
                self.idle();
                let failed = if *failed > 0 {
                    format!(", {failed} failed")
                } else {
                    String::new()
                };
                eprintln!("rendered {rendered}, reused {reused}{failed} in {seconds:.2} s");
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use disco::build::{BuildEvent, BuildSink};
    use indicatif::{ProgressDrawTarget, TermLike};

    use super::HumanSink;

    /// A terminal `width` columns wide that records every line drawn on it.
    #[derive(Debug, Clone)]
    pub struct Screen {
        width: u16,
        lines: Arc<Mutex<Vec<String>>>,
    }

    impl Screen {
        pub fn new(width: u16) -> Screen {
            Screen {
                width,
                lines: Arc::default(),
            }
        }

        /// A sink drawing bars on this screen.
        pub fn sink(&self) -> HumanSink {
            let target = ProgressDrawTarget::term_like_with_hz(Box::new(self.clone()), 100);
            HumanSink::with_target(Some(target))
        }

        /// Every line drawn so far, escapes removed.
        pub fn lines(&self) -> Vec<String> {
            self.lines
                .lock()
                .unwrap()
                .iter()
                .flat_map(|s| s.split('\n').map(strip_escapes).collect::<Vec<_>>())
                .filter(|l| !l.trim().is_empty())
                .collect()
        }
    }

    fn strip_escapes(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // CSI: ESC [ … final byte in @..~
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) && c != '[' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            self.width
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.lines.lock().unwrap().push(s.to_owned());
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.lines.lock().unwrap().push(s.to_owned());
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Issue "Trust", class 8: progress lines wrapped at 80 and 120 columns.
    #[test]
    fn progress_lines_fit_80_and_120_columns() {
        let label = "grid[clip-guidance-scale=5000,seed=123456789,\
                     text-prompts=\"a lighthouse at dusk, trending on artstation\"] image 0";
        for width in [80u16, 120] {
            let screen = Screen::new(width);
            let mut sink = screen.sink();
            sink.event(&BuildEvent::Planned {
                jobs: 1000,
                stale: 1000,
                fresh: 0,
            });
            sink.event(&BuildEvent::JobStarted {
                job: label.into(),
                key: "k".into(),
                steps: 1000,
                resumed_at: 0,
            });
            sink.event(&BuildEvent::Step {
                job: label.into(),
                j: 499,
                total: 1000,
                loss: 12345.678,
            });
            std::thread::sleep(Duration::from_millis(400));
            let lines = screen.lines();
            assert!(lines.iter().any(|l| l.contains("rendering")), "{lines:#?}");
            for l in &lines {
                assert!(l.chars().count() <= width as usize, "{width}: {l:?}");
            }
        }
    }

    /// Issue "Trust", class 8: the overall clock stood still between jobs.
    #[test]
    fn the_overall_clock_moves_while_a_job_renders() {
        let screen = Screen::new(100);
        let mut sink = screen.sink();
        sink.event(&BuildEvent::Planned {
            jobs: 2,
            stale: 2,
            fresh: 0,
        });
        sink.event(&BuildEvent::JobStarted {
            job: "still image 0".into(),
            key: "k".into(),
            steps: 10,
            resumed_at: 0,
        });
        std::thread::sleep(Duration::from_millis(1300));
        let lines = screen.lines();
        assert!(
            lines.iter().any(|l| l.contains("0/2 jobs, 1s")),
            "{lines:#?}"
        );
    }
}
