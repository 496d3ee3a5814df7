//! The stat cache: blake3 of big files (model graphs, init images) keyed by what `stat`
//! says, so a 2 GB graph is hashed once rather than on every build (DESIGN.md §3 item 3).
//!
//! Format `disco-stat/1`, `stat-cache.json`: `{"format", "entries": {absolute path:
//! {size, mtime_ns, inode, blake3}}}`. A file whose size, mtime or inode changed is hashed
//! again. (As in make, a same-size rewrite within one mtime tick goes unnoticed.)

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::outputs::file_stat;

const FORMAT: &str = "disco-stat/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    size: u64,
    mtime_ns: i128,
    inode: u64,
    blake3: String,
}

/// Content hashes by file identity.
#[derive(Debug, Default)]
pub struct StatCache {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
    dirty: bool,
    /// Bytes hashed since loading (for reports and benchmarks).
    pub hashed_bytes: u64,
}

impl StatCache {
    /// Reads `root/stat-cache.json` (missing or unreadable: empty).
    pub fn load(root: &Path) -> StatCache {
        let path = root.join("stat-cache.json");
        let entries = super::versioned::load(&path, FORMAT, "entries");
        StatCache {
            path,
            entries,
            dirty: false,
            hashed_bytes: 0,
        }
    }

    /// blake3 (hex) of `path`'s content, from the cache when its stat is unchanged.
    pub fn blake3(&mut self, path: &Path) -> io::Result<String> {
        let abs = std::path::absolute(path)?;
        let name = abs.to_string_lossy().into_owned();
        let (size, mtime_ns, inode) = file_stat(&abs)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        if let Some(e) = self.entries.get(&name)
            && (e.size, e.mtime_ns, e.inode) == (size, mtime_ns, inode)
        {
            return Ok(e.blake3.clone());
        }
        let mut h = blake3::Hasher::new();
        h.update_mmap_rayon(&abs)?;
        let blake3 = h.finalize().to_hex().to_string();
        self.hashed_bytes += size;
        self.entries.insert(
            name,
            Entry {
                size,
                mtime_ns,
                inode,
                blake3: blake3.clone(),
            },
        );
        self.dirty = true;
        Ok(blake3)
    }

    /// Writes the cache if it changed.
    pub fn save(&mut self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        super::versioned::save(&self.path, FORMAT, "entries", &self.entries)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_once_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("graph.onnx");
        std::fs::write(&f, b"weights v1").unwrap();
        let mut c = StatCache::load(dir.path());
        let a = c.blake3(&f).unwrap();
        assert_eq!(a, blake3::hash(b"weights v1").to_hex().to_string());
        c.save().unwrap();
        let mut c = StatCache::load(dir.path());
        assert_eq!(c.blake3(&f).unwrap(), a);
        assert_eq!(c.hashed_bytes, 0, "served from the cache");
        std::fs::write(&f, b"weights v2, longer").unwrap();
        assert_ne!(c.blake3(&f).unwrap(), a);
        assert_eq!(c.hashed_bytes, 18);
    }
}
