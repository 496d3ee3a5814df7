//! `disco import FILE`: DD settings → `disco.kdl`, validated before it is written.
//!
//! Exit codes: 0 written; 1 not written because keys that change the picture could not be
//! imported (without `--allow-lossy`), or the output could not be written; 2 unreadable or
//! invalid input, an existing output without `--force`, or an invalid result.

use std::path::Path;

use disco::fsutil::write_atomic;
use disco::import::{self, Imported};
use disco::project;

use super::report::print_all;
use super::{EXIT_FAILURE, EXIT_INVALID, EXIT_OK};

/// Runs `disco import`.
pub fn run(file: &Path, output: Option<&Path>, force: bool, allow_lossy: bool) -> i32 {
    let out = output.unwrap_or(Path::new("disco.kdl"));
    let shown_out = import::printable(&out.display().to_string(), 200);
    if out.exists() && !force {
        eprintln!("error: {shown_out} already exists (use --force to overwrite)");
        return EXIT_INVALID;
    }
    let imported = match import::import_file(file) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let check = project::load_str(out, &imported.kdl);
    if check.project.is_none() {
        print_all(&check.diagnostics);
        eprintln!("error: the imported settings do not form a valid project; nothing was written");
        return EXIT_INVALID;
    }
    let shown_file = import::printable(&file.display().to_string(), 200);
    let lossy = imported.lossy().count();
    if lossy > 0 && !allow_lossy {
        print_report(&imported, false);
        eprintln!(
            "error: {lossy} key{} that change{} the picture could not be imported (marked above); \
             nothing was written. Fix them in {shown_file}, or rerun with --allow-lossy to write \
             the project without them",
            if lossy == 1 { "" } else { "s" },
            if lossy == 1 { "s" } else { "" },
        );
        return EXIT_FAILURE;
    }
    if let Err(e) = write_atomic(out, imported.kdl.as_bytes()) {
        eprintln!("error: cannot write {shown_out}: {e}");
        return EXIT_FAILURE;
    }
    println!(
        "imported {} settings from {shown_file} into {shown_out}",
        imported.imported.len(),
    );
    print_report(&imported, true);
    if lossy > 0 {
        eprintln!(
            "warning: {lossy} key{} that change{} the picture were not imported (--allow-lossy): \
             the project will not render the picture the file describes",
            if lossy == 1 { "" } else { "s" },
            if lossy == 1 { "s" } else { "" },
        );
    }
    if check.diagnostics.warning_count() > 0 {
        print_all(&check.diagnostics);
    }
    EXIT_OK
}

/// The keys not imported and the notes, every text from the file escaped.
fn print_report(imported: &Imported, written: bool) {
    if !imported.skipped.is_empty() {
        println!(
            "not imported ({}{}):",
            imported.skipped.len(),
            if written {
                "; also listed at the end of the file"
            } else {
                ""
            }
        );
        for s in &imported.skipped {
            let mark = if s.changes_picture {
                "  [changes the picture]"
            } else {
                ""
            };
            println!("  {}: {}{mark}", s.shown_key(), s.shown_reason());
        }
    }
    for note in &imported.notes {
        println!("note: {note}");
    }
}
