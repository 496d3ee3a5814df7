//! Reading KDL nodes and entries into plain values, with diagnostics that point at them.
//!
//! Setting types (`types/`) are written in terms of these helpers so that every
//! "expected an integer" message reads the same and carries the same kind of span.

use std::sync::Arc;

use kdl::{KdlEntry, KdlNode, KdlValue};

use super::diagnostic::Diagnostic;
use super::source::{Origin, SourceFile};

/// What a setting parser needs besides the node: the file it is in.
#[derive(Clone, Copy)]
pub struct Cx<'a> {
    /// The file holding the node being read.
    pub file: &'a Arc<SourceFile>,
}

impl Cx<'_> {
    /// Origin of a whole node.
    pub fn node(&self, node: &KdlNode) -> Origin {
        Origin::new(self.file, node.span())
    }

    /// Origin of a node's name only.
    pub fn name(&self, node: &KdlNode) -> Origin {
        Origin::new(self.file, node.name().span())
    }

    /// Origin of one entry (argument or property).
    pub fn entry(&self, entry: &KdlEntry) -> Origin {
        Origin::new(self.file, entry.span())
    }

    /// Where a setting's value is: its first argument, else the node.
    pub fn value_origin(&self, node: &KdlNode) -> Origin {
        node.entries()
            .first()
            .map_or_else(|| self.node(node), |e| self.entry(e))
    }
}

/// Kind of a KDL value, for messages ("found a string").
pub fn kind_of(v: &KdlValue) -> &'static str {
    match v {
        KdlValue::String(_) => "a string",
        KdlValue::Integer(_) => "an integer",
        KdlValue::Float(_) => "a number with a fraction",
        KdlValue::Bool(_) => "a boolean",
        KdlValue::Null => "#null",
    }
}

/// The positional arguments of a node; properties and children are errors.
pub fn args<'n>(node: &'n KdlNode, cx: Cx, what: &str) -> Result<Vec<&'n KdlEntry>, Diagnostic> {
    if let Some(prop) = node.entries().iter().find(|e| e.name().is_some()) {
        let name = prop.name().map(|n| n.value()).unwrap_or_default();
        return Err(Diagnostic::error(
            format!("`{}` takes no property `{name}`", node.name().value()),
            &cx.entry(prop),
            "unexpected property",
        )
        .with_help(format!("`{}` expects {what}", node.name().value())));
    }
    if let Some(children) = node.children() {
        return Err(Diagnostic::error(
            format!("`{}` takes no children block", node.name().value()),
            &Origin::new(cx.file, children.span()),
            "unexpected block",
        )
        .with_help(format!("`{}` expects {what}", node.name().value())));
    }
    Ok(node.entries().iter().collect())
}

/// Exactly one positional argument.
pub fn single<'n>(node: &'n KdlNode, cx: Cx, what: &str) -> Result<&'n KdlEntry, Diagnostic> {
    let args = args(node, cx, what)?;
    match args.as_slice() {
        [one] => Ok(one),
        [] => Err(Diagnostic::error(
            format!("`{}` needs a value", node.name().value()),
            &cx.node(node),
            format!("expected {what}"),
        )),
        [_, second, ..] => Err(Diagnostic::error(
            format!(
                "`{}` takes one value, found {}",
                node.name().value(),
                args.len()
            ),
            &cx.entry(second),
            "extra value",
        )),
    }
}

/// A type error on one entry.
pub fn expected(entry: &KdlEntry, cx: Cx, what: &str) -> Diagnostic {
    Diagnostic::error(
        format!("expected {what}, found {}", kind_of(entry.value())),
        &cx.entry(entry),
        format!("expected {what}"),
    )
}

/// An integer argument within `[lo, hi]`.
pub fn int(entry: &KdlEntry, cx: Cx, lo: i128, hi: i128) -> Result<i128, Diagnostic> {
    match entry.value() {
        KdlValue::Integer(i) if (lo..=hi).contains(i) => Ok(*i),
        KdlValue::Integer(i) => Err(Diagnostic::error(
            format!("{i} is out of range: must be between {lo} and {hi}"),
            &cx.entry(entry),
            "out of range",
        )),
        KdlValue::Float(f) if f.fract() == 0.0 && (lo as f64..=hi as f64).contains(f) => {
            Ok(*f as i128)
        }
        _ => Err(expected(entry, cx, "an integer")),
    }
}

/// A finite number (integer or float).
pub fn number(entry: &KdlEntry, cx: Cx) -> Result<f64, Diagnostic> {
    match entry.value() {
        KdlValue::Integer(i) => Ok(*i as f64),
        KdlValue::Float(f) if f.is_finite() => Ok(*f),
        KdlValue::Float(_) => Err(Diagnostic::error(
            "expected a finite number",
            &cx.entry(entry),
            "not finite",
        )),
        _ => Err(expected(entry, cx, "a number")),
    }
}

/// A boolean (`#true` / `#false`).
pub fn boolean(entry: &KdlEntry, cx: Cx) -> Result<bool, Diagnostic> {
    match entry.value() {
        KdlValue::Bool(b) => Ok(*b),
        KdlValue::String(s) if matches!(s.as_str(), "true" | "false" | "True" | "False") => {
            Err(expected(entry, cx, "#true or #false").with_help(format!(
                "KDL booleans are written without quotes: #{}",
                s.to_lowercase()
            )))
        }
        _ => Err(expected(entry, cx, "#true or #false")),
    }
}

/// A string.
pub fn string<'e>(entry: &'e KdlEntry, cx: Cx) -> Result<&'e str, Diagnostic> {
    match entry.value() {
        KdlValue::String(s) => Ok(s),
        _ => Err(expected(entry, cx, "a string")),
    }
}

/// The origin of byte range `[start, end)` inside a string entry's text, when the source
/// spells the string plainly (`"..."` with no escapes); otherwise the whole entry.
pub fn inner_origin(entry: &KdlEntry, cx: Cx, start: usize, end: usize) -> Origin {
    let span = entry.span();
    let text = &cx.file.text[span.offset()..span.offset() + span.len()];
    let value = match entry.value() {
        KdlValue::String(s) => s.as_str(),
        _ => return cx.entry(entry),
    };
    if text.len() == value.len() + 2 && text.starts_with('"') && &text[1..text.len() - 1] == value {
        let end = end.max(start + 1).min(value.len());
        let start = start.min(end.saturating_sub(1));
        Origin::new(
            cx.file,
            (span.offset() + 1 + start..span.offset() + 1 + end).into(),
        )
    } else {
        cx.entry(entry)
    }
}
