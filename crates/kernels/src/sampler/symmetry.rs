//! Symmetry (dd-algorithm.md §4.7): at chosen steps the noisy x_k is mirrored before the model
//! sees it. DDIM only; DD does not pass the transformation to PLMS.

use ndarray::{Array4, ArrayView4, Axis};

/// DD's symmetry settings, as a job's inputs key them (present when either direction is on).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Symmetry {
    /// `use-horizontal-symmetry`.
    pub horizontal: bool,
    /// `use-vertical-symmetry`.
    pub vertical: bool,
    /// `transformation-percent`: the fractions of the run after which x_k is mirrored.
    pub transformation_percent: Vec<f64>,
}

/// When and how to mirror x_k: [`Symmetry`] resolved to respaced indices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mirroring {
    /// Mirror the left half onto the right half (`use_horizontal_symmetry`).
    pub horizontal: bool,
    /// Mirror the top half onto the bottom half (`use_vertical_symmetry`).
    pub vertical: bool,
    /// Respaced indices k at which to mirror (see [`symmetry_steps`]).
    pub steps: Vec<usize>,
}

impl Mirroring {
    /// DD's settings: the two flags and `transformation_percent`, for a run of `steps` with
    /// `skip_steps` skipped.
    pub fn new(
        horizontal: bool,
        vertical: bool,
        transformation_percent: &[f64],
        steps: usize,
        skip_steps: usize,
    ) -> Self {
        Self {
            horizontal,
            vertical,
            steps: symmetry_steps(steps, skip_steps, transformation_percent),
        }
    }

    /// The mirroring of `symmetry` (none without it) for a run of `steps` with `skip_steps`
    /// skipped.
    pub fn of(symmetry: Option<&Symmetry>, steps: usize, skip_steps: usize) -> Self {
        match symmetry {
            Some(s) => Self::new(
                s.horizontal,
                s.vertical,
                &s.transformation_percent,
                steps,
                skip_steps,
            ),
            None => Self::new(false, false, &[], steps, skip_steps),
        }
    }

    /// Whether x is mirrored before the model call at respaced index k.
    pub fn applies(&self, k: usize) -> bool {
        (self.horizontal || self.vertical) && self.steps.contains(&k)
    }

    /// x mirrored as configured: horizontal first, then vertical (DD's order).
    pub fn apply(&self, x: ArrayView4<f32>) -> Array4<f32> {
        let mut out = x.to_owned();
        if self.horizontal {
            out = mirror_horizontal(out.view());
        }
        if self.vertical {
            out = mirror_vertical(out.view());
        }
        out
    }
}

/// The trigger set { int(L·(1 − p)) : p ∈ `transformation_percent` } with L = N − skip, the
/// number of loop indices (§4.7; guided-diffusion `transformation_steps`).
///
/// Python's `int` truncates toward zero; values outside 0..L (p > 1 or p < 0) can never
/// equal a visited index and are dropped rather than saturated into range.
pub fn symmetry_steps(
    steps: usize,
    skip_steps: usize,
    transformation_percent: &[f64],
) -> Vec<usize> {
    let l = steps.saturating_sub(skip_steps);
    transformation_percent
        .iter()
        .map(|p| (l as f64 * (1.0 - p)).trunc())
        .filter(|&k| k >= 0.0 && k < l as f64)
        .map(|k| k as usize)
        .collect()
}

/// Columns [0, W/2) kept, their left–right mirror written over the right half.
///
/// `x`: `[B, C, H, W]`. W is a multiple of 64 in DD; for an odd W the centre column is kept.
pub fn mirror_horizontal(x: ArrayView4<f32>) -> Array4<f32> {
    mirror_axis(x, Axis(3))
}

/// Rows [0, H/2) kept, their top–bottom mirror written over the bottom half.
///
/// `x`: `[B, C, H, W]`.
pub fn mirror_vertical(x: ArrayView4<f32>) -> Array4<f32> {
    mirror_axis(x, Axis(2))
}

fn mirror_axis(x: ArrayView4<f32>, axis: Axis) -> Array4<f32> {
    let n = x.len_of(axis);
    let half = n / 2;
    let mut out = x.to_owned();
    // Index n − 1 − i receives index i: the flip of the first half, placed last.
    let src = x.slice_axis(axis, (0..half).into());
    let src = src.slice_axis(axis, ndarray::Slice::new(0, None, -1));
    out.slice_axis_mut(axis, ((n - half)..n).into())
        .assign(&src);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    #[test]
    fn default_trigger_is_k_218() {
        // §4.7 / §15: p = 0.09, N = 250, skip = 10 → L = 240, int(240·0.91) = 218.
        assert_eq!(symmetry_steps(250, 10, &[0.09]), vec![218]);
        let sym = Mirroring::new(true, false, &[0.09], 250, 10);
        assert!(sym.applies(218));
        assert!(!sym.applies(217) && !sym.applies(219));
        // 218 is visited as the 22nd iteration (j = 239 − 218 = 21).
        assert_eq!(239 - 218, 21);
    }

    #[test]
    fn triggers_truncate_and_drop_out_of_range() {
        assert_eq!(symmetry_steps(100, 0, &[0.5, 0.0, 1.0]), vec![50, 0]);
        assert_eq!(symmetry_steps(100, 0, &[0.255]), vec![74]); // 74.5 → 74
        assert_eq!(symmetry_steps(100, 0, &[1.5, -0.5]), Vec::<usize>::new());
    }

    #[test]
    fn no_flags_means_no_mirroring() {
        let sym = Mirroring::new(false, false, &[0.09], 250, 10);
        assert!(!sym.applies(218));
    }

    #[test]
    fn settings_resolve_to_the_same_triggers() {
        let settings = Symmetry {
            horizontal: false,
            vertical: true,
            transformation_percent: vec![0.09, 0.5],
        };
        assert_eq!(
            Mirroring::of(Some(&settings), 250, 10),
            Mirroring::new(false, true, &[0.09, 0.5], 250, 10)
        );
        assert!(!Mirroring::of(None, 250, 10).applies(218));
    }

    #[test]
    fn mirrors_a_small_array() {
        // One channel, 2×4, values = column + 10·row.
        let x =
            Array::from_shape_vec((1, 1, 2, 4), vec![0., 1., 2., 3., 10., 11., 12., 13.]).unwrap();
        let h = mirror_horizontal(x.view());
        assert_eq!(
            h.iter().copied().collect::<Vec<_>>(),
            [0., 1., 1., 0., 10., 11., 11., 10.]
        );
        let v = mirror_vertical(x.view());
        assert_eq!(
            v.iter().copied().collect::<Vec<_>>(),
            [0., 1., 2., 3., 0., 1., 2., 3.]
        );
    }

    #[test]
    fn horizontal_then_vertical_matches_a_naive_twin() {
        let x = Array::from_shape_fn((1, 3, 6, 8), |(_, c, h, w)| (c * 100 + h * 10 + w) as f32);
        let sym = Mirroring {
            horizontal: true,
            vertical: true,
            steps: vec![0],
        };
        let got = sym.apply(x.view());
        // Naive: output (h, w) reads input (min(h, H−1−h), min(w, W−1−w)).
        let want = Array::from_shape_fn((1, 3, 6, 8), |(b, c, h, w)| {
            x[[b, c, h.min(5 - h), w.min(7 - w)]]
        });
        assert_eq!(got, want);
    }

    #[test]
    fn odd_width_keeps_the_centre_column() {
        let x = Array::from_shape_vec((1, 1, 1, 5), vec![0., 1., 2., 3., 4.]).unwrap();
        let h = mirror_horizontal(x.view());
        assert_eq!(h.iter().copied().collect::<Vec<_>>(), [0., 1., 2., 1., 0.]);
    }
}
