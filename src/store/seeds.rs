//! `seeds.json`: the seed drawn for each `seed "random"` target, so its images stay cached
//! across builds (DD draws a new one per run; a make-like tool must not).
//!
//! Format `disco-seeds/1`: `{"format", "seeds": {seed id: n}}`, ids `target` or
//! `target[cell]`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;

const FORMAT: &str = "disco-seeds/1";

#[derive(Serialize, Deserialize)]
struct Doc {
    format: String,
    seeds: BTreeMap<String, u64>,
}

/// Recorded random seeds.
#[derive(Debug)]
pub struct Seeds {
    path: PathBuf,
    /// Seed id → seed.
    pub seeds: BTreeMap<String, u64>,
}

impl Seeds {
    /// Reads `root/seeds.json` (missing or unreadable: none).
    pub fn load(root: &Path) -> Seeds {
        let path = root.join("seeds.json");
        let seeds = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Doc>(&b).ok())
            .filter(|d| d.format == FORMAT)
            .map(|d| d.seeds)
            .unwrap_or_default();
        Seeds { path, seeds }
    }

    /// Adds `drawn` and writes the file.
    pub fn record(&mut self, drawn: &BTreeMap<String, u64>) -> io::Result<()> {
        if drawn.is_empty() {
            return Ok(());
        }
        self.seeds
            .extend(drawn.iter().map(|(k, v)| (k.clone(), *v)));
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let doc = Doc {
            format: FORMAT.into(),
            seeds: self.seeds.clone(),
        };
        write_atomic(
            &self.path,
            &serde_json::to_vec_pretty(&doc).map_err(io::Error::other)?,
        )
    }
}
