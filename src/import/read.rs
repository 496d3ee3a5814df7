//! Reading the settings file: regular files only, and never more than a fixed number of
//! bytes, so a FIFO, `/dev/zero` or a symlink to them cannot hang `disco import` or grow its
//! memory.
//!
//! A local twin of `fsutil::read_to_string_bounded` (branch `trust-loader`), written before
//! that landed; the two have the same semantics and this one can be replaced by it. It uses
//! only std: the type is checked before opening (so opening a FIFO, which blocks until a
//! writer appears, is never attempted) and again on the open handle.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Why a settings file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A FIFO, device, socket or directory (symlinks followed).
    #[error("not a regular file ({kind}); disco import reads only regular files")]
    NotRegular {
        /// What it is instead, in words.
        kind: &'static str,
    },
    /// More than `limit` bytes.
    #[error("larger than {limit} bytes; a DD settings file is a few kilobytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Not UTF-8 text.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// Opening or reading failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads the regular file at `path` (symlinks followed) as UTF-8, refusing more than
/// `limit` bytes; at most `limit + 1` bytes are ever read.
pub fn read_to_string_bounded(path: &Path, limit: u64) -> Result<String, ReadError> {
    regular(&std::fs::metadata(path)?)?;
    let file = File::open(path)?;
    // The path may have been swapped between the check and the open.
    regular(&file.metadata()?)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)
}

fn regular(meta: &std::fs::Metadata) -> Result<(), ReadError> {
    if meta.is_file() {
        return Ok(());
    }
    let t = meta.file_type();
    let mut kind = if t.is_dir() {
        "a directory"
    } else {
        "not a file"
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            kind = "a FIFO";
        } else if t.is_char_device() {
            kind = "a character device";
        } else if t.is_block_device() {
            kind = "a block device";
        } else if t.is_socket() {
            kind = "a socket";
        }
    }
    Err(ReadError::NotRegular { kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_more_than_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        std::fs::write(&p, "12345").unwrap();
        assert_eq!(read_to_string_bounded(&p, 5).unwrap(), "12345");
        assert!(matches!(
            read_to_string_bounded(&p, 4),
            Err(ReadError::TooLarge { limit: 4 })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_devices_and_symlinks_to_them() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        for p in [Path::new("/dev/zero"), link.as_path()] {
            assert!(matches!(
                read_to_string_bounded(p, 1 << 20),
                Err(ReadError::NotRegular {
                    kind: "a character device"
                })
            ));
        }
        assert!(matches!(
            read_to_string_bounded(dir.path(), 1 << 20),
            Err(ReadError::NotRegular {
                kind: "a directory"
            })
        ));
    }
}
