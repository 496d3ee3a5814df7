//! The not-imported report: one entry per key, with its reason and its [`Group`] (does
//! losing it change the picture, is it off or at DD's default, or is it bookkeeping); and
//! the escaping that keeps file-supplied text inert in a `//` comment or on a terminal.

use serde_json::Value;

use crate::project::types::needs_escape;

/// What losing a key means, in the order the report shows the groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// The project renders a different picture than the file describes without it.
    ChangesPicture,
    /// A feature switched off, or a value equal to DD's default: nothing is lost.
    OffOrDefault,
    /// Not a setting of the picture: run counters, paths, devices, derived values, keys DD
    /// does not read.
    Bookkeeping,
}

impl Group {
    /// The group's heading in the report.
    pub fn heading(self) -> &'static str {
        match self {
            Group::ChangesPicture => "changes your picture",
            Group::OffOrDefault => "off or at DD's default",
            Group::Bookkeeping => "bookkeeping",
        }
    }
}

/// A key of the settings file that was not imported.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// The key as written in the file.
    pub key: String,
    /// Its value (`None` when the entry is about the key, e.g. a repeated key).
    pub value: Option<Value>,
    /// Why it was not imported.
    pub reason: String,
    /// Which group of the report it belongs to.
    pub group: Group,
    /// For [`Group::ChangesPicture`]: what disco renders instead (e.g. "uses DD's default,
    /// 5000"); empty otherwise.
    pub instead: String,
}

/// Longest key, value and reason shown (characters, before escaping).
const KEY_CHARS: usize = 60;
const VALUE_CHARS: usize = 80;
const REASON_CHARS: usize = 200;

impl Skipped {
    /// Whether the project renders a different picture than the file describes because this
    /// key is missing.
    pub fn changes_picture(&self) -> bool {
        self.group == Group::ChangesPicture
    }

    /// What disco does instead, safe to print; empty when nothing changes.
    pub fn shown_instead(&self) -> String {
        printable(&self.instead, REASON_CHARS)
    }

    /// The key, safe to print in a comment or on a terminal.
    pub fn shown_key(&self) -> String {
        printable(&self.key, KEY_CHARS)
    }

    /// The value as JSON, cut short and safe to print; empty when there is none.
    pub fn shown_value(&self) -> String {
        self.value
            .as_ref()
            .map(|v| printable(&v.to_string(), VALUE_CHARS))
            .unwrap_or_default()
    }

    /// The reason, safe to print.
    pub fn shown_reason(&self) -> String {
        printable(&self.reason, REASON_CHARS)
    }

    /// One line of the report: `key = value  (reason)`, marked when it changes the picture.
    pub fn line(&self) -> String {
        let mut s = self.shown_key();
        if self.value.is_some() {
            s.push_str(" = ");
            s.push_str(&self.shown_value());
        }
        s.push_str("  (");
        s.push_str(&self.shown_reason_and_instead());
        s.push(')');
        if self.changes_picture() {
            s.push_str("  [changes the picture]");
        }
        s
    }

    /// The reason, then what disco does instead when the picture changes; safe to print.
    pub fn shown_reason_and_instead(&self) -> String {
        let mut s = self.shown_reason();
        if self.changes_picture() && !self.instead.is_empty() {
            s.push_str("; instead, disco ");
            s.push_str(&self.shown_instead());
        }
        s
    }
}

/// `s` cut to `max` characters (an ellipsis marks the cut), with every character that could
/// end a line or a comment, or that a terminal or a reader would act on, escaped as
/// `\u{…}`; backslashes are doubled so an escape cannot be forged, and `/*` `*/` are broken
/// up so the text cannot open or close a block comment.
pub fn printable(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 2));
    let mut chars = s.chars();
    let mut prev = '\0';
    for c in chars.by_ref().take(max) {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            // `*/` → `*\/` and `/*` → `/\*`
            '/' if prev == '*' => out.push_str("\\/"),
            '*' if prev == '/' => out.push_str("\\*"),
            c => out.push(c),
        }
        prev = c;
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_has_no_line_breaks_or_comment_ends() {
        let s = printable("a\nb\r\u{2028}\u{85}\u{202e}*/ /* \\n\"", 100);
        assert_eq!(s, "a\\nb\\r\\u{2028}\\u{85}\\u{202e}*\\/ /\\* \\\\n\"");
        assert!(!s.contains(['\n', '\r', '\u{2028}', '\u{85}', '\u{202e}']));
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}
