//! Shared pieces of the property tests over hostile input (`fuzz_loader.rs`, and the
//! importer's): a case runner with a time limit, proptest settings that honour
//! `PROPTEST_CASES`, and the loader's contract on one result.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use disco::plan::{self, Facts, FactsError, ModelNeeds, PlanOptions, RuntimeFacts};
use disco::project::{self, LoadResult};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Longest a case may take. The parser gives up after 5 s (`PARSE_TIMEOUT`) per file;
/// anything near this means a hang.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Plans are built only for projects of at most this many images (planning a million
/// jobs is allowed, but too slow to do hundreds of times here).
const PLAN_IMAGES: u64 = 5_000;

/// Proptest settings running `cases` cases, or `PROPTEST_CASES` when set; no regression
/// files (a failure prints its minimal input, which belongs in a named test).
pub fn config(cases: u32) -> Config {
    // `Config::default()` reads PROPTEST_CASES; keep our count unless it is set.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Planning's view of the world, faked: every file and model exists.
struct FakeFacts;

impl Facts for FakeFacts {
    fn file_blake3(&mut self, _: &Path) -> Result<String, FactsError> {
        Ok("0".repeat(64))
    }
    fn model_hashes(
        &mut self,
        _: &Path,
        _: &ModelNeeds,
    ) -> Result<BTreeMap<String, String>, FactsError> {
        Ok(BTreeMap::new())
    }
    fn runtime(&mut self) -> Result<RuntimeFacts, FactsError> {
        Ok(RuntimeFacts {
            renderer: "fuzz".into(),
            provider: "cpu".into(),
            ort: "0".into(),
        })
    }
}

/// Runs `f` on a thread; fails if it panics or takes longer than [`LIMIT`].
pub fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    std::thread::Builder::new()
        .name("fuzz-case".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .unwrap();
    match rx.recv_timeout(LIMIT) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {:?}", start.elapsed())
        }
    }
}

/// The loader's contract on one result (for any text, including what `disco import`
/// writes), and planning's on a loaded project.
pub fn loads_or_explains(r: &LoadResult) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        r.project.is_some(),
        !r.diagnostics.has_errors(),
        "a project comes back exactly when there are no errors: {:?}",
        r.diagnostics
    );
    for d in &r.diagnostics.0 {
        prop_assert!(!d.message.is_empty());
        // Rendering must not panic on any span the loader produced.
        let _ = format!("{:?}", miette::Report::new(d.rendered()));
        let _ = d.location();
    }
    let Some(p) = &r.project else {
        if std::env::var("FUZZ_STATS").is_ok() {
            let first = r.diagnostics.0.iter().find(|d| d.is_error());
            eprintln!("fuzz: error: {}", first.map_or("", |d| d.message.as_str()));
        }
        return Ok(());
    };
    if std::env::var("FUZZ_STATS").is_ok() {
        eprintln!("fuzz: loaded {} targets", p.targets.len());
    }
    let images: u64 = p
        .targets
        .iter()
        .map(|t| {
            let cells = t.sweep.as_ref().map_or(1, |s| s.cells.len()) as u64;
            let each = if t.is_animation() {
                t.settings.max_frames.value
            } else {
                t.settings.n_batches.value
            };
            cells * u64::from(each)
        })
        .sum();
    if images <= PLAN_IMAGES {
        let planned = plan::plan(p, &PlanOptions::default(), &mut FakeFacts);
        prop_assert!(
            planned.is_ok(),
            "`check` passed but planning failed: {:?}",
            planned.err()
        );
    }
    Ok(())
}

/// Loads `text` as the main file `fuzz/disco.kdl`, within [`LIMIT`].
pub fn load_text(text: String) -> LoadResult {
    within("load_str", move || {
        project::load_str(Path::new("fuzz/disco.kdl"), &text)
    })
}
