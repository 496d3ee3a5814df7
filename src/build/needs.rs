//! What a project's settings need from its model sets, checked before planning and by
//! `disco check` and `disco doctor`: the diffusion model (diffusion.rs), a 3D animation's depth graphs, and the LPIPS graphs that an init image or an
//! animation's frame coherence loss use. The toy set ships without them, so the default
//! animation settings (`frames-scale 1500`) would otherwise fail at the first frame with
//! no word of which setting asked for LPIPS.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::plan::lpips_need;
use crate::project::{Diagnostic, Project, Settings, Target};
use crate::render::manifest::Manifest;

/// One error per target (`only`: these targets; empty: all) whose settings need LPIPS
/// from a model set that has none, at the setting that needs it. A model set whose
/// manifest cannot be read is left to planning, which names it.
pub fn model_set_problems(project: &Project, only: &[String]) -> Vec<Diagnostic> {
    let mut manifests: HashMap<PathBuf, Option<Manifest>> = HashMap::new();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (t, s) in resolved_settings(project, only) {
        let Some(dir) = s.model_set.value.resolved.clone() else {
            continue;
        };
        let manifest = manifests
            .entry(dir.clone())
            .or_insert_with(|| Manifest::read(&dir).ok())
            .as_ref();
        if let Some(d) = manifest.and_then(|m| super::diffusion::diffusion_problem(m, &dir, s))
            && seen.insert((t.name.value.clone(), "diffusion-model"))
        {
            out.push(d);
        }
        if let Some(m) = manifest
            && m.raft.is_none()
            && seen.insert((t.name.value.clone(), "video-init-flow-warp"))
            && let Some(d) = raft_problem(t, s, &dir)
        {
            out.push(d);
        }
        if let Some(d) = manifest.and_then(|m| depth_problem(m, &dir, s))
            && seen.insert((t.name.value.clone(), "animation-mode"))
        {
            out.push(d);
        }
        let Some(need) = lpips_need(s) else { continue };
        let has_lpips = manifest.map(|m| m.lpips.as_ref().and_then(|f| f.graph("vjp")).is_some());
        // one report per target and setting, however many sweep cells share it
        if has_lpips != Some(false) || !seen.insert((t.name.value.clone(), need.setting)) {
            continue;
        }
        let kind = if t.is_animation() {
            "animation"
        } else {
            "target"
        };
        let message = format!(
            "{kind} `{}` needs LPIPS graphs for `{} {}`{}, but the model set {} has none",
            t.name.value,
            need.setting,
            need.value,
            match need.setting {
                "init-scale" if s.init_image.value.resolved.is_some() => " with an init image",
                "init-scale" => " with `perlin-init`",
                _ => "",
            },
            dir.display()
        );
        let help = format!(
            "write `{} 0` in `{}` to drop that loss, or use a model set with LPIPS (docs/models.md §3)",
            need.setting, t.name.value
        );
        let (origin, label) = match (need.origin, &t.name.origin) {
            (Some(o), _) => (Some(o), "needs LPIPS".to_owned()),
            (None, o) => (
                o.as_ref(),
                format!("uses the default `{} {}`", need.setting, need.value),
            ),
        };
        let mut d = match origin {
            Some(o) => Diagnostic::error(message, o, label),
            None => Diagnostic::bare(message),
        };
        if let (Some(o), Some(ms)) = (origin, &s.model_set.origin)
            && o.file.path == ms.file.path
        {
            d = d.with_secondary(ms.span, "has no LPIPS graphs");
        }
        out.push(d.with_help(help));
    }
    out
}

/// The error of a Video Input target whose model set `dir` has no RAFT graph, though the
/// flow warp (at `video-init-flow-warp`) or, with the warp off, the "optical flow" blended
/// video (at `video-init-blend-mode`) needs it; at `animation-mode` where DD's default asks.
fn raft_problem(t: &Target, s: &Settings, dir: &std::path::Path) -> Option<Diagnostic> {
    use crate::project::types::{AnimationMode, VideoBlendMode};
    if s.animation_mode.value != AnimationMode::VideoInput {
        return None;
    }
    let (setting, origin, on, help) = if s.video_init_flow_warp.value {
        (
            "video-init-flow-warp",
            &s.video_init_flow_warp.origin,
            "flow warp on",
            "set `video-init-flow-warp #false`: each frame then starts from its source frame",
        )
    } else if s.video_init_blend_mode.value == VideoBlendMode::OpticalFlow {
        (
            "video-init-blend-mode \"optical flow\"",
            &s.video_init_blend_mode.origin,
            "flow-blended video",
            "set `video-init-blend-mode \"linear\"` or `\"None\"`: the video's frames are then blended without flow, or not at all",
        )
    } else {
        return None;
    };
    let message = format!(
        "`{}` needs RAFT optical flow for `{setting}`, but the model set {} has no RAFT graph",
        t.name.value,
        dir.display()
    );
    let d = match (origin, &s.animation_mode.origin) {
        (Some(o), _) => Diagnostic::error(message, o, format!("{on} here")),
        (None, Some(o)) => Diagnostic::error(
            message,
            o,
            format!("{on} by default in Video Input, as in DD"),
        ),
        (None, None) => Diagnostic::bare(message),
    };
    Some(d.with_help(format!(
        "export RAFT into the set (`python -m disco_export --out SET --raft raft-things.pth`, docs/models.md), or {help}"
    )))
}

/// A 3D animation whose model set lacks the depth graphs it uses (MiDaS `midas-depth-model`,
/// and AdaBins when `midas-weight` < 1), as an error at its `animation-mode`.
fn depth_problem(m: &Manifest, dir: &std::path::Path, s: &Settings) -> Option<Diagnostic> {
    use crate::project::types::{AnimationMode, ChoiceSetting};
    if s.animation_mode.value != AnimationMode::ThreeD {
        return None;
    }
    let midas = s.midas_depth_model.value.name();
    let adabins = s.midas_weight.value < 1.0;
    let mut lacks = Vec::new();
    if m.midas(midas).and_then(|d| d.forward()).is_none() {
        lacks.push(format!("MiDaS `{midas}`"));
    }
    if adabins && m.adabins().and_then(|d| d.forward()).is_none() {
        lacks.push(format!(
            "AdaBins (`midas-weight` {} < 1)",
            s.midas_weight.value
        ));
    }
    if lacks.is_empty() {
        return None;
    }
    let message = format!(
        "a 3D animation needs depth graphs, but the model set {} has no {}",
        dir.display(),
        lacks.join(" and no ")
    );
    let d = match &s.animation_mode.origin {
        Some(o) => Diagnostic::error(message, o, "3D needs depth graphs"),
        None => Diagnostic::bare(message),
    };
    Some(d.with_help(
        "export them into the set (`--midas NAME=PATH` with the `midas-depth-model` file, `--adabins`; docs/models.md §3), set `midas-weight 1` to use MiDaS alone, or use `animation-mode \"2D\"`",
    ))
}

/// Every selected target's resolved settings (`only`: these targets; empty: all), one per
/// sweep cell: what a build would plan.
pub fn resolved_settings<'a>(
    project: &'a Project,
    only: &'a [String],
) -> impl Iterator<Item = (&'a Target, &'a Settings)> {
    project
        .targets
        .iter()
        .filter(move |t| only.is_empty() || only.contains(&t.name.value))
        .flat_map(|t| -> Vec<(&Target, &Settings)> {
            match &t.sweep {
                Some(sw) => sw.cells.iter().map(|c| (t, &c.settings)).collect(),
                None => vec![(t, &t.settings)],
            }
        })
}
