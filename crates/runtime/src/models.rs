//! The sessions one render needs, opened once per build and reused for every step and frame.

use std::collections::HashMap;

use ndarray::Array2;

use super::manifest::{Checkpointed, Dim, Family, contract};
use super::session::{
    Footprint, GraphSession, LazySession, ModelSet, SessionError, SessionOptions,
};
use super::unet_checkpoint::UnetCheckpoint;

/// Why the model set cannot serve a render.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    /// A graph could not be opened.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The set has no graphs of this family.
    #[error("the model set {dir} has no {family} graphs")]
    NoFamily {
        /// The model set.
        dir: String,
        /// `unet`, `secondary` or `lpips`.
        family: &'static str,
    },
    /// The family's graphs cannot take this image size.
    #[error(
        "the {family} graphs of {dir} need sizes that are multiples of {multiple}, not {width}x{height}"
    )]
    SizeMultiple {
        /// The model set.
        dir: String,
        /// `unet`, `secondary` or `lpips`.
        family: &'static str,
        /// Requested width.
        width: usize,
        /// Requested height.
        height: usize,
        /// What sizes must be a multiple of.
        multiple: usize,
    },
    /// The manifest lists no graph for a role.
    #[error("the {family} section of {dir} has no `{role}` graph")]
    NoRole {
        /// The model set.
        dir: String,
        /// `unet`, `secondary` or `lpips`.
        family: &'static str,
        /// `forward` or `vjp`.
        role: &'static str,
    },
    /// A graph's declared inputs or outputs do not fit the role it is listed for (a
    /// damaged manifest, or one from another exporter).
    #[error("graph `{graph}` of {dir} cannot be the {role} graph: it {problem}")]
    Contract {
        /// The model set.
        dir: String,
        /// The graph.
        graph: String,
        /// `unet forward`, `clip image_vjp`, …
        role: &'static str,
        /// What is wrong, naming the tensor.
        problem: String,
    },
    /// The set lacks the diffusion model the project names.
    #[error("the model set {dir} has no diffusion model `{name}` (it has: {have})")]
    NoDiffusion {
        /// The model set.
        dir: String,
        /// DD's name, or `custom:<checkpoint file>`.
        name: String,
        /// Models the set has.
        have: String,
    },
    /// The set lacks a CLIP model the project enables.
    #[error("the model set {dir} has no CLIP model {flag} (it has: {have})")]
    NoClip {
        /// The model set.
        dir: String,
        /// DD flag of the missing model.
        flag: String,
        /// Models the set has.
        have: String,
    },
}

impl ModelsError {
    /// The command that adds what is missing (docs/models.md §3).
    pub fn help(&self) -> Option<String> {
        match self {
            ModelsError::NoClip { dir, flag, .. } => Some(format!(
                "export it into the set: cd onnx-export && ../.venv/bin/python -m disco_export --out {dir} --clip {flag} --clip-dir … (see docs/models.md §3)"
            )),
            ModelsError::NoDiffusion { dir, name, .. } => Some(match name.strip_prefix("custom:") {
                Some(file) => format!(
                    "export it into the set: cd onnx-export && ../.venv/bin/python -m disco_export --out {dir} --diffusion custom --checkpoint …/{file} plus its architecture flags (see docs/models.md)"
                ),
                None => format!(
                    "export it into the set: cd onnx-export && ../.venv/bin/python -m disco_export --out {dir} --diffusion {name} --checkpoint … (see docs/models.md)"
                ),
            }),
            ModelsError::NoFamily { dir, family: "raft" } => Some(format!(
                "export RAFT into the set: cd onnx-export && ../.venv/bin/python -m disco_export --out {dir} --raft …/raft-things.pth (see docs/models.md), or set `video-init-flow-warp #false`"
            )),
            ModelsError::Contract { .. } | ModelsError::Session(SessionError::NoGraph { .. }) => {
                Some(
                    "the manifest does not describe what disco feeds this graph; re-export the model set (docs/models.md §3), or check it with `disco doctor --verify`"
                        .into(),
                )
            }
            _ => None,
        }
    }
}

/// One CLIP model's sessions and facts.
pub struct ClipSessions {
    /// DD flag (`ViTB32`, …).
    pub flag: String,
    /// Input resolution R.
    pub resolution: usize,
    /// Text encoder.
    pub text: GraphSession,
    /// Image encoder: image prompts, and guidance with a two-pass set; opened on first use.
    pub image: LazySession,
    /// The guidance graph.
    pub guide: ClipGuide<GraphSession>,
    /// Text embeddings by prompt list, kept for the sessions' life (one build): the frames
    /// and sweep jobs that share prompts run the text encoder once (job::targets).
    pub text_embeds: HashMap<Vec<String>, Array2<f32>>,
    /// Image-prompt embeddings by the blake3 hash of the encoder's input (the prompt's
    /// augmented cuts): sweep jobs that share a seed and an image prompt draw the same cuts,
    /// and run the image encoder once.
    pub image_embeds: HashMap<blake3::Hash, Array2<f32>>,
}

/// Prompt lists whose embeddings one CLIP model keeps; past this the cache starts over (a
/// keyframed prompt per frame would otherwise grow it without bound).
pub const TEXT_EMBED_CACHE: usize = 256;

/// Image-prompt cut sets whose embeddings one CLIP model keeps; past this the cache starts
/// over (each animation frame draws new cuts, so its entries never repeat).
pub const IMAGE_EMBED_CACHE: usize = 64;

/// How a CLIP model's guidance gradient is computed, and the graph (name or session) that
/// computes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClipGuide<G> {
    /// One call per chunk of cuts returns the embeddings and the gradient of the scaled loss
    /// with respect to the cuts (`image_loss_vjp`, the loss exported inside the graph).
    Fused(G),
    /// The image forward, the loss on the Rust side, then the image VJP, which runs the
    /// forward again (`image_vjp`; model sets exported before the fused graph).
    TwoPass(G),
}

impl<G> ClipGuide<G> {
    /// The graph.
    pub fn graph(&self) -> &G {
        match self {
            ClipGuide::Fused(g) | ClipGuide::TwoPass(g) => g,
        }
    }

    /// The role the graph is listed under.
    pub fn role(&self) -> &'static str {
        match self {
            ClipGuide::Fused(_) => "image_loss_vjp",
            ClipGuide::TwoPass(_) => "image_vjp",
        }
    }
}

/// One CLIP model's graph names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipGraphs {
    /// DD flag (`ViTB32`, …).
    pub flag: String,
    /// Input resolution R.
    pub resolution: usize,
    /// Text encoder.
    pub text: String,
    /// Image encoder.
    pub image: String,
    /// The guidance graph: the fused one where the set has it.
    pub guide: ClipGuide<String>,
}

/// Every session a render at one size uses.
pub struct Models {
    /// UNet forward.
    pub unet: GraphSession,
    /// UNet VJP (guidance through the UNet when `use_secondary_model` is off).
    pub unet_vjp: Option<GraphSession>,
    /// The checkpointed UNet VJP, in place of `unet_vjp` where the set has it.
    pub unet_checkpoint: Option<UnetCheckpoint>,
    /// Secondary model forward and VJP.
    pub secondary: Option<(GraphSession, GraphSession)>,
    /// LPIPS VJP (init / frame coherence loss).
    pub lpips_vjp: Option<GraphSession>,
    /// The enabled CLIP models, in the project's order.
    pub clip: Vec<ClipSessions>,
    /// RAFT optical flow (Video Input's flow warp), and the set's padding rule for it.
    pub raft: Option<(GraphSession, super::manifest::Raft)>,
    /// Notices to show (e.g. `auto` fell back to the CPU).
    pub notices: Vec<String>,
}

/// What a render needs from the set.
#[derive(Debug, Clone)]
pub struct Needs<'a> {
    /// Image width.
    pub width: usize,
    /// Image height.
    pub height: usize,
    /// Guidance through the secondary model (else the UNet VJP).
    pub secondary: bool,
    /// An LPIPS term (init image or animation frames).
    pub lpips: bool,
    /// CLIP models by DD flag.
    pub clip: &'a [String],
    /// The diffusion model: DD's name, or `custom:<checkpoint file>`
    /// (`Settings::diffusion_selector`).
    pub diffusion: &'a str,
    /// RAFT optical flow (a Video Input target with `video-init-flow-warp`).
    pub flow: bool,
    /// The UNet in DD's mixed precision, where the set has fp16 graphs of the model (else
    /// fp32): asked on CUDA for a model DD runs in fp16 (`disco_plan::facts::unet_fp16`).
    pub fp16: bool,
}

/// The graph names a render uses, by role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphNames {
    /// UNet forward.
    pub unet: String,
    /// UNet VJP, for guidance through the UNet.
    pub unet_vjp: Option<String>,
    /// The checkpointed UNet VJP's graphs, in place of `unet_vjp` where the set has them.
    pub unet_checkpoint: Option<Checkpointed>,
    /// Secondary model forward and VJP.
    pub secondary: Option<(String, String)>,
    /// LPIPS VJP.
    pub lpips_vjp: Option<String>,
    /// Per CLIP model.
    pub clip: Vec<ClipGraphs>,
    /// RAFT forward.
    pub raft: Option<String>,
}

impl GraphNames {
    /// Every name, in the order they open.
    pub fn all(&self) -> Vec<&str> {
        let mut v = vec![self.unet.as_str()];
        v.extend(self.unet_vjp.as_deref());
        if let Some(c) = &self.unet_checkpoint {
            // its forward is `unet`, listed above
            v.extend(c.segments.iter().map(|s| s.graph.as_str()));
        }
        if let Some((f, b)) = &self.secondary {
            v.extend([f.as_str(), b.as_str()]);
        }
        v.extend(self.lpips_vjp.as_deref());
        for c in &self.clip {
            v.extend([c.text.as_str(), c.image.as_str(), c.guide.graph().as_str()]);
        }
        v.extend(self.raft.as_deref());
        v
    }
}

impl Needs<'_> {
    /// The graphs of `set` these needs use, checking that the set has them and that they
    /// serve the size.
    pub fn graphs(&self, set: &ModelSet) -> Result<GraphNames, ModelsError> {
        let dir = set.dir.display().to_string();
        let sized = |fam: Option<&Family>,
                     family: &'static str,
                     role: &'static str|
         -> Result<String, ModelsError> {
            let f = fam.ok_or_else(|| ModelsError::NoFamily {
                dir: dir.clone(),
                family,
            })?;
            if !f.serves(self.width, self.height) {
                return Err(ModelsError::SizeMultiple {
                    dir: dir.clone(),
                    family,
                    width: self.width,
                    height: self.height,
                    multiple: f.size_multiple,
                });
            }
            f.graph(role)
                .map(str::to_owned)
                .ok_or_else(|| ModelsError::NoRole {
                    dir: dir.clone(),
                    family,
                    role,
                })
        };
        let m = &set.manifest;
        let unet_family =
            m.diffusion_family(self.diffusion)
                .ok_or_else(|| ModelsError::NoDiffusion {
                    dir: dir.clone(),
                    name: self.diffusion.to_owned(),
                    have: m.diffusion_names().join(", "),
                })?;
        let unet_family = match m.diffusion_fp16_family(self.diffusion) {
            Some(half) if self.fp16 => half,
            _ => unet_family,
        };
        let unet = sized(Some(unet_family), "unet", "forward")?;
        let (unet_vjp, unet_checkpoint, secondary) = if self.secondary {
            let f = sized(m.secondary.as_ref(), "secondary", "forward")?;
            let v = sized(m.secondary.as_ref(), "secondary", "vjp")?;
            (None, None, Some((f, v)))
        } else if let Some(c) = &unet_family.checkpointed {
            // the checkpointed walk computes the same gradient in a fraction of the memory;
            // its boundary forward serves as the UNet forward (below)
            (None, Some(c.clone()), None)
        } else {
            (Some(sized(Some(unet_family), "unet", "vjp")?), None, None)
        };
        let lpips_vjp = if self.lpips {
            Some(sized(m.lpips.as_ref(), "lpips", "vjp")?)
        } else {
            None
        };
        let mut clip = Vec::new();
        for flag in self.clip {
            let c = m.clip.get(flag).ok_or_else(|| ModelsError::NoClip {
                dir: dir.clone(),
                flag: flag.clone(),
                have: m.clip.keys().cloned().collect::<Vec<_>>().join(", "),
            })?;
            let role = |r: &'static str| {
                c.graphs.get(r).cloned().ok_or_else(|| ModelsError::NoRole {
                    dir: dir.clone(),
                    family: "clip",
                    role: r,
                })
            };
            let guide = match c.graphs.get("image_loss_vjp") {
                Some(g) => ClipGuide::Fused(g.clone()),
                None => ClipGuide::TwoPass(role("image_vjp")?),
            };
            clip.push(ClipGraphs {
                flag: flag.clone(),
                resolution: c.resolution,
                text: role("text")?,
                image: role("image")?,
                guide,
            });
        }
        let raft = match (self.flow, &m.raft) {
            (false, _) => None,
            (true, None) => {
                return Err(ModelsError::NoFamily {
                    dir: dir.clone(),
                    family: "raft",
                });
            }
            (true, Some(r)) => Some(r.family.graph("forward").map(str::to_owned).ok_or_else(
                || ModelsError::NoRole {
                    dir: dir.clone(),
                    family: "raft",
                    role: "forward",
                },
            )?),
        };
        let unet = match &unet_checkpoint {
            Some(c) => c.forward.clone(),
            None => unet,
        };
        let names = GraphNames {
            unet,
            unet_vjp,
            unet_checkpoint,
            secondary,
            lpips_vjp,
            clip,
            raft,
        };
        names.check(set)?;
        Ok(names)
    }
}

impl GraphNames {
    /// Checks every graph against its role's contract (manifest.rs), so a damaged
    /// manifest stops the build when the set opens, naming the graph and the tensor.
    fn check(&self, set: &ModelSet) -> Result<(), ModelsError> {
        let mut roles: Vec<(&str, &str, &str)> = vec![("unet", "forward", &self.unet)];
        roles.extend(self.unet_vjp.as_deref().map(|g| ("unet", "vjp", g)));
        if let Some(c) = &self.unet_checkpoint {
            self.check_checkpoint(set, c)?;
            roles.push(("unet", "checkpoint_forward", &c.forward));
            for seg in &c.segments {
                let role = if seg.time {
                    "segment_vjp"
                } else {
                    "segment_vjp_untimed"
                };
                roles.push(("unet", role, &seg.graph));
            }
        }
        if let Some((f, v)) = &self.secondary {
            roles.extend([
                ("secondary", "forward", f.as_str()),
                ("secondary", "vjp", v),
            ]);
        }
        roles.extend(self.lpips_vjp.as_deref().map(|g| ("lpips", "vjp", g)));
        for c in &self.clip {
            roles.extend([
                ("clip", "text", c.text.as_str()),
                ("clip", "image", c.image.as_str()),
                ("clip", c.guide.role(), c.guide.graph().as_str()),
            ]);
        }
        roles.extend(self.raft.as_deref().map(|g| ("raft", "forward", g)));
        let dir = set.dir.display().to_string();
        for (family, role, name) in roles {
            let c = contract(family, role).expect("every role the renderer opens has a contract");
            let g = set
                .manifest
                .graphs
                .get(name)
                .ok_or_else(|| SessionError::NoGraph {
                    dir: set.dir.clone(),
                    graph: name.to_owned(),
                })?;
            if let Some(problem) = g.breaks(&c) {
                return Err(ModelsError::Contract {
                    dir,
                    graph: name.to_owned(),
                    role: c.role,
                    problem,
                });
            }
        }
        Ok(())
    }
}

impl GraphNames {
    /// The segment list is well formed and the checkpoint forward returns every boundary a
    /// segment reads.
    fn check_checkpoint(&self, set: &ModelSet, c: &Checkpointed) -> Result<(), ModelsError> {
        let contract_err = |graph: &str, problem: String| ModelsError::Contract {
            dir: set.dir.display().to_string(),
            graph: graph.to_owned(),
            role: "unet checkpoint",
            problem,
        };
        if let Some(problem) = c.problem() {
            return Err(contract_err(&c.forward, problem));
        }
        let Some(fwd) = set.manifest.graphs.get(&c.forward) else {
            return Ok(()); // named as a missing graph by the role check
        };
        for seg in &c.segments {
            for i in seg.inputs.iter().filter(|i| *i != "x") {
                if !fwd
                    .outputs
                    .iter()
                    .any(|o| &o.name == i && o.shape.len() == 4)
                {
                    return Err(contract_err(
                        &c.forward,
                        format!(
                            "declares no 4-d output `{}`, which segment `{}` reads",
                            i.escape_debug(),
                            seg.name.escape_debug()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether a render at `width`×`height` walks the checkpointed UNet `c` lean: where its
/// boundaries outweigh the boundary forward's weights (about 768×512 and up with DD's 512
/// model), the walk is the render's memory peak, and its sessions are opened to hold less:
/// [`Footprint::Lean`] segments, each released once it has run; every other session
/// [`Footprint::Unpooled`]; the text encoders released once they have run. That is what
/// fits DD's default 1280×768 in 20.5 GiB here (docs/bench-render-step.md). Smaller renders
/// keep ORT's faster defaults. The rule depends on the size only, so a job renders the same
/// bytes every time.
pub fn lean_walk(set: &ModelSet, c: &Checkpointed, width: usize, height: usize) -> bool {
    let Some(forward) = set.manifest.graphs.get(&c.forward) else {
        return false;
    };
    boundary_bytes(set, c, width, height) > set.file_bytes(forward)
}

/// The bytes of the boundaries the checkpointed UNet `c`'s forward returns for one image at
/// `width`×`height` (float32; every output but `eps_full`), from the shapes the manifest
/// declares (`C`, `H/k`, `W/k`).
pub fn boundary_bytes(set: &ModelSet, c: &Checkpointed, width: usize, height: usize) -> u64 {
    let Some(forward) = set.manifest.graphs.get(&c.forward) else {
        return 0;
    };
    let side = |d: &Dim, full: usize| match d {
        Dim::Fixed(n) => *n as u64,
        Dim::Symbol(s) => match s.split_once('/') {
            Some((_, k)) => k
                .parse::<u64>()
                .map_or(full as u64, |k| full as u64 / k.max(1)),
            None => full as u64,
        },
    };
    forward
        .outputs
        .iter()
        .filter(|o| o.name != "eps_full" && o.shape.len() == 4)
        .map(|o| {
            let channels = match &o.shape[1] {
                Dim::Fixed(n) => *n as u64,
                Dim::Symbol(_) => 0,
            };
            // a damaged manifest's sizes saturate instead of overflowing
            [
                channels,
                side(&o.shape[2], height),
                side(&o.shape[3], width),
            ]
            .into_iter()
            .fold(4u64, u64::saturating_mul)
        })
        .fold(0, u64::saturating_add)
}

impl Models {
    /// Opens every session `needs` asks for.
    pub fn open(
        set: &ModelSet,
        needs: &Needs,
        opts: SessionOptions,
    ) -> Result<Models, ModelsError> {
        let names = needs.graphs(set)?;
        let mut notices = Vec::new();
        if needs.fp16
            && set
                .manifest
                .diffusion_fp16_family(needs.diffusion)
                .is_none()
        {
            notices.push(format!(
                "the model set {} has no fp16 graphs of {}: its UNet runs in fp32 (DD runs it in fp16 on a GPU; export without --no-fp16 to match)",
                set.dir.display(),
                needs.diffusion
            ));
        }
        let mut open_with = |name: &str, footprint| -> Result<GraphSession, ModelsError> {
            let s = GraphSession::open_with(set, name, opts, footprint)?;
            if let Some(n) = &s.notice
                && !notices.contains(n)
            {
                notices.push(n.clone());
            }
            Ok(s)
        };
        // large renders on the checkpointed UNet path: its forward's outputs go back to the
        // system once copied out, its segments hold their weights once
        let lean = names
            .unet_checkpoint
            .as_ref()
            .is_some_and(|c| lean_walk(set, c, needs.width, needs.height));
        // Unpooled elsewhere too: the shared arena keeps the high-water mark of every run
        // (CLIP's guidance batches), resident through the walk
        let (forward, segment, other) = match lean {
            true => (Footprint::Unpooled, Footprint::Lean, Footprint::Unpooled),
            false => (Footprint::Default, Footprint::Default, Footprint::Default),
        };
        let unet = open_with(&names.unet, forward)?;
        let unet_vjp = names
            .unet_vjp
            .as_deref()
            .map(|n| open_with(n, Footprint::Default))
            .transpose()?;
        let unet_checkpoint = match &names.unet_checkpoint {
            Some(c) => {
                let segments = c
                    .segments
                    .iter()
                    .map(|s| {
                        // opened here all the same, so a graph that does not load stops the
                        // build before its first step
                        let mut session = open_with(&s.graph, segment)?;
                        if lean {
                            session.release();
                        }
                        Ok(session)
                    })
                    .collect::<Result<_, ModelsError>>()?;
                Some(UnetCheckpoint::new(c.clone(), segments, lean))
            }
            None => None,
        };
        let secondary = match &names.secondary {
            Some((f, v)) => Some((
                open_with(f, Footprint::Default)?,
                open_with(v, Footprint::Default)?,
            )),
            None => None,
        };
        let lpips_vjp = names
            .lpips_vjp
            .as_deref()
            .map(|n| open_with(n, other))
            .transpose()?;
        let mut clip = Vec::new();
        for c in &names.clip {
            let guide = match &c.guide {
                ClipGuide::Fused(g) => ClipGuide::Fused(open_with(g, other)?),
                ClipGuide::TwoPass(g) => ClipGuide::TwoPass(open_with(g, other)?),
            };
            clip.push(ClipSessions {
                flag: c.flag.clone(),
                resolution: c.resolution,
                text: open_with(&c.text, other)?,
                image: LazySession::new(set, &c.image, opts, other),
                guide,
                text_embeds: HashMap::new(),
                image_embeds: HashMap::new(),
            });
        }
        let raft = match (&names.raft, &set.manifest.raft) {
            (Some(g), Some(r)) => Some((open_with(g, other)?, r.clone())),
            _ => None,
        };
        Ok(Models {
            unet,
            unet_vjp,
            unet_checkpoint,
            secondary,
            lpips_vjp,
            clip,
            raft,
            notices,
        })
    }

    /// A render whose checkpointed walk is its memory peak ([`lean_walk`]): sessions that
    /// wait through it hold no weights or arena (the CLIP text encoders are released once
    /// they have run, the segments after each run, the boundary forward during the walk).
    pub fn lean(&self) -> bool {
        self.unet_checkpoint.as_ref().is_some_and(|c| c.transient)
    }
}
