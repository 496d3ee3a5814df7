//! The processing around the depth graphs (`disco::render::depth`) against float64 PyTorch
//! goldens of DD's (`tests/golden-gen/depth_golden.py`, fixtures in
//! `tests/fixtures/anim3d/depth/`): MiDaS's input sizes, the resized and normalised net input,
//! DD's `(50 − pred)/19` after the bicubic resize back, and the AdaBins blend.

use disco::render::depth::{blend, midas_depth, midas_size, net_input};
use disco::render::manifest::MidasResize;
use ndarray::{Array2, Array3};
use serde_json::Value;

use crate::support::root;

/// Reads `n` little-endian numbers of `size` bytes at `*at`, advancing it.
fn take(bytes: &[u8], at: &mut usize, n: usize, size: usize) -> Vec<f64> {
    let end = *at + n * size;
    assert!(end <= bytes.len(), "fixture too short");
    let out = bytes[*at..end]
        .chunks_exact(size)
        .map(|b| match size {
            4 => f64::from(f32::from_le_bytes(b.try_into().unwrap())),
            _ => f64::from_le_bytes(b.try_into().unwrap()),
        })
        .collect();
    *at = end;
    out
}

/// max |a − b|.
fn max_error<'a>(a: impl Iterator<Item = &'a f32>, b: &[f64]) -> f64 {
    let mut n = 0;
    let e = a
        .zip(b)
        .map(|(a, b)| {
            n += 1;
            (f64::from(*a) - b).abs()
        })
        .fold(0.0, f64::max);
    assert_eq!(n, b.len(), "sizes differ");
    e
}

#[test]
fn depth_processing_matches_pytorch_golden() {
    let dir = root().join("tests/fixtures/anim3d/depth");
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let bytes = std::fs::read(dir.join("depth.bin")).unwrap();
    let n = |v: &Value| v.as_u64().unwrap() as usize;
    let (fh, fw) = (n(&doc["frame"][0]), n(&doc["frame"][1]));
    let (h, w) = (n(&doc["net_size"][0]), n(&doc["net_size"][1]));
    let mut modes = std::collections::BTreeSet::new();
    for s in doc["midas_sizes"].as_array().unwrap() {
        let mode: MidasResize = serde_json::from_value(s[3].clone()).unwrap();
        modes.insert(format!("{mode:?}"));
        let want = (n(&s[4][0]), n(&s[4][1]));
        assert_eq!(
            midas_size(n(&s[0]), n(&s[1]), n(&s[2]), 32, mode),
            want,
            "{s}"
        );
    }
    assert_eq!(modes.len(), 2, "both resize modes are covered");
    let minimal = MidasResize::Minimal;
    assert_eq!(midas_size(fh, fw, n(&doc["net"]), 32, minimal), (h, w));
    let at = &mut 0;
    let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<_>>();
    let image =
        Array3::from_shape_vec((3, fh, fw), f32s(take(&bytes, at, 3 * fh * fw, 4))).unwrap();
    let pred = Array2::from_shape_vec((h, w), f32s(take(&bytes, at, h * w, 4))).unwrap();
    let adabins = Array2::from_shape_vec((fh, fw), f32s(take(&bytes, at, fh * fw, 4))).unwrap();
    let want_input = take(&bytes, at, 3 * h * w, 8);
    let want_depth = take(&bytes, at, fh * fw, 8);
    let want_blend = take(&bytes, at, fh * fw, 8);
    assert_eq!(*at, bytes.len(), "fixture longer than read");

    let three = |v: &Value| -> [f32; 3] { std::array::from_fn(|i| v[i].as_f64().unwrap() as f32) };
    let input = net_input(
        image.view(),
        (h, w),
        (three(&doc["mean"]), three(&doc["std"])),
    );
    let depth = midas_depth(pred.view(), (fh, fw));
    let blended = blend(&depth, &adabins, doc["weight"].as_f64().unwrap());
    let errors = [
        max_error(input.iter(), &want_input),
        max_error(depth.iter(), &want_depth),
        max_error(blended.iter(), &want_blend),
    ];
    eprintln!(
        "max |error|: input {:.2e}, depth {:.2e}, blend {:.2e}",
        errors[0], errors[1], errors[2]
    );
    // f32 rounding of values up to ~3 (input) and ~2 (depth)
    for e in errors {
        assert!(e < 2e-6, "{errors:?}");
    }
}
