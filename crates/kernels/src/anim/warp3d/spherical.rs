//! DD's VR eye views (dd-algorithm.md §10.4; `generate_eye_views` in `disco.py`,
//! `transform_image_3d(…, spherical=True)` and `get_spherical_projection` in
//! `disco_xform_utils.py`): a saved 3D frame seen from one eye — the camera moved sideways by
//! half the interpupillary distance and turned towards the centre — then bent through a
//! fish-eye projection. A pure kernel like the frame warp ([`super::transform_image_3d`]):
//! the depth map comes in as an array; nothing here knows of settings, models or files.
//!
//! The spherical branch differs from the frame warp in two ways DD's source fixes:
//! - the first `grid_sample` (the depth warp, with the target's `sampling_mode` and
//!   `padding_mode`) runs with `align_corners=True`, while the grid it samples is still
//!   `affine_grid(…, align_corners=False)` minus the offsets;
//! - a second `grid_sample` resamples that through [`spherical_grid`] with PyTorch's defaults
//!   (bilinear, zero padding) and `align_corners=True`; the clamp to [0, 1] comes after it.

use ndarray::{Array3, ArrayView2, ArrayView3};

use super::Camera;
use super::camera::{CameraAxis, Pose, TRANSLATION_SCALE, axis_rotation, linspace};
use super::grid_sample::{Corners, Padding, Sampling, grid_sample_with};

/// `get_spherical_projection`'s `magnitude` as DD calls it: −0.4 (a barrel distortion).
pub const SPHERICAL_MAGNITUDE: f64 = -0.4;

/// Which eye a view is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Eye {
    /// DD's `i == 0`, `frame_NNNN_l.png`.
    Left,
    /// DD's `i == 1`, `frame_NNNN_r.png`.
    Right,
}

impl Eye {
    /// Both eyes, in DD's order.
    pub const BOTH: [Eye; 2] = [Eye::Left, Eye::Right];

    /// The suffix DD gives the eye's files: `l` or `r`.
    pub fn suffix(self) -> &'static str {
        match self {
            Eye::Left => "l",
            Eye::Right => "r",
        }
    }
}

/// The camera pose of `eye` (`generate_eye_views`): with `θ = eye_angle_deg·π/180`, the
/// eye sits at `x = cos θ·ipd/2` (negative for the left eye) and turns by `θ` (left) or `−θ`
/// (right) about y; `T = (−x/200, 0, 0)` and `R = euler_xyz((0, ±θ, 0))`, θ already in radians.
pub fn eye_pose(eye: Eye, eye_angle_deg: f64, ipd: f64) -> Pose {
    let theta = eye_angle_deg * (std::f64::consts::PI / 180.0);
    let side = match eye {
        Eye::Left => -1.0,
        Eye::Right => 1.0,
    };
    let ray_origin = theta.cos() * ipd / 2.0 * side;
    let ray_rotation = -side * theta;
    // Rx(0)·Ry·Rz(0) = Ry exactly: the identity factors multiply by exact 0s and 1s
    Pose {
        rotation: axis_rotation(CameraAxis::Y, ray_rotation),
        translation: [-ray_origin * TRANSLATION_SCALE, 0.0, 0.0],
    }
}

/// `get_spherical_projection(h, w, center = (0, 0), magnitude)` as `[H, W, 2]`, last axis
/// `(x, y)`: each point `g` of the `linspace(−1, 1)` grid moved to `g + d·|d|·magnitude` with
/// `d = center − g`, i.e. `g·(1 − magnitude·|g|)`.
pub fn spherical_grid(h: usize, w: usize, magnitude: f64) -> Array3<f64> {
    let (xs, ys) = (linspace(-1.0, 1.0, w), linspace(-1.0, 1.0, h));
    Array3::from_shape_fn((h, w, 2), |(i, j, k)| {
        let (gx, gy) = (xs[j], ys[i]);
        let (dx, dy) = (0.0 - gx, 0.0 - gy);
        let d_sum = (dx * dx + dy * dy).sqrt();
        if k == 0 {
            gx + dx * d_sum * magnitude
        } else {
            gy + dy * d_sum * magnitude
        }
    })
}

/// DD's `transform_image_3d(…, spherical=True)`: `image: [C, H, W]` in [0, 1], `depth:
/// [H, W]`; returns the eye's view `[C, H, W]`, clamped to [0, 1].
///
/// # Panics
/// If `depth` is not `[H, W]`.
pub fn transform_image_3d_spherical(
    image: ArrayView3<f32>,
    depth: ArrayView2<f32>,
    pose: &Pose,
    camera: &Camera,
    sampling: Sampling,
    padding: Padding,
) -> Array3<f32> {
    let (_, h, w) = image.dim();
    let (grid, shifted) = super::posed_grid_and_image(image, depth, pose, camera);
    let stage = grid_sample_with(
        shifted.view(),
        grid.view(),
        sampling,
        padding,
        Corners::Centres,
    );
    let sphere = spherical_grid(h, w, SPHERICAL_MAGNITUDE);
    // DD leaves the second call at PyTorch's defaults, bilinear and zeros
    let out = grid_sample_with(
        stage.view(),
        sphere.view(),
        Sampling::Bilinear,
        Padding::Zeros,
        Corners::Centres,
    );
    out.mapv(|v| v.clamp(0.0, 1.0) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anim::warp3d::IMAGE_SHIFT;
    use ndarray::Array2;

    #[test]
    fn eyes_sit_apart_and_turn_inwards() {
        // θ = 0: the eyes sit at ∓ipd/2, unturned; T = (±ipd/2/200, 0, 0)
        let l = eye_pose(Eye::Left, 0.0, 5.0);
        let r = eye_pose(Eye::Right, 0.0, 5.0);
        assert_eq!(l.translation, [2.5 / 200.0, 0.0, 0.0]);
        assert_eq!(r.translation, [-2.5 / 200.0, 0.0, 0.0]);
        assert_eq!(l.rotation, Pose::IDENTITY.rotation);
        // θ = 90°: cos θ ≈ 0, so no offset; the left eye turns by +90° about y: Ry(90°)
        let l = eye_pose(Eye::Left, 90.0, 5.0);
        assert!(l.translation[0].abs() < 1e-17);
        let want = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]];
        for (a, b) in l.rotation.iter().flatten().zip(want.iter().flatten()) {
            assert!((a - b).abs() < 1e-15);
        }
        // the right eye mirrors the left: R_r = R_lᵀ
        let (l, r) = (
            eye_pose(Eye::Left, 0.5, 5.0),
            eye_pose(Eye::Right, 0.5, 5.0),
        );
        assert_eq!(l.translation[0], -r.translation[0]);
        for i in 0..3 {
            for j in 0..3 {
                assert_eq!(l.rotation[i][j], r.rotation[j][i]);
            }
        }
    }

    #[test]
    fn spherical_grid_pulls_points_outwards_by_their_radius() {
        // g·(1 + 0.4|g|): the centre stays, (1, 0) → 1.4, the corner (1, 1) → 1 + 0.4·√2
        let g = spherical_grid(3, 3, SPHERICAL_MAGNITUDE);
        assert_eq!([g[[1, 1, 0]], g[[1, 1, 1]]], [0.0, 0.0]);
        assert!((g[[1, 2, 0]] - 1.4).abs() < 1e-15 && g[[1, 2, 1]] == 0.0);
        let c = 1.0 + 0.4 * 2f64.sqrt();
        assert!((g[[2, 2, 0]] - c).abs() < 1e-15 && (g[[2, 2, 1]] - c).abs() < 1e-15);
        assert!((g[[0, 0, 0]] + c).abs() < 1e-15);
    }

    #[test]
    fn a_still_eye_keeps_the_centre_and_darkens_the_rim() {
        // identity pose: the first sample reads affine_grid's pixel centres with aligned
        // corners (a slight zoom about the centre), the fish-eye pulls the rim outwards: the
        // centre pixel is the shifted image, the corners sample outside (zeros → 0)
        let img =
            Array3::from_shape_fn((3, 5, 5), |(c, i, j)| 0.2 + 0.1 * (c + i + j) as f32 / 4.0);
        let depth = Array2::from_elem((5, 5), 1.5f32);
        let out = transform_image_3d_spherical(
            img.view(),
            depth.view(),
            &Pose::IDENTITY,
            &Camera::default(),
            Sampling::Bilinear,
            Padding::Border,
        );
        for c in 0..3 {
            let want = f64::from(img[[c, 2, 2]]) + IMAGE_SHIFT;
            assert!((f64::from(out[[c, 2, 2]]) - want).abs() < 1e-6);
            assert_eq!(out[[c, 0, 0]], 0.0);
        }
    }

    #[test]
    #[should_panic(expected = "depth must be [H, W]")]
    fn depth_of_another_size_is_refused() {
        let img = Array3::<f32>::zeros((3, 4, 5));
        let depth = Array2::<f32>::ones((5, 4));
        transform_image_3d_spherical(
            img.view(),
            depth.view(),
            &Pose::IDENTITY,
            &Camera::default(),
            Sampling::Bilinear,
            Padding::Border,
        );
    }
}
