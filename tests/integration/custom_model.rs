//! Diffusion models side by side in one set: `disco build` renders a project whose targets
//! use the tiny set's custom-architecture model (`custom:tiny-custom.pt`, selected by
//! `custom-path` and checked against the `custom-model` block) and DD's default model; the
//! keys name the graphs each used. A set lacking the model, or holding it with another
//! architecture, is an error at `disco check`.

use std::path::Path;

use crate::models::tiny_set;
use crate::support::{disco, text};

/// Two targets on the tiny set at 64×64 (the custom model's size multiple is 2, the
/// default's 4); guidance through the UNet so each model's VJP graph runs too.
fn project(models: &Path, custom_block: &str) -> String {
    format!(
        r#"
model-set "{}"
width-height 64 64
steps 6
skip-steps 3
seed 5
cutn-batches 1
use-secondary-model #false
clip-models "ViT-B/32"
text-prompts "a red circle"
stills "custom" {{
    n-batches 1
    diffusion-model "custom"
    custom-path "checkpoints/tiny-custom.pt"
    custom-model {{
{custom_block}
    }}
}}
stills "default" {{
    n-batches 1
}}
"#,
        models.display()
    )
}

/// The tiny custom model's architecture (onnx-export/disco_export/unet_catalog.py,
/// `TINY_CUSTOM_ARGS`), as a project writes it.
const TINY_CUSTOM: &str = r#"        image-size 32
        num-channels 16
        channel-mult "1,2"
        num-res-blocks 1
        attention-resolutions "16"
        num-heads 2
        learn-sigma #true
        use-scale-shift-norm #false
        resblock-updown #false"#;

/// stderr with miette's wrapping undone (line breaks, gutters), for phrase checks.
fn flat(stderr: &str) -> String {
    stderr
        .replace(['│', '·'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every job-inputs record the build stored, as text.
fn stored_inputs(dir: &Path) -> Vec<String> {
    let inputs = dir.join(".disco/inputs");
    let Ok(entries) = std::fs::read_dir(&inputs) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect()
}

#[test]
fn a_custom_architecture_model_renders_beside_the_default_one() {
    let Some(set) = tiny_set() else { return };
    if !set
        .manifest
        .diffusion_models
        .contains_key("custom:tiny-custom.pt")
    {
        panic!(
            "the tiny set at {} predates its custom model: re-export it",
            set.dir.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("disco.kdl"), project(&set.dir, TINY_CUSTOM)).unwrap();

    let out = disco(dir.path(), &["build"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let custom = std::fs::read(dir.path().join("images_out/custom/custom(0)_0.png")).unwrap();
    let default = std::fs::read(dir.path().join("images_out/default/default(0)_0.png")).unwrap();
    assert_ne!(custom, default, "the two models made the same picture");

    // the keys name the graphs actually used: the custom model's for one, the default's for the other
    let inputs = stored_inputs(dir.path());
    let uses = |graph: &str| {
        inputs
            .iter()
            .filter(|t| t.contains(&format!("\"{graph}\"")))
            .count()
    };
    assert_eq!(uses("unet_custom_tiny_custom_pt_fwd"), 1, "{inputs:?}");
    assert_eq!(uses("unet_custom_tiny_custom_pt_vjp"), 1, "{inputs:?}");
    // the default model guides through its checkpointed UNet (docs/models.md), whose boundary
    // forward is its UNet forward
    assert_eq!(uses("unet_ckpt_fwd"), 1, "{inputs:?}");
    assert_eq!(uses("unet_ckpt_head_vjp"), 1, "{inputs:?}");
    assert_eq!(uses("unet_fwd"), 0, "{inputs:?}");
}

#[test]
fn a_custom_model_of_another_architecture_or_a_missing_model_is_refused_at_check() {
    let Some(set) = tiny_set() else { return };
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");

    let wrong = TINY_CUSTOM.replace("num-heads 2", "num-heads 4");
    std::fs::write(&kdl, project(&set.dir, &wrong)).unwrap();
    let out = disco(dir.path(), &["check"]);
    let (stdout, stderr) = text(&out);
    let stderr = flat(&stderr);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains("with another architecture: num-heads 4 (the set: 2)"),
        "{stderr}"
    );

    let other_file = project(&set.dir, TINY_CUSTOM).replace("tiny-custom.pt", "mine.pt");
    std::fs::write(&kdl, other_file).unwrap();
    let stderr = flat(&text(&disco(dir.path(), &["check"])).1);
    assert!(stderr.contains("not `custom:mine.pt`"), "{stderr}");
    assert!(
        stderr.contains("--diffusion custom --checkpoint …/mine.pt"),
        "{stderr}"
    );

    let named = project(&set.dir, TINY_CUSTOM).replace(
        "diffusion-model \"custom\"",
        "diffusion-model \"pixelartdiffusion4k\"",
    );
    std::fs::write(&kdl, named).unwrap();
    let out = disco(dir.path(), &["check"]);
    let stderr = flat(&text(&out).1);
    assert!(!out.status.success());
    assert!(stderr.contains("not `pixelartdiffusion4k`"), "{stderr}");
    assert!(
        stderr.contains("--diffusion pixelartdiffusion4k"),
        "{stderr}"
    );
}
