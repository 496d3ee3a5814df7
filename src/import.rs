//! Disco Diffusion settings → a disco project file.
//!
//! Reads DD's `<batch>(<n>)_settings.txt` (JSON) and the CLI port's YAML configs, maps
//! every key it knows to its kebab-case setting, and lists every key it does not import
//! with the reason — in the result and as comments in the written file, so nothing is
//! dropped silently.

use std::path::Path;

use serde_json::Value;

use crate::project::schema::{self, CLIP_MODELS, SCHEMA, Settings, UNSUPPORTED};

/// The outcome of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The project text.
    pub kdl: String,
    /// Settings imported: (DD key, setting name).
    pub imported: Vec<(String, &'static str)>,
    /// Keys not imported, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Things the user should know (e.g. what DD does not record).
    pub notes: Vec<String>,
}

/// Why an import failed altogether.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Neither JSON nor YAML.
    #[error("{path} is not a DD settings file (JSON or YAML): {reason}")]
    Syntax {
        /// The file.
        path: String,
        /// Parser message.
        reason: String,
    },
    /// Parsed, but not a mapping of settings.
    #[error("{path} holds {found}, not a mapping of settings")]
    NotAMapping {
        /// The file.
        path: String,
        /// What it holds instead.
        found: &'static str,
    },
}

/// Keys DD and its CLI port record that are bookkeeping, not settings.
const BOOKKEEPING: &[(&str, &str)] = &[
    ("batchNum", "a run counter; disco names outputs by target"),
    ("start_frame", "resume bookkeeping; disco resumes by itself"),
    ("side_x", "derived from width-height"),
    ("side_y", "derived from width-height"),
    ("batch_size", "always 1 in DD"),
    (
        "cutout_debug",
        "a debugging switch with no effect on outputs",
    ),
    ("prompts_series", "derived from text_prompts"),
    ("image_prompts_series", "derived from image_prompts"),
    (
        "run_to_resume",
        "resume bookkeeping; disco resumes by itself",
    ),
    (
        "resume_from_frame",
        "resume bookkeeping; disco resumes by itself",
    ),
    (
        "retain_overwritten_frames",
        "disco never overwrites a frame it cannot rebuild",
    ),
    ("useCPU", "choose the device with `disco build --device`"),
    ("check_model_SHA", "disco always checks model hashes"),
];

/// Imports the settings file `name` with contents `text`.
pub fn import(name: &Path, text: &str) -> Result<Imported, ImportError> {
    let path = name.display().to_string();
    let is_yaml = matches!(
        name.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let value: Value = if is_yaml {
        serde_norway::from_str(text).map_err(|e| ImportError::Syntax {
            path: path.clone(),
            reason: e.to_string(),
        })?
    } else {
        serde_json::from_str(text)
            .or_else(|_| serde_norway::from_str(text))
            .map_err(|e| ImportError::Syntax {
                path: path.clone(),
                reason: e.to_string(),
            })?
    };
    let Value::Object(map) = value else {
        let found = match value {
            Value::Array(_) => "a list",
            Value::Null => "nothing",
            _ => "a single value",
        };
        return Err(ImportError::NotAMapping { path, found });
    };

    let mut lines: Vec<(usize, String)> = Vec::new();
    let mut imported = Vec::new();
    let mut skipped = Vec::new();
    let mut notes = Vec::new();
    let order = |name: &str| {
        SCHEMA
            .iter()
            .position(|s| s.name == name)
            .unwrap_or(usize::MAX)
    };
    let mut emit = |setting: &'static str,
                    dd: &str,
                    v: &Value,
                    lines: &mut Vec<(usize, String)>,
                    skipped: &mut Vec<(String, String)>| {
        match Settings::kdl_from_json(setting, v) {
            Some(Ok(text)) => {
                lines.push((order(setting), format!("{setting} {text}")));
                imported.push((dd.to_owned(), setting));
            }
            Some(Err(why)) => skipped.push((dd.to_owned(), format!("{why} (value {v})"))),
            None => skipped.push((dd.to_owned(), "no such setting".into())),
        }
    };

    match (map.get("width"), map.get("height"), map.get("width_height")) {
        (_, _, Some(wh)) => emit("width-height", "width_height", wh, &mut lines, &mut skipped),
        (Some(w), Some(h), None) => emit(
            "width-height",
            "width+height",
            &Value::Array(vec![w.clone(), h.clone()]),
            &mut lines,
            &mut skipped,
        ),
        _ => {}
    }
    for (key, v) in &map {
        let key = key.as_str();
        if matches!(key, "width" | "height" | "width_height") {
            if map.contains_key("width_height") && key != "width_height" {
                skipped.push((key.to_owned(), "width_height was imported instead".into()));
            }
            continue;
        }
        let dd = match key {
            "set_seed" => "seed",
            "ViTL14_336" => "ViTL14_336px",
            other => other,
        };
        if let Some(info) = schema::by_dd_name(dd) {
            emit(info.name, key, v, &mut lines, &mut skipped);
        } else if let Some((_, why)) = UNSUPPORTED.iter().find(|(k, _)| *k == key) {
            skipped.push((key.to_owned(), (*why).to_owned()));
        } else if let Some((_, why)) = BOOKKEEPING.iter().find(|(k, _)| *k == key) {
            skipped.push((key.to_owned(), (*why).to_owned()));
        } else {
            skipped.push((
                key.to_owned(),
                "not a Disco Diffusion setting disco knows".into(),
            ));
        }
    }

    if !map.contains_key("batch_name")
        && let Some(batch) = batch_from_file_name(name)
    {
        lines.push((
            order("batch-name"),
            format!("batch-name {}", crate::project::types::kdl_string(&batch)),
        ));
        notes.push(format!(
            "batch-name \"{batch}\" was taken from the file name"
        ));
    }
    if !map.contains_key("animation_mode") {
        notes.push(
            "DD settings files do not record animation_mode: imported as stills; add `animation-mode \"2D\"` for an animation".into(),
        );
    }
    if !map
        .keys()
        .any(|k| CLIP_MODELS.iter().any(|(_, dd, _)| dd == k))
    {
        notes.push(
            "no CLIP model toggles in the file: DD's defaults (ViT-B/32, ViT-B/16, RN50) apply"
                .into(),
        );
    }
    lines.sort_by_key(|(i, _)| *i);

    let mut kdl = format!(
        "// Imported from {} by `disco import`.\n// Every setting not written here has Disco Diffusion's default.\n\n",
        name.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    for (_, line) in &lines {
        kdl.push_str(line);
        kdl.push('\n');
    }
    if !skipped.is_empty() {
        kdl.push_str("\n// Not imported:\n");
        for (key, why) in &skipped {
            let shown = map.get(key).map(|v| v.to_string()).unwrap_or_default();
            let shown: String = shown.chars().take(80).collect();
            kdl.push_str(&format!("//   {key} = {shown}  ({why})\n"));
        }
    }
    Ok(Imported {
        kdl,
        imported,
        skipped,
        notes,
    })
}

/// `TimeToDisco(3)_settings.txt` → `TimeToDisco`; also the `name-3_settings.txt` form.
fn batch_from_file_name(path: &Path) -> Option<String> {
    let stem = path.file_name()?.to_str()?.strip_suffix("_settings.txt")?;
    let name = match stem.strip_suffix(')').and_then(|s| s.rsplit_once('(')) {
        Some((name, n)) if n.chars().all(|c| c.is_ascii_digit() || c == '-') => name,
        _ => stem
            .rsplit_once('-')
            .filter(|(_, n)| n.chars().all(|c| c.is_ascii_digit()))
            .map_or(stem, |(name, _)| name),
    };
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_name_from_dd_file_names() {
        assert_eq!(
            batch_from_file_name(Path::new("x/TimeToDisco(3)_settings.txt")).as_deref(),
            Some("TimeToDisco")
        );
        assert_eq!(
            batch_from_file_name(Path::new("Sea-12_settings.txt")).as_deref(),
            Some("Sea")
        );
        assert_eq!(batch_from_file_name(Path::new("settings.json")), None);
    }

    #[test]
    fn unknown_keys_are_listed_not_dropped() {
        let out = import(
            Path::new("a.json"),
            r#"{"steps": 100, "frobnicate": 3, "translation_z": "0: (10.0)"}"#,
        )
        .unwrap();
        assert!(out.kdl.contains("steps 100"));
        let keys: Vec<_> = out.skipped.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, vec!["frobnicate", "translation_z"]);
        assert!(out.kdl.contains("//   frobnicate = 3"));
    }
}
