//! `disco import FILE`: DD settings → `disco.kdl`, validated before it is written.

use std::path::Path;

use disco::fsutil::write_atomic;
use disco::{import, project};

use super::report::print_all;
use super::{EXIT_FAILURE, EXIT_INVALID, EXIT_OK};

/// Runs `disco import`.
pub fn run(file: &Path, output: Option<&Path>, force: bool) -> i32 {
    let out = output.unwrap_or(Path::new("disco.kdl"));
    if out.exists() && !force {
        eprintln!(
            "error: {} already exists (use --force to overwrite)",
            out.display()
        );
        return EXIT_INVALID;
    }
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return EXIT_INVALID;
        }
    };
    let imported = match import::import(file, &text) {
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
    if let Err(e) = write_atomic(out, imported.kdl.as_bytes()) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return EXIT_FAILURE;
    }
    println!(
        "imported {} settings from {} into {}",
        imported.imported.len(),
        file.display(),
        out.display()
    );
    if !imported.skipped.is_empty() {
        println!(
            "not imported ({}; also listed at the end of the file):",
            imported.skipped.len()
        );
        for (key, why) in &imported.skipped {
            println!("  {key}: {why}");
        }
    }
    for note in &imported.notes {
        println!("note: {note}");
    }
    if check.diagnostics.warning_count() > 0 {
        print_all(&check.diagnostics);
    }
    EXIT_OK
}
