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
    let mut ok = true;

    match runtime::discover(ort_lib) {
        Err(e) => {
            ok = false;
            println!("ONNX Runtime: NOT FOUND: {e}\n  help: {}", e.help());
        }
        Ok(found) => match runtime::init(Some(&found.path)) {
            Err(e) => {
                ok = false;
                println!(
                    "ONNX Runtime: {} (via {}) could not be loaded: {e}",
                    found.path.display(),
                    found.via
                );
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
            }
        },
    }

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
    if sets.is_empty() {
        println!("model sets: none given; pass a project or --model-set DIR");
    }
    for (dir, why) in sets {
        match Manifest::read(&dir) {
            Err(e) => {
                ok = false;
                println!(
                    "{why}: {e}\n  help: export one with `python -m disco_export` (see docs/models.md)"
                );
            }
            Ok(m) => {
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
                    for (name, check) in manifest::verify(&dir, &m) {
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
            }
        }
    }
    if ok { EXIT_OK } else { EXIT_FAILURE }
}
