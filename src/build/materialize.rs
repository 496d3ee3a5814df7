//! Materialising: putting a cached image where the user looks for it, under
//! `images_out/<batch_name>/` with DD's names (dd-algorithm.md §11.1). A hard link to the
//! object when the file system allows (no copy, and the inode tells a current file at a
//! glance), else a copy; either way through a temporary name and a rename, so a killed
//! build never leaves a half-written image.

use std::io;
use std::path::Path;

/// Makes `dest` hold the bytes of `object`, atomically.
pub fn link_or_copy(object: &Path, dest: &Path) -> io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".disco-tmp-{}-{}",
        std::process::id(),
        dest.file_name().unwrap_or_default().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(object, &tmp).is_err() {
        std::fs::copy(object, &tmp)?;
    }
    std::fs::rename(&tmp, dest).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Makes `dest` hold `bytes` (an object a store keeps elsewhere), atomically.
pub fn write_new(bytes: &[u8], dest: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dest.parent().unwrap_or(Path::new(".")))?;
    crate::fsutil::write_atomic(dest, bytes)
}

pub use crate::fsutil::sweep_temporaries;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_destination_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let obj = dir.path().join("obj.png");
        std::fs::write(&obj, b"new").unwrap();
        let dest = dir.path().join("out/a(0)_0.png");
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, b"old").unwrap();
        link_or_copy(&obj, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        assert_eq!(
            std::fs::read_dir(dest.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
