//! Forks' spellings of DD settings, rewritten to DD's before the settings are imported:
//! DD 5.6's `width_height_for_512x512_models`/`…_256x256_models` (chosen by the file's
//! model, as DD chooses), a Python port's `prompts` and `resolved_seed`, progrock's sampler
//! named `sampling_mode`, DiscoArt's prompt list (`version: "1"`), and the `clip_models`
//! list of DiscoArt and ports, which becomes DD's CLIP toggles.

use serde_json::{Map, Value};

use super::coerce;
use super::report::{Group, Skipped};
use crate::project::clip_names::clip_toggle;
use crate::project::schema::CLIP_MODELS;

/// The file's settings under DD's names, with what was rewritten.
pub struct Respelled {
    /// The settings, in file order (a rewritten key takes its source's place).
    pub map: Map<String, Value>,
    /// Keys read under another name, and why.
    pub notes: Vec<String>,
    /// Keys (or list items) that were not rewritten and cannot be imported.
    pub skipped: Vec<Skipped>,
}

/// Rewrites forks' spellings of DD settings in `map`; `discoart` when the file is DiscoArt's.
pub fn respell(map: &Map<String, Value>, discoart: bool) -> Respelled {
    let mut out = Respelled {
        map: Map::new(),
        notes: Vec::new(),
        skipped: Vec::new(),
    };
    let is_256 = model_is_256(map);
    for (key, v) in map {
        match key.as_str() {
            // DiscoArt's `load_config` accepts these legacy keys and drops them.
            "skip_augs" | "fuzzy_prompt" | "clip_sequential_evaluation" if discoart => {
                out.skipped.push(Skipped {
                    key: key.clone(),
                    value: Some(v.clone()),
                    reason: "DiscoArt accepts it and ignores it, so its pictures did not use it"
                        .into(),
                    group: Group::Bookkeeping,
                    instead: String::new(),
                });
            }
            "prompts" if !map.contains_key("text_prompts") => {
                out.rename(key, "text_prompts", v.clone());
            }
            "resolved_seed" if map.get("seed").is_none_or(Value::is_null) => {
                out.map.remove("seed");
                out.rename(key, "seed", v.clone());
            }
            "seed" if map.contains_key("resolved_seed") && v.is_null() => {}
            "width_height_for_512x512_models" | "width_height_for_256x256_models"
                if !map.contains_key("width_height") =>
            {
                let for_256 = key.contains("256x256");
                if for_256 == is_256 {
                    out.rename(key, "width_height", v.clone());
                } else {
                    let class = if is_256 { "256" } else { "512" };
                    out.skipped.push(Skipped {
                        key: key.clone(),
                        value: Some(v.clone()),
                        reason: format!(
                            "DD uses it for the other class of models; this file's model is {class}-class"
                        ),
                        group: Group::OffOrDefault,
                        instead: String::new(),
                    });
                }
            }
            // progrock and the CLI port's docs name the sampler `sampling_mode`, which is
            // DD's 3D warp interpolation; "ddim"/"plms" can only mean the sampler.
            "sampling_mode"
                if !map.contains_key("diffusion_sampling_mode")
                    && v.as_str()
                        .is_some_and(|s| matches!(s.trim(), "ddim" | "plms")) =>
            {
                out.rename(key, "diffusion_sampling_mode", v.clone());
            }
            "clip_models" => out.clip_models(map, v),
            "text_prompts" if v.get("version").is_some() => match discoart_prompts(v) {
                Ok(list) => {
                    out.notes.push(
                        "DiscoArt's prompt list (`version: \"1\"`) was read as DD's prompts".into(),
                    );
                    out.map.insert(key.clone(), list);
                }
                Err(why) => out.skipped.push(Skipped {
                    key: key.clone(),
                    value: Some(v.clone()),
                    reason: format!("DiscoArt's prompt list: {why}"),
                    group: Group::ChangesPicture,
                    instead: "uses DD's default prompts".into(),
                }),
            },
            _ => {
                out.map.insert(key.clone(), v.clone());
            }
        }
    }
    out
}

impl Respelled {
    fn rename(&mut self, from: &str, to: &str, v: Value) {
        self.notes.push(format!("`{from}` was read as DD's `{to}`"));
        self.map.insert(to.to_owned(), v);
    }

    /// `clip_models: ["ViT-B-32::openai", "RN50", …]` → DD's toggles, every listed OpenAI
    /// model on and the others off. Toggles the file also sets win (they are DD's own).
    fn clip_models(&mut self, map: &Map<String, Value>, v: &Value) {
        let Some(names) = v.as_array() else {
            self.skipped.push(Skipped {
                key: "clip_models".into(),
                value: Some(v.clone()),
                reason: "expected a list of CLIP model names".into(),
                group: Group::ChangesPicture,
                instead: "uses DD's default CLIP models (ViT-B/32, ViT-B/16, RN50)".into(),
            });
            return;
        };
        let mut on = Vec::new();
        for name in names {
            match name.as_str().and_then(model_key) {
                Some(key) => on.push(key),
                None => self.skipped.push(Skipped {
                    key: "clip_models".into(),
                    value: Some(name.clone()),
                    reason: "not a CLIP model disco can export (docs/models.md lists them)".into(),
                    group: Group::ChangesPicture,
                    instead: "renders without this CLIP model".into(),
                }),
            }
        }
        for (_, dd, _) in CLIP_MODELS {
            if !map.contains_key(*dd) {
                self.map
                    .insert((*dd).to_owned(), Value::Bool(on.contains(dd)));
            }
        }
        self.notes
            .push("`clip_models` was read as DD's CLIP model toggles".into());
    }
}

/// DiscoArt's `{version: "1", prompts: [{text, weight}]}` as DD's list of `"text:weight"`
/// (frame 0), where every weight holds one value for all steps; per-step weights,
/// `schedule` and `clip_guidance` have no DD counterpart.
fn discoart_prompts(v: &Value) -> Result<Value, String> {
    if v.get("version").and_then(Value::as_str).map(str::trim) != Some("1") {
        return Err("only version \"1\" is known".into());
    }
    let items = v
        .get("prompts")
        .and_then(Value::as_array)
        .ok_or("expected `prompts`, a list")?;
    let mut list = Vec::new();
    for item in items {
        let text = item
            .get("text")
            .and_then(Value::as_str)
            .ok_or("a prompt without `text`")?;
        for key in item.as_object().into_iter().flat_map(|m| m.keys()) {
            if !matches!(key.as_str(), "text" | "weight" | "spellcheck") {
                return Err(format!("a prompt's `{key}` has no DD counterpart"));
            }
        }
        if item
            .get("spellcheck")
            .is_some_and(|s| s.as_str() != Some("ignore"))
        {
            return Err("a prompt's `spellcheck` other than \"ignore\" rewrites its text".into());
        }
        let weight = match item.get("weight") {
            None => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) if coerce::is_schedule(s) => Some(coerce::constant(s)?),
            Some(Value::String(s)) => Some(
                s.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("weight \"{s}\" is not a number"))?,
            ),
            Some(other) => return Err(format!("weight {other} is not a number")),
        };
        // Without `weight`, DiscoArt reads a `:weight` suffix of the text as DD does; with
        // one, a colon in the text stays text only when the weight follows it.
        list.push(Value::from(match weight {
            Some(w) if w != 1.0 || text.contains(':') => {
                format!("{text}:{}", crate::project::types::fmt_number(w))
            }
            _ => text.to_owned(),
        }));
    }
    Ok(Value::Array(list))
}

/// The model-set key (DD's toggle where DD has one) of a CLIP model as DiscoArt
/// (`ViT-B-32::openai`, `ViT-B-32::laion2b_e16`), OpenAI's `clip` (`ViT-B/32`) or DD names it;
/// `disco_project::clip_names` knows every spelling.
fn model_key(name: &str) -> Option<&'static str> {
    let toggle = clip_toggle(name)?;
    CLIP_MODELS
        .iter()
        .find(|(t, _, _)| *t == toggle)
        .map(|(_, key, _)| *key)
}

/// Whether DD 5.6 would size this file's picture for a 256-class model.
fn model_is_256(map: &Map<String, Value>) -> bool {
    match map
        .get("diffusion_model")
        .and_then(Value::as_str)
        .map(str::trim)
    {
        Some("custom") => map
            .get("custom_model_image_size")
            .and_then(Value::as_f64)
            .is_some_and(|s| s == 256.0),
        Some(m) => m.starts_with("256x256") || m.ends_with("_256"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn discoart_and_openai_names_find_dd_toggles() {
        assert_eq!(model_key("ViT-B-32::openai"), Some("ViTB32"));
        assert_eq!(model_key("ViT-B/16"), Some("ViTB16"));
        assert_eq!(model_key("ViT-L-14-336::openai"), Some("ViTL14_336px"));
        assert_eq!(model_key("ViT-L/14@336px"), Some("ViTL14_336px"));
        assert_eq!(model_key("RN50x16::openai"), Some("RN50x16"));
        assert_eq!(
            model_key("ViT-B-32::laion2b_e16"),
            Some("ViTB32_laion2b_e16")
        );
        assert_eq!(model_key("RN50::yfcc15m"), Some("RN50_yffcc15m"));
        assert_eq!(model_key("ViT-g-14::laion2b_s12b_b42k"), None);
    }

    #[test]
    fn clip_models_list_becomes_toggles() {
        let map = json!({"clip_models": ["RN50::openai", "ViT-B-32::laion2b_e16", "ViT-g-14::laion2b_s12b_b42k"]});
        let r = respell(map.as_object().unwrap(), false);
        assert_eq!(r.map["RN50"], json!(true));
        assert_eq!(r.map["ViTB32"], json!(false));
        assert_eq!(r.map["ViTB32_laion2b_e16"], json!(true));
        assert_eq!(r.skipped.len(), 1);
        assert_eq!(
            r.skipped[0].value,
            Some(json!("ViT-g-14::laion2b_s12b_b42k"))
        );
    }

    #[test]
    fn the_size_for_the_file_s_model_class_is_chosen() {
        let map = json!({
            "diffusion_model": "256x256_diffusion_uncond",
            "width_height_for_512x512_models": [1280, 768],
            "width_height_for_256x256_models": [512, 448],
        });
        let r = respell(map.as_object().unwrap(), false);
        assert_eq!(r.map["width_height"], json!([512, 448]));
        assert_eq!(r.skipped[0].key, "width_height_for_512x512_models");
    }
}
