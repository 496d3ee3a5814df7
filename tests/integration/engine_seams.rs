//! The engine against its typed seams: the object store faked in memory (what a build puts
//! and what it serves), a store written by the first store format (still served, byte for
//! byte), and render failures sorted by consequence (a job's failure spares the others; a
//! set-up failure stops the build once, whenever it comes).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use disco::build::{
    self, BuildError, BuildEvent, BuildOptions, Hooks, JobError, RenderError, RenderOutcome,
    Renderer, Request, SetupError,
};
use disco::plan::{Key, Plan};
use disco::store::{Access, MemoryObjects, ObjectName, ObjectStore, Store};

use crate::engine::{ANIMATION, FakeFacts, FakeRenderer};
use crate::support::copy_dir;

fn facts() -> FakeFacts {
    FakeFacts {
        model_hash: "m1".into(),
    }
}

fn plan(dir: &Path, store: &Store) -> Plan {
    let project = disco::project::load(&dir.join("disco.kdl"))
        .project
        .unwrap();
    build::make_plan(&project, &[], None, store, &mut facts()).expect("plan")
}

/// Builds `plan` in `store` with `renderer`; returns the summary and the jobs that failed.
fn build_with(
    plan: &Plan,
    store: &Store,
    renderer: &mut dyn Renderer,
) -> (Result<build::Summary, BuildError>, Vec<String>) {
    let mut failed = Vec::new();
    let r = build::build_in(
        store,
        plan,
        &BuildOptions::default(),
        renderer,
        &mut |e: &BuildEvent| {
            if let BuildEvent::JobFailed { job, .. } | BuildEvent::JobSkipped { job, .. } = e {
                failed.push(job.clone());
            }
        },
        &AtomicBool::new(false),
    );
    (r, failed)
}

fn project_with(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("disco.kdl"), text).unwrap();
    dir
}

#[test]
fn a_build_puts_each_image_before_its_record_and_a_second_build_is_served() {
    let dir = project_with(ANIMATION);
    let objects = Arc::new(MemoryObjects::new());
    let store = Store::with_objects(dir.path(), objects.clone());
    let plan = plan(dir.path(), &store);
    let (r, failed) = build_with(&plan, &store, &mut FakeRenderer);
    assert_eq!(r.expect("build").rendered, 12, "{failed:?}");
    let log = objects.log();
    let at = |a: Access| log.iter().position(|x| *x == a);
    for job in &plan.jobs {
        let image = at(Access::Put(ObjectName::Image(job.key))).expect("image put");
        let record = at(Access::Put(ObjectName::Record(job.key))).expect("record put");
        assert!(
            image < record,
            "the record is what makes a job cached: written last"
        );
    }
    for t in &plan.targets {
        assert!(at(Access::Put(ObjectName::Inputs(t.common.digest))).is_some());
    }
    // nothing went to .disco/objects: the engine wrote through the trait only
    assert!(!dir.path().join(".disco/objects").exists());
    // the outputs hold the stored bytes (copied: a memory store has no file to link)
    let job = &plan.jobs[3];
    let stored = objects.get(&ObjectName::Image(job.key)).unwrap().unwrap();
    assert_eq!(std::fs::read(dir.path().join(&job.output)).unwrap(), stored);

    // outputs gone: every image is served from the store, nothing is put or rendered
    std::fs::remove_dir_all(dir.path().join("images_out")).unwrap();
    objects.clear_log();
    let plan = self::plan(dir.path(), &store);
    let (r, _) = build_with(&plan, &store, &mut NeverRenders);
    let s = r.expect("build");
    assert_eq!((s.rendered, s.reused), (0, 12));
    let log = objects.log();
    for job in &plan.jobs {
        assert!(log.contains(&Access::Served(ObjectName::Image(job.key))));
    }
    assert!(!log.iter().any(|a| matches!(a, Access::Put(_))), "{log:?}");
    assert!(dir.path().join(&plan.jobs[3].output).is_file());
}

#[test]
fn gc_removes_from_the_object_store_what_no_target_references() {
    let dir = project_with(ANIMATION);
    let objects = Arc::new(MemoryObjects::new());
    let store = Store::with_objects(dir.path(), objects.clone());
    let before = plan(dir.path(), &store);
    build_with(&before, &store, &mut FakeRenderer).0.unwrap();
    let text = std::fs::read_to_string(dir.path().join("disco.kdl")).unwrap();
    let edited = text.replace("frame 6 \"a blue square\"", "frame 6 \"a green star\"");
    std::fs::write(dir.path().join("disco.kdl"), edited).unwrap();
    let after = plan(dir.path(), &store);
    build_with(&after, &store, &mut FakeRenderer).0.unwrap();
    let project = disco::project::load(&dir.path().join("disco.kdl"))
        .project
        .unwrap();
    let report = build::gc(&project, &[], &store, &mut facts(), false).unwrap();
    assert_eq!(report.objects, 4, "frames 6–9 as they were before the edit");
    let names = objects.names();
    for job in &after.jobs {
        assert!(names.contains(&ObjectName::Image(job.key)));
        assert!(names.contains(&ObjectName::Record(job.key)));
    }
    for job in &before.jobs[6..10] {
        assert!(!names.contains(&ObjectName::Image(job.key)));
        assert!(!names.contains(&ObjectName::Record(job.key)));
    }
}

/// A copy of `tests/fixtures/store-v1` as a project: its `.disco/` was written by the
/// first store format's code (commit a000b06, before the object store was a trait) with
/// the facts of [`FakeFacts`] and a renderer painting 16×16 images.
fn first_format_project() -> tempfile::TempDir {
    let fixture = crate::support::root().join("tests/fixtures/store-v1");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture.join("disco.kdl"), dir.path().join("disco.kdl")).unwrap();
    for sub in ["objects", "inputs"] {
        copy_dir(&fixture.join(sub), &dir.path().join(".disco").join(sub));
    }
    dir
}

#[test]
fn a_store_written_by_the_first_format_is_served_without_rendering() {
    let dir = first_format_project();
    let store = Store::new(dir.path());
    let plan = plan(dir.path(), &store);
    assert_eq!(plan.jobs.len(), 3);
    for job in &plan.jobs {
        // the keys are today's: the fixture's objects are found by them
        let record = store
            .record(&job.key)
            .expect("a record of the first format");
        // what it records is read back as this version's inputs, equal to the planned ones
        let (common, frame) =
            build::decide::recorded_inputs(&store, &job.key).expect("readable inputs");
        assert_eq!(frame, job.frame);
        assert_eq!(common, plan.targets[job.target].common.inputs);
        // and writing the record again gives the very bytes the first format wrote
        let path = object_file(dir.path(), &job.key, "json");
        let again = serde_json::to_vec_pretty(&record).unwrap();
        assert_eq!(again, std::fs::read(&path).unwrap(), "{}", path.display());
    }
    let (r, failed) = build_with(&plan, &store, &mut NeverRenders);
    let s = r.expect("build");
    assert_eq!((s.rendered, s.reused), (0, 3), "{failed:?}");
    for job in &plan.jobs {
        let out = std::fs::read(dir.path().join(&job.output)).unwrap();
        assert_eq!(
            out,
            std::fs::read(object_file(dir.path(), &job.key, "png")).unwrap()
        );
    }
    // intermediate saves are materialised from the store too
    let partials = dir.path().join("images_out/still/partials");
    assert_eq!(std::fs::read_dir(partials).unwrap().count(), 3);
}

fn object_file(dir: &Path, key: &Key, ext: &str) -> PathBuf {
    dir.join(".disco/objects")
        .join(key.fanout())
        .join(format!("{key}.{ext}"))
}

/// Must not be asked to render.
struct NeverRenders;

impl Renderer for NeverRenders {
    fn render(
        &mut self,
        req: &Request<'_>,
        _: &mut dyn Hooks,
        _: &AtomicBool,
    ) -> Result<RenderOutcome, RenderError> {
        panic!("asked to render {}", req.plan.job_label(req.job))
    }
}

/// Fails the jobs of `fail` (by label) as a job failure, or set-up from the `setup_at`-th
/// call on; renders the others as [`FakeRenderer`] does.
struct Failing {
    fail: Vec<&'static str>,
    setup_at: Option<usize>,
    calls: usize,
}

impl Renderer for Failing {
    fn render(
        &mut self,
        req: &Request<'_>,
        hooks: &mut dyn Hooks,
        cancel: &AtomicBool,
    ) -> Result<RenderOutcome, RenderError> {
        self.calls += 1;
        if self.setup_at.is_some_and(|n| self.calls >= n) {
            return Err(SetupError::Other("CUDA error: out of memory".into()).into());
        }
        if self.fail.contains(&req.plan.job_label(req.job).as_str()) {
            return Err(JobError::Inputs("init image: not a PNG".into()).into());
        }
        FakeRenderer.render(req, hooks, cancel)
    }
}

#[test]
fn a_job_failure_spares_the_other_jobs_and_skips_only_the_frames_chained_to_it() {
    let dir = project_with(ANIMATION);
    let store = Store::new(dir.path());
    let plan = plan(dir.path(), &store);
    let mut renderer = Failing {
        fail: vec!["film frame 7", "still image 0"],
        setup_at: None,
        calls: 0,
    };
    let (r, failed) = build_with(&plan, &store, &mut renderer);
    let s = r.expect("a job failure does not stop the build");
    // film 7 failed, 8 and 9 chain from it; the still's other image renders
    assert_eq!(
        failed,
        [
            "film frame 7",
            "film frame 8",
            "film frame 9",
            "still image 0"
        ]
    );
    assert_eq!((s.rendered, s.failed), (8, 4), "and the film's video waits");
    assert!(!store.has(&plan.jobs[7].key) && store.has(&plan.jobs[11].key));
}

#[test]
fn a_setup_failure_after_some_jobs_stops_the_build_and_keeps_what_rendered() {
    let dir = project_with(ANIMATION);
    let store = Store::new(dir.path());
    let plan = plan(dir.path(), &store);
    let mut renderer = Failing {
        fail: Vec::new(),
        setup_at: Some(4),
        calls: 0,
    };
    let (r, failed) = build_with(&plan, &store, &mut renderer);
    match r {
        Err(BuildError::Setup(e)) => assert!(e.to_string().contains("CUDA error"), "{e}"),
        other => panic!("expected a set-up error, got {other:?}"),
    }
    assert_eq!(renderer.calls, 4, "no job is tried after the set-up failed");
    assert!(failed.is_empty(), "no job is blamed: {failed:?}");
    let cached = plan.jobs.iter().filter(|j| store.has(&j.key)).count();
    assert_eq!(cached, 3, "the jobs rendered before stay cached");
}
