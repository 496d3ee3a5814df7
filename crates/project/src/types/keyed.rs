//! Numbers an animation may keyframe per frame (`clip-guidance-scale`, `eta`,
//! `frames-skip-steps`, …), as Deforum users expect and as DD's forks write them
//! (`eta "0:(0.2)"`, `frames_skip_steps "0:(.6)"`).
//!
//! A value is written as the setting always was (`clip-guidance-scale 5000`), or as
//! keyframes in DD's string form (`"0: (5000), 50: (10000)"`) or a block of `key FRAME
//! VALUE`, like the 2D motion settings. Between keys the value follows `interp-spline`
//! (planning evaluates it per frame; stills read frame 0). Keyframes that hold one value
//! are that value, so writing them never changes a key.

use std::marker::PhantomData;

use disco_kernels::anim::{InterpSpline, Series};
use kdl::{KdlNode, KdlValue};
use serde_json::Value;

use super::keyframes::{Keyframes, parse_dd};
use super::scalars::Percent;
use super::{FromDdError, SettingType, kdl_string};
use crate::diagnostic::Diagnostic;
use crate::read::Cx;

/// A setting's value type that keyframes can carry: how a keyframe's number reads as it.
pub trait KeyValue: SettingType + Copy {
    /// What keyframe values mean for this type, for messages and docs.
    const KEY_EXPECTS: &'static str;
    /// A value as written in a keyframe, or why it is not one.
    fn from_key(x: f64) -> Result<Self, String>;
    /// An interpolated value between keys (whole-number settings round to the nearest).
    fn between(x: f64) -> Self;
    /// The value as a keyframe number.
    fn to_key(self) -> f64;
}

impl KeyValue for f64 {
    const KEY_EXPECTS: &'static str = "numbers";
    fn from_key(x: f64) -> Result<Self, String> {
        Ok(x)
    }
    fn between(x: f64) -> Self {
        x
    }
    fn to_key(self) -> f64 {
        self
    }
}

impl KeyValue for u32 {
    const KEY_EXPECTS: &'static str = "whole numbers";
    fn from_key(x: f64) -> Result<Self, String> {
        if x.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&x) {
            Ok(x as u32)
        } else {
            Err(format!(
                "{} is not a whole number in 0..={}",
                super::fmt_number(x),
                u32::MAX
            ))
        }
    }
    fn between(x: f64) -> Self {
        x.round().clamp(0.0, u32::MAX as f64) as u32
    }
    fn to_key(self) -> f64 {
        self as f64
    }
}

/// Keyframed percentages are fractions of the steps (`0.6` = 60 %), as DD 5.6's forks
/// write `frames_skip_steps`.
impl KeyValue for Percent {
    const KEY_EXPECTS: &'static str = "fractions of the steps between 0 and 1";
    fn from_key(x: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&x) {
            Ok(Percent(x * 100.0))
        } else {
            Err(format!(
                "{} is not a fraction of the steps between 0 and 1",
                super::fmt_number(x)
            ))
        }
    }
    fn between(x: f64) -> Self {
        Percent(x.clamp(0.0, 1.0) * 100.0)
    }
    fn to_key(self) -> f64 {
        self.0 / 100.0
    }
}

/// One value, or keyframes that change it over an animation.
#[derive(Clone, Debug, PartialEq)]
pub enum Keyed<T> {
    /// The same value on every frame.
    Fixed(T),
    /// Keyframes holding at least two different values.
    Keys(Keyframes, PhantomData<T>),
}

impl<T: KeyValue> Keyed<T> {
    /// The value on every frame, unless it is keyframed.
    pub fn fixed(&self) -> Option<T> {
        match self {
            Keyed::Fixed(x) => Some(*x),
            Keyed::Keys(..) => None,
        }
    }

    /// The value at frame 0 (what stills render with): DD's series starts at the first
    /// key's value.
    pub fn first(&self) -> T {
        match self {
            Keyed::Fixed(x) => *x,
            Keyed::Keys(k, _) => T::between(k.keys[0].1),
        }
    }

    /// The value of every key (or the one value), in frame order.
    pub fn values(&self) -> Vec<T> {
        match self {
            Keyed::Fixed(x) => vec![*x],
            Keyed::Keys(k, _) => k.keys.iter().map(|&(_, x)| T::between(x)).collect(),
        }
    }

    /// The per-frame values of an animation of `max_frames` frames; `None` when the value
    /// is fixed (or `max_frames` is 0, which the project layer rejects).
    pub fn series(&self, max_frames: u32, spline: InterpSpline) -> Option<Series> {
        match self {
            Keyed::Fixed(_) => None,
            Keyed::Keys(k, _) => Series::new(&k.keys, max_frames, spline).ok(),
        }
    }

    /// The value at `frame` of an animation of `max_frames` frames.
    pub fn at(&self, frame: u32, max_frames: u32, spline: InterpSpline) -> T {
        match self.series(max_frames, spline).and_then(|s| s.get(frame)) {
            Some(x) => T::between(x),
            None => self.first(),
        }
    }

    /// Keyframes → a value, when they hold one value only.
    fn from_keys(k: Keyframes) -> Result<Self, String> {
        let mut values = Vec::with_capacity(k.keys.len());
        for &(_, x) in &k.keys {
            values.push(T::from_key(x)?);
        }
        if values.windows(2).all(|w| w[0] == w[1]) {
            Ok(Keyed::Fixed(values[0]))
        } else {
            Ok(Keyed::Keys(k, PhantomData))
        }
    }
}

/// Whether setting `info` is a number an animation can keyframe ([`Keyed`]).
pub fn is_keyframeable(info: &crate::SettingInfo) -> bool {
    info.expects == <Keyed<f64> as SettingType>::EXPECTS
}

/// Whether a string value is keyframes (`FRAME: (VALUE)`), not the setting's own text
/// (a percentage like `"60%"`, a number).
fn is_keyframes(s: &str) -> bool {
    s.contains(':') && s.contains('(')
}

impl<T: KeyValue> SettingType for Keyed<T> {
    const EXPECTS: &'static str = "a value, or keyframes such as \"0: (5000), 50: (10000)\" or a block of `key FRAME VALUE` (animations)";

    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        let keyframes = node.children().is_some()
            || matches!(
                node.entries().first().map(|e| e.value()),
                Some(KdlValue::String(s)) if is_keyframes(s)
            );
        if !keyframes {
            return T::from_node(node, cx).map(Keyed::Fixed);
        }
        let k = Keyframes::from_node(node, cx)?;
        Self::from_keys(k).map_err(|why| {
            Diagnostic::error(
                format!("invalid keyframes: {why}"),
                &cx.node(node),
                format!("keyframe values here are {}", T::KEY_EXPECTS),
            )
        })
    }

    fn to_json(&self) -> Value {
        match self {
            Keyed::Fixed(x) => x.to_json(),
            Keyed::Keys(k, _) => Value::String(k.text.clone()),
        }
    }

    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        match v {
            Value::String(s) if is_keyframes(s) => {
                let keys = parse_dd(s).map_err(|e| FromDdError::Invalid(e.1))?;
                for &(_, x) in &keys {
                    T::from_key(x)?;
                }
                Ok(kdl_string(s.trim()))
            }
            other => T::kdl_from_json(other),
        }
    }

    fn numeric(&self) -> Option<f64> {
        self.first().numeric()
    }

    fn numbers(&self) -> Vec<f64> {
        match self {
            Keyed::Fixed(x) => x.numeric().into_iter().collect(),
            Keyed::Keys(k, _) => k
                .keys
                .iter()
                .filter_map(|&(_, x)| T::between(x).numeric())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(text: &str) -> Keyframes {
        Keyframes::dd(text)
    }

    #[test]
    fn keyframes_holding_one_value_are_that_value() {
        let k = Keyed::<f64>::from_keys(keys("0: (0.2), 10: (0.2)")).unwrap();
        assert_eq!(k, Keyed::Fixed(0.2));
        let k = Keyed::<f64>::from_keys(keys("0: (0.2), 10: (0.5)")).unwrap();
        assert!(k.fixed().is_none());
        assert_eq!(k.first(), 0.2);
    }

    #[test]
    fn whole_number_settings_take_whole_keys_and_round_between_them() {
        assert!(Keyed::<u32>::from_keys(keys("0: (4), 10: (4.5)")).is_err());
        assert!(Keyed::<u32>::from_keys(keys("0: (-1), 10: (4)")).is_err());
        let k = Keyed::<u32>::from_keys(keys("0: (2), 4: (5)")).unwrap();
        let s = k.series(5, InterpSpline::Linear).unwrap();
        let per_frame: Vec<u32> = (0..5).map(|f| u32::between(s.get(f).unwrap())).collect();
        // 2, 2.75, 3.5, 4.25, 5 → rounded half away from zero
        assert_eq!(per_frame, [2, 3, 4, 4, 5]);
    }

    #[test]
    fn keyframed_percentages_are_fractions() {
        let k = Keyed::<Percent>::from_keys(keys("0: (.6), 10: (.4)")).unwrap();
        assert_eq!(k.first(), Percent(60.0));
        assert!(Keyed::<Percent>::from_keys(keys("0: (60), 10: (40)")).is_err());
        assert_eq!(
            Keyed::<Percent>::Fixed(Percent(60.0)).to_json(),
            json!("60%")
        );
    }

    #[test]
    fn import_keeps_varying_keyframes_and_checks_their_values() {
        let ok = Keyed::<f64>::kdl_from_json(&json!("0:(0.2), 20: (0.8)")).unwrap();
        assert_eq!(ok, "\"0:(0.2), 20: (0.8)\"");
        assert!(Keyed::<u32>::kdl_from_json(&json!("0:(2), 20: (2.5)")).is_err());
        assert!(Keyed::<Percent>::kdl_from_json(&json!("0:(.6), 9: (1.6)")).is_err());
        assert_eq!(Keyed::<f64>::kdl_from_json(&json!(5000)).unwrap(), "5000");
        assert!(Keyed::<Percent>::kdl_from_json(&json!("60%")).is_ok());
    }
}
