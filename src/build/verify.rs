//! `disco verify`: re-render jobs into a scratch store and compare them with `disco.lock`.
//!
//! The project's own store is only read (for a local copy of a locked image, to report a
//! PSNR); everything rendered goes to a scratch store that is thrown away, so a verify can
//! neither trust nor damage the cache it checks.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;

use ndarray::Array3;
use rand::SeedableRng;

use super::events::BuildSink;
use super::exec::{BuildError, BuildOptions};
use super::job::{RenderInto, render_job};
use super::png;
use super::renderer::Renderer;
use crate::lockfile::{LockFile, LockedJob};
use crate::plan::Plan;
use crate::store::{ObjectName, Store};

/// Which locked jobs to re-render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Every job the lock holds.
    All,
    /// `n` of them, drawn with `seed` (the same jobs for the same seed and lock).
    Sample {
        /// How many.
        n: usize,
        /// The draw's seed.
        seed: u64,
    },
}

/// When a re-rendered image counts as the locked one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// The same bytes (the CPU promise: same job, same seed, same bytes).
    Exact,
    /// PSNR against a local copy of the locked image at least this many dB (GPU runs,
    /// where bitwise equality is not promised).
    Psnr(f64),
}

/// Text that names no tolerance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToleranceError {
    /// Neither `exact` nor `psnr:…`.
    #[error("`{0}`: expected `exact` or `psnr:DB` (e.g. psnr:40)")]
    Form(String),
    /// `psnr:` followed by no positive number.
    #[error("`{0}` is not a positive number of dB")]
    Decibels(String),
}

impl std::str::FromStr for Tolerance {
    type Err = ToleranceError;
    fn from_str(s: &str) -> Result<Tolerance, ToleranceError> {
        if s == "exact" {
            return Ok(Tolerance::Exact);
        }
        let db = s
            .strip_prefix("psnr:")
            .ok_or_else(|| ToleranceError::Form(s.to_owned()))?;
        match db.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(Tolerance::Psnr(v)),
            _ => Err(ToleranceError::Decibels(db.to_owned())),
        }
    }
}

/// What one job's check found.
#[derive(Debug, Clone, PartialEq)]
pub enum VerifyOutcome {
    /// Same bytes.
    Identical,
    /// Other bytes, within the PSNR tolerance.
    Within,
    /// Other bytes beyond the tolerance.
    Mismatch,
    /// Its inputs changed since the lock was written: nothing to compare with.
    StaleLock,
    /// It did not render (the error).
    Failed(String),
}

/// One job's verdict.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Index into the plan's jobs.
    pub job: usize,
    /// The lock's entry.
    pub locked: LockedJob,
    /// blake3 of the re-rendered image.
    pub rendered: Option<String>,
    /// PSNR of the re-render against a local copy of the locked image, when there is one.
    pub psnr: Option<f64>,
    /// The finding.
    pub outcome: VerifyOutcome,
}

impl Verdict {
    /// Whether this job passes.
    pub fn passed(&self) -> bool {
        matches!(
            self.outcome,
            VerifyOutcome::Identical | VerifyOutcome::Within
        )
    }
}

/// The jobs to check: the planned jobs the lock holds, all or a seeded sample, in plan
/// order.
pub fn choose(plan: &Plan, lock: &LockFile, choice: Choice) -> Vec<usize> {
    let locked: Vec<usize> = (0..plan.jobs.len())
        .filter(|&j| locked_entry(plan, lock, j).is_some())
        .collect();
    match choice {
        Choice::All => locked,
        Choice::Sample { n, seed } => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut picked: Vec<usize> =
                rand::seq::index::sample(&mut rng, locked.len(), n.min(locked.len()))
                    .into_iter()
                    .map(|i| locked[i])
                    .collect();
            picked.sort_unstable();
            picked
        }
    }
}

/// Every job `verify` renders for `jobs`: each one whose lock entry is for its key, with
/// the earlier frames it chains from (an animation frame renders from its predecessor,
/// so sampling frame 5 renders frames 0–5). Sorted.
pub fn renders(plan: &Plan, lock: &LockFile, jobs: &[usize]) -> Vec<usize> {
    let mut all = std::collections::BTreeSet::new();
    for &j in jobs {
        if locked_entry(plan, lock, j).is_none_or(|l| l.key != plan.jobs[j].key) {
            continue;
        }
        let mut c = Some(j);
        while let Some(k) = c
            && all.insert(k)
        {
            c = plan.jobs[k].prev;
        }
    }
    all.into_iter().collect()
}

/// The lock's entry for job `j`.
pub fn locked_entry<'l>(plan: &Plan, lock: &'l LockFile, j: usize) -> Option<&'l LockedJob> {
    let job = &plan.jobs[j];
    lock.target(&plan.targets[job.target].label())?
        .jobs
        .get(&job.index)
}

/// Re-renders `jobs` (and the earlier frames they chain from) into `scratch` and compares
/// each with the lock. `store` is the project's own store, read only for local copies.
#[allow(clippy::too_many_arguments)]
pub fn verify(
    plan: &Plan,
    lock: &LockFile,
    jobs: &[usize],
    tolerance: Tolerance,
    store: &Store,
    scratch: &Store,
    renderer: &mut dyn Renderer,
    sink: &mut dyn BuildSink,
    cancel: &AtomicBool,
    mut each: impl FnMut(&Verdict),
) -> Result<Vec<Verdict>, BuildError> {
    let options = BuildOptions {
        // a scratch render is not worth resuming
        checkpoint_every: 0,
        ..BuildOptions::default()
    };
    let mut failed: HashSet<usize> = HashSet::new();
    let mut verdicts = Vec::new();
    for &j in jobs {
        let locked = locked_entry(plan, lock, j)
            .expect("chosen jobs are locked")
            .clone();
        let job = &plan.jobs[j];
        let verdict = |rendered, psnr, outcome| Verdict {
            job: j,
            locked: locked.clone(),
            rendered,
            psnr,
            outcome,
        };
        if locked.key != job.key {
            let v = verdict(None, None, VerifyOutcome::StaleLock);
            each(&v);
            verdicts.push(v);
            continue;
        }
        let mut error = None;
        for c in chain_to(plan, scratch, &failed, j) {
            if scratch.has(&plan.jobs[c].key) {
                continue;
            }
            if failed.contains(&c) {
                error = Some(format!("{} did not render", plan.job_label(c)));
                break;
            }
            if render_job(
                plan,
                &options,
                scratch,
                renderer,
                sink,
                cancel,
                c,
                RenderInto::Scratch,
            )?
            .is_none()
            {
                failed.insert(c);
                error = Some(format!("{} did not render", plan.job_label(c)));
                break;
            }
        }
        let v = match error {
            Some(e) => verdict(None, None, VerifyOutcome::Failed(e)),
            None => judge(plan, j, &locked, tolerance, store, scratch, verdict),
        };
        each(&v);
        verdicts.push(v);
    }
    Ok(verdicts)
}

/// The frames up to `j` it chains from, earliest first, back to one this run rendered (or
/// failed) already.
fn chain_to(plan: &Plan, scratch: &Store, failed: &HashSet<usize>, j: usize) -> Vec<usize> {
    let mut chain = vec![j];
    while let Some(p) = plan.jobs[*chain.last().expect("non-empty")].prev {
        chain.push(p);
        if scratch.has(&plan.jobs[p].key) || failed.contains(&p) {
            break;
        }
    }
    chain.reverse();
    chain
}

fn judge(
    plan: &Plan,
    j: usize,
    locked: &LockedJob,
    tolerance: Tolerance,
    store: &Store,
    scratch: &Store,
    verdict: impl Fn(Option<String>, Option<f64>, VerifyOutcome) -> Verdict,
) -> Verdict {
    let name = ObjectName::Image(plan.jobs[j].key);
    let bytes = match scratch.objects().get(&name) {
        Ok(Some(b)) => b,
        got => {
            let at = scratch
                .local_path(&name)
                .map_or_else(|| format!("{name:?}"), |p| p.display().to_string());
            let why = got
                .err()
                .map_or_else(|| "not stored".to_owned(), |e| e.to_string());
            return verdict(None, None, VerifyOutcome::Failed(format!("{at}: {why}")));
        }
    };
    let rendered = blake3::hash(&bytes).to_hex().to_string();
    if rendered == locked.blake3 {
        return verdict(Some(rendered), None, VerifyOutcome::Identical);
    }
    let psnr = local_copy(plan, j, locked, store).and_then(|reference| {
        let got = png::decode(&bytes).ok()?;
        psnr(&got, &reference)
    });
    let outcome = match (tolerance, psnr) {
        (Tolerance::Psnr(db), Some(p)) if p >= db => VerifyOutcome::Within,
        _ => VerifyOutcome::Mismatch,
    };
    verdict(Some(rendered), psnr, outcome)
}

/// The locked image's pixels, if this machine has a copy whose hash is the locked one:
/// the store's object, or the output file.
fn local_copy(plan: &Plan, j: usize, locked: &LockedJob, store: &Store) -> Option<Array3<u8>> {
    let object = || store.image(&locked.key);
    let output = || std::fs::read(plan.dir.join(&plan.jobs[j].output)).ok();
    [object(), output()]
        .into_iter()
        .flatten()
        .find_map(|bytes| {
            (blake3::hash(&bytes).to_hex().as_str() == locked.blake3)
                .then(|| png::decode(&bytes).ok())
                .flatten()
        })
}

/// Peak signal-to-noise ratio in dB over 8-bit samples; infinite for equal images, `None`
/// when the shapes differ.
pub fn psnr(a: &Array3<u8>, b: &Array3<u8>) -> Option<f64> {
    if a.shape() != b.shape() || a.is_empty() {
        return None;
    }
    let se: f64 = a
        .iter()
        .zip(b.iter())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = se / a.len() as f64;
    Some(if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances_parse_and_bad_ones_say_what_is_expected() {
        assert_eq!("exact".parse::<Tolerance>(), Ok(Tolerance::Exact));
        assert_eq!("psnr:40".parse::<Tolerance>(), Ok(Tolerance::Psnr(40.0)));
        assert!("psnr:-1".parse::<Tolerance>().is_err());
        assert!(
            "40".parse::<Tolerance>()
                .unwrap_err()
                .to_string()
                .contains("psnr:DB")
        );
    }

    #[test]
    fn psnr_of_a_known_error() {
        let a = Array3::<u8>::from_shape_fn((4, 4, 3), |(y, x, c)| (y * 40 + x * 10 + c) as u8);
        let mut b = a.clone();
        assert_eq!(psnr(&a, &b), Some(f64::INFINITY));
        // every sample off by 5: MSE 25
        b.mapv_inplace(|v| v + 5);
        let expected = 10.0 * (255.0f64 * 255.0 / 25.0).log10();
        assert!((psnr(&a, &b).unwrap() - expected).abs() < 1e-12);
        assert_eq!(psnr(&a, &Array3::zeros((2, 2, 3))), None);
    }
}
