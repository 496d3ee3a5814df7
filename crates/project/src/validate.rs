//! Checks across settings and against DD's limits: impossible values are errors, values
//! outside the documented ranges of parameters.md are warnings.

use super::diagnostic::{Diagnostic, Diagnostics};
use super::model::Target;
use super::schema::{SCHEMA, SettingInfo, Settings};
use super::source::Origin;
use super::types::{CutSchedule, Prompts, ScheduleKind, fmt_number};

/// |Σ weights| below this is an error (DD raises "The weights must not sum to 0", §3.3).
pub const MIN_WEIGHT_SUM: f64 = 1e-3;

/// Validates a target, and each of its sweep cells.
pub fn target(t: &Target, diags: &mut Diagnostics) {
    let fallback = t.name.origin.clone();
    let mut own = Diagnostics::default();
    settings(&t.settings, fallback.as_ref(), &mut own);
    skip_steps_against_steps(t, &t.settings, &mut own);
    if let Some(sweep) = &t.sweep {
        // Report only what a cell's values add: the target's own problems are reported once.
        let key = |d: &Diagnostic| (d.message.clone(), d.location());
        let known: std::collections::HashSet<_> = own.0.iter().map(key).collect();
        for cell in &sweep.cells {
            let mut mine = Diagnostics::default();
            settings(&cell.settings, fallback.as_ref(), &mut mine);
            skip_steps_against_steps(t, &cell.settings, &mut mine);
            for mut d in mine.0.into_iter().filter(|d| !known.contains(&key(d))) {
                d.message = format!("{} (in sweep cell `{}`)", d.message, cell.name);
                diags.push(d);
            }
        }
    }
    diags.0.extend(own.0);
}

/// The origin to blame for setting `name`: where it was written, else the target.
pub(super) fn blame(s: &Settings, name: &str, fallback: Option<&Origin>) -> Option<Origin> {
    s.origin(name).or(fallback).cloned()
}

pub(super) fn push(
    diags: &mut Diagnostics,
    origin: Option<Origin>,
    error: bool,
    message: String,
    label: &str,
    help: Option<String>,
) {
    let d = match origin {
        Some(o) if error => Diagnostic::error(message, &o, label),
        Some(o) => Diagnostic::warning(message, &o, label),
        None => {
            let mut d = Diagnostic::bare(message);
            if !error {
                d.severity = miette::Severity::Warning;
            }
            d
        }
    };
    diags.push(match help {
        Some(h) => d.with_help(h),
        None => d,
    });
}

/// Validates one set of resolved settings.
pub fn settings(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    ranges(s, fallback, diags);
    steps(s, fallback, diags);
    size(s, fallback, diags);
    schedules(s, fallback, diags);
    prompt_weights(s, fallback, diags);
    guidance_inputs(s, fallback, diags);
    super::degenerate::check(s, fallback, diags);
    super::validate3d::settings(s, fallback, diags);
    super::video_input::check(s, fallback, diags);
    let name = &s.batch_name.value;
    if name.is_empty() || name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
        push(
            diags,
            blame(s, "batch-name", fallback),
            true,
            format!("`{name}` cannot be a folder name under images_out/"),
            "not a plain folder name",
            Some("use a name without `/` or `\\`".into()),
        );
    }
    if s.resume_run.value {
        push(diags, blame(s, "resume-run", fallback), false, "`resume-run` has no effect in disco".into(), "can be removed",
            Some("disco resumes interrupted builds by itself: finished frames are kept and a frame in progress continues from its last checkpoint".into()));
    }
}

fn ranges(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    for info in SCHEMA.iter() {
        let Some((xs, origin)) = s.numbers(info.name) else {
            continue;
        };
        let origin = origin.or(fallback).cloned();
        // Keyframed settings: the first value past a limit (each key is checked).
        let Some(x) = xs.iter().copied().find(|&x| outside(info, x)) else {
            continue;
        };
        let shown = fmt_number(x);
        if let Some(min) = info.min.filter(|m| x < *m) {
            push(
                diags,
                origin,
                true,
                format!(
                    "`{}` must be at least {}, found {shown}",
                    info.name,
                    fmt_number(min)
                ),
                "too small",
                None,
            );
        } else if let Some(above) = info.above.filter(|m| x <= *m) {
            push(
                diags,
                origin,
                true,
                format!(
                    "`{}` must be greater than {}, found {shown}",
                    info.name,
                    fmt_number(above)
                ),
                "too small",
                None,
            );
        } else if let Some(max) = info.max.filter(|m| x > *m) {
            push(
                diags,
                origin,
                true,
                format!(
                    "`{}` must be at most {}, found {shown}",
                    info.name,
                    fmt_number(max)
                ),
                "too large",
                None,
            );
        } else if let Some((lo, hi)) = info.advised.filter(|(lo, hi)| x < *lo || x > *hi) {
            push(
                diags,
                origin,
                false,
                format!(
                    "`{}` = {shown} is outside the documented range {}–{}",
                    info.name,
                    fmt_number(lo),
                    fmt_number(hi)
                ),
                "outside the usual range",
                (info.name == "eta").then(|| {
                    "η above 1 can make the DDIM variance negative and the image NaN".to_owned()
                }),
            );
        }
    }
}

/// The most steps `frames-skip-steps` skips on any frame (each key is checked).
fn most_skipped(s: &Settings) -> u32 {
    let steps = s.steps.value;
    let values = s.frames_skip_steps.value.values();
    values
        .iter()
        .map(|p| p.of_steps(steps))
        .max()
        .unwrap_or_default()
}

/// Whether `x` is past any limit or the advised range of `info`.
fn outside(info: &SettingInfo, x: f64) -> bool {
    info.min.is_some_and(|m| x < m)
        || info.above.is_some_and(|m| x <= m)
        || info.max.is_some_and(|m| x > m)
        || info.advised.is_some_and(|(lo, hi)| x < lo || x > hi)
}

fn steps(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    let steps = s.steps.value;
    // skip-steps against steps: skip_steps_against_steps, which names the target
    if s.animation_mode.value != super::types::AnimationMode::None {
        let calc = most_skipped(s);
        if calc >= steps {
            push(
                diags,
                blame(s, "frames-skip-steps", fallback),
                true,
                format!(
                    "`frames-skip-steps` skips {calc} of {steps} steps for frames after the first"
                ),
                "skips every step",
                Some("use a percentage below 100%".into()),
            );
        }
    }
    let (respacing, d) = Settings::derived_respacing(steps);
    if s.timestep_respacing.origin.is_some() && s.timestep_respacing.value != respacing {
        push(
            diags,
            blame(s, "timestep-respacing", fallback),
            true,
            format!(
                "`timestep-respacing` is derived from `steps`: it must be \"{respacing}\", found \"{}\"",
                s.timestep_respacing.value
            ),
            "disagrees with steps",
            Some("remove it; disco derives it as DD does".into()),
        );
    }
    if s.diffusion_steps.origin.is_some() && s.diffusion_steps.value != d {
        push(
            diags,
            blame(s, "diffusion-steps", fallback),
            true,
            format!(
                "`diffusion-steps` is derived from `steps`: it must be {d}, found {}",
                s.diffusion_steps.value
            ),
            "disagrees with steps",
            Some("remove it; disco derives it as DD does".into()),
        );
    }
}

fn size(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    let wh = s.width_height.value;
    let (w, h) = wh.floored();
    let origin = blame(s, "width-height", fallback);
    if w == 0 || h == 0 {
        push(
            diags,
            origin,
            true,
            format!(
                "{}×{} is smaller than 64 pixels on a side",
                wh.width, wh.height
            ),
            "too small",
            Some("each side is floored to a multiple of 64, so it must be at least 64".into()),
        );
    } else if (w, h) != (wh.width, wh.height) {
        push(
            diags,
            origin,
            false,
            format!(
                "{}×{} is not a multiple of 64: the image will be {w}×{h}",
                wh.width, wh.height
            ),
            "rounded down to multiples of 64",
            Some(format!("write `width-height {w} {h}` to say what you get")),
        );
    }
}

fn schedules(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    let all: [(&str, &CutSchedule, ScheduleKind); 4] = [
        ("cut-overview", &s.cut_overview.value, ScheduleKind::Count),
        ("cut-innercut", &s.cut_innercut.value, ScheduleKind::Count),
        ("cut-ic-pow", &s.cut_ic_pow.value, ScheduleKind::Positive),
        (
            "cut-icgray-p",
            &s.cut_icgray_p.value,
            ScheduleKind::Probability,
        ),
    ];
    let mut complete = true;
    for (name, sched, kind) in all {
        let origin = blame(s, name, fallback);
        let n = sched.values.len();
        if n < 1000 {
            complete = false;
            push(diags, origin, true, format!("`{name}` covers {n} of the 1000 schedule entries"), "too short",
                Some("a cut schedule needs 1000 entries, one per diffusion time; e.g. \"[12]*400+[4]*600\"".into()));
            continue;
        }
        if n > 1000 {
            push(
                diags,
                origin.clone(),
                false,
                format!("`{name}` has {n} entries; only the first 1000 are used"),
                "longer than 1000",
                None,
            );
        }
        if let Err((i, why)) = sched.check(kind) {
            push(
                diags,
                origin,
                true,
                format!(
                    "`{name}` entry {i} is {}: {why}",
                    fmt_number(sched.values[i])
                ),
                "invalid entry",
                None,
            );
        }
    }
    if complete
        && let Some(i) =
            (0..1000).find(|&i| s.cut_overview.value.at(i) + s.cut_innercut.value.at(i) == 0.0)
    {
        push(
            diags,
            blame(s, "cut-innercut", fallback).or_else(|| blame(s, "cut-overview", fallback)),
            true,
            format!(
                "at schedule entry {i} both `cut-overview` and `cut-innercut` are 0: no cuts to guide with"
            ),
            "no cuts",
            None,
        );
    }
}

/// DD normalises text and image prompt weights together, per frame (§3.3).
fn prompt_weights(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    let frames: std::collections::BTreeSet<u32> = s
        .text_prompts
        .value
        .0
        .keys()
        .chain(s.image_prompts.value.0.keys())
        .copied()
        .collect();
    let at = |p: &Prompts, f: u32| {
        p.at(f).map(|set| {
            (
                set.prompts.iter().map(|p| p.weight).sum::<f64>(),
                set.origin.clone(),
                set.prompts.len(),
            )
        })
    };
    for f in frames {
        let text = at(&s.text_prompts.value, f);
        let image = at(&s.image_prompts.value, f);
        let count = text.as_ref().map_or(0, |t| t.2) + image.as_ref().map_or(0, |t| t.2);
        if count == 0 {
            continue;
        }
        let sum = text.as_ref().map_or(0.0, |t| t.0) + image.as_ref().map_or(0.0, |t| t.0);
        if !sum.is_finite() {
            // Each weight is finite, but their sum overflows: every normalised weight would be NaN.
            let origin = text
                .and_then(|t| t.1)
                .or_else(|| image.and_then(|t| t.1))
                .or_else(|| fallback.cloned());
            push(diags, origin, true, format!("the prompt weights at frame {f} sum to {sum}"), "weights overflow",
                Some("weights are divided by their sum, which must be a finite number; use smaller weights (only their ratios matter)".into()));
        } else if sum.abs() < MIN_WEIGHT_SUM {
            let origin = text
                .and_then(|t| t.1)
                .or_else(|| image.and_then(|t| t.1))
                .or_else(|| fallback.cloned());
            push(diags, origin, true, format!("the prompt weights at frame {f} sum to {}", fmt_number(sum)), "weights sum to zero",
                Some("weights are divided by |their sum|, which must be at least 0.001; change one weight".into()));
        }
    }
}

/// CLIP guidance needs a CLIP model and something to guide toward (DD crashes on either).
fn guidance_inputs(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    if s.clip_guidance_scale
        .value
        .values()
        .iter()
        .all(|&x| x == 0.0)
    {
        return;
    }
    if s.clip_models().is_empty() {
        let origin = super::schema::CLIP_MODELS
            .iter()
            .find_map(|(n, _, _)| s.origin(n))
            .or(fallback)
            .cloned();
        push(diags, origin, true, "no CLIP model is enabled".into(), "CLIP models turned off here",
            Some("enable one (e.g. `clip-models \"ViT-B/32\"`), or set `clip-guidance-scale 0` for unguided images".into()));
    }
    for (name, prompts) in [
        ("text-prompts", &s.text_prompts),
        ("image-prompts", &s.image_prompts),
    ] {
        for (frame, set) in &prompts.value.0 {
            if set.prompts.is_empty() {
                let origin = set.origin.clone().or_else(|| blame(s, name, fallback));
                push(
                    diags,
                    origin,
                    true,
                    format!("the {name} set at frame {frame} is empty"),
                    "no prompts here",
                    Some("give it at least one prompt, or remove it".into()),
                );
            }
        }
    }
    if s.text_prompts.value.0.is_empty() && s.image_prompts.value.0.is_empty() {
        push(
            diags,
            blame(s, "text-prompts", fallback),
            true,
            "there are no prompts to guide toward".into(),
            "no prompts",
            Some(
                "add `text-prompts \"…\"`, or set `clip-guidance-scale 0` for unguided images"
                    .into(),
            ),
        );
    }
}

/// `skip-steps` must leave a step of `steps`. The two are often written in different
/// places (`skip-steps 25` at the top, `steps 20` in an animation): the error points at
/// both and names the target whose resolved settings clash.
fn skip_steps_against_steps(t: &Target, s: &Settings, diags: &mut Diagnostics) {
    let (skip, steps) = (s.skip_steps.value, s.steps.value);
    if skip < steps {
        return;
    }
    let target = &t.name.value;
    let (skip_at, steps_at) = (s.skip_steps.origin.as_ref(), s.steps.origin.as_ref());
    let message =
        format!("in `{target}`, `skip-steps` ({skip}) must be less than `steps` ({steps})");
    let mut help = "nothing would be left to render; lower skip-steps or raise steps".to_owned();
    let fallback = t.name.origin.as_ref();
    // An implicit target has no name to point at: then `steps`, written too low for the
    // default `skip-steps`, is the place to fix.
    let Some(primary) = skip_at.or(fallback).or(steps_at) else {
        push(diags, None, true, message, "", Some(help));
        return;
    };
    let label = if skip_at.is_some() {
        format!("skips {skip} steps")
    } else if fallback.is_some() {
        format!("uses the default `skip-steps {skip}`")
    } else {
        format!("leaves nothing after the default `skip-steps {skip}`")
    };
    let mut d = Diagnostic::error(message, primary, label);
    // the other half of the clash, when it is in the same file (miette draws one source)
    if let Some(o) = steps_at.or(fallback)
        && o.file.path == primary.file.path
        && o.span != primary.span
    {
        let label = match steps_at {
            Some(_) => format!("`steps {steps}` for `{target}`"),
            None => format!("`{target}` has the default `steps {steps}`"),
        };
        d = d.with_secondary(o.span, label);
    } else if let Some(o) = steps_at.filter(|o| o.span != primary.span) {
        // in another file: say where
        let (line, col) = o.file.line_col(o.span.offset());
        help += &format!(
            " (`steps {steps}` is written at {}:{line}:{col})",
            o.file.path.display()
        );
    }
    diags.push(d.with_help(help));
}
