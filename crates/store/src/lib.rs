//! The store: `.disco/` beside the project file (DESIGN.md §4). Content-addressed images by
//! job key, their records, the stat cache, the index of materialised outputs, sampler
//! checkpoints and the build lock. Knows keys and bytes, not how images are made.
//!
//! Objects (images, records, shared inputs, checkpoints) go through an [`ObjectStore`]:
//! [`LocalObjects`] below `.disco/` by default, any other implementation (a shared or remote
//! cache, the tests' [`MemoryObjects`]) through [`Store::with_objects`]; a shared cache
//! ([`SharedCache`]: a directory, [`SharedDir`], `--cache file:///…`, or a Bazel-layout
//! HTTP server, [`HttpCache`], `--cache https://…`; [`open_cache`]) is layered over the local
//! objects by [`Store::with_cache`] ([`LayeredObjects`]: read-through, write-back). The lock, the stat
//! cache, the outputs index and the drawn seeds describe this checkout and stay local.
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
//!   objects/<aa>/<key>.next.png a 3D turbo frame's second images (`.next`, `.old`)
//!   objects/<aa>/<key>.eye.png  a VR eye view, by the view's own key (no record)
//!   inputs/<digest>.json        a target's shared inputs, referenced by records; an eye
//!                               view's inputs, by its key
//!   partial/<key>.ckpt          the sampler checkpoint of an unfinished job
//!   outputs.json                what each file under images_out/ was materialised from
//!   stat-cache.json             content hashes of big files by (path, size, mtime, inode)
//!   seeds.json                  seeds drawn for `seed "random"`
//! ```
//!
//! An entry of unknown format version reads as missing: a cache miss, never an error.

#![deny(missing_docs)]

mod backend;
mod gc;
mod http;
mod key;
mod layered;
mod local;
mod lock;
mod memory;
mod objects;
mod outputs;
mod record;
mod seeds;
mod shared;
mod statcache;
mod versioned;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

pub use backend::{CachedJob, CachedView, SharedCache, open_cache};
pub use gc::{GcReport, GcSelection};
pub use http::HttpCache;
pub use key::{Key, KeyParseError};
pub use layered::{CacheMode, CacheModeError, LayeredObjects};
pub use local::LocalObjects;
pub use lock::{BuildLock, LockError};
pub use memory::{Access, MemoryObjects};
pub use objects::{Aux, Listed, ObjectName, ObjectStore, Stored};
pub use outputs::{OutputEntry, Outputs};
pub use record::{ObjectInfo, RECORD_FORMAT, Record, VIEW_FORMAT, ViewRecord, unix_now};
pub use seeds::Seeds;
pub use shared::{CacheError, SharedDir, is_hex64};
pub use statcache::StatCache;

/// The directory name, beside the project file.
pub const STORE_DIR: &str = ".disco";

/// A project's store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    objects: Arc<dyn ObjectStore>,
}

impl Store {
    /// The store of the project in `project_dir` (created on first write), its objects
    /// under `.disco/`.
    pub fn new(project_dir: &Path) -> Store {
        let root = project_dir.join(STORE_DIR);
        let objects = Arc::new(LocalObjects::new(&root));
        Store { root, objects }
    }

    /// The store of the project in `project_dir` with its objects in `objects`.
    pub fn with_objects(project_dir: &Path, objects: Arc<dyn ObjectStore>) -> Store {
        Store {
            root: project_dir.join(STORE_DIR),
            objects,
        }
    }

    /// The store of the project in `project_dir`, its objects under `.disco/` over the
    /// shared cache `shared`, used as `mode` says.
    pub fn with_cache(project_dir: &Path, shared: Arc<dyn SharedCache>, mode: CacheMode) -> Store {
        let root = project_dir.join(STORE_DIR);
        let local = Arc::new(LocalObjects::new(&root));
        let objects = Arc::new(LayeredObjects::new(local, shared, mode));
        Store { root, objects }
    }

    /// `.disco/` itself (the lock, the indexes; the local objects by default).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The objects.
    pub fn objects(&self) -> &dyn ObjectStore {
        &*self.objects
    }

    /// Whether job `key` is cached: its record exists (records are written last) and its
    /// image is still there.
    pub fn has(&self, key: &Key) -> bool {
        self.objects.contains(&ObjectName::Record(*key))
            && self.objects.contains(&ObjectName::Image(*key))
    }

    /// Job `key`'s record, if it is cached and readable.
    pub fn record(&self, key: &Key) -> Option<Record> {
        let bytes = self.objects.get(&ObjectName::Record(*key)).ok()??;
        record::parse_record(&bytes, key)
    }

    /// Job `key`'s final image (PNG bytes), if stored and readable.
    pub fn image(&self, key: &Key) -> Option<Vec<u8>> {
        self.objects.get(&ObjectName::Image(*key)).ok()?
    }

    /// Stores a finished job: its image, then its record. (Intermediate saves are put as
    /// the sampler reaches them, [`Store::put_partial`].)
    pub fn put(&self, key: &Key, image: &[u8], record: &Record) -> io::Result<()> {
        self.objects.put(&ObjectName::Image(*key), image)?;
        let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        self.objects.put(&ObjectName::Record(*key), &json)
    }

    /// Stores job `key`'s second image `aux` (before its record: [`Store::put`]).
    pub fn put_aux(&self, key: &Key, aux: Aux, png: &[u8]) -> io::Result<()> {
        self.objects.put(&ObjectName::Aux(*key, aux), png)
    }

    /// Whether job `key`'s second image `aux` is stored.
    pub fn has_aux(&self, key: &Key, aux: Aux) -> bool {
        self.objects.contains(&ObjectName::Aux(*key, aux))
    }

    /// Stores job `key`'s intermediate save at iteration `j`.
    pub fn put_partial(&self, key: &Key, j: u32, png: &[u8]) -> io::Result<()> {
        self.objects.put(&ObjectName::Partial(*key, j), png)
    }

    /// Whether job `key`'s intermediate save at iteration `j` is stored.
    pub fn has_partial(&self, key: &Key, j: u32) -> bool {
        self.objects.contains(&ObjectName::Partial(*key, j))
    }

    /// Records a target's shared inputs (once per digest), serialised as the caller
    /// serialises them: the store keeps them, it does not read them.
    pub fn put_inputs(&self, digest: &Key, inputs: &impl Serialize) -> io::Result<()> {
        let name = ObjectName::Inputs(*digest);
        if self.objects.contains(&name) {
            return Ok(());
        }
        let bytes = record::inputs_bytes(inputs).map_err(io::Error::other)?;
        self.objects.put(&name, &bytes)
    }

    /// A target's shared inputs by digest, as JSON, if recorded and readable.
    pub fn inputs(&self, digest: &Key) -> Option<serde_json::Value> {
        let bytes = self.objects.get(&ObjectName::Inputs(*digest)).ok()??;
        record::parse_inputs(&bytes)
    }

    /// Saves an unfinished job's sampler checkpoint (opaque bytes).
    pub fn put_checkpoint(&self, key: &Key, bytes: &[u8]) -> io::Result<()> {
        self.objects.put(&ObjectName::Checkpoint(*key), bytes)
    }

    /// An unfinished job's checkpoint bytes, if any.
    pub fn checkpoint(&self, key: &Key) -> Option<Vec<u8>> {
        self.objects.get(&ObjectName::Checkpoint(*key)).ok()?
    }

    /// Drops a checkpoint once its job is finished.
    pub fn remove_checkpoint(&self, key: &Key) -> io::Result<()> {
        self.objects.remove(&ObjectName::Checkpoint(*key))
    }

    /// A file holding `name`'s bytes in this file system, if the objects are local (so an
    /// output can be a hard link to it).
    pub fn local_path(&self, name: &ObjectName) -> Option<PathBuf> {
        self.objects.local_path(name)
    }

    /// Removes the temporaries a killed build left while writing job `key`'s objects or
    /// checkpoint, and the store's own small files. Call with the lock held, before `key`
    /// renders: a stray can only belong to a job whose record was never written, so every
    /// stray is in the folder of a job that renders again.
    pub fn sweep_temporaries(&self, keys: &[Key]) {
        self.objects.sweep_temporaries(keys);
        disco_fsutil::sweep_temporaries(&self.root);
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
        gc::run(&*self.objects, sel)
    }
}
