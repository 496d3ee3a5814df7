//! A plan against its lock file: where they disagree (a CI gate's findings).

use std::collections::HashSet;
use std::fmt;

use super::LockFile;
use crate::{Key, Plan};

/// One way the lock and the project disagree.
#[derive(Debug, Clone, PartialEq)]
pub enum Disagreement {
    /// The project has no lock file.
    NoLock,
    /// A planned job has no entry: never built, or built and not recorded.
    NotLocked {
        /// Index into the plan's jobs.
        job: usize,
    },
    /// The job's inputs changed since the lock was written.
    KeyChanged {
        /// Index into the plan's jobs.
        job: usize,
        /// The key the lock holds.
        locked: Key,
    },
    /// The lock names a job the project no longer makes.
    Unplanned {
        /// `target` or `target[cell]`.
        target: String,
        /// Still or frame number.
        index: u32,
    },
}

impl Disagreement {
    /// The plan job it is about, if any.
    pub fn job(&self) -> Option<usize> {
        match self {
            Disagreement::NotLocked { job } | Disagreement::KeyChanged { job, .. } => Some(*job),
            _ => None,
        }
    }
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Disagreement::NoLock => write!(f, "missing: `disco build` writes it"),
            Disagreement::NotLocked { .. } => write!(f, "not in disco.lock"),
            Disagreement::KeyChanged { locked, .. } => write!(
                f,
                "disco.lock is out of date: inputs changed since it was written (locked key {})",
                locked.short()
            ),
            Disagreement::Unplanned { .. } => write!(f, "in disco.lock, no longer in the project"),
        }
    }
}

/// Every disagreement between `lock` (`None`: no file) and `plan`. Only the planned
/// targets are compared, and frames beyond a `--frames` preview are not.
pub fn compare(lock: Option<&LockFile>, plan: &Plan) -> Vec<Disagreement> {
    let Some(lock) = lock else {
        return vec![Disagreement::NoLock];
    };
    let mut out = Vec::new();
    let mut labels = HashSet::new();
    for t in &plan.targets {
        let label = t.label();
        let locked = lock.target(&label);
        for j in t.jobs.clone() {
            let job = &plan.jobs[j];
            match locked.and_then(|l| l.jobs.get(&job.index)) {
                None => out.push(Disagreement::NotLocked { job: j }),
                Some(e) if e.key != job.key => out.push(Disagreement::KeyChanged {
                    job: j,
                    locked: e.key,
                }),
                Some(_) => {}
            }
        }
        if let Some(l) = locked
            && (!t.animation || t.complete)
        {
            let planned = t.jobs.len() as u32;
            for &index in l.jobs.keys().filter(|&&i| i >= planned) {
                out.push(Disagreement::Unplanned {
                    target: label.clone(),
                    index,
                });
            }
        }
        labels.insert(label);
    }
    let planned_names: HashSet<&str> = plan.targets.iter().map(|t| t.name.as_str()).collect();
    for l in &lock.targets {
        // a target selected by name is compared cell by cell; unselected ones not at all
        let selected =
            planned_names.contains(l.name.as_str()) || !plan.project_targets.contains(&l.name);
        if selected && !labels.contains(&l.label()) {
            for &index in l.jobs.keys() {
                out.push(Disagreement::Unplanned {
                    target: l.label(),
                    index,
                });
            }
        }
    }
    out
}
