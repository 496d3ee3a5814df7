//! Prompt adherence of the toy model set (docs/toy-models.md): renders every prompt of
//! [`PROMPTS`] over [`SEEDS`] seeds with CLIP guidance, and the same seeds without it
//! (`clip_guidance_scale` 0, every other setting equal), writes the pictures under
//! `target/toy-eval/`, then has the deterministic colour/shape classifier of
//! `onnx-export/disco_export/toy/classify.py` (which does not use the toy CLIP) judge them.
//! Prints one table row per prompt: how often the picture's dominant colour and its shape
//! match the prompt, guided and unguided.
//!
//!     cargo bench --bench toy_eval
//!
//! `DISCO_TOY_MODELS` (default `models/toy`), `DISCO_TOY_SEEDS` (default 8),
//! `DISCO_TOY_UNGUIDED` (unguided renders, default 64),
//! `DISCO_TOY_SCALE` (clip_guidance_scale, default DD's 5000), `DISCO_TOY_CLAMP` (clamp_max,
//! default DD's 0.05), `DISCO_TOY_CLIP_DENOISED` (default true; DD's is false),
//! `DISCO_TOY_STEPS` (default 50), `DISCO_TOY_CUTS` (`dd`, DD's default cut schedule;
//! `overview`: 16 overview cuts and no inner cuts; `inner`: 4 overview and 12 inner cuts),
//! `DISCO_TOY_OUT` (default
//! `target/toy-eval`) and `DISCO_PYTHON` (default `.venv/bin/python`) change the set-up;
//! `DISCO_TOY_CLIPS=RN50` guides with some of the set's CLIPs (manifest keys, comma-separated);
//! `DISCO_TOY_VERBOSE=1` prints the loss terms every ten steps; `DISCO_TOY_INIT=SKIP:LEVEL` starts
//! every render from a plain gray field (docs/toy-models.md §7).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use disco::plan::inputs::{CommonInputs, CutSchedules, FrameInputs, Init, TextPrompt};
use disco::render::cutouts::augment::AugMode;
use disco::render::job::{self, Rendered};
use disco::render::models::{Models, Needs};
use disco::render::sampler::Method;
use disco::render::session::{Device, ModelSet, SessionOptions};
use disco::render::spec::{RenderSpec, Unkeyed};
use ndarray::{Array3, Array4};

/// (prompt, colour, shape): every colour once and every shape at least once, none of them a
/// pair held out of the toy CLIPs' training.
const PROMPTS: [(&str, &str, &str); 8] = [
    ("a red circle", "red", "circle"),
    ("an orange triangle", "orange", "triangle"),
    ("a yellow star", "yellow", "star"),
    ("a green square", "green", "square"),
    ("a cyan ring", "cyan", "ring"),
    ("a blue square", "blue", "square"),
    ("a purple circle", "purple", "circle"),
    ("a pink triangle", "pink", "triangle"),
];
const SEEDS: u64 = 8;
/// The classifier calls a picture's main object recognisable when its best shape template
/// fits with at least this intersection-over-union (`disco_export/toy/sample.py`).
const RECOGNISABLE_IOU: f64 = 0.7;
const SIDE: usize = 64;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `DISCO_TOY_INIT=SKIP:LEVEL`: start every render from a plain gray field of `LEVEL` (in
/// [-1, 1]) with `SKIP` steps skipped, as DD's `init_image` with `skip_steps`; unset, from noise.
fn init_start() -> Option<(u32, f32)> {
    let v = std::env::var("DISCO_TOY_INIT").ok()?;
    let steps: u32 = env_or("DISCO_TOY_STEPS", 50);
    let parsed = v
        .split_once(':')
        .and_then(|(skip, level)| Some((skip.parse::<u32>().ok()?, level.parse::<f32>().ok()?)))
        // a finite level in the pictures' range, and at least one step left to render
        .filter(|(skip, level)| *skip < steps && level.is_finite() && level.abs() <= 1.0);
    Some(parsed.unwrap_or_else(|| {
        panic!("DISCO_TOY_INIT={v:?}: expected SKIP:LEVEL, SKIP < {steps} steps and LEVEL in [-1, 1], e.g. 10:0")
    }))
}

/// `DISCO_TOY_CLIPS=RN50` (comma-separated manifest keys): guide with these CLIPs only;
/// unset, with every CLIP of the set.
fn clip_models(set: &ModelSet) -> Vec<String> {
    let all: Vec<String> = set.manifest.clip.keys().cloned().collect();
    let Ok(v) = std::env::var("DISCO_TOY_CLIPS") else {
        return all;
    };
    let chosen: Vec<String> = v.split(',').map(|k| k.trim().to_string()).collect();
    for (i, k) in chosen.iter().enumerate() {
        assert!(
            all.contains(k),
            "DISCO_TOY_CLIPS={v:?}: {k:?} is not one of the set's CLIPs {all:?}"
        );
        // a CLIP named twice would silently double its guidance
        assert!(
            !chosen[..i].contains(k),
            "DISCO_TOY_CLIPS={v:?}: {k:?} is named twice"
        );
    }
    chosen
}

fn spec(set: &ModelSet, prompt: &str, seed: u64, scale: f32, steps: usize) -> RenderSpec {
    let clamp: f32 = env_or("DISCO_TOY_CLAMP", 0.05);
    let start = init_start();
    RenderSpec {
        common: CommonInputs {
            renderer: "bench".into(),
            provider: "cpu".into(),
            ort: "bench".into(),
            models: Default::default(),
            width: SIDE as u32,
            height: SIDE as u32,
            steps: steps as u32,
            method: Method::Ddim { eta: 0.8 },
            // the toy UNet's x0 estimates overshoot [-1, 1] at high noise; unclipped, the
            // sampler drifts to saturated plain fields (docs/toy-models.md)
            clip_denoised: env_or("DISCO_TOY_CLIP_DENOISED", true),
            clip_models: clip_models(set),
            clip_guidance_scale: (f64::from(scale)).into(),
            tv_scale: (0.0).into(),
            range_scale: None,
            sat_scale: (0.0).into(),
            cutn_batches: (1).into(),
            augs: Some(AugMode::Still),
            cuts: cut_schedules(),
            use_secondary_model: true,
            clamp_max: Some((f64::from(clamp)).into()),
            symmetry: None,
            fuzzy: None,
            guidance_every: 1,
            tone_fix: None,
        },
        frame: FrameInputs {
            seed,
            skip_steps: start.map_or(0, |(skip, _)| skip),
            init: match start {
                Some(_) => Init::Image {
                    path: "plain field (DISCO_TOY_INIT)".into(),
                    blake3: String::new(),
                },
                None => Init::None,
            },
            init_scale: None,
            text_prompts: vec![TextPrompt {
                text: prompt.into(),
                weight: 1.0,
            }],
            image_prompts: vec![],
            turbo: None,
        },
        init: start.map(|(_, level)| Array4::from_elem((1, 3, SIDE, SIDE), level)),
        image_prompts: vec![],
        unkeyed: Unkeyed {
            use_checkpoint: true,
            dd_range_scale: 150.0,
        },
    }
}

/// The cut schedule `DISCO_TOY_CUTS` names: `dd` (the default, DD's own), `overview` (16
/// overview cuts at every step, no inner cuts) or `inner` (4 overview and 12 inner cuts at every
/// step); docs/toy-models.md §5 compares them.
fn cut_schedules() -> CutSchedules {
    let name = std::env::var("DISCO_TOY_CUTS").unwrap_or_else(|_| "dd".into());
    let (overview, innercut, icgray_p) = match name.as_str() {
        "dd" => (
            vec![(12.0, 400), (4.0, 600)],
            vec![(4.0, 400), (12.0, 600)],
            vec![(0.2, 400), (0.0, 600)],
        ),
        "overview" => (vec![(16.0, 1000)], vec![(0.0, 1000)], vec![(0.0, 1000)]),
        "inner" => (
            vec![(4.0, 1000)],
            vec![(12.0, 1000)],
            vec![(0.2, 400), (0.0, 600)],
        ),
        other => panic!("DISCO_TOY_CUTS={other:?}: expected dd, overview or inner"),
    };
    CutSchedules {
        overview,
        innercut,
        ic_pow: vec![(1.0, 1000)],
        icgray_p,
    }
}

/// Binary PPM (P6), which the classifier reads.
fn write_ppm(path: &Path, img: &Array3<u8>) {
    let (h, w, _) = img.dim();
    let mut bytes = format!("P6\n{w} {h}\n255\n").into_bytes();
    bytes.extend(img.iter());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn render(models: &mut Models, s: &RenderSpec) -> Array3<u8> {
    let verbose = std::env::var_os("DISCO_TOY_VERBOSE").is_some();
    let show = |e: &job::StepEvent<'_>| {
        if verbose && e.j.is_multiple_of(10) {
            eprintln!("seed {} step {}: {:?}", s.frame.seed, e.j, e.losses);
        }
    };
    match job::render(s, models, None, show, &AtomicBool::new(false)).expect("render") {
        Rendered::Finished(img) => img,
        Rendered::Cancelled(_) => unreachable!("never cancelled"),
    }
}

/// What the classifier says of one picture.
struct Verdict {
    colour: String,
    shape: String,
    /// Whether the main object's shape is recognisable (template IoU ≥ [`RECOGNISABLE_IOU`]).
    recognisable: bool,
}

/// The classifier's verdict for each picture; also writes them as a contact sheet, `columns`
/// to a row.
fn classify(
    python: &Path,
    files: &[PathBuf],
    sheet: &Path,
    columns: u64,
) -> BTreeMap<PathBuf, Verdict> {
    let out = Command::new(python)
        .current_dir("onnx-export")
        .args(["-m", "disco_export.toy.classify", "--columns"])
        .arg(columns.to_string())
        .arg("--sheet")
        .arg(std::path::absolute(sheet).unwrap())
        .args(files.iter().map(|f| std::path::absolute(f).unwrap()))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "classifier failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    files
        .iter()
        .zip(text.lines())
        .map(|(f, line)| {
            let cols: Vec<&str> = line.split('\t').collect();
            let iou: f64 = cols[3].parse().expect("classifier IoU");
            let verdict = Verdict {
                colour: cols[1].to_string(),
                shape: cols[2].to_string(),
                recognisable: cols[1] != "None" && iou >= RECOGNISABLE_IOU,
            };
            (f.clone(), verdict)
        })
        .collect()
}

fn rate(hits: usize, n: usize) -> String {
    format!("{hits}/{n} ({:.0}%)", 100.0 * hits as f64 / n as f64)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and test harness probes
    }
    let dir = std::env::var_os("DISCO_TOY_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("models/toy"));
    let seeds: u64 = env_or("DISCO_TOY_SEEDS", SEEDS);
    let scale: f32 = env_or("DISCO_TOY_SCALE", 5000.0);
    let steps: usize = env_or("DISCO_TOY_STEPS", 50);
    let python = std::env::var_os("DISCO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::path::absolute(".venv/bin/python").unwrap());
    let set = ModelSet::open(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let probe = spec(&set, PROMPTS[0].0, 0, scale, steps);
    let needs = Needs {
        width: SIDE,
        height: SIDE,
        secondary: true,
        lpips: false,
        clip: &probe.common.clip_models,
        diffusion: "512x512_diffusion_uncond_finetune_008100",
        flow: false,
        fp16: false,
    };
    let opts = SessionOptions {
        device: Device::Cpu,
        intra_threads: Some(1),
        verify_hashes: true,
    };
    let mut models = Models::open(&set, &needs, opts).expect("sessions");
    let clamp: f32 = env_or("DISCO_TOY_CLAMP", 0.05);
    let out = std::env::var_os("DISCO_TOY_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/toy-eval"));
    let start = Instant::now();
    // Unguided renders ignore the prompt (its CLIP term is multiplied by 0); more seeds than
    // the guided ones, so the chance rates they give are not noise.
    let unguided_seeds: u64 = env_or("DISCO_TOY_UNGUIDED", 64);
    let mut unguided = Vec::new();
    for seed in 0..unguided_seeds {
        let s = spec(&set, PROMPTS[0].0, seed, 0.0, steps);
        let path = out.join(format!("unguided/seed{seed:02}.ppm"));
        write_ppm(&path, &render(&mut models, &s));
        unguided.push(path);
    }
    let mut guided = Vec::new();
    for (p, (prompt, _, _)) in PROMPTS.iter().enumerate() {
        for seed in 0..seeds {
            let s = spec(&set, prompt, seed, scale, steps);
            let path = out.join(format!(
                "guided/p{p}-{}-seed{seed:02}.ppm",
                prompt.replace(' ', "_")
            ));
            write_ppm(&path, &render(&mut models, &s));
            guided.push(path);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let all: Vec<PathBuf> = unguided.iter().chain(&guided).cloned().collect();
    let sheet = out.join("sheet.png");
    let verdicts = classify(&python, &all, &sheet, seeds);
    println!(
        "toy set {}: {} renders of {SIDE}×{SIDE}, {steps} DDIM steps (eta 0.8), guidance scale {scale}, clamp_max {clamp}, clip_denoised {}, {seeds} seeds, {secs:.0} s",
        dir.display(),
        all.len(),
        env_or("DISCO_TOY_CLIP_DENOISED", true)
    );
    println!("guided by the CLIPs {:?}", probe.common.clip_models);
    if let Some((skip, level)) = init_start() {
        println!("every render started from a plain field of {level} with {skip} steps skipped");
    }
    println!("| prompt | colour, guided | colour, unguided | shape, guided | shape, unguided |");
    println!("| --- | --- | --- | --- | --- |");
    let n = seeds as usize;
    let (mut tot_cg, mut tot_cu, mut tot_sg, mut tot_su) = (0, 0, 0, 0);
    for (p, (prompt, colour, shape)) in PROMPTS.iter().enumerate() {
        let g = &guided[p * n..(p + 1) * n];
        let count = |files: &[PathBuf], f: &dyn Fn(&Verdict) -> bool| {
            files.iter().filter(|x| f(&verdicts[*x])).count()
        };
        let cg = count(g, &|v| v.colour == *colour);
        let cu = count(&unguided, &|v| v.colour == *colour);
        let u = unguided.len();
        // a shape counts only where the classifier recognises one
        let sg = count(g, &|v| v.recognisable && v.shape == *shape);
        let su = count(&unguided, &|v| v.recognisable && v.shape == *shape);
        (tot_cg, tot_cu, tot_sg, tot_su) = (tot_cg + cg, tot_cu + cu, tot_sg + sg, tot_su + su);
        println!(
            "| {prompt} | {} | {} | {} | {} |",
            rate(cg, n),
            rate(cu, u),
            rate(sg, n),
            rate(su, u)
        );
    }
    let m = n * PROMPTS.len();
    println!(
        "| all | {} | {} | {} | {} |",
        rate(tot_cg, m),
        rate(tot_cu, unguided.len() * PROMPTS.len()),
        rate(tot_sg, m),
        rate(tot_su, unguided.len() * PROMPTS.len())
    );
    let mut hist: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &unguided {
        *hist.entry(verdicts[f].colour.as_str()).or_default() += 1;
    }
    println!("unguided colours: {hist:?}");
    let recognised = |files: &[PathBuf]| files.iter().filter(|f| verdicts[*f].recognisable).count();
    println!(
        "main object recognisable (template IoU ≥ {RECOGNISABLE_IOU}): unguided {}, guided {}",
        rate(recognised(&unguided), unguided.len()),
        rate(recognised(&guided), guided.len())
    );
    println!(
        "pictures: {} (rows: unguided, then each prompt; one column per seed)",
        sheet.display()
    );
}
