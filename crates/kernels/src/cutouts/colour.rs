//! Per-pixel colour maps used by the cutouts and augmentations: grayscale, horizontal flip and
//! torchvision's HSV hue rotation, with their adjoints.
//!
//! Gray and flip are linear. The hue rotation is piecewise smooth; its backward pass is the
//! exact derivative of torchvision's `_rgb2hsv` → shift → `_hsv2rgb` (branches taken on the
//! forward values, `floor`/comparisons contribute nothing, `clamp` passes the gradient where
//! `0 ≤ v ≤ 1`, as `torch.clamp`'s backward does), computed per pixel by forward-mode dual
//! numbers over the same code path as the forward, so forward and derivative cannot drift.

use ndarray::{Array4, ArrayView4, Axis, Zip};

/// ITU-R 601 luma weights of torchvision `rgb_to_grayscale` (dd-algorithm.md §5.3).
pub const GRAY: [f32; 3] = [0.2989, 0.587, 0.114];

/// `x: [C, 3, h, w]` → luma replicated to 3 channels (torchvision `Grayscale(3)`).
pub fn gray(x: ArrayView4<f32>) -> Array4<f32> {
    let (_, k, _, _) = x.dim();
    assert_eq!(k, 3, "gray needs RGB");
    let l = luma(x);
    let mut out = Array4::zeros(x.raw_dim());
    for mut ch in out.axis_iter_mut(Axis(1)) {
        ch.assign(&l);
    }
    out
}

/// Transpose of [`gray`]: `g: [C, 3, h, w]` → channel c gets `GRAY[c] · Σ_c' g[c']`.
pub fn gray_adjoint(g: ArrayView4<f32>) -> Array4<f32> {
    let (_, k, _, _) = g.dim();
    assert_eq!(k, 3, "gray needs RGB");
    let s = g.sum_axis(Axis(1));
    let mut out = Array4::zeros(g.raw_dim());
    for (c, mut ch) in out.axis_iter_mut(Axis(1)).enumerate() {
        ch.assign(&(&s * GRAY[c]));
    }
    out
}

/// Luma plane of `x: [C, 3, h, w]` → `[C, h, w]`.
pub fn luma(x: ArrayView4<f32>) -> ndarray::Array3<f32> {
    let (r, g, b) = (
        x.index_axis(Axis(1), 0),
        x.index_axis(Axis(1), 1),
        x.index_axis(Axis(1), 2),
    );
    Zip::from(&r)
        .and(&g)
        .and(&b)
        .map_collect(|&r, &g, &b| GRAY[0] * r + GRAY[1] * g + GRAY[2] * b)
}

/// Horizontal flip (reverses W); its own adjoint and inverse.
pub fn hflip(x: ArrayView4<f32>) -> Array4<f32> {
    let mut v = x;
    v.invert_axis(Axis(3));
    v.to_owned()
}

/// torchvision `adjust_hue(x, h)`: `x: [C, 3, h, w]`, shift `h` in turns (|h| ≤ ½).
pub fn hue(x: ArrayView4<f32>, shift: f64) -> Array4<f32> {
    map_pixels(x, x, |rgb, _| {
        hue_pixel(rgb.map(|v| v as f64), shift).map(|v| v as f32)
    })
}

/// Transpose of the Jacobian of [`hue`] at `x`, applied to `g` (both `[C, 3, h, w]`).
pub fn hue_adjoint(g: ArrayView4<f32>, x: ArrayView4<f32>, shift: f64) -> Array4<f32> {
    map_pixels(x, g, |xp, gp| {
        let seed = |i: usize| Dual {
            v: xp[i] as f64,
            d: std::array::from_fn(|k| if k == i { 1.0 } else { 0.0 }),
        };
        let y = hue_pixel([seed(0), seed(1), seed(2)], shift);
        std::array::from_fn(|i| (0..3).map(|c| y[c].d[i] * gp[c] as f64).sum::<f64>() as f32)
    })
}

/// `f(x pixel, y pixel)` for every pixel of two `[C, 3, h, w]` arrays, over contiguous
/// channel planes (iterating ndarray lanes per pixel was the hot spot).
fn map_pixels(
    x: ArrayView4<f32>,
    y: ArrayView4<f32>,
    f: impl Fn([f32; 3], [f32; 3]) -> [f32; 3],
) -> Array4<f32> {
    let (c, k, h, w) = x.dim();
    assert_eq!(k, 3, "hue needs RGB");
    assert_eq!(x.dim(), y.dim(), "hue gradient and input");
    let (x, y) = (x.as_standard_layout(), y.as_standard_layout());
    let (xs, ys) = (
        x.as_slice().expect("standard"),
        y.as_slice().expect("standard"),
    );
    let n = h * w;
    let mut out = vec![0.0f32; xs.len()];
    for base in (0..c).map(|ci| ci * 3 * n) {
        for i in base..base + n {
            let px = |s: &[f32]| [s[i], s[i + n], s[i + 2 * n]];
            let v = f(px(xs), px(ys));
            (out[i], out[i + n], out[i + 2 * n]) = (v[0], v[1], v[2]);
        }
    }
    Array4::from_shape_vec((c, 3, h, w), out).expect("shape")
}

/// The scalar operations the hue code needs, for `f64` and for [`Dual`].
trait Real:
    Copy
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    fn c(v: f64) -> Self;
    fn v(self) -> f64;
    /// Same value shifted by a constant (used by floor/fmod: derivative 1 or 0 handled by callers).
    fn with_value(self, v: f64) -> Self;
}

impl Real for f64 {
    fn c(v: f64) -> f64 {
        v
    }
    fn v(self) -> f64 {
        self
    }
    fn with_value(self, v: f64) -> f64 {
        v
    }
}

/// A value with its derivatives along the three input channels.
#[derive(Debug, Clone, Copy)]
struct Dual {
    v: f64,
    d: [f64; 3],
}

impl std::ops::Add for Dual {
    type Output = Dual;
    fn add(self, o: Dual) -> Dual {
        Dual {
            v: self.v + o.v,
            d: std::array::from_fn(|i| self.d[i] + o.d[i]),
        }
    }
}
impl std::ops::Sub for Dual {
    type Output = Dual;
    fn sub(self, o: Dual) -> Dual {
        Dual {
            v: self.v - o.v,
            d: std::array::from_fn(|i| self.d[i] - o.d[i]),
        }
    }
}
impl std::ops::Mul for Dual {
    type Output = Dual;
    #[allow(clippy::suspicious_arithmetic_impl)] // product rule
    fn mul(self, o: Dual) -> Dual {
        Dual {
            v: self.v * o.v,
            d: std::array::from_fn(|i| self.d[i] * o.v + self.v * o.d[i]),
        }
    }
}
impl std::ops::Div for Dual {
    type Output = Dual;
    #[allow(clippy::suspicious_arithmetic_impl)] // quotient rule
    fn div(self, o: Dual) -> Dual {
        let q = self.v / o.v;
        Dual {
            v: q,
            d: std::array::from_fn(|i| (self.d[i] - q * o.d[i]) / o.v),
        }
    }
}
impl Real for Dual {
    fn c(v: f64) -> Dual {
        Dual { v, d: [0.0; 3] }
    }
    fn v(self) -> f64 {
        self.v
    }
    fn with_value(self, v: f64) -> Dual {
        Dual { v, d: self.d }
    }
}

/// `torch.clamp(v, 0, 1)`: the gradient passes where 0 ≤ v ≤ 1.
fn clamp01<T: Real>(x: T) -> T {
    if (0.0..=1.0).contains(&x.v()) {
        x
    } else {
        T::c(x.v().clamp(0.0, 1.0))
    }
}

/// torchvision `_rgb2hsv`: (h in [0, 1), s, v); h and s are in "turns" and chroma/max units.
fn rgb_to_hsv<T: Real>([r, g, b]: [T; 3]) -> [T; 3] {
    // max/min pick a channel; the gradient follows the picked channel.
    let maxc = [r, g, b]
        .into_iter()
        .fold(r, |m, x| if x.v() > m.v() { x } else { m });
    let minc = [r, g, b]
        .into_iter()
        .fold(r, |m, x| if x.v() < m.v() { x } else { m });
    let eqc = maxc.v() == minc.v();
    let cr = maxc - minc;
    let one = T::c(1.0);
    let s = cr / if eqc { one } else { maxc };
    let div = if eqc { one } else { cr };
    let (rc, gc, bc) = ((maxc - r) / div, (maxc - g) / div, (maxc - b) / div);
    let h = if maxc.v() == r.v() {
        bc - gc
    } else if maxc.v() == g.v() {
        T::c(2.0) + rc - bc
    } else {
        T::c(4.0) + gc - rc
    };
    // fmod(h/6 + 1, 1): derivative 1 through the modulo.
    let h = h / T::c(6.0) + one;
    // fmod(v, 1) = v − trunc(v) exactly (libm's fmod was the hot spot).
    let hv = h.v() - h.v().trunc();
    [h.with_value(hv), s, maxc]
}

/// torchvision `_hsv2rgb`.
fn hsv_to_rgb<T: Real>([h, s, v]: [T; 3]) -> [T; 3] {
    let h6 = h * T::c(6.0);
    let i = h6.v().floor();
    let f = h6 - T::c(i);
    let one = T::c(1.0);
    let p = clamp01(v * (one - s));
    let q = clamp01(v * (one - s * f));
    let t = clamp01(v * (one - s * (one - f)));
    match (i as i64).rem_euclid(6) {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// One pixel of `adjust_hue`: RGB → HSV, `h ← (h + shift) mod 1` (Python `%`), → RGB.
fn hue_pixel<T: Real>(rgb: [T; 3], shift: f64) -> [T; 3] {
    let [h, s, v] = rgb_to_hsv(rgb);
    let hs = h + T::c(shift);
    // Python's `%` (floor modulo) = v − floor(v) for finite v.
    hsv_to_rgb([hs.with_value(hs.v() - hs.v().floor()), s, v])
}

/// The branch decisions of [`hue`] at one pixel that lies within a margin of a kink, where an
/// independent float32 implementation may take the other branch (see [`hue_ties`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HueTie {
    /// Flat pixel index into `[C, h, w]`.
    pub pixel: usize,
    /// The channel taken as the maximum (the first of equal maxima).
    pub imax: u8,
    /// The channel taken as the minimum (the first of equal minima).
    pub imin: u8,
    /// The HSV sector `floor(6·h) mod 6` after the shift.
    pub sector: u8,
    /// Whether the gradient passed the clamps of p, q and t in `_hsv2rgb`.
    pub passed: [bool; 3],
    /// The pixel's input: near a kink the derivative depends on values at rounding level (near
    /// gray, h itself is set by differences of ~1e-7), so the replay evaluates hue on these.
    pub rgb: [f32; 3],
}

/// The pixels of `x: [C, 3, h, w]` at which [`hue`]'s piecewise derivative is decided within
/// `margin` of a kink: two channels tie for the maximum or the minimum (the HSV formula
/// switches, and near gray h is undefined), `6·h` is near a sector boundary, or one of p, q, t
/// is near a clamp bound.
///
/// Exact ties are left out: they come from structure both implementations share (channels
/// clamped to the same bound upstream) and are broken the same way (first channel).
pub fn hue_ties(x: ArrayView4<f32>, shift: f64, margin: f32) -> Vec<HueTie> {
    let (c, k, h, w) = x.dim();
    assert_eq!(k, 3, "hue needs RGB");
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard");
    let (n, m) = (h * w, margin as f64);
    let near = |d: f64| d > 0.0 && d < m;
    let mut out = Vec::new();
    for ci in 0..c {
        for i in 0..n {
            let base = ci * 3 * n + i;
            let rgb = [xs[base], xs[base + n], xs[base + 2 * n]];
            let imax = (0..3).fold(0, |b, j| if rgb[j] > rgb[b] { j } else { b });
            let imin = (0..3).fold(0, |b, j| if rgb[j] < rgb[b] { j } else { b });
            let ch_tie = (0..3).any(|j| {
                (j != imax && near((rgb[imax] - rgb[j]) as f64))
                    || (j != imin && near((rgb[j] - rgb[imin]) as f64))
            });
            let [hh, s, v] = rgb_to_hsv(rgb.map(|v| v as f64));
            let hs = hh + shift;
            let h6 = (hs - hs.floor()) * 6.0;
            let sector_tie = near((h6 - h6.round()).abs());
            let f = h6 - h6.floor();
            let pqt = [v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))];
            let clamp_tie = pqt.iter().any(|&z| near(z.abs()) || near((z - 1.0).abs()));
            if ch_tie || sector_tie || clamp_tie {
                out.push(HueTie {
                    pixel: ci * n + i,
                    imax: imax as u8,
                    imin: imin as u8,
                    sector: (h6.floor() as i64).rem_euclid(6) as u8,
                    passed: pqt.map(|z| (0.0..=1.0).contains(&z)),
                    rgb,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cutouts::testutil::{assert_rel, dot, randn, rng, uniform};

    #[test]
    fn gray_and_flip_pass_dot_product_test() {
        let mut r = rng(21);
        let (x, y) = (randn(&mut r, (2, 3, 5, 7)), randn(&mut r, (2, 3, 5, 7)));
        assert_rel(
            dot(gray(x.view()).view(), y.view()),
            dot(x.view(), gray_adjoint(y.view()).view()),
            1e-5,
        );
        assert_rel(
            dot(hflip(x.view()).view(), y.view()),
            dot(x.view(), hflip(y.view()).view()),
            1e-5,
        );
    }

    #[test]
    fn gray_of_pure_red_is_its_luma() {
        let mut x = Array4::<f32>::zeros((1, 3, 1, 1));
        x[[0, 0, 0, 0]] = 1.0;
        assert_eq!(
            gray(x.view()).iter().copied().collect::<Vec<_>>(),
            vec![0.2989; 3]
        );
    }

    #[test]
    fn hue_ties_find_pixels_near_a_kink_only() {
        // Pixels (one per column): near-tie of the maxima; ordinary; exact gray (structural);
        // near-tie of the minima; p = v·(1 − s) = min near 0 (clamp).
        let px: [[f32; 3]; 5] = [
            [0.5, 0.5 - 2e-6, 0.2],
            [0.5, 0.3, 0.2],
            [0.4, 0.4, 0.4],
            [0.6, 0.1, 0.1 + 2e-6],
            [0.7, 0.4, 3e-6],
        ];
        let x = Array4::from_shape_fn((1, 3, 1, 5), |(_, c, _, i)| px[i][c]);
        let t = hue_ties(x.view(), 0.05, 1e-5);
        assert_eq!(t.iter().map(|t| t.pixel).collect::<Vec<_>>(), [0, 3, 4]);
        assert_eq!((t[0].imax, t[0].imin, t[0].rgb), (0, 2, px[0]));
        assert_eq!((t[1].imax, t[1].imin), (0, 1));
        assert!(t[2].passed.iter().all(|&p| p), "p ≈ 3e-6 ≥ 0 passes");
        assert!(hue_ties(x.view(), 0.05, 1e-7).is_empty(), "tighter margin");
    }

    #[test]
    fn hue_known_values() {
        // Pure red (h = 0) shifted by ⅓ turn is pure green; by −⅙ turn magenta (h = 5/6).
        assert_eq!(
            hue_pixel([1.0, 0.0, 0.0], 1.0 / 3.0).map(|v: f64| v.round()),
            [0.0, 1.0, 0.0]
        );
        assert_eq!(
            hue_pixel([1.0, 0.0, 0.0], -1.0 / 6.0).map(|v: f64| v.round()),
            [1.0, 0.0, 1.0]
        );
        // Gray has no hue: unchanged.
        assert_eq!(hue_pixel([0.4, 0.4, 0.4], 0.3), [0.4, 0.4, 0.4]);
        // A zero shift is the identity on in-range colours.
        let p = hue_pixel([0.2, 0.7, 0.5], 0.0);
        assert!(
            (p[0] - 0.2).abs() < 1e-12 && (p[1] - 0.7).abs() < 1e-12 && (p[2] - 0.5).abs() < 1e-12
        );
    }

    /// Whether (rgb, shift) is at least `d` away from the hue map's kinks (channel ties,
    /// sector boundaries of the shifted hue, the clamps).
    fn away_from_kinks(rgb: [f64; 3], shift: f64, d: f64) -> bool {
        let mut s = rgb;
        s.sort_by(f64::total_cmp);
        let [h, sat, v] = rgb_to_hsv(rgb);
        let f = ((h + shift).rem_euclid(1.0) * 6.0).fract();
        let ok_clamps = [
            v * (1.0 - sat),
            v * (1.0 - sat * f),
            v * (1.0 - sat * (1.0 - f)),
        ]
        .iter()
        .all(|&q| q.abs() > d && (q - 1.0).abs() > d);
        s[1] - s[0] > d && s[2] - s[1] > d && f > d && f < 1.0 - d && ok_clamps
    }

    #[test]
    fn hue_adjoint_matches_finite_differences() {
        let mut r = rng(22);
        for trial in 0..200 {
            let x = uniform(&mut r, (1, 3, 1, 1), -0.2, 1.2);
            let shift = if trial % 2 == 0 { 0.1 } else { -0.27 };
            let rgb = [0, 1, 2].map(|c| x[[0, c, 0, 0]] as f64);
            if !away_from_kinks(rgb, shift, 0.02) {
                continue;
            }
            let g = randn(&mut r, (1, 3, 1, 1));
            let adj = hue_adjoint(g.view(), x.view(), shift);
            for i in 0..3 {
                let eps = 1e-6;
                let (mut a, mut b) = (rgb, rgb);
                a[i] += eps;
                b[i] -= eps;
                let (ya, yb) = (hue_pixel(a, shift), hue_pixel(b, shift));
                let fd: f64 = (0..3)
                    .map(|c| (ya[c] - yb[c]) / (2.0 * eps) * g[[0, c, 0, 0]] as f64)
                    .sum();
                assert!(
                    (fd - adj[[0, i, 0, 0]] as f64).abs() < 1e-4 * (1.0 + fd.abs()),
                    "{rgb:?} {i}: {fd} vs {}",
                    adj[[0, i, 0, 0]]
                );
            }
        }
    }
}
