//! Checks of DD's 3D settings (dd-algorithm.md §10.4): the camera's limits, and 3D-only
//! settings written where they cannot act.

use super::diagnostic::Diagnostics;
use super::schema::Settings;
use super::source::Origin;
use super::types::{AnimationMode, Keyframes, fmt_number};
use super::validate::{blame, push};

/// Settings that act only in 3D animation mode (DD reads them only there).
pub const THREE_D_ONLY: &[&str] = &[
    "translation-z",
    "rotation-3d-x",
    "rotation-3d-y",
    "rotation-3d-z",
    "midas-depth-model",
    "midas-weight",
    "near-plane",
    "far-plane",
    "fov",
    "padding-mode",
    "sampling-mode",
    "turbo-mode",
    "turbo-steps",
    "turbo-preroll",
    "vr-mode",
    "vr-eye-angle",
    "vr-ipd",
];

/// The keyframed settings of the 3D camera, for the checks of every frame's motion.
pub(crate) fn motion_series(s: &Settings) -> [(&'static str, &Keyframes); 4] {
    [
        ("translation-z", &s.translation_z.value),
        ("rotation-3d-x", &s.rotation_3d_x.value),
        ("rotation-3d-y", &s.rotation_3d_y.value),
        ("rotation-3d-z", &s.rotation_3d_z.value),
    ]
}

/// Validates the 3D settings of one set of resolved settings.
pub fn settings(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    camera(s, fallback, diags);
    if s.animation_mode.value != AnimationMode::ThreeD {
        for name in THREE_D_ONLY {
            if let Some(o) = s.origin(name) {
                push(
                    diags,
                    Some(o.clone()),
                    false,
                    format!("`{name}` has no effect: the target is not a 3D animation"),
                    "acts in 3D only",
                    Some("set `animation-mode \"3D\"`, or remove it".into()),
                );
            }
        }
    }
}

/// pytorch3d's perspective camera needs `tan(fov/2)` finite and positive; near and far
/// only shape the depth coordinate DD drops, so their order is a warning.
fn camera(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    let fov = s.fov.value;
    if fov >= 180.0 {
        push(
            diags,
            blame(s, "fov", fallback),
            true,
            format!(
                "`fov` = {} degrees: a camera's field of view must be below 180",
                fmt_number(fov)
            ),
            "180 degrees or more",
            Some("DD's default is 40; 60–90 gives strong parallax".into()),
        );
    }
    let (near, far) = (s.near_plane.value, s.far_plane.value);
    if far <= near {
        push(
            diags,
            blame(s, "far-plane", fallback),
            false,
            format!(
                "`far-plane` ({}) is not beyond `near-plane` ({})",
                fmt_number(far),
                fmt_number(near)
            ),
            "not beyond the near plane",
            Some("DD's defaults are 200 and 10000; neither changes the picture".into()),
        );
    }
}
