//! Command-line front end: flags (clap), diagnostics (miette) and exit codes.
//!
//! Exit codes: 0 ok, 1 failure (e.g. a missing runtime), 2 usage error or invalid project.

mod build;
mod cache;
mod check;
mod doctor;
mod import;
mod init;
mod progress;
mod report;
mod shards;
mod status;
mod verify;
mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Exit code for success.
pub const EXIT_OK: i32 = 0;
/// Exit code for a failure that is not the user's input.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for bad usage or an invalid project.
pub const EXIT_INVALID: i32 = 2;
/// Exit code after Ctrl-C (128 + SIGINT), as shells expect.
pub const EXIT_INTERRUPTED: i32 = 130;

/// A make-like build tool for Disco Diffusion-style CLIP-guided diffusion art.
///
/// A project file (`disco.kdl`) declares every Disco Diffusion setting, prompts keyed by
/// frame, still batches, 2D animations and parameter sweeps. See docs/project-format.md.
#[derive(Parser, Debug)]
#[command(name = "disco", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and validate a project; print every error and warning with its file:line:column.
    ///
    /// Exits 0 if the project is valid (warnings allowed), 2 if it has errors. Writes nothing.
    Check {
        /// The project file, or a directory holding `disco.kdl` (default: ./disco.kdl).
        project: Option<PathBuf>,
    },
    /// Create a new project directory with a working `disco.kdl`, `init_images/` and a `.gitignore`.
    ///
    /// Refuses to touch a directory that already holds a `disco.kdl`.
    Init {
        /// Directory to create (or fill, if it exists and has no disco.kdl).
        dir: PathBuf,
    },
    /// Turn a Disco Diffusion settings file into a disco project.
    ///
    /// Reads DD's `<batch>(<n>)_settings.txt` (JSON) or the CLI port's YAML config. Every key
    /// that is not imported is listed with the reason, on screen and as a comment in the file.
    /// The result is validated before it is written. If a key that changes the picture could
    /// not be imported, nothing is written and the exit code is 1, unless --allow-lossy.
    Import {
        /// The DD settings file (JSON or YAML).
        file: PathBuf,
        /// Where to write the project (default: ./disco.kdl).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite the output file if it exists.
        #[arg(long)]
        force: bool,
        /// Write the project even though keys that change the picture were not imported (they
        /// stay listed); without it such an import writes nothing and exits 1.
        #[arg(long)]
        allow_lossy: bool,
    },
    /// Render every stale job: only images whose inputs changed since they were built.
    ///
    /// Images go under images_out/<batch-name>/ with Disco Diffusion's names; the cache is
    /// .disco/ beside the project. Exits 0 when everything built, 1 if a job failed or the
    /// build could not run, 2 for an invalid project, 130 after Ctrl-C.
    Build {
        #[command(flatten)]
        selection: build::Selection,
        #[command(flatten)]
        flags: build::BuildFlags,
    },
    /// Re-render on save: only the jobs whose inputs an edit changed.
    ///
    /// Watches the project, its includes, init images, image prompts and model sets. An
    /// edit cancels the frames it changes (they keep a checkpoint, so reverting resumes
    /// them) and queues the new ones; frames still wanted go on. A bad edit prints its
    /// diagnostic and the last good plan goes on. Exits 130 after Ctrl-C.
    Watch {
        #[command(flatten)]
        selection: build::Selection,
        #[command(flatten)]
        flags: watch::WatchFlags,
    },
    /// List every job that would render and why (what changed since it was built).
    Plan {
        #[command(flatten)]
        selection: build::Selection,
        /// Instead, list the plan's units of work (a still image, or a whole animation)
        /// with the shard of each among N, as `disco build --shard I/N` splits them.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        shards: Option<u32>,
    },
    /// Say what is stale and where `disco.lock` disagrees with the project; render nothing.
    ///
    /// Lists each stale job with its reason (as `disco plan`) and each job whose lock entry
    /// is missing or out of date. Without a cache (a fresh clone) only the lock is judged.
    /// With `--check`, exits 1 if there is anything to list: a CI gate.
    Status {
        #[command(flatten)]
        selection: build::Selection,
        /// Exit 1 if anything is stale or the lock disagrees.
        #[arg(long)]
        check: bool,
    },
    /// Re-render locked jobs into a scratch store and compare them with `disco.lock`.
    ///
    /// Never touches the project's cache or outputs. Prints each mismatch with both
    /// hashes and the PSNR (against a local copy of the locked image, when there is one).
    /// Exits 1 on any mismatch or stale lock entry.
    Verify {
        #[command(flatten)]
        selection: build::Selection,
        #[command(flatten)]
        flags: verify::VerifyFlags,
    },
    /// Remove cached images that no target of the project references any more.
    ///
    /// Whatever targets are named, an image some target of the project (at any frame) or
    /// `disco.lock` references is kept; naming targets only narrows what goes to the
    /// unreferenced images they made.
    Gc {
        #[command(flatten)]
        args: build::GcArgs,
    },
    /// Report the ONNX Runtime library, its execution providers, and the model sets found.
    ///
    /// Exits 1 if ONNX Runtime cannot be found or loaded.
    Doctor {
        /// The project whose model set to check (default: ./disco.kdl if present).
        project: Option<PathBuf>,
        /// Path to libonnxruntime.so (overrides ORT_DYLIB_PATH and the search).
        #[arg(long, value_name = "PATH")]
        ort_lib: Option<PathBuf>,
        /// Also hash every graph file and compare with its manifest.
        #[arg(long)]
        verify: bool,
        /// Check this model set directory too (one holding manifest.json).
        #[arg(long, value_name = "DIR")]
        model_set: Option<PathBuf>,
    },
}

/// Runs the CLI and returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_INVALID
            } else {
                EXIT_OK
            };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Build { selection, flags } => build::run_build(&selection, &flags),
        Command::Watch { selection, flags } => watch::run_watch(&selection, &flags),
        Command::Plan { selection, shards } => {
            build::run_plan(&selection, shards.map(|n| n as usize))
        }
        Command::Gc { args } => build::run_gc(&args),
        Command::Status { selection, check } => status::run(&selection, check),
        Command::Verify { selection, flags } => verify::run(&selection, &flags),
        Command::Check { project } => check::run(&project_path(project)),
        Command::Init { dir } => init::run(&dir),
        Command::Import {
            file,
            output,
            force,
            allow_lossy,
        } => import::run(&file, output.as_deref(), force, allow_lossy),
        Command::Doctor {
            project,
            ort_lib,
            verify,
            model_set,
        } => doctor::run(project, ort_lib.as_deref(), verify, model_set),
    }
}

/// The project file named on the command line: a file, or `disco.kdl` inside a directory.
fn project_path(arg: Option<PathBuf>) -> PathBuf {
    match arg {
        Some(p) if p.is_dir() => p.join("disco.kdl"),
        Some(p) => p,
        None => PathBuf::from("disco.kdl"),
    }
}
