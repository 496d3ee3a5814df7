//! `disco build`, `disco plan` and `disco gc`: flags in, one library call, events drawn,
//! exit code out.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use disco::build::{
    self, BuildError, BuildOptions, BuildSink, Decision, OrtRenderer, StoreFacts, decide, make_plan,
};
use disco::plan::{Plan, ShardSpec};
use disco::project::{self, Diagnostics};
use disco::render::session::{Device, SessionOptions};
use disco::store::{CacheMode, Store};

use super::cache::RenderWhen;
use super::progress::{HumanSink, JsonSink, MessageFormat};
use super::report::print_all;
use super::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, project_path};

/// Flags shared by `build` and `plan`.
#[derive(Debug, clap::Args)]
pub struct Selection {
    /// The project file or directory, then target names (all targets if none). The first
    /// argument is the project if it names a `.kdl` file or a directory; else a target.
    pub args: Vec<String>,
    /// How to report: `human` (bars on a terminal, plain lines otherwise) or `json` (one
    /// JSON object per event on stdout).
    #[arg(long, value_enum, default_value = "human")]
    pub message_format: MessageFormat,
    /// Where to render: `auto` (CUDA when the ONNX Runtime library has it, else the CPU),
    /// `cpu`, `cuda` or `cuda:N`. Part of every job's key: CPU and GPU pixels differ.
    #[arg(long, default_value = "auto")]
    pub device: Device,
    /// Path to libonnxruntime.so (overrides ORT_DYLIB_PATH and the search).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Only animation frames A..B (end exclusive; `..B` from the start), to preview the
    /// start of a long animation. Frames chain, so frames before A are built too; the
    /// video waits for the whole animation.
    #[arg(long, value_name = "A..B", value_parser = parse_frames)]
    pub frames: Option<(u32, u32)>,
}

/// `A..B` or `..B`.
fn parse_frames(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("`{s}` is not a frame range: write A..B, e.g. 0..48"))?;
    let a: u32 = if a.is_empty() {
        0
    } else {
        a.parse().map_err(|e| format!("`{a}`: {e}"))?
    };
    let b: u32 = b.parse().map_err(|e| format!("`{b}`: {e}"))?;
    if a >= b {
        return Err(format!("the range {a}..{b} is empty"));
    }
    Ok((a, b))
}

impl Selection {
    /// (project file, targets).
    pub(super) fn split(&self) -> (PathBuf, Vec<String>) {
        split_args(&self.args)
    }
}

/// The project file (the first argument if it names a `.kdl` file or a directory), then
/// target names.
fn split_args(args: &[String]) -> (PathBuf, Vec<String>) {
    let mut args = args.to_vec();
    let first_is_project = args.first().is_some_and(|a| {
        let p = Path::new(a);
        p.is_dir() || a.ends_with(".kdl")
    });
    let project = if first_is_project {
        Some(PathBuf::from(args.remove(0)))
    } else {
        None
    };
    (project_path(project), args)
}

/// `disco build`'s own flags.
#[derive(Debug, clap::Args)]
pub struct BuildFlags {
    /// Show what would render and why; render and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Save the sampler state every N steps, so an interrupted frame resumes there (0:
    /// never).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub checkpoint_every: usize,
    /// Threads per ONNX Runtime operator (default: ONNX Runtime's choice).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Render and publish only shard I of N (0-based: an array job's index passes straight
    /// in). Every worker computes the same split from the plan; a plain `disco build`
    /// afterwards assembles videos, sheets, the report and disco.lock.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<ShardSpec>,
    /// A shared cache, `file:///path` (default: $DISCO_CACHE): a job missing here is pulled
    /// from it before rendering, and each job rendered is pushed to it.
    #[arg(long, value_name = "URL")]
    pub cache: Option<String>,
    /// `read` (pull only, never write to the cache), `write` (push only) or `readwrite`.
    #[arg(long, value_name = "MODE", default_value = "readwrite")]
    pub cache_mode: CacheMode,
    /// `never`: render nothing, take every image from this checkout or the cache (the
    /// assemble step); a job neither holds fails, named, and the build exits 1.
    #[arg(long, value_enum, default_value = "auto")]
    pub render: RenderWhen,
}

pub(super) fn sink(format: MessageFormat) -> Box<dyn BuildSink> {
    match format {
        MessageFormat::Json => Box::new(JsonSink),
        MessageFormat::Human => Box::new(HumanSink::new()),
    }
}

/// Loads and plans; diagnostics printed, exit code on failure.
pub(super) fn load_and_plan(sel: &Selection) -> Result<(Plan, Store), i32> {
    load_and_plan_with(sel, true)
}

/// As [`load_and_plan`]; `save_hashes: false` leaves the stat cache unwritten, so the
/// command writes nothing into the project's store (`status`, `verify`).
pub(super) fn load_and_plan_with(sel: &Selection, save_hashes: bool) -> Result<(Plan, Store), i32> {
    let (path, targets) = sel.split();
    let loaded = project::load(&path);
    print_all(&loaded.diagnostics);
    let Some(project) = loaded.project else {
        return Err(EXIT_INVALID);
    };
    let store = Store::new(&project_dir(&path));
    let mut facts = StoreFacts::new(store.stat_cache(), sel.device, sel.ort_lib.clone())
        .with_frames(store.root().join("frames"));
    let plan = make_plan(
        &project,
        &targets,
        sel.frames.map(|r| r.1),
        &store,
        &mut facts,
    );
    // a hash computed is worth keeping even when planning failed further on
    if save_hashes && let Err(e) = facts.stat.save() {
        eprintln!("warning: cannot save the stat cache: {e}");
    }
    match plan {
        Ok(p) => Ok((p, store)),
        Err(BuildError::Plan(diags)) => {
            let spanned = diags.iter().any(|d| d.location().is_some());
            print_all(&Diagnostics(diags));
            Err(if spanned { EXIT_INVALID } else { EXIT_FAILURE })
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(EXIT_FAILURE)
        }
    }
}

/// A flag Ctrl-C raises: the running frame stops after its step (and saves a checkpoint).
pub(super) fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Release));
    cancel
}

/// The renderer for `sel`'s device and ONNX Runtime library.
pub(super) fn renderer(sel: &Selection, threads: Option<usize>) -> OrtRenderer {
    OrtRenderer::new(
        SessionOptions {
            device: sel.device,
            intra_threads: threads,
            // planning has checked every graph file against its manifest
            verify_hashes: false,
        },
        sel.ort_lib.clone(),
    )
}

/// Runs `disco build`.
pub fn run_build(sel: &Selection, flags: &BuildFlags) -> i32 {
    let (plan, _store) = match load_and_plan(sel) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let cache = flags.cache.as_deref();
    let store = match super::cache::store(&plan.dir, cache, flags.cache_mode, flags.dry_run) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let cancel = cancel_on_ctrl_c();
    let options = BuildOptions {
        only: Vec::new(),
        dry_run: flags.dry_run,
        checkpoint_every: flags.checkpoint_every,
        holder: format!(
            "pid {} ({})",
            std::process::id(),
            std::env::args().collect::<Vec<_>>().join(" ")
        ),
        render_only: None,
        shard: flags.shard,
    };
    let mut sink = sink(sel.message_format);
    let result = if flags.render == RenderWhen::Never {
        super::cache::assemble(&store, &plan, &options, sink.as_mut(), &cancel)
    } else {
        let mut renderer = renderer(sel, flags.threads);
        let r = build::build_in(
            &store,
            &plan,
            &options,
            &mut renderer,
            sink.as_mut(),
            &cancel,
        );
        for n in &renderer.notices {
            eprintln!("notice: {n}");
        }
        r
    };
    match result {
        Ok(s) if s.failed > 0 => EXIT_FAILURE,
        Ok(_) => EXIT_OK,
        Err(BuildError::Interrupted) => {
            eprintln!(
                "interrupted: the frame in progress saved a checkpoint; `disco build` resumes it"
            );
            EXIT_INTERRUPTED
        }
        Err(e @ BuildError::ShardDrawsSeed { .. }) => {
            super::shards::print_seed_refusal(&e);
            EXIT_INVALID
        }
        Err(BuildError::Locked(e)) => {
            eprintln!("error: {e}\nhelp: one build per project at a time; wait for it, or stop it");
            EXIT_FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILURE
        }
    }
}

/// Runs `disco plan`: every job that would render and why, and how many are up to date;
/// with `shards`, the plan's units of work and the shard of each instead.
pub fn run_plan(sel: &Selection, shards: Option<usize>) -> i32 {
    let (plan, store) = match load_and_plan(sel) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let outputs = store.outputs();
    let decisions = decide(&plan, &store, &outputs);
    if let Some(n) = shards {
        return super::shards::run(&plan, &decisions, n, sel.message_format);
    }
    if sel.message_format == MessageFormat::Json {
        let mut sink = JsonSink;
        let options = BuildOptions {
            dry_run: true,
            ..BuildOptions::default()
        };
        let mut none = NoRenderer;
        return match build::build(
            &plan,
            &options,
            &mut none,
            &mut sink,
            &AtomicBool::new(false),
        ) {
            Ok(_) => EXIT_OK,
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_FAILURE
            }
        };
    }
    let mut current = 0;
    // a skipped 3D turbo frame runs no sampler: its line says so
    let label = |j: usize| {
        let l = plan.job_label(j);
        if plan.jobs[j].is_turbo_skip() {
            format!("{l} (turbo skip: warps blended, no sampler)")
        } else {
            l
        }
    };
    for (j, d) in decisions.iter().enumerate() {
        match d {
            Decision::Render(why) => println!("{}: {why}", label(j)),
            Decision::Materialize => {
                println!("{}: cached, output file to restore", label(j))
            }
            Decision::Adopt => println!(
                "{}: to adopt from {} (its bytes are the image disco.lock records)",
                label(j),
                plan.jobs[j].output.display()
            ),
            Decision::Current => current += 1,
        }
    }
    let eye_decisions = build::vr::decide_eyes(&plan, &store, &outputs);
    for (e, d) in eye_decisions.iter().enumerate() {
        match d {
            Decision::Render(why) => println!("{}: {why}", plan.eye_label(e)),
            Decision::Materialize | Decision::Adopt => {
                println!("{}: cached, output file to restore", plan.eye_label(e))
            }
            Decision::Current => {}
        }
    }
    for t in 0..plan.targets.len() {
        for v in build::decide::videos_of(&plan, t)
            .into_iter()
            .filter(|v| !outputs.is_current(&plan.dir, &v.output, &v.key))
        {
            println!(
                "{} video: to encode → {}",
                plan.targets[t].label(),
                v.output.display()
            );
        }
    }
    let stale = decisions
        .iter()
        .filter(|d| matches!(d, Decision::Render(_)))
        .count();
    println!(
        "{stale} to render, {current} up to date ({} jobs)",
        plan.jobs.len()
    );
    if !plan.eyes.is_empty() {
        let stale = eye_decisions
            .iter()
            .filter(|d| matches!(d, Decision::Render(_)))
            .count();
        println!(
            "{stale} VR eye views to render ({} in all)",
            plan.eyes.len()
        );
    }
    EXIT_OK
}

/// A renderer for dry runs: never called.
struct NoRenderer;

impl build::Renderer for NoRenderer {
    fn render(
        &mut self,
        _: &build::Request<'_>,
        _: &mut dyn build::Hooks,
        _: &AtomicBool,
    ) -> Result<build::RenderOutcome, build::RenderError> {
        Err(build::SetupError::Other("a dry run renders nothing".into()).into())
    }
}

/// `disco gc`'s flags: no device or frame range, since what is kept never depends on them.
#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// The project file or directory, then target names: only the unreferenced images
    /// those targets made are removed (all targets' if none). An image any target of the
    /// project references is never removed.
    pub args: Vec<String>,
    /// List what would be removed, with sizes; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Path to libonnxruntime.so (overrides ORT_DYLIB_PATH and the search): keys name
    /// the runtime, so gc must see the one builds use.
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
}

/// Runs `disco gc`: drops cached images no target of the project references.
pub fn run_gc(a: &GcArgs) -> i32 {
    let (path, targets) = split_args(&a.args);
    let loaded = project::load(&path);
    print_all(&loaded.diagnostics);
    let Some(project) = loaded.project else {
        return EXIT_INVALID;
    };
    let store = Store::new(&project_dir(&path));
    let mut facts = StoreFacts::new(store.stat_cache(), Device::Auto, a.ort_lib.clone())
        .with_frames(store.root().join("frames"));
    let result = build::gc(&project, &targets, &store, &mut facts, a.dry_run);
    if !a.dry_run
        && let Err(e) = facts.stat.save()
    {
        eprintln!("warning: cannot save the stat cache: {e}");
    }
    let r = match result {
        Ok(r) => r,
        Err(BuildError::Plan(diags)) => {
            let spanned = diags.iter().any(|d| d.location().is_some());
            print_all(&Diagnostics(diags));
            return if spanned { EXIT_INVALID } else { EXIT_FAILURE };
        }
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    let mib = r.bytes as f64 / (1 << 20) as f64;
    let images = format!(
        "{} cached image{}",
        r.objects,
        if r.objects == 1 { "" } else { "s" }
    );
    if a.dry_run {
        for (p, len) in &r.removed {
            println!("would remove {} ({len} bytes)", p.display());
        }
        println!("would remove {images} ({} files, {mib:.1} MiB)", r.files);
    } else {
        println!("removed {images} ({} files, {mib:.1} MiB)", r.files);
    }
    EXIT_OK
}

/// The folder of a project file (`.` for a bare file name).
fn project_dir(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}
