//! A checkout's objects layered over a shared cache ([`SharedCache`]: a directory or an
//! http(s) server): read-through (a job
//! missing here is pulled from the cache, whole and verified, before anyone asks to render
//! it) and write-back (a job is pushed when its record is put, i.e. after the job). The
//! engine sees one [`ObjectStore`]; the cache is never listed, collected or swept.
//!
//! A pull copies the image, the intermediate saves, a 3D turbo frame's second images (which
//! its record names with their blake3) and the shared inputs here, then the record: the
//! local store keeps its rule "record last". An image or second image whose blake3
//! disagrees with the record, or one the record names that the cache lacks, is a miss. A
//! push writes the blobs first and the record last; when another worker's record for the
//! key came first, this checkout adopts that worker's images, so every checkout
//! materialises the same pixels for a key.
//!
//! A VR eye view has no record: it is pushed when its image is put, as the image and a
//! view record naming its key and blake3 (the first one wins, and a loser adopts the
//! winner's image), and pulled, verified against that view record, with its shared inputs
//! when a build asks whether it is stored.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::Arc;

use super::backend::{CachedJob, CachedView, SharedCache};
use super::objects::{Aux, Listed, ObjectName, ObjectStore};
use super::record::{ViewRecord, parse_record, parse_view_record};
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
            // a turbo frame's second images come with their job: a job pulled before it
            // had them (an older record, naming none) is pulled again if the cache now does
            ObjectName::Aux(k, Aux::Next | Aux::Old) => self.pull(&k).map(drop),
            ObjectName::Aux(k, Aux::Eye) => self.pull_view(&k).map(drop),
            ObjectName::Inputs(d) => self.pull_inputs(&d),
            ObjectName::Checkpoint(_) => Ok(()),
        }
    }

    /// Copies shared inputs `digest` here from the cache, if held there and not here.
    fn pull_inputs(&self, digest: &Key) -> io::Result<()> {
        let inputs = ObjectName::Inputs(*digest);
        if self.local.contains(&inputs) {
            return Ok(());
        }
        match self.shared.inputs(digest)? {
            Some(bytes) => self.local.put(&inputs, &bytes),
            None => Ok(()),
        }
    }

    /// Copies job `key` here from the cache, if the cache holds it whole: `Ok(false)` on a
    /// miss (no record, an unreadable one, an image or a second image that is missing or
    /// hashes otherwise, a missing intermediate save).
    fn pull(&self, key: &Key) -> io::Result<bool> {
        let Some((job, record)) = self.fetch(key)? else {
            return Ok(false);
        };
        self.pull_inputs(&record.common)?;
        self.install(key, &job)?;
        Ok(true)
    }

    /// Puts job `key`'s blobs here, then its record (a record here already goes first: a
    /// crash in between leaves no record, a re-render, never a record over other pixels).
    fn install(&self, key: &Key, job: &CachedJob) -> io::Result<()> {
        self.local.remove(&ObjectName::Record(*key))?;
        self.local.put(&ObjectName::Image(*key), &job.image)?;
        for (j, png) in &job.partials {
            self.local.put(&ObjectName::Partial(*key, *j), png)?;
        }
        for (a, png) in &job.aux {
            self.local.put(&ObjectName::Aux(*key, *a), png)?;
        }
        self.local.put(&ObjectName::Record(*key), &job.record)
    }

    /// Job `key` from the cache and its parsed record, if whole: the record names `key`, the
    /// image and every second image hash to the record's blake3, every save the record
    /// lists is there. Anything else is a miss, whatever the backend let through: wrong
    /// pixels are never served.
    fn fetch(&self, key: &Key) -> io::Result<Option<(CachedJob, Record)>> {
        let Some(job) = self.shared.get_job(key)? else {
            return Ok(None);
        };
        let Some(record) = parse_record(&job.record, key) else {
            return Ok(None);
        };
        let Some(mut listed_aux) = record.aux_images() else {
            return Ok(None);
        };
        let mut held: Vec<u32> = job.partials.iter().map(|(j, _)| *j).collect();
        let mut listed = record.partials.clone();
        held.sort_unstable();
        listed.sort_unstable();
        let mut held_aux: Vec<(Aux, &[u8])> =
            job.aux.iter().map(|(a, b)| (*a, b.as_slice())).collect();
        listed_aux.sort_unstable_by_key(|(a, _)| *a);
        held_aux.sort_unstable_by_key(|(a, _)| *a);
        let aux_whole = listed_aux.len() == held_aux.len()
            && listed_aux
                .iter()
                .zip(&held_aux)
                .all(|((a, info), (b, png))| a == b && info.matches(png));
        let whole = record.image.matches(&job.image) && held == listed && aux_whole;
        Ok(whole.then_some((job, record)))
    }

    /// Pushes job `key` (its record is `bytes`): blobs first, the record last. If another
    /// worker's record was first, this checkout takes that one and its image.
    fn push(&self, key: &Key, bytes: &[u8]) -> io::Result<()> {
        let Some(record) = parse_record(bytes, key) else {
            return Ok(());
        };
        // a record naming a second image no job has is not the cache's to carry
        let Some(wanted_aux) = record.aux_images() else {
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
        let mut aux = Vec::with_capacity(wanted_aux.len());
        for (a, _) in wanted_aux {
            let png = self
                .local
                .get(&ObjectName::Aux(*key, a))?
                .ok_or_else(missing)?;
            aux.push((a, png));
        }
        if let Some(b) = self.local.get(&ObjectName::Inputs(record.common))? {
            self.shared.put_inputs(&record.common, &b)?;
        }
        let job = CachedJob {
            record: bytes.to_vec(),
            image,
            partials,
            aux,
        };
        if self.shared.create_job(key, &job)? {
            return Ok(());
        }
        self.adopt(key, &record)
    }

    /// Takes the cache's record of `key` (and its images) in place of `ours`, when they
    /// differ and the cache's is whole: every checkout then holds the first writer's pixels.
    fn adopt(&self, key: &Key, ours: &Record) -> io::Result<()> {
        let Some((job, theirs)) = self.fetch(key)? else {
            return Ok(());
        };
        if theirs.image == ours.image && theirs.aux == ours.aux {
            return Ok(());
        }
        self.install(key, &job)
    }

    /// Eye view `key` from the cache, if its view record names `key` and its image hashes
    /// as the view record says (else a miss).
    fn fetch_view(&self, key: &Key) -> io::Result<Option<(CachedView, ViewRecord)>> {
        let Some(view) = self.shared.get_view(key)? else {
            return Ok(None);
        };
        let Some(record) = parse_view_record(&view.record, key) else {
            return Ok(None);
        };
        Ok(record.image.matches(&view.image).then_some((view, record)))
    }

    /// Copies eye view `key` here from the cache, its shared inputs first (a view here can
    /// always be explained): `Ok(false)` on a miss.
    fn pull_view(&self, key: &Key) -> io::Result<bool> {
        let Some((view, _)) = self.fetch_view(key)? else {
            return Ok(false);
        };
        self.pull_inputs(key)?;
        self.local
            .put(&ObjectName::Aux(*key, Aux::Eye), &view.image)?;
        Ok(true)
    }

    /// Pushes eye view `key` (its image is `png`): the image first, its view record last. If
    /// another worker's view was first, this checkout takes that one.
    fn push_view(&self, key: &Key, png: &[u8]) -> io::Result<()> {
        let ours = ViewRecord::of(*key, png);
        let view = CachedView {
            record: ours.to_bytes(),
            image: png.to_vec(),
        };
        if self.shared.create_view(key, &view)? {
            return Ok(());
        }
        match self.fetch_view(key)? {
            Some((theirs, record)) if record.image != ours.image => self
                .local
                .put(&ObjectName::Aux(*key, Aux::Eye), &theirs.image),
            _ => Ok(()),
        }
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
            // an eye view has no record: it travels as its image is put
            ObjectName::Aux(k, Aux::Eye) => self.push_view(k, bytes),
            // images, saves and second images go with their record; checkpoints stay here
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
            aux: Default::default(),
        };
        serde_json::to_vec(&r).unwrap()
    }

    /// A whole record for turbo job `key` whose image is `png` and second images `aux`.
    pub(crate) fn turbo_record(key: Key, png: &[u8], aux: &[(Aux, &[u8])]) -> Vec<u8> {
        let mut r = parse_record(&record(key, png), &key).unwrap();
        for (a, b) in aux {
            r.aux.insert(a.name().to_owned(), ObjectInfo::of(b));
        }
        serde_json::to_vec(&r).unwrap()
    }

    /// Stores turbo job `key` in `w` as the engine does: second images, image, record.
    pub(crate) fn store_turbo_job(w: &LayeredObjects, key: Key, png: &[u8]) {
        let aux: [(Aux, &[u8]); 2] = [(Aux::Next, b"next"), (Aux::Old, b"old")];
        for (a, b) in aux {
            w.put(&ObjectName::Aux(key, a), b).unwrap();
        }
        w.put(&ObjectName::Image(key), png).unwrap();
        w.put(&ObjectName::Record(key), &turbo_record(key, png, &aux))
            .unwrap();
    }

    /// Where the directory cache keeps the image whose bytes are `bytes`.
    fn cas_path(dir: &std::path::Path, bytes: &[u8]) -> std::path::PathBuf {
        let hash = blake3::hash(bytes).to_hex().to_string();
        dir.join("cas").join(&hash[..2]).join(&hash)
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

    #[test]
    fn a_turbo_job_travels_with_its_second_images() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let key = Key([6; 32]);
        store_turbo_job(&worker(&shared, CacheMode::ReadWrite), key, b"png");
        // asking for a second image pulls the whole job, record last
        let other = worker(&shared, CacheMode::Read);
        assert!(other.contains(&ObjectName::Aux(key, Aux::Old)));
        assert!(other.local.contains(&ObjectName::Record(key)));
        for (a, b) in [(Aux::Next, &b"next"[..]), (Aux::Old, b"old")] {
            assert_eq!(
                other.local.get(&ObjectName::Aux(key, a)).unwrap().unwrap(),
                b
            );
        }
        // and asking for the record brings the second images along
        let third = worker(&shared, CacheMode::Read);
        assert!(third.contains(&ObjectName::Record(key)));
        assert!(third.local.contains(&ObjectName::Aux(key, Aux::Next)));
    }

    #[test]
    fn a_turbo_job_whose_second_image_is_missing_or_wrong_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let key = Key([7; 32]);
        store_turbo_job(&worker(&shared, CacheMode::ReadWrite), key, b"png");
        let old = cas_path(dir.path(), b"old");
        std::fs::write(&old, b"evil").unwrap();
        let other = worker(&shared, CacheMode::Read);
        assert!(!other.contains(&ObjectName::Record(key)));
        assert!(!other.contains(&ObjectName::Aux(key, Aux::Next)));
        assert_eq!(other.get(&ObjectName::Image(key)).unwrap(), None);
        std::fs::remove_file(&old).unwrap();
        assert!(!other.contains(&ObjectName::Record(key)));
        assert!(
            !other.local.contains(&ObjectName::Image(key)),
            "nothing pulled"
        );
    }

    #[test]
    fn a_backend_that_serves_other_second_images_is_a_miss() {
        /// A cache that hands back its jobs with their second images swapped.
        #[derive(Debug)]
        struct Swapping(SharedDir);
        impl SharedCache for Swapping {
            fn get_job(&self, key: &Key) -> io::Result<Option<CachedJob>> {
                Ok(self.0.get_job(key)?.map(|mut j| {
                    j.aux
                        .iter_mut()
                        .for_each(|(a, _)| *a = if *a == Aux::Next { Aux::Old } else { Aux::Next });
                    j
                }))
            }
            fn create_job(&self, key: &Key, job: &CachedJob) -> io::Result<bool> {
                self.0.create_job(key, job)
            }
            fn get_view(&self, key: &Key) -> io::Result<Option<CachedView>> {
                self.0.get_view(key)
            }
            fn create_view(&self, key: &Key, view: &CachedView) -> io::Result<bool> {
                self.0.create_view(key, view)
            }
            fn inputs(&self, digest: &Key) -> io::Result<Option<Vec<u8>>> {
                SharedCache::inputs(&self.0, digest)
            }
            fn put_inputs(&self, digest: &Key, bytes: &[u8]) -> io::Result<()> {
                SharedCache::put_inputs(&self.0, digest, bytes)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let key = Key([8; 32]);
        store_turbo_job(&worker(&shared, CacheMode::ReadWrite), key, b"png");
        let swapped = LayeredObjects::new(
            Arc::new(MemoryObjects::new()),
            Arc::new(Swapping(shared.clone())),
            CacheMode::Read,
        );
        assert!(!swapped.contains(&ObjectName::Record(key)));
        assert!(worker(&shared, CacheMode::Read).contains(&ObjectName::Record(key)));
    }

    #[test]
    fn an_older_record_naming_no_second_images_is_pulled_without_them() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let key = Key([9; 32]);
        store_job(&worker(&shared, CacheMode::ReadWrite), key, b"png");
        let other = worker(&shared, CacheMode::Read);
        assert!(!other.contains(&ObjectName::Aux(key, Aux::Next)));
        assert!(
            other.local.contains(&ObjectName::Record(key)),
            "the job came"
        );
    }

    #[test]
    fn the_loser_of_a_turbo_race_adopts_the_winners_second_images() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let key = Key([10; 32]);
        store_turbo_job(&worker(&shared, CacheMode::ReadWrite), key, b"png");
        let loser = worker(&shared, CacheMode::ReadWrite);
        let aux: [(Aux, &[u8]); 2] = [(Aux::Next, b"next2"), (Aux::Old, b"old")];
        for (a, b) in aux {
            loser.put(&ObjectName::Aux(key, a), b).unwrap();
        }
        loser.put(&ObjectName::Image(key), b"png").unwrap();
        loser
            .put(&ObjectName::Record(key), &turbo_record(key, b"png", &aux))
            .unwrap();
        assert_eq!(
            loser
                .get(&ObjectName::Aux(key, Aux::Next))
                .unwrap()
                .unwrap(),
            b"next"
        );
    }

    #[test]
    fn an_eye_view_round_trips_with_its_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let view = Key([11; 32]);
        let eye = ObjectName::Aux(view, Aux::Eye);
        let maker = worker(&shared, CacheMode::ReadWrite);
        maker
            .put(&ObjectName::Inputs(view), b"{\"ipd\":5}")
            .unwrap();
        maker.put(&eye, b"left-right").unwrap();
        let other = worker(&shared, CacheMode::Read);
        assert!(other.contains(&eye));
        assert_eq!(other.get(&eye).unwrap().unwrap(), b"left-right");
        assert!(other.local.contains(&ObjectName::Inputs(view)), "explained");
        // read mode pushes no view
        let reader = worker(&shared, CacheMode::Read);
        reader
            .put(&ObjectName::Aux(Key([12; 32]), Aux::Eye), b"x")
            .unwrap();
        assert!(
            !worker(&shared, CacheMode::Read).contains(&ObjectName::Aux(Key([12; 32]), Aux::Eye))
        );
    }

    #[test]
    fn a_corrupted_eye_view_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let view = Key([13; 32]);
        let eye = ObjectName::Aux(view, Aux::Eye);
        worker(&shared, CacheMode::ReadWrite)
            .put(&eye, b"view")
            .unwrap();
        std::fs::write(cas_path(dir.path(), b"view"), b"evil").unwrap();
        let other = worker(&shared, CacheMode::Read);
        assert!(!other.contains(&eye));
        assert_eq!(other.get(&eye).unwrap(), None);
        // a view record of another key, whose image is whole, is a miss too
        let moved = Key([14; 32]);
        worker(&shared, CacheMode::ReadWrite)
            .put(&ObjectName::Aux(moved, Aux::Eye), b"other")
            .unwrap();
        let folder = dir.path().join("ac").join(view.fanout());
        let theirs = std::fs::read(
            dir.path()
                .join("ac")
                .join(moved.fanout())
                .join(format!("{moved}.view.json")),
        )
        .unwrap();
        std::fs::write(folder.join(format!("{view}.view.json")), theirs).unwrap();
        assert!(!worker(&shared, CacheMode::Read).contains(&eye));
    }

    #[test]
    fn a_hostile_view_record_is_a_miss_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let view = Key([16; 32]);
        let eye = ObjectName::Aux(view, Aux::Eye);
        worker(&shared, CacheMode::ReadWrite)
            .put(&eye, b"view")
            .unwrap();
        let record = dir
            .path()
            .join("ac")
            .join(view.fanout())
            .join(format!("{view}.view.json"));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let hostile: [&[u8]; 5] = [
            b"not json",
            deep.as_bytes(),
            b"{\"format\":\"disco-view/1\",\"key\":\"x\ny\",\"image\":{\"blake3\":\"NaN\",\"bytes\":1e999}}",
            b"",
            &[0xff, 0xfe, 0x00],
        ];
        for bytes in hostile {
            std::fs::write(&record, bytes).unwrap();
            let other = worker(&shared, CacheMode::Read);
            assert!(!other.contains(&eye));
            assert_eq!(other.get(&eye).unwrap(), None);
        }
        // a FIFO in the record's place is never opened for reading (no hang): a miss
        std::fs::remove_file(&record).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(&record)
            .status()
            .unwrap();
        assert!(status.success());
        assert!(!worker(&shared, CacheMode::Read).contains(&eye));
    }

    #[test]
    fn the_loser_of_an_eye_view_race_adopts_the_winners_view() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::at(dir.path()).unwrap();
        let eye = ObjectName::Aux(Key([15; 32]), Aux::Eye);
        worker(&shared, CacheMode::ReadWrite)
            .put(&eye, b"first")
            .unwrap();
        let loser = worker(&shared, CacheMode::ReadWrite);
        loser.put(&eye, b"second").unwrap();
        assert_eq!(loser.get(&eye).unwrap().unwrap(), b"first");
    }
}
