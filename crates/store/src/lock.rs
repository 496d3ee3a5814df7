//! One build per project: an OS lock on `.disco/lock`, released by the kernel when the
//! holder exits (even by SIGKILL), so a stale lock cannot outlive its build. The file says
//! who holds it, for the error the second build prints.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A held build lock; dropping it releases the lock.
#[derive(Debug)]
pub struct BuildLock {
    _file: File,
    path: PathBuf,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("another build holds {path}: {holder}")]
    Held {
        /// The lock file.
        path: PathBuf,
        /// What the holder wrote about itself.
        holder: String,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// How long taking the lock may wait for a holder that is just letting go.
pub const RELEASE_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

impl BuildLock {
    /// Takes the lock in `root`, writing `holder` into it. It waits at most
    /// [`RELEASE_GRACE`]: a process spawned while a lock was held shares the lock's open
    /// file until it execs, so a lock just released (the previous build of `disco watch`,
    /// which spawns the video encoder) can read as held for a moment.
    pub fn acquire(root: &Path, holder: &str) -> Result<BuildLock, LockError> {
        let path = root.join("lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(root).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let deadline = std::time::Instant::now() + RELEASE_GRACE;
        let mut attempt = file.try_lock();
        while matches!(attempt, Err(TryLockError::WouldBlock))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
            attempt = file.try_lock();
        }
        match attempt {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held {
                    path,
                    holder: if holder.is_empty() {
                        "a process that has not said who it is yet".into()
                    } else {
                        holder.to_owned()
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{holder}").map_err(io)?;
        Ok(BuildLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_and_names_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let a = BuildLock::acquire(dir.path(), "pid 1 (disco build)").unwrap();
        match BuildLock::acquire(dir.path(), "pid 2") {
            Err(LockError::Held { holder, .. }) => assert_eq!(holder, "pid 1 (disco build)"),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(a);
        BuildLock::acquire(dir.path(), "pid 2").unwrap();
    }
}
