//! Reading a project: the main file, its includes, top-level settings and target blocks.
//!
//! Settings layer in reading order with includes spliced in where they are named, so a
//! later value wins. Targets inherit the final top-level settings and override them inside
//! their block. Every problem found is collected; the project is returned only if none of
//! them is an error.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kdl::{KdlDocument, KdlNode};

use super::bounds;
use super::diagnostic::{Diagnostic, Diagnostics};
use super::limits::MAX_PROJECT_BYTES;
use super::model::{Project, Target, TargetKind};
use super::outputs;
use super::parse::parse_kdl;
use super::read::Cx;
use super::schema::Settings;
use super::source::SourceFile;
use super::validate;
use disco_fsutil::{BoundedReadError, read_to_string_bounded};
use settings::finish;

mod include;
#[cfg(test)]
mod models_tests;
mod settings;
mod sweep;
mod target;

/// How the loader reads a file: at most [`MAX_PROJECT_BYTES`], regular files only.
type ReadFn<'a> = &'a dyn Fn(&Path) -> Result<String, BoundedReadError>;

fn read_project_file(p: &Path) -> Result<String, BoundedReadError> {
    read_to_string_bounded(p, MAX_PROJECT_BYTES as u64)
}

/// What loading produced: the project if it is valid, and every diagnostic.
#[derive(Debug)]
pub struct LoadResult {
    /// The project, if there were no errors.
    pub project: Option<Project>,
    /// Errors and warnings, in the order found.
    pub diagnostics: Diagnostics,
}

/// Loads the project at `path` from the file system.
pub fn load(path: &Path) -> LoadResult {
    Loader::new(&read_project_file).run(path, None)
}

/// Loads a project whose main file has the given text (includes still come from disk).
pub fn load_str(path: &Path, text: &str) -> LoadResult {
    Loader::new(&read_project_file).run(path, Some(text.to_owned()))
}

struct RawTarget {
    kind: TargetKind,
    node: KdlNode,
    file: Arc<SourceFile>,
}

struct Loader<'a> {
    read: ReadFn<'a>,
    files: Vec<Arc<SourceFile>>,
    diags: Diagnostics,
    /// Canonical paths of the files being read, for include cycles.
    stack: Vec<PathBuf>,
    /// Every file read so far by canonical path, with its document (`None` if it did not
    /// parse): a file included again is walked again but read and parsed once.
    parsed: HashMap<PathBuf, (Arc<SourceFile>, Option<Arc<KdlDocument>>)>,
    /// Bytes of all distinct files read (bounded by [`MAX_TOTAL_BYTES`]).
    total_bytes: usize,
    /// `include` nodes expanded so far (bounded by [`MAX_INCLUDE_EXPANSIONS`]).
    expansions: usize,
    /// Whether an include was refused for going past [`MAX_FILES`].
    too_many_files: bool,
}

impl<'a> Loader<'a> {
    fn new(read: ReadFn<'a>) -> Self {
        Loader {
            read,
            files: Vec::new(),
            diags: Diagnostics::default(),
            stack: Vec::new(),
            parsed: HashMap::new(),
            total_bytes: 0,
            expansions: 0,
            too_many_files: false,
        }
    }

    fn run(mut self, path: &Path, text: Option<String>) -> LoadResult {
        let text = match text.map(Ok).unwrap_or_else(|| (self.read)(path)) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(Diagnostic::bare(format!(
                    "cannot read project file {}: {e}",
                    path.display()
                )));
                return LoadResult {
                    project: None,
                    diagnostics: self.diags,
                };
            }
        };
        let mut base = Settings::default();
        let mut raw = Vec::new();
        let file = SourceFile::new(path, text);
        let canon = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        if let Some(doc) = self.parse(canon, file.clone()) {
            self.walk_file(&file, &doc, &mut base, &mut raw);
        }

        let targets = self.targets(&base, raw);
        for t in &targets {
            validate::target(t, &mut self.diags);
        }
        bounds::check(&targets, &mut self.diags);
        // Output paths only mean something for targets that are otherwise valid (two
        // targets with one name would also be reported as writing one folder).
        if !self.diags.has_errors() {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            outputs::check(dir.unwrap_or(Path::new(".")), &targets, &mut self.diags);
        }
        let diagnostics = dedup(self.diags);
        let project = (!diagnostics.has_errors()).then(|| Project {
            path: path.to_owned(),
            files: self.files,
            base,
            targets,
        });
        LoadResult {
            project,
            diagnostics,
        }
    }

    /// The declared targets, their names unique; with none declared (and no error), the
    /// implicit target of the top-level settings.
    fn targets(&mut self, base: &Settings, raw: Vec<RawTarget>) -> Vec<Target> {
        let mut targets = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for rt in raw {
            if let Some(t) = self.target(base, rt) {
                if !seen.insert(t.name.value.clone()) {
                    let o = t
                        .name
                        .origin
                        .clone()
                        .expect("declared targets have an origin");
                    self.diags.push(
                        Diagnostic::error(
                            format!("two targets are named `{}`", t.name.value),
                            &o,
                            "duplicate name",
                        )
                        .with_help(
                            "target names must be unique: `disco build NAME` selects by name",
                        ),
                    );
                }
                targets.push(t);
            }
        }
        if targets.is_empty() && !self.diags.has_errors() {
            let mut settings = base.clone();
            finish(&mut settings);
            targets.push(Target {
                name: base.batch_name.clone(),
                kind: TargetKind::Implicit,
                settings,
                sweep: None,
            });
        }
        targets
    }

    /// Parses a file read for the first time and remembers it under its canonical path.
    fn parse(&mut self, canon: PathBuf, file: Arc<SourceFile>) -> Option<Arc<KdlDocument>> {
        self.files.push(file.clone());
        self.total_bytes += file.text.len();
        let doc = match parse_kdl(&file) {
            Ok(doc) => Some(Arc::new(doc)),
            Err(errs) => {
                errs.into_iter().for_each(|d| self.diags.push(d));
                None
            }
        };
        self.parsed.insert(canon, (file, doc.clone()));
        doc
    }

    fn walk_file(
        &mut self,
        file: &Arc<SourceFile>,
        doc: &KdlDocument,
        base: &mut Settings,
        raw: &mut Vec<RawTarget>,
    ) {
        let cx = Cx { file };
        for node in doc.nodes() {
            match node.name().value() {
                "include" => self.include(node, cx, base, raw),
                "stills" => raw.push(RawTarget {
                    kind: TargetKind::Stills,
                    node: node.clone(),
                    file: file.clone(),
                }),
                "animation" => raw.push(RawTarget {
                    kind: TargetKind::Animation,
                    node: node.clone(),
                    file: file.clone(),
                }),
                "sweep" => raw.push(RawTarget {
                    kind: TargetKind::Sweep,
                    node: node.clone(),
                    file: file.clone(),
                }),
                _ => self.setting(base, node, cx),
            }
        }
    }
}

/// Drops repeated diagnostics (base settings are validated once per target).
fn dedup(diags: Diagnostics) -> Diagnostics {
    let mut seen = HashSet::new();
    Diagnostics(
        diags
            .0
            .into_iter()
            .filter(|d| {
                seen.insert((
                    d.message.clone(),
                    d.primary
                        .as_ref()
                        .map(|(o, _)| (o.file.path.clone(), o.span.offset(), o.span.len())),
                ))
            })
            .collect(),
    )
}
