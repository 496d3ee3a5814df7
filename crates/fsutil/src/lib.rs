//! File-system helpers shared by every layer that reads or writes user files: bounded reads
//! that refuse FIFOs and devices, atomic writes, and clearing the temporaries a killed
//! process left.

#![deny(missing_docs)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// Why [`read_bounded`] or [`read_to_string_bounded`] refused or failed to read a file.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    /// The path (after following symlinks) is not a regular file: a FIFO, a socket, a
    /// device such as `/dev/zero`, or a directory. Reading those can block forever or never end.
    #[error("not a regular file ({kind})")]
    NotRegular {
        /// What it is instead, in words ("a FIFO", "a character device", ...).
        kind: &'static str,
    },
    /// The file holds more than `limit` bytes; nothing past `limit + 1` bytes was read.
    #[error("larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit that was passed in.
        limit: u64,
    },
    /// Opening or reading failed (missing file, permission, ...).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The bytes are not valid UTF-8 (only from [`read_to_string_bounded`]).
    #[error("not valid UTF-8")]
    NotUtf8,
}

impl From<BoundedReadError> for io::Error {
    /// For callers whose error type is `io::Error`: `Io` keeps its kind, the others become
    /// `InvalidData` carrying the message.
    fn from(e: BoundedReadError) -> Self {
        match e {
            BoundedReadError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// Reads at most `limit` bytes of the regular file at `path` (symlinks are followed).
///
/// The file's type is checked before opening, then again on the open handle (so a file
/// swapped for a FIFO in between is still refused); it is opened without blocking (a FIFO
/// with no writer would otherwise hang the `open`), and the read goes through
/// `Read::take(limit + 1)`, so memory stays bounded whatever the file is or becomes while
/// being read. A file of more than `limit` bytes is [`BoundedReadError::TooLarge`].
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    // Checked before opening too: opening some devices has effects of its own.
    regular(&std::fs::metadata(path)?)?;
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    regular(&meta)?;
    // The size is a hint only: the file may grow between `metadata` and the read.
    let hint = meta.len().min(limit).saturating_add(1);
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0).min(1 << 20));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge { limit });
    }
    Ok(bytes)
}

fn regular(meta: &std::fs::Metadata) -> Result<(), BoundedReadError> {
    if meta.is_file() {
        Ok(())
    } else {
        Err(BoundedReadError::NotRegular {
            kind: kind_of(&meta.file_type()),
        })
    }
}

/// [`read_bounded`], then UTF-8 decoding ([`BoundedReadError::NotUtf8`] when that fails).
pub fn read_to_string_bounded(path: &Path, limit: u64) -> Result<String, BoundedReadError> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|_| BoundedReadError::NotUtf8)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK only changes FIFOs and devices (which are refused next); regular files
    // read as usual.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// What a file that is not a regular file is, in words (`a FIFO`, `a directory`, …).
pub fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, synced,
/// then renamed over the target. A crash leaves either the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = staged(path, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes `bytes` to `path` atomically unless `path` exists: `Ok(true)` if this file is now
/// there, `Ok(false)` if another writer's was first (and stays). A hard link fails when
/// the name exists, so a reader never sees a partial file and the first of two writers
/// wins (the temporary is removed when it drops).
pub fn create_atomic(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    let tmp = staged(path, bytes)?;
    match std::fs::hard_link(tmp.path(), path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// `bytes` in a synced temporary file beside `path`, readable as `std::fs::write` leaves
/// files under the usual umask (tempfile creates 0600), so images can be shared and served.
fn staged(path: &Path, bytes: &[u8]) -> io::Result<tempfile::NamedTempFile> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".disco-tmp-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    Ok(tmp)
}

/// Removes temporary files a killed build left in `dir` (not recursive).
pub fn sweep_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(".disco-tmp-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_file_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, "héllo").unwrap();
        assert_eq!(read_to_string_bounded(&p, 6).unwrap(), "héllo");
        assert!(matches!(
            read_to_string_bounded(&p, 5),
            Err(BoundedReadError::TooLarge { limit: 5 })
        ));
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_to_string_bounded(&p, 10),
            Err(BoundedReadError::NotUtf8)
        ));
    }

    #[test]
    fn a_missing_file_is_an_io_error_with_its_kind() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_bounded(&dir.path().join("none"), 10).unwrap_err();
        assert!(matches!(&e, BoundedReadError::Io(io) if io.kind() == io::ErrorKind::NotFound));
        assert_eq!(io::Error::from(e).kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn refuses_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_bounded(dir.path(), 10),
            Err(BoundedReadError::NotRegular {
                kind: "a directory"
            })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_dev_zero_also_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("zero.kdl");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        for p in [Path::new("/dev/zero"), &link] {
            assert!(matches!(
                read_bounded(p, 10),
                Err(BoundedReadError::NotRegular {
                    kind: "a character device"
                })
            ));
        }
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_fifo_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // No writer ever opens the FIFO: a blocking open would hang this test.
        assert!(matches!(
            read_bounded(&fifo, 10),
            Err(BoundedReadError::NotRegular { kind: "a FIFO" })
        ));
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
