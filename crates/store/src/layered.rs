//! A checkout's objects layered over a shared cache ([`SharedCache`]: a directory or an
//! http(s) server): read-through (a job
//! missing here is pulled from the cache, whole and verified, before anyone asks to render
//! it) and write-back (a job is pushed when its record is put, i.e. after the job). The
//! engine sees one [`ObjectStore`]; the cache is never listed, collected or swept.
//!
//! A pull copies the image, the intermediate saves and the shared inputs here, then the
//! record: the local store keeps its rule "record last". An image whose blake3 disagrees
//! with the record is a miss. A push writes the blobs first and the record last; when
//! another worker's record for the key came first, this checkout adopts that worker's
//! image, so every checkout materialises the same pixels for a key.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::Arc;

use super::backend::{CachedJob, SharedCache};
use super::objects::{Listed, ObjectName, ObjectStore};
use super::record::parse_record;
use super::{Key, Record};

/// What a build does with the cache (`--cache-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Pull only; never write to the cache (people, pull-request builds).
    Read,
    /// Push only; never pull (a worker that must render what it is given).
    Write,
    /// Pull and push (the default).
    #[default]
    ReadWrite,
}

impl CacheMode {
    fn reads(self) -> bool {
        self != CacheMode::Write
    }

    fn writes(self) -> bool {
        self != CacheMode::Read
    }
}

/// A `--cache-mode` that is none of `read`, `write`, `readwrite`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a cache mode: write read, write or readwrite")]
pub struct CacheModeError(String);

impl FromStr for CacheMode {
    type Err = CacheModeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(CacheMode::Read),
            "write" => Ok(CacheMode::Write),
            "readwrite" => Ok(CacheMode::ReadWrite),
            _ => Err(CacheModeError(s.to_owned())),
        }
    }
}

impl fmt::Display for CacheMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CacheMode::Read => "read",
            CacheMode::Write => "write",
            CacheMode::ReadWrite => "readwrite",
        })
    }
}

/// Local objects over a shared cache.
#[derive(Debug)]
pub struct LayeredObjects {
    local: Arc<dyn ObjectStore>,
    shared: Arc<dyn SharedCache>,
    mode: CacheMode,
}

impl LayeredObjects {
    /// `local` over `shared`, used as `mode` says.
    pub fn new(local: Arc<dyn ObjectStore>, shared: Arc<dyn SharedCache>, mode: CacheMode) -> Self {
        LayeredObjects {
            local,
            shared,
            mode,
        }
    }

    /// Brings `name` here from the cache if it is not here and the mode reads.
    fn read_through(&self, name: &ObjectName) -> io::Result<()> {
        if !self.mode.reads() || self.local.contains(name) {
            return Ok(());
        }
        match *name {
            ObjectName::Image(k) | ObjectName::Partial(k, _) | ObjectName::Record(k) => {
                self.pull(&k).map(drop)
            }
            // a turbo frame's second images stay in the checkout that made them: a job
            // pulled without them renders again where they are needed
            ObjectName::Aux(..) => Ok(()),
            ObjectName::Inputs(d) => match self.shared.inputs(&d)? {
                Some(bytes) => self.local.put(name, &bytes),
                None => Ok(()),
            },
            ObjectName::Checkpoint(_) => Ok(()),
        }
    }

    /// Copies job `key` here from the cache, if the cache holds it whole: `Ok(false)` on a
    /// miss (no record, an unreadable one, an image that is missing or hashes otherwise, a
    /// missing intermediate save).
    fn pull(&self, key: &Key) -> io::Result<bool> {
        let Some((job, record)) = self.fetch(key)? else {
            return Ok(false);
        };
        self.local.put(&ObjectName::Image(*key), &job.image)?;
        for (j, png) in &job.partials {
            self.local.put(&ObjectName::Partial(*key, *j), png)?;
        }
        let inputs = ObjectName::Inputs(record.common);
        if !self.local.contains(&inputs)
            && let Some(b) = self.shared.inputs(&record.common)?
        {
            self.local.put(&inputs, &b)?;
        }
        self.local.put(&ObjectName::Record(*key), &job.record)?;
        Ok(true)
    }

    /// Job `key` from the cache and its parsed record, if whole: the record names `key`, the
    /// image hashes to the record's blake3, every save the record lists is there. Anything
    /// else is a miss, whatever the backend let through: wrong pixels are never served.
    fn fetch(&self, key: &Key) -> io::Result<Option<(CachedJob, Record)>> {
        let Some(job) = self.shared.get_job(key)? else {
            return Ok(None);
        };
        let Some(record) = parse_record(&job.record, key) else {
            return Ok(None);
        };
        let mut held: Vec<u32> = job.partials.iter().map(|(j, _)| *j).collect();
        let mut listed = record.partials.clone();
        held.sort_unstable();
        listed.sort_unstable();
        let whole =
            blake3::hash(&job.image).to_hex().as_str() == record.image.blake3 && held == listed;
        Ok(whole.then_some((job, record)))
    }

    /// Pushes job `key` (its record is `bytes`): blobs first, the record last. If another
    /// worker's record was first, this checkout takes that one and its image.
    fn push(&self, key: &Key, bytes: &[u8]) -> io::Result<()> {
        let Some(record) = parse_record(bytes, key) else {
            return Ok(());
        };
        let missing = || io::Error::new(io::ErrorKind::NotFound, format!("{key}: not stored"));
        let image = self
            .local
            .get(&ObjectName::Image(*key))?
            .ok_or_else(missing)?;
        let mut partials = Vec::with_capacity(record.partials.len());
        for &j in &record.partials {
            let png = self
                .local
                .get(&ObjectName::Partial(*key, j))?
                .ok_or_else(missing)?;
            partials.push((j, png));
        }
        if let Some(b) = self.local.get(&ObjectName::Inputs(record.common))? {
            self.shared.put_inputs(&record.common, &b)?;
        }
        let job = CachedJob {
            record: bytes.to_vec(),
            image,
            partials,
        };
        if self.shared.create_job(key, &job)? {
            return Ok(());
        }
        self.adopt(key, &record)
    }

    /// Takes the cache's record of `key` (and its image) in place of `ours`, when they
    /// differ and the cache's is whole: every checkout then holds the first writer's pixels.
    fn adopt(&self, key: &Key, ours: &Record) -> io::Result<()> {
        let Some((job, theirs)) = self.fetch(key)? else {
            return Ok(());
        };
        if theirs.image == ours.image {
            return Ok(());
        }
        // record last, as everywhere: a crash in between leaves no record, a re-render
        self.local.remove(&ObjectName::Record(*key))?;
        self.local.put(&ObjectName::Image(*key), &job.image)?;
        for (j, png) in &job.partials {
            self.local.put(&ObjectName::Partial(*key, *j), png)?;
        }
        self.local.put(&ObjectName::Record(*key), &job.record)?;
        Ok(())
    }
}

impl ObjectStore for LayeredObjects {
    fn get(&self, name: &ObjectName) -> io::Result<Option<Vec<u8>>> {
        self.read_through(name)?;
        self.local.get(name)
    }

    fn put(&self, name: &ObjectName, bytes: &[u8]) -> io::Result<()> {
        self.local.put(name, bytes)?;
        if !self.mode.writes() {
            return Ok(());
        }
        match name {
            ObjectName::Record(k) => self.push(k, bytes),
            ObjectName::Inputs(d) => self.shared.put_inputs(d, bytes),
            // images and saves go with their record; checkpoints stay here
            _ => Ok(()),
        }
    }

    fn contains(&self, name: &ObjectName) -> bool {
        // a cache that cannot be read is a miss: the job renders
        let _ = self.read_through(name);
        self.local.contains(name)
    }

    fn remove(&self, name: &ObjectName) -> io::Result<()> {
        self.local.remove(name)
    }

    fn list(&self) -> io::Result<Vec<Listed>> {
        self.local.list()
    }

    fn remove_listed(&self, entry: &Listed) -> io::Result<()> {
        self.local.remove_listed(entry)
    }

    fn local_path(&self, name: &ObjectName) -> Option<std::path::PathBuf> {
        self.local.local_path(name)
    }

    fn sweep_temporaries(&self, keys: &[Key]) {
        self.local.sweep_temporaries(keys);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{MemoryObjects, ObjectInfo, RECORD_FORMAT, SharedDir};

    /// A whole record for `key` whose image is `png` (the http tests use it too).
    pub(crate) fn record(key: Key, png: &[u8]) -> Vec<u8> {
        let r = Record {
            format: RECORD_FORMAT.into(),
            key,
            common: Key([9; 32]),
            frame: serde_json::Value::Null,
            image: ObjectInfo {
                blake3: blake3::hash(png).to_hex().to_string(),
                bytes: png.len() as u64,
            },
            partials: Vec::new(),
            seconds: 0.0,
            steps: 1,
            losses: serde_json::Value::Null,
            device: "cpu".into(),
            tool: "test".into(),
            finished: 0,
            target: None,
        };
        serde_json::to_vec(&r).unwrap()
    }

    /// A worker with its own local objects over `shared`.
    fn worker(shared: &SharedDir, mode: CacheMode) -> LayeredObjects {
        LayeredObjects::new(
            Arc::new(MemoryObjects::new()),
            Arc::new(shared.clone()),
            mode,
        )
    }

    fn store_job(w: &LayeredObjects, key: Key, png: &[u8]) {
        w.put(&ObjectName::Image(key), png).unwrap();
        w.put(&ObjectName::Record(key), &record(key, png)).unwrap();
    }

    #[test]
    fn a_job_one_worker_pushes_another_pulls() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let key = Key([1; 32]);
        store_job(&worker(&shared, CacheMode::ReadWrite), key, b"png");
        let other = worker(&shared, CacheMode::Read);
        assert!(other.contains(&ObjectName::Record(key)));
        assert_eq!(other.get(&ObjectName::Image(key)).unwrap().unwrap(), b"png");
        assert!(
            other.local.contains(&ObjectName::Record(key)),
            "pulled here"
        );
    }

    #[test]
    fn read_mode_writes_nothing_and_write_mode_pulls_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let key = Key([2; 32]);
        store_job(&worker(&shared, CacheMode::Read), key, b"png");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        store_job(&worker(&shared, CacheMode::Write), key, b"png");
        assert!(!worker(&shared, CacheMode::Write).contains(&ObjectName::Record(key)));
    }

    #[test]
    fn a_tampered_image_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let key = Key([3; 32]);
        store_job(&worker(&shared, CacheMode::ReadWrite), key, b"png");
        let hash = blake3::hash(b"png").to_hex().to_string();
        let blob = dir.path().join("cas").join(&hash[..2]).join(&hash);
        std::fs::write(&blob, b"evil").unwrap();
        let other = worker(&shared, CacheMode::Read);
        assert!(!other.contains(&ObjectName::Record(key)));
        assert_eq!(other.get(&ObjectName::Image(key)).unwrap(), None);
    }

    #[test]
    fn the_loser_of_a_race_adopts_the_winners_image() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let key = Key([4; 32]);
        store_job(&worker(&shared, CacheMode::ReadWrite), key, b"first");
        let loser = worker(&shared, CacheMode::ReadWrite);
        store_job(&loser, key, b"second");
        assert_eq!(
            loser.get(&ObjectName::Image(key)).unwrap().unwrap(),
            b"first"
        );
        let kept = loser.get(&ObjectName::Record(key)).unwrap().unwrap();
        assert_eq!(kept, record(key, b"first"));
    }

    #[test]
    fn a_worker_killed_before_its_record_leaves_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let key = Key([5; 32]);
        // the image reached the cache, the record never did (and a temporary was left)
        shared.put_image(b"png").unwrap();
        let folder = dir.path().join("ac").join(key.fanout());
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(".disco-tmp-abc"), b"{\"half").unwrap();
        let other = worker(&shared, CacheMode::ReadWrite);
        assert!(!other.contains(&ObjectName::Record(key)));
        assert!(!other.contains(&ObjectName::Image(key)));
        // its next writer completes the key
        store_job(&other, key, b"png");
        assert!(worker(&shared, CacheMode::Read).contains(&ObjectName::Record(key)));
    }
}
