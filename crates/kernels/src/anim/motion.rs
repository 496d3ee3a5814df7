//! The four 2D motion series together: frame f's [`Motion`] is what DD reads from
//! `angle_series[f]`, `zoom_series[f]`, `translation_x_series[f]` and `translation_y_series[f]`
//! when it warps frame f−1 into frame f's init (dd-algorithm.md §10.2–10.3).

use super::series::InterpSpline;
use super::series::{Series, SeriesError};
use super::warp::Motion;

/// Keyed (frame, value) lists of the four 2D motion settings.
#[derive(Clone, Copy, Debug)]
pub struct MotionKeys<'a> {
    /// `angle` keys, degrees.
    pub angle: &'a [(u32, f64)],
    /// `zoom` keys.
    pub zoom: &'a [(u32, f64)],
    /// `translation-x` keys, pixels.
    pub translation_x: &'a [(u32, f64)],
    /// `translation-y` keys, pixels.
    pub translation_y: &'a [(u32, f64)],
}

/// The per-frame 2D motion of an animation.
#[derive(Clone, Debug)]
pub struct MotionSeries {
    angle: Series,
    zoom: Series,
    translation_x: Series,
    translation_y: Series,
}

impl MotionSeries {
    /// Builds the four series over `max_frames` frames with one interpolation, as DD does.
    pub fn new(
        keys: MotionKeys<'_>,
        max_frames: u32,
        spline: InterpSpline,
    ) -> Result<MotionSeries, SeriesError> {
        Ok(MotionSeries {
            angle: Series::new(keys.angle, max_frames, spline)?,
            zoom: Series::new(keys.zoom, max_frames, spline)?,
            translation_x: Series::new(keys.translation_x, max_frames, spline)?,
            translation_y: Series::new(keys.translation_y, max_frames, spline)?,
        })
    }

    /// The motion that turns frame `frame − 1` into frame `frame`'s init; `None` past the end.
    pub fn at(&self, frame: u32) -> Option<Motion> {
        Some(Motion {
            angle: self.angle.get(frame)?,
            zoom: self.zoom.get(frame)?,
            translation_x: self.translation_x.get(frame)?,
            translation_y: self.translation_y.get(frame)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_series_at_the_frame() {
        let keys = MotionKeys {
            angle: &[(0, 0.0), (4, 8.0)],
            zoom: &[(0, 1.0), (10, 1.05)],
            translation_x: &[(0, 3.0)],
            translation_y: &[(2, -1.0)],
        };
        let m = MotionSeries::new(keys, 12, InterpSpline::Linear).unwrap();
        let f2 = m.at(2).unwrap();
        assert_eq!(f2.angle, 4.0);
        assert!((f2.zoom - 1.01).abs() < 1e-12);
        assert_eq!((f2.translation_x, f2.translation_y), (3.0, -1.0));
        assert!(m.at(12).is_none());
    }
}
