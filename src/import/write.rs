//! The end of an import: the notes the file calls for (batch name, animation mode, DD's
//! prompt tokens, CLIP defaults) and the project text, with the not-imported report as
//! comments grouped as on screen.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::builder::Builder;
use super::report::printable;
use super::{ImportError, Imported, batch_from_file_name, known};
use crate::project::schema::{CLIP_MODELS, SCHEMA};
use crate::project::types::kdl_string;

/// DD's 2D and 3D motion keys and their defaults (parameters.md, dd-algorithm.md §2.4), for "motion set, mode unknown".
const MOTION: &[(&str, &str)] = &[
    ("angle", r#""0:(0)""#),
    ("zoom", r#""0: (1), 10: (1.05)""#),
    ("translation_x", r#""0: (0)""#),
    ("translation_y", r#""0: (0)""#),
    ("translation_z", r#""0: (10.0)""#),
    ("rotation_3d_x", r#""0: (0)""#),
    ("rotation_3d_y", r#""0: (0)""#),
    ("rotation_3d_z", r#""0: (0)""#),
];

/// DD's Video Input motion keys (their defaults, with earlier versions', are in `known.rs`).
const OTHER_MOTION: &[&str] = &["video_init_path"];

/// Keys only DiscoArt writes: it tokenises a prompt's text without its `:weight` suffix.
const DISCOART_KEYS: &[&str] = &[
    "name_docarray",
    "cut_schedules_group",
    "on_misspelled_token",
    "truncate_overlength_prompt",
    "text_clip_on_cpu",
    "gif_fps",
    "save_rate",
    "clip_models_schedules",
];

impl Builder<'_> {
    pub(super) fn finish(mut self, name: &Path, discoart: bool) -> Result<Imported, ImportError> {
        if !self.written.contains_key("batch-name")
            && let Some(batch) = batch_from_file_name(name)
        {
            self.line("batch-name", format!("batch-name {}", kdl_string(&batch)));
            self.notes.push(format!(
                "batch-name \"{}\" was taken from the file name",
                printable(&batch, 80)
            ));
        }
        self.mode_note();
        self.custom_model_notes();
        self.tokenization(discoart);
        if !self
            .map
            .keys()
            .any(|k| CLIP_MODELS.iter().any(|(_, dd, _)| dd == k))
        {
            self.notes.push(
                "no CLIP model toggles in the file: DD's defaults (ViT-B/32, ViT-B/16, RN50) apply"
                    .into(),
            );
        }
        self.lines.sort_by_key(|(i, _)| *i);
        // The report goes group by group, each in the file's order (repeated keys first).
        let order: HashMap<&str, usize> = self
            .map
            .keys()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        self.skipped.sort_by_key(|s| {
            (
                s.group,
                s.value.is_some(),
                order.get(s.key.as_str()).copied().unwrap_or(usize::MAX),
            )
        });
        let kdl = self.text(name);
        Ok(Imported {
            kdl,
            imported: self.imported,
            skipped: self.skipped,
            notes: self.notes,
        })
    }

    fn line(&mut self, setting: &str, line: String) {
        let order = SCHEMA.iter().position(|s| s.name == setting).unwrap_or(0);
        self.lines.push((order, line));
    }

    /// DD's notebook does not record `animation_mode`; a file that sets motion says so.
    fn mode_note(&mut self) {
        if self.map.contains_key("animation_mode") {
            return;
        }
        let set = |k: &str, default: Option<&str>| {
            self.map.get(k).is_some_and(|v| match default {
                Some(d) => {
                    !v.is_null()
                        && serde_json::from_str::<Value>(d).is_ok_and(|d| !known::same(v, &d))
                }
                None if k == "video_init_path" => known::video_path_set(v),
                None => known::truthy(v),
            })
        };
        let moved: Vec<&str> = MOTION
            .iter()
            .filter(|(k, d)| set(k, Some(d)))
            .map(|(k, _)| *k)
            .chain(OTHER_MOTION.iter().copied().filter(|k| set(k, None)))
            .collect();
        if moved.is_empty() {
            self.notes.push(
                "DD settings files do not record animation_mode: imported as stills; add `animation-mode \"2D\"` for an animation".into(),
            );
        } else {
            self.notes.push(format!(
                "the file does not record animation_mode, but sets motion ({}): it may be from a 2D, 3D or Video Input run; imported as stills, so add `animation-mode \"2D\"` or `\"3D\"` if it was either",
                moved.join(", ")
            ));
        }
    }

    /// DD tokenises a prompt with its `:weight` suffix (dd-algorithm.md §3.2), as do the CLI
    /// port and progrock (`clip.tokenize(prompt)`); DiscoArt tokenises the text alone, as
    /// disco does by default. The import keeps the file's pictures.
    fn tokenization(&mut self, discoart: bool) {
        // The prompts the project renders: the top level's, and those of the CLI port's jobs.
        let mut prompts: Vec<&Value> = Vec::new();
        if self.written.contains_key("text-prompts") {
            prompts.extend(self.map.get("text_prompts"));
        }
        let jobs_imported = |key: &str| self.imported.iter().any(|(dd, _)| dd == key);
        if jobs_imported("modifiers")
            && let Some(Value::Object(mods)) = self.map.get("modifiers")
        {
            prompts.extend(mods.values().filter_map(|m| m.get("text_prompts")));
        }
        if jobs_imported("multipliers") {
            prompts.extend(
                self.map
                    .get("multipliers")
                    .and_then(|m| m.get("text_prompts")),
            );
        }
        if !prompts.into_iter().any(has_weight_suffix) {
            return;
        }
        if discoart {
            self.notes.push(
                "DiscoArt tokenised prompts without their `:weight` suffix, as disco does: the pictures match".into(),
            );
        } else {
            self.line(
                "prompt-tokenization",
                "prompt-tokenization \"dd\"".to_owned(),
            );
            self.imported
                .push(("text_prompts".into(), "prompt-tokenization"));
            self.notes.push(
                "DD tokenised weighted prompts with their `:weight` suffix in the text; `prompt-tokenization \"dd\"` was written so the pictures match (remove it for disco's tokens, the text alone)".into(),
            );
        }
    }

    fn text(&self, name: &Path) -> String {
        let file_name = name
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut kdl = format!(
            "// Imported from {} by `disco import`.\n// Every setting not written here has Disco Diffusion's default.\n\n",
            printable(&file_name, 200)
        );
        for (_, line) in &self.lines {
            kdl.push_str(line);
            kdl.push('\n');
        }
        let mut group = None;
        for s in &self.skipped {
            if group != Some(s.group) {
                group = Some(s.group);
                kdl.push_str(&format!("\n// Not imported, {}:\n", s.group.heading()));
            }
            kdl.push_str("//   ");
            kdl.push_str(&s.line());
            kdl.push('\n');
        }
        kdl
    }
}

/// Whether the file is DiscoArt's.
pub(super) fn is_discoart(original: &serde_json::Map<String, Value>) -> bool {
    original.keys().any(|k| DISCOART_KEYS.contains(&k.as_str()))
        || original
            .get("clip_models")
            .and_then(Value::as_array)
            .is_some_and(|l| {
                l.iter()
                    .any(|n| n.as_str().is_some_and(|n| n.contains("::")))
            })
}

/// Whether any text prompt ends in DD's `:weight` suffix (a number after the last colon).
fn has_weight_suffix(prompts: &Value) -> bool {
    let suffixed = |s: &str| {
        s.rsplit_once(':')
            .is_some_and(|(_, w)| w.trim().parse::<f64>().is_ok_and(f64::is_finite))
    };
    match prompts {
        Value::String(s) => suffixed(s),
        Value::Array(items) => items.iter().any(has_weight_suffix),
        Value::Object(m) => m.values().any(has_weight_suffix),
        _ => false,
    }
}
