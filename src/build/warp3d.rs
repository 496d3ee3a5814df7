//! A 3D frame's init (dd-algorithm.md §10.4): the previous frame's final image, its depth
//! from the depth graphs ([`DepthSessions`]), and DD's `transform_image_3d` with the frame's
//! pose; the result is 8-bit, as DD hands the warped PIL image on. A VR eye view
//! ([`eye_view_image`]) is the same path with the eye's pose and the spherical transform.

use ndarray::Array3;

use crate::anim::warp3d::{
    Camera, Padding, Pose, Sampling, eye_pose, transform_image_3d, transform_image_3d_spherical,
};
use crate::plan::{EyeInputs, Warp3d};
use crate::render::depth::DepthSessions;
use crate::render::session::SessionError;

/// Why a 3D init could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Warp3dError {
    /// A depth graph failed.
    #[error("depth: {0}")]
    Depth(#[from] SessionError),
    /// A recorded mode is no mode the kernel knows (a damaged plan).
    #[error("3D warp: {0}")]
    Mode(String),
}

/// `prev` (`[H, W, 3]`) warped into the next frame's init by `w`; `near`/`far` are the
/// target's planes (they change no pixel, so they are not keyed).
pub fn warp3d_init(
    prev: &Array3<u8>,
    w: &Warp3d,
    (near, far): (f64, f64),
    depth: &mut DepthSessions,
) -> Result<Array3<u8>, Warp3dError> {
    let sampling: Sampling = w.sampling_mode.parse().map_err(mode)?;
    let padding: Padding = w.padding_mode.parse().map_err(mode)?;
    let image = to_tensor(prev);
    let map = depth.depth(image.view(), w.midas_weight)?;
    let pose = Pose::dd(
        [w.translation_x, w.translation_y, w.translation_z],
        [w.rotation_3d_x, w.rotation_3d_y, w.rotation_3d_z],
    );
    let camera = Camera {
        near,
        far,
        fov_deg: w.fov,
    };
    let out = transform_image_3d(image.view(), map.view(), &pose, &camera, sampling, padding);
    Ok(to_pil(&out))
}

/// Frame `frame` (`[H, W, 3]`, its saved image) seen from the eye of `e`
/// (`generate_eye_views`): depth of the frame as for the 3D init, then the spherical
/// transform with the eye's pose; `near`/`far` as for [`warp3d_init`].
pub fn eye_view_image(
    frame: &Array3<u8>,
    e: &EyeInputs,
    (near, far): (f64, f64),
    depth: &mut DepthSessions,
) -> Result<Array3<u8>, Warp3dError> {
    let sampling: Sampling = e.sampling_mode.parse().map_err(mode)?;
    let padding: Padding = e.padding_mode.parse().map_err(mode)?;
    let eye = e
        .eye()
        .ok_or_else(|| Warp3dError::Mode(format!("unknown eye {:?}", e.eye)))?;
    let image = to_tensor(frame);
    let map = depth.depth(image.view(), e.midas_weight)?;
    let pose = eye_pose(eye, e.vr_eye_angle, e.vr_ipd);
    let camera = Camera {
        near,
        far,
        fov_deg: e.fov,
    };
    let out =
        transform_image_3d_spherical(image.view(), map.view(), &pose, &camera, sampling, padding);
    Ok(to_pil(&out))
}

/// `[H, W, 3]` u8 → `[3, H, W]` in [0, 1], as DD's `TF.to_tensor`.
fn to_tensor(image: &Array3<u8>) -> Array3<f32> {
    image
        .view()
        .permuted_axes([2, 0, 1])
        .mapv(|v| f32::from(v) / 255.0)
}

/// `[3, H, W]` in [0, 1] → `[H, W, 3]` u8. DD's `ToPILImage` truncates (`mul(255).byte()`);
/// the kernel's shift of about half a level makes that a rounding.
fn to_pil(out: &Array3<f32>) -> Array3<u8> {
    out.mapv(|v| (v * 255.0) as u8)
        .view()
        .permuted_axes([1, 2, 0])
        .as_standard_layout()
        .into_owned()
}

fn mode(e: impl std::fmt::Display) -> Warp3dError {
    Warp3dError::Mode(e.to_string())
}
