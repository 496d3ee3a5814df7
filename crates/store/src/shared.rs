//! A shared cache in a directory (`--cache file:///path`: NFS, Lustre, a ReadWriteMany
//! volume) that many workers read and write at once. Layout:
//!
//! ```text
//! <cache>/cas/<aa>/<blake3>          an image by the blake3 of its bytes (never clobbered):
//!                                    a job's image, a turbo frame's second images, an eye view
//! <cache>/ac/<aa>/<key>.json         job <key>'s record: the first one written wins
//! <cache>/ac/<aa>/<key>.<j>.png      its intermediate save at iteration j
//! <cache>/ac/<aa>/<key>.view.json    eye view <key>'s view record: the first one wins
//! <cache>/inputs/<digest>.json       a target's shared inputs
//! ```
//!
//! Every file is written to a temporary in its own folder and then renamed, so a worker
//! killed mid-write leaves a stray temporary and never half a file; a record is linked into
//! place only if none is there (`hard_link` fails on an existing name), so the first writer
//! of a key wins. File names come from [`Key`]s or from hashes checked to be 64 lowercase
//! hex digits: nothing read from the cache names a path outside it.

use std::io;
use std::path::{Path, PathBuf};

use super::Key;
use super::backend::{CachedJob, CachedView, SharedCache};
use super::http::redact;
use disco_fsutil::{self as fsutil, write_atomic};

/// The most a record or shared-inputs file may hold.
const JSON_LIMIT: u64 = 64 << 20;
/// The most an image may hold.
const BLOB_LIMIT: u64 = 1 << 30;

/// Why a cache cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The URL is neither `file://` followed by an absolute path nor `http(s)://host/…`
    /// (shown without its credentials).
    #[error(
        "`{}` is not a cache this disco can use: write file:///absolute/path, http://host[:port]/path or https://host[:port]/path",
        redact(.0)
    )]
    Url(String),
    /// The credentials for an http(s) cache cannot be read.
    #[error("cannot read the credentials for the cache {url}: {reason}")]
    Credentials {
        /// The cache, without credentials.
        url: String,
        /// Why.
        reason: String,
    },
    /// The cache directory cannot be created.
    #[error("cannot create the cache {}: {source}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Whether `s` is 64 lowercase hex digits (a key or a blake3): the only names the cache uses.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A cache directory.
#[derive(Debug, Clone)]
pub struct SharedDir {
    root: PathBuf,
}

impl SharedDir {
    /// The cache a `file:///path` URL names, created if missing.
    pub fn open(url: &str) -> Result<SharedDir, CacheError> {
        let path = url
            .strip_prefix("file://")
            .filter(|p| p.starts_with('/'))
            .ok_or_else(|| CacheError::Url(url.to_owned()))?;
        SharedDir::at(Path::new(path))
    }

    /// The cache in directory `root`, created if missing.
    pub fn at(root: &Path) -> Result<SharedDir, CacheError> {
        std::fs::create_dir_all(root).map_err(|source| CacheError::Create {
            path: root.to_owned(),
            source,
        })?;
        Ok(SharedDir {
            root: root.to_owned(),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn ac(&self, key: &Key, ext: &str) -> PathBuf {
        self.root
            .join("ac")
            .join(key.fanout())
            .join(format!("{key}.{ext}"))
    }

    /// Where the image of blake3 `hash` lives; `None` unless `hash` is 64 lowercase hex.
    fn cas(&self, hash: &str) -> Option<PathBuf> {
        is_hex64(hash).then(|| self.root.join("cas").join(&hash[..2]).join(hash))
    }

    fn inputs_path(&self, digest: &Key) -> PathBuf {
        self.root.join("inputs").join(format!("{digest}.json"))
    }

    /// Job `key`'s record bytes, if the cache holds one.
    pub fn record(&self, key: &Key) -> io::Result<Option<Vec<u8>>> {
        read(&self.ac(key, "json"), JSON_LIMIT)
    }

    /// Writes job `key`'s record unless one is there: `Ok(true)` if this one is now the
    /// record, `Ok(false)` if another writer's was first (and stays).
    pub fn create_record(&self, key: &Key, bytes: &[u8]) -> io::Result<bool> {
        create_once(&self.ac(key, "json"), bytes)
    }

    /// Eye view `key`'s view record bytes, if the cache holds one.
    pub fn view_record(&self, key: &Key) -> io::Result<Option<Vec<u8>>> {
        read(&self.ac(key, "view.json"), JSON_LIMIT)
    }

    /// Writes eye view `key`'s view record unless one is there (`Ok(false)`: another
    /// writer's was first and stays).
    pub fn create_view_record(&self, key: &Key, bytes: &[u8]) -> io::Result<bool> {
        create_once(&self.ac(key, "view.json"), bytes)
    }

    /// The image whose blake3 is `hash`, if held and whole: bytes hashing to anything else
    /// (a torn or tampered file) are no image.
    pub fn image(&self, hash: &str) -> io::Result<Option<Vec<u8>>> {
        let Some(path) = self.cas(hash) else {
            return Ok(None);
        };
        let bytes = read(&path, BLOB_LIMIT)?;
        Ok(bytes.filter(|b| blake3::hash(b).to_hex().as_str() == hash))
    }

    /// Stores `bytes` under their blake3 (once: the name says what the bytes are).
    pub fn put_image(&self, bytes: &[u8]) -> io::Result<()> {
        let hash = blake3::hash(bytes).to_hex();
        let path = self.cas(hash.as_str()).expect("a blake3 is hex");
        put_once(&path, bytes)
    }

    /// Job `key`'s intermediate save at iteration `j`, if held.
    pub fn partial(&self, key: &Key, j: u32) -> io::Result<Option<Vec<u8>>> {
        read(&self.ac(key, &format!("{j}.png")), BLOB_LIMIT)
    }

    /// Stores job `key`'s intermediate save at iteration `j` (once).
    pub fn put_partial(&self, key: &Key, j: u32, bytes: &[u8]) -> io::Result<()> {
        put_once(&self.ac(key, &format!("{j}.png")), bytes)
    }

    /// Shared inputs by digest, if held.
    pub fn inputs(&self, digest: &Key) -> io::Result<Option<Vec<u8>>> {
        read(&self.inputs_path(digest), JSON_LIMIT)
    }

    /// Stores shared inputs by digest (once).
    pub fn put_inputs(&self, digest: &Key, bytes: &[u8]) -> io::Result<()> {
        put_once(&self.inputs_path(digest), bytes)
    }
}

impl SharedCache for SharedDir {
    fn get_job(&self, key: &Key) -> io::Result<Option<CachedJob>> {
        let Some(record) = self.record(key)? else {
            return Ok(None);
        };
        let Some(parsed) = super::record::parse_record(&record, key) else {
            return Ok(None);
        };
        let Some(image) = self.image(&parsed.image.blake3)? else {
            return Ok(None);
        };
        let mut partials = Vec::with_capacity(parsed.partials.len());
        for &j in &parsed.partials {
            match self.partial(key, j)? {
                Some(png) => partials.push((j, png)),
                None => return Ok(None),
            }
        }
        let Some(wanted) = parsed.aux_images() else {
            return Ok(None);
        };
        let mut aux = Vec::with_capacity(wanted.len());
        for (a, info) in wanted {
            match self.image(&info.blake3)? {
                Some(png) => aux.push((a, png)),
                None => return Ok(None),
            }
        }
        Ok(Some(CachedJob {
            record,
            image,
            partials,
            aux,
        }))
    }

    fn create_job(&self, key: &Key, job: &CachedJob) -> io::Result<bool> {
        self.put_image(&job.image)?;
        for (j, png) in &job.partials {
            self.put_partial(key, *j, png)?;
        }
        for (_, png) in &job.aux {
            self.put_image(png)?;
        }
        self.create_record(key, &job.record)
    }

    fn get_view(&self, key: &Key) -> io::Result<Option<CachedView>> {
        let Some(record) = self.view_record(key)? else {
            return Ok(None);
        };
        let Some(parsed) = super::record::parse_view_record(&record, key) else {
            return Ok(None);
        };
        Ok(self
            .image(&parsed.image.blake3)?
            .map(|image| CachedView { record, image }))
    }

    fn create_view(&self, key: &Key, view: &CachedView) -> io::Result<bool> {
        self.put_image(&view.image)?;
        self.create_view_record(key, &view.record)
    }

    fn inputs(&self, digest: &Key) -> io::Result<Option<Vec<u8>>> {
        SharedDir::inputs(self, digest)
    }

    fn put_inputs(&self, digest: &Key, bytes: &[u8]) -> io::Result<()> {
        SharedDir::put_inputs(self, digest, bytes)
    }
}

/// The bytes of `path`, `None` if it is not there.
fn read(path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
    match fsutil::read_bounded(path, limit) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(fsutil::BoundedReadError::Io(e)) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes `bytes` to `path` unless a file is there (`Ok(false)`), atomically and without
/// clobbering: of two writers racing, the first keeps the name.
fn create_once(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    std::fs::create_dir_all(path.parent().expect("a record's folder"))?;
    disco_fsutil::create_atomic(path, bytes)
}

/// Writes `bytes` to `path` atomically unless a file is there already.
fn put_once(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if path.is_file() {
        return Ok(());
    }
    std::fs::create_dir_all(path.parent().expect("a cache file's folder"))?;
    write_atomic(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Key {
        Key([b; 32])
    }

    #[test]
    fn only_file_urls_with_absolute_paths_open() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("c").display());
        assert!(SharedDir::open(&url).unwrap().root().is_dir());
        for bad in [
            "http://host/cache",
            "file://relative",
            "/plain/path",
            "s3://b",
        ] {
            assert!(
                matches!(SharedDir::open(bad), Err(CacheError::Url(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_first_record_wins_and_no_temporary_stays() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SharedDir::at(dir.path()).unwrap();
        assert!(cache.create_record(&key(1), b"first").unwrap());
        assert!(!cache.create_record(&key(1), b"second").unwrap());
        assert_eq!(cache.record(&key(1)).unwrap().unwrap(), b"first");
        let folder = cache.ac(&key(1), "json").parent().unwrap().to_owned();
        let names: Vec<_> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_blob_that_does_not_hash_to_its_name_is_no_image() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SharedDir::at(dir.path()).unwrap();
        cache.put_image(b"pixels").unwrap();
        let hash = blake3::hash(b"pixels").to_hex().to_string();
        assert_eq!(cache.image(&hash).unwrap().unwrap(), b"pixels");
        std::fs::write(cache.cas(&hash).unwrap(), b"tampered").unwrap();
        assert_eq!(cache.image(&hash).unwrap(), None);
    }

    #[test]
    fn only_64_lowercase_hex_digits_name_a_blob() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SharedDir::at(dir.path()).unwrap();
        assert!(is_hex64(&"0a".repeat(32)));
        for bad in [
            "../../etc/passwd",
            "",
            &"A".repeat(64),
            &"0".repeat(63),
            &"g".repeat(64),
        ] {
            assert!(!is_hex64(bad), "{bad}");
            assert_eq!(cache.image(bad).unwrap(), None);
        }
    }
}
