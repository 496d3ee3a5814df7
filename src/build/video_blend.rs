//! A Video Input target's blended video (`video-init-blend-mode`, dd-algorithm.md §11.6):
//! DD's "Create video" cell makes its frames from the rendered ones — "optical flow" into
//! `flow/`, "linear" into `blend/` beside them — then encodes `<batch>(0)_flow.mp4` or
//! `<batch>(0)_blend.mp4`. disco encodes the plain video too (DD then makes only the
//! blended one).
//!
//! Blended frames are outputs derived from rendered frames (and flows), so they are made
//! as the video is: each has a key — blake3 over the mode, DD's blend, the two rendered
//! frames' keys and, for a flow blend, the flow's identity (RAFT graph hash, the source
//! pair's pixel hashes, the size) — recorded in `outputs.json` beside the file, written
//! atomically. A build remakes only the frames whose key changed or whose file was
//! touched, and re-encodes the video only when a frame's key or a video setting changed: a
//! no-op build hashes keys and stats files, nothing more.

use std::path::{Path, PathBuf};

use ndarray::Array3;

use super::decide::VideoPlan;
use super::renderer::Renderer;
use crate::anim::frame_blend::{DD_VIDEO_BLEND, flow_blend_frames, linear_blend};
use crate::plan::{Init, Key, Plan};
use crate::project::types::{AnimationMode, ChoiceSetting, VideoBlendMode};
use crate::store::Outputs;

/// Format tag of a blended frame's key (the first line of its preimage).
const BLEND_FORMAT: &str = "disco-video-blend/1";

/// A target's blended frames and their video.
#[derive(Debug, Clone)]
pub struct BlendPlan {
    /// "linear" or "optical flow".
    pub mode: VideoBlendMode,
    /// `images_out/<batch>/flow` or `…/blend`, relative to the project.
    pub folder: PathBuf,
    /// The frames, in order (frame 0 is the rendered frame 0, copied, as DD does).
    pub frames: Vec<BlendFrame>,
    /// `<batch>(0)_flow.mp4` or `<batch>(0)_blend.mp4`, of the blended frames.
    pub video: VideoPlan,
}

/// One blended frame: where it goes, its key, and what it is made of.
#[derive(Debug, Clone)]
pub struct BlendFrame {
    /// The file, relative to the project (the rendered frame's name in [`BlendPlan::folder`]).
    pub output: PathBuf,
    /// blake3 over what the pixels are made of (module doc).
    pub key: Key,
    /// The rendered frame this one shows (its job).
    pub job: usize,
    /// The previous rendered frame it is blended with (none for frame 0).
    pub prev: Option<usize>,
    /// A flow blend's flow: from this frame's source back to the previous one (pixel
    /// hashes), and the RAFT graph's hash.
    pub flow: Option<FlowId>,
}

/// Which kept flow a flow-blended frame warps along (flow.rs names its file by these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowId {
    /// blake3 of the RAFT graph.
    pub graph: String,
    /// This frame's source frame (pixel hash).
    pub from: String,
    /// The previous frame's source frame.
    pub to: String,
    /// The output size the flow is computed at, `(w, h)`.
    pub size: (usize, usize),
}

/// The blended frames and video of target `t`: `None` unless it is a complete Video Input
/// animation with a blend mode; an error when a flow blend's RAFT graph cannot be named.
pub fn blend_of(plan: &Plan, t: usize) -> Option<Result<BlendPlan, String>> {
    let target = &plan.targets[t];
    let s = &target.settings;
    let mode = s.video_init_blend_mode.value;
    if s.animation_mode.value != AnimationMode::VideoInput || mode == VideoBlendMode::None {
        return None;
    }
    let plain = super::decide::video_of(plan, t)?;
    Some(plan_blend(plan, t, mode, plain))
}

fn plan_blend(
    plan: &Plan,
    t: usize,
    mode: VideoBlendMode,
    plain: VideoPlan,
) -> Result<BlendPlan, String> {
    let target = &plan.targets[t];
    // DD's names: the folder and the video's suffix are one word
    let sub = match mode {
        VideoBlendMode::OpticalFlow => "flow",
        _ => "blend",
    };
    let folder = target.folder.join(sub);
    let graph = match mode {
        VideoBlendMode::OpticalFlow => Some(raft_graph(plan, t)?),
        _ => None,
    };
    let c = &target.common.inputs;
    let size = (c.width as usize, c.height as usize);
    let mut frames = Vec::with_capacity(target.jobs.len());
    let mut prev: Option<usize> = None;
    for j in target.jobs.clone() {
        let job = &plan.jobs[j];
        let name = job
            .output
            .file_name()
            .ok_or("a frame without a file name")?;
        let mut h = blake3::Hasher::new();
        h.update(format!("{BLEND_FORMAT}\n{}\n", mode.name()).as_bytes());
        let flow = match (prev, &graph) {
            (Some(p), Some(graph)) => Some(FlowId {
                graph: graph.clone(),
                from: source_of(plan, j)?.to_owned(),
                to: source_of(plan, p)?.to_owned(),
                size,
            }),
            _ => None,
        };
        match prev {
            // DD copies the first rendered frame
            None => h.update(b"copy\n"),
            Some(p) => h
                .update(format!("{DD_VIDEO_BLEND:?}\n").as_bytes())
                .update(&plan.jobs[p].key.0),
        };
        h.update(&job.key.0);
        if let Some(f) = &flow {
            let id = format!(
                "{}\n{}\n{}\n{}x{}\n",
                f.graph, f.from, f.to, f.size.0, f.size.1
            );
            h.update(id.as_bytes());
        }
        frames.push(BlendFrame {
            output: folder.join(name),
            key: Key(*h.finalize().as_bytes()),
            job: j,
            prev,
            flow,
        });
        prev = Some(j);
    }
    let mut h = blake3::Hasher::new();
    h.update(&plain.key.0);
    h.update(format!("{sub}\n").as_bytes());
    for f in &frames {
        h.update(&f.key.0);
    }
    let video = VideoPlan {
        output: target
            .folder
            .join(format!("{}(0)_{sub}.mp4", target.batch_name)),
        frames: frames.iter().map(|f| f.output.clone()).collect(),
        settings: plain.settings,
        eye: None,
        key: Key(*h.finalize().as_bytes()),
    };
    Ok(BlendPlan {
        mode,
        folder,
        frames,
        video,
    })
}

/// The source frame (pixel hash) job `j` restyles.
fn source_of(plan: &Plan, j: usize) -> Result<&str, String> {
    match &plan.jobs[j].frame.init {
        Init::SourceFrame { source } | Init::FlowBlend { source, .. } => Ok(source),
        _ => Err(format!("{} restyles no source frame", plan.job_label(j))),
    }
}

/// The hash of target `t`'s RAFT graph: the one planning checked when the frames' keys hold
/// it (the flow warp), else the model set's manifest's record.
fn raft_graph(plan: &Plan, t: usize) -> Result<String, String> {
    let target = &plan.targets[t];
    let dir = &target.model_set;
    let m = crate::render::manifest::Manifest::read(dir)
        .map_err(|e| format!("cannot read the model set {}: {e}", dir.display()))?;
    let name = m
        .raft
        .as_ref()
        .and_then(|r| r.family.graph("forward"))
        .ok_or_else(|| format!("the model set {} has no RAFT graph", dir.display()))?;
    target
        .common
        .inputs
        .models
        .get(name)
        .cloned()
        .or_else(|| m.graphs.get(name).map(|g| g.blake3.clone()))
        .ok_or_else(|| format!("the manifest of {} lists no graph `{name}`", dir.display()))
}

/// The names of the kept flows the blended videos of `plan` read (`disco gc` keeps them).
pub fn referenced_flows(plan: &Plan) -> Vec<String> {
    (0..plan.targets.len())
        .filter_map(|t| blend_of(plan, t)?.ok())
        .flat_map(|b| b.frames.into_iter().filter_map(|f| f.flow))
        .map(|f| super::flow::flow_name(&f.graph, &f.from, &f.to, f.size))
        .collect()
}

/// Makes the frames of `b` that are not current (by `outputs`), recording each; flows not
/// kept yet come from `renderer`. Returns how many were made.
pub(super) fn make_frames(
    plan: &Plan,
    t: usize,
    b: &BlendPlan,
    outputs: &mut Outputs,
    renderer: &mut dyn Renderer,
) -> Result<usize, String> {
    let mut made = 0;
    for f in &b.frames {
        if outputs.is_current(&plan.dir, &f.output, &f.key) {
            continue;
        }
        let dest = plan.dir.join(&f.output);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let this = plan.dir.join(&plan.jobs[f.job].output);
        let bytes = match f.prev {
            // DD's `shutil.copy` of frame 0: the same bytes
            None => read(&this)?,
            Some(p) => {
                let prev_file = plan.dir.join(&plan.jobs[p].output);
                let (prev, this) = (pixels(&prev_file)?, pixels(&this)?);
                if prev.dim() != this.dim() {
                    return Err(format!(
                        "{} is {:?} but {} is {:?}",
                        prev_file.display(),
                        prev.dim(),
                        plan.jobs[f.job].output.display(),
                        this.dim()
                    ));
                }
                let img = match &f.flow {
                    Some(id) => {
                        let back = flow_of(plan, t, id, renderer)?;
                        if back.dim() != (this.dim().0, this.dim().1, 2) {
                            return Err(format!(
                                "a flow of {:?} for frames of {:?}",
                                back.dim(),
                                this.dim()
                            ));
                        }
                        flow_blend_frames(&prev, &this, &back, DD_VIDEO_BLEND)
                    }
                    None => linear_blend(&prev, &this, DD_VIDEO_BLEND),
                };
                super::png::encode(&img, &[]).map_err(|e| format!("{}: {e}", dest.display()))?
            }
        };
        crate::fsutil::write_atomic(&dest, &bytes)
            .map_err(|e| format!("{}: {e}", dest.display()))?;
        outputs
            .set(&plan.dir, &f.output, f.key)
            .map_err(|e| format!("{}: {e}", dest.display()))?;
        made += 1;
    }
    Ok(made)
}

/// The flow `id` names: kept, or computed by `renderer` (and kept).
fn flow_of(
    plan: &Plan,
    t: usize,
    id: &FlowId,
    renderer: &mut dyn Renderer,
) -> Result<Array3<f32>, String> {
    let pair = (id.from.as_str(), id.to.as_str());
    let file = super::flow::flow_file(&plan.dir, &id.graph, pair, id.size);
    match super::flow::read_flow(&file, id.size) {
        Some(flow) => Ok(flow),
        None => renderer
            .flow(plan, t, &id.graph, pair)
            .map_err(|e| e.to_string()),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn pixels(path: &Path) -> Result<Array3<u8>, String> {
    super::png::decode(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))
}
