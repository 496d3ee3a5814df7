//! The lock after a build: each planned job's entry, other targets' entries kept.

use std::collections::BTreeMap;

use super::{LockFile, LockedJob, LockedTarget};
use crate::Plan;

/// The lock after building `plan`. `entry(j)` gives job `j`'s entry if its image exists
/// (from the store's record); jobs without one (failed, not yet rendered) are left out.
/// Targets not planned this time (`disco build TARGET`) keep their old entries, frames
/// beyond a `--frames` preview keep theirs, and targets the project no longer has are
/// dropped. Targets follow the project's order.
pub fn updated(
    old: Option<&LockFile>,
    plan: &Plan,
    mut entry: impl FnMut(usize) -> Option<LockedJob>,
) -> LockFile {
    let mut lock = LockFile::default();
    for name in &plan.project_targets {
        let planned: Vec<_> = plan.targets.iter().filter(|t| &t.name == name).collect();
        if planned.is_empty() {
            if let Some(old) = old {
                lock.targets
                    .extend(old.targets.iter().filter(|t| &t.name == name).cloned());
            }
            continue;
        }
        for t in planned {
            let label = t.label();
            let previous = old.and_then(|o| o.target(&label));
            let mut jobs = BTreeMap::new();
            for j in t.jobs.clone() {
                if let Some(e) = entry(j) {
                    jobs.insert(plan.jobs[j].index, e);
                }
            }
            if t.animation
                && !t.complete
                && let Some(p) = previous
            {
                let planned_frames = t.jobs.len() as u32;
                jobs.extend(p.jobs.range(planned_frames..).map(|(i, e)| (*i, e.clone())));
            }
            lock.targets.push(LockedTarget {
                name: t.name.clone(),
                cell: t.cell.clone(),
                seed: t.seed,
                jobs,
            });
        }
    }
    lock
}
