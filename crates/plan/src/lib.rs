//! Planning: a project → targets → jobs, each with fully resolved inputs and a blake3 key
//! (DESIGN.md §2–§3). Knows nothing of ONNX or of the store's files: the world outside the
//! project text comes in through [`Facts`].
//!
//! - [`inputs`]: what a job's pixels depend on; [`key`]: its canonical encoding and hash;
//! - [`expand`]: project → [`Plan`] (one target's jobs in `target.rs`); [`motion`]: per-frame
//!   2D motion; [`motion3d`]: per-frame 3D camera moves and a 3D frame's init;
//! - [`reason`]: why a job must render, compared with what its slot last held;
//! - [`sweep`]: a sweep cell's axes and coordinates;
//! - [`vr`]: VR's eye views of 3D frames, their keys and explanations;
//! - [`shard`]: the plan split into units of work among farm workers (`--shard I/N`);
//! - [`lockfile`]: `disco.lock`, the committed record of seeds and outputs.

#![deny(missing_docs)]

pub mod expand;
pub mod facts;
mod frame_settings;
pub mod inputs;
pub mod key;
pub mod lockfile;
pub mod motion;
pub mod motion3d;
pub mod reason;
pub mod shard;
pub mod sweep;
mod target;
mod tone_fix;
mod video_input;
pub mod vr;

pub use expand::{
    Common, IMAGES_OUT, Job, Plan, PlanOptions, TargetPlan, plan, safe_file_name, target_label,
};
pub use facts::{DepthHashes, Facts, FactsError, LpipsNeed, ModelNeeds, RuntimeFacts, lpips_need};
pub use inputs::{CommonInputs, FrameInputs, Init, SkippedInputs, Turbo, Warp3d};
pub use key::Key;
pub use reason::{Change, Staleness, explain};
pub use shard::{ShardSpec, ShardSpecError, Unit};
pub use sweep::{SweepAxes, SweepAxis, SweepCell};
pub use vr::{EyeInputs, EyeView};
