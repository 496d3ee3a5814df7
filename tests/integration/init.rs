//! `disco init` scaffolds a valid project and never overwrites one.

use crate::support::{disco, text};

#[test]
fn init_creates_a_project_that_checks_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let out = disco(tmp.path(), &["init", "film"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    for f in ["film/disco.kdl", "film/.gitignore"] {
        assert!(tmp.path().join(f).is_file(), "{f} missing");
    }
    assert!(tmp.path().join("film/init_images").is_dir());
    let check = disco(tmp.path(), &["check", "film"]);
    assert_eq!(check.status.code(), Some(0), "{:?}", text(&check));

    std::fs::write(tmp.path().join("film/disco.kdl"), "steps 5\n").unwrap();
    let again = disco(tmp.path(), &["init", "film"]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("film/disco.kdl")).unwrap(),
        "steps 5\n"
    );
}
