//! `disco gc` and adopting images end to end on the tiny model set (issue "Trust",
//! class 1): naming a target never removes another's images, gc has no build-only flags,
//! and a deleted store is refilled from images_out/ without rendering.

use std::path::Path;

use crate::models::tiny_set;
use crate::support::{disco, text};

fn project(models: &Path) -> String {
    format!(
        r#"
model-set "{}"
width-height 64 64
steps 4
skip-steps 2
seed 3
cutn-batches 1
clip-models "RN50"
text-prompts "a red circle"
stills "a" {{
    n-batches 2
}}
stills "b" {{
    n-batches 1
    seed 9
}}
"#,
        models.display()
    )
}

fn records(dir: &Path) -> usize {
    let mut n = 0;
    for fan in std::fs::read_dir(dir.join(".disco/objects"))
        .into_iter()
        .flatten()
    {
        for f in std::fs::read_dir(fan.unwrap().path()).unwrap() {
            n += usize::from(f.unwrap().path().extension().is_some_and(|e| e == "json"));
        }
    }
    n
}

fn events(dir: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = disco(dir, args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn count(events: &[serde_json::Value], kind: &str) -> usize {
    events.iter().filter(|e| e["event"] == kind).count()
}

#[test]
fn gc_of_one_target_keeps_the_others_and_a_deleted_store_is_adopted() {
    let Some(set) = tiny_set() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("disco.kdl"), project(&set.dir)).unwrap();
    let built = events(dir.path(), &["build", "--message-format", "json"]);
    assert_eq!(count(&built, "job-finished"), 3);
    assert_eq!(records(dir.path()), 3);

    // naming a target removes nothing another target references
    let out = disco(dir.path(), &["gc", "b", "--dry-run"]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("would remove 0 cached images"), "{stdout}");
    let out = disco(dir.path(), &["gc", "b"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(records(dir.path()), 3, "{}", text(&out).0);
    // build-only flags are gone
    for args in [&["gc", "--frames", "0..1"][..], &["gc", "--device", "cpu"]] {
        assert_eq!(disco(dir.path(), args).status.code(), Some(2), "{args:?}");
    }

    // the store deleted: images_out/ and disco.lock hold everything needed
    std::fs::remove_dir_all(dir.path().join(".disco")).unwrap();
    let plan = disco(dir.path(), &["plan"]);
    let (stdout, _) = text(&plan);
    assert_eq!(stdout.matches("to adopt from").count(), 3, "{stdout}");
    let rebuilt = events(dir.path(), &["build", "--message-format", "json"]);
    assert_eq!(count(&rebuilt, "job-finished"), 0, "nothing rendered");
    assert_eq!(count(&rebuilt, "adopted"), 3);
    assert_eq!(records(dir.path()), 3);
    let again = events(dir.path(), &["build", "--message-format", "json"]);
    assert_eq!(count(&again, "job-finished") + count(&again, "adopted"), 0);
}
