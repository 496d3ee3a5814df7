//! `disco.lock`: what a project's last build made, in a small text file meant to be
//! committed beside the project, so a fresh clone can be checked (`disco status --check`)
//! and re-rendered against it (`disco verify`) without the cache that made it.
//!
//! The file is KDL, one line per job, written in plan order so a diff reads like the
//! change that caused it:
//!
//! ```kdl
//! format "disco-lock/1"
//! target "grid" cell="clip-guidance-scale=5000,seed=1" seed=1 {
//!     job 0 key="…64 hex…" blake3="…64 hex…" tool="0.1.0"
//! }
//! ```
//!
//! `key` is the job's key (its inputs), `blake3` the hash of the image it made, `tool` the
//! disco version that rendered it. A target's `seed` is the resolved one, so a
//! `seed "random"` target draws the same seed on a clone.
//!
//! - [`compare`]: a plan against the lock (what `status --check` reports);
//! - [`update`]: the lock after a build.

pub mod compare;
pub mod update;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kdl::{KdlEntry, KdlNode, KdlValue};

use crate::Key;
use disco_fsutil::{BoundedReadError, read_to_string_bounded, write_atomic};
use disco_project::{Diagnostic, Origin, SourceFile};
use disco_store::KeyParseError;

/// The format tag on the first line.
pub const LOCK_FORMAT: &str = "disco-lock/1";

/// Largest lock file read (a 10,000-cell sweep is about 2 MB).
const MAX_LOCK_BYTES: usize = 64 << 20;

/// The lock file of a project file: `disco.kdl` → `disco.lock`, beside it.
pub fn lock_path(project_file: &Path) -> PathBuf {
    project_file.with_extension("lock")
}

/// A whole lock file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LockFile {
    /// Targets (and sweep cells) in plan order.
    pub targets: Vec<LockedTarget>,
}

/// One target or sweep cell.
#[derive(Debug, Clone, PartialEq)]
pub struct LockedTarget {
    /// The target's name.
    pub name: String,
    /// The sweep cell's name.
    pub cell: Option<String>,
    /// The resolved run seed.
    pub seed: u64,
    /// Jobs by index (still number or frame number).
    pub jobs: BTreeMap<u32, LockedJob>,
}

impl LockedTarget {
    /// `name` or `name[cell]`, as plans label targets.
    pub fn label(&self) -> String {
        crate::target_label(&self.name, self.cell.as_deref())
    }
}

/// One job's entry.
#[derive(Debug, Clone)]
pub struct LockedJob {
    /// The job's key.
    pub key: Key,
    /// blake3 of the image, hex.
    pub blake3: String,
    /// disco's version when it rendered.
    pub tool: String,
    /// Where the line is, when read from a file.
    pub origin: Option<Origin>,
}

impl PartialEq for LockedJob {
    fn eq(&self, other: &Self) -> bool {
        (self.key, &self.blake3, &self.tool) == (other.key, &other.blake3, &other.tool)
    }
}

impl LockFile {
    /// The target labelled `label` (`name` or `name[cell]`).
    pub fn target(&self, label: &str) -> Option<&LockedTarget> {
        self.targets.iter().find(|t| t.label() == label)
    }

    /// The seed of every target, by label: what planning takes for `seed "random"`.
    pub fn seeds(&self) -> BTreeMap<String, u64> {
        self.targets.iter().map(|t| (t.label(), t.seed)).collect()
    }

    /// Reads a lock file: `Ok(None)` if there is none; diagnostics with file, line and
    /// column if it is not one.
    pub fn read(path: &Path) -> Result<Option<LockFile>, Vec<Diagnostic>> {
        // bounded, and never a FIFO or a device: a bad lock cannot stall a build or grow
        // its memory
        let text = match read_to_string_bounded(path, MAX_LOCK_BYTES as u64) {
            Ok(t) => t,
            Err(BoundedReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None);
            }
            Err(e) => {
                return Err(vec![
                    Diagnostic::bare(format!("cannot read {}: {e}", path.display())).with_help(
                        "disco.lock is written by `disco build`; to remake it, delete it and build",
                    ),
                ]);
            }
        };
        let file = SourceFile::new(path, text);
        Self::parse(&file).map(Some)
    }

    /// Parses a lock file's text.
    pub fn parse(file: &Arc<SourceFile>) -> Result<LockFile, Vec<Diagnostic>> {
        let doc = disco_project::parse_kdl_bounded(file, Duration::from_secs(30), MAX_LOCK_BYTES)?;
        let at = |span| Origin::new(file, span);
        let help = "disco.lock is written by `disco build`; to remake it, delete it and build";
        let mut errors = Vec::new();
        let mut lock = LockFile::default();
        let mut format_seen = false;
        for node in doc.nodes() {
            match node.name().value() {
                "format" => {
                    format_seen = true;
                    let v = node.entries().first();
                    if v.and_then(|e| e.value().as_string()) != Some(LOCK_FORMAT) {
                        errors.push(
                            Diagnostic::error(
                                format!("not a {LOCK_FORMAT} file"),
                                &at(node.span()),
                                "this format",
                            )
                            .with_help(help),
                        );
                        return Err(errors);
                    }
                }
                "target" => match read_target(node, &at) {
                    Ok(t) => lock.targets.push(t),
                    Err(mut e) => errors.append(&mut e),
                },
                other => errors.push(
                    Diagnostic::error(
                        format!("unknown node `{other}` in a lock file"),
                        &at(node.name().span()),
                        "expected `format` or `target`",
                    )
                    .with_help(help),
                ),
            }
        }
        if !format_seen {
            errors.push(
                Diagnostic::bare(format!(
                    "{} has no `format \"{LOCK_FORMAT}\"` line",
                    file.path.display()
                ))
                .with_help(help),
            );
        }
        if errors.is_empty() {
            Ok(lock)
        } else {
            Err(errors)
        }
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = format!(
            "// Written by `disco build`: what each job's inputs (key) made (blake3 of the image).\n\
             // Commit it with the project; `disco status --check` and `disco verify` read it.\n\
             format {}\n",
            quote(LOCK_FORMAT)
        );
        for t in &self.targets {
            out.push_str("target ");
            out.push_str(&quote(&t.name));
            if let Some(c) = &t.cell {
                out.push_str(" cell=");
                out.push_str(&quote(c));
            }
            out.push_str(&format!(" seed={} {{\n", t.seed));
            for (i, j) in &t.jobs {
                out.push_str(&format!(
                    "    job {i} key=\"{}\" blake3=\"{}\" tool={}\n",
                    j.key,
                    j.blake3,
                    quote(&j.tool)
                ));
            }
            out.push_str("}\n");
        }
        out
    }

    /// Writes the file atomically if its text changed; whether it did.
    pub fn write(&self, path: &Path) -> std::io::Result<bool> {
        let text = self.render();
        if read_to_string_bounded(path, MAX_LOCK_BYTES as u64)
            .ok()
            .as_deref()
            == Some(text.as_str())
        {
            return Ok(false);
        }
        write_atomic(path, text.as_bytes())?;
        Ok(true)
    }
}

/// A KDL string literal.
fn quote(s: &str) -> String {
    KdlValue::String(s.to_owned()).to_string()
}

fn read_target(
    node: &KdlNode,
    at: &dyn Fn(miette::SourceSpan) -> Origin,
) -> Result<LockedTarget, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let name = match node.entries().first().filter(|e| e.name().is_none()) {
        Some(e) => string_of(e, at).map_err(|d| vec![d])?,
        None => {
            return Err(vec![Diagnostic::error(
                "a target needs its name",
                &at(node.span()),
                "here",
            )]);
        }
    };
    let cell = match node.entry("cell") {
        Some(e) => Some(string_of(e, at).map_err(|d| vec![d])?),
        None => None,
    };
    let seed = match node.entry("seed") {
        Some(e) => match e.value().as_integer().and_then(|n| u64::try_from(n).ok()) {
            Some(n) => n,
            None => {
                return Err(vec![Diagnostic::error(
                    "a seed is a non-negative integer",
                    &at(e.span()),
                    "this value",
                )]);
            }
        },
        None => {
            return Err(vec![Diagnostic::error(
                "a target needs `seed=`",
                &at(node.span()),
                "here",
            )]);
        }
    };
    let mut jobs = BTreeMap::new();
    for child in node.iter_children() {
        match read_job(child, at) {
            Ok((i, j)) => {
                if jobs.insert(i, j).is_some() {
                    errors.push(Diagnostic::error(
                        format!("job {i} appears twice"),
                        &at(child.span()),
                        "again here",
                    ));
                }
            }
            Err(d) => errors.push(d),
        }
    }
    if errors.is_empty() {
        Ok(LockedTarget {
            name,
            cell,
            seed,
            jobs,
        })
    } else {
        Err(errors)
    }
}

fn read_job(
    node: &KdlNode,
    at: &dyn Fn(miette::SourceSpan) -> Origin,
) -> Result<(u32, LockedJob), Diagnostic> {
    if node.name().value() != "job" {
        return Err(Diagnostic::error(
            format!("unknown node `{}` in a target", node.name().value()),
            &at(node.name().span()),
            "expected `job`",
        ));
    }
    let index = node
        .entries()
        .first()
        .filter(|e| e.name().is_none())
        .and_then(|e| e.value().as_integer())
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| Diagnostic::error("a job needs its index", &at(node.span()), "here"))?;
    let prop = |name: &str| {
        node.entry(name).ok_or_else(|| {
            Diagnostic::error(
                format!("job {index} has no `{name}=`"),
                &at(node.span()),
                "here",
            )
        })
    };
    let key_entry = prop("key")?;
    let key: Key = string_of(key_entry, at)?
        .parse()
        .map_err(|e: KeyParseError| {
            Diagnostic::error(e.to_string(), &at(key_entry.span()), "this key")
        })?;
    let hash_entry = prop("blake3")?;
    let blake3 = string_of(hash_entry, at)?;
    if blake3.len() != 64 || !blake3.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Diagnostic::error(
            "not a 64-digit hex blake3 hash",
            &at(hash_entry.span()),
            "this hash",
        ));
    }
    let tool = string_of(prop("tool")?, at)?;
    Ok((
        index,
        LockedJob {
            key,
            blake3: blake3.to_ascii_lowercase(),
            tool,
            origin: Some(at(node.span())),
        },
    ))
}

fn string_of(
    e: &KdlEntry,
    at: &dyn Fn(miette::SourceSpan) -> Origin,
) -> Result<String, Diagnostic> {
    e.value()
        .as_string()
        .map(str::to_owned)
        .ok_or_else(|| Diagnostic::error("expected a string", &at(e.span()), "this value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LockFile {
        let job = |b: u8| LockedJob {
            key: Key([b; 32]),
            blake3: format!("{:02x}", b + 0x80).repeat(32),
            tool: "0.1.0".into(),
            origin: None,
        };
        LockFile {
            targets: vec![
                LockedTarget {
                    name: "stills".into(),
                    cell: None,
                    seed: 7,
                    jobs: BTreeMap::from([(0, job(1)), (1, job(2))]),
                },
                LockedTarget {
                    name: "grid".into(),
                    cell: Some("text-prompts=\"a \\\"b\\\", c\",seed=1".into()),
                    seed: 1,
                    jobs: BTreeMap::from([(0, job(3))]),
                },
            ],
        }
    }

    fn parse(text: &str) -> Result<LockFile, Vec<Diagnostic>> {
        LockFile::parse(&SourceFile::new("disco.lock", text))
    }

    #[test]
    fn the_text_reads_back_as_the_same_lock() {
        let lock = sample();
        let text = lock.render();
        assert_eq!(parse(&text).unwrap(), lock);
        assert_eq!(
            lock.seeds()["grid[text-prompts=\"a \\\"b\\\", c\",seed=1]"],
            1
        );
        // one line per job: a diff names the job that changed
        assert_eq!(
            text.lines()
                .filter(|l| l.trim_start().starts_with("job "))
                .count(),
            3
        );
    }

    #[test]
    fn a_damaged_hash_is_an_error_at_its_line_and_column() {
        let text = sample().render().replacen(&"82".repeat(32), "xyz", 1);
        let errs = parse(&text).unwrap_err();
        let (origin, _) = errs[0].primary.clone().unwrap();
        let (line, col) = origin.file.line_col(origin.span.offset());
        let expected_line = text.lines().position(|l| l.contains("xyz")).unwrap() + 1;
        assert_eq!(line, expected_line);
        assert!(col > 10, "points at the property, column {col}");
        assert!(errs[0].message.contains("blake3"), "{}", errs[0].message);
    }

    #[test]
    fn another_format_and_unknown_nodes_are_refused() {
        assert!(parse("format \"disco-lock/9\"\n").is_err());
        assert!(parse("format \"disco-lock/1\"\nfoo 1\n").is_err());
        assert!(
            parse("target \"a\" seed=1 {\n}\n").is_err(),
            "no format line"
        );
        assert!(parse("format \"disco-lock/1\"\ntarget \"a\" seed=-1\n").is_err());
        assert!(parse("format \"disco-lock/1\"\ntarget \"a\" seed=1\n").is_ok());
    }

    #[test]
    fn write_touches_the_file_only_when_its_text_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disco.lock");
        let lock = sample();
        assert!(lock.write(&path).unwrap());
        assert!(!lock.write(&path).unwrap());
        assert_eq!(LockFile::read(&path).unwrap().unwrap(), lock);
        assert_eq!(LockFile::read(&dir.path().join("none.lock")).unwrap(), None);
        assert_eq!(
            lock_path(Path::new("a/disco.kdl")),
            Path::new("a/disco.lock")
        );
    }

    /// Reads `path` on a thread; the error text, or a panic if it takes over 5 s (a read
    /// of a FIFO or /dev/zero that never ends).
    fn read_error_within_5s(path: &Path) -> String {
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(LockFile::read(&p));
        });
        let result = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("reading the lock must not block or grow without bound");
        let errs = result.expect_err("not a lock file");
        errs[0].message.clone()
    }

    #[test]
    fn a_fifo_a_device_or_a_huge_lock_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.lock");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(read_error_within_5s(&fifo).contains("not a regular file"));
        let zero = dir.path().join("zero.lock");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(read_error_within_5s(&zero).contains("not a regular file"));
        // a regular file one byte over the bound
        let big = dir.path().join("big.lock");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_LOCK_BYTES as u64 + 1).unwrap();
        assert!(read_error_within_5s(&big).contains("larger than"));
        // and writing over a FIFO does not read it first
        let (tx, rx) = std::sync::mpsc::channel();
        let (lock, p) = (sample(), fifo.clone());
        std::thread::spawn(move || {
            let _ = tx.send(lock.write(&p).map_err(|e| e.to_string()));
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_secs(5))
                .unwrap()
                .unwrap()
        );
    }
}
