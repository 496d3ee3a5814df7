//! `disco build --shard I/N` and `disco plan --shards N`: N workers that each render their
//! share, then a plain build that assembles, give what one plain build gives. The engine's
//! seams are faked as in `engine.rs` (a renderer painting from the key, facts without files).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use disco::build::{self, BuildError, BuildEvent, BuildOptions};
use disco::plan::ShardSpec;
use disco::store::Store;

use crate::engine::{FakeFacts, FakeRenderer};
use crate::models::tiny_set;
use crate::support::{copy_dir, disco, text, tree};

/// A film (one chain of 6 frames), 3 stills and a sweep of 2 cells × 1 image: 6 units.
/// (The cells' guidance differs from the stills' 5000, so that no two jobs share a key.)
pub(crate) const PROJECT: &str = r#"
model-set "models"
width-height 64 64
steps 10
skip-steps 2
seed 5
text-prompts {
    frame 0 "a red circle"
    frame 3 "a blue square"
}
animation "film" {
    max-frames 6
}
stills "still" {
    n-batches 3
}
sweep "grid" {
    axis "clip-guidance-scale" 6000 9000
    n-batches 1
}
"#;

pub(crate) fn project(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("disco.kdl"), text).unwrap();
    dir
}

/// Plans and builds `dir` with the fakes as shard `shard` (or a plain build); returns the
/// jobs rendered, or the build's error.
fn build(dir: &Path, shard: Option<ShardSpec>) -> Result<Vec<String>, BuildError> {
    let project = disco::project::load(&dir.join("disco.kdl"))
        .project
        .unwrap();
    let store = Store::new(dir);
    let mut facts = FakeFacts {
        model_hash: "m1".into(),
    };
    let plan = build::make_plan(&project, &[], None, &store, &mut facts)?;
    let mut rendered = Vec::new();
    let mut sink = |e: &BuildEvent| match e {
        BuildEvent::JobFinished { job, .. } => rendered.push(job.clone()),
        BuildEvent::JobFailed { job, error } => panic!("{job} failed: {error}"),
        _ => {}
    };
    let options = BuildOptions {
        shard,
        ..BuildOptions::default()
    };
    build::build(
        &plan,
        &options,
        &mut FakeRenderer,
        &mut sink,
        &AtomicBool::new(false),
    )?;
    Ok(rendered)
}

/// The images under `images_out/` (PNGs only), with their bytes.
pub(crate) fn images(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let out = dir.join("images_out");
    if !out.exists() {
        return Vec::new();
    }
    tree(&out)
        .into_iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "png"))
        .collect()
}

/// Files only the assemble step may write.
pub(crate) fn assembled(dir: &Path) -> Vec<PathBuf> {
    tree(dir)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| {
            let name = p.to_string_lossy();
            name == "disco.lock"
                || name.ends_with(".mp4")
                || name.ends_with("report.html")
                || name.ends_with("_contact.png")
        })
        .collect()
}

#[test]
fn shards_then_a_plain_build_equal_one_plain_build() {
    let single = project(PROJECT);
    let all = build(single.path(), None).unwrap();
    assert_eq!(all.len(), 11, "{all:?}");

    let farm = project(PROJECT);
    let mut rendered = Vec::new();
    for index in 0..3 {
        let spec = ShardSpec { index, count: 3 };
        let mine = build(farm.path(), Some(spec)).unwrap();
        assert!(!mine.is_empty(), "shard {spec} rendered nothing");
        // a chain is never split: a shard holding one frame of the film holds them all
        let film = mine.iter().filter(|j| j.starts_with("film ")).count();
        assert!(film == 0 || film == 6, "shard {spec}: {mine:?}");
        rendered.extend(mine);
        let written = assembled(farm.path());
        assert!(written.is_empty(), "shard {spec} wrote {written:?}");
    }
    rendered.sort();
    let mut want = all.clone();
    want.sort();
    assert_eq!(rendered, want, "every job rendered by exactly one shard");

    // the assemble step renders nothing and writes what one build writes
    assert_eq!(build(farm.path(), None).unwrap(), Vec::<String>::new());
    let lock = |d: &Path| std::fs::read_to_string(d.join("disco.lock")).unwrap();
    assert_eq!(lock(farm.path()), lock(single.path()));
    assert_eq!(images(farm.path()), images(single.path()));
    assert!(assembled(farm.path()).len() > 1, "the report and lock");
}

#[test]
fn workers_in_separate_checkouts_assemble_from_their_copied_objects() {
    let single = project(PROJECT);
    build(single.path(), None).unwrap();
    let assemble = project(PROJECT);
    for index in 0..4 {
        // each worker its own clone, with an empty store
        let worker = project(PROJECT);
        build(worker.path(), Some(ShardSpec { index, count: 4 })).unwrap();
        copy_dir(
            &worker.path().join(".disco/objects"),
            &assemble.path().join(".disco/objects"),
        );
    }
    assert_eq!(build(assemble.path(), None).unwrap(), Vec::<String>::new());
    let lock = |d: &Path| std::fs::read_to_string(d.join("disco.lock")).unwrap();
    assert_eq!(lock(assemble.path()), lock(single.path()));
    assert_eq!(images(assemble.path()), images(single.path()));
}

#[test]
fn a_shard_publishes_its_own_images_only() {
    let dir = project(PROJECT);
    let mine = build(dir.path(), Some(ShardSpec { index: 1, count: 3 })).unwrap();
    let published = images(dir.path());
    assert_eq!(published.len(), mine.len(), "{mine:?} vs {published:?}");
    // one worker of many, with nothing to do, publishes nothing
    let idle = project(PROJECT);
    let none = build(
        idle.path(),
        Some(ShardSpec {
            index: 9,
            count: 10,
        }),
    )
    .unwrap();
    assert!(none.is_empty());
    assert!(images(idle.path()).is_empty());
}

#[test]
fn a_random_seed_is_refused_under_shard_until_a_lock_fixes_it() {
    let text = PROJECT.replace("seed 5", "seed \"random\"");
    let dir = project(&text);
    let refused = build(dir.path(), Some(ShardSpec { index: 0, count: 2 }));
    let Err(BuildError::ShardDrawsSeed { targets }) = refused else {
        panic!("not refused: {refused:?}");
    };
    assert!(targets.contains(&"film".to_owned()), "{targets:?}");
    assert!(targets.contains(&"still".to_owned()), "{targets:?}");
    assert!(
        !dir.path().join(".disco/seeds.json").exists(),
        "no seed recorded"
    );

    // a plain build records the seeds in disco.lock; a clone with the lock alone shards
    build(dir.path(), None).unwrap();
    std::fs::remove_dir_all(dir.path().join(".disco")).unwrap();
    std::fs::remove_dir_all(dir.path().join("images_out")).unwrap();
    assert!(build(dir.path(), Some(ShardSpec { index: 0, count: 2 })).is_ok());
}

#[test]
fn the_cli_rejects_a_shard_that_is_not_i_of_n() {
    let dir = tempfile::tempdir().unwrap();
    for (arg, says) in [
        ("3/3", "0 ≤ I < 3"),
        ("a/b", "not a number"),
        ("0/0", "at least one shard"),
        ("2", "write I/N"),
    ] {
        let out = disco(dir.path(), &["build", "--shard", arg]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "--shard {arg}: {stderr}");
        assert!(stderr.contains(says), "--shard {arg}: {stderr}");
    }
    let out = disco(dir.path(), &["plan", "--shards", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn plan_shards_prints_each_unit_with_its_shard_keys_and_cost() {
    let Some(set) = tiny_set() else { return };
    let dir = project(&PROJECT.replace("\"models\"", &format!("{:?}", set.dir)));
    let out = disco(
        dir.path(),
        &["plan", "--shards", "4", "--message-format", "json"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let units: Vec<&serde_json::Value> = lines.iter().filter(|l| l["event"] == "unit").collect();
    let shards: Vec<&serde_json::Value> = lines.iter().filter(|l| l["event"] == "shard").collect();
    assert_eq!(units.len(), 6, "{stdout}");
    assert_eq!(shards.len(), 4, "{stdout}");
    let film = units.iter().find(|u| u["target"] == "film").unwrap();
    let jobs = film["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 6);
    assert!(jobs[0]["prev"].is_null());
    for w in jobs.windows(2) {
        assert_eq!(w[1]["prev"], w[0]["key"], "each frame names the one before");
    }
    // the film costs most (8 steps for frame 0, then 4 each under the default 60 %
    // frames-skip-steps, at 64×64): it goes first, to shard 0
    assert_eq!(film["cost"], (8 + 5 * 4) * 64 * 64);
    assert_eq!(film["shard"], 0);
    let cost: u64 = units.iter().map(|u| u["cost"].as_u64().unwrap()).sum();
    let by_shard: u64 = shards.iter().map(|s| s["cost"].as_u64().unwrap()).sum();
    assert_eq!(cost, by_shard);
    assert!(
        jobs.iter()
            .all(|j| j["stale"] == true && j["key"].is_string())
    );

    // a seed drawn now would not be the workers': refused, as `build --shard` refuses it
    std::fs::write(
        dir.path().join("disco.kdl"),
        PROJECT
            .replace("\"models\"", &format!("{:?}", set.dir))
            .replace("seed 5", "seed \"random\""),
    )
    .unwrap();
    let out = disco(dir.path(), &["plan", "--shards", "2"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("disco.lock"), "{stderr}");
}
