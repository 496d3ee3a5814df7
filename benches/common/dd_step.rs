//! What the render-step benchmarks share: the step they time (DD's default guidance settings),
//! the device they run on, where the PyTorch reference lives, and the peak resident memory of
//! the process.

use disco::plan::inputs::{CommonInputs, CutSchedules, FrameInputs, Init, TextPrompt};
use disco::render::cutouts::augment::AugMode;
use disco::render::sampler::Method;
use std::path::PathBuf;

use disco::render::session::{Device, ModelSet};
use disco::render::spec::{RenderSpec, Unkeyed};

/// Steps skipped before the timed ones (DD's `skip_steps`).
pub const SKIP: usize = 2;

/// One render at `(width, height)` timing `steps` steps after [`SKIP`]: every CLIP model of the
/// set, cutn_batches 4, DD's default cut schedule, DDIM η 0.8, clip_guidance_scale 5000,
/// clamp_max 0.05, one prompt.
pub fn dd_step_spec(
    set: &ModelSet,
    (width, height): (u32, u32),
    steps: usize,
    secondary: bool,
    use_checkpoint: bool,
) -> RenderSpec {
    RenderSpec {
        common: CommonInputs {
            renderer: "bench".into(),
            provider: "cpu".into(),
            ort: "bench".into(),
            models: Default::default(),
            width,
            height,
            steps: (steps + SKIP) as u32,
            method: Method::Ddim { eta: 0.8 },
            clip_denoised: false,
            clip_models: set.manifest.clip.keys().cloned().collect(),
            clip_guidance_scale: (5000.0).into(),
            tv_scale: (0.0).into(),
            range_scale: None,
            sat_scale: (0.0).into(),
            cutn_batches: (4).into(),
            augs: Some(AugMode::Still),
            cuts: CutSchedules {
                overview: vec![(12.0, 400), (4.0, 600)],
                innercut: vec![(4.0, 400), (12.0, 600)],
                ic_pow: vec![(1.0, 1000)],
                icgray_p: vec![(0.2, 400), (0.0, 600)],
            },
            use_secondary_model: secondary,
            clamp_max: Some((0.05).into()),
            symmetry: None,
            fuzzy: None,
            guidance_every: 1,
            tone_fix: None,
        },
        frame: FrameInputs {
            seed: 1,
            skip_steps: SKIP as u32,
            init: Init::None,
            init_scale: None,
            text_prompts: vec![TextPrompt {
                text: "a red circle".into(),
                weight: 1.0,
            }],
            image_prompts: vec![],
            turbo: None,
        },
        init: None,
        image_prompts: vec![],
        unkeyed: Unkeyed {
            use_checkpoint,
            dd_range_scale: 150.0,
        },
    }
}

/// The process's peak resident set (VmHWM) in KiB, 0 where /proc does not say.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The device disco's sessions run on: `DISCO_BENCH_DEVICE` (`cpu`, `cuda`, `cuda:N`, `auto`;
/// default `cpu`). `cuda` registers ONNX Runtime's CUDA provider with error-on-failure, so a
/// benchmark that finishes on it ran there (scripts/gpu-bench.sh, docs/gpu.md).
pub fn bench_device() -> Device {
    match std::env::var("DISCO_BENCH_DEVICE") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("DISCO_BENCH_DEVICE: {e}")),
        Err(_) => Device::Cpu,
    }
}

/// The repository the PyTorch reference is run from (its `onnx-export/`): `DISCO_BENCH_ROOT`,
/// else the one this benchmark was built in.
pub fn repo_root() -> PathBuf {
    std::env::var_os("DISCO_BENCH_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The Python that runs the reference: `DISCO_BENCH_PYTHON`, else the repository's `.venv`.
pub fn reference_python() -> PathBuf {
    std::env::var_os("DISCO_BENCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}
