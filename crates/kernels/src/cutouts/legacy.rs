//! DD's legacy `MakeCutouts`, used only to encode image prompts (dd-algorithm.md §5.9):
//! forward only, since image prompts are encoded once per frame and need no gradient.
//!
//! Input is in image space ([-1, 1]), padded by ⌊H/4⌋ zeros on all four sides. Cuts
//! `ch > cutn − cutn/4` (16 → 13, 14, 15: three, not four) take the whole padded image; the
//! rest are square crops of `int(side · clip(N(0.8, 0.3), R/side, 1))`. Unless `skip_augs`,
//! each cut is augmented on its own: flip 0.5, noise, RandomAffine(15°, translate 0.1,
//! nearest), noise, RandomPerspective(0.4, p 0.7, bilinear, fill 0), noise, grayscale p 0.15,
//! noise. Then [`resample`]: a Lanczos-2 prefilter on each shrunk axis, then PyTorch bicubic
//! (a = −0.75, `align_corners=True`).
//!
//! The caller then applies CLIP normalisation to these **[-1, 1]** cuts, as DD does (a DD bug
//! kept for parity, §3.3 step 2), and weights each of the cutn embeddings by w/cutn.
//!
//! Simplification: torch's `'reflect'` padding fails when the Lanczos kernel is wider than the
//! image (extreme shrink factors); we keep reflecting instead of raising.

use ndarray::{Array4, ArrayView4, s};
use rand::Rng;
use rand_distr::{Distribution, Normal, StandardNormal};

use super::colour::{gray, hflip};
use super::resize::{AxisMap, apply_axis};
use super::warp::{Interp, Warp, perspective_coeffs};

/// Which part of the padded image a cut takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyCrop {
    /// The whole padded image (not square in general; the resample stretches it).
    Whole,
    /// A square of side `size` at row `oy`, column `ox` of the padded image.
    Square {
        /// Side of the square.
        size: usize,
        /// Top row.
        oy: usize,
        /// Left column.
        ox: usize,
    },
}

/// The random augmentation of one legacy cut (the cut's own size, before the resample).
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyAug {
    /// Horizontal flip.
    pub flip: bool,
    /// The four noise tensors (std 0.01 applied), each `[1, 3, h, w]` of the cut.
    pub noise: [Array4<f32>; 4],
    /// RandomAffine angle in degrees (clockwise), ±15.
    pub angle: f64,
    /// RandomAffine translation (tx, ty) in pixels, each within ±round(0.1·side).
    pub translate: (i64, i64),
    /// RandomPerspective end points (top-left, top-right, bottom-right, bottom-left), if it fired.
    pub perspective: Option<[[f64; 2]; 4]>,
    /// RandomGrayscale fired.
    pub gray: bool,
}

/// One legacy cut: its crop and, unless `skip_augs`, its augmentation.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyCut {
    /// Where the cut comes from.
    pub crop: LegacyCrop,
    /// Its augmentation; `None` with `skip_augs`.
    pub aug: Option<LegacyAug>,
}

/// Every random choice of one legacy MakeCutouts call.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyPlan {
    /// Unpadded image height H.
    pub h: usize,
    /// Unpadded image width W.
    pub w: usize,
    /// CLIP input side R.
    pub r: usize,
    /// Zero padding on each side, ⌊H/4⌋.
    pub pad: usize,
    /// The cuts, in order.
    pub cuts: Vec<LegacyCut>,
}

fn uniform(rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// `torch.randint(lo, hi)`: uniform over `lo..hi`.
fn randint(rng: &mut impl Rng, lo: i64, hi: i64) -> f64 {
    rng.random_range(lo..hi) as f64
}

fn noise(rng: &mut impl Rng, h: usize, w: usize) -> Array4<f32> {
    Array4::from_shape_simple_fn((1, 3, h, w), || 0.01 * rng.sample::<f32, _>(StandardNormal))
}

impl LegacyAug {
    /// Draws the augmentation of an `h × w` cut in torchvision's order.
    pub fn draw(rng: &mut impl Rng, h: usize, w: usize) -> LegacyAug {
        let flip = rng.random::<f64>() < 0.5;
        let n1 = noise(rng, h, w);
        let angle = uniform(rng, -15.0, 15.0);
        let (mx, my) = (0.1 * w as f64, 0.1 * h as f64);
        let tx = uniform(rng, -mx, mx).round_ties_even() as i64;
        let ty = uniform(rng, -my, my).round_ties_even() as i64;
        let n2 = noise(rng, h, w);
        // RandomPerspective.get_params(width, height, 0.4): corners move inward by up to
        // int(0.4·half side) pixels.
        let perspective = (rng.random::<f64>() < 0.7).then(|| {
            let (w, h) = (w as i64, h as i64);
            let (dw, dh) = ((0.4 * (w / 2) as f64) as i64, (0.4 * (h / 2) as f64) as i64);
            let top_left = [randint(rng, 0, dw + 1), randint(rng, 0, dh + 1)];
            let top_right = [randint(rng, w - dw - 1, w), randint(rng, 0, dh + 1)];
            let bot_right = [randint(rng, w - dw - 1, w), randint(rng, h - dh - 1, h)];
            let bot_left = [randint(rng, 0, dw + 1), randint(rng, h - dh - 1, h)];
            [top_left, top_right, bot_right, bot_left]
        });
        let n3 = noise(rng, h, w);
        let gray = rng.random::<f64>() < 0.15;
        let n4 = noise(rng, h, w);
        LegacyAug {
            flip,
            noise: [n1, n2, n3, n4],
            angle,
            translate: (tx, ty),
            perspective,
            gray,
        }
    }

    /// Applies this augmentation to one cut `x: [1, 3, h, w]`.
    pub fn apply(&self, x: ArrayView4<f32>) -> Array4<f32> {
        let (_, _, h, w) = x.dim();
        assert_eq!(
            self.noise[0].dim(),
            x.dim(),
            "augmentation drawn for another cut size"
        );
        let mut x = if self.flip { hflip(x) } else { x.to_owned() };
        x += &self.noise[0];
        let (tx, ty) = self.translate;
        let mut x =
            Warp::affine(h, w, self.angle, tx as f64, ty as f64, Interp::Nearest).apply(x.view());
        x += &self.noise[1];
        let mut x = match self.perspective {
            Some(end) => {
                let (wm, hm) = (w as f64 - 1.0, h as f64 - 1.0);
                let c = perspective_coeffs([[0.0, 0.0], [wm, 0.0], [wm, hm], [0.0, hm]], end);
                Warp::perspective(h, w, c, Interp::Bilinear).apply(x.view())
            }
            None => x,
        };
        x += &self.noise[2];
        let mut x = if self.gray { gray(x.view()) } else { x };
        x += &self.noise[3];
        x
    }
}

impl LegacyPlan {
    /// Draws `cutn` cuts of an `h × w` image for CLIP side `r` (DD uses cutn = 16).
    pub fn draw(
        rng: &mut impl Rng,
        h: usize,
        w: usize,
        r: usize,
        cutn: usize,
        skip_augs: bool,
    ) -> LegacyPlan {
        let pad = h / 4;
        let (hp, wp) = (h + 2 * pad, w + 2 * pad);
        let side = hp.min(wp);
        let size_dist = Normal::new(0.8, 0.3).expect("valid normal");
        let cuts = (0..cutn)
            .map(|ch| {
                let crop = if ch > cutn - cutn / 4 {
                    LegacyCrop::Whole
                } else {
                    // torch.clip(v, lo, 1) is min(max(v, lo), 1): 1 when R > side.
                    let v: f64 = size_dist.sample(rng);
                    let size = (side as f64 * v.max(r as f64 / side as f64).min(1.0)) as usize;
                    let size = size.max(1);
                    let ox = rng.random_range(0..=wp - size);
                    let oy = rng.random_range(0..=hp - size);
                    LegacyCrop::Square { size, oy, ox }
                };
                let (ch_h, ch_w) = match crop {
                    LegacyCrop::Whole => (hp, wp),
                    LegacyCrop::Square { size, .. } => (size, size),
                };
                let aug = (!skip_augs).then(|| LegacyAug::draw(rng, ch_h, ch_w));
                LegacyCut { crop, aug }
            })
            .collect();
        LegacyPlan { h, w, r, pad, cuts }
    }
}

/// `x: [1, 3, H, W]` in image space → `cuts: [cutn, 3, R, R]` (before CLIP normalisation).
pub fn apply(x: ArrayView4<f32>, plan: &LegacyPlan) -> Array4<f32> {
    let (b, k, h, w) = x.dim();
    assert_eq!((b, k), (1, 3), "x must be [1, 3, H, W]");
    assert_eq!(
        (h, w),
        (plan.h, plan.w),
        "image size differs from the plan's"
    );
    let p = plan.pad;
    let mut padded = Array4::zeros((1, 3, h + 2 * p, w + 2 * p));
    padded.slice_mut(s![.., .., p..p + h, p..p + w]).assign(&x);
    let mut out = Array4::zeros((plan.cuts.len(), 3, plan.r, plan.r));
    for (i, cut) in plan.cuts.iter().enumerate() {
        let region = match cut.crop {
            LegacyCrop::Whole => padded.view(),
            LegacyCrop::Square { size, oy, ox } => {
                padded.slice(s![.., .., oy..oy + size, ox..ox + size])
            }
        };
        let region = match &cut.aug {
            Some(aug) => aug.apply(region),
            None => region.to_owned(),
        };
        out.slice_mut(s![i..i + 1, .., .., ..])
            .assign(&resample(region.view(), plan.r, plan.r));
    }
    out
}

/// DD's `resample`: `x: [N, K, h, w]` → `[N, K, dh, dw]`; Lanczos-2 prefilter on each axis
/// that shrinks, then bicubic (a = −0.75, `align_corners=True`).
pub fn resample(x: ArrayView4<f32>, dh: usize, dw: usize) -> Array4<f32> {
    let (_, _, h, w) = x.dim();
    let mut y = x.to_owned();
    if dh < h {
        y = apply_axis(y.view(), &lanczos_prefilter(h, dh), 2);
    }
    if dw < w {
        y = apply_axis(y.view(), &lanczos_prefilter(w, dw), 3);
    }
    let y = apply_axis(y.view(), &bicubic_align_corners(h, dh), 2);
    apply_axis(y.view(), &bicubic_align_corners(w, dw), 3)
}

/// DD's `lanczos(ramp(dst/src, 2), 2)`: the Lanczos-2 kernel sampled at multiples of the
/// ratio, normalised to sum 1.
pub fn lanczos_kernel(ratio: f64) -> Vec<f64> {
    let sinc = |x: f64| {
        if x == 0.0 {
            1.0
        } else {
            (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
        }
    };
    // ramp: 0, r, 2r, … (n = ceil(2/r + 1) values), mirrored, both ends dropped.
    let n = (2.0 / ratio + 1.0).ceil() as i64;
    let k: Vec<f64> = (-(n - 2)..=(n - 2))
        .map(|i| i as f64 * ratio)
        .map(|x| {
            if x > -2.0 && x < 2.0 {
                sinc(x) * sinc(x / 2.0)
            } else {
                0.0
            }
        })
        .collect();
    let sum: f64 = k.iter().sum();
    k.into_iter().map(|v| v / sum).collect()
}

/// The prefilter as an `n → n` axis map with reflect padding (no edge repeat).
fn lanczos_prefilter(n: usize, n_out: usize) -> AxisMap {
    let k = lanczos_kernel(n_out as f64 / n as f64);
    let half = (k.len() / 2) as i64;
    let reflect = |q: i64| -> usize {
        if n == 1 {
            return 0;
        }
        let period = 2 * (n as i64 - 1);
        let m = q.rem_euclid(period);
        (if m < n as i64 { m } else { period - m }) as usize
    };
    let rows = (0..n as i64)
        .map(|i| {
            k.iter()
                .enumerate()
                .map(|(t, &wt)| (reflect(i + t as i64 - half), wt as f32))
                .collect()
        })
        .collect();
    AxisMap::from_rows(n, rows)
}

/// PyTorch `upsample_bicubic2d` along one axis, a = −0.75, `align_corners=True`, indices
/// clamped to the border.
fn bicubic_align_corners(n: usize, m: usize) -> AxisMap {
    const A: f64 = -0.75;
    let cc1 = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let cc2 = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    let scale = if m > 1 {
        (n as f64 - 1.0) / (m as f64 - 1.0)
    } else {
        0.0
    };
    let rows = (0..m)
        .map(|j| {
            let src = scale * j as f64;
            let x0 = src.floor();
            let t = src - x0;
            let wts = [cc2(t + 1.0), cc1(t), cc1(1.0 - t), cc2(2.0 - t)];
            (0..4)
                .map(|d| {
                    (
                        ((x0 as i64) - 1 + d as i64).clamp(0, n as i64 - 1) as usize,
                        wts[d] as f32,
                    )
                })
                .collect()
        })
        .collect();
    AxisMap::from_rows(n, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cutouts::testutil::{assert_close, rng, uniform};
    use ndarray::array;

    #[test]
    fn bicubic_align_corners_by_hand() {
        // 2 → 3: ends hit the corners exactly; the middle (src 0.5, t = ½) has weights
        // cc2(1.5) = −0.09375, cc1(0.5) = 0.59375, cc1(0.5), cc2(1.5) on indices −1→0, 0, 1, 2→1,
        // i.e. ½·x0 + ½·x1.
        let y = resample(array![[[[0.0f32, 1.0]]]].view(), 1, 3);
        assert_close(y.view(), array![[[[0.0f32, 0.5, 1.0]]]].view(), 1e-7);
        let x = uniform(&mut rng(61), (1, 3, 5, 4), -1.0, 1.0);
        assert_close(resample(x.view(), 5, 4).view(), x.view(), 1e-7);
    }

    #[test]
    fn lanczos_kernel_for_half_size() {
        // ratio ½: ramp −1.5..1.5 step ½ (7 taps), zero at ±1 (sinc(1) = 0), symmetric, sum 1.
        let k = lanczos_kernel(0.5);
        assert_eq!(k.len(), 7);
        assert!(k[1].abs() < 1e-12 && k[5].abs() < 1e-12);
        assert!((k[0] - k[6]).abs() < 1e-12 && (k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn constants_survive_the_resample() {
        let x = Array4::from_elem((1, 3, 40, 30), 0.3f32);
        let y = resample(x.view(), 16, 16);
        assert!(y.iter().all(|&v| (v - 0.3).abs() < 1e-5));
    }

    #[test]
    fn plan_has_three_whole_cuts_of_sixteen_and_sizes_in_range() {
        let plan = LegacyPlan::draw(&mut rng(62), 64, 96, 24, 16, false);
        assert_eq!(plan.pad, 16);
        let whole: Vec<_> = (0..16)
            .filter(|&i| plan.cuts[i].crop == LegacyCrop::Whole)
            .collect();
        assert_eq!(whole, vec![13, 14, 15]);
        for cut in &plan.cuts {
            if let LegacyCrop::Square { size, oy, ox } = cut.crop {
                // side = min(96, 128) = 96; size ∈ [R, side] up to truncation
                assert!((23..=96).contains(&size) && oy + size <= 96 && ox + size <= 128);
            }
            assert!(cut.aug.is_some());
        }
    }

    #[test]
    fn skip_augs_whole_cut_is_the_resampled_padded_image() {
        let x = uniform(&mut rng(63), (1, 3, 12, 20), -1.0, 1.0);
        let plan = LegacyPlan::draw(&mut rng(64), 12, 20, 8, 4, true);
        let cuts = apply(x.view(), &plan);
        assert_eq!(cuts.dim(), (4, 3, 8, 8));
        let mut padded = Array4::zeros((1, 3, 18, 26));
        padded.slice_mut(s![.., .., 3..15, 3..23]).assign(&x);
        // cutn = 4: ch > 4 − 1 → none whole; check a square cut instead.
        let LegacyCrop::Square { size, oy, ox } = plan.cuts[0].crop else {
            panic!("square expected")
        };
        let want = resample(padded.slice(s![.., .., oy..oy + size, ox..ox + size]), 8, 8);
        assert_close(cuts.slice(s![0..1, .., .., ..]), want.view(), 1e-6);
    }

    #[test]
    fn augmented_cuts_have_the_right_shape_and_stay_finite() {
        let x = uniform(&mut rng(65), (1, 3, 20, 28), -1.0, 1.0);
        let plan = LegacyPlan::draw(&mut rng(66), 20, 28, 16, 16, false);
        let cuts = apply(x.view(), &plan);
        assert_eq!(cuts.dim(), (16, 3, 16, 16));
        assert!(cuts.iter().all(|v| v.is_finite()));
    }
}
