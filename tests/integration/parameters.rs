//! Every parameter of the user's reference (`parameters.md`) exists in the schema and in
//! docs/project-format.md, with the reference's default, range and options.
//!
//! The reference lives in `../shared/parameters.md`; a copy is committed as
//! tests/fixtures/parameters.md so the test runs anywhere, and the two must agree.

use disco::project::schema::{self, CLIP_MODELS};
use disco::project::types::{ChoiceSetting, DiffusionModel};
use disco::render::sampler::SamplerKind;
use serde_json::Value;

use crate::support::root;

struct Param {
    name: String,
    default: Option<String>,
    range: Option<(f64, f64)>,
    options: Vec<String>,
}

fn reference() -> String {
    let fixture = std::fs::read_to_string(root().join("tests/fixtures/parameters.md")).unwrap();
    if let Ok(shared) = std::fs::read_to_string(root().join("../shared/parameters.md")) {
        assert_eq!(
            shared, fixture,
            "tests/fixtures/parameters.md is out of date: copy ../shared/parameters.md over it"
        );
    }
    fixture
}

fn parse(md: &str) -> Vec<Param> {
    let mut out: Vec<Param> = Vec::new();
    let mut in_options = false;
    let mut in_json = None::<String>;
    for line in md.lines() {
        if let Some(json) = in_json.as_mut() {
            if line.trim() == "```" {
                out.last_mut().unwrap().default = Some(std::mem::take(json));
                in_json = None;
            } else {
                json.push_str(line);
            }
            continue;
        }
        let t = line.trim();
        if let Some(name) = t.strip_prefix("## `").and_then(|s| s.strip_suffix('`')) {
            out.push(Param {
                name: name.to_owned(),
                default: None,
                range: None,
                options: Vec::new(),
            });
            in_options = false;
        } else if let Some(v) = t.strip_prefix("**Default value:**") {
            let v = v.trim().trim_matches('`').to_owned();
            if !v.is_empty() {
                out.last_mut().unwrap().default = Some(v);
            }
        } else if t == "```json" && out.last().is_some_and(|p| p.default.is_none()) {
            in_json = Some(String::new());
        } else if let Some(v) = t.strip_prefix("**Valid Range:**") {
            let v = v.trim().trim_matches('`');
            let (lo, hi) = v.split_once('-').unwrap();
            out.last_mut().unwrap().range = Some((lo.parse().unwrap(), hi.parse().unwrap()));
        } else if t.starts_with("**Valid Options:**") {
            in_options = true;
        } else if in_options && t.starts_with("- `") {
            out.last_mut()
                .unwrap()
                .options
                .push(t.trim_start_matches("- ").trim_matches('`').to_owned());
        } else if t.starts_with("| `") {
            // the CLIP model table: | `ViTB32` | `true` |
            let cells: Vec<&str> = t
                .split('|')
                .map(|c| c.trim().trim_matches('`'))
                .filter(|c| !c.is_empty())
                .collect();
            if let [name, default] = cells.as_slice() {
                out.push(Param {
                    name: (*name).to_owned(),
                    default: Some((*default).to_owned()),
                    range: None,
                    options: Vec::new(),
                });
            }
        }
    }
    out
}

fn as_json(s: &str) -> Value {
    match s {
        "None" => Value::Null,
        _ => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned())),
    }
}

#[test]
fn every_reference_parameter_is_in_the_schema_with_its_default_range_and_options() {
    let params = parse(&reference());
    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    assert!(names.len() >= 30, "parsed too few parameters: {names:?}");
    let docs = std::fs::read_to_string(root().join("docs/project-format.md")).unwrap();
    let mut missing = Vec::new();
    for p in &params {
        if p.name == "CLIP Model selectors" {
            continue; // the table rows after it are checked one by one
        }
        // parameters.md documents the sampler under `sampling_mode`, which is the 3D
        // interpolation in DD's code (dd-algorithm.md §14): disco accepts the sampler values
        // there as an alias of `diffusion-sampling-mode`, so the sampler is what we check.
        let dd = if p.name == "sampling_mode" {
            "diffusion_sampling_mode"
        } else {
            p.name.as_str()
        };
        let Some(info) = schema::by_dd_name(dd) else {
            missing.push(format!("{}: not in the schema", p.name));
            continue;
        };
        if !docs.contains(&format!("`{}`", info.name)) || !docs.contains(&format!("`{}`", p.name)) {
            missing.push(format!(
                "{}: not in docs/project-format.md (as `{}` and `{}`)",
                p.name, info.name, p.name
            ));
        }
        if let Some(d) = &p.default {
            let want = as_json(d);
            let have = &info.default;
            let same = match (&want, have) {
                (Value::Null, Value::Object(m)) => m.is_empty(),
                (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
                (a, b) => a == b,
            };
            if !same {
                missing.push(format!(
                    "{}: default {want} in the reference, {have} in the schema",
                    p.name
                ));
            }
        }
        if let Some(r) = p.range
            && info.advised != Some(r)
        {
            missing.push(format!(
                "{}: range {r:?} in the reference, {:?} in the schema",
                p.name, info.advised
            ));
        }
        for o in &p.options {
            let accepted = match info.name {
                "diffusion-model" => DiffusionModel::parse(o).is_ok(),
                "diffusion-sampling-mode" => SamplerKind::parse(o).is_ok(),
                _ => false,
            };
            if !accepted {
                missing.push(format!("{}: option {o} is not accepted", p.name));
            }
        }
    }
    for (flag, default) in params
        .iter()
        .filter_map(|p| p.default.as_ref().map(|d| (p.name.as_str(), d)))
    {
        if let Some((name, _, _)) = CLIP_MODELS.iter().find(|(_, dd, _)| *dd == flag) {
            let info = schema::info(name).unwrap();
            if info.default != as_json(default) {
                missing.push(format!(
                    "{flag}: default {default} in the reference, {} in the schema",
                    info.default
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "parameters.md disagrees with disco:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_reference_parser_sees_every_heading() {
    // guards the test above against silently parsing nothing
    let params = parse(&reference());
    for n in [
        "text_prompts",
        "width_height",
        "clip_guidance_scale",
        "cutn_batches",
        "ViTB32",
        "RN50x64",
        "intermediates_in_subfolder",
    ] {
        assert!(params.iter().any(|p| p.name == n), "{n} not parsed");
    }
}
