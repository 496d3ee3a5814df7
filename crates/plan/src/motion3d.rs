//! 3D animation frames in the plan (dd-algorithm.md §10.2, §10.4): frame f > 0 starts from
//! frame f − 1 seen from the camera moved by frame f's keyframed translation and rotation,
//! through depth from the model set's MiDaS graph (blended with AdaBins when
//! `midas-weight` < 1). Its init ([`Warp3d`]) keys the previous frame's key, the camera's
//! values at f, the camera and sampling settings and the depth graphs' hashes.
//!
//! Turbo and VR frames are not planned yet: a 3D target with `turbo-mode` or `vr-mode` is
//! refused at that setting, so nothing renders it without them.

use disco_kernels::anim::Series;
use disco_project::types::{AnimationMode, ChoiceSetting};
use disco_project::{Diagnostic, Settings};

use super::facts::{DepthHashes, Facts};
use super::inputs::{Init, Warp3d};
use super::key::Key;
use super::target::at_setting;

/// The per-frame camera moves of a 3D target and the depth graphs its frames use.
pub(super) struct Frames3d {
    /// translation-x/y/z, rotation-3d-x/y/z, in that order.
    series: [Series; 6],
    depth: DepthHashes,
}

impl Frames3d {
    /// The 3D frames of `s` (`None` when `s` is not a 3D animation): its camera series and
    /// its depth graphs' hashes from `facts`. A model set without the depth graphs is an
    /// error at `animation-mode`.
    pub(super) fn of(s: &Settings, facts: &mut dyn Facts) -> Result<Option<Frames3d>, Diagnostic> {
        if s.animation_mode.value != AnimationMode::ThreeD {
            return Ok(None);
        }
        refuse_unplanned(s)?;
        let (frames, spline) = (s.max_frames.value, s.interp_spline.value);
        let keys = [
            &s.translation_x.value.keys,
            &s.translation_y.value.keys,
            &s.translation_z.value.keys,
            &s.rotation_3d_x.value.keys,
            &s.rotation_3d_y.value.keys,
            &s.rotation_3d_z.value.keys,
        ];
        let mut series = Vec::with_capacity(6);
        for k in keys {
            // the project layer has checked every series (validate3d.rs); should one still
            // fail, the target is refused rather than planned without its camera
            let x = Series::new(k, frames, spline).map_err(|e| {
                at_setting(
                    format!("the 3D camera's keyframes cannot be interpolated: {e}"),
                    s.animation_mode.origin.as_ref(),
                    "3D",
                )
            })?;
            series.push(x);
        }
        let series: [Series; 6] = series.try_into().expect("six series");
        let set = s.model_set.value.resolved.clone().unwrap_or_default();
        let midas = s.midas_depth_model.value.name();
        let adabins = s.midas_weight.value < 1.0;
        let depth = facts.depth_hashes(&set, midas, adabins).map_err(|e| {
            at_setting(
                format!("a 3D animation needs depth graphs: {e}"),
                s.animation_mode.origin.as_ref(),
                "3D needs depth graphs",
            )
            .with_help(format!(
                "export MiDaS `{midas}`{} into the model set (`--midas`{}, docs/models.md §3), or use `animation-mode \"2D\"`",
                if adabins { " and AdaBins" } else { "" },
                if adabins { ", `--adabins`" } else { "" },
            ))
        })?;
        Ok(Some(Frames3d { series, depth }))
    }

    /// The init of frame `index` (> 0) with settings `s` (this frame's), chained to the
    /// previous frame's key `prev`.
    pub(super) fn init(&self, s: &Settings, index: u32, prev: Key) -> Init {
        let [tx, ty, tz, rx, ry, rz] = self.series.each_ref().map(|x| {
            x.get(index)
                .expect("a frame below max-frames has a camera move")
        });
        Init::Warp3d(Box::new(Warp3d {
            key: prev,
            translation_x: tx,
            translation_y: ty,
            translation_z: tz,
            rotation_3d_x: rx,
            rotation_3d_y: ry,
            rotation_3d_z: rz,
            fov: s.fov.value,
            midas_weight: s.midas_weight.value,
            padding_mode: s.padding_mode.value.name().to_owned(),
            sampling_mode: s.sampling_mode.value.name().to_owned(),
            midas_depth_model: s.midas_depth_model.value.name().to_owned(),
            midas_graph: self.depth.midas.clone(),
            adabins_graph: self.depth.adabins.clone(),
        }))
    }
}

/// Refuses a 3D target with `turbo-mode` or `vr-mode` on, at that setting: their frames (warp
/// blends, spherical eye views) are not planned yet.
pub fn refuse_unplanned(s: &Settings) -> Result<(), Diagnostic> {
    let off = |name: &str| format!("set `{name} #false` to render the 3D frames without it");
    if s.turbo_mode.value {
        let message = "3D `turbo-mode` is not rendered yet: its skipped frames (blends of warps) are not planned".to_owned();
        return Err(
            at_setting(message, s.turbo_mode.origin.as_ref(), "turbo on")
                .with_help(off("turbo-mode")),
        );
    }
    if s.vr_mode.value {
        let message = "3D `vr-mode` is not rendered yet: the eyes' spherical views are not planned"
            .to_owned();
        return Err(
            at_setting(message, s.vr_mode.origin.as_ref(), "VR on").with_help(off("vr-mode"))
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turbo_and_vr_are_refused_plain_3d_is_not() {
        let mut s = Settings::default();
        s.animation_mode.value = AnimationMode::ThreeD;
        assert!(refuse_unplanned(&s).is_ok());
        s.turbo_mode.value = true;
        let e = refuse_unplanned(&s).unwrap_err();
        assert!(e.message.contains("turbo-mode"), "{}", e.message);
        s.turbo_mode.value = false;
        s.vr_mode.value = true;
        let e = refuse_unplanned(&s).unwrap_err();
        assert!(e.message.contains("vr-mode"), "{}", e.message);
    }
}
