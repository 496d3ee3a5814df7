//! Set-up failures on the tiny model set (issue "Trust", class 10): a damaged manifest is
//! named when the set opens, and a graph ONNX Runtime cannot load stops the build once,
//! not once per job, with no panic.

use std::path::Path;

use crate::models::tiny_set;
use crate::support::{copy_dir, disco, text};

/// Three stills: three jobs that would each fail the same way.
fn project(models: &Path) -> String {
    format!(
        r#"
model-set "{}"
width-height 64 64
steps 4
skip-steps 2
seed 3
cutn-batches 1
clip-models "RN50"
text-prompts "a red circle"
stills "still" {{
    n-batches 3
}}
"#,
        models.display()
    )
}

/// A temp project on a copy of the tiny set, `damage` applied to the copy's manifest.
fn damaged(damage: impl FnOnce(&Path, &mut serde_json::Value)) -> Option<tempfile::TempDir> {
    let models = tiny_set()?.dir;
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("models");
    copy_dir(&models, &set);
    let path = set.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    damage(&set, &mut m);
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    std::fs::write(dir.path().join("disco.kdl"), project(&set)).unwrap();
    Some(dir)
}

/// A diagnostic's text with miette's wrapping and gutters undone.
fn flat(s: &str) -> String {
    s.split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_manifest_missing_an_output_is_named_when_the_set_opens() {
    let Some(dir) = damaged(|_, m| {
        m["graphs"]["unet_fwd"]["outputs"][0]["name"] = "eps".into();
    }) else {
        return;
    };
    let out = disco(dir.path(), &["build"]);
    let (_, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let flat = flat(&stderr);
    assert!(
        flat.contains("graph `unet_fwd`") && flat.contains("declares no output `eps_full`"),
        "{stderr}"
    );
    assert!(!stderr.contains("rendering"), "nothing rendered: {stderr}");
}

#[test]
fn a_manifest_with_a_wrong_rank_is_named_when_the_set_opens() {
    let Some(dir) = damaged(|_, m| {
        m["graphs"]["lpips_vjp"]["outputs"][1]["shape"] = serde_json::json!(["B", 3, "H"]);
        m["graphs"]["clip_RN50_image_loss_vjp"]["outputs"][1]["shape"] = serde_json::json!(["B"]);
    }) else {
        return;
    };
    let out = disco(dir.path(), &["build"]);
    let (_, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let flat = flat(&stderr);
    assert!(
        flat.contains("graph `clip_RN50_image_loss_vjp`")
            && flat.contains("output `grad_image` has rank 1, not 4"),
        "{stderr}"
    );
}

// The fused CLIP guidance graph's contract: a graph without the prompt inputs, or a role
// naming a graph the set does not hold (a name with a newline in it), is refused at open.
#[test]
fn a_fused_clip_graph_without_its_prompt_inputs_is_named_when_the_set_opens() {
    let Some(dir) = damaged(|_, m| {
        let inputs = m["graphs"]["clip_RN50_image_loss_vjp"]["inputs"]
            .as_array_mut()
            .unwrap();
        inputs.retain(|i| i["name"] != "targets");
    }) else {
        return;
    };
    let out = disco(dir.path(), &["build"]);
    let (_, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let flat = flat(&stderr);
    assert!(
        flat.contains("graph `clip_RN50_image_loss_vjp`")
            && flat.contains("clip image_loss_vjp")
            && flat.contains("declares no input `targets`"),
        "{stderr}"
    );
}

#[test]
fn a_clip_guidance_role_naming_a_missing_graph_stops_the_build() {
    let Some(dir) = damaged(|_, m| {
        m["clip"]["RN50"]["graphs"]["image_loss_vjp"] = "clip_RN50\nimage_loss_vjp".into();
    }) else {
        return;
    };
    let out = disco(dir.path(), &["build"]);
    let (_, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("rendering"), "nothing rendered: {stderr}");
}

#[test]
fn a_graph_that_cannot_be_loaded_stops_the_build_once() {
    // the file matches its manifest hash (planning passes) but is not an ONNX graph
    let Some(dir) = damaged(|set, m| {
        let junk = b"not an onnx graph".to_vec();
        std::fs::write(set.join("unet_fwd.onnx"), &junk).unwrap();
        m["graphs"]["unet_fwd"]["blake3"] = blake3::hash(&junk).to_hex().to_string().into();
    }) else {
        return;
    };
    let out = disco(dir.path(), &["build"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        stderr.matches("cannot open graph `unet_fwd`").count(),
        1,
        "reported once, not once per job: {stderr}"
    );
    assert!(stderr.contains("cannot set up the renderer"), "{stderr}");
    assert!(
        !stderr.contains("still image 0 failed"),
        "no job blamed: {stderr}"
    );
}

#[test]
fn doctor_names_a_graph_that_breaks_its_role() {
    let Some(dir) = damaged(|_, m| {
        m["graphs"]["secondary_vjp"]["inputs"][2]["name"] = "grad".into();
    }) else {
        return;
    };
    let out = disco(
        dir.path(),
        &[
            "doctor",
            "--model-set",
            &dir.path().join("models").to_string_lossy(),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "graph `secondary_vjp` cannot be the secondary vjp graph: it declares no input `upstream`"
        ),
        "{stdout}"
    );
}

#[test]
fn a_device_whose_sessions_cannot_open_is_reported_once() {
    // this ONNX Runtime has no CUDA provider (the CPU wheel): every session on cuda fails
    let Some(dir) = damaged(|_, _| {}) else {
        return;
    };
    let out = disco(dir.path(), &["build", "--device", "cuda"]);
    let (_, stderr) = text(&out);
    if !stderr.contains("CUDA execution provider is not enabled") {
        eprintln!("skipping: this ONNX Runtime opens CUDA sessions\n{stderr}");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("cannot open graph").count(), 1, "{stderr}");
    assert!(stderr.contains("cannot set up the renderer"), "{stderr}");
}

/// Issue "Trust", class 7: doctor names the target and setting that need LPIPS.
#[test]
fn doctor_names_the_target_that_needs_lpips() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("models");
    std::fs::create_dir(&set).unwrap();
    std::fs::write(
        set.join("manifest.json"),
        r#"{"format": "disco-models/1", "graphs": {}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("disco.kdl"),
        "model-set \"models\"\ntext-prompts \"a\"\nanimation \"film\" {\n    max-frames 2\n}\n",
    )
    .unwrap();
    let out = disco(dir.path(), &["doctor"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let flat = flat(&stderr);
    assert!(
        flat.contains("animation `film` needs LPIPS graphs for `frames-scale 1500`"),
        "{stderr}"
    );
}

/// A damaged `checkpoint` section of the default diffusion model is named before anything
/// renders (the project guides through the UNet, which uses it).
fn checkpoint_damage_is_named(damage: impl FnOnce(&mut serde_json::Value), want: &str) {
    let Some(dir) = damaged(|_, m| damage(m)) else {
        return;
    };
    let kdl = dir.path().join("disco.kdl");
    let text_before = std::fs::read_to_string(&kdl).unwrap();
    std::fs::write(&kdl, format!("{text_before}use-secondary-model #false\n")).unwrap();
    let out = disco(dir.path(), &["build"]);
    let (_, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(flat(&stderr).contains(want), "{stderr}");
    assert!(!stderr.contains("rendering"), "nothing rendered: {stderr}");
}

#[test]
fn a_checkpoint_segment_reading_an_unknown_tensor_is_named() {
    checkpoint_damage_is_named(
        |m| checkpoint(m)["segments"][3]["inputs"][0] = "in9\nx".into(),
        "reads `in9\\nx`, which is neither x nor an earlier segment",
    );
}

#[test]
fn a_checkpoint_forward_without_a_boundary_is_named() {
    checkpoint_damage_is_named(
        |m| {
            let outputs = m["graphs"]["unet_ckpt_fwd"]["outputs"]
                .as_array_mut()
                .unwrap();
            let mid = outputs.iter_mut().find(|o| o["name"] == "mid").unwrap();
            mid["name"] = "middle".into();
        },
        "declares no 4-d output `mid`, which segment `out0` reads",
    );
}

#[test]
fn a_checkpoint_without_its_head_segment_is_named() {
    checkpoint_damage_is_named(
        |m| {
            checkpoint(m)["segments"].as_array_mut().unwrap().pop();
        },
        "the last segment is not `head`",
    );
}

fn checkpoint(m: &mut serde_json::Value) -> &mut serde_json::Value {
    &mut m["diffusion_models"]["512x512_diffusion_uncond_finetune_008100"]["checkpointed"]
}
