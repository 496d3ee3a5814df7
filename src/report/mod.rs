//! What a build leaves for people to look at: a contact sheet per sweep and one HTML
//! report per project, made from the plan, the store's objects and records. The build
//! calls [`refresh`] after its targets. Each file is kept in the outputs index under a key
//! covering everything it shows, so, like a video, it is redrawn only when that changed and
//! a no-op build costs a few hashes and stats. Knows nothing of rendering.
//!
//! - [`layout`]: a sweep as rows and columns; [`sheet`]: the contact sheet and its key;
//! - [`text`]: label text in the bundled DejaVu Sans; [`thumbs`]: one thumbnail per key;
//! - [`page`]: what the report shows; [`html`]: the page itself.

pub mod html;
pub mod layout;
pub mod page;
pub mod sheet;
pub mod text;
pub mod thumbs;

use std::collections::{HashMap, HashSet};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fsutil::{sweep_temporaries, write_atomic};
use crate::plan::{IMAGES_OUT, Key, Plan, SweepAxes, safe_file_name};
use crate::store::{Outputs, Store};

/// The report's file name, in `images_out/`.
pub const REPORT: &str = "report.html";

/// A file [`refresh`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// A sweep's contact sheet, redrawn because a tile changed.
    Sheet {
        /// The sweep.
        sweep: String,
        /// The PNG, relative to the project directory.
        output: PathBuf,
        /// Its tiles (cells).
        tiles: usize,
    },
    /// The project's report, rewritten because what it shows changed.
    Report {
        /// The HTML file, relative to the project directory.
        output: PathBuf,
        /// Images it shows.
        images: usize,
    },
}

/// Brings the contact sheet of every sweep in `plan` up to date and, when the plan covers
/// every target, the report. `built[j]`: whether job j's image is in place.
pub fn refresh(
    plan: &Plan,
    store: &Store,
    outputs: &mut Outputs,
    built: &[bool],
) -> io::Result<Vec<Written>> {
    let images_out = plan.dir.join(IMAGES_OUT);
    // what a build killed while writing these left behind (the build clears target folders)
    sweep_temporaries(&images_out);
    sweep_temporaries(&images_out.join(thumbs::DIR));
    let mut written = Vec::new();
    let mut sheets = HashMap::new();
    for (cells, axes) in sections(plan) {
        let Some(axes) = axes else { continue };
        let (rel, sheet) = sheet_of(plan, store, &images_out, built, cells, &axes)?;
        sweep_temporaries(plan.dir.join(&rel).parent().unwrap_or(&plan.dir));
        let key = sheet.key();
        if !outputs.is_current(&plan.dir, &rel, &key) {
            let img = sheet.draw(&|k| thumbs::load(&images_out, k));
            let path = plan.dir.join(&rel);
            std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
            write_atomic(&path, &thumbs::encode(&img)?)?;
            outputs.set(&plan.dir, &rel, key)?;
            written.push(Written::Sheet {
                sweep: axes.name.clone(),
                output: rel.clone(),
                tiles: sheet.tiles.len(),
            });
        }
        sheets.insert(axes.name.clone(), page::rel(&rel));
    }
    if plan.all_targets
        && let Some(w) = report(plan, store, outputs, built, &images_out, &sheets)?
    {
        written.push(w);
    }
    Ok(written)
}

/// The plan's targets as the report's sections: each target alone, a sweep's cells (which
/// are consecutive and share one set of axes) together.
pub fn sections(plan: &Plan) -> Vec<(Range<usize>, Option<Arc<SweepAxes>>)> {
    let mut out = Vec::new();
    let mut t = 0;
    while t < plan.targets.len() {
        let axes = plan.targets[t].sweep.as_ref().map(|c| c.axes.clone());
        let same = |u: &usize| {
            let other = plan.targets[*u].sweep.as_ref().map(|c| &c.axes);
            match (&axes, other) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
        };
        let end = t + 1 + (t + 1..plan.targets.len()).take_while(same).count();
        out.push((t..end, axes));
        t = end;
    }
    out
}

/// A sweep's contact sheet (its thumbnails made first) and where it goes:
/// `images_out/<batch>/<sweep>_contact.png`.
fn sheet_of(
    plan: &Plan,
    store: &Store,
    images_out: &Path,
    built: &[bool],
    cells: Range<usize>,
    axes: &SweepAxes,
) -> io::Result<(PathBuf, sheet::Sheet)> {
    let mut tiles = Vec::new();
    for t in cells.clone() {
        let target = &plan.targets[t];
        let Some(cell) = &target.sweep else { continue };
        // an animation cell shows its last frame
        let jobs = if target.animation {
            target.jobs.end.saturating_sub(1).max(target.jobs.start)..target.jobs.end
        } else {
            target.jobs.clone()
        };
        let mut images = Vec::new();
        for j in jobs {
            let key = plan.jobs[j].key;
            let shown = built[j] && thumbs::ensure(store, images_out, &key)?;
            images.push(shown.then_some(key));
        }
        let c = &target.common.inputs;
        tiles.push(sheet::Tile {
            coords: cell.coords.clone(),
            lines: cell.lines(),
            images,
            thumb: thumbs::size(c.width, c.height),
        });
    }
    let folder = &plan.targets[cells.start].folder;
    let batch = folder.parent().unwrap_or(folder);
    let rel = batch.join(format!("{}_contact.png", safe_file_name(&axes.name)));
    let sheet = sheet::Sheet {
        title: axes.name.clone(),
        grid: layout::Grid::of(axes),
        tiles,
    };
    Ok((rel, sheet))
}

/// Rewrites `images_out/report.html` if what it shows changed.
fn report(
    plan: &Plan,
    store: &Store,
    outputs: &mut Outputs,
    built: &[bool],
    images_out: &Path,
    sheets: &HashMap<String, String>,
) -> io::Result<Option<Written>> {
    let rel = PathBuf::from(IMAGES_OUT).join(REPORT);
    if outputs.is_current(
        &plan.dir,
        &rel,
        &report_key(plan, built, images_out, sheets),
    ) {
        return Ok(None);
    }
    let mut with_thumb = HashSet::new();
    for (j, job) in plan.jobs.iter().enumerate() {
        if built[j] && thumbs::ensure(store, images_out, &job.key)? {
            with_thumb.insert(job.key);
        }
    }
    thumbs::prune(images_out, &plan.jobs.iter().map(|j| j.key).collect())?;
    let page = page::collect(&page::Sources {
        plan,
        store,
        built,
        thumbs: &with_thumb,
        sheets,
    });
    let html = html::render(&page);
    let path = plan.dir.join(&rel);
    let changed = std::fs::read(&path).ok().as_deref() != Some(html.as_bytes());
    if changed {
        std::fs::create_dir_all(images_out)?;
        write_atomic(&path, html.as_bytes())?;
    }
    // keyed after the thumbnails were made, so their folder's mtime is the one now
    outputs.set(&plan.dir, &rel, report_key(plan, built, images_out, sheets))?;
    Ok(changed.then_some(Written::Report {
        output: rel,
        images: page.images,
    }))
}

/// blake3 over everything the report shows but the records (a key's record does not
/// change): each target's settings, video and jobs (key, built), the contact sheets, and
/// the thumbnail folder's mtime, so deleting thumbnails rewrites the report.
fn report_key(
    plan: &Plan,
    built: &[bool],
    images_out: &Path,
    sheets: &HashMap<String, String>,
) -> Key {
    let mut h = blake3::Hasher::new();
    h.update(html::VERSION.as_bytes());
    h.update(page::title(plan).as_bytes());
    for t in &plan.targets {
        h.update(format!("\ntarget {}\n", t.label()).as_bytes());
        h.update(
            serde_json::Value::Object(t.settings.to_dd_json())
                .to_string()
                .as_bytes(),
        );
        let video = t.folder.join(format!("{}(0).mp4", t.batch_name));
        let has_video = t.animation && plan.dir.join(video).is_file();
        h.update(&[u8::from(has_video)]);
        for j in t.jobs.clone() {
            h.update(&plan.jobs[j].key.0);
            h.update(&[u8::from(built[j])]);
        }
    }
    let mut names: Vec<_> = sheets.iter().collect();
    names.sort();
    for (name, rel) in names {
        h.update(format!("\nsheet {name} {rel}").as_bytes());
    }
    let mtime = std::fs::metadata(images_out.join(thumbs::DIR))
        .and_then(|m| m.modified())
        .ok();
    h.update(format!("\nthumbs {mtime:?}").as_bytes());
    Key(*h.finalize().as_bytes())
}
