//! Publishing a job's outputs: its cached image (and intermediate saves) put in place under
//! `images_out/`, an output file adopted back into the store, DD's settings file beside the
//! images.

use std::path::{Path, PathBuf};

use super::exec::{At, BuildError};
use super::materialize;
use crate::fsutil::write_atomic;
use crate::lockfile::{self, LockFile};
use crate::plan::Plan;
use crate::store::{ObjectInfo, RECORD_FORMAT, Record, Store, unix_now};

/// Stores job `j`'s output file as its object, when its bytes are the image `disco.lock`
/// records for the job's key (see [`Decision::Adopt`]). `Ok(false)`: they no longer are.
pub(super) fn adopt(plan: &Plan, store: &Store, j: usize) -> Result<bool, BuildError> {
    let job = &plan.jobs[j];
    let target = &plan.targets[job.target];
    let lock = LockFile::read(&lockfile::lock_path(&plan.project_file))
        .ok()
        .flatten();
    let Some(entry) = lock
        .as_ref()
        .and_then(|l| l.target(&target.label()))
        .and_then(|t| t.jobs.get(&job.index))
        .filter(|e| e.key == job.key)
    else {
        return Ok(false);
    };
    let Some(bytes) = super::decide::adoptable_bytes(&plan.dir.join(&job.output), &entry.blake3)
    else {
        return Ok(false);
    };
    let c = &target.common.inputs;
    let record = Record {
        format: RECORD_FORMAT.into(),
        key: job.key,
        common: target.common.digest,
        frame: job.frame.clone(),
        image: ObjectInfo {
            blake3: entry.blake3.clone(),
            bytes: bytes.len() as u64,
        },
        partials: Vec::new(),
        // not rendered here: no time, no losses; the lock says which disco made it
        seconds: 0.0,
        steps: c.steps.saturating_sub(job.frame.skip_steps),
        losses: serde_json::Value::Null,
        device: c.provider.clone(),
        tool: entry.tool.clone(),
        finished: unix_now(),
        target: Some(target.label()),
    };
    store
        .put(&job.key, &bytes, &[], &record)
        .at(&store.image_path(&job.key))?;
    Ok(true)
}

/// Puts job `j`'s cached image (and its intermediate saves) in place.
pub(super) fn materialise(
    plan: &Plan,
    store: &Store,
    outputs: &mut crate::store::Outputs,
    j: usize,
) -> Result<(), BuildError> {
    let job = &plan.jobs[j];
    for (rel, src) in files_of(plan, store, j) {
        let dest = plan.dir.join(&rel);
        materialize::link_or_copy(&src, &dest).at(&dest)?;
        outputs.set(&plan.dir, &rel, job.key).at(&dest)?;
    }
    Ok(())
}

/// Every file job `j` materialises: (path relative to the project, object file).
pub(super) fn files_of(plan: &Plan, store: &Store, j: usize) -> Vec<(PathBuf, PathBuf)> {
    let job = &plan.jobs[j];
    let target = &plan.targets[job.target];
    let mut out = vec![(job.output.clone(), store.image_path(&job.key))];
    for (rel, jj) in super::decide::partial_outputs(target, job) {
        out.push((rel, store.partial_path(&job.key, jj as u32)));
    }
    out
}

/// `<batch>(0)_settings.txt` beside the images: DD's settings file (§11.4), JSON with
/// 4-space indents, seed resolved; rewritten only when it changes.
pub(super) fn write_settings(plan: &Plan, t: usize) -> Result<(), BuildError> {
    let target = &plan.targets[t];
    let path = plan
        .dir
        .join(&target.folder)
        .join(format!("{}(0)_settings.txt", target.batch_name));
    let json = serde_json::Value::Object(target.settings.to_dd_json());
    let mut bytes = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut bytes, fmt);
    serde::Serialize::serialize(&json, &mut ser).map_err(std::io::Error::other)?;
    if std::fs::read(&path).ok().as_deref() == Some(bytes.as_slice()) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).at(dir)?;
    write_atomic(&path, &bytes).at(&path)
}
