//! Shared helpers: run the binary, make temp projects, list trees.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `disco` set up to run in `dir`, without colours and with the runtime found as a user's
/// would be (no `ORT_DYLIB_PATH` from the test's environment).
pub fn disco_command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_disco"));
    c.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("ORT_DYLIB_PATH");
    c
}

/// Runs `disco` with `args` in `dir`, without colours.
pub fn disco(dir: &Path, args: &[&str]) -> Output {
    disco_command(dir).args(args).output().expect("run disco")
}

/// stdout and stderr as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Every file under `dir` with its bytes, sorted by path (to prove nothing was written).
pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Runs `disco ARGS` in `dir` (a `--message-format json` command), asserts it succeeded, and
/// returns its events.
pub fn json_events(dir: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = disco(dir, args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
