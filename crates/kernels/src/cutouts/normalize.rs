//! CLIP input normalisation `(x − mean)/std` per channel (dd-algorithm.md §2.5, §5.6) and its
//! adjoint. Knows nothing of which CLIP model follows; every OpenAI/OpenCLIP model DD loads
//! uses these constants.

use ndarray::{Array4, ArrayView4, Axis};

/// CLIP's per-channel mean (RGB).
#[allow(clippy::excessive_precision)] // the published constants, digit for digit (`DD:2046`)
pub const CLIP_MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
/// CLIP's per-channel standard deviation (RGB).
#[allow(clippy::excessive_precision)] // the published constants, digit for digit (`DD:2046`)
pub const CLIP_STD: [f32; 3] = [0.26862954, 0.26130258, 0.27577711];

/// `cuts: [C, 3, R, R]` → `(cuts − mean)/std`.
pub fn normalize(cuts: ArrayView4<f32>) -> Array4<f32> {
    let (_, k, _, _) = cuts.dim();
    assert_eq!(k, 3, "CLIP normalisation needs RGB");
    let mut out = cuts.to_owned();
    for (c, mut ch) in out.axis_iter_mut(Axis(1)).enumerate() {
        ch.mapv_inplace(|v| (v - CLIP_MEAN[c]) / CLIP_STD[c]);
    }
    out
}

/// Adjoint of [`normalize`]'s linear part: `grad: [C, 3, R, R]` → `grad / std`.
pub fn normalize_adjoint(grad: ArrayView4<f32>) -> Array4<f32> {
    let (_, k, _, _) = grad.dim();
    assert_eq!(k, 3, "CLIP normalisation needs RGB");
    let mut out = grad.to_owned();
    for (c, mut ch) in out.axis_iter_mut(Axis(1)).enumerate() {
        ch.mapv_inplace(|v| v / CLIP_STD[c]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cutouts::testutil::{assert_rel, dot, randn, rng};

    #[test]
    fn adjoint_passes_dot_product_test() {
        // normalize is affine: test its linear part N(x) − N(0).
        let mut r = rng(41);
        let (x, y) = (randn(&mut r, (2, 3, 4, 5)), randn(&mut r, (2, 3, 4, 5)));
        let lin = normalize(x.view()) - normalize(Array4::zeros(x.raw_dim()).view());
        assert_rel(
            dot(lin.view(), y.view()),
            dot(x.view(), normalize_adjoint(y.view()).view()),
            1e-5,
        );
    }

    #[test]
    fn mean_maps_to_zero_and_mean_plus_std_to_one() {
        let mut x = Array4::<f32>::zeros((1, 3, 1, 2));
        for c in 0..3 {
            x[[0, c, 0, 0]] = CLIP_MEAN[c];
            x[[0, c, 0, 1]] = CLIP_MEAN[c] + CLIP_STD[c];
        }
        let y = normalize(x.view());
        for c in 0..3 {
            assert!(y[[0, c, 0, 0]].abs() < 1e-6 && (y[[0, c, 0, 1]] - 1.0).abs() < 1e-6);
        }
    }
}
