//! Seconds per guided step on the tiny model set, with and without `use_checkpoint`, and the
//! peak resident memory of each configuration (each runs in its own process so the peaks are
//! separate). Prints a table; asserts nothing.
//!
//!     DISCO_TINY_MODELS=target/models/tiny cargo bench --bench render_step
//!
//! With `DISCO_REFERENCE=1` it also times the PyTorch reference replaying a trace of the same
//! render (`python -m disco_export.reference --trace … --time`), for the disco/PyTorch ratio.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use disco::render::cutouts::augment::AugMode;
use disco::render::job::{self, Rendered};
use disco::render::models::{Models, Needs};
use disco::render::sampler::Method;
use disco::render::session::{Device, ModelSet, SessionOptions};
use disco::render::spec::{RangeLoss, RenderSpec, TextPrompt};

const STEPS: usize = 12;
const SKIP: usize = 2;

fn spec(set: &ModelSet, side: usize, use_checkpoint: bool) -> RenderSpec {
    RenderSpec {
        width: side,
        height: side,
        seed: 1,
        steps: STEPS,
        skip_steps: SKIP,
        method: Method::Ddim { eta: 0.8 },
        clip_denoised: false,
        text_prompts: vec![TextPrompt {
            text: "a red circle".into(),
            weight: 1.0,
        }],
        image_prompts: vec![],
        fuzzy: None,
        clip_models: set.manifest.clip.keys().cloned().collect(),
        clip_guidance_scale: 5000.0,
        tv_scale: 0.0,
        range_scale: 150.0,
        range_loss: RangeLoss::Dd,
        sat_scale: 0.0,
        init_scale: 0.0,
        init: None,
        cutn_batches: 4,
        skip_augs: false,
        aug_mode: AugMode::Still,
        cut_overview: [vec![12.0; 400], vec![4.0; 600]].concat(),
        cut_innercut: [vec![4.0; 400], vec![12.0; 600]].concat(),
        cut_ic_pow: vec![1.0; 1000],
        cut_icgray_p: [vec![0.2; 400], vec![0.0; 600]].concat(),
        use_secondary_model: true,
        clamp_max: Some(0.05),
        use_checkpoint,
        horizontal_symmetry: false,
        vertical_symmetry: false,
        transformation_percent: vec![0.09],
    }
}

fn tiny_dir() -> PathBuf {
    std::env::var_os("DISCO_TINY_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/models/tiny"))
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One configuration, in this process: prints `seconds_per_step peak_kib`.
fn child(side: usize, use_checkpoint: bool) {
    let set = ModelSet::open(&tiny_dir()).expect("tiny model set");
    let s = spec(&set, side, use_checkpoint);
    let needs = Needs {
        width: side,
        height: side,
        secondary: true,
        lpips: false,
        clip: &s.clip_models,
    };
    let opts = SessionOptions {
        device: Device::Cpu,
        intra_threads: None,
        verify_hashes: true,
    };
    let mut models = Models::open(&set, &needs, opts).expect("sessions");
    let start = Instant::now();
    let r = job::render(&s, &mut models, None, |_| {}, &AtomicBool::new(false)).expect("render");
    assert!(matches!(r, Rendered::Finished(_)));
    let per_step = start.elapsed().as_secs_f64() / (STEPS - SKIP) as f64;
    println!("{per_step} {}", peak_rss_kib());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(args[i + 1].parse().unwrap(), args[i + 2] == "1");
        return;
    }
    if !tiny_dir().join("manifest.json").exists() {
        eprintln!(
            "no tiny model set at {} (export one: see docs/models.md)",
            tiny_dir().display()
        );
        std::process::exit(1);
    }
    println!(
        "guided steps on the tiny model set (secondary model, all CLIP models of the set, cutn_batches 4, 16 cuts)"
    );
    println!("| size | use_checkpoint | s/step (disco) | peak RSS (MiB) |");
    println!("| --- | --- | --- | --- |");
    let exe = std::env::current_exe().unwrap();
    for side in [128, 256] {
        for ckpt in [false, true] {
            let out = Command::new(&exe)
                .args(["--child", &side.to_string(), if ckpt { "1" } else { "0" }])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let mut it = text.split_whitespace();
            let (t, kib): (f64, u64) = (
                it.next().unwrap().parse().unwrap(),
                it.next().unwrap().parse().unwrap(),
            );
            println!(
                "| {side}×{side} | {ckpt} | {t:.3} | {:.1} |",
                kib as f64 / 1024.0
            );
        }
    }
}
