//! `disco init DIR`: scaffold a project that `disco check` accepts.

use std::path::Path;

use disco::fsutil::write_atomic;
use disco::project;

use super::{EXIT_FAILURE, EXIT_INVALID, EXIT_OK};

/// The project file `disco init` writes.
pub const TEMPLATE: &str = include_str!("../../examples/init/disco.kdl");

const GITIGNORE: &str =
    "# disco's cache and outputs (rebuildable from disco.kdl)\n.disco/\nimages_out/\n";

/// Runs `disco init`.
pub fn run(dir: &Path) -> i32 {
    let file = dir.join("disco.kdl");
    if file.exists() {
        eprintln!(
            "error: {} already exists; `disco init` never overwrites a project",
            file.display()
        );
        return EXIT_INVALID;
    }
    let result = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dir.join("init_images"))?;
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            write_atomic(&ignore, GITIGNORE.as_bytes())?;
        }
        write_atomic(&file, TEMPLATE.as_bytes())
    })();
    if let Err(e) = result {
        eprintln!("error: cannot create the project in {}: {e}", dir.display());
        return EXIT_FAILURE;
    }
    // The template is tested to be valid; checking here too guards against a broken build.
    let loaded = project::load(&file);
    if loaded.diagnostics.has_errors() {
        eprintln!("error: internal: the scaffolded project does not validate");
        return EXIT_FAILURE;
    }
    println!("created {}", file.display());
    println!(
        "next: edit the prompts, then `disco check {}`",
        dir.display()
    );
    EXIT_OK
}
