//! The frame blends of DD's "Create video" cell (dd-algorithm.md §11.6), which make the
//! frames of a Video Input target's blended video from its rendered frames; the rendered
//! frames themselves are not changed.
//!
//! - "linear": `prev·(1 − blend) + this·blend`;
//! - "optical flow": `this·(1 − blend) + remap(prev, flow)·blend`, the previous frame pulled
//!   along the flow from this frame's source back to the previous one (DD's `warp`, the same
//!   remap as the flow-warped init: [`super::flow`]).
//!
//! Both truncate to 8 bits, as DD's `astype('uint8')` does. DD's `blend` is a notebook field
//! (0.5), not a setting: [`DD_VIDEO_BLEND`].

use ndarray::Array3;

use super::flow;

/// DD's `blend` field of the "Create video" cell.
pub const DD_VIDEO_BLEND: f64 = 0.5;

/// DD's "linear" frame: `prev·(1 − blend) + this·blend`, truncated. Both `[H, W, C]`, one size.
pub fn linear_blend(prev: &Array3<u8>, this: &Array3<u8>, blend: f64) -> Array3<u8> {
    assert_eq!(prev.dim(), this.dim(), "the two frames are one size");
    Array3::from_shape_fn(this.dim(), |i| {
        let v = f64::from(prev[i]) * (1.0 - blend) + f64::from(this[i]) * blend;
        v.clamp(0.0, 255.0) as u8
    })
}

/// DD's "optical flow" frame (`warp(frame1 = prev, frame2 = this, flow21, blend)`):
/// `this·(1 − blend) + remap(prev, back)·blend`, truncated. `back` is the flow from this
/// frame's source back to the previous one, `[H, W, 2]` (x then y, pixels), the frames'
/// size (disco computes flows at the output size, so DD's resize to the flow's size is the
/// identity).
pub fn flow_blend_frames(
    prev: &Array3<u8>,
    this: &Array3<u8>,
    back: &Array3<f32>,
    blend: f64,
) -> Array3<u8> {
    let (h, w, _) = this.dim();
    assert_eq!(prev.dim(), this.dim(), "the two frames are one size");
    assert_eq!(back.dim(), (h, w, 2), "the flow is the frames' size");
    let warped = flow::remap(prev.mapv(f32::from).view(), back.view());
    // DD's warp: frame2·(1 − blend) + warped·blend, i.e. the kernel's blend with this frame
    // as the "source" and no consistency map
    let this = this.mapv(f32::from);
    flow::flow_blend(this.view(), warped.view(), None, blend as f32)
        .mapv(|v| v.clamp(0.0, 255.0) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linear_blend_truncates_the_half_sum() {
        let prev = Array3::from_shape_vec((1, 2, 3), vec![0, 1, 255, 10, 200, 7]).unwrap();
        let this = Array3::from_shape_vec((1, 2, 3), vec![1, 2, 254, 11, 100, 8]).unwrap();
        // (0+1)/2 = 0.5 → 0, (1+2)/2 = 1.5 → 1, (255+254)/2 = 254.5 → 254,
        // (10+11)/2 = 10.5 → 10, (200+100)/2 = 150, (7+8)/2 = 7.5 → 7
        let out = linear_blend(&prev, &this, DD_VIDEO_BLEND);
        assert_eq!(
            out.iter().copied().collect::<Vec<u8>>(),
            [0, 1, 254, 10, 150, 7]
        );
        // blend 0: the previous frame; blend 1: this one
        assert_eq!(linear_blend(&prev, &this, 0.0), prev);
        assert_eq!(linear_blend(&prev, &this, 1.0), this);
    }

    #[test]
    fn the_flow_blend_mixes_this_frame_with_the_previous_pulled_along_the_flow() {
        // one row of three gray pixels: prev = [0, 100, 200], this = [51, 51, 51]
        let prev = Array3::from_shape_fn((1, 3, 1), |(_, x, _)| (x * 100) as u8);
        let this = Array3::from_elem((1, 3, 1), 51u8);
        // flow x: +0.5 at x=0 (reads prev at 0.5 → 50), +1 at x=1 (reads prev at 2 → 200),
        // +1 at x=2 (reads prev at 3: outside → 0, OpenCV's zero border)
        let back = Array3::from_shape_fn((1, 3, 2), |(_, x, k)| match (x, k) {
            (0, 0) => 0.5,
            (_, 0) => 1.0,
            _ => 0.0,
        });
        let out = flow_blend_frames(&prev, &this, &back, DD_VIDEO_BLEND);
        // 51·0.5 + 50·0.5 = 50.5 → 50; 51·0.5 + 200·0.5 = 125.5 → 125; 51·0.5 + 0 = 25.5 → 25
        assert_eq!(out.iter().copied().collect::<Vec<u8>>(), [50, 125, 25]);
        // a zero flow is the linear blend with the frames' roles swapped
        let still = Array3::zeros((1, 3, 2));
        assert_eq!(
            flow_blend_frames(&prev, &this, &still, 0.25),
            linear_blend(&this, &prev, 0.25)
        );
    }
}
