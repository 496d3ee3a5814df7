//! MERGE: the previous frame's 2D warp comes from `anim::warp` when the anim branch lands.

use ndarray::Array3;

/// The previous frame warped for the next one (dd-algorithm.md §10.3).
pub fn warp_frame(prev: &Array3<u8>, _angle: f64, _zoom: f64, _tx: f64, _ty: f64) -> Array3<u8> {
    prev.clone()
}
