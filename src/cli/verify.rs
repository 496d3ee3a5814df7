//! `disco verify`: re-render locked jobs into a scratch store and compare with `disco.lock`.

use disco::build::verify::{self, Choice, Tolerance, Verdict, VerifyOutcome};
use disco::build::{BuildError, BuildEvent};
use disco::lockfile::{LockFile, lock_path};
use disco::plan::Plan;
use disco::project::Diagnostics;
use disco::store::Store;

use super::build::{Selection, cancel_on_ctrl_c, load_and_plan_with, renderer, sink};
use super::progress::{JsonSink, MessageFormat};
use super::report::{plural, print_all};
use super::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK};

/// `disco verify`'s own flags.
#[derive(Debug, clap::Args)]
pub struct VerifyFlags {
    /// Re-render every locked job (the default).
    #[arg(long, conflicts_with = "sample")]
    pub all: bool,
    /// Re-render N locked jobs drawn at random (with `--seed`), plus the frames they
    /// chain from.
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// The seed of `--sample`'s draw: the same seed picks the same jobs.
    #[arg(long, value_name = "S", default_value_t = 0, requires = "sample")]
    pub seed: u64,
    /// `exact` (the same bytes; the CPU promise) or `psnr:DB` (at least DB dB against a
    /// local copy of the locked image; for GPU runs, where bitwise equality is not promised).
    #[arg(long, value_name = "exact|psnr:DB", default_value = "exact")]
    pub tolerance: Tolerance,
    /// Threads per ONNX Runtime operator (default: ONNX Runtime's choice).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Runs `disco verify`: exit 0 when every chosen job matches, 1 on any mismatch.
pub fn run(sel: &Selection, flags: &VerifyFlags) -> i32 {
    let (plan, store) = match load_and_plan_with(sel, false) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let lock = match read_lock(&plan) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let choice = match flags.sample {
        Some(n) => Choice::Sample {
            n,
            seed: flags.seed,
        },
        None => Choice::All,
    };
    let jobs = verify::choose(&plan, &lock, choice);
    let unlocked = plan.jobs.len()
        - (0..plan.jobs.len())
            .filter(|&j| verify::locked_entry(&plan, &lock, j).is_some())
            .count();
    if jobs.is_empty() {
        eprintln!("error: disco.lock holds none of the selected jobs: nothing to verify");
        return EXIT_FAILURE;
    }
    let scratch_dir = match tempfile::Builder::new().prefix("disco-verify-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot make a scratch store: {e}");
            return EXIT_FAILURE;
        }
    };
    let scratch = Store::new(scratch_dir.path());
    let cancel = cancel_on_ctrl_c();
    let mut renderer = renderer(sel, flags.threads);
    let json = sel.message_format == MessageFormat::Json;
    let mut events = sink(sel.message_format);
    // a sampled frame renders with the frames it chains from: say so, and count renders
    let renders = verify::renders(&plan, &lock, &jobs).len();
    if !json {
        eprintln!("{}", verifying_line(jobs.len(), renders));
    }
    events.event(&BuildEvent::Planned {
        jobs: renders,
        stale: renders,
        fresh: 0,
    });
    let result = verify::verify(
        &plan,
        &lock,
        &jobs,
        flags.tolerance,
        &store,
        &scratch,
        &mut renderer,
        events.as_mut(),
        &cancel,
        |v| print_verdict(&plan, v, json),
    );
    drop(events);
    for n in &renderer.notices {
        eprintln!("notice: {n}");
    }
    let verdicts = match result {
        Ok(v) => v,
        Err(BuildError::Interrupted) => {
            eprintln!("interrupted");
            return EXIT_INTERRUPTED;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    let bad = verdicts.iter().filter(|v| !v.passed()).count();
    if !json {
        print_summary(choice, &verdicts, bad, flags.tolerance, unlocked);
    }
    if bad == 0 { EXIT_OK } else { EXIT_FAILURE }
}

/// `disco.lock` beside the project; an exit code (after saying why) if it is missing or invalid.
fn read_lock(plan: &Plan) -> Result<LockFile, i32> {
    let path = lock_path(&plan.project_file);
    match LockFile::read(&path) {
        Ok(Some(l)) => Ok(l),
        Ok(None) => {
            eprintln!(
                "error: {} does not exist\nhelp: `disco build` writes it; commit it with the project",
                path.display()
            );
            Err(EXIT_FAILURE)
        }
        Err(diags) => {
            print_all(&Diagnostics(diags));
            Err(EXIT_INVALID)
        }
    }
}

/// `ok: 3 of 3 jobs match disco.lock (every locked job, tolerance exact)`.
fn print_summary(
    choice: Choice,
    verdicts: &[Verdict],
    bad: usize,
    tolerance: Tolerance,
    unlocked: usize,
) {
    let what = match choice {
        Choice::All => "every locked job".to_owned(),
        Choice::Sample { n, seed } => format!("a sample of {n} (seed {seed})"),
    };
    println!(
        "{}: {} of {} job{} match{} disco.lock ({what}, tolerance {}){}",
        if bad == 0 { "ok" } else { "FAILED" },
        verdicts.len() - bad,
        verdicts.len(),
        plural(verdicts.len()),
        if verdicts.len() == 1 { "es" } else { "" },
        match tolerance {
            Tolerance::Exact => "exact".to_owned(),
            Tolerance::Psnr(db) => format!("psnr ≥ {db} dB"),
        },
        if unlocked > 0 {
            format!(
                "; {unlocked} planned job{} not in the lock",
                plural(unlocked)
            )
        } else {
            String::new()
        }
    );
}

/// `verifying 1 job (6 renders: frames chain from the first)`.
fn verifying_line(jobs: usize, renders: usize) -> String {
    let chained = if renders > jobs {
        format!(
            " by {renders} render{}: an animation frame renders from the frames before it",
            plural(renders)
        )
    } else {
        String::new()
    };
    format!("verifying {jobs} locked job{}{chained}", plural(jobs))
}

fn print_verdict(plan: &Plan, v: &Verdict, json: bool) {
    let label = plan.job_label(v.job);
    let psnr = match v.psnr {
        Some(p) if p.is_infinite() => "PSNR ∞".to_owned(),
        Some(p) => format!("PSNR {p:.2} dB"),
        None => "PSNR n/a (no local copy of the locked image)".to_owned(),
    };
    let rendered = v.rendered.as_deref().unwrap_or("-");
    let (tag, line) = match &v.outcome {
        VerifyOutcome::Identical => ("identical", format!("ok {label}")),
        VerifyOutcome::Within => (
            "within",
            format!(
                "ok {label}: within tolerance, {psnr} (locked {}, rendered {rendered})",
                v.locked.blake3
            ),
        ),
        VerifyOutcome::Mismatch => (
            "mismatch",
            format!(
                "MISMATCH {label}: locked blake3 {}, rendered {rendered}, {psnr}",
                v.locked.blake3
            ),
        ),
        VerifyOutcome::StaleLock => (
            "stale-lock",
            format!(
                "STALE {label}: its inputs changed since disco.lock was written (locked key {}, \
                 planned {}); run `disco build`, or `disco status` for why",
                v.locked.key.short(),
                plan.jobs[v.job].key.short()
            ),
        ),
        VerifyOutcome::Failed(e) => ("failed", format!("FAILED {label}: {e}")),
    };
    if json {
        JsonSink::write(&serde_json::json!({
            "reason": "verified",
            "job": label,
            "outcome": tag,
            "locked": v.locked.blake3,
            "rendered": v.rendered,
            "psnr": v.psnr.filter(|p| p.is_finite()),
        }));
    } else {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::verifying_line;

    #[test]
    fn a_sampled_frame_says_how_many_renders_its_chain_takes() {
        assert_eq!(verifying_line(1, 1), "verifying 1 locked job");
        assert_eq!(
            verifying_line(1, 6),
            "verifying 1 locked job by 6 renders: an animation frame renders from the \
             frames before it"
        );
    }
}
