//! The import in progress: each key of the file becomes a project line or a report entry.
//! The keys DD writes in pairs (size, seed, derived steps) are in `special.rs`; the written
//! text and the notes in `write.rs`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::coerce::{Coerced, coerce};
use super::report::{Group, Skipped};
use super::{forks, known};
use crate::project::schema::{self, CLIP_MODELS, SCHEMA, Settings, UNSUPPORTED};
use crate::project::types::NON_FINITE;

/// The import in progress.
pub(super) struct Builder<'a> {
    pub(super) map: &'a Map<String, Value>,
    pub(super) non_finite: &'a [String],
    /// (position in the settings reference, line).
    pub(super) lines: Vec<(usize, String)>,
    /// Setting → the DD key it was imported from.
    pub(super) written: HashMap<&'static str, String>,
    pub(super) imported: Vec<(String, &'static str)>,
    pub(super) skipped: Vec<Skipped>,
    pub(super) notes: Vec<String>,
}

impl<'a> Builder<'a> {
    pub(super) fn new(map: &'a Map<String, Value>, non_finite: &'a [String]) -> Self {
        Builder {
            map,
            non_finite,
            lines: Vec::new(),
            written: HashMap::new(),
            imported: Vec::new(),
            skipped: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Lists `key` as not imported. What disco does instead of a key that changes the
    /// picture: for a setting, DD's default; otherwise it renders without the feature.
    pub(super) fn skip(
        &mut self,
        key: &str,
        value: Option<&Value>,
        reason: impl Into<String>,
        group: Group,
    ) {
        let reason = reason.into();
        let instead = if group != Group::ChangesPicture {
            String::new()
        } else {
            match schema::by_dd_name(key).or_else(|| schema::by_dd_name(dd_alias(key))) {
                _ if key == "animation_mode" => {
                    "renders stills; `animation-mode \"2D\"` gives 2D motion without depth".into()
                }
                _ if reason.contains("Video Input") => "renders without the video's frames".into(),
                Some(info) => format!("uses DD's default, `{} {}`", info.name, info.default),
                None => "renders without it".into(),
            }
        };
        self.skipped.push(Skipped {
            key: key.to_owned(),
            value: value.cloned(),
            reason,
            group,
            instead,
        });
    }

    /// Imports DD key `dd` with value `v` as `setting`, or lists it with the reason.
    pub(super) fn emit(&mut self, setting: &'static str, dd: &str, v: &Value) {
        let Some(info) = schema::info(setting) else {
            self.skip(dd, Some(v), "no such setting", Group::Bookkeeping);
            return;
        };
        // Losing the value changes the picture when it acts on pixels and is not DD's default,
        // and the switch it depends on is on.
        let lossy = if info.pixels && !known::same(v, &info.default) && !self.switched_off(dd) {
            Group::ChangesPicture
        } else {
            Group::OffOrDefault
        };
        if let Some(first) = self.written.get(setting) {
            let why = format!("`{first}` was imported for the same setting, `{setting}`");
            let differs = self.map.get(first).is_none_or(|f| !known::same(f, v));
            let group = if info.pixels && differs {
                Group::ChangesPicture
            } else {
                Group::Bookkeeping
            };
            self.skip(dd, Some(v), why, group);
            return;
        }
        if self.non_finite.iter().any(|k| k == dd) {
            self.skip(dd, Some(v), NON_FINITE, lossy);
            return;
        }
        let coerced;
        let value = match coerce(info, v) {
            Coerced::Same => v,
            Coerced::Value(new, why) => {
                self.notes.push(format!("`{dd}`: {why}"));
                coerced = new;
                &coerced
            }
            Coerced::Unset => {
                let why = "None: DD's default applies";
                self.skip(dd, Some(v), why, Group::OffOrDefault);
                return;
            }
            Coerced::Lossy(why) => {
                self.skip(dd, Some(v), why, Group::ChangesPicture);
                return;
            }
        };
        match Settings::kdl_from_json(setting, value) {
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
            None => self.skip(dd, Some(v), "no such setting", Group::Bookkeeping),
        }
    }

    /// Any other key.
    pub(super) fn other(&mut self, key: &str, v: &Value) {
        if self.custom_model_key(key, v) {
            return; // custom_model.rs: the custom architecture, also in DiscoStream's spelling
        }
        let mode = self.map.get("animation_mode").and_then(Value::as_str);
        let model = self.map.get("diffusion_model").and_then(Value::as_str);
        let info = schema::by_dd_name(dd_alias(key));
        if let Some(why) = super::three_d::not_imported(key, v, mode) {
            self.skip(key, Some(v), why, Group::OffOrDefault);
        } else if info.is_some_and(|i| video_input_elsewhere(i, v, mode)) {
            // recorded by DD in every mode; it acts only in Video Input
            let why = "acts only in Video Input mode";
            self.skip(key, Some(v), why, Group::OffOrDefault);
        } else if let Some(info) = info {
            self.emit(info.name, key, v);
        } else if let Some(setting) = port_setting(key) {
            self.emit(setting, key, v);
        } else if let Some((toggle, _, _)) = CLIP_MODELS.iter().find(|(_, k, _)| *k == key) {
            // an OpenCLIP model DD has no toggle for, by its model-set key (from `clip_models`)
            self.emit(toggle, key, v);
        } else if let Some((_, why)) = UNSUPPORTED.iter().find(|(k, _)| *k == key) {
            let group = if known::unsupported_changes_picture(v) {
                Group::ChangesPicture
            } else {
                Group::OffOrDefault
            };
            self.skip(key, Some(v), *why, group);
        } else if let Some((_, why)) = known::BOOKKEEPING.iter().find(|(k, _)| *k == key) {
            self.skip(key, Some(v), *why, Group::Bookkeeping);
        } else if key == "multipliers" {
            self.multipliers(v);
        } else if key == "modifiers" {
            self.modifiers(v);
        } else if let Some((_, why)) = known::CLI_PORT_EXTRAS.iter().find(|(k, _)| *k == key) {
            let group = if known::truthy(v) {
                Group::ChangesPicture
            } else {
                Group::OffOrDefault
            };
            self.skip(key, Some(v), *why, group);
        } else if key == "cutn" {
            self.cutn(v);
        } else if let Some((group, why)) = forks::classify(
            key,
            v,
            model,
            mode.is_none_or(|m| m.trim().eq_ignore_ascii_case("Video Input")),
            |k| self.feature_on(k),
        ) {
            self.skip(key, Some(v), why, group);
        } else {
            self.skip(
                key,
                Some(v),
                "not a setting of Disco Diffusion or disco; DD ignores it (a fork may not)",
                Group::Bookkeeping,
            );
        }
    }

    /// Whether DD key `dd` tunes a switch that is off in the file (or absent, and off by
    /// default), so that its value cannot act (dd-algorithm.md §2.3).
    fn switched_off(&self, dd: &str) -> bool {
        let switch = match dd {
            "perlin_mode" => "perlin_init",
            "rand_mag" => "fuzzy_prompt",
            "clamp_max" => "clamp_grad",
            _ => return false,
        };
        let default_on = switch == "clamp_grad";
        match self.map.get(switch) {
            None => !default_on,
            Some(v) => match coerce(schema::by_dd_name(switch).expect("a DD switch"), v) {
                Coerced::Same => v == &Value::Bool(false),
                Coerced::Value(b, _) => b == Value::Bool(false),
                Coerced::Unset => !default_on,
                Coerced::Lossy(_) => false,
            },
        }
    }

    /// Whether the file turns on the feature of key `k` (a fork's, or the CLI port's).
    fn feature_on(&self, k: &str) -> bool {
        self.map.get(k).is_some_and(|v| {
            forks::is_on(k, v)
                || (known::CLI_PORT_EXTRAS.iter().any(|(x, _)| *x == k) && known::truthy(v))
        })
    }

    /// DD v3's `cutn`, the number of cuts. From v4.1 the cut schedules replaced it, and DD
    /// cuts image prompts into 16 pieces whatever `cutn` says (`MakeCutouts(…, 16)`, §3.3), as
    /// disco does; so only a v3 file (no `cut_overview`) loses its cuts.
    fn cutn(&mut self, v: &Value) {
        if self.map.contains_key("cut_overview") || self.map.contains_key("cut_innercut") {
            let why = "DD v4.1+ writes it but reads the cut schedules instead";
            self.skip("cutn", Some(v), why, Group::Bookkeeping);
        } else {
            let why = "DD v3's number of cuts; disco cuts by `cut-overview` and `cut-innercut`";
            self.skip("cutn", Some(v), why, Group::ChangesPicture);
        }
    }
}

/// The CLI port's spelling of a DD name.
/// Keys of DD's ports that disco has a setting for though DD has none.
fn port_setting(key: &str) -> Option<&'static str> {
    match key {
        // philpax/disco-diffusion's lazy guidance
        "guidance_every" => Some("guidance-every"),
        // progrock's brightness and contrast correction: the same names, kebab-cased
        "fix_brightness_contrast" | "adjustment_interval" => {
            schema::info(&crate::project::names::kebab(key)).map(|i| i.name)
        }
        _ if ["high_", "low_"].iter().any(|p| key.starts_with(p))
            && ["_brightness_", "_contrast_"]
                .iter()
                .any(|m| key.contains(m)) =>
        {
            schema::info(&crate::project::names::kebab(key)).map(|i| i.name)
        }
        _ => None,
    }
}

fn dd_alias(key: &str) -> &str {
    match key {
        "ViTL14_336" => "ViTL14_336px",
        other => other,
    }
}

/// Whether `info` is a Video Input setting that is not imported: DD records them in every
/// mode, so a file of another mode, or one without a mode at DD's default value (DD's
/// notebook records no mode), would only fill the project with settings that do nothing.
fn video_input_elsewhere(info: &schema::SettingInfo, v: &Value, mode: Option<&str>) -> bool {
    if !crate::project::video_input::SETTINGS.contains(&info.name) {
        return false;
    }
    match mode.map(str::trim) {
        Some(m) => !m.eq_ignore_ascii_case("Video Input"),
        None if info.name == "video-init-path" => !known::video_path_set(v),
        None => known::same(v, &info.default),
    }
}
