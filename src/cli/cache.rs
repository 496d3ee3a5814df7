//! `disco build --cache URL --cache-mode M --render never`: the store a build writes
//! through (this checkout's `.disco/`, over a shared cache if one is named) and the
//! renderer of the assemble step, which renders nothing.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use disco::build::{self, BuildError, BuildOptions, BuildSink, JobError, RenderError, Summary};
use disco::plan::Plan;
use disco::store::{CacheMode, Store, open_cache};

use super::{EXIT_FAILURE, EXIT_INVALID};

/// The environment variable naming the cache when `--cache` does not.
pub const CACHE_ENV: &str = "DISCO_CACHE";

/// `--render`: whether a build may render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RenderWhen {
    /// Render every stale job (the default).
    #[default]
    Auto,
    /// Render nothing: take every image from this checkout or the cache (the assemble
    /// step); a job neither holds fails, named.
    Never,
}

/// The store of the project in `dir`: over the cache `flag` (or `$DISCO_CACHE`) names, if
/// any (never for a dry run); an unusable cache is reported and gives the exit code.
pub fn store(dir: &Path, flag: Option<&str>, mode: CacheMode, dry: bool) -> Result<Store, i32> {
    if dry {
        // a dry run writes nothing, so it does not pull from the cache into `.disco/`
        return Ok(Store::new(dir));
    }
    let env = std::env::var(CACHE_ENV).ok().filter(|v| !v.is_empty());
    let Some(url) = flag.map(str::to_owned).or(env) else {
        return Ok(Store::new(dir));
    };
    match open_cache(&url) {
        Ok(shared) => Ok(Store::with_cache(dir, shared, mode)),
        Err(e @ disco::store::CacheError::Url(_)) => {
            eprintln!("error: {e}");
            Err(EXIT_INVALID)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(EXIT_FAILURE)
        }
    }
}

/// The assemble step's renderer: every job asked of it is one no store holds.
#[derive(Debug, Default)]
pub struct NeverRender {
    /// The jobs asked for (labels), in order.
    pub missing: Vec<String>,
}

impl build::Renderer for NeverRender {
    fn render(
        &mut self,
        req: &build::Request<'_>,
        _: &mut dyn build::Hooks,
        _: &AtomicBool,
    ) -> Result<build::RenderOutcome, RenderError> {
        self.missing.push(req.plan.job_label(req.job));
        Err(JobError::NotCached(req.plan.jobs[req.job].key).into())
    }

    /// A 3D turbo frame asks for its warps first (a skipped one asks for nothing else): it
    /// is a job no store holds, like one asked to render.
    fn warp3d(
        &mut self,
        plan: &Plan,
        j: usize,
        _: &ndarray::Array3<u8>,
    ) -> Result<ndarray::Array3<u8>, RenderError> {
        self.missing.push(plan.job_label(j));
        Err(JobError::NotCached(plan.jobs[j].key).into())
    }

    /// A VR eye view neither this checkout nor the shared cache holds.
    fn eye_view(
        &mut self,
        plan: &Plan,
        e: usize,
        _: &ndarray::Array3<u8>,
    ) -> Result<ndarray::Array3<u8>, RenderError> {
        self.missing.push(plan.eye_label(e));
        Err(JobError::NotCached(plan.eyes[e].key).into())
    }
}

/// The assemble step (`--render never`): builds `plan` in `store` rendering nothing, then
/// names every job no store held.
pub fn assemble(
    store: &Store,
    plan: &Plan,
    options: &BuildOptions,
    sink: &mut dyn BuildSink,
    cancel: &AtomicBool,
) -> Result<Summary, BuildError> {
    let mut never = NeverRender::default();
    let result = build::build_in(store, plan, options, &mut never, sink, cancel);
    if !never.missing.is_empty() {
        eprintln!(
            "error: {} job{} in no cache (`--render never` renders nothing): {}",
            never.missing.len(),
            if never.missing.len() == 1 {
                " is"
            } else {
                "s are"
            },
            never.missing.join(", ")
        );
    }
    result
}
