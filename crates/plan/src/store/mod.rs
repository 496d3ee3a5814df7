//! The store: `.disco/` beside the project file (DESIGN.md §4). Content-addressed images by
//! job key, their records, the stat cache, the index of materialised outputs, sampler
//! checkpoints and the build lock. Knows keys and bytes, not how images are made.
//!
//! Layout (every file written atomically: a temporary file in the same directory, then a
//! rename, so a killed build leaves the old file or the new one, never half of one):
//!
//! ```text
//! .disco/
//!   lock                        held (OS file lock) by the running build; says who
//!   objects/<aa>/<key>.png      the final image of job <key> (aa = its first hex byte)
//!   objects/<aa>/<key>.<j>.png  its intermediate save at iteration j
//!   objects/<aa>/<key>.json     its record (objects.rs); written last: no record, no object
//!   inputs/<digest>.json        a target's shared inputs, referenced by records
//!   partial/<key>.ckpt          the sampler checkpoint of an unfinished job
//!   outputs.json                what each file under images_out/ was materialised from
//!   stat-cache.json             content hashes of big files by (path, size, mtime, inode)
//!   seeds.json                  seeds drawn for `seed "random"`
//! ```
//!
//! An entry of unknown format version reads as missing: a cache miss, never an error.

mod gc;
mod lock;
mod objects;
mod outputs;
mod seeds;
mod statcache;
mod versioned;

use std::io;
use std::path::{Path, PathBuf};

pub use gc::{GcReport, GcSelection};
pub use lock::{BuildLock, LockError};
pub use objects::{ObjectInfo, RECORD_FORMAT, Record, unix_now};
pub use outputs::{OutputEntry, Outputs};
pub use seeds::Seeds;
pub use statcache::StatCache;

use crate::{CommonInputs, Key};
use disco_project::fsutil::write_atomic;

/// The directory name, beside the project file.
pub const STORE_DIR: &str = ".disco";

/// A project's store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store of the project in `project_dir` (created on first write).
    pub fn new(project_dir: &Path) -> Store {
        Store {
            root: project_dir.join(STORE_DIR),
        }
    }

    /// `.disco/` itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn object_dir(&self, key: &Key) -> PathBuf {
        self.root.join("objects").join(key.fanout())
    }

    /// Path of job `key`'s final image.
    pub fn image_path(&self, key: &Key) -> PathBuf {
        self.object_dir(key).join(format!("{key}.png"))
    }

    /// Path of job `key`'s intermediate save at iteration `j`.
    pub fn partial_path(&self, key: &Key, j: u32) -> PathBuf {
        self.object_dir(key).join(format!("{key}.{j}.png"))
    }

    fn record_path(&self, key: &Key) -> PathBuf {
        self.object_dir(key).join(format!("{key}.json"))
    }

    /// Whether job `key` is cached: its record exists (records are written last) and its
    /// image is still there.
    pub fn has(&self, key: &Key) -> bool {
        self.record_path(key).is_file() && self.image_path(key).is_file()
    }

    /// Job `key`'s record, if it is cached and readable.
    pub fn record(&self, key: &Key) -> Option<Record> {
        let bytes = std::fs::read(self.record_path(key)).ok()?;
        objects::parse_record(&bytes, key)
    }

    /// Stores a finished job: its intermediate saves, its image, then its record.
    pub fn put(
        &self,
        key: &Key,
        image: &[u8],
        partials: &[(u32, Vec<u8>)],
        record: &Record,
    ) -> io::Result<()> {
        std::fs::create_dir_all(self.object_dir(key))?;
        for (j, bytes) in partials {
            write_atomic(&self.partial_path(key, *j), bytes)?;
        }
        write_atomic(&self.image_path(key), image)?;
        // Outputs are hard links to objects: read-only, so editing an output in place
        // cannot change the cached image behind it.
        for j in self.partials_on_disk(key) {
            read_only(&self.partial_path(key, j))?;
        }
        read_only(&self.image_path(key))?;
        let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        write_atomic(&self.record_path(key), &json)
    }

    /// Iterations j whose intermediate save of job `key` is on disk.
    fn partials_on_disk(&self, key: &Key) -> Vec<u32> {
        let prefix = format!("{key}.");
        let Ok(entries) = std::fs::read_dir(self.object_dir(key)) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix(&prefix)?
                    .strip_suffix(".png")?
                    .parse()
                    .ok()
            })
            .collect()
    }

    fn inputs_path(&self, digest: &Key) -> PathBuf {
        self.root.join("inputs").join(format!("{digest}.json"))
    }

    /// Records a target's shared inputs (once per digest).
    pub fn put_inputs(&self, digest: &Key, inputs: &CommonInputs) -> io::Result<()> {
        let path = self.inputs_path(digest);
        if path.is_file() {
            return Ok(());
        }
        std::fs::create_dir_all(path.parent().expect("inputs dir"))?;
        let doc = serde_json::json!({"format": objects::INPUTS_FORMAT, "inputs": inputs});
        write_atomic(
            &path,
            &serde_json::to_vec_pretty(&doc).map_err(io::Error::other)?,
        )
    }

    /// A target's shared inputs by digest, if recorded and readable.
    pub fn inputs(&self, digest: &Key) -> Option<CommonInputs> {
        let bytes = std::fs::read(self.inputs_path(digest)).ok()?;
        objects::parse_inputs(&bytes)
    }

    fn checkpoint_path(&self, key: &Key) -> PathBuf {
        self.root.join("partial").join(format!("{key}.ckpt"))
    }

    /// Saves an unfinished job's sampler checkpoint (opaque bytes).
    pub fn put_checkpoint(&self, key: &Key, bytes: &[u8]) -> io::Result<()> {
        let path = self.checkpoint_path(key);
        std::fs::create_dir_all(path.parent().expect("partial dir"))?;
        write_atomic(&path, bytes)
    }

    /// An unfinished job's checkpoint bytes, if any.
    pub fn checkpoint(&self, key: &Key) -> Option<Vec<u8>> {
        std::fs::read(self.checkpoint_path(key)).ok()
    }

    /// Drops a checkpoint once its job is finished.
    pub fn remove_checkpoint(&self, key: &Key) -> io::Result<()> {
        match std::fs::remove_file(self.checkpoint_path(key)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes the temporaries a killed build left while writing job `key`'s objects or
    /// checkpoint, and the store's own small files. Call with the lock held, before `key`
    /// renders: a stray can only belong to a job whose record was never written, so every
    /// stray is in the folder of a job that renders again.
    pub fn sweep_temporaries(&self, keys: &[Key]) {
        let mut dirs: std::collections::BTreeSet<PathBuf> =
            keys.iter().map(|k| self.object_dir(k)).collect();
        dirs.extend([
            self.root.clone(),
            self.root.join("partial"),
            self.root.join("inputs"),
        ]);
        for d in dirs {
            disco_project::fsutil::sweep_temporaries(&d);
        }
    }

    /// Takes the build lock (see [`BuildLock`]).
    pub fn lock(&self, holder: &str) -> Result<BuildLock, LockError> {
        BuildLock::acquire(&self.root, holder)
    }

    /// The index of materialised outputs.
    pub fn outputs(&self) -> Outputs {
        Outputs::load(&self.root)
    }

    /// The stat cache.
    pub fn stat_cache(&self) -> StatCache {
        StatCache::load(&self.root)
    }

    /// Recorded random seeds.
    pub fn seeds(&self) -> Seeds {
        Seeds::load(&self.root)
    }

    /// Removes (or in a dry run lists) the objects, inputs and checkpoints `sel` neither
    /// keeps nor leaves out, and stray temporary files.
    pub fn gc(&self, sel: &GcSelection) -> io::Result<GcReport> {
        gc::run(&self.root, sel)
    }
}

fn read_only(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444))
}
