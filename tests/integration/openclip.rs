//! OpenCLIP models end to end on the tiny set: a project names them as DiscoArt does
//! (`ViT-B-32::laion2b_e16`), `disco build` renders with them, and a model the set lacks is
//! named with the command that exports it.

use std::path::{Path, PathBuf};

use crate::models::tiny_set;
use crate::support::{disco, text, tree};

fn project(models: &Path, clip: &str) -> String {
    format!(
        "model-set \"{}\"\nwidth-height 64 64\nsteps 8\nskip-steps 5\nseed 3\nn-batches 1\ncutn-batches 1\nclip-models {clip}\ntext-prompts \"a red circle on a blue background\"\n",
        models.display()
    )
}

/// Builds `project` in a fresh directory; returns (exit code, stderr, the PNGs it wrote).
fn build(project: &str) -> (i32, String, Vec<(PathBuf, Vec<u8>)>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("disco.kdl"), project).unwrap();
    let out = disco(dir.path(), &["build"]);
    let (_, stderr) = text(&out);
    let pngs = if dir.path().join("images_out").is_dir() {
        tree(&dir.path().join("images_out"))
            .into_iter()
            .filter(|(p, _)| {
                p.extension().is_some_and(|e| e == "png")
                    && !p.ends_with("progress.png")
                    && !p.components().any(|c| c.as_os_str() == ".thumbs")
            })
            .collect()
    } else {
        Vec::new()
    };
    (out.status.code().unwrap_or(-1), stderr, pngs)
}

#[test]
fn discoart_named_openclip_models_render_and_steer_the_picture() {
    let Some(set) = tiny_set() else { return };
    for key in ["ViTB32_laion2b_e16", "RN50_cc12m"] {
        let c = &set.manifest.clip[key];
        assert!(c.name.contains("::"), "{key}: {}", c.name);
    }
    let (code, stderr, open) = build(&project(
        &set.dir,
        "\"ViT-B-32::laion2b_e16\" \"RN50::cc12m\"",
    ));
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<_> = open.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(open.len(), 1, "{names:?}");
    // DD's toggle names select the same models: the same picture
    let (code, stderr, dd) = build(&project(&set.dir, "\"ViTB32_laion2b_e16\" \"RN50_cc12m\""));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(dd[0].1, open[0].1, "the same models by another name");
    // OpenAI's models guide elsewhere: the OpenCLIP graphs were used
    let (code, stderr, openai) = build(&project(&set.dir, "\"ViT-B-32::openai\" \"RN50::openai\""));
    assert_eq!(code, 0, "{stderr}");
    assert_ne!(
        openai[0].1, open[0].1,
        "OpenCLIP and OpenAI models gave one picture"
    );
}

#[test]
fn a_model_the_set_lacks_is_named_with_its_export_command() {
    let Some(set) = tiny_set() else { return };
    assert!(!set.manifest.clip.contains_key("ViTH14_laion2b_s32b_b79k"));
    let (code, stderr, pngs) = build(&project(&set.dir, "\"ViT-H-14::laion2b_s32b_b79k\""));
    assert_ne!(code, 0);
    assert!(pngs.is_empty());
    assert!(
        stderr.contains("ViTH14_laion2b_s32b_b79k") && stderr.contains("--clip"),
        "{stderr}"
    );
}
