//! MakeCutoutsDango (dd-algorithm.md §5.3): overview cuts of the zero-padded square image and
//! random inner crops, each resized to CLIP's R × R with ResizeRight, and the adjoint.
//!
//! Input is `u = (x_in + 1)/2`, the denoised estimate mapped to [0, 1] space, **not clamped**;
//! the caller does that mapping (and chains `∂u/∂x_in = ½` itself). [`CutPlan::draw`] makes
//! every random choice; [`apply`] and [`adjoint`] are pure. Augmentations are
//! [`super::augment`]'s business; CLIP normalisation is [`super::normalize`]'s.
//!
//! Inner cuts are grayed after the resize rather than before, as DD does: gray mixes channels
//! per pixel and the resize acts per channel, so the two commute exactly (up to rounding).

use std::collections::HashMap;

use ndarray::{Array4, ArrayView4, s};
use rand::Rng;

use super::colour::{gray, gray_adjoint, hflip};
use super::resize::{AxisMap, Resize};

/// One inner crop of the unpadded image.
#[derive(Debug, Clone, PartialEq)]
pub struct InnerCut {
    /// Side of the square crop, `min_size ≤ size ≤ short`.
    pub size: usize,
    /// Top row of the crop.
    pub oy: usize,
    /// Left column of the crop.
    pub ox: usize,
    /// Whether the crop is grayed (`i <= int(Gp·I)`).
    pub gray: bool,
}

/// Every random choice of one MakeCutoutsDango call, plus the resize maps they imply.
#[derive(Debug, Clone, PartialEq)]
pub struct CutPlan {
    /// Image height H.
    pub h: usize,
    /// Image width W.
    pub w: usize,
    /// CLIP input side R.
    pub r: usize,
    /// Number of overview cuts O.
    pub overview: usize,
    /// The I inner cuts, in order.
    pub inner: Vec<InnerCut>,
    /// Padded square → R × R, with the zero padding folded into the taps (reads `[H, W]`).
    overview_resize: Resize,
    /// Crop side → its size × size → R × R resize, shared between cuts of equal size.
    inner_resize: HashMap<usize, Resize>,
}

/// The last gray inner cut: DD's `if i <= int(IC_Grey_P * InnerCrop)`, the product in `f64`
/// then truncated, as Python does (so cut 0 is always gray: the `<=` quirk).
pub fn gray_until(icgray_p: f64, inner: usize) -> i64 {
    (icgray_p * inner as f64).trunc() as i64
}

impl CutPlan {
    /// Draws inner-cut sizes `int(U^P·(short − min_size) + min_size)`, offsets uniform over
    /// the valid range, and gray flags, for an `h × w` image and CLIP side `r` (§5.3).
    ///
    /// `overview` = O, `inner` = I, `ic_pow` = P, `icgray_p` = Gp from the cut schedules.
    /// Panics when O = I = 0: DD raises there (empty concatenation, §5.2).
    #[allow(clippy::too_many_arguments)] // the schedule's four knobs plus the sizes, as DD has them
    pub fn draw(
        rng: &mut impl Rng,
        h: usize,
        w: usize,
        r: usize,
        overview: usize,
        inner: usize,
        ic_pow: f64,
        icgray_p: f64,
    ) -> CutPlan {
        assert!(
            overview + inner > 0,
            "no cutouts: overview and innercut are both 0 at this step"
        );
        assert!(h > 0 && w > 0 && r > 0, "empty image or CLIP size");
        let short = h.min(w);
        let min_size = short.min(r);
        let gray_until = gray_until(icgray_p, inner);
        let mut cuts = Vec::with_capacity(inner);
        for i in 0..inner {
            let u: f64 = rng.random();
            let size = (u.powf(ic_pow) * (short - min_size) as f64 + min_size as f64) as usize;
            let ox = rng.random_range(0..=w - size);
            let oy = rng.random_range(0..=h - size);
            cuts.push(InnerCut {
                size,
                oy,
                ox,
                gray: i as i64 <= gray_until,
            });
        }
        CutPlan::new(h, w, r, overview, cuts)
    }

    /// A plan from given choices (replaying recorded randomness).
    pub fn new(h: usize, w: usize, r: usize, overview: usize, inner: Vec<InnerCut>) -> CutPlan {
        for c in &inner {
            assert!(
                c.size > 0 && c.oy + c.size <= h && c.ox + c.size <= w,
                "inner cut {c:?} outside {h}×{w}"
            );
        }
        let short = h.min(w);
        // Only the short axis is padded, by floor((long − short)/2) on each side (§5.3).
        let (pad_y, pad_x) = ((w - short) / 2, (h - short) / 2);
        let overview_resize = Resize {
            rows: AxisMap::resize(h + 2 * pad_y, r).embed(-(pad_y as isize), h),
            cols: AxisMap::resize(w + 2 * pad_x, r).embed(-(pad_x as isize), w),
        };
        let mut inner_resize = HashMap::new();
        for c in &inner {
            inner_resize
                .entry(c.size)
                .or_insert_with(|| Resize::new(c.size, c.size, r, r));
        }
        CutPlan {
            h,
            w,
            r,
            overview,
            inner,
            overview_resize,
            inner_resize,
        }
    }

    /// Total number of cuts C = O + I.
    pub fn n_cuts(&self) -> usize {
        self.overview + self.inner.len()
    }
}

/// Which variant overview cut `i` of `o` is: (gray, flipped). O ≤ 4 takes the first O of
/// [ov, gray(ov), hflip(ov), gray(hflip(ov))]; O > 4 is O plain copies.
fn overview_variant(i: usize, o: usize) -> (bool, bool) {
    if o > 4 {
        (false, false)
    } else {
        (i % 2 == 1, i >= 2)
    }
}

/// `u: [1, 3, H, W]` in [0, 1] space → `cuts: [O + I, 3, R, R]`.
pub fn apply(u: ArrayView4<f32>, plan: &CutPlan) -> Array4<f32> {
    let (b, k, h, w) = u.dim();
    assert_eq!((b, k), (1, 3), "u must be [1, 3, H, W]");
    assert_eq!(
        (h, w),
        (plan.h, plan.w),
        "image size differs from the plan's"
    );
    let r = plan.r;
    let mut out = Array4::zeros((plan.n_cuts(), 3, r, r));
    if plan.overview > 0 {
        let ov = plan.overview_resize.apply(u);
        for i in 0..plan.overview {
            let (g, f) = overview_variant(i, plan.overview);
            let v = if f { hflip(ov.view()) } else { ov.clone() };
            let v = if g { gray(v.view()) } else { v };
            out.slice_mut(s![i..i + 1, .., .., ..]).assign(&v);
        }
    }
    for (i, c) in plan.inner.iter().enumerate() {
        let crop = u.slice(s![.., .., c.oy..c.oy + c.size, c.ox..c.ox + c.size]);
        let cut = plan.inner_resize[&c.size].apply(crop);
        let cut = if c.gray { gray(cut.view()) } else { cut };
        let j = plan.overview + i;
        out.slice_mut(s![j..j + 1, .., .., ..]).assign(&cut);
    }
    out
}

/// Transpose of [`apply`]: `grad_cuts: [O + I, 3, R, R]` → `[1, 3, H, W]` (H, W from the plan).
pub fn adjoint(grad_cuts: ArrayView4<f32>, plan: &CutPlan) -> Array4<f32> {
    let (n, k, rh, rw) = grad_cuts.dim();
    assert_eq!(
        (n, k, rh, rw),
        (plan.n_cuts(), 3, plan.r, plan.r),
        "grad_cuts must be [O + I, 3, R, R]"
    );
    let mut out = Array4::zeros((1, 3, plan.h, plan.w));
    if plan.overview > 0 {
        let mut g_ov = Array4::zeros((1, 3, plan.r, plan.r));
        for i in 0..plan.overview {
            let gi = grad_cuts.slice(s![i..i + 1, .., .., ..]);
            let (g, f) = overview_variant(i, plan.overview);
            let gi = if g { gray_adjoint(gi) } else { gi.to_owned() };
            g_ov += &if f { hflip(gi.view()) } else { gi };
        }
        out += &plan.overview_resize.adjoint(g_ov.view());
    }
    for (i, c) in plan.inner.iter().enumerate() {
        let j = plan.overview + i;
        let gi = grad_cuts.slice(s![j..j + 1, .., .., ..]);
        let gi = if c.gray {
            gray_adjoint(gi)
        } else {
            gi.to_owned()
        };
        let g_crop = plan.inner_resize[&c.size].adjoint(gi.view());
        let mut dst = out.slice_mut(s![.., .., c.oy..c.oy + c.size, c.ox..c.ox + c.size]);
        dst += &g_crop;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cutouts::testutil::{assert_close, assert_rel, dot, randn, rng, uniform};

    /// Naive twin: materialise the zero padding and the crops, resize each with a fresh map.
    fn apply_naive(u: ArrayView4<f32>, plan: &CutPlan) -> Array4<f32> {
        let (_, _, h, w) = u.dim();
        let short = h.min(w);
        let (py, px) = ((w - short) / 2, (h - short) / 2);
        let mut padded = Array4::zeros((1, 3, h + 2 * py, w + 2 * px));
        padded
            .slice_mut(s![.., .., py..py + h, px..px + w])
            .assign(&u);
        let ov = Resize::new(h + 2 * py, w + 2 * px, plan.r, plan.r).apply(padded.view());
        let mut cuts = vec![];
        for i in 0..plan.overview {
            cuts.push(match (plan.overview > 4, i) {
                (true, _) | (false, 0) => ov.clone(),
                (false, 1) => gray(ov.view()),
                (false, 2) => hflip(ov.view()),
                _ => gray(hflip(ov.view()).view()),
            });
        }
        for c in &plan.inner {
            let crop = u
                .slice(s![.., .., c.oy..c.oy + c.size, c.ox..c.ox + c.size])
                .to_owned();
            let crop = if c.gray { gray(crop.view()) } else { crop };
            cuts.push(Resize::new(c.size, c.size, plan.r, plan.r).apply(crop.view()));
        }
        let views: Vec<_> = cuts.iter().map(|c| c.view()).collect();
        ndarray::concatenate(ndarray::Axis(0), &views).unwrap()
    }

    #[test]
    fn matches_naive_twin_and_passes_dot_product_test() {
        let mut r = rng(51);
        for &(h, w, res, o, i) in &[
            (20, 33, 12, 4, 5),
            (33, 20, 12, 2, 3),
            (16, 16, 24, 6, 2),
            (9, 14, 8, 0, 3),
            (12, 12, 12, 3, 0),
        ] {
            let plan = CutPlan::draw(&mut r, h, w, res, o, i, 1.5, 0.3);
            let u = uniform(&mut r, (1, 3, h, w), 0.0, 1.0);
            let cuts = apply(u.view(), &plan);
            assert_close(cuts.view(), apply_naive(u.view(), &plan).view(), 1e-5);
            let y = randn(&mut r, cuts.dim());
            assert_rel(
                dot(cuts.view(), y.view()),
                dot(u.view(), adjoint(y.view(), &plan).view()),
                1e-5,
            );
        }
    }

    #[test]
    #[should_panic(expected = "no cutouts")]
    fn no_cuts_at_all_is_refused_as_dd_raises() {
        CutPlan::draw(&mut rng(56), 16, 16, 8, 0, 0, 1.0, 0.0);
    }

    #[test]
    fn nan_in_the_image_reaches_the_cuts_that_read_it() {
        // cond_fn's NaN guard (§5.8) relies on a NaN surviving to the gradient.
        let mut u = uniform(&mut rng(57), (1, 3, 12, 12), 0.0, 1.0);
        u[[0, 1, 6, 6]] = f32::NAN;
        let plan = CutPlan::new(12, 12, 8, 1, vec![]);
        let cuts = apply(u.view(), &plan);
        assert!(cuts.iter().any(|v| v.is_nan()));
        let g = adjoint(
            cuts.mapv(|v| if v.is_nan() { f32::NAN } else { 0.0 })
                .view(),
            &plan,
        );
        assert!(g.iter().any(|v| v.is_nan()));
    }

    #[test]
    fn overview_pads_only_the_short_axis() {
        // H=4, W=8, R=8: pad top and bottom by floor((8 − 4)/2) = 2, no resize along W
        // (8 → 8 is the identity) nor H (8 → 8): the overview is the padded image itself.
        let u = uniform(&mut rng(52), (1, 3, 4, 8), 0.1, 1.0);
        let plan = CutPlan::new(4, 8, 8, 1, vec![]);
        let ov = apply(u.view(), &plan);
        assert!(ov.slice(s![.., .., 0..2, ..]).iter().all(|&v| v == 0.0));
        assert!(ov.slice(s![.., .., 6..8, ..]).iter().all(|&v| v == 0.0));
        assert_eq!(ov.slice(s![.., .., 2..6, ..]), u.view());
    }

    #[test]
    fn gray_flags_follow_the_le_quirk() {
        let count = |i: usize, gp: f64| {
            let plan = CutPlan::draw(&mut rng(53), 30, 40, 16, 0, i, 1.0, gp);
            assert!(plan.inner[0].gray, "inner cut 0 is always gray");
            plan.inner.iter().filter(|c| c.gray).count()
        };
        // §5.3: I=12, Gp=0 → 1 gray; Gp=0.2 → cuts 0, 1, 2; I=4, Gp=0.2 → 1.
        assert_eq!(count(12, 0.0), 1);
        assert_eq!(count(12, 0.2), 3);
        assert_eq!(count(4, 0.2), 1);
    }

    #[test]
    fn sizes_and_offsets_stay_in_range() {
        let mut r = rng(54);
        for _ in 0..50 {
            let plan = CutPlan::draw(&mut r, 40, 64, 24, 4, 12, 2.0, 0.2);
            for c in &plan.inner {
                // min_size = min(64, 40, 24) = 24, short = 40
                assert!((24..=40).contains(&c.size));
                assert!(c.oy + c.size <= 40 && c.ox + c.size <= 64);
            }
        }
        // Image smaller than R: every crop is the short side.
        let plan = CutPlan::draw(&mut r, 10, 14, 24, 0, 5, 1.0, 0.0);
        assert!(plan.inner.iter().all(|c| c.size == 10));
    }

    #[test]
    fn overview_variants_are_gray_and_flipped_copies() {
        let u = uniform(&mut rng(55), (1, 3, 10, 10), 0.0, 1.0);
        let cuts = apply(u.view(), &CutPlan::new(10, 10, 6, 4, vec![]));
        let c = |i: usize| cuts.slice(s![i..i + 1, .., .., ..]).to_owned();
        assert_close(c(1).view(), gray(c(0).view()).view(), 1e-6);
        assert_close(c(2).view(), hflip(c(0).view()).view(), 1e-6);
        assert_close(c(3).view(), gray(c(2).view()).view(), 1e-6);
        let cuts = apply(u.view(), &CutPlan::new(10, 10, 6, 5, vec![]));
        assert!((1..5).all(|i| cuts.slice(s![i, .., .., ..]) == cuts.slice(s![0, .., .., ..])));
    }
}
