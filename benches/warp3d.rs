//! The 3D warp kernel's time per frame at DD's default 1280×768 (issue 15), for each sampling
//! mode, with DD's default camera and a forward-and-turn pose. Prints a table (median and
//! spread of the runs, and the load average); asserts nothing.
//!
//!     cargo bench --bench warp3d
//!
//! The depth model's time is not here: the tiny set's depth graphs say nothing about
//! MiDaS DPT-Large's (docs/anim3d.md says how to export a real-size one).

use std::time::Instant;

use disco::anim::warp3d::{Camera, Padding, Pose, Sampling, transform_image_3d};
use ndarray::{Array2, Array3};

const RUNS: usize = 5;

fn main() {
    let (h, w) = (768, 1280);
    // a smooth image and a depth map with some relief, as a real frame has
    let image = Array3::from_shape_fn((3, h, w), |(c, y, x)| {
        (0.5 + 0.4 * ((x as f32 * 0.013 + c as f32).sin() * (y as f32 * 0.021).cos()))
            .clamp(0.0, 1.0)
    });
    let depth = Array2::from_shape_fn((h, w), |(y, x)| {
        3.0 + 1.5 * ((x as f32 / w as f32) * 3.0).sin() + (y as f32 / h as f32)
    });
    let pose = Pose::dd([0.0, 0.0, 10.0], [0.0, 0.5, 0.0]);
    let camera = Camera::default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "3D warp, {w}×{h}, {RUNS} runs each; load average {}",
        load.trim()
    );
    println!("| sampling | median s/frame | min | max |");
    println!("| --- | --- | --- | --- |");
    for (name, sampling) in [
        ("bicubic (DD's default)", Sampling::Bicubic),
        ("bilinear", Sampling::Bilinear),
        ("nearest", Sampling::Nearest),
    ] {
        let mut t: Vec<f64> = (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                let out = transform_image_3d(
                    image.view(),
                    depth.view(),
                    &pose,
                    &camera,
                    sampling,
                    Padding::Border,
                );
                std::hint::black_box(out);
                start.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} |",
            t[RUNS / 2],
            t[0],
            t[RUNS - 1]
        );
    }
}
