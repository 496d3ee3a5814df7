//! The torchvision augmentation pipeline DD applies to a whole cutn-batch of cuts in still and
//! 2D/3D modes (dd-algorithm.md §5.5), forward and backward.
//!
//! Order: horizontal flip → noise → RandomAffine (bilinear, fill 0) → noise → grayscale →
//! noise → ColorJitter (brightness, contrast, saturation, hue in a random order). Every random
//! choice is drawn by [`AugParams::draw`]; flip, affine, gray and jitter are shared by all cuts
//! of the call, only the noise is per element.
//!
//! Backward: flip, noise (identity), affine ([`super::warp`]) and gray are linear and use their
//! transposes. Brightness, contrast and saturation are blends followed by `clamp(0, 1)`; their
//! backward is the blend's transpose masked where `0 ≤ blend ≤ 1` (torch's clamp rule). Hue uses
//! the exact piecewise derivative of torchvision's HSV round trip ([`super::colour::hue_adjoint`]).
//! Because those depend on their inputs, [`adjoint`] takes the forward's input cuts and replays
//! the (cheap) forward to recover every intermediate; nothing else needs to be kept.
//!
//! Not here: the Video Input pipeline (nearest affine, perspective, no jitter) and `skip_augs`,
//! which the caller honours by not calling [`apply`].

use ndarray::{Array4, ArrayView4, Axis, Zip};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;

use super::colour::{GRAY, HueTie, gray, gray_adjoint, hflip, hue, hue_adjoint, hue_ties, luma};
use super::warp::{Interp, Warp};

/// Which of DD's two ColorJitter pipelines (§5.5); a job's inputs key it as `still` or
/// `animated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AugMode {
    /// `animation_mode = 'None'`: flip p = 0.5, hue ±0.1.
    Still,
    /// `'2D'` / `'3D'`: flip p = 0.4, hue ±0.3.
    Animated,
}

impl AugMode {
    /// The name the key uses (`still`, `animated`).
    pub fn name(self) -> &'static str {
        match self {
            AugMode::Still => "still",
            AugMode::Animated => "animated",
        }
    }

    fn flip_p(self) -> f64 {
        match self {
            AugMode::Still => 0.5,
            AugMode::Animated => 0.4,
        }
    }

    fn hue_range(self) -> f64 {
        match self {
            AugMode::Still => 0.1,
            AugMode::Animated => 0.3,
        }
    }
}

/// One ColorJitter operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// `clamp(b·x, 0, 1)`.
    Brightness,
    /// `clamp(c·x + (1 − c)·mean(gray(x)), 0, 1)`, mean per image.
    Contrast,
    /// `clamp(s·x + (1 − s)·gray(x), 0, 1)`.
    Saturation,
    /// HSV hue rotation by h turns.
    Hue,
}

/// Every random choice of one augmentation call on `C` cuts of `R × R`.
#[derive(Debug, Clone, PartialEq)]
pub struct AugParams {
    /// Side R of the cuts.
    pub r: usize,
    /// Horizontal flip of the whole batch.
    pub flip: bool,
    /// The three noise tensors (std 0.01 already applied), each `[C, 3, R, R]`.
    pub noise: [Array4<f32>; 3],
    /// RandomAffine angle in degrees (torchvision convention: clockwise on screen).
    pub angle: f64,
    /// RandomAffine integer translation (tx, ty) in pixels (right, down).
    pub translate: (i64, i64),
    /// RandomGrayscale fired.
    pub gray: bool,
    /// Brightness factor b ∈ [0.9, 1.1).
    pub brightness: f64,
    /// Contrast factor c ∈ [0.9, 1.1).
    pub contrast: f64,
    /// Saturation factor s ∈ [0.9, 1.1).
    pub saturation: f64,
    /// Hue shift in turns, ±0.1 (still) or ±0.3 (animated).
    pub hue: f64,
    /// The ColorJitter permutation.
    pub order: [Jitter; 4],
}

fn uniform(rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// DD's `x + torch.randn_like(x) * 0.01`, drawn for `[C, 3, R, R]`.
fn noise(rng: &mut impl Rng, n_cuts: usize, r: usize) -> Array4<f32> {
    Array4::from_shape_simple_fn((n_cuts, 3, r, r), || {
        0.01 * rng.sample::<f32, _>(StandardNormal)
    })
}

impl AugParams {
    /// Draws one call's parameters in torchvision's order (flip, noise, affine, noise, gray,
    /// noise, jitter permutation then factors). The streams differ from PyTorch's (§15).
    pub fn draw(rng: &mut impl Rng, n_cuts: usize, r: usize, mode: AugMode) -> AugParams {
        let flip = rng.random::<f64>() < mode.flip_p();
        let n1 = noise(rng, n_cuts, r);
        // RandomAffine(degrees=10, translate=(0.05, 0.05)): tx = round(U(−0.05·R, 0.05·R)),
        // Python's round (half to even).
        let angle = uniform(rng, -10.0, 10.0);
        let max_d = 0.05 * r as f64;
        let tx = uniform(rng, -max_d, max_d).round_ties_even() as i64;
        let ty = uniform(rng, -max_d, max_d).round_ties_even() as i64;
        let n2 = noise(rng, n_cuts, r);
        let gray = rng.random::<f64>() < 0.1;
        let n3 = noise(rng, n_cuts, r);
        let mut order = [
            Jitter::Brightness,
            Jitter::Contrast,
            Jitter::Saturation,
            Jitter::Hue,
        ];
        order.shuffle(rng);
        let h = mode.hue_range();
        AugParams {
            r,
            flip,
            noise: [n1, n2, n3],
            angle,
            translate: (tx, ty),
            gray,
            brightness: uniform(rng, 0.9, 1.1),
            contrast: uniform(rng, 0.9, 1.1),
            saturation: uniform(rng, 0.9, 1.1),
            hue: uniform(rng, -h, h),
            order,
        }
    }

    fn warp(&self) -> Warp {
        let (tx, ty) = self.translate;
        Warp::affine(
            self.r,
            self.r,
            self.angle,
            tx as f64,
            ty as f64,
            Interp::Bilinear,
        )
    }

    fn check(&self, x: ArrayView4<f32>) {
        let (c, k, h, w) = x.dim();
        assert_eq!(
            (k, h, w),
            (3, self.r, self.r),
            "cuts must be [C, 3, R, R] with R = {}",
            self.r
        );
        assert_eq!(
            self.noise[0].dim(),
            (c, 3, h, w),
            "noise drawn for a different batch"
        );
    }
}

/// Augments `cuts: [C, 3, R, R]` → `[C, 3, R, R]`.
pub fn apply(cuts: ArrayView4<f32>, p: &AugParams) -> Array4<f32> {
    p.check(cuts);
    p.order
        .iter()
        .fold(linear_part(cuts, p), |x, &op| jitter(op, x.view(), p))
}

/// Gradient with respect to `cuts_in` of ⟨apply(cuts_in), grad⟩; `grad, cuts_in: [C, 3, R, R]`.
pub fn adjoint(grad: ArrayView4<f32>, cuts_in: ArrayView4<f32>, p: &AugParams) -> Array4<f32> {
    p.check(cuts_in);
    assert_eq!(grad.dim(), cuts_in.dim(), "gradient and cuts");
    let inputs = jitter_inputs(cuts_in, p);
    let mut g = grad.to_owned();
    for (&op, xin) in p.order.iter().zip(&inputs).rev() {
        g = jitter_adjoint(op, g.view(), xin.view(), p);
    }
    linear_adjoint(g.view(), p)
}

/// Replays the forward and returns each jitter op's input, in `p.order`.
fn jitter_inputs(cuts_in: ArrayView4<f32>, p: &AugParams) -> Vec<Array4<f32>> {
    let mut inputs = Vec::with_capacity(4);
    let mut x = linear_part(cuts_in, p);
    for &op in &p.order {
        let next = jitter(op, x.view(), p);
        inputs.push(std::mem::replace(&mut x, next));
    }
    inputs
}

/// One clamp decision taken within a small margin of a bound: element `index` (flat, in
/// `[C, 3, R, R]` order) of the blend clamped by the jitter op at `order[op]`, and whether its
/// gradient passed (`0 ≤ blend ≤ 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClampTie {
    /// Position of the op in [`AugParams::order`].
    pub op: usize,
    /// Flat index into the op's `[C, 3, R, R]` blend.
    pub index: usize,
    /// The gradient passed the clamp.
    pub passed: bool,
}

/// The decisions of [`adjoint`] taken within a margin of a kink of the jitter ops.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ties {
    /// Brightness, contrast and saturation clamps.
    pub clamps: Vec<ClampTie>,
    /// The hue op's branches.
    pub hue: Vec<HueTie>,
}

impl Ties {
    /// How many decisions were recorded.
    pub fn len(&self) -> usize {
        self.clamps.len() + self.hue.len()
    }

    /// Nothing recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The hue op's ties are looked for within this many `margin`s. Its inputs can lie far outside
/// [0, 1] (hue first in the order, rough cuts) where the rounding differences upstream reach
/// ~2e-5, and it amplifies them (t = v·(1 − s·(1 − f))); hue ties are few (tens per batch),
/// so a wider net costs little.
pub const HUE_MARGIN_FACTOR: f32 = 10.0;

/// The decisions of [`adjoint`] at `cuts_in` taken within `margin` of a kink: blends within
/// `margin` of a clamp bound, and the hue op's near-ties ([`hue_ties`]) within
/// [`HUE_MARGIN_FACTOR`]` · margin`.
///
/// Why: the jitter ops' derivatives jump at their kinks, so an element within float32 rounding
/// of a kink can take the other branch in an independent implementation (the PyTorch replay)
/// and move one evaluation's gradient by up to 1e-2. The trace records these decisions so the
/// replay can take the same branch (docs/trace.md, "clamp ties"). Blends exactly at 0 or 1 are
/// left out: they are values clamped upstream (e.g. brightness of an exact 0), which both
/// implementations reproduce exactly and decide alike.
pub fn ties(cuts_in: ArrayView4<f32>, p: &AugParams, margin: f32) -> Ties {
    p.check(cuts_in);
    let mut ties = Ties::default();
    for (i, (&op, xin)) in p.order.iter().zip(jitter_inputs(cuts_in, p)).enumerate() {
        if op == Jitter::Hue {
            ties.hue = hue_ties(xin.view(), p.hue, HUE_MARGIN_FACTOR * margin);
            continue;
        }
        let z = blend(op, xin.view(), p);
        let z = z.as_standard_layout();
        for (index, &v) in z.as_slice().expect("standard").iter().enumerate() {
            let d = v.abs().min((v - 1.0).abs());
            if d > 0.0 && d < margin {
                ties.clamps.push(ClampTie {
                    op: i,
                    index,
                    passed: passes_clamp(v),
                });
            }
        }
    }
    ties
}

/// torch.clamp's backward: the gradient passes where min ≤ v ≤ max.
fn passes_clamp(v: f32) -> bool {
    (0.0..=1.0).contains(&v)
}

/// Transpose of [`linear_part`] without its noise (noise's adjoint is the identity).
fn linear_adjoint(g: ArrayView4<f32>, p: &AugParams) -> Array4<f32> {
    let g = if p.gray {
        gray_adjoint(g)
    } else {
        g.to_owned()
    };
    let g = p.warp().adjoint(g.view());
    if p.flip { hflip(g.view()) } else { g }
}

/// flip → noise → affine → noise → gray → noise.
fn linear_part(cuts: ArrayView4<f32>, p: &AugParams) -> Array4<f32> {
    let mut x = if p.flip { hflip(cuts) } else { cuts.to_owned() };
    x += &p.noise[0];
    let mut x = p.warp().apply(x.view());
    x += &p.noise[1];
    let mut x = if p.gray { gray(x.view()) } else { x };
    x += &p.noise[2];
    x
}

/// The blend a clamped jitter op clamps: brightness blends with 0, contrast with the per-image
/// mean luma, saturation with the luma (torchvision `_blend`).
///
/// Computed in f32 as torchvision does (`ratio·img1 + (1 − ratio)·img2` on f32 tensors, the
/// Python-float ratios rounded to f32): the clamp that follows decides whether a pixel's
/// gradient passes, and f64 blends rounded differently from PyTorch at pixels lying within
/// ~1e-6 of 0 or 1 (seen in the PyTorch replay, docs/trace.md).
fn blend(op: Jitter, x: ArrayView4<f32>, p: &AugParams) -> Array4<f32> {
    let (_, _, h, w) = x.dim();
    let ratios = |r: f64| (r as f32, (1.0 - r) as f32);
    match op {
        Jitter::Brightness => {
            let b = p.brightness as f32;
            x.mapv(|v| b * v)
        }
        Jitter::Contrast => {
            let (c, c1) = ratios(p.contrast);
            let mut out = x.to_owned();
            for (mut o, l) in out.outer_iter_mut().zip(luma(x).outer_iter()) {
                let mean = (l.iter().map(|&v| v as f64).sum::<f64>() / (h * w) as f64) as f32;
                o.mapv_inplace(|v| c * v + c1 * mean);
            }
            out
        }
        Jitter::Saturation => {
            let (s, s1) = ratios(p.saturation);
            let mut out = gray(x);
            Zip::from(&mut out)
                .and(x)
                .for_each(|o, &v| *o = s * v + s1 * *o);
            out
        }
        Jitter::Hue => unreachable!("hue is not a blend"),
    }
}

fn jitter(op: Jitter, x: ArrayView4<f32>, p: &AugParams) -> Array4<f32> {
    match op {
        Jitter::Hue => hue(x, p.hue),
        _ => blend(op, x, p).mapv_into(|v| v.clamp(0.0, 1.0)),
    }
}

/// Backward of one jitter op at input `x`.
fn jitter_adjoint(
    op: Jitter,
    g: ArrayView4<f32>,
    x: ArrayView4<f32>,
    p: &AugParams,
) -> Array4<f32> {
    if op == Jitter::Hue {
        return hue_adjoint(g, x, p.hue);
    }
    let (_, _, h, w) = x.dim();
    let mut gm = g.to_owned();
    Zip::from(&mut gm).and(&blend(op, x, p)).for_each(|gv, &z| {
        if !passes_clamp(z) {
            *gv = 0.0;
        }
    });
    match op {
        Jitter::Brightness => gm * p.brightness as f32,
        Jitter::Contrast => {
            let c = p.contrast as f32;
            let mut out = &gm * c;
            // mean = Σ_k GRAY[k]·Σ_hw x[k] / (h·w)
            for (mut o, gi) in out.outer_iter_mut().zip(gm.outer_iter()) {
                let total = gi.iter().map(|&v| v as f64).sum::<f64>() as f32;
                for (k, mut ch) in o.axis_iter_mut(Axis(0)).enumerate() {
                    ch += (1.0 - c) * total * GRAY[k] / (h * w) as f32;
                }
            }
            out
        }
        Jitter::Saturation => {
            let s = p.saturation as f32;
            &gm * s + gray_adjoint(gm.view()) * (1.0 - s)
        }
        Jitter::Hue => unreachable!(),
    }
}

#[cfg(test)]
mod tests;
