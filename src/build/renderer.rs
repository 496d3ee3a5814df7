//! The seam between the build and the pixels: a [`Renderer`] turns one planned job into an
//! image. [`OrtRenderer`] is the real one (ONNX Runtime sessions, opened once per build and
//! reused for every job); tests substitute a fake that derives an image from the key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use ndarray::Array3;

use crate::plan::Plan;
use crate::render::depth::DepthSessions;
use crate::render::job::{self, Checkpoint, Rendered};
use crate::render::manifest::Raft;
use crate::render::models::{Models, ModelsError, Needs};
use crate::render::runtime::RuntimeError;
use crate::render::session::{GraphSession, ModelSet, SessionError, SessionOptions};

/// One job to render.
pub struct Request<'a> {
    /// The plan the job belongs to.
    pub plan: &'a Plan,
    /// Index into `plan.jobs`.
    pub job: usize,
    /// The previous frame's final image, for a frame that starts from it.
    pub prev: Option<&'a Array3<u8>>,
    /// A 3D frame's init, warped already (a turbo frame: the build blends it with the
    /// result, dd-algorithm.md §10.4); `None`: the renderer warps `prev` itself.
    pub init: Option<&'a Array3<u8>>,
    /// Iterations j that write an intermediate save.
    pub saves: &'a [usize],
    /// Refresh the preview every this many iterations (DD's `display_rate`).
    pub preview_every: usize,
    /// Offer a checkpoint every this many iterations (0: never).
    pub checkpoint_every: usize,
    /// Resume from this checkpoint.
    pub resume: Option<&'a Checkpoint>,
}

/// What the renderer reports while it works.
pub trait Hooks {
    /// Iteration `j` of `total` finished with guidance loss `loss`.
    fn step(&mut self, j: usize, total: usize, loss: f64);
    /// The unguided x̂0 after iteration `j`, when it is an intermediate save.
    fn save(&mut self, j: usize, image: Array3<u8>);
    /// The unguided x̂0, when the preview is due.
    fn preview(&mut self, image: Array3<u8>);
    /// A point to resume from, when one is due.
    fn checkpoint(&mut self, cp: Checkpoint);
    /// progrock's tone correction `fix` fired after iteration `j`.
    fn tone_corrected(&mut self, j: usize, fix: &'static str);
}

/// How a render ended.
pub enum RenderOutcome {
    /// The final image and facts for the record.
    Finished {
        /// `[H, W, 3]`.
        image: Array3<u8>,
        /// Loss terms of the last guided step.
        losses: serde_json::Value,
        /// Iterations run by this call.
        steps: usize,
        /// Where it ran.
        device: String,
    },
    /// The cancellation flag stopped it; resume from this checkpoint.
    Cancelled(Box<Checkpoint>),
}

/// Why a render failed, sorted by consequence (DESIGN.md §2): the per-target loop stops
/// the build on [`RenderError::Setup`] and goes on after [`RenderError::Job`].
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The renderer cannot be set up (ONNX Runtime, the model set, its sessions): no job
    /// can render, so the build stops once with this.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// This job failed; it is not cached and the build goes on with the others.
    #[error(transparent)]
    Job(#[from] JobError),
}

/// Why no job can render.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// No usable ONNX Runtime library.
    #[error("{} ({})", .0, .0.help())]
    Runtime(#[source] RuntimeError),
    /// The model set cannot be opened.
    #[error("{0}")]
    ModelSet(#[source] SessionError),
    /// The set's sessions cannot be opened for these settings (a graph ONNX Runtime
    /// refuses, a CUDA error, a graph the set lacks).
    #[error("{}", with_help(.0))]
    Sessions(#[source] ModelsError),
    /// Another renderer's set-up failure, in its words.
    #[error("{0}")]
    Other(String),
}

fn with_help(e: &ModelsError) -> String {
    match e.help() {
        Some(h) => format!("{e} ({h})"),
        None => e.to_string(),
    }
}

/// Why one job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Its inputs cannot be read (an init image, an image prompt, the previous frame).
    #[error("{0}")]
    Inputs(String),
    /// Its spec's pixels cannot be loaded (the disco renderer's init image, image prompts,
    /// previous frame).
    #[error(transparent)]
    Spec(#[from] super::spec::SpecError),
    /// The sampler or a session failed on it.
    #[error(transparent)]
    Render(#[from] job::RunError),
    /// `disco build --render never` (the assemble step) renders nothing, and neither this
    /// checkout nor the cache holds the job.
    #[error("its key {0} is in no cache, and `--render never` renders nothing")]
    NotCached(crate::plan::Key),
}

impl From<String> for RenderError {
    fn from(e: String) -> Self {
        RenderError::Job(JobError::Inputs(e))
    }
}

impl From<&str> for RenderError {
    fn from(e: &str) -> Self {
        RenderError::Job(JobError::Inputs(e.to_owned()))
    }
}

/// Renders jobs.
pub trait Renderer {
    /// Renders `req`, reporting through `hooks`, stopping between steps when `cancel` is set.
    fn render(
        &mut self,
        req: &Request<'_>,
        hooks: &mut dyn Hooks,
        cancel: &AtomicBool,
    ) -> Result<RenderOutcome, RenderError>;
    /// The provider class actually rendering (`cpu`, `cuda`), once known.
    fn provider(&self) -> Option<&str> {
        None
    }
    /// `image` warped by job `j`'s 3D init (its `Init::Warp3d`): the warps of a turbo frame
    /// (dd-algorithm.md §10.4), which the build blends. A renderer that draws no 3D frames
    /// fails the job.
    fn warp3d(
        &mut self,
        plan: &Plan,
        j: usize,
        image: &Array3<u8>,
    ) -> Result<Array3<u8>, RenderError> {
        let _ = image;
        unsupported(&plan.job_label(j), "draws no 3D warp")
    }

    /// Eye view `e`'s image (`plan.eyes[e]`, dd-algorithm.md §10.4) of its frame's saved
    /// image `frame`. A renderer that draws no 3D frames fails the view.
    fn eye_view(
        &mut self,
        plan: &Plan,
        e: usize,
        frame: &Array3<u8>,
    ) -> Result<Array3<u8>, RenderError> {
        let _ = frame;
        unsupported(&plan.eye_label(e), "draws no VR eye view")
    }

    /// The optical flow of Video Input target `t` from source frame `from` to `to` (pixel
    /// hashes) through the RAFT graph of hash `graph`, at the output size, `[H, W, 2]`: what
    /// the flow-blended video warps along (video_blend.rs), kept in `.disco/flow/` as the
    /// flow-warped init's flows are. A renderer without RAFT fails.
    fn flow(
        &mut self,
        plan: &Plan,
        t: usize,
        graph: &str,
        pair: (&str, &str),
    ) -> Result<Array3<f32>, RenderError> {
        let _ = (graph, pair);
        unsupported(&plan.targets[t].label(), "computes no optical flow")
    }
}

/// The error of a [`Renderer`] method this renderer does not provide, for `what` (a job,
/// view or target label).
fn unsupported<T>(what: &str, lacks: &str) -> Result<T, RenderError> {
    Err(JobError::Inputs(format!("{what}: this renderer {lacks}")).into())
}

/// What one set of sessions is opened for: (model set, diffusion model, secondary, LPIPS,
/// CLIP models, RAFT flow, fp16 UNet, lean UNet walk).
type SessionsId = (PathBuf, String, bool, bool, Vec<String>, bool, bool, bool);

/// The real renderer: Disco Diffusion's sampler on ONNX Runtime.
pub struct OrtRenderer {
    options: SessionOptions,
    ort_lib: Option<PathBuf>,
    /// Shared with each job's session setup without copying the manifest.
    sets: HashMap<PathBuf, Arc<ModelSet>>,
    /// Sessions by [`SessionsId`]: graphs have symbolic sizes,
    /// so one set of sessions serves every size of a build.
    models: HashMap<SessionsId, Models>,
    /// Depth sessions by (model set, MiDaS model, AdaBins blended in).
    depth: HashMap<(PathBuf, String, bool), DepthSessions>,
    /// RAFT alone, by model set: the blended video's flows when no frame's init needed them.
    raft: HashMap<PathBuf, (GraphSession, Raft)>,
    /// Notices to show once (e.g. `auto` fell back to the CPU).
    pub notices: Vec<String>,
    provider: Option<String>,
}

impl OrtRenderer {
    /// A renderer opening sessions with `options` (hashes were checked by planning), with
    /// ONNX Runtime from `ort_lib` or found as `disco doctor` finds it.
    pub fn new(options: SessionOptions, ort_lib: Option<PathBuf>) -> OrtRenderer {
        OrtRenderer {
            options,
            ort_lib,
            sets: HashMap::new(),
            models: HashMap::new(),
            depth: HashMap::new(),
            raft: HashMap::new(),
            notices: Vec::new(),
            provider: None,
        }
    }

    /// ONNX Runtime loaded and the model set at `dir` open (once each per build).
    fn open_set(&mut self, dir: &Path) -> Result<&Arc<ModelSet>, SetupError> {
        crate::render::runtime::init(self.ort_lib.as_deref()).map_err(SetupError::Runtime)?;
        if !self.sets.contains_key(dir) {
            let set = ModelSet::open(dir).map_err(SetupError::ModelSet)?;
            self.sets.insert(dir.to_owned(), Arc::new(set));
        }
        Ok(&self.sets[dir])
    }

    fn models(&mut self, plan: &Plan, j: usize) -> Result<&mut Models, SetupError> {
        let target = &plan.targets[plan.jobs[j].target];
        let c = &target.common.inputs;
        // LPIPS is opened for any target that may need it, so frames 0 and 1 share sessions.
        let lpips = target.lpips;
        let diffusion = target.settings.diffusion_selector();
        let s = &target.settings;
        let flow = s.animation_mode.value == crate::project::types::AnimationMode::VideoInput
            && s.video_init_flow_warp.value;
        // the plan's rule, so that the graphs opened are the ones whose hashes are in the keys
        let fp16 = crate::plan::facts::unet_fp16(s, &c.provider);
        let set = Arc::clone(self.open_set(&target.model_set)?);
        let needs = Needs {
            width: c.width as usize,
            height: c.height as usize,
            secondary: c.use_secondary_model,
            lpips,
            clip: &c.clip_models,
            diffusion: &diffusion,
            flow,
            fp16,
        };
        // sessions opened lean for large renders serve those only (models::lean_walk)
        let lean = needs
            .graphs(&set)
            .ok()
            .and_then(|g| g.unet_checkpoint)
            .is_some_and(|ck| {
                crate::render::models::lean_walk(&set, &ck, needs.width, needs.height)
            });
        let id = (
            target.model_set.clone(),
            diffusion.clone(),
            c.use_secondary_model,
            lpips,
            c.clip_models.clone(),
            flow,
            fp16,
            lean,
        );
        if !self.models.contains_key(&id) {
            let m = Models::open(&set, &needs, self.options).map_err(SetupError::Sessions)?;
            for n in &m.notices {
                if !self.notices.contains(n) {
                    self.notices.push(n.clone());
                }
            }
            self.provider = Some(
                match m.unet.device {
                    crate::render::session::Device::Cuda(_) => "cuda",
                    _ => "cpu",
                }
                .to_owned(),
            );
            self.models.insert(id.clone(), m);
        }
        Ok(self.models.get_mut(&id).expect("opened"))
    }
}

impl OrtRenderer {
    /// A 3D frame's init: the previous frame warped through its depth (`None` for any
    /// other job).
    fn warp3d_init(&mut self, req: &Request<'_>) -> Result<Option<Array3<u8>>, RenderError> {
        if !matches!(
            req.plan.jobs[req.job].frame.init,
            crate::plan::Init::Warp3d(_)
        ) {
            return Ok(None);
        }
        let prev = req.prev.ok_or(super::spec::SpecError::NoPreviousFrame)?;
        self.warp_image(req.plan, req.job, prev).map(Some)
    }

    /// `image` warped by job `j`'s 3D init. The depth sessions open once per (model set,
    /// MiDaS model, AdaBins).
    fn warp_image(
        &mut self,
        plan: &Plan,
        j: usize,
        image: &Array3<u8>,
    ) -> Result<Array3<u8>, RenderError> {
        let job = &plan.jobs[j];
        let crate::plan::Init::Warp3d(w) = &job.frame.init else {
            return Err(JobError::Inputs(format!("{} is no 3D frame", plan.job_label(j))).into());
        };
        let target = &plan.targets[job.target];
        let adabins = w.adabins_graph.is_some();
        let depth = self.depth_sessions(&target.model_set, &w.midas_depth_model, adabins)?;
        let s = &target.settings;
        let planes = (s.near_plane.value, s.far_plane.value);
        let warped = super::warp3d::warp3d_init(image, w, planes, depth)
            .map_err(|e| JobError::Inputs(e.to_string()))?;
        Ok(warped)
    }

    /// The depth sessions of (model set, MiDaS model, AdaBins), opened once.
    fn depth_sessions(
        &mut self,
        model_set: &Path,
        midas: &str,
        adabins: bool,
    ) -> Result<&mut DepthSessions, SetupError> {
        let id = (model_set.to_path_buf(), midas.to_owned(), adabins);
        if !self.depth.contains_key(&id) {
            let options = self.options;
            let set = self.open_set(model_set)?;
            let d =
                DepthSessions::open(set, midas, adabins, options).map_err(SetupError::Sessions)?;
            self.depth.insert(id.clone(), d);
        }
        Ok(self.depth.get_mut(&id).expect("opened"))
    }
}

impl Renderer for OrtRenderer {
    fn render(
        &mut self,
        req: &Request<'_>,
        hooks: &mut dyn Hooks,
        cancel: &AtomicBool,
    ) -> Result<RenderOutcome, RenderError> {
        let warped = match req.init {
            Some(_) => None,
            None => self.warp3d_init(req)?,
        };
        let prev = req.init.or(warped.as_ref()).or(req.prev);
        let models = self.models(req.plan, req.job)?;
        let flows = super::flow::job_flows(req.plan, req.job, models.raft.as_mut())
            .map_err(super::spec::SpecError::Flow)?;
        let spec = super::spec::render_spec(req.plan, req.job, prev, flows.as_ref())?;
        let device = format!("{:?}", models.unet.device).to_lowercase();
        let mut last_losses = serde_json::Value::Null;
        let mut steps = 0;
        let on_step = |e: &job::StepEvent<'_>| {
            steps += 1;
            let total = e.total.saturating_sub(1);
            // DDIM's last step runs no guidance (§4.5): report the last guided step's losses
            if e.losses.total() != 0.0 || last_losses.is_null() {
                last_losses = serde_json::json!({
                    "total": e.losses.total(), "clip": e.losses.clip, "tv": e.losses.tv,
                    "sat": e.losses.sat, "range": e.losses.range, "init": e.losses.init,
                });
            }
            hooks.step(e.j, e.total, last_losses["total"].as_f64().unwrap_or(0.0));
            if let Some(fix) = e.tone_fix {
                hooks.tone_corrected(e.j, fix.name());
            }
            if req.saves.contains(&e.j) {
                hooks.save(e.j, job::to_u8(e.pred_x0));
            }
            if crate::render::saves::is_preview(e.j, req.preview_every, total) {
                hooks.preview(job::to_u8(e.pred_x0));
            }
            if let Some(r) = &e.resume
                && req.checkpoint_every > 0
                && (e.j + 1).is_multiple_of(req.checkpoint_every)
            {
                hooks.checkpoint(r.to_checkpoint());
            }
        };
        match job::render(&spec, models, req.resume, on_step, cancel).map_err(JobError::Render)? {
            Rendered::Finished(image) => Ok(RenderOutcome::Finished {
                image,
                losses: last_losses,
                steps,
                device,
            }),
            Rendered::Cancelled(cp) => Ok(RenderOutcome::Cancelled(cp)),
        }
    }

    fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    fn warp3d(
        &mut self,
        plan: &Plan,
        j: usize,
        image: &Array3<u8>,
    ) -> Result<Array3<u8>, RenderError> {
        self.warp_image(plan, j, image)
    }

    fn eye_view(
        &mut self,
        plan: &Plan,
        e: usize,
        frame: &Array3<u8>,
    ) -> Result<Array3<u8>, RenderError> {
        let view = &plan.eyes[e];
        let target = &plan.targets[plan.jobs[view.job].target];
        let i = &view.inputs;
        let depth = self.depth_sessions(
            &target.model_set,
            &i.midas_depth_model,
            i.adabins_graph.is_some(),
        )?;
        let s = &target.settings;
        let planes = (s.near_plane.value, s.far_plane.value);
        super::warp3d::eye_view_image(frame, i, planes, depth)
            .map_err(|e| JobError::Inputs(e.to_string()).into())
    }

    fn flow(
        &mut self,
        plan: &Plan,
        t: usize,
        graph: &str,
        pair: (&str, &str),
    ) -> Result<Array3<f32>, RenderError> {
        let target = &plan.targets[t];
        let dir = &target.model_set;
        if !self.raft.contains_key(dir) {
            let options = self.options;
            let set = self.open_set(dir)?;
            let raft = set.manifest.raft.clone();
            let name = raft.as_ref().and_then(|r| r.family.graph("forward"));
            let (Some(raft), Some(name)) = (raft.clone(), name) else {
                let why = format!("the model set {} has no RAFT graph", dir.display());
                return Err(SetupError::Other(why).into());
            };
            let session = GraphSession::open(set, name, options)
                .map_err(|e| SetupError::Sessions(e.into()))?;
            self.raft.insert(dir.clone(), (session, raft));
        }
        let raft = self.raft.get_mut(dir).expect("opened");
        let c = &target.common.inputs;
        let size = (c.width as usize, c.height as usize);
        super::flow::pair_flow(plan, graph, size, pair, raft)
            .map_err(|e| JobError::Spec(super::spec::SpecError::Flow(e)).into())
    }
}
