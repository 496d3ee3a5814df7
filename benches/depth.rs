//! The 3D mode's depth estimate per frame on the CPU (issue 15): MiDaS alone
//! (`midas-weight 1`) and blended with AdaBins (DD's default 0.3), for each frame size, with
//! the resize to each network's input and back included. Prints a table (median and spread of
//! the runs, and the load average); asserts nothing.
//!
//!     cargo bench --bench depth                                   # the toy set (models/toy)
//!     DISCO_BENCH_DEPTH_SET=target/models/depth-real cargo bench --bench depth
//!
//! A real-size set with random weights (the architectures' cost, not their pictures) comes
//! from the exporter: save `midas.positive_head(midas.DPTDepthModel(midas.DPT_LARGE)).state_dict()`
//! (a random head's ReLU would output zeros) and
//! `adabins.UnetAdaptiveBins(adabins.ADABINS_NYU).state_dict()` with `torch.save`, then
//! `python -m disco_export --midas dpt_large=<file> --adabins <file> --out ../target/models/depth-real`
//! (docs/anim3d.md, "Benchmark"). `DISCO_BENCH_SIZES=64x64,1280x768` picks the frame sizes
//! (default: both); `DISCO_BENCH_RUNS` the runs per row (default 3).

use std::path::PathBuf;
use std::time::Instant;

use disco::render::depth::DepthSessions;
use disco::render::session::{Device, ModelSet, SessionOptions};
use ndarray::Array3;

fn sizes() -> Vec<(usize, usize)> {
    let spec = std::env::var("DISCO_BENCH_SIZES").unwrap_or_else(|_| "64x64,1280x768".into());
    spec.split(',')
        .map(|s| {
            let (w, h) = s
                .trim()
                .split_once('x')
                .expect("DISCO_BENCH_SIZES: WxH,WxH");
            (h.parse().expect("a height"), w.parse().expect("a width"))
        })
        .collect()
}

fn main() {
    let dir = std::env::var_os("DISCO_BENCH_DEPTH_SET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/toy"));
    let runs: usize = std::env::var("DISCO_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let set = ModelSet::open(&dir).expect("a model set with depth graphs");
    let opts = SessionOptions {
        device: Device::Cpu,
        intra_threads: None,
        verify_hashes: false,
    };
    let mut depth = DepthSessions::open(&set, "dpt_large", true, opts).expect("depth graphs");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "depth per frame, set {}, {runs} runs each after one warm-up; load average {}",
        dir.display(),
        load.trim()
    );
    println!("| frame | midas-weight | median s/frame | min | max |");
    println!("| --- | --- | --- | --- | --- |");
    for (h, w) in sizes() {
        // a smooth picture with some structure, as a frame has
        let image = Array3::from_shape_fn((3, h, w), |(c, y, x)| {
            (0.5 + 0.4 * ((x as f32 * 0.05 + c as f32).sin() * (y as f32 * 0.07).cos()))
                .clamp(0.0, 1.0)
        });
        for weight in [1.0, 0.3] {
            std::hint::black_box(depth.depth(image.view(), weight).expect("depth"));
            let mut t: Vec<f64> = (0..runs)
                .map(|_| {
                    let start = Instant::now();
                    std::hint::black_box(depth.depth(image.view(), weight).expect("depth"));
                    start.elapsed().as_secs_f64()
                })
                .collect();
            t.sort_by(f64::total_cmp);
            println!(
                "| {w}×{h} | {weight} | {:.3} | {:.3} | {:.3} |",
                t[runs / 2],
                t[0],
                t[runs - 1]
            );
        }
    }
}
