//! A 3D animation end to end on the tiny set (its MiDaS and AdaBins graphs): each frame after
//! the first starts from the previous one warped through its depth; an edit of the camera at
//! a later key re-renders exactly the frames whose keys change, and `disco plan` names it.
//! A set without depth graphs: `disco check` says so at `animation-mode`.

use std::path::Path;

use crate::models::tiny_set;
use crate::support::{disco, root, text};

fn project(models: &Path, rotation_y: &str) -> String {
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
    rotation-3d-y "{rotation_y}"
    midas-weight 0.3
}}
"#,
        models.display()
    )
}

/// The frames `disco build` rendered, each with the reason it gave.
fn build(dir: &Path) -> Vec<(String, String)> {
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
}

#[test]
fn a_3d_animation_renders_and_a_later_camera_edit_rerenders_only_its_frames() {
    let Some(set) = tiny_set() else { return };
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    std::fs::write(&kdl, project(&set.dir, "0: (0.5)")).unwrap();
    let first = build(dir.path());
    assert_eq!(first.len(), 4, "{first:?}");
    let png = |f: u32| dir.path().join(format!("images_out/cam/cam(0)_{f:04}.png"));
    let before: Vec<Vec<u8>> = (0..4).map(|f| std::fs::read(png(f)).unwrap()).collect();
    for f in 1..4 {
        assert_ne!(before[f], before[f - 1], "frame {f} equals frame {}", f - 1);
    }
    // nothing changed: nothing renders
    assert!(build(dir.path()).is_empty());

    // the camera turns faster from frame 3 on: frames 0–2 keep their keys
    std::fs::write(&kdl, project(&set.dir, "0: (0.5), 2: (0.5), 3: (1.0)")).unwrap();
    let plan = disco(dir.path(), &["plan"]);
    let (stdout, stderr) = text(&plan);
    assert!(plan.status.success(), "{stderr}");
    let stale: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("cam frame"))
        .collect();
    assert_eq!(stale, ["cam frame 3: rotation-3d-y 0.5 → 1.0"], "{stdout}");
    let second = build(dir.path());
    assert_eq!(
        second,
        [(
            "cam frame 3".to_owned(),
            "rotation-3d-y 0.5 → 1.0".to_owned()
        )]
    );
    for f in 0..3 {
        assert_eq!(
            std::fs::read(png(f)).unwrap(),
            before[f as usize],
            "frame {f}"
        );
    }
    assert_ne!(std::fs::read(png(3)).unwrap(), before[3]);
}

/// The toy set without its depth section: links to its graphs, a manifest with no `depth`.
fn set_without_depth(dir: &Path) -> std::path::PathBuf {
    let toy = root().join("models/toy");
    let set = dir.join("no-depth");
    std::fs::create_dir(&set).unwrap();
    for entry in std::fs::read_dir(&toy).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "onnx") {
            std::os::unix::fs::symlink(&path, set.join(path.file_name().unwrap())).unwrap();
        }
    }
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(toy.join("manifest.json")).unwrap()).unwrap();
    let dropped = manifest.as_object_mut().unwrap().remove("depth");
    assert!(dropped.is_some(), "the toy set has depth graphs");
    std::fs::write(set.join("manifest.json"), manifest.to_string()).unwrap();
    set
}

#[test]
fn a_model_set_without_depth_graphs_is_an_error_at_animation_mode() {
    let dir = tempfile::tempdir().unwrap();
    let set = set_without_depth(dir.path());
    std::fs::write(dir.path().join("disco.kdl"), project(&set, "0: (0.5)")).unwrap();
    let out = disco(dir.path(), &["check"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains("a 3D animation needs depth graphs")
            && stderr.contains("`dpt_large`")
            && stderr.contains("no AdaBins"),
        "{stderr}"
    );
    // at the setting, with the line that wrote it
    assert!(stderr.contains("animation-mode \"3D\""), "{stderr}");
    assert!(stderr.contains("3D needs depth graphs"), "{stderr}");
    // another MiDaS model is named as the one missing
    let kdl = project(&root().join("models/toy"), "0: (0.5)").replace(
        "midas-weight 0.3",
        "midas-weight 1\n    midas-depth-model \"midas_v21\"",
    );
    std::fs::write(dir.path().join("disco.kdl"), kdl).unwrap();
    let out = disco(dir.path(), &["check"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no MiDaS")
            && stderr.contains("`midas_v21`")
            && !stderr.contains("dpt_large"),
        "{stderr}"
    );
    assert!(stderr.contains("--midas NAME=PATH"), "{stderr}");
}

/// The 3D init itself on the tiny set's depth graphs: a finite depth map of the frame's size;
/// the identity pose gives the frame back (to DD's half-level shift and 8-bit truncation), a
/// turned camera moves it; AdaBins's share changes the depth.
#[test]
fn the_3d_init_warps_the_previous_frame_through_its_depth() {
    use disco::build::warp3d::warp3d_init;
    use disco::plan::{Key, Warp3d};
    use disco::render::depth::DepthSessions;
    use disco::render::session::{Device, SessionOptions};
    let Some(set) = tiny_set() else { return };
    let opts = SessionOptions {
        device: Device::Cpu,
        intra_threads: Some(1),
        verify_hashes: true,
    };
    let mut depth = DepthSessions::open(&set, "dpt_large", true, opts).unwrap();
    let prev = ndarray::Array3::from_shape_fn((64, 96, 3), |(y, x, c)| {
        ((x * 3 + y * 2 + c * 60) % 256) as u8
    });
    let image = prev
        .view()
        .permuted_axes([2, 0, 1])
        .mapv(|v| f32::from(v) / 255.0);
    let midas = depth.depth(image.view(), 1.0).unwrap();
    let blended = depth.depth(image.view(), 0.3).unwrap();
    assert_eq!(midas.dim(), (64, 96));
    assert!(midas.iter().chain(&blended).all(|v| v.is_finite()));
    assert_ne!(midas, blended, "AdaBins's share changes the depth");
    let still = Warp3d {
        key: Key([0; 32]),
        translation_x: 0.0,
        translation_y: 0.0,
        translation_z: 0.0,
        rotation_3d_x: 0.0,
        rotation_3d_y: 0.0,
        rotation_3d_z: 0.0,
        fov: 40.0,
        midas_weight: 0.3,
        padding_mode: "border".into(),
        sampling_mode: "bicubic".into(),
        midas_depth_model: "dpt_large".into(),
        midas_graph: String::new(),
        adabins_graph: Some(String::new()),
    };
    let planes = (200.0, 10000.0);
    let same = warp3d_init(&prev, &still, planes, &mut depth).unwrap();
    assert_eq!(same.dim(), prev.dim());
    let off = same
        .iter()
        .zip(&prev)
        .map(|(a, b)| (i16::from(*a) - i16::from(*b)).abs())
        .max()
        .unwrap();
    assert!(off <= 1, "identity pose moved a pixel by {off} levels");
    let turned = Warp3d {
        rotation_3d_y: 5.0,
        translation_z: 10.0,
        ..still.clone()
    };
    let moved = warp3d_init(&prev, &turned, planes, &mut depth).unwrap();
    let changed = moved.iter().zip(&prev).filter(|(a, b)| a != b).count();
    assert!(changed > prev.len() / 2, "only {changed} values moved");
    let bad = Warp3d {
        padding_mode: "wrap".into(),
        ..still
    };
    assert!(warp3d_init(&prev, &bad, planes, &mut depth).is_err());
}

/// A 3D turbo animation (DD's turbo, dd-algorithm.md §10.4): six frames, `turbo-steps 3`,
/// `turbo-preroll 1`, so frames 0, 1, 3 are diffused and 2, 4, 5 skipped.
fn turbo_project(models: &Path, guidance: &str, rotation_y: &str) -> String {
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
clip-guidance-scale "{guidance}"
animation "cam" {{
    animation-mode "3D"
    max-frames 6
    frames-skip-steps "50%"
    translation-z "0: (10)"
    rotation-3d-y "{rotation_y}"
    turbo-mode #true
    turbo-steps 3
    turbo-preroll 1
}}
"#,
        models.display()
    )
}

/// The frames a build ran the sampler for (those with `step` events), and those it finished.
fn build_events(dir: &Path) -> (Vec<String>, Vec<String>) {
    let out = disco(dir, &["build", "--message-format", "json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let jobs = |kind: &str| {
        let mut v: Vec<String> = events
            .iter()
            .filter(|e| e["event"] == kind)
            .map(|e| e["job"].as_str().unwrap().to_owned())
            .collect();
        v.dedup();
        v
    };
    (jobs("step"), jobs("job-finished"))
}

/// Each output frame's job key (the stored image its bytes are), and the store's folder.
fn frame_keys(dir: &Path, frames: u32) -> Vec<String> {
    let mut images = Vec::new();
    for d in std::fs::read_dir(dir.join(".disco/objects")).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            if name.len() == 68 && name.ends_with(".png") {
                images.push((name[..64].to_owned(), std::fs::read(&p).unwrap()));
            }
        }
    }
    (0..frames)
        .map(|f| {
            let out = std::fs::read(dir.join(format!("images_out/cam/cam(0)_{f:04}.png"))).unwrap();
            images
                .iter()
                .find(|(_, b)| *b == out)
                .map(|(k, _)| k.clone())
                .unwrap_or_else(|| panic!("frame {f}: no stored image"))
        })
        .collect()
}

fn labels(frames: &[u32]) -> Vec<String> {
    frames.iter().map(|f| format!("cam frame {f}")).collect()
}

#[test]
fn a_3d_turbo_animation_diffuses_every_third_frame_and_blends_the_others() {
    use disco::build::png::decode;
    use disco::build::turbo::blend;
    let Some(set) = tiny_set() else { return };
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    std::fs::write(&kdl, turbo_project(&set.dir, "0: (5000)", "0: (0.5)")).unwrap();
    // `disco plan` marks the skipped frames
    let plan = disco(dir.path(), &["plan"]);
    let (stdout, stderr) = text(&plan);
    assert!(plan.status.success(), "{stderr}");
    let skipped: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("turbo skip"))
        .collect();
    assert_eq!(skipped.len(), 3, "{stdout}");
    for f in [2, 4, 5] {
        assert!(
            stdout.contains(&format!("cam frame {f} (turbo skip")),
            "{stdout}"
        );
    }
    // and so does its JSON form
    let json = disco(dir.path(), &["plan", "--message-format", "json"]);
    let (stdout, stderr) = text(&json);
    assert!(json.status.success(), "{stderr}");
    let skips: Vec<String> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "stale" && e["turbo_skip"] == true)
        .map(|e| e["job"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(skips, labels(&[2, 4, 5]), "{stdout}");

    let (sampled, finished) = build_events(dir.path());
    assert_eq!(
        sampled,
        labels(&[0, 1, 3]),
        "only diffused frames run the sampler"
    );
    assert_eq!(finished.len(), 6, "{finished:?}");

    // the stored images: each frame's saved image is DD's blend of the images it hands on
    let keys = frame_keys(dir.path(), 6);
    let object = |k: &str, suffix: &str| {
        let p = dir
            .path()
            .join(format!(".disco/objects/{}/{k}{suffix}", &k[..2]));
        decode(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
    };
    let saved = |f: usize| object(&keys[f], ".png");
    let next = |f: usize| object(&keys[f], ".next.png");
    let old = |f: usize| object(&keys[f], ".old.png");
    // frame 1 (the preroll's last, diffused): a third of the diffused image, two of its
    // init, which starts the old chain
    assert_eq!(saved(1), blend(&next(1), 1.0 / 3.0, &old(1)));
    // frame 2 (skipped, weight (2 + 1)/3 = 1): the new warp alone
    assert_eq!(saved(2), next(2));
    // frame 3 (diffused): blended with its init, which starts the old chain again
    assert_eq!(saved(3), blend(&next(3), 1.0 / 3.0, &old(3)));
    assert_ne!(next(3), old(3));
    // frame 4 (skipped, weight 2/3): both warps
    assert_eq!(saved(4), blend(&next(4), 2.0 / 3.0, &old(4)));
    assert_ne!(saved(4), next(4));
    // every record of a skipped frame says so, and that it ran no step
    for f in [2, 4, 5] {
        let k = &keys[f];
        let r: serde_json::Value = serde_json::from_slice(
            &std::fs::read(
                dir.path()
                    .join(format!(".disco/objects/{}/{k}.json", &k[..2])),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(r["frame"]["turbo"]["skipped"]["blend"].is_number(), "{r}");
        assert_eq!(r["steps"], 0, "{r}");
    }
    let before: Vec<Vec<u8>> = (0..6)
        .map(|f| {
            std::fs::read(dir.path().join(format!("images_out/cam/cam(0)_{f:04}.png"))).unwrap()
        })
        .collect();

    // nothing changed: nothing renders
    assert_eq!(build_events(dir.path()).1, Vec::<String>::new());

    // guidance up from frame 2 on: frame 2 (skipped) keeps its key; frame 3 (diffused)
    // and the frames after it render again
    std::fs::write(
        &kdl,
        turbo_project(&set.dir, "0: (5000), 1: (5000), 2: (8000)", "0: (0.5)"),
    )
    .unwrap();
    // `disco plan` says why: the guidance at frame 3, the chain at the skipped frames after
    let plan = disco(dir.path(), &["plan"]);
    let (stdout, stderr) = text(&plan);
    assert!(plan.status.success(), "{stderr}");
    let stale: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("cam frame"))
        .collect();
    assert_eq!(stale.len(), 3, "{stdout}");
    assert!(
        stale[0].starts_with("cam frame 3: ") && stale[0].contains("clip-guidance-scale"),
        "{stdout}"
    );
    for (line, f) in stale[1..].iter().zip([4, 5]) {
        assert_eq!(
            *line,
            format!(
                "cam frame {f} (turbo skip: warps blended, no sampler): previous frame changed"
            ),
            "{stdout}"
        );
    }
    let (sampled, finished) = build_events(dir.path());
    assert_eq!(finished, labels(&[3, 4, 5]));
    assert_eq!(sampled, labels(&[3]));
    for (f, was) in before.iter().enumerate().take(3) {
        let now =
            std::fs::read(dir.path().join(format!("images_out/cam/cam(0)_{f:04}.png"))).unwrap();
        assert_eq!(&now, was, "frame {f}");
    }

    // the camera turns faster from frame 4 on: frames 4 and 5 (skipped) render again,
    // without the sampler
    std::fs::write(
        &kdl,
        turbo_project(
            &set.dir,
            "0: (5000), 1: (5000), 2: (8000)",
            "0: (0.5), 3: (0.5), 4: (2.0)",
        ),
    )
    .unwrap();
    let (sampled, finished) = build_events(dir.path());
    assert_eq!(finished, labels(&[4, 5]));
    assert!(sampled.is_empty(), "{sampled:?}");
    assert_eq!(build_events(dir.path()).1, Vec::<String>::new());

    // a skipped frame whose old image is gone renders again (its output file cannot give
    // it back, so it is not adopted), to the same bytes
    let keys = frame_keys(dir.path(), 6);
    let was = std::fs::read(dir.path().join("images_out/cam/cam(0)_0004.png")).unwrap();
    let k = &keys[4];
    std::fs::remove_file(
        dir.path()
            .join(format!(".disco/objects/{}/{k}.old.png", &k[..2])),
    )
    .unwrap();
    let (sampled, finished) = build_events(dir.path());
    assert_eq!(finished, labels(&[4]));
    assert!(sampled.is_empty(), "{sampled:?}");
    assert_eq!(
        std::fs::read(dir.path().join("images_out/cam/cam(0)_0004.png")).unwrap(),
        was
    );
}

/// Every string under `key` anywhere in `v`.
fn strings_at(v: &serde_json::Value, key: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k == key, x.as_str()) {
                    (true, Some(s)) => out.push(s.to_owned()),
                    _ => strings_at(x, key, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings_at(x, key, out)),
        _ => {}
    }
}

/// DD's other MiDaS models: with `midas-depth-model "midas_v21_small"` a 3D frame's depth
/// comes from that model's graph, preprocessed its way (256 px `upper_bound`, ImageNet's
/// mean/std). The depth equals the graph run by hand on that input; the rendered frame 1's
/// record keys that graph's blake3, not DPT-Large's; its key and pixels differ from the
/// dpt_large build's, and frame 0 (no depth) is the same.
#[test]
fn a_3d_frame_uses_the_graph_and_preprocessing_of_its_midas_depth_model() {
    use disco::render::depth::{DepthSessions, midas_depth, midas_size, net_input};
    use disco::render::manifest::MidasResize;
    use disco::render::session::{Device, GraphSession, Input, SessionOptions};
    let Some(set) = tiny_set() else { return };
    let m = &set.manifest;
    let small = m
        .midas("midas_v21_small")
        .expect("the tiny set has midas_v21_small");
    assert_eq!(small.net_size, Some(256));
    assert_eq!(small.resize, MidasResize::UpperBound);
    assert_eq!(small.mean, [0.485, 0.456, 0.406]);
    let graph_hash = |name: &str| {
        let g = m.midas(name).and_then(|d| d.forward()).unwrap();
        m.graphs[g].blake3.clone()
    };
    let (small_hash, large_hash) = (graph_hash("midas_v21_small"), graph_hash("dpt_large"));
    assert_ne!(small_hash, large_hash);

    // the depth map: the small graph on the 160×256 upper_bound input (DPT-Large's would be
    // 256×384), ImageNet-normalised
    let opts = SessionOptions {
        device: Device::Cpu,
        intra_threads: Some(1),
        verify_hashes: true,
    };
    let image = ndarray::Array3::from_shape_fn((3, 64, 96), |(c, y, x)| {
        ((x * 3 + y * 2 + c * 60) % 256) as f32 / 255.0
    });
    let size = midas_size(64, 96, 256, 32, MidasResize::UpperBound);
    assert_eq!(size, (160, 256));
    let mut sessions = DepthSessions::open(&set, "midas_v21_small", false, opts).unwrap();
    let got = sessions.depth(image.view(), 1.0).unwrap();
    let mut session = GraphSession::open(&set, small.forward().unwrap(), opts).unwrap();
    let input = net_input(image.view(), size, (small.mean, small.std)).into_dyn();
    let mut out = session.run(&[("image", Input::F32(input.view()))]).unwrap();
    let pred = out
        .remove("inverse_depth")
        .unwrap()
        .into_shape_with_order(size)
        .unwrap();
    assert_eq!(got, midas_depth(pred.view(), (64, 96)));
    let mut large = DepthSessions::open(&set, "dpt_large", false, opts).unwrap();
    assert_ne!(got, large.depth(image.view(), 1.0).unwrap());

    // two frames rendered with each model
    let render = |model: &str| {
        let dir = tempfile::tempdir().unwrap();
        let text = project(&set.dir, "0: (0.5)")
            .replace("max-frames 4", "max-frames 2")
            .replace(
                "midas-weight 0.3",
                &format!("midas-weight 1\n    midas-depth-model \"{model}\""),
            );
        std::fs::write(dir.path().join("disco.kdl"), text).unwrap();
        assert_eq!(build(dir.path()).len(), 2);
        let keys = frame_keys(dir.path(), 2);
        let record: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!(
                ".disco/objects/{}/{}.json",
                &keys[1][..2],
                keys[1]
            )))
            .unwrap(),
        )
        .unwrap();
        let (mut graphs, mut models) = (Vec::new(), Vec::new());
        strings_at(&record, "midas-graph", &mut graphs);
        strings_at(&record, "midas-depth-model", &mut models);
        let png = |f: u32| {
            std::fs::read(dir.path().join(format!("images_out/cam/cam(0)_{f:04}.png"))).unwrap()
        };
        (keys, graphs, models, [png(0), png(1)])
    };
    let (small_keys, small_graphs, small_models, small_png) = render("midas_v21_small");
    assert_eq!(small_graphs, [small_hash]);
    assert_eq!(small_models, ["midas_v21_small"]);
    let (large_keys, large_graphs, _, large_png) = render("dpt_large");
    assert_eq!(large_graphs, [large_hash]);
    assert_eq!(small_keys[0], large_keys[0], "frame 0 has no depth");
    assert_eq!(small_png[0], large_png[0]);
    assert_ne!(small_keys[1], large_keys[1]);
    assert_ne!(
        small_png[1], large_png[1],
        "frame 1 warps through another depth"
    );
}
