//! A job's resolved inputs: exactly what can change its pixels (DESIGN.md §3), as typed
//! values. The one shape of a job's inputs: hashed into the key, recorded in the store, shown
//! by `disco plan` when they differ, and read by the renderer (its `RenderSpec` is these plus
//! the loaded pixels).
//!
//! Settings that have no effect in a configuration are left out (`None`), so changing them
//! re-renders nothing: `range-scale` under DD's range loss, `eta` under PLMS, `clamp-max`
//! without `clamp-grad`, `transformation-percent` without symmetry, the Perlin mode when an
//! init image is given.
//!
//! The serialised form is the key's contract (`key.rs`): field names and shapes must not
//! move. Choices are the kernels' own enums, written under the names the key has always
//! hashed; a stored value that is not a variant fails to deserialise (serde's typed error),
//! it never falls back to another variant.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::key::Key;
use disco_kernels::cutouts::augment::AugMode;
use disco_kernels::losses::RangeLoss;
use disco_kernels::perlin::PerlinMode;
use disco_kernels::sampler::{Method, Symmetry};
use disco_kernels::tone_fix::ToneFix;

/// Inputs shared by every job of one target (or sweep cell), hashed once per target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CommonInputs {
    /// The renderer's version salt (`render::RENDERER_SALT`).
    pub renderer: String,
    /// Execution provider class the pixels come from (`cpu`, `cuda`).
    pub provider: String,
    /// ONNX Runtime's version.
    pub ort: String,
    /// Every graph the jobs use: name → blake3 of its file (and external data).
    pub models: BTreeMap<String, String>,
    /// Output width (a multiple of 64).
    pub width: u32,
    /// Output height (a multiple of 64).
    pub height: u32,
    /// `steps`.
    pub steps: u32,
    /// The sampler, keyed as two fields: `sampler` (`ddim` or `plms`) and `eta` (DDIM's η,
    /// `null` under PLMS).
    #[serde(flatten, with = "method_fields")]
    pub method: Method,
    /// `clip-denoised`.
    pub clip_denoised: bool,
    /// Enabled CLIP models, DD flags in load order.
    pub clip_models: Vec<String>,
    /// `clip-guidance-scale`.
    pub clip_guidance_scale: PerStep<f64>,
    /// `tv-scale`.
    pub tv_scale: PerStep<f64>,
    /// `range-scale` when it acts (`range-loss "through-denoiser"`), else `None`.
    pub range_scale: Option<PerStep<f64>>,
    /// `sat-scale`.
    pub sat_scale: PerStep<f64>,
    /// `cutn-batches`.
    pub cutn_batches: PerStep<u32>,
    /// Augmentations: `still` or `animated`; `None` with `skip-augs`.
    pub augs: Option<AugMode>,
    /// The four cut schedules, run-length encoded over their 1000 entries.
    pub cuts: CutSchedules,
    /// `use-secondary-model`.
    pub use_secondary_model: bool,
    /// `clamp-max` when `clamp-grad` is on.
    pub clamp_max: Option<PerStep<f64>>,
    /// Symmetry, when either direction is on.
    pub symmetry: Option<Symmetry>,
    /// `rand-mag` when `fuzzy-prompt` is on.
    pub fuzzy: Option<f64>,
    /// `guidance-every`; left out of the key at 1 (every step, DD), so keys made before the
    /// setting existed are unchanged.
    #[serde(default = "every_step", skip_serializing_if = "is_every_step")]
    pub guidance_every: u32,
    /// progrock's brightness and contrast correction; left out of the key when off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tone_fix: Option<ToneFix>,
}

fn every_step() -> u32 {
    1
}

fn is_every_step(n: &u32) -> bool {
    *n == 1
}

/// A guidance setting: one value, or a per-step schedule as DiscoArt writes them
/// (`"[5000]*500+[9000]*500"`: 1000 entries by diffusion time, read as the cut schedules are),
/// as `[value, count]` runs. One value serialises as the number it always was, so keys made
/// before schedules existed are unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerStep<T> {
    /// The same value at every step.
    Fixed(T),
    /// Runs of the 1000 schedule entries.
    Steps(Vec<(T, u32)>),
}

impl<T: Copy> PerStep<T> {
    /// The value at schedule index `idx` (0..1000, `schedule_index` of the step).
    ///
    /// # Panics
    /// If `idx` is past the schedule's end (planning keys 1000 entries).
    pub fn at(&self, idx: usize) -> T {
        match self {
            PerStep::Fixed(x) => *x,
            PerStep::Steps(runs) => {
                let mut left = idx;
                for &(v, n) in runs {
                    if left < n as usize {
                        return v;
                    }
                    left -= n as usize;
                }
                panic!("schedule index {idx} is past the schedule's end")
            }
        }
    }

    /// Every value the setting takes.
    pub fn values(&self) -> Vec<T> {
        match self {
            PerStep::Fixed(x) => vec![*x],
            PerStep::Steps(runs) => runs.iter().map(|r| r.0).collect(),
        }
    }
}

impl<T> From<T> for PerStep<T> {
    fn from(x: T) -> Self {
        PerStep::Fixed(x)
    }
}

/// DD's cut schedules as `[value, count]` runs (the expanded 1000 entries, compressed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CutSchedules {
    /// `cut-overview`.
    pub overview: Vec<(f64, u32)>,
    /// `cut-innercut`.
    pub innercut: Vec<(f64, u32)>,
    /// `cut-ic-pow`.
    pub ic_pow: Vec<(f64, u32)>,
    /// `cut-icgray-p`.
    pub icgray_p: Vec<(f64, u32)>,
}

impl CommonInputs {
    /// How the range loss acts: through the denoiser exactly when its scale is keyed.
    pub fn range_loss(&self) -> RangeLoss {
        match self.range_scale {
            Some(_) => RangeLoss::ThroughDenoiser,
            None => RangeLoss::Dd,
        }
    }
}

impl CutSchedules {
    /// The four schedules' values at schedule index `idx` (0..1000): overview, inner cuts,
    /// inner-cut power, gray probability.
    ///
    /// # Panics
    /// If `idx` is past a schedule's end (planning keys 1000 entries of each).
    pub fn at(&self, idx: usize) -> (f64, f64, f64, f64) {
        (
            run_at(&self.overview, idx),
            run_at(&self.innercut, idx),
            run_at(&self.ic_pow, idx),
            run_at(&self.icgray_p, idx),
        )
    }
}

/// Entry `idx` of the run-length encoded `runs`.
fn run_at(runs: &[(f64, u32)], idx: usize) -> f64 {
    let mut left = idx;
    for &(v, n) in runs {
        if left < n as usize {
            return v;
        }
        left -= n as usize;
    }
    panic!("schedule index {idx} is past the schedule's end")
}

/// [`Method`] as the two fields the key has always had: `sampler` and `eta`. Each sampler
/// has exactly one shape (`ddim` with a number, `plms` with `null`); any other pair is an
/// error, not a guess.
mod method_fields {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use disco_kernels::sampler::{Method, SamplerKind};

    #[derive(Serialize, Deserialize)]
    struct Fields {
        sampler: SamplerKind,
        eta: Option<f64>,
    }

    pub fn serialize<S: Serializer>(m: &Method, s: S) -> Result<S::Ok, S::Error> {
        Fields {
            sampler: m.kind(),
            eta: m.eta(),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Method, D::Error> {
        let f = Fields::deserialize(d)?;
        match (f.sampler, f.eta) {
            (SamplerKind::Ddim, Some(eta)) => Ok(Method::Ddim { eta }),
            (SamplerKind::Plms, None) => Ok(Method::Plms),
            (SamplerKind::Ddim, None) => Err(D::Error::custom("sampler `ddim` without an `eta`")),
            (SamplerKind::Plms, Some(_)) => Err(D::Error::custom(
                "sampler `plms` with an `eta` (only DDIM has one)",
            )),
        }
    }
}

/// The inputs of one job beyond its target's shared ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FrameInputs {
    /// The seed of this image (DD: seed + frame for animations; seed + index for stills).
    pub seed: u64,
    /// `skip-steps` (animation frames > 0: `frames-skip-steps` of `steps`).
    pub skip_steps: u32,
    /// Where the start image comes from.
    pub init: Init,
    /// LPIPS weight toward the init (`init-scale`; `frames-scale` for frames > 0); `None`
    /// without an init.
    pub init_scale: Option<f64>,
    /// Text prompts in force at this frame.
    pub text_prompts: Vec<TextPrompt>,
    /// Image prompts in force at this frame.
    pub image_prompts: Vec<ImagePrompt>,
    /// DD's turbo mode at this 3D frame (dd-algorithm.md §10.4); `None` without turbo (and
    /// then not keyed, so keys of frames without turbo are what they were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turbo: Option<Turbo>,
}

/// A 3D frame under `turbo-mode` (dd-algorithm.md §10.4, DD:1202-1226, 1519-1533).
///
/// Each such job has up to three images: its saved frame (the store's image), the image the
/// next frame warps (DD's `prevFrame.png`: `next`) and its image of DD's second, "old" warp
/// chain (`oldFrameScaled.png`: `old`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Turbo {
    /// A diffused frame > 0: it saves `blend·diffused + (1 − blend)·init` (`blend` =
    /// 1/`turbo-steps`), and the next frame starts from the unblended diffused image. With
    /// `old`, DD's old chain restarts here from its init (frame ≥ `turbo-preroll`).
    Diffused {
        /// The diffused image's weight in the saved frame.
        blend: f64,
        /// Whether the old chain starts (again) at this frame.
        old: bool,
    },
    /// A skipped frame: no sampler. Its saved image is `blend·new + (1 − blend)·old`, with
    /// `new` the previous frame's next-image warped by the frame's [`Warp3d`] (which the next
    /// frame starts from) and `old` the previous frame's old-chain image warped the same way.
    Skipped {
        /// The new warp's weight, DD's `((f mod turbo-steps) + 1)/turbo-steps`.
        blend: f64,
    },
}

/// The inputs a skipped turbo frame's key is made of: only what its image is computed from
/// (the warps it blends, chained to the previous frame's key), no sampler setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SkippedInputs<'a> {
    /// Always `turbo-skip`.
    pub kind: &'a str,
    /// The warp of both chains (the previous frame's key, the camera at this frame, depth).
    pub warp: &'a Warp3d,
    /// The new warp's weight.
    pub blend: f64,
}

/// One text prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextPrompt {
    /// Text for CLIP.
    pub text: String,
    /// Weight before normalisation.
    pub weight: f64,
}

/// One image prompt: its file's content hash and weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImagePrompt {
    /// The file, for people (not keyed).
    pub path: String,
    /// blake3 of the file.
    pub blake3: String,
    /// Weight before normalisation.
    pub weight: f64,
}

/// The start image of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Init {
    /// Pure noise (or zeros under `skip-steps`, as DD).
    None,
    /// DD's Perlin init in this mode (§9), drawn from the job's seed.
    Perlin {
        /// `mixed`, `color` or `gray`.
        mode: PerlinMode,
    },
    /// The CLI port's Voronoi init, drawn from the job's seed (`kernels::voronoi`).
    Voronoi {
        /// Number of points (regions).
        points: u32,
        /// The regions' RGB colours in turn; empty = the generated default palette.
        palette: Vec<[u8; 3]>,
    },
    /// An image file.
    Image {
        /// The file, for people (not keyed).
        path: String,
        /// blake3 of the file.
        blake3: String,
    },
    /// The previous animation frame, warped (dd-algorithm.md §10.3).
    PreviousFrame {
        /// The previous frame's key: the chain (an edit at frame k re-renders k onwards).
        key: Key,
        /// Rotation in degrees.
        angle: f64,
        /// Zoom factor.
        zoom: f64,
        /// Translation in pixels.
        translation_x: f64,
        /// Translation in pixels.
        translation_y: f64,
    },
    /// A 3D frame (dd-algorithm.md §10.4): the previous frame seen from the camera moved by this
    /// frame's pose, through depth from MiDaS (blended with AdaBins when `midas-weight` < 1).
    /// Its fields are keyed under their setting names, so `disco plan` names them as written.
    Warp3d(Box<Warp3d>),
    /// Video Input: a frame of the target's video (dd-algorithm.md §10.5), by the blake3 of
    /// its decoded pixels, so re-encoding the video changes no key where no pixel changed.
    SourceFrame {
        /// blake3 of the frame's decoded RGB pixels.
        source: String,
    },
    /// Video Input with `video-init-flow-warp`: `(1 − blend)·source + blend·remap(previous
    /// output, flow from this source frame back to the previous one)` (§10.5).
    FlowBlend {
        /// blake3 of this frame's decoded pixels.
        source: String,
        /// blake3 of the previous source frame's pixels (the flow's other end).
        prev_source: String,
        /// The previous frame's key: the chain.
        key: Key,
        /// `video-init-flow-blend`: the warped previous output's weight.
        blend: f64,
        /// `video-init-check-consistency`: keep the warp only where the flows agree.
        consistency: bool,
    },
}

/// What a 3D frame's init depends on: the previous frame (by its key), the camera's move at
/// this frame, the camera and sampling settings, and the depth graphs used (by blake3).
/// `near-plane` and `far-plane` are not here: with DD's square frustum they shape only the
/// depth coordinate DD drops, so they change no pixel (docs/anim3d.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Warp3d {
    /// The previous frame's key: the chain.
    pub key: Key,
    /// `translation-x` at this frame (1/200 of the scene's unit).
    pub translation_x: f64,
    /// `translation-y` at this frame.
    pub translation_y: f64,
    /// `translation-z` at this frame.
    pub translation_z: f64,
    /// `rotation-3d-x` at this frame, degrees.
    pub rotation_3d_x: f64,
    /// `rotation-3d-y` at this frame, degrees.
    pub rotation_3d_y: f64,
    /// `rotation-3d-z` at this frame, degrees.
    pub rotation_3d_z: f64,
    /// `fov`, degrees.
    pub fov: f64,
    /// `midas-weight`: MiDaS's share of the depth.
    pub midas_weight: f64,
    /// `padding-mode` (`border`, `zeros`, `reflection`).
    pub padding_mode: String,
    /// `sampling-mode` (`bicubic`, `bilinear`, `nearest`).
    pub sampling_mode: String,
    /// `midas-depth-model`: DD's name of the MiDaS network.
    pub midas_depth_model: String,
    /// blake3 of the MiDaS graph.
    pub midas_graph: String,
    /// blake3 of the AdaBins graph, when `midas-weight` < 1 blends it in.
    pub adabins_graph: Option<String>,
}

/// `values` as `[value, count]` runs.
pub fn run_length(values: &[f64]) -> Vec<(f64, u32)> {
    let mut runs: Vec<(f64, u32)> = Vec::new();
    for &v in values {
        match runs.last_mut() {
            Some((last, n)) if last.to_bits() == v.to_bits() => *n += 1,
            _ => runs.push((v, 1)),
        }
    }
    runs
}

/// The expansion of [`run_length`].
pub fn expand_runs(runs: &[(f64, u32)]) -> Vec<f64> {
    runs.iter()
        .flat_map(|&(v, n)| std::iter::repeat_n(v, n as usize))
        .collect()
}

/// Inputs with every optional part present and every choice shown, for tests that need real
/// values (the key's golden test, the serialised shape).
#[cfg(test)]
pub(crate) fn sample() -> (CommonInputs, [FrameInputs; 2]) {
    let common = CommonInputs {
        renderer: "disco-render/1".into(),
        provider: "cpu".into(),
        ort: "1.22.0".into(),
        models: BTreeMap::from([("unet".into(), "ab".repeat(32))]),
        width: 128,
        height: 64,
        steps: 50,
        method: Method::Ddim { eta: 0.8 },
        clip_denoised: false,
        clip_models: vec!["ViTB32".into(), "RN50".into()],
        clip_guidance_scale: (5000.0).into(),
        tv_scale: (0.0).into(),
        range_scale: Some((150.0).into()),
        sat_scale: (0.1 + 0.2).into(),
        cutn_batches: (4).into(),
        augs: Some(AugMode::Animated),
        cuts: CutSchedules {
            overview: vec![(12.0, 400), (4.0, 600)],
            innercut: vec![(4.0, 400), (12.0, 600)],
            ic_pow: vec![(1.0, 1000)],
            icgray_p: vec![(0.2, 400), (0.0, 600)],
        },
        use_secondary_model: true,
        clamp_max: Some((0.05).into()),
        symmetry: Some(Symmetry {
            horizontal: true,
            vertical: false,
            transformation_percent: vec![0.09],
        }),
        fuzzy: Some(0.05),
        guidance_every: 1,
        tone_fix: None,
    };
    let first = FrameInputs {
        seed: 7,
        skip_steps: 10,
        init: Init::Perlin {
            mode: PerlinMode::Gray,
        },
        init_scale: Some(1000.0),
        text_prompts: vec![TextPrompt {
            text: "a red circle".into(),
            weight: 2.0,
        }],
        image_prompts: vec![ImagePrompt {
            path: "prompt.png".into(),
            blake3: "cd".repeat(32),
            weight: 0.5,
        }],
        turbo: None,
    };
    let second = FrameInputs {
        seed: 8,
        init: Init::PreviousFrame {
            key: Key([7; 32]),
            angle: 2.0,
            zoom: 1.1,
            translation_x: 0.0,
            translation_y: -4.5,
        },
        ..first.clone()
    };
    (common, [first, second])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_length_round_trips() {
        let v = [vec![12.0; 400], vec![4.0; 600]].concat();
        assert_eq!(run_length(&v), vec![(12.0, 400), (4.0, 600)]);
        assert_eq!(expand_runs(&run_length(&v)), v);
        assert!(run_length(&[]).is_empty());
    }

    #[test]
    fn cut_schedules_are_read_from_their_runs() {
        let (common, _) = sample();
        let overview = expand_runs(&common.cuts.overview);
        for idx in [0, 399, 400, 999] {
            assert_eq!(common.cuts.at(idx).0, overview[idx], "{idx}");
        }
        assert_eq!(common.cuts.at(500), (4.0, 12.0, 1.0, 0.0));
    }

    #[test]
    fn choices_are_written_under_the_keyed_names() {
        let (mut common, frames) = sample();
        let v = serde_json::to_value(&common).unwrap();
        assert_eq!((&v["sampler"], &v["eta"]), (&"ddim".into(), &0.8.into()));
        assert_eq!(v["augs"], "animated");
        assert_eq!(v["symmetry"]["transformation-percent"][0], 0.09);
        let f = serde_json::to_value(&frames[0]).unwrap();
        assert_eq!(
            f["init"],
            serde_json::json!({"kind": "perlin", "mode": "gray"})
        );
        common.method = Method::Plms;
        let v = serde_json::to_value(&common).unwrap();
        assert_eq!((&v["sampler"], &v["eta"]), (&"plms".into(), &Value::Null));
        assert_eq!(common.range_loss(), RangeLoss::ThroughDenoiser);
        // the kernels' `name`s (traces, the report) are the keyed names
        use disco_kernels::sampler::SamplerKind;
        for (name, keyed) in [
            (
                SamplerKind::Plms.name(),
                serde_json::to_value(SamplerKind::Plms),
            ),
            (
                PerlinMode::Gray.name(),
                serde_json::to_value(PerlinMode::Gray),
            ),
            (
                AugMode::Animated.name(),
                serde_json::to_value(AugMode::Animated),
            ),
        ] {
            assert_eq!(Value::from(name), keyed.unwrap());
        }
    }

    #[test]
    fn inputs_round_trip_through_json() {
        let (common, frames) = sample();
        let back: CommonInputs =
            serde_json::from_slice(&serde_json::to_vec(&common).unwrap()).unwrap();
        assert_eq!(back, common);
        for f in frames {
            let back: FrameInputs =
                serde_json::from_slice(&serde_json::to_vec(&f).unwrap()).unwrap();
            assert_eq!(back, f);
        }
    }

    /// `field` of the sample's shared inputs set to `value`, read back.
    fn common_with(field: &str, value: Value) -> Result<CommonInputs, String> {
        let mut v = serde_json::to_value(sample().0).unwrap();
        v[field] = value;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    use serde_json::Value;

    #[test]
    fn a_stored_value_that_is_no_variant_is_an_error_not_a_fallback() {
        let e = common_with("sampler", "euler".into()).unwrap_err();
        assert!(e.contains("unknown variant `euler`"), "{e}");
        let e = common_with("augs", "video".into()).unwrap_err();
        assert!(e.contains("unknown variant `video`"), "{e}");
        // each sampler has exactly one shape
        let e = common_with("eta", Value::Null).unwrap_err();
        assert!(e.contains("`ddim` without an `eta`"), "{e}");
        let mut v = serde_json::to_value(sample().0).unwrap();
        v["sampler"] = "plms".into();
        let e = serde_json::from_value::<CommonInputs>(v).unwrap_err();
        assert!(e.to_string().contains("`plms` with an `eta`"), "{e}");

        let mut f = serde_json::to_value(&sample().1[0]).unwrap();
        f["init"]["mode"] = "rainbow".into();
        let e = serde_json::from_value::<FrameInputs>(f).unwrap_err();
        assert!(e.to_string().contains("unknown variant `rainbow`"), "{e}");
    }
}
