//! `disco build --cache file:///… --cache-mode M --render never`: workers in separate
//! checkouts share one cache directory, and an assemble step in another checkout renders
//! nothing and gives what one build on one machine gives. Fakes as in `engine.rs`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use disco::build::{self, BuildEvent, BuildOptions, JobError, RenderError, Renderer};
use disco::plan::ShardSpec;
use disco::store::{CacheMode, SharedDir, Store};

use crate::engine::{FakeFacts, FakeRenderer};
use crate::models::tiny_set;
use crate::shard::{PROJECT, assembled, images, project};
use crate::support::{disco, text, tree};

/// What a build did: jobs rendered, jobs failed (with their error).
#[derive(Debug, Default)]
struct Done {
    rendered: Vec<String>,
    failed: Vec<(String, String)>,
}

/// Renders nothing, as `--render never` does: every job asked of it is missing.
struct Never;

impl Renderer for Never {
    fn render(
        &mut self,
        req: &build::Request<'_>,
        _: &mut dyn build::Hooks,
        _: &AtomicBool,
    ) -> Result<build::RenderOutcome, RenderError> {
        Err(JobError::NotCached(req.plan.jobs[req.job].key).into())
    }
}

/// Builds `dir` with the fakes over the cache in `cache` (if any), as shard `shard`.
fn build_with(
    dir: &Path,
    cache: Option<(&Path, CacheMode)>,
    shard: Option<ShardSpec>,
    renderer: &mut dyn Renderer,
) -> Done {
    let project = disco::project::load(&dir.join("disco.kdl"))
        .project
        .unwrap();
    let store = match cache {
        Some((c, mode)) => Store::with_cache(dir, Arc::new(SharedDir::at(c).unwrap()), mode),
        None => Store::new(dir),
    };
    let mut facts = FakeFacts {
        model_hash: "m1".into(),
    };
    let plan = build::make_plan(&project, &[], None, &store, &mut facts).unwrap();
    let mut done = Done::default();
    let mut sink = |e: &BuildEvent| match e {
        BuildEvent::JobFinished { job, .. } => done.rendered.push(job.clone()),
        BuildEvent::JobFailed { job, error } => done.failed.push((job.clone(), error.clone())),
        _ => {}
    };
    let options = BuildOptions {
        shard,
        ..BuildOptions::default()
    };
    build::build_in(
        &store,
        &plan,
        &options,
        renderer,
        &mut sink,
        &AtomicBool::new(false),
    )
    .unwrap();
    done
}

fn lock(d: &Path) -> String {
    std::fs::read_to_string(d.join("disco.lock")).unwrap()
}

/// The records under the cache's `ac/`, with their bytes.
fn records(cache: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    tree(cache)
        .into_iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "json") && p.starts_with("ac"))
        .collect()
}

#[test]
fn three_shards_and_an_assemble_step_share_one_cache_and_equal_one_build() {
    let single = project(PROJECT);
    let all = build_with(single.path(), None, None, &mut FakeRenderer);
    let cache = tempfile::tempdir().unwrap();
    let rw = Some((cache.path(), CacheMode::ReadWrite));
    let mut rendered = Vec::new();
    for index in 0..3 {
        let worker = project(PROJECT);
        let done = build_with(
            worker.path(),
            rw,
            Some(ShardSpec { index, count: 3 }),
            &mut FakeRenderer,
        );
        assert!(done.failed.is_empty(), "{done:?}");
        rendered.extend(done.rendered);
    }
    assert_eq!(rendered.len(), all.rendered.len());
    assert_eq!(records(cache.path()).len(), all.rendered.len());

    let assemble = project(PROJECT);
    let done = build_with(assemble.path(), rw, None, &mut Never);
    assert!(
        done.rendered.is_empty() && done.failed.is_empty(),
        "{done:?}"
    );
    assert_eq!(lock(assemble.path()), lock(single.path()));
    assert_eq!(images(assemble.path()), images(single.path()));
    assert!(assembled(assemble.path()).len() > 1, "the report and lock");
}

#[test]
fn two_workers_at_once_leave_one_consistent_cache_and_the_same_images() {
    let cache = tempfile::tempdir().unwrap();
    let (a, b) = (project(PROJECT), project(PROJECT));
    std::thread::scope(|s| {
        for dir in [a.path(), b.path()] {
            let rw = Some((cache.path(), CacheMode::ReadWrite));
            s.spawn(move || build_with(dir, rw, None, &mut FakeRenderer));
        }
    });
    assert_eq!(images(a.path()), images(b.path()));
    assert_eq!(lock(a.path()), lock(b.path()));
    // every record in the cache is whole and its image is there, hashing as it says
    let recs = records(cache.path());
    assert_eq!(recs.len(), 11);
    let shared = SharedDir::at(cache.path()).unwrap();
    for (_, bytes) in recs {
        let r: disco::store::Record = serde_json::from_slice(&bytes).unwrap();
        assert!(
            shared.image(&r.image.blake3).unwrap().is_some(),
            "{}",
            r.key
        );
    }
    let stray = tree(cache.path()).into_iter().find(|(p, _)| {
        p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".disco-tmp-")
    });
    assert_eq!(stray, None);
}

#[test]
fn read_mode_never_writes_to_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let dir = project(PROJECT);
    let done = build_with(
        dir.path(),
        Some((cache.path(), CacheMode::Read)),
        None,
        &mut FakeRenderer,
    );
    assert_eq!(done.rendered.len(), 11);
    assert!(tree(cache.path()).is_empty(), "{:?}", tree(cache.path()));
}

#[test]
fn a_tampered_image_in_the_cache_is_never_served() {
    let cache = tempfile::tempdir().unwrap();
    let rw = Some((cache.path(), CacheMode::ReadWrite));
    let first = project(PROJECT);
    build_with(first.path(), rw, None, &mut FakeRenderer);
    // overwrite every image blob in the cache with other bytes
    for (p, _) in tree(cache.path()) {
        if p.starts_with("cas") {
            std::fs::write(cache.path().join(p), b"not the image").unwrap();
        }
    }
    let assemble = project(PROJECT);
    let done = build_with(assemble.path(), rw, None, &mut Never);
    assert_eq!(
        done.failed.len(),
        6,
        "3 stills, 2 cells, film frame 0 (its frames skip): {done:?}"
    );
    assert!(
        done.failed.iter().all(|(_, e)| e.contains("in no cache")),
        "{done:?}"
    );
    let again = project(PROJECT);
    let done = build_with(again.path(), rw, None, &mut FakeRenderer);
    assert_eq!(done.rendered.len(), 11, "a miss re-renders");
    assert_eq!(images(again.path()), images(first.path()));
}

#[test]
fn render_never_with_a_missing_key_exits_1_naming_each_job() {
    let Some(set) = tiny_set() else { return };
    let dir = project(&PROJECT.replace("\"models\"", &format!("{:?}", set.dir)));
    let cache = tempfile::tempdir().unwrap();
    let url = format!("file://{}", cache.path().display());
    let out = disco(dir.path(), &["build", "--cache", &url, "--render", "never"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for job in ["still image 0", "still image 2", "film frame 0"] {
        assert!(stderr.contains(job), "{job} not named: {stderr}");
    }
    assert!(stderr.contains("in no cache"), "{stderr}");
    let pushed: Vec<_> = tree(cache.path())
        .into_iter()
        .filter(|(p, _)| !p.starts_with("inputs"))
        .collect();
    assert!(
        pushed.is_empty(),
        "nothing rendered, nothing pushed: {pushed:?}"
    );

    let out = disco(dir.path(), &["build", "--cache", "s3://bucket/c"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    // $DISCO_CACHE names the cache when --cache does not
    let out = crate::support::disco_command(dir.path())
        .env("DISCO_CACHE", "ftp://u:secret@127.0.0.1/c")
        .args(["build", "--render", "never"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not a cache this disco can use"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("secret"),
        "credentials are never shown: {stderr}"
    );
}
