//! Per-frame 2D motion of an animation target: DD's keyframe series (dd-algorithm.md §10.1).

use disco_kernels::anim::{MotionKeys, MotionSeries};
use disco_project::Settings;

/// The motion series of an animation target (`None` when it has no frames or keys; the
/// project layer has rejected those already).
pub fn series(s: &Settings) -> Option<MotionSeries> {
    let keys = MotionKeys {
        angle: &s.angle.value.keys,
        zoom: &s.zoom.value.keys,
        translation_x: &s.translation_x.value.keys,
        translation_y: &s.translation_y.value.keys,
    };
    MotionSeries::new(keys, s.max_frames.value, s.interp_spline.value).ok()
}
