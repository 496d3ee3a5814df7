//! DiscoArt's `clip_models` list and DD's OpenCLIP toggles through `disco import`, loaded back
//! as disco loads a project: the models the imported project enables.

use std::path::Path;

use super::import;
use crate::project;

/// The imported project's enabled CLIP models (model-set keys), as disco loads it.
fn models(kdl: &str) -> Vec<&'static str> {
    let p = project::load_str(Path::new("imported.kdl"), kdl)
        .project
        .unwrap();
    p.targets[0].settings.clip_models()
}

#[test]
fn discoart_list_selects_exactly_its_models() {
    let out = import(
        Path::new("discoart.json"),
        r#"{"text_prompts": ["a lighthouse"], "clip_models": ["ViT-B-32::laion2b_e16", "RN50::openai", "ViT-H-14::laion2b_s32b_b79k", "ViT-g-14::laion2b_s12b_b42k"]}"#,
    )
    .unwrap();
    assert!(out.kdl.contains("vit-b32-laion2b-e16 #true"), "{}", out.kdl);
    assert!(out.kdl.contains("vit-b32 #false") && out.kdl.contains("vit-b16 #false"));
    assert_eq!(
        models(&out.kdl),
        vec!["RN50", "ViTB32_laion2b_e16", "ViTH14_laion2b_s32b_b79k"]
    );
    let lossy: Vec<_> = out.lossy().collect();
    assert_eq!(lossy.len(), 1, "{lossy:?}");
    assert_eq!(
        lossy[0].value,
        Some(serde_json::json!("ViT-g-14::laion2b_s12b_b42k"))
    );
    assert!(
        !out.notes
            .iter()
            .any(|n| n.contains("no CLIP model toggles"))
    );
}

#[test]
fn dd_openclip_toggles_import_as_settings() {
    let out = import(
        Path::new("dd_settings.txt"),
        r#"{"text_prompts": {"0": ["a lighthouse"]}, "ViTB32": false, "ViTB16": true, "RN50": false, "ViTB32_laion2b_e16": true, "ViTB32_laion400m_32": true, "RN50_yffcc15m": true, "RN101_quickgelu_yfcc15m": false}"#,
    )
    .unwrap();
    assert_eq!(out.lossy().count(), 0, "{:?}", out.skipped);
    assert_eq!(
        models(&out.kdl),
        vec![
            "ViTB16",
            "ViTB32_laion2b_e16",
            "ViTB32_laion400m_32",
            "RN50_yffcc15m"
        ]
    );
    assert!(out.kdl.contains("rn50-yfcc15m #true"), "{}", out.kdl);
}
