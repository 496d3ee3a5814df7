//! PyTorch's `grid_sample` for 2D images, the way DD's 3D warp calls it (dd-algorithm.md
//! §10.4): `align_corners=False` for the frames, `align_corners=True` in VR's spherical views
//! (`disco_xform_utils.py`, `spherical=True`). Knows nothing of cameras: the grid comes in ready.
//!
//! A grid entry `(x, y)` in `[−1, 1]` is unnormalised to pixel coordinates by
//! `u = ((x + 1)·W − 1)/2` (pixel `i`'s centre is at `u = i`; −1 and 1 are the outer edges of
//! the border pixels), or with aligned corners by `u = (x + 1)/2·(W − 1)` (−1 and 1 are the
//! border pixels' centres). Then, following ATen's CPU kernel (`GridSampler.h`,
//! `GridSamplerKernel.cpp`):
//! * bilinear and nearest pad the *coordinate*: border clips it to `[0, W − 1]`, reflection
//!   reflects it about the image's outer edges (−½ and W − ½; aligned: the border pixels'
//!   centres 0 and W − 1) and then clips; under zeros a tap outside the image reads 0.
//!   Nearest rounds half to even (`nearbyint`).
//! * bicubic takes the 4×4 taps around `floor(u)` from the *unpadded* coordinate with
//!   cubic-convolution weights (A = −0.75) and pads *each tap's index*: border clips it,
//!   reflection reflects then clips, zeros reads 0 outside.
//!
//! All arithmetic is f64 (DD runs float32 on the GPU; the goldens are float64). A grid entry
//! that is not finite — a point at view depth 0 — or so large that its pixel coordinate
//! overflows samples 0 in every mode, where PyTorch's result is unspecified.

use std::fmt;
use std::str::FromStr;

use ndarray::{Array3, ArrayView3};

/// `padding_mode`: what a sample outside the image reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Padding {
    /// `"border"` (DD's default): the nearest edge pixel.
    #[default]
    Border,
    /// `"zeros"`: 0.
    Zeros,
    /// `"reflection"`: the image mirrored about its outer edges.
    Reflection,
}

/// `mode` (DD's `sampling_mode`): how samples between pixel centres are interpolated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Sampling {
    /// `"bicubic"` (DD's default): cubic convolution over 4×4 pixels, A = −0.75.
    #[default]
    Bicubic,
    /// `"bilinear"`: the 2×2 nearest pixels.
    Bilinear,
    /// `"nearest"`: the nearest pixel, ties to even.
    Nearest,
}

/// A mode name that is not one of PyTorch's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?} (expected one of {expected})")]
pub struct UnknownMode {
    /// "padding mode" or "sampling mode".
    pub what: &'static str,
    /// What was given.
    pub value: String,
    /// The accepted names, quoted and comma-separated.
    pub expected: &'static str,
}

impl Padding {
    /// Every mode, in DD's order of mention.
    pub const ALL: [Padding; 3] = [Padding::Border, Padding::Zeros, Padding::Reflection];

    /// The name DD and PyTorch write.
    pub fn as_str(self) -> &'static str {
        match self {
            Padding::Border => "border",
            Padding::Zeros => "zeros",
            Padding::Reflection => "reflection",
        }
    }
}

impl Sampling {
    /// Every mode, in DD's order of mention.
    pub const ALL: [Sampling; 3] = [Sampling::Bicubic, Sampling::Bilinear, Sampling::Nearest];

    /// The name DD and PyTorch write.
    pub fn as_str(self) -> &'static str {
        match self {
            Sampling::Bicubic => "bicubic",
            Sampling::Bilinear => "bilinear",
            Sampling::Nearest => "nearest",
        }
    }
}

impl FromStr for Padding {
    type Err = UnknownMode;
    fn from_str(s: &str) -> Result<Self, UnknownMode> {
        Padding::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMode {
                what: "padding mode",
                value: s.to_owned(),
                expected: "\"border\", \"zeros\", \"reflection\"",
            })
    }
}

impl FromStr for Sampling {
    type Err = UnknownMode;
    fn from_str(s: &str) -> Result<Self, UnknownMode> {
        Sampling::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMode {
                what: "sampling mode",
                value: s.to_owned(),
                expected: "\"bicubic\", \"bilinear\", \"nearest\"",
            })
    }
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Display for Sampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// `align_corners`: where a grid's −1 and 1 fall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Corners {
    /// `align_corners=False` (DD's 3D frames): on the border pixels' outer edges.
    #[default]
    Edges,
    /// `align_corners=True` (DD's VR eye views): on the border pixels' centres.
    Centres,
}

/// `grid_sampler_unnormalize` for `align_corners=False`: `[−1, 1]` → pixel coordinates.
pub fn unnormalize(coord: f64, size: usize) -> f64 {
    unnormalize_with(coord, size, Corners::Edges)
}

/// `grid_sampler_unnormalize`: `[−1, 1]` → pixel coordinates, corners placed as `corners` says.
pub fn unnormalize_with(coord: f64, size: usize, corners: Corners) -> f64 {
    match corners {
        Corners::Edges => ((coord + 1.0) * size as f64 - 1.0) / 2.0,
        Corners::Centres => (coord + 1.0) / 2.0 * (size as f64 - 1.0),
    }
}

/// `clip_coordinates`: clamp to `[0, size − 1]`.
fn clip(coord: f64, size: usize) -> f64 {
    coord.clamp(0.0, size as f64 - 1.0)
}

/// `reflect_coordinates(coord, twice_low, twice_high)`: fold `coord` into
/// `[twice_low/2, twice_high/2]` by mirroring about its ends as often as needed.
fn reflect(coord: f64, twice_low: f64, twice_high: f64) -> f64 {
    if twice_low == twice_high {
        return 0.0;
    }
    let min = twice_low / 2.0;
    let span = (twice_high - twice_low) / 2.0;
    let dist = (coord - min).abs();
    let extra = dist % span; // fmod
    let flips = (dist / span).floor();
    if flips % 2.0 == 0.0 {
        extra + min
    } else {
        span - extra + min
    }
}

/// `compute_coordinates` for `align_corners=False`: a pixel coordinate after padding.
/// Zeros leaves it alone (the tap's bounds check reads 0 instead); reflection folds about the
/// outer edges −½ and `size − ½`, then clips like border.
pub fn pad(coord: f64, size: usize, padding: Padding) -> f64 {
    pad_with(coord, size, padding, Corners::Edges)
}

/// `compute_coordinates`: [`pad`], where aligned corners fold reflection about the border
/// pixels' centres 0 and `size − 1` instead.
pub fn pad_with(coord: f64, size: usize, padding: Padding, corners: Corners) -> f64 {
    match (padding, corners) {
        (Padding::Zeros, _) => coord,
        (Padding::Border, _) => clip(coord, size),
        (Padding::Reflection, Corners::Edges) => {
            clip(reflect(coord, -1.0, 2.0 * size as f64 - 1.0), size)
        }
        (Padding::Reflection, Corners::Centres) => {
            clip(reflect(coord, 0.0, 2.0 * (size as f64 - 1.0)), size)
        }
    }
}

/// The index of an integral, padded coordinate, or `None` outside `[0, size)` (reads 0).
fn index(coord: f64, size: usize) -> Option<usize> {
    (coord >= 0.0 && coord < size as f64).then_some(coord as usize)
}

/// Cubic convolution weights (A = −0.75) of the taps at `floor(u) − 1 … floor(u) + 2`, for
/// `t = u − floor(u)` (`get_cubic_upsample_coefficients`).
pub fn cubic_weights(t: f64) -> [f64; 4] {
    const A: f64 = -0.75;
    // |d| ≤ 1 and 1 < |d| < 2
    let near = |d: f64| ((A + 2.0) * d - (A + 3.0)) * d * d + 1.0;
    let far = |d: f64| ((A * d - 5.0 * A) * d + 8.0 * A) * d - 4.0 * A;
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
}

/// Up to 16 (flat pixel index, weight) pairs that make one output sample.
struct Taps {
    taps: [(usize, f64); 16],
    len: usize,
}

impl Taps {
    fn new() -> Self {
        Taps {
            taps: [(0, 0.0); 16],
            len: 0,
        }
    }

    fn push(&mut self, x: Option<usize>, y: Option<usize>, width: usize, weight: f64) {
        if let (Some(x), Some(y)) = (x, y) {
            self.taps[self.len] = (y * width + x, weight);
            self.len += 1;
        }
    }
}

/// How one `grid_sample` call samples: its `mode`, `padding_mode` and `align_corners`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Modes {
    sampling: Sampling,
    padding: Padding,
    corners: Corners,
}

/// The taps of the sample at grid point `(gx, gy)` in an image of `h × w` pixels.
fn taps(gx: f64, gy: f64, h: usize, w: usize, modes: Modes) -> Taps {
    let Modes {
        sampling,
        padding,
        corners,
    } = modes;
    let pad = |c: f64, n: usize| pad_with(c, n, padding, corners);
    let mut taps = Taps::new();
    let (u, v) = (
        unnormalize_with(gx, w, corners),
        unnormalize_with(gy, h, corners),
    );
    if !u.is_finite() || !v.is_finite() {
        return taps;
    }
    match sampling {
        Sampling::Nearest => {
            let (u, v) = (pad(u, w), pad(v, h));
            let (x, y) = (u.round_ties_even(), v.round_ties_even());
            taps.push(index(x, w), index(y, h), w, 1.0);
        }
        Sampling::Bilinear => {
            let (u, v) = (pad(u, w), pad(v, h));
            let (x0, y0) = (u.floor(), v.floor());
            let (tx, ty) = (u - x0, v - y0);
            for (y, wy) in [(y0, 1.0 - ty), (y0 + 1.0, ty)] {
                for (x, wx) in [(x0, 1.0 - tx), (x0 + 1.0, tx)] {
                    taps.push(index(x, w), index(y, h), w, wx * wy);
                }
            }
        }
        Sampling::Bicubic => {
            let (x0, y0) = (u.floor(), v.floor());
            let (wxs, wys) = (cubic_weights(u - x0), cubic_weights(v - y0));
            for (dy, wy) in wys.into_iter().enumerate() {
                let y = index(pad(y0 - 1.0 + dy as f64, h), h);
                for (dx, wx) in wxs.into_iter().enumerate() {
                    let x = index(pad(x0 - 1.0 + dx as f64, w), w);
                    taps.push(x, y, w, wx * wy);
                }
            }
        }
    }
    taps
}

/// `grid_sample(input, grid, mode, padding_mode, align_corners=False)` for one image:
/// `input: [C, H, W]`, `grid: [H_out, W_out, 2]` with last axis `(x, y)` in `[−1, 1]`
/// (−1 and 1 are the outer edges of the border pixels), output `[C, H_out, W_out]`.
///
/// # Panics
/// If the grid's last axis is not 2.
pub fn grid_sample(
    input: ArrayView3<f64>,
    grid: ArrayView3<f64>,
    sampling: Sampling,
    padding: Padding,
) -> Array3<f64> {
    grid_sample_with(input, grid, sampling, padding, Corners::Edges)
}

/// `grid_sample(input, grid, mode, padding_mode, align_corners)` for one image, corners
/// placed as `corners` says; otherwise as [`grid_sample()`].
///
/// # Panics
/// If the grid's last axis is not 2.
pub fn grid_sample_with(
    input: ArrayView3<f64>,
    grid: ArrayView3<f64>,
    sampling: Sampling,
    padding: Padding,
    corners: Corners,
) -> Array3<f64> {
    let modes = Modes {
        sampling,
        padding,
        corners,
    };
    let (c, h, w) = input.dim();
    let (h_out, w_out, two) = grid.dim();
    assert_eq!(two, 2, "grid_sample: grid must be [H_out, W_out, 2]");
    let mut out = Array3::<f64>::zeros((c, h_out, w_out));
    if h == 0 || w == 0 {
        return out;
    }
    let input = input.as_standard_layout();
    let data = input.as_slice().expect("standard layout");
    let plane = h * w;
    for i in 0..h_out {
        for j in 0..w_out {
            let t = taps(grid[[i, j, 0]], grid[[i, j, 1]], h, w, modes);
            let taps = &t.taps[..t.len];
            for ch in 0..c {
                let src = &data[ch * plane..(ch + 1) * plane];
                out[[ch, i, j]] = taps.iter().map(|&(k, wt)| src[k] * wt).sum();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[track_caller]
    fn assert_close(a: f64, b: f64, what: &str) {
        assert!((a - b).abs() <= 1e-12, "{what}: {a} vs {b}");
    }

    /// `affine_grid(identity)`: pixel centres (2i + 1)/n − 1.
    fn identity_grid(h: usize, w: usize) -> Array3<f64> {
        Array3::from_shape_fn((h, w, 2), |(i, j, k)| {
            let (idx, n) = if k == 0 { (j, w) } else { (i, h) };
            (2 * idx + 1) as f64 / n as f64 - 1.0
        })
    }

    /// One row [C=1, H=1, W] sampled at normalised x (y at the row's centre).
    fn sample_row(row: &[f64], x: f64, sampling: Sampling, padding: Padding) -> f64 {
        let input = Array3::from_shape_vec((1, 1, row.len()), row.to_vec()).unwrap();
        let grid = Array3::from_shape_vec((1, 1, 2), vec![x, 0.0]).unwrap();
        grid_sample(input.view(), grid.view(), sampling, padding)[[0, 0, 0]]
    }

    #[test]
    fn identity_grid_returns_the_input_in_every_mode() {
        let input = Array3::from_shape_fn((3, 5, 7), |(c, i, j)| {
            ((c * 31 + i * 7 + j * 13) % 17) as f64 / 16.0
        });
        let grid = identity_grid(5, 7);
        for sampling in Sampling::ALL {
            for padding in Padding::ALL {
                let out = grid_sample(input.view(), grid.view(), sampling, padding);
                for (a, b) in out.iter().zip(&input) {
                    assert_close(*a, *b, &format!("{sampling} {padding}"));
                }
            }
        }
    }

    #[test]
    fn unnormalize_puts_pixel_centres_on_integers() {
        // ((x + 1)·W − 1)/2: −1 → −½ (outer edge), pixel 0's centre 1/W − 1 → 0
        assert_eq!(unnormalize(-1.0, 4), -0.5);
        assert_eq!(unnormalize(1.0, 4), 3.5);
        assert_eq!(unnormalize(-0.75, 4), 0.0);
    }

    #[test]
    fn border_and_reflection_pad_known_coordinates() {
        // border: clip to [0, 3]
        assert_eq!(pad(5.7, 4, Padding::Border), 3.0);
        assert_eq!(pad(-2.0, 4, Padding::Border), 0.0);
        // reflection about −½ and 3½, then clip
        assert_close(pad(-1.3, 4, Padding::Reflection), 0.3, "−1.3 about −½");
        assert_close(pad(4.2, 4, Padding::Reflection), 2.8, "4.2 about 3½");
        assert_close(pad(9.0, 4, Padding::Reflection), 1.0, "9 → −2 → 1");
        assert_close(
            pad(-0.2, 4, Padding::Reflection),
            0.0,
            "inside the edge: clipped",
        );
        assert_eq!(pad(-7.25, 4, Padding::Zeros), -7.25);
        // a single pixel folds everything onto it
        assert_eq!(pad(12.3, 1, Padding::Reflection), 0.0);
    }

    #[test]
    fn cubic_weights_sum_to_one_and_vanish_at_integers() {
        assert_eq!(cubic_weights(0.0), [0.0, 1.0, 0.0, 0.0]);
        // t = ½: near(½) = 0.59375, far(1½) = −0.09375
        assert_eq!(cubic_weights(0.5), [-0.09375, 0.59375, 0.59375, -0.09375]);
        for t in [0.1, 0.37, 0.9] {
            assert_close(cubic_weights(t).iter().sum(), 1.0, "partition of unity");
        }
    }

    #[test]
    fn bicubic_pads_each_tap() {
        // x = −1 is u = −½: taps −2, −1, 0, 1 with weights [−0.09375, 0.59375, 0.59375, −0.09375]
        let row = [1.0, 2.0, 3.0, 4.0];
        // border: taps read [1, 1, 1, 2] → 1 − 0.09375 = 0.90625
        assert_close(
            sample_row(&row, -1.0, Sampling::Bicubic, Padding::Border),
            0.90625,
            "border",
        );
        // reflection: −2 → 1, −1 → 0, so [2, 1, 1, 2] → 0.8125
        assert_close(
            sample_row(&row, -1.0, Sampling::Bicubic, Padding::Reflection),
            0.8125,
            "reflection",
        );
        // zeros: [0, 0, 1, 2] → 0.59375 − 0.1875 = 0.40625
        assert_close(
            sample_row(&row, -1.0, Sampling::Bicubic, Padding::Zeros),
            0.40625,
            "zeros",
        );
    }

    #[test]
    fn bilinear_pads_the_coordinate_and_zeros_drops_outside_taps() {
        let row = [1.0, 2.0, 3.0, 4.0];
        // u = −½: border clips to 0 → 1; reflection folds to 0 → 1; zeros: ½·0 + ½·1
        assert_close(
            sample_row(&row, -1.0, Sampling::Bilinear, Padding::Border),
            1.0,
            "border",
        );
        assert_close(
            sample_row(&row, -1.0, Sampling::Bilinear, Padding::Reflection),
            1.0,
            "refl",
        );
        assert_close(
            sample_row(&row, -1.0, Sampling::Bilinear, Padding::Zeros),
            0.5,
            "zeros",
        );
        // u = 1.25 (x = −0.125): ¾·2 + ¼·3
        assert_close(
            sample_row(&row, -0.125, Sampling::Bilinear, Padding::Zeros),
            2.25,
            "inside",
        );
        // u = 4.5 (x = 1.5): reflection about 3½ → 2.5 → ½·3 + ½·4
        assert_close(
            sample_row(&row, 1.5, Sampling::Bilinear, Padding::Reflection),
            3.5,
            "fold",
        );
    }

    #[test]
    fn nearest_rounds_half_to_even() {
        let row = [10.0, 20.0];
        // W = 2: x = 0 → u = ½ → 0; x = 1 → u = 1½ → 2, outside
        assert_eq!(
            sample_row(&row, 0.0, Sampling::Nearest, Padding::Zeros),
            10.0
        );
        assert_eq!(
            sample_row(&row, 1.0, Sampling::Nearest, Padding::Zeros),
            0.0
        );
        // border clips 1½ to 1 before rounding
        assert_eq!(
            sample_row(&row, 1.0, Sampling::Nearest, Padding::Border),
            20.0
        );
    }

    #[test]
    fn non_finite_grid_reads_zero() {
        for sampling in Sampling::ALL {
            for padding in Padding::ALL {
                for x in [f64::NAN, f64::INFINITY] {
                    assert_eq!(sample_row(&[1.0, 2.0], x, sampling, padding), 0.0);
                }
            }
        }
    }

    #[test]
    fn far_coordinates_do_not_overflow() {
        let row = [1.0, 2.0, 3.0];
        assert_eq!(
            sample_row(&row, 1e300, Sampling::Bicubic, Padding::Border),
            3.0
        );
        assert_eq!(
            sample_row(&row, -1e300, Sampling::Bilinear, Padding::Zeros),
            0.0
        );
        assert_eq!(
            sample_row(&row, 1e300, Sampling::Nearest, Padding::Zeros),
            0.0
        );
    }

    #[test]
    fn aligned_corners_put_the_ends_on_the_border_pixels() {
        // (x + 1)/2·(W − 1): −1 → 0, 1 → 3, 0 → 1½
        assert_eq!(unnormalize_with(-1.0, 4, Corners::Centres), 0.0);
        assert_eq!(unnormalize_with(1.0, 4, Corners::Centres), 3.0);
        assert_eq!(unnormalize_with(0.0, 4, Corners::Centres), 1.5);
        // reflection about 0 and 3 (not −½ and 3½)
        let refl = |c| pad_with(c, 4, Padding::Reflection, Corners::Centres);
        assert_close(refl(-1.3), 1.3, "−1.3 about 0");
        assert_close(refl(4.2), 1.8, "4.2 about 3");
        assert_close(refl(7.5), 1.5, "7.5 → −1.5 → 1.5");
        assert_eq!(
            pad_with(12.3, 1, Padding::Reflection, Corners::Centres),
            0.0
        );
        // a linspace(−1, 1) grid is the identity with aligned corners, in every mode
        let input = Array3::from_shape_fn((2, 4, 5), |(c, i, j)| (c * 20 + i * 5 + j) as f64);
        let grid = Array3::from_shape_fn((4, 5, 2), |(i, j, k)| {
            if k == 0 {
                j as f64 / 2.0 - 1.0
            } else {
                i as f64 * 2.0 / 3.0 - 1.0
            }
        });
        for sampling in Sampling::ALL {
            for padding in Padding::ALL {
                let out = grid_sample_with(
                    input.view(),
                    grid.view(),
                    sampling,
                    padding,
                    Corners::Centres,
                );
                for (a, b) in out.iter().zip(&input) {
                    assert_close(*a, *b, &format!("aligned {sampling} {padding}"));
                }
            }
        }
        // x = 0 on a row [1, 2, 3, 4] is u = 1½ aligned (bilinear 2.5), u = 1½ unaligned too;
        // x = −1 is pixel 0's centre aligned (1) but its outer edge unaligned (zeros: ½)
        let row = Array3::from_shape_vec((1, 1, 4), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let at = |x: f64, corners| {
            let g = Array3::from_shape_vec((1, 1, 2), vec![x, 0.0]).unwrap();
            grid_sample_with(
                row.view(),
                g.view(),
                Sampling::Bilinear,
                Padding::Zeros,
                corners,
            )[[0, 0, 0]]
        };
        assert_close(at(-1.0, Corners::Centres), 1.0, "aligned end");
        assert_close(at(-1.0, Corners::Edges), 0.5, "unaligned end");
    }

    #[test]
    fn mode_names_round_trip() {
        for m in Padding::ALL {
            assert_eq!(m.as_str().parse::<Padding>(), Ok(m));
        }
        for m in Sampling::ALL {
            assert_eq!(m.to_string().parse::<Sampling>(), Ok(m));
        }
        let err = "bicubc".parse::<Sampling>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown sampling mode \"bicubc\" (expected one of \"bicubic\", \"bilinear\", \"nearest\")"
        );
        assert!(
            "Border".parse::<Padding>().is_err(),
            "names are case-sensitive, as in PyTorch"
        );
    }
}
