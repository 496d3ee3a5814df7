//! Checks of a Video Input target (dd-algorithm.md §2.4, §10.5, §13): its video is named,
//! its own step counts leave steps to run, and where disco departs from DD — DD reads the
//! global `clip_guidance_scale`, `tv_scale`, `sat_scale`, `cutn_batches` (as the divisor) and
//! `frames_skip_steps` where its `video_init_*` overrides are meant, and disco applies the
//! overrides as their names say — a warning names each value that differs from DD's.

use super::diagnostic::Diagnostics;
use super::schema::Settings;
use super::source::Origin;
use super::types::{AnimationMode, VideoBlendMode, fmt_number};
use super::validate::{blame, push};

/// The settings that act only in Video Input mode (DD names: the same in snake case).
pub const SETTINGS: &[&str] = &[
    "video-init-path",
    "extract-nth-frame",
    "video-init-seed-continuity",
    "video-init-flow-warp",
    "video-init-flow-blend",
    "video-init-check-consistency",
    "video-init-blend-mode",
    "video-init-steps",
    "video-init-clip-guidance-scale",
    "video-init-tv-scale",
    "video-init-range-scale",
    "video-init-sat-scale",
    "video-init-cutn-batches",
    "video-init-skip-steps",
    "video-init-frames-scale",
    "video-init-frames-skip-steps",
];

/// Runs the Video Input checks on one set of resolved settings (for other modes, only that
/// `video-init-blend-mode` has no effect there).
pub(crate) fn check(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    if s.animation_mode.value != AnimationMode::VideoInput {
        blend_mode_elsewhere(s, diags);
        return;
    }
    if s.video_init_path.value.written.is_none() {
        push(
            diags,
            blame(s, "animation-mode", fallback),
            true,
            "a Video Input target needs `video-init-path`".into(),
            "Video Input set here",
            Some(
                "name the video to restyle, e.g. `video-init-path \"init.mp4\"` (DD's default)"
                    .into(),
            ),
        );
    }
    steps(s, fallback, diags);
    departures(s, fallback, diags);
    ignored(s, fallback, diags);
}

/// The first frame skips `video-init-skip-steps` and later frames `video-init-frames-skip-steps`
/// of `video-init-steps`: each must leave a step to run.
fn steps(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    let steps = s.video_init_steps.value;
    let skip = s.video_init_skip_steps.value;
    if skip >= steps {
        push(
            diags,
            blame(s, "video-init-skip-steps", fallback),
            true,
            format!(
                "`video-init-skip-steps` ({skip}) must be less than `video-init-steps` ({steps})"
            ),
            "skips every step",
            None,
        );
    }
    let later = s.video_init_frames_skip_steps.value.of_steps(steps);
    if later >= steps {
        push(
            diags,
            blame(s, "video-init-frames-skip-steps", fallback),
            true,
            format!(
                "`video-init-frames-skip-steps` skips {later} of {steps} steps for frames after the first"
            ),
            "skips every step",
            Some("use a percentage below 100%".into()),
        );
    }
}

/// One warning listing the values disco uses where DD would use another (§13 item 6).
fn departures(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    let mut differ = Vec::new();
    let mut scale = |name: &str, ours: f64, dd_name: &str, dd: f64| {
        if ours != dd {
            differ.push(format!(
                "`{name}` {} (DD uses `{dd_name}` {})",
                fmt_number(ours),
                fmt_number(dd)
            ));
        }
    };
    let v = s;
    scale(
        "video-init-clip-guidance-scale",
        v.video_init_clip_guidance_scale.value,
        "clip-guidance-scale",
        v.clip_guidance_scale.value.first(),
    );
    scale(
        "video-init-tv-scale",
        v.video_init_tv_scale.value,
        "tv-scale",
        v.tv_scale.value.first(),
    );
    scale(
        "video-init-sat-scale",
        v.video_init_sat_scale.value,
        "sat-scale",
        v.sat_scale.value.first(),
    );
    if v.video_init_cutn_batches.value != v.cutn_batches.value.first() {
        differ.push(format!(
            "`video-init-cutn-batches` {n} averaged over {n} (DD divides by `cutn-batches` {d})",
            n = v.video_init_cutn_batches.value,
            d = v.cutn_batches.value.first()
        ));
    }
    let ours = v
        .video_init_frames_skip_steps
        .value
        .of_steps(v.video_init_steps.value);
    let dd = v.frames_skip_steps.value.first().of_steps(v.steps.value);
    if ours != dd {
        differ.push(format!(
            "`video-init-frames-skip-steps` skips {ours} steps (DD skips {dd}, from `frames-skip-steps` of `steps`)"
        ));
    }
    if differ.is_empty() {
        return;
    }
    push(
        diags,
        blame(s, "animation-mode", fallback),
        false,
        format!(
            "Video Input: disco applies the `video-init-*` overrides DD ignores: {}",
            differ.join("; ")
        ),
        "frames differ from DD's",
        Some("to render as DD does, set each override to the value DD uses".into()),
    );
}

/// Settings written for a Video Input target that have no effect in it.
fn ignored(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    if s.max_frames.origin.is_some() {
        push(
            diags,
            blame(s, "max-frames", fallback),
            false,
            "`max-frames` has no effect in Video Input mode: the video's extracted frames set the count (as in DD)".into(),
            "ignored",
            Some("use `disco build --frames ..N` to render only the first frames".into()),
        );
    }
}

/// `video-init-blend-mode` written for a target that is not a Video Input animation: disco
/// blends only a Video Input target's video (DD's "linear" also blends a 2D or 3D video,
/// whose "Create video" cell does not check the mode; docs/project-format.md).
fn blend_mode_elsewhere(s: &Settings, diags: &mut Diagnostics) {
    let Some(o) = &s.video_init_blend_mode.origin else {
        return;
    };
    let dd = if s.video_init_blend_mode.value == VideoBlendMode::Linear
        && s.animation_mode.value != AnimationMode::None
    {
        " (DD's \"linear\" blends any animation's video; disco only a Video Input target's)"
    } else {
        ""
    };
    push(
        diags,
        Some(o.clone()),
        false,
        format!(
            "`video-init-blend-mode` has no effect: the target is not a Video Input animation{dd}"
        ),
        "acts in Video Input only",
        Some("set `animation-mode \"Video Input\"`, or remove it".into()),
    );
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn messages(text: &str) -> Vec<(bool, String)> {
        let r = crate::load_str(Path::new("disco.kdl"), text);
        r.diagnostics
            .0
            .iter()
            .map(|d| (d.severity == miette::Severity::Error, d.message.clone()))
            .collect()
    }

    #[test]
    fn the_list_names_every_video_input_setting_of_the_schema() {
        for info in crate::SCHEMA.iter() {
            let video = info.name.starts_with("video-init-") || info.name == "extract-nth-frame";
            assert_eq!(video, super::SETTINGS.contains(&info.name), "{}", info.name);
        }
        assert!(
            super::SETTINGS
                .iter()
                .all(|n| crate::schema::info(n).is_some())
        );
    }

    #[test]
    fn a_video_input_target_needs_a_video() {
        let m = messages("animation-mode \"Video Input\"\n");
        assert!(
            m.iter()
                .any(|(e, t)| *e && t.contains("needs `video-init-path`")),
            "{m:?}"
        );
        let m = messages("animation-mode \"Video Input\"\nvideo-init-path \"clip.mp4\"\n");
        assert!(!m.iter().any(|(e, _)| *e), "{m:?}");
    }

    #[test]
    fn the_overrides_must_leave_steps_to_run() {
        let m = messages(
            "animation-mode \"Video Input\"\nvideo-init-path \"a.mp4\"\nvideo-init-steps 40\nvideo-init-skip-steps 40\nvideo-init-frames-skip-steps \"100%\"\n",
        );
        let errors: Vec<_> = m
            .iter()
            .filter(|(e, _)| *e)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(errors.len(), 2, "{m:?}");
        assert!(errors[0].contains("`video-init-skip-steps` (40)"));
        assert!(errors[1].contains("skips 40 of 40"));
    }

    #[test]
    fn departures_from_dd_are_named_and_absent_when_the_values_agree() {
        let m = messages("animation-mode \"Video Input\"\nvideo-init-path \"a.mp4\"\n");
        let w = m
            .iter()
            .find(|(_, t)| t.contains("overrides DD ignores"))
            .expect("a warning");
        assert!(
            w.1.contains(
                "`video-init-clip-guidance-scale` 1000 (DD uses `clip-guidance-scale` 5000)"
            ),
            "{}",
            w.1
        );
        // DD's defaults: 70% of 100 = 70 steps skipped, DD's 60% of 250 = 150
        assert!(w.1.contains("skips 70 steps (DD skips 150"), "{}", w.1);
        let same = "animation-mode \"Video Input\"\nvideo-init-path \"a.mp4\"\nclip-guidance-scale 1000\ntv-scale 0.1\nsat-scale 300\nsteps 100\nframes-skip-steps \"70%\"\n";
        assert!(
            !messages(same)
                .iter()
                .any(|(_, t)| t.contains("overrides DD ignores"))
        );
    }

    #[test]
    fn max_frames_is_reported_unused_and_the_blend_mode_is_applied() {
        let m = messages(
            "animation-mode \"Video Input\"\nvideo-init-path \"a.mp4\"\nmax-frames 5\nvideo-init-blend-mode \"linear\"\n",
        );
        assert!(
            m.iter()
                .any(|(e, t)| !e && t.contains("`max-frames` has no effect")),
            "{m:?}"
        );
        assert!(!m.iter().any(|(_, t)| t.contains("blend")), "{m:?}");
    }

    #[test]
    fn the_blend_mode_outside_video_input_is_reported_unused() {
        let m = messages("animation-mode \"2D\"\nmax-frames 3\nvideo-init-blend-mode \"linear\"\n");
        let w: Vec<_> = m
            .iter()
            .filter(|(_, t)| t.contains("`video-init-blend-mode` has no effect"))
            .collect();
        assert_eq!(w.len(), 1, "{m:?}");
        assert!(!w[0].0, "a warning");
        assert!(
            w[0].1
                .contains("DD's \"linear\" blends any animation's video"),
            "{m:?}"
        );
        let m = messages("video-init-blend-mode \"optical flow\"\n");
        assert!(
            m.iter()
                .any(|(e, t)| !e && t.contains("`video-init-blend-mode` has no effect")),
            "{m:?}"
        );
        // not written: nothing to say (DD's default is "optical flow" in every mode)
        assert!(messages("animation-mode \"2D\"\nmax-frames 3\n").is_empty());
    }
}
