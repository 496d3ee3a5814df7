//! `disco watch`: re-render on save, cancelling only the jobs whose keys an edit changed
//! (DESIGN.md §1, STYLE.md rule 21). Shaped collect → decide → apply:
//!
//! - [`collect`]: notify watches the directories of every file the plan read; the tool's
//!   own writes are dropped; saves gather in a debounce window;
//! - [`reload`]: the project loaded and planned again, off the loop;
//! - [`decide`]: a pure function from (new plan, jobs running or queued) to actions;
//! - [`apply`]: the render thread, one job at a time through the build engine;
//! - [`run`]: the loop joining them; [`events`]: what it reports; [`seams`]: facts and
//!   renderer, real or fake.
//!
//! Knows nothing of terminals: the CLI draws the events.

pub mod apply;
pub mod collect;
pub mod decide;
pub mod events;
pub mod reload;
pub mod run;
pub mod seams;

pub use decide::{Actions, Busy, Wanted, decide};
pub use events::{Queued, WatchEvent, WatchOutput, WatchSink};
pub use reload::Scope;
pub use run::{RELOAD_TIMEOUT, Watch, WatchError, WatchOptions};
pub use seams::{OrtSeams, Seams};
