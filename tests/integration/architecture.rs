//! The crate graph is the one docs/architecture.md draws: every workspace crate depends on
//! exactly the workspace crates its table row lists.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::support::root as repo_root;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The `| crate | depends on |` rows of docs/architecture.md.
fn documented() -> Graph {
    let text = std::fs::read_to_string(repo_root().join("docs/architecture.md")).unwrap();
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .strip_prefix('|')?
                .strip_suffix('|')?
                .split('|')
                .collect();
            let [name, deps] = cells[..] else { return None };
            let name = name.trim();
            name.starts_with("disco").then(|| {
                let deps = deps.split(',').map(str::trim).filter(|d| !d.is_empty());
                (name.to_owned(), deps.map(str::to_owned).collect())
            })
        })
        .collect()
}

/// The standard output of `cargo ARGS` in the repository.
fn cargo(args: &[&str]) -> Vec<u8> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Each workspace member's normal dependencies on other members, from `cargo metadata`.
fn actual() -> Graph {
    let out = cargo(&["metadata", "--format-version", "1", "--no-deps"]);
    let meta: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let members: BTreeSet<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"].as_array().unwrap().iter();
            let local = deps
                .filter(|d| d["kind"].is_null() && members.contains(d["name"].as_str().unwrap()))
                .map(|d| d["name"].as_str().unwrap().to_owned());
            (p["name"].as_str().unwrap().to_owned(), local.collect())
        })
        .collect()
}

#[test]
fn the_crate_graph_is_the_documented_one() {
    let documented = documented();
    assert!(documented.len() >= 6, "the table lost rows: {documented:?}");
    assert_eq!(actual(), documented);
}

#[test]
fn the_kernels_compile_without_ort_ffmpeg_or_kdl() {
    let out = cargo(&[
        "tree",
        "-p",
        "disco-kernels",
        "-e",
        "normal",
        "--prefix",
        "none",
    ]);
    let tree = String::from_utf8_lossy(&out);
    assert!(tree.lines().count() > 5, "{tree}");
    for heavy in ["ort ", "ffmpeg-next ", "kdl ", "miette "] {
        assert!(
            !tree.lines().any(|l| l.starts_with(heavy)),
            "disco-kernels pulls in {heavy}"
        );
    }
}
