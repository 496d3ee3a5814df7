//! Deciding each job: current, only to be materialised again, or to render — and why
//! (STYLE.md rule 11: the code that decides also explains).

use std::path::PathBuf;

use crate::lockfile::{self, LockFile};
use crate::plan::{CommonInputs, FrameInputs, Job, Key, Plan, Staleness, TargetPlan, explain};
use crate::render::saves::{self, IntermediateSaves as Saves};
use crate::store::{Outputs, Store};

/// What a build does with one job.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Cached, and every output file holds it.
    Current,
    /// Cached; an output file is missing or holds something else.
    Materialize,
    /// Not cached, but its output file holds the very image `disco.lock` records for its
    /// key (a store deleted or collected): adopt those bytes instead of rendering.
    Adopt,
    /// Must render, for this reason.
    Render(Staleness),
}

/// Decides every job of `plan`.
pub fn decide(plan: &Plan, store: &Store, outputs: &Outputs) -> Vec<Decision> {
    // read only when a job is not cached: parsing a big lock costs more than a no-op build
    let mut lock: Option<Option<LockFile>> = None;
    plan.jobs
        .iter()
        .map(|job| match decide_one(plan, store, outputs, job) {
            // only a slot with no record of another key can hold this job's image: an
            // edited job's output holds the old one, so its lock entry is not even read
            Decision::Render(why @ (Staleness::NeverBuilt | Staleness::ObjectMissing)) => {
                let lock = lock.get_or_insert_with(|| {
                    LockFile::read(&lockfile::lock_path(&plan.project_file))
                        .ok()
                        .flatten()
                });
                if adoptable(plan, lock.as_ref(), job) {
                    Decision::Adopt
                } else {
                    Decision::Render(why)
                }
            }
            d => d,
        })
        .collect()
}

/// Whether `job`'s output file holds the image `lock` records for the job's key. Jobs
/// with intermediate saves are not adopted: their saves would be missing from the store;
/// nor are 3D turbo frames: the images they hand on are not in their output file.
fn adoptable(plan: &Plan, lock: Option<&LockFile>, job: &Job) -> bool {
    let target = &plan.targets[job.target];
    let Some(entry) = lock
        .and_then(|l| l.target(&target.label()))
        .and_then(|t| t.jobs.get(&job.index))
        .filter(|e| e.key == job.key)
    else {
        return false;
    };
    saves_of(target, job).is_empty()
        && super::turbo::aux_of(job).is_empty()
        && adoptable_bytes(&plan.dir.join(&job.output), &entry.blake3).is_some()
}

/// The bytes of `path` if it is a regular file whose blake3 is `blake3` (hex).
pub fn adoptable_bytes(path: &std::path::Path, blake3: &str) -> Option<Vec<u8>> {
    // an image is small; a symlink to a device or a huge file is not one
    const MAX_IMAGE_BYTES: u64 = 1 << 30;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_IMAGE_BYTES {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    (blake3::hash(&bytes).to_hex().as_str() == blake3).then_some(bytes)
}

fn decide_one(plan: &Plan, store: &Store, outputs: &Outputs, job: &Job) -> Decision {
    let target = &plan.targets[job.target];
    if store.has(&job.key) {
        // a turbo frame hands the next frame its second images: without them it renders again
        if super::turbo::aux_of(job)
            .iter()
            .any(|&a| !store.has_aux(&job.key, a))
        {
            return Decision::Render(Staleness::ObjectMissing);
        }
        let saves = saves_of(target, job);
        if !saves.is_empty() {
            let have = store
                .record(&job.key)
                .map(|r| r.partials)
                .unwrap_or_default();
            if !saves.iter().all(|j| have.contains(&(*j as u32))) {
                return Decision::Render(Staleness::PartialsMissing);
            }
        }
        let current = outputs.is_current(&plan.dir, &job.output, &job.key)
            && partial_outputs(target, job)
                .iter()
                .all(|(rel, _)| outputs.is_current(&plan.dir, rel, &job.key));
        return if current {
            Decision::Current
        } else {
            Decision::Materialize
        };
    }
    Decision::Render(why_stale(store, outputs, job))
}

/// Why `job` (not cached) renders: compared with what its output slot last held.
pub fn why_stale(store: &Store, outputs: &Outputs, job: &Job) -> Staleness {
    let Some(entry) = outputs.get(&job.output) else {
        return Staleness::NeverBuilt;
    };
    if entry.key == job.key {
        return Staleness::ObjectMissing;
    }
    match recorded_inputs(store, &entry.key) {
        // a skipped turbo frame's key holds no shared input: only its own can explain it
        Some((_, f)) if job.is_turbo_skip() => {
            explain((&job.common.inputs, &f), (&job.common.inputs, &job.frame))
        }
        Some((c, f)) => explain((&c, &f), (&job.common.inputs, &job.frame)),
        None => Staleness::InputsChanged(Vec::new()),
    }
}

/// The inputs job `key` was rendered from, as its record and the shared inputs it points
/// at hold them (the store keeps them as planning serialised them); `None` when either is
/// missing or no longer reads as this version's inputs.
pub fn recorded_inputs(store: &Store, key: &Key) -> Option<(CommonInputs, FrameInputs)> {
    let r = store.record(key)?;
    let common = serde_json::from_value(store.inputs(&r.common)?).ok()?;
    let frame = serde_json::from_value(r.frame).ok()?;
    Some((common, frame))
}

/// An animation's video: where it goes (relative to the project), how it is encoded, and
/// its key — blake3 over the encoding settings and every frame's key, so the video is
/// re-encoded exactly when a frame or a video setting changed. With VR, each eye has one
/// too, of its views, keyed by the views' keys.
#[derive(Debug, Clone)]
pub struct VideoPlan {
    /// `images_out/<batch>/<batch>(0).mp4`; an eye's `<batch>(0)_l.mp4`, `<batch>(0)_r.mp4`.
    pub output: PathBuf,
    /// The eye whose views it shows; `None` for the frames' video.
    pub eye: Option<crate::anim::warp3d::Eye>,
    /// The frames, in order, relative to the project.
    pub frames: Vec<PathBuf>,
    /// Encoder settings (DD: 12 fps, crf 17, veryslow).
    pub settings: crate::video::EncodeSettings,
    /// The video's key.
    pub key: crate::plan::Key,
}

/// The video of target `t`, for complete animations.
pub fn video_of(plan: &Plan, t: usize) -> Option<VideoPlan> {
    let target = &plan.targets[t];
    if !target.animation || !target.complete || target.jobs.is_empty() {
        return None;
    }
    let frames = target
        .jobs
        .clone()
        .map(|j| (plan.jobs[j].key, plan.jobs[j].output.clone()));
    let name = format!("{}(0).mp4", target.batch_name);
    Some(video(target, frames.collect(), name, None))
}

/// Every video of target `t`: the frames' (DD's one), then with VR one per eye of its views
/// (DD leaves those to the user's ffmpeg), encoded the same way.
pub fn videos_of(plan: &Plan, t: usize) -> Vec<VideoPlan> {
    let Some(main) = video_of(plan, t) else {
        return Vec::new();
    };
    let target = &plan.targets[t];
    let mut out = vec![main];
    if target.eyes.is_empty() {
        return out;
    }
    for eye in crate::anim::warp3d::Eye::BOTH {
        let views = target
            .eyes
            .clone()
            .map(|e| &plan.eyes[e])
            .filter(|v| v.eye == eye)
            .map(|v| (v.key, v.output.clone()));
        let name = format!("{}(0)_{}.mp4", target.batch_name, eye.suffix());
        out.push(video(target, views.collect(), name, Some(eye)));
    }
    out
}

/// A video of `images` (key, file) in order, named `name` in the target's folder.
fn video(
    target: &TargetPlan,
    images: Vec<(Key, PathBuf)>,
    name: String,
    eye: Option<crate::anim::warp3d::Eye>,
) -> VideoPlan {
    let s = &target.settings;
    let settings = crate::video::EncodeSettings {
        fps: s.video_fps.value.round().max(1.0) as u32,
        crf: s.video_crf.value.min(51) as u8,
        preset: "veryslow".into(),
    };
    let mut h = blake3::Hasher::new();
    h.update(b"disco-video/1\n");
    h.update(format!("{} {} {}\n", settings.fps, settings.crf, settings.preset).as_bytes());
    for (key, _) in &images {
        h.update(&key.0);
    }
    VideoPlan {
        output: target.folder.join(name),
        eye,
        frames: images.into_iter().map(|(_, f)| f).collect(),
        settings,
        key: crate::plan::Key(*h.finalize().as_bytes()),
    }
}

/// Iterations j of `job` that write an intermediate save (dd-algorithm.md §11.2).
pub fn saves_of(target: &TargetPlan, job: &Job) -> Vec<usize> {
    let s = &target.settings.intermediate_saves.value;
    // a skipped turbo frame runs no sampler: it has no iterations to save
    if *s == Saves::Count(0) || job.is_turbo_skip() {
        return Vec::new();
    }
    saves::save_iterations(
        s,
        target.common.inputs.steps as usize,
        job.frame.skip_steps as usize,
    )
}

/// The intermediate saves' files (relative to the project) with their iteration:
/// `<batch>(0)_<i:04>-<pct:02>%.png` for a count, `…_<i:04>-<j:03>.png` for a list, in
/// `partials/` when `intermediates-in-subfolder` (§11.2). Animation frames use their frame
/// number as i (DD uses the batch index, so every frame overwrites frame 0's partials).
pub fn partial_outputs(target: &TargetPlan, job: &Job) -> Vec<(PathBuf, usize)> {
    let js = saves_of(target, job);
    if js.is_empty() {
        return Vec::new();
    }
    let s = &target.settings;
    let dir = if s.intermediates_in_subfolder.value {
        target.folder.join("partials")
    } else {
        target.folder.clone()
    };
    let total = saves::total_iterations(s.steps.value as usize, job.frame.skip_steps as usize);
    js.into_iter()
        .map(|j| {
            let name = match &s.intermediate_saves.value {
                Saves::At(_) => format!("{}(0)_{:04}-{j:03}.png", target.batch_name, job.index),
                Saves::Count(_) => format!(
                    "{}(0)_{:04}-{:02}%.png",
                    target.batch_name,
                    job.index,
                    saves::save_percent(j, total)
                ),
            };
            (dir.join(name), j)
        })
        .collect()
}
