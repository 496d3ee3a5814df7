//! A Video Input target's video. `disco check` sees it as a file: a missing, unreadable,
//! empty or special file (a FIFO or device, which a decoder would block on or read forever)
//! is an error at `video-init-path`, before anything is planned. Planning reads its frames
//! ([`source_frames`]): decoded once by the `disco-video` helper into `.disco/frames/`, each
//! PNG named by the blake3 of its decoded pixels, with an index per (video file hash,
//! `extract-nth-frame`) so the next plan decodes nothing.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::needs::resolved_settings;
use crate::project::types::AnimationMode;
use crate::project::{Diagnostic, Project};

/// The largest video accepted (bytes): far above any clip a frame-by-frame restyle takes.
pub const MAX_VIDEO_BYTES: u64 = 64 << 30;

/// One error per unusable video of the selected targets (`only`; empty: all), at the
/// `video-init-path` that names it.
pub fn video_file_problems(project: &Project, only: &[String]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut reported = std::collections::HashSet::new();
    for (_, s) in resolved_settings(project, only) {
        if s.animation_mode.value != AnimationMode::VideoInput {
            continue;
        }
        let Some(path) = &s.video_init_path.value.resolved else {
            continue; // the project's checks ask for a path
        };
        let Err(why) = readable_video(path) else {
            continue;
        };
        let at = s.video_init_path.origin.as_ref();
        if !reported.insert((
            path.clone(),
            at.map(|o| (o.file.path.clone(), o.span.offset())),
        )) {
            continue;
        }
        let message = format!("cannot use video {}: {why}", path.display());
        out.push(match at {
            Some(o) => Diagnostic::error(message, o, "this video"),
            None => Diagnostic::bare(message),
        });
    }
    out
}

/// Whether `path` is a regular, non-empty file of bounded size that can be opened.
pub fn readable_video(path: &Path) -> Result<(), String> {
    // metadata first: opening a FIFO with no writer blocks, and some devices act on open
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(format!(
            "not a regular file ({})",
            crate::fsutil::kind_of(&meta.file_type())
        ));
    }
    if meta.len() == 0 {
        return Err("the file is empty".into());
    }
    if meta.len() > MAX_VIDEO_BYTES {
        return Err(format!("larger than the limit of {MAX_VIDEO_BYTES} bytes"));
    }
    File::open(path).map(drop).map_err(|e| e.to_string())
}

/// The largest frame index read back (bytes): a list of hashes.
pub const MAX_INDEX_BYTES: u64 = 64 << 20;

/// The pixel hash of every `nth` frame of `video`, whose file hashes to `file_blake3`:
/// from `frames`' index when present and every frame it names is there, else decoded by
/// `helper` (the `disco-video` executable) (each frame's PNG kept as `<hash>.png`, then the index written atomically).
pub fn source_frames(
    helper: &Path,
    frames: &Path,
    (video, file_blake3): (&Path, &str),
    nth: u32,
) -> Result<Vec<String>, String> {
    let index = frames.join(format!("index-{file_blake3}-{nth}.json"));
    let cached = crate::fsutil::read_bounded(&index, MAX_INDEX_BYTES)
        .ok()
        .and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok())
        .filter(|hs| hs.iter().all(|h| frame_path(frames, h).is_file()));
    if let Some(hashes) = cached {
        return Ok(hashes);
    }
    std::fs::create_dir_all(frames).map_err(|e| format!("{}: {e}", frames.display()))?;
    let tmp = tempfile::tempdir_in(frames).map_err(|e| e.to_string())?;
    let n = crate::video::external::extract_frames(helper, video, nth, tmp.path())
        .map_err(|e| e.to_string())?;
    let mut hashes = Vec::with_capacity(n);
    for i in 0..n {
        let png = tmp.path().join(format!("{i:06}.png"));
        let img = crate::video::png::read_rgb(&png).map_err(|e| e.to_string())?;
        let hash = pixel_hash(&img);
        let kept = frame_path(frames, &hash);
        if !kept.is_file() {
            std::fs::rename(&png, &kept).map_err(|e| format!("{}: {e}", kept.display()))?;
        }
        hashes.push(hash);
    }
    let json = serde_json::to_vec(&hashes).map_err(|e| e.to_string())?;
    crate::fsutil::write_atomic(&index, &json).map_err(|e| format!("{}: {e}", index.display()))?;
    Ok(hashes)
}

/// The pixel hashes of the source frames some job of `plan` starts from (its own source
/// frame, and the previous one a flow blend warps from): what `disco gc` keeps.
pub fn referenced_frames(plan: &crate::plan::Plan) -> std::collections::HashSet<String> {
    use crate::plan::Init;
    let mut out = std::collections::HashSet::new();
    for job in &plan.jobs {
        match &job.frame.init {
            Init::SourceFrame { source } => {
                out.insert(source.clone());
            }
            Init::FlowBlend {
                source,
                prev_source,
                ..
            } => {
                out.insert(source.clone());
                out.insert(prev_source.clone());
            }
            _ => {}
        }
    }
    out
}

/// Where the source frames of the project in `project_dir` are kept.
pub fn frames_dir(project_dir: &Path) -> PathBuf {
    project_dir.join(crate::store::STORE_DIR).join("frames")
}

/// Where the source frame of pixel hash `hash` is kept.
pub fn frame_path(frames: &Path, hash: &str) -> PathBuf {
    frames.join(format!("{hash}.png"))
}

/// blake3 of a frame's size and RGB pixels: what a frame is, however it was encoded.
pub fn pixel_hash(img: &ndarray::Array3<u8>) -> String {
    let (h, w, _) = img.dim();
    let mut hasher = blake3::Hasher::new();
    hasher.update(format!("{w}x{h} rgb8\n").as_bytes());
    match img.as_slice() {
        Some(bytes) => hasher.update(bytes),
        None => hasher.update(&img.iter().copied().collect::<Vec<u8>>()),
    };
    hasher.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_empty_special_and_folder_videos_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = readable_video(&dir.path().join("none.mp4")).unwrap_err();
        assert!(missing.contains("No such file"), "{missing}");
        assert_eq!(
            readable_video(dir.path()).unwrap_err(),
            "not a regular file (a directory)"
        );
        std::fs::write(dir.path().join("empty.mp4"), b"").unwrap();
        assert_eq!(
            readable_video(&dir.path().join("empty.mp4")).unwrap_err(),
            "the file is empty"
        );
        #[cfg(unix)]
        assert_eq!(
            readable_video(Path::new("/dev/zero")).unwrap_err(),
            "not a regular file (a character device)"
        );
        std::fs::write(dir.path().join("a.mp4"), b"\0\0\0 ftypisom").unwrap();
        assert!(readable_video(&dir.path().join("a.mp4")).is_ok());
    }
}
