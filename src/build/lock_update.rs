//! `disco.lock` after a build: rewritten from what the store holds when its text changes,
//! and skipped entirely (not even read) when nothing that decides it has changed.

use std::path::PathBuf;

use super::decide::Decision;
use super::exec::{At, BuildError, Summary};
use crate::lockfile::{self, LockFile, LockedJob};
use crate::plan::{Key, Plan};
use crate::store::Store;

/// Rewrites the project's `disco.lock` (if its text changed) from what the store holds.
/// An entry whose key is unchanged is kept as it is. When the build changed nothing and
/// the lock is the file this store last wrote for the same jobs, it is not even read:
/// parsing a 1000-frame lock would cost more than the rest of a no-op build.
pub(super) fn update_lock(
    plan: &Plan,
    store: &Store,
    outputs: &mut crate::store::Outputs,
    decisions: &[Decision],
    summary: &Summary,
) -> Result<(), BuildError> {
    let path = lockfile::lock_path(&plan.project_file);
    let rel = PathBuf::from(path.file_name().expect("a lock file name"));
    let digest = lock_digest(plan);
    let unchanged = summary.failed == 0 && decisions.iter().all(|d| *d == Decision::Current);
    if unchanged && outputs.is_current(&plan.dir, &rel, &digest) {
        return Ok(());
    }
    // an unreadable lock is remade from the store (the build is what writes it)
    let old = LockFile::read(&path).ok().flatten();
    let lock = lockfile::update::updated(old.as_ref(), plan, |j| {
        let job = &plan.jobs[j];
        let t = &plan.targets[job.target];
        if let Some(e) = old
            .as_ref()
            .and_then(|o| o.target(&t.label()))
            .and_then(|l| l.jobs.get(&job.index))
            .filter(|e| e.key == job.key)
        {
            return Some(e.clone());
        }
        store.record(&job.key).map(|r| LockedJob {
            key: job.key,
            blake3: r.image.blake3,
            tool: r.tool,
            origin: None,
        })
    });
    lock.write(&path).at(&path)?;
    if lock.targets.iter().all(|t| {
        plan.targets
            .iter()
            .filter(|p| p.label() == t.label())
            .all(|p| t.jobs.len() == p.jobs.len())
    }) {
        // every planned job is in it: the next build with the same jobs may skip it
        outputs.set(&plan.dir, &rel, digest).at(&path)?;
    }
    Ok(())
}

/// What the lock of `plan` is a function of, given the store: the project's targets and
/// each planned job's place, seed and key.
fn lock_digest(plan: &Plan) -> Key {
    let mut h = blake3::Hasher::new();
    h.update(lockfile::LOCK_FORMAT.as_bytes());
    for name in &plan.project_targets {
        h.update(name.as_bytes());
        h.update(b"\0");
    }
    for t in &plan.targets {
        h.update(t.label().as_bytes());
        h.update(&t.seed.to_le_bytes());
        h.update(&[u8::from(t.complete)]);
        for job in &plan.jobs[t.jobs.clone()] {
            h.update(&job.index.to_le_bytes());
            h.update(&job.key.0);
        }
    }
    Key(*h.finalize().as_bytes())
}
