//! ResizeRight (assafshocher/ResizeRight, the defaults DD uses) as a separable linear map with
//! its transpose (dd-algorithm.md §5.4).
//!
//! Each axis is an [`AxisMap`]: a sparse matrix whose row j lists the input taps
//! `(index, weight)` of output sample j. It is built once per (input, output) size and reused;
//! [`Resize`] pairs two of them and applies them in ResizeRight's order (ascending scale
//! factor, the more-shrunk axis first; ties keep H before W). Knows nothing of crops or
//! randomness; [`AxisMap::embed`] folds zero padding or a crop offset into the taps.

use ndarray::{Array4, ArrayView4, Axis};

/// Keys cubic convolution kernel with a = −0.5, support 4 (`RR interp_methods.cubic`).
pub fn keys_cubic(x: f64) -> f64 {
    let ax = x.abs();
    let (ax2, ax3) = (ax * ax, ax * ax * ax);
    if ax <= 1.0 {
        1.5 * ax3 - 2.5 * ax2 + 1.0
    } else if ax <= 2.0 {
        -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    } else {
        0.0
    }
}

/// One resized axis: for each output sample, its input taps `(index, weight)`.
///
/// Taps that fall outside the input read zeros in ResizeRight (`pad_mode='constant'`) yet count
/// in each row's normalisation; here they are simply absent, so rows near a border may sum to
/// less (or more) than 1.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisMap {
    n_in: usize,
    n_out: usize,
    /// The ResizeRight scale factor `n_out / n_resized` that orders the passes.
    scale: f64,
    rows: Vec<Vec<(usize, f32)>>,
}

impl AxisMap {
    /// ResizeRight weights for an axis of `n_in` samples resized to `n_out` (§5.4). Equal
    /// sizes give the identity: ResizeRight skips axes whose scale factor is exactly 1.
    pub fn resize(n_in: usize, n_out: usize) -> AxisMap {
        assert!(
            n_in > 0 && n_out > 0,
            "resize of an empty axis ({n_in} → {n_out})"
        );
        let scale = n_out as f64 / n_in as f64;
        if n_in == n_out {
            let rows = (0..n_in).map(|j| vec![(j, 1.0)]).collect();
            return AxisMap {
                n_in,
                n_out,
                scale,
                rows,
            };
        }
        let rows = (0..n_out)
            .map(|j| {
                row_taps(n_in, n_out, j)
                    .into_iter()
                    .filter(|&(p, _)| p >= 0 && (p as usize) < n_in)
                    .map(|(p, wt)| (p as usize, wt as f32))
                    .collect()
            })
            .collect();
        AxisMap {
            n_in,
            n_out,
            scale,
            rows,
        }
    }

    /// The same map reading from a longer axis of `n_total` samples, where this map's input
    /// index p sits at `p + offset`; taps landing outside `0..n_total` are dropped (they read
    /// zero padding). A crop at `o` is `embed(o, n)`; zero padding by `pad` is `embed(-pad, n)`.
    pub fn embed(&self, offset: isize, n_total: usize) -> AxisMap {
        let rows = self
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .filter_map(|&(p, wt)| {
                        let q = p as isize + offset;
                        (q >= 0 && (q as usize) < n_total).then_some((q as usize, wt))
                    })
                    .collect()
            })
            .collect();
        AxisMap {
            n_in: n_total,
            n_out: self.n_out,
            scale: self.scale,
            rows,
        }
    }

    /// A map from explicit rows of `(input index, weight)` taps over `n_in` samples; used for
    /// the legacy resampler's kernels. Indices may repeat (their weights add).
    pub fn from_rows(n_in: usize, rows: Vec<Vec<(usize, f32)>>) -> AxisMap {
        assert!(
            rows.iter().flatten().all(|&(p, _)| p < n_in),
            "tap outside the input"
        );
        AxisMap {
            n_in,
            n_out: rows.len(),
            scale: rows.len() as f64 / n_in as f64,
            rows,
        }
    }

    /// Number of input samples read.
    pub fn n_in(&self) -> usize {
        self.n_in
    }

    /// Number of output samples.
    pub fn n_out(&self) -> usize {
        self.n_out
    }

    /// The taps of output sample `j`.
    pub fn taps(&self, j: usize) -> &[(usize, f32)] {
        &self.rows[j]
    }
}

/// All taps of output sample `j` (including out-of-range positions), normalised (§5.4).
/// Shared by the fast map and the naive twin in the tests.
fn row_taps(n_in: usize, n_out: usize, j: usize) -> Vec<(i64, f64)> {
    let s = n_out as f64 / n_in as f64;
    // Antialiasing when shrinking: k_s(x) = s·k(s·x), support 4/s (RR apply_antialiasing_if_needed).
    let (ks, support): (Box<dyn Fn(f64) -> f64>, f64) = if s < 1.0 {
        (Box::new(move |x| s * keys_cubic(s * x)), 4.0 / s)
    } else {
        (Box::new(keys_cubic), 4.0)
    };
    let eps = f32::EPSILON as f64;
    // Pixel-centre aligned projection (RR get_projected_grid).
    let c = j as f64 / s + (n_in as f64 - 1.0) / 2.0 - (n_out as f64 - 1.0) / (2.0 * s);
    let left = (c - support / 2.0 - eps).ceil() as i64;
    let n_taps = (support - eps).ceil() as i64;
    let mut taps: Vec<(i64, f64)> = (left..left + n_taps)
        .map(|p| (p, ks(c - p as f64)))
        .collect();
    let sum: f64 = taps.iter().map(|t| t.1).sum();
    let sum = if sum == 0.0 { 1.0 } else { sum };
    taps.iter_mut().for_each(|t| t.1 /= sum);
    taps
}

/// A 2-D ResizeRight: `rows` maps H, `cols` maps W.
#[derive(Debug, Clone, PartialEq)]
pub struct Resize {
    /// The map along H (axis 2).
    pub rows: AxisMap,
    /// The map along W (axis 3).
    pub cols: AxisMap,
}

impl Resize {
    /// ResizeRight from `h × w` to `h_out × w_out`.
    pub fn new(h: usize, w: usize, h_out: usize, w_out: usize) -> Resize {
        Resize {
            rows: AxisMap::resize(h, h_out),
            cols: AxisMap::resize(w, w_out),
        }
    }

    /// ResizeRight pass order: ascending scale factor, H first on ties (RR sorts stably).
    fn rows_first(&self) -> bool {
        self.rows.scale <= self.cols.scale
    }

    /// `x: [C, K, h, w]` → `[C, K, h_out, w_out]`.
    pub fn apply(&self, x: ArrayView4<f32>) -> Array4<f32> {
        let (_, _, h, w) = x.dim();
        assert_eq!(
            (h, w),
            (self.rows.n_in, self.cols.n_in),
            "resize input size"
        );
        if self.rows_first() {
            apply_axis(apply_axis(x, &self.rows, 2).view(), &self.cols, 3)
        } else {
            apply_axis(apply_axis(x, &self.cols, 3).view(), &self.rows, 2)
        }
    }

    /// The transpose of [`Resize::apply`]: `g: [C, K, h_out, w_out]` → `[C, K, h, w]`.
    pub fn adjoint(&self, g: ArrayView4<f32>) -> Array4<f32> {
        let (_, _, h, w) = g.dim();
        assert_eq!(
            (h, w),
            (self.rows.n_out, self.cols.n_out),
            "resize gradient size"
        );
        if self.rows_first() {
            adjoint_axis(adjoint_axis(g, &self.cols, 3).view(), &self.rows, 2)
        } else {
            adjoint_axis(adjoint_axis(g, &self.rows, 2).view(), &self.cols, 3)
        }
    }
}

/// One pass along `axis` (2 = H, 3 = W): out[.., j, ..] = Σ w · x[.., p, ..].
pub(super) fn apply_axis(x: ArrayView4<f32>, map: &AxisMap, axis: usize) -> Array4<f32> {
    assert_eq!(x.len_of(Axis(axis)), map.n_in);
    let mut dim = x.raw_dim();
    dim[axis] = map.n_out;
    let mut out = Array4::<f32>::zeros(dim);
    for (j, row) in map.rows.iter().enumerate() {
        let mut dst = out.index_axis_mut(Axis(axis), j);
        for &(p, wt) in row {
            dst.scaled_add(wt, &x.index_axis(Axis(axis), p));
        }
    }
    out
}

/// Transpose of [`apply_axis`]: x[.., p, ..] += w · g[.., j, ..].
fn adjoint_axis(g: ArrayView4<f32>, map: &AxisMap, axis: usize) -> Array4<f32> {
    assert_eq!(g.len_of(Axis(axis)), map.n_out);
    let mut dim = g.raw_dim();
    dim[axis] = map.n_in;
    let mut out = Array4::<f32>::zeros(dim);
    for (j, row) in map.rows.iter().enumerate() {
        let src = g.index_axis(Axis(axis), j);
        for &(p, wt) in row {
            out.index_axis_mut(Axis(axis), p).scaled_add(wt, &src);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cutouts::testutil::{assert_close, assert_rel, dot, randn, rng};
    use ndarray::array;

    /// Naive twin: every output pixel straight from §5.4's formulas (sharing nothing with the
    /// fast path but the kernel), both axes at once, out-of-range taps read as zeros.
    fn resize_naive(x: ArrayView4<f32>, h_out: usize, w_out: usize) -> Array4<f32> {
        let (c, k, h, w) = x.dim();
        // (position, normalised weight) of every tap of output sample j, in-range or not.
        let taps = |n: usize, m: usize, j: usize| -> Vec<(i64, f64)> {
            if n == m {
                return vec![(j as i64, 1.0)];
            }
            let s = m as f64 / n as f64;
            let (aa, support) = if s < 1.0 { (s, 4.0 / s) } else { (1.0, 4.0) };
            let c = j as f64 / s + (n as f64 - 1.0) / 2.0 - (m as f64 - 1.0) / (2.0 * s);
            let first = (c - support / 2.0 - f32::EPSILON as f64).ceil() as i64;
            let count = (support - f32::EPSILON as f64).ceil() as i64;
            let raw: Vec<(i64, f64)> = (first..first + count)
                .map(|p| (p, aa * keys_cubic(aa * (c - p as f64))))
                .collect();
            let total: f64 = raw.iter().map(|t| t.1).sum();
            raw.into_iter().map(|(p, wt)| (p, wt / total)).collect()
        };
        let get = |ci: usize, ki: usize, y: i64, xx: i64| -> f64 {
            if y < 0 || xx < 0 || y >= h as i64 || xx >= w as i64 {
                0.0
            } else {
                x[[ci, ki, y as usize, xx as usize]] as f64
            }
        };
        Array4::from_shape_fn((c, k, h_out, w_out), |(ci, ki, i, j)| {
            let mut acc = 0.0;
            for (py, wy) in taps(h, h_out, i) {
                for &(px, wx) in &taps(w, w_out, j) {
                    acc += wy * wx * get(ci, ki, py, px);
                }
            }
            acc as f32
        })
    }

    #[test]
    fn fast_matches_naive_twin() {
        let mut r = rng(1);
        for &(h, w, ho, wo) in &[
            (37, 23, 16, 16),
            (9, 12, 16, 16),
            (16, 40, 16, 16),
            (5, 5, 11, 3),
        ] {
            let x = randn(&mut r, (2, 3, h, w));
            let fast = Resize::new(h, w, ho, wo).apply(x.view());
            assert_close(fast.view(), resize_naive(x.view(), ho, wo).view(), 1e-5);
        }
    }

    #[test]
    fn adjoint_passes_dot_product_test() {
        let mut r = rng(2);
        for &(h, w, ho, wo) in &[
            (37, 23, 16, 16),
            (9, 12, 16, 16),
            (16, 16, 16, 16),
            (64, 30, 7, 9),
        ] {
            let map = Resize::new(h, w, ho, wo);
            let x = randn(&mut r, (2, 3, h, w));
            let y = randn(&mut r, (2, 3, ho, wo));
            let lhs = dot(map.apply(x.view()).view(), y.view());
            let rhs = dot(x.view(), map.adjoint(y.view()).view());
            assert_rel(lhs, rhs, 1e-5);
        }
    }

    #[test]
    fn equal_sizes_are_the_identity() {
        let x = randn(&mut rng(3), (1, 3, 8, 5));
        assert_eq!(Resize::new(8, 5, 8, 5).apply(x.view()), x);
    }

    #[test]
    fn upsampling_two_pixels_by_hand() {
        // n=2 → m=4, s=2: c_j = j/2 − 1/4 = −0.25, 0.25, 0.75, 1.25.
        // Keys a=−0.5: k(0.25)=0.8671875, k(0.75)=0.2265625, k(1.25)=−0.0703125, k(1.75)=−0.0234375
        // (they sum to 1, so no renormalisation). out[0] = k(0.25)·x0 + k(1.25)·x1 (taps −2, −1 read 0),
        // out[1] = k(0.25)·x0 + k(0.75)·x1, and mirrored for out[2], out[3].
        let m = AxisMap::resize(2, 4);
        assert_eq!(m.taps(0), &[(0, 0.8671875), (1, -0.0703125)]);
        assert_eq!(m.taps(1), &[(0, 0.8671875), (1, 0.2265625)]);
        let x = array![[[[1.0f32, 1.0]]]];
        let y = Resize::new(1, 2, 1, 4).apply(x.view());
        // Constant 1 → 0.796875, 1.09375, 1.09375, 0.796875: the zero taps darken one border
        // sample and the negative lobe brightens the next.
        assert_eq!(y, array![[[[0.796875f32, 1.09375, 1.09375, 0.796875]]]]);
    }

    #[test]
    fn downsampling_antialiases_and_darkens_borders() {
        // n=4 → m=2, s=0.5: c = 0.5, 2.5; k_s(x) = 0.5·k(0.5·x), support 8, taps −3..=4 for j=0.
        // Normalised weights for taps 0..3 at distance 0.5, −0.5, −1.5, −2.5:
        // (0.8671875, 0.8671875, 0.2265625, −0.0703125)/2, so a constant 1 maps to 0.9453125.
        let y = Resize::new(1, 4, 1, 2).apply(array![[[[1.0f32, 1.0, 1.0, 1.0]]]].view());
        assert_eq!(y, array![[[[0.9453125f32, 0.9453125]]]]);
    }

    #[test]
    fn embed_reads_zero_padding_and_crops() {
        let base = AxisMap::resize(6, 3);
        let padded = base.embed(-1, 4); // 1 zero on each side of 4 real samples
        assert_eq!(padded.n_in(), 4);
        for j in 0..3 {
            let want: Vec<_> = base
                .taps(j)
                .iter()
                .filter(|t| (1..5).contains(&t.0))
                .map(|&(p, w)| (p - 1, w))
                .collect();
            assert_eq!(padded.taps(j), &want[..]);
        }
        let crop = base.embed(2, 10);
        assert!(crop.taps(0).iter().all(|t| (2..8).contains(&t.0)));
    }
}
