//! The value types of settings: how each is written in KDL, read back, and shown as DD JSON.
//!
//! Every setting in `schema.rs` has one of these types. A type knows three things:
//! how to read a KDL node (`from_node`), how DD would write the value in a settings file
//! (`to_json`), and how to turn such a DD value into KDL text (`kdl_from_json`, for
//! `disco import`). Keeping the three together makes import → check → export round-trip.

mod arch;
mod choice;
mod choice3d;
mod keyed;
mod keyframes;
mod palette;
mod prompts;
mod scalars;
mod schedule;

pub use arch::NumberList;
pub use choice::{
    AnimationMode, ChoiceSetting, DiffusionModel, GridSampleMode, InterpSpline, PromptTokenization,
    VideoBlendMode,
};
pub use choice3d::{MidasDepthModel, Padding};
pub use keyed::{KeyValue, Keyed, PER_STEP, is_keyframeable, is_schedule};
pub use keyframes::{Keyframes, parse_dd as parse_keyframes};
pub use palette::Colours;
pub use prompts::{Prompt, PromptSet, Prompts};
pub use scalars::{Fractions, IntermediateSaves, OptPath, Percent, Seed, WidthHeight};
pub use schedule::{CutSchedule, SCHEDULE_LEN, ScheduleKind, parse_dd as parse_schedule};

use std::fmt::Debug;

use kdl::{KdlNode, KdlValue};
use serde_json::Value;

use super::diagnostic::Diagnostic;
use super::read::{self, Cx};

/// A type a setting can have.
pub trait SettingType: Clone + PartialEq + Debug + Sized {
    /// What a value of this type looks like, for messages and docs.
    const EXPECTS: &'static str;

    /// Reads the value from a setting node (`name value…` or `name { … }`).
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic>;

    /// The value as Disco Diffusion writes it in a settings file.
    fn to_json(&self) -> Value;

    /// KDL text for the arguments/block of a node holding the DD JSON value `v`.
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError>;

    /// The value as a number, for range checks.
    fn numeric(&self) -> Option<f64> {
        None
    }

    /// Every number the value holds (each keyframe's), for range checks.
    fn numbers(&self) -> Vec<f64> {
        self.numeric().into_iter().collect()
    }
}

/// A KDL string literal for `s`: a bare identifier where KDL allows one, else a quoted
/// string in which every character that could end the string or the line, or that KDL
/// forbids or a reader cannot see, is escaped.
///
/// kdl-rs's own `Display` leaves U+0085, U+000B, U+2028/U+2029, bidi overrides and other
/// control characters raw, which KDL 2 either forbids or reads as a line break; `disco
/// import` writes text taken from untrusted files, so it must not rely on that.
pub fn kdl_string(s: &str) -> String {
    let bare = KdlValue::String(s.to_owned()).to_string();
    if !bare.starts_with('"') && !s.chars().any(needs_escape) {
        return bare;
    }
    format!("\"{}\"", escaped(s))
}

/// `s` with every character [`kdl_string`] escapes escaped, quotes and backslashes too:
/// text from a user's file as a diagnostic may show it (an injected newline stays `\n`).
pub fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Characters never written raw into a project: controls (C0, DEL, C1 — which include
/// U+0085 NEL), the Unicode line and paragraph separators, bidi controls and the BOM.
/// KDL reads some as newlines and forbids others; all of them hide what a file says.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

/// Whether `s` spells NaN or an infinity the way Python, YAML or Rust would read it
/// (`"nan"`, `"-Infinity"`, `".inf"`): text DD would turn into a non-finite float.
pub fn is_non_finite_word(s: &str) -> bool {
    let t = s
        .trim()
        .trim_start_matches(['+', '-'])
        .trim_start_matches('.');
    ["nan", "inf", "infinity"]
        .iter()
        .any(|w| t.eq_ignore_ascii_case(w))
}

/// Shortest decimal text of a float that reads back to the same value (`1` for 1.0;
/// `1e-300` rather than three hundred digits at the extremes).
pub fn fmt_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else if x.is_finite() && (x.abs() < 1e-5 || x.abs() >= 1e16) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// A KDL number literal for `x` (floats keep a `.0` so KDL reads them as floats).
pub fn kdl_number(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

/// Why a value from a DD settings file cannot be a setting's value (`disco import` skips it
/// and says why).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FromDdError {
    /// The JSON value is of another kind than the setting takes.
    #[error("expected {expected}, found {found}")]
    WrongKind {
        /// What the setting takes.
        expected: &'static str,
        /// What the file holds ([`kind`]: never the value itself).
        found: &'static str,
    },
    /// A name DD knows that disco does not render yet.
    #[error("\"{value}\" is not supported yet: {why}")]
    Unsupported {
        /// The name.
        value: String,
        /// Why, and what to use instead.
        why: &'static str,
    },
    /// A name that is none of the setting's.
    #[error("\"{value}\" is not one of {names:?}")]
    UnknownName {
        /// The name.
        value: String,
        /// The names the setting takes.
        names: &'static [&'static str],
    },
    /// A value of the right kind that the setting's own syntax or range rejects.
    #[error("{0}")]
    Invalid(String),
}

impl FromDdError {
    /// A value of another kind than `expected`.
    pub fn wrong_kind(expected: &'static str, v: &Value) -> Self {
        FromDdError::WrongKind {
            expected,
            found: kind(v),
        }
    }
}

impl From<String> for FromDdError {
    fn from(message: String) -> Self {
        FromDdError::Invalid(message)
    }
}

impl From<&str> for FromDdError {
    fn from(message: &str) -> Self {
        FromDdError::Invalid(message.to_owned())
    }
}

/// The reason `disco import` gives for NaN and infinities.
pub const NON_FINITE: &str = "NaN and infinity are not numbers a setting can take";

/// What kind of JSON value `v` is, for messages (never the value itself, which may be
/// long or hold text that is unsafe to print).
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A decimal number read from text (`" 1.5 "`, `"1E3"`, `"1_000"`), as KDL number text.
fn kdl_number_text(s: &str) -> String {
    let x: f64 = s.parse().unwrap_or_default();
    if x.fract() == 0.0 && x.abs() < 1e15 {
        fmt_number(x)
    } else {
        format!("{x:?}")
    }
}

impl SettingType for u32 {
    const EXPECTS: &'static str = "a whole number";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        let e = read::single(node, cx, Self::EXPECTS)?;
        Ok(read::int(e, cx, 0, u32::MAX as i128)? as u32)
    }
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        let max = u32::MAX as f64;
        match v {
            Value::Number(n) if n.as_u64().is_some_and(|x| x <= u32::MAX as u64) => {
                Ok(n.to_string())
            }
            Value::Number(n)
                if n.as_f64()
                    .is_some_and(|x| x.fract() == 0.0 && (0.0..=max).contains(&x)) =>
            {
                Ok(fmt_number(n.as_f64().unwrap_or_default()))
            }
            Value::Number(n) => {
                Err(format!("{n} is not a whole number in 0..={}", u32::MAX).into())
            }
            Value::String(s) if s.trim().parse::<u32>().is_ok() => Ok(s.trim().to_owned()),
            Value::String(s) if is_non_finite_word(s) => Err(NON_FINITE.into()),
            other => Err(FromDdError::wrong_kind("a whole number", other)),
        }
    }
    fn numeric(&self) -> Option<f64> {
        Some(*self as f64)
    }
}

impl SettingType for f64 {
    const EXPECTS: &'static str = "a number";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        read::number(read::single(node, cx, Self::EXPECTS)?, cx)
    }
    fn to_json(&self) -> Value {
        if self.fract() == 0.0 && self.abs() < 1e15 {
            Value::from(*self as i64)
        } else {
            Value::from(*self)
        }
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        match v {
            Value::Number(n) => Ok(n.to_string()),
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(kdl_number_text(s.trim())),
                Ok(_) => Err(NON_FINITE.into()),
                Err(_) if is_non_finite_word(s) => Err(NON_FINITE.into()),
                Err(_) => Err("expected a number, found a string".into()),
            },
            other => Err(FromDdError::wrong_kind("a number", other)),
        }
    }
    fn numeric(&self) -> Option<f64> {
        Some(*self)
    }
}

impl SettingType for bool {
    const EXPECTS: &'static str = "#true or #false";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        read::boolean(read::single(node, cx, Self::EXPECTS)?, cx)
    }
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        match v {
            Value::Bool(b) => Ok(format!("#{b}")),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok("#true".into()),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok("#false".into()),
            other => Err(FromDdError::wrong_kind("true or false", other)),
        }
    }
}

impl SettingType for String {
    const EXPECTS: &'static str = "a string";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        Ok(read::string(read::single(node, cx, Self::EXPECTS)?, cx)?.to_owned())
    }
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        match v {
            // Names (`batch_name`): surrounding blanks are never meant.
            Value::String(s) if s.trim().is_empty() => Err("an empty name".into()),
            Value::String(s) => Ok(kdl_string(s.trim())),
            other => Err(FromDdError::wrong_kind("a string", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dd_value_that_cannot_be_imported_says_which_way_it_fails() {
        use crate::Settings;
        let kdl = |name: &str, v: Value| Settings::kdl_from_json(name, &v).expect(name);
        assert_eq!(
            kdl("steps", Value::from(vec![1, 2])),
            Err(FromDdError::WrongKind {
                expected: "a whole number",
                found: "a list"
            })
        );
        // every animation mode DD has is a disco value now
        assert_eq!(
            kdl("animation-mode", Value::from("Video Input")),
            Ok("\"Video Input\"".to_owned())
        );
        assert_eq!(
            kdl("diffusion-model", Value::from("watercolordiffusion")),
            Ok("watercolordiffusion".to_owned())
        );
        assert!(matches!(
            kdl("diffusion-sampling-mode", Value::from("euler")),
            Err(FromDdError::UnknownName { names, .. }) if names == ["ddim", "plms"]
        ));
        let Err(FromDdError::Invalid(why)) = kdl("steps", Value::from(-3)) else {
            panic!("a negative step count is a value out of range");
        };
        assert!(why.contains("-3"), "{why}");
        assert_eq!(kdl("steps", Value::from("40")), Ok("40".to_owned()));
    }

    #[test]
    fn kdl_strings_read_back_as_one_value_on_one_line() {
        // Each of these either ends a KDL line or is forbidden raw in a KDL document.
        for s in [
            "a\nb",
            "a\rb",
            "a\u{85}b",
            "a\u{b}b",
            "a\u{c}b",
            "a\u{2028}b",
            "a\u{2029}b",
            "a\u{202e}b",
            "a\u{2066}b",
            "\u{feff}a",
            "a\u{0}b",
            "a\u{7f}b",
            "a\"b",
            "a\\b",
            "*/ x",
            "steps",
            "",
            "1",
            "#true",
        ] {
            let text = format!("n {}", kdl_string(s));
            assert!(!text.contains(needs_escape), "{text:?}");
            let doc =
                kdl::KdlDocument::parse_v2(&text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
            assert_eq!(doc.nodes().len(), 1, "{text:?}");
            assert_eq!(
                doc.nodes()[0].entries()[0].value().as_string(),
                Some(s),
                "{text:?}"
            );
        }
    }

    #[test]
    fn non_finite_words_are_recognised() {
        for w in ["nan", "NaN", " -inf", "+Infinity", ".inf", "-.NaN"] {
            assert!(is_non_finite_word(w), "{w}");
        }
        for w in ["info", "1e5", "naan", ""] {
            assert!(!is_non_finite_word(w), "{w}");
        }
    }
}
