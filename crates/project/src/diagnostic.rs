//! Diagnostics about a project: errors and warnings with a labelled span, rendered by miette.
//!
//! The project layer collects every problem it finds (like rustc) instead of stopping at
//! the first; `cli/` decides how to print them and which exit code they mean.

use std::fmt;

use miette::{LabeledSpan, NamedSource, Severity, SourceSpan};

use super::source::Origin;

/// One problem found in a project, pointing at the entry that causes it.
///
/// Boxed so that `Result<T, Diagnostic>` stays small on the happy path.
#[derive(Debug, Clone)]
pub struct Diagnostic(Box<DiagnosticData>);

/// The contents of a [`Diagnostic`].
#[derive(Debug, Clone)]
pub struct DiagnosticData {
    /// Error or warning.
    pub severity: Severity,
    /// One sentence saying what is wrong.
    pub message: String,
    /// Where, and the label drawn under that span.
    pub primary: Option<(Origin, String)>,
    /// Other places worth showing (in the same file as `primary`).
    pub secondary: Vec<(SourceSpan, String)>,
    /// What to do about it.
    pub help: Option<String>,
}

impl std::ops::Deref for Diagnostic {
    type Target = DiagnosticData;
    fn deref(&self) -> &DiagnosticData {
        &self.0
    }
}

impl std::ops::DerefMut for Diagnostic {
    fn deref_mut(&mut self) -> &mut DiagnosticData {
        &mut self.0
    }
}

impl Diagnostic {
    /// An error at `origin` with a label.
    pub fn error(message: impl Into<String>, origin: &Origin, label: impl Into<String>) -> Self {
        Diagnostic(Box::new(DiagnosticData {
            severity: Severity::Error,
            message: message.into(),
            primary: Some((origin.clone(), label.into())),
            secondary: Vec::new(),
            help: None,
        }))
    }

    /// A warning at `origin` with a label.
    pub fn warning(message: impl Into<String>, origin: &Origin, label: impl Into<String>) -> Self {
        let mut d = Diagnostic::error(message, origin, label);
        d.severity = Severity::Warning;
        d
    }

    /// An error that belongs to no file position (e.g. an unreadable project file).
    pub fn bare(message: impl Into<String>) -> Self {
        Diagnostic(Box::new(DiagnosticData {
            severity: Severity::Error,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            help: None,
        }))
    }

    /// Adds advice on how to fix it.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a second labelled span in the same file.
    pub fn with_secondary(mut self, span: SourceSpan, label: impl Into<String>) -> Self {
        self.secondary.push((span, label.into()));
        self
    }

    /// True for errors (which make a project invalid).
    pub fn is_error(&self) -> bool {
        matches!(self.severity, Severity::Error)
    }

    /// `path:line:col` of the primary span, if any.
    pub fn location(&self) -> Option<String> {
        self.primary.as_ref().map(|(o, _)| o.location())
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// The source of a diagnostic, shaped for miette (which needs a `SourceCode` it can borrow).
pub struct DiagnosticReport {
    diag: Diagnostic,
    source: Option<NamedSource<std::sync::Arc<String>>>,
}

impl Diagnostic {
    /// Wraps the diagnostic so miette can render it with its snippet.
    pub fn rendered(&self) -> DiagnosticReport {
        DiagnosticReport {
            source: self.primary.as_ref().map(|(o, _)| o.file.named()),
            diag: self.clone(),
        }
    }
}

impl fmt::Debug for DiagnosticReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.diag, f)
    }
}

impl fmt::Display for DiagnosticReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.diag, f)
    }
}

impl std::error::Error for DiagnosticReport {}

impl miette::Diagnostic for DiagnosticReport {
    fn severity(&self) -> Option<Severity> {
        Some(self.diag.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let (origin, label) = self.diag.primary.as_ref()?;
        let primary = LabeledSpan::new_primary_with_span(Some(label.clone()), origin.span);
        let rest = self
            .diag
            .secondary
            .iter()
            .map(|(span, l)| LabeledSpan::new_with_span(Some(l.clone()), *span));
        Some(Box::new(std::iter::once(primary).chain(rest)))
    }
}

/// All diagnostics of one load, in the order found.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Records a diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// True if any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.0.len() - self.error_count()
    }
}
