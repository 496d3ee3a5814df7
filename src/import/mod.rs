//! Disco Diffusion settings → a disco project file.
//!
//! Reads DD's `<batch>(<n>)_settings.txt` (JSON), the CLI port's YAML configs, DiscoArt's
//! configs and forks' JSON, maps every key it knows to its kebab-case setting, and lists
//! every key it does not import with the reason — in the result and as comments in the
//! written file, so nothing is dropped silently. Each such key is in a [`Group`]: it changes
//! the picture (with what disco does instead), it is off or at DD's default, or it is
//! bookkeeping; `disco import` refuses to write a project that would render a different
//! picture unless asked to (`--allow-lossy`).
//!
//! The steps, one file each: `parse` (JSON, `relaxed` JSON, YAML, within bounds) →
//! `spellings` (forks' names for DD's keys) → `progrock` (its computed "auto" values) → `builder` (each key a line or a report entry;
//! `coerce` reads forks' value forms, `forks` knows forks' own keys, `special` the keys DD
//! writes in pairs, `sweep` and `modifiers` the CLI port's jobs) → `write` (notes, text).
//!
//! The file is untrusted: it is read within fixed bounds (`fsutil::read_to_string_bounded`,
//! [`parse`]), and every text taken from it is escaped before it enters the project
//! (`kdl_string` for values, [`report::printable`] for comments), so no key or value can
//! add a line to the project.

mod builder;
#[cfg(test)]
mod clip_list;
mod coerce;
mod custom_model;
mod forks;
mod known;
mod modifiers;
mod parse;
mod progrock;
mod relaxed;
mod report;
mod salad;
mod special;
mod spellings;
mod sweep;
mod three_d;
mod voronoi;
mod write;

use std::path::Path;

use crate::fsutil::{self, BoundedReadError};
use builder::Builder;
pub use parse::{MAX_DEPTH, MAX_TEXT_BYTES, MAX_VALUES, MAX_YAML_OPENINGS};
pub use report::{Group, Skipped, printable};

/// Largest settings file read (DD's are a few kilobytes; a project file has the same limit).
pub const MAX_SETTINGS_BYTES: u64 = crate::project::MAX_PROJECT_BYTES as u64;

/// The outcome of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The project text.
    pub kdl: String,
    /// Settings imported: (DD key, setting name).
    pub imported: Vec<(String, &'static str)>,
    /// Keys not imported, with the reason, in the report's order (group by group).
    pub skipped: Vec<Skipped>,
    /// Things the user should know (e.g. what DD does not record).
    pub notes: Vec<String>,
}

impl Imported {
    /// The keys not imported whose loss changes the picture.
    pub fn lossy(&self) -> impl Iterator<Item = &Skipped> {
        self.skipped.iter().filter(|s| s.changes_picture())
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
    let discoart = write::is_discoart(&map);
    let respelled = spellings::respell(&map, discoart);
    let mut map = respelled.map;
    let (auto_notes, auto_skipped) = progrock::resolve_auto(&mut map);
    let salad = salad::draw(&map, name);
    if let Ok(Some(s)) = &salad {
        salad::add_to_multipliers(&mut map, &s.prompts);
    }
    let mut b = Builder::new(&map, &non_finite);
    b.skipped = respelled.skipped;
    b.skipped.extend(auto_skipped);
    b.notes = respelled.notes;
    b.notes.extend(auto_notes);
    for key in &repeated {
        b.skip(
            key,
            None,
            "given more than once: the last value counts, as when DD's Python reads the file",
            Group::Bookkeeping,
        );
    }
    b.size();
    b.seed();
    b.derived();
    b.voronoi();
    b.salad(salad);
    for (key, v) in &map {
        if voronoi::KEYS.contains(&key.as_str()) || salad::KEYS.contains(&key.as_str()) {
            continue;
        }
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
    b.finish(name, discoart)
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
        // Group by group: translation_z is at DD's default, frobnicate is not a setting.
        assert_eq!(keys, vec!["translation_z", "frobnicate"]);
        assert_eq!(out.skipped[0].group, Group::OffOrDefault);
        assert_eq!(out.skipped[1].group, Group::Bookkeeping);
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
        assert!(model.changes_picture() && model.reason.contains("is not one of"));
        assert!(!skipped(&out, "display_rate").changes_picture());
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
        assert!(skipped(&out, "ViTL14_336px").changes_picture());
        assert!(out.kdl.contains("\nsteps 6\n"));
        assert!(skipped(&out, "steps").reason.contains("more than once"));
    }

    #[test]
    fn a_lone_width_is_listed() {
        let out = import(Path::new("a.json"), r#"{"width": 640}"#).unwrap();
        assert!(!out.kdl.contains("width-height"));
        assert!(skipped(&out, "width").changes_picture());
        let out = import(Path::new("a.json"), r#"{"height": 768}"#).unwrap();
        assert!(
            !skipped(&out, "height").changes_picture(),
            "DD's default height"
        );
    }

    #[test]
    fn three_d_settings_are_imported_where_they_can_act() {
        let z = r#""translation_z": "0: (3)""#;
        // no mode recorded: a moved camera may be a 3D run's, so it is kept
        let out = import(Path::new("a.json"), &format!("{{{z}}}")).unwrap();
        assert!(
            out.kdl.contains("\ntranslation-z \"0: (3)\"\n"),
            "{}",
            out.kdl
        );
        let out = import(
            Path::new("a.json"),
            &format!(r#"{{{z}, "animation_mode": "3D"}}"#),
        )
        .unwrap();
        assert!(
            out.kdl.contains("\ntranslation-z \"0: (3)\"\n"),
            "{}",
            out.kdl
        );
        assert!(out.kdl.contains("animation-mode \"3D\""), "{}", out.kdl);
        assert_eq!(out.lossy().count(), 0);
        // a 2D run never reads it
        let out = import(
            Path::new("a.json"),
            &format!(r#"{{{z}, "animation_mode": "2D"}}"#),
        )
        .unwrap();
        assert!(!out.kdl.contains("translation-z"), "{}", out.kdl);
        assert!(!skipped(&out, "translation_z").changes_picture());
    }
}
