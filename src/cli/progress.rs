//! Drawing a build's events: indicatif bars on a terminal (an overall bar and one for the
//! frame rendering), plain lines elsewhere, JSON lines for `--message-format json`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use disco::build::{Event, Sink};
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

impl Sink for JsonSink {
    fn event(&mut self, e: &Event) {
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
    overall: ProgressBar,
    job: Option<ProgressBar>,
}

impl HumanSink {
    /// Bars when stderr is a terminal.
    pub fn new() -> HumanSink {
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(0));
            overall.set_style(
                ProgressStyle::with_template(
                    "{prefix:>10.bold} [{bar:30}] {pos}/{len} jobs, {elapsed}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            overall.set_prefix("building");
            Bars {
                multi,
                overall,
                job: None,
            }
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
}

impl Sink for HumanSink {
    fn event(&mut self, e: &Event) {
        match e {
            Event::Planned { jobs, stale, fresh } => {
                self.stale = *stale;
                if let Some(b) = &self.bars {
                    b.overall.set_length(*stale as u64);
                }
                let s = if *jobs == 1 { "" } else { "s" };
                self.line(format!("{jobs} job{s}: {stale} to render, {fresh} up to date"));
            }
            Event::SeedDrawn { target, seed } => self.line(format!(
                "{target}: seed \"random\" drew {seed} (recorded in .disco/seeds.json; write `seed {seed}` to pin it)"
            )),
            Event::Stale { .. } => {}
            Event::JobStarted {
                job,
                steps,
                resumed_at,
                ..
            } => {
                let resumed = if *resumed_at > 0 {
                    format!(", resuming at step {resumed_at}")
                } else {
                    String::new()
                };
                match &mut self.bars {
                    Some(b) => {
                        let bar = b.multi.add(ProgressBar::new(*steps as u64));
                        bar.set_style(
                            ProgressStyle::with_template(
                                "{prefix:>10.cyan} [{bar:30}] step {pos}/{len} {msg} (eta {eta})",
                            )
                            .expect("template")
                            .progress_chars("=> "),
                        );
                        bar.set_prefix("rendering");
                        bar.set_position(*resumed_at as u64);
                        bar.set_message(job.clone());
                        bar.enable_steady_tick(Duration::from_millis(250));
                        b.job = Some(bar);
                    }
                    None => eprintln!("rendering {job} ({steps} steps{resumed})"),
                }
            }
            Event::Step {
                job, j, total, loss, ..
            } => match &self.bars {
                Some(b) => {
                    if let Some(bar) = &b.job {
                        bar.set_position(*j as u64 + 1);
                        bar.set_message(format!("{job}, loss {loss:.4}"));
                    }
                }
                None => {
                    if (j + 1) % 10 == 0 || j + 1 == *total {
                        eprintln!("  {job}: step {}/{total}, loss {loss:.4}", j + 1);
                    }
                }
            },
            Event::JobFinished {
                job,
                output,
                seconds,
                ..
            } => {
                self.done += 1;
                if let Some(b) = &mut self.bars {
                    if let Some(bar) = b.job.take() {
                        bar.finish_and_clear();
                    }
                    b.overall.set_position(self.done as u64);
                }
                self.line(format!("   rendered {job} in {seconds:.1} s → {output}"));
            }
            Event::Materialized { job, output } => {
                self.line(format!("   restored {job} from the cache → {output}"))
            }
            Event::Adopted { job, output } => self.line(format!(
                "    adopted {job} from {output} (its bytes are the image disco.lock records)"
            )),
            Event::JobFailed { job, error } => {
                self.done += 1;
                if let Some(b) = &mut self.bars
                    && let Some(bar) = b.job.take()
                {
                    bar.finish_and_clear();
                }
                self.line(format!("error: {job} failed: {error}"));
            }
            Event::JobSkipped { job, reason } => {
                self.done += 1;
                self.line(format!("skipped {job}: {reason}"));
            }
            Event::VideoEncoded {
                output,
                frames,
                seconds,
                ..
            } => self.line(format!("    encoded {frames} frames in {seconds:.1} s → {output}")),
            Event::ContactSheet { output, tiles, .. } => {
                self.line(format!("      sheet of {tiles} cells → {output}"))
            }
            Event::Report { output, images } => {
                self.line(format!("     report of {images} images → {output}"))
            }
            Event::VideoFailed { target, error } => {
                self.line(format!("error: the video of {target} failed: {error}"))
            }
            Event::Finished {
                rendered,
                reused,
                failed,
                seconds,
            } => {
                if let Some(b) = &self.bars {
                    b.overall.finish_and_clear();
                }
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
