//! Fuzzing `disco import` (the "Trust" issue, classes 3 and 6): arbitrary bytes, and DD
//! settings built from DD's real key names with values of random types (NaN, huge numbers,
//! nested lists, text with line breaks, quotes and bidi controls), as JSON the way
//! Python's `json.dump` writes it and as YAML.
//!
//! Every case must finish within [`CASE_LIMIT`] without panicking; an import that succeeds
//! must produce a project whose nodes are exactly the settings the importer says it imported
//! (no text from the file became a line of its own), and the project either loads or fails
//! with diagnostics that point into it.
//!
//! Cases per property: [`DEFAULT_CASES`], or `PROPTEST_CASES` from the environment
//! (`PROPTEST_CASES=5000 cargo test --test integration fuzz_import` for a longer run).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use disco::import::{self, Imported};
use disco::project::{self, schema};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Cases per property when `PROPTEST_CASES` is not set: the three properties run in a few
/// seconds in CI.
const DEFAULT_CASES: u32 = 500;

/// Longest one case may take (read, parse, import and load); far above the milliseconds
/// a case takes, far below what a quadratic or exponential path takes.
const CASE_LIMIT: Duration = Duration::from_secs(10);

fn config() -> Config {
    let mut c = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = DEFAULT_CASES;
    }
    c
}

/// A generated value; floats may be NaN or infinite, which JSON values cannot hold.
#[derive(Debug, Clone)]
enum Gen {
    Null,
    Bool(bool),
    Int(i64),
    Big(u64),
    Float(f64),
    Text(String),
    List(Vec<Gen>),
    Map(Vec<(String, Gen)>),
}

/// Text that tries to break out: line breaks KDL knows, comment ends, quotes, escapes.
fn nasty_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a",
        "0",
        " ",
        "\n",
        "\r",
        "\r\n",
        "\u{2028}",
        "\u{2029}",
        "\u{85}",
        "\u{b}",
        "\u{c}",
        "*/",
        "/*",
        "//",
        "\"",
        "\\",
        "\\n",
        "\u{202e}",
        "\u{2066}",
        "\u{feff}",
        "\u{0}",
        "\u{1b}[2J",
        "\t",
        "#",
        "{",
        "}",
        ";",
        "=",
        "steps 7",
        "n-batches 3",
        "nan",
        "inf",
        "random_seed",
        ":5",
        "[12]*1000",
        "0: (1)",
        "60%",
        "é",
        "🌊",
    ]);
    prop::collection::vec(pieces, 0..8).prop_map(|v| v.concat())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![nasty_text(), any::<String>()]
}

fn gen_value() -> impl Strategy<Value = Gen> {
    let leaf = prop_oneof![
        Just(Gen::Null),
        any::<bool>().prop_map(Gen::Bool),
        any::<i64>().prop_map(Gen::Int),
        (0u64..3000).prop_map(Gen::Big),
        any::<u64>().prop_map(Gen::Big),
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(1e308),
            Just(-0.0),
            any::<f64>(),
            (0.0f64..1.0),
        ]
        .prop_map(Gen::Float),
        any_text().prop_map(Gen::Text),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Gen::List),
            prop::collection::vec((any_text(), inner), 0..6).prop_map(Gen::Map),
        ]
    })
}

/// DD's key names: every setting's, the unsupported features', and those the importer
/// treats specially.
fn dd_keys() -> Vec<String> {
    let mut keys: Vec<String> = schema::SCHEMA
        .iter()
        .filter(|s| !s.dd_name.is_empty())
        .map(|s| s.dd_name.to_owned())
        .collect();
    keys.extend(schema::UNSUPPORTED.iter().map(|(k, _)| (*k).to_owned()));
    for k in [
        "width",
        "height",
        "set_seed",
        "ViTL14_336",
        "batchNum",
        "side_x",
        "modifiers",
        "target_image",
    ] {
        keys.push(k.to_owned());
    }
    keys
}

fn settings() -> impl Strategy<Value = Vec<(String, Gen)>> {
    let key = prop_oneof![
        4 => prop::sample::select(dd_keys()),
        1 => any_text(),
    ];
    prop::collection::vec((key, gen_value()), 0..24)
}

/// JSON as Python's `json.dump` writes it (bare `NaN`, `Infinity`).
fn json(g: &Gen, out: &mut String) {
    match g {
        Gen::Null => out.push_str("null"),
        Gen::Bool(b) => write!(out, "{b}").unwrap(),
        Gen::Int(i) => write!(out, "{i}").unwrap(),
        Gen::Big(u) => write!(out, "{u}").unwrap(),
        Gen::Float(x) if x.is_nan() => out.push_str("NaN"),
        Gen::Float(x) if x.is_infinite() => {
            out.push_str(if *x > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Gen::Float(x) => write!(out, "{x:?}").unwrap(),
        Gen::Text(s) => out.push_str(&serde_json::to_string(s).unwrap()),
        Gen::List(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json(v, out);
            }
            out.push(']');
        }
        Gen::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push_str(": ");
                json(v, out);
            }
            out.push('}');
        }
    }
}

/// YAML: a block mapping of flow values (YAML's `.nan`, `.inf`).
fn yaml(entries: &[(String, Gen)]) -> String {
    fn flow(g: &Gen, out: &mut String) {
        match g {
            Gen::Float(x) if x.is_nan() => out.push_str(".nan"),
            Gen::Float(x) if x.is_infinite() => {
                out.push_str(if *x > 0.0 { ".inf" } else { "-.inf" })
            }
            Gen::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    flow(v, out);
                }
                out.push(']');
            }
            Gen::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push_str(": ");
                    flow(v, out);
                }
                out.push('}');
            }
            other => json(other, out),
        }
    }
    let mut out = String::new();
    for (k, v) in entries {
        out.push_str(&serde_json::to_string(k).unwrap());
        out.push_str(": ");
        flow(v, &mut out);
        out.push('\n');
    }
    out
}

/// Imports `bytes` as the file `name` on a worker thread; panics (failing the case) if it
/// takes longer than [`CASE_LIMIT`].
fn import_within_limit(dir: &Path, name: &str, bytes: &[u8]) -> Option<Imported> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let (tx, rx) = mpsc::channel();
    let p = path.clone();
    std::thread::spawn(move || {
        let _ = tx.send(import::import_file(&p));
    });
    match rx.recv_timeout(CASE_LIMIT) {
        Ok(Ok(imported)) => Some(imported),
        Ok(Err(e)) => {
            let msg = e.to_string();
            assert!(
                !msg.contains(['\n', '\r', '\u{2028}', '\u{1b}']),
                "an error message carries a raw line break or escape: {msg:?}"
            );
            None
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("import took more than {CASE_LIMIT:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("import panicked"),
    }
}

/// What an import writes holds exactly the settings it reports, and loads or fails with
/// located diagnostics.
fn check_written(dir: &Path, imported: &Imported) {
    let doc = kdl::KdlDocument::parse_v2(&imported.kdl)
        .unwrap_or_else(|e| panic!("written project does not parse: {e:?}\n{}", imported.kdl));
    let mut nodes: Vec<&str> = doc.nodes().iter().map(|n| n.name().value()).collect();
    let mut said: Vec<&str> = imported.imported.iter().map(|(_, s)| *s).collect();
    if nodes.contains(&"batch-name") && !said.contains(&"batch-name") {
        said.push("batch-name"); // taken from the file name
    }
    nodes.sort_unstable();
    said.sort_unstable();
    assert_eq!(
        nodes, said,
        "nodes differ from what was imported:\n{}",
        imported.kdl
    );
    let out = dir.join("disco.kdl");
    let loaded = project::load_str(&out, &imported.kdl);
    // The loader agrees: a setting was written exactly when the importer says so.
    if let Some(target) = loaded.project.as_ref().and_then(|p| p.targets.first()) {
        for info in schema::SCHEMA.iter() {
            let written = target.settings.origin(info.name).is_some();
            assert_eq!(
                written,
                said.contains(&info.name),
                "{}: written {written}\n{}",
                info.name,
                imported.kdl
            );
        }
    }
    if loaded.project.is_none() {
        for d in loaded.diagnostics.0.iter().filter(|d| d.is_error()) {
            let too_large = d.to_string().contains("such files are limited to");
            assert!(
                d.location().is_some() || too_large,
                "unlocated error {d:?} for:\n{}",
                imported.kdl
            );
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic_or_hang(
        bytes in prop::collection::vec(any::<u8>(), 0..1024),
        ext in prop::sample::select(vec!["json", "yaml", "txt"]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        if let Some(imported) = import_within_limit(dir.path(), &format!("s.{ext}"), &bytes) {
            check_written(dir.path(), &imported);
        }
    }

    #[test]
    fn dd_settings_with_random_values_import_safely(
        entries in settings(),
        as_yaml in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (name, text) = if as_yaml {
            ("job.yaml", yaml(&entries))
        } else {
            let mut t = String::new();
            json(&Gen::Map(entries), &mut t);
            ("TimeToDisco(0)_settings.txt", t)
        };
        if let Some(imported) = import_within_limit(dir.path(), name, text.as_bytes()) {
            check_written(dir.path(), &imported);
        }
    }

    /// Keys and values that try to break out of their comment or string never add a node.
    #[test]
    fn keys_and_values_never_become_nodes(
        keys in prop::collection::vec(nasty_text(), 1..8),
        values in prop::collection::vec(nasty_text(), 1..8),
        prompt in nasty_text(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut m = serde_json::Map::new();
        for (k, v) in keys.iter().zip(values.iter().cycle()) {
            m.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        m.insert("batch_name".into(), values[0].clone().into());
        m.insert("text_prompts".into(), serde_json::json!({"0": [prompt]}));
        let text = serde_json::to_string(&m).unwrap();
        let imported = import_within_limit(dir.path(), "s.json", text.as_bytes())
            .expect("a JSON mapping imports");
        check_written(dir.path(), &imported);
    }
}
