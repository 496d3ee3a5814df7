//! `disco gc`: removes cached images, shared inputs and checkpoints that no current target
//! references, and temporary files a killed process left behind.

use std::collections::HashSet;
use std::io;
use std::path::Path;

use crate::plan::Key;

/// What `gc` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Cached images (with their records and intermediate saves) removed.
    pub objects: usize,
    /// Files removed in all.
    pub files: usize,
    /// Bytes freed.
    pub bytes: u64,
}

/// The key an object file belongs to: `<key>.png`, `<key>.<j>.png`, `<key>.json`,
/// `<key>.ckpt`.
fn file_key(name: &str) -> Option<Key> {
    name.get(..64)?.parse().ok()
}

pub fn run(root: &Path, keep: &HashSet<Key>, keep_inputs: &HashSet<Key>) -> io::Result<GcReport> {
    let mut report = GcReport::default();
    let remove = |path: &Path, report: &mut GcReport| -> io::Result<()> {
        let len = path.metadata().map(|m| m.len()).unwrap_or(0);
        std::fs::remove_file(path)?;
        report.files += 1;
        report.bytes += len;
        Ok(())
    };
    for dir in read_dirs(&root.join("objects"))? {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = file_name(&path);
            let stray = name.starts_with(".disco-tmp-");
            match file_key(&name) {
                Some(k) if !stray && keep.contains(&k) => {}
                k => {
                    if name.ends_with(".json") && k.is_some() {
                        report.objects += 1;
                    }
                    remove(&path, &mut report)?;
                }
            }
        }
        // an emptied fan-out directory goes too
        let _ = std::fs::remove_dir(&dir);
    }
    for (sub, set) in [("inputs", keep_inputs), ("partial", keep)] {
        let Ok(entries) = std::fs::read_dir(root.join(sub)) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            let name = file_name(&path);
            if !file_key(&name).is_some_and(|k| set.contains(&k)) {
                remove(&path, &mut report)?;
            }
        }
    }
    for entry in std::fs::read_dir(root)? {
        let path = entry?.path();
        let name = file_name(&path);
        if name.starts_with(".disco-tmp-") {
            remove(&path, &mut report)?;
        }
    }
    Ok(report)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn read_dirs(dir: &Path) -> io::Result<Vec<std::path::PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut out = Vec::new();
            for e in entries {
                let p = e?.path();
                if p.is_dir() {
                    out.push(p);
                }
            }
            Ok(out)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
