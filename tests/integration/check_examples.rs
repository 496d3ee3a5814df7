//! Every `.kdl` file in examples/ (projects and the files they include) passes `disco check`.

use std::path::{Path, PathBuf};

use crate::support::{disco, root, text};

fn kdl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            kdl_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "kdl") {
            out.push(p);
        }
    }
}

#[test]
fn every_example_file_checks() {
    let mut files = Vec::new();
    kdl_files(&root().join("examples"), &mut files);
    assert!(files.len() >= 2, "too few example files: {files:?}");
    for f in files {
        let out = disco(&root(), &["check", f.to_str().unwrap()]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{}:\n{stderr}", f.display());
        assert!(stdout.starts_with("ok: "), "{stdout}");
    }
}
