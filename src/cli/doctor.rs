//! `disco doctor`: is everything a build needs present?

use std::path::{Path, PathBuf};

use disco::project;
use disco::render::manifest::{self, GraphCheck, Manifest};
use disco::render::runtime;
use disco::video;

use super::report::print_all;
use super::{EXIT_FAILURE, EXIT_OK};

/// Runs `disco doctor`.
pub fn run(
    project_arg: Option<PathBuf>,
    ort_lib: Option<&Path>,
    verify: bool,
    model_set: Option<PathBuf>,
) -> i32 {
    println!("disco {}", env!("CARGO_PKG_VERSION"));
    let mut ok = runtime_report(ort_lib);
    video_report();
    let (sets, project_ok) = model_sets(project_arg, model_set);
    ok &= project_ok;
    if sets.is_empty() {
        println!("model sets: none given; pass a project or --model-set DIR");
    }
    for (dir, why) in sets {
        ok &= model_set_report(&dir, &why, verify);
    }
    if ok { EXIT_OK } else { EXIT_FAILURE }
}

/// Prints where ONNX Runtime was found, its version and execution providers; false if it
/// cannot be found or loaded.
fn runtime_report(ort_lib: Option<&Path>) -> bool {
    match runtime::discover(ort_lib) {
        Err(e) => {
            println!("ONNX Runtime: NOT FOUND: {e}\n  help: {}", e.help());
            false
        }
        Ok(found) => match runtime::init(Some(&found.path)) {
            Err(e) => {
                println!(
                    "ONNX Runtime: {} (via {}) could not be loaded: {e}",
                    found.path.display(),
                    found.via
                );
                false
            }
            Ok(_) => {
                let info = runtime::info();
                let version = runtime::library_version(&found.path)
                    .unwrap_or_else(|e| format!("unknown ({e})"));
                println!(
                    "ONNX Runtime {version}: {} (via {})",
                    found.path.display(),
                    found.via
                );
                println!("  {}", info.build.lines().next().unwrap_or_default());
                for (name, available) in info.providers {
                    println!(
                        "  execution provider {name}: {}",
                        if available {
                            "available"
                        } else {
                            "not in this build"
                        }
                    );
                }
                true
            }
        },
    }
}

/// Prints what the video helper's FFmpeg can encode.
fn video_report() {
    // Only animations need video, so a missing encoder is reported but does not fail doctor.
    // FFmpeg lives in the `disco-video` helper (src/bin/disco-video.rs).
    match video::external::probe() {
        Ok(p) => match p.encoder {
            Some(name) => println!("FFmpeg (libavcodec {}): H.264 encoder {name}", p.libavcodec),
            None => println!(
                "FFmpeg (libavcodec {}): NO H.264 encoder; animations cannot be made into video\n  help: {}",
                p.libavcodec,
                video::INSTALL_HELP
            ),
        },
        Err(e) => println!(
            "FFmpeg: cannot ask the disco-video helper: {e}\n  help: {}",
            video::INSTALL_HELP
        ),
    }
}

/// The model sets to check, each with the words that introduce it: `--model-set`, then those
/// of the project's targets (the project named, or `disco.kdl` here if there is one). False
/// if the project's settings need what no model set can give (printed).
fn model_sets(
    project_arg: Option<PathBuf>,
    model_set: Option<PathBuf>,
) -> (Vec<(PathBuf, String)>, bool) {
    let mut ok = true;
    let project_file = match project_arg {
        Some(p) if p.is_dir() => Some(p.join("disco.kdl")),
        Some(p) => Some(p),
        None => Some(PathBuf::from("disco.kdl")).filter(|p| p.exists()),
    };
    let mut sets: Vec<(PathBuf, String)> = Vec::new();
    if let Some(dir) = model_set {
        sets.push((dir, "model set".to_owned()));
    }
    if let Some(pf) = &project_file {
        match project::load(pf).project {
            Some(p) => {
                let needs = disco::build::needs::model_set_problems(&p, &[]);
                if !needs.is_empty() {
                    ok = false;
                    print_all(&project::Diagnostics(needs));
                }
                let dir = pf.parent().unwrap_or(Path::new("")).to_path_buf();
                for t in &p.targets {
                    let ms = &t.settings.model_set.value;
                    let path = ms
                        .resolved
                        .clone()
                        .unwrap_or_else(|| dir.join(ms.written.clone().unwrap_or_default()));
                    if !sets.iter().any(|(s, _)| *s == path) {
                        sets.push((path, format!("model set of {}", pf.display())));
                    }
                }
            }
            None => println!("project {}: invalid (run `disco check`)", pf.display()),
        }
    }
    (sets, ok)
}

/// Prints one model set's manifest summary, its graphs' role problems and, with `verify`,
/// each graph's hash check; false if any of them fails.
fn model_set_report(dir: &Path, why: &str, verify: bool) -> bool {
    let m = match Manifest::read(dir) {
        Err(e) => {
            println!(
                "{why}: {e}\n  help: export one with `python -m disco_export` (see docs/models.md)"
            );
            return false;
        }
        Ok(m) => m,
    };
    let mut ok = true;
    println!(
        "{why}: {} ({} graphs, CLIP models: {}{})",
        dir.display(),
        m.graphs.len(),
        m.clip.keys().cloned().collect::<Vec<_>>().join(", "),
        if m.tiny {
            "; tiny random-weight test set"
        } else {
            ""
        }
    );
    for (graph, role, problem) in m.role_problems() {
        ok = false;
        println!("  graph `{graph}` cannot be the {role} graph: it {problem}");
    }
    if verify {
        for (name, check) in manifest::verify(dir, &m) {
            match check {
                GraphCheck::Ok => println!("  {name}: ok"),
                GraphCheck::Missing => {
                    ok = false;
                    println!("  {name}: MISSING");
                }
                GraphCheck::Changed { actual } => {
                    ok = false;
                    println!("  {name}: CHANGED (blake3 {actual})");
                }
            }
        }
    }
    ok
}
