//! Publishing a job's outputs: its cached image (and intermediate saves) put in place under
//! `images_out/`, an output file adopted back into the store, DD's settings file beside the
//! images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::exec::{At, BuildError};
use super::materialize;
use crate::fsutil::write_atomic;
use crate::lockfile::{self, LockFile};
use crate::plan::Plan;
use crate::store::{ObjectInfo, ObjectName, RECORD_FORMAT, Record, Store, unix_now};

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
    let c = &job.common.inputs;
    let made = Made {
        partials: Vec::new(),
        // not rendered here: no time, no losses; the lock says which disco made it
        seconds: 0.0,
        steps: c.steps.saturating_sub(job.frame.skip_steps),
        losses: serde_json::Value::Null,
        device: c.provider.clone(),
        tool: entry.tool.clone(),
    };
    store_job(plan, store, j, &bytes, made)?;
    Ok(true)
}

/// How a job's image was made, for its record.
pub(super) struct Made {
    /// Iterations j with an intermediate save in the store.
    pub partials: Vec<u32>,
    /// Render time in seconds.
    pub seconds: f64,
    /// Sampler steps run.
    pub steps: u32,
    /// Loss terms of the last guided step.
    pub losses: serde_json::Value,
    /// Where it ran.
    pub device: String,
    /// The disco that made it.
    pub tool: String,
}

/// Stores job `j`'s final image `png` and then its record (what makes it cached).
pub(super) fn store_job(
    plan: &Plan,
    store: &Store,
    j: usize,
    png: &[u8],
    made: Made,
) -> Result<Record, BuildError> {
    let job = &plan.jobs[j];
    let target = &plan.targets[job.target];
    let record = Record {
        format: RECORD_FORMAT.into(),
        key: job.key,
        common: job.common.digest,
        frame: serde_json::to_value(&job.frame).map_err(std::io::Error::other)?,
        image: ObjectInfo {
            blake3: blake3::hash(png).to_hex().to_string(),
            bytes: png.len() as u64,
        },
        partials: made.partials,
        seconds: made.seconds,
        steps: made.steps,
        losses: made.losses,
        device: made.device,
        tool: made.tool,
        finished: unix_now(),
        target: Some(target.label()),
        aux: aux_infos(store, job)?,
    };
    store
        .put(&job.key, png, &record)
        .map_err(|e| stored(store, &ObjectName::Image(job.key), e))?;
    Ok(record)
}

/// The blake3 and size of each second image job `job` stored before its record (a 3D turbo
/// frame's), for the record: the shared cache carries and checks them by it.
fn aux_infos(
    store: &Store,
    job: &crate::plan::Job,
) -> Result<BTreeMap<String, ObjectInfo>, BuildError> {
    let mut infos = BTreeMap::new();
    for a in super::turbo::aux_of(job) {
        let name = ObjectName::Aux(job.key, a);
        let bytes = store
            .objects()
            .get(&name)
            .map_err(|e| stored(store, &name, e))?;
        // one not stored is not named: the job then renders again where it is needed
        if let Some(png) = bytes {
            infos.insert(a.name().to_owned(), ObjectInfo::of(&png));
        }
    }
    Ok(infos)
}

/// A store error, naming the object's file when the store is local.
pub(super) fn stored(store: &Store, name: &ObjectName, e: std::io::Error) -> BuildError {
    match store.local_path(name) {
        Some(path) => BuildError::Write { path, source: e },
        None => BuildError::Store(e),
    }
}

/// Puts job `j`'s cached image (and its intermediate saves) in place.
pub(super) fn materialise(
    plan: &Plan,
    store: &Store,
    outputs: &mut crate::store::Outputs,
    j: usize,
) -> Result<(), BuildError> {
    let job = &plan.jobs[j];
    for (rel, name) in files_of(plan, j) {
        let dest = plan.dir.join(&rel);
        match store.local_path(&name) {
            Some(object) => materialize::link_or_copy(&object, &dest).at(&dest)?,
            None => {
                let bytes = store
                    .objects()
                    .get(&name)
                    .and_then(|b| b.ok_or_else(|| std::io::ErrorKind::NotFound.into()))
                    .map_err(|e| stored(store, &name, e))?;
                materialize::write_new(&bytes, &dest).at(&dest)?;
            }
        }
        outputs.set(&plan.dir, &rel, job.key).at(&dest)?;
    }
    Ok(())
}

/// Every file job `j` materialises: (path relative to the project, the object it holds).
pub(super) fn files_of(plan: &Plan, j: usize) -> Vec<(PathBuf, ObjectName)> {
    let job = &plan.jobs[j];
    let target = &plan.targets[job.target];
    let mut out = vec![(job.output.clone(), ObjectName::Image(job.key))];
    for (rel, save) in super::decide::partial_outputs(target, job) {
        out.push((rel, ObjectName::Partial(job.key, save as u32)));
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
