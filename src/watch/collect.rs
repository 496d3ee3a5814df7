//! Collect: file-system events → the set of saved files worth a reload (STYLE.md rule 21).
//!
//! The DIRECTORIES holding what the plan read are watched, not the files: editors save by
//! writing a temporary file and renaming it over the old one, which ends a watch on the
//! file itself. Events under `.disco/` and `images_out/` (everything the tool writes) are
//! dropped, and so are files the project does not read; the accepted ones gather in a
//! [`Window`] that closes a debounce interval after the first of them.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, MetadataKind, ModifyKind};
use notify::{EventKind, PollWatcher, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer_opt};

use crate::plan::IMAGES_OUT;

/// Prefix of the temporary files `fsutil::write_atomic` renames into place.
const TEMP_PREFIX: &str = ".disco-tmp-";

/// What a plan read from disk: the files whose saves matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deps {
    /// The project directory (`.disco/` and `images_out/` live there).
    pub project_dir: PathBuf,
    /// Files read: the project, its includes, init images, image prompts.
    pub files: HashSet<PathBuf>,
    /// Directories any file of which matters: model sets.
    pub dirs: HashSet<PathBuf>,
}

impl Deps {
    /// The directories to watch (non-recursively).
    pub fn watch_dirs(&self) -> BTreeSet<PathBuf> {
        self.files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .chain(self.dirs.iter().cloned())
            .chain([self.project_dir.clone()])
            .collect()
    }

    /// Whether the tool itself writes `path` (its store, outputs and temporary files).
    pub fn is_own(&self, path: &Path) -> bool {
        let own = [
            self.project_dir.join(".disco"),
            self.project_dir.join(IMAGES_OUT),
        ];
        own.iter().any(|d| path.starts_with(d))
            || path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(TEMP_PREFIX))
    }

    /// Whether a change to `path` may change the plan. With `invalid` (the last load
    /// failed, so its includes are not all known), any `.kdl` file counts too; other files
    /// do not, or a log written beside the project would reload it forever.
    pub fn matters(&self, path: &Path, invalid: bool) -> bool {
        if self.is_own(path) {
            return false;
        }
        self.files.contains(path)
            || path.parent().is_some_and(|d| self.dirs.contains(d))
            || (invalid && path.extension().is_some_and(|e| e == "kdl"))
    }
}

/// `path` with its directory made absolute and canonical (what the watcher reports);
/// the file itself may not exist.
pub fn normalise(path: &Path) -> PathBuf {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return path.to_path_buf();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    match dir.canonicalize() {
        Ok(d) => d.join(name),
        Err(_) => path.to_path_buf(),
    }
}

/// Accepted paths gathered from the first one until `debounce` later: several saves in
/// one window give one reload.
#[derive(Debug)]
pub struct Window {
    debounce: Duration,
    opened: Option<Instant>,
    paths: BTreeSet<PathBuf>,
}

impl Window {
    /// A closed window of `debounce`.
    pub fn new(debounce: Duration) -> Window {
        Window {
            debounce,
            opened: None,
            paths: BTreeSet::new(),
        }
    }

    /// Adds accepted paths seen at `now`; the first opens the window.
    pub fn push(&mut self, now: Instant, paths: impl IntoIterator<Item = PathBuf>) {
        let before = self.paths.len();
        self.paths.extend(paths);
        if self.opened.is_none() && self.paths.len() > before {
            self.opened = Some(now);
        }
    }

    /// How long until the window closes (`None`: it is not open).
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.opened
            .map(|t| (t + self.debounce).saturating_duration_since(now))
    }

    /// The paths, once the window has closed at `now`; the window is then closed.
    pub fn take_due(&mut self, now: Instant) -> Option<Vec<PathBuf>> {
        if self.remaining(now)? > Duration::ZERO {
            return None;
        }
        self.opened = None;
        Some(std::mem::take(&mut self.paths).into_iter().collect())
    }
}

/// Whether an event of this kind may have changed a file's content. Reading is not a
/// change: every reload reads the project (and hashes new files), and counting those reads
/// would reload forever.
pub fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        // chmod, atime: the bytes are the same
        EventKind::Modify(ModifyKind::Metadata(m)) => *m == MetadataKind::WriteTime,
        _ => true,
    }
}

/// Raw batches from the notify debouncer: every path named, or the watcher's errors.
pub type Batch = Result<Vec<PathBuf>, NotifyErrors>;

/// The errors notify reported in one batch (a watch lost, an unreadable folder).
#[derive(Debug)]
pub struct NotifyErrors(pub Vec<notify::Error>);

impl std::fmt::Display for NotifyErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for NotifyErrors {}

enum Inner {
    Native(Debouncer<RecommendedWatcher, RecommendedCache>),
    Poll(Debouncer<PollWatcher, RecommendedCache>),
}

/// The notify watcher with its debouncer, watching a set of directories.
pub struct Collector {
    inner: Inner,
    watched: BTreeSet<PathBuf>,
}

impl Collector {
    /// Starts watching nothing yet; batches go to `tx`. `poll`: scan every `debounce`
    /// instead of kernel notifications (network file systems).
    pub fn new(
        debounce: Duration,
        poll: bool,
        tx: Sender<Batch>,
    ) -> Result<Collector, notify::Error> {
        let handler = move |r: DebounceEventResult| {
            let batch = match r {
                Ok(events) => Ok(events
                    .into_iter()
                    .filter(|e| is_change(&e.event.kind))
                    .flat_map(|e| e.event.paths)
                    .collect()),
                Err(errors) => Err(NotifyErrors(errors)),
            };
            let _ = tx.send(batch);
        };
        // notify's debouncer merges an editor's burst (truncate, write, rename) per path;
        // the [`Window`] then merges paths
        let timeout = (debounce / 2).max(Duration::from_millis(10));
        let inner = if poll {
            let config = notify::Config::default()
                .with_poll_interval(debounce.max(Duration::from_millis(50)))
                .with_compare_contents(false);
            Inner::Poll(new_debouncer_opt(
                timeout,
                None,
                handler,
                RecommendedCache::new(),
                config,
            )?)
        } else {
            Inner::Native(new_debouncer_opt(
                timeout,
                None,
                handler,
                RecommendedCache::new(),
                notify::Config::default(),
            )?)
        };
        Ok(Collector {
            inner,
            watched: BTreeSet::new(),
        })
    }

    /// Watches exactly `dirs` (those that exist); returns the ones watched.
    pub fn watch(&mut self, dirs: BTreeSet<PathBuf>) -> Result<Vec<PathBuf>, notify::Error> {
        for d in self.watched.difference(&dirs).cloned().collect::<Vec<_>>() {
            let _ = match &mut self.inner {
                Inner::Native(w) => w.unwatch(&d),
                Inner::Poll(w) => w.unwatch(&d),
            };
            self.watched.remove(&d);
        }
        for d in dirs.into_iter().filter(|d| d.is_dir()) {
            if self.watched.contains(&d) {
                continue;
            }
            match &mut self.inner {
                Inner::Native(w) => w.watch(&d, RecursiveMode::NonRecursive)?,
                Inner::Poll(w) => w.watch(&d, RecursiveMode::NonRecursive)?,
            }
            self.watched.insert(d);
        }
        Ok(self.watched.iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps() -> Deps {
        Deps {
            project_dir: PathBuf::from("/p"),
            files: ["/p/disco.kdl", "/p/common.kdl", "/p/init/a.png"]
                .map(PathBuf::from)
                .into(),
            dirs: [PathBuf::from("/m/tiny")].into(),
        }
    }

    #[test]
    fn the_tools_own_writes_never_matter() {
        let d = deps();
        for p in [
            "/p/.disco/objects/ab/ab.png",
            "/p/.disco/lock",
            "/p/images_out/film/film(0)_0001.png",
            "/p/images_out/film/progress.png",
            "/p/.disco-tmp-123",
            "/m/tiny/.disco-tmp-9",
        ] {
            assert!(!d.matters(Path::new(p), false), "{p}");
            assert!(!d.matters(Path::new(p), true), "{p} after a failed load");
        }
    }

    #[test]
    fn files_the_plan_read_matter_and_others_do_not() {
        let d = deps();
        for p in [
            "/p/disco.kdl",
            "/p/common.kdl",
            "/p/init/a.png",
            "/m/tiny/unet_fwd.onnx",
        ] {
            assert!(d.matters(Path::new(p), false), "{p}");
        }
        for p in [
            "/p/notes.txt",
            "/p/.disco.kdl.swp",
            "/p/init/b.png",
            "/m/other/x",
        ] {
            assert!(!d.matters(Path::new(p), false), "{p}");
        }
        // after a failed load an include the project may now name counts; a log does not
        assert!(d.matters(Path::new("/p/new.kdl"), true));
        assert!(!d.matters(Path::new("/p/new.kdl"), false));
        assert!(!d.matters(Path::new("/p/watch.log"), true));
    }

    #[test]
    fn the_watched_directories_hold_every_dependency() {
        let dirs: Vec<PathBuf> = deps().watch_dirs().into_iter().collect();
        assert_eq!(dirs, ["/m/tiny", "/p", "/p/init"].map(PathBuf::from));
    }

    #[test]
    fn several_saves_in_one_window_give_one_batch() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut w = Window::new(ms(100));
        assert_eq!(w.remaining(t0), None, "closed until a path comes");
        w.push(t0, [PathBuf::from("/p/disco.kdl")]);
        w.push(t0 + ms(30), [PathBuf::from("/p/disco.kdl")]);
        w.push(t0 + ms(60), [PathBuf::from("/p/common.kdl")]);
        assert_eq!(w.take_due(t0 + ms(90)), None);
        // the window counts from the first save, not the last
        assert_eq!(w.remaining(t0 + ms(90)), Some(ms(10)));
        assert_eq!(
            w.take_due(t0 + ms(100)),
            Some(vec![
                PathBuf::from("/p/common.kdl"),
                PathBuf::from("/p/disco.kdl")
            ])
        );
        assert_eq!(w.take_due(t0 + ms(300)), None, "one batch, once");
        w.push(t0 + ms(400), []);
        assert_eq!(
            w.remaining(t0 + ms(400)),
            None,
            "nothing accepted opens nothing"
        );
    }

    #[test]
    fn reads_are_not_changes() {
        use notify::event::{CreateKind, DataChange, RemoveKind, RenameMode};
        for k in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Permissions)),
        ] {
            assert!(!is_change(&k), "{k:?}");
        }
        for k in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            EventKind::Create(CreateKind::File),
            EventKind::Remove(RemoveKind::File),
            EventKind::Any,
        ] {
            assert!(is_change(&k), "{k:?}");
        }
    }

    #[test]
    fn a_rename_over_a_watched_file_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let kdl = normalise(&dir.path().join("disco.kdl"));
        std::fs::write(&kdl, "a").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut c = Collector::new(Duration::from_millis(40), false, tx).unwrap();
        c.watch([kdl.parent().unwrap().to_path_buf()].into())
            .unwrap();
        let tmp = kdl.with_file_name("disco.kdl.tmp");
        std::fs::write(&tmp, "b").unwrap();
        std::fs::rename(&tmp, &kdl).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = Vec::new();
        while !seen.contains(&kdl) && Instant::now() < deadline {
            if let Ok(Ok(paths)) = rx.recv_timeout(Duration::from_millis(100)) {
                seen.extend(paths);
            }
        }
        assert!(seen.contains(&kdl), "{seen:?}");
    }
}
