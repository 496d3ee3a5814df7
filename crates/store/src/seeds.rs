//! `seeds.json`: the seed drawn for each `seed "random"` target, so its images stay cached
//! across builds (DD draws a new one per run; a make-like tool must not).
//!
//! Format `disco-seeds/1`: `{"format", "seeds": {seed id: n}}`, ids `target` or
//! `target[cell]`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

const FORMAT: &str = "disco-seeds/1";

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
        let seeds = super::versioned::load(&path, FORMAT, "seeds");
        Seeds { path, seeds }
    }

    /// Adds `drawn` and writes the file.
    pub fn record(&mut self, drawn: &BTreeMap<String, u64>) -> io::Result<()> {
        if drawn.is_empty() {
            return Ok(());
        }
        self.seeds
            .extend(drawn.iter().map(|(k, v)| (k.clone(), *v)));
        super::versioned::save(&self.path, FORMAT, "seeds", &self.seeds)
    }
}
