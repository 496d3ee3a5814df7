//! The build engine with its seams faked (STYLE.md rule 17): a renderer that paints an
//! image from the job's key and facts that need no model files. Each test is a scenario
//! and asserts exactly which jobs rendered, and why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use disco::build::{self, BuildEvent, BuildOptions, Hooks, RenderOutcome, Renderer, Request};
use disco::plan::{DepthHashes, Facts, FactsError, ModelNeeds, RuntimeFacts};
use disco::store::Store;
use ndarray::Array3;

/// Facts without files: every graph hashes to `model_hash` (the UNet's also names the
/// diffusion model, as a set holding several would).
pub(crate) struct FakeFacts {
    pub(crate) model_hash: String,
}

impl Facts for FakeFacts {
    fn file_blake3(&mut self, path: &Path) -> Result<String, FactsError> {
        let bytes = std::fs::read(path).map_err(|e| FactsError::read(path, e))?;
        Ok(blake3::hash(&bytes).to_hex().to_string())
    }
    fn model_hashes(
        &mut self,
        _: &Path,
        needs: &ModelNeeds,
    ) -> Result<BTreeMap<String, String>, FactsError> {
        let unet = format!("{}:{}", self.model_hash, needs.diffusion);
        let mut m = BTreeMap::from([("unet_fwd".to_owned(), unet)]);
        for c in &needs.clip {
            m.insert(format!("clip_{c}_image"), "c1".into());
        }
        Ok(m)
    }
    fn runtime(&mut self) -> Result<RuntimeFacts, FactsError> {
        Ok(RuntimeFacts {
            renderer: "fake/1".into(),
            provider: "cpu".into(),
            ort: "0".into(),
        })
    }
    /// Depth graphs that hash to their names (MiDaS's names its model).
    fn depth_hashes(
        &mut self,
        _: &Path,
        midas: &str,
        adabins: bool,
    ) -> Result<DepthHashes, FactsError> {
        Ok(DepthHashes {
            midas: format!("midas:{midas}"),
            adabins: adabins.then(|| "adabins".to_owned()),
        })
    }
    /// A fake video is text, one line per frame: a frame's pixels are its line.
    fn video_frames(&mut self, path: &Path, nth: u32) -> Result<Vec<String>, FactsError> {
        let text = std::fs::read_to_string(path).map_err(|e| FactsError::read(path, e))?;
        let frames = text.lines().step_by(nth as usize);
        Ok(frames
            .map(|l| blake3::hash(l.as_bytes()).to_hex().to_string())
            .collect())
    }
}

/// Paints a 64×64 image from the key's bytes (and the previous frame, to show the chain).
pub(crate) struct FakeRenderer;

impl Renderer for FakeRenderer {
    fn render(
        &mut self,
        req: &Request<'_>,
        hooks: &mut dyn Hooks,
        _: &AtomicBool,
    ) -> Result<RenderOutcome, build::RenderError> {
        let key = req.plan.jobs[req.job].key;
        let prev = req.prev.map_or(0, |p| p[[0, 0, 0]]);
        let image = Array3::from_shape_fn((64, 64, 3), |(y, x, c)| {
            key.0[(y + x + c) % 32].wrapping_add(prev)
        });
        hooks.step(0, 1, 0.5);
        Ok(RenderOutcome::Finished {
            image,
            losses: serde_json::Value::Null,
            steps: 1,
            device: "fake".into(),
        })
    }
}

/// A temp project with `text` as its disco.kdl.
pub(crate) struct Scenario {
    dir: tempfile::TempDir,
    facts: FakeFacts,
}

impl Scenario {
    pub(crate) fn new(text: &str) -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("disco.kdl"), text).unwrap();
        Scenario {
            dir,
            facts: FakeFacts {
                model_hash: "m1".into(),
            },
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("disco.kdl")
    }

    pub(crate) fn edit(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.path()).unwrap();
        assert!(text.contains(from), "{from:?} not in the project");
        std::fs::write(self.path(), text.replacen(from, to, 1)).unwrap();
    }

    /// Builds; returns (rendered job labels, stale reasons by label).
    pub(crate) fn build(&mut self) -> (Vec<String>, BTreeMap<String, String>) {
        let (rendered, reasons, _) = self.build_with(BuildOptions::default());
        (rendered, reasons)
    }

    /// `disco gc` of `only` (target names).
    fn gc(&mut self, only: &[&str], dry_run: bool) -> disco::store::GcReport {
        let project = disco::project::load(&self.path()).project.unwrap();
        let store = Store::new(self.dir.path());
        let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
        build::gc(&project, &only, &store, &mut self.facts, dry_run).expect("gc")
    }

    /// Builds with `options`; also returns the targets whose video was made (or tried).
    fn build_with(
        &mut self,
        options: BuildOptions,
    ) -> (Vec<String>, BTreeMap<String, String>, Vec<String>) {
        self.build_observed(options, |_| {})
    }

    /// As [`Scenario::build_with`], showing every event to `observe` too.
    fn build_observed(
        &mut self,
        options: BuildOptions,
        mut observe: impl FnMut(&BuildEvent),
    ) -> (Vec<String>, BTreeMap<String, String>, Vec<String>) {
        let loaded = disco::project::load(&self.path());
        let project = loaded
            .project
            .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
        let store = Store::new(self.dir.path());
        let plan = build::make_plan(&project, &[], None, &store, &mut self.facts).expect("plan");
        let mut rendered = Vec::new();
        let mut reasons = BTreeMap::new();
        let mut videos = Vec::new();
        let mut sink = |e: &BuildEvent| {
            observe(e);
            match e {
                BuildEvent::VideoEncoded { target, .. }
                | BuildEvent::VideoFailed { target, .. } => videos.push(target.clone()),
                BuildEvent::JobFinished { job, .. } => rendered.push(job.clone()),
                BuildEvent::Stale { job, detail, .. } => {
                    reasons.insert(job.clone(), detail.clone());
                }
                BuildEvent::JobFailed { job, error } => panic!("{job} failed: {error}"),
                _ => {}
            }
        };
        build::build(
            &plan,
            &options,
            &mut FakeRenderer,
            &mut sink,
            &AtomicBool::new(false),
        )
        .expect("build");
        (rendered, reasons, videos)
    }
}

pub(crate) const ANIMATION: &str = r#"
model-set "models"
width-height 64 64
steps 10
skip-steps 2
seed 5
text-prompts {
    frame 0 "a red circle"
    frame 6 "a blue square"
}
animation "film" {
    max-frames 10
}
stills "still" {
    n-batches 2
}
"#;

pub(crate) fn frames(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|f| format!("film frame {f}")).collect()
}

#[test]
fn a_second_build_with_nothing_changed_renders_nothing() {
    let mut s = Scenario::new(ANIMATION);
    let (first, _) = s.build();
    assert_eq!(first.len(), 12);
    let (second, reasons) = s.build();
    assert!(second.is_empty(), "re-rendered {second:?}");
    assert!(reasons.is_empty());
}

#[test]
fn editing_the_prompt_keyframe_at_frame_6_rerenders_6_onwards() {
    let mut s = Scenario::new(ANIMATION);
    s.build();
    s.edit("frame 6 \"a blue square\"", "frame 6 \"a green star\"");
    let (rendered, reasons) = s.build();
    assert_eq!(rendered, frames(6..10));
    assert_eq!(
        reasons["film frame 6"],
        "text-prompts [\"a blue square\":1.0] → [\"a green star\":1.0]"
    );
}

#[test]
fn editing_a_motion_keyframe_rerenders_from_the_first_frame_it_moves() {
    let mut s = Scenario::new(&ANIMATION.replace(
        "max-frames 10",
        "max-frames 10\n    zoom \"0: (1), 8: (1)\"",
    ));
    s.build();
    s.edit("8: (1)", "8: (1.1)");
    let (rendered, reasons) = s.build();
    // linear from frame 0 to 8: frame 1 is the first whose zoom moves
    assert_eq!(rendered, frames(1..10));
    assert_eq!(reasons["film frame 1"], "zoom 1.0 → 1.0125");
    assert_eq!(reasons["film frame 9"], "zoom 1.0 → 1.1");
}

#[test]
fn a_change_carried_by_the_chain_says_so() {
    let mut s = Scenario::new(ANIMATION);
    s.build();
    s.edit(
        "frame 0 \"a red circle\"",
        "frame 0 \"a red circle\" \"blurry:-0.5\"",
    );
    let (rendered, reasons) = s.build();
    let mut want = frames(0..10);
    want.extend(["still image 0".to_owned(), "still image 1".to_owned()]);
    assert_eq!(rendered, want);
    assert!(reasons["film frame 0"].starts_with("text-prompts"));
    assert_eq!(reasons["film frame 6"], "previous frame changed");
}

#[test]
fn settings_that_cannot_change_pixels_rerender_nothing() {
    let mut s = Scenario::new(ANIMATION);
    s.build();
    s.edit(
        "seed 5",
        "seed 5\ndisplay-rate 7\nvideo-fps 24\nuse-checkpoint #false",
    );
    let (rendered, _) = s.build();
    assert!(rendered.is_empty(), "{rendered:?}");
}

#[test]
fn renaming_a_batch_rematerialises_without_rendering() {
    let mut s = Scenario::new(ANIMATION);
    s.build();
    s.edit(
        "stills \"still\" {",
        "stills \"still\" {\n    batch-name \"renamed\"",
    );
    let (rendered, _) = s.build();
    assert!(rendered.is_empty(), "{rendered:?}");
    let a = std::fs::read(s.dir.path().join("images_out/still/still(0)_1.png")).unwrap();
    let b = std::fs::read(s.dir.path().join("images_out/renamed/renamed(0)_1.png")).unwrap();
    assert_eq!(a, b);
}

#[test]
fn a_model_change_rerenders_everything_and_is_named() {
    let mut s = Scenario::new(ANIMATION);
    s.build();
    s.facts.model_hash = "m2".into();
    let (rendered, reasons) = s.build();
    assert_eq!(rendered.len(), 12);
    assert_eq!(reasons["still image 0"], "model unet_fwd changed");
}

#[test]
fn a_deleted_output_is_restored_from_the_cache() {
    let mut s = Scenario::new(ANIMATION);
    s.build();
    let out = s.dir.path().join("images_out/film/film(0)_0003.png");
    let before = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    let (rendered, _) = s.build();
    assert!(rendered.is_empty());
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn reverting_an_edit_reuses_the_images_of_before() {
    let mut s = Scenario::new(ANIMATION);
    s.build();
    s.edit("seed 5", "seed 6");
    // still i has seed + i: still 0 of seed 6 is still 1 of seed 5, already cached
    assert_eq!(s.build().0.len(), 11);
    s.edit("seed 6", "seed 5");
    assert!(s.build().0.is_empty(), "the seed-5 images are still cached");
}

const SWEEP: &str = r#"
model-set "models"
width-height 64 64
steps 20
seed 1
sweep "grid" {
    n-batches 1
    axis "clip-guidance-scale" 5000 6000
    axis "tv-scale" 0 10
}
"#;

#[test]
fn editing_one_sweep_value_rerenders_only_its_cells() {
    let mut s = Scenario::new(SWEEP);
    assert_eq!(s.build().0.len(), 4);
    s.edit("\"tv-scale\" 0 10", "\"tv-scale\" 0 20");
    let (rendered, _) = s.build();
    assert_eq!(
        rendered,
        vec![
            "grid[clip-guidance-scale=5000,tv-scale=20] image 0",
            "grid[clip-guidance-scale=6000,tv-scale=20] image 0"
        ]
    );
    assert!(
        s.dir
            .path()
            .join("images_out/grid/clip-guidance-scale=5000,tv-scale=20/grid(0)_0.png")
            .is_file()
    );
}

#[test]
fn adding_an_axis_value_renders_only_the_new_cells() {
    let mut s = Scenario::new(SWEEP);
    s.build();
    s.edit("5000 6000", "5000 6000 7000");
    let (rendered, _) = s.build();
    assert_eq!(rendered.len(), 2);
    assert!(
        rendered
            .iter()
            .all(|r| r.contains("clip-guidance-scale=7000"))
    );
}

#[test]
fn random_seeds_are_drawn_once_and_kept() {
    let mut s = Scenario::new(&ANIMATION.replace("seed 5", "seed \"random\""));
    assert_eq!(s.build().0.len(), 12);
    assert!(s.build().0.is_empty());
    let seeds = std::fs::read_to_string(s.dir.path().join(".disco/seeds.json")).unwrap();
    assert!(
        seeds.contains("\"film\"") && seeds.contains("\"still\""),
        "{seeds}"
    );
}

#[test]
fn gc_drops_what_no_target_references_and_keeps_the_rest() {
    let mut s = Scenario::new(ANIMATION);
    s.build();
    s.edit("frame 6 \"a blue square\"", "frame 6 \"a green star\"");
    s.build();
    assert_eq!(objects(&s), 16, "12 current + 4 replaced frames");
    let report = s.gc(&[], false);
    assert_eq!(report.objects, 4);
    assert_eq!(objects(&s), 12);
    assert!(s.build().0.is_empty(), "gc kept every current image");
}

/// Issue "Trust", class 1: `disco gc TARGET` deleted every other target's images.
#[test]
fn gc_naming_a_target_removes_only_that_targets_unreferenced_images() {
    let mut s = Scenario::new(ANIMATION);
    s.build();
    // naming one target removes nothing another target references
    assert_eq!(s.gc(&["still"], false).objects, 0);
    assert_eq!(s.gc(&["film"], false).objects, 0);
    assert_eq!(objects(&s), 12);
    assert!(s.build().0.is_empty(), "every image is still cached");
    // a new seed replaces all 12; naming `still` lets only its own 2 old images go
    s.edit("seed 5", "seed 50");
    assert_eq!(s.build().0.len(), 12);
    assert_eq!(objects(&s), 24);
    assert_eq!(s.gc(&["still"], false).objects, 2);
    assert_eq!(objects(&s), 22);
    assert_eq!(s.gc(&[], false).objects, 10);
    assert_eq!(objects(&s), 12);
    assert!(s.build().0.is_empty());
}

#[test]
fn gc_dry_run_lists_what_would_go_and_removes_nothing() {
    let mut s = Scenario::new(ANIMATION);
    s.build();
    s.edit("frame 6 \"a blue square\"", "frame 6 \"a green star\"");
    s.build();
    let before = walk(&s.dir.path().join(".disco"));
    let dry = s.gc(&[], true);
    assert_eq!(dry.objects, 4);
    assert_eq!(
        walk(&s.dir.path().join(".disco")),
        before,
        "nothing removed"
    );
    assert!(dry.bytes > 0 && dry.removed.len() == dry.files);
    let real = s.gc(&[], false);
    assert_eq!(
        (real.objects, real.files, real.bytes),
        (4, dry.files, dry.bytes)
    );
    assert_eq!(real.removed, dry.removed);
}

/// Issue "Trust", class 1: an image still in images_out/ whose bytes disco.lock records
/// is adopted, not rendered again.
#[test]
fn a_deleted_store_is_adopted_from_images_out_without_rendering() {
    let mut s = Scenario::new(ANIMATION);
    assert_eq!(s.build().0.len(), 12);
    let image = s.dir.path().join("images_out/film/film(0)_0003.png");
    let bytes = std::fs::read(&image).unwrap();
    std::fs::remove_dir_all(s.dir.path().join(".disco")).unwrap();
    // one output edited by hand: its bytes are not the locked image, so it renders
    let edited = s.dir.path().join("images_out/still/still(0)_1.png");
    std::fs::remove_file(&edited).unwrap();
    std::fs::write(&edited, b"not the image").unwrap();
    let adopted = std::cell::RefCell::new(Vec::new());
    let (rendered, _, _) = s.build_observed(BuildOptions::default(), |e| {
        if let BuildEvent::Adopted { job, .. } = e {
            adopted.borrow_mut().push(job.clone());
        }
    });
    assert_eq!(rendered, vec!["still image 1".to_string()]);
    assert_eq!(adopted.borrow().len(), 11);
    assert_eq!(std::fs::read(&image).unwrap(), bytes);
    assert_eq!(objects(&s), 12);
    assert!(s.build().0.is_empty(), "adopted images are cached");
}

fn objects(s: &Scenario) -> usize {
    walk(&s.dir.path().join(".disco/objects"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .count()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn render_only_renders_the_jobs_named_and_the_video_waits_for_the_rest() {
    // `disco watch` renders one job per engine call, in its own order
    let mut s = Scenario::new(ANIMATION);
    let only = |jobs: Vec<usize>| BuildOptions {
        render_only: Some(jobs),
        ..BuildOptions::default()
    };
    // jobs 0..10 are the film's frames, 10 and 11 the stills
    let (rendered, reasons, videos) = s.build_with(only(vec![0, 11]));
    assert_eq!(rendered, ["film frame 0", "still image 1"]);
    assert_eq!(reasons.len(), 12, "every stale job is still reported");
    assert!(videos.is_empty(), "frames 1-9 wait: no video yet");
    let (rendered, _, videos) = s.build_with(only((1..10).collect()));
    assert_eq!(rendered, frames(1..10));
    assert_eq!(videos, ["film"], "the last frame completes the film");
    let (rendered, _, _) = s.build_with(only(Vec::new()));
    assert!(rendered.is_empty());
    let (rendered, _) = s.build();
    assert_eq!(rendered, ["still image 0"]);
}

#[test]
fn a_build_clears_temporaries_a_killed_build_left_in_its_folders() {
    let mut s = Scenario::new(ANIMATION);
    s.build();
    let stray = s.dir.path().join("images_out/film/.disco-tmp-AbC123");
    let partial = s.dir.path().join("images_out/still/partials/.disco-tmp-x");
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"half").unwrap();
    std::fs::write(&partial, b"half").unwrap();
    assert!(s.build().0.is_empty());
    assert!(!stray.exists() && !partial.exists());
}

#[test]
fn the_lock_holds_exactly_the_jobs_built_so_far() {
    let mut s = Scenario::new(ANIMATION);
    let lock = |s: &Scenario| {
        disco::lockfile::LockFile::read(&s.dir.path().join("disco.lock"))
            .unwrap()
            .expect("a lock")
    };
    let indices = |l: &disco::lockfile::LockFile, t: &str| -> Vec<u32> {
        l.target(t).unwrap().jobs.keys().copied().collect()
    };
    // a watch-style build of two jobs: the lock names those two
    s.build_with(BuildOptions {
        render_only: Some(vec![0, 11]),
        ..BuildOptions::default()
    });
    let l = lock(&s);
    assert_eq!(indices(&l, "film"), [0]);
    assert_eq!(indices(&l, "still"), [1]);
    s.build();
    let full = lock(&s);
    assert_eq!(indices(&full, "film"), (0..10).collect::<Vec<_>>());
    let store = Store::new(s.dir.path());
    for (i, e) in &full.target("still").unwrap().jobs {
        let record = store.record(&e.key).unwrap();
        assert_eq!(record.image.blake3, e.blake3, "still {i}");
    }
    // an edit at frame 6: frames 6.. get new keys and hashes, the rest are untouched
    s.edit("frame 6 \"a blue square\"", "frame 6 \"a green star\"");
    s.build();
    let edited = lock(&s);
    let film = |l: &disco::lockfile::LockFile| l.target("film").unwrap().jobs.clone();
    let (a, b) = (film(&full), film(&edited));
    assert!((0..6).all(|f| a[&f] == b[&f]));
    assert!((6..10).all(|f| a[&f].key != b[&f].key && a[&f].blake3 != b[&f].blake3));
    assert_eq!(full.target("still"), edited.target("still"));
}

/// Issue "Trust", class 8: `verify --sample 1` said "1 job" and rendered a chain of 6.
#[test]
fn verifying_one_frame_counts_the_frames_it_chains_from() {
    use disco::build::verify::{self, Tolerance};
    use disco::lockfile::{LockFile, lock_path};
    let mut s = Scenario::new(ANIMATION);
    s.build();
    let project = disco::project::load(&s.path()).project.unwrap();
    let store = Store::new(s.dir.path());
    let plan = build::make_plan(&project, &[], None, &store, &mut s.facts).unwrap();
    let lock = LockFile::read(&lock_path(&s.path())).unwrap().unwrap();
    let frame5 = (0..plan.jobs.len())
        .find(|&j| plan.job_label(j) == "film frame 5")
        .unwrap();
    let still = (0..plan.jobs.len())
        .find(|&j| plan.job_label(j) == "still image 1")
        .unwrap();
    assert_eq!(verify::renders(&plan, &lock, &[frame5]).len(), 6);
    assert_eq!(verify::renders(&plan, &lock, &[still]).len(), 1);
    assert_eq!(verify::renders(&plan, &lock, &[frame5, still]).len(), 7);
    // and that is what verify renders
    let scratch_dir = tempfile::tempdir().unwrap();
    let mut finished = 0;
    let verdicts = verify::verify(
        &plan,
        &lock,
        &[frame5],
        Tolerance::Exact,
        &store,
        &Store::new(scratch_dir.path()),
        &mut FakeRenderer,
        &mut |e: &BuildEvent| finished += usize::from(matches!(e, BuildEvent::JobFinished { .. })),
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap();
    assert_eq!(verdicts.len(), 1);
    assert!(verdicts[0].passed());
    assert_eq!(finished, 6);
}

/// A renderer whose set-up always fails (a CUDA error, a graph ONNX Runtime refuses).
struct BrokenSetup {
    calls: usize,
}

impl Renderer for BrokenSetup {
    fn render(
        &mut self,
        _: &Request<'_>,
        _: &mut dyn Hooks,
        _: &AtomicBool,
    ) -> Result<RenderOutcome, build::RenderError> {
        self.calls += 1;
        Err(
            build::SetupError::Other("cannot open graph `unet_fwd` on Cuda(0): CUDA error".into())
                .into(),
        )
    }
}

/// Issue "Trust", class 10: a set-up failure was retried and reported once per job.
#[test]
fn a_setup_failure_stops_the_build_once() {
    let mut s = Scenario::new(ANIMATION);
    let project = disco::project::load(&s.path()).project.unwrap();
    let store = Store::new(s.dir.path());
    let plan = build::make_plan(&project, &[], None, &store, &mut s.facts).unwrap();
    let mut renderer = BrokenSetup { calls: 0 };
    let mut failures = 0;
    let result = build::build(
        &plan,
        &BuildOptions::default(),
        &mut renderer,
        &mut |e: &BuildEvent| {
            failures += usize::from(matches!(
                e,
                BuildEvent::JobFailed { .. } | BuildEvent::JobSkipped { .. }
            ))
        },
        &AtomicBool::new(false),
    );
    match result {
        Err(build::BuildError::Setup(e)) => assert!(e.to_string().contains("CUDA error"), "{e}"),
        other => panic!("expected a set-up error, got {other:?}"),
    }
    assert_eq!(renderer.calls, 1, "tried once, not once per job");
    assert_eq!(failures, 0, "no job is blamed for the set-up");
}

/// Issue "Trust", class 7: a model set without LPIPS failed the first animation frame with
/// "the model set has no lpips graphs"; planning now names the setting and the target.
#[test]
fn a_set_without_lpips_is_named_at_the_setting_that_needs_it_before_planning() {
    let s =
        Scenario::new(&ANIMATION.replace("max-frames 10", "max-frames 10\n    frames-scale 900"));
    let set = s.dir.path().join("models");
    std::fs::create_dir_all(&set).unwrap();
    std::fs::write(
        set.join("manifest.json"),
        r#"{"format": "disco-models/1", "graphs": {}}"#,
    )
    .unwrap();
    let project = disco::project::load(&s.path()).project.unwrap();
    let store = Store::new(s.dir.path());
    let mut facts = FakeFacts {
        model_hash: "m1".into(),
    };
    let Err(build::BuildError::Plan(diags)) =
        build::make_plan(&project, &[], None, &store, &mut facts)
    else {
        panic!("planned on a set without LPIPS");
    };
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert!(
        d.message.contains("animation `film`") && d.message.contains("`frames-scale 900`"),
        "{}",
        d.message
    );
    let (origin, _) = d.primary.clone().unwrap();
    let text = &origin.file.text;
    assert_eq!(
        &text[origin.span.offset()..][..3],
        "900",
        "points at the setting"
    );
    // the stills need no LPIPS: building only them goes ahead
    assert!(build::make_plan(&project, &["still".into()], None, &store, &mut facts).is_ok());
}

/// Issue "Trust", class 7: a write failure under images_out/ said "cannot write the
/// store" without the path, after announcing "rendered → FILE" for the file it never wrote.
#[test]
fn an_output_that_cannot_be_written_is_named_and_never_announced() {
    let mut s = Scenario::new(ANIMATION);
    // images_out/still is a file: nothing can be written under it
    std::fs::create_dir_all(s.dir.path().join("images_out")).unwrap();
    std::fs::write(s.dir.path().join("images_out/still"), b"in the way").unwrap();
    let project = disco::project::load(&s.path()).project.unwrap();
    let store = Store::new(s.dir.path());
    let plan = build::make_plan(&project, &[], None, &store, &mut s.facts).unwrap();
    let mut announced = Vec::new();
    let result = build::build(
        &plan,
        &BuildOptions::default(),
        &mut FakeRenderer,
        &mut |e: &BuildEvent| {
            if let BuildEvent::JobFinished { output, .. } = e {
                announced.push(output.clone())
            }
        },
        &AtomicBool::new(false),
    );
    let err = result.expect_err("the still cannot be written");
    let msg = err.to_string();
    assert!(
        msg.contains("images_out/still/still(0)_0.png") && !msg.contains("the store"),
        "{msg}"
    );
    assert_eq!(announced.len(), 10, "{announced:?}");
    assert!(announced.iter().all(|o| o.contains("images_out/film/")));
}

/// Fails every job before it renders, as an init image that cannot be decoded does.
struct UnreadableInit;

impl Renderer for UnreadableInit {
    fn render(
        &mut self,
        _: &Request<'_>,
        _: &mut dyn Hooks,
        _: &AtomicBool,
    ) -> Result<RenderOutcome, build::RenderError> {
        Err("init image init.png: not a PNG or JPEG".into())
    }
}

/// Issue "Trust", class 7: a job failing before it rendered left a settings file and a
/// report behind.
#[test]
fn jobs_that_fail_before_rendering_leave_no_settings_file_or_report() {
    let s = Scenario::new(ANIMATION);
    let project = disco::project::load(&s.path()).project.unwrap();
    let store = Store::new(s.dir.path());
    let mut facts = FakeFacts {
        model_hash: "m1".into(),
    };
    let plan = build::make_plan(&project, &[], None, &store, &mut facts).unwrap();
    let summary = build::build(
        &plan,
        &BuildOptions::default(),
        &mut UnreadableInit,
        &mut |_: &BuildEvent| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(summary.failed, 12);
    let written = walk(&s.dir.path().join("images_out"));
    assert!(written.is_empty(), "{written:?}");
}

/// Issue "Trust", class 8: after a prompt edit, `plan` and `watch` also reported
/// `zoom 1.0666666666666669 → 1.0666666666666667`, a change nobody made (a recorded value
/// read back from JSON one ulp off).
#[test]
fn a_prompt_edit_explains_itself_without_float_noise() {
    let motion = ANIMATION.replace(
        "max-frames 10",
        "max-frames 10\n    zoom \"0: (1.0), 9: (1.6)\"\n    angle \"0: (0.3), 9: (2.9)\"\n    translation-x \"0: (0.1), 9: (7.7)\"",
    );
    let mut s = Scenario::new(&motion);
    s.build();
    s.edit("frame 6 \"a blue square\"", "frame 6 \"a green star\"");
    let (rendered, reasons) = s.build();
    assert_eq!(rendered, frames(6..10));
    for f in 6..10 {
        let why = &reasons[&format!("film frame {f}")];
        assert!(why.contains("text-prompts"), "frame {f}: {why}");
        for noise in ["zoom", "angle", "translation"] {
            assert!(!why.contains(noise), "frame {f}: {why}");
        }
    }
}

/// What disco.lock records is kept (a build on another `--device` keys its images
/// apart), with the shared inputs its records point at, so `plan` still explains.
#[test]
fn gc_keeps_what_the_lock_records_and_the_inputs_behind_it() {
    let mut s = Scenario::new(ANIMATION);
    s.build();
    // the project moves on, unbuilt: the lock still records the seed-5 images
    s.edit("seed 5", "seed 50");
    let report = s.gc(&[], false);
    assert_eq!((report.objects, report.files), (0, 0), "{report:?}");
    assert_eq!(objects(&s), 12);
    let (rendered, reasons) = s.build();
    assert_eq!(rendered.len(), 12);
    assert!(
        reasons["film frame 0"].contains("seed 5 → 50"),
        "{reasons:?}"
    );
}
