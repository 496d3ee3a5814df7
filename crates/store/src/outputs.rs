//! `outputs.json`: what each materialised file under `images_out/` was made from, so a
//! build can tell without reading images that a file is current, and `disco plan` can say
//! what a slot held before.
//!
//! Format `disco-outputs/1`: `{"format", "entries": {path: {key, size, mtime_ns, inode}}}`,
//! paths relative to the project directory with `/` separators. A file whose size, mtime
//! or inode no longer match was touched by someone else: it is materialised again.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Key;

const FORMAT: &str = "disco-outputs/1";

/// One materialised file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputEntry {
    /// The job key whose image it holds.
    pub key: Key,
    /// Size in bytes when written.
    pub size: u64,
    /// Modification time when written, ns since the epoch.
    pub mtime_ns: i128,
    /// Inode when written.
    pub inode: u64,
}

/// The index of materialised outputs.
#[derive(Debug, Default)]
pub struct Outputs {
    path: PathBuf,
    entries: BTreeMap<String, OutputEntry>,
    dirty: bool,
}

impl Outputs {
    /// Reads `root/outputs.json` (missing or unreadable: empty).
    pub fn load(root: &Path) -> Outputs {
        let path = root.join("outputs.json");
        let entries = super::versioned::load(&path, FORMAT, "entries");
        Outputs {
            path,
            entries,
            dirty: false,
        }
    }

    /// What `rel` (relative to the project directory) was made from.
    pub fn get(&self, rel: &Path) -> Option<&OutputEntry> {
        self.entries.get(&slash(rel))
    }

    /// Whether the file at `dir/rel` still holds `key`'s image as written.
    pub fn is_current(&self, dir: &Path, rel: &Path, key: &Key) -> bool {
        match (self.get(rel), file_stat(&dir.join(rel))) {
            (Some(e), Some((size, mtime_ns, inode))) => {
                &e.key == key && e.size == size && e.mtime_ns == mtime_ns && e.inode == inode
            }
            _ => false,
        }
    }

    /// Notes that `dir/rel` now holds `key`'s image.
    pub fn set(&mut self, dir: &Path, rel: &Path, key: Key) -> io::Result<()> {
        let (size, mtime_ns, inode) = file_stat(&dir.join(rel))
            .ok_or_else(|| io::Error::other(format!("{} vanished", rel.display())))?;
        self.entries.insert(
            slash(rel),
            OutputEntry {
                key,
                size,
                mtime_ns,
                inode,
            },
        );
        self.dirty = true;
        Ok(())
    }

    /// Every entry.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &OutputEntry)> {
        self.entries.iter()
    }

    /// Writes the index if it changed.
    pub fn save(&mut self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        super::versioned::save(&self.path, FORMAT, "entries", &self.entries)?;
        self.dirty = false;
        Ok(())
    }
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// (size, mtime ns, inode) of a file.
pub fn file_stat(path: &Path) -> Option<(u64, i128, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
    Some((m.len(), mtime, m.ino()))
}
