//! The seam between a checkout's objects and a shared cache (`--cache URL`): what
//! [`LayeredObjects`](crate::LayeredObjects) asks of a cache, whatever holds it — a directory
//! ([`SharedDir`], `file://`) or a server speaking Bazel's remote-cache HTTP layout
//! ([`HttpCache`], `http(s)://`). A backend moves bytes and keeps two promises: a job's
//! record is published after its blobs, and the first record of a key stays. Checking what
//! it hands back (the record names the key, the image hashes as the record says) is the
//! layer's, so no backend can serve wrong pixels by forgetting to.
//!
//! Two kinds of objects travel: jobs (a record, its image, its intermediate saves and, for a
//! 3D turbo frame, its second images) and VR eye views (an image made from a job's image,
//! with no record of its own: the cache holds it with a small [`ViewRecord`] naming its
//! hash, published after the image, first writer winning, like a job's record).
//!
//! [`ViewRecord`]: crate::record::ViewRecord

use std::fmt;
use std::io;
use std::sync::Arc;

use super::Key;
use super::http::HttpCache;
use super::objects::Aux;
use super::shared::{CacheError, SharedDir};

/// One job as a cache holds it: its record's bytes, its image, its intermediate saves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedJob {
    /// The record (JSON), byte for byte as its writer stored it.
    pub record: Vec<u8>,
    /// The final image (PNG).
    pub image: Vec<u8>,
    /// The intermediate saves, by iteration.
    pub partials: Vec<(u32, Vec<u8>)>,
    /// Its second images (a 3D turbo frame's [`Aux::Next`] and [`Aux::Old`]), as its record
    /// names them; empty for other jobs.
    pub aux: Vec<(Aux, Vec<u8>)>,
}

/// An eye view as a cache holds it: its view record's bytes and its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedView {
    /// The view record (JSON, [`ViewRecord`](crate::record::ViewRecord)), byte for byte.
    pub record: Vec<u8>,
    /// The view's image (PNG).
    pub image: Vec<u8>,
}

/// A cache many workers share.
pub trait SharedCache: fmt::Debug + Send + Sync {
    /// Job `key`, if the cache holds all of it (`None` on a miss: no record, or a blob it
    /// names that is missing or does not hash to its name).
    fn get_job(&self, key: &Key) -> io::Result<Option<CachedJob>>;

    /// Publishes job `key`: its blobs first, its record last, and the record only if the
    /// cache holds none for `key`. `Ok(true)` if this job is now the record, `Ok(false)` if
    /// another writer's came first (and stays).
    fn create_job(&self, key: &Key, job: &CachedJob) -> io::Result<bool>;

    /// Eye view `key`, if the cache holds its record and the image it names (`None` on a
    /// miss).
    fn get_view(&self, key: &Key) -> io::Result<Option<CachedView>>;

    /// Publishes eye view `key`: its image first, its record last, and the record only if
    /// the cache holds none for `key`. `Ok(false)` if another writer's came first.
    fn create_view(&self, key: &Key, view: &CachedView) -> io::Result<bool>;

    /// A target's shared inputs by digest, if held.
    fn inputs(&self, digest: &Key) -> io::Result<Option<Vec<u8>>>;

    /// Stores a target's shared inputs by digest (once).
    fn put_inputs(&self, digest: &Key, bytes: &[u8]) -> io::Result<()>;
}

/// The cache `url` names: `file:///absolute/path` or `http(s)://host[:port][/prefix]`.
pub fn open_cache(url: &str) -> Result<Arc<dyn SharedCache>, CacheError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(Arc::new(HttpCache::open(url)?))
    } else {
        Ok(Arc::new(SharedDir::open(url)?))
    }
}
