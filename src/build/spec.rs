//! A planned job → the renderer's [`RenderSpec`]: the job's resolved inputs as planned, and
//! the pixels they name loaded (init image, image prompts, the previous frame warped, Perlin
//! noise). Every file is checked against the content hash its key was computed from.

use std::path::{Path, PathBuf};

use ndarray::{Array3, Array4};

use super::flow::JobFlows;
use crate::anim::warp::{Kernel, Motion, warp_frame};
use crate::plan::{Init, Plan};
use crate::project::Settings;
use crate::render::noise::JobRng;
use crate::render::perlin::perlin_init;
use crate::render::spec::{RenderSpec, Unkeyed};
use crate::render::voronoi::{Palette as VoronoiPalette, voronoi_init};

/// Why a job's pixels could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A file the job names cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file differs from the one its key was computed from.
    #[error("{} changed while the build ran; build again", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// A file is not an image this build can decode.
    #[error("{}: {source}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// Why.
        source: image::ImageError,
    },
    /// A frame that starts from the previous one was asked for without it.
    #[error("the previous frame's image is missing")]
    NoPreviousFrame,
    /// A flow-blended Video Input init was asked for without its flows.
    #[error("the optical flow of this frame's source frames is missing")]
    NoFlow,
    /// The optical flow could not be computed or kept.
    #[error("optical flow: {0}")]
    Flow(String),
}

impl From<SpecError> for super::RenderError {
    fn from(e: SpecError) -> Self {
        super::RenderError::Job(e.into())
    }
}

/// The spec of job `j` of `plan`; `prev` is the previous frame's final image for a frame
/// that starts from it (a 3D frame: that image already warped in 3D, `warp3d.rs`), `flows`
/// the optical flows of a flow-blended Video Input init (`flow::job_flows`).
pub fn render_spec(
    plan: &Plan,
    j: usize,
    prev: Option<&Array3<u8>>,
    flows: Option<&JobFlows>,
) -> Result<RenderSpec, SpecError> {
    let job = &plan.jobs[j];
    let target = &plan.targets[job.target];
    let common = job.common.inputs.clone();
    let size = (common.width as usize, common.height as usize);
    let init = load_init(plan, j, size, prev, flows)?;
    let image_prompts = image_prompt_files(plan, j)
        .iter()
        .zip(&job.frame.image_prompts)
        .map(|(file, p)| load_image_prompt(file, &p.blake3, size))
        .collect::<Result<_, _>>()?;
    Ok(RenderSpec {
        common,
        frame: job.frame.clone(),
        init,
        image_prompts,
        unkeyed: Unkeyed {
            use_checkpoint: target.settings.use_checkpoint.value,
            // reported only (DD's range loss changes no pixel), so read here, not keyed
            dd_range_scale: dd_range_scale(&target.settings, target.animation, job.index),
        },
    })
}

/// `range-scale` at job `index` (frame 0's for stills).
fn dd_range_scale(s: &Settings, animation: bool, index: u32) -> f64 {
    let frame = if animation { index } else { 0 };
    let (frames, spline) = (s.max_frames.value, s.interp_spline.value);
    s.range_scale.value.at(frame, frames, spline)
}

/// The start image of job `j` as `frame.init` names it, `(w, h)` pixels, in [−1, 1].
fn load_init(
    plan: &Plan,
    j: usize,
    (w, h): (usize, usize),
    prev: Option<&Array3<u8>>,
    flows: Option<&JobFlows>,
) -> Result<Option<Array4<f32>>, SpecError> {
    let job = &plan.jobs[j];
    let target = &plan.targets[job.target];
    Ok(match &job.frame.init {
        Init::None => None,
        Init::Perlin { mode } => {
            // Perlin noise has its own stream (a fixed offset from the job seed), so it
            // cannot shift the diffusion noise.
            let mut rng = JobRng::new(job.frame.seed ^ 0x5045_524C_494E_0001);
            Some(perlin_init(*mode, h, w, rng.rng()))
        }
        Init::Voronoi { points, palette } => {
            // its own stream, as Perlin's, so the points cannot shift the diffusion noise
            let mut rng = JobRng::new(job.frame.seed ^ 0x564F_524F_4E4F_4901);
            let palette = match palette.is_empty() {
                true => VoronoiPalette::DEFAULT,
                false => VoronoiPalette::Static(palette.clone()),
            };
            Some(voronoi_init(w, h, *points as usize, &palette, rng.rng()))
        }
        Init::Image { path, blake3 } => {
            let file = target
                .settings
                .init_image
                .value
                .resolved
                .clone()
                .unwrap_or_else(|| plan.dir.join(path));
            let img = decode_image(&read_checked(&file, blake3)?, &file)?;
            Some(to_tensor(&resize_exact(&img, w, h)))
        }
        Init::PreviousFrame {
            angle,
            zoom,
            translation_x,
            translation_y,
            ..
        } => {
            let prev = prev.ok_or(SpecError::NoPreviousFrame)?;
            let motion = Motion {
                angle: *angle,
                zoom: *zoom,
                translation_x: *translation_x,
                translation_y: *translation_y,
            };
            // OpenCV ≤ 4.10's fixed-point bilinear: what DD's pictures were made with
            let warped = warp_frame(prev, &motion, Kernel::FixedPoint);
            Some(to_tensor(&warped))
        }
        // the renderer warped the previous frame through its depth already (warp3d.rs:
        // depth needs the model set's sessions)
        Init::Warp3d(_) => Some(to_tensor(prev.ok_or(SpecError::NoPreviousFrame)?)),
        Init::SourceFrame { source } => {
            let img = source_frame(plan, source)?;
            Some(to_tensor(&resize_exact(&img, w, h)))
        }
        Init::FlowBlend {
            source,
            blend,
            consistency,
            ..
        } => {
            let prev = prev.ok_or(SpecError::NoPreviousFrame)?;
            let flows = flows.ok_or(SpecError::NoFlow)?;
            let src = resize_exact(&source_frame(plan, source)?, w, h);
            Some(to_tensor(&flow_blended(
                &src,
                prev,
                flows,
                *blend,
                *consistency,
            )?))
        }
    })
}

/// DD's flow-blended init (§10.5): the previous output remapped along the backward flow,
/// kept only where the flows agree when `consistency` is on (the source frame elsewhere),
/// then `(1 − blend)·source + blend·warped`, truncated to 8 bits as DD's `astype('uint8')`.
fn flow_blended(
    source: &Array3<u8>,
    prev: &Array3<u8>,
    flows: &JobFlows,
    blend: f64,
    consistency: bool,
) -> Result<Array3<u8>, SpecError> {
    use crate::anim::flow;
    let (h, w, _) = source.dim();
    let prev = resize_exact(prev, w, h).mapv(f32::from);
    if flows.back.dim() != (h, w, 2) {
        return Err(SpecError::Flow(format!(
            "a flow of {:?} for a {w}x{h} frame",
            flows.back.dim()
        )));
    }
    let warped = flow::remap(prev.view(), flows.back.view());
    let weights = match (consistency, &flows.forth) {
        (false, _) => None,
        // the map over this frame's pixels: out along the backward flow, back along the
        // forward one (DD's check_consistency with flow_fwd = the 21 flow)
        (true, Some(forth)) => Some(flow::consistency(flows.back.view(), forth.view())),
        (true, None) => return Err(SpecError::NoFlow),
    };
    let src = source.mapv(f32::from);
    let out = flow::flow_blend(
        src.view(),
        warped.view(),
        weights.as_ref().map(|m| m.view()),
        blend as f32,
    );
    Ok(out.mapv(|v| v.clamp(0.0, 255.0) as u8))
}

/// One image prompt's pixels: its shorter side brought to min(w, h, its own sides), aspect
/// kept, as DD does (§3.3 step 2).
fn load_image_prompt(
    file: &Path,
    blake3: &str,
    (w, h): (usize, usize),
) -> Result<Array4<f32>, SpecError> {
    let img = decode_image(&read_checked(file, blake3)?, file)?;
    let (ih, iw, _) = img.dim();
    let side = w.min(h).min(iw).min(ih);
    let (nw, nh) = if iw <= ih {
        (side, (ih * side).div_ceil(iw).max(1))
    } else {
        ((iw * side).div_ceil(ih).max(1), side)
    };
    Ok(to_tensor(&resize_exact(&img, nw, nh)))
}

/// The image-prompt files of job `j`, in order, resolved as planning resolved them.
fn image_prompt_files(plan: &Plan, j: usize) -> Vec<PathBuf> {
    let job = &plan.jobs[j];
    let s = &plan.targets[job.target].settings;
    let frame = if plan.targets[job.target].animation {
        job.index
    } else {
        0
    };
    s.image_prompts
        .value
        .at(frame)
        .map(|set| {
            set.prompts
                .iter()
                .map(|p| crate::plan::expand::prompt_path(p, s))
                .collect()
        })
        .unwrap_or_default()
}

/// A Video Input source frame as planning kept it (source_frames.rs), checked against the
/// pixel hash its key was computed from; stretched to the output size as DD stretches its
/// init images (§13 item 7).
pub(super) fn source_frame(plan: &Plan, hash: &str) -> Result<Array3<u8>, SpecError> {
    use super::source_frames::{frame_path, frames_dir, pixel_hash};
    let file = frame_path(&frames_dir(&plan.dir), hash);
    let bytes = std::fs::read(&file).map_err(|source| SpecError::Read {
        path: file.clone(),
        source,
    })?;
    let img = decode_image(&bytes, &file)?;
    if pixel_hash(&img) != hash {
        return Err(SpecError::Changed { path: file });
    }
    Ok(img)
}

fn read_checked(path: &Path, blake3: &str) -> Result<Vec<u8>, SpecError> {
    let bytes = std::fs::read(path).map_err(|source| SpecError::Read {
        path: path.to_owned(),
        source,
    })?;
    let got = blake3::hash(&bytes).to_hex();
    if got.as_str() != blake3 {
        return Err(SpecError::Changed {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

fn decode_image(bytes: &[u8], path: &Path) -> Result<Array3<u8>, SpecError> {
    let img = image::load_from_memory(bytes)
        .map_err(|source| SpecError::Decode {
            path: path.to_owned(),
            source,
        })?
        .to_rgb8();
    let (w, h) = img.dimensions();
    Ok(
        Array3::from_shape_vec((h as usize, w as usize, 3), img.into_raw())
            .expect("an RGB image is h·w·3 bytes"),
    )
}

/// Lanczos resize to exactly `w`×`h` (DD resizes init images with PIL's LANCZOS, §4.4);
/// the same size is returned unchanged, as PIL does.
pub(super) fn resize_exact(img: &Array3<u8>, w: usize, h: usize) -> Array3<u8> {
    let (ih, iw, _) = img.dim();
    if (ih, iw) == (h, w) {
        return img.clone();
    }
    let buf = image::RgbImage::from_raw(iw as u32, ih as u32, img.iter().copied().collect())
        .expect("RGB buffer");
    let out = image::imageops::resize(
        &buf,
        w as u32,
        h as u32,
        image::imageops::FilterType::Lanczos3,
    );
    Array3::from_shape_vec((h, w, 3), out.into_raw()).expect("resized")
}

/// `[H, W, 3]` u8 → `[1, 3, H, W]` in [−1, 1]: `TF.to_tensor(img)·2 − 1` as DD.
fn to_tensor(img: &Array3<u8>) -> Array4<f32> {
    let (h, w, _) = img.dim();
    Array4::from_shape_fn((1, 3, h, w), |(_, c, y, x)| {
        f32::from(img[[y, x, c]]) / 255.0 * 2.0 - 1.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(h: usize, w: usize, v: u8) -> Array3<u8> {
        Array3::from_elem((h, w, 3), v)
    }

    fn flows(dx: f32, back_forth: Option<f32>) -> JobFlows {
        let f = |d: f32| Array3::from_shape_fn((2, 3, 2), |(_, _, k)| if k == 0 { d } else { 0.0 });
        JobFlows {
            back: f(dx),
            forth: back_forth.map(f),
        }
    }

    #[test]
    fn the_init_is_the_previous_output_warped_along_the_flow_and_blended() {
        let prev = Array3::from_shape_fn((2, 3, 3), |(y, x, _)| (10 * (y * 3 + x) + 10) as u8);
        let source = flat(2, 3, 200);
        // blend 1, zero flow: the previous output itself
        let out = flow_blended(&source, &prev, &flows(0.0, None), 1.0, false).unwrap();
        assert_eq!(out, prev);
        // one pixel to the right: each pixel reads its right neighbour, zero past the edge
        let out = flow_blended(&source, &prev, &flows(1.0, None), 1.0, false).unwrap();
        assert_eq!(out[[0, 0, 0]], prev[[0, 1, 0]]);
        assert_eq!(out[[1, 1, 2]], prev[[1, 2, 2]]);
        assert_eq!(out[[0, 2, 0]], 0);
        // half and half, truncated to 8 bits as DD's astype('uint8'): (200 + 10) / 2 = 105
        let out = flow_blended(&source, &prev, &flows(0.0, None), 0.5, false).unwrap();
        assert_eq!(out[[0, 0, 0]], 105);
        let out = flow_blended(
            &flat(2, 3, 10),
            &flat(2, 3, 21),
            &flows(0.0, None),
            0.5,
            false,
        );
        assert_eq!(out.unwrap()[[0, 0, 0]], 15);
    }

    #[test]
    fn the_consistency_check_keeps_the_source_where_the_flows_disagree() {
        let (prev, source) = (flat(2, 3, 50), flat(2, 3, 200));
        // forth undoes back: agree (inside the frame), the warp is kept
        let out = flow_blended(&source, &prev, &flows(1.0, Some(-1.0)), 1.0, true).unwrap();
        assert_eq!(out[[0, 0, 0]], 50);
        // forth does not undo back (|1 + 1|² > 0.01·2 + 0.5): the source frame
        let out = flow_blended(&source, &prev, &flows(1.0, Some(1.0)), 1.0, true).unwrap();
        assert_eq!(out[[0, 0, 0]], 200);
        // the check without the flow the other way is an error, not a silent skip
        assert!(matches!(
            flow_blended(&source, &prev, &flows(1.0, None), 1.0, true),
            Err(SpecError::NoFlow)
        ));
    }
}
