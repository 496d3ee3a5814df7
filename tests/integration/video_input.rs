//! Video Input through the build engine with its seams faked (engine.rs: a fake video is
//! text, one line per frame, so a test can replace one frame's pixels): each clip frame is
//! keyed by its source frame's pixels, so replacing one source frame re-renders that frame
//! and, with the flow warp, the frames chained after it — nothing before.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use disco::build::{self, BuildEvent, BuildOptions};
use disco::store::Store;

use crate::engine::{FakeFacts, FakeRenderer};

const PROJECT: &str = r#"
model-set "models"
width-height 64 64
seed 5
text-prompts "a painted city"
video-init-steps 10
video-init-skip-steps 2
animation "clip" {
    animation-mode "Video Input"
    video-init-path "source.mp4"
    extract-nth-frame 2
}
"#;

/// Source frames 0..16 (every second one is used: 8 clip frames).
fn source(changed: Option<usize>) -> String {
    (0..16)
        .map(|i| match changed {
            Some(c) if c == i => format!("frame {i} retouched\n"),
            _ => format!("frame {i}\n"),
        })
        .collect()
}

/// Builds `dir`'s project; (rendered jobs, stale reason by job).
fn build(dir: &Path) -> (Vec<String>, BTreeMap<String, String>) {
    let project = disco::project::load(&dir.join("disco.kdl"))
        .project
        .expect("valid");
    let store = Store::new(dir);
    let mut facts = FakeFacts {
        model_hash: "m".into(),
    };
    let plan = build::make_plan(&project, &[], None, &store, &mut facts).expect("plan");
    let (mut rendered, mut reasons) = (Vec::new(), BTreeMap::new());
    let mut sink = |e: &BuildEvent| match e {
        BuildEvent::JobFinished { job, .. } => rendered.push(job.clone()),
        BuildEvent::Stale { job, detail, .. } => {
            reasons.insert(job.clone(), detail.clone());
        }
        BuildEvent::JobFailed { job, error } => panic!("{job} failed: {error}"),
        _ => {}
    };
    let options = BuildOptions::default();
    build::build(
        &plan,
        &options,
        &mut FakeRenderer,
        &mut sink,
        &AtomicBool::new(false),
    )
    .expect("build");
    (rendered, reasons)
}

fn clip(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|f| format!("clip frame {f}")).collect()
}

fn scenario(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = PROJECT.replace(
        "extract-nth-frame 2",
        &format!("extract-nth-frame 2\n{extra}"),
    );
    std::fs::write(dir.path().join("disco.kdl"), text).unwrap();
    std::fs::write(dir.path().join("source.mp4"), source(None)).unwrap();
    dir
}

#[test]
fn replacing_one_source_frame_rerenders_it_and_the_chain_after_it() {
    let dir = scenario("");
    let (first, _) = build(dir.path());
    assert_eq!(first, clip(0..8));
    // source frame 10 is clip frame 5
    std::fs::write(dir.path().join("source.mp4"), source(Some(10))).unwrap();
    let (rendered, reasons) = build(dir.path());
    assert_eq!(rendered, clip(5..8));
    assert_eq!(reasons["clip frame 5"], "source frame changed");
    assert_eq!(reasons["clip frame 6"], "previous frame changed");
    // a source frame extract-nth-frame skips changes nothing
    let mut skipped = source(Some(10));
    skipped = skipped.replace("frame 11\n", "frame 11 retouched\n");
    std::fs::write(dir.path().join("source.mp4"), skipped).unwrap();
    let (rendered, _) = build(dir.path());
    assert!(rendered.is_empty(), "{rendered:?}");
}

#[test]
fn without_the_flow_warp_only_the_changed_frame_rerenders() {
    let dir = scenario("video-init-flow-warp #false");
    build(dir.path());
    std::fs::write(dir.path().join("source.mp4"), source(Some(6))).unwrap();
    let (rendered, reasons) = build(dir.path());
    assert_eq!(rendered, clip(3..4));
    assert_eq!(reasons["clip frame 3"], "source frame changed");
}

#[test]
fn trimming_the_video_keeps_the_frames_it_still_has() {
    let dir = scenario("");
    build(dir.path());
    let trimmed: String = source(None)
        .lines()
        .take(10)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("source.mp4"), trimmed).unwrap();
    let (rendered, _) = build(dir.path());
    assert!(rendered.is_empty(), "{rendered:?}");
}

#[test]
fn the_plan_applies_the_overrides_and_dds_seeds() {
    let dir = scenario("");
    let project = disco::project::load(&dir.path().join("disco.kdl"))
        .project
        .unwrap();
    let mut facts = FakeFacts {
        model_hash: "m".into(),
    };
    let store = Store::new(dir.path());
    let plan = build::make_plan(&project, &[], None, &store, &mut facts).unwrap();
    let t = &plan.targets[0];
    assert_eq!(t.common.inputs.steps, 10);
    assert_eq!(t.common.inputs.clip_guidance_scale, 1000.0.into());
    let jobs = &plan.jobs[t.jobs.clone()];
    assert_eq!(jobs.len(), 8);
    // DD: seed + 1 before every frame; frame 0 skips video-init-skip-steps, later frames
    // 70% of video-init-steps, all pulled with video-init-frames-scale
    let seeds: Vec<u64> = jobs.iter().map(|j| j.frame.seed).collect();
    assert_eq!(seeds, (6..14).collect::<Vec<u64>>());
    assert_eq!(jobs[0].frame.skip_steps, 2);
    assert_eq!(jobs[1].frame.skip_steps, 7);
    assert_eq!(jobs[3].frame.init_scale, Some(15000.0));
    assert_eq!(jobs[3].prev, Some(t.jobs.start + 2));
}

/// A picture that differs at every pixel from frame to frame.
fn picture(i: usize) -> ndarray::Array3<u8> {
    ndarray::Array3::from_shape_fn((48, 64, 3), |(y, x, k)| {
        ((x * 7 + y * 13 + k * 50 + i * 37) % 256) as u8
    })
}

/// Encodes `frames` losslessly (crf 0: unchanged frames decode to unchanged pixels) with
/// x264's `preset`.
fn encode(
    dir: &Path,
    name: &str,
    frames: &[ndarray::Array3<u8>],
    preset: &str,
) -> std::path::PathBuf {
    use disco::video::{EncodeSettings, png};
    let pngs: Vec<_> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let p = dir.join(format!("{name}-{i}.png"));
            png::write_rgb(&p, f).unwrap();
            p
        })
        .collect();
    let out = dir.join(name);
    let settings = EncodeSettings {
        crf: 0,
        preset: preset.into(),
        ..EncodeSettings::default()
    };
    disco::video::encode_pngs(&pngs, &out, &settings).unwrap();
    out
}

/// Through the real `disco-video` helper: frames are keyed by their decoded pixels, so a
/// re-encoded video keeps every key, a replaced frame changes exactly its own, a trimmed one
/// keeps the frames it still has; and the second read decodes nothing.
#[test]
fn source_frames_are_keyed_by_their_decoded_pixels() {
    use disco::build::source_frames::{frame_path, source_frames};
    let helper = Path::new(env!("CARGO_BIN_EXE_disco-video"));
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join(".disco/frames");
    let hashes = |video: &Path, nth: u32| {
        let file = blake3::hash(&std::fs::read(video).unwrap())
            .to_hex()
            .to_string();
        source_frames(helper, &store, (video, &file), nth).unwrap()
    };
    let mut frames: Vec<_> = (0..6).map(picture).collect();
    let a = hashes(&encode(dir.path(), "a.mp4", &frames, "veryslow"), 1);
    assert_eq!(a.len(), 6);
    assert!(a.iter().all(|h| frame_path(&store, h).is_file()));
    // another encoding of the same pixels: other bytes, the same frames
    let b_path = encode(dir.path(), "b.mp4", &frames, "ultrafast");
    assert_ne!(
        std::fs::read(&b_path).unwrap(),
        std::fs::read(dir.path().join("a.mp4")).unwrap()
    );
    assert_eq!(hashes(&b_path, 1), a);
    // one frame replaced: only its hash changes
    frames[3] = picture(40);
    let c = hashes(&encode(dir.path(), "c.mp4", &frames, "veryslow"), 1);
    let changed: Vec<usize> = (0..6).filter(|&i| a[i] != c[i]).collect();
    assert_eq!(changed, [3]);
    // trimmed: the frames it keeps keep their hashes; every second frame is every second hash
    let t = hashes(&encode(dir.path(), "t.mp4", &frames[2..], "veryslow"), 1);
    assert_eq!(t, c[2..]);
    assert_eq!(
        hashes(&dir.path().join("c.mp4"), 2),
        [c[0].clone(), c[2].clone(), c[4].clone()]
    );
    // read again from the index: the frames are not decoded again
    let index = std::fs::read_dir(&store).unwrap().count();
    assert_eq!(hashes(&dir.path().join("c.mp4"), 1), c);
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), index);
}

/// The toy set end to end (models/toy, on a CPU): a generated clip restyled frame by frame;
/// replacing one source frame re-renders exactly its clip frame (no flow warp: nothing is
/// chained), and a re-encoded clip with the same pixels renders nothing.
#[test]
fn a_generated_clip_builds_and_a_replaced_source_frame_rerenders_only_its_frame() {
    use crate::support::{disco, root, text};
    let dir = tempfile::tempdir().unwrap();
    let mut frames: Vec<_> = (0..8).map(picture).collect();
    encode(dir.path(), "source.mp4", &frames, "veryslow");
    let project = format!(
        r#"model-set "{}"
width-height 64 64
seed 3
clip-models "ViT-B/32"
text-prompts "a red circle"
frames-scale 0
animation "clip" {{
    animation-mode "Video Input"
    video-init-path "source.mp4"
    extract-nth-frame 2
    video-init-flow-warp #false
    video-init-blend-mode "None"
    video-init-steps 6
    video-init-skip-steps 2
    video-init-frames-skip-steps "50%"
    video-init-cutn-batches 1
    video-init-clip-guidance-scale 50000
    video-init-frames-scale 0
}}
"#,
        root().join("models/toy").display()
    );
    std::fs::write(dir.path().join("disco.kdl"), project).unwrap();
    let build = |dir: &Path| -> Vec<(String, String)> {
        let out = disco(dir, &["build", "--message-format", "json"]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        let events: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let reason = |job: &str| {
            events
                .iter()
                .find(|e| e["event"] == "stale" && e["job"] == job)
                .map(|e| e["detail"].as_str().unwrap_or("").to_owned())
                .unwrap_or_default()
        };
        events
            .iter()
            .filter(|e| e["event"] == "job-finished")
            .map(|e| e["job"].as_str().unwrap().to_owned())
            .map(|j| (j.clone(), reason(&j)))
            .collect()
    };
    let first = build(dir.path());
    assert_eq!(first.len(), 4, "{first:?}");
    let png = |f: u32| {
        dir.path()
            .join(format!("images_out/clip/clip(0)_{f:04}.png"))
    };
    let before: Vec<Vec<u8>> = (0..4).map(|f| std::fs::read(png(f)).unwrap()).collect();
    // source frame 4 is clip frame 2
    frames[4] = picture(90);
    encode(dir.path(), "source.mp4", &frames, "veryslow");
    let plan = disco(dir.path(), &["plan"]);
    let (stdout, stderr) = text(&plan);
    assert!(plan.status.success(), "{stderr}");
    let stale: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("clip frame"))
        .collect();
    assert_eq!(stale, ["clip frame 2: source frame changed"], "{stdout}");
    let second = build(dir.path());
    assert_eq!(
        second,
        [("clip frame 2".to_owned(), "source frame changed".to_owned())]
    );
    for f in [0, 1, 3] {
        assert_eq!(
            std::fs::read(png(f)).unwrap(),
            before[f as usize],
            "frame {f}"
        );
    }
    assert_ne!(std::fs::read(png(2)).unwrap(), before[2]);
    // the same pixels encoded otherwise: nothing to render
    encode(dir.path(), "source.mp4", &frames, "ultrafast");
    assert!(build(dir.path()).is_empty());
}

/// The tiny set (with its RAFT graph) end to end, DD's default flow warp on and the
/// consistency check: every clip frame after the first starts from the previous output warped
/// along RAFT's flow; each flow is computed once and kept under `.disco/flow/`; replacing one
/// source frame re-renders its clip frame and the chain after it, nothing before.
#[test]
fn a_flow_warped_clip_builds_on_the_tiny_set_and_a_replaced_frame_rerenders_the_chain() {
    use crate::support::{disco, text};
    let Some(set) = crate::models::tiny_set() else {
        return;
    };
    if set.manifest.raft.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the tiny set has no RAFT graph"
        );
        eprintln!(
            "skipping: the tiny set at {} has no RAFT graph",
            set.dir.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut frames: Vec<_> = (0..8).map(picture).collect();
    encode(dir.path(), "source.mp4", &frames, "veryslow");
    let project = format!(
        r#"model-set "{}"
width-height 64 64
seed 3
clip-models "ViT-B/32"
text-prompts "a red circle"
animation "clip" {{
    animation-mode "Video Input"
    video-init-path "source.mp4"
    extract-nth-frame 2
    video-init-check-consistency #true
    video-init-steps 6
    video-init-skip-steps 2
    video-init-frames-skip-steps "50%"
    video-init-cutn-batches 1
    video-init-frames-scale 0
}}
"#,
        set.dir.display()
    );
    std::fs::write(dir.path().join("disco.kdl"), project).unwrap();
    let check = disco(dir.path(), &["check"]);
    assert!(check.status.success(), "{}", text(&check).1);
    let build = |dir: &Path| -> Vec<(String, String)> {
        let out = disco(dir, &["build", "--message-format", "json"]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}\n{stdout}");
        let events: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let reason = |job: &str| {
            events
                .iter()
                .find(|e| e["event"] == "stale" && e["job"] == job)
                .map(|e| e["detail"].as_str().unwrap_or("").to_owned())
                .unwrap_or_default()
        };
        events
            .iter()
            .filter(|e| e["event"] == "job-finished")
            .map(|e| e["job"].as_str().unwrap().to_owned())
            .map(|j| (j.clone(), reason(&j)))
            .collect()
    };
    let flows = |dir: &Path| {
        std::fs::read_dir(disco::build::flow::flow_dir(dir))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let first = build(dir.path());
    assert_eq!(first.len(), 4, "{first:?}");
    // three pairs, each flow both ways (the consistency check)
    assert_eq!(flows(dir.path()), 6);
    let png = |f: u32| {
        dir.path()
            .join(format!("images_out/clip/clip(0)_{f:04}.png"))
    };
    let before: Vec<Vec<u8>> = (0..4).map(|f| std::fs::read(png(f)).unwrap()).collect();
    assert!(before.windows(2).all(|w| w[0] != w[1]));
    // the frames' keys hold the RAFT graph's hash (read from the index: nothing decodes)
    let keyed = |text: &str| {
        let project = disco::project::load_str(&dir.path().join("disco.kdl"), text)
            .project
            .expect("valid");
        let store = Store::new(dir.path());
        let frames = disco::build::source_frames::frames_dir(dir.path());
        let mut facts = disco::build::StoreFacts::new(
            store.stat_cache(),
            disco::render::session::Device::Cpu,
            None,
        )
        .with_frames(frames);
        let plan = build::make_plan(&project, &[], None, &store, &mut facts).expect("plan");
        plan.targets[0]
            .common
            .inputs
            .models
            .contains_key("raft_fwd")
    };
    let kdl = std::fs::read_to_string(dir.path().join("disco.kdl")).unwrap();
    assert!(keyed(&kdl));
    assert!(!keyed(&kdl.replace(
        "video-init-check-consistency #true",
        "video-init-flow-warp #false"
    )));
    // a rebuild renders and computes nothing
    assert!(build(dir.path()).is_empty());
    assert_eq!(flows(dir.path()), 6);
    // source frame 4 is clip frame 2: it and frame 3 (chained through the warp) re-render
    frames[4] = picture(90);
    encode(dir.path(), "source.mp4", &frames, "veryslow");
    let second = build(dir.path());
    assert_eq!(
        second,
        [
            ("clip frame 2".to_owned(), "source frame changed".to_owned()),
            (
                "clip frame 3".to_owned(),
                "previous frame changed".to_owned()
            ),
        ]
    );
    // the two pairs that hold the new frame, both ways
    assert_eq!(flows(dir.path()), 10);
    for f in [0, 1] {
        assert_eq!(
            std::fs::read(png(f)).unwrap(),
            before[f as usize],
            "frame {f}"
        );
    }
    for f in [2, 3] {
        assert_ne!(
            std::fs::read(png(f)).unwrap(),
            before[f as usize],
            "frame {f}"
        );
    }
    // `disco gc`: the replaced frame, its video's old index and the four flows through it go;
    // what the clip reads stays (a rebuild renders and computes nothing)
    let frame_files = |dir: &Path| {
        let mut names: Vec<String> =
            std::fs::read_dir(disco::build::source_frames::frames_dir(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        names.sort();
        names
    };
    let old = frame_files(dir.path());
    assert_eq!(old.len(), 4 + 1 + 2, "{old:?}"); // 4 frames + the new one, two indexes
    let dry = disco(dir.path(), &["gc", "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry).1);
    let listed = text(&dry).0;
    let cached = |sub: &str| {
        listed
            .lines()
            .filter(|l| l.starts_with("would remove") && l.contains(sub))
            .count()
    };
    assert_eq!(cached("frames"), 2, "{listed}"); // the old frame and the old index
    assert_eq!(cached("flow"), 4, "{listed}");
    assert_eq!(frame_files(dir.path()), old);
    let gc = disco(dir.path(), &["gc"]);
    assert!(gc.status.success(), "{}", text(&gc).1);
    let kept = frame_files(dir.path());
    assert_eq!(kept.len(), 4 + 1, "{kept:?}");
    assert_eq!(kept.iter().filter(|n| n.starts_with("index-")).count(), 1);
    assert_eq!(flows(dir.path()), 6);
    assert!(build(dir.path()).is_empty());
    assert_eq!(flows(dir.path()), 6);
    // hostile neighbours named like cache files: a FIFO (opening it would block), a folder and
    // an index that is not JSON are not read as caches; gc leaves the first two and succeeds
    let frames_dir = disco::build::source_frames::frames_dir(dir.path());
    let fifo = frames_dir.join(format!("{}.png", "a".repeat(64)));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let folder = disco::build::flow::flow_dir(dir.path()).join(format!("{}.f32", "b".repeat(64)));
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(frames_dir.join("index-x-2.json"), b"\n{\"not\": [a list").unwrap();
    let gc = disco(dir.path(), &["gc"]);
    assert!(gc.status.success(), "{}", text(&gc).1);
    assert!(fifo.exists() && folder.is_dir());
    assert!(
        !frames_dir.join("index-x-2.json").exists(),
        "a stale index goes"
    );
}

/// A model set without RAFT: `disco check` points at the flow warp (DD's default, so at
/// `animation-mode` when the project does not write it), and with the warp off all is well.
#[test]
fn a_model_set_without_raft_is_an_error_at_the_flow_warp() {
    use crate::support::{disco, text};
    let Some(set) = crate::models::tiny_set() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(set.dir.join("manifest.json")).unwrap()).unwrap();
    manifest.as_object_mut().unwrap().remove("raft");
    std::fs::write(models.join("manifest.json"), manifest.to_string()).unwrap();
    encode(
        dir.path(),
        "source.mp4",
        &[picture(0), picture(1)],
        "veryslow",
    );
    let project = |extra: &str| {
        format!(
            "model-set \"models\"\nwidth-height 64 64\nclip-models \"ViT-B/32\"\nanimation \"clip\" {{\n    animation-mode \"Video Input\"\n    video-init-path \"source.mp4\"\n{extra}}}\n"
        )
    };
    std::fs::write(dir.path().join("disco.kdl"), project("")).unwrap();
    let out = disco(dir.path(), &["check"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains("needs RAFT optical flow for `video-init-flow-warp`"),
        "{all}"
    );
    assert!(
        all.contains("flow warp on by default in Video Input"),
        "{all}"
    );
    std::fs::write(
        dir.path().join("disco.kdl"),
        project("    video-init-flow-warp #true\n"),
    )
    .unwrap();
    let (stdout, stderr) = text(&disco(dir.path(), &["check"]));
    assert!(format!("{stdout}{stderr}").contains("flow warp on here"));
    // with the warp off, DD's default "optical flow" blended video needs RAFT too
    std::fs::write(
        dir.path().join("disco.kdl"),
        project("    video-init-flow-warp #false\n"),
    )
    .unwrap();
    let out = disco(dir.path(), &["check"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains("needs RAFT optical flow for `video-init-blend-mode \"optical flow\"`"),
        "{all}"
    );
    assert!(
        all.contains("flow-blended video by default in Video Input"),
        "{all}"
    );
    std::fs::write(
        dir.path().join("disco.kdl"),
        project("    video-init-flow-warp #false\n    video-init-blend-mode \"linear\"\n"),
    )
    .unwrap();
    let out = disco(dir.path(), &["check"]);
    let (stdout, stderr) = text(&out);
    assert!(
        !format!("{stdout}{stderr}").contains("RAFT"),
        "{stdout}{stderr}"
    );
}

/// Issue 16, `video-init-blend-mode` on the tiny set with the flow warp off (so the flows are
/// the blended video's own): "None" makes no extra folder or video; "optical flow" renders
/// nothing again (the mode changes no frame) but writes `flow/` — frame 0 a copy, frame i the
/// flow blend of rendered frames i−1 and i, computed here from the kept flow — and
/// `clip(0)_flow.mp4`; "linear" writes `blend/`, exactly the truncated half sums, and
/// `clip(0)_blend.mp4`; each second build does nothing.
#[test]
fn video_init_blend_mode_writes_dds_blended_frames_and_video() {
    use crate::support::{disco, text};
    let Some(set) = crate::models::tiny_set() else {
        return;
    };
    let Some(raft) = set.manifest.raft.as_ref() else {
        assert!(std::env::var_os("CI").is_none(), "the tiny set has no RAFT");
        eprintln!(
            "skipping: the tiny set at {} has no RAFT graph",
            set.dir.display()
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let frames: Vec<_> = (0..8).map(picture).collect();
    encode(dir.path(), "source.mp4", &frames, "veryslow");
    let project = |mode: &str| {
        format!(
            r#"model-set "{}"
width-height 64 64
seed 3
clip-models "ViT-B/32"
text-prompts "a red circle"
animation "clip" {{
    animation-mode "Video Input"
    video-init-path "source.mp4"
    extract-nth-frame 2
    video-init-flow-warp #false
    video-init-blend-mode "{mode}"
    video-init-steps 6
    video-init-skip-steps 2
    video-init-frames-skip-steps "50%"
    video-init-cutn-batches 1
    video-init-frames-scale 0
}}
"#,
            set.dir.display()
        )
    };
    let kdl = dir.path().join("disco.kdl");
    let events = |mode: &str| -> Vec<serde_json::Value> {
        std::fs::write(&kdl, project(mode)).unwrap();
        let out = disco(dir.path(), &["build", "--message-format", "json"]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}\n{stdout}");
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let named = |events: &[serde_json::Value], kind: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["event"] == kind)
            .map(|e| {
                let what = ["output", "folder", "job"]
                    .iter()
                    .find_map(|k| e[k].as_str());
                what.unwrap_or_default().to_owned()
            })
            .collect()
    };
    let out = dir.path().join("images_out/clip");
    let png = |sub: &str, f: usize| out.join(sub).join(format!("clip(0)_{f:04}.png"));
    let pixels = |p: &Path| disco::video::png::read_rgb(p).unwrap();
    let flows = || {
        std::fs::read_dir(disco::build::flow::flow_dir(dir.path()))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let idle = |e: &[serde_json::Value]| {
        for kind in [
            "job-finished",
            "materialized",
            "frames-blended",
            "video-encoded",
        ] {
            assert!(named(e, kind).is_empty(), "{kind}: {e:?}");
        }
    };

    // "None": the rendered frames and the plain video, nothing else
    let first = events("None");
    assert_eq!(named(&first, "job-finished").len(), 4, "{first:?}");
    assert_eq!(
        named(&first, "video-encoded"),
        ["images_out/clip/clip(0).mp4"]
    );
    assert!(!out.join("flow").exists() && !out.join("blend").exists());
    assert_eq!(flows(), 0);

    // "optical flow": no frame renders again; the three pairs' flows are computed and kept
    let e = events("optical flow");
    assert!(named(&e, "job-finished").is_empty(), "{e:?}");
    assert_eq!(named(&e, "frames-blended"), ["images_out/clip/flow"]);
    assert_eq!(
        named(&e, "video-encoded"),
        ["images_out/clip/clip(0)_flow.mp4"]
    );
    assert!(out.join("clip(0)_flow.mp4").is_file());
    assert_eq!(flows(), 3);
    assert_eq!(
        std::fs::read(png("flow", 0)).unwrap(),
        std::fs::read(png("", 0)).unwrap(),
        "frame 0 is copied"
    );
    // each frame i: rendered i·½ + (rendered i−1 remapped along the flow from source i back
    // to source i−1)·½, truncated; the flow as kept under the RAFT graph's hash
    let store = Store::new(dir.path());
    let mut facts = disco::build::StoreFacts::new(
        store.stat_cache(),
        disco::render::session::Device::Cpu,
        None,
    )
    .with_frames(disco::build::source_frames::frames_dir(dir.path()));
    let loaded = disco::project::load(&kdl).project.expect("valid");
    let plan = build::make_plan(&loaded, &[], None, &store, &mut facts).expect("plan");
    let sources: Vec<String> = plan.jobs[plan.targets[0].jobs.clone()]
        .iter()
        .map(|j| match &j.frame.init {
            disco::plan::Init::SourceFrame { source } => source.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let graph = &set.manifest.graphs[raft.family.graph("forward").unwrap()].blake3;
    for i in 1..4 {
        let file = disco::build::flow::flow_file(
            dir.path(),
            graph,
            (&sources[i], &sources[i - 1]),
            (64, 64),
        );
        let flow = disco::build::flow::read_flow(&file, (64, 64)).expect("a kept flow");
        let (prev, this) = (pixels(&png("", i - 1)), pixels(&png("", i)));
        let at = |y: f64, x: f64, c: usize| -> f64 {
            let inside = (0.0..64.0).contains(&y) && (0.0..64.0).contains(&x);
            if inside {
                f64::from(prev[[y as usize, x as usize, c]])
            } else {
                0.0
            }
        };
        let want = ndarray::Array3::from_shape_fn((64, 64, 3), |(y, x, c)| {
            let sx = x as f64 + f64::from(flow[[y, x, 0]]);
            let sy = y as f64 + f64::from(flow[[y, x, 1]]);
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let warped = at(y0, x0, c) * (1.0 - fx) * (1.0 - fy)
                + at(y0, x0 + 1.0, c) * fx * (1.0 - fy)
                + at(y0 + 1.0, x0, c) * (1.0 - fx) * fy
                + at(y0 + 1.0, x0 + 1.0, c) * fx * fy;
            let v = f64::from(this[[y, x, c]]) * 0.5 + f64::from(warped as f32) * 0.5;
            (v as f32).clamp(0.0, 255.0) as u8
        });
        let got = pixels(&png("flow", i));
        let off = got
            .iter()
            .zip(&want)
            .filter(|(a, b)| a.abs_diff(**b) > 1)
            .count();
        let exact = got.iter().zip(&want).filter(|(a, b)| a == b).count();
        assert_eq!(off, 0, "frame {i}");
        assert!(
            exact * 100 >= got.len() * 99,
            "frame {i}: {exact} of {}",
            got.len()
        );
        assert_ne!(got, this, "frame {i} is blended");
    }
    idle(&events("optical flow"));
    assert_eq!(flows(), 3);

    // "linear": (rendered i−1 + rendered i)/2, truncated, exactly
    let e = events("linear");
    assert_eq!(named(&e, "frames-blended"), ["images_out/clip/blend"]);
    assert_eq!(
        named(&e, "video-encoded"),
        ["images_out/clip/clip(0)_blend.mp4"]
    );
    assert_eq!(pixels(&png("blend", 0)), pixels(&png("", 0)));
    for i in 1..4 {
        let (prev, this) = (pixels(&png("", i - 1)), pixels(&png("", i)));
        let want = ndarray::Zip::from(&prev)
            .and(&this)
            .map_collect(|&a, &b| ((u16::from(a) + u16::from(b)) / 2) as u8);
        assert_eq!(pixels(&png("blend", i)), want, "frame {i}");
    }
    idle(&events("linear"));
    // a blended frame someone overwrote is made again, and only it
    std::fs::write(png("blend", 2), b"not a png").unwrap();
    let e = events("linear");
    let made: Vec<u64> = e
        .iter()
        .filter(|e| e["event"] == "frames-blended")
        .map(|e| e["frames"].as_u64().unwrap())
        .collect();
    assert_eq!(made, [1], "{e:?}");
    idle(&events("linear"));
}
