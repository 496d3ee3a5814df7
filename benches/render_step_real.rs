//! One guided DDIM step at real model sizes (random weights): disco's graphs against PyTorch
//! eager run the way Disco Diffusion runs it. Prints seconds per step, peak RSS and their
//! ratios, then per-graph (disco) and per-model (PyTorch) time tables. Asserts nothing.
//!
//!     python -m disco_export --random-weights --seed 0 \
//!         --diffusion 512x512_diffusion_uncond_finetune_008100 --secondary \
//!         --clip ViTB32 ViTB16 RN50 --verify-batches 1 --out target/models/real-random
//!     DISCO_BENCH_MODELS=target/models/real-random DISCO_BENCH_SIZES=384x256 \
//!         DISCO_BENCH_PATHS=secondary cargo bench --bench render_step_real
//!
//! The step is DD's default mix: every CLIP model of the set, cutn_batches 4, DD's default cut
//! schedule (12 overview + 4 inner cuts at the first steps), DDIM η 0.8, clip_guidance_scale
//! 5000, clamp_max 0.05. `DISCO_BENCH_PATHS` picks the guidance paths (`secondary`: the
//! secondary model's VJP, `unet`: `use_secondary_model = false`, the UNet's VJP; default
//! `secondary`); `DISCO_BENCH_SIZES` the sizes as WIDTHxHEIGHT (default 384x256);
//! `DISCO_BENCH_STEPS` the steps run (default 3: two guided, then DDIM's unguided last);
//! `DISCO_BENCH_CHECKPOINT=1` turns on DD's `use_checkpoint` (disco: CLIP cuts in chunks of 4);
//! `DISCO_BENCH_DEVICE` disco's device (`cpu` by default, `cuda[:N]`; the reference stays on
//! the CPU), `DISCO_BENCH_PYTHON` / `DISCO_BENCH_ROOT` the reference's Python and repository
//! where `.venv` is not beside the build (scripts/gpu-bench.sh).
//!
//! Per size and path: a child process renders with disco, recording a trace (docs/trace.md),
//! the time of each step and each graph's time per step; then
//! `python -m disco_export.reference --trace … --time --dd-style` (2 torch threads) rebuilds the
//! same modules from the set's seed and runs the same steps with DD's cond_fn (one forward with
//! grad per model and CLIP batch, `autograd.grad` to x_in per batch, one backward through the
//! denoiser), timing each model's forward and backward. Each side runs in its own process, so
//! the peak RSS (VmHWM / ru_maxrss) figures are separate. The first guided step pays ONNX
//! Runtime's first-run costs (and torch's allocator warm-up): it is shown apart from the warm
//! steps after it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use ndarray::Array4;
use serde_json::{Value, json};

use disco::build::trace_out::write_trace;
use disco::render::job::{self, Rendered, StepEvent};
use disco::render::models::{Models, Needs};
use disco::render::observer::{CondFnEval, DenoiserEval, RenderObserver, RenderStart};
use disco::render::session::{ModelSet, SessionOptions, graph_times};
use disco::render::trace::Trace;

#[path = "common/dd_step.rs"]
mod dd_step;

use dd_step::{bench_device, dd_step_spec, peak_rss_kib, reference_python, repo_root};
const DIFFUSION: &str = "512x512_diffusion_uncond_finetune_008100";

/// `DISCO_BENCH_CHECKPOINT=1`: DD's default `use_checkpoint` (on), which disco applies by
/// running each CLIP batch in chunks of 4 cuts (the UNet path's walk is checkpointed either
/// way); off by default, so the figures compare the same CLIP batch sizes as PyTorch's.
fn use_checkpoint() -> bool {
    std::env::var("DISCO_BENCH_CHECKPOINT").is_ok_and(|v| v.trim() == "1")
}

fn steps() -> usize {
    std::env::var("DISCO_BENCH_STEPS")
        .map(|v| {
            v.trim()
                .parse()
                .expect("DISCO_BENCH_STEPS: a number of steps")
        })
        .unwrap_or(3)
}

fn models_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("DISCO_BENCH_MODELS").expect(
        "DISCO_BENCH_MODELS: a --random-weights model set (see the header of benches/render_step_real.rs)",
    ))
}

/// The trace, plus each step's wall time, whether it was guided and its graph times.
struct Timed {
    trace: Trace,
    last: Instant,
    guided: bool,
    before: BTreeMap<String, graph_times::GraphTime>,
    steps: Vec<Value>,
}

impl RenderObserver for Timed {
    fn clamp_tie_margin(&self) -> Option<f32> {
        self.trace.clamp_tie_margin()
    }
    fn start(&mut self, s: &RenderStart<'_>) {
        self.trace.start(s);
        self.before = graph_times::snapshot();
        self.last = Instant::now();
    }
    fn cond_fn(&mut self, e: &CondFnEval<'_>) {
        self.guided = true;
        self.trace.cond_fn(e);
    }
    fn evaluated(&mut self, e: &DenoiserEval<'_>) {
        self.trace.evaluated(e);
    }
    fn noise(&mut self, z: &Array4<f32>) {
        self.trace.noise(z);
    }
    fn step(&mut self, s: &StepEvent<'_>) {
        let secs = self.last.elapsed().as_secs_f64();
        let now = graph_times::snapshot();
        let graphs: BTreeMap<&String, Value> = now
            .iter()
            .filter_map(|(name, t)| {
                let b = self.before.get(name).copied().unwrap_or_default();
                (t.calls > b.calls).then(|| {
                    let s = (t.total - b.total).as_secs_f64();
                    (name, json!([t.calls - b.calls, s]))
                })
            })
            .collect();
        self.steps
            .push(json!({"seconds": secs, "guided": self.guided, "graphs": graphs}));
        self.trace.step(s);
        self.guided = false;
        self.before = now;
        self.last = Instant::now();
    }
    fn finished(&mut self, pred_x0: &Array4<f32>, x: &Array4<f32>) {
        self.trace.finished(pred_x0, x);
    }
}

/// The disco side, in this process: renders, writes the trace into `dir` and prints a JSON
/// line {"steps": [{seconds, guided, graphs: {name: [calls, seconds]}}], "peak_kib", "open_seconds"}.
fn child(width: u32, height: u32, secondary: bool, dir: &Path) {
    let dir_models = models_dir();
    let set = ModelSet::open(&dir_models).expect("model set");
    let s = dd_step_spec(&set, (width, height), steps(), secondary, use_checkpoint());
    let needs = Needs {
        width: s.width(),
        height: s.height(),
        secondary,
        lpips: false,
        clip: &s.common.clip_models,
        diffusion: DIFFUSION,
        flow: false,
        fp16: false,
    };
    let opts = SessionOptions {
        device: bench_device(),
        intra_threads: None,
        verify_hashes: false,
    };
    let t0 = Instant::now();
    let mut models = Models::open(&set, &needs, opts).expect("sessions");
    let open_seconds = t0.elapsed().as_secs_f64();
    graph_times::enable();
    let mut timed = Timed {
        trace: Trace::new(),
        last: Instant::now(),
        guided: false,
        before: BTreeMap::new(),
        steps: Vec::new(),
    };
    let never = AtomicBool::new(false);
    let r = job::render_observed(&s, &mut models, None, &mut timed, &never).expect("render");
    assert!(matches!(r, Rendered::Finished(_)));
    let peak = peak_rss_kib();
    let mut trace = timed.trace;
    let abs = std::fs::canonicalize(&dir_models).unwrap_or(dir_models);
    trace
        .doc
        .insert("models".into(), abs.display().to_string().into());
    write_trace(dir, &trace.into_files()).expect("write the trace");
    println!(
        "{}",
        json!({"steps": timed.steps, "peak_kib": peak, "open_seconds": open_seconds})
    );
}

fn run_child(args: &[&str]) -> Value {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(&exe).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "child {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().expect("a line")).expect("the child's JSON")
}

fn reference(dir: &Path) -> Value {
    let root = repo_root();
    let report = dir.join("report.json");
    let out = Command::new(reference_python())
        .args([
            "-m",
            "disco_export.reference",
            "--time",
            "--dd-style",
            "--trace",
        ])
        .arg(dir)
        .arg("--out")
        .arg(&report)
        .current_dir(root.join("onnx-export"))
        .output()
        .expect("run the PyTorch reference (scripts/setup.sh makes .venv)");
    assert!(
        out.status.success(),
        "reference failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(report).expect("report")).expect("JSON")
}

/// (first guided step's seconds, mean seconds of the guided steps after it or NaN, index list
/// of those warm guided steps).
fn step_times(steps: &[(f64, bool)]) -> (f64, f64, Vec<usize>) {
    let guided: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].1).collect();
    let first = guided.first().map(|&i| steps[i].0).unwrap_or(f64::NAN);
    let warm: Vec<usize> = guided.iter().skip(1).copied().collect();
    let mean = if warm.is_empty() {
        f64::NAN
    } else {
        warm.iter().map(|&i| steps[i].0).sum::<f64>() / warm.len() as f64
    };
    (first, mean, warm)
}

fn f(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{v:.2}")
    }
}

fn report(w: u32, h: u32, path: &str, disco: &Value, torch: Option<&Value>) {
    let gib = |kib: f64| kib / (1024.0 * 1024.0);
    let d_steps: Vec<(f64, bool)> = disco["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["seconds"].as_f64().unwrap(),
                s["guided"].as_bool().unwrap(),
            )
        })
        .collect();
    let (d_first, d_warm, warm_idx) = step_times(&d_steps);
    let d_peak = gib(disco["peak_kib"].as_f64().unwrap());
    println!(
        "\n### {w}×{h}, {path} path ({} steps, {} guided; sessions opened in {:.1} s)\n",
        d_steps.len(),
        d_steps.iter().filter(|s| s.1).count(),
        disco["open_seconds"].as_f64().unwrap_or(f64::NAN)
    );
    println!("| side | first guided step (s) | later guided steps (s, mean) | peak RSS (GiB) |");
    println!("| --- | --- | --- | --- |");
    println!("| disco | {} | {} | {d_peak:.2} |", f(d_first), f(d_warm));
    if let Some(t) = torch {
        let t_steps: Vec<(f64, bool)> = t["dd_style"]["steps"]
            .as_array()
            .expect("dd_style.steps")
            .iter()
            .map(|s| {
                (
                    s["seconds"].as_f64().unwrap(),
                    s["guided"].as_bool().unwrap(),
                )
            })
            .collect();
        let (t_first, t_warm, _) = step_times(&t_steps);
        let t_peak = gib(t["peak_rss_kib"].as_f64().unwrap());
        println!(
            "| PyTorch (DD's cond_fn) | {} | {} | {t_peak:.2} |",
            f(t_first),
            f(t_warm)
        );
        println!(
            "| PyTorch / disco | {} | {} | {:.2} |",
            f(t_first / d_first),
            f(t_warm / d_warm),
            t_peak / d_peak
        );
        if let Some(free) = t.get("free") {
            println!(
                "\nPyTorch's free run against disco's trace (same weights, same draws): max rel. error eps {:.1e}, grad {:.1e}",
                free["max"]["eps"].as_f64().unwrap_or(f64::NAN),
                free["max"]["grad"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    // disco per graph: the first guided step and the mean of the later guided ones.
    let steps = disco["steps"].as_array().unwrap();
    let first_idx = (0..d_steps.len()).find(|&i| d_steps[i].1);
    let mut names: Vec<String> = Vec::new();
    for s in steps {
        for k in s["graphs"].as_object().unwrap().keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let at = |i: usize, name: &str| -> (f64, f64) {
        steps[i]["graphs"]
            .get(name)
            .map(|v| (v[0].as_f64().unwrap(), v[1].as_f64().unwrap()))
            .unwrap_or((0.0, 0.0))
    };
    println!("\ndisco per graph (per step: calls, seconds; s/call of the later guided steps)\n");
    println!(
        "| graph | calls | first guided step (s) | later guided steps (s, mean) | s/call (later) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    let mut sums = (0.0, 0.0);
    for name in &names {
        let first = first_idx.map(|i| at(i, name)).unwrap_or((0.0, f64::NAN));
        let (calls, warm) = if warm_idx.is_empty() {
            (first.0, f64::NAN)
        } else {
            let c = warm_idx.iter().map(|&i| at(i, name).0).sum::<f64>() / warm_idx.len() as f64;
            let s = warm_idx.iter().map(|&i| at(i, name).1).sum::<f64>() / warm_idx.len() as f64;
            (c, s)
        };
        sums.0 += first.1;
        sums.1 += warm;
        println!(
            "| {name} | {calls:.0} | {} | {} | {} |",
            f(first.1),
            f(warm),
            f(warm / calls)
        );
    }
    println!(
        "| outside graphs (cuts, augmentations, losses, sampler) | | {} | {} | |",
        f(d_first - sums.0),
        f(d_warm - sums.1)
    );
    if let Some(t) = torch {
        println!("\nPyTorch per model and pass (per step; DD's cond_fn)\n");
        println!("| part | first guided step (s) | later guided steps (s, mean) |");
        println!("| --- | --- | --- |");
        let parts = t["dd_style"]["steps"].as_array().unwrap();
        let t_guided: Vec<&Value> = parts
            .iter()
            .filter(|s| s["guided"] == json!(true))
            .collect();
        let mut keys: Vec<String> = Vec::new();
        for s in &t_guided {
            for k in s["parts"].as_object().unwrap().keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
        for k in &keys {
            let v = |s: &Value| s["parts"][k.as_str()].as_f64().unwrap_or(0.0);
            let first = t_guided.first().map(|s| v(s)).unwrap_or(f64::NAN);
            let warm = if t_guided.len() > 1 {
                t_guided[1..].iter().map(|s| v(s)).sum::<f64>() / (t_guided.len() - 1) as f64
            } else {
                f64::NAN
            };
            println!("| {k} | {} | {} |", f(first), f(warm));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(
            args[i + 1].parse().unwrap(),
            args[i + 2].parse().unwrap(),
            args[i + 3] == "secondary",
            Path::new(&args[i + 4]),
        );
        return;
    }
    let dir = models_dir();
    let set = match ModelSet::open(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("no model set at {}: {e}", dir.display());
            std::process::exit(1);
        }
    };
    let raw: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json"),
    )
    .expect("manifest JSON");
    if raw.get("random_weights").is_none_or(Value::is_null) {
        eprintln!(
            "{} is not a --random-weights set: the PyTorch side cannot rebuild its modules",
            dir.display()
        );
        std::process::exit(1);
    }
    let sizes: Vec<(u32, u32)> = std::env::var("DISCO_BENCH_SIZES")
        .unwrap_or_else(|_| "384x256".into())
        .split(',')
        .map(|v| {
            let (w, h) = v
                .trim()
                .split_once('x')
                .expect("DISCO_BENCH_SIZES: sizes like 384x256");
            (w.parse().expect("width"), h.parse().expect("height"))
        })
        .collect();
    let paths: Vec<String> = std::env::var("DISCO_BENCH_PATHS")
        .unwrap_or_else(|_| "secondary".into())
        .split(',')
        .map(|p| p.trim().to_owned())
        .collect();
    for p in &paths {
        assert!(
            p == "secondary" || p == "unet",
            "DISCO_BENCH_PATHS: secondary and/or unet, got {p}"
        );
    }
    let with_reference = std::env::var_os("DISCO_REFERENCE").is_none_or(|v| v != "0");
    println!(
        "one guided DDIM step at real model sizes (random weights, {}): {DIFFUSION}, CLIP {}, cutn_batches 4, 16 cuts; device {:?}",
        dir.display(),
        set.manifest
            .clip
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(" + "),
        bench_device()
    );
    for &(w, h) in &sizes {
        for path in &paths {
            let tmp = tempfile::tempdir().expect("temporary directory");
            let trace_dir = tmp.path().join("trace");
            let disco = run_child(&[
                "--child",
                &w.to_string(),
                &h.to_string(),
                path,
                trace_dir.to_str().expect("UTF-8 path"),
            ]);
            let torch = with_reference.then(|| reference(&trace_dir));
            report(w, h, path, &disco, torch.as_ref());
        }
    }
}
