//! Does the model set hold the diffusion model the settings name, and, for `custom`, with
//! the architecture the project's `custom-model` block describes? Checked before planning
//! and by `disco check`, so a project never renders another model's pictures silently.

use std::path::Path;

use crate::project::types::{ChoiceSetting, DiffusionModel};
use crate::project::{Diagnostic, Origin, Settings};
use crate::render::manifest::{DiffusionModel as HeldModel, Manifest};

/// An error when the set at `dir` lacks the model `s` asks for, or holds a custom model of
/// that checkpoint with another architecture; `None` when it serves it.
pub fn diffusion_problem(m: &Manifest, dir: &Path, s: &Settings) -> Option<Diagnostic> {
    let wanted = s.diffusion_selector();
    if m.diffusion_family(&wanted).is_some() {
        let held = m.diffusion_models.get(&wanted)?;
        return custom_mismatch(held, s).map(|why| {
            at_model(
                s,
                format!(
                    "the model set {} holds `{wanted}` with another architecture: {why}",
                    dir.display()
                ),
                "asks for this architecture",
            )
            .with_help("write the `custom-model` block the checkpoint was trained with (its manifest entry lists it), or re-export the model")
        });
    }
    let have = m.diffusion_names();
    if have.is_empty() {
        return None; // a set without UNet graphs: planning names what is missing
    }
    let message = format!(
        "the model set {} holds the diffusion model{} {}, not `{wanted}`",
        dir.display(),
        if have.len() == 1 { "" } else { "s" },
        have.iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let help = match wanted.strip_prefix("custom:") {
        Some(file) => format!(
            "export it into the set: python -m disco_export --out {} --diffusion custom --checkpoint …/{file} with its architecture flags (docs/models.md)",
            dir.display()
        ),
        None => format!(
            "export it into the set: python -m disco_export --out {} --diffusion {wanted} --checkpoint … (docs/models.md){}",
            dir.display(),
            have.first()
                .map(|h| format!(", or write `diffusion-model \"{h}\"`"))
                .unwrap_or_default()
        ),
    };
    let d = at_model(s, message, "asks for this model");
    let d = match (&s.diffusion_model.origin, &s.model_set.origin) {
        (Some(o), Some(ms)) if ms.file.path == o.file.path => {
            d.with_secondary(ms.span, "holds another")
        }
        _ => d,
    };
    Some(d.with_help(help))
}

/// An error at `diffusion-model` (or the model set, or nowhere when both are defaults).
fn at_model(s: &Settings, message: String, label: &str) -> Diagnostic {
    let origin: Option<&Origin> = s
        .diffusion_model
        .origin
        .as_ref()
        .or(s.custom_path.origin.as_ref())
        .or(s.model_set.origin.as_ref());
    match origin {
        Some(o) => Diagnostic::error(message, o, label),
        None => Diagnostic::bare(message),
    }
}

/// guided-diffusion's `channel_mult` for `channel_mult=""` by image size.
fn default_mult(image_size: u32) -> Option<Vec<f64>> {
    Some(match image_size {
        512 => vec![0.5, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0],
        256 => vec![1.0, 1.0, 2.0, 2.0, 4.0, 4.0],
        128 => vec![1.0, 1.0, 2.0, 3.0, 4.0],
        64 => vec![1.0, 2.0, 3.0, 4.0],
        _ => return None,
    })
}

/// How the project's `custom-model` differs from the custom model the set holds (the
/// fields guided-diffusion builds the network from), or `None` (also for named models,
/// whose architecture is fixed by their name).
fn custom_mismatch(held: &HeldModel, s: &Settings) -> Option<String> {
    if s.diffusion_model.value != DiffusionModel::Custom {
        return None;
    }
    let size = s.custom_model_image_size.value;
    let mult = s.custom_model_channel_mult.value.values();
    let mult = match (mult.is_empty(), default_mult(size)) {
        (false, _) => mult,
        (true, Some(m)) => m,
        (true, None) => {
            return Some(format!(
                "channel-mult \"\" means guided-diffusion's default, which image-size {size} has none of (write the list)"
            ));
        }
    };
    let attention: Vec<u32> = s
        .custom_model_attention_resolutions
        .value
        .values()
        .iter()
        .filter(|r| **r >= 1.0)
        .map(|r| size / *r as u32)
        .collect();
    let diffs: Vec<String> = architecture_pairs(held, s, &mult, &attention)
        .into_iter()
        .filter_map(|(field, project, set)| {
            let set = set.filter(|set| *set != project)?;
            Some(format!("{field} {project} (the set: {set})"))
        })
        .collect();
    (!diffs.is_empty()).then(|| diffs.join(", "))
}

fn text<T: ToString>(v: Option<T>) -> Option<String> {
    v.map(|v| v.to_string())
}

/// (field, the project's value, the held model's value if its manifest records it) for
/// every field guided-diffusion builds the network from.
fn architecture_pairs(
    held: &HeldModel,
    s: &Settings,
    mult: &[f64],
    attention: &[u32],
) -> Vec<(&'static str, String, Option<String>)> {
    let head_channels = s.custom_model_num_head_channels.value as i64;
    let mut pairs = vec![
        (
            "image-size",
            s.custom_model_image_size.value.to_string(),
            text(held.image_size),
        ),
        (
            "num-channels",
            s.custom_model_num_channels.value.to_string(),
            text(held.num_channels),
        ),
        (
            "channel-mult",
            format!("{mult:?}"),
            held.channel_mult.as_ref().map(|v| format!("{v:?}")),
        ),
        (
            "num-res-blocks",
            s.custom_model_num_res_blocks.value.to_string(),
            text(held.num_res_blocks),
        ),
        (
            "attention-resolutions",
            format!("{attention:?} (as downsample factors)"),
            held.attention_ds
                .as_ref()
                .map(|v| format!("{v:?} (as downsample factors)")),
        ),
        (
            "num-head-channels",
            head_channels.to_string(),
            text(held.num_head_channels),
        ),
    ];
    // guided-diffusion reads the head counts only when no head width is given
    if head_channels == -1 {
        pairs.push((
            "num-heads",
            s.custom_model_num_heads.value.to_string(),
            text(held.num_heads),
        ));
        pairs.push((
            "num-heads-upsample",
            s.custom_model_num_heads_upsample.value.to_string(),
            text(held.num_heads_upsample),
        ));
    }
    pairs.extend([
        (
            "learn-sigma",
            s.custom_model_learn_sigma.value.to_string(),
            held.out_channels.map(|v| (v == 6).to_string()),
        ),
        (
            "resblock-updown",
            s.custom_model_resblock_updown.value.to_string(),
            text(held.resblock_updown),
        ),
        (
            "use-scale-shift-norm",
            s.custom_model_use_scale_shift_norm.value.to_string(),
            text(held.use_scale_shift_norm),
        ),
        (
            "use-new-attention-order",
            s.custom_model_use_new_attention_order.value.to_string(),
            text(held.use_new_attention_order),
        ),
    ]);
    pairs
}

/// One line per target (and sweep cell model) whose chosen diffusion model brings DD's
/// per-model defaults that the project does not override: the 256 models' output size and
/// the pixel-art / watercolor cut schedules (docs/models.md §3). `disco check` prints them.
pub fn model_default_notes(project: &crate::project::Project) -> Vec<String> {
    let mut out = Vec::new();
    for (t, s) in super::needs::resolved_settings(project, &[]) {
        let model = s.diffusion_model.value;
        let mut parts = Vec::new();
        if s.width_height.origin.is_none() && model.default_size() != (1280, 768) {
            let (w, h) = model.default_size();
            parts.push(format!("width-height {w}×{h}"));
        }
        let cuts = [
            &s.cut_overview,
            &s.cut_innercut,
            &s.cut_ic_pow,
            &s.cut_icgray_p,
        ];
        if model.cut_schedules().is_some() && cuts.iter().any(|c| c.origin.is_none()) {
            let family = if matches!(
                model,
                DiffusionModel::Watercolor | DiffusionModel::Watercolor2
            ) {
                "watercolor"
            } else {
                "pixel-art"
            };
            parts.push(format!("DD's {family} cut schedules"));
        }
        let line = format!(
            "target `{}` uses `{}`: {} (DD's defaults for this model)",
            t.name.value,
            model.name(),
            parts.join(" and ")
        );
        if !parts.is_empty() && !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_defaults_dd_applies_for_the_model_chosen() {
        let text = "diffusion-model \"watercolordiffusion\"\ncut-overview \"[3]*1000\"\nstills \"w\" { n-batches 1 }\nstills \"p\" {\n  diffusion-model \"PulpSciFiDiffusion\"\n  width-height 640 640\n}\nstills \"o\" { diffusion-model \"portrait_generator_v001\" }\n";
        let p = crate::project::load_str(Path::new("p.kdl"), text)
            .project
            .expect("valid");
        let notes = model_default_notes(&p);
        assert_eq!(
            notes,
            [
                "target `w` uses `watercolordiffusion`: width-height 512×448 and DD's watercolor cut schedules (DD's defaults for this model)",
                "target `p` uses `PulpSciFiDiffusion`: DD's pixel-art cut schedules (DD's defaults for this model)",
            ]
        );
    }
}
