//! Every setting a project can make, defined once: name, DD name, type, DD default, limits,
//! whether it can change pixels, and its documentation.
//!
//! `docs/project-format.md` and the completeness test against `parameters.md` are checked
//! against this table. Planning resolves settings into a job's inputs by hand
//! (`plan/expand.rs`); the test `tests/integration/key_flags.rs` makes the `pixels` flag
//! true to that: perturbing a setting marked `pixels` changes a key, any other changes none
//! (DESIGN.md §3).

use std::sync::LazyLock;

use kdl::KdlNode;
use serde_json::Value;

use super::diagnostic::Diagnostic;
use super::read::Cx;
use super::source::Spanned;
use super::types::*;
use disco_kernels::losses::RangeLoss;
use disco_kernels::perlin::PerlinMode;
use disco_kernels::sampler::SamplerKind;

/// Facts about one setting, for docs, validation and import.
#[derive(Debug, Clone)]
pub struct SettingInfo {
    /// Name in a project file (kebab-case).
    pub name: &'static str,
    /// Disco Diffusion's name (empty when DD has none).
    pub dd_name: &'static str,
    /// Documentation (first line = summary).
    pub doc: &'static str,
    /// What a value looks like.
    pub expects: &'static str,
    /// Whether the value can change a rendered pixel (and so belongs in a job's key).
    pub pixels: bool,
    /// Smallest valid value (inclusive); smaller is an error.
    pub min: Option<f64>,
    /// Smallest valid value (exclusive).
    pub above: Option<f64>,
    /// Largest valid value (inclusive); larger is an error.
    pub max: Option<f64>,
    /// The documented range (parameters.md); outside it is a warning.
    pub advised: Option<(f64, f64)>,
    /// The default, as DD JSON.
    pub default: Value,
}

macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident : $ty:ty = $default:expr ; $name:literal, dd $dd:literal, pixels $pixels:literal
            $(, min $min:literal)? $(, above $above:literal)? $(, max $max:literal)? $(, advised $lo:literal ..= $hi:literal)? ;
    )*) => {
        /// Every setting of a target, each with where it was written (`origin` = `None` for
        /// DD's default).
        #[derive(Clone, Debug, PartialEq)]
        pub struct Settings {
            $( $(#[doc = $doc])* pub $field: Spanned<$ty>, )*
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings { $( $field: Spanned::default_value($default), )* }
            }
        }

        /// The settings table, in documentation order.
        pub static SCHEMA: LazyLock<Vec<SettingInfo>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![$(
                SettingInfo {
                    name: $name,
                    dd_name: $dd,
                    doc: concat!($($doc, "\n"),*),
                    expects: <$ty as SettingType>::EXPECTS,
                    pixels: $pixels,
                    min: None $(.or(Some($min as f64)))?,
                    above: None $(.or(Some($above as f64)))?,
                    max: None $(.or(Some($max as f64)))?,
                    advised: None $(.or(Some(($lo as f64, $hi as f64))))?,
                    default: d.$field.value.to_json(),
                },
            )*]
        });

        impl Settings {
            /// Reads setting `name` from `node`; `None` if there is no such setting.
            pub fn set(&mut self, name: &str, node: &KdlNode, cx: Cx) -> Option<Result<(), Diagnostic>> {
                match name {
                    $( $name => Some(<$ty as SettingType>::from_node(node, cx).map(|v| {
                        self.$field = Spanned::at(v, cx.value_origin(node));
                    })), )*
                    _ => None,
                }
            }

            /// The value of setting `name` as DD JSON.
            pub fn get_json(&self, name: &str) -> Option<Value> {
                match name {
                    $( $name => Some(self.$field.value.to_json()), )*
                    _ => None,
                }
            }

            /// Every number of `name` (each keyframe's) and where it was written, for range checks.
            pub fn numbers(&self, name: &str) -> Option<(Vec<f64>, Option<&super::source::Origin>)> {
                match name {
                    $( $name => Some((self.$field.value.numbers(), self.$field.origin.as_ref())), )*
                    _ => None,
                }
            }

            /// Where setting `name` was written, if it was.
            pub fn origin(&self, name: &str) -> Option<&super::source::Origin> {
                match name {
                    $( $name => self.$field.origin.as_ref(), )*
                    _ => None,
                }
            }

            /// KDL text for a setting from its DD JSON value (for `disco import`).
            pub fn kdl_from_json(name: &str, v: &Value) -> Option<Result<String, FromDdError>> {
                match name {
                    $( $name => Some(<$ty as SettingType>::kdl_from_json(v)), )*
                    _ => None,
                }
            }
        }
    };
}

settings! {
    // ---- Basic (parameters.md; dd-algorithm.md §2.1) ----
    /// File and folder name for the batch: outputs go to `images_out/<batch-name>/`.
    batch_name: String = "TimeToDisco".into(); "batch-name", dd "batch_name", pixels false;
    /// Text prompts keyed by frame, each with an optional weight (`"text:2"` or `weight=2`).
    text_prompts: Prompts = Prompts::dd_default(); "text-prompts", dd "text_prompts", pixels true;
    /// Image prompts keyed by frame (paths relative to the file that names them).
    image_prompts: Prompts = Prompts::default(); "image-prompts", dd "image_prompts", pixels true;
    /// What CLIP reads of a prompt written `"text:weight"`: "disco" (the text alone) or "dd"
    /// (the whole string, suffix included, as DD tokenises it; dd-algorithm.md §3.2).
    prompt_tokenization: PromptTokenization = PromptTokenization::Disco; "prompt-tokenization", dd "", pixels true;
    /// Output size in pixels; each side is floored to a multiple of 64. DD's default is
    /// 1280×768 for 512-class models and 512×448 for 256-class models.
    width_height: WidthHeight = WidthHeight { width: 1280, height: 768 }; "width-height", dd "width_height", pixels true;
    /// Number of diffusion steps (the respacing is `ddim{steps}`).
    steps: u32 = 250; "steps", dd "steps", pixels true, min 1, max 10000;
    /// Steps skipped at the start of the noise schedule (must be less than `steps`).
    skip_steps: u32 = 10; "skip-steps", dd "skip_steps", pixels true;
    /// How strongly CLIP pulls toward the prompts each step.
    clip_guidance_scale: Keyed<f64> = Keyed::Fixed(5000.0); "clip-guidance-scale", dd "clip_guidance_scale", pixels true, min 0, advised 1500 ..= 100000;
    /// L2 total-variation smoothing of the denoised estimate.
    tv_scale: Keyed<f64> = Keyed::Fixed(0.0); "tv-scale", dd "tv_scale", pixels true, min 0, advised 0 ..= 1000;
    /// Range loss weight. In DD it has no effect (dd-algorithm.md §5.7); disco keeps DD's behaviour.
    range_scale: Keyed<f64> = Keyed::Fixed(150.0); "range-scale", dd "range_scale", pixels true, min 0, advised 0 ..= 1000;
    /// How `range-scale` acts: "dd" (DD's behaviour: no effect, dd-algorithm.md §5.7) or
    /// "through-denoiser" (the range loss's gradient flows back through the denoiser).
    range_loss: RangeLoss = RangeLoss::Dd; "range-loss", dd "", pixels true;
    /// Penalty on values outside [-1, 1] (mitigates over-saturation).
    sat_scale: Keyed<f64> = Keyed::Fixed(0.0); "sat-scale", dd "sat_scale", pixels true, min 0, advised 0 ..= 2000;
    /// Start image (resized to the output size), or `#null`.
    init_image: OptPath = OptPath::default(); "init-image", dd "init_image", pixels true;
    /// LPIPS weight pulling the image toward the init image.
    init_scale: f64 = 1000.0; "init-scale", dd "init_scale", pixels true, min 0, advised 10 ..= 20000;
    /// Cutout/CLIP passes per step (each with new cuts and augmentations).
    cutn_batches: Keyed<u32> = Keyed::Fixed(4); "cutn-batches", dd "cutn_batches", pixels true, min 1, max 256, advised 1 ..= 8;
    /// Skip the torchvision-style augmentations of the cutouts.
    skip_augs: bool = false; "skip-augs", dd "skip_augs", pixels true;
    /// Number of still images in a batch (stills only).
    n_batches: u32 = 50; "n-batches", dd "n_batches", pixels false, min 1, advised 1 ..= 100;
    /// Write the in-progress image every this many steps (DD's notebook uses 20, the CLI 50).
    display_rate: u32 = 50; "display-rate", dd "display_rate", pixels false, min 1, advised 5 ..= 500;
    /// Accepted for DD compatibility: disco always resumes interrupted builds.
    resume_run: bool = false; "resume-run", dd "resume_run", pixels false;

    // ---- Models (§2.2) ----
    /// The guided-diffusion checkpoint: a DD model name, or "custom" (`custom-path`, `custom-model`).
    diffusion_model: DiffusionModel = DiffusionModel::Uncond512; "diffusion-model", dd "diffusion_model", pixels true;
    /// With `diffusion-model "custom"`: the checkpoint. The model set's custom model of this file
    /// name renders (the graph's hash is in the key, so the path itself changes no pixel).
    custom_path: OptPath = OptPath::default(); "custom-path", dd "custom_path", pixels false;
    /// Custom model: image size it was trained at (guided-diffusion's `image_size`).
    custom_model_image_size: u32 = 256; "custom-model-image-size", dd "custom_model_image_size", pixels false, min 8;
    /// Custom model: base channel count (`num_channels`).
    custom_model_num_channels: u32 = 128; "custom-model-num-channels", dd "custom_model_num_channels", pixels false, min 1;
    /// Custom model: ResBlocks per level (`num_res_blocks`).
    custom_model_num_res_blocks: u32 = 2; "custom-model-num-res-blocks", dd "custom_model_num_res_blocks", pixels false, min 1;
    /// Custom model: resolutions with attention (`attention_resolutions`, e.g. "32,16,8").
    custom_model_attention_resolutions: NumberList = NumberList("16".into()); "custom-model-attention-resolutions", dd "custom_model_attention_resolutions", pixels false;
    /// Custom model: channel multiplier per level (`channel_mult`; "" = guided-diffusion's for the image size).
    custom_model_channel_mult: NumberList = NumberList::default(); "custom-model-channel-mult", dd "custom_model_channel_mult", pixels false;
    /// Custom model: attention heads (`num_heads`, when `num-head-channels` is -1).
    custom_model_num_heads: i32 = 1; "custom-model-num-heads", dd "custom_model_num_heads", pixels false;
    /// Custom model: channels per attention head (`num_head_channels`), or -1.
    custom_model_num_head_channels: i32 = -1; "custom-model-num-head-channels", dd "custom_model_num_head_channels", pixels false;
    /// Custom model: heads of the decoder's attention (`num_heads_upsample`), or -1 (= `num-heads`).
    custom_model_num_heads_upsample: i32 = -1; "custom-model-num-heads-upsample", dd "custom_model_num_heads_upsample", pixels false;
    /// Custom model: 6 output channels (ε and variance) rather than 3 (`learn_sigma`).
    custom_model_learn_sigma: bool = true; "custom-model-learn-sigma", dd "custom_model_learn_sigma", pixels false;
    /// Custom model: scale-shift time conditioning (`use_scale_shift_norm`).
    custom_model_use_scale_shift_norm: bool = false; "custom-model-use-scale-shift-norm", dd "custom_model_use_scale_shift_norm", pixels false;
    /// Custom model: resampling inside ResBlocks (`resblock_updown`).
    custom_model_resblock_updown: bool = false; "custom-model-resblock-updown", dd "custom_model_resblock_updown", pixels false;
    /// Custom model: QKV split before heads (`use_new_attention_order`).
    custom_model_use_new_attention_order: bool = false; "custom-model-use-new-attention-order", dd "custom_model_use_new_attention_order", pixels false;
    /// Custom model: DD runs its torso in fp16 (`use_fp16`); on CUDA disco then runs the set's fp16
    /// graphs of the model (the fp32 ones on the CPU; the graphs' hashes are in the keys).
    custom_model_use_fp16: bool = true; "custom-model-use-fp16", dd "custom_model_use_fp16", pixels false;
    /// Guide with the small secondary model's denoised estimate (faster) instead of the UNet's.
    use_secondary_model: bool = true; "use-secondary-model", dd "use_secondary_model", pixels true;
    /// The sampler: "ddim" or "plms".
    diffusion_sampling_mode: SamplerKind = SamplerKind::Ddim; "diffusion-sampling-mode", dd "diffusion_sampling_mode", pixels true;
    /// DD's `sampling_mode`: the 3D warp's interpolation. The CLI port's docs use this name for
    /// the sampler, so "ddim"/"plms" here set `diffusion-sampling-mode` instead (with a warning).
    sampling_mode: GridSampleMode = GridSampleMode::Bicubic; "sampling-mode", dd "sampling_mode", pixels true;
    /// Derived, as in DD: `ddim{steps}`. May be given only with that value.
    timestep_respacing: String = "ddim250".into(); "timestep-respacing", dd "timestep_respacing", pixels false;
    /// Derived, as in DD: `(1000 // steps) * steps` below 1000 steps, else `steps`.
    diffusion_steps: u32 = 1000; "diffusion-steps", dd "diffusion_steps", pixels false;
    /// Memory saving in DD (gradient checkpointing). In disco: run cut batches in smaller
    /// pieces to lower peak memory; never changes pixels.
    use_checkpoint: bool = true; "use-checkpoint", dd "use_checkpoint", pixels false;
    /// CLIP ViT-B/32.
    vit_b32: bool = true; "vit-b32", dd "ViTB32", pixels true;
    /// CLIP ViT-B/16.
    vit_b16: bool = true; "vit-b16", dd "ViTB16", pixels true;
    /// CLIP ViT-L/14.
    vit_l14: bool = false; "vit-l14", dd "ViTL14", pixels true;
    /// CLIP ViT-L/14@336px.
    vit_l14_336px: bool = false; "vit-l14-336px", dd "ViTL14_336px", pixels true;
    /// CLIP RN50.
    rn50: bool = true; "rn50", dd "RN50", pixels true;
    /// CLIP RN101.
    rn101: bool = false; "rn101", dd "RN101", pixels true;
    /// CLIP RN50x4.
    rn50x4: bool = false; "rn50x4", dd "RN50x4", pixels true;
    /// CLIP RN50x16.
    rn50x16: bool = false; "rn50x16", dd "RN50x16", pixels true;
    /// CLIP RN50x64.
    rn50x64: bool = false; "rn50x64", dd "RN50x64", pixels true;
    /// OpenCLIP ViT-B-32::laion2b_e16 (DD's `ViTB32_laion2b_e16`).
    vit_b32_laion2b_e16: bool = false; "vit-b32-laion2b-e16", dd "ViTB32_laion2b_e16", pixels true;
    /// OpenCLIP ViT-B-32::laion400m_e31 (DD's `ViTB32_laion400m_e31`).
    vit_b32_laion400m_e31: bool = false; "vit-b32-laion400m-e31", dd "ViTB32_laion400m_e31", pixels true;
    /// OpenCLIP ViT-B-32::laion400m_e32 (DD's `ViTB32_laion400m_32`).
    vit_b32_laion400m_e32: bool = false; "vit-b32-laion400m-e32", dd "ViTB32_laion400m_32", pixels true;
    /// OpenCLIP ViT-B-32-quickgelu::laion400m_e31 (DD's `ViTB32quickgelu_laion400m_e31`).
    vit_b32_quickgelu_laion400m_e31: bool = false; "vit-b32-quickgelu-laion400m-e31", dd "ViTB32quickgelu_laion400m_e31", pixels true;
    /// OpenCLIP ViT-B-32-quickgelu::laion400m_e32 (DD's `ViTB32quickgelu_laion400m_e32`).
    vit_b32_quickgelu_laion400m_e32: bool = false; "vit-b32-quickgelu-laion400m-e32", dd "ViTB32quickgelu_laion400m_e32", pixels true;
    /// OpenCLIP ViT-B-16::laion400m_e31 (DD's `ViTB16_laion400m_e31`).
    vit_b16_laion400m_e31: bool = false; "vit-b16-laion400m-e31", dd "ViTB16_laion400m_e31", pixels true;
    /// OpenCLIP ViT-B-16::laion400m_e32 (DD's `ViTB16_laion400m_e32`).
    vit_b16_laion400m_e32: bool = false; "vit-b16-laion400m-e32", dd "ViTB16_laion400m_e32", pixels true;
    /// OpenCLIP RN50::yfcc15m (DD's `RN50_yffcc15m`).
    rn50_yfcc15m: bool = false; "rn50-yfcc15m", dd "RN50_yffcc15m", pixels true;
    /// OpenCLIP RN50::cc12m (DD's `RN50_cc12m`).
    rn50_cc12m: bool = false; "rn50-cc12m", dd "RN50_cc12m", pixels true;
    /// OpenCLIP RN50-quickgelu::yfcc15m (DD's `RN50_quickgelu_yfcc15m`).
    rn50_quickgelu_yfcc15m: bool = false; "rn50-quickgelu-yfcc15m", dd "RN50_quickgelu_yfcc15m", pixels true;
    /// OpenCLIP RN50-quickgelu::cc12m (DD's `RN50_quickgelu_cc12m`).
    rn50_quickgelu_cc12m: bool = false; "rn50-quickgelu-cc12m", dd "RN50_quickgelu_cc12m", pixels true;
    /// OpenCLIP RN101::yfcc15m (DD's `RN101_yfcc15m`).
    rn101_yfcc15m: bool = false; "rn101-yfcc15m", dd "RN101_yfcc15m", pixels true;
    /// OpenCLIP RN101-quickgelu::yfcc15m (DD's `RN101_quickgelu_yfcc15m`).
    rn101_quickgelu_yfcc15m: bool = false; "rn101-quickgelu-yfcc15m", dd "RN101_quickgelu_yfcc15m", pixels true;
    /// OpenCLIP ViT-B-32::laion2b_s34b_b79k (DiscoArt and later forks; no DD toggle).
    vit_b32_laion2b_s34b_b79k: bool = false; "vit-b32-laion2b-s34b-b79k", dd "", pixels true;
    /// OpenCLIP ViT-L-14::laion400m_e31 (DiscoArt and later forks; no DD toggle).
    vit_l14_laion400m_e31: bool = false; "vit-l14-laion400m-e31", dd "", pixels true;
    /// OpenCLIP ViT-L-14::laion400m_e32 (DiscoArt and later forks; no DD toggle).
    vit_l14_laion400m_e32: bool = false; "vit-l14-laion400m-e32", dd "", pixels true;
    /// OpenCLIP ViT-L-14::laion2b_s32b_b82k (DiscoArt and later forks; no DD toggle).
    vit_l14_laion2b_s32b_b82k: bool = false; "vit-l14-laion2b-s32b-b82k", dd "", pixels true;
    /// OpenCLIP ViT-H-14::laion2b_s32b_b79k (DiscoArt and later forks; no DD toggle).
    vit_h14_laion2b_s32b_b79k: bool = false; "vit-h14-laion2b-s32b-b79k", dd "", pixels true;
    /// Save k+1 or more partial images (a count), or at given steps (`{ at 10 50 }`).
    intermediate_saves: IntermediateSaves = IntermediateSaves::Count(0); "intermediate-saves", dd "intermediate_saves", pixels false;
    /// Put partial images in a `partials/` subfolder.
    intermediates_in_subfolder: bool = true; "intermediates-in-subfolder", dd "intermediates_in_subfolder", pixels false;

    // ---- Extra settings (§2.3) ----
    /// The run seed (DD's `set_seed`): an integer, or "random".
    seed: Seed = Seed::Random; "seed", dd "seed", pixels true;
    /// DDIM η (noise added per step); above 1 risks NaN.
    eta: Keyed<f64> = Keyed::Fixed(0.8); "eta", dd "eta", pixels true, min 0, advised 0 ..= 1;
    /// Cap the RMS of the guidance gradient at `clamp-max`.
    clamp_grad: bool = true; "clamp-grad", dd "clamp_grad", pixels true;
    /// RMS ceiling of the guidance gradient.
    clamp_max: Keyed<f64> = Keyed::Fixed(0.05); "clamp-max", dd "clamp_max", pixels true, above 0;
    /// Compute the CLIP guidance gradient on every N-th evaluation only and reuse it in
    /// between (philpax/disco-diffusion's lazy guidance, its `guidance_every`): faster, and
    /// not DD's pictures. 1 (DD) guides every step.
    guidance_every: u32 = 1; "guidance-every", dd "", pixels true, min 1, max 1000;
    /// progrock's brightness and contrast correction (its `fix_brightness_contrast`): every
    /// `adjustment-interval` steps in the first 30 %, an x̂0 too bright, dark, contrasty or flat
    /// is corrected as PIL's ImageEnhance does and the sampler restarts from it. Off in DD.
    fix_brightness_contrast: bool = false; "fix-brightness-contrast", dd "", pixels true;
    /// Steps between the correction's measurements.
    adjustment_interval: u32 = 10; "adjustment-interval", dd "", pixels true, min 1, max 10000;
    /// Whether the high-brightness correction acts.
    high_brightness_adjust: bool = true; "high-brightness-adjust", dd "", pixels true;
    /// Brightness above which x̂0 is darkened (0–255, the mean of the channels' means).
    high_brightness_threshold: f64 = 180.0; "high-brightness-threshold", dd "", pixels true, min 0, max 255;
    /// The high-brightness correction's PIL enhancement factor (1 changes nothing).
    high_brightness_adjust_amount: f64 = 0.85; "high-brightness-adjust-amount", dd "", pixels true, min 0, max 100;
    /// The high-brightness correction acts only after this step.
    high_brightness_start: u32 = 0; "high-brightness-start", dd "", pixels true, max 10000;
    /// Whether the low-brightness correction acts.
    low_brightness_adjust: bool = true; "low-brightness-adjust", dd "", pixels true;
    /// Brightness below which x̂0 is brightened (0–255).
    low_brightness_threshold: f64 = 40.0; "low-brightness-threshold", dd "", pixels true, min 0, max 255;
    /// The low-brightness correction's PIL enhancement factor (1 changes nothing).
    low_brightness_adjust_amount: f64 = 1.15; "low-brightness-adjust-amount", dd "", pixels true, min 0, max 100;
    /// The low-brightness correction acts only after this step.
    low_brightness_start: u32 = 0; "low-brightness-start", dd "", pixels true, max 10000;
    /// Whether the high-contrast correction acts.
    high_contrast_adjust: bool = true; "high-contrast-adjust", dd "", pixels true;
    /// Contrast above which x̂0 is flattened (0–255, the mean of the channels' standard deviations).
    high_contrast_threshold: f64 = 80.0; "high-contrast-threshold", dd "", pixels true, min 0, max 255;
    /// The high-contrast correction's PIL enhancement factor (1 changes nothing).
    high_contrast_adjust_amount: f64 = 0.85; "high-contrast-adjust-amount", dd "", pixels true, min 0, max 100;
    /// The high-contrast correction acts only after this step.
    high_contrast_start: u32 = 20; "high-contrast-start", dd "", pixels true, max 10000;
    /// Whether the low-contrast correction acts.
    low_contrast_adjust: bool = true; "low-contrast-adjust", dd "", pixels true;
    /// Contrast below which x̂0 is strengthened (0–255).
    low_contrast_threshold: f64 = 20.0; "low-contrast-threshold", dd "", pixels true, min 0, max 255;
    /// The low-contrast correction's PIL enhancement factor (1 changes nothing).
    low_contrast_adjust_amount: f64 = 2.0; "low-contrast-adjust-amount", dd "", pixels true, min 0, max 100;
    /// The low-contrast correction acts only after this step.
    low_contrast_start: u32 = 20; "low-contrast-start", dd "", pixels true, max 10000;
    /// Clamp the denoised estimate to [-1, 1] inside the sampler.
    clip_denoised: bool = false; "clip-denoised", dd "clip_denoised", pixels true;
    /// No effect for unconditional models (kept for DD compatibility).
    randomize_class: bool = true; "randomize-class", dd "randomize_class", pixels false;
    /// Add 25 noisy copies of every text prompt embedding.
    fuzzy_prompt: bool = false; "fuzzy-prompt", dd "fuzzy_prompt", pixels true;
    /// Noise level of the fuzzy copies.
    rand_mag: Keyed<f64> = Keyed::Fixed(0.05); "rand-mag", dd "rand_mag", pixels true, min 0;
    /// Start from Perlin noise instead of Gaussian noise.
    perlin_init: bool = false; "perlin-init", dd "perlin_init", pixels true;
    /// Perlin colour mode: "mixed", "color" or "gray".
    perlin_mode: PerlinMode = PerlinMode::Mixed; "perlin-mode", dd "perlin_mode", pixels true;
    /// Start from a Voronoi image (the CLI port's `init_generator "voronoi"`): random points,
    /// each pixel the colour of its nearest point. Replaces an init image; not with `perlin-init`.
    voronoi_init: bool = false; "voronoi-init", dd "", pixels true;
    /// Number of Voronoi points (regions).
    voronoi_points: u32 = 200; "voronoi-points", dd "", pixels true, min 1, max 100000;
    /// The regions' colours in turn ("#RRGGBB" or 0xRRGGBBAA); none = random colours (red
    /// 0–128, green 0–255, blue 50–255, the port's default palette).
    voronoi_palette: Colours = Colours::default(); "voronoi-palette", dd "", pixels true;
    /// Overview cuts per diffusion time (1000 entries).
    cut_overview: CutSchedule = CutSchedule::dd("[12]*400+[4]*600"); "cut-overview", dd "cut_overview", pixels true;
    /// Inner cuts per diffusion time (1000 entries).
    cut_innercut: CutSchedule = CutSchedule::dd("[4]*400+[12]*600"); "cut-innercut", dd "cut_innercut", pixels true;
    /// Inner-cut size exponent per diffusion time (1000 entries, > 0).
    cut_ic_pow: CutSchedule = CutSchedule::dd("[1]*1000"); "cut-ic-pow", dd "cut_ic_pow", pixels true;
    /// Fraction of gray inner cuts per diffusion time (1000 entries in [0, 1]).
    cut_icgray_p: CutSchedule = CutSchedule::dd("[0.2]*400+[0]*600"); "cut-icgray-p", dd "cut_icgray_p", pixels true;
    /// Mirror the top half into the bottom half at the `transformation-percent` points (DDIM).
    use_vertical_symmetry: bool = false; "use-vertical-symmetry", dd "use_vertical_symmetry", pixels true;
    /// Mirror the left half into the right half at the `transformation-percent` points (DDIM).
    use_horizontal_symmetry: bool = false; "use-horizontal-symmetry", dd "use_horizontal_symmetry", pixels true;
    /// When symmetry is applied, as fractions of the remaining steps.
    transformation_percent: Fractions = Fractions(vec![0.09]); "transformation-percent", dd "transformation_percent", pixels true;

    // ---- Animation and video (§2.4) ----
    /// "None" (stills), "2D", "3D" or "Video Input" (restyle `video-init-path`).
    animation_mode: AnimationMode = AnimationMode::None; "animation-mode", dd "animation_mode", pixels true;
    /// Accepted for DD compatibility: keyframe strings and plain numbers are both always accepted.
    key_frames: bool = true; "key-frames", dd "key_frames", pixels false;
    /// Number of animation frames.
    max_frames: u32 = 10000; "max-frames", dd "max_frames", pixels true, min 1;
    /// Interpolation between keyframes: "Linear", "Quadratic" or "Cubic".
    interp_spline: InterpSpline = InterpSpline::Linear; "interp-spline", dd "interp_spline", pixels true;
    /// Rotation in degrees per frame (2D), keyframed.
    angle: Keyframes = Keyframes::dd("0:(0)"); "angle", dd "angle", pixels true;
    /// Zoom factor per frame (2D), keyframed.
    zoom: Keyframes = Keyframes::dd("0: (1), 10: (1.05)"); "zoom", dd "zoom", pixels true;
    /// Horizontal shift per frame, keyframed: pixels (2D), or 1/200 of the scene's unit (3D).
    translation_x: Keyframes = Keyframes::dd("0: (0)"); "translation-x", dd "translation_x", pixels true;
    /// Vertical shift per frame, keyframed: pixels (2D), or 1/200 of the scene's unit (3D).
    translation_y: Keyframes = Keyframes::dd("0: (0)"); "translation-y", dd "translation_y", pixels true;
    // 3D (dd-algorithm.md §2.4, §10.4): its own block of the table, `validate3d.rs` checks it.
    /// Camera move along the view axis per frame (3D), in 1/200 of the scene's unit; positive
    /// moves forward, into the picture. Keyframed.
    translation_z: Keyframes = Keyframes::dd("0: (10.0)"); "translation-z", dd "translation_z", pixels true;
    /// Camera rotation about the x axis (tilt) in degrees per frame (3D), keyframed.
    rotation_3d_x: Keyframes = Keyframes::dd("0: (0)"); "rotation-3d-x", dd "rotation_3d_x", pixels true;
    /// Camera rotation about the y axis (pan) in degrees per frame (3D), keyframed.
    rotation_3d_y: Keyframes = Keyframes::dd("0: (0)"); "rotation-3d-y", dd "rotation_3d_y", pixels true;
    /// Camera rotation about the view axis (roll) in degrees per frame (3D), keyframed.
    rotation_3d_z: Keyframes = Keyframes::dd("0: (0)"); "rotation-3d-z", dd "rotation_3d_z", pixels true;
    /// The MiDaS network that estimates each 3D frame's depth.
    midas_depth_model: MidasDepthModel = MidasDepthModel::DptLarge; "midas-depth-model", dd "midas_depth_model", pixels true;
    /// Weight of MiDaS's depth against AdaBins-NYU's (3D): 1 uses MiDaS alone; below 1 the
    /// depth is `w·MiDaS + (1 − w)·AdaBins`.
    midas_weight: f64 = 0.3; "midas-weight", dd "midas_weight", pixels true, min 0, max 1;
    /// The 3D camera's near clipping plane. With DD's square frustum it shapes only the depth
    /// coordinate DD drops, so it changes no pixel.
    near_plane: f64 = 200.0; "near-plane", dd "near_plane", pixels false, above 0;
    /// The 3D camera's far clipping plane; like `near-plane`, it changes no pixel.
    far_plane: f64 = 10000.0; "far-plane", dd "far_plane", pixels false, above 0;
    /// The 3D camera's field of view in degrees (below 180): wider exaggerates parallax.
    fov: f64 = 40.0; "fov", dd "fov", pixels true, above 0;
    /// What the 3D warp samples outside the previous frame: "border", "zeros" or "reflection".
    padding_mode: Padding = Padding::Border; "padding-mode", dd "padding_mode", pixels true;
    /// 3D: diffuse only every `turbo-steps`-th frame after `turbo-preroll`; the frames
    /// between are blends of warps of the last two.
    turbo_mode: bool = false; "turbo-mode", dd "turbo_mode", pixels true;
    /// With `turbo-mode`: diffuse every this many frames.
    turbo_steps: u32 = 3; "turbo-steps", dd "turbo_steps", pixels true, min 1, advised 2 ..= 6;
    /// With `turbo-mode`: frames diffused one by one before turbo starts.
    turbo_preroll: u32 = 10; "turbo-preroll", dd "turbo_preroll", pixels true;
    /// 3D: also write left- and right-eye views of each frame (`_l`, `_r`).
    vr_mode: bool = false; "vr-mode", dd "vr_mode", pixels true;
    /// With `vr-mode`: each eye's rotation about the y axis, in degrees.
    vr_eye_angle: f64 = 0.5; "vr-eye-angle", dd "vr_eye_angle", pixels true;
    /// With `vr-mode`: the distance between the eyes, in 1/200 of the scene's unit.
    vr_ipd: f64 = 5.0; "vr-ipd", dd "vr_ipd", pixels true;
    /// LPIPS weight pulling each frame toward the warped previous frame.
    frames_scale: Keyed<f64> = Keyed::Fixed(1500.0); "frames-scale", dd "frames_scale", pixels true, min 0;
    /// Steps skipped for frames after the first, as a percentage of `steps`.
    frames_skip_steps: Keyed<Percent> = Keyed::Fixed(Percent(60.0)); "frames-skip-steps", dd "frames_skip_steps", pixels true;
    /// Frames per second of the assembled video.
    video_fps: f64 = 12.0; "video-fps", dd "fps", pixels false, above 0;
    /// H.264 constant rate factor of the video (0 = lossless, 51 = worst).
    video_crf: u32 = 17; "video-crf", dd "", pixels false, max 51;

    // ---- Video Input (§2.4, §10.5; checks in video_input.rs) ----
    /// Video Input: the video whose frames are the inits (relative to this file). DD's
    /// default is `init.mp4`; disco asks for the path.
    video_init_path: OptPath = OptPath::default(); "video-init-path", dd "video_init_path", pixels false;
    /// Video Input: use every n-th frame of the video (frames 0, n, 2n, …).
    extract_nth_frame: u32 = 2; "extract-nth-frame", dd "extract_nth_frame", pixels true, min 1;
    /// Video Input: every frame keeps the run seed; off, frame f uses seed + f + 1 (DD).
    video_init_seed_continuity: bool = false; "video-init-seed-continuity", dd "video_init_seed_continuity", pixels true;
    /// Video Input: blend each source frame with the previous output warped along the optical flow.
    video_init_flow_warp: bool = true; "video-init-flow-warp", dd "video_init_flow_warp", pixels true;
    /// Video Input: weight of the flow-warped previous output in a frame's init (0 = the source frame).
    video_init_flow_blend: f64 = 0.999; "video-init-flow-blend", dd "video_init_flow_blend", pixels true, min 0, max 1;
    /// Video Input: keep the previous output only where forward and backward flow agree.
    video_init_check_consistency: bool = false; "video-init-check-consistency", dd "video_init_check_consistency", pixels true;
    /// Video Input: a blended video beside the plain one: "optical flow" (`flow/`, `<batch>(0)_flow.mp4`), "linear" (`blend/`, `<batch>(0)_blend.mp4`) or "None".
    video_init_blend_mode: VideoBlendMode = VideoBlendMode::OpticalFlow; "video-init-blend-mode", dd "video_init_blend_mode", pixels false;
    /// Video Input: diffusion steps (replaces `steps`).
    video_init_steps: u32 = 100; "video-init-steps", dd "video_init_steps", pixels true, min 1, max 10000;
    /// Video Input: CLIP guidance scale (replaces `clip-guidance-scale`; DD ignores it).
    video_init_clip_guidance_scale: f64 = 1000.0; "video-init-clip-guidance-scale", dd "video_init_clip_guidance_scale", pixels true, min 0;
    /// Video Input: total-variation scale (replaces `tv-scale`; DD ignores it).
    video_init_tv_scale: f64 = 0.1; "video-init-tv-scale", dd "video_init_tv_scale", pixels true, min 0;
    /// Video Input: range scale (replaces `range-scale`).
    video_init_range_scale: f64 = 150.0; "video-init-range-scale", dd "video_init_range_scale", pixels true, min 0;
    /// Video Input: saturation scale (replaces `sat-scale`; DD ignores it).
    video_init_sat_scale: f64 = 300.0; "video-init-sat-scale", dd "video_init_sat_scale", pixels true, min 0;
    /// Video Input: cutout batches per step (replaces `cutn-batches`).
    video_init_cutn_batches: u32 = 4; "video-init-cutn-batches", dd "video_init_cutn_batches", pixels true, min 1, max 256;
    /// Video Input: steps skipped for the first frame (replaces `skip-steps`).
    video_init_skip_steps: u32 = 50; "video-init-skip-steps", dd "video_init_skip_steps", pixels true;
    /// Video Input: LPIPS weight toward each frame's init (replaces `frames-scale`).
    video_init_frames_scale: f64 = 15000.0; "video-init-frames-scale", dd "video_init_frames_scale", pixels true, min 0;
    /// Video Input: steps skipped for frames after the first (replaces `frames-skip-steps`; DD ignores it).
    video_init_frames_skip_steps: Percent = Percent(70.0); "video-init-frames-skip-steps", dd "video_init_frames_skip_steps", pixels true;

    // ---- disco's own ----
    /// The exported model set (a directory with `manifest.json`), relative to this file.
    model_set: OptPath = OptPath { written: Some("models/default".into()), resolved: None }; "model-set", dd "", pixels false;
}

/// Looks a setting up by its project-file name.
pub fn info(name: &str) -> Option<&'static SettingInfo> {
    SCHEMA.iter().find(|s| s.name == name)
}

/// Looks a setting up by Disco Diffusion's name.
pub fn by_dd_name(dd: &str) -> Option<&'static SettingInfo> {
    SCHEMA
        .iter()
        .find(|s| !s.dd_name.is_empty() && s.dd_name == dd)
}

/// DD settings disco knows but does not support yet, with the reason (shown on use and by import).
/// Empty since 3D and Video Input landed; kept so the next such feature is refused loudly.
pub const UNSUPPORTED: &[(&str, &str)] = &[];

pub use crate::clip_names::CLIP_MODELS;

impl Settings {
    /// Which diffusion model of the set renders: DD's name, or `custom:<file name of
    /// custom-path>` for a custom model (the name the exporter gives it).
    pub fn diffusion_selector(&self) -> String {
        if self.diffusion_model.value != DiffusionModel::Custom {
            return self.diffusion_model.value.name().to_owned();
        }
        let file = self
            .custom_path
            .value
            .written
            .as_deref()
            .unwrap_or_default();
        let name = file.rsplit(['/', '\\']).next().unwrap_or_default();
        format!("custom:{name}")
    }

    /// Whether DD runs the diffusion model's torso in fp16 on a GPU (`use_fp16`): every model it
    /// names, and a custom model unless `custom-model-use-fp16 #false`.
    pub fn dd_use_fp16(&self) -> bool {
        self.diffusion_model.value != DiffusionModel::Custom || self.custom_model_use_fp16.value
    }

    /// The enabled CLIP models as DD flag names, in DD's load order.
    pub fn clip_models(&self) -> Vec<&'static str> {
        CLIP_MODELS
            .iter()
            .filter(|(name, _, _)| self.get_json(name) == Some(Value::Bool(true)))
            .map(|(_, dd, _)| *dd)
            .collect()
    }

    /// `timestep_respacing` and `diffusion_steps` as DD derives them from `steps` (§4.2).
    pub fn derived_respacing(steps: u32) -> (String, u32) {
        let d = if steps < 1000 {
            (1000 / steps.max(1)) * steps
        } else {
            steps
        };
        (format!("ddim{steps}"), d)
    }

    /// Settings as a Disco Diffusion settings JSON object (DD names; `width`/`height`
    /// unrounded as DD records them).
    pub fn to_dd_json(&self) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        for s in SCHEMA.iter().filter(|s| !s.dd_name.is_empty()) {
            let v = self.get_json(s.name).unwrap_or(Value::Null);
            if s.name == "width-height" {
                let (w, h) = (self.width_height.width, self.width_height.height);
                out.insert("width".into(), w.into());
                out.insert("height".into(), h.into());
            }
            out.insert(s.dd_name.into(), v);
        }
        out
    }
}

/// The settings reference table of docs/project-format.md, generated from [`SCHEMA`]
/// (a test keeps the document in step with this table).
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "| setting | DD name | default | accepts | limits | in key | description |\n| --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let num = |x: f64| super::types::fmt_number(x);
    for s in SCHEMA.iter() {
        let mut limits = Vec::new();
        if let Some(m) = s.min {
            limits.push(format!("≥ {}", num(m)));
        }
        if let Some(m) = s.above {
            limits.push(format!("> {}", num(m)));
        }
        if let Some(m) = s.max {
            limits.push(format!("≤ {}", num(m)));
        }
        if let Some((lo, hi)) = s.advised {
            limits.push(format!("advised {}–{}", num(lo), num(hi)));
        }
        let default = match &s.default {
            Value::Object(m) if m.is_empty() => "none".to_owned(),
            Value::Object(_) => "DD's lighthouse prompts".to_owned(),
            v => v.to_string(),
        };
        let doc = s.doc.split_whitespace().collect::<Vec<_>>().join(" ");
        out.push_str(&format!(
            "| `{}` | {} | `{}` | {} | {} | {} | {} |\n",
            s.name,
            if s.dd_name.is_empty() {
                "—".to_owned()
            } else {
                format!("`{}`", s.dd_name)
            },
            default.replace('|', "\\|"),
            s.expects.replace('|', "\\|"),
            limits.join(", "),
            if s.pixels { "yes" } else { "no" },
            doc.replace('|', "\\|"),
        ));
    }
    out
}
