//! Video assembly: PNG frames → H.264 mp4 through FFmpeg's libraries (`ffmpeg-next`), and the
//! decoding back that tests and checks use (dd-algorithm.md §11.6).
//!
//! Unlike DD's `ffmpeg -start_number 1`, every frame given is encoded, frame 0 included.

#![deny(missing_docs)]

mod decode;
mod encode;
pub mod external;
mod frames;
pub mod png;

use std::path::PathBuf;

pub use decode::{Decoded, decode};
pub use encode::{EncodeSettings, Encoded, Mp4Writer, encode_pngs, h264_encoder};
pub use frames::each_nth_frame;

/// What to install when no H.264 encoder is present.
pub const INSTALL_HELP: &str = "disco encodes video with FFmpeg's libx264 H.264 encoder; \
install a libavcodec built with it (Debian 12: apt-get install libavcodec59 libx264-164, or \
libavcodec-extra), then check with `disco doctor`";

/// A video assembly failure.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// The FFmpeg libraries have no H.264 encoder.
    #[error("no H.264 encoder in the linked FFmpeg libraries: {INSTALL_HELP}")]
    NoH264Encoder,
    /// The settings cannot be encoded (zero fps, crf above 51).
    #[error("invalid video settings: {0}")]
    Settings(String),
    /// No frames were given.
    #[error("no frames to encode")]
    NoFrames,
    /// H.264 in yuv420p needs an even width and height.
    #[error("frames are {width}×{height}; H.264 (yuv420p) needs an even width and height")]
    OddSize {
        /// Frame width in pixels.
        width: u32,
        /// Frame height in pixels.
        height: u32,
    },
    /// A frame's size differs from the first frame's.
    #[error("frame {index}{} is {found_w}×{found_h}, but the first frame is {width}×{height}",
        path.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default())]
    SizeMismatch {
        /// The frame's position, 0 first.
        index: usize,
        /// Its file, when it came from one.
        path: Option<PathBuf>,
        /// Its width.
        found_w: u32,
        /// Its height.
        found_h: u32,
        /// The video's width.
        width: u32,
        /// The video's height.
        height: u32,
    },
    /// A PNG could not be read or written.
    #[error("{}: {message}", path.display())]
    Png {
        /// The file.
        path: PathBuf,
        /// The PNG library's message.
        message: String,
    },
    /// A file-system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// FFmpeg failed at some step.
    #[error("FFmpeg could not {step}: {source}")]
    Ffmpeg {
        /// What was being done, e.g. "open the H.264 encoder".
        step: &'static str,
        /// FFmpeg's error.
        source: ffmpeg_next::Error,
    },
}

/// The linked libavcodec's version, e.g. `59.37.100`.
pub fn libavcodec_version() -> String {
    let v = ffmpeg_next::codec::version();
    format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff)
}

/// Initialises FFmpeg once per process and quiets its log to errors (x264 prints its
/// statistics at info level, which would clutter disco's output).
fn init() -> Result<(), VideoError> {
    static INIT: std::sync::OnceLock<Result<(), ffmpeg_next::Error>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| {
        ffmpeg_next::init()?;
        ffmpeg_next::log::set_level(ffmpeg_next::log::Level::Error);
        Ok(())
    })
    .map_err(|source| VideoError::Ffmpeg {
        step: "initialise",
        source,
    })
}

/// Gives a file written through a temporary the mode every other output has
/// (`rw-r--r--`, as `fsutil::write_atomic` sets): tempfile creates them 0600, which left
/// videos unreadable to a web server or another user.
fn shared_mode(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}
