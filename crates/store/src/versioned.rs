//! The small JSON files of the store (`outputs.json`, `stat-cache.json`, `seeds.json`):
//! `{"format": TAG, "<field>": …}`, read whole, written atomically. A file that is missing,
//! unreadable or of another format reads as empty: the cost is a rebuild, never an error.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use disco_fsutil::write_atomic;

/// The map under `field` in `path`, if the file has format `format`.
pub fn load<V: DeserializeOwned>(path: &Path, format: &str, field: &str) -> BTreeMap<String, V> {
    let Some(mut doc) = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return BTreeMap::new();
    };
    if doc["format"] != format {
        return BTreeMap::new();
    }
    serde_json::from_value(doc[field].take()).unwrap_or_default()
}

/// Writes `map` under `field` with format `format`, atomically.
pub fn save<V: Serialize>(
    path: &Path,
    format: &str,
    field: &str,
    map: &BTreeMap<String, V>,
) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut doc = serde_json::Map::new();
    doc.insert("format".into(), format.into());
    doc.insert(
        field.into(),
        serde_json::to_value(map).map_err(io::Error::other)?,
    );
    write_atomic(path, &serde_json::to_vec(&doc).map_err(io::Error::other)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Break files on purpose (STYLE.md rule 19): every truncation reads as empty or whole,
    // never as a panic.
    #[test]
    fn truncated_or_foreign_files_read_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        let map = BTreeMap::from([("a".to_owned(), 1u64), ("b".to_owned(), 2)]);
        save(&p, "t/1", "entries", &map).unwrap();
        assert_eq!(load::<u64>(&p, "t/1", "entries"), map);
        assert!(load::<u64>(&p, "t/2", "entries").is_empty());
        let bytes = std::fs::read(&p).unwrap();
        for n in 0..bytes.len() {
            std::fs::write(&p, &bytes[..n]).unwrap();
            assert!(load::<u64>(&p, "t/1", "entries").is_empty(), "length {n}");
        }
    }
}
