//! Why a job must render: a value, computed by comparing the job's inputs with those of the
//! image its output slot last held (ninja's "explain", DESIGN.md §3). `disco plan` prints
//! it; `disco build` acts on it.

use std::fmt;

use serde_json::Value;

use super::inputs::{CommonInputs, FrameInputs};

/// Why a job renders.
#[derive(Debug, Clone, PartialEq)]
pub enum Staleness {
    /// Nothing was ever built in this output slot.
    NeverBuilt,
    /// The slot's image is known, but its cache object is gone (e.g. `disco gc`, a deleted
    /// `.disco/`).
    ObjectMissing,
    /// Settings or prompts differ from the slot's last image.
    InputsChanged(Vec<Change>),
    /// A model graph's file changed.
    ModelChanged {
        /// The graph's manifest name.
        graph: String,
    },
    /// The renderer or runtime changed (version salt, provider, ONNX Runtime version).
    RendererChanged(Vec<Change>),
    /// Only the previous frame changed: the chain carries an edit forward.
    ChainChanged,
    /// Video Input: the frame's source frame (its decoded pixels) changed.
    SourceChanged,
    /// The image is cached but lacks intermediate saves now asked for.
    PartialsMissing,
    /// A VR eye view whose only difference is the frame it shows (`vr.rs`).
    FrameChanged,
}

/// One input that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Setting name as in the project file (`zoom`, `text-prompts`).
    pub field: String,
    /// Its recorded value, shortened for display.
    pub was: String,
    /// Its value now, shortened for display.
    pub now: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} → {}", self.field, self.was, self.now)
    }
}

impl fmt::Display for Staleness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, cs: &[Change]| {
            let parts: Vec<String> = cs.iter().map(Change::to_string).collect();
            write!(f, "{}", parts.join(", "))
        };
        match self {
            Staleness::NeverBuilt => write!(f, "never built"),
            Staleness::ObjectMissing => write!(f, "cached image missing"),
            Staleness::InputsChanged(cs) => list(f, cs),
            Staleness::ModelChanged { graph } => write!(f, "model {graph} changed"),
            Staleness::RendererChanged(cs) => {
                write!(f, "renderer changed: ")?;
                list(f, cs)
            }
            Staleness::ChainChanged => write!(f, "previous frame changed"),
            Staleness::SourceChanged => write!(f, "source frame changed"),
            Staleness::PartialsMissing => write!(f, "intermediate saves asked for"),
            Staleness::FrameChanged => write!(f, "its frame changed"),
        }
    }
}

impl Staleness {
    /// A short machine-readable tag (`--message-format json`).
    pub fn tag(&self) -> &'static str {
        match self {
            Staleness::NeverBuilt => "never-built",
            Staleness::ObjectMissing => "object-missing",
            Staleness::InputsChanged(_) => "inputs-changed",
            Staleness::ModelChanged { .. } => "model-changed",
            Staleness::RendererChanged(_) => "renderer-changed",
            Staleness::ChainChanged => "chain-changed",
            Staleness::SourceChanged => "source-changed",
            Staleness::PartialsMissing => "partials-missing",
            Staleness::FrameChanged => "frame-changed",
        }
    }
}

/// What differs between the slot's last image (`was`) and the job (`now`).
///
/// The most specific reason wins: a model change, then the renderer, then settings; a
/// frame whose only difference is its previous frame is [`Staleness::ChainChanged`].
pub fn explain(
    was: (&CommonInputs, &FrameInputs),
    now: (&CommonInputs, &FrameInputs),
) -> Staleness {
    let (wc, nc) = (to_value(was.0), to_value(now.0));
    let (wf, nf) = (to_value(was.1), to_value(now.1));
    if wc["models"] != nc["models"] {
        let empty = serde_json::Map::new();
        let (wm, nm) = (
            wc["models"].as_object().unwrap_or(&empty),
            nc["models"].as_object().unwrap_or(&empty),
        );
        let graph = nm
            .iter()
            .find(|(k, v)| wm.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .or_else(|| wm.keys().find(|k| !nm.contains_key(*k)).cloned())
            .unwrap_or_default();
        return Staleness::ModelChanged { graph };
    }
    let runtime: Vec<Change> = ["renderer", "provider", "ort"]
        .iter()
        .filter_map(|k| change(k, &wc[*k], &nc[*k]))
        .collect();
    if !runtime.is_empty() {
        return Staleness::RendererChanged(runtime);
    }
    let mut changes = Vec::new();
    diff_objects("", &wc, &nc, true, &mut changes);
    let (mut wf, mut nf) = (wf, nf);
    // The init: a previous frame differs by its key (the chain) or by its motion.
    let chain = wf["init"]["key"] != nf["init"]["key"];
    // Video Input: the source frame by its pixels (the previous one's shows in the chain)
    let source = wf["init"]["source"] != nf["init"]["source"];
    for side in [&mut wf, &mut nf] {
        if let Some(init) = side.get_mut("init").and_then(Value::as_object_mut) {
            for k in ["key", "source", "prev_source"] {
                init.remove(k);
            }
        }
    }
    diff_objects("", &wf, &nf, true, &mut changes);
    if changes.is_empty() && source {
        return Staleness::SourceChanged;
    }
    if changes.is_empty() && !chain {
        // only float noise differs, yet the key does: show it exactly rather than blame
        // the key format
        diff_objects("", &wc, &nc, false, &mut changes);
        diff_objects("", &wf, &nf, false, &mut changes);
    }
    match (changes.is_empty(), chain) {
        (true, true) => Staleness::ChainChanged,
        // identical inputs under another key: only the key format can explain it
        (true, false) => Staleness::RendererChanged(vec![Change {
            field: "key format".into(),
            was: "older".into(),
            now: super::key::KEY_FORMAT.into(),
        }]),
        (false, _) => Staleness::InputsChanged(changes),
    }
}

fn to_value(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).expect("inputs serialise")
}

/// Field-by-field differences; nested objects (the init, cut schedules) name their parts.
/// `tolerant`: numbers within float noise of each other are the same.
pub(crate) fn diff_objects(
    prefix: &str,
    was: &Value,
    now: &Value,
    tolerant: bool,
    out: &mut Vec<Change>,
) {
    let (Some(w), Some(n)) = (was.as_object(), now.as_object()) else {
        if let Some(c) = change(prefix, was, now) {
            out.push(c);
        }
        return;
    };
    let mut keys: Vec<&String> = w.keys().chain(n.keys()).collect();
    keys.dedup();
    let mut seen = std::collections::HashSet::new();
    for k in keys {
        if !seen.insert(k) || k == "models" {
            continue;
        }
        let (a, b) = (
            w.get(k).unwrap_or(&Value::Null),
            n.get(k).unwrap_or(&Value::Null),
        );
        if a == b || (tolerant && same_number(a, b)) {
            continue;
        }
        let name = field_name(prefix, k);
        if a.is_object() && b.is_object() && a.get("kind") == b.get("kind") {
            diff_objects(&name, a, b, tolerant, out);
        } else if let Some(c) = change(&name, a, b) {
            out.push(c);
        }
    }
}

/// Numbers (or arrays of them) equal to a relative 1e-12: float noise, not an edit. A
/// recorded value is read back exactly (serde_json's `float_roundtrip`); this keeps an
/// ulp of difference from older records or another writer out of the explanation. A key
/// that differs only by such noise is still explained, by [`explain`]'s fallback.
fn same_number(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| a == b || same_number(a, b))
        }
        _ => false,
    }
}

fn field_name(prefix: &str, key: &str) -> String {
    match prefix {
        "" => key.to_owned(),
        // the init's motion and cut schedules read best under their setting names
        "init" => key.to_owned(),
        "cuts" => format!("cut-{key}"),
        p => format!("{p}.{key}"),
    }
}

fn change(field: &str, was: &Value, now: &Value) -> Option<Change> {
    (was != now).then(|| Change {
        field: field.to_owned(),
        was: show(was),
        now: show(now),
    })
}

/// A value for people: numbers and strings as written, prompts as `"text":weight`, long
/// values shortened.
fn show(v: &Value) -> String {
    let s = match v {
        Value::Null => "none".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items)
            if items
                .iter()
                .all(|i| i.get("text").is_some() || i.get("path").is_some()) =>
        {
            let parts: Vec<String> = items
                .iter()
                .map(|i| {
                    let t = i.get("text").or(i.get("path")).and_then(Value::as_str);
                    format!("\"{}\":{}", t.unwrap_or(""), i["weight"])
                })
                .collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(o) if o.contains_key("kind") => {
            let kind = o["kind"].as_str().unwrap_or("");
            match o.get("path").and_then(Value::as_str) {
                Some(p) => format!("{kind} {p}"),
                None => kind.to_owned(),
            }
        }
        other => other.to_string(),
    };
    const MAX: usize = 60;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX - 1).collect();
        format!("{cut}…")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_noise_is_not_a_change() {
        let (a, b) = (
            serde_json::json!(1.4),
            serde_json::json!(1.4000000000000001),
        );
        assert!(same_number(&a, &b));
        assert!(!same_number(&a, &serde_json::json!(1.4000001)));
        let mut out = Vec::new();
        let was = serde_json::json!({"zoom": 1.4, "text": "a"});
        let now = serde_json::json!({"zoom": 1.4000000000000001, "text": "b"});
        diff_objects("", &was, &now, true, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].field, "text");
        out.clear();
        diff_objects("", &was, &now, false, &mut out);
        assert_eq!(out.len(), 2, "exact when asked");
    }

    #[test]
    fn a_recorded_float_reads_back_exactly() {
        // serde_json's default parser is an ulp off for about one value in six
        for i in 0..20_000u32 {
            let x = 1.0 + f64::from(i) / 15_000.0 + 1.0 / 3.0;
            let back: f64 = serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
            assert_eq!(x.to_bits(), back.to_bits(), "{x}");
        }
    }
}
