//! `disco gc`: what the project references, decided over every target whatever the
//! command line names; the names only narrow what may be removed (store/gc.rs).

use std::collections::HashSet;

use super::exec::{BuildError, make_plan};
use crate::lockfile::{self, LockFile};
use crate::plan::Facts;
use crate::project::Project;
use crate::store::{GcReport, GcSelection, Store};

/// Removes (or with `dry_run` lists) the cached images no target of `project`
/// references. With `only` (target names), just the unreferenced images those targets
/// made. Kept whatever the selection: every job of every target at every frame, and
/// every job `disco.lock` records (a build on another `--device` keys its images apart,
/// and the lock is what the project committed to).
pub fn gc(
    project: &Project,
    only: &[String],
    store: &Store,
    facts: &mut dyn Facts,
    dry_run: bool,
) -> Result<GcReport, BuildError> {
    let whole = make_plan(project, &[], None, store, facts)?;
    let mut sel = GcSelection {
        keep: whole.jobs.iter().map(|j| j.key).collect(),
        keep_inputs: whole.jobs.iter().map(|j| j.common.digest).collect(),
        only: None,
        dry_run,
    };
    if !only.is_empty() {
        // planning the selection checks the names and spells out sweep cells' labels
        let narrowed = make_plan(project, only, None, store, facts)?;
        let labels: HashSet<String> = narrowed.targets.iter().map(|t| t.label()).collect();
        sel.only = Some(labels);
    }
    // an unreadable lock protects nothing; the build remakes it
    if let Ok(Some(lock)) = LockFile::read(&lockfile::lock_path(&project.path)) {
        sel.keep.extend(
            lock.targets
                .iter()
                .flat_map(|t| t.jobs.values().map(|j| j.key)),
        );
    }
    let _lock = if dry_run {
        None
    } else {
        Some(store.lock(&format!("pid {} (disco gc)", std::process::id()))?)
    };
    Ok(store.gc(&sel)?)
}
