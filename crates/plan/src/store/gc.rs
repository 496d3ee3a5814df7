//! `disco gc`: removes cached images, shared inputs and checkpoints that no current target
//! references, and temporary files a killed process left behind.
//!
//! What is kept is decided by the caller (every target of the project, whatever the
//! command line selects); a selection only narrows what may go: with target names, an
//! unreferenced object goes only if its record says one of them made it, and inputs and
//! checkpoints (which name no target) stay.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use crate::Key;

/// What `gc` keeps and what it may remove.
#[derive(Debug, Default, Clone)]
pub struct GcSelection {
    /// Keys of every job some target of the project references: never removed.
    pub keep: HashSet<Key>,
    /// Digests of every target's shared inputs: never removed.
    pub keep_inputs: HashSet<Key>,
    /// Target labels (`name` or `name[cell]`) whose unreferenced objects may go; `None`:
    /// every unreferenced object may.
    pub only: Option<HashSet<String>>,
    /// List what would go; remove nothing.
    pub dry_run: bool,
}

/// What `gc` removed (or, in a dry run, would remove).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Cached images (with their records and intermediate saves) removed.
    pub objects: usize,
    /// Files removed in all.
    pub files: usize,
    /// Bytes freed.
    pub bytes: u64,
    /// Every file removed, with its size.
    pub removed: Vec<(PathBuf, u64)>,
}

impl GcReport {
    fn remove(&mut self, path: &Path, dry_run: bool) -> io::Result<()> {
        let len = path.symlink_metadata().map(|m| m.len()).unwrap_or(0);
        if !dry_run {
            std::fs::remove_file(path)?;
        }
        self.files += 1;
        self.bytes += len;
        self.removed.push((path.to_path_buf(), len));
        Ok(())
    }
}

/// The key an object file belongs to: `<key>.png`, `<key>.<j>.png`, `<key>.json`,
/// `<key>.ckpt`.
fn file_key(name: &str) -> Option<Key> {
    name.get(..64)?.parse().ok()
}

pub fn run(root: &Path, sel: &GcSelection) -> io::Result<GcReport> {
    let mut report = GcReport::default();
    // the shared inputs every kept record points at stay too (a locked image of another
    // device has its own), so `plan` can still explain what changed since it
    let mut keep_inputs = sel.keep_inputs.clone();
    for dir in read_dirs(&root.join("objects"))? {
        // which unreferenced keys of this folder may go (narrowed by their records)
        let mut may_go: std::collections::HashMap<Key, bool> = Default::default();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()?;
        entries.sort();
        for path in entries {
            let name = file_name(&path);
            let stray = name.starts_with(".disco-tmp-");
            let go = match file_key(&name) {
                _ if stray => true,
                Some(k) if sel.keep.contains(&k) => {
                    if name.ends_with(".json")
                        && let Some(r) = std::fs::read(&path)
                            .ok()
                            .and_then(|b| super::objects::parse_record(&b, &k))
                    {
                        keep_inputs.insert(r.common);
                    }
                    false
                }
                Some(k) => *may_go
                    .entry(k)
                    .or_insert_with(|| selected(&dir, &k, sel.only.as_ref())),
                // not an object file: not ours to judge under a selection
                None => sel.only.is_none(),
            };
            if go {
                if name.ends_with(".json") && !stray {
                    report.objects += 1;
                }
                report.remove(&path, sel.dry_run)?;
            }
        }
        // an emptied fan-out directory goes too
        if !sel.dry_run {
            let _ = std::fs::remove_dir(&dir);
        }
    }
    if sel.only.is_none() {
        // inputs and checkpoints name no target: only a whole-project gc judges them
        for (sub, set) in [("inputs", &keep_inputs), ("partial", &sel.keep)] {
            let Ok(entries) = std::fs::read_dir(root.join(sub)) else {
                continue;
            };
            for entry in entries {
                let path = entry?.path();
                let name = file_name(&path);
                if !file_key(&name).is_some_and(|k| set.contains(&k)) {
                    report.remove(&path, sel.dry_run)?;
                }
            }
        }
    }
    for entry in std::fs::read_dir(root)? {
        let path = entry?.path();
        if file_name(&path).starts_with(".disco-tmp-") {
            report.remove(&path, sel.dry_run)?;
        }
    }
    Ok(report)
}

/// Whether unreferenced object `key` (in `dir`) is within `only`: its record names one
/// of those targets. Without a readable record naming a target, only a whole-project gc
/// removes it.
fn selected(dir: &Path, key: &Key, only: Option<&HashSet<String>>) -> bool {
    let Some(only) = only else {
        return true;
    };
    std::fs::read(dir.join(format!("{key}.json")))
        .ok()
        .and_then(|b| super::objects::parse_record(&b, key))
        .and_then(|r| r.target)
        .is_some_and(|t| only.contains(&t))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn read_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut out = Vec::new();
            for e in entries {
                let p = e?.path();
                if p.is_dir() {
                    out.push(p);
                }
            }
            out.sort();
            Ok(out)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
