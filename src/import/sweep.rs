//! The CLI port's `multipliers` (entmike, `processMultipliers` in `dd.py`): every combination
//! of the listed values is one job, the cartesian product disco's `sweep` renders. Each
//! multiplied key becomes an `axis` of one sweep target (or, where the cells' folder names
//! would be too long for a file system, each combination a target of its own); the file's
//! other settings stay at the top level, where the targets take them from.

use std::path::Path;

use serde_json::{Map, Value};

use super::builder::Builder;
use super::coerce::{Coerced, coerce};
use super::report::Group;
use crate::project;
use crate::project::schema::{self, Settings};
use crate::project::types::kdl_string;

/// Most combinations imported (a sweep's own limit is 10,000 cells; as targets, each is a
/// block of the project).
const MAX_COMBINATIONS: usize = 10_000;

impl Builder<'_> {
    /// Imports `multipliers` as a sweep, or lists it with the reason.
    pub(super) fn multipliers(&mut self, v: &Value) {
        let empty = v.is_null() || v.as_object().is_some_and(Map::is_empty);
        if empty {
            self.skip(
                "multipliers",
                Some(v),
                "no multipliers",
                Group::OffOrDefault,
            );
            return;
        }
        match axes(v) {
            Ok(axes) => {
                let name = self
                    .map
                    .get("batch_name")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .unwrap_or("multipliers")
                    .to_owned();
                let sweep = sweep_block(&name, &axes);
                // A sweep names each cell's folder by its values; long prompts make names no
                // file system takes, and then each combination is a target of its own.
                if project::load_str(Path::new("disco.kdl"), &sweep)
                    .project
                    .is_some()
                {
                    self.lines.push((usize::MAX, sweep));
                    self.imported.push(("multipliers".into(), "sweep"));
                    self.notes.push(format!(
                        "the CLI port's `multipliers` became sweep \"{name}\": one image set per combination, as the CLI port renders them"
                    ));
                } else {
                    let kind = self.target_kind();
                    let blocks = product_targets(kind, &name, &axes);
                    let count = blocks.len();
                    for block in blocks {
                        self.lines.push((usize::MAX, block));
                        self.imported.push(("multipliers".into(), kind));
                    }
                    self.notes.push(format!(
                        "the CLI port's `multipliers` became {count} targets \"{name}-0\"…, one per combination, as the CLI port renders them (as a sweep, the cells' folder names would be too long)"
                    ));
                }
            }
            Err(why) => {
                let why = format!("the CLI port's prompt multipliers: {why}");
                self.skip("multipliers", Some(v), why, Group::ChangesPicture);
            }
        }
    }
}

/// `sweep "name" { axis … }`.
fn sweep_block(name: &str, axes: &[(&'static str, Vec<String>)]) -> String {
    let mut block = format!("sweep {} {{\n", kdl_string(name));
    for (setting, values) in axes {
        block.push_str(&format!("    axis {}", kdl_string(setting)));
        for value in values {
            block.push(' ');
            block.push_str(value);
        }
        block.push('\n');
    }
    block.push('}');
    block
}

/// One target per combination, in the sweep's order (the last axis fastest).
fn product_targets(kind: &str, name: &str, axes: &[(&'static str, Vec<String>)]) -> Vec<String> {
    let mut combos: Vec<Vec<(&str, &str)>> = vec![Vec::new()];
    for (setting, values) in axes {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((*setting, v.as_str()));
                    c
                })
            })
            .collect();
    }
    combos
        .iter()
        .enumerate()
        .map(|(i, combo)| {
            let mut block = format!("{kind} {} {{\n", kdl_string(&format!("{name}-{i}")));
            for (setting, value) in combo {
                block.push_str(&format!("    {setting} {value}\n"));
            }
            block.push('}');
            block
        })
        .collect()
}

/// (setting, KDL value of each item) per multiplied key, or why one cannot be an axis.
fn axes(v: &Value) -> Result<Vec<(&'static str, Vec<String>)>, String> {
    let map = v
        .as_object()
        .ok_or("expected a mapping of setting → values")?;
    let combinations = map.values().try_fold(1usize, |n, vs| {
        n.checked_mul(vs.as_array().map_or(1, Vec::len))
            .filter(|n| *n <= MAX_COMBINATIONS)
    });
    if combinations.is_none() {
        return Err(format!("more than {MAX_COMBINATIONS} combinations"));
    }
    map.iter()
        .map(|(key, values)| {
            let info = schema::by_dd_name(key.trim())
                .filter(|i| i.pixels)
                .ok_or_else(|| format!("`{key}` is not a setting disco can sweep"))?;
            let items = values
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| format!("`{key}` does not list values"))?;
            let texts = items
                .iter()
                .map(|item| axis_value(info, item))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|why| format!("`{key}`: {why}"))?;
            Ok((info.name, texts))
        })
        .collect()
}

/// One value of an axis: a single KDL value, as a setting written with one value.
fn axis_value(info: &schema::SettingInfo, item: &Value) -> Result<String, String> {
    // A prompt set for frame 0 holding one prompt (`- 0: ["a castle"]`) is that prompt.
    let item = match item
        .as_object()
        .map(|m| m.iter().collect::<Vec<_>>())
        .as_deref()
    {
        Some([(frame, Value::Array(list))]) if frame.trim() == "0" && list.len() == 1 => &list[0],
        _ => item,
    };
    // A prompt axis takes the prompt string itself (frame 0).
    if let (Value::Object(_), Value::String(s)) = (&info.default, item) {
        return Ok(kdl_string(s));
    }
    let value = match coerce(info, item) {
        Coerced::Same => item.clone(),
        Coerced::Value(v, _) => v,
        Coerced::Unset => return Err("None cannot be a value of an axis".into()),
        Coerced::Lossy(why) => return Err(why),
    };
    let text = match Settings::kdl_from_json(info.name, &value) {
        Some(Ok(text)) => text,
        Some(Err(why)) => return Err(why.to_string()),
        None => return Err("no such setting".into()),
    };
    let one_value = !text.is_empty()
        && !text.contains('{')
        && kdl::KdlDocument::parse_v2(&format!("n {text}"))
            .ok()
            .is_some_and(|d| d.nodes().first().is_some_and(|n| n.entries().len() == 1));
    if one_value {
        Ok(text)
    } else {
        Err(format!(
            "{item} takes more than one value, and an axis takes one per cell"
        ))
    }
}
