//! Model-set manifests (`manifest.json`, written by `onnx-export`; schema in docs/models.md).
//!
//! Only what `disco doctor` and `disco models` need so far: the graphs, their files and
//! blake3 hashes, and the CLIP models present.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Name of the manifest file at the root of a model set.
pub const MANIFEST: &str = "manifest.json";

/// A model set's manifest (schema: docs/models.md §2).
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// Format tag, `disco-models/1`.
    pub format: String,
    /// Whether this is a tiny random-weight set.
    #[serde(default)]
    pub tiny: bool,
    /// Every graph by name.
    pub graphs: BTreeMap<String, Graph>,
    /// CLIP models by DD flag name (`ViTB32`, `RN50`, …).
    #[serde(default)]
    pub clip: BTreeMap<String, ClipModel>,
    /// The diffusion UNet's graphs by role and size.
    #[serde(default)]
    pub unet: Option<Family>,
    /// The secondary model's graphs by role and size.
    #[serde(default)]
    pub secondary: Option<Family>,
    /// LPIPS graphs by role and size.
    #[serde(default)]
    pub lpips: Option<Family>,
    /// The diffusion model the UNet graphs were exported from.
    #[serde(default)]
    pub diffusion: Option<DiffusionArch>,
}

/// What a set records about its diffusion model (the architecture fields are the exporter's).
#[derive(Debug, Clone, Deserialize)]
pub struct DiffusionArch {
    /// DD's name of the model (`512x512_diffusion_uncond_finetune_008100`).
    pub name: String,
}

/// A CLIP model of the set.
#[derive(Debug, Clone, Deserialize)]
pub struct ClipModel {
    /// OpenAI's name (`ViT-B/32`).
    pub name: String,
    /// Input resolution R of the image encoder.
    pub resolution: usize,
    /// Embedding size D.
    pub embed_dim: usize,
    /// Token sequence length (77).
    pub context_length: usize,
    /// Per-channel normalisation mean.
    pub mean: [f32; 3],
    /// Per-channel normalisation std.
    pub std: [f32; 3],
    /// Graph names by role: `text`, `image`, `image_vjp`.
    pub graphs: BTreeMap<String, String>,
}

/// A model family's graphs (`unet`, `secondary`, `lpips`): role (`forward`, `vjp`) → graph
/// name. Their height and width are symbolic: any multiple of `size_multiple` is served.
#[derive(Debug, Clone, Deserialize)]
pub struct Family {
    /// Graph names by role.
    pub graphs: BTreeMap<String, String>,
    /// Image height and width must be multiples of this.
    pub size_multiple: usize,
}

impl Family {
    /// The graph for `role`.
    pub fn graph(&self, role: &str) -> Option<&str> {
        self.graphs.get(role).map(String::as_str)
    }

    /// Whether the family's graphs accept a `width`×`height` image.
    pub fn serves(&self, width: usize, height: usize) -> bool {
        let m = self.size_multiple.max(1);
        width > 0 && height > 0 && width.is_multiple_of(m) && height.is_multiple_of(m)
    }
}

/// One input or output of a graph.
#[derive(Debug, Clone, Deserialize)]
pub struct TensorSpec {
    /// Name in the graph.
    pub name: String,
    /// `float32` or `int64`.
    pub dtype: String,
    /// Dimensions: numbers, or `"B"` for the dynamic batch axis.
    pub shape: Vec<Dim>,
}

/// One dimension of a [`TensorSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A symbolic size (`"B"`).
    Symbol(String),
}

/// One ONNX graph of a model set.
#[derive(Debug, Clone, Deserialize)]
pub struct Graph {
    /// File, relative to the model set.
    pub file: PathBuf,
    /// blake3 of the file, hex.
    pub blake3: String,
    /// Weights stored beside the graph (graphs over 2 GB), if any.
    #[serde(default)]
    pub external_data: Option<DataFile>,
    /// Inputs, in graph order.
    #[serde(default)]
    pub inputs: Vec<TensorSpec>,
    /// Outputs, in graph order.
    #[serde(default)]
    pub outputs: Vec<TensorSpec>,
}

/// A file of external tensor data belonging to a graph.
#[derive(Debug, Clone, Deserialize)]
pub struct DataFile {
    /// File, relative to the model set.
    pub file: PathBuf,
    /// blake3 of the file, hex.
    pub blake3: String,
}

/// Hashes one file and compares with the manifest's blake3.
pub fn check_file(path: &Path, want: &str) -> GraphCheck {
    let Ok(f) = std::fs::File::open(path) else {
        return GraphCheck::Missing;
    };
    match blake3::Hasher::new()
        .update_reader(f)
        .map(|h| h.finalize().to_hex().to_string())
    {
        Ok(actual) if actual == want => GraphCheck::Ok,
        Ok(actual) => GraphCheck::Changed { actual },
        Err(_) => GraphCheck::Missing,
    }
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

/// Hashes every graph of a model set (and its external data) and compares with the manifest.
pub fn verify(dir: &Path, m: &Manifest) -> Vec<(String, GraphCheck)> {
    m.graphs
        .iter()
        .map(|(name, g)| {
            let mut check = check_file(&dir.join(&g.file), &g.blake3);
            if let (GraphCheck::Ok, Some(data)) = (&check, &g.external_data) {
                check = check_file(&dir.join(&data.file), &data.blake3);
            }
            (name.clone(), check)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_detects_a_changed_and_a_missing_graph() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.onnx"), b"graph a").unwrap();
        std::fs::write(dir.path().join("b.onnx"), b"graph b").unwrap();
        let hash = |b: &[u8]| blake3::hash(b).to_hex().to_string();
        let manifest = format!(
            r#"{{"format": "disco-models/1", "tiny": true, "graphs": {{
                "a": {{"file": "a.onnx", "blake3": "{}"}},
                "b": {{"file": "b.onnx", "blake3": "{}"}},
                "c": {{"file": "c.onnx", "blake3": "{}"}}}}}}"#,
            hash(b"graph a"),
            hash(b"graph B"),
            hash(b"graph c")
        );
        std::fs::write(dir.path().join(MANIFEST), manifest).unwrap();
        let m = Manifest::read(dir.path()).unwrap();
        let checks = verify(dir.path(), &m);
        assert_eq!(checks[0], ("a".into(), GraphCheck::Ok));
        assert!(matches!(checks[1].1, GraphCheck::Changed { .. }));
        assert_eq!(checks[2], ("c".into(), GraphCheck::Missing));
    }
}
