//! ONNX Runtime sessions for the graphs of a model set: created once per graph and reused
//! for every step and frame; inputs and outputs go by their manifest names, and shapes are
//! checked against the manifest before a run.
//!
//! Devices (DESIGN.md §5): `cpu`; `cuda[:N]`, registered with error-on-failure so a broken
//! CUDA set-up is an error, never a silent CPU run; `auto`, which tries CUDA and falls back
//! to the CPU with a notice the caller must show.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ort::ep::ExecutionProvider;
use ort::session::Session;
use ort::value::TensorRef;

use super::manifest::{Dim, Graph, GraphCheck, Manifest, ManifestError, TensorSpec};
use super::runtime;

/// Wall time per graph of [`GraphSession::run`], for benchmarks (benches/render_step.rs):
/// off until [`enable`](graph_times::enable) is called, and then recorded process-wide. While
/// off, a run pays one relaxed atomic load.
pub mod graph_times {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    static ON: AtomicBool = AtomicBool::new(false);
    static TIMES: Mutex<BTreeMap<String, GraphTime>> = Mutex::new(BTreeMap::new());

    /// The calls of one graph since recording began.
    #[derive(Debug, Clone, Copy, Default, PartialEq)]
    pub struct GraphTime {
        /// Runs.
        pub calls: u64,
        /// Their total wall time (inputs in, outputs copied out).
        pub total: Duration,
    }

    /// Starts recording.
    pub fn enable() {
        ON.store(true, Ordering::Relaxed);
    }

    /// Whether recording is on.
    pub fn enabled() -> bool {
        ON.load(Ordering::Relaxed)
    }

    pub(super) fn record(graph: &str, took: Duration) {
        let mut times = TIMES.lock().unwrap_or_else(|e| e.into_inner());
        let t = times.entry(graph.to_owned()).or_default();
        t.calls += 1;
        t.total += took;
    }

    /// The totals so far, by graph name.
    pub fn snapshot() -> BTreeMap<String, GraphTime> {
        TIMES.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Where graphs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// CUDA if it works, else the CPU with a notice.
    Auto,
    /// The CPU provider.
    Cpu,
    /// The CUDA provider on device N.
    Cuda(i32),
}

/// Text that names no device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown device `{0}`: expected auto, cpu, cuda or cuda:N")]
pub struct UnknownDevice(pub String);

impl FromStr for Device {
    type Err = UnknownDevice;
    fn from_str(s: &str) -> Result<Self, UnknownDevice> {
        match s {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| UnknownDevice(s.to_owned())),
        }
    }
}

/// How sessions are created.
#[derive(Debug, Clone, Copy)]
pub struct SessionOptions {
    /// The requested device.
    pub device: Device,
    /// Threads inside one operator (ORT's intra-op pool); `None` = ORT's default.
    pub intra_threads: Option<usize>,
    /// Hash every graph file (and its external data) against the manifest before opening it.
    pub verify_hashes: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            device: Device::Auto,
            intra_threads: None,
            verify_hashes: true,
        }
    }
}

/// How one graph's session spends memory, beyond [`SessionOptions`]. The checkpointed UNet's
/// sessions hold a render's largest tensors (the boundaries and full-resolution segments, ~6 GB
/// at DD's 1280×768) and the most weights; where they make the render's peak
/// (`models::lean_walk`), the other sessions go unpooled too. Otherwise ORT's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Footprint {
    /// ORT's defaults: every graph optimisation, and the CPU arena the sessions share.
    #[default]
    Default,
    /// On the CPU, ORT's plain allocator instead of the shared arena: a freed tensor goes back
    /// to the system, so the process holds what is live, not an arena's high-water mark (the
    /// boundary forward, whose outputs are copied out one by one).
    Unpooled,
    /// Unpooled, and the weights held once: without constant folding and the NCHWc layout
    /// (ORT's "all" level), which store a backward's flipped and transposed weights and a
    /// reordered copy for the recomputed forward beside the originals. The segment VJPs held
    /// 4.8 GB against 2.45 GB on disk; lean, 2.5 GB, for a slower walk (docs/models.md,
    /// "Checkpointed UNet").
    Lean,
}

/// What went wrong opening or running a graph.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// ONNX Runtime is missing.
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    /// The manifest is missing or invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A graph file is missing or differs from what was exported.
    #[error("graph `{graph}` ({path}) {problem}")]
    Changed {
        /// The graph.
        graph: String,
        /// Its file.
        path: PathBuf,
        /// "is missing" or "changed since export (blake3 …)".
        problem: String,
    },
    /// The manifest has no graph of that name.
    #[error("the model set {dir} has no graph `{graph}`")]
    NoGraph {
        /// The model set.
        dir: PathBuf,
        /// The graph asked for.
        graph: String,
    },
    /// ORT refused to create the session (or the requested provider).
    #[error("cannot open graph `{graph}` on {device:?}: {reason}")]
    Open {
        /// The graph.
        graph: String,
        /// The device asked for.
        device: Device,
        /// ORT's message.
        reason: String,
    },
    /// An input was missing, extra, or of the wrong shape.
    #[error("graph `{graph}`: {reason}")]
    Input {
        /// The graph.
        graph: String,
        /// What is wrong.
        reason: String,
    },
    /// ORT failed during the run.
    #[error("graph `{graph}` failed: {reason}")]
    Run {
        /// The graph.
        graph: String,
        /// ORT's message.
        reason: String,
    },
}

/// A model set directory with its manifest.
#[derive(Debug, Clone)]
pub struct ModelSet {
    /// The directory holding `manifest.json`.
    pub dir: PathBuf,
    /// The parsed manifest.
    pub manifest: Manifest,
}

impl ModelSet {
    /// Reads the manifest of the set at `dir`.
    pub fn open(dir: &Path) -> Result<ModelSet, SessionError> {
        Ok(ModelSet {
            dir: dir.to_owned(),
            manifest: Manifest::read(dir)?,
        })
    }

    /// The size of `graph`'s files (with external data) on disk: about what its weights hold
    /// once loaded.
    pub fn file_bytes(&self, graph: &Graph) -> u64 {
        std::iter::once(&graph.file)
            .chain(graph.external_data.as_ref().map(|d| &d.file))
            .filter_map(|f| std::fs::metadata(self.dir.join(f)).ok())
            .map(|m| m.len())
            .sum()
    }

    fn graph(&self, name: &str) -> Result<&Graph, SessionError> {
        self.manifest
            .graphs
            .get(name)
            .ok_or_else(|| SessionError::NoGraph {
                dir: self.dir.clone(),
                graph: name.to_owned(),
            })
    }
}

/// A graph opened on first use: one a render may not need (a CLIP image encoder serves
/// only image prompts once the guidance graph is fused), so its weights stay off the heap
/// until then.
pub struct LazySession {
    set: ModelSet,
    name: String,
    opts: SessionOptions,
    footprint: Footprint,
    session: Option<GraphSession>,
}

impl LazySession {
    /// Graph `name` of `set`, to open with `opts` and `footprint` when first asked for.
    pub fn new(
        set: &ModelSet,
        name: &str,
        opts: SessionOptions,
        footprint: Footprint,
    ) -> LazySession {
        LazySession {
            set: set.clone(),
            name: name.to_owned(),
            opts,
            footprint,
            session: None,
        }
    }

    /// The session, opening it the first time.
    pub fn get(&mut self) -> Result<&mut GraphSession, SessionError> {
        match &mut self.session {
            Some(s) => Ok(s),
            slot => Ok(slot.insert(GraphSession::open_with(
                &self.set,
                &self.name,
                self.opts,
                self.footprint,
            )?)),
        }
    }

    /// Whether it has been opened.
    pub fn is_open(&self) -> bool {
        self.session.is_some()
    }
}

/// Tensors handed to [`GraphSession::run`], by input name.
pub enum Input<'a> {
    /// A float32 tensor.
    F32(ArrayViewD<'a, f32>),
    /// An int64 tensor (CLIP tokens).
    I64(ArrayViewD<'a, i64>),
}

/// One graph, ready to run.
pub struct GraphSession {
    name: String,
    spec: Graph,
    /// `None` after [`release`](Self::release), until the next run opens it again.
    session: Option<Session>,
    dir: PathBuf,
    opts: SessionOptions,
    footprint: Footprint,
    file_bytes: u64,
    /// The device the session actually runs on.
    pub device: Device,
    /// Set when `auto` fell back to the CPU; the caller shows it.
    pub notice: Option<String>,
}

impl GraphSession {
    /// Opens graph `name` of `set` with `opts`.
    pub fn open(
        set: &ModelSet,
        name: &str,
        opts: SessionOptions,
    ) -> Result<GraphSession, SessionError> {
        Self::open_with(set, name, opts, Footprint::Default)
    }

    /// Opens graph `name` of `set` with `opts` and the memory `footprint`.
    pub fn open_with(
        set: &ModelSet,
        name: &str,
        opts: SessionOptions,
        footprint: Footprint,
    ) -> Result<GraphSession, SessionError> {
        let spec = set.graph(name)?.clone();
        if opts.verify_hashes {
            verify_files(&set.dir, name, &spec)?;
        }
        let path = set.dir.join(&spec.file);
        let file_bytes = set.file_bytes(&spec);
        let open_err = |device, reason| SessionError::Open {
            graph: name.to_owned(),
            device,
            reason,
        };
        let build = |device| build_session(&path, device, opts, footprint);
        let (session, device, notice) = match opts.device {
            Device::Auto => {
                let cuda = ort::ep::CUDA::is_available().unwrap_or(false);
                match cuda.then(|| build(Device::Cuda(0))) {
                    Some(Ok(s)) => (s, Device::Cuda(0), None),
                    other => {
                        let why = match other {
                            Some(Err(e)) => format!("CUDA failed ({e})"),
                            _ => "this ONNX Runtime has no CUDA provider".to_owned(),
                        };
                        let s = build(Device::Cpu).map_err(|e| open_err(Device::Cpu, e))?;
                        (s, Device::Cpu, Some(format!("running on the CPU: {why}")))
                    }
                }
            }
            d => (build(d).map_err(|e| open_err(d, e))?, d, None),
        };
        Ok(GraphSession {
            name: name.to_owned(),
            spec,
            session: Some(session),
            dir: set.dir.clone(),
            opts,
            footprint,
            file_bytes,
            device,
            notice,
        })
    }

    /// Drops the ORT session, and with it the weights it holds; the next run opens it again
    /// (on the device it ran on, its files checked again where the options ask). For a
    /// large graph that waits while others need the memory: the checkpointed UNet's boundary
    /// forward during the walk (unet_checkpoint.rs).
    pub fn release(&mut self) {
        self.session = None;
    }

    /// Whether the ORT session is open (not [`release`](Self::release)d).
    pub fn is_loaded(&self) -> bool {
        self.session.is_some()
    }

    /// The size of the graph's files (with external data) when it was opened: about what its
    /// weights hold once loaded.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    /// The open ORT session, opening it again after a [`release`](Self::release).
    fn loaded(&mut self) -> Result<&mut Session, SessionError> {
        if self.session.is_none() {
            if self.opts.verify_hashes {
                verify_files(&self.dir, &self.name, &self.spec)?;
            }
            let path = self.dir.join(&self.spec.file);
            let session =
                build_session(&path, self.device, self.opts, self.footprint).map_err(|reason| {
                    SessionError::Open {
                        graph: self.name.clone(),
                        device: self.device,
                        reason,
                    }
                })?;
            self.session = Some(session);
        }
        Ok(self.session.as_mut().expect("opened above"))
    }

    /// The graph's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the graph; every manifest input must be given (by name), and every float32
    /// output is returned by name.
    pub fn run(
        &mut self,
        inputs: &[(&str, Input<'_>)],
    ) -> Result<HashMap<String, ArrayD<f32>>, SessionError> {
        self.run_only(inputs, None)
    }

    /// [`run`](Self::run), returning only the float32 outputs named in `wanted` (all where
    /// `None`): the others are neither copied out nor kept past the run (a segment VJP's
    /// recomputed `h_out`, as large as its input).
    pub fn run_only(
        &mut self,
        inputs: &[(&str, Input<'_>)],
        wanted: Option<&[&str]>,
    ) -> Result<HashMap<String, ArrayD<f32>>, SessionError> {
        let started = graph_times::enabled().then(std::time::Instant::now);
        let out = self.run_untimed(inputs, wanted)?;
        if let Some(t0) = started {
            graph_times::record(&self.name, t0.elapsed());
        }
        Ok(out)
    }

    fn run_untimed(
        &mut self,
        inputs: &[(&str, Input<'_>)],
        wanted: Option<&[&str]>,
    ) -> Result<HashMap<String, ArrayD<f32>>, SessionError> {
        self.loaded()?;
        let err = |reason: String| SessionError::Input {
            graph: self.name.clone(),
            reason,
        };
        check_inputs(&self.spec.inputs, inputs).map_err(err)?;
        let mut values: Vec<(
            std::borrow::Cow<'_, str>,
            ort::session::SessionInputValue<'_>,
        )> = Vec::new();
        for (name, input) in inputs {
            let v: ort::session::SessionInputValue<'_> = match input {
                Input::F32(a) => TensorRef::from_array_view(a.view())
                    .map_err(|e| err(format!("input `{name}`: {e}")))?
                    .into(),
                Input::I64(a) => TensorRef::from_array_view(a.view())
                    .map_err(|e| err(format!("input `{name}`: {e}")))?
                    .into(),
            };
            values.push(((*name).into(), v));
        }
        let run_err = |reason: String| SessionError::Run {
            graph: self.name.clone(),
            reason,
        };
        let wanted_here = |name: &str| wanted.is_none_or(|w| w.contains(&name));
        let options = match wanted {
            None => None,
            Some(names) => Some(
                ort::session::RunOptions::new()
                    .map_err(|e| run_err(e.to_string()))?
                    .with_outputs(
                        names
                            .iter()
                            .fold(ort::session::OutputSelector::no_default(), |s, n| {
                                s.with(*n)
                            }),
                    ),
            ),
        };
        let session = self.session.as_mut().expect("loaded above");
        let mut outputs = match &options {
            None => session.run(values),
            Some(options) => session.run_with_options(values, options),
        }
        .map_err(|e| run_err(e.to_string()))?;
        let mut out = HashMap::new();
        for spec in self
            .spec
            .outputs
            .iter()
            .filter(|s| s.dtype == "float32" && wanted_here(&s.name))
        {
            // each output is released as soon as it is copied: a graph with many large
            // outputs (the checkpoint forward's boundaries, ~6 GB at 1280×768) then never
            // holds ORT's tensors and their copies at once
            let value = outputs
                .remove(&spec.name)
                .ok_or_else(|| run_err(format!("no output `{}`", spec.name)))?;
            let view = value
                .try_extract_array::<f32>()
                .map_err(|e| run_err(e.to_string()))?;
            // the renderer trusts declared ranks (checked per role when the set opened);
            // a graph that returns another rank is named here, not in a panic downstream
            if view.ndim() != spec.shape.len() {
                return Err(run_err(format!(
                    "output `{}` has rank {}, the manifest declares {}",
                    spec.name,
                    view.ndim(),
                    spec.shape.len()
                )));
            }
            out.insert(
                spec.name.clone(),
                view.to_owned()
                    .into_dimensionality::<IxDyn>()
                    .expect("dynamic"),
            );
        }
        Ok(out)
    }
}

/// Checks graph `name`'s file and external data against the manifest's hashes.
fn verify_files(dir: &Path, name: &str, spec: &Graph) -> Result<(), SessionError> {
    let checks = std::iter::once((&spec.file, &spec.blake3))
        .chain(spec.external_data.as_ref().map(|d| (&d.file, &d.blake3)));
    for (file, want) in checks {
        let problem = match super::manifest::check_file(&dir.join(file), want) {
            GraphCheck::Ok => continue,
            GraphCheck::Missing => "is missing".to_owned(),
            GraphCheck::Changed { actual } => {
                format!("changed since export (blake3 {actual}, manifest {want})")
            }
        };
        return Err(SessionError::Changed {
            graph: name.to_owned(),
            path: dir.join(file),
            problem,
        });
    }
    Ok(())
}

/// An ORT session for the graph file at `path` on `device`.
fn build_session(
    path: &Path,
    device: Device,
    opts: SessionOptions,
    footprint: Footprint,
) -> Result<Session, String> {
    let env = runtime::environment().map_err(|e| e.to_string())?;
    // `DISCO_ORT_LEAN=0` (read when a session opens; for benchmarks): every session as
    // `Footprint::Default`, to compare with the lean ones (docs/bench-render-step.md)
    let footprint = match std::env::var("DISCO_ORT_LEAN").as_deref() {
        Ok("0") => Footprint::Default,
        _ => footprint,
    };
    // ORT's memory pattern plans one block for all of a run's tensors from the shapes of the
    // first run; measured here it doubles the peak of the UNet forward and VJP (tiny set:
    // 4.5 → 2.3 GB at 192², 2.9 → 1.5 GB at 128²) at the same speed
    // (docs/bench-render-step.md, "Session memory").
    let mut b = Session::builder(env)
        .map_err(|e| e.to_string())?
        .with_memory_pattern(false)
        .map_err(|e| e.to_string())?;
    if let Some(n) = opts.intra_threads {
        b = b.with_intra_threads(n).map_err(|e| e.to_string())?;
    }
    if footprint == Footprint::Lean {
        b = b
            .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level2)
            .map_err(|e| e.to_string())?
            .with_disabled_optimizers("ConstantFolding")
            .map_err(|e| e.to_string())?;
    }
    // CPU memory (benchmarks choose with `DISCO_ORT_CPU_ARENA`, benches/render_step_real.rs):
    // one arena shared by every session (the default), ORT's arena per session (`session`,
    // which keeps each session's peak and so holds the sum of them), or ORT's plain allocator
    // (`0`, and always for an unpooled or lean session).
    if device == Device::Cpu {
        let arena = std::env::var("DISCO_ORT_CPU_ARENA").ok();
        if footprint != Footprint::Default || arena.as_deref() == Some("0") {
            let ep = ort::ep::CPU::default().with_arena_allocator(false).build();
            b = b
                .with_execution_providers([ep])
                .map_err(|e| e.to_string())?;
        } else if arena.as_deref() != Some("session") && runtime::shared_cpu_arena() {
            b = b.with_env_allocators().map_err(|e| e.to_string())?;
        }
    }
    if let Device::Cuda(id) = device {
        let ep = ort::ep::CUDA::default()
            .with_device_id(id)
            .build()
            .error_on_failure();
        b = b
            .with_execution_providers([ep])
            .map_err(|e| e.to_string())?;
    }
    b.commit_from_file(path).map_err(|e| e.to_string())
}

/// Checks names and shapes against the manifest: every input given once, fixed dimensions
/// equal, and one batch size shared by every `B` axis.
fn check_inputs(specs: &[TensorSpec], inputs: &[(&str, Input<'_>)]) -> Result<(), String> {
    // Each symbolic axis ("B", "H", "W") takes one value across all inputs of a run.
    let mut symbols: HashMap<&str, usize> = HashMap::new();
    for spec in specs {
        let Some((_, input)) = inputs.iter().find(|(n, _)| *n == spec.name) else {
            return Err(format!("missing input `{}`", spec.name));
        };
        let (shape, dtype) = match input {
            Input::F32(a) => (a.shape(), "float32"),
            Input::I64(a) => (a.shape(), "int64"),
        };
        if dtype != spec.dtype {
            return Err(format!(
                "input `{}` must be {}, got {dtype}",
                spec.name, spec.dtype
            ));
        }
        if shape.len() != spec.shape.len() {
            return Err(format!(
                "input `{}` has rank {}, expected {:?}",
                spec.name,
                shape.len(),
                spec.shape
            ));
        }
        for (got, want) in shape.iter().zip(&spec.shape) {
            match want {
                Dim::Fixed(n) if n != got => {
                    return Err(format!(
                        "input `{}` has shape {shape:?}, expected {:?}",
                        spec.name, spec.shape
                    ));
                }
                Dim::Symbol(sym) => match symbols.get(sym.as_str()) {
                    None => {
                        symbols.insert(sym, *got);
                    }
                    Some(v) if v != got => {
                        let what = if sym == "B" { "batch" } else { "size" };
                        return Err(format!(
                            "input `{}` has {what} {sym} = {got}, other inputs {v}",
                            spec.name
                        ));
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    if let Some((extra, _)) = inputs
        .iter()
        .find(|(n, _)| !specs.iter().any(|s| s.name == *n))
    {
        return Err(format!("unknown input `{extra}`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    fn spec(name: &str, shape: Vec<Dim>) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype: "float32".into(),
            shape,
        }
    }

    #[test]
    fn graph_times_accumulate_per_graph() {
        use std::time::Duration;
        let name = "graph_times_accumulate_per_graph";
        graph_times::record(name, Duration::from_millis(5));
        graph_times::record(name, Duration::from_millis(7));
        let t = graph_times::snapshot()[name];
        assert_eq!(t.calls, 2);
        assert_eq!(t.total, Duration::from_millis(12));
    }

    #[test]
    fn devices_parse() {
        assert_eq!("cuda:1".parse::<Device>(), Ok(Device::Cuda(1)));
        assert_eq!("cuda".parse::<Device>(), Ok(Device::Cuda(0)));
        assert_eq!("cpu".parse::<Device>(), Ok(Device::Cpu));
        assert!("gpu".parse::<Device>().is_err());
    }

    #[test]
    fn inputs_are_checked_against_the_manifest() {
        let specs = vec![
            spec("x", vec![Dim::Symbol("B".into()), Dim::Fixed(3)]),
            spec("t", vec![Dim::Symbol("B".into())]),
        ];
        let x = Array::<f32, _>::zeros(IxDyn(&[2, 3]));
        let t2 = Array::<f32, _>::zeros(IxDyn(&[2]));
        let t3 = Array::<f32, _>::zeros(IxDyn(&[3]));
        let x4 = Array::<f32, _>::zeros(IxDyn(&[2, 4]));
        assert!(
            check_inputs(
                &specs,
                &[("x", Input::F32(x.view())), ("t", Input::F32(t2.view()))]
            )
            .is_ok()
        );
        let batch = check_inputs(
            &specs,
            &[("x", Input::F32(x.view())), ("t", Input::F32(t3.view()))],
        );
        assert!(batch.unwrap_err().contains("batch"));
        let fixed = check_inputs(
            &specs,
            &[("x", Input::F32(x4.view())), ("t", Input::F32(t2.view()))],
        );
        assert!(fixed.unwrap_err().contains("shape"));
        assert!(
            check_inputs(&specs, &[("x", Input::F32(x.view()))])
                .unwrap_err()
                .contains("missing")
        );
    }
}
