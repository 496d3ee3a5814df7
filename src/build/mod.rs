//! Building: a plan's stale jobs rendered in dependency order, stored, and materialised
//! under `images_out/` (DESIGN.md §3–§4). Joins the layers: planning's jobs, the store's
//! objects, the renderer's pixels; reports through an event [`BuildSink`].
//!
//! - [`exec`]: `disco build`; [`decide`]: current / materialise / render, and why;
//! - [`gc`]: what `disco gc` keeps and removes; [`needs`]: what settings need from a
//!   model set, checked before planning;
//! - [`facts`]: planning's facts from the stat cache, manifests and runtime;
//! - [`renderer`]: the seam to the pixels ([`OrtRenderer`] on ONNX Runtime);
//! - [`video_blend`]: a Video Input target's blended frames and video (`video-init-blend-mode`);
//! - [`verify`]: `disco verify`, re-rendering into a scratch store against `disco.lock`;
//! - [`spec`]: a job → the renderer's inputs; [`warp3d`]: a 3D frame's init through depth;
//!   [`vr`]: VR eye views, decided, rendered and materialised; [`checkpoint`], [`png`], [`materialize`]:
//!   the bytes the build writes; [`trace_out`]: a render trace's files.

pub mod checkpoint;
pub mod decide;
pub mod diffusion;
pub mod events;
pub mod exec;
pub mod facts;
pub mod flow;
pub mod gc;
pub mod input_files;
mod job;
mod lock_update;
pub mod materialize;
pub mod needs;
pub mod png;
mod publish;
pub mod renderer;
pub mod source_frames;
pub mod spec;
mod targets;
pub mod trace_out;
pub mod turbo;
pub mod verify;
pub mod video_blend;
pub mod vr;
pub mod warp3d;

pub use decide::{Decision, decide};
pub use events::{BuildEvent, BuildSink};
pub use exec::{BuildError, BuildOptions, Summary, build, build_in, make_plan};
pub use facts::StoreFacts;
pub use gc::gc;
pub use renderer::{
    Hooks, JobError, OrtRenderer, RenderError, RenderOutcome, Renderer, Request, SetupError,
};
