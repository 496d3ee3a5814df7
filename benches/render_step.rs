//! Seconds per guided step on the tiny model set, with and without `use_checkpoint`, and the
//! peak resident memory of each configuration (each runs in its own process so the peaks are
//! separate). Prints a table; asserts nothing.
//!
//!     DISCO_TINY_MODELS=target/models/tiny cargo bench --bench render_step
//!
//! With `DISCO_REFERENCE=1` it also times the PyTorch reference on the same render: a child
//! writes a trace of it (docs/trace.md) and `python -m disco_export.reference --trace … --time`
//! replays it free-running (one UNet evaluation and one cond_fn per step, as disco's steps),
//! giving the PyTorch/disco ratio. `DISCO_BENCH_SIZES=128,256` picks the sizes (default both;
//! the 256×256 runs need several GB, run them alone); `DISCO_BENCH_STEPS=N` times N steps
//! instead of 10 (N − 1 guided: DDIM's last is not; the reference replays the same N).
//! `DISCO_BENCH_PATH=unet` guides through the UNet instead of the secondary model (the
//! checkpointed UNet walk where the set has it, else the whole-UNet VJP: docs/models.md).
//! `DISCO_BENCH_DEVICE=cuda` runs disco's sessions on ONNX Runtime's CUDA provider (the
//! reference stays on the CPU); `DISCO_BENCH_PYTHON` / `DISCO_BENCH_ROOT` name the reference's
//! Python and repository where `.venv` is not beside the build (scripts/gpu-bench.sh).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use disco::build::trace_out::write_trace;
use disco::render::job::{self, Rendered};
use disco::render::models::{Models, Needs};
use disco::render::session::{ModelSet, SessionOptions};
use disco::render::spec::RenderSpec;
use disco::render::trace::Trace;

#[path = "common/dd_step.rs"]
mod dd_step;

use dd_step::{bench_device, dd_step_spec, peak_rss_kib, reference_python, repo_root};

/// Steps timed: `DISCO_BENCH_STEPS` or 10; the last is unguided (DDIM does not guide k = 0).
fn timed_steps() -> usize {
    std::env::var("DISCO_BENCH_STEPS")
        .map(|v| {
            v.trim()
                .parse()
                .expect("DISCO_BENCH_STEPS: a number of steps")
        })
        .unwrap_or(10)
}

/// Guidance through the secondary model unless `DISCO_BENCH_PATH=unet`.
fn secondary_path() -> bool {
    std::env::var("DISCO_BENCH_PATH").map_or(true, |p| p != "unet")
}

fn tiny_dir() -> PathBuf {
    std::env::var_os("DISCO_TINY_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/models/tiny"))
}

fn open_models(set: &ModelSet, s: &RenderSpec) -> Models {
    let needs = Needs {
        width: s.width(),
        height: s.height(),
        secondary: s.common.use_secondary_model,
        lpips: false,
        clip: &s.common.clip_models,
        diffusion: "512x512_diffusion_uncond_finetune_008100",
        flow: false,
        fp16: false,
    };
    let opts = SessionOptions {
        device: bench_device(),
        intra_threads: None,
        verify_hashes: true,
    };
    Models::open(set, &needs, opts).expect("sessions")
}

/// Writes a trace of the `use_checkpoint = false` render at `side` into `dir`, for the reference.
fn trace_child(side: usize, dir: &Path) {
    let dir_models = tiny_dir();
    let set = ModelSet::open(&dir_models).expect("tiny model set");
    let s = dd_step_spec(
        &set,
        (side as u32, side as u32),
        timed_steps(),
        secondary_path(),
        false,
    );
    let mut models = open_models(&set, &s);
    let mut trace = Trace::new();
    let never = AtomicBool::new(false);
    let r = job::render_observed(&s, &mut models, None, &mut trace, &never).expect("render");
    assert!(matches!(r, Rendered::Finished(_)));
    let abs = std::fs::canonicalize(&dir_models).unwrap_or(dir_models);
    trace
        .doc
        .insert("models".into(), abs.display().to_string().into());
    write_trace(dir, &trace.into_files()).expect("write the trace");
}

/// One configuration, in this process: prints `seconds_per_step peak_kib`.
fn child(side: usize, use_checkpoint: bool) {
    let set = ModelSet::open(&tiny_dir()).expect("tiny model set");
    let s = dd_step_spec(
        &set,
        (side as u32, side as u32),
        timed_steps(),
        secondary_path(),
        use_checkpoint,
    );
    let mut models = open_models(&set, &s);
    let start = Instant::now();
    let r = job::render(&s, &mut models, None, |_| {}, &AtomicBool::new(false)).expect("render");
    assert!(matches!(r, Rendered::Finished(_)));
    let per_step = start.elapsed().as_secs_f64() / timed_steps() as f64;
    println!("{per_step} {}", peak_rss_kib());
}

/// Runs this executable with `args` and returns its stdout (panics with its stderr on failure).
fn run_child(args: &[&str]) -> String {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(&exe).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "child {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The PyTorch reference's seconds per step and peak RSS (KiB) replaying a trace of the render.
fn reference(side: usize) -> (f64, u64) {
    let root = repo_root();
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dir = tmp.path().join(format!("trace-{side}"));
    run_child(&[
        "--trace",
        &side.to_string(),
        dir.to_str().expect("UTF-8 path"),
    ]);
    let report = dir.join("report.json");
    let out = Command::new(reference_python())
        .args(["-m", "disco_export.reference", "--time", "--trace"])
        .arg(&dir)
        .arg("--out")
        .arg(&report)
        .current_dir(root.join("onnx-export"))
        .output()
        .expect("run the PyTorch reference (scripts/setup.sh makes .venv)");
    assert!(
        out.status.success(),
        "reference failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).expect("report")).expect("JSON");
    (
        r["seconds_per_step"].as_f64().expect("seconds_per_step"),
        r["peak_rss_kib"].as_u64().unwrap_or(0),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(args[i + 1].parse().unwrap(), args[i + 2] == "1");
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--trace") {
        trace_child(args[i + 1].parse().unwrap(), Path::new(&args[i + 2]));
        return;
    }
    if !tiny_dir().join("manifest.json").exists() {
        eprintln!(
            "no tiny model set at {} (export one: see docs/models.md)",
            tiny_dir().display()
        );
        std::process::exit(1);
    }
    let with_reference = std::env::var_os("DISCO_REFERENCE").is_some_and(|v| v == "1");
    let sizes: Vec<usize> = std::env::var("DISCO_BENCH_SIZES")
        .unwrap_or_else(|_| "128,256".into())
        .split(',')
        .map(|v| {
            v.trim()
                .parse()
                .expect("DISCO_BENCH_SIZES: sizes like 128,256")
        })
        .collect();
    println!(
        "guided steps on the tiny model set (DDIM, guided through the {}, all CLIP models of the set, cutn_batches 4, 16 cuts; {} steps timed; device {:?})",
        if secondary_path() {
            "secondary model"
        } else {
            "UNet"
        },
        timed_steps(),
        bench_device()
    );
    println!(
        "| size | use_checkpoint | s/step (disco) | peak RSS (MiB) | s/step (PyTorch) | PyTorch peak RSS (MiB) | PyTorch / disco |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mib = |kib: u64| kib as f64 / 1024.0;
    for side in sizes {
        for ckpt in [false, true] {
            let text = run_child(&["--child", &side.to_string(), if ckpt { "1" } else { "0" }]);
            let mut it = text.split_whitespace();
            let (t, kib): (f64, u64) = (
                it.next().unwrap().parse().unwrap(),
                it.next().unwrap().parse().unwrap(),
            );
            // The reference has no use_checkpoint: it is timed once, against the plain render.
            let torch = (with_reference && !ckpt).then(|| reference(side));
            let (rt, rmem, ratio) = match torch {
                Some((rt, rkib)) => (
                    format!("{rt:.3}"),
                    format!("{:.1}", mib(rkib)),
                    format!("{:.2}", rt / t),
                ),
                None => ("–".into(), "–".into(), "–".into()),
            };
            println!(
                "| {side}×{side} | {ckpt} | {t:.3} | {:.1} | {rt} | {rmem} | {ratio} |",
                mib(kib)
            );
        }
    }
}
