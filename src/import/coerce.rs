//! Values DD's forks write in another form than DD's notebook, read as the setting's own form:
//! numbers for switches (`1.0`, progrock), switches for numbers (`false` meaning 0, written by
//! Python UIs), Python's `None`, DiscoArt's per-step schedules for scalars (`"[20000]*1000"`,
//! `"[True]*1000"`) and keyframe strings for scalars (`eta "0:(0.2)"`).
//!
//! A schedule or keyframe string that holds one value throughout is that value. Keyframes
//! that vary are kept for the settings disco keyframes per frame (the 2D motion, and every
//! number an animation can keyframe: `eta`, `clip-guidance-scale`, `frames-skip-steps`, …);
//! for any other setting, and for a per-step schedule that varies, they are reported as
//! changing the picture.

use crate::project::SettingInfo;
use crate::project::types::is_keyframeable;
use crate::project::types::{fmt_number, parse_keyframes, parse_schedule};
use serde_json::Value;

/// What the importer does with a value.
#[derive(Debug, PartialEq)]
pub enum Coerced {
    /// Import it as written.
    Same,
    /// Import this value instead, and say why.
    Value(Value, String),
    /// Python's `None` where the setting takes no null: DD's default applies.
    Unset,
    /// A form disco cannot keep: why.
    Lossy(String),
}

/// The settings disco keyframes per frame (DD keyframe strings are their own form).
const KEYFRAMED: &[&str] = &["angle", "zoom", "translation-x", "translation-y"];

/// Reads `v` for setting `info` in the setting's own form.
pub fn coerce(info: &SettingInfo, v: &Value) -> Coerced {
    if KEYFRAMED.contains(&info.name) {
        return if v.is_null() {
            Coerced::Unset
        } else {
            Coerced::Same
        };
    }
    match (&info.default, v) {
        // Settings that take null (`init-image`) read it themselves.
        (Value::Null, _) => Coerced::Same,
        (_, Value::Null) if info.name == "seed" => {
            Coerced::Value(Value::from("random"), "None: DD draws a random seed".into())
        }
        (_, Value::Null) => Coerced::Unset,
        (Value::Bool(_), v) => switch(v),
        (Value::Number(_), v) => number(info, v),
        (Value::String(d), v) if d.ends_with('%') => percent(v),
        // Cut schedules: a switch written for a number (`cut_ic_pow: true`).
        (Value::String(d), Value::Bool(b)) if d.starts_with('[') => {
            let n = u8::from(*b);
            Coerced::Value(Value::from(n), format!("{b} read as {n}"))
        }
        _ => Coerced::Same,
    }
}

/// A switch: `true`/`false`, a 0/1 number, or a schedule holding one of them.
fn switch(v: &Value) -> Coerced {
    let from_number = |x: f64, shown: &str| match x {
        0.0 => Coerced::Value(Value::Bool(false), format!("{shown} read as false")),
        1.0 => Coerced::Value(Value::Bool(true), format!("{shown} read as true")),
        _ => Coerced::Lossy(format!(
            "{shown} is a weight, not on or off; disco turns it on or off only"
        )),
    };
    match v {
        Value::Number(n) => from_number(n.as_f64().unwrap_or(f64::NAN), &n.to_string()),
        Value::String(s) if is_schedule(s) => match constant(s) {
            Ok(x) => from_number(x, &format!("\"{}\"", s.trim())),
            Err(why) => Coerced::Lossy(why),
        },
        _ => Coerced::Same,
    }
}

/// A number: as written, a switch meaning 0 or 1, keyframes (kept where disco keyframes the
/// setting), or a schedule or keyframes holding one value.
fn number(info: &SettingInfo, v: &Value) -> Coerced {
    let (setting, keyframeable) = (info.name, is_keyframeable(info));
    match v {
        Value::Bool(b) => {
            let n = u8::from(*b);
            Coerced::Value(Value::from(n), format!("{b} read as {n}"))
        }
        Value::String(s) if s.trim().parse::<f64>().is_ok() => Coerced::Same,
        Value::String(s) if is_keyframes(s) => match keyframes_constant(s) {
            Ok(x) => Coerced::Value(
                number_value(x),
                format!("keyframes \"{}\" hold one value", s.trim()),
            ),
            // kept as keyframes; their values are checked as the setting reads them
            Err(_) if keyframeable => Coerced::Same,
            Err(why) => Coerced::Lossy(format!("{why}; disco does not keyframe `{setting}`")),
        },
        Value::String(s) if is_schedule(s) => match constant(s) {
            Ok(x) => Coerced::Value(
                number_value(x),
                format!("the per-step schedule \"{}\" holds one value", short(s)),
            ),
            Err(why) => Coerced::Lossy(format!("{why}; disco holds one `{setting}` for all steps")),
        },
        Value::String(s) if matches!(s.trim(), "auto" | "random") => Coerced::Lossy(format!(
            "\"{}\": the fork computed or drew the value itself, and the file does not record it",
            s.trim()
        )),
        _ => Coerced::Same,
    }
}

/// `frames_skip_steps`: DD's `"60%"`; DD 5.6 forks write a keyframed fraction (`"0:(.6)"`).
fn percent(v: &Value) -> Coerced {
    let fraction = |x: f64, shown: String| {
        if (0.0..=1.0).contains(&x) {
            let pct = format!("{}%", fmt_number(x * 100.0));
            Coerced::Value(
                Value::from(pct.clone()),
                format!("{shown}, a fraction of steps, read as {pct}"),
            )
        } else {
            Coerced::Lossy(format!("{shown} is not a fraction of the steps"))
        }
    };
    match v {
        Value::String(s) if is_keyframes(s) => match keyframes_constant(s) {
            Ok(x) => fraction(x, format!("keyframes \"{}\"", s.trim())),
            // kept as keyframed fractions of the steps, as the forks write them
            Err(_) => Coerced::Same,
        },
        Value::Number(n) => fraction(n.as_f64().unwrap_or(f64::NAN), n.to_string()),
        _ => Coerced::Same,
    }
}

/// DD's keyframe form: `0: (1), 10: (1.05)`.
fn is_keyframes(s: &str) -> bool {
    s.contains(':') && s.contains('(')
}

/// DD's schedule form: `[12]*400+[4]*600`.
pub(super) fn is_schedule(s: &str) -> bool {
    s.trim_start().starts_with('[') || s.contains('*')
}

/// The one value of a keyframe string, or why it has several.
fn keyframes_constant(s: &str) -> Result<f64, String> {
    let keys = parse_keyframes(s).map_err(|e| format!("not keyframes DD reads: {}", e.1))?;
    one_value(keys.iter().map(|k| k.1), || {
        format!("keyframed per frame (\"{}\")", short(s))
    })
}

/// The one value of a schedule, or why it has several; DiscoArt writes Python's `True`/`False`.
pub(super) fn constant(s: &str) -> Result<f64, String> {
    let numeric = s.replace("True", "1").replace("False", "0");
    let values =
        parse_schedule(&numeric).map_err(|e| format!("not a schedule DD reads: {}", e.message))?;
    one_value(values.into_iter(), || {
        format!("a per-step schedule (\"{}\") that changes", short(s))
    })
}

fn one_value(
    mut xs: impl Iterator<Item = f64>,
    varies: impl Fn() -> String,
) -> Result<f64, String> {
    let first = xs.next().ok_or_else(|| "an empty schedule".to_owned())?;
    if xs.all(|x| x == first) {
        Ok(first)
    } else {
        Err(varies())
    }
}

/// Whole numbers as integers, so whole-number settings read them.
fn number_value(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

fn short(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::schema::info;
    use serde_json::json;

    fn c(setting: &str, v: Value) -> Coerced {
        coerce(info(setting).unwrap(), &v)
    }

    #[test]
    fn switches_and_numbers_written_the_other_way() {
        assert_eq!(
            c("vit-b32", json!(1.0)),
            Coerced::Value(json!(true), "1.0 read as true".into())
        );
        assert!(matches!(c("rn50", json!(0.5)), Coerced::Lossy(_)));
        assert_eq!(
            c("sat-scale", json!(false)),
            Coerced::Value(json!(0), "false read as 0".into())
        );
        assert_eq!(
            c("cut-ic-pow", json!(true)),
            Coerced::Value(json!(1), "true read as 1".into())
        );
        assert_eq!(
            c("clamp-grad", json!("[True]*1000")).value(),
            Some(json!(true))
        );
    }

    #[test]
    fn constant_schedules_and_keyframes_are_their_value() {
        assert_eq!(
            c("clip-guidance-scale", json!("[20000]*1000")).value(),
            Some(json!(20000))
        );
        assert_eq!(c("cutn-batches", json!("[8]*1000")).value(), Some(json!(8)));
        assert_eq!(c("eta", json!("0:(0.2)")).value(), Some(json!(0.2)));
        assert_eq!(
            c("frames-skip-steps", json!("0:(.6)")).value(),
            Some(json!("60%"))
        );
        // keyframes that change are kept: disco keyframes these settings per frame
        assert_eq!(c("eta", json!("0:(0.2), 10:(0.5)")), Coerced::Same);
        assert_eq!(
            c("frames-skip-steps", json!("0:(.6), 9:(.4)")),
            Coerced::Same
        );
        assert!(matches!(
            c("init-scale", json!("0:(1000), 10:(500)")),
            Coerced::Lossy(_)
        ));
        assert!(matches!(
            c("clip-guidance-scale", json!("[5000]*500+[9000]*500")),
            Coerced::Lossy(_)
        ));
        assert!(matches!(c("eta", json!("auto")), Coerced::Lossy(_)));
        assert_eq!(c("zoom", json!("0: (1), 10: (1.05)")), Coerced::Same);
    }

    #[test]
    fn none_is_dd_s_default_except_where_it_means_something() {
        assert_eq!(c("angle", Value::Null), Coerced::Unset);
        assert_eq!(c("tv-scale", Value::Null), Coerced::Unset);
        assert_eq!(c("init-image", Value::Null), Coerced::Same);
        assert_eq!(c("seed", Value::Null).value(), Some(json!("random")));
    }

    impl Coerced {
        fn value(&self) -> Option<Value> {
            match self {
                Coerced::Value(v, _) => Some(v.clone()),
                _ => None,
            }
        }
    }
}
