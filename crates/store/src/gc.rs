//! `disco gc`: removes cached images, shared inputs and checkpoints that no current target
//! references, and temporary files a killed process left behind.
//!
//! What is kept is decided by the caller (every target of the project, whatever the
//! command line selects); a selection only narrows what may go: with target names, an
//! unreferenced object goes only if its record says one of them made it, and inputs and
//! checkpoints (which name no target) stay. Works on any [`ObjectStore`] through its
//! listing; temporaries a killed writer left always go.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::PathBuf;

use super::Key;
use super::objects::{Listed, ObjectName, ObjectStore, Stored};

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
    fn remove(
        &mut self,
        objects: &dyn ObjectStore,
        entry: &Listed,
        dry_run: bool,
    ) -> io::Result<()> {
        if !dry_run {
            match entry.what {
                Stored::Object(name) => objects.remove(&name)?,
                _ => objects.remove_listed(entry)?,
            }
        }
        if matches!(entry.what, Stored::Object(ObjectName::Record(_))) {
            self.objects += 1;
        }
        self.files += 1;
        self.bytes += entry.bytes;
        self.removed.push((entry.location.clone(), entry.bytes));
        Ok(())
    }
}

pub fn run(objects: &dyn ObjectStore, sel: &GcSelection) -> io::Result<GcReport> {
    let listed = objects.list()?;
    // the shared inputs every kept record points at stay too (a locked image of another
    // device has its own), so `plan` can still explain what changed since it
    let mut keep_inputs = sel.keep_inputs.clone();
    for entry in &listed {
        if let Stored::Object(ObjectName::Record(k)) = entry.what
            && sel.keep.contains(&k)
            && let Some(r) = record_of(objects, &k)
        {
            keep_inputs.insert(r.common);
        }
    }
    // which unreferenced jobs may go (narrowed by their records)
    let mut may_go: HashMap<Key, bool> = HashMap::new();
    let mut report = GcReport::default();
    for entry in &listed {
        let go = match entry.what {
            Stored::Temporary => true,
            Stored::Object(
                ObjectName::Image(k)
                | ObjectName::Partial(k, _)
                | ObjectName::Record(k)
                | ObjectName::Aux(k, _),
            ) => {
                !sel.keep.contains(&k)
                    && *may_go
                        .entry(k)
                        .or_insert_with(|| selected(objects, &k, sel.only.as_ref()))
            }
            // inputs and checkpoints name no target: only a whole-project gc judges them
            Stored::Object(ObjectName::Inputs(k)) => {
                sel.only.is_none() && !keep_inputs.contains(&k)
            }
            Stored::Object(ObjectName::Checkpoint(k)) => {
                sel.only.is_none() && !sel.keep.contains(&k)
            }
            // not an object: not ours to judge under a selection
            Stored::Other(k) => {
                sel.only.is_none()
                    && !k.is_some_and(|k| sel.keep.contains(&k) || keep_inputs.contains(&k))
            }
        };
        if go {
            report.remove(objects, entry, sel.dry_run)?;
        }
    }
    Ok(report)
}

fn record_of(objects: &dyn ObjectStore, key: &Key) -> Option<super::Record> {
    let bytes = objects.get(&ObjectName::Record(*key)).ok()??;
    super::record::parse_record(&bytes, key)
}

/// Whether unreferenced object `key` is within `only`: its record names one of those
/// targets. Without a readable record naming a target, only a whole-project gc removes it.
fn selected(objects: &dyn ObjectStore, key: &Key, only: Option<&HashSet<String>>) -> bool {
    let Some(only) = only else {
        return true;
    };
    record_of(objects, key)
        .and_then(|r| r.target)
        .is_some_and(|t| only.contains(&t))
}
