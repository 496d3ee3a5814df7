//! Video Input's optical-flow warp (dd-algorithm.md §10.5): DD's `warp_flow` (OpenCV's
//! `remap` of the previous output along the flow, bilinear, zero outside), the
//! forward–backward consistency check, and the blend of the warped output with the source
//! frame that becomes the next frame's init.
//!
//! Computed in f64 over f32 pixels, as OpenCV's `remap` defines the result for float maps:
//! DD remaps 8-bit images, where OpenCV quantises the sample positions to 1/32 pixel; the
//! goldens (`tests/golden-gen/flow_golden.py`, PyTorch `grid_sample`) test the semantics,
//! not that quantisation.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3};

/// Forward–backward flows agree when `|fwd + bwd|² ≤ ALPHA1·(|fwd|² + |bwd|²) + ALPHA2`
/// (Sundaram, Brox & Keutzer 2010, the check DD's consistency script applies).
pub const CONSISTENCY_ALPHA1: f64 = 0.01;
/// The constant term of the consistency test, in pixels².
pub const CONSISTENCY_ALPHA2: f64 = 0.5;

/// Bilinear sample of `img` (`[H, W, C]`) at (`x`, `y`) in pixels, pixels outside reading 0
/// (OpenCV's `BORDER_CONSTANT`); returns channel `c`.
fn sample(img: &ArrayView3<f32>, x: f64, y: f64, c: usize) -> f64 {
    let (h, w, _) = img.dim();
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let mut acc = 0.0;
    for (dy, wy) in [(0.0, 1.0 - fy), (1.0, fy)] {
        for (dx, wx) in [(0.0, 1.0 - fx), (1.0, fx)] {
            let (xi, yi) = (x0 + dx, y0 + dy);
            if xi >= 0.0 && yi >= 0.0 && xi < w as f64 && yi < h as f64 && wx * wy != 0.0 {
                acc += wx * wy * f64::from(img[[yi as usize, xi as usize, c]]);
            }
        }
    }
    acc
}

/// DD's `warp_flow`: output pixel (x, y) reads `img` at `(x + flow_x, y + flow_y)`
/// (`cv2.remap`, `INTER_LINEAR`, zero border). `img` is `[H, W, C]`, `flow` `[H, W, 2]`
/// (x then y, in pixels), of the same height and width.
pub fn remap(img: ArrayView3<f32>, flow: ArrayView3<f32>) -> Array3<f32> {
    let (h, w, c) = img.dim();
    assert_eq!(flow.dim(), (h, w, 2), "the flow is the image's size");
    Array3::from_shape_fn((h, w, c), |(y, x, k)| {
        let sx = x as f64 + f64::from(flow[[y, x, 0]]);
        let sy = y as f64 + f64::from(flow[[y, x, 1]]);
        sample(&img, sx, sy, k) as f32
    })
}

/// Where the forward flow `fwd` (previous → this frame's pixels, `[H, W, 2]`) and the
/// backward flow `bwd` (the other way) agree: 1 where following `fwd` then `bwd` returns to
/// the start within the tolerance above, 0 elsewhere and where `fwd` leaves the frame.
pub fn consistency(fwd: ArrayView3<f32>, bwd: ArrayView3<f32>) -> Array2<f32> {
    let (h, w, _) = fwd.dim();
    assert_eq!(bwd.dim(), fwd.dim(), "both flows are the same size");
    Array2::from_shape_fn((h, w), |(y, x)| {
        let (fx, fy) = (f64::from(fwd[[y, x, 0]]), f64::from(fwd[[y, x, 1]]));
        let (tx, ty) = (x as f64 + fx, y as f64 + fy);
        if tx < 0.0 || ty < 0.0 || tx > (w - 1) as f64 || ty > (h - 1) as f64 {
            return 0.0;
        }
        let (bx, by) = (sample(&bwd, tx, ty, 0), sample(&bwd, tx, ty, 1));
        let miss = (fx + bx).powi(2) + (fy + by).powi(2);
        let scale = fx * fx + fy * fy + bx * bx + by * by;
        let agree = miss <= CONSISTENCY_ALPHA1 * scale + CONSISTENCY_ALPHA2;
        if agree { 1.0 } else { 0.0 }
    })
}

/// The init of a Video Input frame (§10.5): the warped previous output, kept where
/// `weights` (a consistency map, if any) trust it and the source frame elsewhere, then
/// `(1 − blend)·source + blend·warped`. All `[H, W, C]`; DD then truncates to 8 bits.
pub fn flow_blend(
    source: ArrayView3<f32>,
    warped: ArrayView3<f32>,
    weights: Option<ArrayView2<f32>>,
    blend: f32,
) -> Array3<f32> {
    assert_eq!(
        source.dim(),
        warped.dim(),
        "source and warped frame are one size"
    );
    let (b, src) = (f64::from(blend), &source);
    Array3::from_shape_fn(source.dim(), |(y, x, c)| {
        let s = f64::from(src[[y, x, c]]);
        let mut wp = f64::from(warped[[y, x, c]]);
        if let Some(wt) = &weights {
            let t = f64::from(wt[[y, x]]);
            wp = wp * t + s * (1.0 - t);
        }
        (s * (1.0 - b) + wp * b) as f32
    })
}

#[cfg(test)]
mod tests;
