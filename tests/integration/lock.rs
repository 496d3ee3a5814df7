//! `disco.lock`, `disco status --check` and `disco verify` on the tiny model set: the lock a
//! build writes, a fresh clone verified against it, damaged hashes named, PSNR tolerance.

use std::path::Path;

use crate::models::tiny_set;
use crate::support::{disco, text, tree};

/// Stills and a short animation (a chain, so verify must render earlier frames first).
fn project(models: &Path) -> String {
    format!(
        r#"
model-set "{}"
width-height 64 64
steps 6
skip-steps 4
seed 5
cutn-batches 1
clip-models "RN50"
text-prompts "a red circle"
stills "still" {{
    n-batches 2
}}
animation "film" {{
    max-frames 3
    seed "random"
    frames-skip-steps "50%"
    zoom "0: (1.05)"
}}
"#,
        models.display()
    )
}

/// Runs disco; (exit code, stdout, stderr).
fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = disco(dir, args);
    let (o, e) = text(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

/// The lock's line for `job N` of target `target` (by its first line `target "NAME"`).
fn lock_line(lock: &str, target: &str, job: u32) -> String {
    let start = lock
        .find(&format!("target {target} "))
        .or_else(|| lock.find(&format!("target \"{target}\" ")))
        .unwrap_or_else(|| panic!("no target {target} in\n{lock}"));
    lock[start..]
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("job {job} ")))
        .unwrap()
        .to_owned()
}

/// The value of `name="…"` on a lock line.
fn prop(line: &str, name: &str) -> String {
    let at = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    line[at..at + 64].to_owned()
}

#[test]
fn a_fresh_clone_verifies_against_its_lock_and_a_flipped_hash_is_named() {
    let Some(set) = tiny_set() else { return };
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let kdl = work.join("disco.kdl");
    std::fs::write(&kdl, project(&set.dir)).unwrap();

    let (code, _, stderr) = run(&work, &["build"]);
    assert_eq!(code, 0, "{stderr}");
    let lock = std::fs::read_to_string(work.join("disco.lock")).unwrap();
    // every job: its key and the blake3 of the image it made
    for (t, n) in [("still", 2), ("film", 3)] {
        for i in 0..n {
            let line = lock_line(&lock, t, i);
            let image = if t == "film" {
                format!("images_out/film/film(0)_{i:04}.png")
            } else {
                format!("images_out/still/still(0)_{i}.png")
            };
            let bytes = std::fs::read(work.join(image)).unwrap();
            assert_eq!(
                prop(&line, "blake3"),
                blake3::hash(&bytes).to_hex().as_str()
            );
            assert!(line.contains(&format!("tool=\"{}\"", env!("CARGO_PKG_VERSION"))));
        }
    }
    let (code, stdout, _) = run(&work, &["status", "--check"]);
    assert_eq!(code, 0, "{stdout}");

    // A fresh clone: the project and its lock, no cache and no images. The random seed
    // comes from the lock, so the keys agree.
    let clone = dir.path().join("clone");
    std::fs::create_dir(&clone).unwrap();
    std::fs::copy(&kdl, clone.join("disco.kdl")).unwrap();
    std::fs::copy(work.join("disco.lock"), clone.join("disco.lock")).unwrap();
    let (code, stdout, _) = run(&clone, &["status", "--check"]);
    assert_eq!(code, 0, "the lock agrees with the project: {stdout}");
    let before = tree(&clone);
    let (code, stdout, stderr) = run(&clone, &["verify", "--all"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("ok: 5 of 5 jobs match"), "{stdout}");
    assert_eq!(tree(&clone), before, "verify wrote into the project");

    // a sample: the same seed picks the same jobs
    let (code, a, _) = run(&clone, &["verify", "--sample", "2", "--seed", "9"]);
    assert_eq!(code, 0, "{a}");
    let (_, b, _) = run(&clone, &["verify", "--sample", "2", "--seed", "9"]);
    let oks = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with("ok "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(oks(&a).len(), 2, "{a}");
    assert_eq!(oks(&a), oks(&b));

    // one byte of frame 2's recorded hash flipped: verify fails and names that job
    let line = lock_line(&lock, "film", 2);
    let hash = prop(&line, "blake3");
    let flipped = format!(
        "{}{}",
        if hash.starts_with('0') { '1' } else { '0' },
        &hash[1..]
    );
    std::fs::write(clone.join("disco.lock"), lock.replace(&hash, &flipped)).unwrap();
    let (code, stdout, _) = run(&clone, &["verify", "--all"]);
    assert_eq!(code, 1, "{stdout}");
    let bad: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("MISMATCH"))
        .collect();
    assert_eq!(bad.len(), 1, "{stdout}");
    assert!(
        bad[0].contains("film frame 2") && bad[0].contains(&flipped) && bad[0].contains(&hash),
        "both hashes named: {}",
        bad[0]
    );

    // a damaged lock is an error at its line and column
    std::fs::write(clone.join("disco.lock"), lock.replace(&hash, "xyz")).unwrap();
    let (code, _, stderr) = run(&clone, &["status", "--check"]);
    assert_eq!(code, 2, "{stderr}");
    let line_no = lock.lines().position(|l| l.contains(&hash)).unwrap() + 1;
    assert!(
        stderr.contains(&format!("disco.lock:{line_no}:")),
        "{stderr}"
    );
}

#[test]
fn status_check_fails_after_an_edit_and_passes_after_a_build() {
    let Some(set) = tiny_set() else { return };
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    let text0 = project(&set.dir);
    std::fs::write(&kdl, &text0).unwrap();
    let (code, stdout, _) = run(dir.path(), &["status", "--check"]);
    assert_eq!(code, 1, "nothing built yet: {stdout}");
    assert!(stdout.contains("disco.lock: missing"), "{stdout}");
    let (code, _, stderr) = run(dir.path(), &["build"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = run(dir.path(), &["status", "--check"]);
    assert_eq!(code, 0, "{stdout}");
    // without --check the same report, exit 0
    std::fs::write(
        &kdl,
        text0.replace("n-batches 2", "n-batches 2\n    seed 6"),
    )
    .unwrap();
    let (code, stdout, _) = run(dir.path(), &["status"]);
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout, _) = run(dir.path(), &["status", "--check"]);
    assert_eq!(code, 1, "{stdout}");
    // the reason from the cache and the lock's, for each still; the film is untouched
    // image 0 now has image 1's old inputs (seed 6): cached, only its file is wrong
    assert!(stdout.contains("still image 1: seed 6 → 7"), "{stdout}");
    assert!(
        stdout.contains("still image 0: disco.lock is out of date: seed 5 → 6"),
        "{stdout}"
    );
    assert!(!stdout.contains("film"), "{stdout}");
    let (code, _, stderr) = run(dir.path(), &["build"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = run(dir.path(), &["status", "--check"]);
    assert_eq!(code, 0, "{stdout}");
    // a target removed from the project leaves the lock at the next build
    std::fs::write(&kdl, text0.split("animation \"film\"").next().unwrap()).unwrap();
    let (code, stdout, _) = run(dir.path(), &["status", "--check"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("film job 2: in disco.lock, no longer in the project"),
        "{stdout}"
    );
    run(dir.path(), &["build"]);
    let lock = std::fs::read_to_string(dir.path().join("disco.lock")).unwrap();
    assert!(!lock.contains("film"), "{lock}");
}

#[test]
fn a_psnr_tolerance_accepts_a_close_image_that_exact_refuses() {
    let Some(set) = tiny_set() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("disco.kdl"), project(&set.dir)).unwrap();
    let (code, _, stderr) = run(dir.path(), &["build", "still"]);
    assert_eq!(code, 0, "{stderr}");
    // Stand in for a GPU render: the output file becomes a slightly different picture
    // (every sample +2, clamped) and the lock records it.
    let out = dir.path().join("images_out/still/still(0)_0.png");
    let img = disco::build::png::decode(&std::fs::read(&out).unwrap()).unwrap();
    let bytes = disco::build::png::encode(&img.mapv(|v| v.saturating_add(2)), &[]).unwrap();
    std::fs::remove_file(&out).unwrap();
    std::fs::write(&out, &bytes).unwrap();
    let lock_path = dir.path().join("disco.lock");
    let lock = std::fs::read_to_string(&lock_path).unwrap();
    let old = prop(&lock_line(&lock, "still", 0), "blake3");
    std::fs::write(
        &lock_path,
        lock.replace(&old, blake3::hash(&bytes).to_hex().as_str()),
    )
    .unwrap();

    let (code, stdout, _) = run(dir.path(), &["verify", "still"]);
    assert_eq!(code, 1, "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("MISMATCH")).unwrap();
    let db: f64 = line
        .split("PSNR ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a PSNR in {line}"));
    // samples off by 2 (a few by less, at 255): about 42 dB
    assert!((40.0..50.0).contains(&db), "{line}");
    let (code, stdout, _) = run(dir.path(), &["verify", "still", "--tolerance", "psnr:35"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("within tolerance"), "{stdout}");
    let (code, _, _) = run(dir.path(), &["verify", "still", "--tolerance", "psnr:60"]);
    assert_eq!(code, 1);
    let (code, _, stderr) = run(dir.path(), &["verify", "--tolerance", "psnr"]);
    assert_eq!(code, 2, "{stderr}");
}
