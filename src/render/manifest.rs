//! Model-set manifests (`manifest.json`, written by `onnx-export`; schema in docs/models.md).
//!
//! Only what `disco doctor` and `disco models` need so far: the graphs, their files and
//! blake3 hashes, and the CLIP models present.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Name of the manifest file at the root of a model set.
pub const MANIFEST: &str = "manifest.json";

/// The part of a manifest the CLI reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// Format tag, `disco-models/1`.
    pub format: String,
    /// Whether this is a tiny random-weight set.
    #[serde(default)]
    pub tiny: bool,
    /// Every graph by name.
    pub graphs: BTreeMap<String, Graph>,
    /// CLIP models by DD flag name.
    #[serde(default)]
    pub clip: BTreeMap<String, serde_json::Value>,
}

/// One ONNX graph of a model set.
#[derive(Debug, Clone, Deserialize)]
pub struct Graph {
    /// File, relative to the model set.
    pub file: PathBuf,
    /// blake3 of the file, hex.
    pub blake3: String,
}

/// Why a model set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// No manifest file.
    #[error("no {MANIFEST} in {0}")]
    Missing(PathBuf),
    /// Unreadable or not the expected JSON.
    #[error("{path}: {reason}")]
    Invalid {
        /// The manifest path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl Manifest {
    /// Reads `<dir>/manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST);
        let text =
            std::fs::read_to_string(&path).map_err(|_| ManifestError::Missing(dir.to_owned()))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| ManifestError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if !m.format.starts_with("disco-models/") {
            return Err(ManifestError::Invalid {
                path,
                reason: format!("unknown format `{}`", m.format),
            });
        }
        Ok(m)
    }
}

/// Result of checking one graph file against its manifest hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphCheck {
    /// The file's blake3 matches.
    Ok,
    /// The file is missing.
    Missing,
    /// The file differs from what was exported.
    Changed {
        /// blake3 found.
        actual: String,
    },
}

/// Hashes every graph of a model set and compares with the manifest.
pub fn verify(dir: &Path, m: &Manifest) -> Vec<(String, GraphCheck)> {
    m.graphs
        .iter()
        .map(|(name, g)| {
            let check = match std::fs::File::open(dir.join(&g.file)) {
                Err(_) => GraphCheck::Missing,
                Ok(f) => {
                    let mut h = blake3::Hasher::new();
                    match h
                        .update_reader(f)
                        .map(|h| h.finalize().to_hex().to_string())
                    {
                        Ok(actual) if actual == g.blake3 => GraphCheck::Ok,
                        Ok(actual) => GraphCheck::Changed { actual },
                        Err(_) => GraphCheck::Missing,
                    }
                }
            };
            (name.clone(), check)
        })
        .collect()
}
