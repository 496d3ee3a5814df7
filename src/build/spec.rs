//! A planned job → the renderer's [`RenderSpec`]: shared and own inputs as plain values,
//! and the images they name loaded (init image, image prompts, the previous frame warped,
//! Perlin noise). Every file is checked against the content hash its key was computed from.

use ndarray::{Array3, Array4};

use crate::anim::warp::{Kernel, Motion, warp_frame};
use crate::plan::inputs::expand_runs;
use crate::plan::{CommonInputs, FrameInputs, Init, Plan};
use crate::render::cutouts::augment::AugMode;
use crate::render::noise::JobRng;
use crate::render::perlin::{PerlinMode, perlin_init};
use crate::render::sampler::Method;
use crate::render::spec::{ImagePromptSpec, RangeLoss, RenderSpec, TextPrompt};

/// The spec of job `j` of `plan`; `prev` is the previous frame's final image for a frame
/// that starts from it.
pub fn render_spec(plan: &Plan, j: usize, prev: Option<&Array3<u8>>) -> Result<RenderSpec, String> {
    let job = &plan.jobs[j];
    let target = &plan.targets[job.target];
    let c: &CommonInputs = &target.common.inputs;
    let f: &FrameInputs = &job.frame;
    let (w, h) = (c.width as usize, c.height as usize);
    let dir = &plan.dir;
    let init = match &f.init {
        Init::None => None,
        Init::Perlin { mode } => {
            let mode = match mode.as_str() {
                "color" => PerlinMode::Color,
                "gray" => PerlinMode::Gray,
                _ => PerlinMode::Mixed,
            };
            // Perlin noise has its own stream (a fixed offset from the job seed), so it
            // cannot shift the diffusion noise.
            let mut rng = JobRng::new(f.seed ^ 0x5045_524C_494E_0001);
            Some(perlin_init(mode, h, w, rng.rng()))
        }
        Init::Image { path, blake3 } => {
            let file = target
                .settings
                .init_image
                .value
                .resolved
                .clone()
                .unwrap_or_else(|| dir.join(path));
            let bytes = read_checked(&file, blake3)?;
            let img = decode_image(&bytes, &file)?;
            Some(to_tensor(&resize_exact(&img, w, h)))
        }
        Init::PreviousFrame {
            angle,
            zoom,
            translation_x,
            translation_y,
            ..
        } => {
            let prev = prev.ok_or("the previous frame's image is missing")?;
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
    };
    let mut image_prompts = Vec::new();
    for (p, ip) in f.image_prompts.iter().zip(image_prompt_files(plan, j)) {
        let bytes = read_checked(&ip, &p.blake3)?;
        let img = decode_image(&bytes, &ip)?;
        // DD: shorter side → min(side_x, side_y, img_w, img_h), aspect kept (§3.3 step 2)
        let (ih, iw, _) = img.dim();
        let side = w.min(h).min(iw).min(ih);
        let (nw, nh) = if iw <= ih {
            (side, (ih * side).div_ceil(iw).max(1))
        } else {
            ((iw * side).div_ceil(ih).max(1), side)
        };
        image_prompts.push(ImagePromptSpec {
            image: to_tensor(&resize_exact(&img, nw, nh)),
            weight: p.weight as f32,
        });
    }
    Ok(RenderSpec {
        width: w,
        height: h,
        seed: f.seed,
        steps: c.steps as usize,
        skip_steps: f.skip_steps as usize,
        method: match c.eta {
            Some(eta) if c.sampler == "ddim" => Method::Ddim { eta },
            _ => Method::Plms,
        },
        clip_denoised: c.clip_denoised,
        text_prompts: f
            .text_prompts
            .iter()
            .map(|p| TextPrompt {
                text: p.text.clone(),
                weight: p.weight as f32,
            })
            .collect(),
        image_prompts,
        fuzzy: c.fuzzy.map(|m| m as f32),
        clip_models: c.clip_models.clone(),
        clip_guidance_scale: c.clip_guidance_scale as f32,
        tv_scale: c.tv_scale as f32,
        range_scale: c.range_scale.unwrap_or(target.settings.range_scale.value) as f32,
        range_loss: if c.range_scale.is_some() {
            RangeLoss::ThroughDenoiser
        } else {
            RangeLoss::Dd
        },
        sat_scale: c.sat_scale as f32,
        init_scale: f.init_scale.unwrap_or(0.0) as f32,
        init,
        cutn_batches: c.cutn_batches as usize,
        skip_augs: c.augs.is_none(),
        aug_mode: if c.augs.as_deref() == Some("animated") {
            AugMode::Animated
        } else {
            AugMode::Still
        },
        cut_overview: expand_runs(&c.cuts.overview),
        cut_innercut: expand_runs(&c.cuts.innercut),
        cut_ic_pow: expand_runs(&c.cuts.ic_pow),
        cut_icgray_p: expand_runs(&c.cuts.icgray_p),
        use_secondary_model: c.use_secondary_model,
        clamp_max: c.clamp_max.map(|m| m as f32),
        use_checkpoint: target.settings.use_checkpoint.value,
        horizontal_symmetry: c.symmetry.as_ref().is_some_and(|s| s.horizontal),
        vertical_symmetry: c.symmetry.as_ref().is_some_and(|s| s.vertical),
        transformation_percent: c
            .symmetry
            .as_ref()
            .map(|s| s.transformation_percent.clone())
            .unwrap_or_default(),
    })
}

/// The image-prompt files of job `j`, in order, resolved as planning resolved them.
fn image_prompt_files(plan: &Plan, j: usize) -> Vec<std::path::PathBuf> {
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

fn read_checked(path: &std::path::Path, blake3: &str) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let got = blake3::hash(&bytes).to_hex();
    if got.as_str() != blake3 {
        return Err(format!(
            "{} changed while the build ran; build again",
            path.display()
        ));
    }
    Ok(bytes)
}

fn decode_image(bytes: &[u8], path: &std::path::Path) -> Result<Array3<u8>, String> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .to_rgb8();
    let (w, h) = img.dimensions();
    Array3::from_shape_vec((h as usize, w as usize, 3), img.into_raw()).map_err(|e| e.to_string())
}

/// Lanczos resize to exactly `w`×`h` (DD resizes init images with PIL's LANCZOS, §4.4);
/// the same size is returned unchanged, as PIL does.
fn resize_exact(img: &Array3<u8>, w: usize, h: usize) -> Array3<u8> {
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
