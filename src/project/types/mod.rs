//! The value types of settings: how each is written in KDL, read back, and shown as DD JSON.
//!
//! Every setting in `schema.rs` has one of these types. A type knows three things:
//! how to read a KDL node (`from_node`), how DD would write the value in a settings file
//! (`to_json`), and how to turn such a DD value into KDL text (`kdl_from_json`, for
//! `disco import`). Keeping the three together makes import → check → export round-trip.

mod choice;
mod keyframes;
mod prompts;
mod scalars;
mod schedule;

pub use choice::{
    AnimationMode, DiffusionModel, GridSampleMode, InterpSpline, PerlinMode, RangeLossMode, Sampler,
};
pub use keyframes::Keyframes;
pub use prompts::{Prompt, PromptSet, Prompts};
pub use scalars::{Fractions, IntermediateSaves, OptPath, Percent, Seed, WidthHeight};
pub use schedule::{CutSchedule, SCHEDULE_LEN, ScheduleKind};

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
    fn kdl_from_json(v: &Value) -> Result<String, String>;

    /// The value as a number, for range checks.
    fn numeric(&self) -> Option<f64> {
        None
    }
}

/// A KDL string literal for `s`, escaped as needed.
pub fn kdl_string(s: &str) -> String {
    KdlValue::String(s.to_owned()).to_string()
}

/// Shortest decimal text of a float that reads back to the same value (`1` for 1.0).
pub fn fmt_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
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

impl SettingType for u32 {
    const EXPECTS: &'static str = "a whole number";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        let e = read::single(node, cx, Self::EXPECTS)?;
        Ok(read::int(e, cx, 0, u32::MAX as i128)? as u32)
    }
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn kdl_from_json(v: &Value) -> Result<String, String> {
        match v {
            Value::Number(n) if n.as_u64().is_some_and(|x| x <= u32::MAX as u64) => {
                Ok(n.to_string())
            }
            Value::Number(n) if n.as_f64().is_some_and(|x| x.fract() == 0.0 && x >= 0.0) => {
                Ok(fmt_number(n.as_f64().unwrap_or_default()))
            }
            Value::String(s) if s.trim().parse::<u32>().is_ok() => Ok(s.trim().to_owned()),
            other => Err(format!("expected a whole number, found {other}")),
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
    fn kdl_from_json(v: &Value) -> Result<String, String> {
        match v {
            Value::Number(n) => Ok(n.to_string()),
            Value::String(s) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
                Ok(s.trim().to_owned())
            }
            other => Err(format!("expected a number, found {other}")),
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
    fn kdl_from_json(v: &Value) -> Result<String, String> {
        match v {
            Value::Bool(b) => Ok(format!("#{b}")),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok("#true".into()),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok("#false".into()),
            other => Err(format!("expected true or false, found {other}")),
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
    fn kdl_from_json(v: &Value) -> Result<String, String> {
        match v {
            Value::String(s) => Ok(kdl_string(s)),
            other => Err(format!("expected a string, found {other}")),
        }
    }
}
