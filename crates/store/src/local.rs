//! The local object store: files under `.disco/` (layout in the module docs of `store`),
//! each written through a temporary file and a rename, read with a bound.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use super::Key;
use super::objects::{Aux, Listed, ObjectName, ObjectStore, Stored};
use disco_fsutil::{self as fsutil, write_atomic};

/// The most a record or shared-inputs file may hold (they are a few KiB).
const JSON_LIMIT: u64 = 64 << 20;
/// The most an image or checkpoint may hold (a 4096² checkpoint is a few hundred MiB).
const BLOB_LIMIT: u64 = 4 << 30;

/// Objects as files under a store's root (`.disco/`).
#[derive(Debug, Clone)]
pub struct LocalObjects {
    root: PathBuf,
}

impl LocalObjects {
    /// The objects under `root` (created on first write).
    pub fn new(root: &Path) -> LocalObjects {
        LocalObjects {
            root: root.to_path_buf(),
        }
    }

    fn object_dir(&self, key: &Key) -> PathBuf {
        self.root.join("objects").join(key.fanout())
    }

    /// Where `name` lives.
    pub fn path(&self, name: &ObjectName) -> PathBuf {
        match name {
            ObjectName::Image(k) => self.object_dir(k).join(format!("{k}.png")),
            ObjectName::Partial(k, j) => self.object_dir(k).join(format!("{k}.{j}.png")),
            ObjectName::Aux(k, a) => self.object_dir(k).join(format!("{k}.{}.png", a.name())),
            ObjectName::Record(k) => self.object_dir(k).join(format!("{k}.json")),
            ObjectName::Inputs(k) => self.root.join("inputs").join(format!("{k}.json")),
            ObjectName::Checkpoint(k) => self.root.join("partial").join(format!("{k}.ckpt")),
        }
    }

    /// Every file of `dir` (sorted), parsed as `parse` says; a missing folder is empty.
    fn list_dir(
        &self,
        dir: &Path,
        parse: impl Fn(&str) -> Option<ObjectName>,
        out: &mut Vec<Listed>,
    ) -> io::Result<()> {
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .map(|e| e.map(|e| e.path()))
                .collect::<io::Result<_>>()?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        paths.sort();
        for path in paths {
            let name = file_name(&path);
            let what = if name.starts_with(".disco-tmp-") {
                Stored::Temporary
            } else if let Some(n) = parse(&name) {
                Stored::Object(n)
            } else {
                Stored::Other(name.get(..64).and_then(|k| k.parse().ok()))
            };
            let bytes = path.symlink_metadata().map(|m| m.len()).unwrap_or(0);
            out.push(Listed {
                what,
                location: path,
                bytes,
            });
        }
        Ok(())
    }
}

impl ObjectStore for LocalObjects {
    fn get(&self, name: &ObjectName) -> io::Result<Option<Vec<u8>>> {
        let limit = match name {
            ObjectName::Record(_) | ObjectName::Inputs(_) => JSON_LIMIT,
            _ => BLOB_LIMIT,
        };
        match fsutil::read_bounded(&self.path(name), limit) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(fsutil::BoundedReadError::Io(e)) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn put(&self, name: &ObjectName, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().expect("an object's folder"))?;
        write_atomic(&path, bytes)?;
        if matches!(
            name,
            ObjectName::Image(_) | ObjectName::Partial(..) | ObjectName::Aux(..)
        ) {
            // Outputs are hard links to images: read-only, so editing an output in place
            // cannot change the cached image behind it.
            read_only(&path)?;
        }
        Ok(())
    }

    fn contains(&self, name: &ObjectName) -> bool {
        self.path(name).is_file()
    }

    fn remove(&self, name: &ObjectName) -> io::Result<()> {
        let path = self.path(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        if let ObjectName::Image(_)
        | ObjectName::Partial(..)
        | ObjectName::Record(_)
        | ObjectName::Aux(..) = name
        {
            // an emptied fan-out folder goes too (fails, harmlessly, while it holds more)
            let _ = std::fs::remove_dir(path.parent().expect("an object's folder"));
        }
        Ok(())
    }

    fn list(&self) -> io::Result<Vec<Listed>> {
        let mut out = Vec::new();
        let objects = self.root.join("objects");
        let mut dirs: Vec<PathBuf> = match std::fs::read_dir(&objects) {
            Ok(entries) => entries
                .map(|e| e.map(|e| e.path()))
                .filter(|p| p.as_ref().map_or(true, |p| p.is_dir()))
                .collect::<io::Result<_>>()?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        dirs.sort();
        for dir in dirs {
            self.list_dir(&dir, parse_object, &mut out)?;
        }
        self.list_dir(&self.root.join("inputs"), parse_inputs, &mut out)?;
        self.list_dir(&self.root.join("partial"), parse_checkpoint, &mut out)?;
        // the store's own small files are no objects: only temporaries are listed
        let mut root = Vec::new();
        self.list_dir(&self.root, |_| None, &mut root)?;
        out.extend(root.into_iter().filter(|l| l.what == Stored::Temporary));
        Ok(out)
    }

    fn remove_listed(&self, entry: &Listed) -> io::Result<()> {
        std::fs::remove_file(&entry.location)?;
        if let Some(dir) = entry.location.parent()
            && dir.parent() == Some(&self.root.join("objects"))
        {
            let _ = std::fs::remove_dir(dir);
        }
        Ok(())
    }

    fn local_path(&self, name: &ObjectName) -> Option<PathBuf> {
        Some(self.path(name))
    }

    fn sweep_temporaries(&self, keys: &[Key]) {
        let mut dirs: BTreeSet<PathBuf> = keys.iter().map(|k| self.object_dir(k)).collect();
        dirs.extend([self.root.join("partial"), self.root.join("inputs")]);
        for d in dirs {
            fsutil::sweep_temporaries(&d);
        }
    }
}

/// `<key>.png`, `<key>.<j>.png`, `<key>.json`, `<key>.next.png`, `<key>.old.png`,
/// `<key>.eye.png` in a fan-out folder.
fn parse_object(name: &str) -> Option<ObjectName> {
    let key: Key = name.get(..64)?.parse().ok()?;
    match name.get(64..)? {
        ".png" => Some(ObjectName::Image(key)),
        ".json" => Some(ObjectName::Record(key)),
        ".next.png" => Some(ObjectName::Aux(key, Aux::Next)),
        ".old.png" => Some(ObjectName::Aux(key, Aux::Old)),
        ".eye.png" => Some(ObjectName::Aux(key, Aux::Eye)),
        rest => {
            let j = rest.strip_prefix('.')?.strip_suffix(".png")?;
            // the name must be the one `path` gives: digits only, no sign or leading zero
            let j: u32 = j.parse().ok().filter(|n: &u32| n.to_string() == j)?;
            Some(ObjectName::Partial(key, j))
        }
    }
}

fn parse_inputs(name: &str) -> Option<ObjectName> {
    let key = name.strip_suffix(".json")?.parse().ok()?;
    Some(ObjectName::Inputs(key))
}

fn parse_checkpoint(name: &str) -> Option<ObjectName> {
    let key = name.strip_suffix(".ckpt")?.parse().ok()?;
    Some(ObjectName::Checkpoint(key))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn read_only(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Key {
        Key([b; 32])
    }

    #[test]
    fn objects_round_trip_under_the_layout_and_images_are_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let o = LocalObjects::new(dir.path());
        let k = key(0xab);
        for (name, rel) in [
            (ObjectName::Image(k), format!("objects/ab/{k}.png")),
            (ObjectName::Partial(k, 7), format!("objects/ab/{k}.7.png")),
            (ObjectName::Record(k), format!("objects/ab/{k}.json")),
            (ObjectName::Inputs(k), format!("inputs/{k}.json")),
            (ObjectName::Checkpoint(k), format!("partial/{k}.ckpt")),
            (
                ObjectName::Aux(k, Aux::Next),
                format!("objects/ab/{k}.next.png"),
            ),
            (
                ObjectName::Aux(k, Aux::Old),
                format!("objects/ab/{k}.old.png"),
            ),
            (
                ObjectName::Aux(k, Aux::Eye),
                format!("objects/ab/{k}.eye.png"),
            ),
        ] {
            assert!(!o.contains(&name) && o.get(&name).unwrap().is_none());
            o.put(&name, b"bytes").unwrap();
            assert_eq!(std::fs::read(dir.path().join(&rel)).unwrap(), b"bytes");
            assert_eq!(o.get(&name).unwrap().as_deref(), Some(&b"bytes"[..]));
            let listed = o.list().unwrap();
            assert!(
                listed.iter().any(|l| l.what == Stored::Object(name)),
                "{rel}"
            );
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&o.path(&ObjectName::Image(k))), 0o444);
        assert_eq!(mode(&o.path(&ObjectName::Record(k))), 0o644);
        assert_eq!(mode(&o.path(&ObjectName::Aux(k, Aux::Old))), 0o444);
        assert_eq!(mode(&o.path(&ObjectName::Aux(k, Aux::Eye))), 0o444);
        for name in [
            ObjectName::Image(k),
            ObjectName::Partial(k, 7),
            ObjectName::Record(k),
            ObjectName::Aux(k, Aux::Next),
            ObjectName::Aux(k, Aux::Old),
            ObjectName::Aux(k, Aux::Eye),
        ] {
            o.remove(&name).unwrap();
        }
        // the emptied fan-out folder went with its last object
        assert!(!dir.path().join("objects/ab").exists());
    }

    #[test]
    fn strays_are_listed_as_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let o = LocalObjects::new(dir.path());
        let k = key(0x01);
        o.put(&ObjectName::Image(k), b"png").unwrap();
        let fan = dir.path().join("objects/01");
        std::fs::write(fan.join(".disco-tmp-123"), b"half").unwrap();
        std::fs::write(fan.join(format!("{k}.png.bak")), b"x").unwrap();
        std::fs::write(fan.join(format!("{k}.007.png")), b"x").unwrap();
        std::fs::write(dir.path().join("outputs.json"), b"{}").unwrap();
        let what: Vec<Stored> = o.list().unwrap().into_iter().map(|l| l.what).collect();
        assert_eq!(
            what,
            [
                Stored::Temporary,
                Stored::Other(Some(k)),
                Stored::Object(ObjectName::Image(k)),
                Stored::Other(Some(k)),
            ]
        );
    }

    #[test]
    fn a_fifo_in_place_of_an_object_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let o = LocalObjects::new(dir.path());
        let name = ObjectName::Record(key(0x02));
        let path = o.path(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        assert!(o.get(&name).is_err());
    }
}
