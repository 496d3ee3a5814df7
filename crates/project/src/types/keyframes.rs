//! Keyframed 2D motion values (`angle`, `zoom`, `translation-x`, `translation-y`).
//!
//! DD's string form `"0: (1), 10: (1.05)"` is read as DD reads it (dd-algorithm.md §10.1):
//! every `FRAME: (VALUE)` pair anywhere in the string, commas being free text, values plain
//! numbers (no expressions). A bare number means "this value from frame 0". The KDL-native
//! form is a block: `zoom { key 0 1.0; key 10 1.05 }`. Interpolation between keys happens
//! in planning (`interp-spline`), not here.

use kdl::{KdlNode, KdlValue};
use serde_json::Value;

use super::{FromDdError, SettingType, fmt_number, kdl_string};
use crate::diagnostic::Diagnostic;
use crate::read::{self, Cx};

/// Keyframes sorted by frame; a frame written twice keeps its last value (as DD's dict does).
#[derive(Clone, Debug)]
pub struct Keyframes {
    /// (frame, value), sorted by frame, frames unique.
    pub keys: Vec<(u32, f64)>,
    /// DD's string for these keys, as written or generated.
    pub text: String,
}

impl PartialEq for Keyframes {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys
    }
}

impl Keyframes {
    /// Keyframes from DD's string form; panics on invalid text (built-in defaults only).
    pub fn dd(text: &str) -> Self {
        let keys =
            parse_dd(text).unwrap_or_else(|e| panic!("bad built-in keyframes {text}: {}", e.1));
        Keyframes {
            keys,
            text: text.to_owned(),
        }
    }

    fn from_pairs(mut pairs: Vec<(u32, f64)>) -> Self {
        // later wins for a repeated frame: stable sort, then keep the last of each run
        pairs.sort_by_key(|p| p.0);
        let mut keys: Vec<(u32, f64)> = Vec::with_capacity(pairs.len());
        for p in pairs {
            match keys.last_mut() {
                Some(last) if last.0 == p.0 => *last = p,
                _ => keys.push(p),
            }
        }
        let text = keys
            .iter()
            .map(|(f, v)| format!("{f}: ({})", fmt_number(*v)))
            .collect::<Vec<_>>()
            .join(", ");
        Keyframes { keys, text }
    }
}

/// A parse error: byte range in the text and message.
pub type KeyError = ((usize, usize), String);

/// Parses DD's keyframe string; `Err((byte range, message))`.
pub fn parse_dd(text: &str) -> Result<Vec<(u32, f64)>, KeyError> {
    let b = text.as_bytes();
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        // FRAME ':' ws* '(' VALUE ')' — the value is everything up to the first ')'
        let start = i;
        let mut j = i;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let mut k = j;
        if k < b.len() && b[k] == b':' {
            k += 1;
            while k < b.len() && b[k].is_ascii_whitespace() {
                k += 1;
            }
            if k < b.len()
                && b[k] == b'('
                && let Some(close) = text[k + 1..].find(')')
            {
                let inner = &text[k + 1..k + 1 + close];
                let frame: u32 = text[start..j].parse().map_err(|_| {
                    (
                        (start, j),
                        format!("frame {} is too large", &text[start..j]),
                    )
                })?;
                let value: f64 = inner
                    .trim()
                    .parse()
                    .ok()
                    .filter(|x: &f64| x.is_finite())
                    .ok_or_else(|| {
                        (
                            (k + 1, k + 1 + close),
                            format!(
                                "`{}` is not a number (expressions are not supported)",
                                super::escaped(inner.trim())
                            ),
                        )
                    })?;
                pairs.push((frame, value));
                i = k + 1 + close + 1;
                continue;
            }
        }
        i = j;
    }
    if pairs.is_empty() {
        // DD retries a string without keys as "0: (<string>)" (§10.1).
        return match text.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(vec![(0, x)]),
            _ => Err((
                (0, text.len()),
                "no `FRAME: (VALUE)` keyframes found".into(),
            )),
        };
    }
    Ok(pairs)
}

impl SettingType for Keyframes {
    const EXPECTS: &'static str =
        "a number, DD keyframes such as \"0: (1), 10: (1.05)\", or a block of `key FRAME VALUE`";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        if let Some(children) = node.children() {
            if let Some(e) = node.entries().first() {
                return Err(Diagnostic::error(
                    "keyframes are either a value or a block, not both",
                    &cx.entry(e),
                    "remove this value or the block",
                ));
            }
            let mut pairs = Vec::new();
            for key in children.nodes() {
                if key.name().value() != "key" {
                    return Err(Diagnostic::error(
                        format!("unknown node `{}` in keyframes", key.name().value()),
                        &cx.name(key),
                        "expected `key FRAME VALUE`",
                    ));
                }
                let args = read::args(key, cx, "a frame and a value")?;
                let [frame, value] = args.as_slice() else {
                    return Err(Diagnostic::error(
                        "`key` takes a frame and a value",
                        &cx.node(key),
                        "expected `key FRAME VALUE`",
                    ));
                };
                pairs.push((
                    read::int(frame, cx, 0, u32::MAX as i128)? as u32,
                    read::number(value, cx)?,
                ));
            }
            if pairs.is_empty() {
                return Err(Diagnostic::error(
                    "keyframes need at least one key",
                    &cx.node(node),
                    "empty block",
                ));
            }
            return Ok(Keyframes::from_pairs(pairs));
        }
        let e = read::single(node, cx, Self::EXPECTS)?;
        match e.value() {
            KdlValue::String(s) => {
                let pairs = parse_dd(s).map_err(|((a, b), msg)| {
                    Diagnostic::error(
                        format!("invalid keyframes: {msg}"),
                        &read::inner_origin(e, cx, a, b),
                        msg,
                    )
                    .with_help("DD keyframes look like \"0: (1), 10: (1.05)\"")
                })?;
                let mut k = Keyframes::from_pairs(pairs);
                k.text = s.clone();
                Ok(k)
            }
            _ => Ok(Keyframes::from_pairs(vec![(0, read::number(e, cx)?)])),
        }
    }
    fn to_json(&self) -> Value {
        Value::String(self.text.clone())
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        match v {
            Value::String(s) => parse_dd(s).map(|_| kdl_string(s)).map_err(|e| e.1.into()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(format!(
                "expected keyframes like \"0: (1)\", found {}",
                super::kind(other)
            )
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dd_default_zoom() {
        assert_eq!(
            parse_dd("0: (1), 10: (1.05)").unwrap(),
            vec![(0, 1.0), (10, 1.05)]
        );
        assert_eq!(parse_dd("0:(0)").unwrap(), vec![(0, 0.0)]);
    }

    #[test]
    fn bare_number_is_frame_zero() {
        assert_eq!(parse_dd(" 1.5 ").unwrap(), vec![(0, 1.5)]);
    }

    #[test]
    fn expression_values_are_errors_with_their_position() {
        let ((a, b), _) = parse_dd("0: (1), 5: (1+t)").unwrap_err();
        assert_eq!(&"0: (1), 5: (1+t)"[a..b], "1+t");
    }

    #[test]
    fn repeated_frame_keeps_the_last() {
        let k = Keyframes::from_pairs(vec![(5, 1.0), (0, 2.0), (5, 3.0)]);
        assert_eq!(k.keys, vec![(0, 2.0), (5, 3.0)]);
    }
}
