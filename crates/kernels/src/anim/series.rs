//! Keyframe series: one value per frame from a few keys, exactly as Disco Diffusion's
//! `get_inbetweens` builds it with pandas (dd-algorithm.md §10.1).
//!
//! DD puts each key's value at its frame in a `max_frames`-long series, copies the first key's
//! value to frame 0 and the last key's to frame `max_frames − 1` (so frames outside the keys
//! hold the nearest key's value for Linear), then fills the gaps with pandas `interpolate`.
//! `linear` is `np.interp`; `quadratic`/`cubic` are SciPy interpolating splines through all
//! known points. A key beyond the end of the series is still a known point (pandas enlarges
//! the series), so it still bends a spline. Cubic with ≤ 3 keys falls back to Quadratic, and
//! Quadratic with ≤ 2 keys to Linear — counting the keys written, not the copied end points.
//!
//! [`Series`] keeps only the known points (and a spline's coefficients), so evaluating one
//! frame costs O(log keys) however long the animation is.

use super::spline::BSpline;

/// Interpolation between keyframes (§10.1); the project file's `interp-spline`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InterpSpline {
    /// Piecewise linear.
    Linear,
    /// Quadratic spline (falls back to linear with ≤ 2 keys).
    Quadratic,
    /// Cubic spline (falls back to quadratic with ≤ 3 keys).
    Cubic,
}

/// Why a series cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    /// There are no keys to interpolate.
    #[error("keyframes need at least one key")]
    NoKeys,
    /// `max_frames` is 0, so there is no frame to give a value.
    #[error("max-frames must be at least 1")]
    NoFrames,
}

/// A keyframed value for frames `0..max_frames`.
#[derive(Clone, Debug)]
pub struct Series {
    max_frames: u32,
    method: InterpSpline,
    /// Known points (frame, value), frames strictly increasing; includes 0 and max_frames − 1.
    frames: Vec<u32>,
    values: Vec<f64>,
    spline: Option<BSpline>,
}

impl Series {
    /// Builds the series for `keys` (frame, value) over `max_frames` frames with `spline`.
    ///
    /// Keys need not be sorted; a frame given twice keeps its last value, as DD's dict does.
    pub fn new(
        keys: &[(u32, f64)],
        max_frames: u32,
        spline: InterpSpline,
    ) -> Result<Series, SeriesError> {
        if max_frames == 0 {
            return Err(SeriesError::NoFrames);
        }
        // stable sort, then the last of each run of equal frames wins
        let mut sorted: Vec<(u32, f64)> = keys.to_vec();
        sorted.sort_by_key(|p| p.0);
        let mut unique: Vec<(u32, f64)> = Vec::with_capacity(sorted.len() + 2);
        for p in sorted {
            match unique.last_mut() {
                Some(last) if last.0 == p.0 => *last = p,
                _ => unique.push(p),
            }
        }
        let mut sorted = unique;
        let (Some(&(_, first)), Some(&(_, last))) = (sorted.first(), sorted.last()) else {
            return Err(SeriesError::NoKeys);
        };
        let method = effective_method(spline, sorted.len());
        // DD: series[0] = first key's value, series[max_frames-1] = last key's value; this
        // overwrites a key written at max_frames-1 when another key lies beyond the end.
        set(&mut sorted, 0, first);
        set(&mut sorted, max_frames - 1, last);
        let (frames, values): (Vec<u32>, Vec<f64>) = sorted.into_iter().unzip();
        let spline = match method {
            InterpSpline::Linear => None,
            InterpSpline::Quadratic | InterpSpline::Cubic => {
                let xs: Vec<f64> = frames.iter().map(|&f| f64::from(f)).collect();
                let k = if method == InterpSpline::Cubic { 3 } else { 2 };
                Some(BSpline::interpolate(&xs, &values, k))
            }
        };
        Ok(Series {
            max_frames,
            method,
            frames,
            values,
            spline,
        })
    }

    /// The number of frames.
    pub fn max_frames(&self) -> u32 {
        self.max_frames
    }

    /// The interpolation actually used, after DD's fall-backs for too few keys.
    pub fn method(&self) -> InterpSpline {
        self.method
    }

    /// The value at `frame`, or `None` past the end of the series.
    pub fn get(&self, frame: u32) -> Option<f64> {
        if frame >= self.max_frames {
            return None;
        }
        // pandas fills only the gaps: known points keep their values exactly
        let i = match self.frames.binary_search(&frame) {
            Ok(i) => return Some(self.values[i]),
            Err(i) => i,
        };
        // frames 0 and max_frames-1 are known points, so frame has neighbours on both sides
        Some(match &self.spline {
            Some(s) => s.eval(f64::from(frame)),
            None => {
                let (x0, x1) = (f64::from(self.frames[i - 1]), f64::from(self.frames[i]));
                let (y0, y1) = (self.values[i - 1], self.values[i]);
                // np.interp's formula, for the same rounding
                (y1 - y0) / (x1 - x0) * (f64::from(frame) - x0) + y0
            }
        })
    }

    /// Every frame's value, frame 0 first.
    pub fn values(&self) -> Vec<f64> {
        (0..self.max_frames)
            .map(|f| self.get(f).expect("frame is in range"))
            .collect()
    }
}

/// DD's fall-backs: Cubic needs more than 3 keys, Quadratic more than 2.
fn effective_method(spline: InterpSpline, keys: usize) -> InterpSpline {
    let mut m = spline;
    if m == InterpSpline::Cubic && keys <= 3 {
        m = InterpSpline::Quadratic;
    }
    if m == InterpSpline::Quadratic && keys <= 2 {
        m = InterpSpline::Linear;
    }
    m
}

/// Sets the value at `frame` in sorted points, inserting the point if absent.
fn set(points: &mut Vec<(u32, f64)>, frame: u32, value: f64) {
    match points.binary_search_by_key(&frame, |p| p.0) {
        Ok(i) => points[i].1 = value,
        Err(i) => points.insert(i, (frame, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dd_default_zoom() {
        let s = Series::new(&[(0, 1.0), (10, 1.05)], 20, InterpSpline::Linear).unwrap();
        let v = s.values();
        for (f, x) in v.iter().enumerate().take(11) {
            assert!(
                (x - (1.0 + 0.005 * f as f64)).abs() < 1e-12,
                "frame {f}: {x}"
            );
        }
        assert!(v[10..].iter().all(|&x| x == 1.05));
        assert_eq!(s.get(20), None);
    }

    #[test]
    fn fall_backs_count_written_keys() {
        let three = [(0, 0.0), (10, 5.0), (25, -3.0)];
        let s = Series::new(&three, 40, InterpSpline::Cubic).unwrap();
        assert_eq!(s.method(), InterpSpline::Quadratic);
        let s = Series::new(&three[..2], 40, InterpSpline::Quadratic).unwrap();
        assert_eq!(s.method(), InterpSpline::Linear);
        let four = [(0, 0.0), (10, 5.0), (25, -3.0), (30, 1.0)];
        let s = Series::new(&four, 40, InterpSpline::Cubic).unwrap();
        assert_eq!(s.method(), InterpSpline::Cubic);
    }

    #[test]
    fn holds_the_nearest_key_outside_the_keys() {
        let s = Series::new(&[(5, 2.0), (12, -1.0)], 20, InterpSpline::Linear).unwrap();
        assert_eq!(s.get(0), Some(2.0));
        assert_eq!(s.get(4), Some(2.0));
        assert_eq!(s.get(19), Some(-1.0));
    }

    #[test]
    fn errors() {
        assert_eq!(
            Series::new(&[], 10, InterpSpline::Linear).unwrap_err(),
            SeriesError::NoKeys
        );
        assert_eq!(
            Series::new(&[(0, 1.0)], 0, InterpSpline::Linear).unwrap_err(),
            SeriesError::NoFrames
        );
    }

    #[test]
    fn repeated_frame_keeps_last_value() {
        let s = Series::new(&[(3, 1.0), (0, 0.0), (3, 2.0)], 4, InterpSpline::Linear).unwrap();
        assert_eq!(s.get(3), Some(2.0));
    }
}
