//! A Video Input target (dd-algorithm.md §10.5): the video's every `extract-nth-frame`-th
//! frame, each known by the blake3 of its decoded pixels (from [`Facts::video_frames`]),
//! is the init of one frame; with `video-init-flow-warp`, frames after the first blend it
//! with the previous output warped along the optical flow, which chains them. A re-encoded
//! or trimmed video thus re-renders only the frames whose pixels changed, and those chained
//! after them.

use disco_project::Settings;
use disco_project::Spanned;
use disco_project::types::{Keyed, OptPath};

use super::facts::Facts;
use super::inputs::Init;
use super::key::Key;
use super::target::{Planner, Start, at_setting};

/// A Video Input target's settings with its overrides in force, and its source frames.
pub(super) struct Video {
    /// The settings the jobs are planned from (see [`effective`]).
    pub(super) settings: Settings,
    /// blake3 of each source frame's pixels, in clip order.
    sources: Vec<String>,
}

impl Video {
    /// The Video Input part of a target with settings `s` (`None` for other modes).
    pub(super) fn of(
        p: &mut Planner<'_>,
        s: &Settings,
    ) -> Result<Option<Video>, disco_project::Diagnostic> {
        use disco_project::types::AnimationMode;
        if s.animation_mode.value != AnimationMode::VideoInput {
            return Ok(None);
        }
        let origin = s.video_init_path.origin.as_ref();
        let Some(path) = &s.video_init_path.value.resolved else {
            let why = "a Video Input target needs `video-init-path`".to_owned();
            return Err(at_setting(
                why,
                s.animation_mode.origin.as_ref(),
                "Video Input set here",
            ));
        };
        let facts: &mut dyn Facts = p.facts;
        let sources = facts
            .video_frames(path, s.extract_nth_frame.value)
            .map_err(|e| {
                at_setting(
                    format!("cannot read video {}: {e}", path.display()),
                    origin,
                    "this video",
                )
            })?;
        if sources.is_empty() {
            let why = format!("video {} has no frames to restyle", path.display());
            return Err(at_setting(why, origin, "this video"));
        }
        Ok(Some(Video {
            settings: effective(s),
            sources,
        }))
    }

    /// Frames in the clip.
    pub(super) fn frames(&self) -> u32 {
        u32::try_from(self.sources.len()).unwrap_or(u32::MAX)
    }

    /// DD's seed for clip frame `index`: `seed + 1` before every frame, the first included,
    /// unless `video-init-seed-continuity` keeps the run seed (§10.2).
    pub(super) fn seed(&self, seed: u64, index: u32) -> u64 {
        if self.settings.video_init_seed_continuity.value {
            seed
        } else {
            seed + u64::from(index) + 1
        }
    }

    /// Where clip frame `index` starts; `prev` is the job planned just before it (its index
    /// and key) when `index > 0`. DD (§10.5): every frame is pulled toward its init with
    /// `frames-scale` and skips `frames-skip-steps`, except that with the flow warp the
    /// first frame skips `skip-steps`, and later frames start from the blend.
    pub(super) fn start(&self, index: u32, prev: Option<(usize, Key)>) -> Start {
        let s = &self.settings;
        let source = self.sources[index as usize].clone();
        let warp = s.video_init_flow_warp.value;
        let (init, chained) = match prev {
            Some((p, key)) if warp => {
                let init = Init::FlowBlend {
                    source,
                    prev_source: self.sources[index as usize - 1].clone(),
                    key,
                    blend: s.video_init_flow_blend.value,
                    consistency: s.video_init_check_consistency.value,
                };
                (init, Some(p))
            }
            _ => (Init::SourceFrame { source }, None),
        };
        Start {
            init,
            skip_steps: if warp && index == 0 {
                s.skip_steps.value
            } else {
                s.frames_skip_steps.value.first().of_steps(s.steps.value)
            },
            init_scale: Some(s.frames_scale.value.first()),
            prev: chained,
        }
    }
}

/// Settings `s` with the `video-init-*` overrides in the settings they replace, as their
/// names say (DD ignores some: dd-algorithm.md §13, warned by the project's checks), and no
/// init image (the video's frames are the inits).
pub(super) fn effective(s: &Settings) -> Settings {
    let mut e = s.clone();
    e.steps = s.video_init_steps.clone();
    e.clip_guidance_scale = fixed(&s.video_init_clip_guidance_scale);
    e.tv_scale = fixed(&s.video_init_tv_scale);
    e.range_scale = fixed(&s.video_init_range_scale);
    e.sat_scale = fixed(&s.video_init_sat_scale);
    e.cutn_batches = fixed(&s.video_init_cutn_batches);
    e.skip_steps = s.video_init_skip_steps.clone();
    e.frames_scale = fixed(&s.video_init_frames_scale);
    e.frames_skip_steps = fixed(&s.video_init_frames_skip_steps);
    e.init_image.value = OptPath::default();
    e.perlin_init.value = false;
    e
}

/// An override's value where the setting it replaces takes keyframes: the same at every frame.
fn fixed<T: Copy>(v: &Spanned<T>) -> Spanned<Keyed<T>> {
    Spanned {
        value: Keyed::Fixed(v.value),
        origin: v.origin.clone(),
    }
}
