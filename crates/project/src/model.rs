//! The typed project: what the file says, validated, with spans kept.

use std::path::PathBuf;
use std::sync::Arc;

use super::schema::Settings;
use super::source::{SourceFile, Spanned};
use super::types::AnimationMode;

/// A loaded project: targets with their fully layered settings.
#[derive(Debug, Clone)]
pub struct Project {
    /// The main project file.
    pub path: PathBuf,
    /// Every file read (main file first, then includes in the order met).
    pub files: Vec<Arc<SourceFile>>,
    /// Top-level settings (defaults, includes and the main file layered).
    pub base: Settings,
    /// What `disco build` makes.
    pub targets: Vec<Target>,
}

/// How a target was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// `stills "name" { … }`: `n-batches` still images.
    Stills,
    /// `animation "name" { … }`: one animation of `max-frames` frames.
    Animation,
    /// `sweep "name" { axis … }`: a grid of cells, each stills or an animation.
    Sweep,
    /// No target blocks: the top-level settings are one target, as in DD.
    Implicit,
}

/// One thing to build.
#[derive(Debug, Clone)]
pub struct Target {
    /// Unique name (for `disco build NAME`).
    pub name: Spanned<String>,
    /// How it was declared.
    pub kind: TargetKind,
    /// Base settings overlaid with the target block's own.
    pub settings: Settings,
    /// The grid, for sweeps.
    pub sweep: Option<Sweep>,
}

impl Target {
    /// Whether the target (or each sweep cell) renders an animation.
    pub fn is_animation(&self) -> bool {
        self.settings.animation_mode.value != AnimationMode::None
    }
}

/// A parameter sweep: the cartesian product of its axes.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The axes in the order written.
    pub axes: Vec<Axis>,
    /// Every cell, in row-major order over the axes (last axis fastest).
    pub cells: Vec<Cell>,
}

/// One swept setting and its values.
#[derive(Debug, Clone)]
pub struct Axis {
    /// The setting's name.
    pub setting: Spanned<&'static str>,
    /// Each value as shown in cell names.
    pub labels: Vec<String>,
}

/// One point of a sweep.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Readable, stable name: `clip-guidance-scale=5000,seed=1`.
    pub name: String,
    /// Index into each axis's values.
    pub coords: Vec<usize>,
    /// The target's settings with this cell's values applied.
    pub settings: Settings,
}
