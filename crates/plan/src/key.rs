//! Job keys: blake3 over a canonical, versioned encoding of a job's resolved inputs
//! (DESIGN.md §3). The encoding is the contract with every user's cache.
//!
//! Encoding, version `disco-key/1`:
//! - a value is serialised to JSON with object keys sorted (recursively), no whitespace,
//!   numbers as serde_json writes them (shortest round-trip form: nothing printed lossy);
//! - object fields named `path` are dropped: they label a file for people, its content is
//!   keyed by the `blake3` beside it, so moving an init image does not re-render;
//! - a job's key is `blake3("disco-key/1\n" ‖ common digest (hex) ‖ "\n" ‖ frame encoding)`,
//!   where the common digest is `blake3` of the target's shared inputs' encoding. Shared
//!   inputs (cut schedules, model hashes) are hashed once per target, not once per frame.

use serde::Serialize;
use serde_json::Value;

/// The version tag hashed into every key; bump it when the encoding changes.
pub const KEY_FORMAT: &str = "disco-key/1";

pub use disco_store::{Key, KeyParseError};

/// The key of a job from its target's shared digest and its own inputs. (Planning makes the
/// store's content keys; the store only names objects by them.)
pub fn of_job(common: &Key, frame: &impl Serialize) -> Key {
    let mut h = blake3::Hasher::new();
    h.update(KEY_FORMAT.as_bytes());
    h.update(b"\n");
    h.update(common.to_string().as_bytes());
    h.update(b"\n");
    h.update(&canonical_bytes(frame));
    Key(*h.finalize().as_bytes())
}

/// The key of a skipped turbo frame (dd-algorithm.md §10.4): `blake3("disco-key/1\n" ‖
/// encoding)` of only what its image is computed from, no target's shared inputs, so no
/// sampler setting (the previous frame's key, inside the warp, carries the chain).
pub fn of_skipped(inputs: &super::inputs::SkippedInputs<'_>) -> Key {
    let mut h = blake3::Hasher::new();
    h.update(KEY_FORMAT.as_bytes());
    h.update(b"\n");
    h.update(&canonical_bytes(inputs));
    Key(*h.finalize().as_bytes())
}

/// The digest of a target's shared inputs.
pub fn of_common(common: &impl Serialize) -> Key {
    Key(*blake3::hash(&canonical_bytes(common)).as_bytes())
}

/// The canonical encoding of `value` (see the module docs).
pub fn canonical_bytes(value: &impl Serialize) -> Vec<u8> {
    let v = serde_json::to_value(value).expect("inputs serialise to JSON");
    let mut out = Vec::with_capacity(256);
    write_canonical(&v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> =
                map.iter().filter(|(k, _)| k.as_str() != "path").collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encoding_sorts_fields_and_drops_paths() {
        let a = json!({"b": 1, "a": {"path": "x.png", "blake3": "ff", "z": [1.5, 0.1]}});
        assert_eq!(
            String::from_utf8(canonical_bytes(&a)).unwrap(),
            r#"{"a":{"blake3":"ff","z":[1.5,0.1]},"b":1}"#
        );
    }

    #[test]
    fn floats_keep_every_bit() {
        // 0.1 + 0.2 = 0.30000000000000004: a lossy print would merge it with 0.3
        let a = of_common(&json!({"x": 0.1 + 0.2}));
        let b = of_common(&json!({"x": 0.3}));
        assert_ne!(a, b);
    }

    #[test]
    fn key_round_trips_through_text() {
        let k = of_job(&of_common(&json!({"w": 64})), &json!({"seed": 1}));
        assert_eq!(k.to_string().parse::<Key>().unwrap(), k);
        assert!("xyz".parse::<Key>().is_err());
    }

    // The encoding is a contract with every user's cache: these values must not move
    // without a change of KEY_FORMAT. Real inputs, so a field added to (or renamed in) the
    // structs shows here; tests/integration/key_golden.rs snapshots planned projects.
    #[test]
    fn golden_key() {
        let (common, frames) = crate::inputs::sample();
        let digest = of_common(&common);
        let mut out = String::from_utf8(canonical_bytes(&common)).unwrap();
        for frame in &frames {
            out.push('\n');
            out.push_str(std::str::from_utf8(&canonical_bytes(frame)).unwrap());
            out.push_str(&format!("\n{}", of_job(&digest, frame)));
        }
        insta::assert_snapshot!(out);
    }

    /// The encoding of hand-written JSON, kept from before the inputs were typed: the
    /// hashing itself has not moved.
    #[test]
    fn golden_key_of_plain_json() {
        let common = of_common(&json!({"width": 64, "steps": 10}));
        let k = of_job(
            &common,
            &json!({"seed": 7, "prompts": [{"text": "a", "weight": 1.0}]}),
        );
        assert_eq!(
            k.to_string(),
            "b515ca816b58a82262eb0e778f66167b018ea4adbff6e040a5caaef5f6f67fbc"
        );
    }
}
