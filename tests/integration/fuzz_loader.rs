//! Property tests of the project loader on hostile text: arbitrary strings, strings made of
//! KDL's structural tokens, and grammar-shaped projects built from the real setting names
//! with random values, nesting, targets, sweeps, keyframes and include graphs.
//!
//! Each case must end within `fuzz_support::LIMIT` (it runs on its own thread), never
//! panic, and answer either a project or error diagnostics. A project that loads must also
//! plan (with faked files and models): whatever planning can refuse, `check` must have
//! refused already (`fuzz_support::loads_or_explains`).
//!
//! Case counts are small so the whole module takes well under a minute; run longer with
//! `PROPTEST_CASES=5000 cargo test --test integration fuzz_loader` (the variable overrides
//! every property's count). `FUZZ_STATS=1` (with `--nocapture`) prints whether each case
//! loaded or its first error, to see what the generators reach.

use std::path::PathBuf;

use disco::project::{self, SCHEMA};
use proptest::prelude::*;

use crate::fuzz_support::{config, load_text, loads_or_explains, within};

// ---- arbitrary and token-soup text ----

/// Pieces that mean something to a KDL lexer, so random strings reach deep into it.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("\"".to_owned()),
        Just("\"\"\"".to_owned()),
        Just("#\"".to_owned()),
        Just("\"#".to_owned()),
        Just("/*".to_owned()),
        Just("*/".to_owned()),
        Just("//".to_owned()),
        Just("/-".to_owned()),
        Just("\\".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\u{2028}".to_owned()),
        Just("\u{feff}".to_owned()),
        Just("é🦀".to_owned()),
        Just(" ".to_owned()),
        Just(";".to_owned()),
        Just("=".to_owned()),
        Just("(t)".to_owned()),
        Just("#true".to_owned()),
        Just("#null".to_owned()),
        Just("-".to_owned()),
        Just("include".to_owned()),
        Just("stills".to_owned()),
        Just("sweep".to_owned()),
        Just("axis".to_owned()),
        Just("steps".to_owned()),
        "[a-z]{1,8}",
        Just("340282366920938463463374607431768211457".to_owned()),
        "-?[0-9]{1,25}(\\.[0-9]{1,5})?(e[0-9]{1,3})?",
    ]
}

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 0..300).prop_map(|v| v.concat())
}

// ---- grammar-shaped projects ----

fn setting_name() -> impl Strategy<Value = String> {
    let names: Vec<String> = SCHEMA.iter().map(|s| s.name.to_owned()).collect();
    prop_oneof![
        9 => prop::sample::select(names),
        1 => prop::sample::select(vec!["clip-models".to_owned(), "set_seed".to_owned(), "steps_".to_owned()]),
    ]
}

/// A KDL value as written: numbers of every size, DD strings, keywords.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0i64..400).prop_map(|i| i.to_string()),
        1 => any::<i64>().prop_map(|i| i.to_string()),
        1 => prop::sample::select(vec![0.0, 0.5, 1.0, -1.0, 1e-9, 1e30, 1e308, 12345.678]).prop_map(|f| format!("{f:?}")),
        2 => prop::sample::select(vec![
            "\"[12]*400+[4]*600\"", "\"[1e30]*1000\"", "\"[1]*1000000000\"", "\"[0]*1000\"",
            "\"60%\"", "\"100%\"", "\"0: (1), 10: (1.05)\"", "\"0:(0)\"", "\"4294967295: (1)\"",
            "\"ddim50\"", "\"a/b\"", "\"a?b\"", "\"../x\"", "\"\"", "\".\"", "\"report.html\"",
            "\"ViT-B/32\"", "\"RN50\"", "\"2D\"", "\"None\"", "\"random\"", "\"ddim\"", "\"plms\"",
            "\"256x256_diffusion_uncond\"", "\"init.png\"", "\"a lighthouse:2\"", "\"sky:-2\"",
        ]).prop_map(str::to_owned),
        1 => "[a-z/?*:. ]{0,12}".prop_map(|s| format!("{s:?}")),
        1 => Just(format!("\"{}\"", "x".repeat(300))),
        1 => prop::sample::select(vec!["#true", "#false", "#null", "#inf", "#nan"]).prop_map(str::to_owned),
    ]
}

/// A setting with a value that is usually valid: its default as KDL, or a number drawn
/// around its limits (in range, at the edges, or far past them).
fn plausible_setting() -> impl Strategy<Value = String> {
    let infos: Vec<usize> = (0..SCHEMA.len()).collect();
    (prop::sample::select(infos), 0u8..10, any::<f64>(), 0u32..4).prop_map(|(i, pick, r, edge)| {
        let info = &SCHEMA[i];
        let default = project::Settings::kdl_from_json(info.name, &info.default)
            .and_then(Result::ok)
            .unwrap_or_else(|| "#null".into());
        let numeric = info.default.is_number();
        if pick < 6 || !numeric {
            return format!("{} {default}", info.name);
        }
        let lo = info
            .min
            .or(info.above)
            .or(info.advised.map(|a| a.0))
            .unwrap_or(0.0);
        let hi = info
            .max
            .or(info.advised.map(|a| a.1))
            .unwrap_or(lo + 1000.0);
        let x = match edge {
            0 => lo,
            1 => hi,
            2 => hi * 1000.0 + 1.0,
            _ => lo + (hi - lo) * (r.abs().fract()),
        };
        let integer = info.default.is_u64() || info.default.is_i64();
        if integer {
            format!("{} {}", info.name, x.round().clamp(0.0, 1e15) as u64)
        } else {
            format!("{} {x:?}", info.name)
        }
    })
}

fn setting_line() -> impl Strategy<Value = String> {
    prop_oneof![8 => plausible_setting(), 1 => wild_setting()]
}

/// Any setting name with any values.
fn wild_setting() -> impl Strategy<Value = String> {
    (setting_name(), prop::collection::vec(value(), 0..4)).prop_map(|(n, vs)| {
        let mut s = n;
        for v in vs {
            s.push(' ');
            s.push_str(&v);
        }
        s
    })
}

/// Settings with their own block syntax: prompts, schedules, keyframes, saves.
fn block_setting() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..3000, value(), value()).prop_map(|(f, a, b)| format!(
            "text-prompts {{\n    frame {f} {a}\n    frame 0 {{\n        - {b} weight=2\n    }}\n}}"
        )),
        (value(), value()).prop_map(|(a, n)| format!("cut-overview {{\n    - {a} count={n}\n}}")),
        (value(), value()).prop_map(|(f, v)| format!("angle {{ key {f} {v}; key 0 1; }}")),
        prop::collection::vec(value(), 0..4)
            .prop_map(|vs| format!("intermediate-saves {{ at {} }}", vs.join(" "))),
        prop::collection::vec(value(), 0..3).prop_map(|vs| format!("clip-models {}", vs.join(" "))),
    ]
}

fn body() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop_oneof![8 => setting_line(), 1 => block_setting()], 0..6)
}

/// Values an axis sweeps: mostly small numbers and plain strings, some hostile.
fn axis_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u32..300).prop_map(|i| i.to_string()),
        2 => prop::sample::select(vec!["0.5", "1.5", "\"a/b\"", "\"a?b\"", "\"ddim\"", "#true", "#false", "\"60%\""])
            .prop_map(str::to_owned),
        1 => value(),
    ]
}

fn target() -> impl Strategy<Value = String> {
    let axis = (setting_name(), prop::collection::vec(axis_value(), 0..5))
        .prop_map(|(n, vs)| format!("axis \"{n}\" {}", vs.join(" ")));
    (
        prop::sample::select(vec!["stills", "animation", "sweep"]),
        prop::sample::select(vec!["a", "b", "a/b", "a?b", "x"]),
        body(),
        prop::collection::vec(axis, 1..3),
    )
        .prop_map(|(kind, name, lines, mut axes)| {
            if kind != "sweep" {
                axes.clear();
            }
            let mut s = format!("{kind} \"{name}\" {{\n");
            for l in lines.iter().chain(&axes) {
                s.push_str("    ");
                s.push_str(l);
                s.push('\n');
            }
            s.push('}');
            s
        })
}

/// A project file: top-level settings and targets, with `include`s of files `f0`…`f4`
/// when `includes` (the include test writes `f0`…`f3`, so `f4` is missing).
fn project_file(includes: bool) -> impl Strategy<Value = String> {
    let include = (0usize..5).prop_map(|i| format!("include \"f{i}.kdl\""));
    prop::collection::vec(
        prop_oneof![
            8 => setting_line(),
            1 => block_setting(),
            3 => target(),
            if includes { 2 } else { 0 } => include,
        ],
        0..10,
    )
    .prop_map(|lines| lines.join("\n") + "\n")
}

/// Settings whose string values have a grammar of their own (DD schedules, keyframes,
/// percentages, weighted prompts), given strings of that grammar's characters.
fn dd_string_setting() -> impl Strategy<Value = String> {
    let names = vec![
        "cut-overview",
        "cut-innercut",
        "cut-ic-pow",
        "cut-icgray-p",
        "angle",
        "zoom",
        "translation-x",
        "frames-skip-steps",
        "transformation-percent",
        "text-prompts",
    ];
    (prop::sample::select(names), "[\\[\\]()*+,:%0-9. e-]{0,60}")
        .prop_map(|(n, v)| format!("{n} {v:?}"))
}

/// Projects that are mostly valid, with several targets sharing batch names and sweeps
/// whose values collide once unsafe characters are replaced: what `check` must catch
/// before planning does.
fn targets_project() -> impl Strategy<Value = String> {
    let batch = prop::sample::select(vec!["", "p", "q", "a_b", "x(0)_1.png"]);
    let axis = prop_oneof![
        prop::collection::btree_set(1u32..6, 1..4).prop_map(|v| format!(
            "axis \"seed\" {}",
            v.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
        )),
        prop::collection::btree_set(
            prop::sample::select(vec!["a/b", "a?b", "a_b", "c", "d d"]),
            1..4
        )
        .prop_map(|v| format!(
            "axis \"text-prompts\" {}",
            v.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(" ")
        )),
        prop::collection::btree_set(20u32..60, 1..3).prop_map(|v| format!(
            "axis \"steps\" {}",
            v.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
        )),
    ];
    let target = (
        prop::sample::select(vec!["stills", "animation", "sweep"]),
        prop::sample::select(vec!["s1", "s2", "a/b", "a?b", "x"]),
        batch,
        prop::collection::vec(plausible_setting(), 0..3),
        prop::collection::vec(axis, 1..3),
    )
        .prop_map(|(kind, name, batch, lines, axes)| {
            let mut s = format!("{kind} \"{name}\" {{\n    n-batches 2\n    max-frames 3\n");
            if !batch.is_empty() {
                s.push_str(&format!("    batch-name {batch:?}\n"));
            }
            for l in &lines {
                s.push_str(&format!("    {l}\n"));
            }
            if kind == "sweep" {
                for a in &axes {
                    s.push_str(&format!("    {a}\n"));
                }
            }
            s + "}\n"
        });
    (
        prop::collection::vec(plausible_setting(), 0..4),
        prop::collection::vec(target, 1..4),
    )
        .prop_map(|(top, targets)| top.join("\n") + "\n" + &targets.concat())
}

/// Nests `text` `depth` blocks deep inside a node, to probe the depth limit from both sides
/// (and far past it, where the parser's stack overflowed and aborted the process).
fn nested(depth: usize, text: &str) -> String {
    "wrap {\n".repeat(depth) + text + &"}\n".repeat(depth)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_text_loads_or_explains(text in any::<String>()) {
        loads_or_explains(&load_text(text))?;
    }

    #[test]
    fn token_soup_loads_or_explains(text in token_soup()) {
        loads_or_explains(&load_text(text))?;
    }

    #[test]
    fn token_soup_nested_near_the_depth_limit_loads_or_explains(
        text in token_soup(),
        depth in prop_oneof![55usize..75, 300usize..600],
    ) {
        loads_or_explains(&load_text(nested(depth, &text)))?;
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn grammar_shaped_projects_load_or_explain(text in project_file(false)) {
        loads_or_explains(&load_text(text))?;
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn dd_strings_load_or_explain(lines in prop::collection::vec(dd_string_setting(), 1..4)) {
        loads_or_explains(&load_text(lines.join("\n")))?;
    }

    #[test]
    fn multi_target_projects_load_or_explain_and_plan_when_valid(text in targets_project()) {
        loads_or_explains(&load_text(text))?;
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Include graphs: four files including each other (and themselves, and missing files)
    /// at random.
    #[test]
    fn include_graphs_load_or_explain(
        main in project_file(true),
        parts in prop::collection::vec(project_file(true), 4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        for (i, text) in parts.iter().enumerate() {
            std::fs::write(dir.path().join(format!("f{i}.kdl")), text).unwrap();
        }
        let path = dir.path().join("disco.kdl");
        std::fs::write(&path, main).unwrap();
        let r = within("load", move || project::load(&path));
        loads_or_explains(&r)?;
    }
}

proptest! {
    #![proptest_config(config(8))]

    /// The CLI on grammar-shaped projects: exit 0 or 2, never a panic (101) or a signal,
    /// and an invalid project prints only to stderr.
    #[test]
    fn check_cli_exits_0_or_2(text in project_file(true)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("disco.kdl"), &text).unwrap();
        let d: PathBuf = dir.path().to_owned();
        let out = within("disco check", move || crate::support::disco(&d, &["check"]));
        let code = out.status.code();
        prop_assert!(matches!(code, Some(0 | 2)), "exit {:?}\n{}", code, String::from_utf8_lossy(&out.stderr));
        if code == Some(2) {
            prop_assert!(out.stdout.is_empty());
            prop_assert!(!out.stderr.is_empty());
        }
    }
}
