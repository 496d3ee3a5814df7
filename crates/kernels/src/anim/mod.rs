//! 2D animation math (dd-algorithm.md §10): keyframe series and the frame-to-frame warp.
//!
//! Pure functions over numbers and pixel arrays; planning decides which frames to build and
//! the renderer feeds the warped previous frame in as the next frame's init.

mod spline;

pub mod flow;
pub mod frame_blend;
pub mod motion;
pub mod series;
pub mod warp;
pub mod warp3d;

pub use motion::{MotionKeys, MotionSeries};
pub use series::{InterpSpline, Series, SeriesError};
pub use warp::{Kernel, Motion};
