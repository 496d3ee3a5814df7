//! An object store in memory: the fake the engine's tests build against (it records what
//! was put and read), and a model of what any store must do.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

use super::objects::{Listed, ObjectName, ObjectStore, Stored};

/// Objects in a map; every `put` and `get` is logged.
#[derive(Debug, Default)]
pub struct MemoryObjects {
    objects: Mutex<BTreeMap<ObjectName, Vec<u8>>>,
    log: Mutex<Vec<Access>>,
}

/// One access to a [`MemoryObjects`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `put(name)`.
    Put(ObjectName),
    /// `get(name)` that found it.
    Served(ObjectName),
    /// `remove(name)`.
    Removed(ObjectName),
}

impl MemoryObjects {
    /// An empty store.
    pub fn new() -> MemoryObjects {
        MemoryObjects::default()
    }

    /// Every access so far, in order.
    pub fn log(&self) -> Vec<Access> {
        self.log.lock().expect("log").clone()
    }

    /// Forgets the log (to look at the next build's accesses alone).
    pub fn clear_log(&self) {
        self.log.lock().expect("log").clear();
    }

    /// Every name held.
    pub fn names(&self) -> Vec<ObjectName> {
        self.objects
            .lock()
            .expect("objects")
            .keys()
            .copied()
            .collect()
    }

    fn note(&self, a: Access) {
        self.log.lock().expect("log").push(a);
    }
}

impl ObjectStore for MemoryObjects {
    fn get(&self, name: &ObjectName) -> io::Result<Option<Vec<u8>>> {
        let got = self.objects.lock().expect("objects").get(name).cloned();
        if got.is_some() {
            self.note(Access::Served(*name));
        }
        Ok(got)
    }

    fn put(&self, name: &ObjectName, bytes: &[u8]) -> io::Result<()> {
        self.objects
            .lock()
            .expect("objects")
            .insert(*name, bytes.to_vec());
        self.note(Access::Put(*name));
        Ok(())
    }

    fn contains(&self, name: &ObjectName) -> bool {
        self.objects.lock().expect("objects").contains_key(name)
    }

    fn remove(&self, name: &ObjectName) -> io::Result<()> {
        self.objects.lock().expect("objects").remove(name);
        self.note(Access::Removed(*name));
        Ok(())
    }

    fn list(&self) -> io::Result<Vec<Listed>> {
        let objects = self.objects.lock().expect("objects");
        Ok(objects
            .iter()
            .map(|(name, bytes)| Listed {
                what: Stored::Object(*name),
                location: PathBuf::from(format!("memory:{name:?}")),
                bytes: bytes.len() as u64,
            })
            .collect())
    }

    fn remove_listed(&self, entry: &Listed) -> io::Result<()> {
        match entry.what {
            Stored::Object(name) => self.remove(&name),
            _ => Ok(()),
        }
    }
}
