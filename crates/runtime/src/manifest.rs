//! Model-set manifests (`manifest.json`, written by `onnx-export`; schema in docs/models.md).
//!
//! The graphs, their files and blake3 hashes, the CLIP models present, and the contract
//! each role's graph must meet (the inputs disco gives, the outputs it reads), checked
//! when a set opens so a damaged manifest is named there instead of failing mid-render.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Name of the manifest file at the root of a model set.
pub const MANIFEST: &str = "manifest.json";

/// A model set's manifest (schema: docs/models.md §2).
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// Format tag, `disco-models/1`.
    pub format: String,
    /// Whether this is a tiny random-weight set.
    #[serde(default)]
    pub tiny: bool,
    /// Every graph by name.
    pub graphs: BTreeMap<String, Graph>,
    /// CLIP models by key: DD's flag name (`ViTB32`, `RN50`, `ViTB32_laion2b_e16`, …), or
    /// `<arch>_<tag>` for OpenCLIP models DD has no toggle for (`ViTH14_laion2b_s32b_b79k`).
    #[serde(default)]
    pub clip: BTreeMap<String, ClipModel>,
    /// The diffusion UNet's graphs by role and size.
    #[serde(default)]
    pub unet: Option<Family>,
    /// The secondary model's graphs by role and size.
    #[serde(default)]
    pub secondary: Option<Family>,
    /// LPIPS graphs by role and size.
    #[serde(default)]
    pub lpips: Option<Family>,
    /// The diffusion model the UNet graphs were exported from (sets written before
    /// `diffusion_models`; newer sets write it for DD's default model only).
    #[serde(default)]
    pub diffusion: Option<DiffusionArch>,
    /// Every diffusion model of the set by name (`pixelartdiffusion4k`,
    /// `custom:<checkpoint file>`): its architecture and UNet graphs.
    #[serde(default)]
    pub diffusion_models: BTreeMap<String, DiffusionModel>,
    /// RAFT optical flow (Video Input's flow warp), when the set has it.
    #[serde(default)]
    pub raft: Option<Raft>,
    /// 3D animation's depth graphs (`depth.midas.<model>`, `depth.adabins`).
    #[serde(default)]
    pub depth: Option<DepthSection>,
}

/// The set's RAFT optical-flow graph (`raft_fwd`): `(image1, image2)` RGB in [0, 255] →
/// `flow` from image1 to image2 in pixels, x then y.
#[derive(Debug, Clone, Deserialize)]
pub struct Raft {
    /// `forward` → graph name; heights and widths must be multiples of `size_multiple`.
    #[serde(flatten)]
    pub family: Family,
    /// Heights and widths must be at least this.
    pub min_side: usize,
    /// The refinement iterations the graph runs (DD: 20).
    pub iters: u32,
}

impl Raft {
    /// The size `(w, h)` a `w`×`h` frame is padded to before the graph sees it: each side up
    /// to a multiple of `size_multiple`, at least `min_side`.
    pub fn padded(&self, w: usize, h: usize) -> (usize, usize) {
        let m = self.family.size_multiple.max(1);
        let side = |x: usize| x.max(self.min_side).div_ceil(m) * m;
        (side(w), side(h))
    }
}

/// The depth models of a set (docs/models.md): MiDaS networks by DD's
/// `midas_depth_model` name, and AdaBins-NYU.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DepthSection {
    /// MiDaS networks by DD's name (`dpt_large`).
    #[serde(default)]
    pub midas: BTreeMap<String, DepthModel>,
    /// AdaBins-NYU.
    #[serde(default)]
    pub adabins: Option<DepthModel>,
}

/// One depth network: its graphs by role (`forward`) and what its input must be.
#[derive(Debug, Clone, Deserialize)]
pub struct DepthModel {
    /// Graph names by role.
    pub graphs: BTreeMap<String, String>,
    /// The input's height and width must be multiples of this.
    pub size_multiple: usize,
    /// Per-channel normalisation mean of the input in [0, 1].
    pub mean: [f32; 3],
    /// Per-channel normalisation std.
    pub std: [f32; 3],
    /// MiDaS: the network's nominal input side (384; 256 for `midas_v21_small`).
    #[serde(default)]
    pub net_size: Option<usize>,
    /// MiDaS: how a frame's size becomes the network's input size (absent in sets written
    /// before the v2.1 models: `minimal`, DPT-Large's).
    #[serde(default)]
    pub resize: MidasResize,
    /// AdaBins: the smallest input area DD scales a frame up to.
    #[serde(default)]
    pub min_area: Option<usize>,
    /// AdaBins: the largest input area DD scales a frame down to.
    #[serde(default)]
    pub max_area: Option<usize>,
    /// AdaBins: the mini-ViT's patch side on the decoder's half-size output.
    #[serde(default)]
    pub patch: Option<usize>,
}

/// MiDaS's `Resize(net, net, keep_aspect_ratio=True, ensure_multiple_of, resize_method)` rule,
/// as DD's `init_midas_depth_model` picks it per model (`depth::midas_size`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MidasResize {
    /// The DPT models: the scale closer to 1 of `net/h` and `net/w`, each side rounded to the
    /// nearest multiple.
    #[default]
    Minimal,
    /// The v2.1 models: the smaller scale (the result fits in `net`×`net`), each side rounded
    /// to the nearest multiple, down where that would exceed `net`.
    UpperBound,
}

impl DepthModel {
    /// The forward graph's name.
    pub fn forward(&self) -> Option<&str> {
        self.graphs.get("forward").map(String::as_str)
    }
}

impl Manifest {
    /// The MiDaS network `name` (DD's `midas_depth_model`), if the set has it.
    pub fn midas(&self, name: &str) -> Option<&DepthModel> {
        self.depth.as_ref()?.midas.get(name)
    }

    /// AdaBins-NYU, if the set has it.
    pub fn adabins(&self) -> Option<&DepthModel> {
        self.depth.as_ref()?.adabins.as_ref()
    }
}

/// What a set records about its diffusion model (the architecture fields are the exporter's).
#[derive(Debug, Clone, Deserialize)]
pub struct DiffusionArch {
    /// DD's name of the model (`512x512_diffusion_uncond_finetune_008100`).
    pub name: String,
}

/// One diffusion model of a set: its architecture as guided-diffusion's `create_model`
/// arguments (the fields a `custom-model` block is compared with) and its UNet graphs.
#[derive(Debug, Clone, Deserialize)]
pub struct DiffusionModel {
    /// Image size the model was trained at.
    #[serde(default)]
    pub image_size: Option<u32>,
    /// Base channel count.
    #[serde(default)]
    pub num_channels: Option<u32>,
    /// Channel multiplier per level.
    #[serde(default)]
    pub channel_mult: Option<Vec<f64>>,
    /// ResBlocks per level.
    #[serde(default)]
    pub num_res_blocks: Option<u32>,
    /// Feature-map downsample factors with attention (`image_size / resolution`).
    #[serde(default)]
    pub attention_ds: Option<Vec<u32>>,
    /// Attention heads (when `num_head_channels` is -1).
    #[serde(default)]
    pub num_heads: Option<i64>,
    /// Channels per head, or -1.
    #[serde(default)]
    pub num_head_channels: Option<i64>,
    /// Heads of the decoder's attention, or -1 (= `num_heads`).
    #[serde(default)]
    pub num_heads_upsample: Option<i64>,
    /// Resampling inside ResBlocks.
    #[serde(default)]
    pub resblock_updown: Option<bool>,
    /// Scale-shift time conditioning.
    #[serde(default)]
    pub use_scale_shift_norm: Option<bool>,
    /// QKV split before heads.
    #[serde(default)]
    pub use_new_attention_order: Option<bool>,
    /// 6 (`learn_sigma`) or 3.
    #[serde(default)]
    pub out_channels: Option<u32>,
    /// Whether DD runs the torso in fp16 on a GPU; such models may carry `fp16` graphs.
    #[serde(default)]
    pub use_fp16: Option<bool>,
    /// The checkpoint's file name.
    #[serde(default)]
    pub checkpoint: Option<String>,
    /// The UNet graphs of this model.
    #[serde(flatten)]
    pub family: Family,
    /// The same graphs of the model in DD's mixed precision (`convert_to_fp16`: an fp16 torso,
    /// fp32 I/O), which disco runs on CUDA; absent in sets exported with `--no-fp16`.
    #[serde(default)]
    pub fp16: Option<Family>,
}

/// A CLIP model of the set.
#[derive(Debug, Clone, Deserialize)]
pub struct ClipModel {
    /// OpenAI's name (`ViT-B/32`), or open_clip's `ARCH::TAG` (`ViT-B-32::laion2b_e16`).
    pub name: String,
    /// Input resolution R of the image encoder.
    pub resolution: usize,
    /// Embedding size D.
    pub embed_dim: usize,
    /// Token sequence length (77).
    pub context_length: usize,
    /// Per-channel normalisation mean the model was published with (informative: disco
    /// normalises every model with OpenAI's constants, as DD and DiscoArt do).
    pub mean: [f32; 3],
    /// Per-channel normalisation std.
    pub std: [f32; 3],
    /// Graph names by role: `text`, `image`, and `image_loss_vjp` (the fused guidance graph)
    /// or `image_vjp` (sets exported before it) or both.
    pub graphs: BTreeMap<String, String>,
    /// Where an OpenCLIP model comes from (`None` for OpenAI's models and older sets).
    #[serde(default)]
    pub open_clip: Option<OpenClipSource>,
}

/// open_clip's name of a model: `open_clip.create_model(model, pretrained=pretrained)`.
#[derive(Debug, Clone, Deserialize)]
pub struct OpenClipSource {
    /// Architecture config (`ViT-B-32`, `RN50-quickgelu`): its suffix picks the activation.
    pub model: String,
    /// Pretrained tag (`laion2b_e16`).
    pub pretrained: String,
}

/// A model family's graphs (`unet`, `secondary`, `lpips`): role (`forward`, `vjp`) → graph
/// name. Their height and width are symbolic: any multiple of `size_multiple` is served.
#[derive(Debug, Clone, Deserialize)]
pub struct Family {
    /// Graph names by role.
    pub graphs: BTreeMap<String, String>,
    /// Image height and width must be multiples of this.
    pub size_multiple: usize,
    /// A UNet's gradient-checkpointed guidance graphs, where the set has them.
    #[serde(default)]
    pub checkpointed: Option<Checkpointed>,
}

/// The UNet cut at its block boundaries (onnx-export's `unet_checkpoint.py`): a forward that
/// returns every boundary, and per segment a VJP graph that recomputes only that segment, so
/// the backward never holds more than the boundaries and one segment's activations (DD's
/// `use_checkpoint`). docs/models.md, "Checkpointed UNet".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Checkpointed {
    /// `(x, t) -> eps_full` and one output per segment but the last, named after it.
    pub forward: String,
    /// In forward order; the last is `head`, whose output is ε.
    pub segments: Vec<Segment>,
}

/// One segment of a [`Checkpointed`] UNet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Segment {
    /// The segment, and the boundary tensor it outputs.
    pub name: String,
    /// Its VJP graph: `(h, [t,] upstream) -> grad_h`.
    pub graph: String,
    /// The tensors (`x` or earlier segments) whose channel concatenation is its input `h`.
    pub inputs: Vec<String>,
    /// Whether the graph takes the model time `t`.
    pub time: bool,
}

impl Checkpointed {
    /// What is wrong with the segment list, if anything: each segment's inputs name `x` or an
    /// earlier segment, names are unique, and the last segment is `head`.
    pub fn problem(&self) -> Option<String> {
        let mut known: Vec<&str> = vec!["x"];
        for s in &self.segments {
            if known.contains(&s.name.as_str()) {
                return Some(format!(
                    "segment `{}` is named twice",
                    s.name.escape_debug()
                ));
            }
            if s.inputs.is_empty() {
                return Some(format!("segment `{}` has no inputs", s.name.escape_debug()));
            }
            if let Some(i) = s.inputs.iter().find(|i| !known.contains(&i.as_str())) {
                return Some(format!(
                    "segment `{}` reads `{}`, which is neither x nor an earlier segment",
                    s.name.escape_debug(),
                    i.escape_debug()
                ));
            }
            known.push(&s.name);
        }
        match self.segments.last() {
            Some(s) if s.name == HEAD_SEGMENT => None,
            _ => Some(format!("the last segment is not `{HEAD_SEGMENT}`")),
        }
    }
}

/// The checkpointed UNet's last segment: its output is ε, the cotangent the walk starts from.
pub const HEAD_SEGMENT: &str = "head";

impl Family {
    /// The graph for `role`.
    pub fn graph(&self, role: &str) -> Option<&str> {
        self.graphs.get(role).map(String::as_str)
    }

    /// Whether the family's graphs accept a `width`×`height` image.
    pub fn serves(&self, width: usize, height: usize) -> bool {
        let m = self.size_multiple.max(1);
        width > 0 && height > 0 && width.is_multiple_of(m) && height.is_multiple_of(m)
    }
}

/// One input or output of a graph.
#[derive(Debug, Clone, Deserialize)]
pub struct TensorSpec {
    /// Name in the graph.
    pub name: String,
    /// `float32` or `int64`.
    pub dtype: String,
    /// Dimensions: numbers, or `"B"` for the dynamic batch axis.
    pub shape: Vec<Dim>,
}

/// One dimension of a [`TensorSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A symbolic size (`"B"`).
    Symbol(String),
}

/// One ONNX graph of a model set.
#[derive(Debug, Clone, Deserialize)]
pub struct Graph {
    /// File, relative to the model set.
    pub file: PathBuf,
    /// blake3 of the file, hex.
    pub blake3: String,
    /// Weights stored beside the graph (graphs over 2 GB), if any.
    #[serde(default)]
    pub external_data: Option<DataFile>,
    /// Inputs, in graph order.
    #[serde(default)]
    pub inputs: Vec<TensorSpec>,
    /// Outputs, in graph order.
    #[serde(default)]
    pub outputs: Vec<TensorSpec>,
}

/// A file of external tensor data belonging to a graph.
#[derive(Debug, Clone, Deserialize)]
pub struct DataFile {
    /// File, relative to the model set.
    pub file: PathBuf,
    /// blake3 of the file, hex.
    pub blake3: String,
}

/// Hashes one file and compares with the manifest's blake3.
pub fn check_file(path: &Path, want: &str) -> GraphCheck {
    let Ok(f) = std::fs::File::open(path) else {
        return GraphCheck::Missing;
    };
    match blake3::Hasher::new()
        .update_reader(f)
        .map(|h| h.finalize().to_hex().to_string())
    {
        Ok(actual) if actual == want => GraphCheck::Ok,
        Ok(actual) => GraphCheck::Changed { actual },
        Err(_) => GraphCheck::Missing,
    }
}

/// Why a model set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// No manifest file.
    #[error("no {MANIFEST} in {0}")]
    Missing(PathBuf),
    /// Unreadable or not the expected JSON.
    #[error("{path}: {reason}")]
    Invalid {
        /// The manifest path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl Manifest {
    /// The UNet graphs of diffusion model `name` (DD's name, or `custom:<checkpoint file>`).
    /// A set written before `diffusion_models` holds one model in `unet`; one that did not
    /// record its model's name serves any name, as such sets always did.
    pub fn diffusion_family(&self, name: &str) -> Option<&Family> {
        if let Some(m) = self.diffusion_models.get(name) {
            return Some(&m.family);
        }
        if !self.diffusion_models.is_empty() {
            return None;
        }
        match &self.diffusion {
            Some(d) if d.name != name => None,
            _ => self.unet.as_ref(),
        }
    }

    /// The fp16 graphs of diffusion model `name`, where the set has them.
    pub fn diffusion_fp16_family(&self, name: &str) -> Option<&Family> {
        self.diffusion_models.get(name)?.fp16.as_ref()
    }

    /// Names of the diffusion models the set holds, for messages.
    pub fn diffusion_names(&self) -> Vec<String> {
        if !self.diffusion_models.is_empty() {
            return self.diffusion_models.keys().cloned().collect();
        }
        self.diffusion.iter().map(|d| d.name.clone()).collect()
    }

    /// Reads `<dir>/manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST);
        // a real set's manifest is a few KB; a FIFO or device in its place is refused
        let text = disco_fsutil::read_to_string_bounded(&path, 16 << 20).map_err(|e| match e {
            disco_fsutil::BoundedReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                ManifestError::Missing(dir.to_owned())
            }
            e => ManifestError::Invalid {
                path: path.clone(),
                reason: e.to_string(),
            },
        })?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| ManifestError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if !m.format.starts_with("disco-models/") {
            return Err(ManifestError::Invalid {
                path,
                reason: format!("unknown format `{}`", m.format),
            });
        }
        Ok(m)
    }
}

/// What the renderer feeds a graph of one role and reads from it: every input it gives
/// (a graph must declare exactly these) and every output it reads (a graph may declare
/// more), as (name, dtype, rank). docs/models.md, "Graphs and their I/O names".
#[derive(Debug, Clone, Copy)]
pub struct Contract {
    /// The role, for messages (`unet forward`, `clip image_vjp`).
    pub role: &'static str,
    /// Inputs given.
    pub inputs: &'static [(&'static str, &'static str, usize)],
    /// Outputs read.
    pub outputs: &'static [(&'static str, &'static str, usize)],
}

const F32: &str = "float32";

/// The contract of `family`'s graph for `role` (`forward`, `vjp`; CLIP: `text`, `image`,
/// `image_loss_vjp`, `image_vjp`); `None` for a role the renderer does not use.
pub fn contract(family: &str, role: &str) -> Option<Contract> {
    let (inputs, outputs): (&[_], &[_]) = match (family, role) {
        ("unet", "forward") => (&[("x", F32, 4), ("t", F32, 1)], &[("eps_full", F32, 4)]),
        ("unet", "vjp") => (
            &[("x", F32, 4), ("t", F32, 1), ("upstream", F32, 4)],
            &[("grad_x", F32, 4)],
        ),
        ("unet", "checkpoint_forward") => {
            (&[("x", F32, 4), ("t", F32, 1)], &[("eps_full", F32, 4)])
        }
        ("unet", "segment_vjp") => (
            &[("h", F32, 4), ("t", F32, 1), ("upstream", F32, 4)],
            &[("grad_h", F32, 4)],
        ),
        ("unet", "segment_vjp_untimed") => (
            &[("h", F32, 4), ("upstream", F32, 4)],
            &[("grad_h", F32, 4)],
        ),
        ("secondary", "forward") => (&[("x", F32, 4), ("t", F32, 1)], &[("pred", F32, 4)]),
        ("secondary", "vjp") => (
            &[("x", F32, 4), ("t", F32, 1), ("upstream", F32, 4)],
            &[("grad_x", F32, 4)],
        ),
        ("lpips", "vjp") => (
            &[("a", F32, 4), ("b", F32, 4), ("upstream", F32, 1)],
            &[("distance", F32, 1), ("grad_a", F32, 4)],
        ),
        ("raft", "forward") => (
            &[("image1", F32, 4), ("image2", F32, 4)],
            &[("flow", F32, 4)],
        ),
        ("clip", "text") => (&[("tokens", "int64", 2)], &[("text_embed", F32, 2)]),
        ("clip", "image") => (&[("image", F32, 4)], &[("image_embed", F32, 2)]),
        ("clip", "image_vjp") => (
            &[("image", F32, 4), ("upstream", F32, 2)],
            &[("grad_image", F32, 4)],
        ),
        ("clip", "image_loss_vjp") => (
            &[
                ("image", F32, 4),
                ("targets", F32, 2),
                ("weights", F32, 1),
                ("upstream", F32, 1),
            ],
            &[("image_embed", F32, 2), ("grad_image", F32, 4)],
        ),
        _ => return None,
    };
    let role = match (family, role) {
        ("unet", "forward") => "unet forward",
        ("unet", "vjp") => "unet vjp",
        ("unet", "checkpoint_forward") => "unet checkpoint forward",
        ("unet", _) => "unet segment vjp",
        ("secondary", "forward") => "secondary forward",
        ("secondary", "vjp") => "secondary vjp",
        ("lpips", _) => "lpips vjp",
        ("raft", _) => "raft forward",
        ("clip", "text") => "clip text",
        ("clip", "image") => "clip image",
        ("clip", "image_vjp") => "clip image_vjp",
        _ => "clip image_loss_vjp",
    };
    Some(Contract {
        role,
        inputs,
        outputs,
    })
}

impl Graph {
    /// What is wrong with this graph's declared inputs and outputs for `c`, if anything:
    /// one sentence naming the tensor.
    pub fn breaks(&self, c: &Contract) -> Option<String> {
        let rank = |t: &TensorSpec| t.shape.len();
        for &(name, dtype, r) in c.inputs {
            match self.inputs.iter().find(|t| t.name == name) {
                None => return Some(format!("declares no input `{name}`")),
                Some(t) if t.dtype != dtype => {
                    return Some(format!("input `{name}` is {}, not {dtype}", t.dtype));
                }
                Some(t) if rank(t) != r => {
                    return Some(format!("input `{name}` has rank {}, not {r}", rank(t)));
                }
                Some(_) => {}
            }
        }
        if let Some(t) = self
            .inputs
            .iter()
            .find(|t| !c.inputs.iter().any(|i| i.0 == t.name))
        {
            return Some(format!(
                "declares an input `{}` disco does not give",
                t.name
            ));
        }
        for &(name, dtype, r) in c.outputs {
            match self.outputs.iter().find(|t| t.name == name) {
                None => return Some(format!("declares no output `{name}`")),
                Some(t) if t.dtype != dtype => {
                    return Some(format!("output `{name}` is {}, not {dtype}", t.dtype));
                }
                Some(t) if rank(t) != r => {
                    return Some(format!("output `{name}` has rank {}, not {r}", rank(t)));
                }
                Some(_) => {}
            }
        }
        None
    }
}

impl Manifest {
    /// Every graph the manifest assigns a role, whose declared inputs or outputs break
    /// that role's contract, or that it does not list: (graph, role, what is wrong).
    pub fn role_problems(&self) -> Vec<(String, &'static str, String)> {
        let mut roles: Vec<(&str, &str, &String)> = Vec::new();
        for (family, f) in [
            ("unet", &self.unet),
            ("secondary", &self.secondary),
            ("lpips", &self.lpips),
        ] {
            for (role, name) in f.iter().flat_map(|f| &f.graphs) {
                roles.push((family, role, name));
            }
        }
        for m in self.diffusion_models.values() {
            for (role, name) in &m.family.graphs {
                if !roles.iter().any(|r| r.0 == "unet" && r.2 == name) {
                    roles.push(("unet", role, name));
                }
            }
        }
        for c in self.clip.values() {
            for (role, name) in &c.graphs {
                roles.push(("clip", role, name));
            }
        }
        for (role, name) in self.raft.iter().flat_map(|r| &r.family.graphs) {
            roles.push(("raft", role, name));
        }
        let mut out = Vec::new();
        for (family, role, name) in roles {
            let Some(c) = contract(family, role) else {
                continue;
            };
            let problem = match self.graphs.get(name) {
                None => Some("is not in the manifest's `graphs`".to_owned()),
                Some(g) => g.breaks(&c),
            };
            if let Some(p) = problem {
                out.push((name.clone(), c.role, p));
            }
        }
        out
    }
}

/// Result of checking one graph file against its manifest hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphCheck {
    /// The file's blake3 matches.
    Ok,
    /// The file is missing.
    Missing,
    /// The file differs from what was exported.
    Changed {
        /// blake3 found.
        actual: String,
    },
}

/// Hashes every graph of a model set (and its external data) and compares with the manifest.
pub fn verify(dir: &Path, m: &Manifest) -> Vec<(String, GraphCheck)> {
    m.graphs
        .iter()
        .map(|(name, g)| {
            let mut check = check_file(&dir.join(&g.file), &g.blake3);
            if let (GraphCheck::Ok, Some(data)) = (&check, &g.external_data) {
                check = check_file(&dir.join(&data.file), &data.blake3);
            }
            (name.clone(), check)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_detects_a_changed_and_a_missing_graph() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.onnx"), b"graph a").unwrap();
        std::fs::write(dir.path().join("b.onnx"), b"graph b").unwrap();
        let hash = |b: &[u8]| blake3::hash(b).to_hex().to_string();
        let manifest = format!(
            r#"{{"format": "disco-models/1", "tiny": true, "graphs": {{
                "a": {{"file": "a.onnx", "blake3": "{}"}},
                "b": {{"file": "b.onnx", "blake3": "{}"}},
                "c": {{"file": "c.onnx", "blake3": "{}"}}}}}}"#,
            hash(b"graph a"),
            hash(b"graph B"),
            hash(b"graph c")
        );
        std::fs::write(dir.path().join(MANIFEST), manifest).unwrap();
        let m = Manifest::read(dir.path()).unwrap();
        let checks = verify(dir.path(), &m);
        assert_eq!(checks[0], ("a".into(), GraphCheck::Ok));
        assert!(matches!(checks[1].1, GraphCheck::Changed { .. }));
        assert_eq!(checks[2], ("c".into(), GraphCheck::Missing));
    }

    fn manifest(extra: &str) -> Manifest {
        let text = format!(r#"{{"format": "disco-models/1", "graphs": {{}}{extra}}}"#);
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn old_single_model_sets_and_new_multi_model_sets_pick_the_named_model() {
        let unet = r#""unet": {"graphs": {"forward": "unet_fwd", "vjp": "unet_vjp"}, "size_multiple": 64}"#;
        let old = manifest(&format!(
            r#", {unet}, "diffusion": {{"name": "512x512_diffusion_uncond_finetune_008100"}}"#
        ));
        let fam = old.diffusion_family("512x512_diffusion_uncond_finetune_008100");
        assert_eq!(fam.unwrap().graph("forward"), Some("unet_fwd"));
        assert!(old.diffusion_family("pixelartdiffusion4k").is_none());
        // a set that never recorded its model serves any name, as before
        let unnamed = manifest(&format!(", {unet}"));
        assert!(unnamed.diffusion_family("pixelartdiffusion4k").is_some());
        let new = manifest(&format!(
            r#", {unet}, "diffusion": {{"name": "512x512_diffusion_uncond_finetune_008100"}},
            "diffusion_models": {{
              "512x512_diffusion_uncond_finetune_008100": {{"graphs": {{"forward": "unet_fwd", "vjp": "unet_vjp"}}, "size_multiple": 64}},
              "custom:m.pt": {{"image_size": 32, "num_heads": 2, "checkpoint": "m.pt",
                "graphs": {{"forward": "unet_custom_m_pt_fwd", "vjp": "unet_custom_m_pt_vjp"}}, "size_multiple": 2}}}}"#
        ));
        let custom = new.diffusion_family("custom:m.pt").unwrap();
        assert_eq!(custom.graph("vjp"), Some("unet_custom_m_pt_vjp"));
        assert_eq!(custom.size_multiple, 2);
        assert_eq!(new.diffusion_models["custom:m.pt"].num_heads, Some(2));
        assert!(new.diffusion_family("custom:other.pt").is_none());
        assert_eq!(
            new.diffusion_names(),
            ["512x512_diffusion_uncond_finetune_008100", "custom:m.pt"]
        );
        // the models' graphs are checked against the UNet contract too
        let problems = new.role_problems();
        assert!(
            problems
                .iter()
                .any(|(g, r, _)| g == "unet_custom_m_pt_fwd" && *r == "unet forward")
        );
    }

    fn graph(inputs: &str, outputs: &str) -> Graph {
        serde_json::from_str(&format!(
            r#"{{"file": "g.onnx", "blake3": "00", "inputs": {inputs}, "outputs": {outputs}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn a_graph_breaking_its_role_is_named_by_tensor() {
        let c = contract("unet", "forward").unwrap();
        let x = r#"{"name": "x", "dtype": "float32", "shape": ["B", 3, "H", "W"]}"#;
        let t = r#"{"name": "t", "dtype": "float32", "shape": ["B"]}"#;
        let eps = r#"{"name": "eps_full", "dtype": "float32", "shape": ["B", 6, "H", "W"]}"#;
        let good = graph(&format!("[{x}, {t}]"), &format!("[{eps}]"));
        assert_eq!(good.breaks(&c), None);
        let no_out = graph(&format!("[{x}, {t}]"), "[]");
        assert_eq!(no_out.breaks(&c).unwrap(), "declares no output `eps_full`");
        let rank = graph(
            &format!("[{x}, {t}]"),
            &format!("[{}]", eps.replace(", \"W\"", "")),
        );
        assert_eq!(
            rank.breaks(&c).unwrap(),
            "output `eps_full` has rank 3, not 4"
        );
        let extra = r#"{"name": "y", "dtype": "float32", "shape": ["B"]}"#;
        let more = graph(&format!("[{x}, {t}, {extra}]"), &format!("[{eps}]"));
        assert_eq!(
            more.breaks(&c).unwrap(),
            "declares an input `y` disco does not give"
        );
        let int = graph(
            &format!("[{x}, {}]", t.replace("float32", "int64")),
            &format!("[{eps}]"),
        );
        assert_eq!(int.breaks(&c).unwrap(), "input `t` is int64, not float32");
    }

    #[test]
    fn the_raft_section_pads_frames_and_its_graph_is_checked() {
        let m = manifest(
            r#", "raft": {"graphs": {"forward": "raft_fwd"}, "size_multiple": 64, "min_side": 128, "iters": 20, "name": "raft-things"}"#,
        );
        let r = m.raft.as_ref().unwrap();
        assert_eq!((r.iters, r.family.graph("forward")), (20, Some("raft_fwd")));
        assert_eq!(r.padded(64, 48), (128, 128));
        assert_eq!(r.padded(1280, 768), (1280, 768));
        assert_eq!(r.padded(1000, 700), (1024, 704));
        // not in `graphs`: named
        assert!(
            m.role_problems()
                .iter()
                .any(|(g, r, _)| g == "raft_fwd" && *r == "raft forward")
        );
        let c = contract("raft", "forward").unwrap();
        let img = |n: &str| {
            format!(r#"{{"name": "{n}", "dtype": "float32", "shape": ["B", 3, "H", "W"]}}"#)
        };
        let flow = r#"{"name": "flow", "dtype": "float32", "shape": ["B", 2, "H", "W"]}"#;
        let good = graph(
            &format!("[{}, {}]", img("image1"), img("image2")),
            &format!("[{flow}]"),
        );
        assert_eq!(good.breaks(&c), None);
        let one = graph(&format!("[{}]", img("image1")), &format!("[{flow}]"));
        assert_eq!(one.breaks(&c).unwrap(), "declares no input `image2`");
    }
}
