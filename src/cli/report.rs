//! Printing diagnostics: miette's graphical report, colour only on a terminal.

use std::io::IsTerminal;

use disco::project::{Diagnostic, Diagnostics};
use miette::{GraphicalReportHandler, GraphicalTheme};

/// Renders one diagnostic as text.
pub fn render(d: &Diagnostic) -> String {
    let tty = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if tty {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(if tty { 120 } else { 100 });
    let mut out = String::new();
    match handler.render_report(&mut out, &d.rendered()) {
        Ok(()) => out,
        Err(_) => format!("{}: {}\n", d.location().unwrap_or_default(), d.message),
    }
}

/// Prints every diagnostic to stderr, then a one-line count.
pub fn print_all(diags: &Diagnostics) {
    for d in &diags.0 {
        eprint!("{}", render(d));
    }
    let (e, w) = (diags.error_count(), diags.warning_count());
    if e > 0 {
        eprintln!(
            "error: the project has {e} error{} and {w} warning{}",
            plural(e),
            plural(w)
        );
    } else if w > 0 {
        eprintln!("warning: {w} warning{}", plural(w));
    }
}

/// "s" unless n is 1.
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
