//! The bicubic resize around DD's depth models (dd-algorithm.md §10.4): MiDaS's input is
//! resized with OpenCV's `INTER_CUBIC` and its output back to the frame with PyTorch's
//! `interpolate(mode="bicubic", align_corners=False)`. Both are the same separable cubic
//! convolution (A = −0.75, pixel centres at `(i + ½)·in/out − ½`, edge taps clamped, no
//! antialiasing when shrinking).

use ndarray::{Array2, ArrayView2};

use super::grid_sample::cubic_weights;

/// `plane` `[H, W]` resized to `[h, w]` bicubically (see the module docs).
///
/// # Panics
/// If `plane` or the new size is empty.
pub fn bicubic(plane: ArrayView2<f32>, (h, w): (usize, usize)) -> Array2<f32> {
    let (ih, iw) = plane.dim();
    assert!(ih > 0 && iw > 0 && h > 0 && w > 0, "bicubic: empty size");
    let rows = taps(ih, h);
    let cols = taps(iw, w);
    // rows first, then columns, in f64
    let mut tmp = Array2::<f64>::zeros((h, iw));
    for (y, (idx, wt)) in rows.iter().enumerate() {
        for x in 0..iw {
            tmp[[y, x]] = (0..4).map(|k| wt[k] * f64::from(plane[[idx[k], x]])).sum();
        }
    }
    Array2::from_shape_fn((h, w), |(y, x)| {
        let (idx, wt) = &cols[x];
        (0..4).map(|k| wt[k] * tmp[[y, idx[k]]]).sum::<f64>() as f32
    })
}

/// For each of `out` output positions: the four source indices (clamped) and their weights.
fn taps(len: usize, out: usize) -> Vec<([usize; 4], [f64; 4])> {
    let scale = len as f64 / out as f64;
    (0..out)
        .map(|i| {
            let u = (i as f64 + 0.5) * scale - 0.5;
            let f = u.floor();
            let weights = cubic_weights(u - f);
            let idx = std::array::from_fn(|k| {
                (f as i64 - 1 + k as i64).clamp(0, len as i64 - 1) as usize
            });
            (idx, weights)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_the_identity_and_constants_stay_constant() {
        let a = Array2::from_shape_fn((5, 7), |(i, j)| (i * 7 + j) as f32 * 0.1);
        let b = bicubic(a.view(), (5, 7));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{x} {y}");
        }
        let c = Array2::from_elem((3, 4), 2.5f32);
        for v in bicubic(c.view(), (11, 6)) {
            assert!((v - 2.5).abs() < 1e-6, "{v}");
        }
    }

    #[test]
    fn matches_pytorch_both_ways() {
        // torch.nn.functional.interpolate(x[None, None].double(), size=(1, n),
        //   mode="bicubic", align_corners=False)
        let cases: [(&[f32], &[f64]); 2] = [
            (
                &[0.0, 1.0, 2.0, 3.0],
                &[
                    -0.10546875,
                    0.19140625,
                    0.66796875,
                    1.296875,
                    1.703125,
                    2.33203125,
                    2.80859375,
                    3.10546875,
                ],
            ),
            (
                &[0.0, 1.0, 4.0, 3.0, 7.0, 2.0],
                &[0.12109375, 3.4609375, 3.9765625, 3.2734375],
            ),
        ];
        for (input, want) in cases {
            let a = Array2::from_shape_vec((1, input.len()), input.to_vec()).unwrap();
            let b = bicubic(a.view(), (1, want.len()));
            for (x, y) in b.iter().zip(want) {
                assert!((f64::from(*x) - y).abs() < 1e-6, "{b:?} vs {want:?}");
            }
            // the same along the other axis
            let t = bicubic(a.t(), (want.len(), 1));
            assert_eq!(t.t(), b);
        }
    }
}
