//! 2D animation math against golden values computed independently in Python
//! (`tests/golden-gen/anim_golden.py`: pandas/SciPy for the series, OpenCV for the warp).

use std::path::PathBuf;

use disco::anim::warp::{self, Kernel, Motion};
use disco::anim::{Series, SeriesError};
use disco::project::types::InterpSpline;
use disco::video::png;
use serde_json::Value;

use crate::support::root;

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/anim")
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

fn spline(name: &str) -> InterpSpline {
    match name {
        "Linear" => InterpSpline::Linear,
        "Quadratic" => InterpSpline::Quadratic,
        "Cubic" => InterpSpline::Cubic,
        other => panic!("unknown spline {other}"),
    }
}

#[test]
fn series_match_pandas() {
    let doc = json("series.json");
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 15);
    let mut worst = 0.0f64;
    for case in cases {
        let text = case["text"].as_str().unwrap();
        // the keys go through the project's own DD-string parser
        let keys = disco::project::types::Keyframes::dd(text).keys;
        let max_frames = case["max_frames"].as_u64().unwrap() as u32;
        let s = Series::new(&keys, max_frames, spline(case["spline"].as_str().unwrap())).unwrap();
        let want: Vec<f64> = case["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got = s.values();
        assert_eq!(got.len(), want.len(), "{text}");
        for (f, (g, w)) in got.iter().zip(&want).enumerate() {
            let err = (g - w).abs();
            worst = worst.max(err);
            assert!(
                err <= 1e-9,
                "{text} ({}) frame {f}: {g} vs pandas {w}",
                case["spline"]
            );
            assert_eq!(s.get(f as u32), Some(*g), "get agrees with values");
        }
    }
    eprintln!("series: worst difference from pandas {worst:e}");
}

#[test]
fn dd_default_zoom_series() {
    let keys = disco::project::types::Keyframes::dd("0: (1), 10: (1.05)").keys;
    let s = Series::new(&keys, 1000, InterpSpline::Linear).unwrap();
    let want = [
        1.0, 1.005, 1.01, 1.015, 1.02, 1.025, 1.03, 1.035, 1.04, 1.045, 1.05,
    ];
    for (f, w) in want.iter().enumerate() {
        assert!((s.get(f as u32).unwrap() - w).abs() < 1e-12, "frame {f}");
    }
    assert!((10..1000).all(|f| s.get(f) == Some(1.05)));
    assert_eq!(s.get(1000), None);
}

#[test]
fn one_frame_of_a_long_cubic_series_is_cheap() {
    // a key every 7 frames over 10 000 frames; every frame evaluated one at a time
    let keys: Vec<(u32, f64)> = (0..10_000)
        .step_by(7)
        .map(|f| (f, (f as f64 / 50.0).sin()))
        .collect();
    let t = std::time::Instant::now();
    let s = Series::new(&keys, 10_000, InterpSpline::Cubic).unwrap();
    let sum: f64 = (0..10_000).map(|f| s.get(f).unwrap()).sum();
    let elapsed = t.elapsed();
    assert!(sum.is_finite());
    // the spline is smooth: between keys it stays near the sine it samples
    assert!((s.get(3500).unwrap() - (70.0f64).sin()).abs() < 1e-3);
    assert!(elapsed.as_secs_f64() < 1.0, "took {elapsed:?}");
}

#[test]
fn series_errors() {
    assert_eq!(
        Series::new(&[], 5, InterpSpline::Cubic).unwrap_err(),
        SeriesError::NoKeys
    );
}

fn matrix_of(case: &Value) -> [[f64; 3]; 3] {
    let rows = case["matrix"].as_array().unwrap();
    let mut m = [[0.0; 3]; 3];
    for (i, r) in rows.iter().enumerate() {
        for (j, v) in r.as_array().unwrap().iter().enumerate() {
            m[i][j] = v.as_f64().unwrap();
        }
    }
    m
}

/// Compares every case of `warp-<tag>.json` under `kernel`; returns the worst level difference.
fn check_warp(tag: &str, kernel: Kernel) -> u8 {
    let doc = json(&format!("warp-{tag}.json"));
    let mut worst = 0u8;
    for case in doc["cases"].as_array().unwrap() {
        let (w, h) = (
            case["width"].as_u64().unwrap() as usize,
            case["height"].as_u64().unwrap() as usize,
        );
        let motion = Motion {
            angle: case["angle"].as_f64().unwrap(),
            zoom: case["zoom"].as_f64().unwrap(),
            translation_x: case["translation_x"].as_f64().unwrap(),
            translation_y: case["translation_y"].as_f64().unwrap(),
        };
        let want_m = matrix_of(case);
        let m = warp::matrix(w, h, &motion);
        for i in 0..3 {
            for j in 0..3 {
                assert!(
                    (m[i][j] - want_m[i][j]).abs() <= 1e-12 * want_m[i][j].abs().max(1.0),
                    "{motion:?} M[{i}][{j}] {} vs {}",
                    m[i][j],
                    want_m[i][j]
                );
            }
        }
        let src = png::read_rgb(&fixtures().join(case["source"].as_str().unwrap())).unwrap();
        assert_eq!(src.dim(), (h, w, 3));
        let want = png::read_rgb(&fixtures().join(case["warped"].as_str().unwrap())).unwrap();
        let got = warp::warp_frame(&src, &motion, kernel);
        let diff = got
            .iter()
            .zip(want.iter())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        let n_off = got.iter().zip(want.iter()).filter(|(a, b)| a != b).count();
        eprintln!(
            "{tag} {motion:?}: max diff {diff}, {n_off} of {} samples differ",
            got.len()
        );
        assert!(diff <= 1, "{tag} {motion:?}: max diff {diff} levels");
        worst = worst.max(diff);
    }
    worst
}

#[test]
fn warp_matches_opencv_4_fixed_point() {
    // DD's OpenCV: expected to match exactly
    assert_eq!(check_warp("cv4", Kernel::FixedPoint), 0);
}

#[test]
fn warp_matches_opencv_5_float() {
    check_warp("cv5", Kernel::Float32);
}
