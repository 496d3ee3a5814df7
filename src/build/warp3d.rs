//! A 3D frame's init (dd-algorithm.md §10.4): the previous frame's final image, its depth
//! from the depth graphs ([`DepthSessions`]), and DD's `transform_image_3d` with the frame's
//! pose; the result is 8-bit, as DD hands the warped PIL image on.

use ndarray::Array3;

use crate::anim::warp3d::{Camera, Padding, Pose, Sampling, transform_image_3d};
use crate::plan::Warp3d;
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
    // [H, W, 3] u8 → [3, H, W] in [0, 1], as DD's `TF.to_tensor`
    let image = prev
        .view()
        .permuted_axes([2, 0, 1])
        .mapv(|v| f32::from(v) / 255.0);
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
    // DD's `ToPILImage` truncates (`mul(255).byte()`); the kernel's shift of about half a
    // level makes that a rounding
    let out = out.mapv(|v| (v * 255.0) as u8);
    Ok(out
        .view()
        .permuted_axes([1, 2, 0])
        .as_standard_layout()
        .into_owned())
}

fn mode(e: impl std::fmt::Display) -> Warp3dError {
    Warp3dError::Mode(e.to_string())
}
