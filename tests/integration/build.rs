//! `disco build` end to end on the tiny model set: what re-renders (counted from
//! `--message-format json`), the lock, damaged model files, and SIGKILL at random moments.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::models::tiny_set;
use crate::support::{disco, text, tree};

/// A project on the tiny set: 64×64, 3 guided steps per image, checkpoints every step.
fn project(models: &Path) -> String {
    format!(
        r#"
model-set "{}"
width-height 64 64
steps 8
skip-steps 5
seed 11
cutn-batches 1
clip-models "ViT-B/32" "RN50"
text-prompts {{
    frame 0 "a red circle on a blue background"
    frame 2 "a yellow star"
}}
intermediate-saves 1
animation "film" {{
    max-frames 4
    frames-skip-steps "60%"
    zoom "0: (1.05)"
    angle "0: (2)"
}}
stills "still" {{
    n-batches 2
}}
"#,
        models.display()
    )
}

fn tiny_dir() -> Option<PathBuf> {
    tiny_set().map(|s| s.dir)
}

/// Runs `disco build --message-format json` in `dir`; returns (exit code, events).
fn build(dir: &Path, extra: &[&str]) -> (i32, Vec<Value>, String) {
    let mut args = vec![
        "build",
        "--message-format",
        "json",
        "--checkpoint-every",
        "1",
    ];
    args.extend_from_slice(extra);
    let out = disco(dir, &args);
    let (stdout, stderr) = text(&out);
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (out.status.code().unwrap_or(-1), events, stderr)
}

fn rendered(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "job-finished")
        .map(|e| e["job"].as_str().unwrap().to_owned())
        .collect()
}

fn finished(events: &[Value]) -> &Value {
    events
        .last()
        .filter(|e| e["event"] == "finished")
        .expect("a finished event")
}

#[test]
fn edits_rerender_exactly_the_jobs_they_change() {
    let Some(models) = tiny_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    std::fs::write(&kdl, project(&models)).unwrap();

    let (code, events, stderr) = build(dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(finished(&events)["rendered"], 6);
    for f in 0..4 {
        assert!(
            dir.path()
                .join(format!("images_out/film/film(0)_{f:04}.png"))
                .is_file()
        );
    }
    assert!(dir.path().join("images_out/still/still(0)_1.png").is_file());
    assert!(
        dir.path()
            .join("images_out/film/film(0)_settings.txt")
            .is_file()
    );
    assert!(dir.path().join("images_out/film/progress.png").is_file());
    assert!(dir.path().join("images_out/film/partials").is_dir());

    // nothing changed: nothing renders, and quickly
    let (code, events, _) = build(dir.path(), &[]);
    assert_eq!(code, 0);
    assert_eq!(finished(&events)["rendered"], 0);
    assert_eq!(finished(&events)["reused"], 6);

    // the prompt keyframe at frame 2: frames 2 and 3 only
    let text0 = std::fs::read_to_string(&kdl).unwrap();
    std::fs::write(&kdl, text0.replace("a yellow star", "a green square")).unwrap();
    let (_, events, _) = build(dir.path(), &[]);
    assert_eq!(rendered(&events), ["film frame 2", "film frame 3"]);

    // a setting that cannot change pixels: nothing
    let text1 = std::fs::read_to_string(&kdl).unwrap();
    std::fs::write(&kdl, text1.replace("seed 11", "seed 11\ndisplay-rate 3")).unwrap();
    let (_, events, _) = build(dir.path(), &[]);
    assert!(rendered(&events).is_empty());

    // `disco plan` names what changed
    let text2 = std::fs::read_to_string(&kdl).unwrap();
    std::fs::write(
        &kdl,
        text2.replace("angle \"0: (2)\"", "angle \"0: (2), 3: (5)\""),
    )
    .unwrap();
    let (stdout, _) = text(&disco(dir.path(), &["plan"]));
    assert!(stdout.contains("film frame 1: angle 2.0 → 3.0"), "{stdout}");
    assert!(stdout.contains("3 to render, 3 up to date"), "{stdout}");
}

#[test]
fn a_sweep_cell_edit_rerenders_that_cell_only() {
    let Some(models) = tiny_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    let text0 = format!(
        "model-set \"{}\"\nwidth-height 64 64\nsteps 6\nskip-steps 4\nseed 2\ncutn-batches 1\nclip-models \"RN50\"\ntext-prompts \"a red circle\"\nsweep \"grid\" {{\n    n-batches 1\n    axis \"clip-guidance-scale\" 5000 6000\n}}\n",
        models.display()
    );
    std::fs::write(&kdl, &text0).unwrap();
    let (code, events, stderr) = build(dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rendered(&events).len(), 2);
    std::fs::write(&kdl, text0.replace("5000 6000", "5000 7000")).unwrap();
    let (_, events, _) = build(dir.path(), &[]);
    assert_eq!(
        rendered(&events),
        ["grid[clip-guidance-scale=7000] image 0"]
    );
}

#[test]
fn a_second_concurrent_build_fails_fast_naming_the_holder() {
    let Some(models) = tiny_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("disco.kdl"), project(&models)).unwrap();
    let store = disco::store::Store::new(dir.path());
    let _held = store.lock("pid 4242 (disco build, the first one)").unwrap();
    let started = std::time::Instant::now();
    let out = disco(dir.path(), &["build"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another build holds") && stderr.contains("pid 4242"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "it waited");
    assert!(!dir.path().join("images_out").exists(), "it rendered");
}

#[test]
fn a_modified_or_truncated_model_file_is_named_before_rendering() {
    let Some(models) = tiny_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("models");
    crate::support::copy_dir(&models, &set);
    std::fs::write(dir.path().join("disco.kdl"), project(&set)).unwrap();
    // the stat cache has seen the good file; then it is truncated
    let (code, _, stderr) = build(dir.path(), &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    let graph = set.join("unet_fwd.onnx");
    let bytes = std::fs::read(&graph).unwrap();
    std::fs::write(&graph, &bytes[..bytes.len() / 2]).unwrap();
    let (code, events, stderr) = build(dir.path(), &[]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("unet_fwd.onnx") && stderr.contains("does not match"),
        "{stderr}"
    );
    assert!(events.iter().all(|e| e["event"] != "job-started"));
    // same size, one byte changed
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 1;
    std::fs::write(&graph, &flipped).unwrap();
    let (code, _, stderr) = build(dir.path(), &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("unet_fwd.onnx"), "{stderr}");
}

/// Every cached image matches the hash in its record. A kill between a temporary's write
/// and its rename may leave the temporary (no atomic-rename scheme can avoid that): with
/// `strays_allowed` false, none may be left (the rebuild clears them).
fn assert_objects_sound(dir: &Path, strays_allowed: bool) {
    let store = disco::store::Store::new(dir);
    let objects = dir.join(".disco/objects");
    if !objects.is_dir() {
        return;
    }
    for (path, bytes) in tree(&objects) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            strays_allowed || !name.starts_with(".disco-tmp-"),
            "stray temporary {}",
            path.display()
        );
        if let Some(k) = name.strip_suffix(".json") {
            let key: disco::plan::Key = k.parse().unwrap();
            let r = store.record(&key).expect("a readable record");
            let png = store.image(&key).expect("its image");
            assert_eq!(blake3::hash(&png).to_hex().as_str(), r.image.blake3);
            let _ = bytes;
        }
    }
}

/// The images a build made (previews left out: they show whatever rendered last; so is
/// the report: it shows render times and the project's folder name).
fn images(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    tree(&dir.join("images_out"))
        .into_iter()
        .filter(|(p, _)| !p.ends_with("progress.png") && !p.ends_with("report.html"))
        .collect()
}

#[test]
fn sigkill_at_random_moments_then_rebuild_gives_the_same_bytes() {
    let Some(models) = tiny_dir() else { return };
    let reference = tempfile::tempdir().unwrap();
    std::fs::write(reference.path().join("disco.kdl"), project(&models)).unwrap();
    let (code, _, stderr) = build(reference.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let want = images(reference.path());

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("disco.kdl"), project(&models)).unwrap();
    // a fixed sequence of moments (xorshift), spread over a whole build
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut resumed = 0;
    for round in 0..12 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let after = Duration::from_millis(300 + state % 2500);
        let mut child = Command::new(env!("CARGO_BIN_EXE_disco"))
            .args([
                "build",
                "--message-format",
                "json",
                "--checkpoint-every",
                "1",
            ])
            .current_dir(dir.path())
            .env_remove("ORT_DYLIB_PATH")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(after);
        child.kill().unwrap(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        resumed +=
            stdout.matches("\"resumed_at\":").count() - stdout.matches("\"resumed_at\":0").count();
        eprintln!("round {round}: killed after {after:?}");
        assert_objects_sound(dir.path(), true);
    }
    let (code, events, stderr) = build(dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_objects_sound(dir.path(), false);
    // a kill between a temporary's write and its rename leaves it; the rebuild clears it
    let store_files = tree(&dir.path().join(".disco"));
    for (p, _) in tree(&dir.path().join("images_out"))
        .iter()
        .chain(&store_files)
    {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.starts_with(".disco-tmp-"), "stray {}", p.display());
    }
    let got = images(dir.path());
    assert_eq!(
        got.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        want.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    for ((p, a), (_, b)) in got.iter().zip(&want) {
        assert!(
            a == b,
            "{} differs from the uninterrupted build",
            p.display()
        );
    }
    eprintln!(
        "{resumed} job(s) resumed from a checkpoint; the final build rendered {}",
        finished(&events)["rendered"]
    );
}

/// progrock's tone correction fires where prd.py's arithmetic says (s = 2 and 3 of 12 steps)
/// and the build says so, as an event and on screen.
#[test]
fn a_tone_correction_is_reported_when_it_fires() {
    let Some(models) = tiny_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let kdl = format!(
        "model-set \"{}\"\nwidth-height 64 64\nsteps 12\nskip-steps 0\nseed 3\ncutn-batches 1\nclip-models \"RN50\"\ntext-prompts \"a red circle\"\nn-batches 1\nfix-brightness-contrast #true\nadjustment-interval 1\nlow-brightness-threshold 255\ninit-scale 100\n",
        models.display()
    );
    std::fs::write(tmp.path().join("disco.kdl"), &kdl).unwrap();
    let (code, events, stderr) = build(tmp.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let fired: Vec<(u64, &str)> = events
        .iter()
        .filter(|e| e["event"] == "tone-corrected")
        .map(|e| (e["j"].as_u64().unwrap(), e["fix"].as_str().unwrap()))
        .collect();
    assert_eq!(fired, [(0, "low brightness"), (1, "low brightness")]);
    // on screen: a rebuild renders nothing, so change the seed and read the human output
    std::fs::write(
        tmp.path().join("disco.kdl"),
        kdl.replace("seed 3", "seed 4"),
    )
    .unwrap();
    let out = disco(tmp.path(), &["build"]);
    let (stdout, stderr) = text(&out);
    assert!(
        format!("{stdout}{stderr}").contains("low brightness corrected after step 1"),
        "{stdout}\n{stderr}"
    );
}
