//! `disco import` on real settings files from public repositories (tests/fixtures/dd-settings/,
//! sources in its SOURCES file): every file imports into a valid project that keeps the file's
//! values, and nothing that changes the picture is lost unless the file uses a Video Input
//! fork's own flow keys (which disco cannot render yet).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use disco::import::{self, Imported};
use disco::project;
use serde_json::Value;

use crate::support::root;

/// Which loud keys make a file a Video Input run of a fork (the issue exempts Video Input
/// files; disco renders DD's own Video Input settings, not these forks' flow keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    VideoInput,
    Other,
}

fn cause(key: &str) -> Cause {
    // Video Input's own settings (`video_init_*`, `extract_nth_frame`) import; these are forks'
    const VIDEO: &[&str] = &[
        "force_flow_generation",
        "blend",
        "init_frame",
        "last_frame",
        "flow_blend",
        "blend_ramp",
    ];
    if VIDEO.contains(&key) {
        Cause::VideoInput
    } else {
        Cause::Other
    }
}

/// The corpus: (file name, path), every file named in SOURCES and every SOURCES line a file.
fn corpus() -> Vec<(String, std::path::PathBuf)> {
    let dir = root().join("tests/fixtures/dd-settings");
    let sources = std::fs::read_to_string(dir.join("SOURCES")).expect("SOURCES");
    let listed: BTreeSet<String> = sources
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 4, "file, repository, path, commit: {l}");
            assert!(
                cols[3].len() == 40 && cols[3].chars().all(|c| c.is_ascii_hexdigit()),
                "{l}"
            );
            cols[0].to_owned()
        })
        .collect();
    let mut files = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        // folders hold what a file's import reads beside it (prompt_salad/'s word lists)
        if name != "SOURCES" && !e.file_type().unwrap().is_dir() {
            assert!(listed.contains(&name), "{name} is not in SOURCES");
            files.push((name.clone(), dir.join(&name)));
        }
    }
    assert_eq!(files.len(), listed.len(), "SOURCES names a missing file");
    files.sort();
    files
}

/// The file's settings as the importer read them (for comparing values).
fn file_values(path: &Path) -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    );
    let stripped: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let v: Value = if yaml {
        serde_norway::from_str(&text).unwrap()
    } else {
        serde_json::from_str(&stripped).unwrap()
    };
    v.as_object().cloned().unwrap_or_default()
}

/// Every plain number and switch imported as written is the loaded project's value.
fn check_values(name: &str, path: &Path, out: &Imported) -> usize {
    let loaded = project::load_str(Path::new("disco.kdl"), &out.kdl);
    let p = loaded
        .project
        .unwrap_or_else(|| panic!("{name}: not a valid project:\n{}", out.kdl));
    let resolved = p.targets[0].settings.to_dd_json();
    let file = file_values(path);
    let mut compared = 0;
    for (dd, _) in &out.imported {
        let (Some(want), Some(have)) = (file.get(dd), resolved.get(dd)) else {
            continue;
        };
        let same = match (want, have) {
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            (Value::Bool(a), Value::Bool(b)) => a == b,
            _ => continue,
        };
        assert!(same, "{name}: {dd} imported as {have}, the file has {want}");
        compared += 1;
    }
    compared
}

#[test]
fn real_settings_files_import_without_losing_the_picture() {
    let files = corpus();
    assert!(files.len() >= 15, "only {} files", files.len());
    let mut tally: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut compared = 0;
    let mut failures = Vec::new();
    for (name, path) in &files {
        let out = import::import_file(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        compared += check_values(name, path, &out);
        let loud: Vec<&str> = out.lossy().map(|s| s.key.as_str()).collect();
        let causes: BTreeSet<Cause> = loud.iter().map(|k| cause(k)).collect();
        let class = if loud.is_empty() {
            "clean"
        } else if causes.contains(&Cause::VideoInput) {
            // a Video Input run of a fork (its flow keys, and what else acts on its frames)
            "Video Input (a fork's flow keys)"
        } else {
            failures.push(format!(
                "{name} loses what changes the picture: {loud:?}\n{}",
                out.kdl
            ));
            "loses the picture"
        };
        tally.entry(class).or_default().push(name.clone());
    }
    println!(
        "{} settings files imported; {compared} values compared",
        files.len()
    );
    for (class, names) in &tally {
        println!("  {class}: {} — {}", names.len(), names.join(", "));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A DD 3D run's file imports with its camera and turbo kept: a 3D animation whose keyed
/// motion is the file's, and nothing loud.
#[test]
fn a_3d_settings_file_imports_with_its_motion() {
    let path = root().join("tests/fixtures/dd-settings/rodrigo-settings-3d.json");
    let out = import::import_file(&path).unwrap();
    let loud: Vec<&str> = out.lossy().map(|s| s.key.as_str()).collect();
    assert!(loud.is_empty(), "{loud:?}\n{}", out.kdl);
    let p = project::load_str(Path::new("disco.kdl"), &out.kdl)
        .project
        .expect("a valid project");
    let s = &p.targets[0].settings;
    assert_eq!(
        s.animation_mode.value,
        project::types::AnimationMode::ThreeD
    );
    assert_eq!(s.translation_z.value.keys, vec![(0, 0.0)]);
    assert!(s.turbo_mode.value);
    assert_eq!(s.turbo_steps.value, 2);
    assert_eq!(s.turbo_preroll.value, 10);
    assert_eq!(s.midas_weight.value, 0.3);
    assert_eq!(s.max_frames.value, 60);
    for dd in [
        "translation_z",
        "rotation_3d_y",
        "fov",
        "padding_mode",
        "vr_mode",
    ] {
        assert!(
            out.imported.iter().any(|(k, _)| k == dd),
            "{dd} not imported"
        );
    }
}

/// A DD Video Input settings file keeps its mode and every Video Input value, loses nothing
/// that changes the picture, and loads as a valid Video Input project.
#[test]
fn a_video_input_settings_file_keeps_its_video_settings() {
    let path = root().join("tests/fixtures/dd-settings/rodrigo-settings-video-init.json");
    let out = import::import_file(&path).unwrap();
    let loud: Vec<&str> = out.lossy().map(|s| s.key.as_str()).collect();
    assert!(loud.is_empty(), "loud keys: {loud:?}\n{}", out.kdl);
    let loaded = project::load_str(Path::new("disco.kdl"), &out.kdl);
    let p = loaded.project.unwrap_or_else(|| panic!("{}", out.kdl));
    let s = &p.targets[0].settings;
    let file = file_values(&path);
    assert_eq!(
        s.animation_mode.value,
        project::types::AnimationMode::VideoInput
    );
    for dd in [
        "video_init_path",
        "video_init_steps",
        "video_init_skip_steps",
        "extract_nth_frame",
        "video_init_flow_blend",
        "video_init_flow_warp",
        "video_init_seed_continuity",
        "video_init_check_consistency",
        "video_init_blend_mode",
        "video_init_cutn_batches",
        "video_init_sat_scale",
    ] {
        let setting = project::schema::by_dd_name(dd).expect(dd).name;
        assert!(
            s.origin(setting).is_some(),
            "{dd} not written:\n{}",
            out.kdl
        );
        assert!(
            same_value(&s.get_json(setting).unwrap(), &file[dd]),
            "{dd}: {:?} vs {:?}",
            s.get_json(setting),
            file[dd]
        );
    }
    // the file's own values, not DD's defaults
    assert_eq!(s.video_init_skip_steps.value, 20);
    assert_eq!(s.extract_nth_frame.value, 1);
}

/// Numbers by value, anything else as JSON.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The same DD 3D file builds on the toy set (its depth graphs): the imported project,
/// included as it was written, with only the model set, size, steps and CLIP models set
/// after it for the toy world; its 3D motion, depth mix and turbo come from the file.
#[test]
fn a_3d_settings_file_builds_on_the_toy_set() {
    let path = root().join("tests/fixtures/dd-settings/rodrigo-settings-3d.json");
    let out = import::import_file(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("imported.kdl"), &out.kdl).unwrap();
    let project = format!(
        "include \"imported.kdl\"\nmodel-set \"{}\"\nwidth-height 64 64\nsteps 10\nskip-steps 0\n\
         seed 3\nvit-b16 #false\nrn50x4 #false\nrn50 #true\n",
        root().join("models/toy").display()
    );
    std::fs::write(dir.path().join("disco.kdl"), project).unwrap();
    let built = crate::support::disco(dir.path(), &["build", "--frames", "0..3"]);
    let (stdout, stderr) = crate::support::text(&built);
    assert!(built.status.success(), "{stdout}{stderr}");
    let frames = dir.path().join("images_out/2022-08-28");
    let f: Vec<Vec<u8>> = (0..3)
        .map(|i| std::fs::read(frames.join(format!("2022-08-28(0)_{i:04}.png"))).unwrap())
        .collect();
    assert!(f[0] != f[1] && f[1] != f[2], "3D frames differ");
}
