//! The object store: bytes by name, where a name is a content key and what the key names
//! (a job's image, an intermediate save, its record, a target's shared inputs, a sampler
//! checkpoint). The engine reads and writes through [`ObjectStore`] only, so a shared or
//! remote store is one more implementation; [`super::LocalObjects`] (`.disco/`) is the
//! first, [`super::MemoryObjects`] the fake the engine's tests build against.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::Key;

/// What an object is, by the key it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectName {
    /// Job `key`'s final image (PNG).
    Image(Key),
    /// Job `key`'s intermediate save at iteration j (PNG).
    Partial(Key, u32),
    /// Job `key`'s record (JSON, [`super::Record`]); written last: no record, no object.
    Record(Key),
    /// A target's shared inputs by digest (JSON, opaque to the store).
    Inputs(Key),
    /// The sampler checkpoint of an unfinished job (opaque bytes).
    Checkpoint(Key),
    /// A second image of job `key` beside its final one (PNG): what a 3D turbo frame hands on
    /// (dd-algorithm.md §10.4). Written before the record, like the image.
    Aux(Key, Aux),
}

/// Which second image of a job an [`ObjectName::Aux`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Aux {
    /// The image the next frame starts from, where it is not the saved one (DD's
    /// `prevFrame.png` under turbo).
    Next,
    /// The job's image of turbo's second warp chain (DD's `oldFrameScaled.png`).
    Old,
    /// A VR eye view (dd-algorithm.md §10.4), under the view's own key (which chains to its
    /// frame's): an image made from a job's image, with no record of its own. Its inputs are
    /// stored as [`ObjectName::Inputs`] of the same key, before it.
    Eye,
}

impl Aux {
    /// Its name in file names: `<key>.next.png`, `<key>.old.png`, `<key>.eye.png`.
    pub fn name(self) -> &'static str {
        match self {
            Aux::Next => "next",
            Aux::Old => "old",
            Aux::Eye => "eye",
        }
    }

    /// The second image [`Aux::name`] calls `name`.
    pub fn from_name(name: &str) -> Option<Aux> {
        match name {
            "next" => Some(Aux::Next),
            "old" => Some(Aux::Old),
            "eye" => Some(Aux::Eye),
            _ => None,
        }
    }
}

impl ObjectName {
    /// The key the object belongs to.
    pub fn key(&self) -> Key {
        match *self {
            ObjectName::Image(k)
            | ObjectName::Partial(k, _)
            | ObjectName::Record(k)
            | ObjectName::Inputs(k)
            | ObjectName::Checkpoint(k)
            | ObjectName::Aux(k, _) => k,
        }
    }
}

/// What a listed entry of a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// An object.
    Object(ObjectName),
    /// A temporary a killed writer left behind.
    Temporary,
    /// Something else in the store's space, with the key its name starts with, if any.
    Other(Option<Key>),
}

/// One entry of [`ObjectStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// What it is.
    pub what: Stored,
    /// Where it is, for people (a path for the local store).
    pub location: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Bytes by [`ObjectName`]. Writes are atomic (a reader sees the old object or the new one,
/// never part of one); reads are bounded (a huge or endless entry is an error, not an
/// exhausted memory).
pub trait ObjectStore: fmt::Debug + Send + Sync {
    /// The bytes of `name`; `Ok(None)` when the store does not hold it.
    fn get(&self, name: &ObjectName) -> io::Result<Option<Vec<u8>>>;
    /// Stores `bytes` as `name`, replacing what was there.
    fn put(&self, name: &ObjectName, bytes: &[u8]) -> io::Result<()>;
    /// Whether the store holds `name`.
    fn contains(&self, name: &ObjectName) -> bool;
    /// Removes `name`; removing what is not there is no error.
    fn remove(&self, name: &ObjectName) -> io::Result<()>;
    /// Everything the store holds, objects and not, in a stable order (for `disco gc`).
    fn list(&self) -> io::Result<Vec<Listed>>;
    /// Removes a listed entry that is not an object (a temporary, a stray file).
    fn remove_listed(&self, entry: &Listed) -> io::Result<()>;
    /// A file in this file system holding `name`'s bytes, so an output can be a hard link
    /// to it; `None` when the store keeps its bytes elsewhere (callers then `get` them).
    fn local_path(&self, _name: &ObjectName) -> Option<PathBuf> {
        None
    }
    /// Clears what a killed writer left while writing the objects of `keys` (and the
    /// store's own folders). A store whose writes leave nothing behind has nothing to do.
    fn sweep_temporaries(&self, _keys: &[Key]) {}
}
