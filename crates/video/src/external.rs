//! Video work through the `disco-video` helper executable (src/bin/disco-video.rs), which
//! links FFmpeg so that `disco` does not: a command that makes no video never pays for
//! loading FFmpeg's libraries.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{EncodeSettings, Encoded};

/// The helper: beside the running executable (`cargo install` and `target/` both put it
/// there), else on `PATH`.
pub fn helper() -> PathBuf {
    let name = "disco-video";
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let beside = exe.parent()?.join(name);
            beside.is_file().then_some(beside)
        })
        .unwrap_or_else(|| PathBuf::from(name))
}

/// What the FFmpeg libraries offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// libavcodec's version.
    pub libavcodec: String,
    /// The H.264 encoder, if any.
    pub encoder: Option<String>,
}

/// Why the helper could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// The helper cannot be started.
    #[error("cannot run {}: {source} (it is built with disco)", helper.display())]
    Spawn {
        /// The helper's path.
        helper: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The helper failed; what it said on stderr.
    #[error("{0}")]
    Helper(String),
    /// The helper's report lacks a field.
    #[error("disco-video said nothing about {0}")]
    Missing(String),
    /// A field of the helper's report is not a number.
    #[error("disco-video {name}: {source}")]
    Number {
        /// The field.
        name: String,
        /// Why.
        #[source]
        source: std::num::ParseIntError,
    },
}

fn run(args: &[&str], extra: &[PathBuf]) -> Result<Vec<(String, String)>, HelperError> {
    run_helper(&helper(), args, extra)
}

fn run_helper(
    helper: &Path,
    args: &[&str],
    extra: &[PathBuf],
) -> Result<Vec<(String, String)>, HelperError> {
    let helper = helper.to_path_buf();
    let out = Command::new(&helper)
        .args(args)
        .args(extra)
        .output()
        .map_err(|source| HelperError::Spawn {
            helper: helper.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(HelperError::Helper(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect())
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Result<&'a str, HelperError> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| HelperError::Missing(name.to_owned()))
}

/// The FFmpeg version and H.264 encoder, as the helper sees them.
pub fn probe() -> Result<Probe, HelperError> {
    let f = run(&["probe"], &[])?;
    let encoder = field(&f, "encoder")?;
    Ok(Probe {
        libavcodec: field(&f, "libavcodec")?.to_owned(),
        encoder: (encoder != "-").then(|| encoder.to_owned()),
    })
}

/// Encodes `frames` into `out` (atomically) with the helper.
pub fn encode(frames: &[PathBuf], out: &Path, s: &EncodeSettings) -> Result<Encoded, HelperError> {
    let (fps, crf) = (s.fps.to_string(), s.crf.to_string());
    let out_s = out.to_string_lossy();
    let f = run(
        &[
            "encode", "--out", &out_s, "--fps", &fps, "--crf", &crf, "--preset", &s.preset,
        ],
        frames,
    )?;
    let num = |name: &str| -> Result<u64, HelperError> {
        field(&f, name)?
            .parse()
            .map_err(|source| HelperError::Number {
                name: name.to_owned(),
                source,
            })
    };
    Ok(Encoded {
        frames: num("frames")? as usize,
        encoder: field(&f, "encoder")?.to_owned(),
        bytes: num("bytes")?,
    })
}

/// Writes every `nth` frame of `video` into `out` as `000000.png`, `000001.png`, … with the
/// helper at `helper` (see [`helper`]); returns how many.
pub fn extract_frames(
    helper: &Path,
    video: &Path,
    nth: u32,
    out: &Path,
) -> Result<usize, HelperError> {
    let nth = nth.to_string();
    let out = out.to_string_lossy();
    let args = ["frames", "--nth", &nth, "--out", &out];
    let f = run_helper(helper, &args, &[video.to_path_buf()])?;
    field(&f, "frames")?
        .parse()
        .map_err(|source| HelperError::Number {
            name: "frames".into(),
            source,
        })
}
