//! The images a build reads besides models: init images and image prompts. `disco check`
//! reads and decodes each once, so a missing file, a FIFO or device, an oversized file or
//! one that is not an image is an error at the setting that names it, before anything
//! renders (the build would otherwise fail the same way once per job).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::needs::resolved_settings;
use crate::fsutil::{BoundedReadError, read_bounded};
use crate::plan::expand::prompt_path;
use crate::project::{Diagnostic, Origin, Project, Settings};

/// The largest input image read (bytes): far above any init image or image prompt.
pub const MAX_INPUT_IMAGE_BYTES: u64 = 256 << 20;

/// Why an input image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InputImageError {
    /// It cannot be read (missing, a FIFO or device, too large).
    #[error("{0}")]
    Read(#[from] BoundedReadError),
    /// Its bytes are no image the build can decode.
    #[error("not an image disco can read ({0})")]
    Decode(#[from] image::ImageError),
}

/// One error per unreadable input image of the selected targets (`only`; empty: all),
/// at the setting or prompt that names it.
pub fn input_file_problems(project: &Project, only: &[String]) -> Vec<Diagnostic> {
    let mut verdicts: HashMap<PathBuf, Result<(), InputImageError>> = HashMap::new();
    let mut out = Vec::new();
    let mut reported = std::collections::HashSet::new();
    for (_, s) in resolved_settings(project, only) {
        for (path, origin, what) in inputs(s) {
            let verdict = verdicts
                .entry(path.clone())
                .or_insert_with(|| readable_image(&path));
            let Err(why) = verdict else { continue };
            // a file named once but shared by many targets or cells is reported once
            let at = origin
                .as_ref()
                .map(|o| (o.file.path.clone(), o.span.offset()));
            if !reported.insert((path.clone(), at)) {
                continue;
            }
            let message = format!("cannot use {what} {}: {why}", path.display());
            out.push(match &origin {
                Some(o) => Diagnostic::error(message, o, "this file"),
                None => Diagnostic::bare(message),
            });
        }
    }
    out
}

/// (file, where it is named, what it is) for every image `s` makes the build read.
fn inputs(s: &Settings) -> Vec<(PathBuf, Option<Origin>, &'static str)> {
    let mut out = Vec::new();
    // Perlin noise (DD §9) and a Voronoi image replace the init image: it is never read then.
    if !s.perlin_init.value
        && !s.voronoi_init.value
        && let Some(p) = &s.init_image.value.resolved
    {
        out.push((p.clone(), s.init_image.origin.clone(), "init image"));
    }
    for set in s.image_prompts.value.0.values() {
        for p in &set.prompts {
            let origin = p.origin.clone().or_else(|| set.origin.clone());
            out.push((prompt_path(p, s), origin, "image prompt"));
        }
    }
    out
}

/// Reads the file through the bounded reader and decodes it as the build would.
pub fn readable_image(path: &Path) -> Result<(), InputImageError> {
    let bytes = read_bounded(path, MAX_INPUT_IMAGE_BYTES)?;
    image::load_from_memory(&bytes)?;
    Ok(())
}
