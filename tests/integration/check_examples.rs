//! Every example project passes `disco check`.

use crate::support::{disco, root, text};

#[test]
fn every_example_project_checks() {
    let mut found = 0;
    for e in std::fs::read_dir(root().join("examples"))
        .unwrap()
        .flatten()
    {
        let project = e.path().join("disco.kdl");
        if !project.exists() {
            continue;
        }
        found += 1;
        let out = disco(&root(), &["check", project.to_str().unwrap()]);
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}:\n{stderr}",
            project.display()
        );
        assert!(stdout.starts_with("ok: "), "{stdout}");
    }
    assert!(found >= 1, "no example projects found");
}
