//! docs/project-format.md carries the settings table generated from the schema.
//! Run with `UPDATE_DOCS=1` to rewrite it after changing the schema.

use disco::project::schema::reference_markdown;

use crate::support::root;

const BEGIN: &str = "<!-- BEGIN GENERATED: settings reference -->\n";
const END: &str = "<!-- END GENERATED -->";

#[test]
fn project_format_doc_has_the_current_settings_reference() {
    let path = root().join("docs/project-format.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc
        .find(BEGIN)
        .expect("docs/project-format.md lacks the BEGIN GENERATED marker")
        + BEGIN.len();
    let end = doc[start..]
        .find(END)
        .expect("docs/project-format.md lacks the END GENERATED marker")
        + start;
    let table = reference_markdown();
    if doc[start..end] != table {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, format!("{}{}{}", &doc[..start], table, &doc[end..])).unwrap();
        } else {
            panic!(
                "the settings reference in docs/project-format.md is stale: run `UPDATE_DOCS=1 cargo test --test integration docs`"
            );
        }
    }
}
