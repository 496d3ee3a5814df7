//! What the importer knows about DD keys that are not disco settings: bookkeeping, the
//! video paths DD records in every mode, and the CLI port's extras, so each
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

/// Whether an unsupported DD key (`schema::UNSUPPORTED`) with value `v` changes the picture:
/// it is set. (Its default would be off; the table lists none today.)
pub fn unsupported_changes_picture(v: &Value) -> bool {
    truthy(v)
}

/// The video paths DD notebooks record whatever the mode: v5.7's default, DD 5.0-5.2's
/// `disco.py` (`training.mp4`) and 5.4+ in Colab (a Drive path).
const DEFAULT_VIDEO_PATHS: &[&str] = &[
    "init.mp4",
    "training.mp4",
    "/content/training.mp4",
    "/content/drive/MyDrive/init.mp4",
];

/// Whether a settings file's `video_init_path` names a video of its own (not a default).
pub fn video_path_set(v: &Value) -> bool {
    truthy(v)
        && !DEFAULT_VIDEO_PATHS
            .iter()
            .any(|d| same(v, &Value::from(*d)))
}

/// The CLI port's (entmike) keys that disco does not import, with the reason; each changes
/// the picture when set (dd-algorithm.md §12).
pub const CLI_PORT_EXTRAS: &[(&str, &str)] = &[(
    "target_image",
    "the CLI port's target image is not supported",
)];

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
}
