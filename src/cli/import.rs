//! `disco import FILE`: DD settings → `disco.kdl`, validated before it is written.
//!
//! Exit codes: 0 written; 1 not written because keys that change the picture could not be
//! imported (without `--allow-lossy`), or the output could not be written; 2 unreadable or
//! invalid input, an existing output without `--force`, or an invalid result.

use std::path::Path;

use disco::fsutil::write_atomic;
use disco::import::{self, Group, Imported};
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

/// The keys not imported, group by group, and the notes, every text from the file escaped:
/// the keys that change the picture one by one with what disco does instead, the keys off or
/// at DD's default as a count, the bookkeeping keys by name.
fn print_report(imported: &Imported, written: bool) {
    let where_ = if written {
        "; all listed at the end of the file"
    } else {
        ""
    };
    let in_group = |g: Group| imported.skipped.iter().filter(move |s| s.group == g);
    let loud = in_group(Group::ChangesPicture).count();
    if loud > 0 {
        println!(
            "not imported, {} ({loud}):",
            Group::ChangesPicture.heading()
        );
        for s in in_group(Group::ChangesPicture) {
            println!(
                "  {}: {}  [changes the picture]",
                s.shown_key(),
                s.shown_reason_and_instead()
            );
        }
    }
    let off = in_group(Group::OffOrDefault).count();
    if off > 0 {
        println!(
            "not imported, {}: {off} key{}{where_}",
            Group::OffOrDefault.heading(),
            if off == 1 { "" } else { "s" }
        );
    }
    let books: Vec<String> = in_group(Group::Bookkeeping)
        .map(|s| s.shown_key())
        .collect();
    if !books.is_empty() {
        println!(
            "not imported, {} ({}): {}",
            Group::Bookkeeping.heading(),
            books.len(),
            books.join(", ")
        );
    }
    for note in &imported.notes {
        println!("note: {note}");
    }
}
