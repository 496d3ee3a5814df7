//! `disco gc`: what the project references, decided over every target whatever the
//! command line names; the names only narrow what may be removed (store/gc.rs).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::exec::{BuildError, make_plan};
use super::flow::{flow_dir, referenced_flows};
use super::needs::resolved_settings;
use super::source_frames::{MAX_INDEX_BYTES, frames_dir, referenced_frames};
use crate::lockfile::{self, LockFile};
use crate::plan::{Facts, Plan};
use crate::project::Project;
use crate::project::types::AnimationMode;
use crate::store::{GcReport, GcSelection, Store};

/// Removes (or with `dry_run` lists) the cached images no target of `project`
/// references, and (without `only`) the decoded source frames and flows no job reads. With `only` (target names), just the unreferenced images those targets
/// made. Kept whatever the selection: every job of every target at every frame, and
/// every job `disco.lock` records (a build on another `--device` keys its images apart,
/// and the lock is what the project committed to).
pub fn gc(
    project: &Project,
    only: &[String],
    store: &Store,
    facts: &mut dyn Facts,
    dry_run: bool,
) -> Result<GcReport, BuildError> {
    let whole = make_plan(project, &[], None, store, facts)?;
    // an eye view is kept under its own key, with its inputs (plan/src/vr.rs)
    let mut sel = GcSelection {
        keep: whole
            .jobs
            .iter()
            .map(|j| j.key)
            .chain(whole.eyes.iter().map(|e| e.key))
            .collect(),
        keep_inputs: whole
            .jobs
            .iter()
            .map(|j| j.common.digest)
            .chain(whole.eyes.iter().map(|e| e.key))
            .collect(),
        only: None,
        dry_run,
    };
    if !only.is_empty() {
        // planning the selection checks the names and spells out sweep cells' labels
        let narrowed = make_plan(project, only, None, store, facts)?;
        let labels: HashSet<String> = narrowed.targets.iter().map(|t| t.label()).collect();
        sel.only = Some(labels);
    }
    // an unreadable lock protects nothing; the build remakes it
    if let Ok(Some(lock)) = LockFile::read(&lockfile::lock_path(&project.path)) {
        sel.keep.extend(
            lock.targets
                .iter()
                .flat_map(|t| t.jobs.values().map(|j| j.key)),
        );
    }
    let _lock = if dry_run {
        None
    } else {
        Some(store.lock(&format!("pid {} (disco gc)", std::process::id()))?)
    };
    let mut report = store.gc(&sel)?;
    // Decoded source frames and flows belong to no single target: with target names they stay.
    if only.is_empty() {
        let live = live_indexes(project, facts);
        video_caches_gc(&whole, &live, dry_run, &mut report)?;
    }
    Ok(report)
}

/// The frame index names of the project's videos as they are now (`index-<file blake3>-<nth>.json`).
fn live_indexes(project: &Project, facts: &mut dyn Facts) -> HashSet<String> {
    let mut live = HashSet::new();
    for (_, s) in resolved_settings(project, &[]) {
        if s.animation_mode.value != AnimationMode::VideoInput {
            continue;
        }
        if let Some(path) = &s.video_init_path.value.resolved
            && let Ok(hash) = facts.file_blake3(path)
        {
            live.insert(format!("index-{hash}-{}.json", s.extract_nth_frame.value));
        }
    }
    live
}

/// Removes the Video Input caches nothing reads: source frames (`.disco/frames/<hash>.png`)
/// neither a job of `whole` starts from nor a `live` index lists, the other indexes (an
/// earlier version of a video), and flows (`.disco/flow/<name>.f32`) no job or blended video
/// of `whole` reads.
/// Files of other names (a decoder's temporary folder) are left.
fn video_caches_gc(
    whole: &Plan,
    live: &HashSet<String>,
    dry_run: bool,
    report: &mut GcReport,
) -> std::io::Result<()> {
    let mut frames = referenced_frames(whole);
    let mut flows = referenced_flows(whole);
    flows.extend(super::video_blend::referenced_flows(whole));
    let frames_dir = frames_dir(&whole.dir);
    let mut drop = |path: &Path| -> std::io::Result<()> {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Ok(()); // gone meanwhile
        };
        if !meta.is_file() {
            return Ok(());
        }
        if !dry_run {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        report.files += 1;
        report.bytes += meta.len();
        report.removed.push((path.to_path_buf(), meta.len()));
        Ok(())
    };
    let entries = listing(&frames_dir)?;
    for (path, name) in &entries {
        if !(name.starts_with("index-") && name.ends_with(".json")) {
            continue;
        }
        if live.contains(name) {
            // the video as it is now: all its frames stay (a later `max-frames` reads them)
            let listed: Vec<String> = crate::fsutil::read_bounded(path, MAX_INDEX_BYTES)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            frames.extend(listed);
        } else {
            drop(path)?;
        }
    }
    for (path, name) in &entries {
        if let Some(hash) = name.strip_suffix(".png")
            && is_hex_hash(hash)
            && !frames.contains(hash)
        {
            drop(path)?;
        }
    }
    for (path, name) in listing(&flow_dir(&whole.dir))? {
        if let Some(stem) = name.strip_suffix(".f32")
            && is_hex_hash(stem)
            && !flows.contains(&name)
        {
            drop(&path)?;
        }
    }
    Ok(())
}

/// `(path, file name)` of each entry of `dir`, sorted; none when it does not exist.
fn listing(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str() {
            out.push((entry.path(), name.to_owned()));
        }
    }
    out.sort();
    Ok(out)
}

/// A blake3 hex digest: the names disco gives cached frames and flows.
fn is_hex_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
