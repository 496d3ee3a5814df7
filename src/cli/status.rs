//! `disco status [--check]`: what is stale and where `disco.lock` disagrees with the
//! project, without rendering — with `--check`, a CI gate.

use disco::build::{Decision, decide};
use disco::lockfile::compare::{Disagreement, compare};
use disco::lockfile::{LockFile, lock_path};
use disco::plan::{Plan, explain};
use disco::project::Diagnostics;
use disco::store::Store;

use super::build::{Selection, load_and_plan_with};
use super::progress::{JsonSink, MessageFormat};
use super::report::{plural, print_all};
use super::{EXIT_FAILURE, EXIT_INVALID, EXIT_OK};

/// One finding: a job (or lock entry) and what is wrong with it.
#[derive(serde::Serialize)]
struct Finding {
    reason: &'static str,
    job: String,
    detail: String,
}

/// Runs `disco status`; with `check`, exits 1 when anything is stale or the lock disagrees.
pub fn run(sel: &Selection, check: bool) -> i32 {
    let (plan, store) = match load_and_plan_with(sel, false) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let lock = match LockFile::read(&lock_path(&plan.project_file)) {
        Ok(l) => l,
        Err(diags) => {
            print_all(&Diagnostics(diags));
            return EXIT_INVALID;
        }
    };
    // Without cached images (a fresh clone) nothing was built here: only the lock is judged.
    let has_store = store.root().join("objects").is_dir();
    let mut findings = if has_store {
        stale_findings(&plan, &store)
    } else {
        Vec::new()
    };
    for d in compare(lock.as_ref(), &plan) {
        findings.push(Finding {
            reason: match d {
                Disagreement::NoLock => "no-lock",
                Disagreement::NotLocked { .. } => "not-locked",
                Disagreement::KeyChanged { .. } => "lock-stale",
                Disagreement::Unplanned { .. } => "lock-extra",
            },
            job: match &d {
                Disagreement::Unplanned { target, index } => format!("{target} job {index}"),
                _ => d
                    .job()
                    .map_or_else(|| "disco.lock".into(), |j| plan.job_label(j)),
            },
            detail: lock_detail(&plan, &store, &d),
        });
    }
    print_findings(&findings, plan.jobs.len(), has_store, sel.message_format);
    if check && !findings.is_empty() {
        EXIT_FAILURE
    } else {
        EXIT_OK
    }
}

/// A finding per job that is not current in the store: why it would render, or be restored.
fn stale_findings(plan: &Plan, store: &Store) -> Vec<Finding> {
    let mut findings = Vec::new();
    let outputs = store.outputs();
    for (j, d) in decide(plan, store, &outputs).into_iter().enumerate() {
        match d {
            Decision::Current => {}
            Decision::Materialize => findings.push(Finding {
                reason: "output-missing",
                job: plan.job_label(j),
                detail: "cached, but its output file is missing or replaced".into(),
            }),
            Decision::Adopt => findings.push(Finding {
                reason: "adoptable",
                job: plan.job_label(j),
                detail: "not cached, but its output file holds the image disco.lock \
                         records: `disco build` adopts it without rendering"
                    .into(),
            }),
            Decision::Render(why) => findings.push(Finding {
                reason: why.tag(),
                job: plan.job_label(j),
                detail: why.to_string(),
            }),
        }
    }
    findings
}

/// The findings, as JSON lines or as lines and a summary for people.
fn print_findings(findings: &[Finding], n: usize, has_store: bool, format: MessageFormat) {
    if format == MessageFormat::Json {
        for f in findings {
            JsonSink::write(f);
        }
    } else {
        for f in findings {
            println!("{}: {}", f.job, f.detail);
        }
        if findings.is_empty() {
            println!(
                "ok: {n} job{} up to date{}, disco.lock agrees",
                plural(n),
                if has_store {
                    ""
                } else {
                    " per the lock (no cache here)"
                }
            );
        } else {
            println!(
                "{} finding{} over {n} job{}",
                findings.len(),
                plural(findings.len()),
                plural(n)
            );
        }
    }
}

/// A lock disagreement in words; for a changed key, what changed when the store still
/// knows the locked job's inputs.
fn lock_detail(plan: &Plan, store: &Store, d: &Disagreement) -> String {
    let Disagreement::KeyChanged { job, locked } = d else {
        return d.to_string();
    };
    let job = &plan.jobs[*job];
    let old = disco::build::decide::recorded_inputs(store, locked);
    let why = old.map(|(c, f)| explain((&c, &f), (&job.common.inputs, &job.frame)).to_string());
    match why {
        // an empty list of changes says nothing: the generic text names the key
        Some(w) if !w.is_empty() => format!("disco.lock is out of date: {w}"),
        _ => d.to_string(),
    }
}
