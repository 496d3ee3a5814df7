//! DiscoArt's `clip_models` list (`["ViT-B-32::openai", "ViT-B-32::laion2b_e16"]`): exactly
//! the listed models on. Names resolve through `disco_project::clip_names`, the one place that
//! knows every spelling of a CLIP model.

use serde_json::Value;

use super::Builder;
use crate::project::clip_names::clip_toggle;
use crate::project::schema::{self, CLIP_MODELS};

impl Builder<'_> {
    /// Imports the list as toggles: each listed model on, every model on by default but not
    /// listed off. A name disco cannot render is listed as changing the picture.
    pub(super) fn clip_list(&mut self, key: &str, v: &Value) {
        let names: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            Value::String(_) => vec![v],
            _ => {
                self.skip(key, Some(v), "expected a list of CLIP model names", true);
                return;
            }
        };
        let mut on = Vec::new();
        for name in names {
            match name.as_str().and_then(clip_toggle) {
                Some(toggle) => on.push(toggle),
                None => self.skip(
                    key,
                    Some(name),
                    "not a CLIP model disco can export (see docs/models.md); rendered without it",
                    true,
                ),
            }
        }
        for (toggle, _, _) in CLIP_MODELS {
            let want = on.contains(toggle);
            let default = schema::info(toggle).is_some_and(|i| i.default == Value::Bool(true));
            if want != default {
                self.emit(toggle, key, &Value::Bool(want));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::import;
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
        assert!(
            !out.kdl.contains("rn50 #"),
            "RN50 is on by default: {}",
            out.kdl
        );
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
}
