//! DD's 3D camera (dd-algorithm.md §10.4): the frame's pose from its keyframe values, pytorch3d's
//! field-of-view perspective projection, and the sampling grid they give a depth map. Knows
//! nothing of pixels: [`super::grid_sample()`] reads the image.
//!
//! pytorch3d uses row vectors: a world point `X` maps to view space as `X·R + T`, then to clip
//! space by the transposed projection matrix `K`, and `transform_points` divides by the last
//! coordinate (no epsilon clamp). With aspect ratio 1 and a symmetric frustum
//! `x_ndc = x_v / (tan(fov/2)·z_v)` (likewise y): `near` and `far` only shape `z_ndc`, which DD
//! drops, so the offsets depend on the field of view alone.

use ndarray::{Array3, ArrayView2};

/// A 3×3 matrix, rows first.
pub type Mat3 = [[f64; 3]; 3];

/// A 4×4 matrix, rows first.
pub type Mat4 = [[f64; 4]; 4];

/// DD's `TRANSLATION_SCALE`: keyframed translations are in 1/200 of the scene's unit.
pub const TRANSLATION_SCALE: f64 = 1.0 / 200.0;

/// A camera pose in pytorch3d's row-vector convention: world point `X` ↦ `X·R + T`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    /// `R`, applied on the right of a row vector.
    pub rotation: Mat3,
    /// `T`, added after the rotation.
    pub translation: [f64; 3],
}

impl Pose {
    /// `R = I`, `T = 0`: the camera DD projects the unmoved points with.
    pub const IDENTITY: Pose = Pose {
        rotation: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        translation: [0.0; 3],
    };

    /// DD's per-frame pose from the keyframed `translation_x/y/z` and `rotation_3d_x/y/z`
    /// (degrees): `T = (−tx, ty, −tz)/200` and `R = euler_xyz(rotation)`.
    pub fn dd(translation: [f64; 3], rotation_deg: [f64; 3]) -> Pose {
        let [tx, ty, tz] = translation;
        Pose {
            rotation: euler_xyz(rotation_deg),
            translation: [
                -tx * TRANSLATION_SCALE,
                ty * TRANSLATION_SCALE,
                -tz * TRANSLATION_SCALE,
            ],
        }
    }
}

/// A coordinate axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CameraAxis {
    /// x, to the right.
    X,
    /// y, in DD's points downwards (row index grows with y).
    Y,
    /// z, the depth.
    Z,
}

/// pytorch3d's `_axis_angle_rotation`: rotation by `angle` radians about `axis`.
pub fn axis_rotation(axis: CameraAxis, angle: f64) -> Mat3 {
    let (s, c) = angle.sin_cos();
    match axis {
        CameraAxis::X => [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]],
        CameraAxis::Y => [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]],
        CameraAxis::Z => [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]],
    }
}

/// `euler_angles_to_matrix(radians(deg), "XYZ")` = `Rx · Ry · Rz`.
pub fn euler_xyz(deg: [f64; 3]) -> Mat3 {
    let [x, y, z] = deg;
    let rx = axis_rotation(CameraAxis::X, x.to_radians());
    let ry = axis_rotation(CameraAxis::Y, y.to_radians());
    let rz = axis_rotation(CameraAxis::Z, z.to_radians());
    mul3(&mul3(&rx, &ry), &rz)
}

fn mul3(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

/// pytorch3d's `FoVPerspectiveCameras` as DD builds them: aspect ratio 1, fov in degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    /// `znear` (DD's `near_plane`, 200).
    pub near: f64,
    /// `zfar` (DD's `far_plane`, 10000).
    pub far: f64,
    /// Vertical (= horizontal) field of view in degrees (DD's `fov`, 40).
    pub fov_deg: f64,
}

impl Default for Camera {
    /// DD's defaults (dd-algorithm.md §2.4).
    fn default() -> Self {
        Camera {
            near: 200.0,
            far: 10000.0,
            fov_deg: 40.0,
        }
    }
}

impl Camera {
    /// `compute_projection_matrix` in column-vector form `K` (pytorch3d stores `Kᵀ`).
    pub fn projection(&self) -> Mat4 {
        let (near, far, aspect) = (self.near, self.far, 1.0);
        let tan_half_fov = (self.fov_deg.to_radians() / 2.0).tan();
        let max_y = tan_half_fov * near;
        let min_y = -max_y;
        let max_x = max_y * aspect;
        let min_x = -max_x;
        let mut k = [[0.0; 4]; 4];
        k[0][0] = 2.0 * near / (max_x - min_x);
        k[1][1] = 2.0 * near / (max_y - min_y);
        k[0][2] = (max_x + min_x) / (max_x - min_x);
        k[1][2] = (max_y + min_y) / (max_y - min_y);
        k[3][2] = 1.0;
        k[2][2] = far / (far - near);
        k[2][3] = -(far * near) / (far - near);
        k
    }
}

/// `transform_points` of one world point through the pose and `K`: NDC `(x, y, z)`.
/// A point at view depth 0 divides by zero (non-finite result), as in pytorch3d.
pub fn project(k: &Mat4, pose: &Pose, p: [f64; 3]) -> [f64; 3] {
    let (r, t) = (&pose.rotation, &pose.translation);
    let view: [f64; 3] =
        std::array::from_fn(|j| p[0] * r[0][j] + p[1] * r[1][j] + p[2] * r[2][j] + t[j]);
    let clip: [f64; 4] = std::array::from_fn(|i| {
        k[i][0] * view[0] + k[i][1] * view[1] + k[i][2] * view[2] + k[i][3]
    });
    [clip[0] / clip[3], clip[1] / clip[3], clip[2] / clip[3]]
}

/// `torch.linspace(start, end, n)`: each half counted from its own end, a single step is `start`.
pub fn linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f64;
    (0..n)
        .map(|i| {
            if i < n / 2 {
                start + step * i as f64
            } else {
                end - step * (n - 1 - i) as f64
            }
        })
        .collect()
}

/// The pixel centres of `affine_grid(identity, align_corners=False)` along one axis of `n`
/// pixels: `linspace(−1, 1, n)·(n − 1)/n`, so pixel `i` sits at `(2i + 1)/n − 1`.
pub fn pixel_centres(n: usize) -> Vec<f64> {
    let scale = n.saturating_sub(1) as f64;
    linspace(-1.0, 1.0, n)
        .into_iter()
        .map(|v| v * scale / n as f64)
        .collect()
}

/// DD's sampling grid for a depth map `depth: [H, W]`, as `[H, W, 2]` with last axis `(x, y)`
/// in grid_sample's normalised coordinates: the identity grid minus each point's screen
/// offset between the identity camera and `pose`. The points are
/// `(linspace(−1, 1, W)[j], linspace(−1, 1, H)[i], depth[i, j])`.
pub fn sampling_grid(depth: ArrayView2<f32>, pose: &Pose, camera: &Camera) -> Array3<f64> {
    let (h, w) = depth.dim();
    let k = camera.projection();
    let (xs, ys) = (linspace(-1.0, 1.0, w), linspace(-1.0, 1.0, h));
    let (gx, gy) = (pixel_centres(w), pixel_centres(h));
    let mut grid = Array3::<f64>::zeros((h, w, 2));
    for ((i, j), &z) in depth.indexed_iter() {
        let p = [xs[j], ys[i], f64::from(z)];
        let old = project(&k, &Pose::IDENTITY, p);
        let new = project(&k, pose, p);
        grid[[i, j, 0]] = gx[j] - (new[0] - old[0]);
        grid[[i, j, 1]] = gy[i] - (new[1] - old[1]);
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[track_caller]
    fn assert_mat_close(a: &Mat3, b: &Mat3) {
        for i in 0..3 {
            for j in 0..3 {
                assert!((a[i][j] - b[i][j]).abs() < 1e-15, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn quarter_turns_about_each_axis() {
        // pytorch3d's axis matrices at c = 0, s = 1
        let x = [[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]];
        let y = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]];
        let z = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
        assert_mat_close(&euler_xyz([90.0, 0.0, 0.0]), &x);
        assert_mat_close(&euler_xyz([0.0, 90.0, 0.0]), &y);
        assert_mat_close(&euler_xyz([0.0, 0.0, 90.0]), &z);
    }

    #[test]
    fn euler_xyz_multiplies_x_then_y_then_z() {
        // Rx(90)·Ry(90): rows [1,0,0]·Ry, [0,0,−1]·Ry, [0,1,0]·Ry; Ry·Rx would give [[0,1,0],…]
        let want = [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        assert_mat_close(&euler_xyz([90.0, 90.0, 0.0]), &want);
    }

    #[test]
    fn dd_pose_scales_and_flips_translation() {
        // T = (−tx, ty, −tz)/200
        let pose = Pose::dd([10.0, -6.0, 4.0], [0.0; 3]);
        assert_eq!(pose.translation, [-0.05, -0.03, -0.02]);
        assert_mat_close(&pose.rotation, &Pose::IDENTITY.rotation);
    }

    #[test]
    fn optical_axis_projects_to_centre_and_depth_maps_near_far_to_0_1() {
        let cam = Camera::default();
        let k = cam.projection();
        // K₀₀ = 2n/(2n·tan 20°) = 1/tan 20°
        assert!((k[0][0] - 1.0 / 20f64.to_radians().tan()).abs() < 1e-12);
        for (z, ndc_z) in [(200.0, 0.0), (10000.0, 1.0)] {
            let p = project(&k, &Pose::IDENTITY, [0.0, 0.0, z]);
            assert_eq!([p[0], p[1]], [0.0, 0.0]);
            assert!((p[2] - ndc_z).abs() < 1e-12, "z {z}: {p:?}");
        }
        // off axis: x_ndc = x/(tan(fov/2)·z); at fov 90°, (1, −2, 4) → (0.25, −0.5)
        let k90 = Camera {
            fov_deg: 90.0,
            ..cam
        }
        .projection();
        let p = project(&k90, &Pose::IDENTITY, [1.0, -2.0, 4.0]);
        assert!((p[0] - 0.25).abs() < 1e-15 && (p[1] + 0.5).abs() < 1e-15);
    }

    #[test]
    fn identity_pose_gives_the_identity_grid() {
        let depth = Array2::from_shape_fn((3, 4), |(i, j)| 1.0 + 0.1 * (i * 4 + j) as f32);
        let grid = sampling_grid(depth.view(), &Pose::IDENTITY, &Camera::default());
        for ((i, j), _) in depth.indexed_iter() {
            // pixel centres (2i + 1)/n − 1
            let (x, y) = (
                (2 * j + 1) as f64 / 4.0 - 1.0,
                (2 * i + 1) as f64 / 3.0 - 1.0,
            );
            assert!((grid[[i, j, 0]] - x).abs() < 1e-15);
            assert!((grid[[i, j, 1]] - y).abs() < 1e-15);
        }
    }

    #[test]
    fn near_and_far_do_not_move_the_grid() {
        let depth = Array2::from_shape_fn((5, 6), |(i, j)| 1.2 + 0.05 * (i + 2 * j) as f32);
        let pose = Pose::dd([7.0, -3.0, 12.0], [2.0, -1.0, 5.0]);
        let a = sampling_grid(depth.view(), &pose, &Camera::default());
        let other = Camera {
            near: 0.5,
            far: 3.0,
            ..Camera::default()
        };
        let b = sampling_grid(depth.view(), &pose, &other);
        assert!(a.iter().zip(&b).all(|(a, b)| (a - b).abs() < 1e-12));
        // ... while the field of view does
        let wide = Camera {
            fov_deg: 70.0,
            ..Camera::default()
        };
        let c = sampling_grid(depth.view(), &pose, &wide);
        assert!(a.iter().zip(&c).any(|(a, c)| (a - c).abs() > 1e-3));
    }

    #[test]
    fn linspace_matches_torch_at_the_edges() {
        assert_eq!(linspace(-1.0, 1.0, 1), vec![-1.0]);
        assert_eq!(linspace(-1.0, 1.0, 2), vec![-1.0, 1.0]);
        assert_eq!(linspace(-1.0, 1.0, 5), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        // one pixel: affine_grid's −1·0/1 = centre 0
        assert_eq!(pixel_centres(1), vec![0.0]);
    }
}
