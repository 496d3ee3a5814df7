//! DD's 3D warp (dd-algorithm.md §10.4; `transform_image_3d` in `disco_xform_utils.py`): the
//! previous frame, seen from a camera moved by one frame's rotation and translation, using a
//! depth map to place each pixel in the scene. A pure kernel: the depth map comes in as an
//! array (DD makes it with MiDaS, optionally blended with AdaBins), and nothing here knows of
//! settings, keyframes, models or files.
//!
//! Per frame DD projects the points `(x, y, depth)` — `x`, `y` = `linspace(−1, 1)` over the
//! width and height — with an identity camera and with the frame's posed camera
//! ([`camera`]), subtracts the screen offset from the identity sampling grid, and samples
//! `image + (1/512 − 0.0001)` there with PyTorch's `grid_sample` ([`grid_sample()`]), clamping
//! the result to [0, 1]. The geometry and the sampling run in f64; DD runs float32, so the
//! goldens (`tests/golden-gen/warp3d_golden.py`, float64) test the semantics, not the rounding.
//!
//! VR's eye views, the spherical variant (`spherical=True`), are [`spherical`]. Not here:
//! depth estimation, turbo blending.

pub mod camera;
pub mod grid_sample;
pub mod resize;
pub mod spherical;

use ndarray::{Array3, ArrayView2, ArrayView3};

pub use camera::{Camera, Pose, sampling_grid};
pub use grid_sample::{Corners, Padding, Sampling, UnknownMode, grid_sample, grid_sample_with};
pub use spherical::{Eye, eye_pose, spherical_grid, transform_image_3d_spherical};

/// What DD adds to the image before sampling. Presumably half an 8-bit level (1/512 ≈ ½·1/256,
/// less a little), because `ToPILImage` truncates the result to 8 bits rather than rounding.
pub const IMAGE_SHIFT: f64 = 1.0 / 512.0 - 0.0001;

/// DD's `transform_image_3d` (non-spherical): `image: [C, H, W]` in [0, 1] (DD: RGB, C = 3),
/// `depth: [H, W]`; returns the warped image `[C, H, W]`, clamped to [0, 1].
///
/// # Panics
/// If `depth` is not `[H, W]`.
pub fn transform_image_3d(
    image: ArrayView3<f32>,
    depth: ArrayView2<f32>,
    pose: &Pose,
    camera: &Camera,
    sampling: Sampling,
    padding: Padding,
) -> Array3<f32> {
    let (grid, shifted) = posed_grid_and_image(image, depth, pose, camera);
    let out = grid_sample(shifted.view(), grid.view(), sampling, padding);
    out.mapv(|v| v.clamp(0.0, 1.0) as f32)
}

/// What both branches of DD's transform start from: the sampling grid of `pose` through
/// `depth` (which must be `[H, W]` of `image`), and the image in f64 with DD's shift.
///
/// # Panics
/// If `depth` is not `[H, W]`.
fn posed_grid_and_image(
    image: ArrayView3<f32>,
    depth: ArrayView2<f32>,
    pose: &Pose,
    camera: &Camera,
) -> (Array3<f64>, Array3<f64>) {
    let (_, h, w) = image.dim();
    assert_eq!(
        depth.dim(),
        (h, w),
        "transform_image_3d: depth must be [H, W] of the image"
    );
    let grid = sampling_grid(depth, pose, camera);
    (grid, image.mapv(|v| f64::from(v) + IMAGE_SHIFT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn image(h: usize, w: usize) -> Array3<f32> {
        // levels k/255 up to 1, so the shift is clamped at the top
        Array3::from_shape_fn((3, h, w), |(c, i, j)| {
            ((c * 97 + i * 41 + j * 29) % 256) as f32 / 255.0
        })
    }

    #[test]
    fn identity_pose_returns_the_shifted_image() {
        let img = image(6, 9);
        let depth = Array2::from_shape_fn((6, 9), |(i, j)| 1.0 + 0.1 * (i + j) as f32);
        for sampling in Sampling::ALL {
            for padding in Padding::ALL {
                let out = transform_image_3d(
                    img.view(),
                    depth.view(),
                    &Pose::IDENTITY,
                    &Camera::default(),
                    sampling,
                    padding,
                );
                for (o, i) in out.iter().zip(&img) {
                    let want = (f64::from(*i) + IMAGE_SHIFT).min(1.0);
                    assert!((f64::from(*o) - want).abs() < 1e-7, "{sampling} {padding}");
                }
            }
        }
    }

    #[test]
    fn depth_zero_samples_zero_instead_of_nan() {
        // the centre column's point (0, y, 0) projects to 0/0
        let img = image(3, 3);
        let depth = Array2::<f32>::zeros((3, 3));
        let pose = Pose::dd([5.0, 0.0, 0.0], [0.0; 3]);
        let out = transform_image_3d(
            img.view(),
            depth.view(),
            &pose,
            &Camera::default(),
            Sampling::default(),
            Padding::default(),
        );
        assert!(out.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
    }

    #[test]
    #[should_panic(expected = "depth must be [H, W]")]
    fn depth_of_another_size_is_refused() {
        let img = image(4, 5);
        let depth = Array2::<f32>::ones((5, 4));
        transform_image_3d(
            img.view(),
            depth.view(),
            &Pose::IDENTITY,
            &Camera::default(),
            Sampling::Bilinear,
            Padding::Border,
        );
    }
}
