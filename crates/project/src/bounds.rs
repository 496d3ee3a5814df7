//! Checks on the numbers `build` multiplies or allocates by, so that a value far past real
//! use is an error in `check` instead of a capacity overflow, an exhausted memory or a
//! skipped output in `build`: cuts per CLIP pass, pixels per image, images per project, and
//! intermediate saves past the last iteration. Limits are in `limits.rs`.

use super::diagnostic::{Diagnostic, Diagnostics};
use super::limits::{MAX_CUTS_PER_PASS, MAX_IMAGES, MAX_PIXELS};
use super::model::Target;
use super::schema::Settings;
use super::source::Origin;
use super::types::SCHEDULE_LEN;
use super::types::{AnimationMode, IntermediateSaves, fmt_number};

/// Checks each target (each sweep cell's settings too) and the project's image count.
pub fn check(targets: &[Target], diags: &mut Diagnostics) {
    let mut images: u64 = 0;
    for t in targets {
        let fallback = t.name.origin.as_ref();
        let cells: Vec<&Settings> = match &t.sweep {
            Some(sweep) => sweep.cells.iter().map(|c| &c.settings).collect(),
            None => vec![&t.settings],
        };
        for s in &cells {
            settings(s, fallback, diags);
        }
        // Each cell renders the images its own settings say.
        let target_images = cells
            .iter()
            .fold(0u64, |n, s| n.saturating_add(image_count(s)));
        images = images.saturating_add(target_images);
        if images > MAX_IMAGES {
            let s = &t.settings;
            let count_origin = if t.is_animation() {
                s.max_frames.origin.as_ref()
            } else {
                s.n_batches.origin.as_ref()
            };
            diags.push(error(
                format!(
                    "the project renders more than {MAX_IMAGES} images (this target: {target_images})"
                ),
                count_origin.or(fallback),
                "too many images",
                "lower `n-batches` or `max-frames`, or sweep fewer values",
            ));
            return;
        }
    }
}

/// Stills of a batch, or frames of an animation.
fn image_count(s: &Settings) -> u64 {
    if s.animation_mode.value == AnimationMode::None {
        u64::from(s.n_batches.value)
    } else {
        u64::from(s.max_frames.value)
    }
}

fn settings(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    cuts(s, fallback, diags);
    pixels(s, fallback, diags);
    saves(s, fallback, diags);
}

/// Cuts of one pass are one CLIP batch: a count like 1e30 overflowed its capacity.
fn cuts(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    let (o, i) = (&s.cut_overview.value.values, &s.cut_innercut.value.values);
    let n = SCHEDULE_LEN.min(o.len()).min(i.len());
    let too_many = |k: usize| {
        let cuts = o[k] + i[k];
        cuts.is_nan() || cuts > MAX_CUTS_PER_PASS
    };
    if let Some(k) = (0..n).find(|&k| too_many(k)) {
        let origin = if o[k] >= i[k] {
            s.cut_overview.origin.as_ref()
        } else {
            s.cut_innercut.origin.as_ref()
        };
        diags.push(error(
            format!(
                "at schedule entry {k}, `cut-overview` + `cut-innercut` = {} cuts; one pass takes at most {}",
                fmt_number(o[k] + i[k]),
                fmt_number(MAX_CUTS_PER_PASS)
            ),
            origin.or(fallback),
            "too many cuts",
            "use `cutn-batches` for more cuts per step: each batch is a separate pass",
        ));
    }
}

fn pixels(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    let (w, h) = s.width_height.value.floored();
    let px = u64::from(w) * u64::from(h);
    if px > MAX_PIXELS {
        diags.push(error(
            format!("{w}×{h} is {px} pixels; an image may have at most {MAX_PIXELS}"),
            s.width_height.origin.as_ref().or(fallback),
            "too large",
            "render smaller (e.g. 4096×4096 at most) and upscale afterwards",
        ));
    }
}

/// A listed save past the last iteration is never written (render/saves.rs: iterations
/// run 0..=steps − skip − 1).
fn saves(s: &Settings, fallback: Option<&Origin>, diags: &mut Diagnostics) {
    let IntermediateSaves::At(at) = &s.intermediate_saves.value else {
        return;
    };
    let steps = s.steps.value;
    let last_of = |skip: u32| steps.saturating_sub(skip.saturating_add(1));
    let mut last = last_of(s.skip_steps.value);
    if s.animation_mode.value != AnimationMode::None {
        // keyframed: the frame that skips least runs longest
        let fewest = s
            .frames_skip_steps
            .value
            .values()
            .iter()
            .map(|p| p.of_steps(steps))
            .min();
        last = last.max(last_of(fewest.unwrap_or_default()));
    }
    if let Some(&j) = at.iter().find(|&&j| j > last as usize) {
        diags.push(error(
            format!(
                "intermediate save at iteration {j} is past the last iteration ({last} = steps {steps} − skipped steps − 1)"
            ),
            s.intermediate_saves.origin.as_ref().or(fallback),
            "never reached",
            format!("list iterations from 0 to {last}, or use a count (`intermediate-saves 4`)").as_str(),
        ));
    }
}

fn error(message: String, origin: Option<&Origin>, label: &str, help: &str) -> Diagnostic {
    match origin {
        Some(o) => Diagnostic::error(message, o, label),
        None => Diagnostic::bare(message),
    }
    .with_help(help)
}
