//! Keys DD's forks and ports write that are not DD settings: progrock, the CLI port
//! (entmike), DiscoArt, DD 5.6/5.7 notebook extras, Python ports. Each says how it acts, so
//! a key that is not imported lands in the right group of the report: a fork feature that
//! is on changes the picture; off, or only tuning a feature that is off, it does not.

use serde_json::Value;

use super::known::{same, truthy};
use super::report::Group;

/// How a fork key acts on the picture.
#[derive(Clone, Copy)]
pub enum Acts {
    /// A feature, off at this value (JSON text); on, it changes the picture.
    Switch(&'static str),
    /// Tunes the features named: it matters only when one of them is on.
    Tunes(&'static [&'static str]),
    /// Acts only in Video Input mode, off at this value (JSON text).
    VideoInput(&'static str),
    /// Used only with these diffusion models (names, or a prefix ending in `*`).
    WithModels(&'static [&'static str]),
    /// Never acts on pixels.
    Bookkeeping,
}

/// (key, what it is, how it acts).
pub const FORK_KEYS: &[(&str, &str, Acts)] = &[
    // progrock (lowfuel/progrockdiffusion)
    (
        "render_mask",
        "progrock's render mask",
        Acts::Switch("null"),
    ),
    (
        "cut_ic_pow_final",
        "progrock's cut_ic_pow ramp",
        Acts::Switch("null"),
    ),
    (
        "cutn_batches_final",
        "progrock's cutn_batches ramp",
        Acts::Switch("null"),
    ),
    (
        "smooth_schedules",
        "progrock's smoothed cut schedules",
        Acts::Switch("false"),
    ),
    ("stop_early", "progrock's early stop", Acts::Switch("0")),
    (
        "symmetry_loss_v",
        "progrock's vertical symmetry loss",
        Acts::Switch("false"),
    ),
    (
        "symmetry_loss_h",
        "progrock's horizontal symmetry loss",
        Acts::Switch("false"),
    ),
    (
        "symm_loss_scale",
        "tunes progrock's symmetry loss",
        Acts::Tunes(&["symmetry_loss_v", "symmetry_loss_h"]),
    ),
    (
        "symm_switch",
        "tunes progrock's symmetry loss",
        Acts::Tunes(&["symmetry_loss_v", "symmetry_loss_h"]),
    ),
    (
        "skip_steps_ratio",
        "progrock's skip steps for an init image it makes itself",
        Acts::Bookkeeping,
    ),
    (
        "gobig_scale",
        "progrock's --gobig pass, chosen on the command line",
        Acts::Bookkeeping,
    ),
    (
        "gobig_skip_ratio",
        "progrock's --gobig pass, chosen on the command line",
        Acts::Bookkeeping,
    ),
    ("use_jpg", "an output file format", Acts::Bookkeeping),
    // DD v4.1-v5.0 latent-diffusion sharpening
    (
        "sharpen_preset",
        "DD v4.1-v5.0's latent-diffusion sharpening of the finished image",
        Acts::Switch("\"Off\""),
    ),
    (
        "keep_unsharp",
        "keeps a copy before sharpening",
        Acts::Bookkeeping,
    ),
    // the CLI port (entmike/disco-diffusion-1)
    (
        "symmetry_loss",
        "the CLI port's symmetry loss",
        Acts::Switch("false"),
    ),
    (
        "symmetry_loss_scale",
        "tunes the CLI port's symmetry loss",
        Acts::Tunes(&["symmetry_loss"]),
    ),
    (
        "symmetry_switch",
        "tunes the CLI port's symmetry loss",
        Acts::Tunes(&["symmetry_loss"]),
    ),
    (
        "v_symmetry_loss",
        "the CLI port's vertical symmetry loss",
        Acts::Switch("false"),
    ),
    (
        "v_symmetry_loss_scale",
        "tunes the CLI port's vertical symmetry loss",
        Acts::Tunes(&["v_symmetry_loss"]),
    ),
    (
        "v_symmetry_switch",
        "tunes the CLI port's vertical symmetry loss",
        Acts::Tunes(&["v_symmetry_loss"]),
    ),
    (
        "target_scale",
        "tunes the CLI port's target image",
        Acts::Tunes(&["target_image"]),
    ),
    ("console_preview", "a terminal preview", Acts::Bookkeeping),
    (
        "console_preview_width",
        "a terminal preview",
        Acts::Bookkeeping,
    ),
    (
        "cuda_device",
        "choose the device with `disco build --device`",
        Acts::Bookkeeping,
    ),
    ("db", "the CLI port's job database", Acts::Bookkeeping),
    ("images_out", "an output folder", Acts::Bookkeeping),
    ("init_images", "an input folder", Acts::Bookkeeping),
    ("models", "a model folder", Acts::Bookkeeping),
    (
        "per_job_kills",
        "the CLI port's job runner",
        Acts::Bookkeeping,
    ),
    ("save_metadata", "output metadata", Acts::Bookkeeping),
    ("transport", "the CLI port's job runner", Acts::Bookkeeping),
    ("twilio_account_sid", "notifications", Acts::Bookkeeping),
    ("twilio_auth_token", "notifications", Acts::Bookkeeping),
    ("twilio_from", "notifications", Acts::Bookkeeping),
    ("twilio_to", "notifications", Acts::Bookkeeping),
    // DD 5.6/5.7 notebook extras
    (
        "persistent_frame_output_in_batch_folder",
        "an output folder",
        Acts::Bookkeeping,
    ),
    (
        "skip_video_for_run_all",
        "a notebook switch",
        Acts::Bookkeeping,
    ),
    (
        "simple_nvidia_smi_display",
        "a notebook display",
        Acts::Bookkeeping,
    ),
    (
        "google_drive",
        "where the notebook stores files",
        Acts::Bookkeeping,
    ),
    (
        "save_models_to_google_drive",
        "where the notebook stores files",
        Acts::Bookkeeping,
    ),
    ("force_download", "model downloads", Acts::Bookkeeping),
    ("steps_per_checkpoint", "derived by DD", Acts::Bookkeeping),
    ("skip_step_ratio", "derived by DD", Acts::Bookkeeping),
    (
        "calc_frames_skip_steps",
        "derived by DD from frames_skip_steps",
        Acts::Bookkeeping,
    ),
    (
        "force_flow_generation",
        "Video Input's optical flow",
        Acts::VideoInput("false"),
    ),
    (
        "blend",
        "Video Input's frame blend",
        Acts::VideoInput("0.5"),
    ),
    (
        "init_frame",
        "Video Input's first frame",
        Acts::VideoInput("1"),
    ),
    (
        "last_frame",
        "Video Input's last frame",
        Acts::VideoInput("\"final_frame\""),
    ),
    (
        "flow_blend",
        "a DD 5.6 fork's flow blend (Video Input)",
        Acts::VideoInput("null"),
    ),
    (
        "blend_ramp",
        "a DD 5.6 fork's flow-blend ramp (Video Input)",
        Acts::VideoInput("null"),
    ),
    (
        "padding_ratio",
        "a DD 5.6 fork's padding of warped frames",
        Acts::Switch("0"),
    ),
    (
        "pad_or_pulp_cut_overview",
        "DD 5.6's cuts for the pixel-art and PulpSciFi models",
        Acts::WithModels(&["pixel*", "PulpSciFiDiffusion"]),
    ),
    (
        "pad_or_pulp_cut_innercut",
        "DD 5.6's cuts for the pixel-art and PulpSciFi models",
        Acts::WithModels(&["pixel*", "PulpSciFiDiffusion"]),
    ),
    (
        "pad_or_pulp_cut_ic_pow",
        "DD 5.6's cuts for the pixel-art and PulpSciFi models",
        Acts::WithModels(&["pixel*", "PulpSciFiDiffusion"]),
    ),
    (
        "pad_or_pulp_cut_icgray_p",
        "DD 5.6's cuts for the pixel-art and PulpSciFi models",
        Acts::WithModels(&["pixel*", "PulpSciFiDiffusion"]),
    ),
    (
        "watercolor_cut_overview",
        "DD 5.6's cuts for the watercolor models",
        Acts::WithModels(&["watercolordiffusion*"]),
    ),
    (
        "watercolor_cut_innercut",
        "DD 5.6's cuts for the watercolor models",
        Acts::WithModels(&["watercolordiffusion*"]),
    ),
    (
        "watercolor_cut_ic_pow",
        "DD 5.6's cuts for the watercolor models",
        Acts::WithModels(&["watercolordiffusion*"]),
    ),
    (
        "watercolor_cut_icgray_p",
        "DD 5.6's cuts for the watercolor models",
        Acts::WithModels(&["watercolordiffusion*"]),
    ),
    // DiscoArt (jina-ai/discoart)
    (
        "cut_schedules_group",
        "DiscoArt's named cut schedules",
        Acts::Switch("null"),
    ),
    (
        "clip_models_schedules",
        "DiscoArt's per-step CLIP model schedules",
        Acts::Switch("null"),
    ),
    (
        "diffusion_model_config",
        "DiscoArt's diffusion model architecture",
        Acts::Switch("null"),
    ),
    (
        "inpaint_image",
        "DiscoArt's inpainting",
        Acts::Switch("null"),
    ),
    (
        "inpaint_mask",
        "DiscoArt's inpainting",
        Acts::Switch("null"),
    ),
    (
        "on_misspelled_token",
        "DiscoArt's spelling correction of prompts",
        Acts::Switch("\"ignore\""),
    ),
    (
        "truncate_overlength_prompt",
        "DiscoArt cuts prompts over 77 tokens; disco reports them, as DD does, so a long prompt stops the build rather than changing the picture",
        Acts::Bookkeeping,
    ),
    ("name_docarray", "a DiscoArt result name", Acts::Bookkeeping),
    (
        "save_rate",
        "how often DiscoArt saves progress",
        Acts::Bookkeeping,
    ),
    ("gif_fps", "DiscoArt's progress GIF", Acts::Bookkeeping),
    (
        "gif_size_ratio",
        "DiscoArt's progress GIF",
        Acts::Bookkeeping,
    ),
    (
        "image_output",
        "a DiscoArt display switch",
        Acts::Bookkeeping,
    ),
    (
        "visualize_cuts",
        "a DiscoArt display switch",
        Acts::Bookkeeping,
    ),
    ("skip_event", "a DiscoArt run control", Acts::Bookkeeping),
    ("stop_event", "a DiscoArt run control", Acts::Bookkeeping),
    (
        "text_clip_on_cpu",
        "where DiscoArt runs CLIP's text encoder",
        Acts::Bookkeeping,
    ),
    // Python ports
    (
        "perf_guidance_interval",
        "a port's guidance every N steps only",
        Acts::Switch("1"),
    ),
    ("output_dir", "an output folder", Acts::Bookkeeping),
    ("models_dir", "a model folder", Acts::Bookkeeping),
    (
        "cpu",
        "choose the device with `disco build --device`",
        Acts::Bookkeeping,
    ),
    ("compile", "a speed switch", Acts::Bookkeeping),
    ("fast_fp16_secondary", "a speed switch", Acts::Bookkeeping),
];

/// The group and reason of fork key `key` with value `v`, if it is one; `model` is the
/// file's `diffusion_model`, `lossy(k)` whether key `k` of the file changes the picture.
pub fn classify(
    key: &str,
    v: &Value,
    model: Option<&str>,
    video_mode_possible: bool,
    on: impl Fn(&str) -> bool,
) -> Option<(Group, String)> {
    if key.starts_with("perf_") && key != "perf_guidance_interval" {
        return Some((Group::Bookkeeping, "a speed switch of a port".into()));
    }
    let (_, what, acts) = FORK_KEYS.iter().find(|(k, _, _)| *k == key)?;
    Some(match acts {
        Acts::Switch(off) => switch(what, v, off),
        Acts::VideoInput(_) if !video_mode_possible => (
            Group::OffOrDefault,
            format!("{what}: acts only in Video Input mode"),
        ),
        Acts::VideoInput(off) => switch(what, v, off),
        Acts::Tunes(parents) if parents.iter().any(|p| on(p)) => (
            Group::Bookkeeping,
            format!("{what}, which is listed as changing the picture"),
        ),
        Acts::Tunes(_) => (Group::OffOrDefault, format!("{what}, which is off")),
        Acts::WithModels(models) => with_models(what, models, model),
        Acts::Bookkeeping => (Group::Bookkeeping, (*what).into()),
    })
}

/// Whether fork key `key` with value `v` turns its feature on.
pub fn is_on(key: &str, v: &Value) -> bool {
    FORK_KEYS
        .iter()
        .find(|(k, _, _)| *k == key)
        .is_some_and(|(_, what, acts)| match acts {
            Acts::Switch(off) => switch(what, v, off).0 == Group::ChangesPicture,
            _ => false,
        })
}

fn switch(what: &str, v: &Value, off: &str) -> (Group, String) {
    let off: Value = serde_json::from_str(off).unwrap_or(Value::Null);
    if !truthy(v) || same(v, &off) {
        (Group::OffOrDefault, format!("{what}: off"))
    } else {
        (
            Group::ChangesPicture,
            format!("{what}: disco has no such feature"),
        )
    }
}

fn with_models(what: &str, models: &[&str], model: Option<&str>) -> (Group, String) {
    let used = model.is_some_and(|m| {
        models.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => m.starts_with(prefix),
            None => m == *p,
        })
    });
    if used {
        (
            Group::ChangesPicture,
            format!("{what}: needs the file's diffusion model, which disco cannot render yet"),
        )
    } else {
        (
            Group::OffOrDefault,
            format!("{what}: used only with other diffusion models"),
        )
    }
}
