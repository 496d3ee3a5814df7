//! Planning's [`Facts`] from the real world: file hashes through the store's stat cache,
//! model graphs through their set's manifest (each file checked against its recorded
//! blake3, so a modified or truncated graph is named before anything renders), and the
//! runtime from the ONNX Runtime library found on this machine — without loading it, so a
//! no-op build stays in milliseconds.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::plan::{DepthHashes, Facts, FactsError, ModelNeeds, RuntimeFacts};
use crate::render::models::Needs;
use crate::render::session::{Device, ModelSet};
use crate::render::{RENDERER_SALT, runtime};
use crate::store::StatCache;

/// [`Facts`] backed by a stat cache.
pub struct StoreFacts {
    /// The stat cache (save it after planning).
    pub stat: StatCache,
    sets: HashMap<PathBuf, Result<ModelSet, FactsError>>,
    device: Device,
    ort_lib: Option<PathBuf>,
    runtime: Option<Result<RuntimeFacts, FactsError>>,
    /// Where Video Input's source frames are kept (`.disco/frames`); `None`: not read.
    frames: Option<PathBuf>,
}

impl StoreFacts {
    /// Facts for a build on `device`, with ONNX Runtime at `ort_lib` (or found as
    /// `disco doctor` finds it).
    pub fn new(stat: StatCache, device: Device, ort_lib: Option<PathBuf>) -> StoreFacts {
        StoreFacts {
            stat,
            sets: HashMap::new(),
            device,
            ort_lib,
            runtime: None,
            frames: None,
        }
    }

    /// Keeps Video Input's source frames in `dir` (source_frames.rs).
    pub fn with_frames(mut self, dir: PathBuf) -> StoreFacts {
        self.frames = Some(dir);
        self
    }

    fn set(&mut self, dir: &Path) -> Result<&ModelSet, FactsError> {
        self.sets
            .entry(dir.to_path_buf())
            .or_insert_with(|| {
                ModelSet::open(dir).map_err(|e| FactsError::ModelSet {
                    set: dir.to_path_buf(),
                    detail: e.to_string(),
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl Facts for StoreFacts {
    fn file_blake3(&mut self, path: &Path) -> Result<String, FactsError> {
        self.stat
            .blake3(path)
            .map_err(|e| FactsError::read(path, e))
    }

    fn video_frames(&mut self, path: &Path, nth: u32) -> Result<Vec<String>, FactsError> {
        let Some(dir) = self.frames.clone() else {
            let detail = "this command does not read videos".to_owned();
            return Err(FactsError::Runtime { detail });
        };
        super::source_frames::readable_video(path)
            .map_err(|detail| FactsError::Runtime { detail })?;
        let file = self.file_blake3(path)?;
        let helper = crate::video::external::helper();
        super::source_frames::source_frames(&helper, &dir, (path, &file), nth)
            .map_err(|detail| FactsError::Runtime { detail })
    }

    fn model_hashes(
        &mut self,
        dir: &Path,
        needs: &ModelNeeds,
    ) -> Result<BTreeMap<String, String>, FactsError> {
        let set = self.set(dir)?;
        let clip = needs.clip.clone();
        let names = Needs {
            width: needs.width as usize,
            height: needs.height as usize,
            secondary: needs.secondary,
            lpips: needs.lpips,
            clip: &clip,
            diffusion: &needs.diffusion,
            flow: needs.flow,
            fp16: needs.fp16,
        }
        .graphs(set)
        .map_err(|e| FactsError::ModelSet {
            set: dir.to_path_buf(),
            detail: match e.help() {
                Some(h) => format!("{e} ({h})"),
                None => e.to_string(),
            },
        })?;
        let names: Vec<String> = names.all().into_iter().map(str::to_owned).collect();
        self.checked_hashes(dir, &names)
    }

    fn depth_hashes(
        &mut self,
        dir: &Path,
        midas: &str,
        adabins: bool,
    ) -> Result<DepthHashes, FactsError> {
        let set = self.set(dir)?;
        let missing = |what: String| FactsError::ModelSet {
            set: dir.to_path_buf(),
            detail: format!("the model set {} has no {what}", dir.display()),
        };
        let m = set.manifest.midas(midas).and_then(|m| m.forward());
        let m = m.ok_or_else(|| missing(format!("MiDaS `{midas}` depth graph")))?;
        let mut names = vec![m.to_owned()];
        if adabins {
            let a = set.manifest.adabins().and_then(|a| a.forward());
            let a = a.ok_or_else(|| {
                missing("AdaBins depth graph (`midas-weight` below 1 blends it in)".into())
            })?;
            names.push(a.to_owned());
        }
        let mut hashes = self.checked_hashes(dir, &names)?;
        Ok(DepthHashes {
            midas: hashes.remove(&names[0]).unwrap_or_default(),
            adabins: names.get(1).map(|a| hashes.remove(a).unwrap_or_default()),
        })
    }

    fn runtime(&mut self) -> Result<RuntimeFacts, FactsError> {
        if let Some(r) = &self.runtime {
            return r.clone();
        }
        let r = runtime_facts(self.device, self.ort_lib.as_deref(), &mut self.stat);
        self.runtime = Some(r.clone());
        r
    }
}

impl StoreFacts {
    /// blake3 of graphs `names` of the set at `dir` (a graph with external data: both files'
    /// hashes joined by `+`), each file checked against the manifest.
    fn checked_hashes(
        &mut self,
        dir: &Path,
        names: &[String],
    ) -> Result<BTreeMap<String, String>, FactsError> {
        let set = self.set(dir)?;
        let mut files = Vec::new();
        for name in names {
            let name = name.as_str();
            let g = set
                .manifest
                .graphs
                .get(name)
                .ok_or_else(|| FactsError::NoGraph {
                    set: dir.to_path_buf(),
                    graph: name.to_owned(),
                })?;
            files.push((name.to_owned(), set.dir.join(&g.file), g.blake3.clone()));
            if let Some(x) = &g.external_data {
                files.push((name.to_owned(), set.dir.join(&x.file), x.blake3.clone()));
            }
        }
        let mut out = BTreeMap::new();
        for (name, path, want) in files {
            let got = match self.stat.blake3(&path) {
                Ok(got) => got,
                Err(e) => {
                    return Err(FactsError::ModelFile {
                        path,
                        graph: name,
                        source: e.into(),
                    });
                }
            };
            if got != want {
                return Err(FactsError::Modified {
                    path,
                    graph: name,
                    expected: want,
                    found: got,
                });
            }
            out.entry(name)
                .and_modify(|h: &mut String| {
                    h.push('+');
                    h.push_str(&got);
                })
                .or_insert(got);
        }
        Ok(out)
    }
}

/// The provider class a device renders with: `cpu` or `cuda`. `auto` means CUDA when the
/// library ships its CUDA provider beside it (the onnxruntime-gpu wheel does).
fn provider(device: Device, lib: &Path) -> &'static str {
    match device {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        Device::Auto => {
            let dir = lib.parent().unwrap_or(Path::new("."));
            if dir.join("libonnxruntime_providers_cuda.so").exists() {
                "cuda"
            } else {
                "cpu"
            }
        }
    }
}

/// ORT's version from its file name (`libonnxruntime.so.1.32.0`), else by asking the
/// library (loads it: slower).
fn runtime_facts(
    device: Device,
    explicit: Option<&Path>,
    stat: &mut StatCache,
) -> Result<RuntimeFacts, FactsError> {
    let found = runtime::discover(explicit).map_err(|e| FactsError::Runtime {
        detail: format!("{e} ({})", e.help()),
    })?;
    let name = found
        .path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let version = match name.strip_prefix("libonnxruntime.so.") {
        Some(v) if v.chars().all(|c| c.is_ascii_digit() || c == '.') => v.to_owned(),
        // an unversioned name: the content identifies the build
        _ => {
            let h = stat.blake3(&found.path).map_err(|e| FactsError::Runtime {
                detail: format!("{}: {e}", found.path.display()),
            })?;
            format!("blake3:{}", &h[..16])
        }
    };
    Ok(RuntimeFacts {
        renderer: RENDERER_SALT.to_owned(),
        provider: provider(device, &found.path).to_owned(),
        ort: version,
    })
}
