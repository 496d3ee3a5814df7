//! The `pixels` flag of every setting is the source of truth for the key: perturbing a setting
//! whose flag is true changes some job's key (in a configuration where the setting has an
//! effect), and perturbing one whose flag is false changes none. A setting missing from the
//! key would serve stale images with no other test failing; a setting keyed without effect
//! would re-render for nothing. The keys compared are the jobs' and, with VR, the eye views'
//! (`plan/src/vr.rs`): VR's settings change the views' pixels, never a frame's.

use std::collections::BTreeSet;

use disco::plan::{self, Key, PlanOptions};
use disco::project::{self, SCHEMA};

use crate::engine::FakeFacts;

/// Settings every case starts from: small, seeded, a few images.
const BASE: &str = "seed 7\nsteps 50\nskip-steps 5\nn-batches 2\nwidth-height 128 128\n";

/// A small 2D animation (three frames).
const ANIM: &str = "animation-mode \"2D\"\nmax-frames 3\n";

/// (setting, context added to both sides, the setting's line on the base side, on the
/// perturbed side). An empty base line leaves the setting at its default.
const CASES: &[(&str, &str, &str, &str)] = &[
    ("batch-name", "", "", "batch-name \"Other\""),
    ("text-prompts", "", "", "text-prompts \"a red circle\""),
    ("image-prompts", "", "", "image-prompts \"prompt.png\""),
    (
        "prompt-tokenization",
        "text-prompts \"a red circle:2\"\n",
        "",
        "prompt-tokenization \"dd\"",
    ),
    ("width-height", "", "", "width-height 192 128"),
    ("steps", "", "", "steps 60"),
    ("skip-steps", "", "", "skip-steps 6"),
    ("clip-guidance-scale", "", "", "clip-guidance-scale 6000"),
    ("tv-scale", "", "", "tv-scale 10"),
    (
        "range-scale",
        "range-loss \"through-denoiser\"\n",
        "",
        "range-scale 100",
    ),
    ("range-loss", "", "", "range-loss \"through-denoiser\""),
    ("sat-scale", "", "", "sat-scale 5"),
    ("init-image", "", "", "init-image \"init.png\""),
    (
        "init-scale",
        "init-image \"init.png\"\n",
        "",
        "init-scale 500",
    ),
    ("cutn-batches", "", "", "cutn-batches 2"),
    ("skip-augs", "", "", "skip-augs #true"),
    ("n-batches", "", "", "n-batches 3"),
    ("display-rate", "", "", "display-rate 10"),
    ("resume-run", "", "", "resume-run #true"),
    (
        "diffusion-model",
        "",
        "",
        "diffusion-model \"256x256_diffusion_uncond\"",
    ),
    ("use-secondary-model", "", "", "use-secondary-model #false"),
    (
        "diffusion-sampling-mode",
        "",
        "",
        "diffusion-sampling-mode \"plms\"",
    ),
    (
        "timestep-respacing",
        "",
        "",
        "timestep-respacing \"ddim50\"",
    ),
    ("diffusion-steps", "", "", "diffusion-steps 1000"),
    ("use-checkpoint", "", "", "use-checkpoint #false"),
    // the custom model's path and architecture pick a graph; its hash, not them, is keyed
    ("custom-path", "", "", "custom-path \"m.pt\""),
    (
        "custom-model-image-size",
        "",
        "",
        "custom-model-image-size 512",
    ),
    (
        "custom-model-num-channels",
        "",
        "",
        "custom-model-num-channels 256",
    ),
    (
        "custom-model-num-res-blocks",
        "",
        "",
        "custom-model-num-res-blocks 3",
    ),
    (
        "custom-model-attention-resolutions",
        "",
        "",
        "custom-model-attention-resolutions \"32,16\"",
    ),
    (
        "custom-model-channel-mult",
        "",
        "",
        "custom-model-channel-mult \"1,2\"",
    ),
    ("custom-model-num-heads", "", "", "custom-model-num-heads 4"),
    (
        "custom-model-num-head-channels",
        "",
        "",
        "custom-model-num-head-channels 64",
    ),
    (
        "custom-model-num-heads-upsample",
        "",
        "",
        "custom-model-num-heads-upsample 2",
    ),
    (
        "custom-model-learn-sigma",
        "",
        "",
        "custom-model-learn-sigma #false",
    ),
    (
        "custom-model-use-scale-shift-norm",
        "",
        "",
        "custom-model-use-scale-shift-norm #true",
    ),
    (
        "custom-model-resblock-updown",
        "",
        "",
        "custom-model-resblock-updown #true",
    ),
    (
        "custom-model-use-new-attention-order",
        "",
        "",
        "custom-model-use-new-attention-order #true",
    ),
    (
        "custom-model-use-fp16",
        "",
        "",
        "custom-model-use-fp16 #false",
    ),
    ("vit-b32", "", "", "vit-b32 #false"),
    ("vit-b16", "", "", "vit-b16 #false"),
    ("vit-l14", "", "", "vit-l14 #true"),
    ("vit-l14-336px", "", "", "vit-l14-336px #true"),
    ("rn50", "", "", "rn50 #false"),
    ("rn101", "", "", "rn101 #true"),
    ("rn50x4", "", "", "rn50x4 #true"),
    ("rn50x16", "", "", "rn50x16 #true"),
    ("rn50x64", "", "", "rn50x64 #true"),
    ("vit-b32-laion2b-e16", "", "", "vit-b32-laion2b-e16 #true"),
    (
        "vit-b32-laion400m-e31",
        "",
        "",
        "vit-b32-laion400m-e31 #true",
    ),
    (
        "vit-b32-laion400m-e32",
        "",
        "",
        "vit-b32-laion400m-e32 #true",
    ),
    (
        "vit-b32-quickgelu-laion400m-e31",
        "",
        "",
        "vit-b32-quickgelu-laion400m-e31 #true",
    ),
    (
        "vit-b32-quickgelu-laion400m-e32",
        "",
        "",
        "vit-b32-quickgelu-laion400m-e32 #true",
    ),
    (
        "vit-b16-laion400m-e31",
        "",
        "",
        "vit-b16-laion400m-e31 #true",
    ),
    (
        "vit-b16-laion400m-e32",
        "",
        "",
        "vit-b16-laion400m-e32 #true",
    ),
    ("rn50-yfcc15m", "", "", "rn50-yfcc15m #true"),
    ("rn50-cc12m", "", "", "rn50-cc12m #true"),
    (
        "rn50-quickgelu-yfcc15m",
        "",
        "",
        "rn50-quickgelu-yfcc15m #true",
    ),
    ("rn50-quickgelu-cc12m", "", "", "rn50-quickgelu-cc12m #true"),
    ("rn101-yfcc15m", "", "", "rn101-yfcc15m #true"),
    (
        "rn101-quickgelu-yfcc15m",
        "",
        "",
        "rn101-quickgelu-yfcc15m #true",
    ),
    (
        "vit-b32-laion2b-s34b-b79k",
        "",
        "",
        "vit-b32-laion2b-s34b-b79k #true",
    ),
    (
        "vit-l14-laion400m-e31",
        "",
        "",
        "vit-l14-laion400m-e31 #true",
    ),
    (
        "vit-l14-laion400m-e32",
        "",
        "",
        "vit-l14-laion400m-e32 #true",
    ),
    (
        "vit-l14-laion2b-s32b-b82k",
        "",
        "",
        "vit-l14-laion2b-s32b-b82k #true",
    ),
    (
        "vit-h14-laion2b-s32b-b79k",
        "",
        "",
        "vit-h14-laion2b-s32b-b79k #true",
    ),
    ("intermediate-saves", "", "", "intermediate-saves 2"),
    (
        "intermediates-in-subfolder",
        "",
        "",
        "intermediates-in-subfolder #false",
    ),
    ("seed", "", "", "seed 8"),
    ("eta", "", "", "eta 0.5"),
    ("clamp-grad", "", "", "clamp-grad #false"),
    ("clamp-max", "", "", "clamp-max 0.1"),
    ("guidance-every", "", "", "guidance-every 2"),
    (
        "fix-brightness-contrast",
        "",
        "",
        "fix-brightness-contrast #true",
    ),
    ("adjustment-interval", TONE, "", "adjustment-interval 5"),
    (
        "high-brightness-adjust",
        TONE,
        "",
        "high-brightness-adjust #false",
    ),
    (
        "high-brightness-threshold",
        TONE,
        "",
        "high-brightness-threshold 100",
    ),
    (
        "high-brightness-adjust-amount",
        TONE,
        "",
        "high-brightness-adjust-amount 1.5",
    ),
    ("high-brightness-start", TONE, "", "high-brightness-start 3"),
    (
        "high-contrast-adjust",
        TONE,
        "",
        "high-contrast-adjust #false",
    ),
    (
        "high-contrast-threshold",
        TONE,
        "",
        "high-contrast-threshold 100",
    ),
    (
        "high-contrast-adjust-amount",
        TONE,
        "",
        "high-contrast-adjust-amount 1.5",
    ),
    ("high-contrast-start", TONE, "", "high-contrast-start 3"),
    (
        "low-brightness-adjust",
        TONE,
        "",
        "low-brightness-adjust #false",
    ),
    (
        "low-brightness-threshold",
        TONE,
        "",
        "low-brightness-threshold 100",
    ),
    (
        "low-brightness-adjust-amount",
        TONE,
        "",
        "low-brightness-adjust-amount 1.5",
    ),
    ("low-brightness-start", TONE, "", "low-brightness-start 3"),
    (
        "low-contrast-adjust",
        TONE,
        "",
        "low-contrast-adjust #false",
    ),
    (
        "low-contrast-threshold",
        TONE,
        "",
        "low-contrast-threshold 100",
    ),
    (
        "low-contrast-adjust-amount",
        TONE,
        "",
        "low-contrast-adjust-amount 1.5",
    ),
    ("low-contrast-start", TONE, "", "low-contrast-start 3"),
    ("voronoi-init", "", "", "voronoi-init #true"),
    (
        "voronoi-points",
        "voronoi-init #true\n",
        "",
        "voronoi-points 9",
    ),
    (
        "voronoi-palette",
        "voronoi-init #true\n",
        "",
        "voronoi-palette \"#102030\"",
    ),
    ("clip-denoised", "", "", "clip-denoised #true"),
    ("randomize-class", "", "", "randomize-class #false"),
    ("fuzzy-prompt", "", "", "fuzzy-prompt #true"),
    ("rand-mag", "fuzzy-prompt #true\n", "", "rand-mag 0.1"),
    ("perlin-init", "", "", "perlin-init #true"),
    (
        "perlin-mode",
        "perlin-init #true\n",
        "",
        "perlin-mode \"color\"",
    ),
    ("cut-overview", "", "", "cut-overview \"[14]*400+[4]*600\""),
    ("cut-innercut", "", "", "cut-innercut \"[4]*400+[14]*600\""),
    ("cut-ic-pow", "", "", "cut-ic-pow \"[2]*1000\""),
    ("cut-icgray-p", "", "", "cut-icgray-p \"[0.1]*400+[0]*600\""),
    (
        "use-vertical-symmetry",
        "",
        "",
        "use-vertical-symmetry #true",
    ),
    (
        "use-horizontal-symmetry",
        "",
        "",
        "use-horizontal-symmetry #true",
    ),
    (
        "transformation-percent",
        "use-horizontal-symmetry #true\n",
        "",
        "transformation-percent 0.2",
    ),
    (
        "animation-mode",
        "max-frames 3\n",
        "",
        "animation-mode \"2D\"",
    ),
    ("key-frames", ANIM, "", "key-frames #false"),
    (
        "max-frames",
        "animation-mode \"2D\"\nzoom \"0: (1), 30: (2)\"\n",
        "max-frames 3",
        "max-frames 4",
    ),
    (
        "interp-spline",
        "animation-mode \"2D\"\nmax-frames 5\nzoom \"0: (1), 2: (1.2), 4: (1.1)\"\n",
        "",
        "interp-spline \"Quadratic\"",
    ),
    ("angle", ANIM, "", "angle \"0: (3)\""),
    ("zoom", ANIM, "", "zoom \"0: (1.1)\""),
    ("translation-x", ANIM, "", "translation-x \"0: (2)\""),
    ("translation-y", ANIM, "", "translation-y \"0: (2)\""),
    // 3D: each frame after the first keys the camera's move at that frame, the camera and
    // sampling settings and the depth graphs (plan/src/motion3d.rs)
    ("translation-z", THREE_D, "", "translation-z \"0: (5)\""),
    ("rotation-3d-x", THREE_D, "", "rotation-3d-x \"0: (1)\""),
    ("rotation-3d-y", THREE_D, "", "rotation-3d-y \"0: (1)\""),
    ("rotation-3d-z", THREE_D, "", "rotation-3d-z \"0: (1)\""),
    (
        "midas-depth-model",
        THREE_D,
        "",
        "midas-depth-model \"dpt_hybrid\"",
    ),
    ("midas-weight", THREE_D, "", "midas-weight 0.5"),
    ("fov", THREE_D, "", "fov 60"),
    ("turbo-mode", THREE_D, "", "turbo-mode #true"),
    (
        "turbo-steps",
        TURBO,
        "turbo-preroll 0",
        "turbo-preroll 0\nturbo-steps 2",
    ),
    ("turbo-preroll", TURBO, "turbo-preroll 0", "turbo-preroll 1"),
    ("padding-mode", THREE_D, "", "padding-mode \"zeros\""),
    ("sampling-mode", THREE_D, "", "sampling-mode \"bilinear\""),
    // the camera's clipping planes shape only the depth coordinate DD drops
    ("near-plane", THREE_D, "", "near-plane 100"),
    ("far-plane", THREE_D, "", "far-plane 5000"),
    ("vr-mode", THREE_D, "", "vr-mode #true"),
    ("vr-eye-angle", VR, "", "vr-eye-angle 1.5"),
    ("vr-ipd", VR, "", "vr-ipd 6"),
    ("frames-scale", ANIM, "", "frames-scale 1000"),
    ("frames-skip-steps", ANIM, "", "frames-skip-steps \"50%\""),
    ("video-fps", ANIM, "", "video-fps 24"),
    ("video-crf", ANIM, "", "video-crf 20"),
    ("model-set", "", "", "model-set \"other-models\""),
    // Video Input: the frames' pixels are keyed, not the video's path (both files hold the
    // same frames)
    ("video-init-path", VIDEO, "", "video-init-path \"same.mp4\""),
    ("extract-nth-frame", VIDEO, "", "extract-nth-frame 1"),
    (
        "video-init-seed-continuity",
        VIDEO,
        "",
        "video-init-seed-continuity #true",
    ),
    (
        "video-init-flow-warp",
        VIDEO,
        "",
        "video-init-flow-warp #false",
    ),
    (
        "video-init-flow-blend",
        VIDEO,
        "",
        "video-init-flow-blend 0.5",
    ),
    (
        "video-init-check-consistency",
        VIDEO,
        "",
        "video-init-check-consistency #true",
    ),
    (
        "video-init-blend-mode",
        VIDEO,
        "",
        "video-init-blend-mode \"linear\"",
    ),
    ("video-init-steps", VIDEO, "", "video-init-steps 60"),
    (
        "video-init-clip-guidance-scale",
        VIDEO,
        "",
        "video-init-clip-guidance-scale 2000",
    ),
    ("video-init-tv-scale", VIDEO, "", "video-init-tv-scale 1"),
    (
        "video-init-range-scale",
        "range-loss \"through-denoiser\"\nanimation-mode \"Video Input\"\nvideo-init-path \"clip.mp4\"\n",
        "",
        "video-init-range-scale 100",
    ),
    ("video-init-sat-scale", VIDEO, "", "video-init-sat-scale 3"),
    (
        "video-init-cutn-batches",
        VIDEO,
        "",
        "video-init-cutn-batches 2",
    ),
    (
        "video-init-skip-steps",
        VIDEO,
        "",
        "video-init-skip-steps 6",
    ),
    (
        "video-init-frames-scale",
        VIDEO,
        "",
        "video-init-frames-scale 1000",
    ),
    (
        "video-init-frames-skip-steps",
        VIDEO,
        "",
        "video-init-frames-skip-steps \"50%\"",
    ),
];

/// A small 3D animation (three frames).
const THREE_D: &str = "animation-mode \"3D\"\nmax-frames 3\n";

/// The small 3D animation with DD's turbo on.
const TURBO: &str = "animation-mode \"3D\"\nmax-frames 3\nturbo-mode #true\n";

/// The small 3D animation with VR's eye views.
const VR: &str = "animation-mode \"3D\"\nmax-frames 3\nvr-mode #true\n";

/// progrock's tone correction switched on, so its tuning settings act.
const TONE: &str = "fix-brightness-contrast #true\n";

/// A Video Input target over a fake video of four frames (engine.rs: one line a frame).
const VIDEO: &str = "animation-mode \"Video Input\"\nvideo-init-path \"clip.mp4\"\n";

/// The keys of every job of `text`, in plan order.
fn keys(dir: &std::path::Path, text: &str) -> Vec<Key> {
    keys_and_eyes(dir, text).0
}

/// The keys of every job of `text` and of every VR eye view, in plan order.
fn keys_and_eyes(dir: &std::path::Path, text: &str) -> (Vec<Key>, Vec<Key>) {
    let path = dir.join("disco.kdl");
    std::fs::write(&path, text).unwrap();
    let r = project::load(&path);
    assert!(!r.diagnostics.has_errors(), "{text}\n{:?}", r.diagnostics);
    let mut facts = FakeFacts {
        model_hash: "m".into(),
    };
    let plan = plan::plan(&r.project.unwrap(), &PlanOptions::default(), &mut facts)
        .unwrap_or_else(|e| panic!("{text}\n{e:?}"));
    (
        plan.jobs.iter().map(|j| j.key).collect(),
        plan.eyes.iter().map(|e| e.key).collect(),
    )
}

#[test]
fn every_setting_has_a_perturbation_case() {
    let cased: BTreeSet<&str> = CASES.iter().map(|c| c.0).collect();
    let schema: BTreeSet<&str> = SCHEMA.iter().map(|s| s.name).collect();
    assert_eq!(cased.len(), CASES.len(), "a setting is listed twice");
    assert_eq!(
        schema.difference(&cased).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "settings without a case: add one to CASES"
    );
    assert_eq!(
        cased.difference(&schema).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "cases for settings that do not exist"
    );
}

#[test]
fn a_setting_changes_the_key_exactly_when_its_pixels_flag_says_so() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["init.png", "prompt.png"] {
        std::fs::write(dir.path().join(file), file.as_bytes()).unwrap();
    }
    for file in ["clip.mp4", "same.mp4"] {
        std::fs::write(dir.path().join(file), "a\nb\nc\nd\n").unwrap();
    }
    let mut wrong = Vec::new();
    for &(name, context, base, perturbed) in CASES {
        let info = SCHEMA.iter().find(|s| s.name == name).unwrap();
        let (a, eyes_a) = keys_and_eyes(dir.path(), &format!("{BASE}{context}{base}\n"));
        let (b, eyes_b) = keys_and_eyes(dir.path(), &format!("{BASE}{context}{perturbed}\n"));
        // Compare the jobs both plans have (`n-batches` and `max-frames` change the count),
        // and the eye views (`vr-mode` adds them).
        let common = a.len().min(b.len());
        assert!(common > 0, "{name}: no jobs");
        let changed = a[..common] != b[..common] || eyes_a != eyes_b;
        if changed != info.pixels {
            wrong.push(format!(
                "{name}: pixels {} but `{perturbed}` {} the key",
                info.pixels,
                if changed {
                    "changes"
                } else {
                    "does not change"
                }
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `prompt-tokenization` reaches the key only through the text CLIP reads: it re-renders the
/// jobs whose prompts carry DD's `:weight` suffix and no others (dd-algorithm.md §3.2).
#[test]
fn prompt_tokenization_changes_only_keys_whose_tokens_change() {
    let tmp = tempfile::tempdir().unwrap();
    let with = |prompts: &str, mode: &str| {
        keys(
            tmp.path(),
            &format!("{BASE}text-prompts {prompts}\nprompt-tokenization \"{mode}\"\n"),
        )
    };
    // A suffix: DD's tokens differ from disco's.
    assert_ne!(with("\"sky:2\"", "dd"), with("\"sky:2\"", "disco"));
    // No suffix, or an explicit weight: the same tokens either way.
    assert_eq!(with("\"sky\"", "dd"), with("\"sky\"", "disco"));
    assert_eq!(
        with("{ - \"sky\" weight=2; }", "dd"),
        with("{ - \"sky\" weight=2; }", "disco")
    );
    // DD's tokens of "sky:2" are those of the text "sky:2" with weight 2.
    assert_eq!(
        with("\"sky:2\"", "dd"),
        with("{ - \"sky:2\" weight=2; }", "disco")
    );
}

/// Under turbo (steps 2, preroll 1) frames 3 and 5 of six are skipped: their keys hold no
/// sampler setting, so raising `clip-guidance-scale` from frame 3 on leaves frames 0–3 as they
/// were and changes frame 4 (diffused) and 5 (after it); without turbo frame 3 changes too.
#[test]
fn a_skipped_turbo_frame_is_keyed_without_sampler_settings() {
    let dir = tempfile::tempdir().unwrap();
    let anim = "animation-mode \"3D\"\nmax-frames 6\nturbo-steps 2\nturbo-preroll 1\n";
    let changed = |turbo: &str| {
        let a = keys(
            dir.path(),
            &format!("{BASE}{anim}{turbo}clip-guidance-scale \"0: (5000)\"\n"),
        );
        let b = keys(
            dir.path(),
            &format!(
                "{BASE}{anim}{turbo}clip-guidance-scale \"0: (5000), 2: (5000), 3: (8000)\"\n"
            ),
        );
        assert_eq!(a.len(), 6);
        (0..6).filter(|&f| a[f] != b[f]).collect::<Vec<_>>()
    };
    assert_eq!(changed("turbo-mode #true\n"), [4, 5]);
    assert_eq!(changed(""), [3, 4, 5]);
}

/// VR's eye views are work of their own (`plan/src/vr.rs`): turning `vr-mode` on adds two per
/// frame — turbo-skipped frames included — and moves no frame's key; an edit of `vr-ipd` or
/// `vr-eye-angle` moves every view's key and no frame's; a frame's edit moves the views of
/// the frames it changes, and only those.
#[test]
fn vr_settings_key_the_eye_views_and_never_the_frames() {
    let dir = tempfile::tempdir().unwrap();
    let plain = keys_and_eyes(dir.path(), &format!("{BASE}{THREE_D}"));
    let (frames, eyes) = keys_and_eyes(dir.path(), &format!("{BASE}{VR}"));
    assert!(plain.1.is_empty(), "no views without vr-mode");
    assert_eq!(frames, plain.0, "vr-mode moves no frame's key");
    assert_eq!(eyes.len(), 6, "left and right of each of 3 frames");
    assert_eq!(
        eyes.iter().collect::<BTreeSet<_>>().len(),
        6,
        "all distinct"
    );
    for edit in ["vr-ipd 6", "vr-eye-angle 2"] {
        let (f, e) = keys_and_eyes(dir.path(), &format!("{BASE}{VR}{edit}\n"));
        assert_eq!(f, frames, "{edit} moves no frame");
        assert!(
            e.iter().zip(&eyes).all(|(a, b)| a != b),
            "{edit}: every view"
        );
    }
    // the camera edited at frame 2: frame 2's views move, frames 0 and 1's do not
    let (f, e) = keys_and_eyes(
        dir.path(),
        &format!("{BASE}{VR}rotation-3d-y \"0: (0), 1: (0), 2: (1)\"\n"),
    );
    assert_eq!(f[..2], frames[..2]);
    assert_ne!(f[2], frames[2]);
    assert_eq!(e[..4], eyes[..4]);
    assert!(e[4] != eyes[4] && e[5] != eyes[5]);
    // turbo's skipped frames have views too
    let (f, e) = keys_and_eyes(
        dir.path(),
        &format!("{BASE}{VR}turbo-mode #true\nturbo-steps 2\nturbo-preroll 0\n"),
    );
    assert_eq!((f.len(), e.len()), (3, 6));
    for name in ["vr-mode", "vr-eye-angle", "vr-ipd"] {
        let info = SCHEMA.iter().find(|s| s.name == name).unwrap();
        assert!(info.pixels, "{name} changes the eye views' pixels");
    }
}
