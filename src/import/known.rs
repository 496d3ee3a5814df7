//! What the importer knows about DD keys that are not disco settings: bookkeeping, the
//! defaults of features disco does not support yet, and the CLI port's extras, so each
//! key that is not imported can be classed as changing the picture or not.

use serde_json::Value;

/// Keys DD and its CLI port record that are bookkeeping, not settings.
pub const BOOKKEEPING: &[(&str, &str)] = &[
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

/// The animation mode in which an unsupported key acts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    VideoInput,
}

/// DD's defaults (v5.7, as in `examples/dd-import/`) of the keys in `schema::UNSUPPORTED`,
/// as JSON text, and the mode in which each acts.
const UNSUPPORTED_DEFAULTS: &[(&str, &str, Mode)] = &[
    ("video_init_path", r#""init.mp4""#, Mode::VideoInput),
    ("extract_nth_frame", "2", Mode::VideoInput),
    ("video_init_seed_continuity", "false", Mode::VideoInput),
    ("video_init_flow_warp", "true", Mode::VideoInput),
    ("video_init_flow_blend", "0.999", Mode::VideoInput),
    ("video_init_check_consistency", "false", Mode::VideoInput),
    (
        "video_init_blend_mode",
        r#""optical flow""#,
        Mode::VideoInput,
    ),
    ("video_init_steps", "100", Mode::VideoInput),
    ("video_init_clip_guidance_scale", "1000", Mode::VideoInput),
    ("video_init_tv_scale", "0.1", Mode::VideoInput),
    ("video_init_range_scale", "150", Mode::VideoInput),
    ("video_init_sat_scale", "300", Mode::VideoInput),
    ("video_init_cutn_batches", "4", Mode::VideoInput),
    ("video_init_skip_steps", "50", Mode::VideoInput),
    ("video_init_frames_scale", "15000", Mode::VideoInput),
    ("video_init_frames_skip_steps", r#""70%""#, Mode::VideoInput),
];

/// Whether an unsupported DD key with value `v` changes the picture: it differs from DD's
/// default and acts in the file's animation mode (files without `animation_mode`, as DD's
/// notebook writes them, may be of any mode). OpenCLIP toggles act in every mode, off by default.
pub fn unsupported_changes_picture(key: &str, v: &Value, animation_mode: Option<&str>) -> bool {
    let Some((_, default, mode)) = UNSUPPORTED_DEFAULTS.iter().find(|(k, _, _)| *k == key) else {
        return truthy(v);
    };
    let acts = match (mode, animation_mode.map(str::trim)) {
        (_, None) => true,
        (Mode::VideoInput, Some(m)) => m.eq_ignore_ascii_case("Video Input"),
    };
    let is_default = |text: &str| serde_json::from_str::<Value>(text).is_ok_and(|d| same(v, &d));
    let earlier = EARLIER_DEFAULTS
        .iter()
        .filter(|(k, _)| *k == key)
        .any(|(_, d)| is_default(d));
    acts && !is_default(default) && !earlier
}

/// Defaults of earlier DD v5 notebooks, which their settings files record whatever the mode
/// (DD 5.0-5.2 `disco.py` had `video_init_path = "training.mp4"` and
/// `video_init_seed_continuity = True`; 5.4+ in Colab, a Drive path).
const EARLIER_DEFAULTS: &[(&str, &str)] = &[
    ("video_init_path", r#""training.mp4""#),
    ("video_init_path", r#""/content/training.mp4""#),
    ("video_init_path", r#""/content/drive/MyDrive/init.mp4""#),
    ("video_init_seed_continuity", "true"),
];

/// The CLI port's (entmike) keys that disco does not import, with the reason; each changes
/// the picture when set (dd-algorithm.md §12).
pub const CLI_PORT_EXTRAS: &[(&str, &str)] = &[
    (
        "target_image",
        "the CLI port's target image is not supported",
    ),
    (
        "prompt_salad",
        "the CLI port's random prompts are not supported",
    ),
];

/// Whether a value "is set": not null, false, 0, empty, or DD's "None".
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !matches!(s.trim(), "" | "None" | "none" | "false" | "False"),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Whether two DD values mean the same: numbers by value (also when written as text, as DD
/// writes `turbo_steps: "3"`), text without blanks (`"0:(0)"` = `"0: (0)"`), lists and
/// mappings item by item.
pub fn same(a: &Value, b: &Value) -> bool {
    fn num(v: &Value) -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok().filter(|x: &f64| x.is_finite()),
            _ => None,
        }
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            let squeeze = |s: &str| s.split_whitespace().collect::<String>();
            squeeze(x) == squeeze(y)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, a)| {
                    y.get(k.trim())
                        .or_else(|| y.get(k))
                        .is_some_and(|b| same(a, b))
                })
        }
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_compare_by_meaning() {
        assert!(same(&json!("3"), &json!(3)));
        assert!(same(&json!("0:(10.0)"), &json!("0: (10.0)")));
        assert!(!same(&json!("0: (5)"), &json!("0: (10.0)")));
        assert!(!same(&json!(true), &json!(1)));
    }

    #[test]
    fn video_input_keys_matter_only_in_video_input_or_when_the_mode_is_unknown() {
        let steps = json!(60);
        assert!(unsupported_changes_picture(
            "video_init_steps",
            &steps,
            None
        ));
        assert!(unsupported_changes_picture(
            "video_init_steps",
            &steps,
            Some("Video Input")
        ));
        assert!(!unsupported_changes_picture(
            "video_init_steps",
            &steps,
            Some("3D")
        ));
        assert!(!unsupported_changes_picture(
            "video_init_steps",
            &json!(100),
            None
        ));
        assert!(unsupported_changes_picture(
            "RN50_cc12m",
            &json!(true),
            Some("2D")
        ));
        assert!(!unsupported_changes_picture(
            "RN50_cc12m",
            &json!(false),
            None
        ));
    }
}
