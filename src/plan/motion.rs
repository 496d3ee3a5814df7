//! Per-frame 2D motion of an animation target: DD's keyframe series (dd-algorithm.md §10.1).

use crate::project::Settings;

/// (angle, zoom, translation-x, translation-y) of frames `0..max_frames`.
pub fn series(s: &Settings) -> Vec<[f64; 4]> {
    let n = s.max_frames.value as usize;
    let each = |k: &crate::project::types::Keyframes| linear_series(&k.keys, n);
    let (a, z, x, y) = (
        each(&s.angle.value),
        each(&s.zoom.value),
        each(&s.translation_x.value),
        each(&s.translation_y.value),
    );
    (0..n).map(|f| [a[f], z[f], x[f], y[f]]).collect()
}

// MERGE: replaced by anim::series (splines) when the anim branch lands.
fn linear_series(keys: &[(u32, f64)], n: usize) -> Vec<f64> {
    (0..n)
        .map(|f| {
            let f = f as u32;
            match keys.iter().position(|k| k.0 >= f) {
                None => keys.last().map_or(0.0, |k| k.1),
                Some(0) => keys[0].1,
                Some(i) => {
                    let (a, b) = (keys[i - 1], keys[i]);
                    a.1 + (b.1 - a.1) * f64::from(f - a.0) / f64::from(b.0 - a.0)
                }
            }
        })
        .collect()
}
