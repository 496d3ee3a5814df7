//! 3D animation frames in the plan (dd-algorithm.md §10.2, §10.4): frame f > 0 starts from
//! frame f − 1 seen from the camera moved by frame f's keyframed translation and rotation,
//! through depth from the model set's MiDaS graph (blended with AdaBins when
//! `midas-weight` < 1). Its init ([`Warp3d`]) keys the previous frame's key, the camera's
//! values at f, the camera and sampling settings and the depth graphs' hashes.
//!
//! With `turbo-mode` (DD's turbo, §10.4) frames after `turbo-preroll` are diffused only every
//! `turbo-steps` frames; the frames between ([`Turbo::Skipped`]) are blends of two warps and
//! keyed by those warps alone ([`super::key::of_skipped`]). With `vr-mode` each frame also
//! has two eye views, planned as work of their own (`vr.rs`).

use disco_kernels::anim::Series;
use disco_project::types::{AnimationMode, ChoiceSetting};
use disco_project::{Diagnostic, Settings};

use super::facts::{DepthHashes, Facts};
use super::inputs::{Init, Turbo, Warp3d};
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
                "export MiDaS `{midas}`{} into the model set (`--midas {midas}=PATH`{}, docs/models.md §3), or use `animation-mode \"2D\"`",
                if adabins { " and AdaBins" } else { "" },
                if adabins { ", `--adabins`" } else { "" },
            ))
        })?;
        Ok(Some(Frames3d { series, depth }))
    }

    /// The depth graphs the target's frames (and their eye views) use.
    pub(super) fn depth(&self) -> &DepthHashes {
        &self.depth
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

/// DD's turbo role of frame `index` of a 3D target with settings `s` (dd-algorithm.md §10.4,
/// DD:1202-1226): `None` without `turbo-mode` and for frame 0. Frames up to and including
/// `turbo-preroll` are diffused; after it, only frames with `f mod turbo-steps = 0`. Every
/// diffused frame > 0 saves its blend with its init (DD:1519-1533); the old chain starts at
/// `turbo-preroll` and again at each diffused frame after it.
pub fn turbo(s: &Settings, index: u32) -> Option<Turbo> {
    turbo_role(
        s.turbo_mode.value,
        s.turbo_steps.value,
        s.turbo_preroll.value,
        index,
    )
}

fn turbo_role(on: bool, steps: u32, preroll: u32, index: u32) -> Option<Turbo> {
    if !on || index == 0 {
        return None;
    }
    // `turbo-steps` is at least 1 (schema); max keeps a damaged value from dividing by zero
    let ts = steps.max(1);
    if index > preroll && !index.is_multiple_of(ts) {
        return Some(Turbo::Skipped {
            blend: f64::from(index % ts + 1) / f64::from(ts),
        });
    }
    Some(Turbo::Diffused {
        blend: 1.0 / f64::from(ts),
        old: index >= preroll,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turbo_roles_follow_dd() {
        // DD's defaults: 3 steps, preroll 10
        let role = |f| turbo_role(true, 3, 10, f);
        assert_eq!(role(0), None);
        assert_eq!(turbo_role(false, 3, 10, 11), None);
        let third = 1.0 / 3.0;
        for f in 1..10 {
            assert_eq!(
                role(f),
                Some(Turbo::Diffused {
                    blend: third,
                    old: false
                }),
                "{f}"
            );
        }
        // the preroll's last frame is diffused (10 mod 3 ≠ 0) and starts the old chain
        assert_eq!(
            role(10),
            Some(Turbo::Diffused {
                blend: third,
                old: true
            })
        );
        assert_eq!(role(11), Some(Turbo::Skipped { blend: 1.0 }));
        assert_eq!(
            role(12),
            Some(Turbo::Diffused {
                blend: third,
                old: true
            })
        );
        assert_eq!(role(13), Some(Turbo::Skipped { blend: 2.0 / 3.0 }));
        assert_eq!(role(14), Some(Turbo::Skipped { blend: 1.0 }));
        assert_eq!(
            role(15),
            Some(Turbo::Diffused {
                blend: third,
                old: true
            })
        );
        // one step: every frame diffused, saved unblended
        assert_eq!(
            turbo_role(true, 1, 0, 5),
            Some(Turbo::Diffused {
                blend: 1.0,
                old: true
            })
        );
        // preroll 0: frame 1 on follows the steps
        assert_eq!(
            turbo_role(true, 2, 0, 1),
            Some(Turbo::Skipped { blend: 1.0 })
        );
        assert_eq!(
            turbo_role(true, 2, 0, 2),
            Some(Turbo::Diffused {
                blend: 0.5,
                old: true
            })
        );
    }
}
