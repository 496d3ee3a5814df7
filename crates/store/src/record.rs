//! Records: what the store knows about each cached image (`objects/<aa>/<key>.json`), and
//! the shared-inputs files records point at (`inputs/<digest>.json`).
//!
//! Format `disco-record/1`, pretty JSON, read whole:
//! `key`, `common` (digest of the shared inputs, kept in `inputs/<digest>.json`), `frame`
//! (the job's own inputs), `image` (blake3 and size of the PNG), `partials` (iterations j
//! with an intermediate save), `seconds`, `steps`, `losses` (of the last guided step),
//! `device`, `tool` (disco's version), `finished` (Unix seconds), `target` (the label of
//! the target that made it; optional), `aux` (a 3D turbo job's second images by name,
//! `next` and `old`, with the blake3 and size of each; absent when it has none and in
//! records of older versions, which read as records without second images).
//!
//! A VR eye view has no record; the shared cache carries it with a [`ViewRecord`]
//! (`disco-view/1`: its key, the blake3 and size of its PNG), which never enters a store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Key;
use super::objects::Aux;

/// The record format tag.
pub const RECORD_FORMAT: &str = "disco-record/1";
/// The format tag of an eye view's record in the shared cache.
pub const VIEW_FORMAT: &str = "disco-view/1";
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
    /// A 3D turbo job's second images ([`Aux::Next`], [`Aux::Old`]) by [`Aux::name`], each
    /// stored before the record; empty for other jobs and in records of older versions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux: BTreeMap<String, ObjectInfo>,
}

impl Record {
    /// The second images the record names, or `None` if it names one a job cannot have
    /// (an unknown name, or an eye view's).
    pub fn aux_images(&self) -> Option<Vec<(Aux, &ObjectInfo)>> {
        self.aux
            .iter()
            .map(|(name, info)| match Aux::from_name(name)? {
                Aux::Eye => None,
                a => Some((a, info)),
            })
            .collect()
    }
}

impl ObjectInfo {
    /// The blake3 and size of `bytes`.
    pub fn of(bytes: &[u8]) -> ObjectInfo {
        ObjectInfo {
            blake3: blake3::hash(bytes).to_hex().to_string(),
            bytes: bytes.len() as u64,
        }
    }

    /// Whether `bytes` are what this names.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.bytes && blake3::hash(bytes).to_hex().as_str() == self.blake3
    }
}

/// What the shared cache holds beside an eye view's image (a view has no [`Record`]): the
/// view's key and its image's hash, so a reader can tell the image it is served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewRecord {
    /// [`VIEW_FORMAT`].
    pub format: String,
    /// The view's key.
    pub key: Key,
    /// Its image.
    pub image: ObjectInfo,
}

impl ViewRecord {
    /// The record of view `key` whose image is `png`.
    pub fn of(key: Key, png: &[u8]) -> ViewRecord {
        ViewRecord {
            format: VIEW_FORMAT.into(),
            key,
            image: ObjectInfo::of(png),
        }
    }

    /// Its bytes (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a view record serialises")
    }
}

/// A view record from bytes; `None` if unreadable, of another format, or for another key.
pub fn parse_view_record(bytes: &[u8], key: &Key) -> Option<ViewRecord> {
    let r: ViewRecord = serde_json::from_slice(bytes).ok()?;
    (r.format == VIEW_FORMAT && &r.key == key).then_some(r)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_of_an_older_version_reads_with_no_second_images_and_writes_back_the_same() {
        let key = Key([1; 32]);
        let old = format!(
            r#"{{"format":"disco-record/1","key":"{key}","common":"{key}","frame":null,"image":{{"blake3":"ab","bytes":2}},"partials":[],"seconds":0.0,"steps":1,"losses":null,"device":"cpu","tool":"0.1","finished":0}}"#
        );
        let r = parse_record(old.as_bytes(), &key).unwrap();
        assert!(r.aux.is_empty());
        assert_eq!(r.aux_images().unwrap(), Vec::new());
        assert_eq!(serde_json::to_string(&r).unwrap(), old);
    }

    #[test]
    fn a_record_naming_an_eye_view_or_an_unknown_second_image_names_none() {
        let key = Key([2; 32]);
        let mut r = Record {
            format: RECORD_FORMAT.into(),
            key,
            common: key,
            frame: serde_json::Value::Null,
            image: ObjectInfo::of(b"png"),
            partials: Vec::new(),
            seconds: 0.0,
            steps: 1,
            losses: serde_json::Value::Null,
            device: "cpu".into(),
            tool: "t".into(),
            finished: 0,
            target: None,
            aux: BTreeMap::from([("next".into(), ObjectInfo::of(b"n"))]),
        };
        assert_eq!(r.aux_images().unwrap()[0].0, Aux::Next);
        r.aux.insert("eye".into(), ObjectInfo::of(b"e"));
        assert_eq!(r.aux_images(), None);
        r.aux.remove("eye");
        r.aux.insert("side".into(), ObjectInfo::of(b"s"));
        assert_eq!(r.aux_images(), None);
    }

    #[test]
    fn object_info_matches_its_bytes_only() {
        let info = ObjectInfo::of(b"pixels");
        assert!(info.matches(b"pixels"));
        assert!(!info.matches(b"pixelz"));
        assert!(!ObjectInfo { bytes: 7, ..info }.matches(b"pixels"));
    }
}
