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
