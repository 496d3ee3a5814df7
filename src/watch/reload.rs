//! Loading and planning the project again after a save, on its own thread: the project's
//! text (parse bounded by `PARSE_TIMEOUT`), then the plan, then which jobs are stale. The
//! files planning reads are recorded, so the watcher knows what to watch.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::collect::{Deps, normalise};
use super::decide::Wanted;
use super::seams::Seams;
use crate::build::{self, BuildError, Decision};
use crate::plan::{DepthHashes, Facts, FactsError, ModelNeeds, Plan, RuntimeFacts};
use crate::project::Diagnostic;
use crate::store::Store;

/// Which part of the project to watch (as `disco build`'s selection).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only these targets; empty = all.
    pub only: Vec<String>,
    /// Only animation frames below this one (`--frames ..N`).
    pub frame_limit: Option<u32>,
}

/// A project loaded and planned.
#[derive(Debug)]
pub struct Loaded {
    /// The plan.
    pub plan: Arc<Plan>,
    /// Its jobs for [`super::decide::decide`].
    pub wanted: Vec<Wanted>,
    /// Why each stale job renders, for people (`None`: in the store).
    pub reasons: Vec<Option<String>>,
    /// What it read.
    pub deps: Deps,
}

/// A project that cannot be loaded or planned.
#[derive(Debug)]
pub struct Invalid {
    /// Every diagnostic (errors and warnings).
    pub diagnostics: Vec<Diagnostic>,
    /// Files it read or tried to read before failing (a missing init image, so its
    /// creation is seen).
    pub files: Vec<PathBuf>,
}

/// Loads and plans the project at `path` (absolute), and decides every job.
pub fn reload(path: &Path, scope: &Scope, seams: &dyn Seams) -> Result<Loaded, Invalid> {
    let loaded = crate::project::load(path);
    let Some(project) = loaded.project else {
        return Err(Invalid {
            diagnostics: loaded.diagnostics.0,
            files: vec![path.to_path_buf()],
        });
    };
    let files: Vec<PathBuf> = project.files.iter().map(|f| f.path.clone()).collect();
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let store = Store::new(&dir);
    let mut result = None;
    let (mut read_files, mut read_dirs) = (HashSet::new(), HashSet::new());
    seams.with_facts(&store, &mut |facts| {
        let mut read = Recording {
            inner: facts,
            files: HashSet::new(),
            dirs: HashSet::new(),
        };
        result = Some(build::make_plan(
            &project,
            &scope.only,
            scope.frame_limit,
            &store,
            &mut read,
        ));
        (read_files, read_dirs) = (read.files, read.dirs);
    });
    let plan = match result.expect("with_facts calls back") {
        Ok(p) => p,
        Err(e) => {
            let diagnostics = match e {
                BuildError::Plan(d) => d,
                e => vec![Diagnostic::bare(e.to_string())],
            };
            // an init image or image prompt not there yet: its creation is the fix
            let mut files = files;
            files.extend(read_files);
            files.extend(read_dirs.into_iter().map(|d| d.join("manifest.json")));
            return Err(Invalid { diagnostics, files });
        }
    };
    let outputs = store.outputs();
    let decisions = build::decide(&plan, &store, &outputs);
    let wanted = plan
        .jobs
        .iter()
        .zip(&decisions)
        .map(|(j, d)| Wanted {
            key: j.key,
            prev: j.prev,
            stale: matches!(d, Decision::Render(_)),
        })
        .collect();
    let reasons = decisions
        .iter()
        .map(|d| match d {
            Decision::Render(why) => Some(why.to_string()),
            _ => None,
        })
        .collect();
    let deps = Deps {
        project_dir: dir,
        files: files
            .iter()
            .chain(&read_files)
            .map(|p| normalise(p))
            .collect(),
        dirs: read_dirs
            .iter()
            .map(|d| d.canonicalize().unwrap_or_else(|_| d.clone()))
            .collect(),
    };
    Ok(Loaded {
        plan: Arc::new(plan),
        wanted,
        reasons,
        deps,
    })
}

/// Facts that remember what they were asked about.
struct Recording<'a> {
    inner: &'a mut dyn Facts,
    files: HashSet<PathBuf>,
    dirs: HashSet<PathBuf>,
}

impl Facts for Recording<'_> {
    fn file_blake3(&mut self, path: &Path) -> Result<String, FactsError> {
        self.files.insert(path.to_path_buf());
        self.inner.file_blake3(path)
    }

    fn model_hashes(
        &mut self,
        set: &Path,
        needs: &ModelNeeds,
    ) -> Result<BTreeMap<String, String>, FactsError> {
        self.dirs.insert(set.to_path_buf());
        self.inner.model_hashes(set, needs)
    }

    fn runtime(&mut self) -> Result<RuntimeFacts, FactsError> {
        self.inner.runtime()
    }

    // The trait's defaults refuse 3D and Video Input: a wrapper must forward every fact.
    fn depth_hashes(
        &mut self,
        set: &Path,
        midas: &str,
        adabins: bool,
    ) -> Result<DepthHashes, FactsError> {
        self.dirs.insert(set.to_path_buf());
        self.inner.depth_hashes(set, midas, adabins)
    }

    fn video_frames(&mut self, path: &Path, nth: u32) -> Result<Vec<String>, FactsError> {
        self.files.insert(path.to_path_buf());
        self.inner.video_frames(path, nth)
    }
}
