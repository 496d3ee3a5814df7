//! Disco Diffusion settings → a disco project file.
//!
//! Reads DD's `<batch>(<n>)_settings.txt` (JSON) and the CLI port's YAML configs, maps
//! every key it knows to its kebab-case setting, and lists every key it does not import
//! with the reason — in the result and as comments in the written file, so nothing is
//! dropped silently. Each such key is classed as changing the picture or not
//! ([`Skipped::changes_picture`]); `disco import` refuses to write a project that would
//! render a different picture unless asked to (`--allow-lossy`).
//!
//! The file is untrusted: it is read within fixed bounds (`fsutil::read_to_string_bounded`,
//! [`parse`]), and every text taken from it is escaped before it enters the project
//! (`kdl_string` for values, [`report::printable`] for comments), so no key or value can
//! add a line to the project.

mod clip_list;
mod known;
mod parse;
mod report;

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::fsutil::{self, BoundedReadError};
use crate::project::schema::{self, CLIP_MODELS, SCHEMA, Settings, UNSUPPORTED};
use crate::project::types::{NON_FINITE, kdl_string};
pub use parse::{MAX_DEPTH, MAX_TEXT_BYTES, MAX_VALUES, MAX_YAML_OPENINGS};
pub use report::{Skipped, printable};

/// Largest settings file read (DD's are a few kilobytes; a project file has the same limit).
pub const MAX_SETTINGS_BYTES: u64 = crate::project::MAX_PROJECT_BYTES as u64;

/// The outcome of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The project text.
    pub kdl: String,
    /// Settings imported: (DD key, setting name).
    pub imported: Vec<(String, &'static str)>,
    /// Keys not imported, with the reason.
    pub skipped: Vec<Skipped>,
    /// Things the user should know (e.g. what DD does not record).
    pub notes: Vec<String>,
}

impl Imported {
    /// The keys not imported whose loss changes the picture.
    pub fn lossy(&self) -> impl Iterator<Item = &Skipped> {
        self.skipped.iter().filter(|s| s.changes_picture)
    }
}

/// Why an import failed altogether.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read (missing, not a regular file, too large, not UTF-8).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: BoundedReadError,
    },
    /// Neither JSON nor YAML, or beyond the parser's bounds.
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

/// Reads the settings file at `path` (a regular file of at most [`MAX_SETTINGS_BYTES`])
/// and imports it.
pub fn import_file(path: &Path) -> Result<Imported, ImportError> {
    let text = fsutil::read_to_string_bounded(path, MAX_SETTINGS_BYTES).map_err(|source| {
        ImportError::Read {
            path: printable(&path.display().to_string(), 200),
            source,
        }
    })?;
    import(path, &text)
}

/// Imports the settings file `name` with contents `text`.
pub fn import(name: &Path, text: &str) -> Result<Imported, ImportError> {
    let path = printable(&name.display().to_string(), 200);
    let is_yaml = matches!(
        name.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let parsed = parse::parse(text, is_yaml).map_err(|e| ImportError::Syntax {
        path: path.clone(),
        reason: printable(&e.to_string(), 300),
    })?;
    let (map, non_finite, repeated) = match parsed {
        parse::Parsed::Mapping {
            map,
            non_finite,
            repeated,
        } => (map, non_finite, repeated),
        parse::Parsed::Other(found) => return Err(ImportError::NotAMapping { path, found }),
    };
    let mut b = Builder {
        map: &map,
        non_finite: &non_finite,
        lines: Vec::new(),
        written: HashMap::new(),
        imported: Vec::new(),
        skipped: Vec::new(),
        notes: Vec::new(),
    };
    for key in &repeated {
        b.skip(
            key,
            None,
            "given more than once: the last value counts, as when DD's Python reads the file",
            false,
        );
    }
    b.size();
    b.seed();
    b.derived();
    for (key, v) in &map {
        if matches!(
            key.as_str(),
            "width"
                | "height"
                | "width_height"
                | "seed"
                | "set_seed"
                | "diffusion_steps"
                | "timestep_respacing"
        ) {
            continue;
        }
        b.other(key, v);
    }
    b.finish(name)
}

/// The import in progress.
struct Builder<'a> {
    map: &'a Map<String, Value>,
    non_finite: &'a [String],
    /// (position in the settings reference, line).
    lines: Vec<(usize, String)>,
    /// Setting → the DD key it was imported from.
    written: HashMap<&'static str, String>,
    imported: Vec<(String, &'static str)>,
    skipped: Vec<Skipped>,
    notes: Vec<String>,
}

impl Builder<'_> {
    fn skip(&mut self, key: &str, value: Option<&Value>, reason: impl Into<String>, pixels: bool) {
        self.skipped.push(Skipped {
            key: key.to_owned(),
            value: value.cloned(),
            reason: reason.into(),
            changes_picture: pixels,
        });
    }

    /// Imports DD key `dd` with value `v` as `setting`, or lists it with the reason.
    fn emit(&mut self, setting: &'static str, dd: &str, v: &Value) {
        let Some(info) = schema::info(setting) else {
            self.skip(dd, Some(v), "no such setting", false);
            return;
        };
        // Losing the value changes the picture when it acts on pixels and is not DD's default.
        let lossy = info.pixels && !known::same(v, &info.default);
        if let Some(first) = self.written.get(setting) {
            let why = format!("`{first}` was imported for the same setting, `{setting}`");
            let differs = self.map.get(first).is_none_or(|f| !known::same(f, v));
            self.skip(dd, Some(v), why, info.pixels && differs);
            return;
        }
        if self.non_finite.iter().any(|k| k == dd) {
            self.skip(dd, Some(v), NON_FINITE, lossy);
            return;
        }
        match Settings::kdl_from_json(setting, v) {
            Some(Ok(text)) => {
                let order = SCHEMA
                    .iter()
                    .position(|s| s.name == setting)
                    .unwrap_or(usize::MAX);
                // Empty text (no prompts) is the bare node, never an empty block.
                let line = if text.is_empty() {
                    setting.to_owned()
                } else {
                    format!("{setting} {text}")
                };
                self.lines.push((order, line));
                self.written.insert(setting, dd.to_owned());
                self.imported.push((dd.to_owned(), setting));
            }
            Some(Err(why)) => self.skip(dd, Some(v), why.to_string(), lossy),
            None => self.skip(dd, Some(v), "no such setting", false),
        }
    }

    /// `width_height`, or DD's unrounded `width` and `height`.
    fn size(&mut self) {
        let m = self.map;
        match (m.get("width"), m.get("height"), m.get("width_height")) {
            (w, h, Some(wh)) => {
                self.emit("width-height", "width_height", wh);
                let items = wh.as_array();
                for (key, v, i) in [("width", w, 0), ("height", h, 1)] {
                    let Some(v) = v else { continue };
                    let agrees = items
                        .and_then(|a| a.get(i))
                        .is_some_and(|x| known::same(x, v));
                    let why = if agrees {
                        "the same as width_height, which was imported".to_owned()
                    } else {
                        "disagrees with width_height, which was imported".to_owned()
                    };
                    self.skip(key, Some(v), why, !agrees);
                }
            }
            (Some(w), Some(h), None) => self.emit(
                "width-height",
                "width+height",
                &Value::Array(vec![w.clone(), h.clone()]),
            ),
            (Some(v), None, None) | (None, Some(v), None) => {
                let key = if m.contains_key("width") {
                    "width"
                } else {
                    "height"
                };
                let default = &schema::info("width-height").map(|i| i.default.clone());
                let i = usize::from(key == "height");
                let lossy = default
                    .as_ref()
                    .and_then(|d| d.get(i))
                    .is_none_or(|d| !known::same(d, v));
                self.skip(
                    key,
                    Some(v),
                    "width and height are imported together; the other is missing",
                    lossy,
                );
            }
            (None, None, None) => {}
        }
    }

    /// One `seed` line. DD records the seed it rendered with as `seed` and the setting it
    /// came from as `set_seed` (`'random_seed'` or the same number), so `seed` wins; the CLI
    /// port's configs have only `set_seed`.
    fn seed(&mut self) {
        let m = self.map;
        match (m.get("seed"), m.get("set_seed")) {
            (Some(seed), Some(set)) => {
                self.emit("seed", "seed", seed);
                let random = set
                    .as_str()
                    .is_some_and(|s| matches!(s.trim(), "random_seed" | "random"));
                let (why, lossy) = if random {
                    (
                        "DD drew the recorded `seed` from it; that seed was imported",
                        false,
                    )
                } else if known::same(seed, set) {
                    ("the same as `seed`, which was imported", false)
                } else {
                    ("disagrees with `seed`, which was imported", true)
                };
                self.skip("set_seed", Some(set), why, lossy);
            }
            (Some(v), None) => self.emit("seed", "seed", v),
            (None, Some(v)) => self.emit("seed", "set_seed", v),
            (None, None) => {}
        }
    }

    /// `diffusion_steps` and `timestep_respacing` are derived from `steps` (dd-algorithm.md
    /// §1 step 2); disco derives them too, so they are never written (a written one would
    /// make the project invalid at the first edit of `steps`). A recorded value that is not
    /// what `steps` gives means the file was not made by DD's own derivation.
    fn derived(&mut self) {
        let steps = match self.map.get("steps") {
            None => Some(250),
            Some(v) => match v {
                // As `steps` reads it: whole numbers, also when written as floats (`250.0`).
                Value::Number(n) => n
                    .as_f64()
                    .filter(|x| x.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(x))
                    .map(|x| x as u32),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            },
        };
        for key in ["diffusion_steps", "timestep_respacing"] {
            let Some(v) = self.map.get(key) else { continue };
            let Some(steps) = steps.filter(|s| *s > 0) else {
                self.skip(
                    key,
                    Some(v),
                    "derived from steps, which was not imported",
                    false,
                );
                continue;
            };
            let (respacing, diffusion_steps) = Settings::derived_respacing(steps);
            let want = if key == "diffusion_steps" {
                Value::from(diffusion_steps)
            } else {
                Value::from(respacing)
            };
            if known::same(v, &want) {
                self.skip(key, Some(v), "derived from steps, as DD does", false);
            } else {
                let why = format!(
                    "DD derives {want} from steps {steps}; disco always derives it, so the file's value is not used"
                );
                self.skip(key, Some(v), why, true);
            }
        }
    }

    /// Any other key.
    fn other(&mut self, key: &str, v: &Value) {
        let dd = match key {
            "ViTL14_336" => "ViTL14_336px",
            other => other,
        };
        if key == "clip_models" {
            self.clip_list(key, v);
        } else if let Some(info) = schema::by_dd_name(dd) {
            self.emit(info.name, key, v);
        } else if let Some((toggle, _, _)) = CLIP_MODELS.iter().find(|(_, k, _)| *k == key) {
            // CLIP models DD has no toggle for, under their model-set key
            self.emit(toggle, key, v);
        } else if let Some((_, why)) = UNSUPPORTED.iter().find(|(k, _)| *k == key) {
            let mode = self.map.get("animation_mode").and_then(Value::as_str);
            let lossy = known::unsupported_changes_picture(key, v, mode);
            self.skip(key, Some(v), *why, lossy);
        } else if let Some((_, why)) = known::BOOKKEEPING.iter().find(|(k, _)| *k == key) {
            self.skip(key, Some(v), *why, false);
        } else if let Some((_, why)) = known::CLI_PORT_EXTRAS.iter().find(|(k, _)| *k == key) {
            self.skip(key, Some(v), *why, known::truthy(v));
        } else {
            self.skip(
                key,
                Some(v),
                "not a setting of Disco Diffusion or disco; DD ignores it",
                false,
            );
        }
    }

    fn finish(mut self, name: &Path) -> Result<Imported, ImportError> {
        if !self.written.contains_key("batch-name")
            && let Some(batch) = batch_from_file_name(name)
        {
            self.lines.push((
                SCHEMA
                    .iter()
                    .position(|s| s.name == "batch-name")
                    .unwrap_or(0),
                format!("batch-name {}", kdl_string(&batch)),
            ));
            self.notes.push(format!(
                "batch-name \"{}\" was taken from the file name",
                printable(&batch, 80)
            ));
        }
        if !self.map.contains_key("animation_mode") {
            self.notes.push(
                "DD settings files do not record animation_mode: imported as stills; add `animation-mode \"2D\"` for an animation".into(),
            );
        }
        if !self
            .map
            .keys()
            .any(|k| k == "clip_models" || CLIP_MODELS.iter().any(|(_, dd, _)| dd == k))
        {
            self.notes.push(
                "no CLIP model toggles in the file: DD's defaults (ViT-B/32, ViT-B/16, RN50) apply"
                    .into(),
            );
        }
        self.lines.sort_by_key(|(i, _)| *i);
        // The report follows the file's order (repeated keys first).
        let order: HashMap<&str, usize> = self
            .map
            .keys()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        self.skipped.sort_by_key(|s| {
            (
                s.value.is_some(),
                order.get(s.key.as_str()).copied().unwrap_or(usize::MAX),
            )
        });

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
        if !self.skipped.is_empty() {
            kdl.push_str("\n// Not imported:\n");
            for s in &self.skipped {
                kdl.push_str("//   ");
                kdl.push_str(&s.line());
                kdl.push('\n');
            }
        }
        Ok(Imported {
            kdl,
            imported: self.imported,
            skipped: self.skipped,
            notes: self.notes,
        })
    }
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
    let name = name.trim();
    (!matches!(name, "" | "." | "..")).then(|| name.to_owned())
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
        let keys: Vec<_> = out.skipped.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, vec!["frobnicate", "translation_z"]);
        assert!(out.kdl.contains("//   frobnicate = 3"));
    }
    fn skipped<'a>(out: &'a Imported, key: &str) -> &'a Skipped {
        out.skipped
            .iter()
            .find(|s| s.key == key)
            .unwrap_or_else(|| panic!("{key} not listed: {:?}", out.skipped))
    }

    #[test]
    fn unknown_diffusion_models_change_the_picture() {
        let out = import(
            Path::new("a.json"),
            r#"{"diffusion_model": "my_finetune_v2", "display_rate": "often"}"#,
        )
        .unwrap();
        let model = skipped(&out, "diffusion_model");
        assert!(model.changes_picture && model.reason.contains("is not one of"));
        assert!(!skipped(&out, "display_rate").changes_picture);
        assert_eq!(out.lossy().count(), 1);
    }

    #[test]
    fn a_setting_given_twice_is_written_once() {
        let out = import(
            Path::new("a.yaml"),
            "ViTL14_336: true\nViTL14_336px: false\nsteps: 5\nsteps: 6\n",
        )
        .unwrap();
        assert_eq!(
            out.kdl.matches("\nvit-l14-336px ").count(),
            1,
            "{}",
            out.kdl
        );
        assert!(skipped(&out, "ViTL14_336px").changes_picture);
        assert!(out.kdl.contains("\nsteps 6\n"));
        assert!(skipped(&out, "steps").reason.contains("more than once"));
    }

    #[test]
    fn a_lone_width_is_listed() {
        let out = import(Path::new("a.json"), r#"{"width": 640}"#).unwrap();
        assert!(!out.kdl.contains("width-height"));
        assert!(skipped(&out, "width").changes_picture);
        let out = import(Path::new("a.json"), r#"{"height": 768}"#).unwrap();
        assert!(
            !skipped(&out, "height").changes_picture,
            "DD's default height"
        );
    }

    #[test]
    fn three_d_settings_count_only_where_they_act() {
        let z = r#""translation_z": "0: (3)""#;
        let out = import(Path::new("a.json"), &format!("{{{z}}}")).unwrap();
        assert!(skipped(&out, "translation_z").changes_picture);
        let out = import(
            Path::new("a.json"),
            &format!(r#"{{{z}, "animation_mode": "2D"}}"#),
        )
        .unwrap();
        assert!(!skipped(&out, "translation_z").changes_picture);
    }
}
