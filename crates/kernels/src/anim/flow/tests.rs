//! The flow kernels against tests/fixtures/flow/golden.json (tests/golden-gen/flow_golden.py:
//! PyTorch's grid_sample as DD's cv2.remap, numpy for the consistency check and blend).

use ndarray::{Array2, Array3, ArrayD, IxDyn};
use serde_json::Value;

use super::*;

const GOLDEN: &str = include_str!("../../../../../tests/fixtures/flow/golden.json");

fn array(case: &Value, key: &str, shape: &[usize]) -> ArrayD<f32> {
    let v: Vec<f32> = case[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}"))
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn golden(case: &Value, key: &str, shape: &[usize]) -> Vec<f64> {
    let v: Vec<f64> = case[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(v.len(), shape.iter().product::<usize>(), "{key}");
    v
}

/// ‖a − b‖ / ‖b‖.
fn rel(a: impl Iterator<Item = f32>, b: &[f64]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in a.zip(b) {
        num += (f64::from(x) - y).powi(2);
        den += y * y;
    }
    (num / den).sqrt()
}

fn three(a: ArrayD<f32>) -> Array3<f32> {
    a.into_dimensionality().unwrap()
}

#[test]
fn remap_consistency_and_blend_match_the_pytorch_golden() {
    let cases: Vec<Value> = serde_json::from_str(GOLDEN).unwrap();
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let (h, w) = (
            case["h"].as_u64().unwrap() as usize,
            case["w"].as_u64().unwrap() as usize,
        );
        let prev = three(array(case, "prev", &[h, w, 3]));
        let source = three(array(case, "source", &[h, w, 3]));
        let fwd = three(array(case, "fwd", &[h, w, 2]));
        let bwd = three(array(case, "bwd", &[h, w, 2]));
        let blend = case["blend"].as_f64().unwrap() as f32;

        let warped = remap(prev.view(), fwd.view());
        let e = rel(
            warped.iter().copied(),
            &golden(case, "remapped", &[h, w, 3]),
        );
        eprintln!("{name}: remap relative error {e:e}");
        assert!(e < 1e-5, "{name}: remap relative error {e:e}");

        let mask: Array2<f32> = consistency(fwd.view(), bwd.view());
        let want = golden(case, "mask", &[h, w]);
        let ones = want.iter().filter(|&&m| m == 1.0).count();
        assert!(
            ones > 0 && ones < want.len(),
            "{name}: the golden's mask is all one value"
        );
        assert!(
            mask.iter().zip(&want).all(|(a, b)| f64::from(*a) == *b),
            "{name}: consistency mask"
        );

        let plain = flow_blend(source.view(), warped.view(), None, blend);
        let e = rel(plain.iter().copied(), &golden(case, "blended", &[h, w, 3]));
        assert!(e < 1e-5, "{name}: blend relative error {e:e}");
        let checked = flow_blend(source.view(), warped.view(), Some(mask.view()), blend);
        let e = rel(
            checked.iter().copied(),
            &golden(case, "blended_checked", &[h, w, 3]),
        );
        assert!(e < 1e-5, "{name}: checked blend relative error {e:e}");
    }
}

#[test]
fn zero_flow_is_the_identity_and_a_whole_pixel_shift_moves_the_image() {
    let img = Array3::from_shape_fn((4, 5, 1), |(y, x, _)| (y * 5 + x) as f32);
    let zero = Array3::zeros((4, 5, 2));
    assert_eq!(remap(img.view(), zero.view()), img);
    // every pixel reads its right neighbour; the last column reads outside: 0
    let right = Array3::from_shape_fn((4, 5, 2), |(_, _, k)| if k == 0 { 1.0 } else { 0.0 });
    let shifted = remap(img.view(), right.view());
    assert_eq!(shifted[[2, 1, 0]], img[[2, 2, 0]]);
    assert_eq!(shifted[[2, 4, 0]], 0.0);
    // flows that undo each other are consistent; blend 0 is the source frame
    let left = right.mapv(|v| -v);
    let m = consistency(right.view(), left.view());
    assert_eq!(m[[1, 1]], 1.0);
    assert_eq!(m[[1, 4]], 0.0, "leaves the frame");
    assert_eq!(flow_blend(img.view(), shifted.view(), None, 0.0), img);
}
