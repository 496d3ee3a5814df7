//! `diffusion_model "custom"` and its architecture: DD forks record it as
//! `custom_model_<arg>` (disco's `custom-model-<arg>` settings) or, as DiscoStream does, as
//! `custom_<arg>`; guided-diffusion arguments disco cannot honour are reported, and a custom
//! model whose architecture the file does not record gets DD 5.7's custom cell, said aloud.

use serde_json::Value;

use super::builder::Builder;
use super::known;
use super::report::Group;
use crate::project::schema;

/// guided-diffusion arguments that only a training run or a sampler disco does not have
/// would read: (argument, the value disco renders with, why).
const FIXED: &[(&str, &str, &str)] = &[
    (
        "class_cond",
        "false",
        "class-conditional models need class labels, which DD never gives",
    ),
    (
        "noise_schedule",
        "\"linear\"",
        "disco samples with DD's linear noise schedule",
    ),
    (
        "diffusion_steps",
        "1000",
        "disco's schedule is DD's, trained with 1000 steps",
    ),
    (
        "rescale_timesteps",
        "true",
        "disco feeds DD's rescaled timesteps",
    ),
    (
        "use_checkpoint",
        "true",
        "gradient checkpointing changes memory only",
    ),
    ("timestep_respacing", "\"ddim100\"", "derived from steps"),
    ("dropout", "0", "dropout acts only in training"),
];

/// The guided-diffusion argument a key names (`custom_model_num_heads`, DiscoStream's
/// `custom_num_heads`), if it is one.
fn argument(key: &str) -> Option<&str> {
    let arg = key
        .strip_prefix("custom_model_")
        .or_else(|| key.strip_prefix("custom_"))?;
    let known = schema::by_dd_name(&format!("custom_model_{arg}")).is_some()
        || FIXED.iter().any(|(a, _, _)| *a == arg);
    known.then_some(arg)
}

impl Builder<'_> {
    /// Whether the file renders with a custom model.
    fn custom(&self) -> bool {
        self.map
            .get("diffusion_model")
            .and_then(Value::as_str)
            .is_some_and(|m| m.trim() == "custom")
    }

    /// Imports or reports a custom-model key; `false` when `key` is not one.
    pub(super) fn custom_model_key(&mut self, key: &str, v: &Value) -> bool {
        if key == "custom_path" {
            if self.custom() {
                self.emit("custom-path", key, v);
            } else {
                let why = "the checkpoint of diffusion_model \"custom\"; this file renders with a named model";
                self.skip(key, Some(v), why, Group::OffOrDefault);
            }
            return true;
        }
        let Some(arg) = argument(key) else {
            return false;
        };
        if !self.custom() {
            let why = "describes a custom model; this file renders with a named diffusion_model";
            self.skip(key, Some(v), why, Group::OffOrDefault);
            return true;
        }
        if let Some((_, want, why)) = FIXED.iter().find(|(a, _, _)| *a == arg) {
            let fine = serde_json::from_str::<Value>(want).is_ok_and(|w| known::same(v, &w))
                || matches!(arg, "use_checkpoint" | "timestep_respacing" | "dropout");
            let group = if fine {
                Group::OffOrDefault
            } else {
                Group::ChangesPicture
            };
            self.skip(key, Some(v), *why, group);
            return true;
        }
        let setting = schema::by_dd_name(&format!("custom_model_{arg}"))
            .map(|i| i.name)
            .expect("argument() checked it");
        // a non-default architecture that is lost means another network: the picture changes
        self.emit_custom(setting, key, v);
        true
    }

    /// `emit`, but a lost architecture value always changes the picture (the settings are
    /// `pixels false` only because the graph's hash stands for them in the key).
    fn emit_custom(&mut self, setting: &'static str, key: &str, v: &Value) {
        let before = self.skipped.len();
        self.emit(setting, key, v);
        let default = schema::info(setting).map(|i| i.default.clone());
        if self.skipped.len() > before && default.is_none_or(|d| !known::same(v, &d)) {
            let lost = self.skipped.remove(before);
            self.skip(key, Some(v), lost.reason, Group::ChangesPicture);
        }
    }

    /// Notes on a custom model the file describes only in part.
    pub(super) fn custom_model_notes(&mut self) {
        if !self.custom() {
            return;
        }
        if !self.map.contains_key("custom_path") {
            self.notes.push(
                "diffusion_model \"custom\" without custom_path: add `custom-path \"…/your-checkpoint.pt\"` (the model set's custom model of that file name renders)".into(),
            );
        }
        if !self.map.keys().any(|k| argument(k).is_some()) {
            self.notes.push(
                "the file does not record the custom model's architecture: DD 5.7's custom cell is assumed (image size 256, 128 channels, attention at 16, one head, no scale-shift norm); write a `custom-model { … }` block if yours differs".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::import;
    use std::path::Path;

    fn run(json: &str) -> super::super::Imported {
        import(Path::new("x_settings.txt"), json).expect("imports")
    }

    #[test]
    fn a_custom_model_and_its_architecture_carry_over() {
        let r = run(
            r#"{"diffusion_model": "custom", "custom_path": "/content/ema_0.9999_058000.pt",
            "custom_model_image_size": 512, "custom_model_num_channels": 256,
            "custom_model_attention_resolutions": "32, 16, 8", "custom_model_num_head_channels": 64,
            "custom_model_resblock_updown": true, "custom_model_use_scale_shift_norm": true,
            "custom_model_learn_sigma": true, "custom_model_class_cond": false}"#,
        );
        for line in [
            "diffusion-model custom",
            "custom-path \"/content/ema_0.9999_058000.pt\"",
            "custom-model-image-size 512",
            "custom-model-attention-resolutions \"32,16,8\"",
            "custom-model-num-head-channels 64",
            "custom-model-resblock-updown #true",
        ] {
            assert!(
                r.kdl.lines().any(|l| l == line),
                "{line} missing in\n{}",
                r.kdl
            );
        }
        assert_eq!(r.lossy().count(), 0, "{:?}", r.skipped);
        let p = crate::project::load_str(Path::new("p.kdl"), &r.kdl);
        assert_eq!(p.diagnostics.error_count(), 0);
    }

    #[test]
    fn discostream_spellings_and_what_cannot_be_honoured() {
        let r = run(
            r#"{"diffusion_model": "custom", "custom_path": "m.pt", "custom_image_size": 512,
            "custom_num_heads": 4, "custom_noise_schedule": "cosine", "custom_use_checkpoint": false}"#,
        );
        assert!(r.kdl.contains("custom-model-image-size 512"));
        assert!(r.kdl.contains("custom-model-num-heads 4"));
        let lossy: Vec<_> = r.lossy().map(|s| s.key.as_str()).collect();
        assert_eq!(lossy, ["custom_noise_schedule"]);
    }

    #[test]
    fn custom_keys_of_a_named_model_are_not_imported_and_a_bare_custom_model_is_noted() {
        let r =
            run(r#"{"diffusion_model": "pixelartdiffusion4k", "custom_model_image_size": 512}"#);
        assert!(!r.kdl.contains("custom-model-image-size 512"));
        assert!(r.kdl.contains("diffusion-model pixelartdiffusion4k"));
        assert_eq!(r.lossy().count(), 0);
        let r = run(r#"{"diffusion_model": "custom"}"#);
        assert!(r.notes.iter().any(|n| n.contains("custom_path")));
        assert!(r.notes.iter().any(|n| n.contains("DD 5.7's custom cell")));
    }
}
