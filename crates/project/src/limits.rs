//! Every limit the loader puts on a project, in one place (docs/project-format.md, "Limits").
//!
//! A project file is untrusted input: it may be nested, included, swept or counted far past
//! what any real project needs, and each of those would otherwise exhaust the stack, memory
//! or time of `check`, `build` and `watch`. Each limit sits well above real use; going past
//! one is an error pointing at the value that did.

/// Deepest nesting of `{ … }` blocks (and of `/* … */` comments, and of `/-` chains) a file
/// may have. The KDL parser recurses per level; a few hundred levels overflow its stack.
pub const MAX_DEPTH: usize = 64;

/// Largest project or include file, in bytes (project files are hand-written text).
pub const MAX_PROJECT_BYTES: usize = 1 << 20;

/// Most distinct files a project may read (the main file and everything it includes).
pub const MAX_FILES: usize = 64;

/// Most bytes all of a project's files may hold together.
pub const MAX_TOTAL_BYTES: usize = 4 << 20;

/// Most `include` nodes a project may expand in all, counting each time a file is
/// included again (a diamond, or a chain that includes each file twice, grows
/// exponentially otherwise).
pub const MAX_INCLUDE_EXPANSIONS: usize = 256;

/// Most syntax errors reported per file; the rest are summarised in one line (each one
/// prints the line it is on, so a long broken line would otherwise print quadratically).
pub const MAX_SYNTAX_ERRORS: usize = 20;

/// Most cells a sweep may expand to (the product of its axes' value counts).
pub const MAX_SWEEP_CELLS: usize = 10_000;

/// Most images (stills, or animation frames, summed over targets and sweep cells) a
/// project may plan.
pub const MAX_IMAGES: u64 = 1_000_000;

/// Most cutouts (`cut-overview` + `cut-innercut` at one schedule entry) per CLIP pass.
pub const MAX_CUTS_PER_PASS: f64 = 1024.0;

/// Most pixels (width × height after flooring to multiples of 64) an image may have.
pub const MAX_PIXELS: u64 = 4096 * 4096;

/// Longest file or folder name the build may create, in bytes (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// Longest path the build may write, in bytes, project directory included (Linux `PATH_MAX`).
pub const PATH_MAX: usize = 4096;
