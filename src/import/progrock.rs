//! progrock's `"auto"` values (lowfuel/progrockdiffusion, `prd.py`): `eta`, `clamp_max` and
//! `clip_guidance_scale` written as `"auto"` are computed by progrock from the file's own
//! `steps`, size and `use_secondary_model` before it renders, with fixed formulas. The file
//! records the word, not the number; import computes the number the same way, so the
//! picture is kept.
//!
//! Later progrock versions double the automatic `clamp_max` when the secondary model is
//! off, earlier ones do not, and the settings file does not say which version wrote it: that
//! one case stays loud.

use serde_json::{Map, Value};

use super::report::{Group, Skipped};

/// progrock's defaults where the file is silent (prd.py's globals).
const STEPS: f64 = 250.0;
const SIZE: (f64, f64) = (832.0, 512.0);

/// Replaces each `"auto"` of `map` by the value progrock computes; returns the notes saying
/// so and what could not be resolved.
pub(super) fn resolve_auto(map: &mut Map<String, Value>) -> (Vec<String>, Vec<Skipped>) {
    let (mut notes, mut skipped) = (Vec::new(), Vec::new());
    let is_auto = |map: &Map<String, Value>, k: &str| {
        map.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| s.trim() == "auto")
    };
    let steps = number(map, "steps").unwrap_or(STEPS);
    if is_auto(map, "eta") {
        let eta = auto_eta(steps);
        notes.push(format!(
            "`eta` \"auto\": progrock computes {eta} from {steps} steps; imported as that"
        ));
        map.insert("eta".into(), Value::from(eta));
    }
    if is_auto(map, "clip_guidance_scale") {
        let (w, h) = size(map);
        let cgs = auto_clip_guidance_scale(w * h);
        notes.push(format!(
            "`clip_guidance_scale` \"auto\": progrock computes {cgs} from the {w}×{h} size; imported as that"
        ));
        map.insert("clip_guidance_scale".into(), Value::from(cgs));
    }
    if is_auto(map, "clamp_max") {
        let base = auto_clamp_max(steps);
        let secondary = map.get("use_secondary_model") != Some(&Value::Bool(false));
        if secondary {
            notes.push(format!(
                "`clamp_max` \"auto\": progrock computes {base} from {steps} steps; imported as that"
            ));
            map.insert("clamp_max".into(), Value::from(base));
        } else {
            let value = map.remove("clamp_max");
            skipped.push(Skipped {
                key: "clamp_max".into(),
                value,
                reason: format!(
                    "progrock's \"auto\" is {base} from {steps} steps, doubled to {} without the secondary model in later progrock versions; the file does not say which version wrote it",
                    base * 2.0
                ),
                group: Group::ChangesPicture,
                instead: "disco uses DD's clamp-max, 0.05: set `clamp-max` to the value your run used".into(),
            });
        }
    }
    (notes, skipped)
}

fn number(map: &Map<String, Value>, key: &str) -> Option<f64> {
    match map.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

/// The size progrock multiplies: `width`/`height` (or `width_height`) times
/// `width_height_scale`, before it floors them to multiples of 64.
fn size(map: &Map<String, Value>) -> (f64, f64) {
    let pair = match map.get("width_height") {
        Some(Value::Array(a)) if a.len() == 2 => {
            let n = |v: &Value| v.as_f64().filter(|x| x.is_finite());
            n(&a[0]).zip(n(&a[1]))
        }
        _ => number(map, "width").zip(number(map, "height")),
    };
    let (w, h) = pair.unwrap_or(SIZE);
    let scale = number(map, "width_height_scale").unwrap_or(1.0);
    (w * scale, h * scale)
}

/// η rises linearly from 0 at 50 steps to 1 at 315, rounded to 2 decimals as Python's
/// `round` does (the exact binary value, ties to even: Rust's formatting rounds the same).
fn auto_eta(steps: f64) -> f64 {
    let (lo, hi) = (50.0, 315.0);
    if steps > hi {
        1.0
    } else if steps < lo {
        0.0
    } else {
        let x = (steps - lo) / (hi - lo);
        format!("{x:.2}").parse().unwrap_or(x)
    }
}

/// progrock's step table.
fn auto_clamp_max(steps: f64) -> f64 {
    const TABLE: [(f64, f64); 6] = [
        (35.0, 0.001),
        (75.0, 0.0125),
        (150.0, 0.02),
        (225.0, 0.035),
        (300.0, 0.05),
        (500.0, 0.075),
    ];
    TABLE
        .iter()
        .find(|(most, _)| steps <= *most)
        .map_or(0.1, |(_, v)| *v)
}

/// Guidance rises linearly with the pixel count from 2,500 at 250,000 pixels to 50,000 at
/// 2,000,000, rounded to a whole number as Python's `round` does (ties to even).
fn auto_clip_guidance_scale(pixels: f64) -> f64 {
    let (lo_res, hi_res, lo, hi) = (250_000.0, 2_000_000.0, 2_500.0, 50_000.0);
    if pixels > hi_res {
        hi
    } else if pixels < lo_res {
        lo
    } else {
        (((pixels - lo_res) * (hi - lo)) / (hi_res - lo_res) + lo).round_ties_even()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn progrock_s_formulas() {
        // prd.py's own default run: 250 steps at 832×512
        assert_eq!(auto_eta(250.0), 0.75);
        assert_eq!(auto_eta(40.0), 0.0);
        assert_eq!(auto_eta(400.0), 1.0);
        assert_eq!(auto_clamp_max(250.0), 0.05);
        assert_eq!(auto_clamp_max(35.0), 0.001);
        assert_eq!(auto_clamp_max(600.0), 0.1);
        // (425,984 − 250,000) · 47,500 / 1,750,000 + 2,500 = 7,276.68…
        assert_eq!(auto_clip_guidance_scale(832.0 * 512.0), 7277.0);
        assert_eq!(auto_clip_guidance_scale(1e7), 50_000.0);
        assert_eq!(auto_clip_guidance_scale(100.0), 2_500.0);
    }

    #[test]
    fn auto_values_are_replaced_and_noted() {
        let mut map = json!({"steps": 100, "width": 1024, "height": 768,
            "eta": "auto", "clip_guidance_scale": "auto", "clamp_max": "auto"})
        .as_object()
        .unwrap()
        .clone();
        let (notes, skipped) = resolve_auto(&mut map);
        assert_eq!(map["eta"], json!(0.19));
        assert_eq!(map["clamp_max"], json!(0.02));
        // (786,432 − 250,000) · 47,500 / 1,750,000 + 2,500 = 17,060.29…
        assert_eq!(map["clip_guidance_scale"], json!(17060.0));
        assert_eq!(notes.len(), 3);
        assert!(skipped.is_empty());
    }

    #[test]
    fn auto_clamp_max_without_the_secondary_model_is_loud() {
        let mut map = json!({"clamp_max": "auto", "use_secondary_model": false})
            .as_object()
            .unwrap()
            .clone();
        let (_, skipped) = resolve_auto(&mut map);
        assert_eq!(skipped[0].key, "clamp_max");
        assert_eq!(skipped[0].group, Group::ChangesPicture);
        assert!(!map.contains_key("clamp_max"));
    }
}
