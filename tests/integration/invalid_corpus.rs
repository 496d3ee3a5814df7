//! Every file in tests/invalid/ is a distinct mistake: exit code 2, a diagnostic with
//! file:line:column and a label, nothing written; the rendered output is snapshot-tested.

use crate::support::{copy_dir, disco, root, text, tree};

#[test]
fn every_invalid_project_is_rejected_with_a_located_label_and_writes_nothing() {
    let src = root().join("tests/invalid");
    let mut cases: Vec<_> = std::fs::read_dir(&src)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 40,
        "the corpus must hold at least 40 mistakes, has {}",
        cases.len()
    );
    let loc = regex_lite_location();
    for case in cases {
        let name = case.file_name().unwrap().to_str().unwrap().to_owned();
        let work = tempfile::tempdir().unwrap();
        copy_dir(&src, work.path());
        let before = tree(work.path());
        let out = disco(work.path(), &["check", &name]);
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{name}: expected exit 2\n{stderr}"
        );
        assert!(stdout.is_empty(), "{name}: printed to stdout: {stdout}");
        assert!(loc(&stderr), "{name}: no [file:line:col] in\n{stderr}");
        assert!(stderr.contains("╰──"), "{name}: no label in\n{stderr}");
        assert_eq!(before, tree(work.path()), "{name}: the check wrote files");
        insta::assert_snapshot!(name.trim_end_matches(".kdl").to_owned(), stderr);
    }
}

/// Finds miette's `[path:line:col]` header.
fn regex_lite_location() -> impl Fn(&str) -> bool {
    |s: &str| {
        s.lines().any(|l| {
            let Some(start) = l.find("─[") else {
                return false;
            };
            let rest = &l[start + "─[".len()..];
            let Some(end) = rest.find(']') else {
                return false;
            };
            let mut parts = rest[..end].rsplitn(3, ':');
            let col = parts.next().unwrap_or("");
            let line = parts.next().unwrap_or("");
            !col.is_empty()
                && col.chars().all(|c| c.is_ascii_digit())
                && !line.is_empty()
                && line.chars().all(|c| c.is_ascii_digit())
        })
    }
}
