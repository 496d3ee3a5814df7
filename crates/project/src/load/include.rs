//! `include "path"`: another file's settings and targets spliced in where the node stands,
//! each file read and parsed once, within the project's limits on files, bytes and expansions.

use std::path::Path;

use kdl::KdlNode;

use super::{Loader, RawTarget};
use crate::diagnostic::Diagnostic;
use crate::limits::{MAX_FILES, MAX_INCLUDE_EXPANSIONS, MAX_TOTAL_BYTES};
use crate::read::{self, Cx};
use crate::schema::Settings;
use crate::source::SourceFile;
use disco_fsutil::BoundedReadError;

impl Loader<'_> {
    /// Splices the file an `include` node names into the walk, where the node stands.
    pub(super) fn include(
        &mut self,
        node: &KdlNode,
        cx: Cx,
        base: &mut Settings,
        raw: &mut Vec<RawTarget>,
    ) {
        let entry = match read::single(node, cx, "a path")
            .and_then(|e| read::string(e, cx).map(|s| (e, s)))
        {
            Ok(x) => x,
            Err(d) => return self.diags.push(d),
        };
        let (e, rel) = entry;
        let path = cx.file.dir().join(rel);
        let canon = path.canonicalize().unwrap_or_else(|_| path.clone());
        let this = cx
            .file
            .path
            .canonicalize()
            .unwrap_or_else(|_| cx.file.path.clone());
        if canon == this || self.stack.contains(&canon) {
            return self.diags.push(
                Diagnostic::error(
                    format!("`{rel}` includes itself (directly or through other includes)"),
                    &cx.entry(e),
                    "include cycle",
                )
                .with_help("remove one of the includes in the cycle"),
            );
        }
        self.expansions += 1;
        if self.expansions > MAX_INCLUDE_EXPANSIONS {
            // Reported once: every include after the limit is refused the same way.
            if self.expansions > MAX_INCLUDE_EXPANSIONS + 1 {
                return;
            }
            return self.diags.push(
                Diagnostic::error(
                    format!("the project expands more than {MAX_INCLUDE_EXPANSIONS} includes"),
                    &cx.entry(e),
                    "one too many",
                )
                .with_help("each time a file is included its settings are applied again: include shared settings once, from the main file"),
            );
        }
        let (file, doc) = match self.parsed.get(&canon) {
            Some((file, doc)) => (file.clone(), doc.clone()),
            None => {
                let Some(text) = self.read_include(&path, cx, e) else {
                    return;
                };
                let file = SourceFile::new(path, text);
                let doc = self.parse(canon, file.clone());
                (file, doc)
            }
        };
        if let Some(doc) = doc {
            self.stack.push(this);
            self.walk_file(&file, &doc, base, raw);
            self.stack.pop();
        }
    }

    /// Reads an include for the first time, within the per-file and per-project limits.
    fn read_include(&mut self, path: &Path, cx: Cx, e: &kdl::KdlEntry) -> Option<String> {
        let refuse = |message: String, label: &str| Diagnostic::error(message, &cx.entry(e), label);
        if self.files.len() >= MAX_FILES {
            // Reported once, at the first include past the limit.
            if std::mem::replace(&mut self.too_many_files, true) {
                return None;
            }
            self.diags.push(
                refuse(
                    format!("the project reads more than {MAX_FILES} files"),
                    "one file too many",
                )
                .with_help("merge some of the included files"),
            );
            return None;
        }
        let text = match (self.read)(path) {
            Ok(t) => t,
            Err(err) => {
                let d = refuse(
                    format!("cannot read included file {}: {err}", path.display()),
                    "included here",
                );
                self.diags.push(match err {
                    BoundedReadError::NotRegular { .. } => {
                        d.with_help("an include must name a regular file (or a symlink to one)")
                    }
                    _ => d,
                });
                return None;
            }
        };
        if self.total_bytes + text.len() > MAX_TOTAL_BYTES {
            self.diags.push(refuse(
                format!(
                    "the project's files hold more than {MAX_TOTAL_BYTES} bytes together, with {}",
                    path.display()
                ),
                "one file too many",
            ));
            return None;
        }
        Some(text)
    }
}
