//! Records: what the store knows about each cached image (`objects/<aa>/<key>.json`), and
//! the shared-inputs files records point at (`inputs/<digest>.json`).
//!
//! Format `disco-record/1`, pretty JSON, read whole:
//! `key`, `common` (digest of the shared inputs, kept in `inputs/<digest>.json`), `frame`
//! (the job's own inputs), `image` (blake3 and size of the PNG), `partials` (iterations j
//! with an intermediate save), `seconds`, `steps`, `losses` (of the last guided step),
//! `device`, `tool` (disco's version), `finished` (Unix seconds), `target` (the label of
//! the target that made it; optional).

use serde::{Deserialize, Serialize};

use super::Key;

/// The record format tag.
pub const RECORD_FORMAT: &str = "disco-record/1";
/// The shared-inputs format tag.
pub const INPUTS_FORMAT: &str = "disco-inputs/1";

/// Size and hash of a stored file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// blake3, hex.
    pub blake3: String,
    /// Bytes.
    pub bytes: u64,
}

/// Now, in whole seconds since the Unix epoch: a record's `finished` time.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One cached job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// [`RECORD_FORMAT`].
    pub format: String,
    /// The job's key.
    pub key: Key,
    /// Digest of the target's shared inputs.
    pub common: Key,
    /// The job's own inputs, as the planner serialised them (the store does not read
    /// them; `serde_json`'s `preserve_order` keeps their field order on the way through).
    pub frame: serde_json::Value,
    /// The final image.
    pub image: ObjectInfo,
    /// Iterations j with an intermediate save.
    pub partials: Vec<u32>,
    /// Render time in seconds (this run's share if it resumed from a checkpoint).
    pub seconds: f64,
    /// Sampler steps run.
    pub steps: u32,
    /// Loss terms of the last guided step.
    pub losses: serde_json::Value,
    /// Where it ran (`cpu`, `cuda:0`).
    pub device: String,
    /// disco's version.
    pub tool: String,
    /// When it finished (Unix seconds).
    pub finished: u64,
    /// The label of the target that made it (`name` or `name[cell]`), so `disco gc
    /// TARGET` can tell its objects; absent in records of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A record from bytes; `None` if unreadable, of another format, or for another key.
pub fn parse_record(bytes: &[u8], key: &Key) -> Option<Record> {
    let r: Record = serde_json::from_slice(bytes).ok()?;
    (r.format == RECORD_FORMAT && &r.key == key).then_some(r)
}

/// The shared-inputs file of `inputs` (serialised by the planner, opaque to the store).
pub fn inputs_bytes(inputs: &impl Serialize) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec_pretty(&serde_json::json!({"format": INPUTS_FORMAT, "inputs": inputs}))
}

/// Shared inputs from bytes, as JSON; `None` if unreadable or of another format.
pub fn parse_inputs(bytes: &[u8]) -> Option<serde_json::Value> {
    #[derive(Deserialize)]
    struct Doc {
        format: String,
        inputs: serde_json::Value,
    }
    let d: Doc = serde_json::from_slice(bytes).ok()?;
    (d.format == INPUTS_FORMAT).then_some(d.inputs)
}
