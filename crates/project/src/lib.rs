//! KDL text → typed [`Project`]: every Disco Diffusion setting, prompts, targets, sweeps.
//!
//! This layer reads project files (and their includes) and validates them; diagnostics
//! carry file, line and column. It knows nothing of jobs, caches or models: model
//! manifests and the runtime are looked at after parsing, by the layers above.

#![deny(missing_docs)]

mod bounds;
pub mod clip_names;
mod degenerate;
mod depth;
mod diagnostic;
pub mod limits;
mod load;
mod model;
pub mod names;
pub mod outputs;
mod parse;
mod read;
pub mod schema;
mod source;
pub mod types;
mod validate;
pub mod validate3d;
pub mod video_input;

pub use diagnostic::{Diagnostic, DiagnosticData, DiagnosticReport, Diagnostics};
pub use load::{LoadResult, load, load_str};
pub use model::{Axis, Cell, Project, Sweep, Target, TargetKind};
pub use parse::{MAX_PROJECT_BYTES, PARSE_TIMEOUT, parse_kdl, parse_kdl_bounded, parse_kdl_within};
pub use schema::{SCHEMA, SettingInfo, Settings};
pub use source::{Origin, SourceFile, Spanned};
