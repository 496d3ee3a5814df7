//! A shared cache on an HTTP server, in Bazel's remote-cache layout (`--cache
//! https://host/prefix`), which nginx WebDAV, bazel-remote and artifact servers serve:
//!
//! ```text
//! <prefix>/cas/<sha256>   a blob by the sha256 of its bytes: a record, an image, a save,
//!                         shared inputs
//! <prefix>/ac/<key>       job <key>: a small JSON naming its blobs by sha256
//!                         {"format":"disco-ac/1","record":…,"image":…,"partials":{"j":…},
//!                          "aux":{"next":…,"old":…}}   (aux: a 3D turbo frame's only)
//! <prefix>/ac/<digest>    shared inputs <digest>: {"format":"disco-ac/1","inputs":…}
//! <prefix>/ac/<vkey>      eye view <key>: {"format":"disco-ac/1","record":…,"image":…},
//!                         its view record and image; vkey = blake3's derive_key of the
//!                         view's key (an eye view's key also names its shared inputs)
//! ```
//!
//! Blobs go first and the `ac/` entry last, so a reader that finds an entry finds its blobs
//! (a worker killed in between leaves unreferenced blobs and no entry: a miss). A blob whose
//! bytes do not hash to the name the entry gives is a miss; only 64 lowercase hex digits are
//! taken from a server as a name. The entry is created with `If-None-Match: *`, so on a
//! server that keeps that condition the first record of a key wins; on one that ignores it
//! the entry is looked for first and read back after, and a worker whose entry is not the
//! one the server holds reports the race lost, so its checkout adopts the server's.

mod auth;
mod client;

use std::collections::BTreeMap;
use std::io;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use self::client::{Client, Put};
use super::Key;
use super::backend::{CachedJob, CachedView, SharedCache};
use super::objects::Aux;
use super::shared::{CacheError, is_hex64};

pub use self::auth::redact;

/// The most an `ac/` entry, a record or shared inputs may hold.
const JSON_LIMIT: u64 = 64 << 20;
/// The most an image may hold.
const BLOB_LIMIT: u64 = 1 << 30;
/// The version of the `ac/` entries' format.
const AC_FORMAT: &str = "disco-ac/1";

/// An `ac/` entry: a job's blobs, or a target's shared inputs, by sha256.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AcEntry {
    format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    partials: BTreeMap<u32, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inputs: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    aux: BTreeMap<String, String>,
}

impl AcEntry {
    /// Whether the entry is of this format and names only hex digests.
    fn sound(&self) -> bool {
        let names = [&self.record, &self.image, &self.inputs];
        self.format == AC_FORMAT
            && names.iter().all(|n| n.as_deref().is_none_or(is_hex64))
            && self.partials.values().all(|h| is_hex64(h))
            && self.aux.values().all(|h| is_hex64(h))
    }
}

/// The `ac/` name of eye view `key`'s entry: not `key`, which names the view's shared inputs.
fn view_entry_key(key: &Key) -> Key {
    Key(blake3::derive_key("disco 2026 eye view ac entry", &key.0))
}

/// A cache on an HTTP(S) server.
#[derive(Debug)]
pub struct HttpCache {
    /// `scheme://host[:port][/prefix]`, no credentials.
    base: String,
    client: Client,
}

impl HttpCache {
    /// The cache at `url`; its credentials come from the URL, the environment or netrc.
    pub fn open(url: &str) -> Result<HttpCache, CacheError> {
        let parsed = auth::parse(url).ok_or_else(|| CacheError::Url(url.to_owned()))?;
        let authorization =
            auth::authorization(&parsed, &|k| std::env::var(k).ok()).map_err(|reason| {
                CacheError::Credentials {
                    url: parsed.base.clone(),
                    reason,
                }
            })?;
        Ok(HttpCache::with_authorization(&parsed.base, authorization))
    }

    /// The cache at `base` (no credentials in it), sending `authorization` if any.
    fn with_authorization(base: &str, authorization: Option<String>) -> HttpCache {
        HttpCache {
            base: base.trim_end_matches('/').to_owned(),
            client: Client::new(authorization),
        }
    }

    /// The cache's URL, without credentials.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn ac(&self, key: &Key) -> String {
        format!("{}/ac/{key}", self.base)
    }

    fn cas(&self, sha256: &str) -> String {
        format!("{}/cas/{sha256}", self.base)
    }

    /// Job or inputs entry `key`, `None` if missing or unsound.
    fn entry(&self, key: &Key) -> io::Result<Option<AcEntry>> {
        let Some(bytes) = self.client.get(&self.ac(key), JSON_LIMIT)? else {
            return Ok(None);
        };
        let entry: Option<AcEntry> = serde_json::from_slice(&bytes).ok();
        Ok(entry.filter(AcEntry::sound))
    }

    /// The blob named `sha256`, if held and whole (bytes hashing otherwise are a miss).
    fn blob(&self, sha256: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
        if !is_hex64(sha256) {
            return Ok(None);
        }
        let bytes = self.client.get(&self.cas(sha256), limit)?;
        Ok(bytes.filter(|b| sha256_hex(b) == sha256))
    }

    /// Uploads `bytes` under their sha256 unless the server holds them; returns the name.
    fn put_blob(&self, bytes: &[u8]) -> io::Result<String> {
        let sha = sha256_hex(bytes);
        let url = self.cas(&sha);
        if !self.client.exists(&url)? {
            self.client.put(&url, bytes, false)?;
        }
        Ok(sha)
    }

    /// Puts `entry` at `ac/<key>` unless one is there: `Ok(true)` if the server now holds
    /// this one.
    fn create_entry(&self, key: &Key, entry: &AcEntry) -> io::Result<bool> {
        let url = self.ac(key);
        if self.client.exists(&url)? {
            return Ok(false);
        }
        let body = serde_json::to_vec(entry).map_err(io::Error::other)?;
        if self.client.put(&url, &body, true)? == Put::Taken {
            return Ok(false);
        }
        // a server that ignores If-None-Match may have taken a racing writer's entry after
        // ours: what it serves now is the record every reader gets
        Ok(self.entry(key)?.is_none_or(|held| held == *entry))
    }
}

impl SharedCache for HttpCache {
    fn get_job(&self, key: &Key) -> io::Result<Option<CachedJob>> {
        let Some(entry) = self.entry(key)? else {
            return Ok(None);
        };
        let (Some(record_sha), Some(image_sha)) = (&entry.record, &entry.image) else {
            return Ok(None);
        };
        let Some(record) = self.blob(record_sha, JSON_LIMIT)? else {
            return Ok(None);
        };
        let Some(image) = self.blob(image_sha, BLOB_LIMIT)? else {
            return Ok(None);
        };
        let mut partials = Vec::with_capacity(entry.partials.len());
        for (&j, sha) in &entry.partials {
            match self.blob(sha, BLOB_LIMIT)? {
                Some(png) => partials.push((j, png)),
                None => return Ok(None),
            }
        }
        let mut aux = Vec::with_capacity(entry.aux.len());
        for (name, sha) in &entry.aux {
            let Some(a) = Aux::from_name(name) else {
                return Ok(None);
            };
            match self.blob(sha, BLOB_LIMIT)? {
                Some(png) => aux.push((a, png)),
                None => return Ok(None),
            }
        }
        Ok(Some(CachedJob {
            record,
            image,
            partials,
            aux,
        }))
    }

    fn create_job(&self, key: &Key, job: &CachedJob) -> io::Result<bool> {
        let mut entry = AcEntry {
            format: AC_FORMAT.to_owned(),
            image: Some(self.put_blob(&job.image)?),
            ..AcEntry::default()
        };
        for (j, png) in &job.partials {
            entry.partials.insert(*j, self.put_blob(png)?);
        }
        for (a, png) in &job.aux {
            entry.aux.insert(a.name().to_owned(), self.put_blob(png)?);
        }
        entry.record = Some(self.put_blob(&job.record)?);
        self.create_entry(key, &entry)
    }

    fn get_view(&self, key: &Key) -> io::Result<Option<CachedView>> {
        let Some(entry) = self.entry(&view_entry_key(key))? else {
            return Ok(None);
        };
        let (Some(record_sha), Some(image_sha)) = (&entry.record, &entry.image) else {
            return Ok(None);
        };
        let Some(record) = self.blob(record_sha, JSON_LIMIT)? else {
            return Ok(None);
        };
        Ok(self
            .blob(image_sha, BLOB_LIMIT)?
            .map(|image| CachedView { record, image }))
    }

    fn create_view(&self, key: &Key, view: &CachedView) -> io::Result<bool> {
        let entry = AcEntry {
            format: AC_FORMAT.to_owned(),
            image: Some(self.put_blob(&view.image)?),
            record: Some(self.put_blob(&view.record)?),
            ..AcEntry::default()
        };
        self.create_entry(&view_entry_key(key), &entry)
    }

    fn inputs(&self, digest: &Key) -> io::Result<Option<Vec<u8>>> {
        match self.entry(digest)?.and_then(|e| e.inputs) {
            Some(sha) => self.blob(&sha, JSON_LIMIT),
            None => Ok(None),
        }
    }

    fn put_inputs(&self, digest: &Key, bytes: &[u8]) -> io::Result<()> {
        let entry = AcEntry {
            format: AC_FORMAT.to_owned(),
            inputs: Some(self.put_blob(bytes)?),
            ..AcEntry::default()
        };
        // the same digest names the same inputs: whoever wrote the entry first, it holds
        self.create_entry(digest, &entry).map(drop)
    }
}

/// The sha256 of `bytes`, as 64 lowercase hex digits.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
