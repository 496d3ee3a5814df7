//! Settings that parse and pass their ranges one by one, yet would render garbage once DD's
//! arithmetic combines them: weights whose sum overflows, keyframes that interpolate to a
//! non-finite value (motion or keyframed numbers) or to a zero zoom (the warp collapses the frame to a point), a video
//! frame rate the encoder cannot hold, an init image that Perlin noise replaces.
//!
//! Where DD would accept the value and render nonsense, disco refuses it (an error); where
//! DD's result is well defined but surprising, disco warns.

use super::diagnostic::Diagnostics;
use super::schema::{SCHEMA, Settings};
use super::source::Origin;
use super::types::{
    AnimationMode, ChoiceSetting, Keyframes, fmt_number, is_keyframeable, parse_keyframes,
};
use super::validate::{blame, push};
use disco_kernels::anim::Series;
use serde_json::Value;

/// A |zoom| below this maps the whole frame onto less than a thousandth of its size: no
/// picture survives the warp (and exactly 0 makes DD's matrix singular).
pub const MIN_ABS_ZOOM: f64 = 1e-3;

/// Frame rates disco's encoder can hold: a whole number of frames per second.
pub const FPS_RANGE: (f64, f64) = (1.0, 1000.0);

/// Frames past this many are not scanned here (the loader bounds `max-frames` itself).
const MAX_SCANNED_FRAMES: u32 = 1_000_000;

/// Runs every check of this module on one set of resolved settings.
pub fn check(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    motion(s, fallback, diags);
    video_fps(s, fallback, diags);
    perlin_replaces_init_image(s, fallback, diags);
    keyframed_numbers(s, fallback, diags);
}

/// Keyframed numbers (`eta "0: (0.2), 10: (0.5)"`): stills read frame 0 only (a warning),
/// and an animation's interpolated values must stay finite (an error).
fn keyframed_numbers(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    let animation = s.animation_mode.value != AnimationMode::None;
    for info in SCHEMA.iter().filter(|i| is_keyframeable(i)) {
        let Some(Value::String(text)) = s.get_json(info.name) else {
            continue; // one value on every frame
        };
        let Ok(keys) = parse_keyframes(&text) else {
            continue;
        };
        let name = info.name;
        if !animation {
            let first = keys.iter().min_by_key(|k| k.0).map_or(0.0, |k| k.1);
            push(
                diags,
                blame(s, name, fallback),
                false,
                format!(
                    "`{name}` is keyframed, but stills render with frame 0's value ({})",
                    fmt_number(first)
                ),
                "keyframes past frame 0 are unused",
                Some("keyframes change a value over an animation's frames".into()),
            );
            continue;
        }
        if s.max_frames.value > MAX_SCANNED_FRAMES {
            continue;
        }
        let Ok(series) = Series::new(&keys, s.max_frames.value, s.interp_spline.value) else {
            continue;
        };
        if let Some(f) =
            (0..s.max_frames.value).find(|&f| series.get(f).is_some_and(|x| !x.is_finite()))
        {
            push(
                diags,
                blame(s, name, fallback),
                true,
                format!("`{name}` interpolates to a non-finite value at frame {f}"),
                "overflows between these keys",
                Some(format!(
                    "`interp-spline \"{}\"` interpolates between the keys; use keys whose differences are finite numbers",
                    s.interp_spline.value.name()
                )),
            );
        }
    }
}

/// Every frame's interpolated 2D motion is finite, and zoom never reaches 0.
fn motion(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    if s.animation_mode.value == AnimationMode::None || s.max_frames.value > MAX_SCANNED_FRAMES {
        return;
    }
    let frames = s.max_frames.value;
    let spline = s.interp_spline.value;
    let series: [(&str, &Keyframes); 4] = [
        ("angle", &s.angle.value),
        ("zoom", &s.zoom.value),
        ("translation-x", &s.translation_x.value),
        ("translation-y", &s.translation_y.value),
    ];
    for (name, keys) in series {
        let Ok(series) = Series::new(&keys.keys, frames, spline) else {
            continue; // no keys or no frames: reported where they are read
        };
        // Frame 0 is never warped; frames 1.. read their value from the series.
        let bad = (1..frames).find_map(|f| {
            let x = series.get(f)?;
            let how = format!("`interp-spline \"{}\"` interpolates between the keys", spline.name());
            if !x.is_finite() {
                let help = format!("{how}; use keys whose differences are finite numbers");
                Some((f, format!("`{name}` interpolates to {x} at frame {f}"), "overflows between these keys", help))
            } else if name == "zoom" && x.abs() < MIN_ABS_ZOOM {
                let help = format!("{how}; keep zoom away from 0 at every frame (1 = no zoom)");
                Some((f, format!("`zoom` reaches {} at frame {f}: the warp would shrink the previous frame to a point", fmt_number(x)), "zoom reaches 0 between these keys", help))
            } else {
                None
            }
        });
        if let Some((_, message, label, help)) = bad {
            push(
                diags,
                blame(s, name, fallback),
                true,
                message,
                label,
                Some(help),
            );
        }
    }
}

/// The encoder takes whole frames per second: below 1 or above 1000 is an error, a fraction
/// is rounded (DD hands ffmpeg the fraction), which is worth a warning.
fn video_fps(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    let fps = s.video_fps.value;
    let (lo, hi) = FPS_RANGE;
    if !(lo..=hi).contains(&fps) {
        push(
            diags,
            blame(s, "video-fps", fallback),
            true,
            format!(
                "`video-fps` must be between {} and {} frames per second, found {}",
                fmt_number(lo),
                fmt_number(hi),
                fmt_number(fps)
            ),
            "not a frame rate the video can hold",
            None,
        );
    } else if fps.fract() != 0.0 {
        push(
            diags,
            blame(s, "video-fps", fallback),
            false,
            format!(
                "`video-fps` {} is rounded to {} frames per second",
                fmt_number(fps),
                fps.round()
            ),
            "not a whole number",
            Some("disco's encoder takes whole frames per second".into()),
        );
    }
}

/// DD loads the init image, then replaces it with Perlin noise (dd-algorithm.md §9).
fn perlin_replaces_init_image(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    if !s.perlin_init.value || s.init_image.value.written.is_none() {
        return;
    }
    push(
        diags,
        blame(s, "init-image", fallback),
        false,
        "`init-image` is not used: `perlin-init` is on, and DD replaces the init image with Perlin noise".into(),
        "unused: Perlin noise replaces it",
        Some("set `perlin-init #false` to start from this image, or remove `init-image`".into()),
    );
}
