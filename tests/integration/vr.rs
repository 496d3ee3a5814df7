//! DD's VR mode end to end on the tiny set (dd-algorithm.md §10.4; `plan/src/vr.rs`): every
//! final frame of a 3D animation — diffused or turbo-skipped — gets a left and a right eye
//! view, `frame_NNNN_l.png` / `frame_NNNN_r.png`, and each eye a video; the views are work of
//! their own, so an edit of `vr-ipd` re-renders the views and no frame.

use std::path::Path;

use crate::models::tiny_set;
use crate::support::{disco, json_events, text};

/// Four 64×64 frames under turbo (steps 2, preroll 1: frames 0–2 diffused, 3 skipped), VR on.
fn project(models: &Path, ipd: &str) -> String {
    format!(
        r#"model-set "{}"
width-height 64 64
steps 6
skip-steps 0
seed 3
cutn-batches 1
clip-models "ViT-B/32"
text-prompts "a red circle"
frames-scale 0
animation "cam" {{
    animation-mode "3D"
    max-frames 4
    frames-skip-steps "50%"
    translation-z "0: (10)"
    rotation-3d-y "0: (0.5)"
    midas-weight 0.3
    turbo-mode #true
    turbo-steps 2
    turbo-preroll 1
    vr-mode #true
    vr-eye-angle 4
    vr-ipd {ipd}
}}
"#,
        models.display()
    )
}

/// The labels of the events of kind `event`.
fn of(events: &[serde_json::Value], event: &str, field: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == event)
        .map(|e| e[field].as_str().unwrap().to_owned())
        .collect()
}

fn pixels(path: &Path) -> ndarray::Array3<u8> {
    disco::video::png::read_rgb(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn vr_eye_views_render_per_frame_and_an_ipd_edit_rerenders_only_them() {
    let Some(set) = tiny_set() else { return };
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    std::fs::write(&kdl, project(&set.dir, "5")).unwrap();
    let out = dir.path().join("images_out/cam");
    let frame = |f: u32| out.join(format!("cam(0)_{f:04}.png"));
    let eye = |f: u32, e: &str| out.join(format!("frame_{f:04}_{e}.png"));

    let events = json_events(dir.path(), &["build", "--message-format", "json"]);
    assert_eq!(of(&events, "job-finished", "job").len(), 4, "{events:?}");
    let views = of(&events, "eye-rendered", "view");
    assert_eq!(views.len(), 8, "{views:?}");
    assert!(
        views.contains(&"cam frame 3 right eye".to_owned()),
        "{views:?}"
    );
    let frames: Vec<Vec<u8>> = (0..4).map(|f| std::fs::read(frame(f)).unwrap()).collect();
    let mut before = Vec::new();
    for f in 0..4 {
        // frame 3 is turbo-skipped: it has views too
        let (l, r, img) = (
            pixels(&eye(f, "l")),
            pixels(&eye(f, "r")),
            pixels(&frame(f)),
        );
        assert_eq!(l.dim(), img.dim(), "frame {f}");
        assert_ne!(l, img, "frame {f}: the left view is the frame");
        assert_ne!(r, img, "frame {f}: the right view is the frame");
        assert_ne!(l, r, "frame {f}: both eyes see the same");
        before.push((
            std::fs::read(eye(f, "l")).unwrap(),
            std::fs::read(eye(f, "r")).unwrap(),
        ));
    }
    // one video of the frames, one per eye, of four pictures each
    let mut videos = of(&events, "video-encoded", "output");
    videos.sort();
    assert_eq!(
        videos,
        [
            "images_out/cam/cam(0).mp4",
            "images_out/cam/cam(0)_l.mp4",
            "images_out/cam/cam(0)_r.mp4"
        ]
    );
    for v in &videos {
        let decoded = disco::video::decode(&dir.path().join(v)).unwrap();
        assert_eq!(decoded.frames.len(), 4, "{v}");
    }

    // nothing changed: nothing renders or encodes
    let again = json_events(dir.path(), &["build", "--message-format", "json"]);
    for kind in [
        "job-finished",
        "eye-rendered",
        "video-encoded",
        "materialized",
    ] {
        assert!(
            !again.iter().any(|e| e["event"] == kind),
            "{kind}: {again:?}"
        );
    }

    // the eyes sit further apart: every view, no frame
    std::fs::write(&kdl, project(&set.dir, "6")).unwrap();
    let plan = disco(dir.path(), &["plan"]);
    let (stdout, stderr) = text(&plan);
    assert!(plan.status.success(), "{stderr}");
    let stale: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("cam frame"))
        .collect();
    assert_eq!(stale.len(), 8, "{stdout}");
    for line in &stale {
        assert!(line.ends_with(" eye: vr-ipd 5.0 → 6.0"), "{line}\n{stdout}");
    }
    assert!(stdout.contains("0 to render, 4 up to date"), "{stdout}");
    let edited = json_events(dir.path(), &["build", "--message-format", "json"]);
    assert!(of(&edited, "job-finished", "job").is_empty(), "{edited:?}");
    assert_eq!(of(&edited, "eye-rendered", "view").len(), 8);
    for f in 0..4 {
        assert_eq!(
            std::fs::read(frame(f)).unwrap(),
            frames[f as usize],
            "frame {f}"
        );
        let (l, r) = &before[f as usize];
        assert_ne!(&std::fs::read(eye(f, "l")).unwrap(), l, "frame {f} left");
        assert_ne!(&std::fs::read(eye(f, "r")).unwrap(), r, "frame {f} right");
    }
    let mut videos = of(&edited, "video-encoded", "output");
    videos.sort();
    assert_eq!(
        videos,
        ["images_out/cam/cam(0)_l.mp4", "images_out/cam/cam(0)_r.mp4"],
        "the frames' video stays"
    );

    // back to 5: the first views come from the store, rendering nothing
    std::fs::write(&kdl, project(&set.dir, "5")).unwrap();
    let back = json_events(dir.path(), &["build", "--message-format", "json"]);
    assert!(of(&back, "eye-rendered", "view").is_empty(), "{back:?}");
    assert_eq!(of(&back, "materialized", "job").len(), 8);
    for f in 0..4 {
        assert_eq!(std::fs::read(eye(f, "l")).unwrap(), before[f as usize].0);
    }

    // gc keeps the current views (a build after it renders nothing) and drops the others
    let eye_objects = || {
        walk(&dir.path().join(".disco/objects"))
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".eye.png"))
            .count()
    };
    assert_eq!(eye_objects(), 16, "both ipds' views are stored");
    let gc = disco(dir.path(), &["gc"]);
    assert!(gc.status.success(), "{}", text(&gc).1);
    assert_eq!(
        eye_objects(),
        8,
        "the edited views went, the current stayed"
    );
    let after = json_events(dir.path(), &["build", "--message-format", "json"]);
    assert!(of(&after, "eye-rendered", "view").is_empty(), "{after:?}");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// `disco check` no longer warns of VR: a 3D target with `vr-mode` is a project like any.
#[test]
fn check_accepts_a_3d_target_with_vr() {
    let Some(set) = tiny_set() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("disco.kdl"), project(&set.dir, "5")).unwrap();
    let out = disco(dir.path(), &["check"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        !format!("{stdout}{stderr}").contains("vr-mode"),
        "{stdout}{stderr}"
    );
}

/// Issue 15's last gap: a farm's assemble step takes a turbo film's second images and its VR
/// views from the shared cache. One checkout renders the film through a `file://` cache;
/// another, sharing only the cache, assembles it with `--render never` and gets the same
/// frames and views; then a third, after the cache lost one view, reports just that view.
#[test]
fn render_never_assembles_a_turbo_vr_film_from_a_shared_cache() {
    let Some(set) = tiny_set() else { return };
    let cache = tempfile::tempdir().unwrap();
    let url = format!("file://{}", cache.path().display());
    let checkout = || {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("disco.kdl"), project(&set.dir, "5")).unwrap();
        dir
    };
    let files = |dir: &Path| -> Vec<Vec<u8>> {
        let out = dir.join("images_out/cam");
        (0..4)
            .flat_map(|f| {
                [
                    format!("cam(0)_{f:04}.png"),
                    format!("frame_{f:04}_l.png"),
                    format!("frame_{f:04}_r.png"),
                ]
            })
            .map(|name| std::fs::read(out.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}")))
            .collect()
    };

    let worker = checkout();
    let made = json_events(
        worker.path(),
        &["build", "--cache", &url, "--message-format", "json"],
    );
    assert_eq!(of(&made, "job-finished", "job").len(), 4, "{made:?}");
    assert_eq!(of(&made, "eye-rendered", "view").len(), 8, "{made:?}");
    let views: Vec<_> = crate::support::tree(cache.path())
        .into_iter()
        .filter(|(p, _)| p.to_string_lossy().ends_with(".view.json"))
        .collect();
    assert_eq!(views.len(), 8, "every view is in the cache");

    let assembler = checkout();
    let out = disco(
        assembler.path(),
        &[
            "build",
            "--cache",
            &url,
            "--cache-mode",
            "read",
            "--render",
            "never",
            "--message-format",
            "json",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(!stdout.contains("\"job-finished\""), "{stdout}");
    assert!(!stdout.contains("\"eye-rendered\""), "{stdout}");
    assert_eq!(files(assembler.path()), files(worker.path()));
    for v in ["cam(0).mp4", "cam(0)_l.mp4", "cam(0)_r.mp4"] {
        assert!(
            assembler.path().join("images_out/cam").join(v).is_file(),
            "{v}"
        );
    }
    // turbo's second images came with their jobs (frame 3 is skipped: next and old)
    let seconds = crate::support::tree(&assembler.path().join(".disco"))
        .into_iter()
        .filter(|(p, _)| {
            let p = p.to_string_lossy();
            p.ends_with(".next.png") || p.ends_with(".old.png")
        })
        .count();
    assert!(seconds >= 4, "{seconds} second images pulled");

    // a view the cache lost is one the assemble step reports, and only it
    let (lost, _) = &views[0];
    std::fs::remove_file(cache.path().join(lost)).unwrap();
    let late = checkout();
    let out = disco(
        late.path(),
        &[
            "build",
            "--cache",
            &url,
            "--cache-mode",
            "read",
            "--render",
            "never",
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("1 job is in no cache") && stderr.contains(" eye"),
        "{stderr}"
    );
}
