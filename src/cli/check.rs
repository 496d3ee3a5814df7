//! `disco check`: load and validate, print diagnostics and a summary.

use std::path::Path;

use disco::project::{self, Project, TargetKind};

use super::report::{plural, print_all};
use super::{EXIT_INVALID, EXIT_OK};

/// Runs `disco check` on `path`.
pub fn run(path: &Path) -> i32 {
    let result = project::load(path);
    let mut diagnostics = result.diagnostics;
    if let Some(p) = &result.project {
        // what the model set must have for these settings: the build would fail on it
        for d in disco::build::needs::model_set_problems(p, &[]) {
            diagnostics.push(d);
        }
        // the images the build reads: missing, special or undecodable files fail every job
        for d in disco::build::input_files::input_file_problems(p, &[]) {
            diagnostics.push(d);
        }
        for d in disco::build::source_frames::video_file_problems(p, &[]) {
            diagnostics.push(d);
        }
    }
    print_all(&diagnostics);
    match result.project {
        Some(p) if !diagnostics.has_errors() => {
            println!("ok: {} is valid: {}", path.display(), summary(&p));
            for note in disco::build::diffusion::model_default_notes(&p) {
                println!("note: {note}");
            }
            EXIT_OK
        }
        _ => EXIT_INVALID,
    }
}

/// One line describing the targets.
pub fn summary(p: &Project) -> String {
    let parts: Vec<String> = p
        .targets
        .iter()
        .map(|t| {
            let what = |s: &disco::project::Settings| {
                use project::types::AnimationMode;
                if s.animation_mode.value == AnimationMode::None {
                    let n = s.n_batches.value as usize;
                    format!("{n} image{}", plural(n))
                } else if s.animation_mode.value == AnimationMode::VideoInput {
                    let video = s.video_init_path.value.written.as_deref().unwrap_or("");
                    format!("frames of {video}")
                } else {
                    let n = s.max_frames.value as usize;
                    format!("{n} frame{}", plural(n))
                }
            };
            match (&t.kind, &t.sweep) {
                (TargetKind::Sweep, Some(sw)) => {
                    format!(
                        "sweep \"{}\" ({} cells × {})",
                        t.name.value,
                        sw.cells.len(),
                        what(&t.settings)
                    )
                }
                (TargetKind::Animation, _) | (TargetKind::Implicit, _) if t.is_animation() => {
                    format!("animation \"{}\" ({})", t.name.value, what(&t.settings))
                }
                _ => format!("stills \"{}\" ({})", t.name.value, what(&t.settings)),
            }
        })
        .collect();
    format!(
        "{} target{}: {}",
        parts.len(),
        plural(parts.len()),
        parts.join(", ")
    )
}
