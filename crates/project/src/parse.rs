//! KDL text → `KdlDocument`, bounded in size and time.
//!
//! kdl-rs can take exponential time on some malformed inputs (kdl-rs issue 177), so a parse
//! runs on a worker thread and is abandoned after [`PARSE_TIMEOUT`]; files over
//! [`MAX_PROJECT_BYTES`] are refused before parsing, and so are files nesting deeper than
//! [`MAX_DEPTH`] (the parser recurses per level and would overflow its stack, aborting the
//! process; see `depth.rs`). A timed-out worker is left to finish (or not) on its own: the
//! caller gets a diagnostic and moves on.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use kdl::KdlDocument;
use miette::SourceSpan;

use super::depth;
use super::diagnostic::Diagnostic;
pub use super::limits::MAX_PROJECT_BYTES;
use super::limits::{MAX_DEPTH, MAX_SYNTAX_ERRORS};
use super::source::{Origin, SourceFile};

/// Stack of the parser thread: ample for [`MAX_DEPTH`] levels, with room for kdl-rs's
/// error recovery (the default 2 MiB overflowed at about 350 levels).
const PARSER_STACK: usize = 16 << 20;

/// Longest a single file may take to parse before we give up on it.
pub const PARSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Parses one file as KDL 2.0, or explains why it could not.
pub fn parse_kdl(file: &Arc<SourceFile>) -> Result<KdlDocument, Vec<Diagnostic>> {
    parse_kdl_within(file, PARSE_TIMEOUT)
}

/// As [`parse_kdl`], with an explicit time limit (tests use a short one).
pub fn parse_kdl_within(
    file: &Arc<SourceFile>,
    timeout: Duration,
) -> Result<KdlDocument, Vec<Diagnostic>> {
    parse_kdl_bounded(file, timeout, MAX_PROJECT_BYTES)
}

/// As [`parse_kdl_within`], for KDL files other than projects (`disco.lock`), with their
/// own size limit.
pub fn parse_kdl_bounded(
    file: &Arc<SourceFile>,
    timeout: Duration,
    max_bytes: usize,
) -> Result<KdlDocument, Vec<Diagnostic>> {
    if file.text.len() > max_bytes {
        return Err(vec![Diagnostic::bare(format!(
            "{} is {} bytes; such files are limited to {} bytes",
            file.path.display(),
            file.text.len(),
            max_bytes
        ))
        .with_help("a project file holds settings, not data: keep images and schedules in their own files")]);
    }
    if let Err(deep) = depth::check(&file.text, MAX_DEPTH) {
        let origin = Origin::new(file, deep.at.into());
        return Err(vec![
            Diagnostic::error(
                format!("the file nests {} more than {MAX_DEPTH} levels deep", deep.what),
                &origin,
                format!("level {}", MAX_DEPTH + 1),
            )
            .with_help("a project needs a few levels at most: flatten the blocks (or comments) around here"),
        ]);
    }
    let (tx, rx) = mpsc::channel();
    let text = file.text.clone();
    std::thread::Builder::new()
        .name("kdl-parse".into())
        .stack_size(PARSER_STACK)
        .spawn(move || {
            let _ = tx.send(KdlDocument::parse_v2(&text));
        })
        .map_err(|e| {
            vec![Diagnostic::bare(format!(
                "cannot start the parser thread: {e}"
            ))]
        })?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(doc)) => Ok(doc),
        Ok(Err(err)) => Err(syntax_errors(file, &err.diagnostics)),
        Err(_) => Err(vec![Diagnostic::bare(format!(
            "{} took longer than {} s to parse and was abandoned",
            file.path.display(),
            timeout.as_secs_f64()
        ))
        .with_help(
            "the KDL parser can take exponential time on some malformed files (kdl-rs issue 177); \
             look for unbalanced quotes, braces or slashdash comments near your last edit",
        )]),
    }
}

/// kdl-rs's diagnostics as ours, at most [`MAX_SYNTAX_ERRORS`] of them and a line for the rest.
fn syntax_errors(file: &Arc<SourceFile>, errs: &[kdl::KdlDiagnostic]) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = errs
        .iter()
        .take(MAX_SYNTAX_ERRORS)
        .map(|d| {
            let message = d.message.clone().unwrap_or_else(|| "invalid KDL".into());
            let label = d.label.clone().unwrap_or_else(|| "here".into());
            let origin = Origin::new(file, clamp_span(d.span, file.text.len()));
            let diag = Diagnostic::error(format!("KDL syntax: {message}"), &origin, label);
            match &d.help {
                Some(h) => diag.with_help(h.clone()),
                None => diag,
            }
        })
        .collect();
    if errs.len() > MAX_SYNTAX_ERRORS {
        out.push(Diagnostic::bare(format!(
            "{} has {} more syntax errors",
            file.path.display(),
            errs.len() - MAX_SYNTAX_ERRORS
        )));
    }
    out
}

fn clamp_span(span: SourceSpan, len: usize) -> SourceSpan {
    let start = span.offset().min(len);
    let end = (span.offset() + span.len()).min(len);
    SourceSpan::from(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_has_a_span() {
        let f = SourceFile::new("bad.kdl", "steps 250\nwidth-height 1280 \"\n");
        let errs = parse_kdl(&f).unwrap_err();
        assert!(!errs.is_empty());
        assert!(errs[0].primary.is_some(), "{errs:?}");
    }

    #[test]
    fn oversized_file_is_refused_without_parsing() {
        let f = SourceFile::new("big.kdl", "a 1\n".repeat(MAX_PROJECT_BYTES / 4 + 1));
        let errs = parse_kdl(&f).unwrap_err();
        assert!(
            errs[0].message.contains("limited to"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing_with_a_span() {
        // 400 levels overflowed the parser thread's 2 MiB stack and aborted the process.
        let text = "a{".repeat(400) + &"}".repeat(400);
        let f = SourceFile::new("deep.kdl", text);
        let errs = parse_kdl(&f).unwrap_err();
        let (origin, _) = errs[0].primary.as_ref().expect("a span");
        assert_eq!(
            origin.span.offset(),
            2 * MAX_DEPTH + 1,
            "{}",
            errs[0].message
        );
        assert!(errs[0].message.contains("nests blocks more than 64"));
        // At the limit it parses.
        let ok = "a{".repeat(MAX_DEPTH) + &"}".repeat(MAX_DEPTH);
        assert!(parse_kdl(&SourceFile::new("ok.kdl", ok)).is_ok());
    }

    #[test]
    fn deep_comments_and_slashdash_chains_are_refused() {
        for text in [
            "/*".repeat(5000) + &"*/".repeat(5000),
            "/- ".repeat(20000) + "a 1\n",
        ] {
            let errs = parse_kdl(&SourceFile::new("deep.kdl", text)).unwrap_err();
            assert!(
                errs[0].message.contains("more than 64 levels"),
                "{}",
                errs[0].message
            );
        }
    }

    #[test]
    fn syntax_errors_are_capped() {
        // Each error prints its (80 KB) line: 20,000 of them took minutes to print.
        let text = "a ".to_owned() + &"/-{}".repeat(20_000);
        let errs = parse_kdl(&SourceFile::new("many.kdl", text)).unwrap_err();
        assert_eq!(errs.len(), MAX_SYNTAX_ERRORS + 1);
        assert!(
            errs[MAX_SYNTAX_ERRORS]
                .message
                .contains("more syntax errors")
        );
    }

    #[test]
    fn valid_file_parses() {
        let f = SourceFile::new("ok.kdl", "steps 250\n");
        assert_eq!(parse_kdl(&f).unwrap().nodes().len(), 1);
    }
}
