//! A linear pre-scan measuring how deeply a KDL text nests, run before the parser sees it.
//!
//! kdl-rs parses recursively: a few hundred nested `{` (or `/*` comments, or `/-` slashdash
//! markers in a row) overflow the parser thread's stack, which aborts the whole process. The
//! scan follows just enough of KDL 2.0's lexical grammar to know which characters are
//! structure: strings (`"…"`, `"""…"""`, raw `#"…"#`) and comments (`//`, nested `/* */`)
//! are skipped. On text it cannot follow (an unterminated string) it stops and lets the
//! parser report the syntax error.

use std::ops::Range;

/// Where a text first nests deeper than allowed, and in what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooDeep {
    /// Byte range of the opening that went past the limit.
    pub at: Range<usize>,
    /// What went past the limit: "blocks", "comments" or "slashdash markers".
    pub what: &'static str,
}

/// Checks that nothing in `text` nests deeper than `max`, counting open blocks, the
/// current chain of `/-` markers and open block comments together (the parser recurses
/// for each, one inside the other). Linear in the length of `text`.
pub fn check(text: &str, max: usize) -> Result<(), TooDeep> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut blocks = 0usize;
    // Consecutive `/-` markers with nothing but whitespace between them.
    let mut slashdashes = 0usize;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'-') {
            slashdashes += 1;
            if blocks + slashdashes > max {
                return Err(TooDeep {
                    at: i..i + 2,
                    what: "slashdash markers",
                });
            }
            i += 2;
            continue;
        }
        if !(c == b'/' && matches!(b.get(i + 1), Some(b'/' | b'*'))) {
            slashdashes = 0;
        }
        i = match c {
            b'{' => {
                blocks += 1;
                if blocks + slashdashes > max {
                    return Err(TooDeep {
                        at: i..i + 1,
                        what: "blocks",
                    });
                }
                i + 1
            }
            b'}' => {
                blocks = blocks.saturating_sub(1);
                i + 1
            }
            b'/' if b.get(i + 1) == Some(&b'/') => memchr(b, i, b'\n').unwrap_or(b.len()),
            b'/' if b.get(i + 1) == Some(&b'*') => block_comment(b, i, blocks + slashdashes, max)?,
            b'"' => match string_end(b, i, 0) {
                Some(end) => end,
                None => return Ok(()),
            },
            b'#' => {
                let hashes = b[i..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + hashes) == Some(&b'"') {
                    match string_end(b, i + hashes, hashes) {
                        Some(end) => end,
                        None => return Ok(()),
                    }
                } else {
                    // `#true`, `#null`, … (or a syntax error for the parser to report)
                    i + hashes
                }
            }
            // A `\` outside strings continues a line; the next character is not structure
            // unless it is a quote or brace the parser will reject anyway.
            _ => i + 1,
        };
    }
    Ok(())
}

/// End (exclusive) of the block comment opening at `start`, inside `outer` levels of
/// other nesting; comments nest in KDL 2.0.
fn block_comment(b: &[u8], start: usize, outer: usize, max: usize) -> Result<usize, TooDeep> {
    let mut depth = outer;
    let mut i = start;
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                if depth > max {
                    return Err(TooDeep {
                        at: i..i + 2,
                        what: "comments",
                    });
                }
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == outer {
                    return Ok(i);
                }
            }
            _ => i += 1,
        }
    }
    // Unterminated: the parser reports it.
    Ok(b.len())
}

/// End (exclusive) of the string whose opening quote is at `quote`, for a raw string with
/// `hashes` leading `#` (0 = an escaped string). `None` if it never ends.
fn string_end(b: &[u8], quote: usize, hashes: usize) -> Option<usize> {
    let multi = b[quote..].starts_with(b"\"\"\"");
    let delim: &[u8] = if multi { b"\"\"\"" } else { b"\"" };
    let mut i = quote + delim.len();
    while i < b.len() {
        if hashes == 0 && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i..].starts_with(delim) {
            let after = i + delim.len();
            if b.len() >= after + hashes && b[after..after + hashes].iter().all(|&c| c == b'#') {
                return Some(after + hashes);
            }
        }
        i += 1;
    }
    None
}

fn memchr(b: &[u8], from: usize, needle: u8) -> Option<usize> {
    b[from..]
        .iter()
        .position(|&c| c == needle)
        .map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nested_blocks_and_points_at_the_first_too_deep() {
        assert_eq!(check("a { b { c { } } }", 3), Ok(()));
        let e = check("a { b { c { d { } } } }", 3).unwrap_err();
        assert_eq!((e.at, e.what), (14..15, "blocks"));
    }

    #[test]
    fn sibling_blocks_do_not_add_up() {
        let text = "a { }\n".repeat(1000);
        assert_eq!(check(&text, 1), Ok(()));
    }

    #[test]
    fn braces_in_strings_and_comments_are_not_structure() {
        let text = r###"
            a "{{{{{{" "\"{{{{" #"{{{"{{"# ##"{{"#{{"## """
            {{{{
            """ // {{{{{{
            /* {{{{ /* {{{{ */ {{{ */ b
        "###;
        assert_eq!(check(text, 2), Ok(()));
    }

    #[test]
    fn nested_comments_and_slashdash_chains_are_bounded() {
        let comments = "/*".repeat(10) + &"*/".repeat(10);
        assert_eq!(check(&comments, 10), Ok(()));
        assert_eq!(check(&comments, 9).unwrap_err().what, "comments");
        let chain = "/- ".repeat(10) + "a 1";
        assert_eq!(check(&chain, 10), Ok(()));
        assert_eq!(check(&chain, 9).unwrap_err().what, "slashdash markers");
        // Slashdashes on separate nodes do not chain.
        assert_eq!(check(&"/- a 1\n".repeat(100), 1), Ok(()));
    }

    #[test]
    fn unterminated_strings_stop_the_scan() {
        assert_eq!(check("a \"{{{{", 1), Ok(()));
        assert_eq!(check("a #\"{{{{\"", 1), Ok(()));
    }
}
