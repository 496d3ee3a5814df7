//! Geometric warps by inverse mapping, as torchvision's tensor `affine` / `perspective` do them
//! (`grid_sample`, `align_corners=False`, zero padding, fill 0), with the transpose.
//!
//! A [`Warp`] stores, for each output pixel of an `h × w` plane, up to four input taps with
//! their weights; the same warp is applied to every channel of every cut. Knows nothing of
//! where the parameters come from ([`super::augment`], [`super::legacy`] draw them).
//!
//! Conventions (torchvision `transforms/functional.py` `affine` → `_get_inverse_affine_matrix`,
//! `functional_tensor.py` `_gen_affine_grid`, `_perspective_grid`, `_apply_grid_transform`):
//! * the angle is in degrees, **clockwise** on screen (y points down): output pixel at
//!   centre-relative position o reads input position `Rᵀ·(o − t)` with
//!   `R = [[cos, −sin], [sin, cos]]`, t = (tx, ty) in pixels;
//! * centre-relative means relative to `((w − 1)/2, (h − 1)/2)`, the middle of the pixel grid;
//! * with a fill value given (RandomAffine / RandomPerspective always pass fill 0), bilinear
//!   output is `sample(x) · sample(ones)`: border pixels are attenuated twice. We keep that.

use ndarray::{Array4, ArrayView4, Zip};

/// Interpolation of a [`Warp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interp {
    /// `grid_sample` bilinear, times the sampled all-ones mask (fill 0).
    Bilinear,
    /// `grid_sample` nearest (round half to even); out-of-range reads 0.
    Nearest,
}

/// An inverse-mapped warp of an `h × w` plane onto itself, as sparse taps.
#[derive(Debug, Clone, PartialEq)]
pub struct Warp {
    h: usize,
    w: usize,
    /// Per output pixel (row-major), 4 `(flat input index, weight)`; unused slots are
    /// `(0, 0.0)` (fixed width keeps the inner loop branch-free).
    taps: Vec<[(u32, f32); 4]>,
}

impl Warp {
    /// A warp whose output pixel `(x, y)` (column, row indices) reads input pixel coordinate
    /// `src(x, y)` (same units; pixel centres at integers).
    ///
    /// Panics for planes of 2³² pixels or more (taps are stored as `u32`).
    pub fn from_fn(
        h: usize,
        w: usize,
        interp: Interp,
        src: impl Fn(f64, f64) -> (f64, f64),
    ) -> Warp {
        assert!(h * w <= u32::MAX as usize, "warp plane too large");
        let mut taps = Vec::with_capacity(h * w);
        for i in 0..h {
            for j in 0..w {
                let (sx, sy) = src(j as f64, i as f64);
                taps.push(match interp {
                    Interp::Bilinear => bilinear_taps(h, w, sx, sy),
                    Interp::Nearest => nearest_tap(h, w, sx, sy),
                });
            }
        }
        Warp { h, w, taps }
    }

    /// torchvision `affine(angle, translate=(tx, ty), scale=1, shear=0)` about the image centre.
    pub fn affine(h: usize, w: usize, angle_deg: f64, tx: f64, ty: f64, interp: Interp) -> Warp {
        let m = inverse_affine(angle_deg, tx, ty);
        let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
        Warp::from_fn(h, w, interp, |x, y| {
            let (ox, oy) = (x - cx, y - cy);
            (
                m[0] * ox + m[1] * oy + m[2] + cx,
                m[3] * ox + m[4] * oy + m[5] + cy,
            )
        })
    }

    /// torchvision `perspective` with the 8 coefficients from [`perspective_coeffs`]: output
    /// pixel centre (x + ½, y + ½) reads `P(x + ½, y + ½) − ½` (`_perspective_grid`).
    pub fn perspective(h: usize, w: usize, c: [f64; 8], interp: Interp) -> Warp {
        Warp::from_fn(h, w, interp, |x, y| {
            let (px, py) = (x + 0.5, y + 0.5);
            let den = c[6] * px + c[7] * py + 1.0;
            (
                (c[0] * px + c[1] * py + c[2]) / den - 0.5,
                (c[3] * px + c[4] * py + c[5]) / den - 0.5,
            )
        })
    }

    /// `x: [C, K, h, w]` → warped `[C, K, h, w]`.
    pub fn apply(&self, x: ArrayView4<f32>) -> Array4<f32> {
        let (c, k, h, w) = x.dim();
        assert_eq!((h, w), (self.h, self.w), "warp plane size");
        let mut out = Array4::<f32>::zeros((c, k, h, w));
        Zip::from(out.outer_iter_mut())
            .and(x.outer_iter())
            .for_each(|mut o, xi| {
                for (mut op, xp) in o.outer_iter_mut().zip(xi.outer_iter()) {
                    let (op, xp) = (
                        op.as_slice_mut().expect("fresh array"),
                        xp.as_standard_layout(),
                    );
                    let xp = xp.as_slice().expect("standard layout");
                    for (dst, taps) in op.iter_mut().zip(&self.taps) {
                        *dst = taps.iter().map(|&(p, wt)| wt * xp[p as usize]).sum();
                    }
                }
            });
        out
    }

    /// Transpose of [`Warp::apply`]: `g: [C, K, h, w]` → `[C, K, h, w]`.
    pub fn adjoint(&self, g: ArrayView4<f32>) -> Array4<f32> {
        let (c, k, h, w) = g.dim();
        assert_eq!((h, w), (self.h, self.w), "warp plane size");
        let mut out = Array4::<f32>::zeros((c, k, h, w));
        Zip::from(out.outer_iter_mut())
            .and(g.outer_iter())
            .for_each(|mut o, gi| {
                for (mut op, gp) in o.outer_iter_mut().zip(gi.outer_iter()) {
                    let op = op.as_slice_mut().expect("fresh array");
                    for (&gv, taps) in gp.iter().zip(&self.taps) {
                        for &(p, wt) in taps {
                            op[p as usize] += wt * gv;
                        }
                    }
                }
            });
        out
    }
}

/// Bilinear taps at pixel coordinate (sx, sy), each weight multiplied by the fill mask (the
/// sum of the in-range weights), as `_apply_grid_transform` does with a fill value.
fn bilinear_taps(h: usize, w: usize, sx: f64, sy: f64) -> [(u32, f32); 4] {
    let (x0, y0) = (sx.floor(), sy.floor());
    let (fx, fy) = (sx - x0, sy - y0);
    let mut taps = Vec::with_capacity(4);
    for (dy, wy) in [(0.0, 1.0 - fy), (1.0, fy)] {
        for (dx, wx) in [(0.0, 1.0 - fx), (1.0, fx)] {
            let (xx, yy) = (x0 + dx, y0 + dy);
            if xx >= 0.0 && yy >= 0.0 && xx < w as f64 && yy < h as f64 && wx * wy != 0.0 {
                taps.push((yy as usize * w + xx as usize, wx * wy));
            }
        }
    }
    let mask: f64 = taps.iter().map(|t| t.1).sum();
    let mut out = [(0, 0.0); 4];
    for (slot, (p, wt)) in out.iter_mut().zip(taps) {
        *slot = (p as u32, (wt * mask) as f32);
    }
    out
}

/// Nearest tap (`grid_sample` rounds half to even); none when out of range.
fn nearest_tap(h: usize, w: usize, sx: f64, sy: f64) -> [(u32, f32); 4] {
    let (xx, yy) = (sx.round_ties_even(), sy.round_ties_even());
    let mut out = [(0, 0.0); 4];
    if xx >= 0.0 && yy >= 0.0 && xx < w as f64 && yy < h as f64 {
        out[0] = ((yy as usize * w + xx as usize) as u32, 1.0);
    }
    out
}

/// torchvision's `_get_inverse_affine_matrix` for centre (0, 0), scale 1, no shear: the 2×3
/// matrix taking a centre-relative output position to a centre-relative input position.
pub fn inverse_affine(angle_deg: f64, tx: f64, ty: f64) -> [f64; 6] {
    let (s, c) = angle_deg.to_radians().sin_cos();
    // Rotation inverse [[c, s], [−s, c]] after undoing the translation.
    [c, s, -c * tx - s * ty, -s, c, s * tx - c * ty]
}

/// torchvision's `_get_perspective_coeffs`: the 8 coefficients of the homography taking the
/// `end` corners to the `start` corners (output → input), by solving the 8×8 system.
pub fn perspective_coeffs(start: [[f64; 2]; 4], end: [[f64; 2]; 4]) -> [f64; 8] {
    let mut a = [[0.0f64; 9]; 8];
    for i in 0..4 {
        let ([x, y], [u, v]) = (end[i], start[i]);
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    // Gaussian elimination with partial pivoting on the augmented matrix.
    for col in 0..8 {
        let piv = (col..8)
            .max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))
            .expect("rows");
        a.swap(col, piv);
        let pivot = a[col];
        for (row, r) in a.iter_mut().enumerate() {
            if row != col {
                let f = r[col] / pivot[col];
                r.iter_mut()
                    .zip(&pivot)
                    .skip(col)
                    .for_each(|(x, p)| *x -= f * p);
            }
        }
    }
    std::array::from_fn(|i| a[i][8] / a[i][i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cutouts::testutil::{assert_close, assert_rel, dot, randn, rng};

    /// Naive twin of the affine warp, torchvision's way: normalised grid, `grid_sample`
    /// unnormalisation, bilinear on the image and on an all-ones mask, multiplied.
    fn affine_naive(x: ArrayView4<f32>, angle: f64, tx: f64, ty: f64) -> Array4<f32> {
        let (c, k, h, w) = x.dim();
        let m = inverse_affine(angle, tx, ty);
        let sample = |ci: usize, ki: usize, ix: f64, iy: f64, ones: bool| -> f64 {
            let (x0, y0) = (ix.floor() as i64, iy.floor() as i64);
            let mut acc = 0.0;
            for (yy, wy) in [(y0, 1.0 - (iy - y0 as f64)), (y0 + 1, iy - y0 as f64)] {
                for (xx, wx) in [(x0, 1.0 - (ix - x0 as f64)), (x0 + 1, ix - x0 as f64)] {
                    if xx >= 0 && yy >= 0 && (xx as usize) < w && (yy as usize) < h {
                        let v = if ones {
                            1.0
                        } else {
                            x[[ci, ki, yy as usize, xx as usize]] as f64
                        };
                        acc += wx * wy * v;
                    }
                }
            }
            acc
        };
        Array4::from_shape_fn((c, k, h, w), |(ci, ki, i, j)| {
            // base grid: pixel centres relative to the centre, x = −w/2 + ½ + j
            let (bx, by) = (
                j as f64 - w as f64 / 2.0 + 0.5,
                i as f64 - h as f64 / 2.0 + 0.5,
            );
            let gx = (m[0] * bx + m[1] * by + m[2]) / (0.5 * w as f64);
            let gy = (m[3] * bx + m[4] * by + m[5]) / (0.5 * h as f64);
            let ix = ((gx + 1.0) * w as f64 - 1.0) / 2.0;
            let iy = ((gy + 1.0) * h as f64 - 1.0) / 2.0;
            (sample(ci, ki, ix, iy, false) * sample(ci, ki, ix, iy, true)) as f32
        })
    }

    #[test]
    fn affine_matches_naive_twin() {
        let mut r = rng(11);
        let x = randn(&mut r, (2, 3, 9, 12));
        for &(a, tx, ty) in &[(7.3, 1.0, -2.0), (-9.9, 0.0, 0.0), (3.0, -1.0, 1.0)] {
            let fast = Warp::affine(9, 12, a, tx, ty, Interp::Bilinear).apply(x.view());
            assert_close(fast.view(), affine_naive(x.view(), a, tx, ty).view(), 1e-5);
        }
    }

    #[test]
    fn clockwise_quarter_turn_moves_top_left_to_top_right() {
        // 90° clockwise on screen: the input's top-left pixel lands at the top-right corner.
        let mut x = Array4::<f32>::zeros((1, 1, 4, 4));
        x[[0, 0, 0, 0]] = 1.0;
        let y = Warp::affine(4, 4, 90.0, 0.0, 0.0, Interp::Bilinear).apply(x.view());
        assert!((y[[0, 0, 0, 3]] - 1.0).abs() < 1e-6, "{y:?}");
        // Translation moves content right/down by whole pixels.
        let y = Warp::affine(4, 4, 0.0, 1.0, 2.0, Interp::Nearest).apply(x.view());
        assert_eq!(y[[0, 0, 2, 1]], 1.0);
    }

    #[test]
    fn warps_pass_dot_product_test() {
        let mut r = rng(12);
        let c = perspective_coeffs(
            [[0.0, 0.0], [10.0, 0.0], [10.0, 7.0], [0.0, 7.0]],
            [[1.0, 2.0], [9.0, 0.0], [10.0, 6.0], [2.0, 7.0]],
        );
        let warps = [
            Warp::affine(8, 11, 8.5, 1.0, -1.0, Interp::Bilinear),
            Warp::affine(8, 11, -14.0, 2.0, 0.0, Interp::Nearest),
            Warp::perspective(8, 11, c, Interp::Bilinear),
        ];
        for warp in &warps {
            let x = randn(&mut r, (2, 3, 8, 11));
            let y = randn(&mut r, (2, 3, 8, 11));
            let lhs = dot(warp.apply(x.view()).view(), y.view());
            assert_rel(lhs, dot(x.view(), warp.adjoint(y.view()).view()), 1e-5);
        }
    }

    #[test]
    fn perspective_coeffs_map_end_corners_to_start_corners() {
        let start = [[0.0, 0.0], [10.0, 0.0], [10.0, 7.0], [0.0, 7.0]];
        let end = [[1.0, 2.0], [9.0, 0.0], [10.0, 6.0], [2.0, 7.0]];
        let c = perspective_coeffs(start, end);
        for (s, e) in start.iter().zip(&end) {
            let den = c[6] * e[0] + c[7] * e[1] + 1.0;
            assert!(((c[0] * e[0] + c[1] * e[1] + c[2]) / den - s[0]).abs() < 1e-9);
            assert!(((c[3] * e[0] + c[4] * e[1] + c[5]) / den - s[1]).abs() < 1e-9);
        }
        // Identity corners → identity homography.
        let id = perspective_coeffs(start, start);
        for (got, want) in id.iter().zip([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]) {
            assert!((got - want).abs() < 1e-12);
        }
    }
}
