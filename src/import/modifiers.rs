//! The CLI port's `modifiers` (entmike, `processModifiers` in `dd.py`): each modifier is one
//! job, the file's settings with the modifier's keys replaced. Each becomes a target named
//! `<batch>-<modifier>` holding those keys; the file's other settings stay at the top level,
//! where the targets take them from.
//!
//! The port rendered every modifier when modifiers came (1bf4e13, when its `artstudy.yml`
//! example was written); from 699fd81 its loop kept only the last one. The import renders
//! every modifier, so the picture of each version is among the results, and says so.

use serde_json::Value;

use super::builder::Builder;
use super::coerce::{Coerced, coerce};
use super::report::Group;
use crate::project::schema::{self, Settings};
use crate::project::types::kdl_string;

impl Builder<'_> {
    /// Imports `modifiers` as one target per modifier, or lists it with the reason.
    pub(super) fn modifiers(&mut self, v: &Value) {
        let empty = v.is_null() || v.as_object().is_some_and(|m| m.is_empty());
        if empty {
            self.skip("modifiers", Some(v), "no modifiers", Group::OffOrDefault);
            return;
        }
        let multiplied = self
            .map
            .get("multipliers")
            .is_some_and(|m| m.as_object().is_some_and(|m| !m.is_empty()));
        let result = if multiplied {
            Err("modifiers combined with multipliers cannot be imported yet".to_owned())
        } else {
            self.modifier_targets(v)
        };
        match result {
            Ok((count, kind)) => {
                for _ in 0..count {
                    self.imported.push(("modifiers".into(), kind));
                }
                self.notes.push(format!(
                    "the CLI port's {count} `modifiers` became {count} targets, one per modifier, as the port rendered them when modifiers came (1bf4e13); its versions from 699fd81 rendered only the last one"
                ));
            }
            Err(why) => {
                let why = format!("the CLI port's job modifiers: {why}");
                self.skip("modifiers", Some(v), why, Group::ChangesPicture);
            }
        }
    }

    /// Writes the targets; the number written and their kind, or why none can be.
    fn modifier_targets(&mut self, v: &Value) -> Result<(usize, &'static str), String> {
        let mods = v
            .as_object()
            .ok_or("expected a mapping of name → settings")?;
        let batch = self
            .map
            .get("batch_name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("TimeToDisco");
        let kind = self.target_kind();
        let mut blocks = Vec::new();
        for (name, settings) in mods {
            let settings = settings
                .as_object()
                .ok_or_else(|| format!("modifier `{name}` is not a mapping of settings"))?;
            let mut block = format!(
                "{kind} {} {{\n",
                kdl_string(&format!("{batch}-{}", name.trim()))
            );
            for (key, value) in settings {
                let line =
                    modifier_line(key, value).map_err(|why| format!("modifier `{name}`: {why}"))?;
                for l in line.lines() {
                    block.push_str("    ");
                    block.push_str(l);
                    block.push('\n');
                }
            }
            block.push('}');
            blocks.push(block);
        }
        let count = blocks.len();
        for block in blocks {
            self.lines.push((usize::MAX, block));
        }
        Ok((count, kind))
    }
}

impl Builder<'_> {
    /// The kind of target a job of this file is: an animation in a 2D file, else stills.
    pub(super) fn target_kind(&self) -> &'static str {
        let animated = self
            .map
            .get("animation_mode")
            .and_then(Value::as_str)
            .is_some_and(|m| m.trim() == "2D");
        if animated { "animation" } else { "stills" }
    }
}

/// One setting of a modifier as a project line.
fn modifier_line(key: &str, value: &Value) -> Result<String, String> {
    let info = schema::by_dd_name(key.trim())
        .filter(|i| i.pixels)
        .ok_or_else(|| format!("`{key}` is not a setting disco can vary by target"))?;
    let value = match coerce(info, value) {
        Coerced::Same => value.clone(),
        Coerced::Value(v, _) => v,
        Coerced::Unset => return Err(format!("`{key}` is None")),
        Coerced::Lossy(why) => return Err(format!("`{key}`: {why}")),
    };
    match Settings::kdl_from_json(info.name, &value) {
        Some(Ok(text)) if text.is_empty() => Ok(info.name.to_owned()),
        Some(Ok(text)) => Ok(format!("{} {text}", info.name)),
        Some(Err(why)) => Err(format!("`{key}`: {why}")),
        None => Err(format!("`{key}` is not a setting")),
    }
}
