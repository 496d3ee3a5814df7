//! The JSON that DD's forks write by hand or from Python: `//` and `#` comments (progrock's
//! `settings.json` opens with four `//` lines), trailing commas before `}` or `]`, and
//! Python's `None`, `True` and `False` written bare. [`relax`] rewrites such text into
//! strict JSON, outside strings only, so the strict parser (and its bounds) still reads it.
//!
//! Nothing is rewritten inside a string, and the rewrite keeps every line break, so a
//! parser's line numbers still point into the file as written.

/// Strict JSON for `text` if it needed relaxing; `None` when nothing was rewritten.
pub fn relax(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' => {
                let end = string_end(b, i);
                out.push_str(&text[i..end]);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = line_end(b, i);
                changed = true;
            }
            b'#' => {
                i = line_end(b, i);
                changed = true;
            }
            b',' if closes_next(b, i + 1) => {
                i += 1;
                changed = true;
            }
            c if c.is_ascii_alphabetic() => {
                let end = i + b[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .count();
                let word = &text[i..end];
                let json = match word {
                    "None" => "null",
                    "True" => "true",
                    "False" => "false",
                    other => other,
                };
                changed |= json != word;
                out.push_str(json);
                i = end;
            }
            _ => {
                // A whole UTF-8 character: `i` stays on character boundaries.
                let len = text[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&text[i..i + len]);
                i += len;
            }
        }
    }
    changed.then_some(out)
}

/// The index just past the string that opens at `start` (or the end of the text).
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// The index of the line break that ends the comment at `i` (kept, for line numbers).
fn line_end(b: &[u8], i: usize) -> usize {
    i + b[i..].iter().take_while(|&&c| c != b'\n').count()
}

/// Whether the next character that is not a blank or a comment closes a list or mapping.
fn closes_next(b: &[u8], mut i: usize) -> bool {
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => i = line_end(b, i),
            b'#' => i = line_end(b, i),
            b'}' | b']' => return true,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_trailing_commas_and_python_words_become_json() {
        let text = "// progrock\n{\"a\": [1, 2,], # note\n \"b\": None, \"c\": True,\n}\n";
        let json = relax(text).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v, serde_json::json!({"a": [1, 2], "b": null, "c": true}));
        assert_eq!(json.lines().count(), text.lines().count());
    }

    #[test]
    fn strings_are_left_alone() {
        let text = r#"{"p": "a // b, # c, None ]", "q": "say \"None,\" // x"}"#;
        assert_eq!(relax(text), None);
        assert_eq!(
            relax(r#"{"u": "http://x", "n": None}"#).unwrap(),
            r#"{"u": "http://x", "n": null}"#
        );
    }

    #[test]
    fn strict_json_and_multibyte_text_pass_through() {
        assert_eq!(relax(r#"{"é": "ü", "k": [1]}"#), None);
        assert_eq!(relax("{\"é\": 1,}").unwrap(), "{\"é\": 1}");
    }
}
