//! The toy model set (models/toy, in the repository) runs what a Disco Diffusion project asks
//! by default: two CLIP models, and LPIPS for `init-scale` (an init image) and `frames-scale`
//! (2D animation), both at DD's defaults (1000 and 1500).

use serde_json::Value;

use crate::support::{disco, json_events as events, root, text};

#[test]
fn dds_default_init_and_frames_scales_build_on_the_toy_set_with_two_clip_models() {
    let dir = tempfile::tempdir().unwrap();
    // an init image: a yellow disc on blue
    let init = image::RgbImage::from_fn(64, 64, |x, y| {
        let (dx, dy) = (x as f32 - 32.0, y as f32 - 30.0);
        if dx * dx + dy * dy < 150.0 {
            image::Rgb([235, 215, 25])
        } else {
            image::Rgb([40, 70, 220])
        }
    });
    init.save(dir.path().join("init.png")).unwrap();
    let project = format!(
        r#"model-set "{}"
width-height 64 64
steps 10
skip-steps 0
seed 5
clip-models "ViT-B/32" "RN50"
cutn-batches 1
text-prompts "a yellow star"
stills "start" {{
    n-batches 1
    init-image "init.png"
    skip-steps 4
}}
animation "film" {{
    max-frames 3
    frames-skip-steps "60%"
    zoom "0: (1.05)"
}}
"#,
        root().join("models/toy").display()
    );
    std::fs::write(dir.path().join("disco.kdl"), project).unwrap();
    let out = disco(dir.path(), &["check"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(!stderr.contains("LPIPS"), "{stderr}");

    let built = events(dir.path(), &["build", "--message-format", "json"]);
    let finished: Vec<&str> = built
        .iter()
        .filter(|e| e["event"] == "job-finished")
        .map(|e| e["job"].as_str().unwrap())
        .collect();
    assert_eq!(finished.len(), 4, "{built:?}");
    // DD's default scales are on and their LPIPS terms ran: the still's pull toward its init
    // image, and frame 1's toward the warped frame 0
    let init_loss = |job: &str| {
        let e = built
            .iter()
            .find(|e| e["event"] == "job-finished" && e["job"] == job)
            .unwrap_or_else(|| panic!("no {job} in {built:?}"));
        let key = e["key"].as_str().unwrap();
        let record = dir
            .path()
            .join(format!(".disco/objects/{}/{key}.json", &key[..2]));
        let record: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
        record["losses"]["init"].as_f64().unwrap()
    };
    assert!(init_loss("start image 0") > 0.0, "{built:?}");
    assert!(init_loss("film frame 1") > 0.0, "{built:?}");
    for f in 0..3 {
        let png = dir
            .path()
            .join(format!("images_out/film/film(0)_{f:04}.png"));
        assert!(png.is_file(), "{}", png.display());
    }
}

/// A shape of the toy world (`scenes.py`'s square, half side 0.82·r) on a wall.
fn square_on_wall(cx: f32, cy: f32, r: f32) -> ndarray::Array3<u8> {
    let h = 0.82 * r;
    ndarray::Array3::from_shape_fn((64, 64, 3), |(y, x, c)| {
        let inside = (x as f32 + 0.5 - cx).abs() <= h && (y as f32 + 0.5 - cy).abs() <= h;
        match inside {
            true => [220, 35, 35][c],
            false => [40, 70, 220][c],
        }
    })
}

/// The toy depth models know the toy world's depth (docs/toy-models.md): a shape stands in
/// front of the wall, a larger one nearer; both models agree with the world's units (the wall
/// at 2.5), so DD's blend mixes like with like; and a 3D warp shows parallax.
#[test]
fn the_toy_depth_models_see_a_shape_in_front_of_the_wall() {
    use disco::build::warp3d::warp3d_init;
    use disco::plan::{Key, Warp3d};
    use disco::render::depth::DepthSessions;
    use disco::render::session::{Device, ModelSet, SessionOptions};
    let set = ModelSet::open(&root().join("models/toy")).unwrap();
    let opts = SessionOptions {
        device: Device::Cpu,
        intra_threads: Some(1),
        verify_hashes: true,
    };
    let mut depth = DepthSessions::open(&set, "dpt_large", true, opts).unwrap();
    let mean = |d: &ndarray::Array2<f32>, y0: usize, x0: usize, n: usize| {
        let s = d.slice(ndarray::s![y0..y0 + n, x0..x0 + n]);
        s.sum() / s.len() as f32
    };
    let mut centres = Vec::new();
    for r in [20.0, 9.0] {
        let img = square_on_wall(32.0, 32.0, r);
        let image = img
            .view()
            .permuted_axes([2, 0, 1])
            .mapv(|v| f32::from(v) / 255.0);
        for w in [1.0, 0.0] {
            let d = depth.depth(image.view(), w).unwrap();
            let (centre, corner) = (mean(&d, 30, 30, 4), mean(&d, 1, 1, 4));
            assert!(
                (corner - 2.5).abs() < 0.3,
                "midas-weight {w}, r {r}: wall at {corner}"
            );
            assert!(
                centre < corner - 0.2,
                "midas-weight {w}, r {r}: shape at {centre}, wall at {corner}"
            );
            centres.push(centre);
        }
    }
    // the large square (r 20) is nearer than the small one (r 9), for each model
    assert!(
        centres[0] < centres[2] && centres[1] < centres[3],
        "{centres:?}"
    );

    // parallax: a sideways camera move slides the nearer square further
    let step = Warp3d {
        key: Key([0; 32]),
        translation_x: 10.0,
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
    let red_x = |img: &ndarray::Array3<u8>| {
        let (mut sum, mut n) = (0.0, 0.0);
        for ((_, x, _), _) in img
            .indexed_iter()
            .filter(|((y, x, c), v)| *c == 0 && **v > 128 && img[[*y, *x, 2]] < 128)
        {
            sum += x as f64;
            n += 1.0;
        }
        sum / n
    };
    let mut shift = |r: f32| {
        let img = square_on_wall(32.0, 32.0, r);
        let warped = warp3d_init(&img, &step, (200.0, 10000.0), &mut depth).unwrap();
        (red_x(&warped) - red_x(&img)).abs()
    };
    let (near, far) = (shift(20.0), shift(9.0));
    assert!(
        near > far + 0.5,
        "near square moved {near} px, far {far} px"
    );
}

/// examples/anim3d (a 3D film with turbo on the toy set) builds its first frames.
#[test]
fn the_3d_example_builds_its_first_frames_on_the_toy_set() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(root().join("examples/anim3d/disco.kdl")).unwrap();
    let models = root().join("models/toy");
    let project = example.replace(
        "model-set \"../../models/toy\"",
        &format!("model-set \"{}\"", models.display()),
    );
    assert_ne!(project, example, "the example names the toy set");
    std::fs::write(dir.path().join("disco.kdl"), project).unwrap();
    let built = events(
        dir.path(),
        &["build", "--frames", "0..4", "--message-format", "json"],
    );
    let finished = built
        .iter()
        .filter(|e| e["event"] == "job-finished")
        .count();
    assert_eq!(finished, 4, "{built:?}");
    for f in 0..4 {
        let png = dir
            .path()
            .join(format!("images_out/drift/drift(0)_{f:04}.png"));
        assert!(png.is_file(), "{}", png.display());
    }
}

/// examples/restyle (Video Input with the flow warp on the toy set's RAFT) builds its first
/// frames from its source clip.
#[test]
fn the_restyle_example_builds_its_first_frames_on_the_toy_set() {
    let dir = tempfile::tempdir().unwrap();
    let example = root().join("examples/restyle");
    let text = std::fs::read_to_string(example.join("disco.kdl")).unwrap();
    let project = text.replace(
        "model-set \"../../models/toy\"",
        &format!("model-set \"{}\"", root().join("models/toy").display()),
    );
    assert_ne!(project, text, "the example names the toy set");
    std::fs::write(dir.path().join("disco.kdl"), project).unwrap();
    std::fs::copy(example.join("source.mp4"), dir.path().join("source.mp4")).unwrap();
    let built = events(
        dir.path(),
        &["build", "--frames", "0..3", "--message-format", "json"],
    );
    let finished = built
        .iter()
        .filter(|e| e["event"] == "job-finished")
        .count();
    assert_eq!(finished, 3, "{built:?}");
    // frames 1 and 2 start from the previous output warped along the toy RAFT's flow
    let flows = std::fs::read_dir(dir.path().join(".disco/flow"))
        .unwrap()
        .count();
    assert!(flows >= 2, "{flows} flows cached");
}
