//! Source files of a project and positions inside them.
//!
//! Every value read from a project file keeps an [`Origin`] (file + byte span), so that
//! diagnostics raised long after parsing — by validation, planning or the renderer's model
//! checks — still point at the line and column the user wrote.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

/// One project file (the main file or an include), with its text.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user named it (for messages).
    pub path: PathBuf,
    /// The whole text, shared with diagnostics.
    pub text: Arc<String>,
}

impl SourceFile {
    /// A source file from a path and its text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Self> {
        Arc::new(SourceFile {
            path: path.into(),
            text: Arc::new(text.into()),
        })
    }

    /// The file as miette wants it for rendering snippets.
    pub fn named(&self) -> NamedSource<Arc<String>> {
        NamedSource::new(self.path.display().to_string(), self.text.clone())
    }

    /// 1-based (line, column) of a byte offset, counting columns in characters.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// The directory that relative paths written in this file are resolved against.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }
}

/// Where a value came from: a span in a source file.
#[derive(Clone)]
pub struct Origin {
    /// The file holding the span.
    pub file: Arc<SourceFile>,
    /// Byte span of the value (or node) in that file.
    pub span: SourceSpan,
}

impl Origin {
    /// An origin in `file` at `span`.
    pub fn new(file: &Arc<SourceFile>, span: SourceSpan) -> Self {
        Origin {
            file: file.clone(),
            span,
        }
    }

    /// `path:line:col` of the start of the span.
    pub fn location(&self) -> String {
        let (line, col) = self.file.line_col(self.span.offset());
        format!("{}:{line}:{col}", self.file.path.display())
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.location())
    }
}

/// A value and where it was written; `origin` is `None` for built-in defaults.
///
/// Equality and hashing look at the value only: two projects that say the same thing in
/// different places are the same project.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written, if it was written at all.
    pub origin: Option<Origin>,
}

impl<T> Spanned<T> {
    /// A value that was not written by the user.
    pub fn default_value(value: T) -> Self {
        Spanned {
            value,
            origin: None,
        }
    }

    /// A value written at `origin`.
    pub fn at(value: T, origin: Origin) -> Self {
        Spanned {
            value,
            origin: Some(origin),
        }
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let f = SourceFile::new("a.kdl", "ab\nçd x\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        // 'ç' is two bytes: byte 6 is the space after 'd', column 3.
        assert_eq!(f.line_col(6), (2, 3));
    }
}
