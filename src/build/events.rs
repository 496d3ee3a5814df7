//! What a build reports, as values (STYLE.md rule 22): the library emits, the CLI draws
//! (bars on a terminal, plain lines elsewhere, JSON lines for `--message-format json`).

use serde::Serialize;

/// One thing that happened in a build.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum BuildEvent {
    /// The plan is made: how many jobs, how many must render.
    Planned {
        /// Jobs in the selected targets.
        jobs: usize,
        /// Jobs that will render.
        stale: usize,
        /// Jobs whose image is cached.
        fresh: usize,
    },
    /// A random seed was drawn for a target and recorded.
    SeedDrawn {
        /// `target` or `target[cell]`.
        target: String,
        /// The seed.
        seed: u64,
    },
    /// A job must render, and why (also emitted for `--dry-run`).
    Stale {
        /// `target image 3`.
        job: String,
        /// The job's key.
        key: String,
        /// Machine tag of the reason.
        reason: String,
        /// The reason for people.
        detail: String,
        /// A skipped 3D turbo frame: warps blended, no sampler (left out when false).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        turbo_skip: bool,
    },
    /// A job started rendering.
    JobStarted {
        /// `target image 3`.
        job: String,
        /// The job's key.
        key: String,
        /// Sampler iterations it will run.
        steps: usize,
        /// Iteration it resumes from (0 from scratch).
        resumed_at: usize,
    },
    /// A sampler step finished.
    Step {
        /// `target image 3`.
        job: String,
        /// 0-based iteration.
        j: usize,
        /// Iterations in the job.
        total: usize,
        /// Total guidance loss of the step.
        loss: f64,
    },
    /// progrock's tone correction fired after a step and the sampler restarted from it.
    ToneCorrected {
        /// `target image 3`.
        job: String,
        /// 0-based iteration after which it fired.
        j: usize,
        /// Which rule fired (`low brightness`, …).
        fix: &'static str,
    },
    /// A job's image is rendered and stored.
    JobFinished {
        /// `target image 3`.
        job: String,
        /// The job's key.
        key: String,
        /// Output file, relative to the project directory.
        output: String,
        /// Render time.
        seconds: f64,
    },
    /// A cached image was (re)materialised into its output file.
    Materialized {
        /// `target image 3`.
        job: String,
        /// Output file.
        output: String,
    },
    /// A job's output file held the image `disco.lock` records for its key, and was
    /// stored as its object instead of rendering it again.
    Adopted {
        /// `target image 3`.
        job: String,
        /// Output file.
        output: String,
    },
    /// A job failed; it is not cached and the build goes on.
    JobFailed {
        /// `target image 3`.
        job: String,
        /// Why.
        error: String,
    },
    /// A job was skipped because the frame it starts from failed.
    JobSkipped {
        /// `target frame 4`.
        job: String,
        /// Why.
        reason: String,
    },
    /// A VR eye view was rendered, stored and put in place.
    EyeRendered {
        /// `target frame 3 left eye`.
        view: String,
        /// The view's key.
        key: String,
        /// Output file, relative to the project directory.
        output: String,
        /// Render time (depth and warp).
        seconds: f64,
    },
    /// A VR eye view failed; it is not cached and the build goes on.
    EyeFailed {
        /// `target frame 3 left eye`.
        view: String,
        /// Why.
        error: String,
    },
    /// An animation's video was encoded.
    VideoEncoded {
        /// The target.
        target: String,
        /// The mp4, relative to the project directory.
        output: String,
        /// Frames in it.
        frames: usize,
        /// Encoding time.
        seconds: f64,
    },
    /// A Video Input target's blended frames (`video-init-blend-mode`) were made, those
    /// whose rendered frames or flow changed.
    FramesBlended {
        /// The target.
        target: String,
        /// "linear" or "optical flow".
        mode: String,
        /// Their folder, relative to the project directory.
        folder: String,
        /// Frames made.
        frames: usize,
        /// Time taken (flows included).
        seconds: f64,
    },
    /// An animation's video (or a Video Input target's blended frames) could not be made
    /// (its rendered frames are fine).
    VideoFailed {
        /// The target.
        target: String,
        /// Why.
        error: String,
    },
    /// A sweep's contact sheet was redrawn, because a tile changed.
    ContactSheet {
        /// The sweep.
        target: String,
        /// The PNG, relative to the project directory.
        output: String,
        /// Its tiles (cells).
        tiles: usize,
    },
    /// The project's report (`images_out/report.html`) was rewritten.
    Report {
        /// The HTML file, relative to the project directory.
        output: String,
        /// Images it shows.
        images: usize,
    },
    /// The build ended.
    Finished {
        /// Jobs rendered.
        rendered: usize,
        /// Jobs served from the cache.
        reused: usize,
        /// Jobs that failed or were skipped.
        failed: usize,
        /// Wall time.
        seconds: f64,
    },
}

impl From<crate::report::Written> for BuildEvent {
    fn from(w: crate::report::Written) -> BuildEvent {
        use crate::report::Written;
        match w {
            Written::Sheet {
                sweep,
                output,
                tiles,
            } => BuildEvent::ContactSheet {
                target: sweep,
                output: output.display().to_string(),
                tiles,
            },
            Written::Report { output, images } => BuildEvent::Report {
                output: output.display().to_string(),
                images,
            },
        }
    }
}

/// Receives a build's events.
pub trait BuildSink {
    /// One event.
    fn event(&mut self, e: &BuildEvent);
}

impl<F: FnMut(&BuildEvent)> BuildSink for F {
    fn event(&mut self, e: &BuildEvent) {
        self(e)
    }
}
